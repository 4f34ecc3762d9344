// RemoteWriter with a durable spool (the `spool` option), at the writer's level, against real
// loopback receivers: the scriptable fake server (test/support/fake-server.ts, which decodes
// every body independently of src/) and, for the outage, a closed port. What is checked is
// what the spool promises: flush() means on disk, close({ timeout }) leaves what was not
// acknowledged for the next writer (not failed), a new writer on the directory replays it
// first and in order per series, and whatever a policy drops (onFull 'dropOldest', maxAge, a
// damaged record) is reported as a BatchError with its reason, exactly the samples missing at
// the receiver, never sent.
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { BatchError, InvalidArgumentError, LostDataError, RemoteWriter, SpoolError } from '../../src/index.js'
import type { Item, RemoteWriterOptions, SpoolOptions, WriterSummary } from '../../src/index.js'
import { HEADER_BYTES } from '../../src/spool/record.js'
import { accepted, deadUrl, decodeBody, gate, startReceiver } from '../support/fake-server.js'
import type { CapturedRequest, Handler, Receiver, ReceivedSeries } from '../support/fake-server.js'
import { bitsOf, rng, thrown } from '../support/helpers.js'

const T0 = 1_700_000_000_000
const MiB = 1 << 20
const V1_TYPE = 'application/x-protobuf'
const V2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request'
/** Retries fast: a down receiver is tried again every few ms. */
const FAST = { minBackoff: 5, maxBackoff: 50 } as const

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})
beforeAll(async () => { await RemoteWriter.init() })

/** A fresh spool directory under the OS temp dir, removed after the test. */
function tempDir (): string {
  const dir = mkdtempSync(join(tmpdir(), 'prw-spool-'))
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function receiver (handler?: Handler): Promise<Receiver> {
  const rx = await startReceiver({ handler })
  cleanup.push(() => rx.close())
  return rx
}

/** A writer closed (abruptly, if the test did not close it) after the test. */
function writer (opts: RemoteWriterOptions): RemoteWriter {
  const w = new RemoteWriter(opts)
  w.on('warning', () => {}) // tests that care listen themselves; none go to the process
  cleanup.push(() => bounded(w.close({ timeout: 0 })))
  return w
}

/** Waits for a promise at most a few seconds, ignoring its outcome (cleanup must not hang). */
async function bounded (p: Promise<unknown>, ms = 3000): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([p.catch(() => {}), new Promise((resolve) => { timer = setTimeout(resolve, ms) })])
  clearTimeout(timer)
}

const segments = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.seg')).sort()

/** A series' identity: its labels, order-independent. */
const keyOf = (labels: Record<string, string>): string => JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))

/** Samples per series, in the order written (or received): "ts:valuebits". */
class Samples {
  readonly map = new Map<string, string[]>()
  add (labels: Record<string, string>, ts: ArrayLike<number>, bits: (i: number) => bigint): void {
    const k = keyOf(labels)
    let list = this.map.get(k)
    if (list === undefined) this.map.set(k, (list = []))
    for (let i = 0; i < ts.length; i++) list.push(`${ts[i]}:${bits(i).toString(16)}`)
  }

  addItems (items: readonly Item[]): void {
    for (const it of items) {
      const values = it.values as number[]
      this.add(it.metric as Record<string, string>, it.timestamps as number[], (i) => bitsOf(values[i]))
    }
  }

  addReceived (items: readonly ReceivedSeries[]): void {
    for (const it of items) this.add(it.labels, it.timestamps, (i) => it.bits[i])
  }

  get count (): number {
    let n = 0
    for (const l of this.map.values()) n += l.length
    return n
  }

  /** Every (series, sample) as one string, for set comparisons. */
  set (): Set<string> {
    const out = new Set<string>()
    for (const [k, l] of this.map) for (const s of l) out.add(`${k}@${s}`)
    return out
  }
}

/** What the fake server accepted as Remote Write 1.0, per series in arrival order. */
function received (rx: Receiver, filter: (r: CapturedRequest) => boolean = () => true): Samples {
  const out = new Samples()
  for (const r of rx.requests) {
    if (!accepted(r) || !filter(r)) continue
    expect(r.decodeError).toBeUndefined()
    expect(r.headers['content-type']).toBe(V1_TYPE)
    out.addReceived(r.items)
  }
  return out
}

/** Compares per series, order included (arrival order must be the order written). */
function expectSameSeries (got: Samples, want: Samples): void {
  expect(got.map.size).toBe(want.map.size)
  for (const [k, list] of want.map) {
    const g = got.map.get(k)
    if (g === undefined) expect.fail(`series ${k} never arrived`)
    expect(g, `series ${k}`).toEqual(list)
  }
}

/** `rounds` rounds of one sample per series (`series` of them), random values, from a seed. */
function rounds (seed: number, series: number, n: number, from = 0, name = 'spool_test'): Item[][] {
  const r = rng(seed)
  return Array.from({ length: n }, (_, t) => Array.from({ length: series }, (_, s): Item => ({
    metric: { __name__: name, s: String(s) },
    values: [(r() - 0.5) * 1e6],
    timestamps: [T0 + (from + t) * 1000],
  })))
}

/** Writes chunks, waiting when the writer is full. */
async function writeAll (w: RemoteWriter, chunks: Item[][]): Promise<void> {
  for (const c of chunks) if (!w.write(c)) await w.ready()
}

async function until (what: () => boolean, ms: number, label: string): Promise<void> {
  const end = Date.now() + ms
  while (!what()) {
    if (Date.now() > end) expect.fail(`timed out waiting for ${label}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * Phase one of most tests: a writer whose receiver is down writes `chunks`, flush() makes them
 * durable, close({ timeout }) leaves them in the spool. Returns the model of what was written.
 */
async function spoolDuringOutage (dir: string, chunks: Item[][], opts: Partial<RemoteWriterOptions> = {}, spool: Partial<SpoolOptions> = {}): Promise<{ written: Samples, summary: WriterSummary }> {
  const w = writer({ url: await deadUrl(), ...FAST, maxSamplesPerRequest: 100, ...opts, spool: { dir, maxBytes: 64 * MiB, ...spool } })
  const errors: BatchError[] = []
  w.on('error', (e: BatchError) => errors.push(e))
  const written = new Samples()
  for (const c of chunks) written.addItems(c)
  await writeAll(w, chunks)
  await w.flush() // durable: it must not wait for the receiver that is down
  expect(w.stats().spool?.pending.samples).toBe(written.count)
  expect(w.stats().sent.samples).toBe(0)
  const summary = await w.close({ timeout: 300 })
  expect(errors).toEqual([])
  expect(summary.samples).toBe(0)
  expect(summary.failed.samples).toBe(0)
  expect(summary.left?.samples).toBe(written.count)
  expect(segments(dir).length).toBeGreaterThan(0)
  return { written, summary }
}

describe('spool options', () => {
  const url = 'http://127.0.0.1:9/api/v1/write'
  // Each case builds the option for a directory that must not come to exist.
  const cases: Array<[string, (dir: string) => unknown, string]> = [
    ['missing maxBytes', (dir) => ({ dir }), 'spool.maxBytes'],
    ['maxBytes below 1 MiB', (dir) => ({ dir, maxBytes: MiB - 1 }), 'spool.maxBytes'],
    ['maxBytes not an integer', (dir) => ({ dir, maxBytes: 1.5 * MiB + 0.5 }), 'spool.maxBytes'],
    ['bad sync', (dir) => ({ dir, maxBytes: MiB, sync: 'sometimes' }), 'spool.sync'],
    ['bad onFull', (dir) => ({ dir, maxBytes: MiB, onFull: 'dropNewest' }), 'spool.onFull'],
    ['unknown key', (dir) => ({ dir, maxBytes: MiB, maxage: 5 }), 'spool option maxage'],
    ['empty dir', () => ({ dir: '', maxBytes: MiB }), 'spool.dir'],
    ['missing dir', () => ({ maxBytes: MiB }), 'spool.dir'],
    ['maxAge 0', (dir) => ({ dir, maxBytes: MiB, maxAge: 0 }), 'spool.maxAge'],
    ['segmentBytes below 4096', (dir) => ({ dir, maxBytes: MiB, segmentBytes: 4095 }), 'spool.segmentBytes'],
    ['not an object', (dir) => dir, 'spool'],
  ]
  it.each(cases)('%s: InvalidArgumentError naming the field, nothing created on disk', (_, spool, field) => {
    const parent = tempDir()
    const err = thrown(() => new RemoteWriter({ url, spool: spool(join(parent, 'never')) as SpoolOptions }))
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as Error).message).toContain(`invalid ${field}:`)
    expect(readdirSync(parent)).toEqual([])
  })

  it('a good spool option is taken (the directory is created, locked, and released on close)', async () => {
    const dir = join(tempDir(), 'made')
    const w = new RemoteWriter({ url, spool: { dir, maxBytes: MiB, maxAge: 1000, sync: 'always', onFull: 'dropOldest', segmentBytes: 4096 } })
    expect(readdirSync(dir)).toContain('lock')
    expect(w.stats().spool).toMatchObject({ dir, maxBytes: MiB, bytes: 0, pending: { requests: 0, samples: 0 } })
    await w.close()
    expect(readdirSync(dir)).not.toContain('lock')
    expect(segments(dir)).toEqual([])
  })
})

describe('outage, then replay', () => {
  it('flush() is durable during an outage; close({ timeout }) leaves everything in the spool; a new writer replays it exactly', async () => {
    const dir = tempDir()
    const chunks = rounds(11, 40, 50) // 2000 samples over 40 series, ~20 requests over 4 shards
    const K = 2000
    const { written } = await spoolDuringOutage(dir, chunks)
    expect(written.count).toBe(K)

    const rx = await receiver()
    const w = writer({ url: rx.url, ...FAST, maxSamplesPerRequest: 100, spool: { dir, maxBytes: 64 * MiB } })
    const events: Array<Record<string, unknown>> = []
    const errors: BatchError[] = []
    w.on('spool', (e: Record<string, unknown>) => events.push(e))
    w.on('error', (e: BatchError) => errors.push(e))
    const summary = await w.close()
    expect(errors).toEqual([])
    expect(events.length).toBe(1)
    expect(events[0]).toMatchObject({ event: 'replay', dir, samples: K })
    const st = w.stats().spool
    expect(st?.found.samples).toBe(K)
    expect(st?.found.requests).toBe(events[0].requests)
    expect(st?.replayed).toEqual(st === undefined ? undefined : { requests: st.found.requests, samples: K })
    expect(st?.pending).toEqual({ requests: 0, series: 0, samples: 0, bytes: 0 })
    expect(summary.samples).toBe(K)
    expect(summary.failed.samples).toBe(0)
    expect(summary.left?.samples).toBe(0)
    // Exactly the samples written, bit for bit, each series in order, nothing twice.
    expectSameSeries(received(rx), written)
    expect(rx.requests.every(accepted)).toBe(true)
    expect(segments(dir)).toEqual([])
    expect(readdirSync(dir)).not.toContain('lock')
  }, 15_000)

  it.each([[4, true], [3, true], [3, false]])('new writes after the replay go out after the replayed ones, per series (replaying writer has concurrency %i; writes before the replay began: %s)', async (concurrency, early) => {
    const dir = tempDir()
    const old = rounds(21, 24, 30) // timestamps 0..29 s; 36 requests of 20 samples over 4 shards
    const { written } = await spoolDuringOutage(dir, old, { concurrency: 4, maxSamplesPerRequest: 20 })

    // Each answer takes 20 ms: the replay lasts a while, and new requests are sealed during it.
    const rx = await receiver(() => ({ status: 204, delayMs: 20 }))
    const w = writer({ url: rx.url, ...FAST, concurrency, maxSamplesPerRequest: 50, spool: { dir, maxBytes: 64 * MiB } })
    const errors: BatchError[] = []
    w.on('error', (e: BatchError) => errors.push(e))
    // Before the replay has even begun (it starts on the next tick): sealed and spooled behind it.
    const a = early ? rounds(22, 24, 5, 30) : []
    for (const c of a) w.write(c)
    void w.flush()
    // As the replay begins.
    const b = early ? rounds(23, 24, 5, 35) : []
    w.once('spool', () => { for (const c of b) w.write(c) })
    // While it runs: a request sealed every 10 ms or so.
    const c = rounds(24, 24, 20, 40)
    for (const chunk of c) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      if (!w.write(chunk)) await w.ready()
      void w.flush()
    }
    expect(w.stats().spool?.pending.requests).toBeGreaterThan(0) // it was still replaying
    for (const chunk of [...a, ...b, ...c]) written.addItems(chunk)
    const summary = await w.close()
    expect(errors).toEqual([])
    expect(summary.samples).toBe(written.count)
    expect(w.stats().spool?.replayed.samples).toBe(24 * 30)
    // Per series: arrival order is timestamp order, and it is exactly what was written.
    const got = received(rx)
    for (const [k, list] of got.map) {
      const ts = list.map((s) => Number(s.split(':')[0]))
      for (let i = 1; i < ts.length; i++) if (ts[i] <= ts[i - 1]) expect.fail(`series ${k}: timestamp ${ts[i]} arrived after ${ts[i - 1]}`)
    }
    expectSameSeries(got, written)
    expect(segments(dir)).toEqual([])
  }, 15_000)
})

describe('send() and flush() with a spool', () => {
  it('send() resolves with what was acknowledged, also when its requests waited on disk behind a replay', async () => {
    const dir = tempDir()
    const { written } = await spoolDuringOutage(dir, rounds(31, 10, 20))

    const rx = await receiver()
    const w = writer({ url: rx.url, ...FAST, maxSamplesPerRequest: 40, spool: { dir, maxBytes: 64 * MiB } })
    const mine = rounds(32, 10, 12, 20).flat()
    const result = await w.send(mine)
    // Everything of the call is acknowledged by now: its requests are among those accepted.
    expect(result.samples).toBe(120)
    const own = (r: CapturedRequest): boolean => r.items.some((it) => it.timestamps[0] >= T0 + 20_000)
    const ownRequests = rx.requests.filter((r) => accepted(r) && own(r))
    expect(result.requests).toBe(ownRequests.length)
    expect(result.series).toBe(ownRequests.reduce((n, r) => n + r.items.length, 0))
    const ownSamples = new Samples()
    ownSamples.addItems(mine)
    expectSameSeries(received(rx, own), ownSamples)
    const summary = await w.close()
    written.addItems(mine)
    expect(summary.samples).toBe(written.count)
    expectSameSeries(received(rx), written)
  }, 15_000)

  it('flush() waits for the disk, not for a slow receiver; flush({ acknowledged: true }) waits for it', async () => {
    const dir = tempDir()
    const rx = await receiver(() => ({ status: 204, delayMs: 2000 }))
    // At most one request per shard: acknowledging everything takes one delay.
    const w = writer({ url: rx.url, ...FAST, maxSamplesPerRequest: 1000, spool: { dir, maxBytes: 64 * MiB } })
    const chunks = rounds(41, 20, 20)
    await writeAll(w, chunks)
    let t = Date.now()
    await w.flush()
    const quick = Date.now() - t
    // Nothing is acknowledged yet, and the requests are on disk.
    expect(w.stats().sent.requests).toBe(0)
    expect(w.stats().spool?.pending.samples).toBe(400)
    expect(w.stats().spool?.syncs).toBeGreaterThan(0)
    expect(quick).toBeLessThan(1500)
    t = Date.now()
    await w.flush({ acknowledged: true })
    expect(Date.now() - t).toBeGreaterThan(1000)
    expect(w.stats().sent.samples).toBe(400)
    expect(w.stats().spool?.pending).toEqual({ requests: 0, series: 0, samples: 0, bytes: 0 })
    const written = new Samples()
    for (const c of chunks) written.addItems(c)
    expectSameSeries(received(rx), written)
    await w.close()
  }, 15_000)
})

describe("onFull 'dropOldest'", () => {
  it('keeps the spool within maxBytes during an outage; what it dropped is reported, and is exactly what never arrives', async () => {
    const dir = tempDir()
    const maxBytes = MiB
    const spool: SpoolOptions = { dir, maxBytes, segmentBytes: 64 << 10, onFull: 'dropOldest' }
    // One shard and 1000 samples per request: each round below is one request, and each
    // round's growth of the spool is one request's bytes.
    const opts = { ...FAST, concurrency: 1, maxSamplesPerRequest: 1000 }
    const w = writer({ url: await deadUrl(), ...opts, spool })
    const errors: BatchError[] = []
    w.on('error', (e: BatchError) => errors.push(e))
    const r = rng(51)
    // Label sets used in one round only, 10 samples each: a request holds whole label sets, so
    // a label set (`round`/`s`) arrives or is dropped whole. Random values: poorly compressible.
    const ROUNDS = 200
    const SETS = 100
    const written = new Map<string, { values: Float64Array, ts: number[] }>()
    let biggest = 0
    let appended = 0
    let peak = 0
    for (let round = 0; round < ROUNDS; round++) {
      const items = Array.from({ length: SETS }, (_, s): Item => {
        const values = Float64Array.from({ length: 10 }, () => (r() - 0.5) * 2 ** (r() * 60))
        const ts = Array.from({ length: 10 }, (_, j) => T0 + round * 10 + j)
        written.set(`${round}/${s}`, { values, ts })
        return { metric: { __name__: 'spool_drop', s: String(s), round: String(round) }, values, timestamps: ts }
      })
      if (!w.write(items)) await w.ready()
      const st = w.stats().spool
      if (st === undefined) throw new Error('no spool stats')
      biggest = Math.max(biggest, st.appended.bytes - appended)
      appended = st.appended.bytes
      peak = Math.max(peak, st.bytes)
      if (st.bytes > maxBytes + biggest) expect.fail(`round ${round}: the spool holds ${st.bytes} bytes, past maxBytes ${maxBytes} + one request (${biggest})`)
      if (round % 25 === 0) await new Promise((resolve) => setImmediate(resolve))
    }
    await w.flush()
    const st = w.stats().spool
    expect(st?.appended.requests).toBe(ROUNDS)
    expect(st?.appended.bytes).toBeGreaterThan(2 * maxBytes) // much more than the spool may hold
    expect(peak).toBeGreaterThan(maxBytes - 2 * biggest) // and it did fill up
    expect(errors.length).toBeGreaterThan(0)
    for (const e of errors) {
      expect(e).toBeInstanceOf(BatchError)
      expect(e.reason).toBe('spool-full')
    }
    const droppedSamples = errors.reduce((n, e) => n + e.sampleCount, 0)
    expect(st?.dropped).toEqual({ requests: errors.length, samples: droppedSamples })
    const closed = await w.close({ timeout: 300 }).then(() => expect.fail('close() resolved'), (e: unknown) => e)
    expect(closed).toBeInstanceOf(LostDataError)
    const s1 = (closed as LostDataError).summary
    expect(s1.samples).toBe(0)
    expect(s1.failed.samples).toBe(droppedSamples)
    expect((s1.left?.samples ?? 0) + droppedSamples).toBe(ROUNDS * SETS * 10)

    // What was reported dropped: whole label sets, each once, each as written.
    const dropped = new Set<string>()
    for (const e of errors) {
      for (const f of e.series) {
        const id = `${f.labels.round}/${f.labels.s}`
        if (!written.has(id) || dropped.has(id)) expect.fail(`label set ${id} reported dropped twice, or never written`)
        if (keyOf(f.labels) !== keyOf({ __name__: 'spool_drop', s: f.labels.s, round: f.labels.round }) || f.samples !== 10) {
          expect.fail(`a dropped label set as it was not written: ${JSON.stringify(f)}`)
        }
        dropped.add(id)
      }
    }
    expect(dropped.size * 10).toBe(droppedSamples)

    const rx = await receiver()
    const w2 = writer({ url: rx.url, ...opts, spool })
    const errors2: BatchError[] = []
    w2.on('error', (e: BatchError) => errors2.push(e))
    const s2 = await w2.close()
    expect(errors2).toEqual([])
    expect(w2.stats().spool?.replayed.samples).toBe(s1.left?.samples)
    // What arrived: each label set once, bit for bit as written, none of them reported dropped.
    const arrived = new Set<string>()
    for (const req of rx.requests) {
      if (!accepted(req) || req.decodeError !== undefined) expect.fail(`request ${req.n}: ${req.decodeError ?? req.status}`)
      for (const it of req.items) {
        const id = `${it.labels.round}/${it.labels.s}`
        const want = written.get(id)
        if (want === undefined || arrived.has(id)) expect.fail(`label set ${id} arrived twice, or was never written`)
        if (dropped.has(id)) expect.fail(`label set ${id} arrived and was reported dropped`)
        const bits = new BigUint64Array(want.values.buffer)
        if (keyOf(it.labels) !== keyOf({ __name__: 'spool_drop', s: it.labels.s, round: it.labels.round }) ||
          it.timestamps.join() !== want.ts.join() || it.bits.join() !== bits.join()) {
          expect.fail(`label set ${id} arrived other than written: ${JSON.stringify(it.pairs)} ${it.timestamps.join()} ${it.bits.join()}`)
        }
        arrived.add(id)
      }
    }
    expect(s2.samples).toBe(arrived.size * 10)
    // Together, exactly what was written: every label set arrived or was reported dropped.
    expect(arrived.size + dropped.size).toBe(written.size)
    for (const id of written.keys()) if (!arrived.has(id) && !dropped.has(id)) expect.fail(`label set ${id} is lost silently`)
    expect(segments(dir)).toEqual([])
  }, 15_000)
})
describe('maxAge', () => {
  it('requests older than maxAge are dropped during an outage, each reported expired', async () => {
    const dir = tempDir()
    const w = writer({ url: await deadUrl(), ...FAST, maxSamplesPerRequest: 50, spool: { dir, maxBytes: 64 * MiB, maxAge: 200 } })
    const errors: BatchError[] = []
    w.on('error', (e: BatchError) => errors.push(e))
    const chunks = rounds(61, 16, 40) // 640 samples, ~13 requests, some handed to the sender, most on disk
    const written = new Samples()
    for (const c of chunks) written.addItems(c)
    await writeAll(w, chunks)
    await w.flush()
    await until(() => errors.reduce((n, e) => n + e.sampleCount, 0) >= written.count, 5000, 'every request to expire')
    await new Promise((resolve) => setTimeout(resolve, 100)) // nothing more comes
    expect(errors.every((e) => e.reason === 'expired')).toBe(true)
    expect(errors.reduce((n, e) => n + e.sampleCount, 0)).toBe(written.count)
    const st = w.stats().spool
    expect(st?.expired).toEqual({ requests: errors.length, samples: written.count })
    expect(st?.dropped.samples).toBe(0)
    expect(st?.pending).toEqual({ requests: 0, series: 0, samples: 0, bytes: 0 })
    // The errors name the series, with their counts (read back from disk for those that were there).
    const perSeries = new Map<string, number>()
    for (const e of errors) for (const f of e.series) perSeries.set(keyOf(f.labels), (perSeries.get(keyOf(f.labels)) ?? 0) + f.samples)
    expect(perSeries).toEqual(new Map([...written.map].map(([k, l]) => [k, l.length])))
    const closed = await w.close().then(() => expect.fail('close() resolved'), (e: unknown) => e)
    expect(closed).toBeInstanceOf(LostDataError)
    expect((closed as LostDataError).summary.failed.samples).toBe(written.count)
    expect((closed as LostDataError).summary.left?.samples).toBe(0)
    expect(segments(dir)).toEqual([])
  }, 15_000)

  it('while a request hangs on the wire, the ones queued behind it expire (the sweep); the one on the wire is not dropped', async () => {
    const dir = tempDir()
    const answer = gate()
    const rx = await receiver(async () => { await answer.wait })
    // One shard, sent from this thread: exactly one request (the first 50 samples) is on the wire.
    const w = writer({ url: rx.url, ...FAST, ioThread: false, concurrency: 1, timeout: 10_000, maxSamplesPerRequest: 50, spool: { dir, maxBytes: 64 * MiB, maxAge: 200, segmentBytes: 4096 } })
    const errors: BatchError[] = []
    w.on('error', (e: BatchError) => errors.push(e))
    const chunks = rounds(62, 16, 40) // 640 samples: 13 requests
    const order: string[] = []
    for (const c of chunks) for (const it of c) order.push(`${keyOf(it.metric as Record<string, string>)}@${(it.timestamps as number[])[0]}:${bitsOf((it.values as number[])[0]).toString(16)}`)
    await writeAll(w, chunks)
    await w.flush()
    await until(() => rx.requests.length === 1, 5000, 'the first request to reach the receiver')
    const behind = order.length - 50
    await until(() => errors.reduce((n, e) => n + e.sampleCount, 0) >= behind, 5000, 'the requests behind it to expire')
    expect(errors.every((e) => e.reason === 'expired')).toBe(true)
    expect(errors.reduce((n, e) => n + e.sampleCount, 0)).toBe(behind)
    expect(w.stats().spool?.expired.samples).toBe(behind)
    expect(rx.requests.length).toBe(1)
    answer.open() // the request on the wire is accepted, late
    const closed = await w.close().then(() => expect.fail('close() resolved'), (e: unknown) => e)
    expect(closed).toBeInstanceOf(LostDataError)
    const summary = (closed as LostDataError).summary
    expect(summary.samples).toBe(50)
    expect(summary.failed.samples).toBe(behind)
    expect(rx.requests.length).toBe(1)
    expect([...received(rx).set()].sort()).toEqual(order.slice(0, 50).sort())
    expect(segments(dir)).toEqual([])
  }, 15_000)
})

describe("protocol 'auto' replaying a 2.0 spool", () => {
  const v1Only: Array<[string, Handler]> = [
    ['answering 415 to 2.0', (r) => ({ status: r.headers['content-type'] === V2_TYPE ? 415 : 204 })],
    ['answering 204 without written counts', () => ({ status: 204 })],
  ]
  it.each(v1Only)('against a 1.0-only receiver (%s): everything arrives as 1.0', async (_, handler) => {
    const dir = tempDir()
    const { written } = await spoolDuringOutage(dir, rounds(71, 20, 30), { protocol: 'v2' })
    // The spool holds 2.0 requests: flag bit 0 of every record.
    for (const name of segments(dir)) {
      const buf = readFileSync(join(dir, name))
      for (let at = 0; at < buf.length; at += HEADER_BYTES + buf.readUInt32LE(at + 8)) expect(buf[at + 17] & 1).toBe(1)
    }

    const rx = await receiver(handler)
    const w = writer({ url: rx.url, ...FAST, protocol: 'auto', maxSamplesPerRequest: 100, spool: { dir, maxBytes: 64 * MiB } })
    const errors: BatchError[] = []
    const protocols: unknown[] = []
    w.on('error', (e: BatchError) => errors.push(e))
    w.on('protocol', (e: unknown) => protocols.push(e))
    const summary = await w.close()
    expect(errors).toEqual([])
    expect(protocols).toEqual([{ protocol: 'v1', url: rx.url }])
    expect(summary.samples).toBe(written.count)
    expect(w.stats().spool?.replayed.samples).toBe(written.count)
    const v2 = rx.requests.filter((r) => r.headers['content-type'] === V2_TYPE)
    expect(v2.length).toBeGreaterThan(0) // it tried 2.0 first
    expectSameSeries(received(rx, (r) => r.headers['content-type'] !== V2_TYPE), written)
    expect(segments(dir)).toEqual([])
  }, 15_000)
})

describe('a damaged record', () => {
  it('in the middle of a segment: reported corrupt, never sent; the others arrive', async () => {
    const dir = tempDir()
    // One shard, 100 samples per request: 8 records in one segment.
    const { written } = await spoolDuringOutage(dir, rounds(81, 10, 80), { concurrency: 1 })
    const segs = segments(dir)
    expect(segs.length).toBe(1)
    const path = join(dir, segs[0])
    const buf = readFileSync(path)
    const records: Array<{ at: number, len: number }> = []
    for (let at = 0; at < buf.length;) {
      const len = buf.readUInt32LE(at + 8)
      records.push({ at, len })
      at += HEADER_BYTES + len
    }
    expect(records.length).toBe(8)
    const victim = records[3]
    const body = buf.subarray(victim.at + HEADER_BYTES, victim.at + HEADER_BYTES + victim.len)
    // What the damaged request held, decoded independently before the damage.
    const lost = new Samples()
    lost.addReceived(decodeBody(Buffer.from(body)).items)
    expect(lost.count).toBe(100)
    body[Math.floor(victim.len / 2)] ^= 0x40
    writeFileSync(path, buf)

    const rx = await receiver()
    const w = new RemoteWriter({ url: rx.url, ...FAST, concurrency: 1, maxSamplesPerRequest: 100, spool: { dir, maxBytes: 64 * MiB } })
    cleanup.push(() => bounded(w.close({ timeout: 0 })))
    const errors: BatchError[] = []
    const warnings: Error[] = []
    w.on('error', (e: BatchError) => errors.push(e))
    w.on('warning', (e: Error) => warnings.push(e))
    const closed = await w.close().then(() => expect.fail('close() resolved'), (e: unknown) => e)
    expect(closed).toBeInstanceOf(LostDataError)
    const summary = (closed as LostDataError).summary
    expect(errors.length).toBe(1)
    expect(errors[0].reason).toBe('corrupt')
    expect(errors[0].sampleCount).toBe(100)
    expect(summary.failed.samples).toBe(100)
    expect(summary.samples).toBe(700)
    expect(warnings.length).toBeGreaterThan(0)
    expect(warnings.every((e) => e instanceof SpoolError)).toBe(true)
    expect(w.stats().spool?.corrupt.records).toBe(1)
    // Nothing damaged was sent: every request decoded, and the missing samples are the victim's.
    expect(rx.requests.every((r) => accepted(r) && r.decodeError === undefined)).toBe(true)
    const got = received(rx)
    const gotSet = got.set()
    expect(got.count).toBe(700)
    const lostSet = lost.set()
    for (const x of written.set()) expect(gotSet.has(x) !== lostSet.has(x), x).toBe(true)
    expect(segments(dir)).toEqual([])
  }, 15_000)
})

describe('the lock', () => {
  it('a second writer on the same directory throws SpoolError naming the pid; the first goes on', async () => {
    const dir = tempDir()
    const rx = await receiver()
    const w = writer({ url: rx.url, ...FAST, spool: { dir, maxBytes: 64 * MiB } })
    const chunks = rounds(91, 8, 10)
    w.write(chunks[0])
    const err = thrown(() => new RemoteWriter({ url: rx.url, spool: { dir, maxBytes: 64 * MiB } }))
    expect(err).toBeInstanceOf(SpoolError)
    expect((err as SpoolError).message).toContain(`pid ${process.pid}`)
    expect((err as SpoolError).path).toBe(dir)
    expect(readFileSync(join(dir, 'lock'), 'utf8').split(' ')[0]).toBe(String(process.pid))
    await writeAll(w, chunks.slice(1))
    const summary = await w.close()
    expect(summary.samples).toBe(80)
    expect(summary.failed.samples).toBe(0)
    const written = new Samples()
    for (const c of chunks) written.addItems(c)
    expectSameSeries(received(rx), written)
    // Released: the directory opens again.
    const again = new RemoteWriter({ url: rx.url, spool: { dir, maxBytes: 64 * MiB } })
    await again.close()
  }, 15_000)

  it('a lock held by another live process is refused, naming its pid', () => {
    const dir = tempDir()
    const other = process.ppid // alive: it started us
    writeFileSync(join(dir, 'lock'), `${other}\n`)
    const err = thrown(() => new RemoteWriter({ url: 'http://127.0.0.1:9/api/v1/write', spool: { dir, maxBytes: 64 * MiB } }))
    expect(err).toBeInstanceOf(SpoolError)
    expect((err as Error).message).toContain(`process ${other}`)
    expect(readFileSync(join(dir, 'lock'), 'utf8')).toBe(`${other}\n`)
  })
})
