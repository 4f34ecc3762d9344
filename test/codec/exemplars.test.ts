// Exemplars in Remote Write 1.0 (a series record of their own, as Prometheus sends them) and
// 2.0 (with the series' samples or histograms), decoded independently with protobufjs.
import { uncompressSync } from 'snappy'
import { describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import { ValidationError } from '../../src/errors.js'
import { nativeHistogram } from '../../src/codec/histogram.js'
import type { Exemplar, Item } from '../../src/types.js'
import { WriteRequest, v2Request } from '../support/schema.js'

const V2 = v2Request()

const X: Array<Exemplar & { labels?: Record<string, string> }> = [
  { labels: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' }, value: 0.25, timestamp: 1_700_000_000_500 },
  { value: 3, timestamp: 1_700_000_001_000 },
  { labels: { trace_id: 'ünïcode' }, value: -0.5, timestamp: 1_700_000_002_000 },
]

describe('exemplars', () => {
  it('1.0: a record of their own with the series labels, each exemplar with its labels, value and timestamp', async () => {
    const codec = await createCodec()
    const item: Item = { metric: { __name__: 'http_request_duration_seconds', job: 'api' }, values: [1, 2], timestamps: [1_700_000_000_000, 1_700_000_015_000], exemplars: X }
    const raw = uncompressSync(Buffer.from(codec.encode([item]))) as Buffer
    const msg = WriteRequest.toObject(WriteRequest.decode(raw), { longs: Number }) as { timeseries: Array<{ labels: unknown[], samples?: unknown[], exemplars?: Array<{ labels?: Array<{ name: string, value: string }>, value: number, timestamp: number }> }> }
    expect(msg.timeseries.length).toBe(2)
    expect(msg.timeseries[0].samples?.length).toBe(2)
    expect(msg.timeseries[1].labels).toEqual(msg.timeseries[0].labels)
    const got = msg.timeseries[1].exemplars!
    expect(got.map((e) => [Object.fromEntries((e.labels ?? []).map((l) => [l.name, l.value])), e.value, e.timestamp])).toEqual(
      X.map((x) => [Object.fromEntries(Object.entries(x.labels ?? {}).sort()), x.value, x.timestamp]),
    )
  })

  it('2.0: with the samples (or the histograms) of the series, labels through the symbols table', async () => {
    const codec = await createCodec()
    for (const withHistograms of [false, true]) {
      const item: Item = withHistograms
        ? { metric: { __name__: 'lat', job: 'api' }, values: [], timestamps: [], histograms: [nativeHistogram({ timestamp: 1_700_000_000_000, schema: 0, sum: 1, positive: { 0: 1 } })], exemplars: X }
        : { metric: { __name__: 'lat', job: 'api' }, values: [1], timestamps: [1_700_000_000_000], exemplars: X }
      const raw = uncompressSync(Buffer.from(codec.encodeV2([item]))) as Buffer
      const msg = V2.toObject(V2.decode(raw), { longs: Number }) as { symbols: string[], timeseries: Array<{ samples?: unknown[], histograms?: unknown[], exemplars?: Array<{ labelsRefs?: number[], value: number, timestamp: number }> }> }
      expect(msg.timeseries.length).toBe(1)
      expect(new Set(msg.symbols).size).toBe(msg.symbols.length)
      const ts = msg.timeseries[0]
      expect(withHistograms ? ts.histograms?.length : ts.samples?.length).toBe(1)
      const got = ts.exemplars!.map((e) => {
        const refs = e.labelsRefs ?? []
        const labels: Record<string, string> = {}
        for (let i = 0; i < refs.length; i += 2) labels[msg.symbols[refs[i]]] = msg.symbols[refs[i + 1]]
        return [labels, e.value, e.timestamp]
      })
      expect(got).toEqual(X.map((x) => [x.labels ?? {}, x.value, x.timestamp]))
    }
  })

  it('bad exemplars are a ValidationError naming the series and the exemplar', async () => {
    const codec = await createCodec()
    const base = { metric: { __name__: 'm' }, values: [1], timestamps: [1_700_000_000_000] }
    const cases: Array<[unknown, RegExp]> = [
      [[{ value: 'x', timestamp: 1 }], /exemplars\[0\]: value/],
      [[{ value: 1, timestamp: 1.5 }], /exemplars\[0\]: timestamp/],
      [[{ value: 1, timestamp: 1 }, { labels: { 'bad-name': 'x' }, value: 1, timestamp: 2 }], /exemplars\[1\]: labels/],
    ]
    for (const [exemplars, why] of cases) {
      for (const v2 of [false, true]) {
        const items = [{ metric: { __name__: 'ok' }, values: [1], timestamps: [1_700_000_000_000] }, { ...base, exemplars } as Item]
        const err = (() => { try { v2 ? codec.encodeV2(items) : codec.encode(items) } catch (e) { return e } })()
        expect(err).toBeInstanceOf(ValidationError)
        expect((err as ValidationError).seriesIndex).toBe(1)
        expect((err as Error).message).toMatch(why)
      }
    }
    // and the next call has no exemplars left over
    const raw = uncompressSync(Buffer.from(codec.encodeV2([base]))) as Buffer
    expect((V2.toObject(V2.decode(raw)) as { timeseries: Array<{ exemplars?: unknown[] }> }).timeseries[0].exemplars).toBeUndefined()
  })
})

describe('exemplars through the writer', () => {
  for (const protocol of ['v1', 'v2'] as const) {
    it(`${protocol}: exemplars arrive with their series`, async () => {
      const http = await import('node:http')
      const { RemoteWriter } = await import('../../src/writer/writer.js')
      const got: Array<{ labels: Record<string, string>, exemplars: number }> = []
      const server = http.createServer((req, res) => {
        const chunks: Buffer[] = []
        req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
          const raw = uncompressSync(Buffer.concat(chunks)) as Buffer
          if (protocol === 'v1') {
            const msg = WriteRequest.toObject(WriteRequest.decode(raw)) as { timeseries: Array<{ labels: Array<{ name: string, value: string }>, exemplars?: unknown[] }> }
            for (const ts of msg.timeseries) got.push({ labels: Object.fromEntries(ts.labels.map((l) => [l.name, l.value])), exemplars: ts.exemplars?.length ?? 0 })
            res.writeHead(204)
          } else {
            const msg = V2.toObject(V2.decode(raw)) as { symbols: string[], timeseries: Array<{ labelsRefs: number[], exemplars?: unknown[] }> }
            for (const ts of msg.timeseries) {
              const labels: Record<string, string> = {}
              for (let i = 0; i < ts.labelsRefs.length; i += 2) labels[msg.symbols[ts.labelsRefs[i]]] = msg.symbols[ts.labelsRefs[i + 1]]
              got.push({ labels, exemplars: ts.exemplars?.length ?? 0 })
            }
            res.writeHead(204, { 'x-prometheus-remote-write-samples-written': '1000' })
          }
          res.end()
        })
      })
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const w = new RemoteWriter({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}/w`, protocol })
      try {
        await w.send([
          { metric: { __name__: 'a' }, values: [1, 2], timestamps: [1_700_000_000_000, 1_700_000_001_000], exemplars: X },
          { metric: { __name__: 'b' }, values: [3], timestamps: [1_700_000_000_000] },
        ])
        await w.close()
        const withX = got.filter((g) => g.exemplars > 0)
        expect(withX).toEqual([{ labels: { __name__: 'a' }, exemplars: 3 }])
      } finally {
        server.close()
      }
    })
  }
})

describe('1.0 metadata', () => {
  it('codec.encode() and the 1.0 writer send WriteRequest.metadata once per metric family', async () => {
    const codec = await createCodec()
    const md = { type: 'counter' as const, help: 'Requests served.', unit: 'requests' }
    const items: Item[] = [
      { metric: { __name__: 'http_requests_total', code: '200' }, values: [1], timestamps: [1_700_000_000_000], metadata: md },
      { metric: { __name__: 'http_requests_total', code: '500' }, values: [2], timestamps: [1_700_000_000_000], metadata: md },
      { metric: { __name__: 'up' }, values: [1], timestamps: [1_700_000_000_000] },
    ]
    const read = (body: Uint8Array): Array<Record<string, unknown>> =>
      ((WriteRequest.toObject(WriteRequest.decode(uncompressSync(Buffer.from(body)) as Buffer), { enums: String }) as { metadata?: Array<Record<string, unknown>> }).metadata ?? [])
    expect(read(codec.encode(items))).toEqual([{ type: 'COUNTER', metricFamilyName: 'http_requests_total', help: 'Requests served.', unit: 'requests' }])

    const http = await import('node:http')
    const { RemoteWriter } = await import('../../src/writer/writer.js')
    const seen: Array<Record<string, unknown>> = []
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
        seen.push(...read(Buffer.concat(chunks)))
        res.writeHead(204)
        res.end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const w = new RemoteWriter({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}/w`, concurrency: 1 })
      await w.send(items)
      await w.close()
      expect(seen).toEqual([{ type: 'COUNTER', metricFamilyName: 'http_requests_total', help: 'Requests served.', unit: 'requests' }])
    } finally {
      server.close()
    }
  })
})
