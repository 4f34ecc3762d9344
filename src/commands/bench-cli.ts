/**
 * `prw bench`: its flags, the live line every second and the report: achieved against target,
 * latency, attempts, errors and failures by cause with what to do, the client's CPU; JSON and
 * HTML reports; the exit status.
 */
import { writeFileSync } from 'node:fs'
import { safeUrl } from '../redact.js'
import { EXIT, EXIT_USAGE, UsageError, checkWritable, flagWords, giveUpFlag, interruptOnSigint, parseFlags } from './args.js'
import { runLoad } from './loadgen.js'
import { renderHtml } from './report-html.js'
import { SEND_OPTIONS, SEND_USAGE, int, num, sendOptions } from './send-options.js'

export const BENCH_USAGE = `usage: prw bench --url URL [options]

  --series N             active series (default 10000)
  --metrics N            metric names the series are spread over (default 10)
  --labels N             extra labels per series (default 5)
  --label-cardinality N  values per extra label (default 10)
  --churn N              series replaced by new ones every --churn-interval (default 0)
  --churn-interval MS    default 10000
  --rate N               open-loop target in samples/s (default 0: as fast as acknowledged)
  --duration S           seconds of load (default 30); what is not acknowledged 5 s later
                         (or --close-timeout MS) counts as failed
  --batch N              samples per request (default 2000)
  --give-up-after S      stop when nothing was accepted for S seconds (default 180; 0: never)
  --verbose              print every failure, not only the first 3 of each cause
  --json FILE            write the report as JSON
  --html FILE            write a self-contained HTML report with charts

${EXIT_USAGE}

${SEND_USAGE}`

export async function benchCommand (args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    ...SEND_OPTIONS,
    help: { type: 'boolean', short: 'h' },
    series: { type: 'string' },
    metrics: { type: 'string' },
    labels: { type: 'string' },
    'label-cardinality': { type: 'string' },
    churn: { type: 'string' },
    'churn-interval': { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    batch: { type: 'string' },
    'give-up-after': { type: 'string' },
    verbose: { type: 'boolean' },
    json: { type: 'string' },
    html: { type: 'string' },
  })
  if (values.help === true) {
    console.log(BENCH_USAGE)
    return EXIT.ok
  }
  const { url, writer } = sendOptions(values)
  if (url === undefined) throw new UsageError('bench needs --url (or PROMETHEUS_REMOTE_WRITE_URL); `prw receive` runs a local one')
  const series = int(values.series, 10_000, '--series')
  if (series === 0) throw new UsageError('--series must be at least 1')
  const batch = int(values.batch, 2000, '--batch')
  if (batch === 0) throw new UsageError('--batch must be at least 1')
  // Shown and saved without user info or query (they may hold credentials); the writer refuses an unparsable URL by name.
  const shown = safeUrl(url)
  checkWritable(values.json, '--json')
  checkWritable(values.html, '--html')
  const giveUpAfterMs = giveUpFlag(values['give-up-after'])
  const tty = process.stderr.isTTY
  const print = (line: string): void => { process.stderr.write(`${tty ? '\r\x1b[K' : ''}${flagWords(line)}\n`) }
  const interrupt = interruptOnSigint(print)
  let report
  try {
    report = await runLoad({
      url,
      writer: { ...writer, maxSamplesPerRequest: batch, autoConvertSecondsToMs: false },
      series,
      metrics: Math.max(1, int(values.metrics, 10, '--metrics')),
      labels: int(values.labels, 5, '--labels'),
      labelCardinality: Math.max(1, int(values['label-cardinality'], 10, '--label-cardinality')),
      churn: int(values.churn, 0, '--churn'),
      churnInterval: int(values['churn-interval'], 10_000, '--churn-interval'),
      rate: num(values.rate, 0, '--rate'),
      duration: num(values.duration, 30, '--duration') * 1000,
      giveUpAfterMs,
      verbose: values.verbose === true,
      signal: interrupt.signal,
      report: print,
      onTick: (s, t) => {
        const line = `${s.second}s  ${Math.round(s.samples)} samples/s  ${s.requests} req/s  p50 ${s.p50.toFixed(1)} ms  p99 ${s.p99.toFixed(1)} ms  ${s.errors} errors  behind ${t.behind}${t.retrying ? `  ${t.retrying}` : ''}`
        process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`)
      },
    })
  } finally {
    interrupt.release()
  }
  if (tty) process.stderr.write('\n')
  const l = report.latency
  const list = (r: Record<string, number>): string => Object.keys(r).length ? Object.entries(r).map(([k, v]) => `${k}: ${v}`).join(', ') : 'none'
  console.log(`target      ${report.target > 0 ? `${Math.round(report.target)} samples/s` : 'as fast as acknowledged'} against ${shown}`)
  console.log(`achieved    ${Math.round(report.achieved)} samples/s (${report.samplesSent} accepted, ${report.samplesFailed} failed, ${report.behind} behind schedule)`)
  console.log(`requests    ${report.requests} accepted (${report.requestsPerSecond.toFixed(1)}/s), ${report.attempts} attempts, ${(report.bytesPerSecond / 1e6).toFixed(2)} MB/s on the wire`)
  console.log(`latency     p50 ${l.p50.toFixed(1)} ms  p90 ${l.p90.toFixed(1)} ms  p99 ${l.p99.toFixed(1)} ms  max ${l.max.toFixed(1)} ms`)
  console.log(`errors      ${list(report.errors)} (failed attempts)`)
  console.log(`failures    ${list(report.failures)} (requests failed for good)`)
  console.log(`client CPU  ${report.cpu.percentOfOneCore.toFixed(0)}% of one core`)
  for (const line of report.causes) console.log(flagWords(line))
  if (values.json) writeFileSync(values.json, JSON.stringify({ url: shown, ...report }, null, 2))
  if (values.html) writeFileSync(values.html, renderHtml(report, shown))
  if (report.stopped === 'interrupted') {
    console.log('interrupted')
    return EXIT.interrupted
  }
  if (report.stopped !== undefined) {
    console.log(`GAVE UP: ${flagWords(report.stopped)}`)
    return EXIT.gaveUp
  }
  return report.samplesFailed > 0 ? EXIT.notAccepted : EXIT.ok
}
