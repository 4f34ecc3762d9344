/**
 * RemoteWriter: a streaming, batching remote-write client that accounts for every sample.
 * This file is the writer layer's public face; the work is done by its parts:
 *
 *   options.ts    every option checked once, defaults filled in
 *   write-call.ts one write() or send() call, all or nothing: items validated as they are
 *                 encoded into their shards' open batches, rolled back whole on an error
 *   batcher.ts    a batch per shard, in its own request slot of the core; full batches are
 *                 sealed (snappy-compressed) at once, so only compact bodies wait; flush timer
 *   delivery.ts   each shard's batches sent in order, one in flight, with retries; the
 *                 'auto' fallback (protocol.ts) re-encodes a 2.0 batch as 1.0
 *   ledger.ts     buffered samples and bytes, what was sent, retried and failed, who waits
 *
 * Order: a series always lands in the same shard and a shard has one request in flight, so
 * samples of a series reach the server in order with `concurrency` requests in parallel
 * (what Prometheus does, shared/docs/protocol.md §1.4).
 *
 * Memory: samples and bytes waiting (in open and sealed batches) are bounded by
 * maxBufferedSamples / maxBufferedBytes. write() returns false when the bound is reached and
 * 'drain' follows; send(), consume() and the Writable wait by themselves.
 */
import { EventEmitter } from 'node:events'
import { Writable } from 'node:stream'
import { compileCore } from '../codec/codec.js'
import { Encoder } from '../codec/encoder.js'
import type { CodecStats, SeriesHandle } from '../codec/label-cache.js'
import { AbortedError, InvalidArgumentError, ListenerError, LostDataError, SendError, TimeoutError, WriterClosedError } from '../errors.js'
import type { SendResult, WriterSummary } from '../errors.js'
import type { LatencySummary } from '../stats.js'
import { Transport } from '../transport/http.js'
import { createSender } from '../transport/sender.js'
import type { Sender } from '../transport/attempt.js'
import type { Item, Labels } from '../types.js'
import { BodyPool, Tracker } from './batch.js'
import { Batcher } from './batcher.js'
import { Delivery } from './delivery.js'
import { Ledger } from './ledger.js'
import type { Events } from './ledger.js'
import { checkCloseTimeout, resolveOptions } from './options.js'
import type { RemoteWriterOptions } from './options.js'
import { Protocol } from './protocol.js'
import { sleep } from './retry.js'
import { SpoolFeed } from './spooled.js'
import type { SpoolStats } from './spooled.js'
import { WriteCall } from './write-call.js'

export type { RemoteWriterOptions, SpoolOptions } from './options.js'
export type { SpoolStats } from './spooled.js'
export type { ResponseEvent, RetryEvent } from './delivery.js'

/** Counters of a writer. */
export interface WriterStats {
  sent: { requests: number, series: number, samples: number, bytesRaw: number, bytesCompressed: number }
  retried: { requests: number, samples: number }
  failed: { requests: number, series: number, samples: number }
  /** Requests on the wire: at most one per shard (the I/O thread queues the shard's next ones behind it). */
  inFlight: number
  buffered: { samples: number, bytes: number }
  latency: LatencySummary
  codec: CodecStats
  /** With a spool: its depth on disk, what was replayed, dropped and found damaged. */
  spool?: SpoolStats
}

/**
 * A remote-write client. `await new RemoteWriter({ url }).send(items)` sends and reports;
 * `write()` / `flush()` / `close()` stream.
 */
export class RemoteWriter extends EventEmitter {
  readonly #enc: Encoder
  readonly #transport: Transport
  readonly #sender: Sender
  readonly #ledger: Ledger
  readonly #batcher: Batcher
  readonly #delivery: Delivery
  readonly #call: WriteCall
  readonly #feed: SpoolFeed | undefined
  readonly #abort = new AbortController()
  /** close()'s deadline when not given one (the closeTimeout option). */
  readonly #closeTimeout: number
  #closing: Promise<WriterSummary> | undefined
  #closed = false
  /** When the earliest close() deadline armed passes (Date.now() ms), and how to disarm it. */
  #deadline = Infinity
  #disarm: AbortController | undefined
  /** close() has finished its flush: no deadline is armed any more. */
  #flushed = false

  /**
   * @param urlOrOptions the endpoint URL, or all options (as in the Python library:
   *   `new RemoteWriter({ url, headers, auth, timeout })`).
   */
  constructor (urlOrOptions: string | URL | RemoteWriterOptions, options: Omit<RemoteWriterOptions, 'url'> = {}) {
    super()
    const { opts, o, transport } = resolveOptions(urlOrOptions, options)
    this.#closeTimeout = opts.closeTimeout ?? Infinity
    // Built here in any case: it validates the transport options, synchronously.
    this.#transport = new Transport(transport)
    this.#enc = new Encoder(opts)
    const events: Events = {
      emit: (event, arg) => this.#emitSafe(event, arg),
      listens: (event) => this.listenerCount(event) > 0,
    }
    const pool = new BodyPool()
    const url = this.#transport.displayUrl
    this.#ledger = new Ledger(o, events, pool, url, opts.onError)
    const protocol = new Protocol(o.protocol, url, events, this.#ledger, o.maxBytesPerRequest)
    this.#batcher = new Batcher(this.#enc, this.#ledger, protocol, pool, o, (shard) => this.#delivery.pump(shard))
    // Opened before anything runs: a spool held by another process throws here.
    const feed = o.spool === undefined ? undefined : new SpoolFeed(o.spool, this.#batcher.shards, this.#ledger, pool, o, events, (shard) => this.#delivery.pump(shard))
    this.#feed = feed
    if (feed !== undefined) this.#batcher.admit = (batch) => feed.admit(batch)
    this.#sender = createSender(transport, this.#transport, o.timeout, opts.ioThread !== false, feed?.spool.slotsPath)
    this.#delivery = new Delivery(this.#sender, this.#batcher.shards, this.#ledger, protocol, o, events, this.#abort.signal, feed)
    this.#call = new WriteCall(this.#enc, this.#batcher, this.#ledger, protocol, o)
    this.#ledger.unblock = () => this.#batcher.unblock()
    const signal = opts.signal
    if (signal) {
      if (signal.aborted) this.#abort.abort(signal.reason)
      else signal.addEventListener('abort', () => this.#abort.abort(signal.reason), { once: true })
    }
    this.#abort.signal.addEventListener('abort', () => this.#onAbort(), { once: true })
    // Replay what the spool holds once the caller could listen for its events.
    if (feed !== undefined) process.nextTick(() => feed.start())
  }

  /** Loads the WebAssembly core; call once before constructing writers (send() does it too). */
  static async init (): Promise<void> {
    await compileCore()
  }

  /**
   * A handle for a series written often: its labels are validated and encoded once, and
   * `{ series: handle, values, timestamps }` items skip label work entirely.
   */
  series (labels: Labels): SeriesHandle {
    return this.#enc.series(labels)
  }

  /**
   * Encodes items into the requests being built. Every item is validated as it goes; when one
   * is invalid a ValidationError is thrown and the whole call is undone: nothing of it is
   * buffered or sent. The items' arrays are not kept: reuse them once write() returns.
   * Returns false when the buffer is full: wait for 'drain' (or `await ready()`) before
   * writing more.
   */
  write (items: Item | readonly Item[]): boolean {
    this.#checkOpen()
    this.#call.write(Array.isArray(items) ? items : [items as Item], undefined)
    if (!this.#ledger.full()) return true
    this.#ledger.needDrain = true
    return false
  }

  /** Resolves when the buffer has room again (at once if it has). Rejects after abort. */
  ready (): Promise<void> {
    if (this.#abort.signal.aborted) return Promise.reject(this.#abortError())
    if (!this.#ledger.full()) return Promise.resolve()
    this.#batcher.unblock()
    return this.#ledger.waitForRoom()
  }

  /**
   * Sends `items` and resolves when every sample of them is acknowledged, with what was
   * sent. Validates everything before sending anything. Rejects with SendError (carrying the
   * partial result and a BatchError per failed request) when anything was not accepted.
   */
  async send (items: Item | readonly Item[]): Promise<SendResult> {
    this.#checkOpen()
    const list: readonly Item[] = Array.isArray(items) ? items : [items as Item]
    const tracker = new Tracker()
    tracker.pending = 1 // held until everything is routed
    const call = this.#call
    // Small calls are encoded in one go (validated as they are encoded, undone on error).
    // Large ones are validated whole first, then fed in with backpressure.
    if (call.fits(list)) {
      call.encode(list, tracker)
    } else {
      for (const [p, from, to] of call.pieces(list)) {
        call.encode([p.item], tracker, p, from, to)
        if (this.#ledger.full()) await this.ready()
      }
    }
    this.#batcher.sealAll()
    tracker.settle(1)
    await tracker.promise
    const result = { requests: tracker.requests, series: tracker.series, samples: tracker.samples }
    if (tracker.failed.samples > 0) throw new SendError(result, tracker.failed, tracker.errors)
    return result
  }

  /**
   * Writes every chunk (an item or an array of items) of an iterable, waiting when full, then
   * flushes. Rejects with LostDataError when any sample written meanwhile was not accepted.
   */
  async consume (source: Iterable<Item | readonly Item[]> | AsyncIterable<Item | readonly Item[]>): Promise<void> {
    const mark = this.#ledger.mark()
    for await (const chunk of source) {
      if (!this.write(chunk)) await this.ready()
    }
    await this.flush()
    this.#ledger.checkLoss(mark)
  }

  /**
   * An object-mode Writable for stream.pipeline: chunks are items or arrays of items. Its
   * final callback fails with LostDataError when any sample written through it (or meanwhile)
   * was not accepted.
   */
  writable (): Writable {
    const mark = this.#ledger.mark()
    return new Writable({
      objectMode: true,
      highWaterMark: 1,
      write: (chunk: Item | Item[], _enc, cb) => {
        try {
          if (this.write(chunk)) cb()
          else this.ready().then(() => cb(), cb)
        } catch (err) {
          cb(err as Error)
        }
      },
      final: (cb) => {
        this.flush().then(() => {
          try {
            this.#ledger.checkLoss(mark)
            cb()
          } catch (err) {
            cb(err as Error)
          }
        }, cb)
      },
    })
  }

  /**
   * Sends every partly filled batch and resolves when nothing is waiting or in flight. With a
   * spool: resolves when everything written before it is on disk (fsynced, unless the spool's
   * sync is 'none'); it rejects with SpoolError when the disk failed, and then what was
   * written is held in memory only. `{ acknowledged: true }` waits, with a spool too, until
   * nothing is waiting or in flight (everything spooled, from earlier runs too, is settled).
   */
  async flush (options?: { acknowledged?: boolean }): Promise<void> {
    this.#batcher.sealAll()
    if (this.#feed !== undefined) {
      await this.#feed.durable()
      if (options?.acknowledged !== true) return
    }
    if (this.#delivery.idle()) return
    await this.#ledger.waitForIdle()
  }

  /** Resolves once nothing is waiting or in flight, or once the writer is aborted. */
  async #delivered (): Promise<void> {
    if (this.#delivery.idle() || this.#abort.signal.aborted) return
    const signal = this.#abort.signal
    let onAbort = (): void => {}
    try {
      await Promise.race([this.#ledger.waitForIdle(), new Promise<void>((resolve) => {
        onAbort = resolve
        signal.addEventListener('abort', onAbort, { once: true })
      })])
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  /**
   * Flushes, stops, and resolves with the totals. Rejects with LostDataError (carrying the
   * same summary) when any sample was not acknowledged. Idempotent: every call returns the
   * same promise.
   *
   * `timeout` (default: the closeTimeout option, Infinity) bounds how long it takes, in ms:
   * once it has passed, what is in flight is aborted and every request not acknowledged is
   * reported failed (reason 'timeout', a TimeoutError as cause), and the promise settles. A
   * later call with a timeout arms its deadline on the close under way (the earliest wins).
   * Without one, close() waits until every request is acknowledged or has failed for good.
   */
  close (options?: { timeout?: number }): Promise<WriterSummary> {
    let timeout: number
    try {
      if (options !== undefined && (options === null || typeof options !== 'object')) throw new InvalidArgumentError('close() takes { timeout } or nothing')
      checkCloseTimeout(options?.timeout, 'close() timeout')
      timeout = options?.timeout ?? this.#closeTimeout
    } catch (err) {
      return Promise.reject(err)
    }
    this.#closing ??= (async () => {
      const feed = this.#feed
      // With a spool: the disk failed since the last flush(). Shut down all the same (what is
      // held in memory is delivered or reported), then say so if anything was left.
      let spoolError: unknown
      try {
        try {
          await this.flush()
        } catch (err) {
          if (feed === undefined) throw err
          spoolError = err
        }
        // With a spool, flush() made it durable: now it is delivered, or left at the deadline.
        if (feed !== undefined) await this.#delivered()
      } finally {
        this.#flushed = true
        this.#disarm?.abort()
      }
      if (feed !== undefined) {
        feed.stop()
        await feed.emptied()
        // Everything not done now stays in the spool: in the window when the deadline came, or on disk.
        const { requests, series, samples } = feed.spool.pending
        Object.assign(this.#ledger.left, { requests, series, samples })
      }
      this.#batcher.stop()
      // After an abort (a deadline that passed), nothing is left to wait for: connections are dropped.
      const force = this.#abort.signal.aborted
      await this.#sender.close(force)
      await this.#transport.close(force)
      try {
        await feed?.close()
      } catch (err) {
        spoolError ??= err // its last fsync: the summary comes first, below
      }
      const summary = this.#ledger.summary()
      if (summary.failed.samples > 0) throw new LostDataError(summary)
      if (spoolError !== undefined && (summary.left?.samples ?? 0) > 0) throw spoolError
      return summary
    })()
    this.#closed = true
    this.#batcher.closing()
    if (timeout !== Infinity) this.#arm(timeout)
    return this.#closing
  }

  /** Arms a close() deadline `ms` from now, unless an earlier one is armed or the close is done. */
  #arm (ms: number): void {
    const at = Date.now() + ms
    if (at >= this.#deadline || this.#abort.signal.aborted || this.#flushed) return
    this.#deadline = at
    this.#disarm?.abort()
    const disarm = new AbortController()
    this.#disarm = disarm
    // sleep() takes any length (a Node timer alone fires at once past 2^31-1 ms).
    sleep(ms, disarm.signal).then(() => {
      this.#abort.abort(new TimeoutError(`close() timed out after ${ms} ms`))
    }, () => {})
  }

  /** Counters, buffer levels and request latency percentiles. Contains no secrets. */
  stats (): WriterStats {
    const l = this.#ledger
    return {
      sent: { ...l.sent },
      retried: { ...l.retried },
      failed: { ...l.failed },
      inFlight: this.#delivery.inFlight(),
      buffered: { samples: l.bufferedSamples, bytes: l.bufferedBytes },
      latency: this.#delivery.latency.summary(),
      codec: this.#enc.stats(),
      ...(this.#feed === undefined ? {} : { spool: this.#feed.stats() }),
    }
  }

  #checkOpen (): void {
    if (this.#closed) throw new WriterClosedError()
    if (this.#abort.signal.aborted) throw this.#abortError()
  }

  #abortError (): AbortedError {
    return new AbortedError('writer was aborted', { cause: this.#abort.signal.reason })
  }

  #onAbort (): void {
    if (this.#feed !== undefined) {
      // With a spool, open batches are spooled first: left there for the next writer, not lost.
      this.#batcher.sealAll()
      this.#feed.stop()
    }
    this.#sender.abort(this.#abort.signal.reason)
    // Batches still open or queued fail as 'aborted' once their shard gets to them.
    this.#batcher.sealAll()
    this.#ledger.abort(this.#abortError())
  }

  /**
   * Emits an event without letting a throwing listener disturb delivery. The listener's error
   * is not swallowed: it becomes a process warning (a ListenerError, code ERR_PRW_LISTENER)
   * carrying it.
   */
  #emitSafe (event: string, arg: unknown): void {
    try {
      this.emit(event, arg)
    } catch (err) {
      process.emitWarning(new ListenerError(event, err))
    }
  }
}
