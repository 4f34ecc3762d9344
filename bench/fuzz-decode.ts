/**
 * The decoder under fuzz, for longer than CI runs it (test/codec/decode-fuzz.test.ts runs the
 * same cases, a few thousand of them): valid requests of random series encoded by the
 * project's codec and then mutated (bytes flipped, cut, inserted, deleted, slices repeated,
 * before or after snappy: the project's own compressor, as the native package leaks
 * memory over many calls), and amplifying bodies (one small record repeated up to 100,000
 * times, bare or inside a series, histogram or exemplar). Each is decoded with decode() or
 * decodeV2(), under the default limits or small ones; the only outcomes allowed are a result,
 * a SnappyError or a DecodeError. Prints the count of each outcome (DecodeErrors by kind),
 * anything else (a bug) with the case that caused it, the slowest case and the peak heap.
 *
 *   npx tsx bench/fuzz-decode.ts [--runs N] [--seed S] [--minutes M]
 *   npx tsx bench/fuzz-decode.ts --worst     the worst bodies at 32 MiB, and the largest of
 *                                            each the limits let through, each decoded in a
 *                                            fresh process: time and peak RSS per compressed byte
 *
 * (FUZZ_RUNS, FUZZ_SEED and FUZZ_MINUTES do the same as the flags.)
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'
import { once } from 'node:events'
import fc from 'fast-check'
import { snappyCompress } from '../src/codec/snappy.js'
import { createCodec } from '../src/codec/codec.js'
import type { Codec } from '../src/codec/codec.js'
import { DECODE_LIMITS, EXPANSION_FLOOR, countRecords } from '../src/codec/decode-limits.js'
import type { DecodeOptions } from '../src/codec/decode-limits.js'
import { nativeHistogram } from '../src/codec/histogram.js'
import { DecodeError, SnappyError } from '../src/errors.js'
import type { DecodedItem, Item } from '../src/types.js'

const T = 1_767_225_600_000

// ---- cases ----------------------------------------------------------------------------------

export type Mutation =
  | { op: 'flip', at: number, xor: number }
  | { op: 'truncate', at: number }
  | { op: 'insert', at: number, bytes: Uint8Array }
  | { op: 'delete', at: number, len: number }
  | { op: 'repeat', at: number, len: number, times: number }

/** One fuzz case: the body to decode and how. */
export interface FuzzCase {
  what: string
  v2: boolean
  body: Uint8Array
  options: DecodeOptions
}

const arbItem: fc.Arbitrary<Item> = fc.record({
  name: fc.stringMatching(/^[a-z_:][a-z0-9_:]{0,10}$/),
  labels: fc.dictionary(fc.stringMatching(/^[a-z_][a-z0-9_]{0,6}$/), fc.string({ minLength: 1, maxLength: 6 }), { maxKeys: 4 }),
  samples: fc.array(fc.tuple(fc.double(), fc.integer({ min: 1, max: 100_000 })), { maxLength: 20 }),
  histogram: fc.option(fc.dictionary(fc.integer({ min: -20, max: 20 }).map(String), fc.integer({ min: 1, max: 1000 }), { maxKeys: 8 })),
  exemplar: fc.option(fc.record({ trace: fc.stringMatching(/^[0-9a-f]{1,16}$/), value: fc.double({ noNaN: true }) })),
  type: fc.option(fc.constantFrom('counter' as const, 'gauge' as const, 'histogram' as const)),
}).map(({ name, labels, samples, histogram, exemplar, type }) => {
  let t = T
  const item: Item = { metric: { ...labels, __name__: name }, values: samples.map(([v]) => v), timestamps: samples.map(([, dt]) => (t += dt)) }
  if (histogram !== null) item.histograms = [nativeHistogram({ timestamp: t + 1, schema: 3, sum: 1.5, positive: Object.fromEntries(Object.entries(histogram)) })]
  if (exemplar !== null && (samples.length > 0 || histogram !== null)) item.exemplars = [{ labels: { trace_id: exemplar.trace }, value: exemplar.value, timestamp: t }]
  if (type !== null) item.metadata = { type, help: `help of ${name}`, unit: '' }
  return item
})

const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }), times: fc.integer({ min: 2, max: 5000 }) }),
)

/** `body` with `m` applied (positions wrap around its length). */
export function mutate (body: Uint8Array, m: Mutation): Uint8Array {
  const at = body.length === 0 ? 0 : m.at % body.length
  const b = Buffer.from(body)
  switch (m.op) {
    case 'flip': {
      if (b.length > 0) b[at] ^= m.xor
      return b
    }
    case 'truncate': return b.subarray(0, at)
    case 'insert': return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)])
    case 'delete': return Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)])
    case 'repeat': {
      const slice = b.subarray(at, at + m.len)
      return Buffer.concat([b.subarray(0, at), ...Array<Buffer>(m.times).fill(slice), b.subarray(at)])
    }
  }
}

function varint (n: number): number[] {
  const out: number[] = []
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80)
  out.push(n)
  return out
}

function field (tag: number, inner: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from([tag, ...varint(inner.length)]), inner])
}

/** Small records an attacker repeats: empty series, samples, labels, histograms, exemplars, spans, refs, symbols, metadata. */
const UNITS: ReadonlyArray<readonly number[]> = [
  [0x0a, 0x00], [0x12, 0x00], [0x1a, 0x00], [0x22, 0x00], [0x2a, 0x00], [0x0a, 0x02, 0x12, 0x00], [0x2a, 0x02, 0x12, 0x00],
  [0x5a, 0x00], [0x60, 0x00], [0x08, 0x01], [0x08, 0x00], [0x0a, 0x04, 0x0a, 0x00, 0x12, 0x00], [0x2a, 0x04, 0x0a, 0x02, 0x01, 0x01],
  [0x22, 0x02, 0x08, 0x01], [0x81, 0x01, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f], [0x12, 0x02, 0x10, 0x01],
]

/** Where an amplifier's repeats go. */
const WRAPS = ['bare', 'series', 'histogram', 'exemplar'] as const

/** Limits a case decodes under: the defaults, or small ones (so each case stays fast). */
const arbOptions: fc.Arbitrary<DecodeOptions> = fc.oneof(
  fc.constant({}),
  fc.record({
    maxSeries: fc.integer({ min: 0, max: 5000 }),
    maxLabels: fc.integer({ min: 0, max: 20_000 }),
    maxSamples: fc.integer({ min: 0, max: 20_000 }),
    maxBuckets: fc.integer({ min: 0, max: 20_000 }),
    maxObjectBytes: fc.integer({ min: 1 << 16, max: 1 << 26 }),
  }),
  fc.record({ strict: fc.constant(true) }),
)

/** A valid request of random series, mutated before or after snappy. */
export interface MutatedSpec { items: Item[], v2: boolean, compressedFirst: boolean, mutations: Mutation[], options: DecodeOptions }

/** One small record repeated `times`, bare or wrapped, with or without a symbols table first. */
export interface AmplifierSpec { unit: number[], times: number, wrap: typeof WRAPS[number], symbols: boolean, v2: boolean, options: DecodeOptions }

export const arbMutated: fc.Arbitrary<MutatedSpec> = fc.record({
  items: fc.array(arbItem, { minLength: 1, maxLength: 6 }),
  v2: fc.boolean(),
  compressedFirst: fc.boolean(),
  mutations: fc.array(arbMutation, { minLength: 1, maxLength: 4 }),
  options: arbOptions,
})

export const arbAmplifier: fc.Arbitrary<AmplifierSpec> = fc.record({
  unit: fc.oneof(fc.constantFrom(...UNITS).map((u) => [...u]), fc.uint8Array({ minLength: 1, maxLength: 6 }).map((u) => Array.from(u))),
  times: fc.integer({ min: 1, max: 100_000 }),
  wrap: fc.constantFrom(...WRAPS),
  symbols: fc.boolean(),
  v2: fc.boolean(),
  options: arbOptions,
})

/** The FuzzCase of a mutated request (the codec encodes its items). */
export function mutatedCase (codec: Codec, c: MutatedSpec): FuzzCase {
  let raw: Uint8Array
  try {
    raw = c.v2 ? codec.encodeV2Protobuf(c.items) : codec.encodeProtobuf(c.items)
  } catch {
    raw = new Uint8Array(0) // an item the encoder refuses: fuzz the empty request
  }
  let body: Uint8Array
  if (c.compressedFirst) {
    body = snappyCompress(Buffer.from(raw))
    for (const m of c.mutations) body = mutate(body, m)
  } else {
    for (const m of c.mutations) raw = mutate(raw, m)
    body = snappyCompress(Buffer.from(raw))
  }
  return { what: `mutated ${c.v2 ? '2.0' : '1.0'} ${c.compressedFirst ? 'body' : 'protobuf'} (${c.mutations.map((m) => m.op).join(', ')})`, v2: c.v2, body, options: c.options }
}

/** The FuzzCase of an amplifier. */
export function amplifierCase (a: AmplifierSpec): FuzzCase {
  const repeated = Buffer.alloc(a.unit.length * a.times)
  for (let i = 0; i < a.times; i++) repeated.set(a.unit, i * a.unit.length)
  const seriesTag = a.v2 ? 0x2a : 0x0a
  const inner = a.wrap === 'bare'
    ? repeated
    : a.wrap === 'series'
      ? field(seriesTag, repeated)
      : field(seriesTag, field(a.wrap === 'histogram' ? (a.v2 ? 0x1a : 0x22) : (a.v2 ? 0x22 : 0x1a), repeated))
  const raw = a.symbols ? Buffer.concat([Buffer.from([0x22, 0x00, 0x22, 0x01, 0x61]), inner]) : inner
  return { what: `amplifier ${a.v2 ? '2.0' : '1.0'} ${Buffer.from(a.unit).toString('hex')} x${a.times} ${a.wrap}`, v2: a.v2, body: snappyCompress(Buffer.from(raw)), options: a.options }
}

// ---- outcomes -------------------------------------------------------------------------------

export interface Outcome {
  /** ok, snappy, decode, or other (a bug). */
  kind: 'ok' | 'snappy' | 'decode' | 'other'
  /** The error's kind: `limit maxSeries`, or its message with numbers and strings blanked. */
  detail: string
  error?: unknown
  /** What an ok decode returned. */
  items?: DecodedItem[]
}

/** A decoded item that is not what decode() promises. */
function malformed (items: DecodedItem[]): string | undefined {
  if (!Array.isArray(items)) return 'not an array'
  for (const it of items) {
    if (it === null || typeof it.metric !== 'object' || !(it.values instanceof Float64Array)) return 'an item without metric or values'
    if (it.timestamps.length !== it.values.length) return 'values and timestamps of different lengths'
    if (it.histograms !== undefined && !Array.isArray(it.histograms)) return 'histograms not an array'
    if (it.exemplars !== undefined && !Array.isArray(it.exemplars)) return 'exemplars not an array'
  }
  return undefined
}

/** Decodes a case and says how it went; never throws. */
export function decodeOutcome (codec: Codec, c: FuzzCase): Outcome {
  try {
    const items = c.v2 ? codec.decodeV2(c.body, c.options).items : codec.decode(c.body, c.options)
    const bad = malformed(items)
    return bad === undefined ? { kind: 'ok', detail: 'ok', items } : { kind: 'other', detail: `bad result: ${bad}` }
  } catch (err) {
    if (err instanceof SnappyError) return { kind: 'snappy', detail: err.message }
    if (err instanceof DecodeError) {
      const limit = (err as { limit?: string }).limit
      const detail = limit !== undefined
        ? `limit ${limit}`
        : err.message.replace(/series (\d+ )?[^{ ]*\{.*\}/s, 'series N {…}').replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/\d+/g, 'N')
      return { kind: 'decode', detail }
    }
    return { kind: 'other', detail: `${(err as Error)?.name ?? typeof err}: ${(err as Error)?.message ?? String(err)}`, error: err }
  }
}

/** A valid request and what it decodes to: decoded after every case, the codec must still read it right. */
export const CANARY: Item[] = [
  { metric: { __name__: 'canary', job: 'fuzz' }, values: [1.5, Number.NaN], timestamps: [T, T + 15_000] },
]

/** Whether the codec still decodes CANARY (both versions) exactly. */
export function stillUsable (codec: Codec): boolean {
  for (const v2 of [false, true]) {
    const [d] = v2 ? codec.decodeV2(codec.encodeV2(CANARY)).items : codec.decode(codec.encode(CANARY))
    if (d.metric.__name__ !== 'canary' || d.metric.job !== 'fuzz' || d.values[0] !== 1.5 || !Number.isNaN(d.values[1]) || d.timestamps[1] !== T + 15_000) return false
  }
  return true
}

// ---- the long run ---------------------------------------------------------------------------

function arg (name: string, env: string, fallback: number): number {
  const i = process.argv.indexOf(name)
  const v = i >= 0 ? process.argv[i + 1] : process.env[env]
  return v === undefined ? fallback : Number(v)
}

async function fuzz (): Promise<void> {
  const runs = arg('--runs', 'FUZZ_RUNS', 100_000)
  const seed = arg('--seed', 'FUZZ_SEED', 20261212)
  const minutes = arg('--minutes', 'FUZZ_MINUTES', Infinity)
  const codec = await createCodec()
  const counts = new Map<string, number>()
  const bugs: Array<{ what: string, detail: string }> = []
  let slowest = { ms: 0, what: '', detail: '' }
  let peakHeap = 0
  let done = 0
  const t0 = Date.now()
  const arb = fc.oneof({ arbitrary: arbMutated.map((c) => ({ mutated: c })), weight: 3 }, { arbitrary: arbAmplifier.map((a) => ({ amplifier: a })), weight: 1 })
  console.log(`decode fuzz: seed ${seed}, up to ${runs} cases${Number.isFinite(minutes) ? ` or ${minutes} min` : ''}`)
  fc.assert(fc.property(arb, (g) => {
    const c = 'mutated' in g ? mutatedCase(codec, g.mutated) : amplifierCase(g.amplifier)
    const start = performance.now()
    const out = decodeOutcome(codec, c)
    const ms = performance.now() - start
    const key = out.kind === 'decode' ? `DecodeError ${out.detail}` : out.kind === 'snappy' ? `SnappyError ${out.detail}` : out.kind
    counts.set(key, (counts.get(key) ?? 0) + 1)
    if (out.kind === 'other') bugs.push({ what: `${c.what} options ${JSON.stringify(c.options)}`, detail: out.detail })
    if (!stillUsable(codec)) bugs.push({ what: c.what, detail: 'the codec decodes the canary wrong afterwards' })
    if (ms > slowest.ms) slowest = { ms, what: `${c.what}, ${c.body.length} bytes, options ${JSON.stringify(c.options)}`, detail: out.detail }
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed)
    if (++done % 10_000 === 0) console.log(`  ${done} cases, ${((Date.now() - t0) / 1000).toFixed(0)} s, ${bugs.length} bugs`)
    return true
  }), { seed, numRuns: runs, interruptAfterTimeLimit: Number.isFinite(minutes) ? minutes * 60_000 : undefined, markInterruptAsFailure: false })
  console.log(`\n${done} cases in ${((Date.now() - t0) / 1000).toFixed(0)} s (seed ${seed})`)
  const rows = [...counts].sort((a, b) => b[1] - a[1])
  for (const [key, n] of rows) console.log(`${String(n).padStart(9)}  ${key}`)
  console.log(`slowest: ${slowest.ms.toFixed(1)} ms, ${slowest.what} -> ${slowest.detail}`)
  console.log(`peak heap used: ${(peakHeap / 1e6).toFixed(0)} MB, peak RSS ${(process.resourceUsage().maxRSS / 1e3).toFixed(0)} MB`)
  console.log(bugs.length === 0 ? 'other (bugs): 0' : `other (bugs): ${bugs.length}, first: ${JSON.stringify(bugs.slice(0, 5), null, 2)}`)
  process.exitCode = bugs.length === 0 ? 0 : 1
}

// ---- the worst bodies -----------------------------------------------------------------------

/** 32 MiB of each cheap record (the issue's bodies and their kin): each a function of the record count. */
const WORST: Array<{ name: string, v2: boolean, unit: number, raw: (n: number) => Uint8Array }> = []
{
  const rep = (unit: readonly number[], n: number, head: readonly number[] = []): Buffer => {
    const b = Buffer.alloc(head.length + n * unit.length)
    b.set(head)
    for (let i = 0; i < n; i++) b.set(unit, head.length + i * unit.length)
    return b
  }
  const sym = [0x22, 0x00, 0x22, 0x08, ...Buffer.from('__name__'), 0x22, 0x01, 0x61]
  const add = (name: string, v2: boolean, unit: readonly number[], wrap: (b: Buffer) => Uint8Array = (b) => b, head: readonly number[] = []): void => {
    WORST.push({ name, v2, unit: unit.length, raw: (n) => wrap(rep(unit, n, head)) })
  }
  add('1.0 empty series (0a 00)', false, [0x0a, 0x00])
  add('1.0 series of an empty sample', false, [0x0a, 0x02, 0x12, 0x00])
  add('1.0 one series of empty samples', false, [0x12, 0x00], (b) => field(0x0a, b))
  add('1.0 one series of empty labels', false, [0x0a, 0x00], (b) => field(0x0a, b))
  add('1.0 one series of 1-byte labels', false, [0x0a, 0x03, 0x0a, 0x01, 0x61], (b) => field(0x0a, b))
  add('1.0 exemplars without labels', false, [0x1a, 0x00], (b) => field(0x0a, b))
  add('1.0 empty histograms', false, [0x22, 0x00], (b) => field(0x0a, b))
  add('1.0 a histogram of unpacked deltas', false, [0x60, 0x00], (b) => field(0x0a, field(0x22, b)))
  add('1.0 a histogram of empty spans', false, [0x5a, 0x00], (b) => field(0x0a, field(0x22, b)))
  add('1.0 unknown fields only', false, [0x08, 0x00])
  add('2.0 symbols (22 00)', true, [0x22, 0x00])
  add('2.0 empty series (2a 00)', true, [0x2a, 0x00])
  add('2.0 valid series {__name__="a"}, an empty sample each', true, [0x2a, 0x06, 0x0a, 0x02, 0x01, 0x02, 0x12, 0x00], (b) => b, sym)
  add('2.0 one series of unpacked refs', true, [0x08, 0x00], (b) => Buffer.concat([Buffer.from(sym), field(0x2a, b)]))
  add('2.0 exemplars without refs', true, [0x22, 0x00], (b) => field(0x2a, Buffer.concat([Buffer.from([0x12, 0x00]), b])))
  add('2.0 empty histograms', true, [0x1a, 0x00], (b) => field(0x2a, b))
  add('2.0 metadata records', true, [0x2a, 0x00], (b) => field(0x2a, b))
}

/**
 * In a fresh process: decodes a body file and prints as JSON its time, outcome and peak RSS
 * growth, sampled every millisecond by a worker thread while the decode blocks this one.
 */
async function decodeFile (file: string, v2: boolean): Promise<void> {
  const body = readFileSync(file)
  const codec = await createCodec()
  codec.decompress(body) // linear memory grown once, as in a receiver that has seen a large request
  const sampler = new Worker(`
    const { parentPort } = require('node:worker_threads')
    let peak = 0
    const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 1)
    parentPort.on('message', () => { clearInterval(timer); parentPort.postMessage(peak) })
    parentPort.postMessage('ready')
  `, { eval: true })
  await once(sampler, 'message')
  await new Promise((resolve) => setTimeout(resolve, 20))
  const rss0 = process.memoryUsage.rss()
  const t = performance.now()
  let outcome = 'accepted'
  try {
    if (v2) codec.decodeV2(body)
    else codec.decode(body)
  } catch (err) {
    outcome = (err as Error).message
  }
  const ms = performance.now() - t
  await new Promise((resolve) => setTimeout(resolve, 5))
  sampler.postMessage('stop')
  const [peak] = await once(sampler, 'message') as [number]
  await sampler.terminate()
  console.log(JSON.stringify({ ms, peak: Math.max(0, peak - rss0), outcome }))
}

/**
 * For each cheap record: 32 MiB of it (refused: how fast), then the largest body of it the
 * limits let through: as many records as the count limits and maxObjectBytes allow, with
 * just enough incompressible filler (an unknown field) that maxExpansion does too. Its
 * decode is the most work per compressed byte the limits allow for that record.
 */
let codec0: Codec

function worst (): void {
  const dir = mkdtempSync(join(tmpdir(), 'prw-worst-'))
  const run = (body: Uint8Array, v2: boolean): { ms: number, peak: number, outcome: string } => {
    const file = join(dir, 'body')
    writeFileSync(file, body)
    const r = spawnSync(process.execPath, [...process.execArgv, process.argv[1], '--decode', file, v2 ? '2' : '1'], { encoding: 'utf8' })
    try {
      return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { ms: number, peak: number, outcome: string }
    } catch {
      return { ms: NaN, peak: NaN, outcome: `failed: ${r.stderr.slice(-300)}` }
    }
  }
  const noise = Buffer.alloc(8 << 20)
  for (let i = 0, x = 2463534242; i < noise.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    noise[i] = x & 0xff
  }
  const body = (w: typeof WORST[number], n: number, filler: number): Uint8Array => {
    const raw = w.raw(n)
    return snappyCompress(filler === 0 ? Buffer.from(raw) : Buffer.concat([raw, field(0x7a, noise.subarray(0, filler))]))
  }
  const passes = (w: typeof WORST[number], n: number, filler: number, options: DecodeOptions): boolean => {
    const b = body(w, n, filler)
    try {
      countRecords(codec0.decompress(b), w.v2, options, b.length)
      return true
    } catch {
      return false
    }
  }
  /** The largest x in [lo, hi] with ok(x), for ok true at lo and falling (to within 1/256). */
  const largest = (lo: number, hi: number, ok: (x: number) => boolean): number => {
    if (ok(hi)) return hi
    while (hi - lo > Math.max(1, lo >> 8)) {
      const mid = Math.floor((lo + hi) / 2)
      if (ok(mid)) lo = mid
      else hi = mid
    }
    return lo
  }
  /** The smallest x in [lo, hi] with ok(x), for ok true at hi and rising. */
  const smallest = (lo: number, hi: number, ok: (x: number) => boolean): number => {
    if (ok(lo)) return lo
    while (hi - lo > Math.max(1, hi >> 8)) {
      const mid = Math.floor((lo + hi) / 2)
      if (ok(mid)) hi = mid
      else lo = mid
    }
    return hi
  }
  console.log('Per record kind: 32 MiB of it under the default limits (time, peak RSS growth, outcome), then the largest body of it')
  console.log('they let through (records plus incompressible filler), decoded in a fresh process: time, peak RSS')
  console.log('growth, and both per compressed byte.\n')
  let worstBytes = 0
  let worstTime = 0
  for (const w of WORST) {
    const max = Math.floor(((32 << 20) - 64) / w.unit)
    const full = body(w, max, 0)
    const refused = run(full, w.v2)
    console.log(`${w.name}: ${(full.length / 1e6).toFixed(2)} MB in ${refused.ms.toFixed(0)} ms, peak +${(refused.peak / 1e6).toFixed(0)} MB: ${refused.outcome.slice(0, 100)}`)
    const room = Math.floor(((22 << 20) - 64) / w.unit)
    const n = largest(0, room, (k) => passes(w, k, 0, { maxExpansion: Infinity }))
    const filler = smallest(0, noise.length, (f) => passes(w, n, f, {}))
    const edge = body(w, n, filler)
    const e = run(edge, w.v2)
    const perByte = e.peak / edge.length
    const perMicro = e.ms * 1e3 / edge.length
    if (edge.length > EXPANSION_FLOOR / DECODE_LIMITS.maxExpansion) {
      worstBytes = Math.max(worstBytes, perByte)
      worstTime = Math.max(worstTime, perMicro)
    }
    console.log(`  let through: ${n} records + ${(filler / 1e3).toFixed(0)} kB filler = ${(edge.length / 1e6).toFixed(2)} MB: ${e.ms.toFixed(0)} ms, peak +${(e.peak / 1e6).toFixed(0)} MB;` +
      ` ${perByte.toFixed(0)} B and ${perMicro.toFixed(2)} µs per compressed byte (${e.outcome.slice(0, 60)})`)
  }
  console.log(`\nworst of the bodies past the ${EXPANSION_FLOOR >> 20} MiB floor: ${worstBytes.toFixed(0)} B of peak RSS and ${worstTime.toFixed(2)} µs per compressed byte`)
  rmSync(dir, { recursive: true, force: true })
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--decode')
  if (i >= 0) await decodeFile(process.argv[i + 1], process.argv[i + 2] === '2')
  else if (process.argv.includes('--worst')) {
    codec0 = await createCodec({ maxDecodedBytes: 64 << 20 })
    worst()
  }
  else await fuzz()
}
