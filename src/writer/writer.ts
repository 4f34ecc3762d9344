/**
 * RemoteWriter: a streaming, batching remote-write client that accounts for every sample.
 *
 * Pipeline:
 *   write(items) → Codec.prepareAll() validates every item of the call first (so a bad item
 *   throws before anything of that call is buffered) → each series goes to the shard its
 *   label hash picks, and its samples are cut into the shard's open batch
 *   (maxSamplesPerRequest, maxBytesPerRequest) → a full batch is sealed: encoded and
 *   snappy-compressed at once, so only compact bodies wait → each shard sends its bodies
 *   one at a time, in order, with retries → every batch ends acknowledged (2xx) or failed
 *   with its reason, and is counted either way.
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
import type { Dispatcher } from 'undici'
import { Codec, checkV2Exemplars } from '../codec/codec.js'
import type { CacheEntry, CodecOptions, Prepared } from '../codec/codec.js'
import {
  AbortedError, BatchError, CoreTrapError, InvalidArgumentError, ListenerError, LostDataError, SendError, WriterClosedError,
} from '../errors.js'
import type { FailureReason, SendResult, WriterSummary } from '../errors.js'
import { Transport } from '../transport/http.js'
import { createSender } from '../transport/sender.js'
import { holds, shortfall } from '../transport/attempt.js'
import type { Outcome, Sender } from '../transport/attempt.js'
import type { Auth, TlsOptions } from '../transport/http.js'
import { backoff, parseRetryAfter, retryableStatus } from './retry.js'
import { LatencyHistogram } from '../stats.js'
import type { LatencySummary } from '../stats.js'
import type { Exemplar, Item, Labels } from '../types.js'
import type { NativeHistogram } from '../types.js'
import { loadCore } from '../core/wasm.js'
import type { SeriesHandle } from '../codec/codec.js'

/** Options of RemoteWriter. Durations are in milliseconds. */
export interface RemoteWriterOptions extends CodecOptions {
  /** The remote-write endpoint, e.g. `http://localhost:9090/api/v1/write`. */
  url: string | URL
  /** Extra headers. The protocol's own headers and Authorization cannot be overridden. */
  headers?: Record<string, string>
  /** Basic auth or a bearer token (sent as Authorization). */
  auth?: Auth
  /** Tenant for multi-tenant backends (Mimir, Cortex, Loki-style): sent as X-Scope-OrgID. */
  tenant?: string
  /** Time limit of one attempt. Default 30000 (Prometheus's remote_timeout). */
  timeout?: number
  /** Samples per request. Default 2000 (Prometheus's max_samples_per_send). */
  maxSamplesPerRequest?: number
  /** Uncompressed protobuf bytes per request. Default 4 MiB (receivers allow 32 MiB). */
  maxBytesPerRequest?: number
  /** Shards, i.e. requests in flight in parallel. Default 4. */
  concurrency?: number
  /** A partly filled batch is sent after this long. Default 5000 (batch_send_deadline). */
  flushInterval?: number
  /** Samples waiting to be acknowledged before producers must wait. Default 100000. */
  maxBufferedSamples?: number
  /** Bytes (compressed bodies plus open batches, estimated) before producers wait. Default 64 MiB. */
  maxBufferedBytes?: number
  /** First retry delay cap. Default 30. */
  minBackoff?: number
  /** Largest retry delay cap. Default 5000. */
  maxBackoff?: number
  /** Retries per batch before it fails for good. Default 10. */
  maxRetries?: number
  /** Time per batch, from its first attempt, after which it is not retried again. Default 120000. */
  maxRetryDuration?: number
  /** Retry 429 Too Many Requests. Default true. */
  retryOn429?: boolean
  /** TLS settings for https. */
  tls?: TlsOptions
  /** An HTTP(S) proxy URL. */
  proxy?: string | URL
  /** Use HTTP_PROXY / HTTPS_PROXY / NO_PROXY from the environment. Default false. */
  useEnvProxy?: boolean
  /**
   * 'v1' (default): Remote Write 1.0. 'v2': Remote Write 2.0 (io.prometheus.write.v2.Request,
   * with metadata from `item.metadata`); a 2xx without X-Prometheus-Remote-Write-Samples-Written
   * means a 1.0 receiver that stored nothing, and the batch is reported failed. 'auto': 2.0
   * first; on 415, or on that 2xx without written counts, the writer switches to 1.0 for good
   * (remembered per endpoint URL in this process) and resends the batch as 1.0.
   */
  protocol?: 'v1' | 'v2' | 'auto'
  /** An undici Dispatcher to use instead of the writer's own Pool (it is used on the calling thread). */
  dispatcher?: Dispatcher
  /**
   * Send from the process's I/O thread (one worker thread shared by all writers). Default true,
   * unless a `dispatcher` is given. Encoding stays on the calling thread; the I/O thread queues
   * each shard's sealed batches and sends the next the moment the previous is acknowledged, so
   * neither thread waits for the other. Retry decisions stay with the writer; order per series
   * is kept. `false` sends from the calling thread, one batch per shard at a time.
   */
  ioThread?: boolean
  /** Aborting stops retries and in-flight requests; what is not acknowledged is reported failed. */
  signal?: AbortSignal
  /** Called once per batch that failed for good (also emitted as 'error' when listened for). */
  onError?: (err: BatchError) => void
}

/** Counters of a writer. */
export interface WriterStats {
  sent: { requests: number, series: number, samples: number, bytesRaw: number, bytesCompressed: number }
  retried: { requests: number, samples: number }
  failed: { requests: number, series: number, samples: number }
  /** Requests on the wire: at most one per shard (the I/O thread queues the shard's next ones behind it). */
  inFlight: number
  buffered: { samples: number, bytes: number }
  latency: LatencySummary
  codec: ReturnType<Codec['stats']>
}

/** One attempt's outcome, emitted as 'response'. */
export interface ResponseEvent {
  status: number | undefined
  attempt: number
  latencyMs: number
  series: number
  samples: number
  bytes: number
  /** For failed attempts: why. */
  error?: string
}

const MAX_KEPT_ERRORS = 100
/** Batches one write() call may fill before its end (each holds one of the core's 4096 request slots). */
const MAX_CALL_BATCHES = 2048
/** Body buffers kept for reuse. */
const POOL_SIZE = 64
/** Endpoints (URL without user info or query) that showed they only speak Remote Write 1.0. */
const v1Endpoints = new Set<string>()

/** Upper bound of the bytes an item's help and unit add to a 2.0 request. */
function metadataBytes (item: Item): number {
  const md = item.metadata
  return md === undefined ? 0 : 3 * ((md.help?.length ?? 0) + (md.unit?.length ?? 0)) + 12
}

/** The error a batch carries when the core trapped before its request was sent. */
function lostToTrap (): CoreTrapError {
  return new CoreTrapError(new Error('the core was replaced after a trap'), 'this request was lost before it was sent')
}

/** Upper bound of one Sample record: tag, length, value (9), timestamp (11). */
const MAX_SAMPLE_BYTES = 22
/** TimeSeries tag and a 5-byte length. */
const SERIES_OVERHEAD = 6

/** At most the bytes of these native histograms as Histogram fields (either version). */
function histogramBytes (hs: readonly NativeHistogram[]): number {
  let n = 0
  for (const h of hs) {
    const spans = (h.negativeSpans?.length ?? 0) + (h.positiveSpans?.length ?? 0)
    const buckets = (h.negativeBuckets?.length ?? 0) + (h.positiveBuckets?.length ?? 0)
    n += 80 + 14 * spans + 10 * buckets + 8 * (h.customValues?.length ?? 0)
  }
  return n
}

/** At most the bytes of these exemplars as 1.0 Exemplar fields. */
function exemplarBytes (xs: readonly Exemplar[]): number {
  let n = 0
  for (const x of xs) {
    n += 32
    for (const [k, v] of Object.entries(x.labels ?? {})) n += 10 + 3 * (k.length + v.length)
  }
  return n
}

/** A send() call's share of the batches. */
class Tracker {
  pending = 0
  requests = 0
  series = 0
  samples = 0
  failed = { requests: 0, series: 0, samples: 0 }
  errors: BatchError[] = []
  done!: () => void
  readonly promise = new Promise<void>((resolve) => { this.done = resolve })
  settle (n: number): void {
    this.pending -= n
    if (this.pending === 0) this.done()
  }
}

/**
 * One request's worth of samples. While open, it is being encoded in a request slot of the
 * core; sealing compresses it into `body` and frees the slot. It keeps the label entries and
 * counts of its series, to report a failure.
 */
class Batch {
  /** The core's request slot while open; 0 once sealed. */
  slot: number
  /** Samples, native histogram samples included. */
  samples = 0
  /** Of those, native histogram samples (a 2.0 receiver counts them apart). */
  histograms = 0
  /** Protobuf bytes while open; compressed bytes once sealed. */
  bytes = 0
  readonly created = Date.now()
  body: Uint8Array | undefined
  rawBytes = 0
  entries: CacheEntry[] = []
  counts: number[] = []
  /** How many series and samples of each send() call this batch carries. */
  trackers = new Map<Tracker, { series: number, samples: number }>()
  encodeError: unknown
  /** The pooled buffer `body` is a view of, returned to the pool when the batch settles. */
  pooled: Uint8Array | undefined
  /** Acknowledged or failed for good: its share of the buffer is returned. */
  settled = false
  /** Set during a write() call for a batch that filled up: sealed when the call succeeds. */
  full = false
  /** Built as a Remote Write 2.0 request. */
  v2 = false
  /** An upper bound of this batch's size as a 1.0 request (see RemoteWriter#sized). */
  v1Estimate = 0
  /** 1.0: metric families whose metadata this batch carries. */
  families = new Set<string>()
  readonly shard: Shard
  /** The core generation the batch's request was begun in (its slot means nothing in another). */
  readonly coreGen: number
  constructor (slot: number, shard: Shard, coreGen: number) {
    this.slot = slot
    this.shard = shard
    this.coreGen = coreGen
  }
}

/** Counters at the start of a consume() or writable(), to tell what failed during it. */
interface LossMark { failed: { requests: number, series: number, samples: number }, errors: number, sent: SendResult }

/** A batch's state when a write() call first touched it, to roll the call back. */
interface Undo { batch: Batch, samples: number, histograms: number, bytes: number, series: number, fresh: boolean, v2?: [number, number, number] }

class Shard {
  readonly index: number
  open: Batch | undefined
  /** Sealed batches, oldest first, until they settle. */
  readonly queue: Batch[] = []
  /** Inline sender: a batch is being delivered. */
  sending = false
  /** Pipelined sender: batches at the head of `queue` handed over and not settled yet. */
  handed = 0
  /** Attempts handed to the sender and not answered (the first is on the wire, unless `waiting`). */
  attempting = 0
  /** A batch of this shard was not accepted and waits for its retry: nothing of it is on the wire. */
  waiting = false
  constructor (index: number) {
    this.index = index
  }
}

/** Batches per shard handed to a pipelined sender ahead of their turn. */
const PIPELINE_DEPTH = 8

/**
 * A remote-write client. `await new RemoteWriter({ url }).send(items)` sends and reports;
 * `write()` / `flush()` / `close()` stream.
 */
export class RemoteWriter extends EventEmitter {
  readonly #codec: Codec
  readonly #transport: Transport
  readonly #sender: Sender
  readonly #shards: Shard[]
  readonly #o: Required<Pick<RemoteWriterOptions,
    'timeout' | 'maxSamplesPerRequest' | 'maxBytesPerRequest' | 'concurrency' | 'flushInterval' |
    'maxBufferedSamples' | 'maxBufferedBytes' | 'minBackoff' | 'maxBackoff' | 'maxRetries' |
    'maxRetryDuration' | 'retryOn429'>>
  readonly #onError: ((err: BatchError) => void) | undefined
  readonly #abort = new AbortController()
  readonly #latency = new LatencyHistogram()
  #timer: NodeJS.Timeout | undefined
  #closing: Promise<WriterSummary> | undefined
  #closed = false
  #bufferedSamples = 0
  #bufferedBytes = 0
  #needDrain = false
  #waiters: Array<{ resolve: () => void, reject: (e: unknown) => void }> = []
  #idleWaiters: Array<() => void> = []
  #errors: BatchError[] = []
  /** Free request slots of the core, and the next never-used one (slot 0 is the codec's own). */
  #slots: number[] = []
  /** Per item of a call of one-sample items, the request slot it goes to (reused). */
  #slotOf = new Uint32Array(0)
  /** Per shard, the indices of a call's items (reused from call to call). */
  #buckets: number[][] = []
  /**
   * Buffers for compressed bodies, reused: a body lives until its request settles, and large
   * short-lived allocations are what makes the garbage collector work hardest here.
   */
  #pool: Uint8Array[] = []
  /** 1.0 bytes of what the next record carries beyond its samples (histograms, exemplars), for v1Estimate. */
  #v1Extra = 0
  #nextSlot = 1
  #coreGen: number
  /** New batches are Remote Write 2.0 requests (protocol 'v2', or 'auto' until it fell back). */
  #v2: boolean
  /** protocol: 'auto': 2.0 until the endpoint shows it only speaks 1.0. */
  readonly #auto: boolean
  /** Encodes 1.0 bodies from 2.0 ones after a fallback (its own core; timestamps as they are). */
  #converter: Codec | undefined
  #sent = { requests: 0, series: 0, samples: 0, bytesRaw: 0, bytesCompressed: 0 }
  #retried = { requests: 0, samples: 0 }
  #failed = { requests: 0, series: 0, samples: 0 }

  /**
   * @param urlOrOptions the endpoint URL, or all options (as in the Python library:
   *   `new RemoteWriter({ url, headers, auth, timeout })`).
   */
  constructor (urlOrOptions: string | URL | RemoteWriterOptions, options: Omit<RemoteWriterOptions, 'url'> = {}) {
    super()
    const opts: RemoteWriterOptions = typeof urlOrOptions === 'string' || urlOrOptions instanceof URL
      ? { ...options, url: urlOrOptions }
      : urlOrOptions
    const {
      timeout = 30_000, maxSamplesPerRequest = 2000, maxBytesPerRequest = 4 << 20, concurrency = 4,
      flushInterval = 5000, maxBufferedSamples = 100_000, maxBufferedBytes = 64 << 20,
      minBackoff = 30, maxBackoff = 5000, maxRetries = 10, maxRetryDuration = 120_000, retryOn429 = true,
      protocol = 'v1',
    } = opts
    if (protocol !== 'v1' && protocol !== 'v2' && protocol !== 'auto') throw new InvalidArgumentError("protocol must be 'v1', 'v2' or 'auto'")
    positive('timeout', timeout)
    positiveInt('maxSamplesPerRequest', maxSamplesPerRequest)
    if (!(maxBytesPerRequest >= 1024)) throw new InvalidArgumentError('invalid maxBytesPerRequest')
    positiveInt('concurrency', concurrency)
    positive('flushInterval', flushInterval)
    positiveInt('maxBufferedSamples', maxBufferedSamples)
    positive('maxBufferedBytes', maxBufferedBytes)
    if (!(minBackoff > 0) || !(maxBackoff >= minBackoff)) throw new InvalidArgumentError('invalid minBackoff / maxBackoff')
    if (!(maxRetries >= 0)) throw new InvalidArgumentError('invalid maxRetries')
    if (!(maxRetryDuration >= 0)) throw new InvalidArgumentError('invalid maxRetryDuration')
    this.#o = {
      timeout, maxSamplesPerRequest, maxBytesPerRequest, concurrency, flushInterval, maxBufferedSamples,
      maxBufferedBytes, minBackoff, maxBackoff, maxRetries, maxRetryDuration, retryOn429,
    }
    this.#onError = opts.onError
    const transportOptions = {
      url: opts.url, headers: opts.headers, auth: opts.auth, tenant: opts.tenant, tls: opts.tls,
      proxy: opts.proxy, useEnvProxy: opts.useEnvProxy, dispatcher: opts.dispatcher, connections: concurrency,
    }
    // Built here in any case: it validates the options, synchronously.
    this.#transport = new Transport(transportOptions)
    this.#sender = createSender(transportOptions, this.#transport, timeout, opts.ioThread !== false)
    this.#codec = new Codec(opts)
    this.#coreGen = this.#codec.coreGeneration
    this.#auto = protocol === 'auto'
    this.#v2 = protocol === 'v2' || (this.#auto && !v1Endpoints.has(this.#transport.displayUrl))
    this.#shards = Array.from({ length: concurrency }, (_, i) => new Shard(i))
    this.#buckets = Array.from({ length: concurrency }, () => [])
    if (opts.signal) {
      if (opts.signal.aborted) this.#abort.abort(opts.signal.reason)
      else opts.signal.addEventListener('abort', () => this.#abort.abort(opts.signal?.reason), { once: true })
    }
    this.#abort.signal.addEventListener('abort', () => this.#onAbort(), { once: true })
  }

  /** Loads the WebAssembly core; call once before constructing writers (send() does it too). */
  static async init (): Promise<void> {
    await loadCore()
  }

  /**
   * A handle for a series written often: its labels are validated and encoded once, and
   * `{ series: handle, values, timestamps }` items skip label work entirely.
   */
  series (labels: Labels): SeriesHandle {
    return this.#codec.series(labels)
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
    const list: readonly Item[] = Array.isArray(items) ? items : [items as Item]
    this.#writeCall(list, undefined)
    if (!this.#full()) return true
    this.#needDrain = true
    return false
  }

  /** Resolves when the buffer has room again (at once if it has). Rejects after abort. */
  ready (): Promise<void> {
    if (this.#abort.signal.aborted) return Promise.reject(this.#abortError())
    if (!this.#full()) return Promise.resolve()
    this.#unblock()
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }))
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
    // Small calls are encoded in one go (validated as they are encoded, undone on error).
    // Large ones are validated whole first, then fed in with backpressure.
    if (this.#fitsOneCall(list)) {
      this.#encodeCall(list, tracker)
    } else {
      const step = this.#o.maxSamplesPerRequest
      for (const p of this.#prepareAll(list)) {
        const n = p.values.length
        for (let from = 0; from < n || from === 0; from += step) {
          this.#encodeCall([p.item], tracker, p, from, Math.min(n, from + step))
          if (this.#full()) await this.ready()
          if (n === 0) break
        }
      }
    }
    this.#sealAll()
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
    const mark = this.#lossMark()
    for await (const chunk of source) {
      if (!this.write(chunk)) await this.ready()
    }
    await this.flush()
    this.#checkLoss(mark)
  }

  /**
   * An object-mode Writable for stream.pipeline: chunks are items or arrays of items. Its
   * final callback fails with LostDataError when any sample written through it (or meanwhile)
   * was not accepted.
   */
  writable (): Writable {
    const mark = this.#lossMark()
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
            this.#checkLoss(mark)
            cb()
          } catch (err) {
            cb(err as Error)
          }
        }, cb)
      },
    })
  }

  #lossMark (): LossMark {
    return { failed: { ...this.#failed }, errors: this.#errors.length, sent: { ...this.#sent } }
  }

  /** Throws LostDataError if anything failed since `mark`. */
  #checkLoss (mark: LossMark): void {
    const failed = {
      requests: this.#failed.requests - mark.failed.requests,
      series: this.#failed.series - mark.failed.series,
      samples: this.#failed.samples - mark.failed.samples,
    }
    if (failed.samples === 0) return
    throw new LostDataError({
      requests: this.#sent.requests - mark.sent.requests,
      series: this.#sent.series - mark.sent.series,
      samples: this.#sent.samples - mark.sent.samples,
      failed,
      errors: this.#errors.slice(mark.errors),
    })
  }

  /** Sends every partly filled batch and resolves when nothing is waiting or in flight. */
  async flush (): Promise<void> {
    this.#sealAll()
    if (this.#idle()) return
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve))
  }

  /**
   * Flushes, stops, and resolves with the totals. Rejects with LostDataError (carrying the
   * same summary) when any sample was not acknowledged. Idempotent.
   */
  close (): Promise<WriterSummary> {
    this.#closing ??= (async () => {
      await this.flush()
      this.#closed = true
      if (this.#timer) clearInterval(this.#timer)
      this.#timer = undefined
      await this.#sender.close()
      await this.#transport.close()
      const summary: WriterSummary = {
        requests: this.#sent.requests, series: this.#sent.series, samples: this.#sent.samples,
        failed: { ...this.#failed }, errors: [...this.#errors],
      }
      if (summary.failed.samples > 0) throw new LostDataError(summary)
      return summary
    })()
    this.#closed = true
    return this.#closing
  }

  /** Counters, buffer levels and request latency percentiles. Contains no secrets. */
  stats (): WriterStats {
    return {
      sent: { ...this.#sent },
      retried: { ...this.#retried },
      failed: { ...this.#failed },
      // One request per shard is on the wire; an I/O thread queues the rest behind it.
      inFlight: this.#shards.reduce((n, s) => n + (s.attempting > 0 && !s.waiting ? 1 : 0), 0),
      buffered: { samples: this.#bufferedSamples, bytes: this.#bufferedBytes },
      latency: this.#latency.summary(),
      codec: this.#codec.stats(),
    }
  }

  // ---- routing and batching ------------------------------------------------------------

  #checkOpen (): void {
    if (this.#closed) throw new WriterClosedError()
    if (this.#abort.signal.aborted) throw this.#abortError()
  }


  /**
   * Encodes one call's items into their shards' open batches. On a ValidationError every
   * batch the call touched is rolled back (requests truncated, counters restored, new batches
   * dropped) before the error is rethrown. Batches that filled up are sealed at the end.
   * With `prepared`, the single item was validated (and sorted) already.
   */
  #writeCall (items: readonly Item[], tracker: Tracker | undefined): void {
    if (this.#fitsOneCall(items)) {
      this.#encodeCall(items, tracker)
      return
    }
    // A call larger than the buffer: validate it whole first, then encode it a request's
    // worth at a time, so that full batches are sealed (and sent) as they fill.
    const step = this.#o.maxSamplesPerRequest
    for (const p of this.#prepareAll(items)) {
      const n = p.values.length
      // An item without samples (histograms, exemplars) still has its one call.
      for (let from = 0; from < n || from === 0; from += step) {
        this.#encodeCall([p.item], tracker, p, from, Math.min(n, from + step))
        if (n === 0) break
      }
    }
  }

  /** Validates a large call whole before any of it is encoded (prepareAll, plus the 2.0 rules). */
  #prepareAll (items: readonly Item[]): Prepared[] {
    const prepared = this.#codec.prepareAll(items)
    if (this.#v2) for (const p of prepared) checkV2Exemplars(p.item, p.index)
    return prepared
  }

  /**
   * Whether a call can be encoded in one go: it fits the buffer, and the batches it may fill
   * (which hold their request slots in the core until the call ends) stay well below the
   * core's 4096 slots.
   */
  #fitsOneCall (items: readonly Item[]): boolean {
    let total = 0
    for (const it of items) total += (it as Item)?.values?.length ?? 0
    const { maxSamplesPerRequest, maxBytesPerRequest, maxBufferedSamples } = this.#o
    const batches = Math.max(total / maxSamplesPerRequest, (total * MAX_SAMPLE_BYTES + items.length * 512) / maxBytesPerRequest)
    return total <= maxBufferedSamples && batches + this.#shards.length < MAX_CALL_BATCHES
  }

  #encodeCall (items: readonly Item[], tracker: Tracker | undefined, prepared?: Prepared, from = 0, to?: number): void {
    const codec = this.#codec
    if (codec.coreGeneration !== this.#coreGen) this.#coreReplaced()
    codec.beginCall()
    const undo: Undo[] = []
    const filled: Batch[] = []
    let samples = 0
    try {
      if (prepared !== undefined) samples = this.#writeItem(items[0], 0, prepared, undo, filled, from, to)
      else samples = this.#writeItems(items, undo, filled)
    } catch (err) {
      // After a trap the requests are gone: report every batch that held samples as failed
      // (the filled ones too, which no shard holds any more). Otherwise undo the call.
      codec.clearExemplars()
      this.#v1Extra = 0
      if (codec.coreGeneration !== this.#coreGen) this.#coreReplaced(filled)
      else this.#rollback(undo)
      throw err
    }
    if (tracker !== undefined) {
      tracker.pending += samples
      for (const u of undo) {
        const series = u.batch.entries.length - u.series
        if (series === 0) continue
        const part = u.batch.trackers.get(tracker)
        const added = u.batch.samples - u.samples
        if (part) {
          part.series += series
          part.samples += added
        } else {
          u.batch.trackers.set(tracker, { series, samples: added })
        }
      }
    }
    for (const batch of filled) this.#seal(batch)
    if (this.#full()) this.#unblock()
    this.#armTimer()
  }

  /**
   * Encodes a call's items: their labels first (so a bad label set throws before anything is
   * encoded), then shard by shard in input order, one-sample items in runs through the core's
   * addSingles(). Returns the samples encoded.
   */
  #writeItems (items: readonly Item[], undo: Undo[], filled: Batch[]): number {
    const codec = this.#codec
    const shards = this.#shards
    const entries = new Array<CacheEntry>(items.length)
    const buckets = this.#buckets
    for (const b of buckets) b.length = 0
    let singles = 0
    for (let i = 0; i < items.length; i++) {
      const entry = codec.labelsFor(items[i], i)
      entries[i] = entry
      buckets[entry.hash % shards.length].push(i)
      if (codec.isSingle(items[i])) singles++
    }
    if (singles === items.length && !this.#v2 && shards.every((s) => s.open === undefined || !s.open.v2)) {
      return this.#writeAllSingles(items, entries, undo, filled)
    }
    let samples = 0
    for (let k = 0; k < shards.length; k++) {
      const bucket = buckets[k]
      let j = 0
      while (j < bucket.length) {
        let run = 0
        while (!(shards[k].open?.v2 ?? this.#v2) && j + run < bucket.length && codec.isSingle(items[bucket[j + run]])) run++
        if (run > 0) {
          this.#writeSingles(shards[k], items, bucket, entries, j, run, undo, filled)
          samples += run
          j += run
          continue
        }
        const i = bucket[j]
        samples += this.#writeItem(items[i], i, undefined, undo, filled, 0, undefined, entries[i])
        j++
      }
    }
    return samples
  }

  /**
   * A call of one-sample items only, into 1.0 batches (an IoT gateway's scrape). Each item's
   * batch is chosen first, shard by shard, by count and worst-case bytes as #writeSingles
   * does; then one core call appends them all in the caller's order (Codec.appendSinglesTo),
   * which reads their cached label blocks front to back instead of one shard's scattered
   * subset at a time. A batch the estimate closes early is sent a little under the byte limit.
   */
  #writeAllSingles (items: readonly Item[], entries: CacheEntry[], undo: Undo[], filled: Batch[]): number {
    const codec = this.#codec
    const n = items.length
    if (this.#slotOf.length < n) this.#slotOf = new Uint32Array(Math.max(n, 2 * this.#slotOf.length))
    const slotOf = this.#slotOf
    // Per batch filled: the batch, its shard's bucket, and the bucket range [from, from + take).
    const plan: Array<{ batch: Batch, bucket: number[], from: number, take: number }> = []
    for (let k = 0; k < this.#shards.length; k++) {
      const shard = this.#shards[k]
      const bucket = this.#buckets[k]
      let j = 0
      while (j < bucket.length) {
        const batch = this.#openBatch(shard, undo)
        const take = this.#singlesThatFit(batch, entries, bucket, j, bucket.length)
        if (take > 0) {
          for (let t = j; t < j + take; t++) slotOf[bucket[t]] = batch.slot
          plan.push({ batch, bucket, from: j, take })
          j += take
        }
        // Items left over: this batch is full (by count, or by the estimate).
        if (j < bucket.length) this.#markFull(shard, batch, filled)
      }
    }
    codec.appendSinglesTo(items, entries, slotOf, n)
    for (const { batch, bucket, from, take } of plan) {
      codec.select(batch.slot)
      this.#grewSingles(batch, entries, bucket, from, take)
      if (!batch.full && this.#isFull(batch)) this.#markFull(batch.shard, batch, filled)
    }
    return n
  }

  /** How many of the one-sample items bucket[j..end) fit the batch, by count and by worst-case bytes. */
  #singlesThatFit (batch: Batch, entries: CacheEntry[], bucket: number[], j: number, end: number): number {
    const { maxSamplesPerRequest, maxBytesPerRequest } = this.#o
    let take = 0
    let bytes = batch.bytes
    while (j + take < end && batch.samples + take < maxSamplesPerRequest) {
      const need = SERIES_OVERHEAD + entries[bucket[j + take]].len + MAX_SAMPLE_BYTES
      if (bytes + need > maxBytesPerRequest && (batch.samples + take) > 0) break
      bytes += need
      take++
    }
    return take
  }

  /** Accounts for the one-sample items bucket[from..from + take) just appended to the batch's (selected) request. */
  #grewSingles (batch: Batch, entries: CacheEntry[], bucket: number[], from: number, take: number): void {
    const size = this.#codec.size
    this.#bufferedBytes += size - batch.bytes
    this.#bufferedSamples += take
    batch.bytes = size
    batch.samples += take
    for (let t = from; t < from + take; t++) {
      batch.entries.push(entries[bucket[t]])
      batch.counts.push(1)
    }
  }

  /** Encodes the one-sample items bucket[j..j + run) into the shard's batches. */
  #writeSingles (shard: Shard, items: readonly Item[], bucket: number[], entries: CacheEntry[], j: number, run: number, undo: Undo[], filled: Batch[]): void {
    const codec = this.#codec
    const end = j + run
    while (j < end) {
      const batch = this.#openBatch(shard, undo)
      const take = this.#singlesThatFit(batch, entries, bucket, j, end)
      if (take === 0) {
        this.#markFull(shard, batch, filled)
        continue
      }
      codec.select(batch.slot)
      codec.appendSingles(items, bucket, entries, j, take)
      this.#grewSingles(batch, entries, bucket, j, take)
      j += take
      if (this.#isFull(batch)) this.#markFull(shard, batch, filled)
    }
  }

  /** Encodes one item into its shard's batches; returns its samples, native histograms included (as batch.samples counts them). */
  #writeItem (item: Item, index: number, prepared: Prepared | undefined, undo: Undo[], filled: Batch[], from = 0, to?: number, resolved?: CacheEntry): number {
    const codec = this.#codec
    const entry = prepared?.entry ?? resolved ?? codec.labelsFor(item, index)
    // Histograms, exemplars and metadata go with an item's first slice (from 0).
    const hs = from === 0 && item.histograms !== undefined && item.histograms.length > 0 ? item.histograms : undefined
    const n = to ?? item.values.length
    const xs = from === 0 && item.exemplars !== undefined && item.exemplars.length > 0
    const shard = this.#shards[entry.hash % this.#shards.length]
    // An open batch of the other protocol (built before an 'auto' fallback) takes nothing
    // more: every record of this item, and the exemplars staged for its first, go to batches
    // of the writer's protocol.
    if (shard.open !== undefined && shard.open.v2 !== this.#v2) this.#markFull(shard, this.#openBatch(shard, undo), filled)
    const v2 = this.#v2
    if (item.metadata !== undefined && from === 0 && !v2) {
      // 1.0: metadata as WriteRequest.metadata, once per family and request.
      const b = this.#openBatch(shard, undo)
      codec.select(b.slot)
      codec.metadataV1With(item, index, b.families)
      this.#grew(b, entry, 0)
      b.entries.pop() // a metadata record is not a series
      b.counts.pop()
    }
    if (xs && !v2) {
      // 1.0: the exemplars go in a record of their own, in the shard's open batch.
      const b = this.#openBatch(shard, undo)
      codec.select(b.slot)
      codec.exemplarsWith(item, index, entry, false)
      this.#grew(b, entry, 0)
    }
    // 2.0: they ride with the item's first record (histograms if any, else the first samples).
    const v2x = xs && v2
    if (v2x) checkV2Exemplars(item, index)
    if (v2x) {
      codec.exemplarsWith(item, index, entry, true)
      // In 1.0 they would be a record of their own: counted against the batch they ride in.
      this.#v1Extra = SERIES_OVERHEAD + entry.len + exemplarBytes(item.exemplars ?? [])
    }
    const histograms = hs !== undefined ? this.#writeHistograms(item, index, entry, undo, filled) : 0
    if (n - from <= 0) return histograms // a series without samples carries nothing more to store
    let batch = this.#openBatch(shard, undo)
    const extra = (batch.v2 ? metadataBytes(item) : 0) + this.#v1Extra
    if (prepared === undefined && n <= this.#room(batch, entry, extra)) {
      codec.select(batch.slot)
      if (batch.v2) codec.appendV2With(item, index, entry)
      else codec.appendWith(item, index, entry)
      this.#grew(batch, entry, n)
      if (this.#isFull(batch)) this.#markFull(shard, batch, filled)
      return histograms + n
    }
    // Too long for the open batch: validate (and sort) the whole series, then cut it.
    const p = prepared ?? codec.prepareWith(item, index, entry)
    let start = from
    while (start < n) {
      batch = this.#openBatch(shard, undo)
      let take = Math.min(n - start, this.#room(batch, p.entry, (batch.v2 ? metadataBytes(item) : 0) + this.#v1Extra))
      if (take <= 0) {
        if (batch.samples > 0) {
          this.#markFull(shard, batch, filled)
          continue
        }
        take = 1 // a single huge label set still goes out, one sample at a time
      }
      codec.select(batch.slot)
      if (batch.v2) codec.appendPreparedV2(p, start, start + take)
      else codec.appendPrepared(p, start, start + take)
      this.#grew(batch, p.entry, take)
      start += take
      if (this.#isFull(batch)) this.#markFull(shard, batch, filled)
    }
    return histograms + n - from
  }

  /**
   * Encodes an item's native histograms as one series record in its shard's open batch (a
   * histogram counts as one sample against the batch limits); returns how many.
   */
  #writeHistograms (item: Item, index: number, entry: CacheEntry, undo: Undo[], filled: Batch[]): number {
    const hs = item.histograms ?? []
    if (hs.length === 0) return 0
    const shard = this.#shards[entry.hash % this.#shards.length]
    let batch = this.#openBatch(shard, undo)
    // At most this many bytes as a record (and exemplars staged to ride with it, as 1.0 would send them).
    const bytes = SERIES_OVERHEAD + entry.len + histogramBytes(hs) + this.#v1Extra
    if (batch.samples > 0 && (batch.samples + hs.length > this.#o.maxSamplesPerRequest || this.#sized(batch) + bytes > this.#o.maxBytesPerRequest)) {
      this.#markFull(shard, batch, filled)
      batch = this.#openBatch(shard, undo)
    }
    this.#codec.select(batch.slot)
    this.#codec.appendHistogramsWith(item, index, entry, batch.v2)
    this.#v1Extra += histogramBytes(hs)
    this.#grew(batch, entry, hs.length, 0)
    batch.histograms += hs.length
    if (this.#isFull(batch)) this.#markFull(shard, batch, filled)
    return hs.length
  }

  /** The shard's open batch (a new one if none), recorded for rollback on first touch. */
  #openBatch (shard: Shard, undo: Undo[]): Batch {
    let batch = shard.open
    if (batch === undefined) {
      batch = new Batch(this.#slots.pop() ?? this.#nextSlot++, shard, this.#codec.coreGeneration)
      this.#codec.select(batch.slot)
      batch.v2 = this.#v2
      if (batch.v2) this.#codec.beginV2()
      else this.#codec.begin()
      shard.open = batch
      undo.push({ batch, samples: 0, histograms: 0, bytes: 0, series: 0, fresh: true })
    } else if (!undo.some((u) => u.batch === batch)) {
      let v2: [number, number, number] | undefined
      if (batch.v2) {
        this.#codec.select(batch.slot)
        v2 = this.#codec.v2Mark()
      }
      undo.push({ batch, samples: batch.samples, histograms: batch.histograms, bytes: batch.bytes, series: batch.entries.length, fresh: false, v2 })
    }
    return batch
  }

  /** Samples that still fit the batch, by count and by (worst-case) bytes. */
  #room (batch: Batch, entry: CacheEntry, extra = 0): number {
    const byBytes = Math.floor((this.#o.maxBytesPerRequest - this.#sized(batch) - SERIES_OVERHEAD - entry.len - extra) / MAX_SAMPLE_BYTES)
    return Math.min(this.#o.maxSamplesPerRequest - batch.samples, byBytes)
  }

  #isFull (batch: Batch): boolean {
    return batch.samples >= this.#o.maxSamplesPerRequest || this.#sized(batch) + SERIES_OVERHEAD + MAX_SAMPLE_BYTES > this.#o.maxBytesPerRequest
  }

  /**
   * The size a batch counts for against maxBytesPerRequest: its encoded size, or, while an
   * 'auto' writer may still fall back, the larger 1.0 estimate (a 2.0 batch shares its
   * strings; the same series as 1.0 repeat them).
   */
  #sized (batch: Batch): number {
    return this.#auto && batch.v2 ? Math.max(batch.bytes, batch.v1Estimate) : batch.bytes
  }

  /** Accounts for a series record just appended to the batch's request (`sampleBytes`: each sample's 1.0 bytes at most, for v1Estimate). */
  #grew (batch: Batch, entry: CacheEntry, samples: number, sampleBytes = MAX_SAMPLE_BYTES): void {
    const bytes = batch.v2 ? this.#codec.v2Size : this.#codec.size
    this.#bufferedBytes += bytes - batch.bytes
    this.#bufferedSamples += samples
    batch.bytes = bytes
    batch.v1Estimate += SERIES_OVERHEAD + entry.len + samples * sampleBytes + this.#v1Extra
    this.#v1Extra = 0
    batch.samples += samples
    batch.entries.push(entry)
    batch.counts.push(samples)
  }

  #markFull (shard: Shard, batch: Batch, filled: Batch[]): void {
    batch.full = true
    shard.open = undefined
    filled.push(batch)
  }

  /** Undoes a failed write() call. */
  #rollback (undo: Undo[]): void {
    const codec = this.#codec
    for (const u of undo) {
      const b = u.batch
      this.#bufferedSamples -= b.samples - u.samples
      this.#bufferedBytes -= b.bytes - u.bytes
      if (u.fresh) {
        this.#slots.push(b.slot)
        if (b.shard.open === b) b.shard.open = undefined
        continue
      }
      codec.select(b.slot)
      if (u.v2 !== undefined) codec.v2Truncate(u.v2)
      else codec.truncate(u.bytes)
      b.samples = u.samples
      b.histograms = u.histograms
      b.bytes = u.bytes
      b.entries.length = u.series
      b.counts.length = u.series
      // Metadata written in the failed call is gone; sending it twice later is harmless.
      b.families.clear()
      // It was the shard's open batch when the call began: it is again.
      b.full = false
      b.shard.open = b
    }
  }

  /**
   * The core trapped and was replaced (only possible when it runs out of memory): every
   * open batch's request is gone. Their samples are reported failed, never dropped silently.
   */
  #coreReplaced (filled: Batch[] = []): void {
    this.#coreGen = this.#codec.coreGeneration
    this.#slots = []
    this.#nextSlot = 1
    const lost = [...filled]
    for (const shard of this.#shards) {
      if (shard.open !== undefined) lost.push(shard.open)
      shard.open = undefined
    }
    for (const b of lost) {
      b.slot = 0
      b.full = false
      if (b.samples === 0) continue // nothing was in it
      b.encodeError ??= lostToTrap()
      b.shard.queue.push(b)
      void this.#pump(b.shard)
    }
  }

  /** Compresses a batch into its body, frees its slot and queues it on its shard. */
  #seal (batch: Batch): void {
    const codec = this.#codec
    if (codec.coreGeneration !== this.#coreGen) this.#coreReplaced()
    if (batch.coreGen !== codec.coreGeneration) {
      // The core was replaced since this batch was encoded (perhaps by sealing another batch
      // of the same call): its request is gone, and its slot number means another request.
      batch.slot = 0
      batch.encodeError ??= lostToTrap()
    }
    if (batch.slot !== 0 && batch.encodeError === undefined) {
      try {
        codec.select(batch.slot)
        const view = batch.v2 ? codec.finishV2(false) : codec.finish(false)
        batch.rawBytes = codec.size // after finishing: a 2.0 request is assembled then
        const buf = this.#takeBuffer(view.length)
        buf.set(view)
        batch.pooled = buf
        batch.body = buf.subarray(0, view.length)
      } catch (err) {
        batch.encodeError = err
      }
      if (codec.coreGeneration === this.#coreGen) this.#slots.push(batch.slot)
      batch.slot = 0
    }
    const compressed = batch.body?.length ?? 0
    this.#bufferedBytes += compressed - batch.bytes
    batch.bytes = compressed
    batch.full = false
    batch.shard.queue.push(batch)
    void this.#pump(batch.shard)
  }

  /** A pooled buffer of at least `n` bytes (sizes are powers of two from 64 KiB). */
  #takeBuffer (n: number): Uint8Array {
    const pool = this.#pool
    for (let i = pool.length - 1; i >= 0; i--) {
      if (pool[i].length >= n) {
        const buf = pool[i]
        pool[i] = pool[pool.length - 1]
        pool.pop()
        return buf
      }
    }
    return new Uint8Array(Math.max(65536, 2 ** Math.ceil(Math.log2(n))))
  }

  /**
   * The buffer is full: if nothing is queued or in flight, no acknowledgement will come to
   * make room, so the open batches are sent as they are. Otherwise they keep filling.
   */
  #unblock (): void {
    // A batch stays in its shard's queue until it settles: empty queues mean nothing in flight.
    if (this.#shards.every((s) => s.queue.length === 0)) this.#sealAll()
  }

  #sealAll (): void {
    for (const shard of this.#shards) {
      const b = shard.open
      if (b === undefined) continue
      shard.open = undefined
      if (b.bytes === 0) {
        this.#slots.push(b.slot)
        continue
      }
      this.#seal(b) // with samples, or only 1.0 exemplar or metadata records
    }
  }

  #full (): boolean {
    return this.#bufferedSamples >= this.#o.maxBufferedSamples || this.#bufferedBytes >= this.#o.maxBufferedBytes
  }

  #idle (): boolean {
    return this.#bufferedSamples === 0 && this.#shards.every((s) => s.queue.length === 0 && s.open === undefined)
  }

  /** The flush timer runs while anything is buffered, so a partial batch never waits forever. */
  #armTimer (): void {
    if (this.#timer !== undefined || this.#closed) return
    const tick = Math.max(10, Math.min(1000, this.#o.flushInterval / 4))
    this.#timer = setInterval(() => {
      const now = Date.now()
      for (const shard of this.#shards) {
        const b = shard.open
        if (b !== undefined && b.bytes > 0 && now - b.created >= this.#o.flushInterval) {
          shard.open = undefined
          this.#seal(b)
        }
      }
      if (this.#bufferedSamples === 0 && this.#bufferedBytes === 0 && this.#timer !== undefined) {
        clearInterval(this.#timer)
        this.#timer = undefined
      }
    }, tick)
  }

  // ---- sending -------------------------------------------------------------------------

  #pump (shard: Shard): void {
    if (this.#sender.pipelined) {
      // Hand over the shard's batches in order; the sender sends each after the one before.
      while (shard.handed < shard.queue.length && shard.handed < PIPELINE_DEPTH) {
        const batch = shard.queue[shard.handed++]
        void this.#deliver(batch).catch((err: unknown) => this.#lost(batch, err)).then(() => {
          shard.queue.splice(shard.queue.indexOf(batch), 1)
          shard.handed--
          this.#settled(shard)
        })
      }
      return
    }
    if (shard.sending) return
    shard.sending = true
    void (async () => {
      try {
        while (shard.queue.length > 0) {
          const batch = shard.queue[0]
          await this.#deliver(batch).catch((err: unknown) => this.#lost(batch, err))
          shard.queue.shift()
          this.#settled(undefined)
        }
      } finally {
        shard.sending = false
      }
      this.#settled(shard)
    })()
  }

  /** #deliver() threw (it should not): the batch is reported failed, never left hanging. */
  #lost (batch: Batch, err: unknown): void {
    if (!batch.settled) {
      this.#fail(batch, 'network', `internal error while sending: ${(err as Error)?.message ?? err}`, 0, undefined, undefined, err)
    }
  }

  /** A batch of `shard` settled (or, with undefined, one of an inline shard that goes on). */
  #settled (shard: Shard | undefined): void {
    // A full buffer of open batches waits for an acknowledgement that makes room; if this
    // was the last request out, nothing else would send them.
    if (this.#full()) this.#unblock()
    if (shard === undefined) return
    if (this.#sender.pipelined) this.#pump(shard)
    if (this.#idle()) {
      const waiters = this.#idleWaiters
      this.#idleWaiters = []
      for (const w of waiters) w()
    }
  }

  /** Sends one batch until it is acknowledged or fails for good; never throws. */
  async #deliver (batch: Batch): Promise<void> {
    if (batch.body === undefined) {
      this.#fail(batch, 'encode', `could not encode the request: ${(batch.encodeError as Error)?.message ?? batch.encodeError}`, 0, undefined, undefined, batch.encodeError)
      return
    }
    // From the first send, not from the hand-over: behind another batch's retries in the I/O
    // thread's queue, a batch must not use up its own retry budget.
    let started = 0
    const signal = this.#abort.signal
    const shard = batch.shard.index
    // The sender holds the shard after an attempt it did not accept, until we retry or release.
    let held = false
    try {
      for (let attempt = 1; ; attempt++) {
        if (signal.aborted) {
          this.#fail(batch, 'aborted', 'aborted', attempt - 1)
          return
        }
        if (batch.v2 && !this.#v2) this.#toV1(batch) // the writer fell back since this batch was built
        if (batch.encodeError !== undefined) {
          this.#fail(batch, 'encode', (batch.encodeError as Error).message, attempt - 1, undefined, undefined, batch.encodeError)
          return
        }
        const expect = { v2: batch.v2, floats: batch.samples - batch.histograms, histograms: batch.histograms }
        batch.shard.attempting++
        batch.shard.waiting = false
        let outcome: Outcome
        try {
          outcome = await this.#sender.attempt(shard, batch, attempt, expect)
        } finally {
          batch.shard.attempting--
        }
        held = holds(outcome, expect)
        batch.shard.waiting = held
        const ms = outcome.ms
        if (attempt === 1) started = Date.now() - ms
        if (outcome.kind === 'aborted' || (outcome.kind !== 'answer' && signal.aborted)) {
          this.#fail(batch, 'aborted', 'aborted', attempt)
          return
        }
        if (batch.body === undefined) {
          // Only if the I/O thread died holding it: the body is gone, so is the batch.
          this.#fail(batch, 'network', `request failed: ${(outcome.error as Error)?.message ?? outcome.error}`, attempt, undefined, undefined, outcome.error)
          return
        }
        let retryable: boolean
        let reason: FailureReason
        let message: string
        let retryAfter: number | undefined
        const { status, body } = outcome
        if (outcome.kind === 'answer') {
          this.#latency.record(ms)
          if (this.#auto && batch.v2 && (outcome.status === 415 || (outcome.status >= 200 && outcome.status < 300 && outcome.written.samples === undefined))) {
            // Not a 2.0 receiver: 415, or a 1.0 receiver that stored nothing. Resend as 1.0.
            this.#emitResponse(batch, status, attempt, ms, 'no Remote Write 2.0 here: falling back to 1.0')
            this.#fallBack()
            this.#toV1(batch)
            if (batch.encodeError !== undefined) {
              this.#fail(batch, 'encode', (batch.encodeError as Error).message, attempt, status, body, batch.encodeError)
              return
            }
            continue
          }
          if (status !== undefined && status >= 200 && status < 300) {
            this.#emitResponse(batch, status, attempt, ms)
            const short = batch.v2 ? shortfall(outcome.written, expect.floats, expect.histograms) : undefined
            if (short === undefined) this.#succeed(batch)
            else this.#fail(batch, 'http', short, attempt, status, body)
            return
          }
          retryAfter = parseRetryAfter(outcome.retryAfter)
          retryable = retryableStatus(outcome.status, outcome.body, this.#o.retryOn429)
          reason = 'http'
          message = `server returned HTTP ${status}${body ? `: ${body.trim()}` : ''}`
        } else {
          retryable = true
          reason = outcome.kind
          message = outcome.kind === 'timeout'
            ? `no answer within ${this.#o.timeout} ms`
            : `request failed: ${(outcome.error as Error)?.message ?? outcome.error}`
        }
        this.#emitResponse(batch, status, attempt, ms, message)
        if (!retryable) {
          this.#fail(batch, reason, message, attempt, status, body, outcome.error)
          return
        }
        const delay = retryAfter ?? backoff(attempt, this.#o.minBackoff, this.#o.maxBackoff)
        if (attempt > this.#o.maxRetries || Date.now() + delay - started > this.#o.maxRetryDuration) {
          this.#fail(batch, 'retries-exhausted', `gave up retrying: ${message}`, attempt, status, body, outcome.error)
          return
        }
        this.#retried.requests++
        this.#retried.samples += batch.samples
        this.#emitSafe('retry', { attempt, delayMs: delay, status, error: message })
        try {
          await sleep(delay, signal)
        } catch {
          this.#fail(batch, 'aborted', 'aborted', attempt, status, body)
          return
        }
      }
    } finally {
      if (held) {
        batch.shard.waiting = false
        this.#sender.release(shard)
      }
    }
  }

  /** protocol 'auto': this endpoint speaks 1.0 only; new batches are 1.0 from now on. */
  #fallBack (): void {
    if (!this.#v2) return // another shard's request found it out first
    this.#v2 = false
    v1Endpoints.add(this.#transport.displayUrl)
    this.#emitSafe('protocol', { protocol: 'v1', url: this.#transport.displayUrl })
  }

  /**
   * Re-encodes a batch's 2.0 body as a 1.0 body: samples, native histograms, exemplars and
   * metadata (as WriteRequest.metadata). Start timestamps have no place in 1.0 and are left out.
   */
  #toV1 (batch: Batch): void {
    try {
      this.#converter ??= new Codec({
        autoConvertSecondsToMs: false, strictTimestamps: false, sortSamples: false, seriesCacheBytes: 0,
        maxDecodedBytes: Math.max(32 << 20, 2 * this.#o.maxBytesPerRequest),
      })
      const { items } = this.#converter.decodeV2(batch.body as Uint8Array, { bigint: true })
      const body = this.#converter.encode(items)
      batch.rawBytes = this.#converter.size
      this.#bufferedBytes += body.length - batch.bytes
      batch.bytes = body.length
      batch.body = body
      batch.v2 = false
    } catch (err) {
      batch.encodeError = err
    }
  }

  /**
   * Emits an event without letting a throwing listener disturb delivery. The listener's error
   * is not swallowed: it becomes a process warning (a ListenerError, code ERR_PRW_LISTENER) carrying it.
   */
  #emitSafe (event: string, arg: unknown): void {
    try {
      this.emit(event, arg)
    } catch (err) {
      process.emitWarning(new ListenerError(event, err))
    }
  }

  #emitResponse (batch: Batch, status: number | undefined, attempt: number, latencyMs: number, error?: string): void {
    if (this.listenerCount('response') === 0) return
    const event: ResponseEvent = {
      status, attempt, latencyMs, series: batch.entries.length, samples: batch.samples, bytes: batch.body?.length ?? 0,
    }
    if (error !== undefined) event.error = error
    this.#emitSafe('response', event)
  }

  #succeed (batch: Batch): void {
    this.#sent.requests++
    this.#sent.series += batch.entries.length
    this.#sent.samples += batch.samples
    this.#sent.bytesRaw += batch.rawBytes
    this.#sent.bytesCompressed += batch.body?.length ?? 0
    for (const [t, part] of batch.trackers) {
      t.requests++
      t.series += part.series
      t.samples += part.samples
      t.settle(part.samples)
    }
    this.#release(batch)
  }

  #fail (batch: Batch, reason: FailureReason, message: string, attempts: number, status?: number, body?: string, cause?: unknown): void {
    const series = batch.entries.map((e, i) => ({ labels: Object.fromEntries(e.names.map((k, j) => [k, e.values[j]]).filter(([, v]) => v !== '')), samples: batch.counts[i] }))
    const err = new BatchError(`${this.#transport.displayUrl}: ${message}`, { reason, status, body, attempts, series, samples: batch.samples, cause })
    this.#failed.requests++
    this.#failed.series += batch.entries.length
    this.#failed.samples += batch.samples
    if (this.#errors.length < MAX_KEPT_ERRORS) this.#errors.push(err)
    for (const [t, part] of batch.trackers) {
      t.failed.requests++
      t.failed.series += part.series
      t.failed.samples += part.samples
      if (t.errors.length < MAX_KEPT_ERRORS) t.errors.push(err)
      t.settle(part.samples)
    }
    this.#release(batch)
    try {
      this.#onError?.(err)
    } catch { /* a throwing callback must not stop delivery */ }
    if (this.listenerCount('error') > 0) this.#emitSafe('error', err)
  }

  /** Returns a settled batch's share of the buffer and wakes producers. */
  #release (batch: Batch): void {
    batch.settled = true
    this.#bufferedSamples -= batch.samples
    this.#bufferedBytes -= batch.bytes
    batch.body = undefined
    if (batch.pooled !== undefined && this.#pool.length < POOL_SIZE) this.#pool.push(batch.pooled)
    batch.pooled = undefined
    if (this.#full()) this.#unblock()
    if (!this.#full()) {
      const waiters = this.#waiters
      this.#waiters = []
      for (const w of waiters) w.resolve()
      if (this.#needDrain || waiters.length > 0) {
        this.#needDrain = false
        this.#emitSafe('drain', undefined)
      }
    } else {
      this.#needDrain = true
    }
  }

  #abortError (): AbortedError {
    return new AbortedError('writer was aborted', { cause: this.#abort.signal.reason })
  }

  #onAbort (): void {
    this.#sender.abort(this.#abort.signal.reason)
    // Batches still open or queued fail as 'aborted' once their shard gets to them.
    this.#sealAll()
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w.reject(this.#abortError())
  }
}

function positive (name: string, v: number): void {
  if (!(typeof v === 'number' && v > 0)) throw new InvalidArgumentError(`invalid ${name}`)
}

function positiveInt (name: string, v: number): void {
  if (!(Number.isInteger(v) && v > 0)) throw new InvalidArgumentError(`invalid ${name}`)
}

/** The longest delay setTimeout takes (2^31-1 ms); longer waits are made of several. */
const MAX_TIMER = 0x7fffffff

function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    let timer: NodeJS.Timeout
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const until = Date.now() + ms
    const arm = (): void => {
      const left = until - Date.now()
      if (left <= 0) {
        signal.removeEventListener('abort', onAbort)
        resolve()
        return
      }
      timer = setTimeout(arm, Math.min(left, MAX_TIMER))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    timer = setTimeout(arm, Math.min(ms, MAX_TIMER))
  })
}
