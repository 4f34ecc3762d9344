#!/usr/bin/env node
/**
 * The command line: `prometheus-remote-writer <command> [options]` (alias `prw`).
 * It parses with node:util parseArgs and runs the commands of src/commands/, which use the
 * library through src/index.ts.
 */
import { parseArgs } from 'node:util'
import { backfill } from './commands/backfill.js'
import type { BackfillProgress } from './commands/backfill.js'
import { runDemo } from './commands/demo.js'
import { runLoad } from './commands/loadgen.js'
import { renderHtml } from './commands/report-html.js'
import { parseDecodeLimits, startReceiver } from './commands/receiver.js'
import { relayCommand } from './commands/relay-cli.js'
import { safeUrl } from './redact.js'
import { VERSION } from './version.js'
import { SEND_OPTIONS, SEND_USAGE, int, num, sendOptions } from './commands/send-options.js'
import type { InputFormat } from './input/index.js'
import type { TimestampUnit } from './input/csv.js'

const USAGE = `prometheus-remote-writer ${VERSION}

usage: prw <command> [options]

commands:
  demo       stream a generated workload (backfill, then IoT) through the writer; without
             --url into the built-in receiver, proving every sample arrived (the default)
  backfill   send files (JSON lines, Prometheus text, OpenMetrics, CSV; gzip too) in constant memory
  bench      load-test a remote-write backend: open-loop rate, churn, live status, JSON/HTML report
  receive    run a remote-write receiver that checks, counts and optionally injects faults
  relay      receive remote write from devices and forward it upstream through a durable
             on-disk spool: nothing acknowledged to a device is lost to a crash or an outage

run 'prw <command> --help' for a command's options.`

const DEMO_USAGE = `usage: prw demo [--url URL] [options]

  --url URL              send to this backend (default: a built-in receiver on loopback)
                         (env PROMETHEUS_REMOTE_WRITE_URL)
  --bearer-token TOKEN   Authorization: Bearer (env PROMETHEUS_REMOTE_WRITE_TOKEN)
  --tenant ID            X-Scope-OrgID
  --concurrency N        requests in flight (default 4)
  --backfill-series N    default 200        --backfill-samples N   default 10000
  --iot-series N         default 100000     --iot-rounds N         default 10
  --fail-rate P          built-in receiver: answer P of requests with 503 (retried)
  --drop-request N       built-in receiver: accept request N but drop its data (the proof must fail)`

const BACKFILL_USAGE = `usage: prw backfill --url URL [options] FILE... (or - for stdin)

  --format F                 jsonl | prom | openmetrics | csv (default: by extension, else jsonl)
  --window N                 samples regrouped and sorted per window (default 200000)
  --dry-run                  read, parse and validate only; send nothing
  --checkpoint FILE          record progress; a rerun resumes after what was acknowledged
  --seconds                  timestamps below 1e10 are seconds (default: milliseconds)
  --csv-timestamp-column C   (default timestamp)   --csv-timestamp-unit ms|s|iso (default ms)
  --csv-value-columns A,B    (default value)       --csv-label-columns A,B (default: the rest)
  --csv-metric-name NAME     --csv-delimiter D

exit status: 0 when every sample was accepted, 1 when anything was rejected or failed.

${SEND_USAGE}`

const BENCH_USAGE = `usage: prw bench --url URL [options]

  --series N             active series (default 10000)
  --metrics N            metric names the series are spread over (default 10)
  --labels N             extra labels per series (default 5)
  --label-cardinality N  values per extra label (default 10)
  --churn N              series replaced by new ones every --churn-interval (default 0)
  --churn-interval MS    default 10000
  --rate N               open-loop target in samples/s (default 0: as fast as acknowledged)
  --duration S           seconds (default 30)
  --batch N              samples per request (default 2000)
  --json FILE            write the report as JSON
  --html FILE            write a self-contained HTML report with charts

${SEND_USAGE}`

const RECEIVE_USAGE = `usage: prw receive [options]

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
                    of those per byte of the compressed body, above 4 MiB); N may be Infinity`

async function main (argv: string[]): Promise<number> {
  const [command = 'demo', ...rest] = argv
  if (command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE)
    return 0
  }
  if (command === '--version') {
    console.log(VERSION)
    return 0
  }
  if (command === 'demo') return demo(rest)
  if (command === 'backfill') return backfillCommand(rest)
  if (command === 'bench') return benchCommand(rest)
  if (command === 'receive') return receive(rest)
  if (command === 'relay') return relayCommand(rest)
  console.error(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`)
  return 2
}

async function demo (args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      ...SEND_OPTIONS,
      help: { type: 'boolean', short: 'h' },
      'backfill-series': { type: 'string' },
      'backfill-samples': { type: 'string' },
      'iot-series': { type: 'string' },
      'iot-rounds': { type: 'string' },
      'fail-rate': { type: 'string' },
      'drop-request': { type: 'string' },
    },
  })
  if (values.help) {
    console.log(`${DEMO_USAGE}\n\n${SEND_USAGE}`)
    return 0
  }
  const { url, writer } = sendOptions(values)
  const report = await runDemo({
    url,
    writer,
    backfillSeries: int(values['backfill-series'], 200, '--backfill-series'),
    backfillSamples: int(values['backfill-samples'], 10_000, '--backfill-samples'),
    iotSeries: int(values['iot-series'], 100_000, '--iot-series'),
    iotRounds: int(values['iot-rounds'], 10, '--iot-rounds'),
    faults: { failRate: num(values['fail-rate'], 0, '--fail-rate', 1), dropRequest: values['drop-request'] === undefined ? undefined : int(values['drop-request'], 0, '--drop-request') },
  })
  if (report.stats.failed.samples > 0) return 1
  if (report.verified && !report.verified.ok) return 1
  return 0
}

async function backfillCommand (args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...SEND_OPTIONS,
      help: { type: 'boolean', short: 'h' },
      format: { type: 'string' },
      window: { type: 'string' },
      'dry-run': { type: 'boolean' },
      checkpoint: { type: 'string' },
      seconds: { type: 'boolean' },
      'csv-timestamp-column': { type: 'string' },
      'csv-timestamp-unit': { type: 'string' },
      'csv-value-columns': { type: 'string' },
      'csv-label-columns': { type: 'string' },
      'csv-metric-name': { type: 'string' },
      'csv-delimiter': { type: 'string' },
    },
  })
  if (values.help) {
    console.log(BACKFILL_USAGE)
    return 0
  }
  if (positionals.length === 0) throw new Error('backfill needs at least one FILE (or - for stdin)')
  const format = values.format as InputFormat | undefined
  if (format !== undefined && !['jsonl', 'prom', 'openmetrics', 'csv'].includes(format)) throw new Error(`unknown --format ${JSON.stringify(format)}`)
  const { url, writer } = sendOptions(values)
  if (!values['dry-run'] && url === undefined) throw new Error('backfill needs --url (or PROMETHEUS_REMOTE_WRITE_URL), or --dry-run')
  const list = (v: string | undefined): string[] | undefined => v?.split(',').map((x) => x.trim()).filter(Boolean)
  const bar = progressLine(process.stderr)
  const summary = await backfill({
    files: positionals,
    url,
    writer: { ...writer, autoConvertSecondsToMs: values.seconds === true },
    format,
    csv: {
      timestampColumn: values['csv-timestamp-column'],
      timestampUnit: values['csv-timestamp-unit'] as TimestampUnit | undefined,
      valueColumns: list(values['csv-value-columns']),
      labelColumns: list(values['csv-label-columns']),
      metricName: values['csv-metric-name'],
      delimiter: values['csv-delimiter'],
    },
    windowSamples: int(values.window, 200_000, '--window'),
    dryRun: values['dry-run'] === true,
    checkpoint: values.checkpoint,
    report: (line) => bar.print(line),
    onProgress: (p) => bar.update(p),
  })
  bar.done()
  const secs = summary.elapsedMs / 1000
  const verb = values['dry-run'] ? 'validated' : 'accepted'
  console.log(`${summary.samplesSent} samples ${verb} of ${summary.samplesRead} read from ${summary.lines} lines in ${summary.files} file(s), ${secs.toFixed(1)} s (${Math.round(summary.samplesSent / Math.max(secs, 1e-3))} samples/s)`)
  if (summary.samplesSkipped > 0) console.log(`${summary.samplesSkipped} samples skipped: acknowledged before the checkpoint`)
  const problems = summary.rejectedLines + summary.rejectedSeries + summary.failedSamples
  if (problems > 0) {
    console.log(`NOT ACCEPTED: ${summary.rejectedLines} malformed lines, ${summary.rejectedSeries} invalid series, ${summary.failedSamples} samples in ${summary.failedRequests} failed requests (details above)`)
    return 1
  }
  return 0
}

async function benchCommand (args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
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
      json: { type: 'string' },
      html: { type: 'string' },
    },
  })
  if (values.help) {
    console.log(BENCH_USAGE)
    return 0
  }
  const { url, writer } = sendOptions(values)
  if (url === undefined) throw new Error('bench needs --url (or PROMETHEUS_REMOTE_WRITE_URL); `prw receive` runs a local one')
  // Shown and saved without user info or query (they may hold credentials); the writer refuses an unparsable URL by name.
  const shown = safeUrl(url)
  const tty = process.stderr.isTTY
  const report = await runLoad({
    url,
    writer: { ...writer, maxSamplesPerRequest: int(values.batch, 2000, '--batch'), autoConvertSecondsToMs: false },
    series: int(values.series, 10_000, '--series'),
    metrics: int(values.metrics, 10, '--metrics'),
    labels: int(values.labels, 5, '--labels'),
    labelCardinality: int(values['label-cardinality'], 10, '--label-cardinality'),
    churn: int(values.churn, 0, '--churn'),
    churnInterval: int(values['churn-interval'], 10_000, '--churn-interval'),
    rate: num(values.rate, 0, '--rate'),
    duration: num(values.duration, 30, '--duration') * 1000,
    onTick: (s, t) => {
      const line = `${s.second}s  ${Math.round(s.samples)} samples/s  ${s.requests} req/s  p50 ${s.p50.toFixed(1)} ms  p99 ${s.p99.toFixed(1)} ms  ${s.errors} errors  behind ${t.behind}`
      process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`)
    },
  })
  if (tty) process.stderr.write('\n')
  const l = report.latency
  console.log(`target      ${report.target > 0 ? `${Math.round(report.target)} samples/s` : 'as fast as acknowledged'} against ${shown}`)
  console.log(`achieved    ${Math.round(report.achieved)} samples/s (${report.samplesSent} sent, ${report.samplesFailed} failed, ${report.behind} behind schedule)`)
  console.log(`requests    ${report.requests} (${report.requestsPerSecond.toFixed(1)}/s), ${(report.bytesPerSecond / 1e6).toFixed(2)} MB/s on the wire`)
  console.log(`latency     p50 ${l.p50.toFixed(1)} ms  p90 ${l.p90.toFixed(1)} ms  p99 ${l.p99.toFixed(1)} ms  max ${l.max.toFixed(1)} ms`)
  console.log(`errors      ${Object.keys(report.errors).length ? Object.entries(report.errors).map(([k, v]) => `${k}: ${v}`).join(', ') : 'none'}`)
  console.log(`client CPU  ${report.cpu.percentOfOneCore.toFixed(0)}% of one core`)
  const { writeFileSync } = await import('node:fs')
  if (values.json) writeFileSync(values.json, JSON.stringify({ url: shown, ...report }, null, 2))
  if (values.html) writeFileSync(values.html, renderHtml(report, shown))
  return report.samplesFailed > 0 ? 1 : 0
}

/** A one-line progress display on a TTY (bytes read of total, samples sent, rate, ETA); periodic lines elsewhere. */
function progressLine (out: NodeJS.WriteStream): { update(p: BackfillProgress): void, print(line: string): void, done(): void } {
  let last = ''
  let lastPrint = 0
  const clear = (): void => { if (out.isTTY && last) out.write('\r\x1b[K') }
  return {
    update (p) {
      const secs = p.elapsedMs / 1000
      const rate = p.samplesSent / Math.max(secs, 1e-3)
      const frac = p.bytesTotal ? Math.min(1, p.bytesRead / p.bytesTotal) : undefined
      const eta = frac !== undefined && frac > 0 ? (secs / frac) - secs : undefined
      const pct = frac === undefined ? '' : `${(frac * 100).toFixed(1)}% `
      last = `${pct}${(p.bytesRead / 1e6).toFixed(1)}${p.bytesTotal ? `/${(p.bytesTotal / 1e6).toFixed(1)}` : ''} MB  ` +
        `${p.samplesSent} samples sent  ${Math.round(rate)}/s${eta !== undefined ? `  ETA ${Math.ceil(eta)} s` : ''}`
      if (out.isTTY) {
        out.write(`\r\x1b[K${last}`)
      } else if (Date.now() - lastPrint > 5000) {
        lastPrint = Date.now()
        out.write(`${last}\n`)
      }
    },
    print (line) {
      clear()
      out.write(`${line}\n`)
      if (out.isTTY && last) out.write(last)
    },
    done () {
      clear()
      last = ''
    },
  }
}

async function receive (args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
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
    },
  })
  if (values.help) {
    console.log(RECEIVE_USAGE)
    return 0
  }
  const decodeLimits = parseDecodeLimits(values.limit ?? [])
  const { createWriteStream } = await import('node:fs')
  const out = values.out ? createWriteStream(values.out, { flags: 'a' }) : undefined
  const receiver = await startReceiver({
    port: int(values.port, 9201, '--port'),
    host: values.host ?? '127.0.0.1',
    failRate: num(values['fail-rate'], 0, '--fail-rate', 1),
    status: int(values.status, 503, '--status'),
    retryAfter: values['retry-after'] === undefined ? undefined : int(values['retry-after'], 1, '--retry-after'),
    latency: num(values.latency, 0, '--latency'),
    resetRate: num(values['reset-rate'], 0, '--reset-rate', 1),
    decodeLimits,
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
    console.log(`${s.samples} samples in ${s.accepted} requests (+${s.samples - last.samples}/s), ${s.rejected} rejected, ${s.injected} faults`)
    last = s
  }, 1000)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  clearInterval(timer)
  await receiver.close()
  out?.end()
  const s = receiver.stats()
  const extra = s.histograms + s.exemplars > 0 ? `, ${s.histograms} histograms, ${s.exemplars} exemplars` : ''
  console.log(`received ${s.samples} samples${extra} of ${s.series} series in ${s.accepted} requests; ${s.rejected} rejected`)
  return 0
}

/** JSON has no NaN or Infinity: write them as VictoriaMetrics' export does, as strings would break readers. */
function jsonNumber (v: number): number | string {
  return Number.isFinite(v) ? v : String(v)
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err) => {
  console.error(err instanceof Error ? err.message : err)
  process.exitCode = 1
})
