/**
 * The process's I/O thread, seen from the writer's thread: one worker thread shared by all
 * writers (io-worker.ts runs inside it), and WorkerSender, a writer's handle on it.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { IoThreadError, rebuildError } from '../errors.js'
import type { TransportOptions } from './http.js'
import { holds } from './attempt.js'
import type { Carrier, Expect, Outcome, Sender } from './attempt.js'
import type { FromWorker, ToWorker } from './io-messages.js'

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
  open (options: TransportOptions, timeout: number, shards: number, ackFile?: string): number {
    const w = this.#nextWriter++
    const msg: ToWorker & { t: 'open' } = { t: 'open', w, options, timeout, shards, held: [], ackFile }
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
    // (Uint8Array's slice copies; a Buffer's own slice() would not.)
    const buf = (own ? body.buffer : Uint8Array.prototype.slice.call(body).buffer) as ArrayBuffer
    const off = own ? body.byteOffset : 0
    const id = this.#nextId++
    return new Promise((resolve) => {
      let worker: Worker
      try {
        worker = this.#ensure()
      } catch (error) {
        resolve({ kind: 'network', error: new IoThreadError(`the I/O thread could not start: ${(error as Error)?.message ?? error}`, { cause: error }), ms: 0 })
        return
      }
      if (attempt > 1) this.#held.get(w)?.delete(shard) // the held batch goes again, first
      this.#pending.set(id, { resolve, carrier, off, len: body.length, pooled: own, w, shard, expect })
      carrier.body = undefined
      if (own) carrier.pooled = undefined
      if (this.#pending.size === 1) worker.ref()
      const msg: ToWorker = { t: 'send', w, id, shard, buf, off, len: body.length, attempt, expect, ack: carrier.ack }
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

  close (w: number, force = false): Promise<void> {
    this.#opened.delete(w)
    this.#held.delete(w)
    const worker = this.#worker
    if (worker === undefined) return Promise.resolve()
    return new Promise((resolve) => {
      this.#closing.set(w, resolve)
      worker.ref()
      worker.postMessage({ t: 'close', w, force } satisfies ToWorker)
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
        if (o.kind !== 'answer') o.error = rebuildError((o.error as { message?: string })?.message ?? String(o.error), (o.error as { code?: string })?.code)
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
      const error = new IoThreadError('the I/O thread exited', cause === undefined ? undefined : { cause })
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

export function workerEntry (): { url: URL } | { boot: string } | undefined {
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
  if (e === undefined) throw new IoThreadError('io-worker.js is missing')
  return 'url' in e ? new Worker(e.url) : new Worker(e.boot, { eval: true })
}

/** Closes the I/O thread's side of writers that were dropped without close(). */
const dropped = new FinalizationRegistry<number>((w) => {
  void io?.close(w)
})

/** Attempts on the process's I/O thread, for one writer. */
export class WorkerSender implements Sender {
  readonly pipelined = true
  readonly #io: IoThread
  readonly #w: number
  #closed: Promise<void> | undefined

  constructor (options: TransportOptions, timeoutMs: number, ackFile?: string) {
    io ??= new IoThread()
    this.#io = io
    const { dispatcher: _, ...cloneable } = options
    this.#w = io.open({ ...cloneable, url: String(options.url), proxy: options.proxy === undefined ? undefined : String(options.proxy) }, timeoutMs, options.connections, ackFile)
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

  close (force = false): Promise<void> {
    dropped.unregister(this)
    this.#closed ??= this.#io.close(this.#w, force)
    return this.#closed
  }
}
