/**
 * The writer's options: their types, defaults, and one resolveOptions() that checks every one
 * before anything is built (an InvalidArgumentError naming the option, what it must be, and
 * what it got; secrets are never echoed).
 */
import type { Dispatcher } from 'undici'
import { InvalidArgumentError } from '../errors.js'
import type { BatchError } from '../errors.js'
import type { CodecOptions } from '../codec/encoder.js'
import type { SpoolOptions } from '../spool/spool.js'
import type { Auth, TlsOptions, TransportOptions } from '../transport/http.js'

export type { SpoolOptions } from '../spool/spool.js'

/** Options of RemoteWriter. Durations are in milliseconds. */
export interface RemoteWriterOptions extends CodecOptions {
  /** The remote-write endpoint, e.g. `http://localhost:9090/api/v1/write`. */
  url: string | URL
  /** Extra headers. The protocol's own headers and Authorization cannot be overridden. */
  headers?: Record<string, string>
  /** Basic auth or a bearer token (sent as Authorization). */
  auth?: Auth
  /** Tenant for multi-tenant backends (Mimir, Cortex, Loki-style): sent as X-Scope-OrgID. */
  tenant?: string
  /** Time limit of one attempt, at most 2^31-1 (a Node timer's longest). Default 30000 (Prometheus's remote_timeout). */
  timeout?: number
  /** Samples per request. Default 2000 (Prometheus's max_samples_per_send). */
  maxSamplesPerRequest?: number
  /** Uncompressed protobuf bytes per request. Default 4 MiB (receivers allow 32 MiB). */
  maxBytesPerRequest?: number
  /** Shards, i.e. requests in flight in parallel. Default 4. */
  concurrency?: number
  /** A partly filled batch is sent after this long. Default 5000 (batch_send_deadline). */
  flushInterval?: number
  /** Samples waiting to be acknowledged before producers must wait. Default 100000. */
  maxBufferedSamples?: number
  /** Bytes (compressed bodies plus open batches, estimated) before producers wait. Default 64 MiB. */
  maxBufferedBytes?: number
  /** First retry delay cap. Default 30. */
  minBackoff?: number
  /** Largest retry delay cap. Default 5000. */
  maxBackoff?: number
  /** Retries per batch before it fails for good. Default 10. */
  maxRetries?: number
  /** Time per batch, from its first attempt, after which it is not retried again. Default 120000. */
  maxRetryDuration?: number
  /**
   * The longest close() takes, unless `close({ timeout })` says otherwise: when it has passed,
   * what is in flight is aborted and everything not acknowledged is reported failed (reason
   * 'timeout'). Default Infinity: close() waits until every request is acknowledged or has
   * failed for good (with the defaults, up to about 150 s per request queued on a shard).
   */
  closeTimeout?: number
  /** Retry 429 Too Many Requests. Default true. */
  retryOn429?: boolean
  /** TLS settings for https. */
  tls?: TlsOptions
  /** An HTTP(S) proxy URL. */
  proxy?: string | URL
  /** Use HTTP_PROXY / HTTPS_PROXY / NO_PROXY from the environment. Default false. */
  useEnvProxy?: boolean
  /**
   * 'v1' (default): Remote Write 1.0. 'v2': Remote Write 2.0 (io.prometheus.write.v2.Request,
   * with metadata from `item.metadata`); a 2xx without X-Prometheus-Remote-Write-Samples-Written
   * means a 1.0 receiver that stored nothing, and the batch is reported failed. 'auto': 2.0
   * first; on 415, or on that 2xx without written counts, the writer switches to 1.0 for good
   * (remembered per endpoint URL in this process) and resends the batch as 1.0.
   */
  protocol?: 'v1' | 'v2' | 'auto'
  /** An undici Dispatcher to use instead of the writer's own Pool (it is used on the calling thread). */
  dispatcher?: Dispatcher
  /**
   * Send from the process's I/O thread (one worker thread shared by all writers). Default true,
   * unless a `dispatcher` is given. Encoding stays on the calling thread; the I/O thread queues
   * each shard's sealed batches and sends the next the moment the previous is acknowledged, so
   * neither thread waits for the other. Retry decisions stay with the writer; order per series
   * is kept. `false` sends from the calling thread, one batch per shard at a time.
   */
  ioThread?: boolean
  /** Aborting stops retries and in-flight requests; what is not acknowledged is reported failed. */
  signal?: AbortSignal
  /** Called once per batch that failed for good (also emitted as 'error' when listened for). */
  onError?: (err: BatchError) => void
  /**
   * A durable spool: every request is written to files in `spool.dir` when it is sealed and
   * stays there until it is acknowledged (or failed for good and reported); a writer opening
   * the directory after a crash sends what is there first. flush() then resolves when what was
   * written before it is on disk (fsynced), not when it is acknowledged. With a spool,
   * maxRetries and maxRetryDuration default to Infinity (the spool, bounded by maxBytes and
   * maxAge, holds what waits), and what waits on disk is not in memory: maxBufferedSamples and
   * maxBufferedBytes bound only the requests in memory. See the README, "Durable spool".
   */
  spool?: SpoolOptions
}

/** The numeric and protocol options, resolved. */
export interface Resolved {
  timeout: number
  maxSamplesPerRequest: number
  maxBytesPerRequest: number
  concurrency: number
  flushInterval: number
  maxBufferedSamples: number
  maxBufferedBytes: number
  minBackoff: number
  maxBackoff: number
  maxRetries: number
  maxRetryDuration: number
  retryOn429: boolean
  protocol: 'v1' | 'v2' | 'auto'
  spool: SpoolOptions | undefined
}

/** The longest delay a Node timer takes (2^31-1 ms). */
export const MAX_TIMER = 0x7fffffff
/** Shards at most: each holds one of the core's 4096 request slots while its batch is open. */
const MAX_CONCURRENCY = 1024

const shown = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v))

function check (ok: boolean, name: string, what: string, v: unknown): void {
  if (!ok) throw new InvalidArgumentError(`invalid ${name}: must be ${what} (got ${shown(v)})`)
}

const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
const isNum = (v: unknown, min: number, max = Infinity): boolean => typeof v === 'number' && v >= min && v <= max

/** A close() deadline (`closeTimeout`, or close()'s `timeout`): undefined, or ms >= 0, or Infinity. */
export function checkCloseTimeout (v: unknown, name: string): void {
  check(v === undefined || isNum(v, 0), name, 'a number of milliseconds >= 0, or Infinity', v)
}

/**
 * All options from the constructor's arguments (`new RemoteWriter(url, options)` or
 * `new RemoteWriter({ url, ...options })`), checked, with defaults filled in.
 */
export function resolveOptions (urlOrOptions: string | URL | RemoteWriterOptions, options: Omit<RemoteWriterOptions, 'url'> = {}): { opts: RemoteWriterOptions, o: Resolved, transport: TransportOptions } {
  if (urlOrOptions === null || (typeof urlOrOptions !== 'string' && typeof urlOrOptions !== 'object')) {
    throw new InvalidArgumentError('RemoteWriter needs a URL or an options object with url')
  }
  const opts: RemoteWriterOptions = typeof urlOrOptions === 'string' || urlOrOptions instanceof URL
    ? { ...options, url: urlOrOptions }
    : urlOrOptions
  const {
    timeout = 30_000, maxSamplesPerRequest = 2000, maxBytesPerRequest = 4 << 20, concurrency = 4,
    flushInterval = 5000, maxBufferedSamples = 100_000, maxBufferedBytes = 64 << 20,
    minBackoff = 30, maxBackoff = 5000, retryOn429 = true, protocol = 'v1',
  } = opts
  const spool = checkSpool(opts.spool)
  const { maxRetries = spool === undefined ? 10 : Infinity, maxRetryDuration = spool === undefined ? 120_000 : Infinity } = opts
  check(protocol === 'v1' || protocol === 'v2' || protocol === 'auto', 'protocol', "'v1', 'v2' or 'auto'", protocol)
  check(isNum(timeout, Number.MIN_VALUE, MAX_TIMER), 'timeout', `a number of milliseconds > 0 and <= ${MAX_TIMER}`, timeout)
  check(isInt(maxSamplesPerRequest, 1), 'maxSamplesPerRequest', 'an integer >= 1', maxSamplesPerRequest)
  check(isInt(maxBytesPerRequest, 1024), 'maxBytesPerRequest', 'an integer >= 1024', maxBytesPerRequest)
  check(isInt(concurrency, 1, MAX_CONCURRENCY), 'concurrency', `an integer from 1 to ${MAX_CONCURRENCY}`, concurrency)
  check(isNum(flushInterval, Number.MIN_VALUE), 'flushInterval', 'a number of milliseconds > 0', flushInterval)
  check(isInt(maxBufferedSamples, 1), 'maxBufferedSamples', 'an integer >= 1', maxBufferedSamples)
  check(isInt(maxBufferedBytes, 1) || maxBufferedBytes === Infinity, 'maxBufferedBytes', 'an integer >= 1, or Infinity', maxBufferedBytes)
  check(isNum(minBackoff, Number.MIN_VALUE, MAX_TIMER), 'minBackoff', `a number of milliseconds > 0 and <= ${MAX_TIMER}`, minBackoff)
  check(isNum(maxBackoff, minBackoff), 'maxBackoff', `a number of milliseconds >= minBackoff (${minBackoff})`, maxBackoff)
  check(isInt(maxRetries, 0) || maxRetries === Infinity, 'maxRetries', 'an integer >= 0, or Infinity', maxRetries)
  check(isNum(maxRetryDuration, 0), 'maxRetryDuration', 'a number of milliseconds >= 0, or Infinity', maxRetryDuration)
  checkCloseTimeout(opts.closeTimeout, 'closeTimeout')
  check(typeof retryOn429 === 'boolean', 'retryOn429', 'true or false', retryOn429)
  check(opts.ioThread === undefined || typeof opts.ioThread === 'boolean', 'ioThread', 'true or false', opts.ioThread)
  check(opts.onError === undefined || typeof opts.onError === 'function', 'onError', 'a function', typeof opts.onError)
  const signal = opts.signal as Partial<AbortSignal> | undefined
  check(signal === undefined || (signal !== null && typeof signal.aborted === 'boolean' && typeof signal.addEventListener === 'function'), 'signal', 'an AbortSignal', typeof signal)
  const o: Resolved = {
    timeout, maxSamplesPerRequest, maxBytesPerRequest, concurrency, flushInterval, maxBufferedSamples,
    maxBufferedBytes, minBackoff, maxBackoff, maxRetries, maxRetryDuration, retryOn429, protocol, spool,
  }
  const transport: TransportOptions = {
    url: opts.url, headers: opts.headers, auth: opts.auth, tenant: opts.tenant, tls: opts.tls,
    proxy: opts.proxy, useEnvProxy: opts.useEnvProxy, dispatcher: opts.dispatcher, connections: concurrency,
  }
  return { opts, o, transport }
}

/** The spool option, checked: each field named when it is wrong. */
function checkSpool (v: unknown): SpoolOptions | undefined {
  if (v === undefined) return undefined
  check(v !== null && typeof v === 'object' && !Array.isArray(v), 'spool', 'an object { dir, maxBytes, maxAge?, sync?, onFull? }', typeof v)
  const s = v as Partial<SpoolOptions>
  const known = new Set(['dir', 'maxBytes', 'maxAge', 'sync', 'onFull', 'segmentBytes'])
  for (const k of Object.keys(s)) check(known.has(k), `spool option ${k}`, `one of ${[...known].join(', ')}`, k)
  check(typeof s.dir === 'string' && s.dir !== '' && !s.dir.includes('\0'), 'spool.dir', 'a directory path', s.dir)
  check(isInt(s.maxBytes, 1 << 20), 'spool.maxBytes', 'an integer >= 1048576 (1 MiB); it is required with a spool', s.maxBytes)
  check(s.maxAge === undefined || isNum(s.maxAge, Number.MIN_VALUE), 'spool.maxAge', 'a number of milliseconds > 0, or Infinity', s.maxAge)
  check(s.sync === undefined || s.sync === 'always' || s.sync === 'batch' || s.sync === 'none', 'spool.sync', "'always', 'batch' or 'none'", s.sync)
  check(s.onFull === undefined || s.onFull === 'block' || s.onFull === 'dropOldest', 'spool.onFull', "'block' or 'dropOldest'", s.onFull)
  check(s.segmentBytes === undefined || (isInt(s.segmentBytes, 4096) && s.segmentBytes <= (s.maxBytes as number)), 'spool.segmentBytes', 'an integer from 4096 to maxBytes', s.segmentBytes)
  return { ...s } as SpoolOptions
}
