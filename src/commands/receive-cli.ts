/**
 * `prw receive`: its flags, read into a receiver (receiver.ts), and its life on the command
 * line: a line a second while requests come, and a summary on SIGINT or SIGTERM, each saying
 * what became of the requests (accepted, rejected by reason, faults injected, other answers)
 * and how many distinct series were accepted.
 */
import { createWriteStream, openSync } from 'node:fs'
import { EXIT, UsageError, parseFlags } from './args.js'
import { parseDecodeLimits, startReceiver } from './receiver.js'
import type { ReceiverStats } from './receiver.js'
import { int, num } from './send-options.js'

export const RECEIVE_USAGE = `usage: prw receive [options]

  --port N          listen port (default 9201; 0 picks one)
  --host ADDR       listen address (default 127.0.0.1)
  --out FILE        append what is received as JSON lines ({metric, values, timestamps},
                    with histograms, exemplars and metadata when a series has them)
  --fail-rate P     answer P of requests with --status (default 503)
  --status CODE     status of injected failures: 429, 500, 503, ...
  --retry-after S   Retry-After seconds on injected failures
  --latency MS      delay every answer
  --reset-rate P    reset P of connections without answering
  --limit NAME=N    raise or lower a decode limit (repeatable); a request past one is
                    answered 413 naming it. NAME: maxSeries (default 2000000), maxLabels
                    (16000000), maxSamples (4000000), maxHistograms (2000000), maxBuckets
                    (32000000), maxExemplars (2000000), maxSymbols (8000000), maxLabelBytes
                    (268435456: label bytes, 2.0 refs resolved), maxObjectBytes
                    (1073741824: estimated bytes of the decoded objects), maxExpansion (256:
                    of those per byte of the compressed body, above 4 MiB); N may be Infinity

Every second with requests, and at the end (SIGINT, SIGTERM), it prints the samples and
distinct series accepted ("about 1.2 M series": estimated past 1,000,000), and the requests:
  accepted
  rejected   bad requests, by reason: content-type, content-encoding (415), too-large
             (413: body, decoded size or a --limit), snappy, protobuf, labels, samples (400)
  injected   faults of --fail-rate (status) and --reset-rate (reset)
  other      answered otherwise: method (405, not a POST)

exit status: 0 once stopped by SIGINT or SIGTERM; 2 usage error; 1 it could not listen, or
             --out could not be written (it stops receiving then)`

/** Runs `prw receive` until SIGINT or SIGTERM; the exit status. */
export async function receiveCommand (args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    help: { type: 'boolean', short: 'h' },
    port: { type: 'string' },
    host: { type: 'string' },
    out: { type: 'string' },
    'fail-rate': { type: 'string' },
    status: { type: 'string' },
    'retry-after': { type: 'string' },
    latency: { type: 'string' },
    'reset-rate': { type: 'string' },
    limit: { type: 'string', multiple: true },
  })
  if (values.help === true) {
    console.log(RECEIVE_USAGE)
    return EXIT.ok
  }
  // Every flag is read before --out is opened: a bad one leaves no file behind.
  const options = {
    decodeLimits: limitsFlag(values.limit ?? []),
    port: within(int(values.port, 9201, '--port'), 0, 65535, '--port'),
    host: values.host ?? '127.0.0.1',
    failRate: num(values['fail-rate'], 0, '--fail-rate', 1),
    // Not a status Node cannot send, nor a success: it would end the process, or not be a fault.
    status: within(int(values.status, 503, '--status'), 300, 599, '--status'),
    retryAfter: values['retry-after'] === undefined ? undefined : int(values['retry-after'], 1, '--retry-after'),
    latency: num(values.latency, 0, '--latency'),
    resetRate: num(values['reset-rate'], 0, '--reset-rate', 1),
  }
  const out = values.out === undefined ? undefined : createWriteStream(values.out, { fd: openOut(values.out) })
  const receiver = await startReceiver({
    ...options,
    onItems: out && ((items) => {
      for (const it of items) {
        const line: Record<string, unknown> = { metric: it.metric, values: Array.from(it.values, jsonNumber), timestamps: it.timestamps }
        if (it.histograms !== undefined) line.histograms = it.histograms
        if (it.exemplars !== undefined) line.exemplars = it.exemplars
        if (it.metadata !== undefined) line.metadata = it.metadata
        out.write(`${JSON.stringify(line)}\n`)
      }
    }),
  })
  console.log(`receiving on ${receiver.url}`)
  let last = receiver.stats()
  const timer = setInterval(() => {
    const s = receiver.stats()
    if (s.requests === last.requests) return
    console.log(liveLine(s, last))
    last = s
  }, 1000)
  // A failed write to --out (a full disk) stops it: what it accepts would be missing from the file.
  let failed: Error | undefined
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
    out?.once('error', (err) => {
      failed = err
      resolve()
    })
  })
  clearInterval(timer)
  await receiver.close()
  if (failed === undefined) await new Promise<void>((resolve) => (out === undefined ? resolve() : out.end(resolve)))
  console.log(summaryLine(receiver.stats()))
  if (failed === undefined) return EXIT.ok
  console.error(`--out ${values.out}: ${failed.message}: stopped receiving; the file lacks what was accepted since`)
  return EXIT.notAccepted
}

/** The --out file, opened to append now: a usage error naming it when it cannot be. */
function openOut (path: string): number {
  try {
    return openSync(path, 'a')
  } catch (err) {
    throw new UsageError(`--out: cannot open ${path}: ${(err as Error).message}`)
  }
}

/** `n`, a usage error naming `flag` unless from `min` to `max`. */
function within (n: number, min: number, max: number, flag: string): number {
  if (n < min || n > max) throw new UsageError(`${flag} must be from ${min} to ${max}, got ${n}`)
  return n
}

/** The --limit flags, a spec it cannot read a usage error (relay-cli shares parseDecodeLimits). */
export function limitsFlag (specs: string[]): ReturnType<typeof parseDecodeLimits> {
  try {
    return parseDecodeLimits(specs)
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

/** The line a second: totals, and the samples accepted since `last` (a second ago). */
export function liveLine (s: ReceiverStats, last: ReceiverStats): string {
  return `${s.samples} samples of ${seriesText(s)} (+${s.samples - last.samples}/s); requests: ${requestsText(s)}`
}

/** The line at the end. */
export function summaryLine (s: ReceiverStats): string {
  const extra = s.histograms + s.exemplars > 0 ? `, ${s.histograms} histograms, ${s.exemplars} exemplars` : ''
  return `received ${s.samples} samples${extra} of ${seriesText(s)}; requests: ${requestsText(s)}`
}

/** `720 series`, or `about 1.2 M series` once the count is an estimate. */
function seriesText (s: ReceiverStats): string {
  if (!s.seriesApproximate) return `${s.series} series`
  const n = s.series
  return `about ${n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n} series`
}

/** `30 accepted, 3 rejected (too-large 2, snappy 1), 5 injected (status 4, reset 1), 1 other (method 1)` */
function requestsText (s: ReceiverStats): string {
  return `${s.accepted} accepted, ${tally(s.rejected, 'rejected', s.rejectedBy)}, ${tally(s.injected, 'injected', s.injectedBy)}, ${tally(s.other, 'other', s.otherBy)}`
}

/** A count and its parts (`3 rejected (too-large 2, snappy 1)`), the parts only when there are some. */
function tally (n: number, what: string, by: Partial<Record<string, number>>): string {
  const parts = Object.entries(by).map(([reason, k]) => `${reason} ${k}`)
  return `${n} ${what}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`
}

/** JSON has no NaN or Infinity: they are written as strings ("NaN", "Infinity"), as VictoriaMetrics' export does. */
function jsonNumber (v: number): number | string {
  return Number.isFinite(v) ? v : String(v)
}
