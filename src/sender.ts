/**
 * Senders: how the writer's attempts reach undici.
 *
 * - InlineSender runs each attempt on the calling thread (the writer awaits one batch per
 *   shard at a time). Used with an injected dispatcher, which cannot cross threads, with
 *   `ioThread: false`, and when the thread cannot be used (options it cannot receive, or no
 *   io-worker.js beside this module).
 * - WorkerSender hands attempts to one I/O thread per process, shared by all writers. It keeps
 *   a FIFO per shard and sends a shard's next batch the moment the previous one is accepted,
 *   without waiting for the writer's thread, which meanwhile encodes. A batch that is not
 *   accepted (any error, any non-2xx, a 2.0 short write) holds its shard until the writer
 *   decides: `attempt()` again (a retry, or a 1.0 re-send after a fallback) or `release()`.
 *   So a series' samples still reach the server in order, and every retry decision stays in
 *   the writer.
 *
 * Bodies go to the I/O thread by transfer, not copy, and come back with the outcome.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Transport, TransportOptions } from './http.js'
import { isTimeout } from './http.js'

/** A 2.0 receiver's written-count headers (protocol.md §2.5). */
export interface Written { samples: string | undefined, histograms: string | undefined }

/** What one attempt came to. `ms` is its latency (from when it was sent). */
export type Outcome =
  | { kind: 'answer', status: number, body: string, retryAfter: string | undefined, written: Written, ms: number, error?: undefined }
  | { kind: 'timeout' | 'network' | 'aborted', status?: undefined, body?: undefined, error: unknown, ms: number, lost?: true }

/**
 * Whether the sender holds the shard after this outcome, until the writer retries or releases
 * it: after every attempt it did not accept, except one that never got its turn (`lost`: its
 * body went down with the I/O thread; another batch of the shard may be the one held).
 */
export function holds (o: Outcome, expect: Expect): boolean {
  return !accepted(o, expect) && !(o.kind !== 'answer' && o.lost === true)
}

/** What a batch carries, for the acceptance check: a 2.0 receiver must have written it all. */
export interface Expect { v2: boolean, floats: number, histograms: number }

/** The body of a batch; a sender may take it away during an attempt and puts it back after. */
export interface Carrier { body: Uint8Array | undefined, pooled: Uint8Array | undefined }

export interface Sender {
  /** Attempts run on another thread, queued per shard: the writer hands over a shard's batches without waiting. */
  readonly pipelined: boolean
  /**
   * Attempt number `attempt` of a batch on `shard`. A first attempt queues behind the shard's
   * earlier batches; a later one goes first (its shard is held for it).
   */
  attempt (shard: number, carrier: Carrier, attempt: number, expect: Expect): Promise<Outcome>
  /** After an outcome that was not accepted: the shard's next batch may go. */
  release (shard: number): void
  /** Ends every attempt under way or queued (they come out 'aborted'). */
  abort (reason: unknown): void
  close (): Promise<void>
}

/**
 * For a 2xx to a 2.0 request: why it did not store the whole batch, or undefined if it did.
 * No written-count header means a 1.0 receiver, which decodes a 2.0 body as an empty 1.0
 * request and stores nothing (protocol.md §2.5; Prometheus 2.42 does exactly this). Float
 * samples and native histograms are counted apart; exemplars are not data a caller resends,
 * so a receiver that drops some (an exemplar store that is off or full) is not a failure.
 */
export function shortfall (written: Written, floats: number, histograms: number): string | undefined {
  if (written.samples === undefined) {
    return "answered 2xx without X-Prometheus-Remote-Write-Samples-Written: a Remote Write 1.0 receiver stores nothing of a 2.0 request (use protocol: 'v1')"
  }
  const n = Number(written.samples)
  if (!Number.isInteger(n) || n < floats) return `the receiver wrote ${written.samples} of ${floats} samples`
  if (histograms > 0) {
    const h = Number(written.histograms)
    if (written.histograms === undefined || !Number.isInteger(h) || h < histograms) {
      return `the receiver wrote ${written.histograms ?? 'no'} of ${histograms} native histogram samples`
    }
  }
  return undefined
}

/** Whether an outcome lets the shard's next batch go: a 2xx that, for 2.0, wrote everything. */
export function accepted (o: Outcome, expect: Expect): boolean {
  if (o.kind !== 'answer' || o.status < 200 || o.status >= 300) return false
  return !expect.v2 || shortfall(o.written, expect.floats, expect.histograms) === undefined
}

function first (v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

/** One attempt through a transport on this thread, as an Outcome. */
export async function attemptOn (transport: Transport, body: Uint8Array, attempt: number, timeoutMs: number, v2: boolean, aborted: () => boolean): Promise<Outcome> {
  const t0 = performance.now()
  try {
    const a = await transport.post(body, attempt, timeoutMs, v2)
    return {
      kind: 'answer', status: a.status, body: a.body, retryAfter: first(a.headers['retry-after']), ms: performance.now() - t0,
      written: {
        samples: first(a.headers['x-prometheus-remote-write-samples-written']),
        histograms: first(a.headers['x-prometheus-remote-write-histograms-written']),
      },
    }
  } catch (error) {
    const kind = aborted() ? 'aborted' : isTimeout(error) ? 'timeout' : 'network'
    return { kind, error, ms: performance.now() - t0 }
  }
}

/** Attempts on the calling thread. */
export class InlineSender implements Sender {
  readonly pipelined = false
  readonly #transport: Transport
  readonly #timeout: number
  #aborted = false

  constructor (transport: Transport, timeoutMs: number) {
    this.#transport = transport
    this.#timeout = timeoutMs
  }

  attempt (_shard: number, carrier: Carrier, attempt: number, expect: Expect): Promise<Outcome> {
    return attemptOn(this.#transport, carrier.body as Uint8Array, attempt, this.#timeout, expect.v2, () => this.#aborted)
  }

  release (): void {}

  abort (reason: unknown): void {
    this.#aborted = true
    this.#transport.abort(reason)
  }

  async close (): Promise<void> {}
}

// ---- the I/O thread ------------------------------------------------------------------------

/** Main → I/O thread. */
export type ToWorker =
  | { t: 'open', w: number, options: TransportOptions, timeout: number, shards: number, held: number[] }
  | { t: 'send', w: number, id: number, shard: number, buf: ArrayBuffer, off: number, len: number, attempt: number, expect: Expect }
  | { t: 'release', w: number, shard: number }
  | { t: 'abort', w: number, message: string }
  | { t: 'close', w: number }

/** I/O thread → main. An outcome's error travels as its message and code. */
export type FromWorker =
  | { t: 'done', w: number, id: number, buf: ArrayBuffer, outcome: Outcome }
  | { t: 'closed', w: number }

/** A thrown error rebuilt from what crossed the thread boundary. */
export class IoError extends Error {
  readonly code: string | undefined
  constructor (message: string, code: string | undefined) {
    super(message)
    this.name = 'IoError'
    this.code = code
  }
}

interface Pending {
  resolve: (o: Outcome) => void
  carrier: Carrier
  off: number
  len: number
  pooled: boolean
  w: number
  shard: number
  expect: Expect
}

/**
 * The process's I/O thread: started on first use, unreferenced whenever nothing is pending (so
 * it never keeps a process alive on its own), restarted if it ever exits.
 */
class IoThread {
  #worker: Worker | undefined
  readonly #pending = new Map<number, Pending>()
  readonly #closing = new Map<number, () => void>()
  readonly #opened = new Map<number, ToWorker & { t: 'open' }>()
  /**
   * Per writer, the shards the I/O thread holds (an attempt it did not accept, awaiting a
   * retry or a release): a thread started again after an exit starts them held too.
   */
  readonly #held = new Map<number, Set<number>>()
  #nextId = 1
  #nextWriter = 1
  /** What made the thread exit, if it threw: the cause of the failures it leaves behind. */
  #died: unknown = undefined

  /** Registers a writer's transport; throws if its options cannot cross to the thread. */
  open (options: TransportOptions, timeout: number, shards: number): number {
    const w = this.#nextWriter++
    const msg: ToWorker & { t: 'open' } = { t: 'open', w, options, timeout, shards, held: [] }
    structuredClone(msg) // a DataCloneError here, not in the thread's first start
    this.#opened.set(w, msg)
    this.#held.set(w, new Set())
    this.#worker?.postMessage(msg)
    return w
  }

  send (w: number, shard: number, carrier: Carrier, attempt: number, expect: Expect): Promise<Outcome> {
    const body = carrier.body as Uint8Array
    // Transfer the pooled buffer the body lives in; anything else (a view into a shared slab) is copied first.
    const own = carrier.pooled !== undefined && carrier.pooled.buffer === body.buffer
    const buf = (own ? body.buffer : body.slice().buffer) as ArrayBuffer
    const off = own ? body.byteOffset : 0
    const id = this.#nextId++
    return new Promise((resolve) => {
      let worker: Worker
      try {
        worker = this.#ensure()
      } catch (error) {
        resolve({ kind: 'network', error: new IoError(`the I/O thread could not start: ${(error as Error)?.message ?? error}`, 'ERR_PRW_IO_THREAD'), ms: 0 })
        return
      }
      if (attempt > 1) this.#held.get(w)?.delete(shard) // the held batch goes again, first
      this.#pending.set(id, { resolve, carrier, off, len: body.length, pooled: own, w, shard, expect })
      carrier.body = undefined
      if (own) carrier.pooled = undefined
      if (this.#pending.size === 1) worker.ref()
      const msg: ToWorker = { t: 'send', w, id, shard, buf, off, len: body.length, attempt, expect }
      worker.postMessage(msg, [buf])
    })
  }

  release (w: number, shard: number): void {
    this.#held.get(w)?.delete(shard)
    this.#worker?.postMessage({ t: 'release', w, shard } satisfies ToWorker)
  }

  post (msg: ToWorker): void {
    this.#worker?.postMessage(msg)
  }

  close (w: number): Promise<void> {
    this.#opened.delete(w)
    this.#held.delete(w)
    const worker = this.#worker
    if (worker === undefined) return Promise.resolve()
    return new Promise((resolve) => {
      this.#closing.set(w, resolve)
      worker.ref()
      worker.postMessage({ t: 'close', w } satisfies ToWorker)
    })
  }

  #ensure (): Worker {
    if (this.#worker !== undefined) return this.#worker
    const worker = startWorker()
    worker.unref()
    worker.on('message', (m: FromWorker) => this.#onMessage(m))
    worker.on('error', (e) => { this.#died = e }) // its exit follows; handled there
    worker.on('exit', () => this.#onExit(worker))
    for (const msg of this.#opened.values()) worker.postMessage({ ...msg, held: [...(this.#held.get(msg.w) ?? [])] })
    this.#worker = worker
    return worker
  }

  #onMessage (m: FromWorker): void {
    if (m.t === 'closed') {
      this.#closing.get(m.w)?.()
      this.#closing.delete(m.w)
    } else {
      const p = this.#pending.get(m.id)
      if (p !== undefined) {
        this.#pending.delete(m.id)
        const view = new Uint8Array(m.buf)
        p.carrier.body = view.subarray(p.off, p.off + p.len)
        if (p.pooled) p.carrier.pooled = view
        const o = m.outcome
        if (o.kind !== 'answer') o.error = new IoError((o.error as { message?: string })?.message ?? String(o.error), (o.error as { code?: string })?.code)
        if (holds(o, p.expect)) this.#held.get(p.w)?.add(p.shard)
        p.resolve(o)
      }
    }
    if (this.#pending.size === 0 && this.#closing.size === 0) this.#worker?.unref()
  }

  /** The thread died (it should not): what it held fails as a network error, without its body. */
  #onExit (worker: Worker): void {
    if (this.#worker !== worker) return
    this.#worker = undefined
    const pending = [...this.#pending.values()]
    this.#pending.clear()
    // Their bodies went with the thread: the writer reports these batches failed.
    const cause = this.#died
    this.#died = undefined
    for (const p of pending) {
      const error = new IoError('the I/O thread exited', 'ERR_PRW_IO_THREAD')
      if (cause !== undefined) error.cause = cause
      p.resolve({ kind: 'network', error, ms: 0, lost: true })
    }
    for (const done of this.#closing.values()) done()
    this.#closing.clear()
  }
}

let io: IoThread | undefined

/**
 * How to start the I/O thread: the compiled io-worker.js beside this module, or, when running
 * from the TypeScript sources (tests, tsx), io-worker.ts loaded through tsx's loader.
 * Undefined when neither is there (say, a bundle that left io-worker.js out): writers then
 * send from the calling thread.
 */
let entry: { url: URL } | { boot: string } | undefined | null = null

function workerEntry (): { url: URL } | { boot: string } | undefined {
  if (entry !== null) return entry
  entry = undefined
  try {
    const js = new URL('./io-worker.js', import.meta.url)
    const ts = new URL('./io-worker.ts', import.meta.url)
    if (existsSync(fileURLToPath(js))) {
      entry = { url: js }
    } else if (existsSync(fileURLToPath(ts))) {
      // tsx's ESM API entry (index.mjs) sits beside the CommonJS one that require() resolves.
      const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href
      entry = { boot: `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(ts.href)}) })` }
    }
  } catch {
    entry = undefined
  }
  return entry
}

function startWorker (): Worker {
  const e = workerEntry()
  if (e === undefined) throw new Error('io-worker.js is missing')
  return 'url' in e ? new Worker(e.url) : new Worker(e.boot, { eval: true })
}

/** Closes the I/O thread's side of writers that were dropped without close(). */
const dropped = new FinalizationRegistry<number>((w) => {
  void io?.close(w)
})

/**
 * A sender for a writer: the I/O thread's when it can be used (no injected dispatcher, options
 * that can cross threads, the worker's code at hand), else one on the calling thread.
 */
export function createSender (options: TransportOptions, transport: Transport, timeoutMs: number, ioThread: boolean): Sender {
  if (ioThread && options.dispatcher === undefined && workerEntry() !== undefined) {
    try {
      return new WorkerSender(options, timeoutMs)
    } catch {
      // Options the thread cannot receive (a function in tls, say): send from here.
    }
  }
  return new InlineSender(transport, timeoutMs)
}

/** Attempts on the process's I/O thread, for one writer. */
export class WorkerSender implements Sender {
  readonly pipelined = true
  readonly #io: IoThread
  readonly #w: number
  #closed: Promise<void> | undefined

  constructor (options: TransportOptions, timeoutMs: number) {
    io ??= new IoThread()
    this.#io = io
    const { dispatcher: _, ...cloneable } = options
    this.#w = io.open({ ...cloneable, url: String(options.url), proxy: options.proxy === undefined ? undefined : String(options.proxy) }, timeoutMs, options.connections)
    dropped.register(this, this.#w, this)
  }

  attempt (shard: number, carrier: Carrier, attempt: number, expect: Expect): Promise<Outcome> {
    return this.#io.send(this.#w, shard, carrier, attempt, expect)
  }

  release (shard: number): void {
    this.#io.release(this.#w, shard)
  }

  abort (reason: unknown): void {
    this.#io.post({ t: 'abort', w: this.#w, message: (reason as Error)?.message ?? String(reason ?? 'aborted') })
  }

  close (): Promise<void> {
    dropped.unregister(this)
    this.#closed ??= this.#io.close(this.#w)
    return this.#closed
  }
}
