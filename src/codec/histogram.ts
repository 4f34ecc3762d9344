/**
 * Native histograms (their shape is in ../types.ts): a helper that builds one from bucket
 * counts, and the validation and staging that hand them to the core (assembly/histogram.ts has
 * the layout).
 */
import { InvalidArgumentError, ValidationError } from '../errors.js'
import type { Core } from '../core/wasm.js'
import type { BucketSpan, HistogramCounts, NativeHistogram, ResetHint } from '../types.js'

/** Spans and deltas (or counts) from sparse bucket counts; empty buckets are left out. */
function encodeSide (side: HistogramCounts['positive'], float: boolean): { spans: BucketSpan[], buckets: number[], total: number } {
  const entries: Array<[number, number]> = side === undefined
    ? []
    : (side instanceof Map ? [...side.entries()] : Object.entries(side).map(([k, v]) => [Number(k), v as number]))
  entries.sort((a, b) => a[0] - b[0])
  const spans: BucketSpan[] = []
  const buckets: number[] = []
  let total = 0
  let next = 0 // index just past the last bucket written
  let prev = 0
  for (const [index, c] of entries) {
    if (!Number.isInteger(index)) throw new InvalidArgumentError(`bucket index ${index} is not an integer`)
    if (c === 0) continue
    if (spans.length > 0 && index === next) {
      spans[spans.length - 1].length++
    } else {
      spans.push({ offset: spans.length === 0 ? index : index - next, length: 1 })
    }
    next = index + 1
    buckets.push(float ? c : c - prev)
    prev = c
    total += c
  }
  return { spans, buckets, total }
}

/**
 * Builds a native histogram from bucket counts by index:
 * `nativeHistogram({ timestamp, schema: 3, sum: 42.5, positive: { 1: 4, 2: 2, 7: 1 }, zeroCount: 1 })`.
 */
export function nativeHistogram (h: HistogramCounts): NativeHistogram {
  const float = h.float === true
  const pos = encodeSide(h.positive, float)
  const neg = encodeSide(h.negative, float)
  const zeroCount = h.zeroCount ?? 0
  const out: NativeHistogram = {
    timestamp: h.timestamp,
    count: h.count ?? zeroCount + pos.total + neg.total,
    sum: h.sum,
    schema: h.schema,
    zeroThreshold: h.zeroThreshold ?? 0,
    zeroCount,
    positiveSpans: pos.spans,
    positiveBuckets: pos.buckets,
    negativeSpans: neg.spans,
    negativeBuckets: neg.buckets,
    float,
  }
  if (h.resetHint !== undefined) out.resetHint = h.resetHint
  if (h.startTimestamp !== undefined) out.startTimestamp = h.startTimestamp
  return out
}

/** Reset hints by their wire number (Histogram.reset_hint). */
export const HINTS: readonly ResetHint[] = ['unknown', 'yes', 'no', 'gauge']
const HEADER = 80

/** Checks a histogram; returns the reason it is invalid, or undefined. */
function problem (h: NativeHistogram, prevTs: number): string | undefined {
  if (h === null || typeof h !== 'object') return 'must be an object'
  if (!Number.isSafeInteger(h.timestamp)) return 'timestamp must be an integer number of milliseconds'
  if (h.timestamp < prevTs) return 'timestamps are not in ascending order'
  const float = h.float === true
  const isCount = (v: unknown): boolean => (float ? typeof v === 'number' && v >= 0 : Number.isSafeInteger(v) && (v as number) >= 0)
  if (!isCount(h.count)) return `count must be ${float ? 'a non-negative number' : 'a non-negative integer'}`
  if (h.zeroCount !== undefined && !isCount(h.zeroCount)) return 'zeroCount must be a non-negative count'
  if (typeof h.sum !== 'number') return 'sum must be a number'
  if (h.zeroThreshold !== undefined && !(typeof h.zeroThreshold === 'number' && h.zeroThreshold >= 0)) return 'zeroThreshold must be a non-negative number'
  if (!Number.isInteger(h.schema) || !((h.schema >= -4 && h.schema <= 8) || h.schema === -53)) return 'schema must be an integer in -4..8, or -53 (custom buckets)'
  if (h.schema === -53 && (h.customValues === undefined || h.customValues.length === 0)) return 'schema -53 needs customValues'
  if (h.schema !== -53 && h.customValues !== undefined && h.customValues.length > 0) return 'customValues go with schema -53 only'
  if (h.resetHint !== undefined && !HINTS.includes(h.resetHint)) return `resetHint must be one of ${HINTS.join(', ')}`
  if (h.startTimestamp !== undefined && !Number.isSafeInteger(h.startTimestamp)) return 'startTimestamp must be an integer number of milliseconds'
  for (const side of ['negative', 'positive'] as const) {
    const spans = h[`${side}Spans`] ?? []
    const buckets = h[`${side}Buckets`] ?? []
    let n = 0
    let i = -1
    for (const s of spans) {
      i++
      if (!Number.isInteger(s?.offset) || s.offset < -2147483648 || s.offset > 2147483647) return `${side}Spans offsets must be int32`
      if (!Number.isInteger(s.length) || s.length < 0 || s.length > 4294967295) return `${side}Spans lengths must be uint32`
      if (i > 0 && s.offset < 0) return `${side}Spans offsets after the first must not be negative`
      n += s.length
    }
    if (n !== buckets.length) return `${side}Spans cover ${n} buckets but ${side}Buckets has ${buckets.length}`
    for (const b of buckets) {
      if (float ? typeof b !== 'number' : !Number.isSafeInteger(b)) return `${side}Buckets must be ${float ? 'numbers (counts)' : 'integers (deltas)'}`
    }
  }
  return undefined
}

/** Bytes a histogram takes staged. */
function recordBytes (h: NativeHistogram): number {
  const spans = (h.negativeSpans?.length ?? 0) + (h.positiveSpans?.length ?? 0)
  const buckets = (h.negativeBuckets?.length ?? 0) + (h.positiveBuckets?.length ?? 0)
  return HEADER + 8 * (spans + buckets + (h.customValues?.length ?? 0))
}

/**
 * Validates an item's histograms (throwing ValidationError naming the series, field and
 * index) and stages them in the core; returns how many.
 */
export function stageHistograms (core: Core, histograms: readonly NativeHistogram[], index: number, labels: Readonly<Record<string, string>> | undefined): number {
  const bytes = checkHistograms(histograms, index, labels)
  const base = core.exports.stageReserve(bytes || 8) >>> 0
  core.refresh()
  const { f64, i64, u32 } = core
  const i32 = new Int32Array(core.u8.buffer, core.u8.byteOffset, core.u8.length >>> 2)
  let at = base
  for (const h of histograms) {
    const float = h.float === true
    const w = at >>> 3 // 8-byte index
    if (float) f64[w] = h.count
    else i64[w] = BigInt(h.count)
    f64[w + 1] = h.sum
    f64[w + 2] = h.zeroThreshold ?? 0
    if (float) f64[w + 3] = h.zeroCount ?? 0
    else i64[w + 3] = BigInt(h.zeroCount ?? 0)
    i64[w + 4] = BigInt(h.timestamp)
    i64[w + 5] = BigInt(h.startTimestamp ?? 0)
    const q = at >>> 2 // 4-byte index
    i32[q + 12] = h.schema
    u32[q + 13] = (float ? 1 : 0) | (HINTS.indexOf(h.resetHint ?? 'unknown') << 1)
    const negS = h.negativeSpans ?? []
    const negB = h.negativeBuckets ?? []
    const posS = h.positiveSpans ?? []
    const posB = h.positiveBuckets ?? []
    const custom = h.customValues ?? []
    u32[q + 14] = negS.length
    u32[q + 15] = negB.length
    u32[q + 16] = posS.length
    u32[q + 17] = posB.length
    u32[q + 18] = custom.length
    let p = at + HEADER
    for (const [spans, buckets] of [[negS, negB], [posS, posB]] as const) {
      for (const s of spans) {
        i32[p >>> 2] = s.offset
        u32[(p >>> 2) + 1] = s.length
        p += 8
      }
      for (const b of buckets) {
        if (float) f64[p >>> 3] = b
        else i64[p >>> 3] = BigInt(b)
        p += 8
      }
    }
    for (const c of custom) {
      f64[p >>> 3] = c
      p += 8
    }
    at = p
  }
  return histograms.length
}

/** Validates an item's histograms (ValidationError naming the series and histogram); returns their staged bytes. */
export function checkHistograms (histograms: readonly NativeHistogram[], index: number, labels: Readonly<Record<string, string>> | undefined): number {
  if (!Array.isArray(histograms)) throw new ValidationError('must be an array of native histograms', { seriesIndex: index, labels, field: 'item' })
  let bytes = 0
  let prev = -Infinity
  for (let i = 0; i < histograms.length; i++) {
    const why = problem(histograms[i], prev)
    if (why !== undefined) throw new ValidationError(`histograms[${i}]: ${why}`, { seriesIndex: index, labels, field: 'item' })
    prev = histograms[i].timestamp
    bytes += recordBytes(histograms[i])
  }
  return bytes
}

/** Bytes stageHistograms() staged for these histograms. */
export function stagedBytes (histograms: readonly NativeHistogram[]): number {
  let bytes = 0
  for (const h of histograms) bytes += recordBytes(h)
  return bytes
}
