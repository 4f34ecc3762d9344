#!/usr/bin/env node
/**
 * The command line: `prometheus-remote-writer <command> [options]` (alias `prw`).
 * It parses with node:util parseArgs and calls only the public API.
 */
import { parseArgs } from 'node:util'
import { runDemo } from './demo.js'
import { startReceiver } from './receiver.js'
import { VERSION } from './http.js'

const USAGE = `prometheus-remote-writer ${VERSION}

usage: prw <command> [options]

commands:
  demo       stream a generated workload (backfill, then IoT) through the writer; without
             --url into the built-in receiver, proving every sample arrived (the default)
  receive    run a remote-write receiver that checks, counts and optionally injects faults

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

const RECEIVE_USAGE = `usage: prw receive [options]

  --port N          listen port (default 9201; 0 picks one)
  --host ADDR       listen address (default 127.0.0.1)
  --out FILE        append what is received as JSON lines ({metric, values, timestamps})
  --fail-rate P     answer P of requests with --status (default 503)
  --status CODE     status of injected failures: 429, 500, 503, ...
  --retry-after S   Retry-After seconds on injected failures
  --latency MS      delay every answer
  --reset-rate P    reset P of connections without answering`

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
  if (command === 'receive') return receive(rest)
  console.error(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`)
  return 2
}

async function demo (args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      help: { type: 'boolean', short: 'h' },
      url: { type: 'string' },
      'bearer-token': { type: 'string' },
      tenant: { type: 'string' },
      concurrency: { type: 'string' },
      'backfill-series': { type: 'string' },
      'backfill-samples': { type: 'string' },
      'iot-series': { type: 'string' },
      'iot-rounds': { type: 'string' },
      'fail-rate': { type: 'string' },
      'drop-request': { type: 'string' },
    },
  })
  if (values.help) {
    console.log(DEMO_USAGE)
    return 0
  }
  const url = values.url ?? process.env.PROMETHEUS_REMOTE_WRITE_URL
  const token = values['bearer-token'] ?? process.env.PROMETHEUS_REMOTE_WRITE_TOKEN
  const report = await runDemo({
    url,
    writer: {
      concurrency: int(values.concurrency, 4),
      tenant: values.tenant,
      auth: token ? { bearerToken: token } : undefined,
    },
    backfillSeries: int(values['backfill-series'], 200),
    backfillSamples: int(values['backfill-samples'], 10_000),
    iotSeries: int(values['iot-series'], 100_000),
    iotRounds: int(values['iot-rounds'], 10),
    faults: { failRate: num(values['fail-rate'], 0), dropRequest: values['drop-request'] === undefined ? undefined : int(values['drop-request'], 0) },
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
    },
  })
  if (values.help) {
    console.log(RECEIVE_USAGE)
    return 0
  }
  const { createWriteStream } = await import('node:fs')
  const out = values.out ? createWriteStream(values.out, { flags: 'a' }) : undefined
  const receiver = await startReceiver({
    port: int(values.port, 9201),
    host: values.host ?? '127.0.0.1',
    failRate: num(values['fail-rate'], 0),
    status: int(values.status, 503),
    retryAfter: values['retry-after'] === undefined ? undefined : int(values['retry-after'], 1),
    latency: num(values.latency, 0),
    resetRate: num(values['reset-rate'], 0),
    onItems: out && ((items) => {
      for (const it of items) {
        out.write(`${JSON.stringify({ metric: it.metric, values: Array.from(it.values, jsonNumber), timestamps: it.timestamps })}\n`)
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
  console.log(`received ${s.samples} samples of ${s.series} series in ${s.accepted} requests; ${s.rejected} rejected`)
  return 0
}

/** JSON has no NaN or Infinity: write them as VictoriaMetrics' export does, as strings would break readers. */
function jsonNumber (v: number): number | string {
  return Number.isFinite(v) ? v : String(v)
}

function int (v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`expected a whole number, got ${JSON.stringify(v)}`)
  return n
}

function num (v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`expected a number, got ${JSON.stringify(v)}`)
  return n
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err) => {
  console.error(err instanceof Error ? err.message : err)
  process.exitCode = 1
})
