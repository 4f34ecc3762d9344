// Issue 12, defect 7, the rest of it: request slots must not run out. Each writer has its own
// core (4096 request slots); each shard's open batch holds one, and so did every batch a call
// filled, until the call ended. A call that filled thousands ran out, with concurrency within
// its bound: a call of one go failed whole with an InternalError for valid input, and a large
// send() (cut in pieces) failed after its first pieces were committed, which close() then sent.
// Batches a call fills are now compressed at once (their slots freed), queued when it succeeds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RemoteWriter } from '../../src/index.js'
import type { Item } from '../../src/index.js'
import { startReceiver } from '../support/fake-server.js'
import type { Receiver } from '../support/fake-server.js'

const T0 = 1_700_000_000_000

let rx: Receiver
beforeAll(async () => {
  await RemoteWriter.init()
  rx = await startReceiver()
})
afterAll(async () => { await rx.close() })

const received = (tag: string): number => rx.requests.reduce((n, r) => n + r.items.filter((s) => s.labels.run === tag).reduce((k, s) => k + s.values.length, 0), 0)

describe('request slots cannot run out', () => {
  const big = 'x'.repeat(1000)
  const series = (name: string, n: number): Item => ({
    metric: { __name__: name, big }, values: new Float64Array(n).fill(1), timestamps: Float64Array.from({ length: n }, (_, i) => T0 + i),
  })
  const h = { count: 1, sum: 1, schema: 0, zeroThreshold: 0, zeroCount: 0, positiveSpans: [{ offset: 0, length: 1 }], positiveBuckets: [1], timestamp: T0 }

  it.each([true, false])('calls that fill thousands of requests deliver everything (ioThread: %s)', async (ioThread) => {
    const tag = `slots-${ioThread}`
    const before = rx.requests.length
    // One sample per request: 1000 bytes of labels in 1024-byte requests.
    const w = new RemoteWriter({ url: rx.url, ioThread, maxBytesPerRequest: 1024, maxSamplesPerRequest: 10_000, maxBufferedSamples: 4000, concurrency: 32 })
    w.write({ ...series('slots_write', 4200), metric: { __name__: 'slots_write', big, run: tag } }) // one go
    expect(await w.send([series('slots_small', 10), { ...series('slots_send', 4300), metric: { __name__: 'slots_send', big, run: tag } }])).toMatchObject({ samples: 4310 }) // in pieces
    expect(await w.close()).toMatchObject({ samples: 8510, failed: { samples: 0 } })
    expect(received(tag)).toBe(8500)
    // One native histogram per request.
    const v = new RemoteWriter({ url: rx.url, ioThread, maxSamplesPerRequest: 1, concurrency: 32 })
    v.write(Array.from({ length: 4200 }, (_, i) => ({ metric: { __name__: 'slots_hist', run: tag, i: String(i) }, values: [], timestamps: [], histograms: [h] })) as Item[])
    expect(await v.close()).toMatchObject({ samples: 4200, failed: { samples: 0 } })
    expect(rx.requests.length - before).toBeGreaterThan(12_700)
  })

  it('a call that filled thousands of requests and then meets an invalid item is undone whole', async () => {
    const tag = 'slots-undo'
    const w = new RemoteWriter({ url: rx.url, ioThread: false, maxBytesPerRequest: 1024, maxSamplesPerRequest: 10_000, concurrency: 32 })
    const good = { ...series('slots_undo', 4200), metric: { __name__: 'slots_undo', big, run: tag } }
    // The same series (so the same shard, after it): its timestamp is found bad as it is appended.
    expect(() => w.write([good, { metric: good.metric, values: [1], timestamps: [NaN] }])).toThrow(/^series 1 .*timestamps/)
    expect(w.stats().buffered).toEqual({ samples: 0, bytes: 0 })
    w.write(good)
    expect(await w.close()).toMatchObject({ samples: 4200, failed: { samples: 0 } })
    expect(received(tag)).toBe(4200)
  })
})
