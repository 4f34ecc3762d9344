/**
 * Decoder for an uncompressed prometheus.WriteRequest (Remote Write 1.0), for the receiver
 * and for debugging. It accepts what protobuf decoders must: fields in any order, packed
 * and unpacked repeats, unknown fields (skipped by wire type). Native histograms and
 * exemplars come back in the shape the codec takes (NativeHistogram, Exemplar), so a decoded
 * request can be encoded again; 1.0 WriteRequest.metadata is skipped.
 *
 * The work is bounded before it starts: countRecords() counts what the body would build and
 * stops it past the DecodeOptions limits (decode-limits.ts), so a small body
 * of empty records costs one scan, not millions of objects. The 2.0 decoder is in
 * decode-v2.ts, the pieces both use in decode-parts.ts, the cursor in reader.ts.
 */
import { DecodeError } from '../errors.js'
import type { DecodedItem, Exemplar, NativeHistogram } from '../types.js'
import { countRecords } from './decode-limits.js'
import type { DecodeOptions } from './decode-limits.js'
import { checkSeries, compareRanges, decodeHistogram, decodeLabel, decodeSample, describe, labelName, shown, releaseBits, sampleBits, samplesFrom, startBits } from './decode-parts.js'
import { I64, LEN, Reader, VARINT } from './reader.js'

export type { DecodeLimits, DecodeLimitError, DecodeOptions } from './decode-limits.js'
export { DECODE_LIMITS } from './decode-limits.js'
export { decodeV2Request } from './decode-v2.js'
export type { DecodedV2 } from './decode-v2.js'

/** Histograms and exemplars decoded by the current decodeWriteRequest() call. */
const seen = { histograms: 0, exemplars: 0 }

/**
 * Decodes an uncompressed WriteRequest. Throws DecodeError on malformed input, and on input
 * past a limit of `options` before building anything. `inputBytes` is the size of the body
 * as received, for `maxExpansion` (codec.decode() passes the compressed size); default the
 * protobuf's own length.
 */
export function decodeWriteRequest (buf: Uint8Array, options: DecodeOptions = {}, inputBytes = buf.length): DecodedItem[] {
  countRecords(buf, false, options, inputBytes)
  const r = new Reader(buf)
  const strict = options.strict === true
  const bigint = options.bigint === true
  seen.histograms = 0
  seen.exemplars = 0
  const items: DecodedItem[] = []
  try {
    while (r.pos < r.end) {
      const tag = r.uint32()
      if (tag === ((1 << 3) | LEN)) {
        const end = r.delimited()
        r.end = end
        const item = decodeTimeSeries(r, bigint, strict)
        r.end = buf.length
        if (strict) checkSeries(item, items.length, false)
        items.push(item)
        r.pos = end
      } else {
        r.skip(tag & 7)
      }
    }
  } finally {
    releaseBits()
  }
  if (options.counts !== undefined) {
    options.counts.histograms = seen.histograms
    options.counts.exemplars = seen.exemplars
  }
  return items
}

function decodeTimeSeries (r: Reader, bigint: boolean, strict: boolean): DecodedItem {
  const metric: Record<string, string> = {}
  /** Strict mode: the previous label name's byte range, for the order check. */
  let prevStart = -1
  let prevEnd = -1
  let bits = startBits()
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
      if (strict && prevStart >= 0 && compareRanges(r.buf, prevStart, prevEnd, labelName.start, labelName.end) >= 0) {
        throw new DecodeError(`series ${describe(metric)}: labels not sorted or duplicate name ${shown(r.string(labelName.start, labelName.end))}`)
      }
      prevStart = labelName.start
      prevEnd = labelName.end
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
      bits = sampleBits(bits, n)
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
