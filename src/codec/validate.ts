/**
 * What an item must look like before any of it is encoded: its shape, what it carries beside
 * its samples (metadata, native histograms, exemplars in 2.0), and the ValidationError that
 * names the series, the field and the sample at fault. Label sets are checked by the core
 * (label-cache.ts), timestamps by the core as samples are staged (stage.ts).
 */
import { ValidationError } from '../errors.js'
import type { ValidationField } from '../errors.js'
import type { Item, Labels } from '../types.js'
import { setLabel } from '../labels.js'
import { checkHistograms } from './histogram.js'
import { SeriesHandle } from './label-cache.js'
import { loneSurrogate } from './unicode.js'

/**
 * Samples in one item per call. Staging takes 16 bytes a sample in linear memory, and the
 * core's allocator serves at most 1 GiB per block; the writer splits longer series itself
 * when they come in several items.
 */
export const MAX_ITEM_SAMPLES = 1 << 24

/** Metadata.type numbers: the index in this list (0 is METRIC_TYPE_UNSPECIFIED, sent as 'unknown'). */
const METRIC_TYPES: readonly string[] = ['unknown', 'counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset']

/** The ValidationError for an item: its labels (as given, or its handle's) named in the message. */
export function invalid (item: Item, index: number, field: ValidationField, reason: string, sampleIndex?: number): ValidationError {
  return new ValidationError(reason, { seriesIndex: index, labels: labelsOf(item), field, sampleIndex })
}

/** An item's labels as a record, for error messages; undefined when it has none readable. */
export function labelsOf (item: Item): Readonly<Record<string, string>> | undefined {
  if (item.series instanceof SeriesHandle) return item.series.labels
  const metric: Labels | undefined = item.metric
  if (metric && !Array.isArray(metric)) return metric as Record<string, string>
  if (Array.isArray(metric)) {
    // Only well-formed pairs: the error being built may be about something else in this item.
    const labels: Record<string, string> = {}
    for (const pair of metric as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') return undefined
      setLabel(labels, pair[0], pair[1])
    }
    return labels
  }
  return undefined
}

/** An item's `metric` when it is a record (what histogram and exemplar errors name). */
export function recordLabels (item: Item): Readonly<Record<string, string>> | undefined {
  return item.metric && !Array.isArray(item.metric) ? item.metric as Record<string, string> : undefined
}

/** Checks that an item is an object with array-like values and timestamps of equal length. */
export function checkShape (item: Item, index: number): void {
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

/** Checks an item's metadata; returns its Metadata.type number (0 when absent). */
export function checkMetadata (item: Item, index: number): number {
  const md = item.metadata
  if (md === undefined) return 0
  if (md === null || typeof md !== 'object') throw invalid(item, index, 'item', 'metadata must be an object { type, help, unit }')
  const type = md.type === undefined ? 0 : METRIC_TYPES.indexOf(md.type)
  if (type < 0) throw invalid(item, index, 'item', `metadata.type must be one of ${METRIC_TYPES.join(', ')}`)
  if ((md.help !== undefined && typeof md.help !== 'string') || (md.unit !== undefined && typeof md.unit !== 'string')) {
    throw invalid(item, index, 'item', 'metadata.help and metadata.unit must be strings')
  }
  for (const key of ['help', 'unit'] as const) {
    const at = md[key] === undefined ? -1 : loneSurrogate(md[key])
    if (at >= 0) throw invalid(item, index, 'item', `metadata.${key} is not valid Unicode: a lone UTF-16 surrogate at index ${at}; remote write requires valid UTF-8`)
  }
  return type
}

/** Checks an item's startTimestamp; returns it (0 when absent). */
export function checkStart (item: Item, index: number): number {
  const st = item.startTimestamp ?? 0
  if (!Number.isSafeInteger(st)) throw invalid(item, index, 'item', 'startTimestamp must be an integer number of milliseconds')
  return st
}

/**
 * Checks what an item carries besides its samples (metadata, start timestamp, native
 * histograms), so that a call validated up front is validated whole, whichever protocol
 * encodes it.
 */
export function checkExtras (item: Item, index: number): void {
  checkMetadata(item, index)
  if (item.startTimestamp !== undefined) checkStart(item, index)
  if (item.histograms !== undefined) checkHistograms(item.histograms, index, recordLabels(item))
}

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
export function hasHistograms (item: Item | null | undefined): boolean {
  const h = item?.histograms
  return h !== undefined && (!Array.isArray(h) || h.length > 0)
}

/**
 * Whether an item is one plain sample (values and timestamps of length 1, a number value that
 * is not NaN) with nothing else: what the core's addSingles() takes. NaN values take the
 * general path, whose typed-array copies keep NaN payloads bit for bit.
 */
export function isSingle (item: Item): boolean {
  if (item === null || typeof item !== 'object' || item.histograms !== undefined || item.exemplars !== undefined || item.metadata !== undefined || item.startTimestamp !== undefined) return false
  const { values, timestamps } = item
  if (values == null || timestamps == null || values.length !== 1 || timestamps.length !== 1) return false
  if (typeof values !== 'object' || typeof timestamps !== 'object') return false
  const v = values[0]
  return typeof v === 'number' && v === v
}
