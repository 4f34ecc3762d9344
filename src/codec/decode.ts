/**
 * Decoder for an uncompressed prometheus.WriteRequest (Remote Write 1.0), for the receiver
 * and for debugging. It accepts what protobuf decoders must: fields in any order, packed
 * and unpacked repeats, unknown fields (skipped by wire type). Native histograms and
 * exemplars come back in the shape the codec takes (NativeHistogram, Exemplar), so a decoded
 * request can be encoded again; 1.0 WriteRequest.metadata is skipped.
 *
 * Values are copied as raw bytes into a Float64Array, so NaN payloads (stale markers)
 * survive. int64 timestamps are read as two 32-bit halves, never through BigInt.
 */
import { DecodeError, ValidationError } from '../errors.js'
import { HINTS, checkHistograms } from './histogram.js'
import type { BucketSpan, NativeHistogram } from '../types.js'
import { setLabel } from '../labels.js'
import type { DecodedItem, Exemplar } from '../types.js'

/** Options of decode(). */
export interface DecodeOptions {
  /** Return timestamps as a BigInt64Array (exact over the whole int64 range). Default false: numbers. */
  bigint?: boolean
  /**
   * Check what a strict receiver checks (protocol.md §1.3, §1.4) and throw DecodeError
   * naming the series: label names valid, sorted and unique, no empty names or values,
   * `__name__` present and valid, timestamps non-decreasing. Default false.
   */
  strict?: boolean
  /** Filled with the numbers of native histograms and exemplars decoded. */
  counts?: { histograms: number, exemplars: number }
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/


/** Wire types. */
const VARINT = 0
const I64 = 1
const LEN = 2
const I32 = 5

/** A cursor over protobuf bytes. */
class Reader {
  pos = 0
  /** High 32 bits of the last varint64() read. */
  hi = 0
  /** End of the message being read; narrowed while a nested message is read. */
  end: number
  constructor (readonly buf: Uint8Array, start: number, end: number) {
    this.pos = start
    this.end = end
  }

  /** Reads a varint of at most 32 significant bits (tags, lengths). */
  uint32 (): number {
    let result = 0
    let shift = 0
    const buf = this.buf
    while (shift < 35) {
      if (this.pos >= this.end) throw new DecodeError('unexpected end of input')
      const b = buf[this.pos++]
      result |= (b & 0x7f) << shift
      if (b < 0x80) return result >>> 0
      shift += 7
    }
    // A 10-byte encoding (a negative int32): the upper bytes carry nothing we keep.
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) throw new DecodeError('unexpected end of input')
      if (buf[this.pos++] < 0x80) return result >>> 0
    }
    throw new DecodeError('varint longer than 10 bytes')
  }

  /** Reads a varint of up to 64 bits: returns the low 32 bits and leaves the high in `hi`. */
  varint64 (): number {
    let lo = 0
    let hi = 0
    const buf = this.buf
    let b = 0
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.pos >= this.end) throw new DecodeError('unexpected end of input')
      b = buf[this.pos++]
      lo |= (b & 0x7f) << shift
      if (b < 0x80) {
        this.hi = 0
        return lo >>> 0
      }
    }
    if (this.pos >= this.end) throw new DecodeError('unexpected end of input')
    b = buf[this.pos++]
    lo |= (b & 0x0f) << 28
    hi = (b & 0x7f) >> 4
    if (b >= 0x80) {
      for (let shift = 3; shift < 64; shift += 7) {
        if (this.pos >= this.end) throw new DecodeError('unexpected end of input')
        b = buf[this.pos++]
        if (shift < 32) hi |= (b & 0x7f) << shift
        if (b < 0x80) break
        if (shift >= 31) throw new DecodeError('varint longer than 10 bytes')
      }
    }
    this.hi = hi >>> 0
    return lo >>> 0
  }

  /** Reads a little-endian double (wire type I64). */
  double (): number {
    if (this.pos + 8 > this.end) throw new DecodeError('unexpected end of input')
    const v = view.getFloat64(this.pos, true)
    this.pos += 8
    return v
  }

  /** Reads an int64 varint as a number (exact within ±2^53). */
  int64 (): number {
    const lo = this.varint64()
    return (this.hi | 0) * 4294967296 + lo
  }

  /** Reads a uint64 varint as a number (exact below 2^53). */
  uint64 (): number {
    const lo = this.varint64()
    return this.hi * 4294967296 + lo
  }

  /** Reads a zigzag sint64 varint as a number (exact within ±2^53). */
  sint64 (): number {
    const lo = this.varint64()
    const hi = this.hi
    const neg = lo & 1
    let l = ((lo >>> 1) | (hi << 31)) >>> 0
    let h = hi >>> 1
    if (neg !== 0) {
      l = ~l >>> 0
      h = ~h
    }
    return (h | 0) * 4294967296 + l
  }

  /** Reads a zigzag sint32 varint. */
  sint32 (): number {
    const z = this.uint32()
    return (z >>> 1) ^ -(z & 1)
  }

  /** Returns the end of a length-delimited field that starts here, checking it fits. */
  delimited (): number {
    const len = this.uint32()
    const end = this.pos + len
    if (end > this.end) throw new DecodeError('length past end of message')
    return end
  }

  skip (wire: number): void {
    switch (wire) {
      case VARINT: this.varint64(); break
      case I64: this.pos += 8; break
      case LEN: this.pos = this.delimited(); break
      case I32: this.pos += 4; break
      default: throw new DecodeError(`wrong wire type ${wire}`)
    }
    if (this.pos > this.end) throw new DecodeError('unexpected end of input')
  }
}

/** Histograms and exemplars decoded by the current decodeWriteRequest() call. */
const seen = { histograms: 0, exemplars: 0 }

/** Decodes an uncompressed WriteRequest. Throws DecodeError on malformed input. */
export function decodeWriteRequest (buf: Uint8Array, options: DecodeOptions = {}): DecodedItem[] {
  const r = new Reader(buf, 0, buf.length)
  text = Buffer.from(buf.buffer, buf.byteOffset, buf.length)
  view = new DataView(buf.buffer, buf.byteOffset, buf.length)
  seen.histograms = 0
  seen.exemplars = 0
  const items: DecodedItem[] = []
  while (r.pos < r.end) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | LEN)) {
      const end = r.delimited()
      r.end = end
      const item = decodeTimeSeries(r, options.bigint === true, options.strict === true)
      r.end = buf.length
      if (options.strict === true) checkSeries(item, items.length)
      items.push(item)
      r.pos = end
    } else {
      r.skip(tag & 7)
    }
  }
  if (options.counts !== undefined) {
    options.counts.histograms = seen.histograms
    options.counts.exemplars = seen.exemplars
  }
  return items
}

/** Raw sample bits of the series being decoded (value lo/hi, timestamp lo/hi), reused. */
let scratch = new Uint32Array(4096)

function decodeTimeSeries (r: Reader, bigint: boolean, strict: boolean): DecodedItem {
  const metric: Record<string, string> = {}
  /** Strict mode: the previous label name's byte range, for the order check. */
  let prevStart = -1
  let prevEnd = -1
  let bits = scratch
  let n = 0
  let histograms: NativeHistogram[] | undefined
  let exemplars: Exemplar[] | undefined
  const outer = r.end
  while (r.pos < outer) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | LEN)) {
      const end = r.delimited()
      r.end = end
      decodeLabel(r, metric)
      r.end = outer
      // Strictly increasing names: sorted, and no name twice.
      if (strict && prevStart >= 0 && compareRanges(r.buf, prevStart, prevEnd, nameStart, nameEnd) >= 0) {
        throw new DecodeError(`series ${describe(metric)}: labels not sorted or duplicate name ${JSON.stringify(text.toString('utf8', nameStart, nameEnd))}`)
      }
      prevStart = nameStart
      prevEnd = nameEnd
      r.pos = end
    } else if (tag === ((4 << 3) | LEN)) {
      const end = r.delimited()
      r.end = end
      ;(histograms ??= []).push(decodeHistogram(r, false))
      r.end = outer
      seen.histograms++
    } else if (tag === ((3 << 3) | LEN)) {
      const end = r.delimited()
      r.end = end
      ;(exemplars ??= []).push(decodeExemplarV1(r))
      r.end = outer
      seen.exemplars++
    } else if (tag === ((2 << 3) | LEN)) {
      const end = r.delimited()
      if ((n + 1) * 4 > bits.length) {
        const grown = new Uint32Array(bits.length * 2)
        grown.set(bits)
        bits = scratch = grown
      }
      r.end = end
      decodeSample(r, bits, n * 4)
      r.end = outer
      n++
      r.pos = end
    } else {
      r.skip(tag & 7)
    }
  }
  const item: DecodedItem = { metric, ...samplesFrom(bits, n, bigint) }
  if (histograms !== undefined) item.histograms = histograms
  if (exemplars !== undefined) item.exemplars = exemplars
  return item
}

/**
 * Reads a Histogram message (r.end is its end). A histogram is a float one when its count
 * or zero count is the double variant of the oneof, or it carries absolute bucket counts.
 */
function decodeHistogram (r: Reader, v2: boolean): NativeHistogram {
  let float = false
  let count = 0
  let zeroCount = 0
  let sum = 0
  let schema = 0
  let zeroThreshold = 0
  let timestamp = 0
  let startTimestamp = 0
  let hint = 0
  const negativeSpans: BucketSpan[] = []
  const positiveSpans: BucketSpan[] = []
  const negDeltas: number[] = []
  const posDeltas: number[] = []
  const negCounts: number[] = []
  const posCounts: number[] = []
  const customValues: number[] = []
  const end = r.end
  while (r.pos < end) {
    const tag = r.uint32()
    const field = tag >>> 3
    const wire = tag & 7
    if (field === 1 && wire === VARINT) count = r.uint64()
    else if (field === 2 && wire === I64) { float = true; count = r.double() }
    else if (field === 3 && wire === I64) sum = r.double()
    else if (field === 4 && wire === VARINT) schema = r.sint32()
    else if (field === 5 && wire === I64) zeroThreshold = r.double()
    else if (field === 6 && wire === VARINT) zeroCount = r.uint64()
    else if (field === 7 && wire === I64) { float = true; zeroCount = r.double() }
    else if ((field === 8 || field === 11) && wire === LEN) {
      const e = r.delimited()
      r.end = e
      let offset = 0
      let length = 0
      while (r.pos < e) {
        const t = r.uint32()
        if (t === ((1 << 3) | VARINT)) offset = r.sint32()
        else if (t === ((2 << 3) | VARINT)) length = r.uint32()
        else r.skip(t & 7)
      }
      r.end = end
      ;(field === 8 ? negativeSpans : positiveSpans).push({ offset, length })
    } else if (field === 9 || field === 12) {
      readRepeated(r, wire, VARINT, field === 9 ? negDeltas : posDeltas, () => r.sint64(), end)
    } else if (field === 10 || field === 13 || field === 16) {
      readRepeated(r, wire, I64, field === 10 ? negCounts : field === 13 ? posCounts : customValues, () => r.double(), end)
    } else if (field === 14 && wire === VARINT) hint = r.uint32()
    else if (field === 15 && wire === VARINT) timestamp = r.int64()
    else if (field === 17 && wire === VARINT && v2) startTimestamp = r.int64()
    else r.skip(wire)
  }
  if (negCounts.length + posCounts.length > 0) float = true
  const h: NativeHistogram = {
    timestamp,
    count,
    sum,
    schema,
    zeroThreshold,
    zeroCount,
    negativeSpans,
    negativeBuckets: float ? negCounts : negDeltas,
    positiveSpans,
    positiveBuckets: float ? posCounts : posDeltas,
    float,
    resetHint: HINTS[hint] ?? 'unknown',
  }
  if (customValues.length > 0) h.customValues = customValues
  if (startTimestamp !== 0) h.startTimestamp = startTimestamp
  return h
}

/** Reads a packed (LEN) or unpacked (`single` wire type) repeated scalar into `out`. */
function readRepeated (r: Reader, wire: number, single: number, out: number[], read: () => number, end: number): void {
  if (wire === single) {
    out.push(read())
    return
  }
  if (wire !== LEN) {
    r.skip(wire)
    return
  }
  const e = r.delimited()
  r.end = e
  while (r.pos < e) out.push(read())
  r.end = end
}

/** Reads a 1.0 Exemplar (labels as Label messages). */
function decodeExemplarV1 (r: Reader): Exemplar {
  const labels: Record<string, string> = {}
  let value = 0
  let timestamp = 0
  const end = r.end
  while (r.pos < end) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | LEN)) {
      const e = r.delimited()
      r.end = e
      decodeLabel(r, labels)
      r.end = end
      r.pos = e
    } else if (tag === ((2 << 3) | I64)) value = r.double()
    else if (tag === ((3 << 3) | VARINT)) timestamp = r.int64()
    else r.skip(tag & 7)
  }
  return { labels, value, timestamp }
}

/** Values (bit-exact) and timestamps from the raw sample bits decodeSample() collected. */
function samplesFrom (bits: Uint32Array, n: number, bigint: boolean): { values: Float64Array, timestamps: number[] | BigInt64Array } {
  const values = new Float64Array(n)
  const vbits = new Uint32Array(values.buffer)
  let timestamps: number[] | BigInt64Array
  if (bigint) {
    const ts = new BigInt64Array(n)
    const tbits = new Uint32Array(ts.buffer)
    for (let i = 0; i < n; i++) {
      tbits[2 * i] = bits[4 * i + 2]
      tbits[2 * i + 1] = bits[4 * i + 3]
    }
    timestamps = ts
  } else {
    timestamps = new Array<number>(n)
    for (let i = 0; i < n; i++) timestamps[i] = (bits[4 * i + 3] | 0) * 4294967296 + bits[4 * i + 2]
  }
  for (let i = 0; i < n; i++) {
    vbits[2 * i] = bits[4 * i]
    vbits[2 * i + 1] = bits[4 * i + 1]
  }
  return { values, timestamps }
}

/** Metadata.type names by number (io.prometheus.write.v2.Metadata.MetricType). */
const METRIC_TYPES = ['unknown', 'counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset'] as const

/** What decodeV2Request() returns besides the series. */
export interface DecodedV2 {
  items: DecodedItem[]
  /** Native histograms and exemplars decoded, for written-count answers. */
  histograms: number
  exemplars: number
}

/**
 * Decodes an uncompressed io.prometheus.write.v2.Request: labels and metadata resolved
 * through the symbols table. With `strict`, also checks what a 2.0 receiver must: symbols[0]
 * is "", refs in range and in pairs, labels sorted and unique, `__name__` present, timestamps
 * non-decreasing, a series with samples or histograms but not both.
 */
export function decodeV2Request (buf: Uint8Array, options: DecodeOptions = {}): DecodedV2 {
  const r = new Reader(buf, 0, buf.length)
  text = Buffer.from(buf.buffer, buf.byteOffset, buf.length)
  view = new DataView(buf.buffer, buf.byteOffset, buf.length)
  const strict = options.strict === true
  // Pass 1: the symbols (field 4), wherever they are, and where the series are.
  const symbols: string[] = []
  const symStart: number[] = []
  const symEnd: number[] = []
  const series: number[] = []
  while (r.pos < r.end) {
    const tag = r.uint32()
    if (tag === ((4 << 3) | LEN)) {
      const end = r.delimited()
      symbols.push(text.toString('utf8', r.pos, end))
      symStart.push(r.pos)
      symEnd.push(end)
      r.pos = end
    } else if (tag === ((5 << 3) | LEN)) {
      const end = r.delimited()
      series.push(r.pos, end)
      r.pos = end
    } else {
      r.skip(tag & 7)
    }
  }
  if (strict && series.length > 0 && symbols[0] !== '') throw new DecodeError('symbols[0] must be the empty string')
  if (strict && new Set(symbols).size !== symbols.length) throw new DecodeError('the symbols table repeats a string')
  const sym = (ref: number): string => {
    if (ref >= symbols.length) throw new DecodeError(`symbol reference ${ref} out of range (${symbols.length} symbols)`)
    return symbols[ref]
  }
  const out: DecodedV2 = { items: [], histograms: 0, exemplars: 0 }
  const refs: number[] = []
  for (let k = 0; k < series.length; k += 2) {
    r.pos = series[k]
    r.end = series[k + 1]
    refs.length = 0
    let bits = scratch
    let n = 0
    let metadata: DecodedItem['metadata']
    let histograms: NativeHistogram[] | undefined
    let exemplars: Array<{ refs: number[], value: number, timestamp: number }> | undefined
    while (r.pos < r.end) {
      const tag = r.uint32()
      const field = tag >>> 3
      if (field === 1 && (tag & 7) === LEN) {
        const end = r.delimited()
        const outer = r.end
        r.end = end
        while (r.pos < end) refs.push(r.uint32())
        r.end = outer
      } else if (field === 1 && (tag & 7) === VARINT) {
        refs.push(r.uint32())
      } else if (field === 2 && (tag & 7) === LEN) {
        const end = r.delimited()
        if ((n + 1) * 4 > bits.length) {
          const grown = new Uint32Array(bits.length * 2)
          grown.set(bits)
          bits = scratch = grown
        }
        const outer = r.end
        r.end = end
        decodeSample(r, bits, n * 4)
        r.end = outer
        n++
        r.pos = end
      } else if (field === 3 && (tag & 7) === LEN) {
        const end = r.delimited()
        const outer = r.end
        r.end = end
        ;(histograms ??= []).push(decodeHistogram(r, true))
        r.end = outer
        out.histograms++
      } else if (field === 4 && (tag & 7) === LEN) {
        const end = r.delimited()
        const outer = r.end
        r.end = end
        const x = { refs: [] as number[], value: 0, timestamp: 0 }
        while (r.pos < end) {
          const t = r.uint32()
          if (t >>> 3 === 1) readRepeated(r, t & 7, VARINT, x.refs, () => r.uint32(), end)
          else if (t === ((2 << 3) | I64)) x.value = r.double()
          else if (t === ((3 << 3) | VARINT)) x.timestamp = r.int64()
          else r.skip(t & 7)
        }
        r.end = outer
        ;(exemplars ??= []).push(x)
        out.exemplars++
      } else if (field === 5 && (tag & 7) === LEN) {
        const end = r.delimited()
        const outer = r.end
        r.end = end
        let type = 0
        let help = 0
        let unit = 0
        while (r.pos < end) {
          const t = r.uint32()
          if (t === ((1 << 3) | VARINT)) type = r.uint32()
          else if (t === ((3 << 3) | VARINT)) help = r.uint32()
          else if (t === ((4 << 3) | VARINT)) unit = r.uint32()
          else r.skip(t & 7)
        }
        r.end = outer
        if (type !== 0 || help !== 0 || unit !== 0) {
          metadata = { type: METRIC_TYPES[type] ?? 'unknown', help: sym(help), unit: sym(unit) }
        }
      } else {
        r.skip(tag & 7)
      }
    }
    if (refs.length % 2 !== 0) throw new DecodeError(`series ${out.items.length}: labels_refs has an odd length`)
    const metric: Record<string, string> = {}
    for (let i = 0; i < refs.length; i += 2) {
      const name = sym(refs[i])
      if (strict && i > 0 && compareRanges(buf, symStart[refs[i - 2]], symEnd[refs[i - 2]], symStart[refs[i]], symEnd[refs[i]]) >= 0) {
        throw new DecodeError(`series ${describe(metric)}: labels not sorted or duplicate name ${JSON.stringify(name)}`)
      }
      setLabel(metric, name, sym(refs[i + 1]))
    }
    const item: DecodedItem = { metric, ...samplesFrom(bits, n, options.bigint === true) }
    if (metadata !== undefined) item.metadata = metadata
    if (histograms !== undefined) item.histograms = histograms
    if (exemplars !== undefined) {
      item.exemplars = exemplars.map(({ refs, value, timestamp }) => {
        if (refs.length % 2 !== 0) throw new DecodeError(`series ${out.items.length}: an exemplar's labels_refs has an odd length`)
        const labels: Record<string, string> = {}
        for (let i = 0; i < refs.length; i += 2) setLabel(labels, sym(refs[i]), sym(refs[i + 1]))
        return { labels, value, timestamp }
      })
    }
    if (strict) {
      if (n > 0 && histograms !== undefined) throw new DecodeError(`series ${out.items.length} ${describe(metric)}: carries both samples and histograms`)
      checkSeries(item, out.items.length)
    }
    out.items.push(item)
  }
  return out
}

/** The body being decoded, as a Buffer over the same bytes (Buffer#toString beats TextDecoder on short strings). */
let text: Buffer = Buffer.alloc(0)
/** The same bytes, for doubles. */
let view: DataView = new DataView(new ArrayBuffer(0) as ArrayBufferLike)
/** Where the last decodeLabel() found the name. */
let nameStart = 0
let nameEnd = 0

/** Decodes a Label into `metric`; the name's byte range is left in nameStart/nameEnd. */
function decodeLabel (r: Reader, metric: Record<string, string>): void {
  nameStart = nameEnd = 0
  let value = ''
  while (r.pos < r.end) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | LEN)) {
      const end = r.delimited()
      nameStart = r.pos
      nameEnd = end
      r.pos = end
    } else if (tag === ((2 << 3) | LEN)) {
      const end = r.delimited()
      value = text.toString('utf8', r.pos, end)
      r.pos = end
    } else {
      r.skip(tag & 7)
    }
  }
  setLabel(metric, text.toString('utf8', nameStart, nameEnd), value)
}

/** Byte-wise comparison of buf[a0..a1) and buf[b0..b1), as Go compares strings. */
function compareRanges (buf: Uint8Array, a0: number, a1: number, b0: number, b1: number): number {
  const n = Math.min(a1 - a0, b1 - b0)
  for (let i = 0; i < n; i++) if (buf[a0 + i] !== buf[b0 + i]) return buf[a0 + i] - buf[b0 + i]
  return (a1 - a0) - (b1 - b0)
}

function describe (metric: Record<string, string>): string {
  return `${metric.__name__ ?? ''}{${Object.entries(metric).filter(([k]) => k !== '__name__').map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ')}}`
}

/** The strict receiver's checks on one decoded series. */
function checkSeries (item: DecodedItem, index: number): void {
  const m = item.metric
  for (const [k, v] of Object.entries(m)) {
    if (!LABEL_NAME.test(k)) throw new DecodeError(`series ${index} ${describe(m)}: invalid label name ${JSON.stringify(k)}`)
    if (v === '') throw new DecodeError(`series ${index} ${describe(m)}: empty value for label ${JSON.stringify(k)}`)
  }
  if (m.__name__ === undefined) throw new DecodeError(`series ${index} ${describe(m)}: missing __name__`)
  if (!METRIC_NAME.test(m.__name__)) throw new DecodeError(`series ${index} ${describe(m)}: invalid metric name`)
  const ts = item.timestamps
  for (let i = 1; i < ts.length; i++) {
    if (ts[i] < ts[i - 1]) throw new DecodeError(`series ${index} ${describe(m)}: samples out of order at ${i}`)
  }
  if (item.histograms !== undefined) {
    try {
      checkHistograms(item.histograms, index, m)
    } catch (err) {
      if (err instanceof ValidationError) throw new DecodeError(`series ${index} ${describe(m)}: ${err.detail}`)
      throw err
    }
  }
}

/** Reads a Sample into bits[at..at+4): value lo, value hi, timestamp lo, timestamp hi. */
function decodeSample (r: Reader, bits: Uint32Array, at: number): void {
  bits[at] = 0
  bits[at + 1] = 0
  bits[at + 2] = 0
  bits[at + 3] = 0
  const buf = r.buf
  while (r.pos < r.end) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | I64)) {
      if (r.pos + 8 > r.end) throw new DecodeError('unexpected end of input')
      const p = r.pos
      bits[at] = (buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24)) >>> 0
      bits[at + 1] = (buf[p + 4] | (buf[p + 5] << 8) | (buf[p + 6] << 16) | (buf[p + 7] << 24)) >>> 0
      r.pos += 8
    } else if (tag === ((2 << 3) | VARINT)) {
      bits[at + 2] = r.varint64()
      bits[at + 3] = r.hi
    } else {
      r.skip(tag & 7)
    }
  }
}
