/**
 * What one decode may build, and the counting pass that checks it before anything is built.
 *
 * A snappy body expands up to about 21 times, and a protobuf record can be two bytes (`0a 00`,
 * an empty series) while the objects decoding it takes are a few hundred: unbounded, a 1.5 MB
 * body decoded into millions of records and ran the process out of memory. So before
 * decoding, countRecords() walks the body once, building nothing, and counts the records of
 * each kind the decoder would build (series, labels, samples, histograms, buckets, exemplars,
 * symbols) and estimates the bytes of the objects they become, and stops at the first limit
 * passed with a DecodeError naming it, the option that raises it and the count reached, so a
 * body over a limit costs at most one scan of its bytes and no objects. The limits, and why
 * their defaults let through every request a sender can fit in 32 MiB, are in DecodeLimits.
 */
import { DecodeError, InvalidArgumentError } from '../errors.js'
import { I64, LEN, Reader, VARINT } from './reader.js'

/**
 * Bounds on one decode() / decodeV2() call (Infinity lifts one). Every record is counted,
 * also one that a later record of the same kind overrides (a repeated label name). The
 * defaults admit what a 32 MiB request of realistic records holds: series of at least one
 * label and one sample with a real timestamp (17 bytes in 2.0 with the empty metadata
 * Prometheus always writes, so under 2 million), samples of at least 9 bytes (under 4
 * million), and so on; past them a request is made of records no sender writes (empty
 * series, samples without a timestamp). The defaults are for a 32 MiB decoded body; raise
 * them with it.
 */
export interface DecodeLimits {
  /** TimeSeries records. Default 2,000,000. */
  maxSeries?: number
  /** Label pairs of series and exemplars (2.0: labels_refs pairs). Default 16,000,000. */
  maxLabels?: number
  /** Sample records. Default 4,000,000. */
  maxSamples?: number
  /** Native histogram records. Default 2,000,000. */
  maxHistograms?: number
  /** Bucket spans, bucket deltas or counts and custom bounds, over all histograms. Default 32,000,000. */
  maxBuckets?: number
  /** Exemplar records. Default 2,000,000. */
  maxExemplars?: number
  /** 2.0 symbols. Default 8,000,000. */
  maxSymbols?: number
  /**
   * Bytes of label names and values the series and exemplars resolve to. In 2.0 a ref counts
   * its symbol's bytes each time: one long symbol referenced by every series is scanned once
   * per series by strict checks, hashes and writers, so a 50 KB body could ask for hours of
   * work. Default 256 MiB (a 32 MiB 1.0 body holds at most 32 MiB).
   */
  maxLabelBytes?: number
  /**
   * Estimated bytes of the objects the decode builds (items, label records, typed arrays,
   * histograms, exemplars, strings, and what the decoder holds while it works; the peak
   * RSS measured is up to 1.5 times it). Default 1 GiB: the densest request Prometheus can
   * write, 2.0 series of one label pair, one zero-valued sample and empty metadata (17
   * bytes each), is estimated at 1.05 GB for 32 MiB of protobuf.
   */
  maxObjectBytes?: number
  /**
   * Estimated object bytes per byte of the body as received (compressed; the protobuf's
   * own length for decodeWriteRequest() called on it), beyond the first 4 MiB, which any
   * body may take. Default 256: realistic requests take 2 to about 130 (labels and
   * timestamps compress up to 15 times and become 3 to 16 times their protobuf bytes; up
   * to about 220 for native histograms whose buckets are all alike), while empty records
   * take thousands. This keeps the work a body can cause proportional to its size.
   */
  maxExpansion?: number
}

/** Options of decode(). */
export interface DecodeOptions extends DecodeLimits {
  /** Return timestamps as a BigInt64Array (exact over the whole int64 range). Default false: numbers. */
  bigint?: boolean
  /**
   * Check what a strict receiver checks (protocol.md §1.3, §1.4, §2.4) and throw DecodeError
   * naming the series: label names valid, sorted and unique, no empty names or values,
   * `__name__` present and valid, timestamps non-decreasing, and every series carrying
   * something: in 1.0 samples, histograms or exemplars (Prometheus sends exemplars as series
   * of their own), in 2.0 samples or histograms but not both (Prometheus answers 400 to a
   * 2.0 series with neither). Default false.
   */
  strict?: boolean
  /** Filled with the numbers of native histograms and exemplars decoded. */
  counts?: { histograms: number, exemplars: number }
}

export const DECODE_LIMITS: Readonly<Required<DecodeLimits>> = {
  maxSeries: 2_000_000,
  maxLabels: 16_000_000,
  maxSamples: 4_000_000,
  maxHistograms: 2_000_000,
  maxBuckets: 32_000_000,
  maxExemplars: 2_000_000,
  maxSymbols: 8_000_000,
  maxLabelBytes: 256 << 20,
  maxObjectBytes: 1 << 30,
  maxExpansion: 256,
}

/** Every limit lifted: for bodies this process built itself (they bound untrusted ones). */
export const NO_LIMITS: Readonly<Required<DecodeLimits>> = Object.fromEntries(Object.keys(DECODE_LIMITS).map((k) => [k, Infinity])) as Required<DecodeLimits>

/** Object bytes any body may take, whatever its size. */
export const EXPANSION_FLOOR = 4 << 20

/**
 * Estimated heap bytes per record, measured on Node 20 (x64) and rounded up; strings are
 * charged 2 bytes per protobuf byte (an invalid UTF-8 byte becomes a two-byte U+FFFD).
 */
const COST = {
  /** The item, its metric record, values (Float64Array), timestamps (2.0: its place in the series list). */
  series: 384,
  /** A property of a metric or exemplar record (1.0 adds the strings; 2.0's are symbols). */
  label: 48,
  /** 8 bytes of values, 8 of timestamps, 16 (24 as it doubles) of raw bits while the series is read. */
  sample: 40,
  /** The NativeHistogram with its span and bucket arrays. */
  histogram: 288,
  /** A bucket delta, count or custom bound, with its array's spare room. */
  bucket: 16,
  /** Another 16 for each past the first BIG_ARRAY of a histogram: copies of a large array as it grows. */
  bigArray: 16,
  /** A BucketSpan object and its place in the array. */
  span: 64,
  /** The Exemplar and its labels record (2.0: and the refs held until the series ends). */
  exemplar: 192,
  /** The string and its places in the symbol tables. */
  symbol: 48,
  /** A 2.0 Metadata record. */
  metadata: 64,
} as const

/** Elements of one histogram's arrays past which growing them costs more than their elements. */
const BIG_ARRAY = 1 << 16

/** Records between two checks of the object bytes. */
const CHECK_EVERY = 4096

/**
 * A DecodeError for a limit: `limit` names the option, `count` is the count reached (for
 * maxObjectBytes and maxExpansion the estimated object bytes) and `max` the limit (for
 * maxExpansion the object bytes it allowed this body).
 */
export type DecodeLimitError = DecodeError & { readonly limit: keyof DecodeLimits, readonly count: number, readonly max: number }

function mb (n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} bytes`
}

/**
 * The records of one body, counted as countRecords() reads it, each count checked against
 * its limit as it grows and the object bytes every CHECK_EVERY records: the first limit
 * passed stops the count with a DecodeLimitError.
 */
export class RecordCounts {
  series = 0
  labels = 0
  samples = 0
  histograms = 0
  /** Bucket deltas, counts and custom bounds. */
  buckets = 0
  spans = 0
  /** Bucket values of histograms past their first BIG_ARRAY. */
  bigArrays = 0
  exemplars = 0
  symbols = 0
  metadata = 0
  /** Protobuf bytes of label names, values and symbols (their strings). */
  stringBytes = 0
  #ticks = 0
  readonly #max: Required<DecodeLimits>
  /** The object bytes allowed: maxObjectBytes, or less for a small body (maxExpansion). */
  readonly #allowed: number
  /** The limits in force, for the decoder's own checks (maxLabelBytes in 2.0). */
  get max (): Readonly<Required<DecodeLimits>> {
    return this.#max
  }

  /** `reader`: where the count is, for messages. */
  constructor (options: DecodeLimits, readonly inputBytes: number, private readonly reader: Reader) {
    const max = { ...DECODE_LIMITS }
    for (const key of Object.keys(DECODE_LIMITS) as Array<keyof DecodeLimits>) {
      const v = options[key]
      if (v !== undefined) {
        if (typeof v !== 'number' || !(v >= 0)) throw new InvalidArgumentError(`invalid ${key}: must be a number >= 0, or Infinity (got ${String(v)})`)
        max[key] = v
      }
    }
    this.#max = max
    this.#allowed = Math.min(max.maxObjectBytes, Math.max(EXPANSION_FLOOR, max.maxExpansion * inputBytes))
  }

  /** Estimated bytes of the objects decoding the records counted so far builds. */
  objectBytes (): number {
    return this.series * COST.series + this.labels * COST.label + this.samples * COST.sample +
      this.histograms * COST.histogram + this.buckets * COST.bucket + this.spans * COST.span +
      this.bigArrays * COST.bigArray + this.exemplars * COST.exemplar + this.symbols * COST.symbol +
      this.metadata * COST.metadata + 2 * this.stringBytes
  }

  addSeries (): void {
    if (++this.series > this.#max.maxSeries) this.#over(this.series, 'maxSeries', 'series')
    this.#tick()
  }

  addLabels (n: number, bytes: number): void {
    this.labels += n
    this.stringBytes += bytes
    if (this.labels > this.#max.maxLabels) this.#over(this.labels, 'maxLabels', 'labels')
    // 1.0: a label's bytes are its own (2.0 refs are charged as the decoder resolves them).
    if (bytes > 0 && this.stringBytes > this.#max.maxLabelBytes) this.#over(this.stringBytes, 'maxLabelBytes', 'bytes of labels')
    this.#tick()
  }

  addSample (): void {
    if (++this.samples > this.#max.maxSamples) this.#over(this.samples, 'maxSamples', 'samples')
    this.#tick()
  }

  addHistogram (): void {
    if (++this.histograms > this.#max.maxHistograms) this.#over(this.histograms, 'maxHistograms', 'native histograms')
    this.#tick()
  }

  /** `inHistogram`: the histogram's bucket values so far, these included. */
  addBuckets (values: number, spans: number, inHistogram: number): void {
    this.buckets += values
    this.spans += spans
    if (inHistogram > BIG_ARRAY) this.bigArrays += Math.min(values, inHistogram - BIG_ARRAY)
    if (this.buckets + this.spans > this.#max.maxBuckets) this.#over(this.buckets + this.spans, 'maxBuckets', 'histogram buckets and spans')
    this.#tick()
  }

  addExemplar (): void {
    if (++this.exemplars > this.#max.maxExemplars) this.#over(this.exemplars, 'maxExemplars', 'exemplars')
    this.#tick()
  }

  addSymbol (bytes: number): void {
    this.stringBytes += bytes
    if (++this.symbols > this.#max.maxSymbols) this.#over(this.symbols, 'maxSymbols', 'symbols')
    this.#tick()
  }

  addMetadata (): void {
    this.metadata++
    this.#tick()
  }

  /** Checks the object bytes (countRecords() calls it at the end too). */
  checkBytes (): void {
    const bytes = this.objectBytes()
    if (bytes <= this.#allowed) return
    const where = this.#where()
    if (this.#allowed === this.#max.maxObjectBytes) {
      throw limitError(`the request would decode into more than ${mb(this.#allowed)} of objects: about ${mb(bytes)} ${where} (raise the maxObjectBytes decode option)`, 'maxObjectBytes', bytes, this.#allowed)
    }
    throw limitError(`the request would decode into more than ${mb(this.#allowed)} of objects, ${this.#max.maxExpansion} times its ${mb(this.inputBytes)} body: about ${mb(bytes)} ${where} (raise the maxExpansion decode option)`, 'maxExpansion', bytes, this.#allowed)
  }

  #tick (): void {
    if (++this.#ticks % CHECK_EVERY === 0) this.checkBytes()
  }

  #where (): string {
    const { pos, buf } = this.reader
    return pos >= buf.length ? `in its ${mb(buf.length)} of protobuf` : `in its first ${mb(pos)} of ${mb(buf.length)} of protobuf`
  }

  #over (count: number, option: keyof DecodeLimits, what: string): never {
    const max = this.#max[option]
    throw limitError(`the request has more than ${max} ${what}: ${count} ${this.#where()} (raise the ${option} decode option)`, option, count, max)
  }
}

export function limitError (message: string, limit: keyof DecodeLimits, count: number, max: number): DecodeLimitError {
  return Object.assign(new DecodeError(message), { limit, count, max })
}

/**
 * Counts the records decoding `buf` would build, reading only tags and lengths, and throws a
 * DecodeLimitError as soon as they pass a limit of `options`; `v2` for an
 * io.prometheus.write.v2.Request, `inputBytes` the size of the body as received. Also throws
 * DecodeError on a structure the decoder would refuse too (a length past its message's end,
 * a bad wire type).
 */
export function countRecords (buf: Uint8Array, v2: boolean, options: DecodeLimits, inputBytes: number): RecordCounts {
  const r = new Reader(buf)
  const c = new RecordCounts(options, inputBytes, r)
  const top = r.end
  const seriesTag = v2 ? ((5 << 3) | LEN) : ((1 << 3) | LEN)
  while (r.pos < top) {
    const tag = r.uint32()
    if (tag === seriesTag) {
      const end = r.delimited()
      c.addSeries()
      r.end = end
      if (v2) seriesV2(r, c)
      else seriesV1(r, c)
      r.end = top
    } else if (v2 && tag === ((4 << 3) | LEN)) {
      const end = r.delimited()
      c.addSymbol(end - r.pos)
      r.pos = end
    } else {
      r.skip(tag & 7)
    }
  }
  c.checkBytes()
  return c
}

/** A 1.0 TimeSeries (r.end is its end), as decodeTimeSeries() reads it. */
function seriesV1 (r: Reader, c: RecordCounts): void {
  const end = r.end
  while (r.pos < end) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | LEN)) {
      label(r, c)
    } else if (tag === ((2 << 3) | LEN)) {
      r.pos = r.delimited()
      c.addSample()
    } else if (tag === ((3 << 3) | LEN)) {
      r.end = r.delimited()
      c.addExemplar()
      while (r.pos < r.end) {
        const t = r.uint32()
        if (t === ((1 << 3) | LEN)) label(r, c)
        else r.skip(t & 7)
      }
      r.end = end
    } else if (tag === ((4 << 3) | LEN)) {
      r.end = r.delimited()
      histogram(r, c)
      r.end = end
    } else {
      r.skip(tag & 7)
    }
  }
}

/** A 1.0 Label: a record property and its two strings. */
function label (r: Reader, c: RecordCounts): void {
  const end = r.delimited()
  c.addLabels(1, end - r.pos)
  r.pos = end
}

/** A 2.0 TimeSeries (r.end is its end), as decodeV2Request() reads it. */
function seriesV2 (r: Reader, c: RecordCounts): void {
  const end = r.end
  let refs = 0
  while (r.pos < end) {
    const tag = r.uint32()
    const field = tag >>> 3
    const wire = tag & 7
    if (field === 1 && (wire === LEN || wire === VARINT)) {
      // Held as numbers until the series ends: counted as they come, in pairs.
      const n = r.countRepeated(wire, VARINT)
      c.addLabels(((refs + n + 1) >>> 1) - ((refs + 1) >>> 1), 0)
      refs += n
    } else if (field === 2 && wire === LEN) {
      r.pos = r.delimited()
      c.addSample()
    } else if (field === 3 && wire === LEN) {
      r.end = r.delimited()
      histogram(r, c)
      r.end = end
    } else if (field === 4 && wire === LEN) {
      r.end = r.delimited()
      c.addExemplar()
      let xrefs = 0
      while (r.pos < r.end) {
        const t = r.uint32()
        if (t >>> 3 === 1) {
          const n = r.countRepeated(t & 7, VARINT)
          c.addLabels(((xrefs + n + 1) >>> 1) - ((xrefs + 1) >>> 1), 0)
          xrefs += n
        } else {
          r.skip(t & 7)
        }
      }
      r.end = end
    } else if (field === 5 && wire === LEN) {
      r.pos = r.delimited()
      c.addMetadata()
    } else {
      r.skip(wire)
    }
  }
}

/** A Histogram (r.end is its end), as decodeHistogram() reads it. */
function histogram (r: Reader, c: RecordCounts): void {
  c.addHistogram()
  const end = r.end
  let values = 0
  while (r.pos < end) {
    const tag = r.uint32()
    const field = tag >>> 3
    const wire = tag & 7
    if ((field === 8 || field === 11) && wire === LEN) {
      r.pos = r.delimited()
      c.addBuckets(0, 1, values)
    } else if (field === 9 || field === 10 || field === 12 || field === 13 || field === 16) {
      const n = r.countRepeated(wire, field === 9 || field === 12 ? VARINT : I64)
      values += n
      c.addBuckets(n, 0, values)
    } else {
      r.skip(wire)
    }
  }
}
