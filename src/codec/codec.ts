/**
 * The codec: validates items and encodes them into a snappy-compressed Remote Write 1.0
 * request inside WebAssembly linear memory (src/wasm.ts, assembly/prompb.ts).
 *
 * Data path per item: label strings are written once into linear memory (ASCII by hand,
 * anything else with TextEncoder.encodeInto) and turned into a pre-encoded label block by
 * the core; values and timestamps go in with one typed-array `set()` each when they are
 * typed arrays (element by element for plain arrays); the core validates timestamps and
 * appends the TimeSeries record; at the end the core snappy-compresses the body and JS
 * reads it out as a view or a copy.
 *
 * The series cache keeps label blocks in linear memory, keyed by a SeriesHandle or by the
 * label object itself. A label object found in the cache is compared name by name and value
 * by value with what was encoded, so a mutated object is re-encoded, never sent stale.
 */
import { CoreCode, InternalError, InvalidArgumentError, ValidationError, coreMessages } from '../errors.js'
import type { ValidationField } from '../errors.js'
import { decodeV2Request, decodeWriteRequest } from './decode.js'
import { setLabel } from '../labels.js'
import { checkHistograms, stageHistograms, stagedBytes } from './histogram.js'
import type { NativeHistogram } from '../types.js'
import type { DecodeOptions, DecodedV2 } from './decode.js'
import {
  AS_SECONDS, AS_STRICT, AS_TS_I64, Core, DEFAULT_MAX_DECODED, LB_NAME_OPTIONAL, loadCore,
} from '../core/wasm.js'
import type { DecodedItem, EncodeOptions, Item, Labels, SeriesRef, Timestamps, Values } from '../types.js'

/** Options of createCodec(). */
export interface CodecOptions extends EncodeOptions {
  /**
   * Upper bound, in bytes of linear memory, for cached label blocks. When it is reached the
   * whole cache is dropped and refilled from use. 0 disables the cache. Default 128 MiB.
   */
  seriesCacheBytes?: number
  /** Largest decompressed body decode() accepts. Default 32 MiB. */
  maxDecodedBytes?: number
  /**
   * Ceiling for the core's linear memory. A call that needs more throws CoreTrapError; the
   * codec then starts over with a fresh instance (its series cache refills). Default 4 GiB.
   */
  maxMemoryBytes?: number
}

/** Cache and size counters of a codec. */
export interface CodecStats {
  /** Label sets encoded from strings. */
  labelEncodes: number
  /** Label sets served from the series cache. */
  cacheHits: number
  /** Times the cache was dropped because it reached seriesCacheBytes (or after a trap). */
  cacheResets: number
  /** Bytes of linear memory held by the cache. */
  cacheBytes: number
}

const DEFAULT_CACHE_BYTES = 128 << 20
/** Copies up to 1/8 of this share one ArrayBuffer (see Codec#copyBuffer). */
const SLAB_BYTES = 1 << 20
/** First timestamps below this mark a series in seconds (the Python library's rule). */
const SECONDS_BELOW = 1e10
/**
 * Samples in one item per call. Staging takes 16 bytes a sample in linear memory, and the
 * core's allocator serves at most 1 GiB per block; the writer splits longer series itself
 * when they come in several items.
 */
export const MAX_ITEM_SAMPLES = 1 << 24
/** UTF-16 units in one label set. */
const MAX_LABEL_CHARS = 1 << 24

/** A label set's cached block: valid while `gen` equals the codec's cache generation. */
export interface CacheEntry {
  ptr: number
  len: number
  gen: number
  /** Hash of the canonical label block: equal label sets hash equal (for sharding). */
  hash: number
  names: string[]
  values: string[]
}

/** A label object's link to its cache entry. */
interface Slot {
  /** The object the slot was made for (a spread copy carries the same slot). */
  owner: object
  entry: CacheEntry
  /** The codec epoch in which `owner` was last compared with `entry`. */
  epoch: number
}

/** @internal An item checked by Codec.prepareAll(): labels resolved, samples valid and in order. */
export interface Prepared {
  entry: CacheEntry
  values: Values
  timestamps: Timestamps
  /** Timestamp flags for the core (strict, seconds), decided once for the whole series. */
  flags: number
  item: Item
  index: number
}

/**
 * A series whose labels were validated and pre-encoded by `codec.series()`. Its labels are a
 * frozen copy, so the cached encoding can never go stale. Pass it as `item.series`.
 */
export class SeriesHandle implements SeriesRef {
  readonly labels: Readonly<Record<string, string>>
  /** @internal The codec that owns the cached block. */
  readonly codec: Codec
  /** @internal The cached block; re-encoded when its generation is stale. */
  entry: CacheEntry
  /** @internal */
  constructor (labels: Readonly<Record<string, string>>, codec: Codec, entry: CacheEntry) {
    this.labels = labels
    this.codec = codec
    this.entry = entry
  }
}

const encoder = new TextEncoder()

/** Loads the WebAssembly core (compiled once per process) and returns a new codec. */
export async function createCodec (options: CodecOptions = {}): Promise<Codec> {
  await loadCore()
  return new Codec(options)
}

/** Encoder and decoder for Remote Write 1.0 requests. Not safe to share across threads. */
export class Codec {
  readonly #core: Core
  /** AS_STRICT when strictTimestamps. */
  readonly #flags: number
  readonly #autoSeconds: boolean
  readonly #sort: boolean
  readonly #cacheCap: number
  readonly #maxDecoded: number
  /**
   * Where a label object's cache slot lives: a non-enumerable symbol property on the object
   * itself (a WeakMap lookup costs ~30x more with 10^5 entries), or, for frozen objects, the
   * WeakMap. for-in, Object.keys, JSON.stringify, spreads and deep-equality checks ignore it;
   * the slot's `owner` guards against an object that got it some other way.
   */
  readonly #sym = Symbol('prometheus-remote-writer.labels')
  readonly #byObject = new WeakMap<object, Slot>()
  /**
   * Bumped at the start of every public call. A label object verified during the current
   * epoch is not compared again: nothing can change it within one synchronous call.
   */
  #epoch = 0
  #gen = 1
  #coreGen: number
  #stats = { labelEncodes: 0, cacheHits: 0, cacheResets: 0 }
  /** Set while staged records point at cached label blocks: no cache reset then. */
  #pinned = false
  #slab = new ArrayBuffer(0)
  #slabPos = SLAB_BYTES
  /** Series and samples appended to the request being built. */
  #series = 0
  #samples = 0

  /** Use createCodec(); this constructor needs the module compiled already. */
  constructor ({
    autoConvertSecondsToMs = true,
    strictTimestamps = false,
    sortSamples = true,
    seriesCacheBytes = DEFAULT_CACHE_BYTES,
    maxDecodedBytes = DEFAULT_MAX_DECODED,
    maxMemoryBytes,
  }: CodecOptions = {}) {
    if (!Number.isFinite(seriesCacheBytes) || seriesCacheBytes < 0) throw new InvalidArgumentError('invalid seriesCacheBytes')
    if (!Number.isInteger(maxDecodedBytes) || maxDecodedBytes < 0) throw new InvalidArgumentError('invalid maxDecodedBytes')
    if (maxMemoryBytes !== undefined && !(maxMemoryBytes > 0)) throw new InvalidArgumentError('invalid maxMemoryBytes')
    // 2.0 request templates (the core's prompb2.ts) get a quarter of the series cache's budget.
    this.#core = new Core(maxMemoryBytes, Math.min(1 << 30, Math.floor(seriesCacheBytes / 4)))
    this.#coreGen = this.#core.generation
    this.#flags = strictTimestamps ? AS_STRICT : 0
    this.#autoSeconds = autoConvertSecondsToMs
    this.#sort = sortSamples
    this.#cacheCap = seriesCacheBytes
    this.#maxDecoded = maxDecodedBytes
  }

  /**
   * Encodes `items` into one snappy-compressed WriteRequest and returns a **copy** of the
   * body, safe to keep and to send. Throws ValidationError (naming the series and field)
   * before returning anything if an item is invalid; the codec stays usable.
   */
  encode (items: readonly Item[]): Uint8Array {
    this.#build(items)
    return this.finish(true)
  }

  /**
   * Like encode(), but returns a **view into linear memory**: no copy, valid only until the
   * next call on this codec. Use it when the bytes are consumed synchronously.
   */
  encodeView (items: readonly Item[]): Uint8Array {
    this.#build(items)
    return this.finish(false)
  }

  /**
   * Encodes `items` into one snappy-compressed Remote Write 2.0 request
   * (io.prometheus.write.v2.Request: strings interned in a symbols table, metadata per series)
   * and returns a copy. Validation is the same as encode()'s. Send it with
   * `Content-Type: application/x-protobuf;proto=io.prometheus.write.v2.Request` and
   * `X-Prometheus-Remote-Write-Version: 2.0.0`.
   */
  encodeV2 (items: readonly Item[]): Uint8Array {
    this.#buildV2(items)
    return this.finish(true)
  }

  /** encodeV2() without compression (a copy), for debugging and tests. */
  encodeV2Protobuf (items: readonly Item[]): Uint8Array {
    this.#buildV2(items)
    const core = this.#core
    core.refresh()
    const p = core.exports.reqPtr() >>> 0
    return core.u8.slice(p, p + (core.exports.reqLen() >>> 0))
  }

  #buildV2 (items: readonly Item[]): void {
    if (!Array.isArray(items)) throw new InvalidArgumentError('items must be an array')
    this.begin()
    this.#epoch++
    this.#trim()
    const ex = this.#core.exports
    try {
      ex.exemplarSet(0)
      ex.v2Reset()
      // Runs of one-sample items without metadata go to the core in one v2AddSingles() call.
      let run = 0
      for (let i = 0; i <= items.length; i++) {
        const item = items[i]
        if (i < items.length && singleSample(item) !== undefined) {
          run++
          continue
        }
        if (run > 0) this.#singles(items, i - run, run, undefined, undefined, true)
        run = 0
        if (i === items.length) break
        checkShape(item, i)
        const entry = this.#labelsOf(item, i)
        const withHistograms = hasHistograms(item)
        const withSamples = !withHistograms || item.values.length > 0
        checkV2Exemplars(item, i)
        // The exemplars ride with the series' first record (2.0 has no exemplar-only series).
        this.#stageExemplars(item, i)
        // A 2.0 series carries samples or histograms, never both: two records when both.
        if (withSamples) {
          this.#appendV2(item, i, this.#entryFresh(entry, item, i), item.values, item.timestamps, 0, item.values.length, this.#flagsFor(item.timestamps), true)
        }
        if (withHistograms) this.#appendHistograms(item, i, true)
      }
      ex.v2Finish()
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /**
   * @internal For the writer: stages an item's exemplars for the next 2.0 append (which takes
   * them along), or, for 1.0, appends them to the selected request as a record of their own.
   */
  exemplarsWith (item: Item, index: number, entry: CacheEntry, v2: boolean): void {
    try {
      if (entry.gen !== this.#gen || this.#core.generation !== this.#coreGen) entry = this.#labelsOf(item, index)
      const n = this.#stageExemplars(item, index)
      if (n > 0 && !v2) this.#core.exports.addExemplarSeries(entry.ptr, entry.len)
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /**
   * @internal For the writer: 1.0 metadata of the item into the selected request, once per
   * family in `families` (the batch's).
   */
  metadataV1With (item: Item, index: number, families: Set<string>): void {
    try {
      this.#metadataV1(item, index, families)
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /** @internal Drops staged exemplars (after a failed append). */
  clearExemplars (): void {
    this.#core.exports.exemplarSet(0)
  }

  /** @internal For the writer: an item's histograms as one record of the selected request. */
  appendHistogramsWith (item: Item, index: number, entry: CacheEntry, v2: boolean): void {
    try {
      if (entry.gen !== this.#gen || this.#core.generation !== this.#coreGen) entry = this.#labelsOf(item, index)
      this.#appendHistograms(item, index, v2, entry)
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /**
   * Validates and stages an item's exemplars for the next series append (exemplars.ts); returns
   * how many. Their label blocks are pinned in the cache until the append.
   */
  #stageExemplars (item: Item, index: number): number {
    const xs = item.exemplars
    const ex = this.#core.exports
    if (xs === undefined || xs.length === 0) return 0
    const labels = item.metric && !Array.isArray(item.metric) ? item.metric as Record<string, string> : undefined
    const bad = (i: number, why: string): ValidationError => new ValidationError(`exemplars[${i}]: ${why}`, { seriesIndex: index, labels, field: 'item' })
    if (!Array.isArray(xs)) throw bad(0, 'exemplars must be an array')
    const blocks: CacheEntry[] = []
    this.#pinned = true
    try {
      for (let i = 0; i < xs.length; i++) {
        const x = xs[i]
        if (x === null || typeof x !== 'object') throw bad(i, 'must be an object { labels, value, timestamp }')
        if (typeof x.value !== 'number') throw bad(i, 'value must be a number')
        if (!Number.isSafeInteger(x.timestamp)) throw bad(i, 'timestamp must be an integer number of milliseconds')
        const [names, values] = splitLabels(x.labels ?? {}, index)
        try {
          blocks.push(this.#encodeLabels(names, values, index, true, LB_NAME_OPTIONAL))
        } catch (err) {
          if (err instanceof ValidationError) throw bad(i, `labels: ${err.detail}`)
          throw err
        }
      }
    } finally {
      this.#pinned = false
    }
    const core = this.#core
    const base = (ex.exemplarReserve(xs.length) >>> 0)
    core.refresh()
    for (let i = 0; i < xs.length; i++) {
      const r = base + i * 24
      core.u32[r >>> 2] = blocks[i].ptr
      core.u32[(r >>> 2) + 1] = blocks[i].len
      core.f64[(r >>> 3) + 1] = xs[i].value
      core.i64[(r >>> 3) + 2] = BigInt(xs[i].timestamp)
    }
    ex.exemplarSet(xs.length)
    return xs.length
  }

  /**
   * 1.0: the item's metadata as a WriteRequest.metadata record, once per metric family (its
   * __name__) and request.
   */
  #metadataV1 (item: Item, index: number, families: Set<string>): void {
    const type = checkMetadata(item, index)
    const md = item.metadata!
    const labels = item.series instanceof SeriesHandle ? item.series.labels : item.metric
    const name = Array.isArray(labels) ? (labels.find((p) => p[0] === '__name__')?.[1] ?? '') : ((labels as Record<string, string> | undefined)?.__name__ ?? '')
    if (name === '' || families.has(name)) return
    families.add(name)
    const help = md.help ?? ''
    const unit = md.unit ?? ''
    const core = this.#core
    const p = core.exports.v2MetaReserve((name.length + help.length + unit.length) * 3 + 8) >>> 0
    core.refresh()
    const u8 = core.u8
    const nl = encoder.encodeInto(name, u8.subarray(p, p + name.length * 3)).written
    const hl = encoder.encodeInto(help, u8.subarray(p + nl, p + nl + help.length * 3)).written
    const ul = encoder.encodeInto(unit, u8.subarray(p + nl + hl, p + nl + hl + unit.length * 3)).written
    core.exports.addMetadataV1(type, nl, hl, ul)
  }

  /** Appends an item's native histograms as one series record (1.0 or 2.0). */
  #appendHistograms (item: Item, index: number, v2: boolean, resolved?: CacheEntry): void {
    checkShape(item, index)
    const entry = resolved ?? this.#labelsOf(item, index)
    const labels = item.metric && !Array.isArray(item.metric) ? item.metric as Record<string, string> : undefined
    const hs = item.histograms as readonly NativeHistogram[]
    if (v2) {
      const [type, helpLen, unitLen] = this.#stageMetadata(item, index)
      const count = stageHistograms(this.#core, hs, index, labels)
      this.#core.exports.v2AddHistSeries(entry.ptr, entry.len, count, stagedBytes(hs), type, helpLen, unitLen)
    } else {
      const count = stageHistograms(this.#core, hs, index, labels)
      this.#core.exports.addHistSeries(entry.ptr, entry.len, count)
    }
    this.#series++
  }

  /** Stages an item's help and unit for v2AddSeries(); returns [type, helpLen, unitLen]. */
  #stageMetadata (item: Item, index: number): [number, number, number] {
    const type = checkMetadata(item, index)
    const md = item.metadata
    const help = md?.help ?? ''
    const unit = md?.unit ?? ''
    if (help === '' && unit === '') return [type, 0, 0]
    const core = this.#core
    const p = core.exports.v2MetaReserve((help.length + unit.length) * 3 + 8) >>> 0
    core.refresh()
    const hl = encoder.encodeInto(help, core.u8.subarray(p, p + help.length * 3)).written
    const ul = encoder.encodeInto(unit, core.u8.subarray(p + hl, p + hl + unit.length * 3)).written
    return [type, hl, ul]
  }

  /** Encodes `items` into an uncompressed WriteRequest protobuf (a copy), for debugging and tests. */
  encodeProtobuf (items: readonly Item[]): Uint8Array {
    this.#build(items)
    const core = this.#core
    core.refresh()
    const p = core.exports.reqPtr() >>> 0
    return core.u8.slice(p, p + (core.exports.reqLen() >>> 0))
  }

  /**
   * Decodes a snappy-compressed WriteRequest into items: labels as on the wire, values as a
   * Float64Array (bit-exact, stale markers included), timestamps as numbers (or a
   * BigInt64Array with `{ bigint: true }`), native histograms and exemplars in the shape
   * encode() takes. Throws SnappyError or DecodeError.
   */
  decode (body: Uint8Array, options?: DecodeOptions): DecodedItem[] {
    const raw = this.#core.decompressView(body, this.#maxDecoded)
    return decodeWriteRequest(raw, options)
  }

  /**
   * Decodes a snappy-compressed Remote Write 2.0 request: items with labels and metadata
   * resolved through the symbols table, native histograms and exemplars in the shape encode()
   * takes, and how many of each. Throws SnappyError or DecodeError.
   */
  decodeV2 (body: Uint8Array, options?: DecodeOptions): DecodedV2 {
    const raw = this.#core.decompressView(body, this.#maxDecoded)
    return decodeV2Request(raw, options)
  }

  /** Decompresses a snappy block (a copy). Throws SnappyError. */
  decompress (body: Uint8Array): Uint8Array {
    return this.#core.decompressView(body, this.#maxDecoded).slice()
  }

  /**
   * Validates and pre-encodes a label set, and returns a handle to pass as `item.series`.
   * The handle holds a frozen copy of the labels; re-encoding after a cache reset is
   * automatic. Throws ValidationError (seriesIndex -1) for an invalid label set.
   */
  series (labels: Labels): SeriesHandle {
    this.#epoch++
    this.#trim()
    const [names, values] = splitLabels(labels, -1)
    const frozen: Record<string, string> = {}
    for (let i = 0; i < names.length; i++) setLabel(frozen, names[i], values[i])
    return new SeriesHandle(Object.freeze(frozen), this, this.#encodeLabels(names, values, -1, true))
  }

  /** Cache counters. */
  stats (): CodecStats {
    return { ...this.#stats, cacheBytes: this.#core.exports.cacheBytes() >>> 0 }
  }

  // ---- incremental building (used by the writer) ---------------------------------------

  /** Starts a new request, discarding anything appended since the last finish(). */
  begin (): void {
    this.#core.exports.reqReset()
    this.#series = 0
    this.#samples = 0
  }

  /**
   * Appends samples [start, end) of `item` to the request being built, as one TimeSeries.
   * `index` names the item in errors. Throws ValidationError and appends nothing when the
   * item is invalid.
   */
  append (item: Item, index: number, start = 0, end?: number): void {
    this.#epoch++
    this.#trim()
    try {
      this.#append(item, index, start, end)
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /** Bytes of uncompressed protobuf appended since begin(). */
  get size (): number {
    return this.#core.exports.reqLen() >>> 0
  }

  /** Series (TimeSeries records) appended since begin(). */
  get seriesCount (): number {
    return this.#series
  }

  /** Samples appended since begin(). */
  get sampleCount (): number {
    return this.#samples
  }

  /**
   * Snappy-compresses the request built since begin(). With `copy` true (the default)
   * returns a fresh Uint8Array; with false a view into linear memory that is valid until the
   * next call on this codec.
   */
  finish (copy = true): Uint8Array {
    const core = this.#core
    try {
      const n = core.exports.reqCompress() >>> 0
      core.refresh()
      const p = core.exports.snapPtr() >>> 0
      const view = core.u8.subarray(p, p + n)
      if (!copy) return view
      const out = this.#copyBuffer(n)
      out.set(view)
      return out
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /**
   * A fresh `n`-byte array for a copy. Small copies are carved out of a shared slab (as
   * Node's Buffer pool does): a copy is then a view plus a memcpy, not a new ArrayBuffer each
   * time, which is what made copies cost more than encoding. Such a copy's `.buffer` is the
   * slab, shared with other copies; its own bytes are its alone.
   */
  #copyBuffer (n: number): Uint8Array {
    if (n > SLAB_BYTES >>> 3) return new Uint8Array(n)
    if (this.#slabPos + n > SLAB_BYTES) {
      this.#slab = new ArrayBuffer(SLAB_BYTES)
      this.#slabPos = 0
    }
    const out = new Uint8Array(this.#slab, this.#slabPos, n)
    this.#slabPos = (this.#slabPos + n + 7) & ~7
    return out
  }

  // ---- internals -----------------------------------------------------------------------

  #build (items: readonly Item[]): void {
    if (!Array.isArray(items)) throw new InvalidArgumentError('items must be an array')
    this.begin()
    this.#epoch++
    this.#trim()
    this.#core.exports.exemplarSet(0)
    /** Metric families whose metadata this request carries already. */
    const families = new Set<string>()
    try {
      // Runs of one-sample items (the Prometheus layout, IoT gateways) go to the core in one
      // addSingles() call: a 32-byte record each instead of a call each.
      let run = 0
      for (let i = 0; i <= items.length; i++) {
        if (i < items.length && singleSample(items[i]) !== undefined) {
          run++
          continue
        }
        if (run > 0) this.#singles(items, i - run, run, undefined, undefined)
        run = 0
        if (i < items.length) {
          const item = items[i]
          const withHistograms = hasHistograms(item)
          if (!withHistograms || (item.values?.length ?? 0) > 0) this.#append(item, i, 0, undefined)
          if (withHistograms) this.#appendHistograms(item, i, false)
          if (item?.metadata !== undefined) this.#metadataV1(item, i, families)
          if (item?.exemplars !== undefined && item.exemplars.length > 0) {
            // 1.0: the exemplars in a series record of their own, as Prometheus sends them.
            // The series' block first: staging pins the cache until the append.
            const entry = this.#labelsOf(item, i)
            if (this.#stageExemplars(item, i) > 0) this.#core.exports.addExemplarSeries(entry.ptr, entry.len)
          }
        }
      }
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /**
   * Appends `count` one-sample items to the selected request with addSingles(): items
   * [first, first + count) of `items`, or with `idx`, items idx[first..first + count) whose
   * label entries are in `entries` (parallel to `items`). Throws ValidationError for the first
   * bad item; the request then holds the records before it (callers discard or truncate).
   */
  #singles (items: readonly Item[], first: number, count: number, idx: readonly number[] | undefined, entries: readonly CacheEntry[] | undefined, v2 = false, slots?: Uint32Array): void {
    const core = this.#core
    const ex = core.exports
    const rec = (ex.stageReserve(count * SINGLE_RECORD) >>> 0) >>> 2
    this.#pinned = true
    try {
      this.#stageSingles(items, first, count, idx, entries, rec)
    } finally {
      this.#pinned = false
    }
    if (slots !== undefined) {
      const u32 = core.u32
      for (let k = 0; k < count; k++) u32[rec + k * (SINGLE_RECORD >>> 2) + 3] = slots[k]
    }
    const rc = slots !== undefined ? ex.addSinglesTo(count) : v2 ? ex.v2AddSingles(count) : ex.addSingles(count)
    if (rc === CoreCode.SLOT) throw new InternalError('request slot out of range')
    if (rc < 0) {
      const at = ex.errorIndex()
      const i = idx === undefined ? first + at : idx[first + at]
      throw invalid(items[i], i, 'timestamps', coreMessages[rc] ?? `error ${rc}`, 0)
    }
    this.#series += count
    this.#samples += count
  }

  /** Writes addSingles() records at u32 index `rec` (see #singles). */
  #stageSingles (items: readonly Item[], first: number, count: number, idx: readonly number[] | undefined, entries: readonly CacheEntry[] | undefined, rec: number): void {
    const core = this.#core
    for (let k = 0; k < count; k++) {
      const i = idx === undefined ? first + k : idx[first + k]
      const item = items[i]
      let entry = entries?.[i]
      if (entry === undefined || entry.gen !== this.#gen || this.#core.generation !== this.#coreGen) entry = this.#labelsOf(item, i)
      core.refresh()
      const u32 = core.u32
      const r = rec + k * (SINGLE_RECORD >>> 2)
      u32[r] = entry.ptr
      u32[r + 1] = entry.len
      core.f64[(r >>> 1) + 2] = item.values[0]
      const t = item.timestamps[0]
      let flags = this.#flags
      if (typeof t === 'bigint') {
        core.i64[(r >>> 1) + 3] = t
        flags |= AS_TS_I64
        if (this.#autoSeconds && Number(t) < SECONDS_BELOW) flags |= AS_SECONDS
      } else {
        if (typeof t !== 'number') throw invalid(item, i, 'timestamps', 'must be a number', 0)
        core.f64[(r >>> 1) + 3] = t
        if (this.#autoSeconds && t < SECONDS_BELOW) flags |= AS_SECONDS
      }
      u32[r + 2] = flags
    }
  }

  /** @internal Whether an item is one plain sample that appendSingles() takes. */
  isSingle (item: Item): boolean {
    return singleSample(item) !== undefined
  }

  /**
   * @internal For the writer: appends the one-sample items idx[first..first + count) of
   * `items`, with their entries from labelsFor() (parallel to `items`), to the selected
   * request. Throws ValidationError naming the first bad item.
   */
  appendSingles (items: readonly Item[], idx: readonly number[], entries: readonly CacheEntry[], first: number, count: number): void {
    try {
      this.#singles(items, first, count, idx, entries)
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /**
   * @internal For the writer: appends the one-sample items [0, count) of `items` (entries from
   * labelsFor(), parallel to `items`), item k to the 1.0 request in slot `slots[k]`, in item
   * order (see the core's addSinglesTo). Throws ValidationError naming the first bad item;
   * the requests then hold the records before it (the writer truncates them).
   */
  appendSinglesTo (items: readonly Item[], entries: readonly CacheEntry[], slots: Uint32Array, count: number): void {
    try {
      this.#singles(items, 0, count, undefined, entries, false, slots)
    } catch (err) {
      throw this.#recover(err)
    }
  }

  #recover (err: unknown): unknown {
    const e = this.#core.recover(err)
    if (this.#core.generation !== this.#coreGen) this.#dropCache()
    return e
  }

  #dropCache (): void {
    this.#coreGen = this.#core.generation
    this.#gen++
    this.#stats.cacheResets++
  }

  #append (item: Item, index: number, start: number, end: number | undefined): void {
    checkShape(item, index)
    const { values, timestamps } = item
    const stop = end ?? values.length
    if (start < 0 || stop > values.length || start > stop) throw new InvalidArgumentError('invalid sample range')
    const entry = this.#labelsOf(item, index)
    const n = stop - start
    const base = this.#flagsFor(timestamps)
    let flags = this.#stage(values, timestamps, start, stop, item, index, base)
    let rc = this.#core.exports.addSeries(entry.ptr, entry.len, n, flags)
    let order: number[] | undefined
    if (rc === CoreCode.TS_UNSORTED && this.#sort) {
      const sorted = sortedCopy(values, timestamps, start, stop)
      order = sorted.order
      flags = this.#stage(sorted.values, sorted.timestamps, 0, n, item, index, base)
      rc = this.#core.exports.addSeries(entry.ptr, entry.len, n, flags)
    }
    if (rc < 0) throw this.#sampleError(rc, item, index, start, order)
    this.#series++
    this.#samples += n
  }

  /**
   * The timestamp flags of a series: the seconds rule is decided here, once, from the first
   * timestamp as given, so a sorted copy or a slice of the series follows the same rule.
   */
  #flagsFor (timestamps: Timestamps): number {
    let flags = this.#flags & AS_STRICT
    if (this.#autoSeconds && timestamps.length > 0) {
      const t0 = Number(timestamps[0])
      if (Number.isFinite(t0) && t0 < SECONDS_BELOW) flags |= AS_SECONDS
    }
    return flags
  }

  /** Copies samples [start, stop) into the core's stage; returns the addSeries flags. */
  #stage (values: Values, timestamps: Timestamps, start: number, stop: number, item: Item, index: number, flags: number): number {
    const core = this.#core
    const n = stop - start
    const vi = (core.exports.stageReserve(n * 16 || 8) >>> 0) >>> 3
    core.refresh()
    stageValues(core.f64, vi, values, start, stop, item, index)
    if (timestamps instanceof BigInt64Array) {
      core.i64.set(start === 0 && stop === timestamps.length ? timestamps : timestamps.subarray(start, stop), vi + n)
      return flags | AS_TS_I64
    }
    stageTimestamps(core.f64, vi + n, timestamps, start, stop, item, index)
    return flags
  }

  /** The ValidationError for a core error about a sample; `order` maps a sorted copy back. */
  #sampleError (rc: number, item: Item, index: number, start: number, order?: number[]): ValidationError {
    const at = this.#core.exports.errorIndex()
    const sampleIndex = at < 0 ? undefined : order !== undefined ? order[at] : start + at
    return invalid(item, index, 'timestamps', coreMessages[rc] ?? `error ${rc}`, sampleIndex)
  }

  /**
   * @internal For the writer: prepare() for every item of one call; throws the first
   * ValidationError, with nothing of the call kept.
   */
  prepareAll (items: readonly Item[]): Prepared[] {
    this.#epoch++
    this.#trim()
    const out = new Array<Prepared>(items.length)
    for (let i = 0; i < items.length; i++) {
      out[i] = this.#prepare(items[i], i)
      if (items[i].exemplars !== undefined) {
        // Validated (labels included) by staging them, then dropped: the writer stages them
        // again with the item's first record.
        try {
          this.#stageExemplars(items[i], i)
        } finally {
          this.clearExemplars()
        }
      }
    }
    return out
  }

  /**
   * Validates an item completely (labels, value types, timestamps) without appending it,
   * and returns it with its label block resolved and its samples in order (a sorted copy
   * when they were not). Throws ValidationError.
   */
  #prepare (item: Item, index: number): Prepared {
    try {
      return this.#prepareWith(item, index, this.labelsFor(item, index))
    } catch (err) {
      throw this.#recover(err)
    }
  }

  // ---- the writer's interface ----------------------------------------------------------
  // The writer builds one request per shard at once in the core's request slots, and
  // encodes items as they are written; these methods are its building blocks.

  /** @internal Starts a call: label objects are compared again from here on. */
  beginCall (): void {
    this.#epoch++
    this.#trim()
  }

  /**
   * Drops the cache if a call ran it past its cap (it may, while records were pinned). With
   * the cache off (cap 0), label blocks live for one call: they are dropped at the next.
   */
  #trim (): void {
    const used = this.#core.exports.cacheBytes() >>> 0
    if (this.#cacheCap > 0 ? used > this.#cacheCap : used > 0) {
      this.#core.exports.cacheReset()
      this.#gen++
      if (this.#cacheCap > 0) this.#stats.cacheResets++
    }
  }

  /** @internal Checks an item's shape and returns its validated label block. Throws ValidationError. */
  labelsFor (item: Item, index: number): CacheEntry {
    try {
      checkShape(item, index)
      checkExtras(item, index)
      return this.#labelsOf(item, index)
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /**
   * @internal Appends a whole item, whose labels labelsFor() resolved, to the selected
   * request (sorting it first if needed). Throws ValidationError and appends nothing.
   */
  appendWith (item: Item, index: number, entry: CacheEntry): void {
    try {
      const { values, timestamps } = item
      const n = values.length
      if (entry.gen !== this.#gen || this.#core.generation !== this.#coreGen) entry = this.#labelsOf(item, index)
      const base = this.#flagsFor(timestamps)
      let flags = this.#stage(values, timestamps, 0, n, item, index, base)
      let rc = this.#core.exports.addSeries(entry.ptr, entry.len, n, flags)
      let order: number[] | undefined
      if (rc === CoreCode.TS_UNSORTED && this.#sort) {
        const sorted = sortedCopy(values, timestamps, 0, n)
        order = sorted.order
        flags = this.#stage(sorted.values, sorted.timestamps, 0, n, item, index, base)
        rc = this.#core.exports.addSeries(entry.ptr, entry.len, n, flags)
      }
      if (rc < 0) throw this.#sampleError(rc, item, index, 0, order)
      this.#series++
      this.#samples += n
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /** @internal prepare() for an item whose labels labelsFor() resolved. */
  prepareWith (item: Item, index: number, entry: CacheEntry): Prepared {
    try {
      return this.#prepareWith(item, index, entry)
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /** @internal Starts a 2.0 request in the selected slot. */
  beginV2 (): void {
    this.#core.exports.v2Reset()
  }

  /** @internal Bytes of the selected 2.0 request so far (series and symbols). */
  get v2Size (): number {
    const ex = this.#core.exports
    return (ex.v2SeriesLen() >>> 0) + (ex.v2SymbolsLen() >>> 0)
  }

  /** @internal The selected 2.0 request's state, for v2Truncate(). */
  v2Mark (): [number, number, number] {
    const ex = this.#core.exports
    return [ex.v2SeriesLen() >>> 0, ex.v2SymbolCount() >>> 0, ex.v2SymbolsLen() >>> 0]
  }

  /** @internal Cuts the selected 2.0 request back to a v2Mark(). */
  v2Truncate (mark: [number, number, number]): void {
    this.#core.exports.v2Truncate(mark[0], mark[1], mark[2])
  }

  /** @internal appendWith() for a 2.0 request (metadata included). */
  appendV2With (item: Item, index: number, entry: CacheEntry): void {
    try {
      const { values, timestamps } = item
      const n = values.length
      if (entry.gen !== this.#gen || this.#core.generation !== this.#coreGen) entry = this.#labelsOf(item, index)
      this.#appendV2(item, index, entry, values, timestamps, 0, n, this.#flagsFor(timestamps), true)
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /** @internal appendPrepared() for a 2.0 request. */
  appendPreparedV2 (p: Prepared, start: number, end: number): void {
    try {
      this.#appendV2(p.item, p.index, this.#entryOf(p), p.values, p.timestamps, start, end, p.flags, false)
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /** Stages samples [start, end) and metadata and appends a 2.0 series (sorting if `sort`). */
  #appendV2 (item: Item, index: number, entry: CacheEntry, values: Values, timestamps: Timestamps, start: number, end: number, base: number, sort: boolean): void {
    const ex = this.#core.exports
    const n = end - start
    let flags = this.#stage(values, timestamps, start, end, item, index, base)
    const [type, helpLen, unitLen] = this.#stageMetadata(item, index)
    const st = item.startTimestamp ?? 0
    if (!Number.isSafeInteger(st)) throw invalid(item, index, 'item', 'startTimestamp must be an integer number of milliseconds')
    ex.v2StartSet(st)
    let rc = ex.v2AddSeries(entry.ptr, entry.len, n, flags, type, helpLen, unitLen)
    let order: number[] | undefined
    if (rc === CoreCode.TS_UNSORTED && sort && this.#sort) {
      const sorted = sortedCopy(values, timestamps, start, end)
      order = sorted.order
      flags = this.#stage(sorted.values, sorted.timestamps, 0, n, item, index, base)
      ex.v2StartSet(st)
      rc = ex.v2AddSeries(entry.ptr, entry.len, n, flags, type, helpLen, unitLen)
    }
    if (rc < 0) throw this.#sampleError(rc, item, index, start, order)
    this.#series++
    this.#samples += n
  }

  /** @internal finish() for the selected 2.0 request: symbols and series, compressed. */
  finishV2 (copy = true): Uint8Array {
    try {
      this.#core.exports.v2Finish()
    } catch (err) {
      throw this.#recover(err)
    }
    return this.finish(copy)
  }

  /** @internal Selects the core's request slot k (1..4095 for the writer; 0 is encode()'s). */
  select (k: number): void {
    if (this.#core.exports.reqSelect(k) !== 0) throw new InvalidArgumentError(`request slot ${k} out of range`)
  }

  /** @internal Cuts the selected request back to `len` bytes. */
  truncate (len: number): void {
    this.#core.exports.reqTruncate(len)
  }

  /** @internal Bumped whenever the core is replaced after a trap: request slots are then gone. */
  get coreGeneration (): number {
    return this.#core.generation
  }

  #prepareWith (item: Item, index: number, entry: CacheEntry): Prepared {
    {
      checkExtras(item, index)
      let { values, timestamps } = item
      const n = values.length
      const flags = this.#flagsFor(timestamps)
      let rc = this.#check(values, timestamps, item, index, flags)
      let order: number[] | undefined
      if (rc === CoreCode.TS_UNSORTED && this.#sort) {
        const sorted = sortedCopy(values, timestamps, 0, n)
        ;({ values, timestamps, order } = sorted)
        rc = this.#check(values, timestamps, item, index, flags)
      }
      if (rc < 0) throw this.#sampleError(rc, item, index, 0, order)
      return { entry, values, timestamps, flags, item, index }
    }
  }

  /** Stages values (type-checked) and timestamps and runs the core's timestamp check. */
  #check (values: Values, timestamps: Timestamps, item: Item, index: number, flags: number): number {
    const staged = this.#stage(values, timestamps, 0, values.length, item, index, flags)
    return this.#core.exports.checkSeries(values.length, staged)
  }

  /**
   * @internal For the writer: appends samples [start, end) of a prepared item as one
   * TimeSeries. Re-encodes its labels if the cache was reset since prepare().
   */
  appendPrepared (p: Prepared, start: number, end: number): void {
    try {
      const entry = this.#entryOf(p)
      const flags = this.#stage(p.values, p.timestamps, start, end, p.item, p.index, p.flags)
      const rc = this.#core.exports.addSeries(entry.ptr, entry.len, end - start, flags)
      if (rc < 0) throw this.#sampleError(rc, p.item, p.index, start)
      this.#series++
      this.#samples += end - start
    } catch (err) {
      throw this.#recover(err)
    }
  }

  /** An entry still valid after other label sets were encoded (a reset may have happened). */
  #entryFresh (entry: CacheEntry, item: Item, index: number): CacheEntry {
    return entry.gen === this.#gen && this.#core.generation === this.#coreGen ? entry : this.#labelsOf(item, index)
  }

  /** A prepared item's label block, encoded again if the cache was reset since prepare(). */
  #entryOf (p: Prepared): CacheEntry {
    if (this.#core.generation !== this.#coreGen) this.#dropCache()
    if (p.entry.gen !== this.#gen) p.entry = this.#encodeLabels(p.entry.names, p.entry.values, p.index, this.#cacheCap > 0)
    return p.entry
  }

  /** The cached (or freshly built) label block of an item. */
  #labelsOf (item: Item, index: number): CacheEntry {
    if (this.#core.generation !== this.#coreGen) this.#dropCache()
    const handle = item.series
    if (handle !== undefined) {
      if (!(handle instanceof SeriesHandle) || handle.codec !== this) {
        throw new ValidationError('series must be a handle made by this codec', { seriesIndex: index, field: 'item' })
      }
      let entry = handle.entry
      if (entry.gen !== this.#gen) {
        entry = this.#encodeLabels(entry.names, entry.values, index, true)
        handle.entry = entry
      } else {
        this.#stats.cacheHits++
      }
      return entry
    }
    const metric = item.metric
    if (metric === null || typeof metric !== 'object') {
      throw new ValidationError('must be an object of label names to values', { seriesIndex: index, field: 'metric' })
    }
    const slot: Slot | undefined = (metric as any)[this.#sym] ?? this.#byObject.get(metric)
    if (slot !== undefined && slot.entry.gen === this.#gen) {
      // Checked already in this call: the object cannot have changed since (no caller code
      // runs inside a synchronous call).
      if (slot.owner === metric && slot.epoch === this.#epoch) {
        this.#stats.cacheHits++
        return slot.entry
      }
      if (sameLabels(metric, slot.entry)) {
        this.#stats.cacheHits++
        if (slot.owner === metric) slot.epoch = this.#epoch
        else this.#remember(metric, slot.entry) // a copy ({...labels}) carried the slot along
        return slot.entry
      }
    }
    const [names, values] = splitLabels(metric, index)
    const cache = this.#cacheCap > 0
    const entry = this.#encodeLabels(names, values, index, cache)
    if (cache) this.#remember(metric, entry)
    return entry
  }

  /** Attaches a cache slot to a label object (a symbol property; the WeakMap if frozen). */
  #remember (metric: object, entry: CacheEntry): void {
    const slot: Slot = { owner: metric, entry, epoch: this.#epoch }
    // Non-enumerable, so that deep equality (assert.deepStrictEqual, test matchers) and
    // spreads ignore it. Defining costs more than assigning, but only on first sight.
    if (Object.isExtensible(metric)) Object.defineProperty(metric, this.#sym, { value: slot, writable: true, configurable: true })
    else this.#byObject.set(metric, slot)
  }

  /** Writes a label set into linear memory and has the core build its block. */
  #encodeLabels (names: string[], values: string[], index: number, cache: boolean, flags = 0): CacheEntry {
    const core = this.#core
    const ex = core.exports
    const n = names.length
    let chars = 0
    for (let i = 0; i < n; i++) chars += names[i].length + values[i].length
    if (chars > MAX_LABEL_CHARS) {
      throw new ValidationError(`label set too large (${chars} characters; at most ${MAX_LABEL_CHARS})`, { seriesIndex: index, field: 'metric' })
    }
    const maxBlock = chars * 3 + n * 26 + 32 // the block, then its strings' global ids and refs cache
    // With the cap at 0 only handles reach here with cache=true: they keep their blocks.
    // While records that point at cached blocks are being staged (#pinned), the cache may
    // run past its cap rather than free blocks those records still point to.
    if (cache && this.#cacheCap > 0 && !this.#pinned && (ex.cacheBytes() >>> 0) + maxBlock > this.#cacheCap) {
      ex.cacheReset()
      this.#gen++
      this.#stats.cacheResets++
    }
    const base = ex.labelStageReserve(n * 8 + chars * 3 + 8) >>> 0
    core.refresh()
    const u8 = core.u8
    const u32 = core.u32
    const start = base + n * 8
    // One encodeInto for the whole set: when every unit became one byte the set is ASCII and
    // the lengths are the strings' lengths. Otherwise encode string by string.
    let all = ''
    for (let i = 0; i < n; i++) all += names[i] + values[i]
    const { written } = encoder.encodeInto(all, u8.subarray(start, start + chars * 3))
    if (written === chars) {
      for (let i = 0; i < n; i++) {
        u32[(base >>> 2) + 2 * i] = names[i].length
        u32[(base >>> 2) + 2 * i + 1] = values[i].length
      }
    } else {
      let p = start
      for (let i = 0; i < n; i++) {
        const nl = encoder.encodeInto(names[i], u8.subarray(p, p + names[i].length * 3)).written
        p += nl
        const vl = encoder.encodeInto(values[i], u8.subarray(p, p + values[i].length * 3)).written
        p += vl
        u32[(base >>> 2) + 2 * i] = nl
        u32[(base >>> 2) + 2 * i + 1] = vl
      }
    }
    // Always in the arena, so that a block stays valid for the whole call (a call may resolve
    // many label sets before it encodes them); with the cache off, #trim() drops them at the
    // start of the next call.
    const rc = ex.buildLabels(n, flags)
    core.refresh()
    if (rc < 0) {
      const at = ex.errorIndex()
      const labels = Object.fromEntries(names.map((k, i) => [k, values[i]]))
      throw new ValidationError(coreMessages[rc] ?? `error ${rc}`, {
        seriesIndex: index,
        labels,
        field: 'metric',
        label: at >= 0 ? names[at] : undefined,
      })
    }
    this.#stats.labelEncodes++
    return { ptr: ex.resultPtr() >>> 0, len: ex.resultLen() >>> 0, gen: this.#gen, hash: ex.resultHash() >>> 0, names, values }
  }
}

/** Metadata.type numbers: the index in this list (0 is METRIC_TYPE_UNSPECIFIED, sent as 'unknown'). */
const METRIC_TYPES: readonly string[] = ['unknown', 'counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset']

/** Bytes of a record of the core's addSingles() table. */
const SINGLE_RECORD = 32

/**
 * The value of an item that is one plain sample (values and timestamps of length 1, a
 * number value that is not NaN), or undefined for anything else. NaN values take the general
 * path, whose typed-array copies keep NaN payloads bit for bit.
 */
function singleSample (item: Item): number | undefined {
  if (item === null || typeof item !== 'object' || item.histograms !== undefined || item.exemplars !== undefined || item.metadata !== undefined || item.startTimestamp !== undefined) return undefined
  const { values, timestamps } = item
  if (values == null || timestamps == null || values.length !== 1 || timestamps.length !== 1) return undefined
  if (typeof values !== 'object' || typeof timestamps !== 'object') return undefined
  const v = values[0]
  return typeof v === 'number' && v === v ? v : undefined
}

/** Checks an item's metadata; returns its Metadata.type number (0 when absent). */
function checkMetadata (item: Item, index: number): number {
  const md = item.metadata
  if (md === undefined) return 0
  if (md === null || typeof md !== 'object') throw invalid(item, index, 'item', 'metadata must be an object { type, help, unit }')
  const type = md.type === undefined ? 0 : METRIC_TYPES.indexOf(md.type)
  if (type < 0) throw invalid(item, index, 'item', `metadata.type must be one of ${METRIC_TYPES.join(', ')}`)
  if ((md.help !== undefined && typeof md.help !== 'string') || (md.unit !== undefined && typeof md.unit !== 'string')) {
    throw invalid(item, index, 'item', 'metadata.help and metadata.unit must be strings')
  }
  return type
}

/**
 * Checks what an item carries besides its samples (metadata, native histograms), so that a
 * call validated up front is validated whole, whichever protocol encodes it.
 */
/**
 * Remote Write 2.0 has no exemplar-only series: exemplars ride with a record of samples or
 * histograms. Throws ValidationError for an item with exemplars and neither.
 */
export function checkV2Exemplars (item: Item, index: number): void {
  if ((item.exemplars?.length ?? 0) > 0 && item.values.length === 0 && !hasHistograms(item)) {
    throw invalid(item, index, 'item', 'exemplars need samples or histograms in Remote Write 2.0')
  }
}

/** Whether an item carries native histograms (an empty array is none; anything else is checked as histograms). */
function hasHistograms (item: Item | null | undefined): boolean {
  const h = item?.histograms
  return h !== undefined && (!Array.isArray(h) || h.length > 0)
}

function checkExtras (item: Item, index: number): void {
  checkMetadata(item, index)
  if (item.startTimestamp !== undefined && !Number.isSafeInteger(item.startTimestamp)) {
    throw invalid(item, index, 'item', 'startTimestamp must be an integer number of milliseconds')
  }
  if (item.histograms !== undefined) {
    const labels = item.metric && !Array.isArray(item.metric) ? item.metric as Record<string, string> : undefined
    checkHistograms(item.histograms, index, labels)
  }
}

/** Checks that an item is an object with array-like values and timestamps of equal length. */
function checkShape (item: Item, index: number): void {
  if (item === null || typeof item !== 'object') {
    throw new ValidationError('item must be an object with metric, values and timestamps', { seriesIndex: index, field: 'item' })
  }
  const { values, timestamps } = item
  if (values == null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw invalid(item, index, 'values', 'must be an array of numbers or a Float64Array')
  }
  if (timestamps == null || typeof timestamps !== 'object' || typeof timestamps.length !== 'number') {
    throw invalid(item, index, 'timestamps', 'must be an array of numbers, a Float64Array or a BigInt64Array')
  }
  if (!Number.isSafeInteger(values.length) || values.length < 0) throw invalid(item, index, 'values', 'has an invalid length')
  if (!Number.isSafeInteger(timestamps.length) || timestamps.length < 0) throw invalid(item, index, 'timestamps', 'has an invalid length')
  if (values.length !== timestamps.length) {
    throw invalid(item, index, 'values', `has ${values.length} entries but timestamps has ${timestamps.length}`)
  }
  if (values.length > MAX_ITEM_SAMPLES) {
    throw invalid(item, index, 'values', `has ${values.length} samples; at most ${MAX_ITEM_SAMPLES} per item (split the series into several items)`)
  }
}

/**
 * Samples [start, stop) sorted by timestamp (stable: equal timestamps keep their order).
 * Values are copied as bytes when they come in a Float64Array, so NaN payloads survive.
 */
function sortedCopy (values: Values, timestamps: Timestamps, start: number, stop: number): { values: Float64Array, timestamps: Float64Array | BigInt64Array, order: number[] } {
  const n = stop - start
  const order = new Array<number>(n)
  for (let i = 0; i < n; i++) order[i] = start + i
  let ts: Float64Array | BigInt64Array
  if (timestamps instanceof BigInt64Array) {
    order.sort((a, b) => (timestamps[a] < timestamps[b] ? -1 : timestamps[a] > timestamps[b] ? 1 : 0))
    ts = new BigInt64Array(n)
    for (let i = 0; i < n; i++) ts[i] = timestamps[order[i]]
  } else {
    order.sort((a, b) => (timestamps[a] as number) - (timestamps[b] as number))
    ts = new Float64Array(n)
    for (let i = 0; i < n; i++) ts[i] = timestamps[order[i]] as number
  }
  const vs = new Float64Array(n)
  if (values instanceof Float64Array) {
    const src = new BigUint64Array(values.buffer, values.byteOffset, values.length)
    const dst = new BigUint64Array(vs.buffer)
    for (let i = 0; i < n; i++) dst[i] = src[order[i]]
  } else {
    for (let i = 0; i < n; i++) vs[i] = values[order[i]]
  }
  return { values: vs, timestamps: ts, order }
}

/** Whether `metric` still holds exactly the labels `entry` was built from. */
function sameLabels (metric: Labels, entry: CacheEntry): boolean {
  const names = entry.names
  const values = entry.values
  if (Array.isArray(metric)) {
    if (metric.length !== names.length) return false
    for (let i = 0; i < names.length; i++) {
      const pair = metric[i]
      if (!Array.isArray(pair) || pair.length !== 2 || pair[0] !== names[i] || !Object.is(pair[1], values[i])) return false
    }
    return true
  }
  // Object.is, not !==: a label value is usually the very string cached, and SameValue
  // returns on equal references without reading the string, where a strict comparison first
  // loads its map to check its type. Of a gateway's 200,000 series those are 2 million
  // strings, mostly out of cache: this took about 20% off the check.
  let i = 0
  const record = metric as Readonly<Record<string, string>>
  for (const k in record) {
    if (k !== names[i] || !Object.is(record[k], values[i])) return false
    i++
  }
  return i === names.length
}

/** Splits a label set into names and values, checking that both are strings. */
function splitLabels (metric: Labels, index: number): [string[], string[]] {
  const names: string[] = []
  const values: string[] = []
  if (Array.isArray(metric)) {
    for (const pair of metric) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new ValidationError('label pairs must be [name, value]', { seriesIndex: index, field: 'metric' })
      }
      names.push(pair[0])
      values.push(pair[1])
    }
  } else {
    for (const k in metric) {
      names.push(k)
      values.push((metric as Record<string, string>)[k])
    }
  }
  for (let i = 0; i < names.length; i++) {
    if (typeof names[i] !== 'string' || typeof values[i] !== 'string') {
      const labels = Array.isArray(metric) ? undefined : metric as Record<string, string>
      throw new ValidationError(`label ${typeof names[i] !== 'string' ? 'name' : 'value'} must be a string`, {
        seriesIndex: index, labels, field: 'metric', label: String(names[i]),
      })
    }
  }
  return [names, values]
}

function stageValues (f64: Float64Array, at: number, values: Values, start: number, stop: number, item: Item, index: number): void {
  if (values instanceof Float64Array) {
    f64.set(start === 0 && stop === values.length ? values : values.subarray(start, stop), at)
    return
  }
  for (let i = start; i < stop; i++) {
    const v = values[i]
    if (typeof v !== 'number') throw invalid(item, index, 'values', 'must be a number', i)
    f64[at + i - start] = v
  }
}

function stageTimestamps (f64: Float64Array, at: number, ts: Timestamps, start: number, stop: number, item: Item, index: number): void {
  if (ts instanceof Float64Array) {
    f64.set(start === 0 && stop === ts.length ? ts : ts.subarray(start, stop), at)
    return
  }
  for (let i = start; i < stop; i++) {
    const t = ts[i]
    if (typeof t !== 'number') throw invalid(item, index, 'timestamps', 'must be a number', i)
    f64[at + i - start] = t
  }
}

function invalid (item: Item, index: number, field: ValidationField, reason: string, sampleIndex?: number): ValidationError {
  let labels: Record<string, string> | undefined
  if (item.series instanceof SeriesHandle) labels = item.series.labels
  else if (item.metric && !Array.isArray(item.metric)) labels = item.metric as Record<string, string>
  else if (Array.isArray(item.metric)) labels = Object.fromEntries(item.metric as Array<[string, string]>)
  return new ValidationError(reason, { seriesIndex: index, labels, field, sampleIndex })
}

