// Wire-level tests of the Remote Write 1.0 encoder (assembly/prompb.ts through src/codec/).
//
// Every output is checked against things that share no code with the encoder: hand-derived
// golden bytes, and an independent decode (native snappy AND snappyjs, then protobufjs with
// the hand-built schema in test/support/schema.ts) compared with a model of the input
// (test/support/helpers.ts expectedWire) and with protobufjs's own canonical encoding of that model.
// Property tests are seeded: a failure prints the seed and path, and re-running reproduces it.
import fc from 'fast-check'
import { compressSync } from 'snappy'
import { beforeAll, describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import { RequestBuilder } from '../../src/codec/builder.js'
import { Encoder } from '../../src/codec/encoder.js'
import type { Codec } from '../../src/codec/codec.js'
import * as api from '../../src/index.js'
import type { Item } from '../../src/types.js'
import {
  NAN_BITS, STALE_BITS, STALE_QUIET_BITS, arbItem, arbLabels, bitsOf, bitsOfArray, decodedToWire,
  expectBytes, expectWire, expectedWire, f64FromBits, hex, independentDecode, referenceEncode,
  seededSeries, unhex,
} from '../support/helpers.js'

// ---- golden vectors ---------------------------------------------------------------------------
//
// Building blocks, derived by hand from protocol.md §1.1 (tag = field << 3 | wire type):
//   L_up    Label{__name__="up"}: name 0a 08 "__name__" (10 B) + value 12 02 "up" (4 B) = 14 = 0x0e,
//           as a TimeSeries.labels record: 0a 0e + 14 B = 16 B
//   L_job   Label{job="x"}: 0a 03 "job" (5 B) + 12 01 "x" (3 B) = 8, record 0a 08 … = 10 B
//   S_1     Sample{1.0 @ 1000}: 09 + LE bits of 1.0 (000000000000f03f) = 9 B, 10 + varint(1000)
//           = 10 e8 07 (1000 = 0b111_1101000: e8 = 0x68|0x80, then 07) = 3 B; payload 12 = 0x0c,
//           record 12 0c … = 14 B
const L_UP = '0a0e 0a08 5f5f6e616d655f5f 1202 7570'
const L_JOB = '0a08 0a03 6a6f62 1201 78'
const S_1 = '120c 09 000000000000f03f 10 e807'
const UP = { __name__: 'up' }

interface Golden {
  name: string
  items: Item[]
  pb: string
  /** The snappy body, where a primary source gives it. */
  snappy?: string
}

const GOLDEN: Golden[] = [
  {
    // protocol.md §1.6, verbatim (hand-encoded there, checked with protobufjs and npm snappy).
    name: '§1.6 {__name__="up", job="x"} 1.0 @ 1000',
    items: [{ metric: { __name__: 'up', job: 'x' }, values: [1], timestamps: [1000] }],
    pb: '0a280a0e0a085f5f6e616d655f5f120275700a080a036a6f62120178120c09000000000000f03f10e807',
    snappy: '2aa40a280a0e0a085f5f6e616d655f5f120275700a080a036a6f62120178120c09000000000000f03f10e807',
  },
  {
    // Value 0 and timestamp 0 are proto3 zero scalars: both omitted, the sample record is
    // 12 00. TimeSeries body 16 + 2 = 18 = 0x12.
    name: 'value 0 and timestamp 0 omitted',
    items: [{ metric: UP, values: [0], timestamps: [0] }],
    pb: `0a12 ${L_UP} 1200`,
  },
  {
    // -0.0 has bits 0x8000000000000000, not zero: kept (09 + LE 00..80). Sample payload 9,
    // record 11 B; body 16 + 11 = 27 = 0x1b.
    name: '-0.0 is emitted',
    items: [{ metric: UP, values: [-0], timestamps: [0] }],
    pb: `0a1b ${L_UP} 1209 09 0000000000000080`,
  },
  {
    // int64 is a plain varint (no zigzag): -1 is 64 one-bits = nine ff bytes then 01
    // (protocol.md §1.1). Payload 1 + 10 = 11 = 0x0b, record 13 B; body 29 = 0x1d.
    name: 'timestamp -1 as a 10-byte varint',
    items: [{ metric: UP, values: [0], timestamps: [-1] }],
    pb: `0a1d ${L_UP} 120b 10 ffffffffffffffffff01`,
  },
  {
    // int64 min = bit 63 only: nine 7-bit groups of zero (80 ×9) then 01. int64 max = 63
    // one-bits: nine groups, ff ×8 then 7f. Records 13 + 12 B; body 16 + 25 = 41 = 0x29.
    name: 'int64 min and max timestamps (BigInt64Array)',
    items: [{ metric: UP, values: [0, 0], timestamps: BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n) }],
    pb: `0a29 ${L_UP} 120b 10 80808080808080808001 120a 10 ffffffffffffffff7f`,
  },
  {
    // The stale marker 0x7ff0000000000002 little-endian: 02 00 00 00 00 00 f0 7f
    // (protocol.md §1.4). Body 16 + 11 = 27 = 0x1b.
    name: 'stale NaN bits, Float64Array',
    items: [{ metric: UP, values: f64FromBits([STALE_BITS]), timestamps: [0] }],
    pb: `0a1b ${L_UP} 1209 09 020000000000f07f`,
  },
  {
    // job="" means "no job label" (protocol.md §1.3): only __name__ is sent. Body 16 + 14 = 30.
    name: 'empty-valued label dropped',
    items: [{ metric: { __name__: 'up', job: '' }, values: [1], timestamps: [1000] }],
    pb: `0a1e ${L_UP} ${S_1}`,
  },
  {
    // Byte-wise order: "Zeta" (5a) < "__name__" (5f) < "a" (61) < "job" (6a).
    //   L_Zeta: 0a 04 "Zeta" (6) + 12 01 "1" (3) = 9, record 11 B
    //   L_a:    0a 01 "a" (3) + 12 01 "2" (3) = 6, record 8 B
    // Body 11 + 16 + 8 + 10 + 14 = 59 = 0x3b.
    name: 'labels sorted byte-wise',
    items: [{ metric: { job: 'x', a: '2', __name__: 'up', Zeta: '1' }, values: [1], timestamps: [1000] }],
    pb: `0a3b 0a09 0a04 5a657461 1201 31 ${L_UP} 0a06 0a01 61 1201 32 ${L_JOB} ${S_1}`,
  },
  {
    // The same set as [name, value] pairs in another order gives the same bytes.
    name: 'labels sorted byte-wise (pair form)',
    items: [{ metric: [['a', '2'], ['Zeta', '1'], ['job', 'x'], ['__name__', 'up']], values: [1], timestamps: [1000] }],
    pb: `0a3b 0a09 0a04 5a657461 1201 31 ${L_UP} 0a06 0a01 61 1201 32 ${L_JOB} ${S_1}`,
  },
  {
    // A series with no samples is its labels only: body 16 = 0x10.
    name: 'empty series',
    items: [{ metric: UP, values: [], timestamps: [] }],
    pb: `0a10 ${L_UP}`,
  },
  {
    // An empty WriteRequest is zero bytes; its snappy block is the varint 0 preamble alone.
    name: 'empty request',
    items: [],
    pb: '',
    snappy: '00',
  },
  {
    // WriteRequest has no length prefix of its own: two TimeSeries records back to back.
    name: 'two series',
    items: [
      { metric: { __name__: 'up', job: 'x' }, values: [1], timestamps: [1000] },
      { metric: UP, values: [0], timestamps: [0] },
    ],
    pb: `0a28 ${L_UP} ${L_JOB} ${S_1} 0a12 ${L_UP} 1200`,
  },
  // Varint boundaries of the timestamp (value 0 omitted): payload = 1 + varint length.
  ...([
    [1, '01'], [127, '7f'], [128, '8001'], [16383, 'ff7f'], [16384, '808001'],
    // 2^32-1: four full groups ff ff ff ff, then the top 4 bits 0f.
    [2 ** 32 - 1, 'ffffffff0f'],
    // 2^53 = bit 53 = 7 groups × 7 bits + 4: seven 80 bytes, then 1 << 4 = 10.
    [2 ** 53, '8080808080808010'],
  ] as Array<[number, string]>).map(([t, v]): Golden => {
    const payload = 1 + v.length / 2
    const body = 16 + 2 + payload
    return {
      name: `timestamp ${t} = varint ${v}`,
      items: [{ metric: UP, values: [0], timestamps: [t] }],
      pb: `0a${body.toString(16).padStart(2, '0')} ${L_UP} 12${payload.toString(16).padStart(2, '0')} 10${v}`,
    }
  }),
  // Length varints crossing 127/128. Label {a="v"×L}: 0a 01 61 (3 B) + 12 varint(L) + L.
  {
    // L = 102: label 3 + 2 + 102 = 107 = 0x6b; body 16 + 109 + 2 = 127 = 0x7f (1-byte length).
    name: 'TimeSeries length 127',
    items: [{ metric: { __name__: 'up', a: 'v'.repeat(102) }, values: [0], timestamps: [0] }],
    pb: `0a7f ${L_UP} 0a6b 0a0161 1266 ${'76'.repeat(102)} 1200`,
  },
  {
    // L = 103: label 108 = 0x6c; body 128 = 80 01 (2-byte length).
    name: 'TimeSeries length 128',
    items: [{ metric: { __name__: 'up', a: 'v'.repeat(103) }, values: [0], timestamps: [0] }],
    pb: `0a8001 ${L_UP} 0a6c 0a0161 1267 ${'76'.repeat(103)} 1200`,
  },
  {
    // L = 123: label 3 + 2 + 123 = 128 = 80 01; record 3 + 128 = 131; body 16 + 131 + 2 = 149 = 95 01.
    name: 'Label length 128',
    items: [{ metric: { __name__: 'up', a: 'v'.repeat(123) }, values: [0], timestamps: [0] }],
    pb: `0a9501 ${L_UP} 0a8001 0a0161 127b ${'76'.repeat(123)} 1200`,
  },
  {
    // L = 128: value length 80 01; label 3 + 3 + 128 = 134 = 86 01; record 137; body 155 = 9b 01.
    name: 'label value length 128',
    items: [{ metric: { __name__: 'up', a: 'v'.repeat(128) }, values: [0], timestamps: [0] }],
    pb: `0a9b01 ${L_UP} 0a8601 0a0161 128001 ${'76'.repeat(128)} 1200`,
  },
  {
    // UTF-8 on the wire: "ü" = c3 bc, "😀" (U+1F600) = f0 9f 98 80; label 3 + 2 + 6 = 11 = 0x0b,
    // record 13 B; body 16 + 13 + 2 = 31 = 0x1f.
    name: 'label value UTF-8 (BMP and astral)',
    items: [{ metric: { __name__: 'up', a: 'ü😀' }, values: [0], timestamps: [0] }],
    pb: `0a1f ${L_UP} 0a0b 0a0161 1206 c3bc f09f9880 1200`,
  },
  {
    // Metric names may hold colons: "a:b" = 61 3a 62. Label 0a 08 "__name__" (10) + 12 03 (5) = 15.
    name: 'metric name with a colon',
    items: [{ metric: { __name__: 'a:b' }, values: [0], timestamps: [0] }],
    pb: '0a13 0a0f 0a08 5f5f6e616d655f5f 1203 613a62 1200',
  },
]

let codec: Codec

beforeAll(async () => {
  codec = await createCodec({ autoConvertSecondsToMs: false })
})

describe('golden bytes', () => {
  for (const g of GOLDEN) {
    it(g.name, () => {
      const pb = unhex(g.pb)
      expect(hex(codec.encodeProtobuf(g.items))).toBe(hex(pb))
      const body = codec.encode(g.items)
      if (g.snappy !== undefined) expect(hex(body)).toBe(g.snappy.replace(/\s+/g, ''))
      // Whatever snappy emitted, both independent decompressors must give the golden protobuf.
      expect(hex(independentDecode(body).raw)).toBe(hex(pb))
    })
  }

  it('every golden protobuf decodes with protobufjs to the model of its input', () => {
    for (const g of GOLDEN) expectWire(independentDecode(compressSync(Buffer.from(unhex(g.pb)))).series, expectedWire(g.items), g.name)
  })

  it('the snappy body is byte-identical to native snappy (README: "byte-identical output")', () => {
    for (const g of GOLDEN) expect(hex(codec.encode(g.items)), g.name).toBe(hex(compressSync(Buffer.from(unhex(g.pb)))))
  })
})

// ---- stale markers ------------------------------------------------------------------------------

describe('stale markers', () => {
  const staleSample = '1209 09 020000000000f07f'

  it('src exports STALE_NAN with the stale bits', () => {
    expect(typeof api.STALE_NAN).toBe('number')
    expect(bitsOf(api.STALE_NAN)).toBe(STALE_BITS)
    expect(api.isStaleNaN(api.STALE_NAN)).toBe(true)
    expect(api.isStaleNaN(NaN)).toBe(false)
  })

  it('STALE_NAN in a Float64Array reaches the wire bit-exact', () => {
    // Stored element-wise: V8 keeps the signalling bits (an array literal would quiet them first).
    const values = new Float64Array(1)
    values[0] = api.STALE_NAN
    expect(bitsOfArray(values)[0]).toBe(STALE_BITS)
    const body = codec.encode([{ metric: UP, values, timestamps: [0] }])
    expect(hex(independentDecode(body).raw)).toBe(hex(unhex(`0a1b ${L_UP} ${staleSample}`)))
    expect(independentDecode(body).series[0].values[0]).toBe(STALE_BITS)
  })

  it('STALE_NAN in a plain number[] reaches the wire as 0x7ff0000000000002', () => {
    const values: number[] = [1, api.STALE_NAN, 2]
    const body = codec.encode([{ metric: UP, values, timestamps: [1, 2, 3] }])
    const { series } = independentDecode(body)
    expect(Array.from(series[0].values, (b) => b.toString(16))).toEqual([bitsOf(1), STALE_BITS, bitsOf(2)].map((b) => b.toString(16)))
  })

  it('a stale marker quieted by arithmetic (0x7ff8000000000002) is still sent as the stale marker', () => {
    const quiet = api.STALE_NAN * 1
    const values = f64FromBits([STALE_QUIET_BITS])
    const body = codec.encode([
      { metric: UP, values: [quiet], timestamps: [0] },
      { metric: UP, values, timestamps: [0] },
    ])
    const { series } = independentDecode(body)
    expect(series[0].values[0]).toBe(STALE_BITS)
    expect(series[1].values[0]).toBe(STALE_BITS)
  })

  it('a normal NaN stays a normal NaN (0x7ff8000000000000), in number[] and Float64Array', () => {
    const body = codec.encode([
      { metric: UP, values: [NaN], timestamps: [0] },
      { metric: UP, values: new Float64Array([NaN]), timestamps: [0] },
      { metric: UP, values: f64FromBits([NAN_BITS, 0x7ff0000000000001n, 0xfff8000000000000n]), timestamps: [0, 1, 2] },
    ])
    const { raw, series } = independentDecode(body)
    expect(series[0].values[0]).toBe(NAN_BITS)
    expect(series[1].values[0]).toBe(NAN_BITS)
    // Other NaN payloads (signalling, negative) are carried as they are.
    expect(Array.from(series[2].values)).toEqual([NAN_BITS, 0x7ff0000000000001n, 0xfff8000000000000n])
    expect(hex(raw)).not.toContain('020000000000f07f')
  })

  it('stale markers survive sorting of an out-of-order Float64Array series', () => {
    const values = f64FromBits([bitsOf(3), STALE_BITS, bitsOf(1)])
    const body = codec.encode([{ metric: UP, values, timestamps: [3000, 2000, 1000] }])
    const { series } = independentDecode(body)
    expect(Array.from(series[0].values)).toEqual([bitsOf(1), STALE_BITS, bitsOf(3)])
    expect(Array.from(series[0].timestamps)).toEqual([1000n, 2000n, 3000n])
  })

  it('our own decode() returns the stale bits too', () => {
    const body = codec.encode([{ metric: UP, values: [api.STALE_NAN, NaN], timestamps: [1, 2] }])
    const [item] = codec.decode(body)
    expect(Array.from(bitsOfArray(item.values))).toEqual([STALE_BITS, NAN_BITS])
    expect(api.isStaleNaN(item.values[0])).toBe(true)
  })
})

// ---- seeded properties --------------------------------------------------------------------------

/** Encodes with the codec and checks the body against the independent decoders and the model. */
function checkRoundTrip (c: Codec, items: Item[], { view = false } = {}): void {
  const pb = c.encodeProtobuf(items)
  const body = view ? c.encodeView(items).slice() : c.encode(items)
  const decoded = independentDecode(body)
  expectBytes(decoded.raw, pb, 'decompressed body vs encodeProtobuf()')
  const expected = expectedWire(items)
  expectWire(decoded.series, expected, 'protobufjs decode vs input')
  // protobufjs's own encoding of the model (zero scalars omitted): the bytes must be canonical.
  expectBytes(pb, referenceEncode(expected), 'encodeProtobuf() vs protobufjs encoding of the input')
  // Our decoder must agree as well.
  expectWire(decodedToWire(c.decode(body, { bigint: true })), expected, 'codec.decode() vs input')
}

const SEED = 20261125

describe('seeded round trips through native snappy, snappyjs and protobufjs', () => {
  it(`2000 small requests: 0-8 series of 0-24 samples, every input form (seed ${SEED})`, () => {
    fc.assert(fc.property(fc.array(arbItem(24), { maxLength: 8 }), (items) => {
      checkRoundTrip(codec, items)
    }), { seed: SEED, numRuns: 2000 })
  })

  it(`1000 label-heavy requests: unicode values, random names, many series (seed ${SEED + 1})`, () => {
    const item = fc.record({ metric: arbLabels, n: fc.nat({ max: 2 }) })
      .map(({ metric, n }): Item => ({ metric, values: Array.from({ length: n }, (_, i) => i + 0.25), timestamps: Array.from({ length: n }, (_, i) => i) }))
    fc.assert(fc.property(fc.array(item, { minLength: 1, maxLength: 30 }), (items) => {
      checkRoundTrip(codec, items)
    }), { seed: SEED + 1, numRuns: 1000 })
  })

  it(`500 requests through encodeView() on a codec with a small series cache (seed ${SEED + 2})`, async () => {
    const small = await createCodec({ autoConvertSecondsToMs: false, seriesCacheBytes: 8192 })
    fc.assert(fc.property(fc.array(arbItem(8), { maxLength: 12 }), (items) => {
      checkRoundTrip(small, items, { view: true })
    }), { seed: SEED + 2, numRuns: 500 })
  })

  it(`12 requests of 1-2 big series, 1,000 to 100,000 samples each (seed ${SEED + 3})`, () => {
    const big = fc.record({
      seed: fc.integer(),
      n: fc.oneof(fc.integer({ min: 1000, max: 100_000 }), fc.constant(100_000)),
      vform: fc.constantFrom('array', 'f64') as fc.Arbitrary<'array' | 'f64'>,
      tform: fc.constantFrom('array', 'f64', 'i64') as fc.Arbitrary<'array' | 'f64' | 'i64'>,
      metric: arbLabels,
    }).map(({ seed, n, vform, tform, metric }) => seededSeries(seed, n, vform, tform, metric))
    fc.assert(fc.property(fc.array(big, { minLength: 1, maxLength: 2 }), (items) => {
      checkRoundTrip(codec, items)
    }), { seed: SEED + 3, numRuns: 12 })
  })

  it(`encode() is byte-identical to native snappy of encodeProtobuf() (seed ${SEED + 4})`, () => {
    fc.assert(fc.property(fc.array(arbItem(40), { maxLength: 10 }), (items) => {
      const pb = codec.encodeProtobuf(items)
      expectBytes(codec.encode(items), compressSync(Buffer.from(pb)), 'encode() vs native snappy')
    }), { seed: SEED + 4, numRuns: 300 })
  })
})

// ---- Sample records around every varint size boundary ---------------------------------------
//
// The encoder writes a series' samples on one of two paths: when its timestamps are positive
// and its first and last need the same varint size (1..8 bytes), every record has that size
// and the zero values are counted apart; otherwise each record is sized alone. This table
// puts series on both sides of each size boundary 2^(7k), through both paths, with zero
// values at even and odd positions and odd and even lengths.

describe('Sample records around every varint size boundary', () => {
  const VALUE_PATTERNS: ReadonlyArray<readonly bigint[]> = [
    [0x3ff0000000000000n], // 1.0 everywhere
    [0n, 0x4000000000000000n], // +0 at even positions
    [0x4000000000000000n, 0n], // +0 at odd positions
    [0n], // +0 everywhere: no value field at all
    [0x8000000000000000n, STALE_QUIET_BITS, STALE_BITS, 0n, NAN_BITS], // -0, stale (quiet), stale, +0, NaN
  ]
  const cases: Array<{ name: string, ts: bigint[] }> = []
  for (let k = 1n; k <= 9n; k++) {
    const b = 1n << (7n * k)
    const below = (x: bigint): bigint => x <= 2n ** 63n - 1n ? x : 2n ** 63n - 1n
    cases.push({ name: `just below 2^${7n * k}`, ts: [b - 3n, b - 2n, below(b - 1n)] })
    if (b <= 2n ** 63n - 1n) {
      cases.push({ name: `across 2^${7n * k}`, ts: [b - 2n, b - 1n, b, b + 1n] })
      cases.push({ name: `from 2^${7n * k}`, ts: [b, b + 1n, b + 1n, b + 7n, b + 100n] })
    }
  }
  cases.push({ name: 'first timestamp 0', ts: [0n, 1n, 2n] })
  cases.push({ name: 'first timestamp negative', ts: [-1n, 5n, 6n, 7n] })
  cases.push({ name: 'all negative', ts: [-(2n ** 63n), -1000n, -1n] })
  cases.push({ name: 'one sample', ts: [1700000000000n] })

  it('every case, every value pattern, lengths n and n - 1, int64 and float timestamps, equals protobufjs', () => {
    let checked = 0
    for (const c of cases) {
      for (const pattern of VALUE_PATTERNS) {
        for (const n of [c.ts.length, c.ts.length - 1]) {
          if (n === 0) continue
          const ts = c.ts.slice(0, n)
          const values = f64FromBits(ts.map((_, i) => pattern[i % pattern.length]))
          const forms: Item[] = [{ metric: UP, values, timestamps: BigInt64Array.from(ts) }]
          // As doubles where every timestamp is exactly representable.
          if (ts.every((t) => BigInt(Number(t)) === t)) {
            forms.push({ metric: UP, values, timestamps: Float64Array.from(ts, Number) })
          }
          for (const item of forms) {
            checkRoundTrip(codec, [item, { ...item, metric: { __name__: 'b' } }])
            checked++
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(250)
  })
})

// ---- one-sample items into several requests at once (the writer's gateway path) ---------------

describe('appendSinglesTo: one-sample items, each to its own request slot, in item order', () => {
  const T = 1_700_000_000_000
  const items = (n: number, seed: number): Item[] => Array.from({ length: n }, (_, i) => ({
    metric: { __name__: `m${i % 5}`, host: `h${(i * 7919 + seed) % 1000}`, i: String(i) },
    values: [i * 1.5 - 7],
    timestamps: [T + i * 1000 + seed],
  }))

  it('each request equals the same items encoded alone; a 2.0 request open in another slot is untouched', async () => {
    const alone = await createCodec({ autoConvertSecondsToMs: false })
    const enc = new Encoder({ autoConvertSecondsToMs: false })
    const its = items(300, 1)
    // A 2.0 request in slot 5, begun before and finished after: its state must survive the
    // call, which moves the 1.0 state from slot to slot.
    const v2Item: Item = { metric: { __name__: 'v2_only', a: 'b' }, values: [1, 2], timestamps: [T, T + 1] }
    const r5 = new RequestBuilder(enc, true, 5)
    r5.append(v2Item, 0, enc.resolve(v2Item, 0))
    const reqs = new Map([1, 2, 3].map((k) => [k, new RequestBuilder(enc, false, k)]))
    enc.select(5)
    let x = 12345
    const slots = Uint32Array.from(its, () => 1 + ((x = (x * 1103515245 + 12345) >>> 0) % 3))
    const entries = its.map((it, i) => enc.resolve(it, i))
    enc.singles(its, 0, its.length, undefined, entries, false, slots)
    // Go on with the 2.0 request in slot 5, then make the slot the call ended in a 2.0
    // request too: had the call left slot 5's 2.0 state with that slot, the two would now
    // share their tables.
    const v2More: Item = { metric: { __name__: 'v2_more', a: 'c' }, values: [3], timestamps: [T + 2] }
    const v2Other: Item = { metric: { __name__: 'v2_other', z: 'y' }, values: [4], timestamps: [T + 3] }
    r5.append(v2More, 1, enc.resolve(v2More, 1))
    for (const k of [1, 2, 3]) {
      const got = reqs.get(k)!.seal().body.slice()
      const want = alone.encode(its.filter((_, i) => slots[i] === k))
      expect(hex(got), `slot ${k}`).toBe(hex(want))
      expectWire(independentDecode(got).series, expectedWire(its.filter((_, i) => slots[i] === k)))
    }
    const last = slots[its.length - 1]
    const rLast = new RequestBuilder(enc, true, last)
    rLast.append(v2Other, 2, enc.resolve(v2Other, 2))
    expect(hex(r5.seal().body.slice())).toBe(hex(alone.encodeV2([v2Item, v2More])))
    expect(hex(rLast.seal().body.slice())).toBe(hex(alone.encodeV2([v2Other])))
  })

  it('a bad timestamp names its item; the records before it are in their requests, the rest are not', async () => {
    const alone = await createCodec({ autoConvertSecondsToMs: false })
    const enc = new Encoder({ autoConvertSecondsToMs: false })
    const its = items(40, 2)
    its[23] = { ...its[23], timestamps: [Number.NaN] }
    const slots = Uint32Array.from(its, (_, i) => 1 + (i % 2))
    const reqs = new Map([1, 2].map((k) => [k, new RequestBuilder(enc, false, k)]))
    const entries = its.map((it, i) => enc.resolve(it, i))
    let err: any
    try {
      enc.singles(its, 0, its.length, undefined, entries, false, slots)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(api.ValidationError)
    expect(err.seriesIndex).toBe(23)
    expect(err.field).toBe('timestamps')
    for (const k of [1, 2]) {
      expect(hex(reqs.get(k)!.seal().body.slice()), `slot ${k}`).toBe(hex(alone.encode(its.slice(0, 23).filter((_, i) => slots[i] === k))))
    }
    // And the encoder goes on.
    const again = new RequestBuilder(enc, false)
    again.appendSingles(its, 0, 5)
    expect(hex(again.seal().body.slice())).toBe(hex(alone.encode(its.slice(0, 5))))
  })
})
