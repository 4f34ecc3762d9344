/**
 * Encode benchmark: this project's WebAssembly codec against the protobufjs + snappyjs
 * path of `prometheus-remote-write` (and protobufjs + native snappy), on the seeded
 * workloads of bench/workloads.ts, then snappy compression alone.
 *
 * One tinybench iteration encodes K consecutive requests of a workload (a rolling cursor
 * walks the whole workload across iterations); per-iteration input preparation (fresh
 * label objects for "cold", the next timestamp for "warm") runs in `beforeEach`, outside
 * the timed window. Before timing, one request of every section is encoded by every stack,
 * decoded with native snappy + protobufjs, and compared.
 *
 *   npm run bench -- [filter ...] [--quick] [--json FILE]
 */
import { cpus } from 'node:os'
import { writeFileSync } from 'node:fs'
import { parseArgs, isDeepStrictEqual } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Bench } from 'tinybench'
import SnappyJS from 'snappyjs'
import { createCodec } from '../src/index.js'
import type { Codec, Item } from '../src/index.js'
import { Core, loadCore } from '../src/core/wasm.js'
import {
  decodeBody, encodePeer, nativeCompress, nativeUncompress, peerNative, peerSnappyjs, snappyjsCompress,
} from './peers.js'
import type { DecodedRequest } from './peers.js'
import { freshLabels, nextTimestamp, w1Backfill, w2Gateway, w3Counters, w4PrometheusLayout } from './workloads.js'
import type { Request, Workload } from './workloads.js'

const usage = `usage: npm run bench -- [filter ...] [--quick] [--rounds N] [--json FILE]

  filter       regular expressions matched against section ids:
               W1, W2/cold, W2/warm, W3, W4, snappy/W1, snappy/W2 (default: all)
  --quick      short time budget per task (a smoke run)
  --rounds N   rounds per section, best round kept (default 2, 1 with --quick)
  --json FILE  also write the results as JSON
  --help       this text`

const { values: opts, positionals: filters } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
})
if (opts.help) {
  console.log(usage)
  process.exit(0)
}

/** Per-task budgets, ms and iterations (tinybench keeps going until both are met). */
const budget = opts.quick
  ? { time: 250, iterations: 3, warmupTime: 60, warmupIterations: 1 }
  : { time: 1000, iterations: 8, warmupTime: 1000, warmupIterations: 10 }

const rounds = opts.rounds !== undefined ? Number(opts.rounds) : opts.quick ? 1 : 2
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(usage)
  process.exit(2)
}

const wanted = (id: string): boolean => filters.length === 0 || filters.some((f) => new RegExp(f).test(id))

/**
 * A full GC between tasks, so one stack's garbage is not collected on another's clock.
 *
 * It asks for a regular major GC. A bare `gc()` collects "all available garbage" and leaves
 * V8 reducing memory afterwards: for the next second or so, every 64 MB of new ArrayBuffers
 * started another major GC of the whole (about 100 MB) heap. That taxed whichever stack
 * allocates its output fastest: `encode()` copies ran 20% behind `encodeView()` after a bare
 * `gc()`, 2-6% behind after `gc({ type: 'major' })` or none. No production process calls gc().
 */
const gc: () => void = (() => {
  setFlagsFromString('--expose-gc')
  const collect = runInNewContext('gc') as (options: { type: 'major', execution: 'sync' }) => void
  return () => collect({ type: 'major', execution: 'sync' })
})()

// ---- stacks ------------------------------------------------------------------------------

/** One way of producing a snappy-compressed WriteRequest body from a request. */
interface Stack {
  /** Column label, `(a)`/`(b)`/`(c)` first. */
  name: string
  /** `a` rows carry the targets; `b` is the baseline of the ratios. */
  kind: 'a' | 'a*' | 'b' | 'c'
  encode: (r: Request) => Uint8Array
  /** Uncompressed protobuf bytes this stack produces for `r` (untimed). */
  pbBytes: (r: Request) => number
  /** Prepares the next batch (untimed); returns what encode() receives. */
  prepare?: (batch: Request[]) => Request[]
  /** Cache counters, for the JSON. */
  stats?: () => unknown
}

function ours (codec: Codec, name: string, view = false, kind: Stack['kind'] = 'a'): Stack {
  return {
    name,
    kind,
    encode: view ? (r) => codec.encodeView(r.items) : (r) => codec.encode(r.items),
    pbBytes: (r) => codec.encodeProtobuf(r.items).length,
    stats: () => codec.stats(),
  }
}

/**
 * `codec.encode()` of the same requests with `item.series` handles (made untimed, one per
 * label set) instead of `item.metric`; values and timestamps arrays are shared.
 */
function withHandles (codec: Codec, w: Workload): Stack {
  const handleOf = new Map(w.labelSets.map((labels) => [labels, codec.series(labels)]))
  const itemsOf = new Map(w.requests.map((r) => [r, r.items.map((it): Item => ({
    series: handleOf.get(it.metric as Record<string, string>), values: it.values, timestamps: it.timestamps,
  }))]))
  return {
    ...ours(codec, '(a) ours encode, series() handles', false, 'a*'),
    encode: (r) => codec.encode(itemsOf.get(r)!),
    pbBytes: (r) => codec.encodeProtobuf(itemsOf.get(r)!).length,
  }
}

function peers (): Stack[] {
  const pbBytes = (r: Request): number => encodePeer(r.peer).length
  return [
    { name: '(b) protobufjs + snappyjs', kind: 'b', encode: (r) => peerSnappyjs(r.peer), pbBytes },
    { name: '(c) protobufjs + native snappy', kind: 'c', encode: (r) => peerNative(r.peer), pbBytes },
  ]
}

// ---- sections ----------------------------------------------------------------------------

interface Section {
  id: string
  layout: string
  /** Requests per timed iteration. */
  k: number
  requests: Request[]
  stacks: Stack[]
  /** Ratio of `a` over `b` we aim for. */
  target?: number
  /** prepare() advances timestamps: the check encodes request 0 unprepared. */
  warm?: boolean
}

interface Row {
  section: string
  stack: string
  kind: Stack['kind']
  samplesPerSec: number
  pbMBps: number
  bytesPerSample: number
  pbBytesPerSample: number
  vsB: number
  target?: number
  rmePct: number
  iterations: number
  meanMs: number
  stats?: unknown
}

const workload = new Map<string, Workload>()
function load (id: string, make: () => Workload): Workload {
  let w = workload.get(id)
  if (w === undefined) {
    const t = performance.now()
    w = make()
    workload.set(id, w)
    note(`generated ${id} (${w.requests.length} requests) in ${((performance.now() - t) / 1000).toFixed(1)} s`)
  }
  return w
}
function note (msg: string): void {
  process.stderr.write(`# ${msg}\n`)
}

/**
 * The sections, each built just before it runs. Built all at once, every section's data
 * (workloads, three warmed codecs with 200,000 cached series) weighed on every other
 * section's GC: allocation-heavy W2/cold then ran 25% slower and with a ±30% spread.
 */
function sections (): Array<{ id: string, build: () => Promise<Section> }> {
  const out: Array<{ id: string, build: () => Promise<Section> }> = []
  // W1 and W3: multi-sample series, the codec's copy and view against the peers.
  const series = (id: string, make: () => Workload, target: number): { id: string, build: () => Promise<Section> } => ({
    id,
    build: async () => {
      const w = load(id, make)
      return {
        id, layout: w.layout, k: 10, requests: w.requests, target,
        stacks: [ours(await createCodec(), '(a) ours encode (copy)'), ours(await createCodec(), '(a) ours encodeView', true, 'a*'), ...peers()],
      }
    },
  })
  if (wanted('W1')) out.push(series('W1', w1Backfill, 7))
  if (wanted('W2/cold')) {
    out.push({
      id: 'W2/cold',
      build: async () => {
        const w = load('W2', w2Gateway)
        const fresh = (batch: Request[]): Request[] => batch.map(freshLabels)
        return {
          id: 'W2/cold', layout: `${w.layout}; fresh label objects every iteration (persistent codec, cache misses)`, k: 5, requests: w.requests,
          stacks: [ours(await createCodec(), '(a) ours encode (copy)'), ...peers()].map((s) => ({ ...s, prepare: fresh })),
        }
      },
    })
  }
  if (wanted('W2/warm')) {
    out.push({
      id: 'W2/warm',
      build: async () => {
        const w = load('W2', w2Gateway)
        const byObject = await createCodec()
        const view = await createCodec()
        const handles = await createCodec()
        // Warm the caches with one pass over the whole workload (200k label sets).
        for (const r of w.requests) {
          byObject.encode(r.items)
          view.encodeView(r.items)
        }
        return {
          id: 'W2/warm', layout: `${w.layout}; same label objects again, next timestamp`, k: 5, requests: w.requests, target: 15, warm: true,
          stacks: [
            ours(byObject, '(a) ours encode (copy)'),
            ours(view, '(a) ours encodeView', true, 'a*'),
            withHandles(handles, w),
            ...peers(),
          ].map((s) => ({ ...s, prepare: nextTimestamp })),
        }
      },
    })
  }
  if (wanted('W3')) out.push(series('W3', w3Counters, 6))
  if (wanted('W4')) {
    out.push({
      id: 'W4',
      build: async () => {
        const w = load('W4', w4PrometheusLayout)
        return {
          id: 'W4', layout: w.layout, k: 5, requests: w.requests, target: 15,
          stacks: [
            ours(await createCodec(), '(a) ours encode (copy)'),
            ours(await createCodec(), '(a) ours encodeView', true, 'a*'),
            withHandles(await createCodec(), w),
            ...peers(),
          ],
        }
      },
    })
  }
  return out
}

/** The workload each section needs last: it is dropped once that section has run. */
const LAST_USE: Record<string, string> = { W1: 'W1', 'W2/warm': 'W2', W3: 'W3', W4: 'W4' }

// ---- correctness gate ----------------------------------------------------------------------

function counts (d: DecodedRequest): { series: number, samples: number } {
  let samples = 0
  for (const ts of d.timeseries) samples += ts.samples.length
  return { series: d.timeseries.length, samples }
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
}

/** Encodes request 0 with every stack and checks that all bodies decode to the same request. */
function check (s: Section): void {
  let base: DecodedRequest | undefined
  for (const stack of [...s.stacks].sort((x, y) => (x.kind === 'b' ? -1 : y.kind === 'b' ? 1 : 0))) {
    const [r] = stack.prepare && !s.warm ? stack.prepare([s.requests[0]]) : [s.requests[0]]
    const body = stack.encode(r).slice()
    const decoded = decodeBody(body)
    const c = counts(decoded)
    if (c.series !== r.series || c.samples !== r.samples) {
      throw new Error(`${s.id} ${stack.name}: decoded ${c.series} series / ${c.samples} samples, want ${r.series} / ${r.samples}`)
    }
    if (!sameBytes(SnappyJS.uncompress(body), nativeUncompress(body))) {
      throw new Error(`${s.id} ${stack.name}: snappyjs and native snappy decode the body differently`)
    }
    if (base === undefined) base = decoded
    else if (!isDeepStrictEqual(decoded, base)) {
      throw new Error(`${s.id} ${stack.name}: decodes differently from (b)`)
    }
  }
}

// ---- timing ----------------------------------------------------------------------------------

/** A task to time: its function and per-iteration hook. */
interface Timed {
  name: string
  fn: () => void
  beforeEach?: () => void
}

/** Latency stats of the best round of a task. */
interface Best {
  meanMs: number
  rmePct: number
  iterations: number
}

/**
 * Runs `tasks` for `rounds` rounds (alternating the order) and keeps, per task, the round
 * with the lowest mean latency: neighbours on a shared machine only ever slow a round down.
 */
function measure (id: string, tasks: Timed[]): Map<string, Best> {
  const best = new Map<string, Best>()
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ name: id, throws: true, setup: () => { if (process.env.BENCH_NO_GC === undefined) gc() }, ...budget })
    for (const t of round % 2 === 0 ? tasks : [...tasks].reverse()) {
      bench.add(t.name, t.fn, t.beforeEach ? { beforeEach: t.beforeEach } : {})
    }
    bench.runSync()
    for (const t of tasks) {
      const res = bench.getTask(t.name)?.result
      if (res === undefined || !('latency' in res)) throw new Error(`${id} ${t.name}: no result (${res?.state})`)
      const prev = best.get(t.name)
      if (prev === undefined || res.latency.mean < prev.meanMs) {
        best.set(t.name, { meanMs: res.latency.mean, rmePct: res.latency.rme, iterations: res.latency.samplesCount })
      }
    }
  }
  return best
}

/** Keeps results observable so no encode call can be optimized away. */
let sink = 0

function run (s: Section): Row[] {
  const n = s.requests.length
  const sizes = new Map<Stack, { pb: number, body: number, samples: number }>()
  const tasks: Timed[] = []
  for (const stack of s.stacks) {
    let cursor = 0
    let batch: Request[] = []
    // Sizes over one iteration's worth of requests (untimed).
    const first = s.requests.slice(0, s.k)
    const prepared = stack.prepare ? stack.prepare(first) : first
    let pb = 0
    let body = 0
    let samples = 0
    for (const r of prepared) {
      pb += stack.pbBytes(r)
      body += stack.encode(r).length
      samples += r.samples
    }
    sizes.set(stack, { pb, body, samples })
    tasks.push({
      name: stack.name,
      fn: () => {
        for (let i = 0; i < batch.length; i++) sink += stack.encode(batch[i]).length
      },
      beforeEach: () => {
        const next: Request[] = []
        for (let i = 0; i < s.k; i++) next.push(s.requests[(cursor + i) % n])
        cursor = (cursor + s.k) % n
        batch = stack.prepare ? stack.prepare(next) : next
      },
    })
  }
  const best = measure(s.id, tasks)
  const rows: Row[] = []
  for (const stack of s.stacks) {
    const res = best.get(stack.name)!
    const size = sizes.get(stack)!
    // Every request of a section has the same sample count, so one iteration = size.samples.
    const samplesPerSec = size.samples / (res.meanMs / 1000)
    rows.push({
      section: s.id,
      stack: stack.name,
      kind: stack.kind,
      samplesPerSec,
      pbMBps: samplesPerSec * (size.pb / size.samples) / 1e6,
      bytesPerSample: size.body / size.samples,
      pbBytesPerSample: size.pb / size.samples,
      vsB: 0,
      target: stack.kind === 'a' ? s.target : undefined,
      rmePct: res.rmePct,
      iterations: res.iterations,
      meanMs: res.meanMs,
      stats: stack.stats?.(),
    })
  }
  const b = rows.find((r) => r.kind === 'b')!
  for (const r of rows) r.vsB = r.samplesPerSec / b.samplesPerSec
  return rows
}

// ---- snappy alone ---------------------------------------------------------------------------

interface SnappyRow {
  section: string
  impl: string
  MBps: number
  vsSnappyjs: number
  sizeVsNativePct: number
  ratio: number
  target?: number
  rmePct: number
  iterations: number
}

async function snappySections (): Promise<SnappyRow[]> {
  const rows: SnappyRow[] = []
  const sources: Array<[string, () => Workload]> = [['W1', w1Backfill], ['W2', w2Gateway]]
  for (const [id, make] of sources) {
    const sectionId = `snappy/${id}`
    if (!wanted(sectionId)) continue
    const w = load(id, make)
    const codec = await createCodec()
    // The uncompressed protobuf of the first 10 requests: what the compressor sees in W1/W2.
    const raws = w.requests.slice(0, 10).map((r) => codec.encodeProtobuf(r.items))
    const total = raws.reduce((a, r) => a + r.length, 0)
    await loadCore()
    const core = new Core()
    const impls: Array<[string, (raw: Uint8Array) => Uint8Array]> = [
      ['(a) ours Core.compress', (raw) => core.compress(raw)],
      ['snappyjs 0.7', snappyjsCompress],
      ['native snappy 7.4', nativeCompress],
    ]
    const sizes = new Map<string, number>()
    for (const [name, fn] of impls) {
      let size = 0
      for (const raw of raws) {
        const out = fn(raw)
        if (!sameBytes(nativeUncompress(out), raw)) throw new Error(`${sectionId} ${name}: round trip failed`)
        size += out.length
      }
      sizes.set(name, size)
    }
    note(`running ${sectionId}: ${raws.length} bodies, ${(total / 1024).toFixed(0)} KiB per iteration`)
    const best = measure(sectionId, impls.map(([name, fn]) => ({
      name,
      fn: () => {
        for (let i = 0; i < raws.length; i++) sink += fn(raws[i]).length
      },
    })))
    const native = sizes.get('native snappy 7.4')!
    const part: SnappyRow[] = impls.map(([name]) => {
      const res = best.get(name)!
      return {
        section: `${sectionId} (${(total / raws.length / 1024).toFixed(0)} KiB body)`,
        impl: name,
        MBps: total / (res.meanMs / 1000) / 1e6,
        vsSnappyjs: 0,
        sizeVsNativePct: sizes.get(name)! / native * 100,
        ratio: total / sizes.get(name)!,
        target: name.startsWith('(a)') ? 2.5 : undefined,
        rmePct: res.rmePct,
        iterations: res.iterations,
      }
    })
    const js = part.find((r) => r.impl.startsWith('snappyjs'))!
    for (const r of part) r.vsSnappyjs = r.MBps / js.MBps
    rows.push(...part)
  }
  return rows
}

// ---- report -----------------------------------------------------------------------------------

function si (n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toPrecision(3)} G`
  if (n >= 1e6) return `${(n / 1e6).toPrecision(3)} M`
  if (n >= 1e3) return `${(n / 1e3).toPrecision(3)} k`
  return n.toPrecision(3)
}

function targetCell (ratio: number, target: number | undefined): string {
  if (target === undefined) return ''
  return `≥${target}× ${ratio >= target ? 'ok' : 'MISS'}`
}

function table (header: string[], rows: string[][], right: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(' | ')} |`
  return [line(header), `|${widths.map((w, i) => (right[i] ? `${'-'.repeat(w + 1)}:` : `:${'-'.repeat(w + 1)}`)).join('|')}|`,
    ...rows.map(line)].join('\n')
}

async function main (): Promise<void> {
  const cpu = cpus()
  const env = {
    node: process.version,
    cpu: `${cpu[0]?.model ?? '?'} × ${cpu.length}`,
    mode: opts.quick ? 'quick' : 'full',
    budget,
    rounds,
    date: new Date().toISOString(),
  }
  note(`node ${env.node}, ${env.cpu}, ${env.mode} (${budget.time} ms / ≥${budget.iterations} iterations per task, best of ${rounds})`)
  const started = performance.now()
  const rows: Row[] = []
  const layouts: string[] = []
  for (const { id, build } of sections()) {
    const s = await build()
    check(s)
    note(`checked ${s.id}: every stack decodes to the same ${s.requests[0].series} series / ${s.requests[0].samples} samples`)
    note(`running ${s.id}: ${s.stacks.length} stacks, ${s.k} requests per iteration`)
    rows.push(...run(s))
    layouts.push(`${s.id}: ${s.layout}; ${s.k} requests per iteration`)
    // W2/cold also ran alone (W2/warm filtered out): drop W2 after it then.
    const last = LAST_USE[id] ?? (id === 'W2/cold' && !wanted('W2/warm') ? 'W2' : undefined)
    if (last !== undefined) workload.delete(last)
  }
  const snappyRows = await snappySections()

  const out: string[] = []
  out.push(`node ${env.node}, ${env.cpu}, ${env.mode} run (${budget.time} ms and ≥${budget.iterations} iterations per task, best of ${rounds} rounds)`)
  if (rows.length > 0) {
    out.push('')
    out.push(...layouts)
    out.push('')
    out.push(table(
      ['workload', 'stack', 'samples/s', 'pb MB/s', 'B/sample', 'vs (b)', 'target', '±%'],
      rows.map((r) => [r.section, r.stack, si(r.samplesPerSec), r.pbMBps.toFixed(1), r.bytesPerSample.toFixed(2),
        `${r.vsB.toFixed(2)}×`, targetCell(r.vsB, r.target), r.rmePct.toFixed(1)]),
      [false, false, true, true, true, true, false, true],
    ))
    out.push('samples/s: samples encoded into snappy bodies per second; pb MB/s: uncompressed protobuf (10^6 B) per second;')
    out.push('B/sample: compressed body bytes per sample; ±%: relative margin of error of the mean (tinybench rme).')
  }
  if (snappyRows.length > 0) {
    out.push('')
    out.push(table(
      ['body', 'snappy', 'MB/s', 'vs snappyjs', 'size vs native', 'ratio', 'target', '±%'],
      snappyRows.map((r) => [r.section, r.impl, r.MBps.toFixed(0), `${r.vsSnappyjs.toFixed(2)}×`,
        `${r.sizeVsNativePct.toFixed(1)}%`, `${r.ratio.toFixed(2)}:1`, targetCell(r.vsSnappyjs, r.target), r.rmePct.toFixed(1)]),
      [false, false, true, true, true, true, false, true],
    ))
  }
  out.push('')
  out.push(`total ${((performance.now() - started) / 1000).toFixed(0)} s`)
  console.log(out.join('\n'))
  if (sink < 0) console.log(sink)
  if (opts.json) {
    writeFileSync(opts.json, JSON.stringify({ env, encode: rows, snappy: snappyRows }, null, 2) + '\n')
    note(`wrote ${opts.json}`)
  }
}

await main()
