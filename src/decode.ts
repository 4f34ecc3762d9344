/**
 * Decoder for an uncompressed prometheus.WriteRequest (Remote Write 1.0), for the receiver
 * and for debugging. It accepts what protobuf decoders must: fields in any order, packed
 * and unpacked repeats, unknown fields (skipped by wire type). Exemplars, histograms and
 * metadata are skipped for now.
 *
 * Values are copied as raw bytes into a Float64Array, so NaN payloads (stale markers)
 * survive. int64 timestamps are read as two 32-bit halves, never through BigInt.
 */
import { DecodeError } from './errors.js'
import { setLabel } from './labels.js'
import type { DecodedItem } from './types.js'

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
  /** Filled with the native histograms and exemplars seen (which are not decoded yet). */
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

/** Histograms and exemplars met by the current decodeWriteRequest() call. */
const seen = { histograms: 0, exemplars: 0 }

/** Decodes an uncompressed WriteRequest. Throws DecodeError on malformed input. */
export function decodeWriteRequest (buf: Uint8Array, options: DecodeOptions = {}): DecodedItem[] {
  const r = new Reader(buf, 0, buf.length)
  text = Buffer.from(buf.buffer, buf.byteOffset, buf.length)
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
    } else if (tag === ((3 << 3) | LEN) || tag === ((4 << 3) | LEN)) {
      if (tag >>> 3 === 4) seen.histograms++
      else seen.exemplars++
      r.skip(LEN)
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
  return { metric, ...samplesFrom(bits, n, bigint) }
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
  /** Native histograms and exemplars seen (not decoded yet), for written-count answers. */
  histograms: number
  exemplars: number
}

/**
 * Decodes an uncompressed io.prometheus.write.v2.Request: labels and metadata resolved
 * through the symbols table. With `strict`, also checks what a 2.0 receiver must: symbols[0]
 * is "", refs in range and in pairs, labels sorted and unique, `__name__` present, timestamps
 * non-decreasing. Histograms and exemplars are counted, not decoded.
 */
export function decodeV2Request (buf: Uint8Array, options: DecodeOptions = {}): DecodedV2 {
  const r = new Reader(buf, 0, buf.length)
  text = Buffer.from(buf.buffer, buf.byteOffset, buf.length)
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
        out.histograms++
        r.skip(LEN)
      } else if (field === 4 && (tag & 7) === LEN) {
        out.exemplars++
        r.skip(LEN)
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
    if (strict) checkSeries(item, out.items.length)
    out.items.push(item)
  }
  return out
}

/** The body being decoded, as a Buffer over the same bytes (Buffer#toString beats TextDecoder on short strings). */
let text: Buffer = Buffer.alloc(0)
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
