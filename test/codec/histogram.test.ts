// Native histograms in Remote Write 1.0 and 2.0, decoded independently: native snappy, then
// protobufjs with test/support/schema.ts: WriteRequest (1.0) or v2Request() (protocol.md §1.1, §2.1).
import fc from 'fast-check'
import { uncompressSync } from 'snappy'
import { describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import { ValidationError } from '../../src/errors.js'
import { nativeHistogram } from '../../src/codec/histogram.js'
import type { NativeHistogram } from '../../src/types.js'
import type { Item } from '../../src/types.js'
import { WriteRequest, v2Request } from '../support/schema.js'

const V2 = v2Request()

type PbHist = Record<string, unknown> & { positiveSpans?: Array<{ offset?: number, length?: number }>, negativeSpans?: Array<{ offset?: number, length?: number }> }

/** What protobufjs must decode for `h` (toObject with longs as numbers, no defaults). */
function expected (h: NativeHistogram, v2: boolean): Record<string, unknown> {
  const float = h.float === true
  const out: Record<string, unknown> = {}
  if (float) out.countFloat = h.count
  else out.countInt = h.count
  if (!Object.is(h.sum, 0)) out.sum = h.sum
  if (h.schema !== 0) out.schema = h.schema
  if ((h.zeroThreshold ?? 0) !== 0) out.zeroThreshold = h.zeroThreshold
  if (float) out.zeroCountFloat = h.zeroCount ?? 0
  else out.zeroCountInt = h.zeroCount ?? 0
  const spans = (s: readonly { offset: number, length: number }[] | undefined): unknown[] | undefined =>
    s && s.length ? s.map((x) => ({ ...(x.offset !== 0 ? { offset: x.offset } : {}), ...(x.length !== 0 ? { length: x.length } : {}) })) : undefined
  const neg = spans(h.negativeSpans)
  const pos = spans(h.positiveSpans)
  if (neg) out.negativeSpans = neg
  if (h.negativeBuckets?.length) out[float ? 'negativeCounts' : 'negativeDeltas'] = [...h.negativeBuckets]
  if (pos) out.positiveSpans = pos
  if (h.positiveBuckets?.length) out[float ? 'positiveCounts' : 'positiveDeltas'] = [...h.positiveBuckets]
  const hint = ['unknown', 'yes', 'no', 'gauge'].indexOf(h.resetHint ?? 'unknown')
  if (hint !== 0) out.resetHint = v2 ? hint : ['UNKNOWN', 'YES', 'NO', 'GAUGE'][hint]
  if (h.timestamp !== 0) out.timestamp = h.timestamp
  if (h.customValues?.length) out.customValues = [...h.customValues]
  if (v2 && (h.startTimestamp ?? 0) !== 0) out.startTimestamp = h.startTimestamp
  return out
}

function decoded (body: Uint8Array, v2: boolean): PbHist[][] {
  const raw = uncompressSync(Buffer.from(body)) as Buffer
  const type = v2 ? V2 : WriteRequest
  const msg = type.toObject(type.decode(raw), { longs: Number, enums: v2 ? Number : String, oneofs: false }) as { timeseries?: Array<{ histograms?: PbHist[] }> }
  return (msg.timeseries ?? []).map((ts) => ts.histograms ?? [])
}

const T = 1_700_000_000_000

describe('native histograms', () => {
  it('nativeHistogram() builds spans and deltas from bucket counts', () => {
    const h = nativeHistogram({ timestamp: T, schema: 3, sum: 42.5, positive: { 1: 4, 2: 2, 7: 1, 8: 0 }, negative: new Map([[-2, 3]]), zeroCount: 1, zeroThreshold: 1e-128 })
    expect(h).toMatchObject({
      count: 11, positiveSpans: [{ offset: 1, length: 2 }, { offset: 4, length: 1 }], positiveBuckets: [4, -2, -1],
      negativeSpans: [{ offset: -2, length: 1 }], negativeBuckets: [3], float: false,
    })
    const f = nativeHistogram({ timestamp: T, schema: 0, sum: 1, positive: { 0: 1.5, 1: 2.5 }, float: true })
    expect(f).toMatchObject({ count: 4, positiveSpans: [{ offset: 0, length: 2 }], positiveBuckets: [1.5, 2.5] })
  })

  for (const v2 of [false, true]) {
    it(`${v2 ? '2.0' : '1.0'}: integer, float and custom-bucket histograms decode independently to what was given`, async () => {
      const codec = await createCodec()
      const hs: NativeHistogram[] = [
        nativeHistogram({ timestamp: T, schema: 3, sum: 42.5, positive: { 1: 4, 2: 2, 7: 1 }, negative: { [-2]: 3 }, zeroCount: 1, zeroThreshold: 1e-128, resetHint: 'no' }),
        nativeHistogram({ timestamp: T + 15_000, schema: -2, sum: -0.5, positive: { 0: 2.5, 5: 1 }, float: true, resetHint: 'gauge', startTimestamp: T - 60_000 }),
        { timestamp: T + 30_000, count: 3, sum: 7, schema: -53, positiveSpans: [{ offset: 0, length: 3 }], positiveBuckets: [1, 0, 0], customValues: [0.1, 1, 10] },
      ]
      const item: Item = { metric: { __name__: 'latency_seconds', job: 'api' }, values: [], timestamps: [], histograms: hs }
      const body = v2 ? codec.encodeV2([item]) : codec.encode([item])
      const got = decoded(body, v2)
      expect(got.length).toBe(1)
      expect(got[0]).toEqual(hs.map((h) => expected(h, v2)))
    })
  }

  it('samples and histograms of one item: one 1.0 series record with both; two 2.0 records (never both in one)', async () => {
    const codec = await createCodec()
    const item: Item = { metric: { __name__: 'm' }, values: [1], timestamps: [T], histograms: [nativeHistogram({ timestamp: T, schema: 0, sum: 1, positive: { 0: 1 } })] }
    const v1 = uncompressSync(Buffer.from(codec.encode([item]))) as Buffer
    const m1 = WriteRequest.toObject(WriteRequest.decode(v1)) as { timeseries: Array<{ samples?: unknown[], histograms?: unknown[] }> }
    expect(m1.timeseries.map((t) => [t.samples?.length ?? 0, t.histograms?.length ?? 0])).toEqual([[1, 0], [0, 1]])
    const got2 = decoded(codec.encodeV2([item]), true)
    expect(got2.map((h) => h.length)).toEqual([0, 1])
  })

  it('seeded property: random integer histograms round-trip in both versions (seed 20261131)', async () => {
    const codec = await createCodec()
    const arbCounts = fc.dictionary(fc.integer({ min: -40, max: 40 }).map(String), fc.integer({ min: 0, max: 1e6 }), { maxKeys: 12 })
    fc.assert(fc.property(fc.array(fc.record({ pos: arbCounts, neg: arbCounts, zero: fc.nat({ max: 1000 }), schema: fc.integer({ min: -4, max: 8 }), sum: fc.double({ noNaN: true }) }), { minLength: 1, maxLength: 5 }), (specs) => {
      const hs = specs.map((s, i) => nativeHistogram({
        timestamp: T + i * 1000, schema: s.schema, sum: s.sum, zeroCount: s.zero,
        positive: Object.fromEntries(Object.entries(s.pos).map(([k, v]) => [Number(k), v])),
        negative: Object.fromEntries(Object.entries(s.neg).map(([k, v]) => [Number(k), v])),
      }))
      const item: Item = { metric: { __name__: 'h' }, values: [], timestamps: [], histograms: hs }
      for (const v2 of [false, true]) {
        const got = decoded(v2 ? codec.encodeV2([item]) : codec.encode([item]), v2)
        expect(got[0]).toEqual(hs.map((h) => expected(h, v2)))
      }
    }), { seed: 20261131, numRuns: 200 })
  })

  it('bad histograms are a ValidationError naming the series and the histogram', async () => {
    const codec = await createCodec()
    const ok = nativeHistogram({ timestamp: T, schema: 0, sum: 1, positive: { 0: 1 } })
    const cases: Array<[Partial<NativeHistogram>, RegExp]> = [
      [{ count: -1 }, /count must be/],
      [{ schema: 9 }, /schema/],
      [{ positiveSpans: [{ offset: 0, length: 2 }] }, /cover 2 buckets/],
      [{ timestamp: 1.5 }, /timestamp/],
      [{ schema: -53 }, /customValues/],
    ]
    for (const [patch, why] of cases) {
      const bad = { ...ok, ...patch }
      const err = (() => { try { codec.encode([{ metric: { __name__: 'ok' }, values: [1], timestamps: [T] }, { metric: { __name__: 'h', job: 'x' }, values: [], timestamps: [], histograms: [ok, bad] }]) } catch (e) { return e } })()
      expect(err).toBeInstanceOf(ValidationError)
      expect((err as ValidationError).seriesIndex).toBe(1)
      expect((err as Error).message).toMatch(/histograms\[1\]/)
      expect((err as Error).message).toMatch(why)
    }
    expect(decoded(codec.encode([{ metric: { __name__: 'h' }, values: [], timestamps: [], histograms: [ok] }]), false)[0].length).toBe(1)
  })
})
