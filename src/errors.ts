/**
 * Error classes and the core's error codes.
 *
 * Every error carries a stable `code` string. Messages never contain secrets: auth headers,
 * tokens and passwords are never passed to these constructors.
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

/** `{__name__="x", a="b"}` with long label sets cut short. */
export function describeLabels (labels: Readonly<Record<string, string>>): string {
  const parts: string[] = []
  let size = 0
  for (const k of Object.keys(labels)) {
    const part = `${k}=${JSON.stringify(String(labels[k]))}`
    size += part.length
    if (size > 200) {
      parts.push('…')
      break
    }
    parts.push(part)
  }
  return `{${parts.join(', ')}}`
}
