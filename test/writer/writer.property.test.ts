// Seeded properties of RemoteWriter: for random series (float samples, native histograms,
// exemplars, metadata), random batching limits, concurrency and buffer sizes, in Remote
// Write 1.0 and 2.0 and with protocol 'auto' against a 1.0-only server, every float sample,
// histogram and exemplar reaches the receiver exactly once, send()/close() account for all
// of them, and nothing is left buffered or reported failed.
import fc from 'fast-check'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { beforeAll, describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import { nativeHistogram } from '../../src/codec/histogram.js'
import { startReceiver } from '../../src/commands/receiver.js'
import type { DecodedItem, Exemplar, Item } from '../../src/types.js'
import { RemoteWriter } from '../../src/writer/writer.js'

const T = 1_700_000_000_000
/**
 * Per-run limit: a hang is a failure fast-check can shrink, not a test timeout. (Shrinking
 * itself stops after interruptAfterTimeLimit and reports the smallest case found so far.)
 */
const RUN_TIMEOUT = 15_000
const V2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request'

// ---- generators ------------------------------------------------------------------------------

interface SeriesSpec {
  name: string
  extra: Record<string, string>
  samples: ReadonlyArray<{ gap: number, value: number }>
  histograms: ReadonlyArray<{ gap: number, schema: number, sum: number, positive: Record<string, number> }>
  exemplars: ReadonlyArray<{ trace: string, value: number, ts: number }>
  help: string | undefined
}

const arbLabelName = fc.stringMatching(/^[a-z][a-z0-9_]{0,7}$/).filter((s) => s !== 'id')
const arbLabelValue = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 })
const arbValue = fc.double() // NaN, ±0 and ±Infinity included: compared bit for bit

const arbSeries: fc.Arbitrary<SeriesSpec> = fc.record({
  name: fc.constantFrom('m_a', 'm_b', 'm_c', 'requests_total'),
  extra: fc.dictionary(arbLabelName, arbLabelValue, { maxKeys: 3 }),
  samples: fc.array(fc.record({ gap: fc.integer({ min: 1, max: 15_000 }), value: arbValue }), { maxLength: 60, size: 'max' }),
  histograms: fc.oneof(
    { weight: 2, arbitrary: fc.constant([]) },
    {
      weight: 1,
      arbitrary: fc.array(fc.record({
        gap: fc.integer({ min: 1, max: 15_000 }),
        schema: fc.integer({ min: 0, max: 3 }),
        sum: fc.double({ noNaN: true, min: -1e6, max: 1e6 }),
        positive: fc.dictionary(fc.integer({ min: -5, max: 10 }).map(String), fc.integer({ min: 1, max: 100 }), { minKeys: 1, maxKeys: 5 }),
      }), { minLength: 1, maxLength: 5 }),
    },
  ),
  exemplars: fc.oneof(
    { weight: 2, arbitrary: fc.constant([]) },
    {
      weight: 1,
      arbitrary: fc.array(fc.record({
        trace: fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 1, maxLength: 32 }),
        value: fc.double({ noNaN: true }),
        ts: fc.integer({ min: -100_000, max: 100_000 }),
      }), { minLength: 1, maxLength: 3 }),
    },
  ),
  help: fc.option(fc.string({ unit: 'grapheme', maxLength: 24 }), { nil: undefined }),
})

/** Builds the items: distinct label sets (by `id`), every item with samples or histograms. */
function buildItems (specs: SeriesSpec[]): Item[] {
  return specs.map((s, i) => {
    let ts = T
    const timestamps: number[] = []
    const values: number[] = []
    for (const x of s.samples) {
      ts += x.gap
      timestamps.push(ts)
      values.push(x.value)
    }
    let hts = T
    const histograms = s.histograms.map((h) => {
      hts += h.gap
      return nativeHistogram({ timestamp: hts, schema: h.schema, sum: h.sum, positive: Object.fromEntries(Object.entries(h.positive).map(([k, v]) => [Number(k), v])) })
    })
    if (values.length === 0 && histograms.length === 0) {
      // An item must carry samples or histograms: give it one sample.
      timestamps.push(T + 1)
      values.push(i)
    }
    const item: Item = { metric: { ...s.extra, __name__: s.name, id: String(i) }, values, timestamps }
    if (histograms.length > 0) item.histograms = histograms
    if (s.exemplars.length > 0) {
      item.exemplars = s.exemplars.map((x): Exemplar => ({ labels: { trace_id: x.trace }, value: x.value, timestamp: T + x.ts }))
    }
    if (s.help !== undefined) item.metadata = { type: 'gauge', help: s.help }
    return item
  })
}

const arbItems = fc.array(arbSeries, { minLength: 1, maxLength: 30, size: 'max' }).map(buildItems)

const arbOptions = fc.record({
  concurrency: fc.integer({ min: 1, max: 4 }),
  maxSamplesPerRequest: fc.integer({ min: 3, max: 50 }),
  maxBytesPerRequest: fc.integer({ min: 2048, max: 65536 }),
  maxBufferedSamples: fc.integer({ min: 10, max: 500 }),
  /** Receiver delay per answer (ms), so that writes overlap requests in flight. */
  latency: fc.constantFrom(0, 0, 1, 3),
  /** Sends from the I/O thread (pipelined per shard) or from the calling thread. */
  ioThread: fc.boolean(),
})

/** How the items are handed over: one send(), or write() calls of these chunk sizes. */
const arbMode = fc.oneof(
  fc.constant({ kind: 'send' as const, chunks: [] as number[] }),
  fc.record({ kind: fc.constant('write' as const), chunks: fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 30 }) }),
)
type Mode = { kind: 'send', chunks: number[] } | { kind: 'write', chunks: number[] }

// ---- comparing what arrived --------------------------------------------------------------

const scratch = new Float64Array(1)
const scratchBits = new BigUint64Array(scratch.buffer)
function bits (x: number): string {
  scratch[0] = x
  return scratchBits[0].toString(16)
}

const keyOf = (labels: Record<string, string>): string => JSON.stringify(Object.entries(labels).filter(([, v]) => v !== '').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))

interface Seen { samples: string[], histograms: string[], exemplars: string[] }

function summarize (series: Iterable<{ labels: Record<string, string>, timestamps: ArrayLike<number | bigint>, values: ArrayLike<number>, histograms?: readonly { timestamp: number, count: number, sum: number }[], exemplars?: readonly Exemplar[] }>): Map<string, Seen> {
  const out = new Map<string, Seen>()
  for (const s of series) {
    const k = keyOf(s.labels)
    let seen = out.get(k)
    if (seen === undefined) {
      seen = { samples: [], histograms: [], exemplars: [] }
      out.set(k, seen)
    }
    for (let i = 0; i < s.values.length; i++) seen.samples.push(`${Number(s.timestamps[i])}:${bits(s.values[i])}`)
    for (const h of s.histograms ?? []) seen.histograms.push(`${h.timestamp}:${h.count}:${bits(h.sum)}`)
    for (const x of s.exemplars ?? []) seen.exemplars.push(`${x.labels?.trace_id}@${x.timestamp}:${bits(x.value)}`)
  }
  for (const seen of out.values()) {
    seen.samples.sort()
    seen.histograms.sort()
    seen.exemplars.sort()
  }
  // A series record that carried nothing (e.g. only metadata) is not data.
  for (const [k, seen] of out) if (seen.samples.length + seen.histograms.length + seen.exemplars.length === 0) out.delete(k)
  return out
}

const expected = (items: Item[]): Map<string, Seen> => summarize(items.map((it) => ({
  labels: it.metric as Record<string, string>, timestamps: it.timestamps as number[], values: it.values as number[], histograms: it.histograms, exemplars: it.exemplars,
})))
const received = (got: DecodedItem[]): Map<string, Seen> => summarize(got.map((it) => ({ ...it, labels: it.metric })))

function totals (items: Item[]): { samples: number, histograms: number, exemplars: number } {
  let samples = 0
  let histograms = 0
  let exemplars = 0
  for (const it of items) {
    samples += it.values.length
    histograms += it.histograms?.length ?? 0
    exemplars += it.exemplars?.length ?? 0
  }
  return { samples, histograms, exemplars }
}

// ---- one run -----------------------------------------------------------------------------------

/** Hands the items to the writer as `mode` says, closes it, and checks its accounting. */
async function deliver (w: RemoteWriter, items: Item[], mode: Mode): Promise<void> {
  const t = totals(items)
  if (mode.kind === 'send') {
    const r = await w.send(items)
    expect(r.samples).toBe(t.samples + t.histograms)
  } else {
    let at = 0
    let c = 0
    while (at < items.length) {
      const n = mode.chunks[c++ % mode.chunks.length]
      const chunk = items.slice(at, at + n)
      at += n
      if (!w.write(chunk.length === 1 && c % 2 === 0 ? chunk[0] : chunk)) await w.ready()
    }
  }
  const summary = await w.close()
  expect(summary.samples).toBe(t.samples + t.histograms)
  expect(summary.failed.samples).toBe(0)
  const st = w.stats()
  expect(st.buffered).toEqual({ samples: 0, bytes: 0 })
  expect(st.failed.samples).toBe(0)
  expect(st.inFlight).toBe(0)
}

/** Runs `body` with a time limit, aborting the writer's signal when it is exceeded. */
async function limited (ac: AbortController, body: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort(new Error('run timed out'))
      reject(new Error(`run did not finish within ${RUN_TIMEOUT} ms (hang)`))
    }, RUN_TIMEOUT)
  })
  try {
    await Promise.race([body(), timeout])
  } finally {
    clearTimeout(timer)
  }
}

let v1OnlyServers = 0

/** The 1.0-only server of the 'auto' property: 415 to 2.0, 204 to decodable 1.0 bodies. */
async function startV1Only (latency: number, onItems: (items: DecodedItem[]) => void): Promise<{ url: string, stats: () => { v2: number, v1: number, rejected: number }, close: () => Promise<void> }> {
  const codec = await createCodec()
  const stats = { v2: 0, v1: 0, rejected: 0 }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => setTimeout(() => {
      if (req.headers['content-type'] === V2_TYPE) {
        stats.v2++
        res.writeHead(415, { 'content-type': 'text/plain' })
        res.end('Remote Write 1.0 only\n')
        return
      }
      stats.v1++
      let items: DecodedItem[]
      try {
        items = codec.decode(Buffer.concat(chunks), { strict: true })
      } catch (err) {
        stats.rejected++
        res.writeHead(400, { 'content-type': 'text/plain' })
        res.end(`${(err as Error).message}\n`)
        return
      }
      onItems(items)
      res.writeHead(204)
      res.end()
    }, latency))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    // A path of its own: the writer remembers 1.0-only endpoints by URL, and ports are reused.
    url: `http://127.0.0.1:${port}/v1-only-${++v1OnlyServers}`,
    stats: () => ({ ...stats }),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}

// ---- the properties --------------------------------------------------------------------------

describe('RemoteWriter: nothing lost, nothing duplicated, everything accounted for (seeded properties)', () => {
  beforeAll(async () => {
    await RemoteWriter.init()
  })

  it('1.0 and 2.0 to the built-in receiver (seed 20260311)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('v1' as const, 'v2' as const), arbOptions, arbItems, arbMode,
      async (protocol, opts, items, mode) => {
        const got: DecodedItem[] = []
        const { latency, ...limits } = opts
        const rx = await startReceiver({ latency, onItems: (its) => got.push(...its) })
        const ac = new AbortController()
        try {
          await limited(ac, async () => {
            const w = new RemoteWriter({ url: rx.url, protocol, ...limits, flushInterval: 60_000, signal: ac.signal })
            await deliver(w, items, mode)
          })
          const t = totals(items)
          const s = rx.stats()
          expect(s.rejected).toBe(0)
          expect([s.samples, s.histograms, s.exemplars]).toEqual([t.samples, t.histograms, t.exemplars])
          expect(received(got)).toEqual(expected(items))
        } finally {
          ac.abort()
          await rx.close()
        }
      },
    ), { seed: 20260311, numRuns: 40, interruptAfterTimeLimit: 40_000 })
  })

  it("'auto' against a 1.0-only server: everything arrives once, as 1.0 (seed 20260312)", async () => {
    await fc.assert(fc.asyncProperty(
      arbOptions, arbItems, arbMode,
      async (opts, items, mode) => {
        const got: DecodedItem[] = []
        const { latency, ...limits } = opts
        const server = await startV1Only(latency, (its) => got.push(...its))
        const ac = new AbortController()
        try {
          await limited(ac, async () => {
            const w = new RemoteWriter({ url: server.url, protocol: 'auto', ...limits, flushInterval: 60_000, signal: ac.signal })
            await deliver(w, items, mode)
          })
          const s = server.stats()
          expect(s.rejected).toBe(0)
          expect(s.v2).toBeGreaterThan(0) // it did try 2.0 first
          expect(received(got)).toEqual(expected(items))
        } finally {
          ac.abort()
          await server.close()
        }
      },
    ), { seed: 20260312, numRuns: 30, interruptAfterTimeLimit: 40_000 })
  })
})
