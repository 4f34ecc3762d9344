/**
 * Every error this library throws or reports, in one place (a leaf: it imports nothing from
 * src/), and the core's error codes.
 *
 * Each class has its own `name` and a stable `code`; ERRORS below is the table of both, and
 * `instanceof` works for every code that is thrown or reported (an error that crossed from the
 * I/O thread is rebuilt as its class by `rebuildError()`; one that is not this library's own,
 * from undici or the system, as an IoError that keeps its code). Messages never contain secrets:
 * auth headers, tokens and passwords are never passed to these constructors, and what a server
 * or the transport said goes through a Redactor (transport/redactor.ts) before it reaches one.
 */

/** Error codes returned by the WebAssembly core; mirrors assembly/errors.ts. */
export const CoreCode = {
  CORRUPT: -1,
  TOO_LARGE: -2,
  OOM: -3,
  TS_NOT_FINITE: -10,
  TS_RANGE: -11,
  TS_FRACTIONAL: -12,
  TS_SECONDS: -13,
  TS_UNSORTED: -14,
  LABEL_NAME: -20,
  METRIC_NAME: -21,
  LABEL_DUPLICATE: -22,
  NO_METRIC_NAME: -23,
  PROTO: -30,
  SLOT: -40,
} as const

/** The message for each core error code. */
export const coreMessages: Readonly<Record<number, string>> = {
  [CoreCode.CORRUPT]: 'snappy: corrupt input',
  [CoreCode.TOO_LARGE]: 'snappy: decoded length exceeds the limit',
  [CoreCode.OOM]: 'out of memory',
  [CoreCode.SLOT]: 'request slot out of range',
  [CoreCode.TS_NOT_FINITE]: 'timestamp is not a finite number',
  [CoreCode.TS_RANGE]: 'timestamp is outside the int64 millisecond range',
  [CoreCode.TS_FRACTIONAL]: 'timestamp has a fractional millisecond (strictTimestamps)',
  [CoreCode.TS_SECONDS]: 'timestamp is below 1e10 and looks like seconds (strictTimestamps)',
  [CoreCode.TS_UNSORTED]: 'timestamps are not in ascending order',
  [CoreCode.LABEL_NAME]: 'invalid label name: must match [a-zA-Z_][a-zA-Z0-9_]*',
  [CoreCode.METRIC_NAME]: 'invalid metric name: must match [a-zA-Z_:][a-zA-Z0-9_:]*',
  [CoreCode.LABEL_DUPLICATE]: 'duplicate label name',
  [CoreCode.NO_METRIC_NAME]: 'missing __name__ label',
  [CoreCode.PROTO]: 'protobuf: malformed input',
}

/** Base class of every error this library throws. */
export class RemoteWriteError extends Error {
  /** Stable machine-readable code. */
  readonly code: string
  constructor (message: string, code = 'ERR_PRW', options?: ErrorOptions) {
    super(message, options)
    this.name = 'RemoteWriteError'
    this.code = code
  }
}

/** An option passed to a constructor or function is invalid. */
export class InvalidArgumentError extends RemoteWriteError {
  constructor (message: string) {
    super(message, 'ERR_PRW_INVALID_ARGUMENT')
    this.name = 'InvalidArgumentError'
  }
}

/** Which part of an item a validation error is about. */
export type ValidationField = 'metric' | 'values' | 'timestamps' | 'item'

/**
 * An input item is invalid. Thrown before anything of the call is encoded or sent; the
 * codec and writer stay usable.
 */
export class ValidationError extends RemoteWriteError {
  /** Index of the offending item in the array passed to the call. */
  readonly seriesIndex: number
  /** The item's labels as given (labels are not secret). */
  readonly labels: Readonly<Record<string, string>> | undefined
  /** The field at fault: 'metric', 'values', 'timestamps' or 'item'. */
  readonly field: ValidationField
  /** The label name at fault, when the field is 'metric'. */
  readonly label: string | undefined
  /** The sample index at fault, when the field is 'timestamps' or 'values'. */
  readonly sampleIndex: number | undefined
  /** The message without the series: `field: reason`. */
  readonly detail: string
  constructor (reason: string, info: {
    seriesIndex: number
    labels?: Readonly<Record<string, string>>
    field: ValidationField
    label?: string
    sampleIndex?: number
  }) {
    const where = info.field === 'metric' && info.label !== undefined
      ? `metric label ${JSON.stringify(info.label)}`
      : info.sampleIndex !== undefined ? `${info.field}[${info.sampleIndex}]` : info.field
    const who = info.labels ? ` ${describeLabels(info.labels)}` : ''
    super(`series ${info.seriesIndex}${who}: ${where}: ${reason}`, 'ERR_PRW_VALIDATION')
    this.detail = `${where}: ${reason}`
    this.name = 'ValidationError'
    this.seriesIndex = info.seriesIndex
    this.labels = info.labels
    this.field = info.field
    this.label = info.label
    this.sampleIndex = info.sampleIndex
  }
}

/** Snappy input could not be decompressed. `coreCode` is -1 (corrupt) or -2 (too large). */
export class SnappyError extends RemoteWriteError {
  readonly coreCode: number
  constructor (coreCode: number) {
    super(coreMessages[coreCode] ?? `snappy: error ${coreCode}`, 'ERR_PRW_SNAPPY')
    this.name = 'SnappyError'
    this.coreCode = coreCode
  }
}

/** A protobuf body could not be decoded. */
export class DecodeError extends RemoteWriteError {
  constructor (message: string) {
    super(`protobuf: ${message}`, 'ERR_PRW_DECODE')
    this.name = 'DecodeError'
  }
}

/**
 * The WebAssembly core trapped (for example it could not grow its memory). The instance
 * was discarded and a fresh one took its place, so the next call works.
 */
export class CoreTrapError extends RemoteWriteError {
  constructor (cause: unknown, detail?: string) {
    super(`WebAssembly core trapped: ${(cause as Error)?.message ?? String(cause)}${detail ? `: ${detail}` : ''}`, 'ERR_PRW_CORE_TRAP', { cause })
    this.name = 'CoreTrapError'
  }
}


/** An invariant of the library itself failed (a bug: please report it), or its install is incomplete. */
export class InternalError extends RemoteWriteError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_PRW_INTERNAL', options)
    this.name = 'InternalError'
  }
}

/** A write(), send(), consume() or writable() call on a writer after close(). */
export class WriterClosedError extends RemoteWriteError {
  constructor () {
    super('writer is closed', 'ERR_PRW_CLOSED')
    this.name = 'WriterClosedError'
  }
}

/** The writer's signal was aborted: calls and waits end with this (`cause` is the signal's reason). */
export class AbortedError extends RemoteWriteError {
  constructor (message = 'writer was aborted', options?: ErrorOptions) {
    super(message, 'ERR_PRW_ABORTED', options)
    this.name = 'AbortedError'
  }
}

/** An attempt got no complete answer within `timeout` ms. */
export class TimeoutError extends RemoteWriteError {
  constructor (message: string) {
    super(message, 'ERR_PRW_TIMEOUT')
    this.name = 'TimeoutError'
  }
}

/** The I/O thread could not start, or exited with attempts in its hands (`cause`: why, when known). */
export class IoThreadError extends RemoteWriteError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_PRW_IO_THREAD', options)
    this.name = 'IoThreadError'
  }
}

/**
 * Not one of this library's errors: a transport error raised on the I/O thread (a refused
 * connection, a reset socket), rebuilt on this thread from its message and code. Its `code`
 * is the original's (ECONNREFUSED, UND_ERR_SOCKET, ...), the same `code` as the error a
 * writer without the I/O thread reports as a BatchError's `cause`.
 */
export class IoError extends Error {
  readonly code: string | undefined
  constructor (message: string, code: string | undefined) {
    super(message)
    this.name = 'IoError'
    this.code = code
  }
}

/**
 * The spool directory cannot be used: held by another process (the message names its pid),
 * not writable, or full of something that is not a spool. `path` is the file or directory.
 */
export class SpoolError extends RemoteWriteError {
  readonly path: string
  constructor (message: string, path: string, options?: ErrorOptions) {
    super(message, 'ERR_PRW_SPOOL', options)
    this.name = 'SpoolError'
    this.path = path
  }
}

/** What a listener of a writer's events threw, as the process warning that carries it (`cause`). */
export class ListenerError extends RemoteWriteError {
  constructor (event: string, cause: unknown) {
    super(`a '${event}' listener of RemoteWriter threw: ${(cause as Error)?.message ?? cause}`, 'ERR_PRW_LISTENER', { cause })
    this.name = 'ListenerError'
  }
}

// ---- what the writer reports ------------------------------------------------------------

/** What a send() or close() accounts for. */
export interface SendResult {
  /** Requests acknowledged. */
  requests: number
  /** Series records acknowledged (a series split over requests counts once per request). */
  series: number
  /** Samples acknowledged. */
  samples: number
}

/** Requests, series and samples that were not accepted. */
export interface FailedCounts {
  requests: number
  series: number
  samples: number
}

/** A series in a failed batch. */
export interface FailedSeries {
  labels: Record<string, string>
  samples: number
}

/**
 * Why a batch failed for good. With a spool: 'spool-full' (dropped by onFull 'dropOldest'),
 * 'expired' (older than maxAge), 'corrupt' (damaged on disk, never sent).
 */
export type FailureReason = 'http' | 'network' | 'timeout' | 'retries-exhausted' | 'aborted' | 'encode' | 'spool-full' | 'expired' | 'corrupt'

/** What close() resolves with. */
export interface WriterSummary extends SendResult {
  failed: FailedCounts
  /** The first 100 batch errors. */
  errors: BatchError[]
  /**
   * With a spool: requests neither acknowledged nor lost, left in the spool for the next writer
   * (close()'s deadline passed, or the writer was aborted).
   */
  left?: FailedCounts
}

/** What went wrong, in kinds a user acts on differently. */
export type FailureCause =
  /** Nothing listens at the host and port (ECONNREFUSED). */
  | 'refused'
  /** The host name does not resolve (ENOTFOUND; EAI_AGAIN is 'dns-retry'). */
  | 'dns'
  /** The resolver did not answer this time (EAI_AGAIN). */
  | 'dns-retry'
  /** No route to the host or network. */
  | 'unreachable'
  /** The connection was closed or reset before an answer. */
  | 'reset'
  /** No answer within the timeout. */
  | 'timeout'
  /** The server's certificate is not trusted: self-signed, unknown CA, expired. */
  | 'tls-untrusted'
  /** The certificate is valid but not for the host name in the URL. */
  | 'tls-name'
  /** https:// to a port that does not speak TLS. */
  | 'tls-not-tls'
  /** The answer is not HTTP/1.1 (e.g. http:// to a TLS port, or another protocol). */
  | 'not-http'
  /** Any other transport error. */
  | 'network'
  /** 401 or 403: credentials missing or refused. */
  | 'auth'
  /** 404: nothing at this path. */
  | 'not-found'
  /** 405: the path does not take POST. */
  | 'method'
  /** 413: the request is too large for the server. */
  | 'too-large'
  /** 415, or a 2.0 answer that wrote nothing: the server does not take this protocol. */
  | 'protocol'
  /** Samples refused for their time: out of bounds, too old, out of order. */
  | 'too-old'
  /** Any other 4xx (invalid labels, duplicate labels, ...). */
  | 'rejected'
  /** 429. */
  | 'throttled'
  /** Any other 5xx. */
  | 'server-error'

/** A cause, whether it can heal by waiting, and a short title such as "connection refused". */
export interface Diagnosis {
  cause: FailureCause
  /** True when retrying the same request cannot succeed until someone changes something. */
  permanent: boolean
  title: string
}

/**
 * A batch (one request's worth of samples) that was not acknowledged and will not be
 * retried. Carries the HTTP status and the first 1 KiB of the body when there was an answer.
 */
export class BatchError extends RemoteWriteError {
  readonly reason: FailureReason
  readonly status: number | undefined
  readonly body: string | undefined
  readonly attempts: number
  readonly seriesCount: number
  readonly sampleCount: number
  /** The series of the batch (labels and sample counts). */
  readonly series: FailedSeries[]
  /** Why the last attempt failed, as a user acts on it; undefined when no attempt failed (encode, aborted, spool). */
  readonly diagnosis: Diagnosis | undefined
  constructor (message: string, info: {
    reason: FailureReason, status?: number, body?: string, attempts: number, series: FailedSeries[], samples: number, cause?: unknown, diagnosis?: Diagnosis
  }) {
    const first = info.series[0]
    const which = first ? `; series ${describeLabels(first.labels)}${info.series.length > 1 ? ` and ${info.series.length - 1} more` : ''}` : ''
    super(`${message} (${info.samples} samples of ${info.series.length} series lost after ${info.attempts} attempt${info.attempts === 1 ? '' : 's'}${which})`,
      'ERR_PRW_BATCH', info.cause === undefined ? undefined : { cause: info.cause })
    this.name = 'BatchError'
    this.reason = info.reason
    this.status = info.status
    this.body = info.body
    this.attempts = info.attempts
    this.series = info.series
    this.seriesCount = info.series.length
    this.sampleCount = info.samples
    this.diagnosis = info.diagnosis
  }
}

/** send() could not deliver everything: `result` is what was acknowledged. */
export class SendError extends RemoteWriteError {
  readonly result: SendResult
  readonly failed: FailedCounts
  readonly errors: BatchError[]
  constructor (result: SendResult, failed: FailedCounts, errors: BatchError[]) {
    super(`${failed.samples} samples in ${failed.requests} request${failed.requests === 1 ? '' : 's'} were not accepted: ${errors[0]?.message ?? 'unknown'}`, 'ERR_PRW_SEND')
    this.name = 'SendError'
    this.result = result
    this.failed = failed
    this.errors = errors
  }
}

/** close(), consume() or a writable() found samples that were never acknowledged. */
export class LostDataError extends RemoteWriteError {
  readonly summary: WriterSummary
  constructor (summary: WriterSummary) {
    super(`${summary.failed.samples} samples in ${summary.failed.requests} requests were not accepted: ${summary.errors[0]?.message ?? 'unknown'}`, 'ERR_PRW_LOST')
    this.name = 'LostDataError'
    this.summary = summary
  }
}

// ---- the table --------------------------------------------------------------------------

/** Every code, the class whose instances carry it, and when it happens. */
export const ERRORS = {
  ERR_PRW: { type: RemoteWriteError, when: 'the base class; not thrown by itself' },
  ERR_PRW_INVALID_ARGUMENT: { type: InvalidArgumentError, when: 'an option or argument is invalid' },
  ERR_PRW_VALIDATION: { type: ValidationError, when: 'an item is invalid (names the series, field, label or sample)' },
  ERR_PRW_SNAPPY: { type: SnappyError, when: 'a snappy body is corrupt or decodes too large' },
  ERR_PRW_DECODE: { type: DecodeError, when: 'a protobuf body is malformed' },
  ERR_PRW_CORE_TRAP: { type: CoreTrapError, when: 'the WebAssembly core trapped (out of memory) and was replaced' },
  ERR_PRW_INTERNAL: { type: InternalError, when: 'a bug in this library, or an incomplete install (no build/release.wasm)' },
  ERR_PRW_CLOSED: { type: WriterClosedError, when: 'a call on a closed writer' },
  ERR_PRW_ABORTED: { type: AbortedError, when: "the writer's signal was aborted" },
  ERR_PRW_TIMEOUT: { type: TimeoutError, when: 'an attempt got no answer in time (the cause of a BatchError)' },
  ERR_PRW_IO_THREAD: { type: IoThreadError, when: 'the I/O thread could not start or exited (the cause of a BatchError)' },
  ERR_PRW_LISTENER: { type: ListenerError, when: 'an event listener threw (a process warning)' },
  ERR_PRW_BATCH: { type: BatchError, when: 'a request failed for good (reported, not thrown, by the writer)' },
  ERR_PRW_SEND: { type: SendError, when: 'send() could not deliver everything' },
  ERR_PRW_SPOOL: { type: SpoolError, when: 'the spool directory is held by another process, or cannot be used' },
  ERR_PRW_LOST: { type: LostDataError, when: 'close(), consume() or writable() found samples lost' },
} as const

/** A code of ERRORS. */
export type ErrorCode = keyof typeof ERRORS

/**
 * An error that crossed a thread boundary as its message and code, rebuilt as its class: a
 * timeout as a TimeoutError, an abort as an AbortedError, anything else (an error of undici or
 * of the system) as an IoError with the original's code.
 */
export function rebuildError (message: string, code: string | undefined): Error {
  if (code === 'ERR_PRW_TIMEOUT') return new TimeoutError(message)
  if (code === 'ERR_PRW_ABORTED') return new AbortedError(message)
  if (code === 'ERR_PRW_IO_THREAD') return new IoThreadError(message)
  return new IoError(message, code)
}

/** `{__name__="x", a="b"}` with long label sets cut short. */
export function describeLabels (labels: Readonly<Record<string, string>>): string {
  const parts: string[] = []
  let size = 0
  for (const k of Object.keys(labels)) {
    const v: unknown = labels[k]
    const part = `${k}=${typeof v === 'string' ? JSON.stringify(v) : `<${typeof v}>`}`
    size += part.length
    if (size > 200) {
      parts.push('…')
      break
    }
    parts.push(part)
  }
  return `{${parts.join(', ')}}`
}

