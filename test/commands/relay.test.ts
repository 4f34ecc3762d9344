// `prw relay` (src/commands/relay.ts, relay-cli.ts): a remote-write receiver in front of a
// spooled writer. What a device is promised: a 204 only once what it sent is durable in the
// spool (fsynced before the answer; still there after a SIGKILL right after it), 2.0 written
// counts that are what it sent, the same 400/415 as `prw receive` for what is invalid (and none
// of it forwarded), 503 with Retry-After when the spool is full (and nothing of that request
// kept), and everything answered 204 delivered upstream once upstream takes it. Its counters on
// GET /metrics in the Prometheus text format; its flags checked by name; no secret printed.
//
// No external server: upstreams are test/support/fake-server.ts (scriptable, decodes 1.0
// independently) or the project's receiver (speaks 2.0); devices are raw fetch() requests with
// bodies from the library's codec, or a RemoteWriter. The CLI runs as a child (tsx on src/cli.ts).
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import fs, { mkdtempSync, readlinkSync, rmSync } from 'node:fs'
import { syncBuiltinESMExports } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compressSync } from 'snappy'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import type { Codec } from '../../src/codec/codec.js'
import { nativeHistogram } from '../../src/codec/histogram.js'
import { startReceiver as startProjectReceiver } from '../../src/commands/receiver.js'
import type { Receiver as ProjectReceiver } from '../../src/commands/receiver.js'
import { startRelay } from '../../src/commands/relay.js'
import type { Relay, RelayOptions } from '../../src/commands/relay.js'
import { RemoteWriter } from '../../src/index.js'
import type { DecodedItem, Item } from '../../src/types.js'
import { CLI } from '../support/cli.js'
import type { Run } from '../support/cli.js'
import { accepted, gate, startReceiver as startFake } from '../support/fake-server.js'
import type { CapturedRequest, Receiver as FakeReceiver, Reply } from '../support/fake-server.js'
import { STALE_BITS, bitsOfArray, f64FromBits, referenceEncode, rng } from '../support/helpers.js'

const T = 1_767_225_600_000
const V1_TYPE = 'application/x-protobuf'
const V2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request'
const MiB = 1 << 20

const root = mkdtempSync(join(tmpdir(), 'prw-relay-test-'))
let dirs = 0
const newDir = (): string => join(root, `spool-${++dirs}`)

let codec: Codec
/** What each test started, stopped after it (children, relays, servers), last first. */
const cleanups: Array<() => Promise<unknown> | unknown> = []
const children = new Set<ChildProcess>()

beforeAll(async () => {
  codec = await createCodec()
})
afterEach(async () => {
  while (cleanups.length > 0) await Promise.resolve(cleanups.pop()!()).catch(() => {})
})
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  rmSync(root, { recursive: true, force: true })
})

// ---- helpers ---------------------------------------------------------------------------------

async function relayOn (o: Omit<RelayOptions, 'port'>): Promise<Relay> {
  const relay = await startRelay({ port: 0, ...o, writer: { minBackoff: 5, maxBackoff: 40, ...o.writer } })
  cleanups.push(() => relay.close(0))
  return relay
}
async function fake (handler?: (req: CapturedRequest, n: number) => Reply | undefined | void | Promise<Reply | undefined | void>): Promise<FakeReceiver> {
  const r = await startFake({ handler })
  cleanups.push(() => r.close())
  return r
}
async function project (opts: Parameters<typeof startProjectReceiver>[0] = {}): Promise<ProjectReceiver> {
  const r = await startProjectReceiver({ port: 0, ...opts })
  cleanups.push(() => r.close())
  return r
}

interface Answer { status: number, headers: Headers, text: string }
async function post (url: string, body: Uint8Array, { type = V1_TYPE, encoding = 'snappy' as string | undefined } = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': type }
  if (encoding !== undefined) headers['content-encoding'] = encoding
  const res = await fetch(url, { method: 'POST', body, headers })
  return { status: res.status, headers: res.headers, text: await res.text() }
}

/** Polls `cond` every 20 ms; fails naming `what` after `ms`. */
async function until (cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
/** `p`, or a failure naming `what` after `ms`. */
async function within<R> (p: Promise<R>, ms: number, what: string): Promise<R> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}

/** A device's series: `n` samples of seeded random values, labelled with the request's id. */
function series (id: string, n: number, seed: number, name = 'device_metric'): Item & { metric: Record<string, string>, values: Float64Array, timestamps: number[] } {
  const r = rng(seed)
  const values = new Float64Array(n)
  for (let i = 0; i < n; i++) values[i] = (r() - 0.5) * 1e6
  return { metric: { __name__: name, req: id }, values, timestamps: Array.from({ length: n }, (_, i) => T + i * 1000) }
}

/** Per accepted upstream request (fake-server's independent decode): samples by `req` label. */
function upstreamByReq (reqs: readonly CapturedRequest[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const r of reqs) {
    if (!accepted(r)) continue
    expect(r.decodeError).toBeUndefined()
    for (const s of r.items) out.set(s.labels.req, (out.get(s.labels.req) ?? 0) + s.values.length)
  }
  return out
}

/** Every sample, histogram and exemplar of decoded items as sorted text (order-free, bit-exact). */
function flat (items: readonly DecodedItem[]): string[] {
  const out: string[] = []
  for (const it of items) {
    const key = JSON.stringify(Object.entries(it.metric).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    const bits = bitsOfArray(it.values)
    for (let i = 0; i < it.values.length; i++) out.push(`${key} s ${String(it.timestamps[i])} ${bits[i].toString(16)}`)
    for (const h of it.histograms ?? []) out.push(`${key} h ${JSON.stringify(h, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`)
    for (const e of it.exemplars ?? []) out.push(`${key} e ${JSON.stringify(e)}`)
  }
  return out.sort()
}

// ---- the CLI as a child ----------------------------------------------------------------------

interface Child { proc: ChildProcess, out: { stdout: string, stderr: string }, exited: Promise<Run & { signal: NodeJS.Signals | null }>, url: Promise<string> }
/** The environment without the variables that stand in for flags. */
function cleanEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.PROMETHEUS_REMOTE_WRITE_URL
  delete env.PROMETHEUS_REMOTE_WRITE_TOKEN
  return env
}
/** `prw relay ...args` (src/cli.ts under tsx, as test/support/cli.ts runs it); `url`: where it listens. */
function spawnRelay (args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI, 'relay', ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(proc)
  const out = { stdout: '', stderr: '' }
  let listening: (url: string) => void = () => {}
  const url = new Promise<string>((resolve) => { listening = resolve })
  proc.stdout!.on('data', (d: Buffer) => {
    out.stdout += d.toString()
    const m = /^relaying (\S+) to /m.exec(out.stdout)
    if (m !== null) listening(m[1])
  })
  proc.stderr!.on('data', (d: Buffer) => { out.stderr += d.toString() })
  const exited = new Promise<Run & { signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('close', (code, signal) => {
      children.delete(proc)
      resolve({ code, signal, stdout: out.stdout, stderr: out.stderr })
    })
  })
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
    await exited
  })
  const listens = Promise.race([url, exited.then((r): never => { throw new Error(`prw relay exited (${r.code}) before listening: ${r.stderr}`) })])
  listens.catch(() => {}) // awaited only by the tests that expect it to listen
  return { proc, out, exited, url: listens }
}

// ---- the fsync probe -------------------------------------------------------------------------

/**
 * Watches the spool's segment files through node:fs (the spool imports its functions by name;
 * syncBuiltinESMExports makes those names see the wrappers): every write to a `.seg` file gets
 * a sequence number, and an fdatasync/fsync of it covers the writes issued before it was
 * called, once it completed. The asynchronous ones complete `delayMs` late, so an answer that
 * does not wait for them comes first.
 */
function watchSegments (delayMs: number): { restore: () => void, written: () => string[], unsynced: () => string[] } {
  type Fn = (...args: unknown[]) => unknown
  const f = fs as unknown as Record<string, Fn>
  const names = ['writeSync', 'writevSync', 'fdatasync', 'fsync', 'fdatasyncSync', 'fsyncSync'] as const
  const orig = Object.fromEntries(names.map((n) => [n, f[n]])) as Record<(typeof names)[number], Fn>
  let seq = 0
  const lastWrite = new Map<string, number>()
  const synced = new Map<string, number>()
  const pathOf = (fd: unknown): string => {
    try {
      return readlinkSync(`/proc/self/fd/${String(fd)}`)
    } catch {
      return ''
    }
  }
  const cover = (path: string, upTo: number): void => {
    if (path.endsWith('.seg')) synced.set(path, Math.max(synced.get(path) ?? 0, upTo))
  }
  for (const w of ['writeSync', 'writevSync'] as const) {
    f[w] = (fd, ...rest) => {
      const n = orig[w](fd, ...rest)
      const path = pathOf(fd)
      if (path.endsWith('.seg')) lastWrite.set(path, ++seq)
      return n
    }
  }
  for (const s of ['fdatasync', 'fsync'] as const) {
    f[s] = (fd, cb) => {
      const path = pathOf(fd)
      const upTo = seq
      orig[s](fd, (err: Error | null) => setTimeout(() => {
        if (err === null) cover(path, upTo)
        ;(cb as (e: Error | null) => void)(err)
      }, delayMs))
    }
  }
  for (const s of ['fdatasyncSync', 'fsyncSync'] as const) {
    f[s] = (fd) => {
      orig[s](fd)
      cover(pathOf(fd), seq)
    }
  }
  syncBuiltinESMExports()
  return {
    restore: () => {
      Object.assign(f, orig)
      syncBuiltinESMExports()
    },
    written: () => [...lastWrite.keys()],
    unsynced: () => [...lastWrite].filter(([p, s]) => (synced.get(p) ?? 0) < s).map(([p]) => p),
  }
}

// ---- the tests -------------------------------------------------------------------------------

describe('prw relay: durable before answered', () => {
  it.runIf(process.platform === 'linux')('answers a 1.0 request 204 only after the segment it went to is fsynced (sync batch and always; none answers at once)', async () => {
    const stall = await fake(() => new Promise<void>(() => {})) // upstream never answers: nothing is acknowledged
    for (const sync of ['batch', 'always', 'none'] as const) {
      const relay = await relayOn({ url: stall.url, spool: { dir: newDir(), maxBytes: MiB, sync } })
      const probe = watchSegments(150)
      let answer: Answer
      let written: string[]
      let unsynced: string[]
      try {
        answer = await post(relay.url, codec.encode([series(`fsync-${sync}`, 50, 1)]))
        written = probe.written()
        unsynced = probe.unsynced()
      } finally {
        probe.restore()
      }
      expect(answer.status, sync).toBe(204)
      expect(written.length, `${sync}: a segment was written before the answer`).toBeGreaterThan(0)
      if (sync === 'none') {
        // The control: without fsyncs the probe sees what was not synced at the answer.
        expect(unsynced, 'sync none: answered once written, never fsynced').toEqual(written)
      } else {
        expect(unsynced, `sync ${sync}: segments written but not fsynced when the 204 came`).toEqual([])
      }
      const s = relay.stats()
      expect(s.received.requests).toBe(1)
      expect(s.received.samples).toBe(50)
      expect(s.spool.pendingSamples).toBe(50)
      expect(s.forwarded.samples).toBe(0)
      expect(relay.writer.stats().spool!.appended.requests).toBe(1)
      const summary = await relay.close(0)
      expect(summary.left?.samples, sync).toBe(50)
    }
  })

  it('requests answered 204 survive SIGKILL of the relay right after the answer: the next start sends them upstream (--protocol v2)', async () => {
    const dir = newDir()
    const stall = await fake(() => new Promise<void>(() => {})) // nothing is acknowledged: all of it must come from the spool
    const first = spawnRelay(['--url', stall.url, '--spool', dir, '--listen', '127.0.0.1:0', '--protocol', 'v2'])
    const url = await within(first.url, 20_000, 'the first relay listening')
    const samplesOf = (i: number): number => 20 + i
    const bodyOf = (i: number): Uint8Array => codec.encode([series(`kill-${i}`, samplesOf(i), 10 + i)])
    // One alone, then a burst sharing fsyncs; SIGKILL at once on the 6th 204 of the burst.
    expect((await post(url, bodyOf(0))).status).toBe(204)
    const answered = new Set<number>([0])
    let burst204 = 0
    const burst = Array.from({ length: 12 }, (_, k) => k + 1).map(async (i) => {
      const res = await post(url, bodyOf(i)).catch(() => undefined) // cut by the kill: the device would retry
      if (res?.status !== 204) return
      answered.add(i)
      if (++burst204 === 6) first.proc.kill('SIGKILL')
    })
    await Promise.all(burst)
    if (first.proc.signalCode === null) first.proc.kill('SIGKILL') // fewer than 6 burst answers: fails below
    const killed = await within(first.exited, 10_000, 'the SIGKILLed relay exiting')
    expect(killed.signal).toBe('SIGKILL')
    expect(answered.size).toBeGreaterThanOrEqual(7)
    expect(stall.requests.every((r) => r.status === undefined), 'nothing acknowledged before the kill').toBe(true)

    const got = new Map<string, number>()
    const up = await project({ onItems: (items) => { for (const it of items) got.set(it.metric.req, (got.get(it.metric.req) ?? 0) + it.values.length) } })
    const second = spawnRelay(['--url', up.url, '--spool', dir, '--listen', '127.0.0.1:0', '--protocol', 'v2'])
    const url2 = await within(second.url, 20_000, 'the second relay listening')
    await until(() => [...answered].every((i) => got.has(`kill-${i}`)), 15_000, `upstream receiving every request answered 204 (${[...answered].sort((a, b) => a - b).join(' ')})`)
    // then until the relay has taken in the acknowledgements of all it found
    let metrics = ''
    await until(async () => {
      metrics = await (await fetch(url2.replace('/api/v1/write', '/metrics'))).text()
      return /^prw_relay_spool_pending_samples 0$/m.test(metrics)
    }, 10_000, 'nothing pending in the restarted relay')
    second.proc.kill('SIGINT')
    const run = await within(second.exited, 15_000, 'the second relay exiting on SIGINT')
    expect(run.code, run.stderr).toBe(0)
    // Whole, once each; a request cut by the kill may have arrived too (whole), the device would resend it.
    for (const i of answered) expect(got.get(`kill-${i}`), `kill-${i}`).toBe(samplesOf(i))
    for (const [req, n] of got) expect(n, req).toBe(samplesOf(Number(req.slice(5))))
    const total = [...got.values()].reduce((a, b) => a + b, 0)
    expect(metrics).toMatch(/^prw_relay_received_requests_total 0$/m)
    expect(metrics).toMatch(new RegExp(`^prw_relay_replayed_samples_total ${total}$`, 'm'))
    expect(metrics).toMatch(new RegExp(`^prw_relay_forwarded_samples_total ${total}$`, 'm'))
    expect(run.stdout).toMatch(new RegExp(`forwarded ${total}; 0 failed`))
  })
})

describe('prw relay: forwarding', () => {
  /** A device's request: values whose bits must survive, seconds-looking timestamps, exemplars, native histograms. */
  const device = (): Item[] => [
    // stale marker, a NaN payload, -0, the infinities, a denormal
    { metric: { __name__: 'edge', job: 'a' }, values: f64FromBits([STALE_BITS, 0x7ff8000000000abcn, 0x8000000000000000n, 0x7ff0000000000000n, 0xfff0000000000000n, 1n]), timestamps: [T, T + 1, T + 2, T + 3, T + 4, T + 5] },
    // timestamps that look like seconds: the relay takes them as they are (no conversion)
    { metric: { __name__: 'early', job: 'a' }, values: [1, 2, 3], timestamps: [-1000, 0, 1_700_000_000] },
    { ...series('two', 20, 7), exemplars: [{ labels: { trace_id: 'abc' }, value: 0.5, timestamp: T + 3000 }, { value: 2, timestamp: T + 4000 }] },
    {
      metric: { __name__: 'latency', job: 'a' },
      values: [],
      timestamps: [],
      histograms: [
        nativeHistogram({ timestamp: T, schema: 3, sum: 42.5, positive: { 1: 4, 2: 2, 7: 1 }, zeroCount: 1 }),
        nativeHistogram({ timestamp: T + 15_000, schema: 0, sum: 3, positive: { 0: 3 }, negative: { 1: 1 } }),
      ],
    },
  ]
  const WRITTEN = { samples: '29', histograms: '2', exemplars: '2' }

  /** The project's receiver behind a recording proxy (fake-server), and a reference receiver taking the device's bodies directly. */
  async function upstreamPair (): Promise<{ proxy: FakeReceiver, sink: ProjectReceiver, ref: ProjectReceiver, sinkItems: DecodedItem[], refItems: DecodedItem[] }> {
    const sinkItems: DecodedItem[] = []
    const refItems: DecodedItem[] = []
    const sink = await project({ onItems: (items) => sinkItems.push(...items) })
    const ref = await project({ onItems: (items) => refItems.push(...items) })
    const proxy = await fake(async (req) => {
      const res = await fetch(sink.url, { method: 'POST', body: req.body, headers: { 'content-type': String(req.headers['content-type']), 'content-encoding': 'snappy' } })
      const headers: Record<string, string> = {}
      res.headers.forEach((v, k) => { if (k.startsWith('x-prometheus-remote-write-')) headers[k] = v })
      return { status: res.status, headers, body: await res.text() }
    })
    return { proxy, sink, ref, sinkItems, refItems }
  }

  it.each([['1.0', 'v1'], ['1.0', 'v2'], ['2.0', 'v1'], ['2.0', 'v2']] as const)('a %s device request, upstream protocol %s: answered with the written counts sent, forwarded bit-exact (exemplars and histograms too)', async (dev, upstream) => {
    const { proxy, sink, ref, sinkItems, refItems } = await upstreamPair()
    const relay = await relayOn({ url: proxy.url, writer: { protocol: upstream }, spool: { dir: newDir(), maxBytes: MiB } })
    const type = dev === '2.0' ? V2_TYPE : V1_TYPE
    const body = dev === '2.0' ? codec.encodeV2(device()) : codec.encode(device())
    const viaRelay = await post(relay.url, body, { type })
    const direct = await post(ref.url, body, { type })
    expect(direct.status).toBe(204)
    expect(viaRelay.status, viaRelay.text).toBe(204)
    for (const [k, v] of Object.entries(WRITTEN)) {
      const name = `x-prometheus-remote-write-${k}-written`
      expect(viaRelay.headers.get(name), name).toBe(v)
      expect(direct.headers.get(name), name).toBe(v)
    }
    await within(relay.writer.flush({ acknowledged: true }), 10_000, 'upstream acknowledging')
    const s = relay.stats()
    // samples: float and native histogram samples together, as the writer counts them
    expect(s.received).toEqual({ requests: 1, samples: 31, histograms: 2, exemplars: 2 })
    expect(s.failed.samples).toBe(0)
    expect(s.spool.pendingRequests).toBe(0)
    expect(proxy.requests.length).toBeGreaterThan(0)
    expect(new Set(proxy.requests.map((r) => r.headers['content-type'])), 'what the relay sent upstream').toEqual(new Set([upstream === 'v2' ? V2_TYPE : V1_TYPE]))
    const got = sink.stats()
    const want = ref.stats()
    expect({ samples: got.samples, histograms: got.histograms, exemplars: got.exemplars, checksum: got.checksum })
      .toEqual({ samples: want.samples, histograms: want.histograms, exemplars: want.exemplars, checksum: want.checksum })
    // sample by sample (bits), histogram by histogram, exemplar by exemplar
    expect(flat(sinkItems)).toEqual(flat(refItems))
  })

  it('counts forwarded samples as it counts received ones (native histogram samples included in both)', async () => {
    const up = await project()
    const relay = await relayOn({ url: up.url, spool: { dir: newDir(), maxBytes: MiB } })
    expect((await post(relay.url, codec.encodeV2(device()), { type: V2_TYPE })).status).toBe(204)
    await within(relay.writer.flush({ acknowledged: true }), 10_000, 'upstream acknowledging')
    expect(up.stats()).toMatchObject({ samples: 29, histograms: 2 })
    const s = relay.stats()
    expect(s.received).toMatchObject({ samples: 31, histograms: 2 })
    // Everything received was forwarded: the two counters agree (29 float + 2 histogram samples).
    expect(s.forwarded.samples).toBe(s.received.samples)
  })
})

describe('prw relay: invalid requests', () => {
  it('answers what prw receive answers (400, 415, 405), forwards none of it, and goes on serving', async () => {
    const up = await fake()
    const plain = await project() // what `prw receive` runs
    const relay = await relayOn({ url: up.url, spool: { dir: newDir(), maxBytes: MiB } })
    const raw = (labels: Array<[string, string]>, ts: bigint[] = [BigInt(T)]): Buffer =>
      compressSync(Buffer.from(referenceEncode([{ labels, values: BigUint64Array.from(ts.map(() => 0x3ff0000000000000n)), timestamps: BigInt64Array.from(ts) }])))
    const r = rng(42)
    const garbage = Buffer.from(Array.from({ length: 300 }, () => Math.floor(r() * 256)))
    const good = codec.encode([series('good', 5, 1)])
    const cases: Array<{ name: string, body: Uint8Array, type?: string, encoding?: string, status: number, text: RegExp }> = [
      { name: 'bad snappy', body: garbage, status: 400, text: /snappy/ },
      { name: 'snappy of garbage', body: compressSync(garbage), status: 400, text: /protobuf/ },
      { name: 'labels not sorted', body: raw([['__name__', 'm'], ['b', '1'], ['a', '2']]), status: 400, text: /not sorted/ },
      { name: 'duplicate label', body: raw([['__name__', 'm'], ['a', '1'], ['a', '2']]), status: 400, text: /duplicate/ },
      { name: 'no metric name', body: raw([['a', '1']]), status: 400, text: /__name__/ },
      { name: 'samples out of order', body: raw([['__name__', 'm']], [BigInt(T), BigInt(T - 1)]), status: 400, text: /out of order/ },
      { name: 'JSON content type', body: good, type: 'application/json', status: 415, text: /Content-Type/ },
      { name: 'gzip encoding', body: good, encoding: 'gzip', status: 415, text: /Content-Encoding/ },
    ]
    const rejected: Record<number, number> = {}
    for (const c of cases) {
      const opts = { type: c.type ?? V1_TYPE, encoding: c.encoding ?? 'snappy' }
      const viaRelay = await post(relay.url, c.body, opts)
      const direct = await post(plain.url, c.body, opts)
      expect(viaRelay.status, `${c.name}: ${viaRelay.text}`).toBe(c.status)
      expect({ status: viaRelay.status, text: viaRelay.text }, c.name).toEqual({ status: direct.status, text: direct.text })
      expect(viaRelay.text, c.name).toMatch(c.text)
      rejected[c.status] = (rejected[c.status] ?? 0) + 1
    }
    const get = await fetch(relay.url)
    expect(get.status).toBe(405)
    expect((await fetch(plain.url)).status).toBe(405)
    rejected[405] = 1
    await within(relay.writer.flush({ acknowledged: true }), 5000, 'flush')
    expect(up.requests, 'nothing invalid forwarded').toHaveLength(0)
    const s = relay.stats()
    expect(s.rejected).toEqual(rejected)
    expect(s.received.requests).toBe(0)
    expect(s.spool.pendingRequests + relay.writer.stats().spool!.appended.requests).toBe(0)
    // still serving
    const ok = await post(relay.url, good)
    expect(ok.status).toBe(204)
    await within(relay.writer.flush({ acknowledged: true }), 5000, 'upstream acknowledging')
    expect(upstreamByReq(up.requests)).toEqual(new Map([['good', 5]]))
    expect(relay.stats().received.requests).toBe(1)
  })
})

describe('prw relay: spool full', () => {
  it('onFull block, upstream down: 503 with Retry-After naming the full spool; nothing refused is ever forwarded', async () => {
    let down = true
    const up = await fake(() => (down ? { status: 503, body: 'down' } : { status: 204 }))
    const relay = await relayOn({ url: up.url, spool: { dir: newDir(), maxBytes: MiB, onFull: 'block' } })
    const answered: string[] = []
    const refused: Answer[] = []
    const refusedIds: string[] = []
    const PER = 2000
    // Four devices at once, each until it was refused twice; once refused, never accepted again
    // (the spool does not shrink while upstream is down).
    let next = 0
    await Promise.all([0, 1, 2, 3].map(async (d) => {
      let mine = 0
      while (mine < 2 && next < 400) {
        const i = next++
        const id = `fill-${i}`
        const res = await post(relay.url, codec.encode([series(id, PER, 100 + i)]))
        if (res.status === 204) {
          expect(mine, `device ${d}: ${id} answered 204 after a refusal`).toBe(0)
          answered.push(id)
        } else {
          mine++
          refused.push(res)
          refusedIds.push(id)
        }
      }
    }))
    expect(refused.length, 'the spool never filled').toBe(8)
    for (const res of refused) {
      expect(res.status).toBe(503)
      expect(res.headers.get('retry-after')).toMatch(/^[1-9]\d*$/)
      expect(res.text).toMatch(/spool is full/)
    }
    const full = relay.stats()
    expect(full.spool.bytes).toBeGreaterThanOrEqual(MiB)
    expect(full.received.requests).toBe(answered.length)
    expect(full.received.samples).toBe(answered.length * PER)
    expect(full.rejected).toEqual({ 503: 8 })
    expect(relay.metrics()).toMatch(/^prw_relay_rejected_requests_total\{code="503"\} 8$/m)
    expect(full.forwarded.samples).toBe(0)
    expect(full.spool.pendingSamples).toBe(answered.length * PER)
    await until(() => up.requests.length > 0, 5000, 'the relay trying upstream')

    down = false
    await within(relay.writer.flush({ acknowledged: true }), 20_000, 'upstream taking the spool')
    const got = upstreamByReq(up.requests)
    expect([...got.keys()].sort()).toEqual([...answered].sort())
    for (const id of answered) expect(got.get(id), id).toBe(PER)
    // Not even attempted: a refused request is not kept.
    for (const r of up.requests) for (const s of r.items) expect(refusedIds).not.toContain(s.labels.req)
    const after = relay.stats()
    expect(after.forwarded.samples).toBe(answered.length * PER)
    expect(after.spool.pendingSamples).toBe(0)
    expect(after.spool.bytes).toBeLessThan(MiB)
    // Room again.
    expect((await post(relay.url, codec.encode([series('again', 10, 9)]))).status).toBe(204)
  })

  it('onFull dropOldest, upstream down: devices keep getting 204; what is dropped is reported by request, and upstream gets the rest', async () => {
    let down = true
    const up = await fake(() => (down ? { status: 503, body: 'down' } : { status: 204 }))
    const dropped: Array<{ reason: string, series: Array<{ labels: Record<string, string>, samples: number }> }> = []
    const relay = await relayOn({
      url: up.url,
      spool: { dir: newDir(), maxBytes: MiB, onFull: 'dropOldest' },
      onError: (err) => dropped.push({ reason: err.reason, series: err.series.map((s) => ({ labels: { ...s.labels }, samples: s.samples })) }),
    })
    const PER = 2000
    const ids: string[] = []
    let largest = 0
    let peak = 0
    for (let i = 0; i < 60; i++) {
      const id = `drop-${i}`
      const body = codec.encode([series(id, PER, 500 + i)])
      largest = Math.max(largest, body.length)
      const res = await post(relay.url, body)
      expect(res.status, `${id}: ${res.text}`).toBe(204)
      ids.push(id)
      peak = Math.max(peak, relay.stats().spool.bytes)
    }
    await until(() => dropped.length > 0, 5000, 'a request dropped for room')
    down = false
    await within(relay.writer.flush({ acknowledged: true }), 20_000, 'upstream taking the spool')
    const lost = new Map<string, number>()
    for (const d of dropped) {
      expect(d.reason).toBe('spool-full')
      for (const s of d.series) lost.set(s.labels.req, (lost.get(s.labels.req) ?? 0) + s.samples)
    }
    const got = upstreamByReq(up.requests)
    // every request answered 204: delivered whole, or reported dropped whole (the oldest), never both, never silently gone
    for (const id of ids) {
      expect([got.get(id) ?? 0, lost.get(id) ?? 0].sort(), id).toEqual([0, PER])
    }
    const droppedIds = ids.filter((id) => lost.has(id))
    expect(droppedIds.length).toBeGreaterThan(0)
    const s = relay.stats()
    expect(s.spool.droppedSamples).toBe(droppedIds.length * PER)
    expect(relay.metrics()).toMatch(new RegExp(`^prw_relay_dropped_samples_total\\{reason="spool-full"\\} ${droppedIds.length * PER}$`, 'm'))
    expect(s.forwarded.samples + s.spool.droppedSamples).toBe(s.received.samples)
    // --on-full drop-oldest: "drop the oldest requests" to keep the spool within its bytes.
    // Those on their way to the server (at most two per shard: the one on the wire and the next,
    // 4 shards) are spared: the spool may pass maxBytes by them, and the dropped must be the
    // oldest of the rest.
    expect(peak, 'spool bytes while upstream was down').toBeLessThanOrEqual(MiB + 8 * (largest + 4096))
    const newest = Math.max(...droppedIds.map((id) => ids.indexOf(id)))
    expect(newest, `dropped ${droppedIds.join(' ')}`).toBeLessThan(droppedIds.length + 8)
  })
})

/** The Prometheus text format, checked line by line: families (HELP, TYPE, then samples). */
function parseMetrics (text: string): Map<string, { type: string, samples: Map<string, number> }> {
  expect(text.endsWith('\n')).toBe(true)
  const families = new Map<string, { type: string, samples: Map<string, number> }>()
  const help = new Set<string>()
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
  const LABELS = '\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*")(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*")*\\}'
  const sampleRe = new RegExp(`^(${NAME})(${LABELS})? (\\S+)$`)
  for (const line of text.slice(0, -1).split('\n')) {
    let m = /^# HELP (\S+) (.+)$/.exec(line)
    if (m !== null) {
      expect(help.has(m[1]), `HELP ${m[1]} twice`).toBe(false)
      expect(families.has(m[1]), `HELP ${m[1]} after its TYPE`).toBe(false)
      help.add(m[1])
      continue
    }
    m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (m !== null) {
      expect(families.has(m[1]), `TYPE ${m[1]} twice`).toBe(false)
      expect(help.has(m[1]), `TYPE ${m[1]} without HELP first`).toBe(true)
      families.set(m[1], { type: m[2], samples: new Map() })
      continue
    }
    m = sampleRe.exec(line)
    expect(m, `not a sample line: ${JSON.stringify(line)}`).not.toBeNull()
    const [, name, labels = '', value] = m!
    const fam = families.get(name)
    expect(fam, `${name}: a sample before its TYPE`).toBeDefined()
    expect(fam!.samples.has(labels), `${name}${labels} twice`).toBe(false)
    expect(value, line).toMatch(/^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|Inf)|NaN)$/)
    if (fam!.type === 'counter') expect(name).toMatch(/_total$/)
    fam!.samples.set(labels, Number(value))
  }
  for (const [name, fam] of families) {
    if (fam.type === 'counter') for (const v of fam.samples.values()) expect(v, name).toBeGreaterThanOrEqual(0)
  }
  return families
}

describe('prw relay: GET /metrics', () => {
  it('is the Prometheus text format, its values those of stats(), moving as requests come and go', async () => {
    const g = gate()
    const up = await fake(async () => { await g.wait })
    const relay = await relayOn({ url: up.url, spool: { dir: newDir(), maxBytes: 2 * MiB } })
    const scrape = async (): Promise<Map<string, { type: string, samples: Map<string, number> }>> => {
      const res = await fetch(relay.url.replace('/api/v1/write', '/metrics'))
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
      const text = await res.text()
      const m = parseMetrics(text)
      // the same as relay.metrics(), and as stats()
      const s = relay.stats()
      expect(parseMetrics(relay.metrics())).toEqual(m)
      const v = (name: string, labels = ''): number | undefined => m.get(name)?.samples.get(labels)
      expect(v('prw_relay_received_requests_total')).toBe(s.received.requests)
      expect(v('prw_relay_received_samples_total')).toBe(s.received.samples)
      expect(v('prw_relay_received_histograms_total')).toBe(s.received.histograms)
      expect(v('prw_relay_forwarded_requests_total')).toBe(s.forwarded.requests)
      expect(v('prw_relay_forwarded_samples_total')).toBe(s.forwarded.samples)
      expect(v('prw_relay_retried_requests_total')).toBe(s.retried.requests)
      expect(v('prw_relay_failed_samples_total')).toBe(s.failed.samples)
      expect(v('prw_relay_dropped_samples_total', '{reason="spool-full"}')).toBe(s.spool.droppedSamples)
      expect(v('prw_relay_dropped_samples_total', '{reason="expired"}')).toBe(s.spool.expiredSamples)
      expect(v('prw_relay_corrupt_records_total')).toBe(s.spool.corruptRecords)
      expect(v('prw_relay_replayed_samples_total')).toBe(s.spool.replayedSamples)
      expect(v('prw_relay_spool_bytes')).toBe(s.spool.bytes)
      expect(v('prw_relay_spool_max_bytes')).toBe(s.spool.maxBytes)
      expect(v('prw_relay_spool_pending_requests')).toBe(s.spool.pendingRequests)
      expect(v('prw_relay_spool_pending_samples')).toBe(s.spool.pendingSamples)
      expect(Object.fromEntries([...m.get('prw_relay_rejected_requests_total')!.samples].map(([l, n]) => [/^\{code="(\d+)"\}$/.exec(l)![1], n])))
        .toEqual(Object.fromEntries(Object.entries(s.rejected).map(([k, n]) => [k, n])))
      for (const [name, fam] of m) expect(fam.type, name).toBe(name.endsWith('_total') ? 'counter' : 'gauge')
      return m
    }
    const val = (m: Map<string, { samples: Map<string, number> }>, name: string, labels = ''): number => m.get(name)!.samples.get(labels)!

    const m0 = await scrape()
    expect(val(m0, 'prw_relay_received_requests_total')).toBe(0)
    expect(val(m0, 'prw_relay_spool_max_bytes')).toBe(2 * MiB)
    expect(m0.get('prw_relay_rejected_requests_total')!.samples.size).toBe(0)

    for (const [i, n] of [10, 20, 30].entries()) expect((await post(relay.url, codec.encode([series(`m-${i}`, n, i)]))).status).toBe(204)
    expect((await post(relay.url, Buffer.from('not snappy'))).status).toBe(400)
    expect((await post(relay.url, codec.encode([series('x', 1, 1)]), { type: 'text/plain' })).status).toBe(415)
    await until(() => up.requests.length > 0, 5000, 'the relay sending upstream')
    const m1 = await scrape()
    expect(val(m1, 'prw_relay_received_requests_total')).toBe(3)
    expect(val(m1, 'prw_relay_received_samples_total')).toBe(60)
    expect(val(m1, 'prw_relay_rejected_requests_total', '{code="400"}')).toBe(1)
    expect(val(m1, 'prw_relay_rejected_requests_total', '{code="415"}')).toBe(1)
    expect(val(m1, 'prw_relay_forwarded_samples_total')).toBe(0)
    expect(val(m1, 'prw_relay_spool_pending_samples')).toBe(60)
    expect(val(m1, 'prw_relay_spool_pending_requests')).toBeGreaterThanOrEqual(1)
    expect(val(m1, 'prw_relay_spool_bytes')).toBeGreaterThan(0)

    g.open()
    await within(relay.writer.flush({ acknowledged: true }), 10_000, 'upstream acknowledging')
    const m2 = await scrape()
    expect(val(m2, 'prw_relay_received_samples_total')).toBe(60)
    expect(val(m2, 'prw_relay_forwarded_samples_total')).toBe(60)
    expect(val(m2, 'prw_relay_forwarded_requests_total')).toBeGreaterThanOrEqual(1)
    expect(val(m2, 'prw_relay_spool_pending_samples')).toBe(0)
    expect(val(m2, 'prw_relay_spool_pending_requests')).toBe(0)
    expect(val(m2, 'prw_relay_failed_samples_total')).toBe(0)
  })
})

describe('prw relay: upstream down, then up', () => {
  it('devices (RemoteWriters, 1.0 and 2.0) keep getting 204 while the spool absorbs; upstream gets everything once, retries counted', async () => {
    let down = true
    const up = await fake(() => (down ? { reset: true } : { status: 204 }))
    const relay = await relayOn({ url: up.url, spool: { dir: newDir(), maxBytes: 8 * MiB } })
    const devices = (['v1', 'v2'] as const).map((protocol) => new RemoteWriter({ url: relay.url, protocol, maxRetries: 0, ioThread: false }))
    cleanups.push(() => Promise.all(devices.map((d) => d.close({ timeout: 0 }).catch(() => {}))))
    const sent = new Map<string, bigint>()
    const send = async (round: number): Promise<void> => {
      for (const [d, device] of devices.entries()) {
        const items = [0, 1, 2].map((k) => series(`d${d}-r${round}-s${k}`, 25, round * 10 + k + d * 1000))
        for (const it of items) {
          const bits = bitsOfArray(it.values)
          for (let i = 0; i < bits.length; i++) sent.set(`${it.metric.req} ${it.timestamps[i]}`, bits[i])
        }
        // send() resolves once the relay answered 2xx (a 2.0 device: with the written counts)
        expect(await device.send(items)).toMatchObject({ samples: 75 })
      }
    }
    for (let round = 0; round < 5; round++) await send(round)
    await until(() => relay.stats().retried.requests > 0, 10_000, 'the relay retrying upstream')
    const mid = relay.stats()
    expect(mid.forwarded.samples).toBe(0)
    expect(mid.received.samples).toBe(sent.size)
    expect(mid.spool.pendingSamples).toBe(sent.size)
    for (const d of devices) expect(d.stats()).toMatchObject({ failed: { samples: 0 }, retried: { requests: 0 } })

    down = false
    for (let round = 5; round < 8; round++) await send(round)
    await within(relay.writer.flush({ acknowledged: true }), 20_000, 'upstream taking the spool')
    const got = new Map<string, bigint>()
    for (const r of up.requests) {
      if (!accepted(r)) continue
      for (const s of r.items) {
        for (let i = 0; i < s.bits.length; i++) {
          const key = `${s.labels.req} ${s.timestamps[i]}`
          expect(got.has(key), `${key} accepted twice`).toBe(false)
          got.set(key, s.bits[i])
        }
      }
    }
    expect(got).toEqual(sent)
    const m = relay.metrics()
    expect(Number(/^prw_relay_retried_requests_total (\d+)$/m.exec(m)![1])).toBeGreaterThan(0)
    expect(Number(/^prw_relay_forwarded_samples_total (\d+)$/m.exec(m)![1])).toBe(sent.size)
    expect(Number(/^prw_relay_spool_pending_samples (\d+)$/m.exec(m)![1])).toBe(0)
  })
})

describe('prw relay: the command line', () => {
  it('refuses missing and bad flags by name (exit 2) and a spool in use (exit 1), without starting', async () => {
    const dir = newDir()
    const url = 'http://127.0.0.1:9/api/v1/write'
    const held = newDir()
    await relayOn({ url, spool: { dir: held, maxBytes: MiB } })
    const runs: Array<[string[], RegExp]> = [
      [['--url', url], /--spool/],
      [['--spool', dir], /--url/],
      [['--url', url, '--spool', dir, '--sync', 'bogus'], /--sync/],
      [['--url', url, '--spool', dir, '--listen', 'bogus'], /--listen/],
      [['--url', url, '--spool', dir, '--on-full', 'bogus'], /--on-full/],
      [['--url', url, '--spool', dir, '--limit', 'bogus=1'], /--limit/],
      [['--url', url, '--spool', dir, '--listen', '127.0.0.1:70000'], /--listen/],
      // a spool another relay (this process) holds: refused naming the holder
      [['--url', url, '--spool', held, '--listen', '127.0.0.1:0'], new RegExp(`in use by process ${process.pid}\\b`)],
    ]
    const results = await within(Promise.all(runs.map(([args]) => spawnRelay(args).exited)), 30_000, 'the CLI runs')
    for (const [i, r] of results.entries()) {
      const [args, message] = runs[i]
      // soft: every case is reported, not only the first that fails
      expect.soft(r.code, args.join(' ')).toBe(i === runs.length - 1 ? 1 : 2) // a usage error, or the spool's holder
      expect.soft(r.stderr, args.join(' ')).toMatch(message)
      expect.soft(r.stdout, args.join(' ')).not.toMatch(/^relaying /m)
    }
  })

  it('tells at once that upstream is down, with what to do, and when it forwards again', async () => {
    let up = false
    const upstream = await fake(() => (up ? undefined : { status: 503, body: 'unavailable' }))
    const child = spawnRelay(['--url', upstream.url, '--spool', newDir(), '--listen', '127.0.0.1:0'])
    const url = await within(child.url, 20_000, 'the relay listening')
    expect((await post(url, codec.encode([series('outage', 3, 1)]))).status).toBe(204)
    const t0 = Date.now()
    await until(() => /^upstream: HTTP 503 \(unavailable\); retrying, devices' data waits in the spool$/m.test(child.out.stderr), 10_000, 'the relay telling the outage')
    expect(Date.now() - t0).toBeLessThan(3000)
    up = true
    await until(() => /^upstream: forwarding again after \d+ s and \d+ retries$/m.test(child.out.stderr), 20_000, 'the relay telling the recovery')
    expect(child.out.stderr.match(/^upstream: HTTP 503/gm)).toHaveLength(1) // once per cause, not per retry
    child.proc.kill('SIGINT')
    expect((await within(child.exited, 15_000, 'the relay exiting')).code).toBe(0)
  })

  it('prints no secret (bearer token, basic auth, URL user info and query, header) and /metrics has none, upstream answering 401 with them echoed', async () => {
    const echo = await fake((r) => ({ status: 401, body: `unauthorized ${r.url} ${JSON.stringify(r.headers)}` }))
    const credsUrl = echo.url.replace('http://', 'http://urluser:urlpw-SECRET-1@')
    const setups: string[][] = [
      ['--url', `${echo.url}?api_key=q-SECRET-2`, '--bearer-token', 'tok-SECRET-3', '--header', 'X-Api-Key: key-SECRET-4'],
      ['--url', credsUrl, '--basic-auth', 'me:pw-SECRET-5'],
    ]
    const base64 = ['urluser:urlpw-SECRET-1', 'me:pw-SECRET-5'].map((s) => Buffer.from(s).toString('base64'))
    const runs = await Promise.all(setups.map(async (args) => {
      const child = spawnRelay([...args, '--spool', newDir(), '--listen', '127.0.0.1:0'])
      const url = await within(child.url, 20_000, 'the relay listening')
      const before = echo.requests.length
      expect((await post(url, codec.encode([series('secret', 3, 1)]))).status).toBe(204)
      await until(() => /^upstream: /m.test(child.out.stderr), 15_000, 'the relay reporting the 401')
      expect(echo.requests.length).toBeGreaterThan(before)
      const metrics = await (await fetch(url.replace('/api/v1/write', '/metrics'))).text()
      child.proc.kill('SIGINT')
      const run = await within(child.exited, 15_000, 'the relay exiting on SIGINT')
      return { args, run, metrics }
    }))
    // The secrets did reach upstream (so the echo had them to leak).
    expect(echo.requests.some((r) => r.headers.authorization === 'Bearer tok-SECRET-3' && r.headers['x-api-key'] === 'key-SECRET-4' && r.url.includes('q-SECRET-2'))).toBe(true)
    expect(echo.requests.some((r) => r.headers.authorization === `Basic ${base64[1]}`)).toBe(true)
    for (const { args, run, metrics } of runs) {
      const out = `${run.stdout}\n${run.stderr}\n${metrics}`
      expect(run.code, args.join(' ')).toBe(1) // the 401 failed the batch for good
      expect(run.stderr).toMatch(/HTTP 401/)
      expect(metrics).toMatch(/^prw_relay_failed_samples_total 3$/m)
      expect(out, args.join(' ')).not.toContain('SECRET')
      for (const b of base64) expect(out, args.join(' ')).not.toContain(b)
    }
  })
})
