/**
 * The ledger: the only owner of the writer's accounts. What is buffered (samples and bytes, in
 * open and sealed batches), what was sent, retried and failed, the first errors, and who waits:
 * producers for room ('drain', ready()), flush() for nothing in flight. Every batch ends here,
 * acknowledged (succeed) or failed with its reason (fail); either way its share of the buffer
 * is returned and its send() callers settle.
 */
import { BatchError, LostDataError } from '../errors.js'
import type { Diagnosis, FailedCounts, FailedSeries, FailureReason, SendResult, WriterSummary } from '../errors.js'
import type { Batch, BodyPool, Tracker } from './batch.js'

/** How the writer's parts emit events: never throwing (a listener's error becomes a warning). */
export interface Events {
  emit (event: string, arg: unknown): void
  listens (event: string): boolean
}

/** Counters at the start of a consume() or writable(), to tell what failed during it. */
export interface LossMark { failed: FailedCounts, errors: number, sent: SendResult }

const MAX_KEPT_ERRORS = 100

export class Ledger {
  bufferedSamples = 0
  bufferedBytes = 0
  readonly sent = { requests: 0, series: 0, samples: 0, bytesRaw: 0, bytesCompressed: 0 }
  readonly retried = { requests: 0, samples: 0 }
  readonly failed = { requests: 0, series: 0, samples: 0 }
  /** The first MAX_KEPT_ERRORS batch errors. */
  readonly errors: BatchError[] = []
  /** write() returned false: 'drain' is owed once there is room. */
  needDrain = false
  #waiters: Array<{ resolve: () => void, reject: (e: unknown) => void }> = []
  #idleWaiters: Array<() => void> = []
  readonly #maxSamples: number
  readonly #maxBytes: number
  readonly #events: Events
  readonly #pool: BodyPool
  readonly #url: string
  readonly #onError: ((err: BatchError) => void) | undefined
  /** Called when the buffer is full: sends open batches if nothing else would make room. */
  unblock: () => void = () => {}
  /**
   * With a spool: whether producers must wait, given whether memory is full (see
   * SpoolFeed#full); the batch that settled (done: acknowledged
   * or failed for good, or left in the spool at close); and the series of a batch read back
   * from it, which keeps no label entries.
   */
  spool: { full: (memory: boolean) => boolean, settled: (batch: Batch, how: 'ok' | 'failed' | 'left') => void, series: (batch: Batch) => FailedSeries[] } | undefined
  /** With a spool: requests close() or an abort left in it, for the next writer (set by close()). */
  readonly left = { requests: 0, series: 0, samples: 0 }

  constructor (limits: { maxBufferedSamples: number, maxBufferedBytes: number }, events: Events, pool: BodyPool, url: string, onError: ((err: BatchError) => void) | undefined) {
    this.#maxSamples = limits.maxBufferedSamples
    this.#maxBytes = limits.maxBufferedBytes
    this.#events = events
    this.#pool = pool
    this.#url = url
    this.#onError = onError
  }

  /** Whether producers must wait. */
  full (): boolean {
    const memory = this.bufferedSamples >= this.#maxSamples || this.bufferedBytes >= this.#maxBytes
    return this.spool === undefined ? memory : this.spool.full(memory)
  }

  /** Samples and bytes came into the buffer (negative: left it, or shrank). */
  grow (samples: number, bytes: number): void {
    this.bufferedSamples += samples
    this.bufferedBytes += bytes
  }

  /** Resolves when the buffer has room again; rejected by abort(). */
  waitForRoom (): Promise<void> {
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
  }

  /** Resolves once nothing is buffered or in flight (see wakeIdle()). */
  waitForIdle (): Promise<void> {
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  /** Nothing is buffered or in flight any more: flush() callers go on. */
  wakeIdle (): void {
    const waiters = this.#idleWaiters
    this.#idleWaiters = []
    for (const w of waiters) w()
  }

  /** Fails every producer waiting for room with `err`. */
  abort (err: unknown): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w.reject(err)
  }

  /** Was retried: counted. */
  retry (batch: Batch): void {
    this.retried.requests++
    this.retried.samples += batch.samples
  }

  /** The batch was acknowledged. */
  succeed (batch: Batch): void {
    const sent = this.sent
    sent.requests++
    sent.series += batch.series
    sent.samples += batch.samples
    sent.bytesRaw += batch.rawBytes
    sent.bytesCompressed += batch.body?.length ?? 0
    for (const [t, part] of batch.trackers) {
      t.requests++
      t.series += part.series
      t.samples += part.samples
      t.settle(part.samples)
    }
    this.#release(batch, 'ok')
  }

  /** The batch failed for good: reported with its reason, its series and their counts. */
  fail (batch: Batch, reason: FailureReason, message: string, attempts: number, status?: number, body?: string, cause?: unknown, diagnosis?: Diagnosis): void {
    const series = batch.entries.length === 0 && batch.entry !== undefined && this.spool !== undefined
      ? this.spool.series(batch)
      : batch.entries.map((e, i) => ({ labels: Object.fromEntries(e.names.map((k, j) => [k, e.values[j]]).filter(([, v]) => v !== '')), samples: batch.counts[i] }))
    const err = new BatchError(`${this.#url}: ${message}`, { reason, status, body, attempts, series, samples: batch.samples, cause, diagnosis })
    this.failed.requests++
    this.failed.series += batch.series
    this.failed.samples += batch.samples
    if (this.errors.length < MAX_KEPT_ERRORS) this.errors.push(err)
    this.#failTrackers(batch, err)
    this.#release(batch, 'failed')
    try {
      this.#onError?.(err)
    } catch { /* a throwing callback must not stop delivery */ }
    if (this.#events.listens('error')) this.#events.emit('error', err)
  }

  /**
   * With a spool: the batch was not acknowledged, but it is not lost either: it stays in the
   * spool for the next writer (close()'s deadline passed, or the writer was aborted). Its
   * send() callers are told so; the writer's failed counts do not take it.
   */
  leave (batch: Batch, reason: FailureReason, message: string, attempts: number, cause?: unknown): void {
    if (batch.trackers.size > 0) {
      const err = new BatchError(`${this.#url}: ${message}; the request stays in the spool and is sent when a writer opens it again`, { reason, attempts, series: [], samples: batch.samples, cause })
      this.#failTrackers(batch, err)
    }
    this.#release(batch, 'left')
  }

  /** send() callers of requests left on disk in the spool (the writer stopped first): told so. */
  leaveTrackers (trackers: Map<Tracker, { series: number, samples: number }>, message: string): void {
    let samples = 0
    for (const part of trackers.values()) samples += part.samples
    const err = new BatchError(`${this.#url}: ${message}; the request stays in the spool and is sent when a writer opens it again`, { reason: 'aborted', attempts: 0, series: [], samples })
    this.#failTrackers({ trackers } as Batch, err)
  }

  /**
   * Requests lost without a batch to report them by (damage the spool found while running):
   * counted as failed and reported, with counts only.
   */
  lost (reason: FailureReason, message: string, n: { requests: number, series: number, samples: number }): void {
    const err = new BatchError(`${this.#url}: ${message}`, { reason, attempts: 0, series: [], samples: n.samples })
    this.failed.requests += n.requests
    this.failed.series += n.series
    this.failed.samples += n.samples
    if (this.errors.length < MAX_KEPT_ERRORS) this.errors.push(err)
    try {
      this.#onError?.(err)
    } catch { /* a throwing callback must not stop delivery */ }
    if (this.#events.listens('error')) this.#events.emit('error', err)
  }

  #failTrackers (batch: Batch, err: BatchError): void {
    for (const [t, part] of batch.trackers) {
      t.failed.requests++
      t.failed.series += part.series
      t.failed.samples += part.samples
      if (t.errors.length < MAX_KEPT_ERRORS) t.errors.push(err)
      t.settle(part.samples)
    }
  }

  /** Returns a settled batch's share of the buffer and wakes producers. */
  #release (batch: Batch, how: 'ok' | 'failed' | 'left'): void {
    batch.settled = true
    this.bufferedSamples -= batch.samples
    this.bufferedBytes -= batch.bytes
    batch.body = undefined
    if (batch.pooled !== undefined) this.#pool.give(batch.pooled)
    batch.pooled = undefined
    this.spool?.settled(batch, how)
    this.wake()
  }

  /**
   * Producers waiting for room go on if there is room now ('drain' follows); if not, the open
   * batches are sent when nothing else would make room. Called when a batch settled, and (with
   * a spool) when a shard starts failing: producers then go on, writing to disk.
   */
  wake (): void {
    if (this.full()) this.unblock()
    if (!this.full()) {
      const waiters = this.#waiters
      this.#waiters = []
      for (const w of waiters) w.resolve()
      if (this.needDrain || waiters.length > 0) {
        this.needDrain = false
        this.#events.emit('drain', undefined)
      }
    } else {
      this.needDrain = true
    }
  }

  /** Where the accounts stand, to tell later what failed since. */
  mark (): LossMark {
    return { failed: { ...this.failed }, errors: this.errors.length, sent: { ...this.sent } }
  }

  /** Throws LostDataError if anything failed since `mark`. */
  checkLoss (mark: LossMark): void {
    const failed = {
      requests: this.failed.requests - mark.failed.requests,
      series: this.failed.series - mark.failed.series,
      samples: this.failed.samples - mark.failed.samples,
    }
    if (failed.samples === 0) return
    throw new LostDataError({
      requests: this.sent.requests - mark.sent.requests,
      series: this.sent.series - mark.sent.series,
      samples: this.sent.samples - mark.sent.samples,
      failed,
      errors: this.errors.slice(mark.errors),
    })
  }

  /** The totals close() reports. */
  summary (): WriterSummary {
    return {
      requests: this.sent.requests, series: this.sent.series, samples: this.sent.samples,
      failed: { ...this.failed }, errors: [...this.errors],
      ...(this.spool === undefined ? {} : { left: { ...this.left } }),
    }
  }
}
