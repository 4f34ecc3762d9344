/**
 * Backfill: streams files of any size into a remote-write endpoint in constant memory.
 *
 * Each file is read as records (src/input), regrouped into windows of merged, time-sorted
 * series, and each window is cut into chunks of a few requests, sent with writer.send(), two
 * chunks in flight. The checkpoint (checkpoint.ts) moves with every acknowledged chunk, over
 * the prefix of settled ones, so a killed run resumes re-sending at most what was in flight. Malformed lines are reported with file and line;
 * the good lines still go through. Items the codec rejects (bad label names, ...) are
 * reported with their labels and the rest of the window is sent.
 */
import type { ReadStream } from 'node:fs'
import { describeLabels } from '../errors.js'
import { FORMAT_NAMES, formatHint, openInput, readItems, regroup } from '../input/index.js'
import type { InputFormat, InputItem, ReadOptions } from '../input/index.js'
import type { CsvOptions } from '../input/csv.js'
import { BatchError, InvalidArgumentError, RemoteWriter, SendError, ValidationError, createCodec } from '../index.js'
import type { Codec, RemoteWriterOptions, RetryEvent } from '../index.js'
import { FileProgress, Saver, loadCheckpoint } from './checkpoint.js'
import type { Chunk, FilePlace } from './checkpoint.js'
import { Feedback, SecondsNotice, Watchdog, rangeOf } from './feedback.js'

export interface BackfillOptions {
  /** Files to read; '-' is stdin. */
  files: string[]
  /** Endpoint; not needed with dryRun. */
  url?: string
  writer?: Omit<RemoteWriterOptions, 'url'>
  /** Input format; default 'auto': told from each input's first bytes (then its extension), and said. */
  format?: InputFormat | 'auto'
  csv?: Omit<CsvOptions, 'maxLineBytes'>
  /** Samples per regroup window (and per send() call). Default 200000. */
  windowSamples?: number
  /** Chunks handed to the writer and not acknowledged, at most. Default 2. */
  inFlight?: number
  /** Samples per chunk: the checkpoint moves by whole chunks. Default 4 requests per shard. */
  chunkSamples?: number
  /** Validate only: read, parse and encode, send nothing. */
  dryRun?: boolean
  /** Resume file: written after every acknowledged window, read at start. */
  checkpoint?: string
  /** Problems (rejected lines, failed requests), one line each. Default: stderr. */
  report?: (line: string) => void
  /** Progress updates (about every 200 ms). */
  onProgress?: (p: BackfillProgress) => void
  /** Report every problem, not only the first few of each cause. */
  verbose?: boolean
  /** Stop when nothing was acknowledged for this long while requests wait. Default 180000 ms. */
  giveUpAfterMs?: number
  /** Stops the run (Ctrl-C): what is in flight is failed, the checkpoint keeps what was acknowledged. */
  signal?: AbortSignal
}

export interface BackfillProgress {
  file: string
  bytesRead: number
  /** Total bytes of the current file, when known. */
  bytesTotal: number | undefined
  samplesRead: number
  samplesSent: number
  elapsedMs: number
  /** The live retry state ("connection refused: retrying (3), next in 2 s"), or ''. */
  retrying: string
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
  /** Samples of the rejected series. */
  rejectedSamples: number
  failedSamples: number
  failedRequests: number
  /** Requests acknowledged. */
  requests: number
  /** Attempts made (requests, retries and failed attempts). */
  attempts: number
  /** Retries by cause (see FailureCause). */
  retries: Record<string, number>
  /** Failed requests by cause. */
  failures: Record<string, number>
  /** Set when the run stopped before the end: why (a failure that cannot heal, nothing accepted for too long, interrupted). */
  stopped?: string
  /** True when the run was stopped by the caller's signal (Ctrl-C). */
  interrupted?: boolean
  /** The grouped problems and one hint per cause, for the end of the run. */
  causes: string[]
  elapsedMs: number
}

/** Runs a backfill. Resolves with the summary; `ok` in the caller is "nothing rejected or failed". */
export async function backfill (options: BackfillOptions): Promise<BackfillSummary> {
  const { files, windowSamples = 200_000, dryRun = false } = options
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`))
  if (!dryRun && options.url === undefined) throw new Error('backfill needs --url (or --dry-run)')
  await RemoteWriter.init()
  const stop = new AbortController()
  const feedback = new Feedback({ print: report, verbose: options.verbose, url: options.url, onStop: (why) => stop.abort(new Error(why)) })
  const onInterrupt = (): void => { feedback.giveUp('interrupted', false) }
  if (options.signal?.aborted === true) onInterrupt()
  options.signal?.addEventListener('abort', onInterrupt, { once: true })
  const writer = dryRun ? undefined : new RemoteWriter({ ...options.writer, url: options.url as string, signal: stop.signal })
  let attempts = 0
  writer?.on('retry', (e: RetryEvent) => feedback.retry(e))
  writer?.on('response', () => { attempts++ })
  const codec = dryRun ? await createCodec(options.writer) : undefined
  let screening: Promise<Codec> | undefined
  /** A codec that checks items one by one, made when a chunk first holds an invalid series. */
  const screen = (): Promise<Codec> => (screening ??= createCodec(options.writer))
  const seconds = new SecondsNotice(options.writer?.autoConvertSecondsToMs ?? true, report)
  const checkpoint = options.checkpoint === undefined ? undefined : loadCheckpoint(options.checkpoint)
  const saver = checkpoint === undefined ? undefined : new Saver(options.checkpoint as string, checkpoint, report)
  // A chunk is a few requests' worth, so the checkpoint follows the acknowledgements closely;
  // a few chunks in flight keep every shard busy.
  const perRequest = options.writer?.maxSamplesPerRequest ?? 2000
  const shards = options.writer?.concurrency ?? 4
  const chunkSamples = options.chunkSamples ?? 4 * perRequest * shards
  const maxPending = options.inFlight ?? 2
  const t0 = Date.now()
  const summary: BackfillSummary = {
    files: 0, lines: 0, samplesRead: 0, samplesSent: 0, samplesSkipped: 0, rejectedLines: 0, rejectedSeries: 0, rejectedSamples: 0,
    failedSamples: 0, failedRequests: 0, requests: 0, attempts: 0, retries: {}, failures: {}, causes: [], elapsedMs: 0,
  }
  const giveUp = writer === undefined ? undefined : new Watchdog(writer, options.giveUpAfterMs ?? 180_000, feedback)

  /**
   * The writer's close(), started once nothing more will be sent (after the last chunk of the
   * last file, or on an error), so that its deadline (--close-timeout) bounds the wait for what
   * is in flight too: it fails what it gives up on, which settles every chunk. Started on the
   * next macrotask: a chunk that a rejected series made fail is re-sent without it in
   * microtasks (a ValidationError rejects send() before it awaits anything), and must find the
   * writer open.
   */
  let closing: Promise<unknown> | undefined
  const startClose = (): void => {
    closing ??= writer?.close().catch(() => { /* every failure was reported per chunk already */ })
  }
  const closeSoon = (): void => { setImmediate(startClose) }

  /** The file being read, for the progress ticker. */
  let current: { name: string, stream: unknown, size: number | undefined } | undefined
  // Until the end of the run, close included: the retry state stays on screen while the last requests drain.
  const ticker = options.onProgress === undefined ? undefined : setInterval(() => {
    if (current === undefined) return
    options.onProgress?.({
      file: current.name,
      bytesRead: (current.stream as ReadStream).bytesRead ?? 0,
      bytesTotal: current.size,
      samplesRead: summary.samplesRead,
      samplesSent: summary.samplesSent,
      elapsedMs: Date.now() - t0,
      retrying: feedback.live(),
    })
  }, 200)

  try {
    for (const [n, file] of files.entries()) {
      const input = openInput(file)
      current = input
      // A stop ends reading too: a stdin that stays open must not hold the run.
      const endInput = (): void => { input.stream.destroy() }
      stop.signal.addEventListener('abort', endInput, { once: true })
      const format = options.format ?? 'auto'
      const start: FilePlace = checkpoint?.files[file] ?? { offset: 0, line: 0 }
      summary.files++
      const readOptions = {
        ...options.csv,
        format,
        fileName: input.name,
        // Said, never guessed silently: the format the content showed, and why.
        onFormat: (f: InputFormat, why: string) => report(`reading ${input.name} as ${FORMAT_NAMES[f]} (${why})`),
        skipThrough: start.offset,
        onSkipped: (n: number) => { summary.samplesSkipped += n },
      } as ReadOptions
      const records = readItems(input.stream, readOptions)
      const progress = new FileProgress(start, windowSamples, (place) => saver?.set(file, place))
      /** Where to resume inside the first window: usable only if it was cut the same way. */
      let resume = start.window?.samples === windowSamples ? start.window : undefined
      const sender = new ChunkSender(writer, progress, maxPending, input.name, feedback, summary, options.writer?.autoConvertSecondsToMs ?? true, screen)
      let lastLine = 0

      try {
        for await (const out of ahead(regroup(records, { windowSamples }), stop.signal)) {
          if (stop.signal.aborted) break
          if ('error' in out) {
            summary.rejectedLines++
            if (out.error.line > lastLine) {
              summary.lines += out.error.line - lastLine
              lastLine = out.error.line
            }
            const like = out.error.looksLike
            feedback.problem(out.error.message, `${input.name}:${out.error.line}`, like === undefined ? undefined : `${formatHint(like)}: use --format ${like}.`)
            continue
          }
          seconds.check(out.items, input.name)
          if (out.line > lastLine) {
            summary.lines += out.line - lastLine
            lastLine = out.line
          }
          summary.samplesRead += out.samples
          if (codec !== undefined) {
            for (const it of validateOnly(codec, out.items, input.name, feedback, summary)) summary.samplesSent += it.values.length
            continue
          }
          progress.open(out.offset, out.line, out.samples)
          let first = 0
          let firstSample = 0
          // The checkpoint's place inside this window, if it is the window the place was taken in.
          if (resume !== undefined && resume.end === out.offset && resume.size === out.samples) {
            first = Math.min(resume.items, out.items.length)
            firstSample = first < out.items.length ? Math.min(resume.sample, out.items[first].values.length) : 0
            let skipped = firstSample
            for (let i = 0; i < first; i++) skipped += out.items[i].values.length
            summary.samplesSkipped += skipped
            summary.samplesRead -= skipped
          }
          resume = undefined
          for (const [items, end, endSample] of chunks(out.items, first, firstSample, chunkSamples)) {
            if (stop.signal.aborted) break
            await sender.send(items, progress.chunk(end, endSample))
          }
          // A window cut short stays open: the checkpoint never passes what was not handed over.
          if (stop.signal.aborted) break
          progress.close()
        }
        if (n === files.length - 1 || stop.signal.aborted) closeSoon()
      } catch (err) {
        closeSoon()
        if (stop.signal.aborted && input.stream.destroyed) break // reading ended by the stop: not an error
        // Named by file; once anything was sent it is no usage error (exit 1, not 2).
        const message = `${input.name}: ${(err as Error).message}`
        throw n > 0 || attempts > 0 || !(err instanceof InvalidArgumentError) ? new Error(message, { cause: err }) : new InvalidArgumentError(message)
      } finally {
        stop.signal.removeEventListener('abort', endInput)
        // Whatever ended the file, what is in flight settles first (and moves the checkpoint).
        await sender.drain()
      }
      if (stop.signal.aborted) break
    }
  } finally {
    startClose()
    await closing
    clearInterval(ticker)
    giveUp?.stop()
    options.signal?.removeEventListener('abort', onInterrupt)
  }
  if (writer !== undefined) summary.requests = writer.stats().sent.requests
  summary.attempts = attempts
  summary.retries = feedback.counts(feedback.retries)
  summary.failures = feedback.counts(feedback.failures)
  summary.causes = feedback.summary()
  summary.stopped = feedback.stopped
  if (options.signal?.aborted === true) summary.interrupted = true
  saver?.check()
  summary.elapsedMs = Date.now() - t0
  return summary
}

/**
 * The values of `source`, each asked for as soon as the previous one is taken: the next window
 * is read and regrouped while the current one's chunks wait for their acknowledgements.
 */
async function * ahead<T> (source: AsyncIterable<T>, stop: AbortSignal): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]()
  let next = it.next()
  // A read that never ends (a stdin left open) must not hold a stopped run.
  let onStop: (() => void) | undefined
  const stopped = new Promise<IteratorResult<T>>((resolve) => {
    onStop = () => resolve({ done: true, value: undefined })
    if (stop.aborted) onStop()
    else stop.addEventListener('abort', onStop, { once: true })
  })
  try {
    for (;;) {
      const r = await Promise.race([next, stopped])
      if (r.done === true) return
      next = it.next()
      // Handled here, so that a read failing while nobody awaits it yet is no unhandled
      // rejection; the await above still throws it.
      next.catch(() => {})
      yield r.value
    }
  } finally {
    stop.removeEventListener('abort', onStop as () => void)
    // Stopped early (an error): the source is closed once its read under way ends; not
    // awaited, since that read may never end (a stdin that stays open).
    void it.return?.()?.catch(() => {})
  }
}

/**
 * A window's items from (first, firstSample) on, cut into chunks of about `size` samples
 * (long series are sliced); each with where it ends: [items, end item, end sample], where
 * the end is (items done, samples of the next item done).
 */
function * chunks (items: InputItem[], first: number, firstSample: number, size: number): Generator<[InputItem[], number, number]> {
  let out: InputItem[] = []
  let n = 0
  let at = firstSample
  for (let i = first; i < items.length; i++) {
    const item = items[i]
    const len = item.values.length
    while (at < len) {
      const take = Math.min(len - at, size - n)
      out.push(at === 0 && take === len ? item : { metric: item.metric, values: item.values.slice(at, at + take), timestamps: item.timestamps.slice(at, at + take) })
      n += take
      at += take
      if (n >= size) {
        yield at === len ? [out, i + 1, 0] : [out, i, at]
        out = []
        n = 0
      }
    }
    at = 0
  }
  if (out.length > 0) yield [out, items.length, 0]
}

/**
 * Hands chunks to the writer, at most `max` unacknowledged at once, and tells the file's
 * progress how each settled.
 */
class ChunkSender {
  #pending = 0
  #wake: (() => void) | undefined
  /** Label objects of series the codec rejected: their other chunks are left out, reported once. */
  readonly #rejected = new WeakSet<object>()
  constructor (
    readonly writer: RemoteWriter | undefined, readonly progress: FileProgress, readonly max: number,
    readonly name: string, readonly feedback: Feedback, readonly summary: BackfillSummary, readonly seconds: boolean,
    readonly screen: () => Promise<Codec>,
  ) {}

  async send (items: InputItem[], chunk: Chunk): Promise<void> {
    while (this.#pending >= this.max) await new Promise<void>((resolve) => { this.#wake = resolve })
    this.#pending++
    void this.#sendChunk(items).then((ok) => this.#settle(chunk, ok), (err: unknown) => {
      this.feedback.problem((err as Error).message, this.name)
      this.#settle(chunk, false)
    })
  }

  async drain (): Promise<void> {
    while (this.#pending > 0) await new Promise<void>((resolve) => { this.#wake = resolve })
  }

  #settle (chunk: Chunk, ok: boolean): void {
    this.#pending--
    this.progress.settle(chunk, ok)
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  /**
   * Sends one chunk. Items the codec rejects are reported and left out, and the rest is sent;
   * requests the server refuses are reported. Resolves true when everything sent was accepted.
   */
  async #sendChunk (items: InputItem[]): Promise<boolean> {
    let list = items.filter((it) => !this.#rejected.has(it.metric))
    for (;;) {
      try {
        const r = await (this.writer as RemoteWriter).send(list)
        this.summary.samplesSent += r.samples
        this.feedback.accepted += r.requests
        return true
      } catch (err) {
        if (err instanceof ValidationError) {
          // Every item checked alone, once, and the rest sent: not one resend per bad series.
          const before = list.length
          list = validateOnly(await this.screen(), list, this.name, this.feedback, this.summary, this.#rejected)
          if (list.length === before) throw err // the writer refused what the codec takes: not to be retried
          continue
        }
        if (err instanceof SendError) {
          this.summary.samplesSent += err.result.samples
          this.feedback.accepted += err.result.requests
          this.summary.failedSamples += err.failed.samples
          this.summary.failedRequests += err.failed.requests
          const range = rangeOf(list, this.seconds)
          for (const e of err.errors) this.feedback.failed(e, range)
          return false
        }
        // Anything else (the writer closed by its deadline, aborted): the chunk's samples failed.
        if (err instanceof BatchError) this.feedback.failed(err, rangeOf(list, this.seconds))
        else if (this.feedback.stopped === undefined) this.feedback.problem((err as Error).message, this.name)
        if (this.feedback.stopped === undefined) this.summary.failedRequests++ // how many requests it would have made is not known
        for (const it of list) this.summary.failedSamples += it.values.length
        return false
      }
    }
  }
}

/** Encodes each item alone to validate it (a dry run; a chunk the writer refused); returns those that passed, reporting the others. */
function validateOnly (codec: Codec, items: InputItem[], name: string, feedback: Feedback, summary: BackfillSummary, rejected?: WeakSet<object>): InputItem[] {
  const ok: InputItem[] = []
  for (const item of items) {
    try {
      codec.begin()
      codec.append(item, 0)
      ok.push(item)
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err
      summary.rejectedSeries++
      summary.rejectedSamples += item.values.length
      rejected?.add(item.metric)
      feedback.problem(err.detail, `${name}: series ${describeLabels(item.metric)}`)
    }
  }
  return ok
}
