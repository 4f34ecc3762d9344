/**
 * The I/O thread (see io-thread.ts): one transport per writer, a FIFO per shard, one attempt in
 * flight per shard. A shard's next batch goes out the moment the previous one is accepted; a
 * batch that is not accepted holds the shard until the writer sends it again or releases it.
 */
import { parentPort } from 'node:worker_threads'
import { Transport } from './http.js'
import type { TlsOptions } from './http.js'
import { closeSync, openSync } from 'node:fs'
import { attemptOn, holds, recordAck } from './attempt.js'
import type { Ack, Expect, Outcome } from './attempt.js'
import type { FromWorker, ToWorker } from './io-messages.js'

interface Job { id: number, buf: ArrayBuffer, off: number, len: number, attempt: number, expect: Expect, ack: Ack | undefined }

interface Shard {
  queue: Job[]
  busy: boolean
  /** The last attempt was not accepted: wait for the writer. */
  held: boolean
}

interface Client {
  transport: Transport
  timeout: number
  shards: Shard[]
  aborted: boolean
  /** With a spool: its ack file (see recordAck), -1 without. */
  ackFd: number
}

const port = parentPort
if (port === null) throw new Error('io-worker runs as a worker thread')

const clients = new Map<number, Client>()

function reply (msg: FromWorker): void {
  ;(port as NonNullable<typeof port>).postMessage(msg, msg.t === 'done' ? [msg.buf] : [])
}

/** An outcome as it crosses the thread boundary: errors as their message and code only. */
function portable (o: Outcome): Outcome {
  if (o.kind === 'answer') return o
  const e = o.error as { message?: string, code?: string } | undefined
  return { kind: o.kind, ms: o.ms, error: { message: e?.message ?? String(e), code: e?.code } }
}

function pump (c: Client, s: Shard, w: number): void {
  if (s.busy || s.held) return
  const job = s.queue.shift()
  if (job === undefined) return
  s.busy = true
  const body = new Uint8Array(job.buf, job.off, job.len)
  void attemptOn(c.transport, body, job.attempt, c.timeout, job.expect.v2, () => c.aborted).then((o) => {
    recordAck(c.ackFd, job.ack, o, job.expect)
    s.busy = false
    if (holds(o, job.expect)) s.held = true
    reply({ t: 'done', w, id: job.id, buf: job.buf, outcome: portable(o) })
    pump(c, s, w)
  })
}

/** TLS material arrives as Uint8Array (a Buffer's structured clone): make Buffers of it again. */
function tlsBuffers (tls: TlsOptions | undefined): TlsOptions | undefined {
  if (tls === undefined) return undefined
  const buf = <T>(v: T): T => (v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) as T : v)
  return { ...tls, ca: Array.isArray(tls.ca) ? tls.ca.map(buf) : buf(tls.ca), cert: buf(tls.cert), key: buf(tls.key) }
}

/** The ack file, or -1 when there is none or it cannot be opened (the writer's thread then logs acks itself). */
function openAck (path: string | undefined): number {
  if (path === undefined) return -1
  try {
    return openSync(path, 'r+')
  } catch {
    return -1
  }
}

function abortedOutcome (): Outcome {
  return { kind: 'aborted', error: { message: 'aborted', code: 'ERR_PRW_ABORTED' }, ms: 0 }
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'open':
      clients.set(m.w, {
        transport: new Transport({ ...m.options, tls: tlsBuffers(m.options.tls) }),
        timeout: m.timeout,
        // After a restart, the shards whose batch awaits a retry start held.
        shards: Array.from({ length: m.shards }, (_, i) => ({ queue: [], busy: false, held: m.held.includes(i) })),
        aborted: false,
        ackFd: openAck(m.ackFile),
      })
      break
    case 'send': {
      const c = clients.get(m.w)
      const job: Job = { id: m.id, buf: m.buf, off: m.off, len: m.len, attempt: m.attempt, expect: m.expect, ack: m.ack }
      if (c === undefined || c.aborted) {
        reply({ t: 'done', w: m.w, id: m.id, buf: m.buf, outcome: abortedOutcome() })
        break
      }
      const s = c.shards[m.shard]
      if (m.attempt > 1) {
        // The batch that holds the shard, again: it goes first.
        s.held = false
        s.queue.unshift(job)
      } else {
        s.queue.push(job)
      }
      pump(c, s, m.w)
      break
    }
    case 'release': {
      const c = clients.get(m.w)
      if (c === undefined) break
      const s = c.shards[m.shard]
      s.held = false
      pump(c, s, m.w)
      break
    }
    case 'abort': {
      const c = clients.get(m.w)
      if (c === undefined) break
      c.aborted = true
      c.transport.abort(new Error(m.message))
      for (const s of c.shards) {
        for (const job of s.queue.splice(0)) reply({ t: 'done', w: m.w, id: job.id, buf: job.buf, outcome: abortedOutcome() })
      }
      break
    }
    case 'close': {
      const c = clients.get(m.w)
      clients.delete(m.w)
      if (c !== undefined && c.ackFd >= 0) closeSync(c.ackFd)
      void (c?.transport.close(m.force) ?? Promise.resolve()).catch(() => {}).then(() => reply({ t: 'closed', w: m.w }))
      break
    }
  }
})
