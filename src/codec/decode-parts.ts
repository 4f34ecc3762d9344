/**
 * Pieces the 1.0 and 2.0 decoders share: Histogram, Label and Sample messages, the values
 * and timestamps of a series, and the strict receiver's checks on a decoded series.
 *
 * Values are copied as raw bytes into a Float64Array, so NaN payloads (stale markers)
 * survive. int64 timestamps are read as two 32-bit halves, never through BigInt.
 */
import { DecodeError, ValidationError } from '../errors.js'
import { HINTS, checkHistograms } from './histogram.js'
import type { BucketSpan, DecodedItem, NativeHistogram } from '../types.js'
import { setLabel } from '../labels.js'
import { I64, LEN, VARINT } from './reader.js'
import type { Reader } from './reader.js'

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

/** Raw sample bits of the series being decoded (value lo/hi, timestamp lo/hi), reused. */
const SCRATCH = 4096
let scratch = new Uint32Array(SCRATCH)

/** The scratch for raw sample bits, large enough for sample `n` (index) of a series. */
export function sampleBits (bits: Uint32Array, n: number): Uint32Array {
  if ((n + 1) * 4 <= bits.length) return bits
  const grown = new Uint32Array(bits.length * 2)
  grown.set(bits)
  scratch = grown
  return grown
}

/** The scratch to start a series with. */
export function startBits (): Uint32Array {
  return scratch
}

/** Lets a scratch grown past 1 MiB by a long series go after the decode, instead of keeping it. */
export function releaseBits (): void {
  if (scratch.length > 1 << 18) scratch = new Uint32Array(SCRATCH)
}

/**
 * Reads a Histogram message (r.end is its end). A histogram is a float one when its count
 * or zero count is the double variant of the oneof, or it carries absolute bucket counts.
 */
export function decodeHistogram (r: Reader, v2: boolean): NativeHistogram {
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

/**
 * Reads a packed (LEN) or unpacked (`single` wire type) repeated scalar into `out`; another
 * wire type is skipped (Reader#countRepeated counts the same way).
 */
export function readRepeated (r: Reader, wire: number, single: number, out: number[], read: () => number, end: number): void {
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

/** Where the last decodeLabel() found the name. */
export const labelName = { start: 0, end: 0 }

/** Decodes a Label (r.end is its end) into `metric`; the name's byte range is left in labelName. */
export function decodeLabel (r: Reader, metric: Record<string, string>): void {
  labelName.start = labelName.end = 0
  let value = ''
  while (r.pos < r.end) {
    const tag = r.uint32()
    if (tag === ((1 << 3) | LEN)) {
      const end = r.delimited()
      labelName.start = r.pos
      labelName.end = end
      r.pos = end
    } else if (tag === ((2 << 3) | LEN)) {
      const end = r.delimited()
      value = r.string(r.pos, end)
      r.pos = end
    } else {
      r.skip(tag & 7)
    }
  }
  setLabel(metric, r.string(labelName.start, labelName.end), value)
}

/** Reads a Sample (r.end is its end) into bits[at..at+4): value lo, value hi, timestamp lo, timestamp hi. */
export function decodeSample (r: Reader, bits: Uint32Array, at: number): void {
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

/** Values (bit-exact) and timestamps from the raw sample bits decodeSample() collected. */
export function samplesFrom (bits: Uint32Array, n: number, bigint: boolean): { values: Float64Array, timestamps: number[] | BigInt64Array } {
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

/** Byte-wise comparison of buf[a0..a1) and buf[b0..b1), as Go compares strings. */
export function compareRanges (buf: Uint8Array, a0: number, a1: number, b0: number, b1: number): number {
  const n = Math.min(a1 - a0, b1 - b0)
  for (let i = 0; i < n; i++) if (buf[a0 + i] !== buf[b0 + i]) return buf[a0 + i] - buf[b0 + i]
  return (a1 - a0) - (b1 - b0)
}

export function describe (metric: Record<string, string>): string {
  // Bounded: a hostile series may hold megabytes of labels, and the message goes back to it.
  let out = `${shown(metric.__name__ ?? '', false)}{`
  let n = 0
  for (const k in metric) {
    if (k === '__name__') continue
    if (out.length > 300) {
      out += `${n > 0 ? ', ' : ''}… ${Object.keys(metric).length - n - (metric.__name__ === undefined ? 0 : 1)} more labels`
      break
    }
    out += `${n++ > 0 ? ', ' : ''}${shown(k, false)}=${shown(metric[k])}`
  }
  return `${out}}`
}

/** A label string for a message: JSON-quoted (or bare), cut after 64 characters. */
export function shown (s: string, quoted = true): string {
  const cut = s.length > 64 ? `${s.slice(0, 64)}…` : s
  return quoted ? JSON.stringify(cut) : cut
}

/**
 * The strict receiver's checks on one decoded series. A series must carry something: in
 * 2.0 samples or histograms (exemplars ride on them), in 1.0 also exemplars alone.
 */
export function checkSeries (item: DecodedItem, index: number, v2: boolean): void {
  const m = item.metric
  for (const [k, v] of Object.entries(m)) {
    if (!LABEL_NAME.test(k)) throw new DecodeError(`series ${index} ${describe(m)}: invalid label name ${shown(k)}`)
    if (v === '') throw new DecodeError(`series ${index} ${describe(m)}: empty value for label ${shown(k)}`)
  }
  if (m.__name__ === undefined) throw new DecodeError(`series ${index} ${describe(m)}: missing __name__`)
  if (!METRIC_NAME.test(m.__name__)) throw new DecodeError(`series ${index} ${describe(m)}: invalid metric name`)
  if (item.values.length === 0 && item.histograms === undefined && (v2 || item.exemplars === undefined)) {
    throw new DecodeError(`series ${index} ${describe(m)}: carries no samples${v2 ? ' or histograms' : ', histograms or exemplars'}`)
  }
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
