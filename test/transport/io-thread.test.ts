// The writer's I/O thread (src/transport/io-thread.ts, src/transport/io-worker.ts) where it can go wrong: the thread
// dying while a shard waits for a retry, options that cannot cross to it, and a process that
// never closes its writer. The writer's whole suite runs through the thread as well
// (test/writer/writer.test.ts; test/writer/writer.inline.test.ts runs it again without).
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { RemoteWriter } from '../../src/writer/writer.js'
import type { Item } from '../../src/types.js'
import { accepted, startReceiver } from '../support/fake-server.js'

const T0 = 1_700_000_000_000
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

// The I/O thread is the only Worker the writer posts to: remember it, to kill it.
let ioWorker: Worker | undefined
const post = Worker.prototype.postMessage
Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker['postMessage']>) {
  ioWorker = this
  return post.apply(this, args)
}

const singles = (n: number, name = 'io'): Item[] =>
  Array.from({ length: n }, (_, i) => ({ metric: { __name__: name }, values: [i], timestamps: [T0 + i] }))

describe('the I/O thread', () => {
  it("reports a transport error's cause with the same code as a writer without it (ECONNREFUSED)", async () => {
    const codes: unknown[] = []
    for (const ioThread of [false, true]) {
      const w = new RemoteWriter({ url: 'http://127.0.0.1:9/api/v1/write', ioThread, maxRetries: 0 })
      const err = await w.send(singles(1)).then(() => undefined, (e: unknown) => e) as { errors: Array<{ cause: { code?: string, name?: string } }> }
      codes.push(err.errors[0].cause.code)
      await w.close().catch(() => {})
    }
    expect(codes).toEqual(['ECONNREFUSED', 'ECONNREFUSED'])
  })

  it('dies while a shard waits for a retry: what it held is reported failed, the retry still goes before later batches', async () => {
    await RemoteWriter.init()
    const rx = await startReceiver({ handler: (_r, n) => (n === 1 ? { status: 503, headers: { 'retry-after': '1' } } : undefined) })
    const errors: string[] = []
    const w = new RemoteWriter({ url: rx.url, concurrency: 1, maxSamplesPerRequest: 1, onError: (e) => errors.push(e.message) })
    try {
      w.write(singles(20))
      const flushed = w.flush()
      while (rx.requests.length === 0) await sleep(5)
      await sleep(100) // batch 0 got its 503 and waits 1 s; batches 1-8 wait behind it in the thread
      await ioWorker?.terminate()
      await flushed
      const ts = rx.requests.filter(accepted).map((r) => r.items[0].timestamps[0] as number)
      expect(ts[0]).toBe(T0) // the retry of batch 0 first, then what was handed over after the restart
      expect(ts).toEqual([...ts].sort((a, b) => a - b))
      const st = w.stats()
      // Every sample accounted for: acknowledged, or reported failed (the bodies the dead thread held).
      expect(st.sent.samples + st.failed.samples).toBe(20)
      expect(st.sent.samples).toBe(ts.length)
      expect(errors.length).toBe(st.failed.requests)
      expect(errors.every((m) => m.includes('the I/O thread exited'))).toBe(true)
    } finally {
      await w.close().catch(() => {})
      await rx.close()
    }
  }, 30_000)

  it('options that cannot cross to the thread (a function in tls) make that writer send from its own thread; others are not disturbed', async () => {
    await RemoteWriter.init()
    const rx = await startReceiver()
    const odd = new RemoteWriter({ url: rx.url, tls: { checkServerIdentity: () => undefined } as never })
    const plain = new RemoteWriter({ url: rx.url })
    try {
      expect(await odd.send(singles(3, 'odd'))).toEqual({ requests: 1, series: 3, samples: 3 })
      expect(await plain.send(singles(3, 'plain'))).toEqual({ requests: 1, series: 3, samples: 3 })
    } finally {
      await odd.close()
      await plain.close()
      await rx.close()
    }
  })

  it('does not keep a process alive: a script that never closes its writer exits once its data is acknowledged', async () => {
    const script = join(tmpdir(), `prw-exit-${process.pid}.mts`)
    const src = new URL('../../src/index.ts', import.meta.url).href
    const recv = new URL('../support/fake-server.ts', import.meta.url).href
    writeFileSync(script, `
      import { RemoteWriter } from ${JSON.stringify(src)}
      import { startReceiver } from ${JSON.stringify(recv)}
      const rx = await startReceiver({ handler: (_r, n) => (n === 1 ? { status: 503 } : undefined) })
      const w = new RemoteWriter({ url: rx.url, minBackoff: 50, maxBackoff: 60 })
      await w.send([{ metric: { __name__: 'a' }, values: [1], timestamps: [${T0}] }])
      console.log('sent', w.stats().sent.samples, 'retried', w.stats().retried.requests)
      await rx.close()
    `)
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => { child.kill('SIGKILL'); resolve(null) }, 20_000)
      child.on('exit', (c) => { clearTimeout(timer); resolve(c) })
    })
    expect(out).toContain('sent 1 retried 1')
    expect(code).toBe(0)
  }, 30_000)
})
