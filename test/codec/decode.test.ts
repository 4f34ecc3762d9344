// The decoder's native histograms and exemplars (1.0 and 2.0): bodies written by protobufjs,
// packed and unpacked, compressed by the native snappy package, decoded by the project's
// decoder and compared with what protobufjs was given; then round trips through the project's
// own encoder (seeded), the receiver's written counts, and the 'auto' fallback carrying
// histograms, exemplars and metadata to a 1.0-only server.
import fc from 'fast-check'
import { createServer } from 'node:http'
import type { RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import protobuf from 'protobufjs'
import { compressSync, uncompressSync } from 'snappy'
import { describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import { ValidationError } from '../../src/errors.js'
import { startReceiver } from '../../src/commands/receiver.js'
import { RemoteWriter } from '../../src/writer/writer.js'
import { nativeHistogram } from '../../src/codec/histogram.js'
import type { NativeHistogram } from '../../src/types.js'
import type { DecodedItem, Exemplar, Item } from '../../src/types.js'
import { WriteRequest, v2Request } from '../support/schema.js'

const T = 1_700_000_000_000

/** A plain HTTP server on a free loopback port, for receivers that behave in ways the built-in one does not. */
async function serve (handler: RequestListener): Promise<{ base: string, close: () => void }> {
  const server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() }
}

/** A histogram as protobufjs takes it (both versions); `v2` adds start_timestamp. */
function pbHistogram (h: NativeHistogram, v2: boolean): Record<string, unknown> {
  const float = h.float === true
  const out: Record<string, unknown> = {
    [float ? 'countFloat' : 'countInt']: h.count,
    sum: h.sum,
    schema: h.schema,
    zeroThreshold: h.zeroThreshold ?? 0,
    [float ? 'zeroCountFloat' : 'zeroCountInt']: h.zeroCount ?? 0,
    negativeSpans: h.negativeSpans ?? [],
    [float ? 'negativeCounts' : 'negativeDeltas']: h.negativeBuckets ?? [],
    positiveSpans: h.positiveSpans ?? [],
    [float ? 'positiveCounts' : 'positiveDeltas']: h.positiveBuckets ?? [],
    resetHint: ['unknown', 'yes', 'no', 'gauge'].indexOf(h.resetHint ?? 'unknown'),
    timestamp: h.timestamp,
    customValues: h.customValues ?? [],
  }
  if (v2 && h.startTimestamp !== undefined) out.startTimestamp = h.startTimestamp
  return out
}

/** What the decoder returns for `h`: every field present, defaults filled in. */
function normal (h: NativeHistogram, v2: boolean): NativeHistogram {
  const out: NativeHistogram = {
    timestamp: h.timestamp,
    count: h.count,
    sum: h.sum,
    schema: h.schema,
    zeroThreshold: h.zeroThreshold ?? 0,
    zeroCount: h.zeroCount ?? 0,
    negativeSpans: (h.negativeSpans ?? []).map((s) => ({ ...s })),
    negativeBuckets: [...(h.negativeBuckets ?? [])],
    positiveSpans: (h.positiveSpans ?? []).map((s) => ({ ...s })),
    positiveBuckets: [...(h.positiveBuckets ?? [])],
    float: h.float === true,
    resetHint: h.resetHint ?? 'unknown',
  }
  if (h.customValues !== undefined && h.customValues.length > 0) out.customValues = [...h.customValues]
  if (v2 && h.startTimestamp !== undefined && h.startTimestamp !== 0) out.startTimestamp = h.startTimestamp
  return out
}

const HISTOGRAMS: NativeHistogram[] = [
  nativeHistogram({ timestamp: T, schema: 3, sum: 42.5, positive: { 1: 4, 2: 2, 7: 1 }, negative: { [-2]: 3 }, zeroCount: 1, zeroThreshold: 1e-128, resetHint: 'no' }),
  nativeHistogram({ timestamp: T + 15_000, schema: -2, sum: -0.5, positive: { 0: 2.5, 5: 1 }, negative: { 3: 0.25 }, float: true, resetHint: 'gauge', startTimestamp: T - 60_000 }),
  { timestamp: T + 30_000, count: 3, sum: 7, schema: -53, positiveSpans: [{ offset: 0, length: 3 }], positiveBuckets: [1, 0, 0], customValues: [0.1, 1, 10], resetHint: 'yes' },
  // int64 edges that numbers carry exactly: large counts and negative deltas.
  { timestamp: T + 45_000, count: 2 ** 53 - 1, sum: 1e300, schema: 8, zeroCount: 2 ** 40, positiveSpans: [{ offset: -5, length: 2 }, { offset: 3, length: 1 }], positiveBuckets: [2 ** 52, -(2 ** 52), 7] },
]

const EXEMPLARS: Exemplar[] = [
  { labels: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' }, value: 0.25, timestamp: T + 500 },
  { labels: {}, value: 3, timestamp: T + 1000 },
  { labels: { trace_id: 'ünïcode' }, value: -0.5, timestamp: -1 },
]

describe('decoding native histograms and exemplars written by protobufjs', () => {
  it('1.0: histograms and exemplars come back as they were given', async () => {
    const codec = await createCodec()
    const msg = WriteRequest.fromObject({
      timeseries: [
        { labels: [{ name: '__name__', value: 'lat' }], histograms: HISTOGRAMS.map((h) => ({ ...pbHistogram(h, false), resetHint: ['UNKNOWN', 'YES', 'NO', 'GAUGE'][pbHistogram(h, false).resetHint as number] })) },
        {
          labels: [{ name: '__name__', value: 'req' }, { name: 'job', value: 'api' }],
          samples: [{ value: 1, timestamp: T }],
          exemplars: EXEMPLARS.map((x) => ({ labels: Object.entries(x.labels ?? {}).map(([name, value]) => ({ name, value })), value: x.value, timestamp: x.timestamp })),
        },
      ],
    })
    const body = new Uint8Array(compressSync(Buffer.from(WriteRequest.encode(msg).finish())))
    const counts = { histograms: 0, exemplars: 0 }
    const got = codec.decode(body, { strict: true, counts })
    expect(counts).toEqual({ histograms: 4, exemplars: 3 })
    expect(got[0].histograms).toEqual(HISTOGRAMS.map((h) => normal(h, false)))
    expect(got[0].exemplars).toBeUndefined()
    expect(got[1].exemplars).toEqual(EXEMPLARS)
    expect(got[1].histograms).toBeUndefined()
  })

  for (const packed of [true, false]) {
    it(`2.0 (${packed ? 'packed' : 'unpacked'} repeats): histograms with start timestamps, exemplars through the symbols table`, async () => {
      const codec = await createCodec()
      const symbols = ['', '__name__', 'lat', 'req', 'trace_id', '4bf92f3577b34da6a3ce929d0e0e4736', 'span_id', '00f067aa0ba902b7', 'ünïcode']
      const ref = (s: string): number => symbols.indexOf(s)
      const V2 = v2Request(packed)
      const msg = V2.fromObject({
        symbols,
        timeseries: [
          { labelsRefs: [1, 2], histograms: HISTOGRAMS.map((h) => pbHistogram(h, true)), exemplars: [{ labelsRefs: [ref('trace_id'), ref('ünïcode')], value: 2, timestamp: T }] },
          {
            labelsRefs: [1, 3],
            samples: [{ value: 1, timestamp: T }],
            exemplars: EXEMPLARS.map((x) => ({ labelsRefs: Object.entries(x.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)).flatMap(([k, v]) => [ref(k), ref(v)]), value: x.value, timestamp: x.timestamp })),
          },
        ],
      })
      const body = new Uint8Array(compressSync(Buffer.from(V2.encode(msg).finish())))
      const { items, histograms, exemplars } = codec.decodeV2(body, { strict: true })
      expect([histograms, exemplars]).toEqual([4, 4])
      expect(items[0].histograms).toEqual(HISTOGRAMS.map((h) => normal(h, true)))
      expect(items[0].exemplars).toEqual([{ labels: { trace_id: 'ünïcode' }, value: 2, timestamp: T }])
      expect(items[1].exemplars).toEqual(EXEMPLARS)
    })
  }

  it('strict decoding refuses what a receiver must: broken spans, histograms out of order, samples and histograms in one 2.0 series', async () => {
    const codec = await createCodec()
    const V2 = v2Request(true)
    const ok = pbHistogram(HISTOGRAMS[0], true)
    const bodies: Array<[Record<string, unknown>, RegExp]> = [
      [{ labelsRefs: [1, 2], histograms: [{ ...ok, positiveSpans: [{ offset: 0, length: 9 }] }] }, /positiveSpans cover 9 buckets/],
      [{ labelsRefs: [1, 2], histograms: [{ ...ok, timestamp: T + 1 }, ok] }, /not in ascending order/],
      [{ labelsRefs: [1, 2], histograms: [ok], samples: [{ value: 1, timestamp: T }] }, /both samples and histograms/],
      [{ labelsRefs: [1, 2], histograms: [ok], exemplars: [{ labelsRefs: [1], value: 1, timestamp: T }] }, /odd length/],
    ]
    for (const [series, why] of bodies) {
      const body = new Uint8Array(compressSync(Buffer.from(V2.encode(V2.fromObject({ symbols: ['', '__name__', 'lat'], timeseries: [series] })).finish())))
      expect(() => codec.decodeV2(body, { strict: true })).toThrow(why)
    }
  })
})

describe('histograms and exemplars round-trip through the encoder and the decoder', () => {
  it('seeded property: random histograms and exemplars, both versions (seed 20261125)', async () => {
    const codec = await createCodec()
    const arbCounts = fc.dictionary(fc.integer({ min: -30, max: 30 }).map(String), fc.integer({ min: 0, max: 1e9 }), { maxKeys: 10 })
    const arbSpec = fc.record({
      pos: arbCounts, neg: arbCounts, zero: fc.nat({ max: 1000 }), schema: fc.integer({ min: -4, max: 8 }),
      sum: fc.double({ noNaN: true }), float: fc.boolean(), hint: fc.constantFrom('unknown', 'yes', 'no', 'gauge' as const),
      start: fc.option(fc.integer({ min: 1, max: T }), { nil: undefined }),
    })
    const arbExemplar = fc.record({
      labels: fc.dictionary(fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/), fc.string({ minLength: 1, maxLength: 12, unit: 'grapheme' }), { maxKeys: 3 }),
      value: fc.double({ noNaN: true }),
      timestamp: fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
    })
    fc.assert(fc.property(fc.array(arbSpec, { minLength: 1, maxLength: 4 }), fc.array(arbExemplar, { maxLength: 4 }), (specs, xs) => {
      const hs = specs.map((s, i) => nativeHistogram({
        timestamp: T + i * 1000, schema: s.schema, sum: s.sum, zeroCount: s.zero, float: s.float, resetHint: s.hint, startTimestamp: s.start,
        positive: Object.fromEntries(Object.entries(s.pos).map(([k, v]) => [Number(k), s.float ? v / 8 : v])),
        negative: Object.fromEntries(Object.entries(s.neg).map(([k, v]) => [Number(k), s.float ? v / 8 : v])),
      }))
      const item: Item = { metric: { __name__: 'h', job: 'prop' }, values: [], timestamps: [], histograms: hs, exemplars: xs }
      // 1.0: the exemplars travel in a record of their own.
      const v1 = codec.decode(codec.encode([item]), { strict: true })
      expect(v1.flatMap((it) => it.histograms ?? [])).toEqual(hs.map((h) => normal(h, false)))
      expect(v1.flatMap((it) => it.exemplars ?? [])).toEqual(xs)
      const v2 = codec.decodeV2(codec.encodeV2([item]), { strict: true }).items
      expect(v2.length).toBe(1)
      expect(v2[0].histograms).toEqual(hs.map((h) => normal(h, true)))
      expect(v2[0].exemplars ?? []).toEqual(xs)
    }), { seed: 20261125, numRuns: 150 })
  })
})

describe('the receiver stores histograms and exemplars and says so', () => {
  for (const protocol of ['v1', 'v2'] as const) {
    it(`${protocol}: the writer's histograms and exemplars are counted, passed on, and answered with written counts`, async () => {
      const got: Item[] = []
      const rx = await startReceiver({ onItems: (items) => got.push(...items) })
      try {
        const w = new RemoteWriter({ url: rx.url, protocol })
        const heard: Array<string | undefined> = []
        w.on('response', (e: { status?: number }) => heard.push(String(e.status)))
        const r = await w.send([
          { metric: { __name__: 'lat', job: 'api' }, values: [], timestamps: [], histograms: HISTOGRAMS.slice(0, 3), exemplars: EXEMPLARS.slice(0, 2) },
          { metric: { __name__: 'req', job: 'api' }, values: [1, 2], timestamps: [T, T + 1000], exemplars: EXEMPLARS.slice(2) },
        ])
        await w.close()
        expect(r.samples).toBe(5)
        expect(heard.every((s) => s === '204')).toBe(true)
        const s = rx.stats()
        expect([s.samples, s.histograms, s.exemplars, s.rejected]).toEqual([2, 3, 3, 0])
        expect(got.flatMap((it) => it.histograms ?? [])).toEqual(HISTOGRAMS.slice(0, 3).map((h) => normal(h, protocol === 'v2')))
        expect(got.flatMap((it) => it.exemplars ?? []).sort((a, b) => a.timestamp - b.timestamp)).toEqual([...EXEMPLARS].sort((a, b) => a.timestamp - b.timestamp))
      } finally {
        await rx.close()
      }
    })
  }

  it('2.0: a receiver that writes the samples but not the histograms is a failure naming the histograms', async () => {
    const server = await serve((req, res) => {
      req.resume().on('end', () => {
        res.writeHead(204, { 'x-prometheus-remote-write-samples-written': '1', 'x-prometheus-remote-write-histograms-written': '0' })
        res.end()
      })
    })
    try {
      const w = new RemoteWriter({ url: `${server.base}/w`, protocol: 'v2', maxRetries: 0 })
      w.on('error', () => {})
      const err = await w.send([
        { metric: { __name__: 'm' }, values: [1], timestamps: [T] },
        { metric: { __name__: 'lat' }, values: [], timestamps: [], histograms: HISTOGRAMS.slice(0, 2) },
      ]).then(() => undefined, (e: unknown) => e)
      await w.close().catch(() => {})
      expect(String(err)).toMatch(/wrote 0 of 2 native histogram samples/)
    } finally {
      server.close()
    }
  })
})

describe("protocol 'auto' falling back with histograms, exemplars and metadata", () => {
  it('a 2.0 batch is re-sent as 1.0 with all of them, to a server that behaves like Prometheus 2.42', async () => {
    const bodies: Array<{ type: string | undefined, raw: Buffer }> = []
    const server = await serve((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        bodies.push({ type: req.headers['content-type'], raw: uncompressSync(Buffer.concat(chunks)) as Buffer })
        res.writeHead(204) // a 1.0 receiver: no written counts, whatever it was sent
        res.end()
      })
    })
    try {
      const w = new RemoteWriter({ url: `${server.base}/fallback-h`, protocol: 'auto', concurrency: 1 })
      const r = await w.send([
        { metric: { __name__: 'lat', job: 'api' }, values: [], timestamps: [], histograms: HISTOGRAMS.slice(0, 3), exemplars: EXEMPLARS.slice(0, 1), metadata: { type: 'histogram', help: 'Latency.', unit: 'seconds' } },
        { metric: { __name__: 'req', job: 'api' }, values: [1, 2], timestamps: [T, T + 1000], exemplars: EXEMPLARS.slice(1) },
      ])
      await w.close()
      expect(r.samples).toBe(5)
      expect(bodies.map((b) => b.type)).toEqual(['application/x-protobuf;proto=io.prometheus.write.v2.Request', 'application/x-protobuf'])
      const msg = WriteRequest.toObject(WriteRequest.decode(bodies[1].raw), { longs: Number, enums: String }) as {
        timeseries: Array<{ labels: Array<{ name: string, value: string }>, samples?: unknown[], histograms?: unknown[], exemplars?: Array<{ value: number }> }>
        metadata?: Array<{ metricFamilyName: string, type: string, help: string, unit: string }>
      }
      expect(msg.timeseries.reduce((n, t) => n + (t.histograms?.length ?? 0), 0)).toBe(3)
      expect(msg.timeseries.reduce((n, t) => n + (t.samples?.length ?? 0), 0)).toBe(2)
      expect(msg.timeseries.flatMap((t) => t.exemplars ?? []).map((x) => x.value).sort()).toEqual(EXEMPLARS.map((x) => x.value).sort())
      expect(msg.metadata).toEqual([{ metricFamilyName: 'lat', type: 'HISTOGRAM', help: 'Latency.', unit: 'seconds' }])
    } finally {
      server.close()
    }
  })

  it('the 1.0 bodies it re-sends stay within maxBytesPerRequest, histograms and exemplars counted', async () => {
    const sizes: Array<{ type: string | undefined, raw: number }> = []
    const server = await serve((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        sizes.push({ type: req.headers['content-type'], raw: (uncompressSync(Buffer.concat(chunks)) as Buffer).length })
        res.writeHead(204)
        res.end()
      })
    })
    try {
      const limit = 8192
      const w = new RemoteWriter({ url: `${server.base}/fallback-size`, protocol: 'auto', concurrency: 1, maxBytesPerRequest: limit })
      const positive = Object.fromEntries(Array.from({ length: 24 }, (_, i) => [i * 2, 1 + i]))
      const items: Item[] = Array.from({ length: 40 }, (_, s) => ({
        metric: { __name__: 'wide_histogram_seconds', job: 'api', instance: `host-${s}.example.org:9100` },
        values: [],
        timestamps: [],
        histograms: Array.from({ length: 3 }, (_, i) => nativeHistogram({ timestamp: T + i * 1000, schema: 1, sum: s + i, positive })),
        exemplars: [{ labels: { trace_id: `${s}`.padStart(32, '0') }, value: 1, timestamp: T }],
      }))
      expect((await w.send(items)).samples).toBe(120)
      await w.close()
      const v1 = sizes.filter((x) => x.type === 'application/x-protobuf')
      expect(v1.length).toBeGreaterThan(1)
      for (const x of v1) expect(x.raw).toBeLessThanOrEqual(limit)
    } finally {
      server.close()
    }
  })
})

describe('the writer with histograms and exemplars: regressions found in review', () => {
  const H = (ts: number): NativeHistogram => ({ timestamp: ts, count: 20, sum: 1.5, schema: 0, positiveSpans: [{ offset: 0, length: 20 }], positiveBuckets: [1, ...Array.from({ length: 19 }, () => 0)] })

  for (const seriesCacheBytes of [undefined, 0]) {
    it(`2.0: exemplars of an item with no samples and an empty histograms array are refused, not carried by the next series (seriesCacheBytes ${seriesCacheBytes ?? 'default'})`, async () => {
      const got: DecodedItem[] = []
      const rx = await startReceiver({ onItems: (items) => got.push(...items) })
      try {
        const w = new RemoteWriter({ url: rx.url, protocol: 'v2', concurrency: 1, flushInterval: 60_000, seriesCacheBytes })
        expect(() => w.write([
          { metric: { __name__: 'a' }, values: [], timestamps: [], histograms: [], exemplars: [{ labels: { trace_id: 'LEAKED' }, value: 7, timestamp: T }] },
          { metric: { __name__: 'b' }, values: [1], timestamps: [T] },
        ])).toThrow(ValidationError)
        w.write([{ metric: { __name__: 'c' }, values: [2], timestamps: [T] }])
        w.write([{ metric: { __name__: 'd' }, values: [3], timestamps: [T] }])
        await w.close()
        expect(got.map((it) => [it.metric.__name__, it.exemplars])).toEqual([['c', undefined], ['d', undefined]])
      } finally {
        await rx.close()
      }
    })
  }

  for (const protocol of ['v2', 'auto'] as const) {
    it(`${protocol}: a batch takes histograms only while its bytes stay within maxBytesPerRequest`, async () => {
        const sizes: number[] = []
      const server = await serve((req, res) => {
        const chunks: Buffer[] = []
        req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
          const v2 = String(req.headers['content-type']).includes('v2')
          sizes.push((uncompressSync(Buffer.concat(chunks)) as Buffer).length)
          if (v2 && protocol === 'auto') {
            res.writeHead(415)
          } else {
            res.writeHead(204, v2 ? { 'x-prometheus-remote-write-samples-written': '100', 'x-prometheus-remote-write-histograms-written': '40' } : {})
          }
          res.end()
        })
      })
      try {
        const limit = 3000
        const w = new RemoteWriter({ url: `${server.base}/size-${protocol}`, protocol, concurrency: 1, flushInterval: 60_000, maxBytesPerRequest: limit })
        w.write([{ metric: { __name__: 's' }, values: Array.from({ length: 100 }, (_, k) => k + 0.5), timestamps: Array.from({ length: 100 }, (_, k) => T + k) }])
        w.write([{ metric: { __name__: 's', b: '1' }, values: [], timestamps: [], histograms: Array.from({ length: 40 }, (_, k) => H(T + k)) }])
        await w.close()
        expect(sizes.length).toBeGreaterThan(1)
        for (const n of sizes) expect(n).toBeLessThanOrEqual(limit)
      } finally {
        server.close()
      }
    })
  }

  for (const protocol of ['v1', 'v2'] as const) {
    it(`${protocol}: a call larger than the buffer keeps its histograms and exemplars, and items that have only those`, async () => {
      const rx = await startReceiver()
      try {
        const w = new RemoteWriter({ url: rx.url, protocol, concurrency: 1, maxSamplesPerRequest: 10, maxBufferedSamples: 10 })
        const items: Item[] = [
          { metric: { __name__: 'a' }, values: Array.from({ length: 25 }, (_, i) => i), timestamps: Array.from({ length: 25 }, (_, i) => T + i), histograms: [H(T)], exemplars: EXEMPLARS.slice(0, 1) },
          { metric: { __name__: 'h' }, values: [], timestamps: [], histograms: [H(T), H(T + 1)] },
        ]
        expect(w.write(items)).toBe(false)
        await w.close()
        const s = rx.stats()
        expect([s.samples, s.histograms, s.exemplars]).toEqual([25, 3, 1])
      } finally {
        await rx.close()
      }
    })
  }

  for (const large of [false, true]) {
    it(`send() resolves, counting histograms, for an item with both samples and histograms (${large ? 'a call larger than the buffer' : 'one call'})`, async () => {
      const rx = await startReceiver()
      try {
        const w = new RemoteWriter({ url: rx.url, protocol: 'v2', concurrency: 1, ...(large ? { maxSamplesPerRequest: 10, maxBufferedSamples: 10 } : {}) })
        const r = await w.send([{ metric: { __name__: 'both' }, values: [1, 2, 3], timestamps: [T, T + 1, T + 2], histograms: [H(T), H(T + 1)] }])
        expect(r.samples).toBe(5)
        await w.close()
        expect([rx.stats().samples, rx.stats().histograms]).toEqual([3, 2])
      } finally {
        await rx.close()
      }
    })
  }

  it('2.0: exemplars survive an item whose samples do not fit the open batch', async () => {
    const rx = await startReceiver()
    try {
      const w = new RemoteWriter({ url: rx.url, protocol: 'v2', concurrency: 1, maxSamplesPerRequest: 10 })
      await w.send([{ metric: { __name__: 'long' }, values: Array.from({ length: 20 }, (_, i) => i), timestamps: Array.from({ length: 20 }, (_, i) => T + i), exemplars: EXEMPLARS.slice(0, 1) }])
      await w.close()
      expect([rx.stats().samples, rx.stats().exemplars]).toEqual([20, 1])
    } finally {
      await rx.close()
    }
  })

  it('1.0: an item with exemplars only is sent on flush, and leaves nothing buffered', async () => {
    const rx = await startReceiver()
    try {
      const w = new RemoteWriter({ url: rx.url, concurrency: 1, flushInterval: 60_000 })
      w.write({ metric: { __name__: 'only_exemplars' }, values: [], timestamps: [], exemplars: EXEMPLARS.slice(0, 2) })
      await w.flush()
      expect(rx.stats().exemplars).toBe(2)
      expect(w.stats().buffered).toMatchObject({ samples: 0, bytes: 0 })
      await w.close()
    } finally {
      await rx.close()
    }
  })

  it('codec: an empty histograms array is no histograms (no empty record)', async () => {
    const codec = await createCodec()
    const item: Item = { metric: { __name__: 'm' }, values: [1], timestamps: [T], histograms: [] }
    expect(codec.decodeV2(codec.encodeV2([item]), { strict: true }).items.length).toBe(1)
    expect(codec.decode(codec.encode([item]), { strict: true }).length).toBe(1)
  })

  it('a call larger than the buffer with a bad startTimestamp is refused before anything is sent', async () => {
    const rx = await startReceiver()
    try {
      const w = new RemoteWriter({ url: rx.url, protocol: 'v2', concurrency: 1, maxSamplesPerRequest: 10, maxBufferedSamples: 10 })
      const items: Item[] = [
        { metric: { __name__: 'a' }, values: Array.from({ length: 30 }, (_, i) => i), timestamps: Array.from({ length: 30 }, (_, i) => T + i) },
        { metric: { __name__: 'b' }, values: [1], timestamps: [T], startTimestamp: 1.5 },
      ]
      await expect(w.send(items)).rejects.toThrow(/startTimestamp/)
      await w.close()
      expect(rx.stats().requests).toBe(0)
    } finally {
      await rx.close()
    }
  })
})

describe('strings that are not valid UTF-8', () => {
  /** A 1.0 request whose label value is given as raw bytes (protobufjs with `bytes` for Label.value). */
  const BytesRequest = (() => {
    const root = new protobuf.Root()
    const ns = root.define('bytes')
    ns.add(new protobuf.Type('Label').add(new protobuf.Field('name', 1, 'string')).add(new protobuf.Field('value', 2, 'bytes')))
    ns.add(new protobuf.Type('Sample').add(new protobuf.Field('value', 1, 'double')).add(new protobuf.Field('timestamp', 2, 'int64')))
    ns.add(new protobuf.Type('TimeSeries').add(new protobuf.Field('labels', 1, 'Label', 'repeated')).add(new protobuf.Field('samples', 2, 'Sample', 'repeated')))
    ns.add(new protobuf.Type('WriteRequest').add(new protobuf.Field('timeseries', 1, 'TimeSeries', 'repeated')))
    return root.lookupType('bytes.WriteRequest')
  })()
  const body = (value: Uint8Array): Uint8Array => {
    const msg = BytesRequest.create({ timeseries: [{ labels: [{ name: '__name__', value: Buffer.from('m') }, { name: 'job', value }], samples: [{ value: 1, timestamp: 1_700_000_000_000 }] }] })
    return new Uint8Array(compressSync(Buffer.from(BytesRequest.encode(msg).finish())))
  }

  it('a label value with a byte that is not UTF-8 is a DecodeError, not a U+FFFD', async () => {
    const codec = await createCodec()
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0x61, 0x80, 0x62]]) {
      for (const strict of [false, true]) expect(() => codec.decode(body(new Uint8Array(bad)), { strict })).toThrow(/not valid UTF-8/)
    }
    // A U+FFFD that was sent as one is a U+FFFD; the codec stays usable.
    expect(codec.decode(body(new Uint8Array([0xef, 0xbf, 0xbd])))[0].metric.job).toBe('\uFFFD')
    expect(codec.decode(body(new Uint8Array([0x79])))[0].metric.job).toBe('y')
  })
})
