// Shared test helpers: bit-exact float handling, seeded generators, an independent decoder
// (native snappy + snappyjs + protobufjs with test/support/schema.ts), and a model of what the
// encoder must put on the wire. Nothing here calls into src/ except where a name says so.
import fc from 'fast-check'
import protobuf from 'protobufjs'
import { uncompressSync } from 'snappy'
import SnappyJS from 'snappyjs'
import { expect } from 'vitest'
import { STALE } from '../../src/types.js'
import type { DecodedItem, Item } from '../../src/types.js'
import { WriteRequest, WriteRequestBits } from './schema.js'
import type { LongLike, PbWriteRequest } from './schema.js'

// ---- bytes and bits -------------------------------------------------------------------------

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
export const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/[\s_]+/g, ''), 'hex'))
export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Prometheus's stale marker (model/value/value.go StaleNaN). */
export const STALE_BITS = 0x7ff0000000000002n
/** The stale marker after a JS engine quieted it (bit 51 set). */
export const STALE_QUIET_BITS = 0x7ff8000000000002n
/** What the JS `NaN` literal stores. */
export const NAN_BITS = 0x7ff8000000000000n
export const NEG_ZERO_BITS = 0x8000000000000000n
export const I64_MIN = -(2n ** 63n)
export const I64_MAX = 2n ** 63n - 1n

const scratchF64 = new Float64Array(1)
const scratchU64 = new BigUint64Array(scratchF64.buffer)

/** The IEEE-754 bits of `x` as a Float64Array store leaves them. */
export function bitsOf (x: number): bigint {
  scratchF64[0] = x
  return scratchU64[0]
}

/** A Float64Array whose elements carry exactly these bit patterns (NaN payloads included). */
export function f64FromBits (bits: readonly bigint[]): Float64Array {
  const u = BigUint64Array.from(bits)
  return new Float64Array(u.buffer)
}

/** The bit patterns of a Float64Array, read without going through a JS number. */
export function bitsOfArray (a: Float64Array): BigUint64Array {
  return new BigUint64Array(a.buffer, a.byteOffset, a.length)
}

/** Whether two numbers are the same float64 bit pattern. */
export function sameBits (a: number, b: number): boolean {
  return bitsOf(a) === bitsOf(b)
}

export const bitsHex = (b: bigint): string => '0x' + b.toString(16).padStart(16, '0')

/** Rounds half to even, as Python's round() and f64.nearest do (written independently). */
export function roundHalfEven (x: number): number {
  const f = Math.floor(x)
  const d = x - f
  if (d < 0.5) return f
  if (d > 0.5) return f + 1
  return f % 2 === 0 ? f : f + 1
}

// ---- seeded generators ----------------------------------------------------------------------

/** xorshift32 (Marsaglia 2003): a tiny deterministic PRNG returning floats in [0, 1). */
export function rng (seed: number): () => number {
  let s = (seed >>> 0) || 0x9e3779b9
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 4294967296
  }
}

const NAME_FIRST = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_'
const NAME_REST = NAME_FIRST + '0123456789'
const pick = (r: () => number, s: string): string => s[Math.floor(r() * s.length)]

/** A random label name matching [a-zA-Z_][a-zA-Z0-9_]* (never __name__). */
export function randomLabelName (r: () => number, maxLen = 12): string {
  let s = pick(r, NAME_FIRST)
  const n = Math.floor(r() * maxLen)
  for (let i = 0; i < n; i++) s += pick(r, NAME_REST)
  return s === '__name__' ? 'x__name__' : s
}

/** A random metric name matching [a-zA-Z_:][a-zA-Z0-9_:]*. */
export function randomMetricName (r: () => number, maxLen = 20): string {
  let s = pick(r, NAME_FIRST + ':')
  const n = Math.floor(r() * maxLen)
  for (let i = 0; i < n; i++) s += pick(r, NAME_REST + ':')
  return s
}

/** A random label value: ASCII, BMP, astral characters (no lone surrogates). */
export function randomLabelValue (r: () => number, maxLen = 24): string {
  const n = Math.floor(r() * maxLen)
  let s = ''
  for (let i = 0; i < n; i++) {
    const k = r()
    if (k < 0.6) s += String.fromCharCode(0x20 + Math.floor(r() * 95))
    else if (k < 0.8) s += String.fromCharCode(0xa0 + Math.floor(r() * (0xd7ff - 0xa0)))
    else if (k < 0.9) s += String.fromCodePoint(0x10000 + Math.floor(r() * 0xfffff))
    else s += String.fromCharCode(Math.floor(r() * 0x80))
  }
  return s
}

/** Special doubles every value generator mixes in. */
export const SPECIAL_VALUE_BITS: readonly bigint[] = [
  0n, NEG_ZERO_BITS, NAN_BITS, STALE_BITS, STALE_QUIET_BITS,
  bitsOf(Infinity), bitsOf(-Infinity), bitsOf(5e-324), bitsOf(-5e-324), bitsOf(Number.MAX_VALUE),
  bitsOf(-Number.MAX_VALUE), bitsOf(Number.MIN_VALUE * 2 ** 52), bitsOf(1), bitsOf(-1), bitsOf(0.1),
  0x7ff0000000000001n, 0xfff8000000000000n, 0x7fffffffffffffffn, 0xffffffffffffffffn,
]

/** Timestamps (ms) at the int64 edges, as BigInt. */
export const EDGE_TIMESTAMPS: readonly bigint[] = [
  I64_MIN, I64_MIN + 1n, -(2n ** 53n), -1n, 0n, 1n, 127n, 128n, 16383n, 16384n,
  2n ** 32n - 1n, 2n ** 53n, 1_700_000_000_000n, I64_MAX - 1n, I64_MAX,
]

/** Largest double below 2^63: the largest number-typed timestamp the int64 range admits. */
export const MAX_F64_BELOW_2_63 = 9223372036854774784

export type ValuesForm = 'array' | 'f64'
export type TimestampsForm = 'array' | 'f64' | 'i64'

/**
 * Builds a series of `n` samples from a seed: values drawn from raw bit patterns, mixed with
 * the specials; timestamps ascending (with repeats), starting anywhere in the int64 range
 * that the timestamp form can carry exactly.
 */
export function seededSeries (seed: number, n: number, vform: ValuesForm, tform: TimestampsForm, metric: Item['metric']): Item {
  const r = rng(seed)
  const vbits = new BigUint64Array(n)
  for (let i = 0; i < n; i++) {
    const k = r()
    if (k < 0.05) vbits[i] = SPECIAL_VALUE_BITS[Math.floor(r() * SPECIAL_VALUE_BITS.length)]
    else if (k < 0.5) vbits[i] = bitsOf((r() - 0.5) * 10 ** Math.floor(r() * 12))
    else vbits[i] = (BigInt(Math.floor(r() * 4294967296)) << 32n) | BigInt(Math.floor(r() * 4294967296))
  }
  const f64 = new Float64Array(vbits.buffer)
  const values = vform === 'f64' ? f64 : Array.from(f64)
  let timestamps: Item['timestamps']
  if (tform === 'i64') {
    const span = BigInt(n) * 1000n
    const start = EDGE_TIMESTAMPS[Math.floor(r() * EDGE_TIMESTAMPS.length)]
    let t = start > I64_MAX - span ? I64_MAX - span : start
    const ts = new BigInt64Array(n)
    for (let i = 0; i < n; i++) {
      ts[i] = t
      t += BigInt(Math.floor(r() * 1000))
    }
    timestamps = ts
  } else {
    let t = Math.floor((r() - 0.3) * 2 ** 45)
    const ts = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      ts[i] = t
      t += Math.floor(r() * 30_000)
    }
    timestamps = tform === 'f64' ? ts : Array.from(ts)
  }
  return { metric, values, timestamps }
}

// ---- fast-check arbitraries -----------------------------------------------------------------

export const arbLabelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,14}$/).filter((s) => s !== '__name__')
export const arbMetricName = fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,24}$/)
/** Label values: any code points but lone surrogates (the codec rejects those), empty ones too. */
export const arbLabelValue = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 16 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.constantFrom('😀', '\u{10FFFF}', '\uFFFD', 'ü', '\0', 'a'.repeat(130)) },
).filter((s) => isWellFormed(s))

/** A label set, as a record or as [name, value] pairs in random order. */
export const arbLabels = fc.record({
  name: arbMetricName,
  rest: fc.uniqueArray(fc.tuple(arbLabelName, arbLabelValue), { selector: (p) => p[0], maxLength: 8 }),
  asPairs: fc.boolean(),
  nameAt: fc.nat(),
}).map(({ name, rest, asPairs, nameAt }) => {
  const pairs: Array<[string, string]> = rest.map(([k, v]) => [k, v])
  pairs.splice(nameAt % (pairs.length + 1), 0, ['__name__', name])
  return asPairs ? pairs : Object.fromEntries(pairs)
})

export const arbValueBits = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_VALUE_BITS) },
  { weight: 3, arbitrary: fc.double().map(bitsOf) },
  { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) },
)

/** Timestamps a number can carry exactly inside int64, plus fractional ones that get rounded. */
export const arbNumberTimestamp = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 31 }) },
  { weight: 2, arbitrary: fc.maxSafeInteger() },
  { weight: 2, arbitrary: fc.double({ min: -1e15, max: 1e15, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 0.5, -0.5, 1.5, 2.5, -2.5, 2 ** 53, -(2 ** 62), -(2 ** 63), MAX_F64_BELOW_2_63, 1.7e12) },
)
export const arbBigTimestamp = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(...EDGE_TIMESTAMPS) },
  { weight: 3, arbitrary: fc.bigInt({ min: I64_MIN, max: I64_MAX }) },
)

/** A series with 0..maxSamples samples in one of the accepted input forms, timestamps ascending. */
export function arbItem (maxSamples: number): fc.Arbitrary<Item> {
  return fc.record({
    metric: arbLabels,
    vform: fc.constantFrom<ValuesForm>('array', 'f64'),
    tform: fc.constantFrom<TimestampsForm>('array', 'f64', 'i64'),
    n: fc.nat({ max: maxSamples }),
  }).chain(({ metric, vform, tform, n }) => fc.record({
    vbits: fc.array(arbValueBits, { minLength: n, maxLength: n }),
    ts: tform === 'i64'
      ? fc.array(arbBigTimestamp, { minLength: n, maxLength: n }).map((a) => a.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)))
      : fc.array(arbNumberTimestamp, { minLength: n, maxLength: n }).map((a) => a.sort((x, y) => x - y)),
  }).map(({ vbits, ts }): Item => {
    const f64 = f64FromBits(vbits)
    const values = vform === 'f64' ? f64 : Array.from(f64)
    let timestamps: Item['timestamps']
    if (tform === 'i64') timestamps = BigInt64Array.from(ts as bigint[])
    else if (tform === 'f64') timestamps = Float64Array.from(ts as number[])
    else timestamps = ts as number[]
    return { metric, values, timestamps }
  }))
}

// ---- the wire model -------------------------------------------------------------------------

/** One TimeSeries as it is (or must be) on the wire: labels in wire order, raw value bits. */
export interface WireSeries {
  labels: Array<[string, string]>
  values: BigUint64Array
  timestamps: BigInt64Array
}

/** Byte-wise (Go string) comparison of two strings by their UTF-8 encoding. */
export function compareUtf8 (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

export const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed (): boolean }).isWellFormed()

/**
 * What the encoder must emit for `items` encoded with autoConvertSecondsToMs: false and
 * ascending timestamps: labels with empty values dropped and sorted byte-wise, value bits as
 * given (a quieted stale marker mapped back to the stale marker), timestamps rounded half to
 * even. Written from protocol.md §1.3–§1.4 and the README, not from src/.
 */
export function expectedWire (items: readonly Item[]): WireSeries[] {
  return items.map((item) => {
    const metric = item.series ? item.series.labels : item.metric!
    const pairs: Array<[string, string]> = Array.isArray(metric)
      ? (metric as Array<[string, string]>).map(([k, v]) => [k, v])
      : Object.entries(metric as Record<string, string>)
    const labels = pairs
      .filter(([, v]) => v !== '')
      .map(([k, v]): [string, string] => [k, v])
      .sort((a, b) => compareUtf8(a[0], b[0]))
    const n = item.values.length
    const values = new BigUint64Array(n)
    if (item.values instanceof Float64Array) values.set(bitsOfArray(item.values))
    else {
      for (let i = 0; i < n; i++) {
        const v = item.values[i]
        values[i] = typeof v === 'number' ? bitsOf(v) : v === STALE ? STALE_BITS : 0n
      }
    }
    for (let i = 0; i < n; i++) if (values[i] === STALE_QUIET_BITS) values[i] = STALE_BITS
    const timestamps = new BigInt64Array(n)
    const ts = item.timestamps
    if (ts instanceof BigInt64Array) timestamps.set(ts)
    else for (let i = 0; i < n; i++) timestamps[i] = BigInt(roundHalfEven(ts[i] as number))
    return { labels, values, timestamps }
  })
}

/**
 * The canonical protobuf for `series`, written by protobufjs (fields in number order,
 * proto3 zero scalars omitted as the reference gogo marshaller does: `if m.Value != 0` on the
 * bits, so -0.0 is kept here as the encoder keeps it).
 */
export function referenceEncode (series: readonly WireSeries[]): Uint8Array {
  const msg = {
    timeseries: series.map((s) => ({
      labels: s.labels.map(([name, value]) => ({ name, value })),
      samples: Array.from(s.values, (bits, i) => {
        const sample: Record<string, unknown> = {}
        if (bits !== 0n) sample.value = toLong(bits, true)
        const t = s.timestamps[i]
        if (t !== 0n) sample.timestamp = toLong(t, false)
        return sample
      }),
    })),
  }
  return WriteRequestBits.encode(msg).finish()
}

function toLong (v: bigint, unsigned: boolean): protobuf.Long {
  const u = BigInt.asUintN(64, v)
  return new protobuf.util.Long(Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0, unsigned)
}

function fromLong (x: LongLike | number, unsigned: boolean): bigint {
  if (typeof x === 'number') {
    if (!Number.isSafeInteger(x)) throw new Error(`protobufjs returned an inexact number ${x}: is the long package missing?`)
    return unsigned ? BigInt.asUintN(64, BigInt(x)) : BigInt(x)
  }
  const u = (BigInt(x.high >>> 0) << 32n) | BigInt(x.low >>> 0)
  return unsigned ? u : BigInt.asIntN(64, u)
}

// ---- independent decoding -------------------------------------------------------------------

export interface IndependentDecoded {
  /** The uncompressed protobuf (native snappy's output, checked equal to snappyjs's). */
  raw: Uint8Array
  series: WireSeries[]
}

/**
 * Decodes a request body without our code: snappy block via the native `snappy` package AND
 * `snappyjs` (asserted equal), then protobufjs with test/support/schema.ts. Values come back as raw u64
 * bits, timestamps as BigInt. With `checkDoubles` (default true) the body is also decoded with
 * the double-typed schema and every non-NaN value must match its bits (NaN must stay NaN).
 * With `reencode` (default true) protobufjs must re-encode the decoded message to the same
 * bytes: no unknown fields, no non-minimal varints, fields in order.
 */
export function independentDecode (body: Uint8Array, { checkDoubles = true, reencode = true } = {}): IndependentDecoded {
  const native = uncompressSync(Buffer.from(body.buffer, body.byteOffset, body.byteLength)) as Buffer
  const js = SnappyJS.uncompress(new Uint8Array(body)) as Uint8Array
  if (Buffer.compare(native, Buffer.from(js.buffer, js.byteOffset, js.byteLength)) !== 0) {
    throw new Error(`native snappy and snappyjs disagree: ${native.length} vs ${js.length} bytes`)
  }
  const raw = new Uint8Array(native.buffer, native.byteOffset, native.byteLength)
  const msg = WriteRequestBits.decode(raw) as unknown as PbWriteRequest<LongLike>
  expect(msg.metadata.length, 'WriteRequest.metadata').toBe(0)
  const series = msg.timeseries.map((ts, i): WireSeries => {
    expect(ts.exemplars.length, `timeseries[${i}].exemplars`).toBe(0)
    expect(ts.histograms.length, `timeseries[${i}].histograms`).toBe(0)
    const n = ts.samples.length
    const values = new BigUint64Array(n)
    const timestamps = new BigInt64Array(n)
    for (let k = 0; k < n; k++) {
      values[k] = fromLong(ts.samples[k].value, true)
      timestamps[k] = fromLong(ts.samples[k].timestamp, false)
    }
    return { labels: ts.labels.map((l): [string, string] => [l.name, l.value]), values, timestamps }
  })
  if (checkDoubles) {
    const dbl = WriteRequest.decode(raw) as unknown as PbWriteRequest<number>
    expect(dbl.timeseries.length).toBe(series.length)
    dbl.timeseries.forEach((ts, i) => ts.samples.forEach((s, k) => {
      const bits = series[i].values[k]
      const v = s.value
      // A NaN may lose its payload inside a JS number; anything else must keep its bits.
      const ok = Number.isNaN(v) ? Number.isNaN(fromBits(bits)) : bitsOf(v) === bits
      if (!ok) throw new Error(`series ${i} sample ${k}: double ${v} vs bits ${bitsHex(bits)}`)
    }))
  }
  if (reencode) {
    const again = WriteRequestBits.encode(msg).finish()
    if (Buffer.compare(Buffer.from(again), native) !== 0) {
      throw new Error('protobufjs re-encodes the decoded request to different bytes: the body is not canonical')
    }
  }
  return { raw, series }
}

function fromBits (bits: bigint): number {
  scratchU64[0] = bits
  return scratchF64[0]
}

/** Our own decoder's output (codec.decode(body, { bigint: true })) in the WireSeries shape. */
export function decodedToWire (items: readonly DecodedItem[]): WireSeries[] {
  return items.map((d) => ({
    labels: Object.entries(d.metric),
    values: BigUint64Array.from(bitsOfArray(d.values)),
    timestamps: d.timestamps instanceof BigInt64Array ? d.timestamps : BigInt64Array.from(d.timestamps, (t) => BigInt(t)),
  }))
}

/** The first difference between two wire models, described; undefined when equal. */
export function diffWire (actual: readonly WireSeries[], expected: readonly WireSeries[]): string | undefined {
  if (actual.length !== expected.length) return `${actual.length} series, expected ${expected.length}`
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]
    const e = expected[i]
    const al = JSON.stringify(a.labels)
    const el = JSON.stringify(e.labels)
    if (al !== el) return `series ${i}: labels ${al}, expected ${el}`
    if (a.values.length !== e.values.length) return `series ${i}: ${a.values.length} samples, expected ${e.values.length}`
    for (let k = 0; k < e.values.length; k++) {
      if (a.values[k] !== e.values[k]) return `series ${i} sample ${k}: value bits ${bitsHex(a.values[k])}, expected ${bitsHex(e.values[k])}`
      if (a.timestamps[k] !== e.timestamps[k]) return `series ${i} sample ${k}: timestamp ${a.timestamps[k]}, expected ${e.timestamps[k]}`
    }
  }
  return undefined
}

/** Asserts two wire models are equal, reporting the first difference. */
export function expectWire (actual: readonly WireSeries[], expected: readonly WireSeries[], what = 'wire'): void {
  const d = diffWire(actual, expected)
  expect(d, what).toBeUndefined()
}

/** Asserts two byte arrays are equal, reporting the first differing offset (fast on large arrays). */
export function expectBytes (actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)
  if (a.equals(e)) return
  let i = 0
  while (i < a.length && i < e.length && a[i] === e[i]) i++
  expect.fail(`${what}: lengths ${a.length} vs ${e.length}, first difference at ${i}: ` +
    `${a.subarray(i, i + 16).toString('hex')} vs ${e.subarray(i, i + 16).toString('hex')}`)
}

/** Runs fn, which must throw, and returns what it threw. */
export function thrown (fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw')
}
