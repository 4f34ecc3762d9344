// A scriptable remote-write receiver for transport tests: a real `http.createServer` on
// 127.0.0.1, port 0 (style.md item 18). Every body is decoded INDEPENDENTLY of src/: the snappy
// block with the native `snappy` package and with `snappyjs` (both must agree), then the
// protobuf with protobufjs and the hand-built schema of test/support/schema.ts (protocol.md §1.1), reading
// Sample.value as raw u64 bits so values compare bit-exact.
//
// Each test scripts the answers with a handler `(req, n) => reply`, called once the body has been
// read and decoded. A reply may set the status, headers and body, wait (`delayMs`, or return a
// promise: a stall), or reset the connection (`reset`: req.socket.destroy()).
import http from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import protobuf from 'protobufjs'
import { uncompressSync } from 'snappy'
import SnappyJS from 'snappyjs'
import { WriteRequestBits } from './schema.js'
import type { LongLike, PbWriteRequest } from './schema.js'

/** One TimeSeries as received. */
export interface ReceivedSeries {
  /** Labels as an object (insertion order = wire order). */
  labels: Record<string, string>
  /** Labels in wire order. */
  pairs: Array<[string, string]>
  /** Sample values as raw IEEE-754 bits (NaN payloads kept). */
  bits: BigUint64Array
  /** The same values as float64s (a view over `bits`). */
  values: Float64Array
  /** Timestamps as BigInt (int64, exact). */
  ts: BigInt64Array
  /** Timestamps as numbers (exact for |t| < 2^53). */
  timestamps: number[]
}

/** What the receiver saw of one request. */
export interface CapturedRequest {
  /** 1-based arrival number. */
  n: number
  method: string
  url: string
  /** Header names lowercased; repeated headers joined by ', ' (as Node does). */
  headers: http.IncomingHttpHeaders
  /** Raw header pairs as sent (name case preserved). */
  rawHeaders: string[]
  /** The compressed body. */
  body: Buffer
  /** Length of the compressed body. */
  compressedBytes: number
  /** Length of the decoded (uncompressed) protobuf; -1 when snappy failed. */
  bodyBytes: number
  /** Decoded series; [] when decoding failed. */
  items: ReceivedSeries[]
  /** Why decoding failed, if it did. */
  decodeError: string | undefined
  /** Date.now() when the body had been read. */
  at: number
  /** Which TCP connection carried it (1-based, in order of connection). */
  socketId: number
  /** The status the handler chose (undefined for a reset). */
  status: number | undefined
  /** Whether the connection was reset instead of answered. */
  reset: boolean
  /** Whether the whole response was written before the connection went away. */
  answered: boolean
}

/** How to answer one request. Every field is optional: the default is 204 with no body. */
export interface Reply {
  status?: number
  headers?: Record<string, string | string[]>
  body?: string | Buffer
  /** Wait this long before answering (or resetting). */
  delayMs?: number
  /** Destroy the socket instead of answering (a connection reset). */
  reset?: boolean
}

/** Scripts the answer to the n-th (1-based) request. A returned promise stalls the answer. */
export type Handler = (req: CapturedRequest, n: number) => Reply | undefined | void | Promise<Reply | undefined | void>

export interface ReceiverOptions {
  handler?: Handler
}

export interface Receiver {
  /** `http://127.0.0.1:PORT/api/v1/write` */
  url: string
  port: number
  /** Every request, in arrival order. */
  requests: CapturedRequest[]
  /** Connections accepted so far. */
  connections: () => number
  /** Requests whose handler has not answered (or reset) yet. */
  pending: () => number
  /** Stops listening and destroys every connection (stalled requests included). */
  close: () => Promise<void>
}

function fromLong (x: LongLike | number, unsigned: boolean): bigint {
  if (typeof x === 'number') return unsigned ? BigInt.asUintN(64, BigInt(x)) : BigInt(x)
  const u = (BigInt(x.high >>> 0) << 32n) | BigInt(x.low >>> 0)
  return unsigned ? u : BigInt.asIntN(64, u)
}

/** Decodes a body as a Remote Write 1.0 request with two snappy decoders and protobufjs. */
export function decodeBody (body: Buffer): { raw: Buffer, items: ReceivedSeries[] } {
  const raw = uncompressSync(body) as Buffer
  const js = SnappyJS.uncompress(new Uint8Array(body.buffer, body.byteOffset, body.byteLength)) as Uint8Array
  if (!raw.equals(Buffer.from(js.buffer, js.byteOffset, js.byteLength))) {
    throw new Error(`native snappy and snappyjs disagree (${raw.length} vs ${js.length} bytes)`)
  }
  const msg = WriteRequestBits.decode(raw) as unknown as PbWriteRequest<LongLike | number>
  if (msg.metadata.length !== 0) throw new Error('unexpected metadata in a sample request')
  const items = msg.timeseries.map((t): ReceivedSeries => {
    if (t.exemplars.length !== 0 || t.histograms.length !== 0) throw new Error('unexpected exemplars or histograms')
    const n = t.samples.length
    const bits = new BigUint64Array(n)
    const ts = new BigInt64Array(n)
    for (let i = 0; i < n; i++) {
      const s = t.samples[i]
      bits[i] = s.value === undefined ? 0n : fromLong(s.value, true)
      ts[i] = s.timestamp === undefined ? 0n : fromLong(s.timestamp, false)
    }
    const pairs = t.labels.map((l): [string, string] => [l.name, l.value])
    return {
      labels: Object.fromEntries(pairs),
      pairs,
      bits,
      values: new Float64Array(bits.buffer),
      ts,
      timestamps: Array.from(ts, Number),
    }
  })
  return { raw, items }
}

// protobufjs needs `long` for exact 64-bit integers; fail loudly rather than round silently.
if (!protobuf.util.Long) throw new Error('protobufjs has no Long support: install `long`')

/** Starts a receiver on 127.0.0.1, port 0. */
export async function startReceiver (opts: ReceiverOptions = {}): Promise<Receiver> {
  const handler = opts.handler ?? ((): Reply => ({ status: 204 }))
  const requests: CapturedRequest[] = []
  const sockets = new Set<Socket>()
  const ids = new WeakMap<Socket, number>()
  const timers = new Set<NodeJS.Timeout>()
  let connections = 0
  let pending = 0
  let closed = false

  const wait = (ms: number): Promise<void> => new Promise((resolve) => {
    const t = setTimeout(() => {
      timers.delete(t)
      resolve()
    }, ms)
    timers.add(t)
  })

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('error', () => {})
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const cap: CapturedRequest = {
        n: requests.length + 1,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
        compressedBytes: body.length,
        bodyBytes: -1,
        items: [],
        decodeError: undefined,
        at: Date.now(),
        socketId: ids.get(req.socket) ?? 0,
        status: undefined,
        reset: false,
        answered: false,
      }
      try {
        const { raw, items } = decodeBody(body)
        cap.bodyBytes = raw.length
        cap.items = items
      } catch (err) {
        cap.decodeError = (err as Error).message
      }
      requests.push(cap)
      pending++
      void (async () => {
        let reply: Reply
        try {
          reply = (await handler(cap, cap.n)) ?? {}
        } catch (err) {
          reply = { status: 599, body: `handler threw: ${(err as Error).message}` }
        }
        if (reply.delayMs !== undefined && reply.delayMs > 0) await wait(reply.delayMs)
        pending--
        if (closed || res.destroyed || req.socket.destroyed) return
        if (reply.reset) {
          cap.reset = true
          req.socket.destroy()
          return
        }
        cap.status = reply.status ?? 204
        res.on('finish', () => { cap.answered = true })
        res.writeHead(cap.status, reply.headers)
        res.end(reply.body)
      })()
    })
  })
  server.on('connection', (socket: Socket) => {
    ids.set(socket, ++connections)
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  server.keepAliveTimeout = 30_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}/api/v1/write`,
    port,
    requests,
    connections: () => connections,
    pending: () => pending,
    close: async () => {
      closed = true
      for (const t of timers) clearTimeout(t)
      timers.clear()
      const done = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const s of sockets) s.destroy()
      server.closeAllConnections()
      await done
    },
  }
}

/** A gate for stalls: `await g.wait` in a handler until the test calls `g.open()`. */
export function gate (): { wait: Promise<void>, open: () => void, isOpen: () => boolean } {
  let open!: () => void
  let isOpen = false
  const wait = new Promise<void>((resolve) => { open = () => { isOpen = true; resolve() } })
  return { wait, open, isOpen: () => isOpen }
}

/** Whether the receiver answered the request with a 2xx (it may still not have reached a client that gave up). */
export function accepted (r: CapturedRequest): boolean {
  return r.status !== undefined && r.status >= 200 && r.status < 300
}

/** A URL nobody listens on: a port the OS gave us, closed again (connections are refused). */
export async function deadUrl (): Promise<string> {
  const srv = http.createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as AddressInfo).port
  await new Promise((resolve) => srv.close(resolve))
  return `http://127.0.0.1:${port}/api/v1/write`
}
