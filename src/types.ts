/** Public types shared by the codec and the writer (a leaf: it imports nothing from src/). */

/** A label set: `{ __name__: 'up', job: 'x' }`, or `[['__name__', 'up'], ['job', 'x']]`. */
export type Labels = Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]>

/**
 * The stale marker for plain arrays: put `STALE` in a `values` array where a series ends, and
 * the sample goes out as Prometheus's stale NaN (bits 0x7ff0000000000002). A NaN's payload
 * does not survive a plain array: V8's optimized code may store any NaN there as the one
 * canonical NaN, so `STALE_NAN` in a `number[]` can arrive as a normal NaN. A Float64Array
 * keeps the bits, so `STALE_NAN` is reliable there (and `STALE` is not allowed there).
 */
export const STALE: unique symbol = Symbol('prometheus-remote-writer.STALE')

/**
 * Sample values: float64s, or `STALE` for a stale marker in a plain array (typed as any symbol,
 * since TypeScript widens `STALE` to `symbol` in an array literal that is not contextually
 * typed; another symbol is a ValidationError). A Float64Array carries NaN payloads (stale
 * markers) bit-exact.
 */
export type Values = ArrayLike<number | symbol> | Float64Array

/**
 * Sample timestamps: unix milliseconds (or seconds, see `autoConvertSecondsToMs`).
 * A BigInt64Array carries the full int64 range exactly.
 */
export type Timestamps = ArrayLike<number> | Float64Array | BigInt64Array

/**
 * One series and its samples, in the shape of the Python library and of VictoriaMetrics'
 * JSON-lines export: `{ metric, values, timestamps }`. Instead of `metric`, `series` may
 * name a handle from `codec.series()`.
 */
export interface Item {
  metric?: Labels
  series?: SeriesRef
  values: Values
  timestamps: Timestamps
  /** Remote Write 2.0 only: the metric's type, help and unit. */
  metadata?: Metadata
  /**
   * Native histogram samples of the series (codec.encode/encodeV2), each with its own
   * timestamp; `values` and `timestamps` may then be empty.
   */
  histograms?: readonly NativeHistogram[]
  /**
   * Exemplars of the series (codec.encode/encodeV2): labels (e.g. a trace_id), value, and
   * timestamp in milliseconds.
   */
  exemplars?: readonly Exemplar[]
  /**
   * Remote Write 2.0: when the counter behind these samples started (ms), sent as every
   * sample's start_timestamp.
   */
  startTimestamp?: number
}

/** An exemplar: an example observation, usually with a trace id. */
export interface Exemplar {
  labels?: Readonly<Record<string, string>>
  value: number
  timestamp: number
}

/** A metric family's type (Remote Write 2.0 Metadata.type). */
export type MetricType = 'unknown' | 'counter' | 'gauge' | 'histogram' | 'gaugehistogram' | 'summary' | 'info' | 'stateset'

/** Metadata sent with a series in Remote Write 2.0. */
export interface Metadata {
  type?: MetricType
  help?: string
  unit?: string
}

/** A handle for a label set whose encoding the codec keeps (see Codec.series). */
export interface SeriesRef {
  /** The label set, frozen. */
  readonly labels: Readonly<Record<string, string>>
}

/** A decoded series: labels sorted as on the wire, values bit-exact. */
export interface DecodedItem {
  metric: Record<string, string>
  values: Float64Array
  timestamps: number[] | BigInt64Array
  /** Remote Write 2.0: the series' metadata, when it had any. */
  metadata?: Metadata
  /** The series' native histograms, when it had any. */
  histograms?: NativeHistogram[]
  /** The series' exemplars, when it had any. */
  exemplars?: Exemplar[]
}

/** Options that shape how items are validated and encoded. */
export interface EncodeOptions {
  /**
   * Treat a series whose first timestamp is below 1e10 as seconds and multiply all its
   * timestamps by 1000, as the Python library does. Default true.
   */
  autoConvertSecondsToMs?: boolean
  /**
   * Reject fractional milliseconds and seconds-looking timestamps instead of rounding
   * (half to even, like Python's round()) and converting. Default false.
   */
  strictTimestamps?: boolean
  /**
   * Sort the samples of a series whose timestamps are out of order (stable, so equal
   * timestamps keep their order). With false, such a series is a ValidationError.
   * Default true.
   */
  sortSamples?: boolean
}

/** A run of consecutive buckets: `offset` from the end of the previous span (or from 0), `length` buckets. */
export interface BucketSpan {
  offset: number
  length: number
}

/** How a histogram relates to the previous one of its series. */
export type ResetHint = 'unknown' | 'yes' | 'no' | 'gauge'

/**
 * A native histogram sample, as on the wire. Integer histograms (the default) carry bucket
 * deltas (each bucket's count minus the previous bucket's); float histograms (`float: true`)
 * carry absolute counts. `nativeHistogram()` builds one from plain bucket counts.
 */
export interface NativeHistogram {
  /** Unix milliseconds. */
  timestamp: number
  /** Observations. */
  count: number
  sum: number
  /** Resolution: -4..8 (bucket i covers (2^(2^-schema))^(i-1) .. ^i), or -53 with customValues. */
  schema: number
  zeroThreshold?: number
  zeroCount?: number
  negativeSpans?: readonly BucketSpan[]
  negativeBuckets?: readonly number[]
  positiveSpans?: readonly BucketSpan[]
  positiveBuckets?: readonly number[]
  float?: boolean
  resetHint?: ResetHint
  /** Upper bounds of the custom buckets (schema -53 only). */
  customValues?: readonly number[]
  /** Remote Write 2.0 only: when the counter started (ms). */
  startTimestamp?: number
}

/** What nativeHistogram() takes: bucket index → count, per side. */
export interface HistogramCounts {
  timestamp: number
  schema: number
  sum: number
  /** Bucket counts by bucket index (sparse). */
  positive?: Readonly<Record<number, number>> | ReadonlyMap<number, number>
  negative?: Readonly<Record<number, number>> | ReadonlyMap<number, number>
  zeroCount?: number
  zeroThreshold?: number
  /** Observations; default: zeroCount plus every bucket. */
  count?: number
  float?: boolean
  resetHint?: ResetHint
  startTimestamp?: number
}
