/**
 * A remote-write receiver (Remote Write 1.0 and 2.0) on Node's http server, decoding with the
 * WebAssembly decompressor and the project's decoder. It checks what a strict backend
 * checks and answers as the spec says: 204, or 400 with the reason as text (415 for a
 * content type or encoding it does not speak, 405 for other methods, 413 past a size
 * limit: the body, its decoded length, or what decoding it would build). It counts requests by
 * what became of them (accepted; rejected, by reason; injected faults, by kind; other answers,
 * such as 405), distinct series (distinct-series.ts), samples and bytes, keeps an
 * order-independent checksum of what it accepted (checksum.ts), and can inject faults for
 * testing clients.
 *
 * Decoding is synchronous, so what one request may cost is bounded before it is decoded
 * (the codec's DecodeOptions limits, `decodeLimits` here): a small body of millions of empty
 * records is answered 413 after one scan of its bytes, and the receiver goes on serving.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CoreCode, DecodeError, SnappyError } from '../errors.js'
import { DECODE_LIMITS, createCodec } from '../index.js'
import type { DecodedItem, DecodeLimits, DecodeOptions } from '../index.js'
import { addSamples, labelsHash } from './checksum.js'
import { DistinctSeries } from './distinct-series.js'

/** Faults to inject, for testing clients. Rates are probabilities in [0, 1]. */
export interface FaultOptions {
  /** Share of requests answered with `status` instead of being accepted. */
  failRate?: number
  /** The status of injected failures. Default 503. */
  status?: number
  /** Retry-After (seconds) sent with injected failures. */
  retryAfter?: number
  /** Delay before every answer, in ms. */
  latency?: number
  /** Share of requests whose connection is reset without an answer. */
  resetRate?: number
  /** Drop (do not count) the n-th accepted request, answering 204 anyway: a lying server. */
  dropRequest?: number
  /** Seed for the fault draws (deterministic). Default 1. */
  seed?: number
}

export interface ReceiverOptions extends FaultOptions {
  /** Port; 0 picks a free one. Default 0. */
  port?: number
  /** Address to listen on. Default 127.0.0.1. */
  host?: string
  /** Largest compressed body accepted. Default 32 MiB, as Prometheus. */
  maxBodyBytes?: number
  /** Largest decoded (uncompressed) body accepted. Default 32 MiB. */
  maxDecodedBytes?: number
  /**
   * Bounds on what decoding one request may build (records of each kind, object bytes,
   * object bytes per body byte), answered 413 past them; the codec's defaults otherwise.
   */
  decodeLimits?: Omit<DecodeOptions, 'bigint' | 'strict' | 'counts'>
  /** Called with every accepted request's series. */
  onItems?: (items: DecodedItem[]) => void
  /**
   * Takes every request that passed the checks before it is answered (the relay): the answer
   * waits for it. When it rejects, the request is not accepted: answered with the error's
   * `status` (400 for a ValidationError, else 503) and `retryAfter` seconds, if it has them.
   */
  forward?: (items: DecodedItem[], counts: { samples: number, histograms: number, exemplars: number }) => Promise<void>
  /** Answers to GET, by path (e.g. `/metrics`): a body and its content type. */
  get?: Record<string, () => { type: string, body: string }>
  /** Distinct series are counted exactly up to this many (16 bytes each at most), then estimated. Default 1,000,000. */
  exactSeries?: number
}

/** Why a request was rejected: what its sender must fix (it is answered 400, 413 or 415). */
export type RejectReason =
  /** 415: a Content-Type that is not Remote Write 1.0 or 2.0. */
  | 'content-type'
  /** 415: a Content-Encoding other than snappy. */
  | 'content-encoding'
  /** 413: a body, or its decoded length, past its limit, or past a decode limit (the answer names it). */
  | 'too-large'
  /** 400: not valid snappy. */
  | 'snappy'
  /** 400: not a valid protobuf request (truncated, wrong wire types, bad symbol refs, not UTF-8, ...). */
  | 'protobuf'
  /** 400: labels not sorted, duplicated, invalid names, empty values, no metric name. */
  | 'labels'
  /** 400: samples out of order, a series carrying nothing, invalid native histograms. */
  | 'samples'
  /** 400: refused as invalid by `forward` (the relay's writer). */
  | 'invalid'
  /** 400: decoding failed otherwise. */
  | 'error'

/** Requests answered neither 2xx nor as bad requests. */
export type OtherReason =
  /** 405: not a POST (a browser's GET, say). */
  | 'method'
  /** `forward` could not take the request now (the relay's full spool): answered with its status, 503. */
  | 'unavailable'

/** What a receiver has seen. Each `...By` has an entry for each reason that happened. */
export interface ReceiverStats {
  /** Every request but the `get` pages; when all are answered, accepted + rejected + injected + other. */
  requests: number
  accepted: number
  /** Bad requests: the sender must change them (injected faults are not among them). */
  rejected: number
  rejectedBy: Partial<Record<RejectReason, number>>
  /** Faults injected (FaultOptions): answered `status`, or the connection reset. */
  injected: number
  injectedBy: Partial<Record<'status' | 'reset', number>>
  other: number
  otherBy: Partial<Record<OtherReason, number>>
  /** Distinct series (label sets, in any label order) accepted over the run; see `seriesApproximate`. */
  series: number
  /** True once more than `exactSeries` series were seen: `series` is then an estimate (standard error 0.8%). */
  seriesApproximate: boolean
  samples: number
  bytes: number
  /** Native histogram samples accepted. */
  histograms: number
  /** Exemplars accepted. */
  exemplars: number
  /** Order-independent checksum of accepted samples (uint32). */
  checksum: number
  /** Every answer of 300 or more, by status: rejected, injected (but resets) and other together. */
  statuses: Record<number, number>
}

export interface Receiver {
  /** `http://host:port/api/v1/write` */
  readonly url: string
  readonly port: number
  stats(): ReceiverStats
  close(): Promise<void>
}

/** The limits of DecodeOptions, by the names their errors give. */
const LIMITS = Object.keys(DECODE_LIMITS) as Array<keyof DecodeLimits>

/**
 * Decode limits from `NAME=N` specs (`prw receive --limit maxSamples=8000000`), named as a
 * DecodeError past one names it. Throws Error naming a spec it cannot read.
 */
export function parseDecodeLimits (specs: readonly string[]): NonNullable<ReceiverOptions['decodeLimits']> {
  const out: NonNullable<ReceiverOptions['decodeLimits']> = {}
  for (const spec of specs) {
    const eq = spec.indexOf('=')
    const name = spec.slice(0, eq) as keyof DecodeLimits
    const value = Number(spec.slice(eq + 1))
    if (eq < 0 || !LIMITS.includes(name)) throw new Error(`invalid --limit ${JSON.stringify(spec)}: must be NAME=N with NAME one of ${LIMITS.join(', ')}`)
    if (spec.slice(eq + 1).trim() === '' || !(value >= 0)) throw new Error(`invalid --limit ${JSON.stringify(spec)}: N must be a number >= 0, or Infinity`)
    out[name] = value
  }
  return out
}

/** What a DecodeError's message says is wrong with the labels, or with the samples (decode-parts.ts, decode.ts, decode-v2.ts). */
const LABEL_PROBLEM = /: (?:labels not sorted|invalid label name|empty value for label|missing __name__|invalid metric name)/
const SAMPLE_PROBLEM = /: (?:samples out of order|carries (?:no|both) samples|item: histograms\[)/

/** The status and reason of a body that did not decode: 413 past a size or decode limit (the error names it), else 400. */
function decodeFailure (err: unknown): { code: number, reason: RejectReason } {
  if (err instanceof SnappyError) return err.coreCode === CoreCode.TOO_LARGE ? { code: 413, reason: 'too-large' } : { code: 400, reason: 'snappy' }
  if (!(err instanceof DecodeError)) return { code: 400, reason: 'error' }
  if (typeof (err as { limit?: unknown }).limit === 'string') return { code: 413, reason: 'too-large' }
  if (LABEL_PROBLEM.test(err.message)) return { code: 400, reason: 'labels' }
  return { code: 400, reason: SAMPLE_PROBLEM.test(err.message) ? 'samples' : 'protobuf' }
}

/** The Content-Type of Remote Write 2.0, exactly (protocol.md §2.2). */
const V2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request'

const bump = <K extends PropertyKey>(by: Partial<Record<K, number>>, key: K): void => { by[key] = (by[key] ?? 0) + 1 }

/** Starts a receiver and resolves once it listens. */
export async function startReceiver (options: ReceiverOptions = {}): Promise<Receiver> {
  const {
    port = 0, host = '127.0.0.1', maxBodyBytes = 32 << 20, maxDecodedBytes = 32 << 20, failRate = 0, status = 503, retryAfter,
    latency = 0, resetRate = 0, dropRequest, seed = 1, onItems, decodeLimits = {}, forward, get, exactSeries,
  } = options
  const codec = await createCodec({ seriesCacheBytes: 0, maxDecodedBytes })
  // Only the limits: strict, counts and bigint are the receiver's to set.
  const limits: DecodeOptions = { ...decodeLimits, bigint: false, strict: true, counts: undefined }
  codec.decode(new Uint8Array(1), limits) // an empty request: throws InvalidArgumentError now for a bad limit, not on every request
  const distinct = new DistinctSeries(exactSeries)
  /** Requests that passed the checks, for dropRequest. */
  let passed = 0
  // A small seed taken as it is starts xorshift near 0: its first draws (0.0001, 0.016 for
  // seed 1) would inject a fault into the first requests whatever the rate. Mixed first.
  let rng = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b)
  rng = Math.imul(rng ^ (rng >>> 13), 0xc2b2ae35)
  rng = (rng ^ (rng >>> 16)) >>> 0 || 1
  const draw = (): number => {
    rng ^= rng << 13
    rng >>>= 0
    rng ^= rng >>> 17
    rng ^= rng << 5
    rng >>>= 0
    return rng / 4294967296
  }
  const stats: ReceiverStats = {
    requests: 0, accepted: 0, rejected: 0, rejectedBy: {}, injected: 0, injectedBy: {}, other: 0, otherBy: {},
    series: 0, seriesApproximate: false, samples: 0, bytes: 0, histograms: 0, exemplars: 0, checksum: 0, statuses: {},
  }

  /** Answers after `latency`; `tally` counts the request then, in its category. */
  const answer = (res: ServerResponse, code: number, tally: () => void, text = '', headers: Record<string, string> = {}): void => {
    const send = (): void => {
      tally()
      if (code >= 300) bump(stats.statuses, code)
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', ...headers })
      res.end(text === '' ? undefined : `${text}\n`)
    }
    if (latency > 0) setTimeout(send, latency)
    else send()
  }
  const accept = (res: ServerResponse, written: Record<string, string>): void => answer(res, 204, () => stats.accepted++, '', written)
  const reject = (res: ServerResponse, code: number, reason: RejectReason, text: string): void => answer(res, code, () => {
    stats.rejected++
    bump(stats.rejectedBy, reason)
  }, text)
  const otherwise = (res: ServerResponse, code: number, reason: OtherReason, text: string, headers: Record<string, string>): void => answer(res, code, () => {
    stats.other++
    bump(stats.otherBy, reason)
  }, text, headers)
  const inject = (kind: 'status' | 'reset'): void => {
    stats.injected++
    bump(stats.injectedBy, kind)
  }

  /** Draws the faults to inject into this request; true when one was (and answered). */
  const drawFault = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (resetRate > 0 && draw() < resetRate) {
      inject('reset')
      req.socket.destroy()
      return true
    }
    if (failRate > 0 && draw() < failRate) {
      answer(res, status, () => inject('status'), 'injected failure', retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) })
      return true
    }
    return false
  }

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    if (drawFault(req, res)) return
    const encoding = req.headers['content-encoding']
    if (encoding !== undefined && encoding !== 'snappy') return reject(res, 415, 'content-encoding', `unsupported Content-Encoding ${JSON.stringify(encoding)}`)
    const type = req.headers['content-type']
    const v2 = type === V2_TYPE
    if (type !== undefined && !v2 && type !== 'application/x-protobuf' && type !== 'application/x-protobuf;proto=prometheus.WriteRequest') {
      return reject(res, 415, 'content-type', `unsupported Content-Type ${JSON.stringify(type)}`)
    }
    let items: DecodedItem[]
    let histograms = 0
    let exemplars = 0
    try {
      // Both refuse a decoded length above maxDecodedBytes, and a body past the limits
      // before decoding any of it.
      if (v2) {
        ({ items, histograms, exemplars } = codec.decodeV2(body, limits))
      } else {
        const counts = { histograms: 0, exemplars: 0 }
        items = codec.decode(body, { ...limits, counts })
        histograms = counts.histograms
        exemplars = counts.exemplars
      }
    } catch (err) {
      const { code, reason } = decodeFailure(err)
      return reject(res, code, reason, (err as Error).message)
    }
    // The written counts a 2.0 sender reads (and a 1.0 sender may): what was stored, or, for
    // the dropped request, what a lying server claims it stored.
    let samples = 0
    for (const it of items) samples += it.values.length
    const written = {
      'x-prometheus-remote-write-samples-written': String(samples),
      'x-prometheus-remote-write-histograms-written': String(histograms),
      'x-prometheus-remote-write-exemplars-written': String(exemplars),
    }
    // Numbered as they pass the checks: `accepted` counts answers, late with --latency.
    if (++passed === dropRequest) return accept(res, written)
    if (forward === undefined) {
      count(items, body.length, histograms, exemplars)
      return accept(res, written)
    }
    forward(items, { samples, histograms, exemplars }).then(() => {
      count(items, body.length, histograms, exemplars)
      accept(res, written)
    }, (err: { status?: unknown, retryAfter?: unknown, name?: unknown, message?: unknown }) => {
      const code = typeof err?.status === 'number' ? err.status : err?.name === 'ValidationError' ? 400 : 503
      const text = String(err?.message ?? err)
      // A 4xx is the request's fault; anything else is the forward's, for now.
      if (code >= 400 && code < 500) return reject(res, code, 'invalid', text)
      otherwise(res, code, 'unavailable', text, typeof err?.retryAfter === 'number' ? { 'retry-after': String(err.retryAfter) } : {})
    })
  }

  const count = (items: DecodedItem[], bytes: number, histograms: number, exemplars: number): void => {
    for (const it of items) {
      distinct.add(it.metric)
      stats.samples += it.values.length
      stats.checksum = addSamples(stats.checksum, labelsHash(it.metric), it.values, it.timestamps)
    }
    stats.bytes += bytes
    stats.histograms += histograms
    stats.exemplars += exemplars
    onItems?.(items)
  }

  const server: Server = createServer((req, res) => {
    const page = req.method === 'GET' ? get?.[(req.url ?? '').split('?')[0]] : undefined
    if (page !== undefined) {
      req.resume()
      const { type, body } = page()
      res.writeHead(200, { 'content-type': type })
      res.end(body)
      return
    }
    stats.requests++
    if (req.method !== 'POST') {
      req.resume()
      return otherwise(res, 405, 'method', 'method not allowed', { allow: 'POST' })
    }
    const chunks: Buffer[] = []
    let size = 0
    let tooBig = false
    req.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBodyBytes) tooBig = true
      else chunks.push(chunk)
    })
    req.on('end', () => {
      if (tooBig) return reject(res, 413, 'too-large', `body larger than ${maxBodyBytes} bytes`)
      handle(req, res, Buffer.concat(chunks, size))
    })
    req.on('error', () => {})
  })
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const actual = (server.address() as AddressInfo).port
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}/api/v1/write`,
    port: actual,
    stats: () => ({
      ...stats,
      rejectedBy: { ...stats.rejectedBy },
      injectedBy: { ...stats.injectedBy },
      otherBy: { ...stats.otherBy },
      statuses: { ...stats.statuses },
      series: distinct.count,
      seriesApproximate: distinct.approximate,
    }),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
