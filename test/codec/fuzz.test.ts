// A seeded fuzz of the codec's API (the hardening issue): calls of valid items with at most one
// of them broken in one of many ways. Every call either throws a ValidationError naming that
// item and the field at fault, or gives bytes that independent decoders (native snappy and
// snappyjs, then protobufjs; for 2.0 a schema built from protocol.md) read back exactly as the
// model says, label strings byte for byte. After every call the codec still encodes a fixed
// item to the same bytes as a fresh codec.
//
// Reproduce a failure from what fast-check prints (seed and path), or run longer with
// PRW_FUZZ_RUNS=20000 PRW_FUZZ_SEED=<n>.
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import type { Codec } from '../../src/codec/codec.js'
import { ValidationError } from '../../src/errors.js'
import type { ValidationField } from '../../src/errors.js'
import { STALE } from '../../src/types.js'
import type { Item } from '../../src/types.js'
import { arbItem, diffWire, expectedWire, hex, independentDecode } from '../support/helpers.js'
import type { WireSeries } from '../support/helpers.js'
import { decodeV2 } from '../support/v2.js'

const SEED = Number(process.env.PRW_FUZZ_SEED ?? 20_261_207)
const RUNS = Number(process.env.PRW_FUZZ_RUNS ?? 1500)

/** A way to break (or harmlessly bend) an item: the field the error must name, or 'ok'. */
interface Mutation {
  name: string
  expect: ValidationField | 'ok'
  apply: (item: Item, pick: number) => Item
}

const asRecord = (item: Item): Record<string, string> => Array.isArray(item.metric)
  ? Object.fromEntries(item.metric as Array<[string, string]>)
  : { ...(item.metric as Record<string, string>) }
const withLabel = (item: Item, name: string, value: unknown): Item => ({ ...item, metric: { ...asRecord(item), [name]: value } as Record<string, string> })
const plainValues = (item: Item): Array<number | typeof STALE | unknown> => Array.from(item.values as ArrayLike<number>)
const nonEmpty = (item: Item): boolean => item.values.length > 0
const someIndex = (item: Item, pick: number): number => pick % item.values.length

const MUTATIONS: Mutation[] = [
  { name: 'lone high surrogate in a value', expect: 'metric', apply: (it) => withLabel(it, 'zz', 'a\uD800') },
  { name: 'lone low surrogate in a value', expect: 'metric', apply: (it) => withLabel(it, 'zz', '\uDC00b') },
  { name: 'number as a label value', expect: 'metric', apply: (it) => withLabel(it, 'zz', 42) },
  { name: 'null as a label value', expect: 'metric', apply: (it) => withLabel(it, 'zz', null) },
  { name: 'invalid label name', expect: 'metric', apply: (it) => withLabel(it, '0bad', 'x') },
  { name: 'label name with a dash', expect: 'metric', apply: (it) => withLabel(it, 'a-b', 'x') },
  { name: 'empty label name', expect: 'metric', apply: (it) => withLabel(it, '', 'x') },
  { name: 'non-ASCII label name', expect: 'metric', apply: (it) => withLabel(it, 'ü', 'x') },
  { name: 'invalid metric name', expect: 'metric', apply: (it) => withLabel(it, '__name__', 'bad-name') },
  {
    name: 'no __name__',
    expect: 'metric',
    apply: (it) => {
      const m = asRecord(it)
      delete m.__name__
      return { ...it, metric: m }
    },
  },
  { name: 'duplicate names as pairs', expect: 'metric', apply: (it) => ({ ...it, metric: [...Object.entries(asRecord(it)), ['dup', '1'], ['dup', '2']] }) },
  { name: 'metric is a number', expect: 'metric', apply: (it) => ({ ...it, metric: 7 as unknown as Record<string, string> }) },
  { name: 'metric is null', expect: 'metric', apply: (it) => ({ ...it, metric: null as unknown as Record<string, string> }) },
  { name: 'a malformed pair', expect: 'metric', apply: (it) => ({ ...it, metric: [...Object.entries(asRecord(it)), ['x']] as unknown as Array<[string, string]> }) },
  {
    name: 'a string value',
    expect: 'values',
    apply: (it, pick) => {
      if (!nonEmpty(it)) return { ...it, values: ['1'] as unknown as number[], timestamps: [1] }
      const v = plainValues(it)
      v[someIndex(it, pick)] = '1'
      return { ...it, values: v as number[] }
    },
  },
  {
    name: 'a BigInt value',
    expect: 'values',
    apply: (it, pick) => {
      if (!nonEmpty(it)) return { ...it, values: [1n] as unknown as number[], timestamps: [1] }
      const v = plainValues(it)
      v[someIndex(it, pick)] = 1n
      return { ...it, values: v as number[] }
    },
  },
  {
    name: 'another symbol as a value',
    expect: 'values',
    apply: (it, pick) => {
      if (!nonEmpty(it)) return { ...it, values: [Symbol('x')] as unknown as number[], timestamps: [1] }
      const v = plainValues(it)
      v[someIndex(it, pick)] = Symbol.for('prometheus-remote-writer.STALE')
      return { ...it, values: v as number[] }
    },
  },
  { name: 'one value too many', expect: 'values', apply: (it) => ({ ...it, values: [...plainValues(it), 1] as number[] }) },
  { name: 'values with a huge length', expect: 'values', apply: (it) => ({ ...it, values: { length: 2 ** 40 } as unknown as number[] }) },
  { name: 'values not array-like', expect: 'values', apply: (it) => ({ ...it, values: 5 as unknown as number[] }) },
  ...([['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity], ['1e300', 1e300], ['a string', '5'], ['a BigInt', 5n], ['STALE', STALE]] as const).map(([what, t]): Mutation => ({
    name: `${what} as a timestamp`,
    expect: 'timestamps',
    apply: (it, pick) => {
      const n = Math.max(1, it.values.length)
      const values = nonEmpty(it) ? plainValues(it) : [1]
      const ts: unknown[] = nonEmpty(it) ? Array.from(it.timestamps as ArrayLike<number | bigint>, Number) : [1]
      ts[pick % n] = t
      return { ...it, values: values as number[], timestamps: ts as number[] }
    },
  })),
  { name: 'item is null', expect: 'item', apply: () => null as unknown as Item },
  { name: 'item is a string', expect: 'item', apply: () => 'item' as unknown as Item },
  // Bends that must go through.
  {
    name: 'STALE in a plain array',
    expect: 'ok',
    apply: (it, pick) => {
      if (!nonEmpty(it)) return it
      const v = plainValues(it)
      v[someIndex(it, pick)] = STALE
      return { ...it, values: v as number[] }
    },
  },
  { name: 'an empty label value (dropped)', expect: 'ok', apply: (it) => withLabel(it, 'zz', '') },
  { name: 'paired surrogates', expect: 'ok', apply: (it) => withLabel(it, 'zz', '😀\u{10FFFF}') },
]

/** Samples sorted by timestamp, stably, as the codec sorts an out-of-order series (integer timestamps only). */
function sortedModel (item: Item): Item {
  const n = item.values.length
  const order = Array.from({ length: n }, (_, i) => i)
  const ts = item.timestamps
  order.sort((a, b) => (ts[a] < ts[b] ? -1 : ts[a] > ts[b] ? 1 : 0))
  const values = order.map((i) => (item.values as ArrayLike<number>)[i])
  const timestamps = ts instanceof BigInt64Array ? BigInt64Array.from(order, (i) => ts[i]) : order.map((i) => ts[i] as number)
  return { ...item, values: item.values instanceof Float64Array ? Float64Array.from(order, (i) => (item.values as Float64Array)[i]) : values, timestamps }
}

/** The items of a call: valid ones, one of them perhaps broken, perhaps one reversed (unsorted). */
const arbCall = fc.record({
  items: fc.array(arbItem(6), { minLength: 1, maxLength: 4 }),
  broken: fc.option(fc.record({ at: fc.nat(), mutation: fc.nat({ max: MUTATIONS.length - 1 }), pick: fc.nat() }), { freq: 4 }),
  reverse: fc.option(fc.nat(), { freq: 3 }),
})

let codec: Codec
let probe: Item
let probeBytes: string
beforeAll(async () => {
  codec = await createCodec({ autoConvertSecondsToMs: false })
  probe = { metric: { __name__: 'probe', job: 'fuzz' }, values: [1.5, 2.5], timestamps: [1_700_000_000_000, 1_700_000_000_001] }
  const fresh = await createCodec({ autoConvertSecondsToMs: false })
  probeBytes = hex(fresh.encode([probe]))
})

describe(`codec fuzz (seed ${SEED}, ${RUNS} calls per protocol)`, () => {
  for (const protocol of ['v1', 'v2'] as const) {
    it(`${protocol}: a ValidationError naming the broken item and field, or exactly the model's bytes; usable after`, () => {
      const counts: Record<string, number> = {}
      fc.assert(fc.property(arbCall, ({ items, broken, reverse }) => {
        const call = items.slice()
        const m = broken === null ? undefined : MUTATIONS[broken.mutation]
        const at = broken === null ? -1 : broken.at % call.length
        // A bend that must go through is applied first, so that the model sorts what is sent.
        if (m?.expect === 'ok') call[at] = m.apply(call[at], broken!.pick)
        let model: Item[] = call.slice()
        if (reverse !== null) {
          const k = reverse % call.length
          const it = call[k]
          const ts = it.timestamps
          const integers = ts instanceof BigInt64Array || Array.from(ts as ArrayLike<number>).every(Number.isInteger)
          if (integers && it.values.length > 1) {
            const rev = (a: ArrayLike<unknown>): unknown[] => Array.from(a).reverse()
            call[k] = { ...it, values: (it.values instanceof Float64Array ? Float64Array.from(rev(it.values) as number[]) : rev(it.values)) as number[], timestamps: (ts instanceof BigInt64Array ? BigInt64Array.from(rev(ts) as bigint[]) : rev(ts)) as number[] }
            model[k] = sortedModel(call[k])
          }
        }
        const want: ValidationField | 'ok' = m?.expect ?? 'ok'
        if (m !== undefined) {
          if (m.expect !== 'ok') call[at] = m.apply(call[at], broken!.pick)
          counts[m.name] = (counts[m.name] ?? 0) + 1
        }
        let body: Uint8Array | undefined
        let err: unknown
        try {
          body = protocol === 'v1' ? codec.encode(call) : codec.encodeV2(call)
        } catch (e) {
          err = e
        }
        if (want === 'ok') {
          expect(err).toBeUndefined()
          const expected = expectedWire(model)
          const got = protocol === 'v1' ? independentDecode(body as Uint8Array).series : v2Wire(body as Uint8Array)
          expect(diffWire(got, expected)).toBeUndefined()
        } else {
          expect(err, `${m!.name}: no error`).toBeInstanceOf(ValidationError)
          const v = err as ValidationError
          expect({ seriesIndex: v.seriesIndex, field: v.field }, v.message).toEqual({ seriesIndex: at, field: want })
          expect(v.message.startsWith(`series ${at}`)).toBe(true)
        }
        expect(hex(codec.encode([probe]))).toBe(probeBytes)
      }), { seed: SEED, numRuns: RUNS })
      // Every mutation was tried at least once.
      expect(Object.keys(counts).length).toBe(MUTATIONS.length)
      if (process.env.PRW_FUZZ_RUNS !== undefined) {
        const outcomes: Record<string, number> = {}
        for (const mu of MUTATIONS) {
          const key = mu.expect === 'ok' ? 'ok (bent)' : `ValidationError ${mu.expect}`
          outcomes[key] = (outcomes[key] ?? 0) + (counts[mu.name] ?? 0)
        }
        outcomes['ok (valid)'] = RUNS - Object.values(counts).reduce((a, b) => a + b, 0)
        console.log(`codec fuzz ${protocol}, seed ${SEED}: ${RUNS} calls, every one as expected: ${JSON.stringify(outcomes)}`)
      }
    })
  }
})

/** A 2.0 body through the independent decoder, in the wire model's shape. */
function v2Wire (body: Uint8Array): WireSeries[] {
  return decodeV2(body).series.map((s) => ({
    labels: s.labels,
    values: BigUint64Array.from(s.values),
    timestamps: BigInt64Array.from(s.timestamps),
  }))
}
