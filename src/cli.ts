#!/usr/bin/env node
/**
 * The command line: `prometheus-remote-writer <command> [options]` (alias `prw`).
 * It parses with node:util parseArgs and runs the commands of src/commands/, which use the
 * library through src/index.ts.
 */
import { parseArgs } from 'node:util'
import { EXIT, EXIT_USAGE, flagWords, isUsage, parseFlags, suggest } from './commands/args.js'
import { backfillCommand } from './commands/backfill-cli.js'
import { benchCommand } from './commands/bench-cli.js'
import { runDemo } from './commands/demo.js'
import { parseDecodeLimits, startReceiver } from './commands/receiver.js'
import { relayCommand } from './commands/relay-cli.js'
import { VERSION } from './version.js'
import { SEND_OPTIONS, SEND_USAGE, int, num, sendOptions } from './commands/send-options.js'

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

run 'prw <command> --help' for a command's options.

${EXIT_USAGE}`

const DEMO_USAGE = `usage: prw demo [--url URL] [options]

  without --url, the demo sends to a built-in receiver on loopback and proves every sample arrived
  --backfill-series N    default 200        --backfill-samples N   default 10000
  --iot-series N         default 100000     --iot-rounds N         default 10
  --fail-rate P          built-in receiver: answer P of requests with 503 (retried)
  --drop-request N       built-in receiver: accept request N but drop its data (the proof must fail)`

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
  const near = suggest(command, COMMANDS)
  console.error(`prw: unknown command ${JSON.stringify(command)}${near === undefined ? '' : ` (did you mean ${near}?)`}\n\n${USAGE}`)
  return EXIT.usage
}

const COMMANDS = ['demo', 'backfill', 'bench', 'receive', 'relay']

async function demo (args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    ...SEND_OPTIONS,
    help: { type: 'boolean', short: 'h' },
    'backfill-series': { type: 'string' },
    'backfill-samples': { type: 'string' },
    'iot-series': { type: 'string' },
    'iot-rounds': { type: 'string' },
    'fail-rate': { type: 'string' },
    'drop-request': { type: 'string' },
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
  const message = flagWords(err instanceof Error ? err.message : String(err))
  if (isUsage(err)) {
    const command = process.argv[2]
    console.error(`prw: ${message}\nrun 'prw ${command !== undefined && COMMANDS.includes(command) ? `${command} ` : ''}--help' for the options`)
    process.exitCode = EXIT.usage
    return
  }
  console.error(`prw: ${message}`)
  process.exitCode = EXIT.notAccepted
})
