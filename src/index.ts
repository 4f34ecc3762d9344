/** prometheus-remote-writer: the public API. */
export { createCodec, Codec, SeriesHandle } from './codec/codec.js'
export type { CodecOptions, CodecStats } from './codec/codec.js'
export type { DecodeOptions } from './codec/decode.js'
export type { DecodeLimits } from './codec/decode.js'
export { DECODE_LIMITS } from './codec/decode.js'
export { decodeWriteRequest } from './codec/decode.js'
export { snappyCompress, snappyDecompress } from './codec/snappy.js'
export { STALE_NAN, isStaleNaN } from './codec/stale.js'
export { STALE } from './types.js'
export { nativeHistogram } from './codec/histogram.js'
export type { BucketSpan, HistogramCounts, NativeHistogram, ResetHint } from './types.js'
export { RemoteWriter } from './writer/writer.js'
export type { RemoteWriterOptions, WriterStats, ResponseEvent, RetryEvent, SpoolOptions, SpoolStats } from './writer/writer.js'
export type { Auth, TlsOptions } from './transport/http.js'
export type { LatencySummary } from './stats.js'
export {
  AbortedError, BatchError, CoreTrapError, DecodeError, ERRORS, InternalError, InvalidArgumentError, IoError, IoThreadError,
  ListenerError, LostDataError, RemoteWriteError, SendError, SnappyError, SpoolError, TimeoutError, ValidationError, WriterClosedError,
} from './errors.js'
export type { Diagnosis, ErrorCode, FailedCounts, FailedSeries, FailureCause, FailureReason, SendResult, ValidationField, WriterSummary } from './errors.js'
export type { DecodedItem, EncodeOptions, Exemplar, Item, Labels, Metadata, MetricType, SeriesRef, Timestamps, Values } from './types.js'
