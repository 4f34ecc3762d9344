/**
 * What the commands tell the user while they run: one message per cause, at once, with what
 * to do. Retries, failed requests and input problems are grouped by cause; the first few
 * instances of each are printed (every one with verbose), the rest only counted, and the end
 * gives a count and one hint per cause. The progress line gets the live retry state
 * ("connection refused: retrying (3), next in 2 s").
 *
 * It also decides when a run should stop instead of retrying: a transport failure that cannot
 * heal (an untrusted certificate, https:// to a plain port, ...), or the first requests all
 * refused for the same permanent cause. Nothing heard for too long is the caller's timer.
 */
import { safeUrl } from '../redact.js'
import type { BatchError, Diagnosis, FailureCause, RemoteWriter, RetryEvent } from '../index.js'

export interface FeedbackOptions {
  /** Where messages go, one line each. */
  print: (line: string) => void
  /** Every instance, not only the first few of each cause. */
  verbose?: boolean
  /** Whether the command has --verbose, to mention it. Default true. */
  verboseFlag?: boolean
  /** Instances printed per cause. Default 3. */
  examples?: number
  /** The endpoint, for hints (shown as host only). */
  url?: string
  /** Failed requests, all of one permanent cause and none accepted, that stop the run. Default 5. */
  stopAfter?: number
  /** Called once, when the run should stop: `why` is the reason (printed already, with its hint). */
  onStop?: (why: string) => void
}

/** One cause's tally. */
export interface CauseCount {
  title: string
  /** Retries, failed requests or input problems of this cause. */
  count: number
  /** Samples in the failed requests (failures only). */
  samples: number
  hint: string | undefined
}

interface Tally extends CauseCount {
  shown: number
  oldest: number
  newest: number
}

/** Samples refused for their time: the range, for the hint. */
export interface TimeRange { oldest: number, newest: number }

/** How long requests may wait for an answer before the user is told. */
const QUIET_MS = 5000

/** Kinds of input problems told apart; the rest are counted as one. */
const MAX_CAUSES = 8
const OTHER = '\u0000other'

const TRANSPORT: ReadonlySet<FailureCause> = new Set(['dns', 'tls-untrusted', 'tls-name', 'tls-not-tls', 'not-http'])

export class Feedback {
  readonly retries = new Map<string, Tally>()
  readonly failures = new Map<string, Tally>()
  readonly problems = new Map<string, Tally>()
  /** Requests accepted so far (told by the caller). */
  accepted = 0
  /** Why the run stopped, once it should. */
  stopped: string | undefined
  readonly #o: FeedbackOptions
  readonly #examples: number
  readonly #host: { host: string, hostname: string }
  /** The URL is http:// (a hint may suggest https://). */
  readonly #plain: boolean
  #last: { title: string, count: number, until: number } | undefined
  #stopHint = ''
  #waitingSince: number | undefined

  constructor (options: FeedbackOptions) {
    this.#o = options
    this.#examples = options.examples ?? 3
    this.#host = hostOf(options.url)
    this.#plain = /^http:/i.test(options.url ?? '')
  }

  /** A failed attempt that the writer retries. The first of each cause is told at once. */
  retry (e: RetryEvent): void {
    const d = e.diagnosis
    if (TRANSPORT.has(d.cause) && d.permanent) {
      // Not a retry: the run stops instead.
      const hint = this.hint(d.cause)
      this.#stop(`${d.title}${detail(d, e.error)}: this cannot heal by retrying, giving up.`, hint ? ` ${hint}` : '')
      return
    }
    const t = this.#tally(this.retries, d.cause, d.title, this.hint(d.cause))
    t.count++
    this.#last = { title: d.title, count: t.count, until: Date.now() + e.delayMs }
    if (t.count === 1 || this.#o.verbose === true) {
      const first = t.count === 1 ? `; retrying, next in ${seconds(e.delayMs)}` : ` (retry ${t.count})`
      this.#o.print(`${d.title}${detail(d, e.error)}${first}${t.count === 1 && t.hint ? `. ${t.hint}` : ''}`)
    }
  }

  /** A request that failed for good; `range` is the time range of its samples when known. */
  failed (err: BatchError, range?: TimeRange): void {
    const d = err.diagnosis
    // What the run's own stop failed (aborted, or not acknowledged at its deadline) is one cause.
    const key = d?.cause ?? (this.stopped !== undefined ? 'stopped' : err.reason)
    const t = this.#tally(this.failures, key, d?.title ?? reasonTitle(key), d === undefined ? undefined : this.hint(d.cause))
    t.count++
    t.samples += err.sampleCount
    if (range !== undefined) {
      t.oldest = Math.min(t.oldest, range.oldest)
      t.newest = Math.max(t.newest, range.newest)
    }
    const consequence = this.stopped !== undefined && err.diagnosis === undefined
    if (!consequence && (t.shown < this.#examples || this.#o.verbose === true)) {
      t.shown++
      this.#o.print(`${clip(err.message, 400)}${this.#more(t)}`)
    }
    const stopAfter = this.#o.stopAfter ?? 5
    if (this.accepted === 0 && err.diagnosis?.permanent === true && this.failures.size === 1 && t.count >= stopAfter) {
      this.#stop(`the first ${t.count} requests were all refused (${t.title}): stopping early, nothing was accepted.`, this.#hintOf(key, t))
    }
  }

  /** An input problem (a malformed line, an invalid series): `where` is file:line or the series. */
  problem (message: string, where: string, hint?: string): void {
    let key = causeOf(message)
    // At most MAX_CAUSES kinds are told apart: a file of garbage has a new "cause" on every line.
    if (!this.problems.has(key) && this.problems.size >= MAX_CAUSES) key = OTHER
    const t = this.#tally(this.problems, key, key === OTHER ? 'other problems' : key, key === OTHER ? undefined : hint)
    t.count++
    if (t.shown < this.#examples || this.#o.verbose === true) {
      t.shown++
      this.#o.print(`${where}: ${message}${this.#more(t)}`)
    }
  }

  /** A line for the user, as it is. */
  note (line: string): void {
    this.#o.print(line)
  }

  /** Requests have waited for an answer since `since` (Date.now() time); undefined once one came. */
  waiting (since: number | undefined): void {
    this.#waitingSince = since
  }

  /** The live state for a progress line: retries going on, or requests waiting for an answer; '' otherwise. */
  live (withWaiting = true): string {
    const l = this.#last
    const waiting = withWaiting && this.#waitingSince !== undefined ? `waiting for an answer (${Math.round((Date.now() - this.#waitingSince) / 1000)} s)` : ''
    if (l === undefined) return waiting
    const wait = l.until - Date.now()
    if (wait < -10_000) return waiting
    return `${l.title}: retrying (${l.count})${wait > 0 ? `, next in ${seconds(wait)}` : ''}`
  }

  /** The end of the run: per cause, the count and one hint. */
  summary (): string[] {
    const out: string[] = []
    for (const t of this.problems.values()) out.push(`${t.count} × ${t.title}${t.hint ? `. ${t.hint}` : ''}`)
    for (const [key, t] of this.failures) {
      const what = `${t.count} request${t.count === 1 ? '' : 's'} (${t.samples} samples)`
      out.push(key === 'stopped' ? `${what} not sent: the run stopped.` : `${what} failed: ${t.title}.${this.#hintOf(key, t)}`)
    }
    if (this.retries.size > 0) out.push(`retries: ${[...this.retries.values()].map((t) => `${t.title} ${t.count}`).join(', ')}`)
    // What to do about what stopped the run, unless a cause's line above says it already.
    if (this.#stopHint !== '' && !out.some((l) => l.includes(this.#stopHint))) out.push(this.#stopHint)
    return out
  }

  /** Counts by cause (its id, or with `titles` its title), for reports. */
  counts (map: Map<string, Tally>, titles = false): Record<string, number> {
    return Object.fromEntries([...map].map(([k, t]) => [titles ? t.title : k, t.count]))
  }

  /** What to do about a cause, in the command line's words. */
  hint (cause: FailureCause): string | undefined {
    const { host, hostname } = this.#host
    switch (cause) {
      case 'refused': return `Nothing listens at ${host}: is the server up, and the port right?`
      case 'dns': return `${hostname} does not resolve: check the host name in --url.`
      case 'dns-retry': return `The name lookup of ${hostname} failed: is DNS reachable from here?`
      case 'unreachable': return `No route to ${host}: check the network and the address in --url.`
      case 'reset': return `The server closed the connection without answering${this.#plain ? ` (if ${host} speaks TLS, use https://)` : ''}.`
      case 'timeout': return 'The server may be overloaded or far away: raise --timeout, or lower --concurrency.'
      case 'tls-untrusted': return "Pass the server's CA certificate with --ca-file FILE (or --insecure to skip verification, for tests only)."
      case 'tls-name': return `Use the name the certificate was issued for in --url, or --server-name NAME.`
      case 'tls-not-tls': return `${host} does not speak TLS: use http:// instead of https://.`
      case 'not-http': return `${host} does not answer HTTP/1.1: if it speaks TLS use https://, and check the port.`
      case 'auth': return 'Check --bearer-token, --basic-auth and --tenant.'
      case 'not-found':
      case 'method': return 'Check the path in --url: Prometheus takes /api/v1/write (started with --web.enable-remote-write-receiver), Mimir and Cortex /api/v1/push, VictoriaMetrics /api/v1/write.'
      case 'too-large': return 'The server takes smaller requests: lower --batch, or raise its limit.'
      case 'protocol': return 'This server does not take Remote Write 2.0: use --protocol v1 (or auto).'
      case 'too-old': return TOO_OLD_HINT
      case 'throttled': return 'The server asks to slow down: lower --concurrency (bench: or --rate).'
      default: return undefined
    }
  }

  #hintOf (key: string, t: Tally): string {
    let hint = t.hint ?? ''
    if (key === 'too-old' && t.oldest <= t.newest) hint = `The refused requests held samples from ${iso(t.oldest)} to ${iso(t.newest)}. ${hint}`
    return hint ? ` ${hint}` : ''
  }

  /** After the last example of a cause: that the rest are only counted (and how to see them, where the command can). */
  #more (t: Tally): string {
    if (t.shown !== this.#examples || this.#o.verbose === true) return ''
    return ` (more like this are counted, not shown${this.#o.verboseFlag === false ? '' : '; --verbose shows all'})`
  }

  #tally (map: Map<string, Tally>, key: string, title: string, hint: string | undefined): Tally {
    let t = map.get(key)
    if (t === undefined) {
      t = { title, hint, count: 0, samples: 0, shown: 0, oldest: Infinity, newest: -Infinity }
      map.set(key, t)
    }
    return t
  }

  /** Stops the run for a reason found outside (nothing accepted for too long; interrupted, not printed). */
  giveUp (why: string, print = true): void {
    this.#stop(why, '', print)
  }

  /** Stops the run: `why` is kept (for the end of the run), printed now with what to do about it. */
  #stop (why: string, hint: string, print = true): void {
    if (this.stopped !== undefined) return
    this.stopped = why
    this.#stopHint = hint.trim()
    if (print) this.#o.print(`${why}${hint}`)
    this.#o.onStop?.(why)
  }
}

/**
 * Stops the run when nothing was acknowledged for `ms` while requests wait (a server that
 * stays down): the checkpoint keeps what was acknowledged, so a rerun resumes.
 */
export class Watchdog {
  readonly #timer: NodeJS.Timeout
  constructor (writer: RemoteWriter, ms: number, feedback: Feedback) {
    let acked = -1
    let since = Date.now()
    let told = false
    this.#timer = setInterval(() => {
      const s = writer.stats()
      const waiting = s.buffered.samples > 0 || s.inFlight > 0
      if (s.sent.requests !== acked || !waiting) {
        acked = s.sent.requests
        since = Date.now()
        told = false
        feedback.waiting(undefined)
        return
      }
      // A server that takes requests and never answers says nothing until --timeout: say it.
      const quiet = Date.now() - since
      if (s.inFlight > 0 && quiet >= QUIET_MS && feedback.live(false) === '') {
        feedback.waiting(since)
        if (!told) {
          told = true
          feedback.note(`no answer yet after ${Math.round(quiet / 1000)} s (${s.inFlight} request${s.inFlight === 1 ? '' : 's'} on the wire): the server may be slow or stuck; each attempt waits up to --timeout`)
        }
      }
      if (Date.now() - since >= ms) {
        const live = feedback.live()
        feedback.giveUp(`nothing was accepted for ${Math.round(ms / 1000)} s${live ? ` (${live})` : ''}: giving up (--give-up-after).`)
      }
    }, Math.min(1000, Math.max(50, ms / 4)))
    this.#timer.unref()
  }

  stop (): void { clearInterval(this.#timer) }
}

/**
 * Says once that timestamps below 1e10 are read as seconds (the writer converts them, as the
 * library does), or, with --milliseconds, that they go out as 1970 dates: never silently.
 */
export class SecondsNotice {
  #told = false
  constructor (readonly convert: boolean, readonly report: (l: string) => void) {}
  check (items: ReadonlyArray<{ timestamps: ArrayLike<number> }>, file: string): void {
    if (this.#told) return
    for (const it of items) {
      const t = it.timestamps[0]
      if (t === undefined || !(t < 1e10)) continue
      this.#told = true
      this.report(this.convert
        ? `${file}: timestamps below 1e10 are read as seconds (${t} is ${iso(t * 1000)}); pass --milliseconds if they are milliseconds`
        : `${file}: timestamps below 1e10 are sent as milliseconds (--milliseconds): ${t} is ${iso(t)}`)
      return
    }
  }
}


/** The time range of a chunk's samples, in milliseconds (seconds converted as the writer does). */
export function rangeOf (items: ReadonlyArray<{ timestamps: ArrayLike<number> }>, seconds: boolean): TimeRange {
  let oldest = Infinity
  let newest = -Infinity
  for (const it of items) {
    const n = it.timestamps.length
    if (n === 0) continue
    const scale = seconds && it.timestamps[0] < 1e10 ? 1000 : 1
    oldest = Math.min(oldest, it.timestamps[0] * scale)
    newest = Math.max(newest, it.timestamps[n - 1] * scale)
  }
  return { oldest, newest }
}

const TOO_OLD_HINT = 'Prometheus refuses samples more than about an hour older than its newest unless out_of_order_time_window is set (2.39 or later, in prometheus.yml: storage: { tsdb: { out_of_order_time_window: 30d } }); Mimir and Cortex: -ingester.out-of-order-time-window; or write blocks with promtool tsdb create-blocks-from openmetrics.'

function hostOf (url: string | undefined): { host: string, hostname: string } {
  try {
    const u = new URL(url ?? '')
    return { host: u.host, hostname: u.hostname }
  } catch {
    return { host: url === undefined ? 'the server' : safeUrl(url), hostname: 'the host' }
  }
}

/** The error's own words after the title, when they add something (an HTTP body, an OpenSSL reason). */
export function detail (d: Diagnosis, error: string): string {
  if (d.cause === 'tls-untrusted' || d.cause === 'refused' || d.cause === 'tls-not-tls') return ''
  const m = /^server returned HTTP \d+: (.*)$/s.exec(error)
  if (m !== null) return ` (${clip(m[1], 200)})`
  return ''
}

function clip (s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ').trim()
  return one.length > max ? `${one.slice(0, max)}…` : one
}

function reasonTitle (reason: string): string {
  switch (reason) {
    case 'stopped':
    case 'aborted': return 'not sent: the run stopped'
    case 'timeout': return 'not acknowledged before the deadline'
    case 'encode': return 'could not be encoded'
    default: return reason
  }
}

/** A message's cause: its words with the instance's values (quoted text, numbers) taken out. */
export function causeOf (message: string): string {
  return message
    .replace(/"(?:[^"\\]|\\.)*"(?:\.\.\.)?/g, '"…"')
    .replace(/'(?:[^'\\]|\\.)*'/g, "'…'")
    .replace(/\b\d[\d.e+-]*\b/g, 'N')
    .slice(0, 200)
}

function seconds (ms: number): string {
  return ms < 1000 ? `${Math.max(1, Math.round(ms))} ms` : `${Math.round(ms / 1000)} s`
}

function iso (ms: number): string {
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : String(ms)
}
