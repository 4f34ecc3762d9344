// The codec's API: validation (every rule, with the error's fields), timestamp handling
// (rounding, seconds, sorting), the series cache, large requests, trap recovery, and views
// versus copies. Wire bytes are always checked through the independent decoder in
// test/support/helpers.ts (native snappy + snappyjs + protobufjs), or against a fresh codec.
import assert from 'node:assert'
import { beforeAll, describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import type { Codec, CodecOptions } from '../../src/codec/codec.js'
import { CoreTrapError, InvalidArgumentError, RemoteWriteError, SnappyError, ValidationError } from '../../src/errors.js'
import type { ValidationField } from '../../src/errors.js'
import { STALE_NAN } from '../../src/codec/stale.js'
import type { Item } from '../../src/types.js'
import {
  STALE_BITS, bitsOf, bitsOfArray, expectBytes, expectWire, expectedWire, f64FromBits, hex,
  independentDecode, randomLabelName, randomLabelValue, randomMetricName, rng, roundHalfEven, seededSeries, thrown,
} from '../support/helpers.js'

const up = (extra: Record<string, string> = {}): Record<string, string> => ({ __name__: 'up', job: 'x', ...extra })
const ok = (i: number): Item => ({ metric: { __name__: 'ok', i: String(i) }, values: [i, i + 0.5], timestamps: [1_700_000_000_000 + i, 1_700_000_000_001 + i] })


interface Expect {
  seriesIndex: number
  field: ValidationField
  label?: string
  sampleIndex?: number
  reason: RegExp
  /** A fragment the message must show to name the series by its labels. */
  shows?: string
}

function expectValidation (err: unknown, e: Expect): asserts err is ValidationError {
  expect(err).toBeInstanceOf(ValidationError)
  const v = err as ValidationError
  expect(v).toBeInstanceOf(RemoteWriteError)
  expect(v.code).toBe('ERR_PRW_VALIDATION')
  expect({ seriesIndex: v.seriesIndex, field: v.field, label: v.label, sampleIndex: v.sampleIndex })
    .toEqual({ seriesIndex: e.seriesIndex, field: e.field, label: e.label, sampleIndex: e.sampleIndex })
  expect(v.message).toMatch(e.reason)
  expect(v.message.startsWith(`series ${e.seriesIndex}`), v.message).toBe(true)
  if (e.shows !== undefined) expect(v.message).toContain(e.shows)
}

/** Wire model of what a codec put in `body`, via the independent decoder. */
const wire = (body: Uint8Array) => independentDecode(body).series
const tsOf = (body: Uint8Array, i = 0): bigint[] => Array.from(wire(body)[i].timestamps)
const valuesOf = (body: Uint8Array, i = 0): bigint[] => Array.from(wire(body)[i].values)

let plain: Codec // autoConvertSecondsToMs: false
let auto: Codec // defaults
let strict: Codec // strictTimestamps
let nosort: Codec // sortSamples: false

beforeAll(async () => {
  plain = await createCodec({ autoConvertSecondsToMs: false })
  auto = await createCodec()
  strict = await createCodec({ strictTimestamps: true })
  nosort = await createCodec({ sortSamples: false })
})

// ---- validation -------------------------------------------------------------------------------

interface Case {
  name: string
  options?: CodecOptions
  item: unknown
  expect: Omit<Expect, 'seriesIndex'>
}

const T = [1_700_000_000_000]
const CASES: Case[] = [
  // Label name syntax: [a-zA-Z_][a-zA-Z0-9_]*
  ...['bad-name', '1abc', '', 'ü', 'a:b', 'a b', 'a.b'].map((name): Case => ({
    name: `label name ${JSON.stringify(name)}`,
    item: { metric: up({ [name]: 'v' }), values: [1], timestamps: T },
    expect: { field: 'metric', label: name, reason: /invalid label name/, shows: '__name__="up"' },
  })),
  // __name__ missing, or empty (an empty value means absent).
  { name: '__name__ missing', item: { metric: { job: 'x' }, values: [1], timestamps: T }, expect: { field: 'metric', reason: /missing __name__/, shows: 'job="x"' } },
  { name: '__name__ empty', item: { metric: { __name__: '', job: 'x' }, values: [1], timestamps: T }, expect: { field: 'metric', reason: /missing __name__/, shows: 'job="x"' } },
  { name: 'no labels at all', item: { metric: {}, values: [1], timestamps: T }, expect: { field: 'metric', reason: /missing __name__/ } },
  { name: 'no label pairs at all', item: { metric: [], values: [1], timestamps: T }, expect: { field: 'metric', reason: /missing __name__/ } },
  // Metric name syntax: [a-zA-Z_:][a-zA-Z0-9_:]*
  ...['1up', 'up-time', 'up time', 'ü', 'up.total', 'up\n'].map((name): Case => ({
    name: `metric name ${JSON.stringify(name)}`,
    item: { metric: { __name__: name, job: 'x' }, values: [1], timestamps: T },
    expect: { field: 'metric', label: '__name__', reason: /invalid metric name/, shows: 'job="x"' },
  })),
  // Duplicate names can only be written in the pair form.
  {
    name: 'duplicate label name (pairs)',
    item: { metric: [['__name__', 'up'], ['job', 'a'], ['job', 'b']], values: [1], timestamps: T },
    expect: { field: 'metric', label: 'job', reason: /duplicate label name/, shows: '__name__="up"' },
  },
  {
    name: 'duplicate __name__ (pairs)',
    item: { metric: [['job', 'a'], ['__name__', 'up'], ['__name__', 'up']], values: [1], timestamps: T },
    expect: { field: 'metric', label: '__name__', reason: /duplicate label name/, shows: 'job="a"' },
  },
  // values/timestamps length mismatch
  {
    name: 'values longer than timestamps',
    item: { metric: up(), values: [1, 2], timestamps: T },
    expect: { field: 'values', reason: /2 entries but timestamps has 1/, shows: '__name__="up"' },
  },
  {
    name: 'timestamps longer than values (typed arrays)',
    item: { metric: up(), values: new Float64Array(1), timestamps: new BigInt64Array(3) },
    expect: { field: 'values', reason: /1 entries but timestamps has 3/, shows: '__name__="up"' },
  },
  // Non-finite timestamps, in each number form and whichever option set.
  ...([
    ['NaN', [1000, NaN], 1], ['Infinity', [Infinity], 0], ['-Infinity last', [1000, 2000, -Infinity], 2],
  ] as Array<[string, number[], number]>).flatMap(([label, ts, at]): Case[] => [
    { name: `timestamp ${label} (number[])`, options: { autoConvertSecondsToMs: false }, item: { metric: up(), values: ts.map(() => 1), timestamps: ts }, expect: { field: 'timestamps', sampleIndex: at, reason: /not a finite number/, shows: '__name__="up"' } },
    { name: `timestamp ${label} (Float64Array)`, item: { metric: up(), values: ts.map(() => 1), timestamps: Float64Array.from(ts) }, expect: { field: 'timestamps', sampleIndex: at, reason: /not a finite number/, shows: '__name__="up"' } },
  ]),
  {
    name: 'timestamp -Infinity first, strictTimestamps: reported as not finite, not as seconds',
    options: { strictTimestamps: true },
    item: { metric: up(), values: [1], timestamps: [-Infinity] },
    expect: { field: 'timestamps', sampleIndex: 0, reason: /not a finite number/, shows: '__name__="up"' },
  },
  // Outside int64 (2^63 is the first double past int64 max; -2^63 itself is fine).
  ...([
    ['2^63', [2 ** 63], 0], ['1e19', [0, 1e19], 1], ['-2^64', [-(2 ** 64)], 0],
  ] as Array<[string, number[], number]>).map(([label, ts, at]): Case => ({
    name: `timestamp ${label} out of int64 range`,
    options: { autoConvertSecondsToMs: false },
    item: { metric: up(), values: ts.map(() => 1), timestamps: ts },
    expect: { field: 'timestamps', sampleIndex: at, reason: /outside the int64/, shows: '__name__="up"' },
  })),
  {
    name: 'seconds ×1000 pushes a timestamp out of int64',
    item: { metric: up(), values: [1, 2], timestamps: [5, 1e17] },
    expect: { field: 'timestamps', sampleIndex: 1, reason: /outside the int64/ },
  },
  {
    name: 'seconds ×1000 pushes a BigInt64Array timestamp out of int64',
    item: { metric: up(), values: [1, 2], timestamps: BigInt64Array.of(5n, 2n ** 62n) },
    expect: { field: 'timestamps', sampleIndex: 1, reason: /outside the int64/ },
  },
  // strictTimestamps: fractional milliseconds and seconds are rejected.
  {
    name: 'fractional millisecond under strictTimestamps',
    options: { strictTimestamps: true },
    item: { metric: up(), values: [1, 2], timestamps: [1.7e12, 1.7e12 + 0.5] },
    expect: { field: 'timestamps', sampleIndex: 1, reason: /fractional millisecond/ },
  },
  {
    name: 'fractional millisecond under strictTimestamps without seconds conversion',
    options: { strictTimestamps: true, autoConvertSecondsToMs: false },
    item: { metric: up(), values: [1], timestamps: Float64Array.of(2.5) },
    expect: { field: 'timestamps', sampleIndex: 0, reason: /fractional millisecond/ },
  },
  {
    name: 'seconds under strictTimestamps',
    options: { strictTimestamps: true },
    item: { metric: up(), values: [1, 2], timestamps: [1.7e9, 1.7e9 + 15] },
    expect: { field: 'timestamps', sampleIndex: 0, reason: /looks like seconds/ },
  },
  {
    name: 'seconds under strictTimestamps (BigInt64Array)',
    options: { strictTimestamps: true },
    item: { metric: up(), values: [1], timestamps: BigInt64Array.of(1_700_000_000n) },
    expect: { field: 'timestamps', sampleIndex: 0, reason: /looks like seconds/ },
  },
  // sortSamples: false turns an out-of-order series into an error at the first sample that goes back.
  ...(['array', 'f64', 'i64'] as const).map((form): Case => {
    const ts = [1000, 3000, 2000, 4000]
    return {
      name: `unsorted timestamps with sortSamples: false (${form})`,
      options: { sortSamples: false, autoConvertSecondsToMs: false },
      item: { metric: up(), values: [1, 2, 3, 4], timestamps: form === 'array' ? ts : form === 'f64' ? Float64Array.from(ts) : BigInt64Array.from(ts, BigInt) },
      expect: { field: 'timestamps', sampleIndex: 2, reason: /ascending/, shows: '__name__="up"' },
    }
  }),
  // After sorting, an error must still name the sample by its index in the caller's arrays.
  {
    // [2e12, 1.5]: the first timestamp as given says milliseconds; sorting puts 1.5 first,
    // and the error must name input index 1, not sorted index 0.
    name: 'an error found after sorting names the input sample (strict: 1.5 is fractional, it is input [1])',
    options: { strictTimestamps: true },
    item: { metric: up(), values: [1, 2], timestamps: [2e12, 1.5] },
    expect: { field: 'timestamps', sampleIndex: 1, reason: /fractional/ },
  },
  // Non-string label names and values.
  ...([['number', 5], ['undefined', undefined], ['null', null], ['object', {}], ['bigint', 1n]] as Array<[string, unknown]>).map(([label, v]): Case => ({
    name: `label value ${label} (record)`,
    item: { metric: { __name__: 'up', job: v }, values: [1], timestamps: T },
    expect: { field: 'metric', label: 'job', reason: /label value must be a string/, shows: '__name__="up"' },
  })),
  {
    name: 'label value number (pairs)',
    item: { metric: [['__name__', 'up'], ['job', 5]], values: [1], timestamps: T },
    expect: { field: 'metric', label: 'job', reason: /label value must be a string/ },
  },
  {
    name: 'label name number (pairs)',
    item: { metric: [['__name__', 'up'], [5, 'x']], values: [1], timestamps: T },
    expect: { field: 'metric', label: '5', reason: /label name must be a string/ },
  },
  ...([['one element', [['__name__', 'up'], ['job']]], ['three elements', [['__name__', 'up', 'x']]], ['not an array', [['__name__', 'up'], 'job=x']], ['null pair', [null]]] as Array<[string, unknown]>).map(([label, metric]): Case => ({
    name: `label pair ${label}`,
    item: { metric, values: [1], timestamps: T },
    expect: { field: 'metric', reason: /label pairs must be \[name, value\]/ },
  })),
  // Non-number values and timestamps.
  ...([['string', ['1'], 0], ['null', [1, null], 1], ['bigint', [1, 2, 3n], 2], ['undefined (hole)', [1, , 3], 1], ['boolean', [true], 0]] as Array<[string, unknown[], number]>).map(([label, values, at]): Case => ({
    name: `value ${label}`,
    item: { metric: up(), values, timestamps: values.map((_, i) => 1.7e12 + i) },
    expect: { field: 'values', sampleIndex: at, reason: /must be a number/, shows: '__name__="up"' },
  })),
  ...([['string', ['1000'], 0], ['null', [1000, null], 1], ['bigint in a number[]', [1000, 2000n], 1]] as Array<[string, unknown[], number]>).map(([label, timestamps, at]): Case => ({
    name: `timestamp ${label}`,
    item: { metric: up(), values: timestamps.map(() => 1), timestamps },
    expect: { field: 'timestamps', sampleIndex: at, reason: /must be a number/, shows: '__name__="up"' },
  })),
  ...([['a number', 5], ['null', null], ['a string', '1,2'], ['missing', undefined]] as Array<[string, unknown]>).map(([label, values]): Case => ({
    name: `values ${label}`,
    item: { metric: up(), values, timestamps: T },
    expect: { field: 'values', reason: /must be an array of numbers or a Float64Array/, shows: '__name__="up"' },
  })),
  ...([['a number', 5], ['null', null], ['missing', undefined]] as Array<[string, unknown]>).map(([label, timestamps]): Case => ({
    name: `timestamps ${label}`,
    item: { metric: up(), values: [1], timestamps },
    expect: { field: 'timestamps', reason: /must be an array of numbers, a Float64Array or a BigInt64Array/, shows: '__name__="up"' },
  })),
  // Non-object items, and items without labels.
  ...([['null', null], ['undefined', undefined], ['a number', 5], ['a string', 'up'], ['a boolean', true]] as Array<[string, unknown]>).map(([label, item]): Case => ({
    name: `item ${label}`,
    item,
    expect: { field: 'item', reason: /item must be an object/ },
  })),
  ...([['missing', undefined], ['null', null], ['a string', 'up{job="x"}'], ['a number', 1]] as Array<[string, unknown]>).map(([label, metric]): Case => ({
    name: `metric ${label}`,
    item: { metric, values: [1], timestamps: T },
    expect: { field: 'metric', reason: /must be an object of label names to values/ },
  })),
]

describe('validation: one test per rule, the bad item at index 2 of 3', () => {
  const fresh = new Map<string, Codec>()
  const codecFor = async (options: CodecOptions = {}): Promise<[Codec, Codec]> => {
    const key = JSON.stringify(options)
    if (!fresh.has(key)) fresh.set(key, await createCodec(options))
    // The codec under test is new per case; the reference one is shared and never fails.
    return [await createCodec(options), fresh.get(key)!]
  }

  for (const c of CASES) {
    it(c.name, async () => {
      const [codec, reference] = await codecFor(c.options)
      const items = [ok(0), ok(1), c.item as Item]
      for (const call of ['encode', 'encodeView', 'encodeProtobuf'] as const) {
        let result: Uint8Array | undefined
        const err = thrown(() => { result = codec[call](items) })
        expect(result).toBeUndefined()
        expectValidation(err, { seriesIndex: 2, ...c.expect })
        // The codec stays correct: the next request gives a fresh codec's bytes.
        const next = [ok(3), { metric: up({ z: 'ü😀' }), values: [STALE_NAN, 7], timestamps: [1.7e12 + 1, 1.7e12 + 2] }]
        expect(hex(codec.encode(next))).toBe(hex(reference.encode(next)))
      }
    })
  }

  it('array-likes whose length is not a count (-1, 1.5, 2^32) are a ValidationError of the item', async () => {
    // Such a length must be rejected before it reaches the core: -1 and 2^32 become huge or zero
    // u32 sizes there, and 1.5 was silently encoded as one sample whose timestamp is values[1].
    for (const length of [-1, 1.5, 2 ** 32]) {
      const codec = await createCodec({ autoConvertSecondsToMs: false })
      const item = { metric: up(), values: { length, 0: 1, 1: 2 }, timestamps: { length, 0: 1.7e12, 1: 1.7e12 + 1 } }
      const err = thrown(() => codec.encode([ok(0), item as unknown as Item]))
      expect(err, `length ${length}`).toBeInstanceOf(ValidationError)
      const v = err as ValidationError
      expect([v.seriesIndex, v.sampleIndex], `length ${length}: ${v.message}`).toEqual([1, undefined])
      expect(['values', 'timestamps']).toContain(v.field)
    }
  })

  it('items that is not an array is an InvalidArgumentError', () => {
    for (const items of [null, undefined, {}, 'x', { length: 0 }]) {
      const err = thrown(() => plain.encode(items as unknown as Item[]))
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect(err).toBeInstanceOf(RemoteWriteError)
    }
  })

  it('codec.series() validates too (seriesIndex -1)', () => {
    expectValidation(thrown(() => plain.series({ job: 'x' })), { seriesIndex: -1, field: 'metric', reason: /missing __name__/ })
    expectValidation(thrown(() => plain.series({ __name__: 'up', 'a-b': 'x' })), { seriesIndex: -1, field: 'metric', label: 'a-b', reason: /invalid label name/ })
    expectValidation(thrown(() => plain.series([['__name__', 'up'], ['a', '1'], ['a', '2']])), { seriesIndex: -1, field: 'metric', label: 'a', reason: /duplicate/ })
  })

  it('createCodec rejects invalid options with InvalidArgumentError', async () => {
    for (const options of [{ seriesCacheBytes: -1 }, { seriesCacheBytes: NaN }, { maxDecodedBytes: 1.5 }, { maxDecodedBytes: -1 }]) {
      await expect(createCodec(options)).rejects.toBeInstanceOf(InvalidArgumentError)
    }
  })

  it('append() appends nothing for an invalid item; finish() has only the valid ones', async () => {
    const codec = await createCodec({ autoConvertSecondsToMs: false })
    const reference = await createCodec({ autoConvertSecondsToMs: false })
    codec.begin()
    codec.append(ok(0), 0)
    const size = codec.size
    for (const bad of [
      { metric: up(), values: [1, 2], timestamps: [1000, NaN] },
      { metric: up(), values: [1, 'x'], timestamps: [1000, 2000] },
      { metric: { job: 'x' }, values: [1], timestamps: [1000] },
      { metric: up(), values: [1, 2, 3], timestamps: [3000, 1000, Infinity] }, // unsorted and invalid
    ]) {
      expect(() => codec.append(bad as Item, 1)).toThrow(ValidationError)
      expect(codec.size).toBe(size)
      expect(codec.seriesCount).toBe(1)
      expect(codec.sampleCount).toBe(2)
    }
    codec.append(ok(2), 2)
    expect(hex(codec.finish())).toBe(hex(reference.encode([ok(0), ok(2)])))
  })

  it('a failed call leaves nothing behind: encode([]) right after is the empty request', () => {
    expect(() => plain.encode([ok(0), ok(1), { metric: up(), values: [1], timestamps: [NaN] }])).toThrow(ValidationError)
    expect(hex(plain.encode([]))).toBe('00')
    expect(plain.encodeProtobuf([]).length).toBe(0)
  })
})

// ---- timestamps: rounding, seconds, sorting --------------------------------------------------

describe('timestamps', () => {
  it('fractional milliseconds round half to even (Python round())', () => {
    // Every input is exact in binary: 1000.5000001 is just above the half, 1e12 + 0.5 is a half.
    const ts = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.4999, 1000.5000001, 1e12 + 0.5, 1e12 + 1.5, 1e12 + 2.75]
    const want = [-2n, -2n, 0n, 0n, 2n, 2n, 3n, 1001n, 1_000_000_000_000n, 1_000_000_000_002n, 1_000_000_000_003n]
    for (const form of [ts, Float64Array.from(ts)]) {
      const body = plain.encode([{ metric: up(), values: ts.map(() => 1), timestamps: form }])
      expect(tsOf(body)).toEqual(want)
    }
  })

  it('-2^63 is inside int64 (and so is the largest double below 2^63)', () => {
    const body = plain.encode([{ metric: up(), values: [1, 2], timestamps: [-(2 ** 63), 9223372036854774784] }])
    expect(tsOf(body)).toEqual([-(2n ** 63n), 9223372036854774784n])
  })

  it('seconds: a series whose first timestamp is below 1e10 is multiplied by 1000, per series', () => {
    const body = auto.encode([
      { metric: up({ s: '1' }), values: [1, 2], timestamps: [1_700_000_000, 1_700_000_015] },
      { metric: up({ s: '2' }), values: [1, 2], timestamps: [1_700_000_000_000, 1_700_000_015_000] },
      { metric: up({ s: '3' }), values: [1, 2], timestamps: Float64Array.of(9_999_999_999, 10_000_000_000) },
      { metric: up({ s: '4' }), values: [1], timestamps: [10_000_000_000] },
      // 1.0005 × 1000 is exactly 1000.5 in binary: half to even gives 1000.
      { metric: up({ s: '5' }), values: [1, 2], timestamps: [1.0005, 1.5] },
      { metric: up({ s: '6' }), values: [1, 2], timestamps: BigInt64Array.of(1_700_000_000n, 1_700_000_001n) },
      { metric: up({ s: '7' }), values: [1], timestamps: BigInt64Array.of(10_000_000_000n) },
    ])
    const got = wire(body).map((s) => Array.from(s.timestamps))
    expect(got).toEqual([
      [1_700_000_000_000n, 1_700_000_015_000n],
      [1_700_000_000_000n, 1_700_000_015_000n],
      [9_999_999_999_000n, 10_000_000_000_000n],
      [10_000_000_000n],
      [1000n, 1500n],
      [1_700_000_000_000n, 1_700_000_001_000n],
      [10_000_000_000n],
    ])
  })

  it('autoConvertSecondsToMs: false keeps small timestamps as milliseconds (also under strict)', async () => {
    const strictMs = await createCodec({ autoConvertSecondsToMs: false, strictTimestamps: true })
    for (const c of [plain, strictMs]) {
      const body = c.encode([
        { metric: up(), values: [1, 2], timestamps: [1_700_000_000, 1_700_000_015] },
        { metric: up(), values: [1], timestamps: BigInt64Array.of(5n) },
      ])
      expect(tsOf(body, 0)).toEqual([1_700_000_000n, 1_700_000_015n])
      expect(tsOf(body, 1)).toEqual([5n])
    }
  })

  it('unsorted samples are sorted, stably, values following their timestamps (every form)', () => {
    const ts = [3000, 1000, 2000, 1000, 500]
    const values = [3, 1, 2, 1.5, 0.5]
    const forms: Array<[Item['values'], Item['timestamps']]> = [
      [values, ts], [Float64Array.from(values), Float64Array.from(ts)], [values, BigInt64Array.from(ts, BigInt)],
    ]
    for (const [v, t] of forms) {
      const body = plain.encode([{ metric: up(), values: v, timestamps: t }])
      expect(tsOf(body)).toEqual([500n, 1000n, 1000n, 2000n, 3000n])
      expect(valuesOf(body)).toEqual([0.5, 1, 1.5, 2, 3].map(bitsOf))
    }
  })

  it('sorting keeps NaN payloads of a Float64Array (stale marker, signalling NaN, -0)', () => {
    const values = f64FromBits([STALE_BITS, 0x7ff0000000000001n, 0x8000000000000000n, bitsOf(7)])
    const body = plain.encode([{ metric: up(), values, timestamps: BigInt64Array.of(4n, 3n, 2n, 1n) }])
    expect(valuesOf(body)).toEqual([bitsOf(7), 0x8000000000000000n, 0x7ff0000000000001n, STALE_BITS])
    expect(tsOf(body)).toEqual([1n, 2n, 3n, 4n])
  })

  it('sorting happens before the seconds rule and before rounding', () => {
    const body = auto.encode([{ metric: up(), values: [2, 1], timestamps: [1_700_000_001.0004, 1_700_000_000] }])
    expect(tsOf(body)).toEqual([1_700_000_000_000n, 1_700_000_001_000n])
    expect(valuesOf(body)).toEqual([bitsOf(1), bitsOf(2)])
  })

  it('an error found only after sorting names the sample by its index in the input', () => {
    // [1e18, 5]: sorted it starts at 5, so the series reads as seconds and 1e18 s overflows.
    // Whatever the codec decides, a reported sampleIndex must point at the offending input.
    const timestamps = [1e18, 5]
    let err: unknown
    try {
      auto.encode([{ metric: up(), values: [1, 2], timestamps }])
    } catch (e) {
      err = e
    }
    if (err !== undefined) {
      expectValidation(err, { seriesIndex: 0, field: 'timestamps', sampleIndex: 0, reason: /outside the int64/ })
    }
  })

  // The core checks and converts float timestamps two at a time while a pair passes every
  // rule and stays below 2^51, then one at a time. Errors and large values at every position
  // of short series, in both float forms, must come out exactly as one at a time.
  it('an error at any position of a 2- to 7-sample series names that sample (both float forms)', () => {
    const bad: Array<[string, number, Codec, RegExp]> = [
      ['NaN', Number.NaN, plain, /not a finite number/],
      ['Infinity', Infinity, plain, /not a finite number/],
      ['-Infinity', -Infinity, plain, /not a finite number/],
      ['2^63', 2 ** 63, plain, /outside the int64/],
      ['fractional', 1_700_000_000_000.5, strict, /fractional millisecond/],
      ['going back', 1_000, nosort, /ascending/],
    ]
    for (let n = 2; n <= 7; n++) {
      for (let at = 0; at < n; at++) {
        for (const [what, t, codec, reason] of bad) {
          // Going back needs a sample before it; at 0, put the drop after instead.
          const ts = Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 15_000)
          if (what === 'going back' && at === 0) continue
          ts[at] = t
          for (const timestamps of [ts, Float64Array.from(ts)]) {
            const err = thrown(() => codec.encode([ok(0), { metric: up(), values: ts.map(() => 1), timestamps }]))
            expectValidation(err, { seriesIndex: 1, field: 'timestamps', sampleIndex: at, reason, shows: '__name__="up"' })
          }
        }
      }
    }
    // And the codecs go on.
    expect(tsOf(strict.encode([ok(1)]))).toEqual([1_700_000_000_001n, 1_700_000_000_002n])
  })

  it('two at a time: seconds ×1000 rounding half to even, -0, and whole numbers at ±2^51 under strict', async () => {
    // Seconds with half-millisecond fractions: ×1000 then round half to even, pair by pair.
    const secs = Array.from({ length: 9 }, (_, i) => 1_700_000_000 + i * 15 + (i % 2 === 0 ? 0.0005 : 0.0025))
    const scaled = auto.encode([{ metric: up(), values: secs.map(() => 1), timestamps: Float64Array.from(secs) }])
    expect(tsOf(scaled)).toEqual(secs.map((t) => BigInt(roundHalfEven(t * 1000))))
    // -0 is 0 (no timestamp field), in either lane.
    for (const ts of [[-0, 0, 1, 2], [0, -0, 1, 2], [-0, -0, -0]]) {
      expect(tsOf(plain.encode([{ metric: up(), values: ts.map(() => 1), timestamps: Float64Array.from(ts) }]))).toEqual(ts.map(BigInt))
    }
    // Whole numbers at and around ±2^51 pass strictTimestamps, whichever lane the bound is in.
    const strictMs = await createCodec({ strictTimestamps: true, autoConvertSecondsToMs: false })
    for (const base of [2 ** 51, -(2 ** 51)]) {
      for (const shift of [0, 1]) {
        const ts = [base - 4, base - 2, base, base + 2, base + 4].slice(shift)
        expect(tsOf(strictMs.encode([{ metric: up(), values: ts.map(() => 1), timestamps: Float64Array.from(ts) }]))).toEqual(ts.map(BigInt))
      }
    }
  })

  it('float timestamps on both sides of ±2^51 and up to 2^63 give the same bytes as int64 ones', () => {
    const series: bigint[][] = []
    for (const base of [2n ** 51n, 2n ** 52n, 2n ** 53n, 2n ** 62n]) {
      for (let n = 2; n <= 6; n++) {
        for (let at = 0; at < n; at++) {
          // Below base until position at, from base on (all exact doubles: steps of 2^12).
          series.push(Array.from({ length: n }, (_, i) => base + BigInt(i - at) * 4096n))
          series.push(Array.from({ length: n }, (_, i) => -base - BigInt(n - i) * 4096n))
        }
      }
    }
    for (const ts of series) {
      const values = ts.map((_, i) => i + 0.5)
      const asInt = plain.encode([{ metric: up(), values, timestamps: BigInt64Array.from(ts) }])
      for (const timestamps of [ts.map(Number), Float64Array.from(ts, Number)]) {
        expectBytes(plain.encode([{ metric: up(), values, timestamps }]), asInt, `timestamps ${ts.join(', ')}`)
      }
      expect(tsOf(asInt)).toEqual(ts)
    }
  })

  it('the input arrays are not modified by validation, conversion or sorting', () => {
    const values = Float64Array.of(2, 1)
    const ts = [1_700_000_001.5, 1_700_000_000]
    const bts = BigInt64Array.of(2n, 1n)
    auto.encode([{ metric: up(), values, timestamps: ts }, { metric: up(), values, timestamps: bts }])
    expect(Array.from(values)).toEqual([2, 1])
    expect(ts).toEqual([1_700_000_001.5, 1_700_000_000])
    expect(Array.from(bts)).toEqual([2n, 1n])
  })
})

// ---- the series cache ---------------------------------------------------------------------------

describe('series cache', () => {
  const LABEL_SETS: Array<Record<string, string> | Array<[string, string]>> = [
    { __name__: 'up', job: 'x' },
    { job: 'node', __name__: 'http_requests_total', instance: 'a:9100', code: '' },
    { __name__: 'u', a: 'ü😀', b: '\u{10FFFF}', c: 'x'.repeat(300) },
    [['b', '2'], ['__name__', 'pairs'], ['a', '1']],
  ]

  it('a handle gives the same bytes as passing the labels; its labels are a frozen copy', async () => {
    const reference = await createCodec()
    for (const labels of LABEL_SETS) {
      const h = plain.series(labels)
      expect(Object.isFrozen(h.labels)).toBe(true)
      expect(() => { (h.labels as Record<string, string>).job = 'changed' }).toThrow(TypeError)
      const item = { values: [1, STALE_NAN], timestamps: [1.7e12, 1.7e12 + 1] }
      const viaHandle = plain.encode([{ series: h, ...item }, { series: h, ...item }])
      expect(hex(viaHandle)).toBe(hex(reference.encode([{ metric: labels, ...item }, { metric: labels, ...item }])))
      expectWire(wire(viaHandle), expectedWire([{ metric: labels, ...item }, { metric: labels, ...item }]))
    }
  })

  it('mutating the object a handle was made from does not change the handle', async () => {
    const labels = { __name__: 'up', job: 'x' }
    const h = plain.series(labels)
    labels.job = 'y'
    const reference = await createCodec()
    expect(hex(plain.encode([{ series: h, values: [1], timestamps: T }])))
      .toBe(hex(reference.encode([{ metric: { __name__: 'up', job: 'x' }, values: [1], timestamps: T }])))
  })

  it('the same label object again is a cache hit', async () => {
    const codec = await createCodec()
    const metric = up()
    codec.encode([{ metric, values: [1], timestamps: T }])
    const before = codec.stats()
    codec.encode([{ metric, values: [1], timestamps: T }, { metric, values: [2], timestamps: T }])
    const after = codec.stats()
    expect(after.cacheHits).toBe(before.cacheHits + 2)
    expect(after.labelEncodes).toBe(before.labelEncodes)
    const h = codec.series(up({ h: '1' }))
    const hits = codec.stats().cacheHits
    codec.encode([{ series: h, values: [1], timestamps: T }])
    expect(codec.stats().cacheHits).toBe(hits + 1)
  })

  it('a mutated label object is re-encoded, never sent stale (record form)', async () => {
    const codec = await createCodec()
    const reference = await createCodec()
    const metric: Record<string, string> = { __name__: 'up', job: 'x', a: '1' }
    const send = (): string => hex(codec.encode([{ metric, values: [1], timestamps: T }]))
    const want = (): string => hex(reference.encode([{ metric: { ...metric }, values: [1], timestamps: T }]))
    const mutations: Array<[string, () => void]> = [
      ['value changed', () => { metric.job = 'y' }],
      ['value changed to the same length', () => { metric.job = 'z' }],
      ['label added', () => { metric.b = '2' }],
      ['label deleted', () => { delete metric.a }],
      ['last label deleted', () => { delete metric.b }],
      ['label added again', () => { metric.b = '3' }],
      ['label emptied (dropped)', () => { metric.b = '' }],
      ['label re-added with another value', () => { metric.a = 'again' }],
      ['__name__ changed', () => { metric.__name__ = 'down' }],
      ['key order changed', () => { const j = metric.job; delete metric.job; metric.job = j }],
      ['unicode value', () => { metric.job = 'ü😀' }],
    ]
    expect(send()).toBe(want())
    expect(send()).toBe(want())
    for (const [name, mutate] of mutations) {
      mutate()
      expect(send(), name).toBe(want())
      expect(send(), `${name}, again (now cached)`).toBe(want())
    }
    // A mutation that makes the set invalid is caught, not served from the cache.
    metric.__name__ = 'bad-name'
    expectValidation(thrown(send), { seriesIndex: 0, field: 'metric', label: '__name__', reason: /invalid metric name/ })
    ;(metric as Record<string, unknown>).job = 5
    metric.__name__ = 'up'
    expectValidation(thrown(send), { seriesIndex: 0, field: 'metric', label: 'job', reason: /must be a string/ })
  })

  it('a mutated label pair array is re-encoded, never sent stale', async () => {
    const codec = await createCodec()
    const reference = await createCodec()
    const metric: Array<[string, string]> = [['__name__', 'up'], ['job', 'x']]
    const send = (): string => hex(codec.encode([{ metric, values: [1], timestamps: T }]))
    const want = (): string => hex(reference.encode([{ metric: metric.map(([k, v]) => [k, v] as [string, string]), values: [1], timestamps: T }]))
    expect(send()).toBe(want())
    metric[1][1] = 'y'
    expect(send()).toBe(want())
    metric[1] = ['job', 'z']
    expect(send()).toBe(want())
    metric.push(['a', '1'])
    expect(send()).toBe(want())
    metric.pop()
    expect(send()).toBe(want())
  })

  it('a cached pair array mutated into an invalid shape is a ValidationError, as it is uncached', async () => {
    const codec = await createCodec()
    for (const [name, mutate] of [
      ['pair replaced by null', (m: unknown[]) => { m[1] = null }],
      ['pair with a third element', (m: unknown[]) => { (m[1] as unknown[]).push('extra') }],
      ['pair replaced by a string', (m: unknown[]) => { m[1] = 'job=x' }],
    ] as Array<[string, (m: unknown[]) => void]>) {
      const metric: unknown[] = [['__name__', 'up'], ['job', 'x']]
      codec.encode([{ metric: metric as Array<[string, string]>, values: [1], timestamps: T }])
      mutate(metric)
      // A fresh codec rejects this shape with a ValidationError; the cache must not change that.
      const uncached = thrown(() => plain.encode([{ metric: [...metric] as Array<[string, string]>, values: [1], timestamps: T }]))
      expect(uncached, name).toBeInstanceOf(ValidationError)
      const cached = thrown(() => codec.encode([{ metric: metric as Array<[string, string]>, values: [1], timestamps: T }]))
      expect(cached, name).toBeInstanceOf(ValidationError)
    }
  })

  it('the cache property on label objects is invisible (for-in, keys, JSON)', () => {
    const metric = up()
    plain.encode([{ metric, values: [1], timestamps: T }])
    expect(Object.keys(metric)).toEqual(['__name__', 'job'])
    expect(JSON.stringify(metric)).toBe('{"__name__":"up","job":"x"}')
    const keys: string[] = []
    for (const k in metric) keys.push(k)
    expect(keys).toEqual(['__name__', 'job'])
  })

  it('frozen and non-extensible label objects work and are still checked for mutation', async () => {
    const codec = await createCodec()
    const reference = await createCodec()
    const frozen = Object.freeze(up())
    const sealed = Object.preventExtensions(up({ s: '1' }))
    for (let i = 0; i < 2; i++) {
      expect(hex(codec.encode([{ metric: frozen, values: [1], timestamps: T }]))).toBe(hex(reference.encode([{ metric: up(), values: [1], timestamps: T }])))
      expect(hex(codec.encode([{ metric: sealed, values: [1], timestamps: T }]))).toBe(hex(reference.encode([{ metric: { ...sealed }, values: [1], timestamps: T }])))
      sealed.job = `changed${i}`
    }
  })

  /** 400 distinct label sets of ~100 bytes, metric objects and handles mixed, in 40 requests. */
  async function churn (options: CodecOptions): Promise<Codec> {
    const codec = await createCodec({ autoConvertSecondsToMs: false, ...options })
    const reference = await createCodec({ autoConvertSecondsToMs: false, seriesCacheBytes: 0 })
    const r = rng(7)
    const sets = Array.from({ length: 400 }, (_, i) => {
      const m: Record<string, string> = { __name__: randomMetricName(r), i: String(i) }
      for (let k = 0; k < 4; k++) m[randomLabelName(r)] = randomLabelValue(r)
      return m
    })
    // Handles made before any cache reset.
    const handles = sets.slice(0, 20).map((m) => codec.series(m))
    for (let round = 0; round < 40; round++) {
      const items: Item[] = []
      for (let k = 0; k < 25; k++) {
        const j = Math.floor(r() * sets.length)
        const item = { values: [j, STALE_NAN], timestamps: [round, round + 1] }
        items.push(j < 20 && r() < 0.5 ? { series: handles[j], ...item } : { metric: sets[j], ...item })
      }
      const body = codec.encode(items)
      const plainItems = items.map((it) => ({ ...it, series: undefined, metric: it.series ? it.series.labels : it.metric }))
      expect(hex(body), `round ${round}`).toBe(hex(reference.encode(plainItems)))
      // 2.0 as well: symbols interned through the global string ids, which resets renew.
      expect(hex(codec.encodeV2(items)), `round ${round} (2.0)`).toBe(hex(reference.encodeV2(plainItems)))
    }
    return codec
  }

  it('a seriesCacheBytes (1024) below one call\'s label blocks resets the cache inside calls, and both versions stay correct', async () => {
    const codec = await churn({ seriesCacheBytes: 1024 })
    expect(codec.stats().cacheResets).toBeGreaterThan(40)
  })

  it('a tiny seriesCacheBytes (4096) forces resets and the output stays correct, handles included', async () => {
    const codec = await churn({ seriesCacheBytes: 4096 })
    expect(codec.stats().cacheResets).toBeGreaterThan(0)
  })

  it('seriesCacheBytes: 0 works (metric objects and handles)', async () => {
    const codec = await churn({ seriesCacheBytes: 0 })
    const metric = up()
    codec.encode([{ metric, values: [1], timestamps: T }])
    const hits = codec.stats().cacheHits
    codec.encode([{ metric, values: [1], timestamps: T }])
    expect(codec.stats().cacheHits).toBe(hits) // disabled: no hits for label objects
  })

  it('the default cache is correct under the same churn', async () => {
    const codec = await churn({})
    expect(codec.stats().cacheHits).toBeGreaterThan(0)
  })

  it('seriesCacheBytes bounds the label blocks the cache holds (stats().cacheBytes)', async () => {
    for (const cap of [4096, 65536]) {
      const codec = await createCodec({ seriesCacheBytes: cap })
      for (let i = 0; i < 500; i++) codec.encode([{ metric: up({ i: String(i) }), values: [1], timestamps: T }])
      codec.series(up({ h: '1' }))
      expect(codec.stats().cacheBytes, `seriesCacheBytes ${cap}`).toBeLessThanOrEqual(cap)
      expect(codec.stats().cacheBytes).toBeGreaterThan(0)
    }
  })

  it('seriesCacheBytes 0 caches nothing across calls: blocks live for one call, handles re-encode', async () => {
    const codec = await createCodec({ seriesCacheBytes: 0 })
    const reference = await createCodec()
    const metric = up()
    codec.encode([{ metric, values: [1], timestamps: T }])
    codec.encode([{ metric, values: [1], timestamps: T }])
    expect(codec.stats().cacheHits).toBe(0)
    const handle = codec.series(up({ h: '1' }))
    const before = codec.stats().labelEncodes
    const body = codec.encode([{ series: handle, values: [1], timestamps: T }])
    expect(codec.stats().labelEncodes).toBe(before + 1) // encoded again for this call
    expect(hex(body)).toBe(hex(reference.encode([{ metric: up({ h: '1' }), values: [1], timestamps: T }])))
    expect(codec.stats().cacheResets).toBe(0) // a cap of 0 is not a cache being reset
  })

  it('a cached label object stays deep-equal to a copy of it (the cache slot is invisible)', async () => {
    const codec = await createCodec()
    const metric = up({ a: 'b' })
    const copy = { ...metric }
    codec.encode([{ metric, values: [1], timestamps: T }])
    codec.encode([{ metric, values: [1], timestamps: T }])
    expect(codec.stats().cacheHits).toBe(1)
    expect(metric).toStrictEqual(copy)
    expect(Object.keys(metric)).toEqual(Object.keys(copy))
    expect(JSON.stringify(metric)).toBe(JSON.stringify(copy))
    assert.deepStrictEqual(metric, copy)
  })

  it('a run of one-sample items whose label blocks overflow a small cache still encodes correctly', async () => {
    // The run's records point at cached blocks; a cache reset in the middle would free them.
    const small = await createCodec({ seriesCacheBytes: 4096, autoConvertSecondsToMs: false })
    const reference = await createCodec({ autoConvertSecondsToMs: false })
    const items = Array.from({ length: 2000 }, (_, i) => ({ metric: { __name__: 'run_metric', device: `d-${i}-${'x'.repeat(i % 50)}` }, values: [i], timestamps: [1000 + i] }))
    for (let round = 0; round < 3; round++) {
      expect(hex(small.encode(items))).toBe(hex(reference.encode(items)))
    }
    expect(small.stats().cacheResets).toBeGreaterThan(0)
  })

  it('a cache of 64 KiB holds ten small label sets: the second pass is all hits', async () => {
    // Ten blocks of ~30 bytes fit many times over. (The core's arena allocates 1 MiB chunks,
    // which must not make every cap below ~1 MiB reset on each new label set.)
    const codec = await createCodec({ seriesCacheBytes: 64 << 10 })
    const items = Array.from({ length: 10 }, (_, i) => ({ metric: { __name__: 'm', i: String(i) }, values: [1], timestamps: T }))
    codec.encode(items)
    const before = codec.stats()
    codec.encode(items)
    const after = codec.stats()
    expect(after.cacheHits - before.cacheHits).toBe(10)
    expect(after.cacheResets).toBe(0)
  })

  it('one label object used with two codecs is cached by each, and mutation is seen by both', async () => {
    const a = await createCodec()
    const b = await createCodec()
    const reference = await createCodec()
    const metric = up()
    for (const v of ['1', '2', '2', '3']) {
      metric.job = v
      for (const c of [a, b, a]) {
        expect(hex(c.encode([{ metric, values: [1], timestamps: T }]))).toBe(hex(reference.encode([{ metric: { ...metric }, values: [1], timestamps: T }])))
      }
    }
    expect(a.stats().cacheHits).toBeGreaterThan(0)
    expect(b.stats().cacheHits).toBeGreaterThan(0)
  })

  it('a handle from another codec, or a look-alike, is rejected', async () => {
    const other = await createCodec()
    const foreign = other.series(up())
    const lookAlike = { labels: up() }
    for (const series of [foreign, lookAlike, null, 'up']) {
      const items = [ok(0), { series, values: [1], timestamps: T } as unknown as Item]
      expectValidation(thrown(() => plain.encode(items)), { seriesIndex: 1, field: 'item', reason: /handle made by this codec/ })
    }
    expect(plain.encode([ok(0)]).length).toBeGreaterThan(0)
  })
})

// ---- large requests ---------------------------------------------------------------------------

describe('large requests', () => {
  it('≥ 32 MiB of protobuf (2,000,000 samples) encodes and round-trips; the codec works after', async () => {
    const codec = await createCodec({ autoConvertSecondsToMs: false })
    const a = seededSeries(11, 1_500_000, 'f64', 'f64', { __name__: 'big_a', job: 'x' })
    const b = seededSeries(12, 500_000, 'array', 'i64', [['__name__', 'big_b'], ['zone', 'ü']])
    const items = [a, b]
    const body = codec.encode(items)
    const { raw, series } = independentDecode(body, { checkDoubles: false, reencode: false })
    expect(raw.length).toBeGreaterThanOrEqual(32 << 20)
    expect(series.map((s) => s.values.length)).toEqual([1_500_000, 500_000])
    const expected = expectedWire(items)
    expect(series.map((s) => s.labels)).toEqual(expected.map((s) => s.labels))
    const r = rng(99)
    for (let s = 0; s < 2; s++) {
      const n = expected[s].values.length
      for (const k of [0, 1, n - 2, n - 1, ...Array.from({ length: 2000 }, () => Math.floor(r() * n))]) {
        expect(series[s].values[k], `series ${s} value ${k}`).toBe(expected[s].values[k])
        expect(series[s].timestamps[k], `series ${s} timestamp ${k}`).toBe(expected[s].timestamps[k])
      }
    }
    // Our decoder refuses it under the default 32 MiB limit, and decodes it with a larger one.
    const err = thrown(() => codec.decode(body))
    expect(err).toBeInstanceOf(SnappyError)
    expect((err as SnappyError).coreCode).toBe(-2)
    const roomy = await createCodec({ maxDecodedBytes: 64 << 20 })
    const decoded = roomy.decode(body, { bigint: true })
    expect(decoded.map((d) => d.values.length)).toEqual([1_500_000, 500_000])
    expect(bitsOfArray(decoded[1].values)[499_999]).toBe(expected[1].values[499_999])
    // And the codec is still correct for small requests.
    const reference = await createCodec({ autoConvertSecondsToMs: false })
    expect(hex(codec.encode([ok(1)]))).toBe(hex(reference.encode([ok(1)])))
  })
})

// ---- traps --------------------------------------------------------------------------------------

describe('trap recovery', () => {
  it('a series past MAX_ITEM_SAMPLES (2^26+1 samples) is refused before any allocation, and the codec carries on', async () => {
    const codec = await createCodec({ autoConvertSecondsToMs: false })
    const reference = await createCodec({ autoConvertSecondsToMs: false })
    const labels = up({ h: 'pre' })
    const handle = codec.series(labels)
    const metric = up({ m: 'cached' })
    const before = codec.encode([{ metric, values: [1], timestamps: T }])
    const n = 2 ** 26 + 1
    const err = thrown(() => codec.encode([ok(0), { metric: up(), values: new Float64Array(n), timestamps: new Float64Array(n) }]))
    expect(err).toBeInstanceOf(ValidationError)
    expect((err as ValidationError).seriesIndex).toBe(1)
    expect((err as ValidationError).field).toBe('values')
    expect(hex(codec.encode([{ metric, values: [1], timestamps: T }]))).toBe(hex(before))
    const items = [ok(0), { series: handle, values: [1, 2], timestamps: [1, 2] }]
    expect(hex(codec.encode(items))).toBe(hex(reference.encode([ok(0), { metric: labels, values: [1, 2], timestamps: [1, 2] }])))
  })

  it('a 2 GiB Float64Array is refused with a RemoteWriteError (not a bare RangeError), and the codec recovers', async () => {
    const codec = await createCodec({ autoConvertSecondsToMs: false })
    const reference = await createCodec({ autoConvertSecondsToMs: false })
    const n = 2 ** 28 // n × 16 staging bytes = 2^32: overflows a wasm32 size
    const err = thrown(() => codec.encode([{ metric: up(), values: new Float64Array(n), timestamps: new Array(n) }]))
    expect(err).toBeInstanceOf(RemoteWriteError)
    expect(hex(codec.encode([ok(2)]))).toBe(hex(reference.encode([ok(2)])))
  })

  it('hitting maxMemoryBytes traps, and the codec recovers', async () => {
    const codec = await createCodec({ autoConvertSecondsToMs: false, maxMemoryBytes: 8 << 20 })
    const reference = await createCodec({ autoConvertSecondsToMs: false })
    const metric = up()
    codec.encode([{ metric, values: [1], timestamps: T }])
    const big = seededSeries(5, 1_000_000, 'f64', 'f64', up({ big: '1' }))
    expect(() => codec.encode([big])).toThrow(CoreTrapError)
    for (const items of [[ok(0)], [{ metric, values: [1], timestamps: T }], []]) {
      expect(hex(codec.encode(items))).toBe(hex(reference.encode(items)))
    }
  })
})

// ---- view versus copy ---------------------------------------------------------------------------

describe('view and copy', () => {
  const requests: Item[][] = [
    [],
    [ok(0)],
    [ok(0), ok(1), { metric: up({ u: 'ü😀' }), values: [STALE_NAN, -0], timestamps: [1, 2] }],
    [seededSeries(3, 20_000, 'f64', 'i64', up())],
  ]

  it('encodeView() bytes equal encode() bytes', async () => {
    const a = await createCodec()
    const b = await createCodec()
    for (const items of requests) {
      const copy = a.encode(items)
      const view = b.encodeView(items)
      expectBytes(view, copy, 'encodeView vs encode')
      // Same codec, view after copy.
      expectBytes(a.encodeView(items), copy, 'encodeView vs encode, same codec')
    }
  })

  it('a copy from encode() (and encodeProtobuf()) stays intact after later calls', async () => {
    const codec = await createCodec({ autoConvertSecondsToMs: false, maxMemoryBytes: 96 << 20 })
    const body = codec.encode(requests[2])
    const pb = codec.encodeProtobuf(requests[2])
    const bodyWas = hex(body)
    const pbWas = hex(pb)
    codec.encode(requests[1])
    codec.encodeView(requests[3])
    codec.encode([seededSeries(4, 300_000, 'f64', 'f64', up())]) // grows linear memory
    expect(() => codec.encode([ok(0), { metric: up(), values: [1], timestamps: [NaN] }])).toThrow(ValidationError)
    const n = 4_000_000 // 64 MB staged + ~88 MB of protobuf: past maxMemoryBytes
    expect(() => codec.encode([{ metric: up(), values: new Float64Array(n).fill(1), timestamps: Float64Array.from({ length: n }, (_, i) => i + 1) }])).toThrow(CoreTrapError)
    expect(hex(body)).toBe(bodyWas)
    expect(hex(pb)).toBe(pbWas)
    expect(hex(independentDecode(body).raw)).toBe(pbWas)
  })

  it('a view is only valid until the next call: read it first, it matches the copy', async () => {
    const codec = await createCodec()
    const view = codec.encodeView(requests[2])
    const snapshot = view.slice()
    expect(hex(snapshot)).toBe(hex(codec.encode(requests[2])))
  })
})
