/**
 * A remote-write receiver (Remote Write 1.0 and 2.0) on Node's http server, decoding with the
 * WebAssembly decompressor and the project's decoder. It checks what a strict backend
 * checks and answers as the spec says: 204, or 400 with the reason as text (415 for a
 * content type or encoding it does not speak, 405 for other methods, 413 past a size
 * limit: the body, its decoded length, or what decoding it would build). It counts series,
 * samples and bytes, keeps an order-independent checksum of what it accepted (checksum.ts),
 * and can inject faults for testing clients.
 *
 * Decoding is synchronous, so what one request may cost is bounded before it is decoded
 * (the codec's DecodeOptions limits, `decodeLimits` here): a small body of millions of empty
 * records is answered 413 after one scan of its bytes, and the receiver goes on serving.
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CoreCode, SnappyError } from '../errors.js'
import { DECODE_LIMITS, createCodec } from '../index.js'
import type { DecodedItem, DecodeLimits, DecodeOptions } from '../index.js'
import { addSamples, labelsHash } from './checksum.js'

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
}

/** What a receiver has seen. */
export interface ReceiverStats {
  requests: number
  accepted: number
  rejected: number
  injected: number
  series: number
  samples: number
  bytes: number
  /** Native histogram samples accepted. */
  histograms: number
  /** Exemplars accepted. */
  exemplars: number
  /** Order-independent checksum of accepted samples (uint32). */
  checksum: number
  /** Rejections by status. */
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

/** A body refused for its size: decoded past maxDecodedBytes, or past a decode limit (the error names it). */
function tooLarge (err: unknown): boolean {
  if (err instanceof SnappyError) return err.coreCode === CoreCode.TOO_LARGE
  return err instanceof Error && typeof (err as { limit?: unknown }).limit === 'string'
}

/** The Content-Type of Remote Write 2.0, exactly (protocol.md §2.2). */
const V2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request'

/** Starts a receiver and resolves once it listens. */
export async function startReceiver (options: ReceiverOptions = {}): Promise<Receiver> {
  const {
    port = 0, host = '127.0.0.1', maxBodyBytes = 32 << 20, maxDecodedBytes = 32 << 20, failRate = 0, status = 503, retryAfter,
    latency = 0, resetRate = 0, dropRequest, seed = 1, onItems, decodeLimits = {}, forward, get,
  } = options
  const codec = await createCodec({ seriesCacheBytes: 0, maxDecodedBytes })
  // Only the limits: strict, counts and bigint are the receiver's to set.
  const limits: DecodeOptions = { ...decodeLimits, bigint: false, strict: true, counts: undefined }
  codec.decode(new Uint8Array(1), limits) // an empty request: throws InvalidArgumentError now for a bad limit, not on every request
  let rng = seed >>> 0 || 1
  const draw = (): number => {
    rng ^= rng << 13
    rng >>>= 0
    rng ^= rng >>> 17
    rng ^= rng << 5
    rng >>>= 0
    return rng / 4294967296
  }
  const stats: ReceiverStats = {
    requests: 0, accepted: 0, rejected: 0, injected: 0, series: 0, samples: 0, bytes: 0, histograms: 0, exemplars: 0, checksum: 0, statuses: {},
  }

  const answer = (res: ServerResponse, code: number, text = '', headers: Record<string, string> = {}): void => {
    const send = (): void => {
      if (code >= 300) {
        stats.rejected++
        stats.statuses[code] = (stats.statuses[code] ?? 0) + 1
      }
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', ...headers })
      res.end(text === '' ? undefined : `${text}\n`)
    }
    if (latency > 0) setTimeout(send, latency)
    else send()
  }

  const handle = (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    if (resetRate > 0 && draw() < resetRate) {
      stats.injected++
      req.socket.destroy()
      return
    }
    if (failRate > 0 && draw() < failRate) {
      stats.injected++
      answer(res, status, 'injected failure', retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) })
      return
    }
    const encoding = req.headers['content-encoding']
    if (encoding !== undefined && encoding !== 'snappy') return answer(res, 415, `unsupported Content-Encoding ${JSON.stringify(encoding)}`)
    const type = req.headers['content-type']
    const v2 = type === V2_TYPE
    if (type !== undefined && !v2 && type !== 'application/x-protobuf' && type !== 'application/x-protobuf;proto=prometheus.WriteRequest') {
      return answer(res, 415, `unsupported Content-Type ${JSON.stringify(type)}`)
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
      return answer(res, tooLarge(err) ? 413 : 400, (err as Error).message)
    }
    stats.accepted++
    // The written counts a 2.0 sender reads (and a 1.0 sender may): what was stored, or, for
    // the dropped request, what a lying server claims it stored.
    let samples = 0
    for (const it of items) samples += it.values.length
    const written = {
      'x-prometheus-remote-write-samples-written': String(samples),
      'x-prometheus-remote-write-histograms-written': String(histograms),
      'x-prometheus-remote-write-exemplars-written': String(exemplars),
    }
    if (dropRequest !== undefined && stats.accepted === dropRequest) return answer(res, 204, '', written)
    if (forward !== undefined) {
      stats.accepted--
      forward(items, { samples, histograms, exemplars }).then(() => {
        stats.accepted++
        count(items, body.length, histograms, exemplars)
        answer(res, 204, '', written)
      }, (err: { status?: unknown, retryAfter?: unknown, name?: unknown, message?: unknown }) => {
        const code = typeof err?.status === 'number' ? err.status : err?.name === 'ValidationError' ? 400 : 503
        const headers: Record<string, string> = typeof err?.retryAfter === 'number' ? { 'retry-after': String(err.retryAfter) } : {}
        answer(res, code, String(err?.message ?? err), headers)
      })
      return
    }
    count(items, body.length, histograms, exemplars)
    answer(res, 204, '', written)
  }

  const count = (items: DecodedItem[], bytes: number, histograms: number, exemplars: number): void => {
    for (const it of items) {
      stats.series++
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
      return answer(res, 405, 'method not allowed', { allow: 'POST' })
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
      if (tooBig) return answer(res, 413, `body larger than ${maxBodyBytes} bytes`)
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
    stats: () => ({ ...stats, statuses: { ...stats.statuses } }),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
