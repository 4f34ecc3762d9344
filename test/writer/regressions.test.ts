// Regressions found by review, one test each: what the user would have met.
import { describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import { CoreTrapError } from '../../src/errors.js'
import { runLoad } from '../../src/commands/loadgen.js'
import { RemoteWriter } from '../../src/writer/writer.js'
import type { Item } from '../../src/types.js'
import { independentDecode } from '../support/helpers.js'
import { startReceiver } from '../support/fake-server.js'

const T = 1_700_000_000_000

describe('seriesCacheBytes: 0 (label blocks live for one call)', () => {
  it('a writer call resolving several label sets before encoding them sends each under its own labels', async () => {
    const rx = await startReceiver()
    const w = new RemoteWriter({ url: rx.url, seriesCacheBytes: 0, autoConvertSecondsToMs: false })
    try {
      await w.send([
        { metric: { __name__: 'm', job: 'a' }, values: [1, 2], timestamps: [T, T + 1] },
        { metric: { __name__: 'm', job: 'b' }, values: [3, 4], timestamps: [T, T + 1] },
        { metric: { __name__: 'm', job: 'c' }, values: [5], timestamps: [T] },
        { metric: { __name__: 'm', job: 'd' }, values: [6], timestamps: [T] },
      ])
      await w.close()
      const got = rx.requests.flatMap((r) => r.items).map((s) => `${s.labels.job}:${Array.from(s.values).join(',')}`).sort()
      expect(got).toEqual(['a:1,2', 'b:3,4', 'c:5', 'd:6'])
    } finally {
      await rx.close()
    }
  })

  it('codec.encode() of one-sample items keeps each label set', async () => {
    const codec = await createCodec({ seriesCacheBytes: 0, autoConvertSecondsToMs: false })
    const body = codec.encode([
      { metric: { __name__: 'm', job: 'a' }, values: [1], timestamps: [T] },
      { metric: { __name__: 'm', job: 'b' }, values: [2], timestamps: [T] },
    ])
    expect(independentDecode(body).series.map((s) => s.labels)).toEqual([[['__name__', 'm'], ['job', 'a']], [['__name__', 'm'], ['job', 'b']]])
  })
})

describe('traps inside the writer', () => {
  it('a trap in write() reports what earlier writes had buffered as failed, and nothing hangs', async () => {
    const rx = await startReceiver()
    const w = new RemoteWriter({ url: rx.url, concurrency: 2, maxMemoryBytes: 4 << 20, autoConvertSecondsToMs: false, flushInterval: 60_000 })
    w.on('error', () => {})
    const series = (name: string, n: number, t0 = T): Item => ({
      metric: { __name__: name }, values: new Float64Array(n).fill(1), timestamps: Float64Array.from({ length: n }, (_, i) => t0 + i),
    })
    try {
      expect(w.write([series('a', 500)])).toBe(true)
      expect(() => w.write([series('b', 500), series('huge', 400_000)])).toThrow(CoreTrapError)
      await w.flush() // must not hang
      const s = w.stats()
      expect(s.buffered).toEqual({ samples: 0, bytes: 0 })
      expect(s.failed.samples).toBeGreaterThanOrEqual(500) // the first write's samples: reported, not lost silently
      expect(s.sent.samples + s.failed.samples).toBeGreaterThanOrEqual(500)
      // and the writer works afterwards
      await w.send([series('after', 10, T + 10_000_000)])
      expect(rx.requests.flatMap((r) => r.items).some((it) => it.labels.__name__ === 'after')).toBe(true)
    } finally {
      await w.close().catch(() => {})
      await rx.close()
    }
  })
})

describe('request slots', () => {
  it('one item of 41,000 samples with maxSamplesPerRequest 10 goes through write() (4,100 requests)', async () => {
    const rx = await startReceiver()
    const w = new RemoteWriter({ url: rx.url, maxSamplesPerRequest: 10, concurrency: 8, autoConvertSecondsToMs: false })
    try {
      const n = 41_000
      w.write([{ metric: { __name__: 'long' }, values: new Float64Array(n).fill(2), timestamps: Float64Array.from({ length: n }, (_, i) => T + i) }])
      await w.close()
      expect(rx.requests.reduce((k, r) => k + r.items.reduce((m, it) => m + it.values.length, 0), 0)).toBe(n)
    } finally {
      await rx.close()
    }
  }, 60_000)
})

describe('backpressure with a buffer smaller than a request', () => {
  it('ready() resolves soon after an acknowledgement, not after flushInterval', async () => {
    const rx = await startReceiver({ handler: () => ({ status: 204, delayMs: 100 }) })
    const w = new RemoteWriter({ url: rx.url, concurrency: 2, maxSamplesPerRequest: 2000, maxBufferedSamples: 1000, flushInterval: 5000, autoConvertSecondsToMs: false })
    try {
      let waited = 0
      for (let k = 0; k < 4; k++) {
        const items = Array.from({ length: 600 }, (_, i): Item => ({ metric: { __name__: 'bp', i: String(i) }, values: [k], timestamps: [T + k] }))
        if (!w.write(items)) {
          const t0 = Date.now()
          await w.ready()
          waited = Math.max(waited, Date.now() - t0)
        }
      }
      await w.close()
      expect(waited).toBeLessThan(2000)
      expect(w.stats().sent.samples).toBe(2400)
    } finally {
      await rx.close()
    }
  }, 30_000)
})

describe('prw bench load', () => {
  it('a fleet smaller than a batch never repeats a (series, timestamp) pair', async () => {
    const rx = await startReceiver()
    try {
      await runLoad({ url: rx.url, series: 300, duration: 1000, writer: { autoConvertSecondsToMs: false } })
      const seen = new Set<string>()
      let dup = 0
      for (const r of rx.requests) {
        for (const it of r.items) {
          for (const t of it.timestamps) {
            const key = `${it.labels.series_id}@${t}`
            if (seen.has(key)) dup++
            seen.add(key)
          }
        }
      }
      expect(seen.size).toBeGreaterThan(1000)
      expect(dup).toBe(0)
    } finally {
      await rx.close()
    }
  })
})

describe('a label named __proto__', () => {
  it('is an ordinary label through encode, decode (strict too) and series handles', async () => {
    const codec = await createCodec({ autoConvertSecondsToMs: false })
    const metric = JSON.parse('{"__name__":"up","__proto__":"x","job":"a"}') as Record<string, string>
    const body = codec.encode([{ metric, values: [1], timestamps: [T] }])
    for (const strict of [false, true]) {
      const [d] = codec.decode(body, { strict })
      expect(Object.keys(d.metric)).toEqual(['__name__', '__proto__', 'job'])
      expect(Object.getPrototypeOf(d.metric)).toBe(Object.prototype)
    }
    expect(Object.keys(codec.series(metric).labels)).toEqual(['__name__', '__proto__', 'job'])
  })
})

describe('Remote Write 2.0 review fixes', () => {
  it('a call larger than the buffer with bad metadata on a later item sends nothing', async () => {
    const rx = await startReceiver()
    const w = new RemoteWriter({ url: rx.url, protocol: 'v2', maxBufferedSamples: 10, autoConvertSecondsToMs: false })
    try {
      const good: Item = { metric: { __name__: 'g' }, values: new Array(8).fill(1), timestamps: Array.from({ length: 8 }, (_, i) => T + i) }
      const bad: Item = { metric: { __name__: 'b' }, values: new Array(8).fill(1), timestamps: Array.from({ length: 8 }, (_, i) => T + i), metadata: { type: 'bogus' as never } }
      expect(() => w.write([good, bad])).toThrow(/metadata.type/)
      await expect(w.send([good, bad])).rejects.toThrow(/metadata.type/)
      await w.flush()
      expect(rx.requests.length).toBe(0)
    } finally {
      await w.close().catch(() => {})
      await rx.close()
    }
  })

  it("an 'auto' fallback keeps 1.0 requests within maxBytesPerRequest", async () => {
    const http = await import('node:http')
    const { uncompressSync } = await import('snappy')
    const sizes: number[] = []
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        if (req.headers['content-type'] === 'application/x-protobuf') sizes.push((uncompressSync(Buffer.concat(chunks)) as Buffer).length)
        res.writeHead(204) // no written counts: a 1.0 receiver
        res.end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/v1/write`
    const w = new RemoteWriter({ url, protocol: 'auto', maxBytesPerRequest: 4096, concurrency: 1, autoConvertSecondsToMs: false })
    try {
      const pod = 'p'.repeat(300)
      await w.send(Array.from({ length: 400 }, (_, i): Item => ({ metric: { __name__: 'm', pod, i: String(i) }, values: [i], timestamps: [T] })))
      await w.close()
      expect(sizes.length).toBeGreaterThan(10)
      expect(Math.max(...sizes)).toBeLessThanOrEqual(4096)
    } finally {
      server.close()
    }
  })

  it("stats().sent.bytesRaw counts 2.0 requests' protobuf bytes", async () => {
    const rx = await startReceiver({ handler: () => ({ status: 204, headers: { 'x-prometheus-remote-write-samples-written': '1' } }) })
    const w = new RemoteWriter({ url: rx.url, protocol: 'v2', autoConvertSecondsToMs: false })
    try {
      for (let k = 0; k < 3; k++) {
        await w.send([{ metric: { __name__: 'r', k: String(k) }, values: [1], timestamps: [T] }])
      }
      await w.close()
      const raw = rx.requests.reduce((n, r) => n + r.bodyBytes, 0)
      expect(w.stats().sent.bytesRaw).toBe(raw)
    } finally {
      await rx.close()
    }
  })
})

describe('a trap while sealing one of several batches a call filled', () => {
  it('every batch of the lost requests is reported failed; none goes out empty and counted as sent', async () => {
    // Sealing the first batch runs the core out of memory and replaces it; the batches after
    // it held slot numbers of the old core, which in the new one are other (empty) requests.
    const rx = await startReceiver()
    const w = new RemoteWriter({ url: rx.url, concurrency: 1, maxSamplesPerRequest: 100, maxBytesPerRequest: 64 << 20, flushInterval: 1e6, maxMemoryBytes: 4210688, autoConvertSecondsToMs: false })
    w.on('error', () => {})
    try {
      const pad = 'p'.repeat(1000)
      let threw: unknown
      try {
        w.write(Array.from({ length: 1000 }, (_, s) => ({ metric: { __name__: 'm', s: String(s), pad }, values: [1], timestamps: [T] })))
      } catch (err) {
        threw = err
      }
      await w.flush()
      const stored = rx.requests.reduce((n, r) => n + r.items.reduce((m, x) => m + x.timestamps.length, 0), 0)
      const st = w.stats()
      // What the writer says it sent is what the receiver stored; the rest is reported failed.
      expect(st.sent.samples).toBe(stored)
      expect(rx.requests.filter((r) => r.items.length === 0)).toEqual([])
      expect(st.sent.samples + st.failed.samples).toBe(threw === undefined ? 1000 : st.sent.samples + st.failed.samples)
      expect(st.buffered).toEqual({ samples: 0, bytes: 0 })
    } finally {
      await w.close().catch(() => {})
      await rx.close()
    }
  })
})
