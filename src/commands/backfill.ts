/**
 * Backfill: streams files of any size into a remote-write endpoint in constant memory.
 *
 * Each file is read as records (src/input), regrouped into windows of merged, time-sorted
 * series, and each window is sent with writer.send(), a few windows in flight at once. A
 * window's offset becomes the file's checkpoint once it and every earlier window of the file
 * were acknowledged, so a killed run resumes after the last checkpoint without resending
 * what the server acknowledged before it. Malformed lines are reported with file and line;
 * the good lines still go through. Items the codec rejects (bad label names, ...) are
 * reported with their labels and the rest of the window is sent.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import type { ReadStream } from 'node:fs'
import { describeLabels } from '../errors.js'
import { detectFormat, maybeGunzip, openInput, readItems, regroup } from '../input/index.js'
import type { InputFormat, InputItem, InputRecord, ReadOptions } from '../input/index.js'
import type { CsvOptions } from '../input/csv.js'
import { RemoteWriter, SendError, ValidationError, createCodec } from '../index.js'
import type { Codec, RemoteWriterOptions } from '../index.js'

export interface BackfillOptions {
  /** Files to read; '-' is stdin. */
  files: string[]
  /** Endpoint; not needed with dryRun. */
  url?: string
  writer?: Omit<RemoteWriterOptions, 'url'>
  /** Input format; default: from each file's extension, else JSON lines. */
  format?: InputFormat
  csv?: Omit<CsvOptions, 'maxLineBytes'>
  /** Samples per regroup window (and per send() call). Default 200000. */
  windowSamples?: number
  /** Windows in flight at once. Default 2. */
  inFlight?: number
  /** Validate only: read, parse and encode, send nothing. */
  dryRun?: boolean
  /** Resume file: written after every acknowledged window, read at start. */
  checkpoint?: string
  /** Problems (rejected lines, failed requests), one line each. Default: stderr. */
  report?: (line: string) => void
  /** Progress updates (about every 200 ms). */
  onProgress?: (p: BackfillProgress) => void
}

export interface BackfillProgress {
  file: string
  bytesRead: number
  /** Total bytes of the current file, when known. */
  bytesTotal: number | undefined
  samplesRead: number
  samplesSent: number
  elapsedMs: number
}

export interface BackfillSummary {
  files: number
  lines: number
  samplesRead: number
  /** Samples acknowledged by the server (or validated, with dryRun). */
  samplesSent: number
  /** Samples skipped because a checkpoint said they were acknowledged already. */
  samplesSkipped: number
  rejectedLines: number
  rejectedSeries: number
  failedSamples: number
  failedRequests: number
  requests: number
  elapsedMs: number
}

/** What a checkpoint file holds: per file, the byte offset (decompressed) acknowledged. */
interface CheckpointFile {
  version: 1
  files: Record<string, { offset: number, line: number }>
}

/** Runs a backfill. Resolves with the summary; `ok` in the caller is "nothing rejected or failed". */
export async function backfill (options: BackfillOptions): Promise<BackfillSummary> {
  const { files, windowSamples = 200_000, inFlight = 2, dryRun = false } = options
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`))
  if (!dryRun && options.url === undefined) throw new Error('backfill needs --url (or --dry-run)')
  await RemoteWriter.init()
  const writer = dryRun ? undefined : new RemoteWriter({ ...options.writer, url: options.url as string })
  const codec = dryRun ? await createCodec(options.writer) : undefined
  const checkpoint = options.checkpoint === undefined ? undefined : loadCheckpoint(options.checkpoint)
  const t0 = Date.now()
  const summary: BackfillSummary = {
    files: 0, lines: 0, samplesRead: 0, samplesSent: 0, samplesSkipped: 0, rejectedLines: 0, rejectedSeries: 0,
    failedSamples: 0, failedRequests: 0, requests: 0, elapsedMs: 0,
  }

  for (const file of files) {
    const input = openInput(file)
    const format = options.format ?? detectFormat(input.name) ?? 'jsonl'
    const done = checkpoint?.files[file]
    summary.files++
    const readOptions = { format, ...(format === 'csv' ? options.csv : {}) } as ReadOptions
    const records = skipDone(readItems(maybeGunzip(input.stream), readOptions), done?.offset ?? -1, summary)
    /** Windows in flight, and a wake-up for the reader waiting for one to end. */
    let active = 0
    let wake: (() => void) | undefined
    /** Windows of this file not yet settled, in order, with their offsets. */
    const windows: Array<{ offset: number, line: number, settled: boolean, ok: boolean }> = []
    let checkpointBroken = false
    let lastLine = 0

    const progress = setInterval(() => {
      options.onProgress?.({
        file: input.name,
        bytesRead: (input.stream as ReadStream).bytesRead ?? 0,
        bytesTotal: input.size,
        samplesRead: summary.samplesRead,
        samplesSent: summary.samplesSent,
        elapsedMs: Date.now() - t0,
      })
    }, 200)

    const advance = (): void => {
      // The checkpoint moves over the prefix of settled windows, and stops for good at a failure.
      while (windows.length > 0 && windows[0].settled) {
        const w = windows.shift() as (typeof windows)[number]
        if (!w.ok) checkpointBroken = true
        if (!checkpointBroken && checkpoint !== undefined && options.checkpoint !== undefined) {
          checkpoint.files[file] = { offset: w.offset, line: w.line }
          saveCheckpoint(options.checkpoint, checkpoint)
        }
      }
    }

    try {
      for await (const out of regroup(records, { windowSamples })) {
        if ('error' in out) {
          summary.rejectedLines++
          report(`${input.name}:${out.error.line}: ${out.error.message}`)
          continue
        }
        summary.lines += out.line - lastLine
        lastLine = out.line
        summary.samplesRead += out.samples
        if (codec !== undefined) {
          summary.samplesSent += validateOnly(codec, out.items, input.name, report, summary)
          continue
        }
        while (active >= inFlight) await new Promise<void>((resolve) => { wake = resolve })
        const win = { offset: out.offset, line: out.line, settled: false, ok: false }
        windows.push(win)
        active++
        void sendWindow(writer as RemoteWriter, out.items, input.name, report, summary).then((ok) => {
          win.settled = true
          win.ok = ok
          active--
          advance()
          wake?.()
        }, (err: unknown) => {
          win.settled = true
          active--
          report(`${input.name}: ${(err as Error).message}`)
          summary.failedRequests++
          advance()
          wake?.()
        })
      }
      while (active > 0) await new Promise<void>((resolve) => { wake = resolve })
      advance()
    } finally {
      clearInterval(progress)
    }
  }

  if (writer !== undefined) {
    try {
      await writer.close()
    } catch { /* every failure was reported per request already */ }
    const s = writer.stats()
    summary.requests = s.sent.requests
  }
  summary.elapsedMs = Date.now() - t0
  return summary
}

/** Drops records a checkpoint covers (offset ≤ done), counting their samples. */
async function * skipDone (records: AsyncIterable<InputRecord>, done: number, summary: BackfillSummary): AsyncGenerator<InputRecord> {
  for await (const rec of records) {
    if (rec.offset <= done) {
      if ('item' in rec) summary.samplesSkipped += rec.item.values.length
      continue
    }
    yield rec
  }
}

/**
 * Sends one window. Items the codec rejects are reported and left out, and the rest is sent;
 * requests the server refuses are reported. Resolves true when everything sent was accepted.
 */
async function sendWindow (writer: RemoteWriter, items: InputItem[], name: string, report: (l: string) => void, summary: BackfillSummary): Promise<boolean> {
  let list = items
  for (;;) {
    try {
      const r = await writer.send(list)
      summary.samplesSent += r.samples
      return true
    } catch (err) {
      if (err instanceof ValidationError) {
        const bad = list[err.seriesIndex]
        summary.rejectedSeries++
        report(`${name}: series ${describeLabels(bad.metric)}: ${err.detail}`)
        list = list.filter((_, i) => i !== err.seriesIndex)
        continue
      }
      if (err instanceof SendError) {
        summary.samplesSent += err.result.samples
        summary.failedSamples += err.failed.samples
        summary.failedRequests += err.failed.requests
        for (const e of err.errors) report(`${name}: ${e.message}`)
        return false
      }
      throw err
    }
  }
}

/** Dry run: encodes each item to validate it; returns the samples that passed. */
function validateOnly (codec: Codec, items: InputItem[], name: string, report: (l: string) => void, summary: BackfillSummary): number {
  let ok = 0
  for (const item of items) {
    try {
      codec.begin()
      codec.append(item, 0)
      ok += item.values.length
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err
      summary.rejectedSeries++
      report(`${name}: series ${describeLabels(item.metric)}: ${err.detail}`)
    }
  }
  return ok
}

function loadCheckpoint (path: string): CheckpointFile {
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as CheckpointFile
    if (data.version === 1 && typeof data.files === 'object') return data
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read checkpoint ${path}: ${(err as Error).message}`)
  }
  return { version: 1, files: {} }
}

/** Writes the checkpoint atomically: a temp file, then rename. */
function saveCheckpoint (path: string, data: CheckpointFile): void {
  const tmp = `${path}.tmp`
  writeFileSync(tmp, JSON.stringify(data))
  renameSync(tmp, path)
}
