/**
 * The codec layer's public face: `Codec` validates items and encodes them into a
 * snappy-compressed Remote Write 1.0 or 2.0 request inside WebAssembly linear memory, and
 * decodes requests.
 *
 * Data path per item: label strings are written once into linear memory and turned into a
 * pre-encoded label block by the core (label-cache.ts keeps them); values and timestamps are
 * staged with one typed-array `set()` each (stage.ts); the core validates timestamps and
 * appends the series record to the request (builder.ts); at the end the core
 * snappy-compresses the body and JS reads it out as a view or a copy.
 *
 * The folder: encoder.ts (what one codec's requests share: the core, the cache, the options,
 * the request slots), builder.ts (one request), label-cache.ts, unicode.ts, stage.ts,
 * validate.ts, sizes.ts (size bounds for callers that cut requests), histogram.ts, the
 * decoder (decode.ts, decode-v2.ts, decode-parts.ts, reader.ts, and decode-limits.ts, which
 * bounds a decode before it starts), stale.ts, snappy.ts. Only this folder talks to the core
 * (../core/wasm.ts).
 */
import { InvalidArgumentError } from '../errors.js'
import type { DecodedItem, Item, Labels } from '../types.js'
import { loadCore } from '../core/wasm.js'
import { RequestBuilder } from './builder.js'
import { decodeV2Request, decodeWriteRequest } from './decode.js'
import type { DecodeOptions, DecodedV2 } from './decode.js'
import { Encoder } from './encoder.js'
import type { CodecOptions } from './encoder.js'
import type { CodecStats, SeriesHandle } from './label-cache.js'
import { checkShape, checkV2Exemplars, hasHistograms, isSingle } from './validate.js'

export type { CodecOptions } from './encoder.js'
export type { CodecStats } from './label-cache.js'
export { SeriesHandle } from './label-cache.js'

/** Copies up to 1/8 of this share one ArrayBuffer (see Codec#copyBuffer). */
const SLAB_BYTES = 1 << 20

/** Compiles the WebAssembly core once per process (createCodec() and RemoteWriter.init() call it). */
export async function compileCore (): Promise<void> {
  await loadCore()
}

/** Loads the WebAssembly core (compiled once per process) and returns a new codec. */
export async function createCodec (options: CodecOptions = {}): Promise<Codec> {
  await loadCore()
  return new Codec(options)
}

/** Encoder and decoder for Remote Write 1.0 and 2.0 requests. Not safe to share across threads. */
export class Codec {
  readonly #enc: Encoder
  /** The request encode() and the incremental methods build, in slot 0. */
  readonly #req: RequestBuilder
  #slab = new ArrayBuffer(0)
  #slabPos = SLAB_BYTES

  /** Use createCodec(); this constructor needs the module compiled already. */
  constructor (options: CodecOptions = {}) {
    this.#enc = new Encoder(options)
    this.#req = new RequestBuilder(this.#enc, false, 0)
  }

  /**
   * Encodes `items` into one snappy-compressed WriteRequest and returns a **copy** of the
   * body, safe to keep and to send. Throws ValidationError (naming the series and field)
   * before returning anything if an item is invalid; the codec stays usable.
   */
  encode (items: readonly Item[]): Uint8Array {
    this.#build(items, false)
    return this.finish(true)
  }

  /**
   * Like encode(), but returns a **view into linear memory**: no copy, valid only until the
   * next call on this codec. Use it when the bytes are consumed synchronously.
   */
  encodeView (items: readonly Item[]): Uint8Array {
    this.#build(items, false)
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
    this.#build(items, true)
    return this.finish(true)
  }

  /** encodeV2() without compression (a copy), for debugging and tests. */
  encodeV2Protobuf (items: readonly Item[]): Uint8Array {
    this.#build(items, true)
    return this.#protobuf()
  }

  /** Encodes `items` into an uncompressed WriteRequest protobuf (a copy), for debugging and tests. */
  encodeProtobuf (items: readonly Item[]): Uint8Array {
    this.#build(items, false)
    return this.#protobuf()
  }

  /**
   * Decodes a snappy-compressed WriteRequest into items: labels as on the wire, values as a
   * Float64Array (bit-exact, stale markers included), timestamps as numbers (or a
   * BigInt64Array with `{ bigint: true }`), native histograms and exemplars in the shape
   * encode() takes. Throws SnappyError or DecodeError; a body past a limit of `options`
   * (DecodeLimits: records of each kind, object bytes, object bytes per body byte) is refused
   * with a DecodeError naming the limit before any object is built.
   */
  decode (body: Uint8Array, options?: DecodeOptions): DecodedItem[] {
    return decodeWriteRequest(this.#enc.core.decompressView(body, this.#enc.maxDecoded), options, body.length)
  }

  /**
   * Decodes a snappy-compressed Remote Write 2.0 request: items with labels and metadata
   * resolved through the symbols table, native histograms and exemplars in the shape encode()
   * takes, and how many of each. Throws SnappyError or DecodeError, bounded as decode() is.
   */
  decodeV2 (body: Uint8Array, options?: DecodeOptions): DecodedV2 {
    return decodeV2Request(this.#enc.core.decompressView(body, this.#enc.maxDecoded), options, body.length)
  }

  /** Decompresses a snappy block (a copy). Throws SnappyError. */
  decompress (body: Uint8Array): Uint8Array {
    return this.#enc.core.decompressView(body, this.#enc.maxDecoded).slice()
  }

  /**
   * Validates and pre-encodes a label set, and returns a handle to pass as `item.series`.
   * The handle holds a frozen copy of the labels; re-encoding after a cache reset is
   * automatic. Throws ValidationError (seriesIndex -1) for an invalid label set.
   */
  series (labels: Labels): SeriesHandle {
    return this.#enc.series(labels)
  }

  /** Cache counters. */
  stats (): CodecStats {
    return this.#enc.stats()
  }

  // ---- incremental building ------------------------------------------------------------

  /** Starts a new request, discarding anything appended since the last finish(). */
  begin (): void {
    try {
      this.#req.reset(false)
    } catch (err) {
      throw this.#enc.recover(err)
    }
  }

  /**
   * Appends samples [start, end) of `item` to the request being built, as one TimeSeries.
   * `index` names the item in errors. Throws ValidationError and appends nothing when the
   * item is invalid.
   */
  append (item: Item, index: number, start = 0, end?: number): void {
    this.#enc.beginCall()
    try {
      this.#append(item, index, start, end)
    } catch (err) {
      throw this.#enc.recover(err)
    }
  }

  /** Bytes of uncompressed protobuf appended since begin(). */
  get size (): number {
    return this.#req.size
  }

  /** Series (TimeSeries records) appended since begin(). */
  get seriesCount (): number {
    return this.#req.seriesCount
  }

  /** Samples appended since begin(). */
  get sampleCount (): number {
    return this.#req.sampleCount
  }

  /**
   * Snappy-compresses the request built since begin(). With `copy` true (the default)
   * returns a fresh Uint8Array; with false a view into linear memory that is valid until the
   * next call on this codec.
   */
  finish (copy = true): Uint8Array {
    let view: Uint8Array
    try {
      view = this.#req.seal().body
    } catch (err) {
      throw this.#enc.recover(err)
    }
    if (!copy) return view
    const out = this.#copyBuffer(view.length)
    out.set(view)
    return out
  }

  // ---- internals -----------------------------------------------------------------------

  // Every public method that reaches the core ends in `recover(err)`: a trap inside it
  // replaces the core and comes out as a CoreTrapError. (A try/catch each, not a helper that
  // takes a closure: a closure per call cost W4's 2.0 encode 5-25% in worker threads.)

  #protobuf (): Uint8Array {
    try {
      return this.#req.protobuf()
    } catch (err) {
      throw this.#enc.recover(err)
    }
  }

  #append (item: Item, index: number, start: number, end: number | undefined): void {
    checkShape(item, index)
    const stop = end ?? item.values.length
    if (start < 0 || stop > item.values.length || start > stop) throw new InvalidArgumentError('invalid sample range')
    this.#req.append(item, index, undefined, start, stop)
  }

  /**
   * Builds one request of `items`. Runs of one-sample items (the Prometheus layout, IoT
   * gateways) go to the core in one addSingles() call: a 32-byte record each instead of a call
   * each. Any other item is one series record, plus (1.0) a record of its exemplars and its
   * family's metadata, or (2.0) with its exemplars and metadata riding along.
   */
  #build (items: readonly Item[], v2: boolean): void {
    if (!Array.isArray(items)) throw new InvalidArgumentError('items must be an array')
    const enc = this.#enc
    const req = this.#req
    try {
      enc.beginCall() // first: a cache reset it makes must come before the 2.0 request starts
      req.reset(v2)
      enc.clearExemplars()
      let run = 0
      for (let i = 0; i <= items.length; i++) {
        if (i < items.length && isSingle(items[i])) {
          run++
          continue
        }
        if (run > 0) req.appendSingles(items, i - run, run)
        run = 0
        if (i === items.length) break
        if (v2) this.#itemV2(items[i], i)
        else this.#itemV1(items[i], i)
      }
    } catch (err) {
      throw this.#enc.recover(err)
    }
  }

  #itemV1 (item: Item, index: number): void {
    const req = this.#req
    const withHistograms = hasHistograms(item)
    if (!withHistograms || (item?.values?.length ?? 0) > 0) this.#append(item, index, 0, undefined)
    if (withHistograms) {
      checkShape(item, index)
      req.appendHistograms(item, index, undefined)
    }
    if (item?.metadata !== undefined) req.appendMetadata(item, index)
    if (item?.exemplars !== undefined && item.exemplars.length > 0) req.appendExemplars(item, index, undefined)
  }

  /** A 2.0 series carries samples or histograms, never both: two records when both. */
  #itemV2 (item: Item, index: number): void {
    const req = this.#req
    checkShape(item, index)
    const entry = this.#enc.labels.resolve(item, index)
    const withHistograms = hasHistograms(item)
    const withSamples = !withHistograms || item.values.length > 0
    checkV2Exemplars(item, index)
    // The exemplars ride with the series' first record (2.0 has no exemplar-only series).
    this.#enc.stageExemplars(item, index)
    if (withSamples) req.append(item, index, entry)
    if (withHistograms) req.appendHistograms(item, index, undefined)
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
}
