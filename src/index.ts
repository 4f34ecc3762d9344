/** prometheus-remote-writer: the public API. */
export { createCodec, Codec, SeriesHandle } from './codec.js'
export type { CodecOptions, CodecStats } from './codec.js'
export type { DecodeOptions } from './decode.js'
export { decodeWriteRequest } from './decode.js'
export { snappyCompress, snappyDecompress } from './wasm.js'
export { STALE_NAN, isStaleNaN } from './stale.js'
export { nativeHistogram } from './histogram.js'
export type { BucketSpan, HistogramCounts, NativeHistogram, ResetHint } from './histogram.js'
export { RemoteWriter, BatchError, SendError, LostDataError } from './writer.js'
export type {
  RemoteWriterOptions, SendResult, WriterStats, WriterSummary, ResponseEvent, FailedSeries, FailureReason,
} from './writer.js'
export type { Auth, TlsOptions } from './http.js'
export type { LatencySummary } from './stats.js'
export {
  CoreTrapError, DecodeError, InvalidArgumentError, RemoteWriteError, SnappyError, ValidationError,
} from './errors.js'
export type { ValidationField } from './errors.js'
export type { DecodedItem, EncodeOptions, Exemplar, Item, Labels, Metadata, MetricType, SeriesRef, Timestamps, Values } from './types.js'
