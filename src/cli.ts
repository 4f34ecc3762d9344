#!/usr/bin/env node
/**
 * The command line: `prometheus-remote-writer <command> [options]` (alias `prw`).
 * It parses flags (commands/args.ts, over node:util parseArgs) and runs the commands of src/commands/, which use the
 * library through src/index.ts.
 */
import { EXIT, EXIT_USAGE, flagWords, isUsage, parseFlags, suggest } from './commands/args.js'
import { backfillCommand } from './commands/backfill-cli.js'
import { benchCommand } from './commands/bench-cli.js'
import { runDemo } from './commands/demo.js'
import { receiveCommand } from './commands/receive-cli.js'
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
  --drop-request N       built-in receiver: accept request N but drop its data (the proof must fail)

${EXIT_USAGE}`

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
  if (command === 'receive') return receiveCommand(rest)
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
  if (report.stopped !== undefined) {
    console.log(`GAVE UP: ${report.stopped}`)
    return EXIT.gaveUp
  }
  if (report.stats.failed.samples > 0) return 1
  if (report.verified && !report.verified.ok) return 1
  return 0
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
