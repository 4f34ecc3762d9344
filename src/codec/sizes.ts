/**
 * Upper bounds of what records add to a request, for a caller that cuts requests to a size
 * before it encodes into them (the writer's batches). Each bound holds in both protocol
 * versions; a 2.0 request is never larger than the 1.0 request of the same series.
 */
import type { Exemplar, Item, NativeHistogram } from '../types.js'

/** Upper bound of one Sample record: tag, length, value (9), timestamp (11). */
export const MAX_SAMPLE_BYTES = 22

/** TimeSeries tag and a 5-byte length. */
export const SERIES_OVERHEAD = 6

/** At most the bytes of these native histograms as Histogram fields (either version). */
export function histogramBytes (hs: readonly NativeHistogram[]): number {
  let n = 0
  for (const h of hs) {
    const spans = (h.negativeSpans?.length ?? 0) + (h.positiveSpans?.length ?? 0)
    const buckets = (h.negativeBuckets?.length ?? 0) + (h.positiveBuckets?.length ?? 0)
    n += 80 + 14 * spans + 10 * buckets + 8 * (h.customValues?.length ?? 0)
  }
  return n
}

/** At most the bytes of these exemplars as 1.0 Exemplar fields. */
export function exemplarBytes (xs: readonly Exemplar[]): number {
  let n = 0
  for (const x of xs) {
    n += 32
    for (const [k, v] of Object.entries(x.labels ?? {})) n += 10 + 3 * (k.length + v.length)
  }
  return n
}

/** At most the bytes an item's help and unit add to a 2.0 request. */
export function metadataBytes (item: Item): number {
  const md = item.metadata
  return md === undefined ? 0 : 3 * ((md.help?.length ?? 0) + (md.unit?.length ?? 0)) + 12
}
