/**
 * `prw relay`: its flags, read into a relay (relay.ts), and its life on the command line:
 * rates every 5 s, and on SIGINT or SIGTERM a close that leaves in the spool what upstream has
 * not acknowledged by --close-timeout.
 */
import { safeUrl } from '../redact.js'
import type { RetryEvent, WriterSummary } from '../index.js'
import { EXIT_USAGE, UsageError, flagWords, parseFlags } from './args.js'
import { Feedback, detail } from './feedback.js'
import { limitsFlag } from './receive-cli.js'
import { startRelay } from './relay.js'
import { SEND_OPTIONS, SEND_USAGE, int, num, sendOptions } from './send-options.js'

export const RELAY_USAGE = `usage: prw relay --url UPSTREAM --spool DIR [options]

  --listen HOST:PORT       where devices send (default 127.0.0.1:9201); metrics on GET /metrics
  --spool DIR              the spool directory (one relay per directory)
  --max-spool-bytes N      disk the spool may take (default 1073741824, at least 1048576)
  --max-age S              drop (and report) what waited longer than S seconds (default: never)
  --sync always|batch|none fsync policy (default batch: at least every second, and before a
                           device is answered)
  --on-full block|drop-oldest  when the spool is full: answer devices 503 with Retry-After
                           (default), or drop the oldest requests, each reported
  --limit NAME=N           a decode limit for device requests, as prw receive --limit

A device is answered 204 only once what it sent is in the spool on disk. On SIGINT or
SIGTERM the relay stops receiving and waits --close-timeout (default 5000) ms for the
upstream; what is not acknowledged by then stays in the spool for the next start.

${EXIT_USAGE}

${SEND_USAGE}`

/** Runs `prw relay` until SIGINT or SIGTERM; the exit status. */
export async function relayCommand (args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    ...SEND_OPTIONS,
    help: { type: 'boolean', short: 'h' },
    listen: { type: 'string' },
    spool: { type: 'string' },
    'max-spool-bytes': { type: 'string' },
    'max-age': { type: 'string' },
    sync: { type: 'string' },
    'on-full': { type: 'string' },
    limit: { type: 'string', multiple: true },
  })
  if (values.help === true) {
    console.log(RELAY_USAGE)
    return 0
  }
  const { url, writer } = sendOptions(values)
  if (url === undefined) throw new UsageError('relay needs --url UPSTREAM (or PROMETHEUS_REMOTE_WRITE_URL)')
  if (values.spool === undefined) throw new UsageError('relay needs --spool DIR: where what devices send is kept until upstream acknowledges it')
  const listen = /^(.*):(\d+)$/.exec(values.listen ?? '127.0.0.1:9201')
  if (listen === null || Number(listen[2]) > 65535) throw new UsageError(`--listen must be HOST:PORT with a port from 0 to 65535, got ${JSON.stringify(values.listen)}`)
  const maxBytes = int(values['max-spool-bytes'], 1 << 30, '--max-spool-bytes')
  if (maxBytes < 1 << 20) throw new UsageError(`--max-spool-bytes must be at least 1048576 (1 MiB), got ${JSON.stringify(values['max-spool-bytes'])}`)
  const sync = values.sync ?? 'batch'
  if (sync !== 'always' && sync !== 'batch' && sync !== 'none') throw new UsageError('--sync must be always, batch or none')
  const onFull = values['on-full'] ?? 'block'
  if (onFull !== 'block' && onFull !== 'drop-oldest') throw new UsageError('--on-full must be block or drop-oldest')
  const maxAge = values['max-age'] === undefined ? undefined : num(values['max-age'], 0, '--max-age') * 1000
  if (maxAge !== undefined && !(maxAge > 0)) throw new UsageError(`--max-age must be a number of seconds > 0, got ${JSON.stringify(values['max-age'])}`)
  const closeTimeout = writer.closeTimeout ?? 5000
  const outage = new Outage(url)
  const relay = await startRelay({
    host: listen[1].replace(/^\[(.*)\]$/, '$1'),
    port: int(listen[2], 9201),
    url,
    writer: { ...writer, closeTimeout: undefined },
    spool: { dir: values.spool, maxBytes, maxAge, sync, onFull: onFull === 'drop-oldest' ? 'dropOldest' : 'block' },
    decodeLimits: limitsFlag(values.limit ?? []),
    onError: (err) => console.error(`upstream: ${err.message}`),
    onWarning: (err) => console.error(`spool: ${err.message}`),
    onRetry: (e) => outage.retry(e),
  })
  console.log(`relaying ${relay.url} to ${safeUrl(url)} through the spool ${values.spool}; metrics on GET /metrics`)
  let last = relay.stats()
  const timer = setInterval(() => {
    const s = relay.stats()
    if (s.forwarded.samples > last.forwarded.samples) outage.recovered()
    const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0) - Object.values(last.rejected).reduce((a, b) => a + b, 0)
    console.log(`received +${s.received.samples - last.received.samples}/5s, forwarded +${s.forwarded.samples - last.forwarded.samples}/5s` +
      `${rejected > 0 ? `, ${rejected} device requests refused` : ''}; spool ${(s.spool.bytes / 1e6).toFixed(1)} MB, ${s.spool.pendingSamples} samples waiting`)
    last = s
  }, 5000)
  timer.unref()
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  clearInterval(timer)
  const summary = await relay.close(closeTimeout).catch((err: { summary?: WriterSummary }) => {
    if (err.summary === undefined) throw err
    return err.summary
  })
  const s = relay.stats()
  console.log(`received ${s.received.samples} samples, forwarded ${summary.samples}; ${summary.failed.samples} failed` +
    `${summary.left !== undefined && summary.left.samples > 0 ? `; ${summary.left.samples} samples left in the spool for the next start` : ''}`)
  return summary.failed.samples > 0 ? 1 : 0
}

/**
 * The upstream's trouble, told as it starts (each new cause once, with what to do) and when it
 * ends: a relay runs for days, so a cause that comes back after a recovery is told again.
 */
class Outage {
  readonly #hints: Feedback
  #cause: string | undefined
  #since = 0
  #retries = 0
  constructor (url: string) {
    this.#hints = new Feedback({ print: () => {}, url })
  }

  retry (e: RetryEvent): void {
    this.#retries++
    if (this.#cause === e.diagnosis.cause) return
    if (this.#cause === undefined) this.#since = Date.now()
    this.#cause = e.diagnosis.cause
    const hint = this.#hints.hint(e.diagnosis.cause)
    console.error(`upstream: ${e.diagnosis.title}${detail(e.diagnosis, e.error)}; retrying, devices' data waits in the spool${hint ? `. ${flagWords(hint)}` : ''}`)
  }

  recovered (): void {
    if (this.#cause === undefined) return
    console.error(`upstream: forwarding again after ${Math.round((Date.now() - this.#since) / 1000)} s and ${this.#retries} retries`)
    this.#cause = undefined
    this.#retries = 0
  }
}
