// The decoder's bounds (issue 12, defect 1): a small snappy body of minimal records used to
// decode into millions of objects (48 s, then out of memory). Every record kind an attacker
// can repeat cheaply is built here as raw protobuf, compressed by the native snappy package,
// and must be refused with a DecodeError naming the limit, its option and the count reached,
// counted exactly (one record past the limit fails, the limit itself passes, and the decode
// then holds exactly that many). Legitimate large requests still decode under the defaults.
import { compressSync } from 'snappy'
import { describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import type { Codec } from '../../src/codec/codec.js'
import { DECODE_LIMITS, EXPANSION_FLOOR, countRecords } from '../../src/codec/decode-limits.js'
import type { DecodeLimitError, DecodeLimits, DecodeOptions } from '../../src/codec/decode-limits.js'
import { decodeV2Request, decodeWriteRequest } from '../../src/codec/decode.js'
import { DecodeError, InvalidArgumentError } from '../../src/errors.js'
import type { DecodedItem, Item } from '../../src/types.js'
import { WriteRequest } from '../support/schema.js'
import { Request } from '../support/v2.js'

const T = 1_767_225_600_000

function varint (n: number): number[] {
  const out: number[] = []
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80)
  out.push(n)
  return out
}

/** `unit` repeated `n` times after `head`. */
export function repeat (unit: readonly number[], n: number, head: readonly number[] = []): Uint8Array {
  const out = new Uint8Array(head.length + unit.length * n)
  out.set(head)
  for (let i = 0; i < n; i++) out.set(unit, head.length + i * unit.length)
  return out
}

/** A length-delimited field: tag, length, bytes. */
export function field (tag: number, inner: ArrayLike<number>): Uint8Array {
  const head = [tag, ...varint(inner.length)]
  const out = new Uint8Array(head.length + inner.length)
  out.set(head)
  out.set(inner, head.length)
  return out
}

function concat (...parts: Array<ArrayLike<number>>): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** symbols ["", "a"]: ref 1 is "a". */
const SYMBOLS = [0x22, 0x00, 0x22, 0x01, 0x61]

interface Amplifier {
  name: string
  v2: boolean
  /** The body with `n` of the repeated record. */
  body: (n: number) => Uint8Array
  limit: keyof DecodeLimits
  /** What the decode of a body at the limit holds of the counted thing. */
  held: (items: DecodedItem[]) => number
}

const items = (xs: DecodedItem[]): number => xs.length
const samples = (xs: DecodedItem[]): number => xs.reduce((n, x) => n + x.values.length, 0)
const labelsOf = (xs: DecodedItem[]): number => xs.reduce((n, x) => n + Object.keys(x.metric).length + (x.exemplars ?? []).reduce((m, e) => m + Object.keys(e.labels ?? {}).length, 0), 0)
const exemplars = (xs: DecodedItem[]): number => xs.reduce((n, x) => n + (x.exemplars?.length ?? 0), 0)
const histograms = (xs: DecodedItem[]): number => xs.reduce((n, x) => n + (x.histograms?.length ?? 0), 0)
const buckets = (xs: DecodedItem[]): number => xs.reduce((n, x) => n + (x.histograms ?? []).reduce((m, h) => m +
  (h.positiveBuckets?.length ?? 0) + (h.negativeBuckets?.length ?? 0) + (h.positiveSpans?.length ?? 0) + (h.negativeSpans?.length ?? 0) + (h.customValues?.length ?? 0), 0), 0)

/** Every record kind that costs a few bytes on the wire and an object or more decoded. */
const AMPLIFIERS: Amplifier[] = [
  { name: '1.0 empty series (0a 00)', v2: false, body: (n) => repeat([0x0a, 0x00], n), limit: 'maxSeries', held: items },
  { name: '1.0 series of one empty sample', v2: false, body: (n) => repeat([0x0a, 0x02, 0x12, 0x00], n), limit: 'maxSeries', held: items },
  { name: '1.0 one series of empty samples (12 00)', v2: false, body: (n) => field(0x0a, repeat([0x12, 0x00], n)), limit: 'maxSamples', held: samples },
  { name: '1.0 one series of empty labels (0a 00)', v2: false, body: (n) => field(0x0a, repeat([0x0a, 0x00], n)), limit: 'maxLabels', held: () => NaN },
  { name: '1.0 an exemplar of empty labels', v2: false, body: (n) => field(0x0a, field(0x1a, repeat([0x0a, 0x00], n))), limit: 'maxLabels', held: () => NaN },
  { name: '1.0 exemplars without labels (1a 00)', v2: false, body: (n) => field(0x0a, repeat([0x1a, 0x00], n)), limit: 'maxExemplars', held: exemplars },
  { name: '1.0 empty histograms (22 00)', v2: false, body: (n) => field(0x0a, repeat([0x22, 0x00], n)), limit: 'maxHistograms', held: histograms },
  { name: '1.0 a histogram of unpacked deltas (60 00)', v2: false, body: (n) => field(0x0a, field(0x22, repeat([0x60, 0x00], n))), limit: 'maxBuckets', held: buckets },
  { name: '1.0 a histogram of empty spans (5a 00)', v2: false, body: (n) => field(0x0a, field(0x22, repeat([0x5a, 0x00], n))), limit: 'maxBuckets', held: buckets },
  { name: '1.0 a histogram of unpacked custom values', v2: false, body: (n) => field(0x0a, field(0x22, repeat([0x81, 0x01, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f], n))), limit: 'maxBuckets', held: buckets },
  { name: '2.0 symbols (22 00)', v2: true, body: (n) => repeat([0x22, 0x00], n), limit: 'maxSymbols', held: () => NaN },
  { name: '2.0 empty series (2a 00)', v2: true, body: (n) => repeat([0x2a, 0x00], n), limit: 'maxSeries', held: items },
  { name: '2.0 series of a one-byte label pair and an empty sample', v2: true, body: (n) => repeat([0x2a, 0x06, 0x0a, 0x02, 0x01, 0x01, 0x12, 0x00], n, SYMBOLS), limit: 'maxSeries', held: items },
  { name: '2.0 one series of unpacked refs (08 01)', v2: true, body: (n) => concat(SYMBOLS, field(0x2a, repeat([0x08, 0x01, 0x08, 0x01], n))), limit: 'maxLabels', held: () => NaN },
  { name: '2.0 exemplars of unpacked refs', v2: true, body: (n) => concat(SYMBOLS, field(0x2a, concat([0x12, 0x00], repeat([0x22, 0x04, 0x08, 0x01, 0x08, 0x01], n)))), limit: 'maxLabels', held: labelsOf },
  { name: '2.0 exemplars without refs (22 00)', v2: true, body: (n) => field(0x2a, concat([0x12, 0x00], repeat([0x22, 0x00], n))), limit: 'maxExemplars', held: exemplars },
  { name: '2.0 empty histograms (1a 00)', v2: true, body: (n) => field(0x2a, repeat([0x1a, 0x00], n)), limit: 'maxHistograms', held: histograms },
  { name: '2.0 a histogram of packed deltas', v2: true, body: (n) => field(0x2a, field(0x1a, field(0x62, new Uint8Array(n)))), limit: 'maxBuckets', held: buckets },
  { name: '2.0 series of one empty sample', v2: true, body: (n) => repeat([0x2a, 0x02, 0x12, 0x00], n), limit: 'maxSamples', held: samples },
]

const LIMIT = 1000

function decodeWith (codec: Codec, a: Amplifier, n: number, options: DecodeOptions): DecodedItem[] {
  const body = compressSync(Buffer.from(a.body(n)))
  return a.v2 ? codec.decodeV2(body, options).items : codec.decode(body, options)
}

function thrown (fn: () => unknown): DecodeLimitError {
  try {
    fn()
  } catch (err) {
    return err as DecodeLimitError
  }
  throw new Error('did not throw')
}

/** One valid request, decoded after each refusal: the codec stays usable. */
const VALID: Item[] = [{ metric: { __name__: 'up', job: 'x' }, values: [1, 2], timestamps: [T, T + 1000] }]

function expectUsable (codec: Codec): void {
  const [d] = codec.decode(codec.encode(VALID))
  expect(d.metric).toEqual(VALID[0].metric)
  expect(Array.from(d.values)).toEqual([1, 2])
  const [d2] = codec.decodeV2(codec.encodeV2(VALID)).items
  expect(d2.timestamps).toEqual([T, T + 1000])
}

describe('decode bounds: amplifying bodies', () => {
  for (const a of AMPLIFIERS) {
    it(`${a.name}: refused one record past ${a.limit}, with a DecodeError naming it; at the limit it decodes`, async () => {
      const codec = await createCodec()
      const err = thrown(() => decodeWith(codec, a, 20 * LIMIT, { [a.limit]: LIMIT }))
      expect(err).toBeInstanceOf(DecodeError)
      expect(err.limit).toBe(a.limit)
      expect(err.max).toBe(LIMIT)
      // Counted as it goes: stopped right past the limit, not after the 20,000 records
      // (a packed field is counted whole, so at most its own length).
      expect(err.count).toBeGreaterThan(LIMIT)
      expect(err.count).toBeLessThanOrEqual(a.name.includes('packed deltas') ? 20 * LIMIT : LIMIT + 1)
      expect(err.message).toContain(`more than ${LIMIT}`)
      expect(err.message).toContain(`raise the ${a.limit} decode option`)
      expectUsable(codec)
      // The count is the decoder's: the limit itself passes and holds exactly that many.
      const at = decodeWith(codec, a, LIMIT, { [a.limit]: LIMIT })
      if (!Number.isNaN(a.held(at))) expect(a.held(at)).toBe(LIMIT)
      expect(() => decodeWith(codec, a, LIMIT + 1, { [a.limit]: LIMIT })).toThrow(a.limit)
    })
  }

  it('every record kind is charged in the object bytes: 2.0 metadata records (2a 00) past maxObjectBytes', async () => {
    const codec = await createCodec()
    const body = compressSync(Buffer.from(field(0x2a, repeat([0x2a, 0x00], 100_000))))
    const err = thrown(() => codec.decodeV2(body, { maxObjectBytes: 1 << 20 }))
    expect(err.limit).toBe('maxObjectBytes')
    expect(err.max).toBe(1 << 20)
    expect(err.count).toBeGreaterThan(1 << 20)
    expect(err.count).toBeLessThan(2 << 20) // checked every few thousand records, not at the end
    expect(err.message).toMatch(/more than 1\.0 MB of objects: about 1\.\d MB in its first \d+\.\d kB of 200\.0 kB of protobuf \(raise the maxObjectBytes decode option\)/)
    expectUsable(codec)
  })

  it('default limits: the issue\'s 1.5 MB body of 16 million empty series (32 MiB decoded) is refused before decoding, in both versions', async () => {
    const codec = await createCodec()
    const n = (32 << 20) / 2 - 32
    for (const v2 of [false, true]) {
      const body = compressSync(Buffer.from(repeat([v2 ? 0x2a : 0x0a, 0x00], n)))
      expect(body.length).toBeLessThan(1.6e6)
      const err = thrown(() => v2 ? codec.decodeV2(body) : codec.decode(body))
      expect(err).toBeInstanceOf(DecodeError)
      // 384 bytes of objects a series: past 256 times the body at about a million series.
      expect(err.limit).toBe('maxExpansion')
      expect(err.count).toBeLessThan(DECODE_LIMITS.maxExpansion * body.length + 4096 * 400)
      expect(err.message).toMatch(/256 times its 1\.\d MB body: .* \(raise the maxExpansion decode option\)/)
      expectUsable(codec)
    }
  })

  it('default limits: the same body of valid 2.0 series (tiny refs, an empty sample each) in strict mode', async () => {
    const codec = await createCodec()
    // symbols ["", "__name__", "a"], each series {__name__="a"} with one sample.
    const head = [0x22, 0x00, 0x22, 0x08, ...Buffer.from('__name__'), 0x22, 0x01, 0x61]
    const body = compressSync(Buffer.from(repeat([0x2a, 0x06, 0x0a, 0x02, 0x01, 0x02, 0x12, 0x00], (32 << 20) / 8 - 4, head)))
    const err = thrown(() => codec.decodeV2(body, { strict: true }))
    expect(err.limit).toBe('maxExpansion')
    // A small one of them is valid: strict mode alone would not stop it.
    const small = compressSync(Buffer.from(repeat([0x2a, 0x06, 0x0a, 0x02, 0x01, 0x02, 0x12, 0x00], 10, head)))
    expect(codec.decodeV2(small, { strict: true }).items).toHaveLength(10)
  })

  it('a body small enough for the floor is not held to maxExpansion, one past it is, and the raw decoders charge the protobuf\'s own length', async () => {
    const codec = await createCodec()
    // 10,000 empty series: about 3.8 MB of objects, under the 4 MiB any body may take.
    const under = compressSync(Buffer.from(repeat([0x0a, 0x00], 10_000)))
    expect(codec.decode(under)).toHaveLength(10_000)
    const over = repeat([0x0a, 0x00], 200_000)
    const body = compressSync(Buffer.from(over))
    expect(thrown(() => codec.decode(body)).limit).toBe('maxExpansion')
    expect(codec.decode(body, { maxExpansion: Infinity })).toHaveLength(200_000)
    // 192 bytes of objects per byte of protobuf: within 256 times the protobuf's own length,
    // past it when told the body was smaller, or with a lower factor.
    expect(decodeWriteRequest(over)).toHaveLength(200_000)
    expect(thrown(() => decodeWriteRequest(over, {}, body.length)).limit).toBe('maxExpansion')
    expect(thrown(() => decodeWriteRequest(over, { maxExpansion: 100 })).limit).toBe('maxExpansion')
    expect(thrown(() => decodeV2Request(repeat([0x2a, 0x00], 200_000), { maxExpansion: 100 })).limit).toBe('maxExpansion')
  })

  it('limits must be numbers >= 0 (Infinity lifts one): InvalidArgumentError naming the option', async () => {
    const codec = await createCodec()
    const body = codec.encode(VALID)
    for (const bad of [-1, Number.NaN, '5', null]) {
      expect(() => codec.decode(body, { maxSeries: bad as number })).toThrow(InvalidArgumentError)
      expect(() => codec.decodeV2(codec.encodeV2(VALID), { maxSamples: bad as number })).toThrow(/invalid maxSamples: must be a number >= 0/)
    }
    expect(codec.decode(body, { maxSeries: Infinity, maxObjectBytes: Infinity })).toHaveLength(1)
    expect(thrown(() => codec.decode(body, { maxSamples: 1 })).message).toMatch(/more than 1 samples: 2 in its .* \(raise the maxSamples decode option\)/)
  })
})

describe('decode bounds: legitimate requests pass the defaults', () => {
  const labels = (i: number): Record<string, string> => ({
    __name__: 'node_cpu_seconds_total', cpu: String(i % 64), instance: `host-${String(i >> 6).padStart(4, '0')}.example.com:9100`, job: 'node', mode: ['idle', 'user', 'system', 'iowait'][i % 4],
  })

  it('2,000 series of one sample (a default Prometheus request), both versions', async () => {
    const codec = await createCodec()
    const input: Item[] = Array.from({ length: 2000 }, (_, i) => ({ metric: labels(i), values: [i + 0.5], timestamps: [T] }))
    for (const got of [codec.decode(codec.encode(input), { strict: true }), codec.decodeV2(codec.encodeV2(input), { strict: true }).items]) {
      expect(got).toHaveLength(2000)
      expect(got[1999].metric).toEqual(labels(1999))
      expect(Array.from(got[1999].values)).toEqual([1999.5])
    }
  })

  it('10 series of 100,000 samples (1 million samples, 18 MB of protobuf)', async () => {
    const codec = await createCodec()
    const input: Item[] = Array.from({ length: 10 }, (_, s) => ({
      metric: labels(s), values: Float64Array.from({ length: 100_000 }, (_, i) => i * s), timestamps: Float64Array.from({ length: 100_000 }, (_, i) => T + i * 15_000),
    }))
    const got = codec.decode(codec.encode(input), { strict: true })
    expect(got.map((d) => d.values.length)).toEqual(Array(10).fill(100_000))
    expect(got[9].values[99_999]).toBe(99_999 * 9)
    expect(got[9].timestamps[99_999]).toBe(T + 99_999 * 15_000)
  })

  it('50,000 one-sample series of the same labels (how Prometheus sends a backlog): above the floor, within maxExpansion', async () => {
    const codec = await createCodec()
    const input: Item[] = Array.from({ length: 50_000 }, (_, i) => ({ metric: labels(0), values: [1], timestamps: [T + i * 15_000] }))
    for (const v2 of [false, true]) {
      const body = v2 ? codec.encodeV2(input) : codec.encode(input)
      const estimate = countRecords(codec.decompress(body), v2, {}, body.length).objectBytes()
      expect(estimate).toBeGreaterThan(EXPANSION_FLOOR)
      expect(estimate / body.length).toBeGreaterThan(60) // labels and timestamps compress well
      const got = v2 ? codec.decodeV2(body, { strict: true }).items : codec.decode(body, { strict: true })
      expect(got).toHaveLength(50_000)
      expect(got[49_999].timestamps).toEqual([T + 49_999 * 15_000])
    }
  })
})

describe('strict mode: a series must carry something', () => {
  it('2.0: neither samples nor histograms is refused (as Prometheus answers 400); 1.0: exemplars alone are a series (Prometheus sends them so)', async () => {
    const codec = await createCodec()
    const head = [0x22, 0x00, 0x22, 0x08, ...Buffer.from('__name__'), 0x22, 0x01, 0x61]
    const bare = compressSync(Buffer.from(concat(head, field(0x2a, [0x0a, 0x02, 0x01, 0x02]))))
    expect(codec.decodeV2(bare).items).toHaveLength(1)
    expect(() => codec.decodeV2(bare, { strict: true })).toThrow('series 0 a{}: carries no samples or histograms')
    const exemplarOnly = compressSync(Buffer.from(concat(head, field(0x2a, [0x0a, 0x02, 0x01, 0x02, 0x22, 0x02, 0x18, 0x01]))))
    expect(() => codec.decodeV2(exemplarOnly, { strict: true })).toThrow('carries no samples or histograms')
    const name = field(0x0a, [...field(0x0a, Buffer.from('__name__')), ...field(0x12, Buffer.from('a'))])
    expect(() => codec.decode(compressSync(Buffer.from(field(0x0a, name))), { strict: true })).toThrow('series 0 a{}: carries no samples, histograms or exemplars')
    const exemplar = field(0x1a, [0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x18, 0x01])
    const withExemplar = codec.decode(compressSync(Buffer.from(field(0x0a, concat(name, exemplar)))), { strict: true })
    expect(withExemplar[0].exemplars).toEqual([{ labels: {}, value: 1, timestamp: 1 }])
  })
})

describe('from review: work that grew with what a record points at, not with the body', () => {
  /** A 2.0 body: symbols ["", "__name__", "a" × len], then `series` series {__name__=<that>} of one sample. */
  const longSymbol = (len: number, series: number): Uint8Array => {
    const msg = Request.create({
      symbols: ['', '__name__', 'a'.repeat(len)],
      timeseries: Array.from({ length: series }, (_, i) => ({ labelsRefs: [1, 2], samples: [{ value: 0, timestamp: 1_700_000_000_000 + i }] })),
    })
    return new Uint8Array(compressSync(Buffer.from(Request.encode(msg).finish())))
  }

  it('a long 2.0 symbol referenced by every series counts each time (maxLabelBytes)', async () => {
    const codec = await createCodec()
    // 100 KB × 3,000 series: 300 MB of labels to scan, from a body of a few KB.
    const body = longSymbol(100_000, 3_000)
    expect(body.length).toBeLessThan(100_000)
    for (const strict of [false, true]) {
      const err = thrown(() => codec.decodeV2(body, { strict }))
      expect(err.limit).toBe('maxLabelBytes')
      expect(err.message).toMatch(/raise the maxLabelBytes decode option/)
    }
    // Within the limit it decodes, and a lower limit is honoured.
    expect(codec.decodeV2(longSymbol(1000, 100), { strict: true }).items).toHaveLength(100)
    expect(thrown(() => codec.decodeV2(longSymbol(1000, 100), { maxLabelBytes: 50_000 })).limit).toBe('maxLabelBytes')
    // 1.0 label bytes count too.
    const v1 = codec.encode(Array.from({ length: 100 }, (_, i): Item => ({ metric: { __name__: 'm', v: 'x'.repeat(1000) }, values: [i], timestamps: [1_700_000_000_000 + i] })))
    expect(thrown(() => codec.decode(v1, { maxLabelBytes: 50_000 })).limit).toBe('maxLabelBytes')
    expect(codec.decode(v1)).toHaveLength(100)
  })

  it('the strict histogram check reads each span a bounded number of times (it was quadratic)', async () => {
    const codec = await createCodec()
    const n = 3000
    let reads = 0
    const spans = new Proxy(Array.from({ length: n }, () => ({ offset: 0, length: 0 })), {
      get (t, k, r) {
        if (typeof k === 'string' && /^\d+$/.test(k)) reads++
        return Reflect.get(t, k, r)
      },
    })
    const h = { count: 0, sum: 0, schema: 0, zeroThreshold: 0, zeroCount: 0, positiveSpans: spans, positiveBuckets: [], negativeSpans: [], negativeBuckets: [], timestamp: 1_700_000_000_000 }
    codec.encodeV2([{ metric: { __name__: 'h' }, values: [], timestamps: [], histograms: [h] } as unknown as Item])
    expect(reads).toBeLessThan(10 * n)
  })

  it('strict error messages stay short, whatever the labels hold', async () => {
    const codec = await createCodec()
    // 1.0: no __name__ and one label value of 1 MB of control bytes (each 6 characters as JSON).
    const raw = WriteRequest.encode(WriteRequest.create({ timeseries: [{ labels: [{ name: 'a', value: '\x01'.repeat(1 << 20) }, { name: 'b', value: 'x' }], samples: [{ value: 1, timestamp: 1_700_000_000_000 }] }] })).finish()
    const err = (() => { try { codec.decode(new Uint8Array(compressSync(Buffer.from(raw))), { strict: true }) } catch (e) { return e as Error } })()
    expect(err).toBeInstanceOf(DecodeError)
    expect(err!.message).toMatch(/missing __name__/)
    expect(err!.message.length).toBeLessThan(600)
    // 2.0: many labels of one long symbol, unsorted: the names in the message are cut too.
    const names = Array.from({ length: 50 }, (_, i) => `n${String(i).padStart(3, '0')}${'z'.repeat(1000)}`)
    const msg = Request.create({ symbols: ['', '__name__', 'm', ...names], timeseries: [{ labelsRefs: [1, 2, ...names.flatMap((_, i) => [3 + i, 2])].concat([3, 2]), samples: [{ value: 0, timestamp: 1 }] }] })
    const e2 = (() => { try { codec.decodeV2(new Uint8Array(compressSync(Buffer.from(Request.encode(msg).finish()))), { strict: true }) } catch (e) { return e as Error } })()
    expect(e2).toBeInstanceOf(DecodeError)
    expect(e2!.message).toMatch(/labels not sorted or duplicate name/)
    expect(e2!.message.length).toBeLessThan(600)
  })
})
