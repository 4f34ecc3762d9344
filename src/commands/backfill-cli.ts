/**
 * `prw backfill`: its flags, its progress line and its end: counts, one line per cause with
 * what to do, the exit status, and on Ctrl-C or giving up with a checkpoint, the command that
 * resumes.
 */
import { backfill } from './backfill.js'
import type { BackfillProgress, BackfillSummary } from './backfill.js'
import { EXIT, EXIT_USAGE, UsageError, checkFiles, checkWritable, flagWords, giveUpFlag, interruptOnSigint, parseFlags, resumeCommand } from './args.js'
import { SEND_OPTIONS, SEND_USAGE, int, sendOptions } from './send-options.js'
import type { InputFormat } from '../input/index.js'
import type { TimestampUnit } from '../input/csv.js'

export const BACKFILL_USAGE = `usage: prw backfill --url URL [options] FILE... (or - for stdin)

  --format F                 auto | jsonl | prom | openmetrics | csv (default auto: told from the
                             first lines, then the extension, and said)
  --window N                 samples regrouped and sorted per window (default 200000)
  --dry-run                  read, parse and encode only; send nothing
  --checkpoint FILE          record progress; a rerun resumes after what was acknowledged
  --milliseconds             timestamps below 1e10 are milliseconds (default: seconds, converted
                             to milliseconds as the library does, and said once)
  --give-up-after S          stop when nothing was accepted for S seconds (default 180; 0: never)
  --batch N                  samples per request (default 2000)
  --verbose                  print every problem, not only the first 3 of each cause
  --csv-timestamp-column C   (default timestamp)   --csv-timestamp-unit auto|ms|s|iso (default auto:
                             numbers are milliseconds, RFC 3339 dates are read)
  --csv-value-columns A,B    (default value)       --csv-label-columns A,B (default: the rest)
  --csv-metric-name NAME     --csv-delimiter D

${EXIT_USAGE}

${SEND_USAGE}`

const FORMATS: ReadonlyArray<InputFormat | 'auto'> = ['auto', 'jsonl', 'prom', 'openmetrics', 'csv']

export async function backfillCommand (args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    ...SEND_OPTIONS,
    help: { type: 'boolean', short: 'h' },
    format: { type: 'string' },
    window: { type: 'string' },
    'dry-run': { type: 'boolean' },
    checkpoint: { type: 'string' },
    seconds: { type: 'boolean' },
    milliseconds: { type: 'boolean' },
    'give-up-after': { type: 'string' },
    verbose: { type: 'boolean' },
    batch: { type: 'string' },
    'csv-timestamp-column': { type: 'string' },
    'csv-timestamp-unit': { type: 'string' },
    'csv-value-columns': { type: 'string' },
    'csv-label-columns': { type: 'string' },
    'csv-metric-name': { type: 'string' },
    'csv-delimiter': { type: 'string' },
  }, true)
  if (values.help === true) {
    console.log(BACKFILL_USAGE)
    return EXIT.ok
  }
  if (positionals.length === 0) throw new UsageError('backfill needs at least one FILE (or - for stdin)')
  const format = values.format as InputFormat | 'auto' | undefined
  if (format !== undefined && !FORMATS.includes(format)) throw new UsageError(`--format must be ${FORMATS.join(', ')}; got ${JSON.stringify(format)}`)
  const unit = values['csv-timestamp-unit']
  if (unit !== undefined && !['auto', 'ms', 's', 'iso'].includes(unit)) throw new UsageError(`--csv-timestamp-unit must be auto, ms, s or iso; got ${JSON.stringify(unit)}`)
  if (values.seconds === true && values.milliseconds === true) throw new UsageError('--seconds and --milliseconds contradict each other')
  const { url, writer } = sendOptions(values)
  const dryRun = values['dry-run'] === true
  if (!dryRun && url === undefined) throw new UsageError('backfill needs --url (or PROMETHEUS_REMOTE_WRITE_URL), or --dry-run')
  const giveUpAfterMs = giveUpFlag(values['give-up-after'])
  const windowSamples = int(values.window, 200_000, '--window')
  if (windowSamples === 0) throw new UsageError('--window must be at least 1')
  const batch = int(values.batch, 2000, '--batch')
  if (batch === 0) throw new UsageError('--batch must be at least 1')
  checkFiles(positionals)
  checkWritable(values.checkpoint, '--checkpoint')
  const list = (v: string | undefined): string[] | undefined => v?.split(',').map((x) => x.trim()).filter(Boolean)

  const bar = progressLine(process.stderr, dryRun)
  const interrupt = interruptOnSigint((line) => bar.print(line))
  let summary: BackfillSummary
  try {
    summary = await backfill({
      files: positionals,
      url,
      writer: { ...writer, autoConvertSecondsToMs: values.milliseconds !== true, maxSamplesPerRequest: batch },
      format,
      csv: {
        timestampColumn: values['csv-timestamp-column'],
        timestampUnit: unit as TimestampUnit | undefined,
        valueColumns: list(values['csv-value-columns']),
        labelColumns: list(values['csv-label-columns']),
        metricName: values['csv-metric-name'],
        delimiter: values['csv-delimiter'],
      },
      windowSamples,
      dryRun,
      checkpoint: values.checkpoint,
      verbose: values.verbose === true,
      giveUpAfterMs,
      signal: interrupt.signal,
      report: (line) => bar.print(flagWords(line)),
      onProgress: (p) => bar.update(p),
    })
  } finally {
    interrupt.release()
    bar.done()
  }
  return finish(summary, dryRun, values.checkpoint)
}

/** Prints the end of the run and returns the exit status. */
function finish (summary: BackfillSummary, dryRun: boolean, checkpoint: string | undefined): number {
  const secs = summary.elapsedMs / 1000
  const rate = Math.round(summary.samplesSent / Math.max(secs, 1e-3))
  const files = `${summary.lines} lines in ${summary.files} file${summary.files === 1 ? '' : 's'}`
  if (dryRun) {
    console.log(`parsed ${summary.samplesRead} samples from ${files}, encoded ${summary.samplesSent}, in ${secs.toFixed(1)} s (${rate} samples/s); nothing sent (--dry-run)`)
  } else {
    console.log(`${summary.samplesSent} samples accepted of ${summary.samplesRead} read from ${files} in ${secs.toFixed(1)} s (${rate} samples/s)`)
    const retries = Object.values(summary.retries).reduce((a, b) => a + b, 0)
    const unsentRequests = summary.failures.stopped ?? 0
    console.log(`requests: ${summary.requests} accepted, ${summary.failedRequests - unsentRequests} failed${unsentRequests > 0 ? `, ${unsentRequests} not sent (the run stopped)` : ''}; ${summary.attempts} attempts, ${retries} retries`)
  }
  if (summary.samplesSkipped > 0) console.log(`${summary.samplesSkipped} samples skipped: acknowledged before the checkpoint`)
  const unsent = summary.samplesRead - summary.samplesSent - summary.failedSamples - summary.rejectedSamples
  if (summary.stopped !== undefined && unsent > 0) console.log(`${unsent} samples read but not sent: the run stopped`)
  for (const line of summary.causes) console.log(flagWords(line))
  const resume = checkpoint !== undefined && summary.stopped !== undefined ? `resume with: ${resumeCommand(process.argv.slice(2))}` : undefined
  if (summary.interrupted === true) {
    console.log(`interrupted${resume ? `; ${resume}` : ''}`)
    return EXIT.interrupted
  }
  if (summary.stopped !== undefined) {
    console.log(`GAVE UP: ${flagWords(summary.stopped)}${resume ? `\n${resume}` : ''}`)
    return EXIT.gaveUp
  }
  const problems = summary.rejectedLines + summary.rejectedSeries + summary.failedSamples
  if (problems > 0) {
    console.log(`NOT ACCEPTED: ${summary.rejectedLines} malformed lines, ${summary.rejectedSeries} invalid series, ${summary.failedSamples} samples in ${summary.failedRequests} failed requests`)
    return EXIT.notAccepted
  }
  return EXIT.ok
}

/**
 * A one-line progress display on a TTY (bytes read of total, samples acknowledged, the rate over
 * the last seconds, ETA, and the retry state); a line every 5 s elsewhere.
 */
function progressLine (out: NodeJS.WriteStream, dryRun: boolean): { update(p: BackfillProgress): void, print(line: string): void, done(): void } {
  let last = ''
  let lastPrint = 0
  const window: Array<[number, number]> = []
  const clear = (): void => { if (out.isTTY && last) out.write('\r\x1b[K') }
  return {
    update (p) {
      window.push([p.elapsedMs, p.samplesSent])
      while (window.length > 2 && window[0][0] < p.elapsedMs - 3000) window.shift()
      const [t0, s0] = window[0]
      const rate = p.elapsedMs > t0 ? (p.samplesSent - s0) / ((p.elapsedMs - t0) / 1000) : 0
      const secs = p.elapsedMs / 1000
      const frac = p.bytesTotal ? Math.min(1, p.bytesRead / p.bytesTotal) : undefined
      const eta = frac !== undefined && frac > 0 && p.retrying === '' ? (secs / frac) - secs : undefined
      const pct = frac === undefined ? '' : `${(frac * 100).toFixed(1)}% `
      last = `${pct}${(p.bytesRead / 1e6).toFixed(1)}${p.bytesTotal ? `/${(p.bytesTotal / 1e6).toFixed(1)}` : ''} MB  ` +
        `${p.samplesSent} samples ${dryRun ? 'encoded' : 'accepted'}  ${Math.round(rate)}/s${eta !== undefined ? `  ETA ${Math.ceil(eta)} s` : ''}` +
        `${p.retrying ? `  ${p.retrying}` : ''}`
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
