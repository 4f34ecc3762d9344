/**
 * The input layer of `prw backfill`, format by format: how fast files are parsed (readItems),
 * parsed and merged into series (readItems + regroup), and run through the whole dry run
 * (`backfill({ dryRun: true })`: read, regroup, validate with the codec), and the same work
 * with readItems handed to regroup directly ('dry, direct': backfill.ts puts its skipDone
 * async generator between them).
 *
 *   npx tsx bench/parsers.ts                    # every corpus, 5 rounds
 *   npx tsx bench/parsers.ts --rounds 3 prom    # corpora matching /prom/
 *   npx tsx bench/parsers.ts --ab /tmp/old/src  # the same, interleaved with another src/ tree
 *   npx tsx bench/parsers.ts --keep /tmp/corpus # writes the corpora there and keeps them
 *
 * The corpora are generated from fixed seeds (xorshift32) into temporary files at start, so
 * every run and every tree parses the same bytes from the page cache. Each round runs every
 * (corpus, stage, tree) once, in an order that alternates between rounds; the table gives the
 * median of the rounds and the spread (min-max, as % of the median). Every run must yield
 * exactly the corpus's samples, or the bench stops.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { seeded } from './workloads.js'

// ---- options -----------------------------------------------------------------------------

const usage = 'usage: tsx bench/parsers.ts [--rounds N] [--ab SRC_DIR] [--keep DIR] [corpus regex...]'
let rounds = 5
let abDir: string | undefined
let keepDir: string | undefined
const filters: string[] = []
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]
  if (a === '--rounds') rounds = Number(argv[++i])
  else if (a === '--ab') abDir = resolve(argv[++i] ?? '')
  else if (a === '--keep') keepDir = resolve(argv[++i] ?? '')
  else if (a.startsWith('-')) {
    console.error(usage)
    process.exit(2)
  } else filters.push(a)
}
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(usage)
  process.exit(2)
}

/** A regular major GC between runs, so that one run's garbage is not collected on the next one's clock. */
const gc: () => void = (() => {
  setFlagsFromString('--expose-gc')
  const collect = runInNewContext('gc') as (options: { type: 'major', execution: 'sync' }) => void
  return () => collect({ type: 'major', execution: 'sync' })
})()

// ---- corpora -----------------------------------------------------------------------------

const T0 = 1_700_000_000_000

/** Appends text to a list of parts and counts samples; joined once at the end. */
class Text {
  parts: string[] = []
  samples = 0
  push (s: string): void { this.parts.push(s) }
  bytes (): Buffer { return Buffer.from(this.parts.join('')) }
}

/** A value as Go's exporters print them: integers, decimals, and exponents (%g) mixed. */
function valueText (rand: () => number, shape: number): string {
  switch (shape) {
    case 0: return String(Math.floor(rand() * 1e6)) // an integer counter
    case 1: return (rand() * 1e5).toFixed(2) // seconds: 12345.67
    case 2: return (rand() * 1e10).toExponential(7).replace(/e\+?(-?)(\d)$/, 'e+0$1$2') // bytes: 1.6777216e+09
    default: return (rand() * 1e-3).toExponential(4).replace('e-', 'e-0') // durations: 1.2345e-04
  }
}

interface Family { name: string, type: string, help: string, shape: number, labels: Array<Record<string, string>> }

/** node_exporter's families as a Prometheus server would dump them: 2-6 labels per series. */
function nodeFamilies (): Family[] {
  const product = (a: Array<Record<string, string>>, key: string, values: string[]): Array<Record<string, string>> =>
    a.flatMap(l => values.map(v => ({ ...l, [key]: v })))
  const none = [{}]
  const cpus = Array.from({ length: 8 }, (_, i) => String(i))
  const modes = ['idle', 'iowait', 'irq', 'nice', 'softirq', 'steal', 'system', 'user']
  const disks = ['nvme0n1', 'nvme1n1', 'sda', 'sdb']
  const nics = ['eth0', 'eth1', 'lo', 'docker0']
  const fs = [
    { device: '/dev/nvme0n1p2', fstype: 'ext4', mountpoint: '/' },
    { device: '/dev/nvme0n1p1', fstype: 'vfat', mountpoint: '/boot/efi' },
    { device: 'tmpfs', fstype: 'tmpfs', mountpoint: '/run' },
    { device: '/dev/sda1', fstype: 'xfs', mountpoint: '/var/lib/docker' },
  ]
  const units = ['sshd.service', 'docker.service', 'containerd.service', 'cron.service', 'systemd-journald.service', 'node_exporter.service', 'nginx.service', 'postgresql@15-main.service']
  const states = ['activating', 'active', 'deactivating', 'failed', 'inactive']
  return [
    { name: 'node_cpu_seconds_total', type: 'counter', help: 'Seconds the CPUs spent in each mode.', shape: 1, labels: product(product(none, 'cpu', cpus), 'mode', modes) },
    { name: 'node_disk_read_bytes_total', type: 'counter', help: 'The total number of bytes read successfully.', shape: 2, labels: product(none, 'device', disks) },
    { name: 'node_disk_io_time_seconds_total', type: 'counter', help: 'Total seconds spent doing I/Os.', shape: 1, labels: product(none, 'device', disks) },
    { name: 'node_filesystem_avail_bytes', type: 'gauge', help: 'Filesystem space available to non-root users in bytes.', shape: 2, labels: fs },
    { name: 'node_filesystem_files_free', type: 'gauge', help: 'Filesystem total free file nodes.', shape: 0, labels: fs },
    { name: 'node_load1', type: 'gauge', help: '1m load average.', shape: 1, labels: none },
    { name: 'node_memory_MemAvailable_bytes', type: 'gauge', help: 'Memory information field MemAvailable_bytes.', shape: 2, labels: none },
    { name: 'node_network_receive_bytes_total', type: 'counter', help: 'Network device statistic receive_bytes.', shape: 2, labels: product(none, 'device', nics) },
    { name: 'node_network_transmit_packets_total', type: 'counter', help: 'Network device statistic transmit_packets.', shape: 0, labels: product(none, 'device', nics) },
    { name: 'node_network_info', type: 'gauge', help: 'Non-numeric data from /sys/class/net/<iface>, value is always 1.', shape: 0, labels: nics.map((d, i) => ({ address: `02:42:ac:11:00:0${i}`, device: d, duplex: 'full', operstate: 'up' })) },
    { name: 'go_gc_duration_seconds', type: 'summary', help: 'A summary of the pause duration of garbage collection cycles.', shape: 3, labels: product(none, 'quantile', ['0', '0.25', '0.5', '0.75', '1']) },
    { name: 'node_systemd_unit_state', type: 'gauge', help: 'Systemd unit', shape: 0, labels: product(product(product(none, 'name', units), 'state', states), 'type', ['simple']) },
    { name: 'node_scrape_collector_duration_seconds', type: 'gauge', help: 'node_exporter: Duration of a collector scrape.', shape: 3, labels: product(none, 'collector', ['cpu', 'diskstats', 'filesystem', 'loadavg', 'meminfo', 'netdev', 'systemd']) },
  ]
}

/** Prometheus text: scrapes of 4 hosts every 15 s, each with its # HELP / # TYPE lines. */
function promCorpus (targetBytes: number): Text {
  const rand = seeded(0x9e3779b9)
  const families = nodeFamilies()
  const hosts = Array.from({ length: 4 }, (_, h) => `instance="node-${h}.example.net:9100",job="node"`)
  const out = new Text()
  let bytes = 0
  for (let scrape = 0; bytes < targetBytes; scrape++) {
    for (const [h, host] of hosts.entries()) {
      const ts = T0 + scrape * 15_000 + h * 7
      for (const f of families) {
        const lines = [`# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`]
        for (const l of f.labels) {
          const set = Object.entries(l).map(([k, v]) => `${k}="${v}"`).concat(host).join(',')
          lines.push(`${f.name}{${set}} ${valueText(rand, f.shape)} ${ts}\n`)
          out.samples++
        }
        const s = lines.join('')
        out.push(s)
        bytes += s.length
      }
    }
  }
  return out
}

/** CSV: 200 sensors × readings every 10 s, 3 label columns, 2 value columns. */
function csvCorpus (targetBytes: number, iso: boolean): Text {
  const rand = seeded(0x2545f491)
  const sensors = Array.from({ length: 200 }, (_, i) => `sensor-${i},${['eu-west', 'us-east', 'ap-south'][i % 3]},rack-${i % 17}`)
  const out = new Text()
  out.push('timestamp,sensor,region,rack,temperature,humidity\n')
  let bytes = 0
  for (let step = 0; bytes < targetBytes; step++) {
    const t = T0 + step * 10_000
    const ts = iso ? new Date(t).toISOString().replace('.000Z', 'Z') : String(t)
    const rows: string[] = []
    for (const s of sensors) {
      rows.push(`${ts},${s},${(15 + rand() * 20).toFixed(2)},${Math.floor(rand() * 100)}\n`)
      out.samples += 2
    }
    const chunk = rows.join('')
    out.push(chunk)
    bytes += chunk.length
  }
  return out
}

/** VictoriaMetrics JSON lines: 2,000 series cut into chunks of 300 samples, chunks interleaved. */
function jsonlCorpus (targetBytes: number): Text {
  const rand = seeded(0x6c078965)
  const series = Array.from({ length: 2000 }, (_, i) => JSON.stringify({
    __name__: ['http_requests_total', 'process_cpu_seconds_total', 'node_memory_Active_bytes'][i % 3],
    instance: `10.0.${i >> 8}.${i & 255}:9100`,
    job: ['api', 'node', 'db'][i % 3],
    ...(i % 2 === 0 ? { env: 'prod' } : {}),
  }))
  const out = new Text()
  let bytes = 0
  for (let chunk = 0; bytes < targetBytes; chunk++) {
    for (const [i, metric] of series.entries()) {
      const shape = i % 3
      const values: string[] = []
      const timestamps: string[] = []
      for (let k = 0; k < 300; k++) {
        values.push(shape === 0 ? String(Math.floor(rand() * 1e6)) : shape === 1 ? (rand() * 1e4).toFixed(3) : String(rand() * 1e9))
        timestamps.push(String(T0 + (chunk * 300 + k) * 15_000))
      }
      const line = `{"metric":${metric},"values":[${values.join(',')}],"timestamps":[${timestamps.join(',')}]}\n`
      out.push(line)
      out.samples += 300
      bytes += line.length
    }
  }
  return out
}

interface Corpus {
  id: string
  format: 'prom' | 'csv' | 'jsonl'
  path: string
  bytes: number
  samples: number
  /** CSV options: the tree under test (and a tree given with --ab, if it differs). */
  csv?: Record<string, unknown>
  csvOther?: Record<string, unknown>
}

const dir = keepDir ?? mkdtempSync(join(tmpdir(), 'prw-bench-parsers-'))
mkdirSync(dir, { recursive: true })
const MB = 1e6
const specs: Array<{ id: string, format: Corpus['format'], make: () => Text, csv?: Record<string, unknown>, csvOther?: Record<string, unknown> }> = [
  { id: 'prom', format: 'prom', make: () => promCorpus(30 * MB) },
  { id: 'csv', format: 'csv', make: () => csvCorpus(20 * MB, false), csv: { valueColumns: ['temperature', 'humidity'] } },
  // ISO timestamps without a flag; a tree from before they were recognised gets timestampUnit 'iso'.
  { id: 'csv-iso', format: 'csv', make: () => csvCorpus(20 * MB, true), csv: { valueColumns: ['temperature', 'humidity'] }, csvOther: { valueColumns: ['temperature', 'humidity'], timestampUnit: 'iso' } },
  { id: 'jsonl', format: 'jsonl', make: () => jsonlCorpus(40 * MB) },
]
const corpora: Corpus[] = []
for (const s of specs) {
  if (filters.length > 0 && !filters.some(f => new RegExp(f).test(s.id))) continue
  const text = s.make()
  const path = join(dir, `${s.id}.${s.format === 'prom' ? 'prom' : s.format}`)
  writeFileSync(path, text.bytes())
  corpora.push({ id: s.id, format: s.format, path, bytes: statSync(path).size, samples: text.samples, csv: s.csv, csvOther: s.csvOther ?? s.csv })
}
process.on('exit', () => { if (keepDir === undefined) rmSync(dir, { recursive: true, force: true }) })

// ---- trees and stages --------------------------------------------------------------------

/** A codec, as the dry run uses it to validate. */
interface Codec {
  begin: () => void
  append: (item: unknown, index: number) => void
}

/** What a stage needs from a src/ tree. */
interface Tree {
  name: string
  openInput: (path: string) => { stream: AsyncIterable<Uint8Array> }
  readItems: (source: AsyncIterable<Uint8Array>, options: Record<string, unknown>) => AsyncIterable<{ item?: { values: unknown[] }, error?: { line: number, message: string } }>
  regroup: (records: AsyncIterable<unknown>, options: { windowSamples: number }) => AsyncIterable<{ samples?: number, items?: unknown[], error?: { line: number, message: string } }>
  backfill: (options: Record<string, unknown>) => Promise<{ samplesSent: number, rejectedLines: number, rejectedSeries: number }>
  codec: Codec
}

async function loadTree (name: string, src: string): Promise<Tree> {
  const input = await import(pathToFileURL(join(src, 'input/index.ts')).href) as Tree
  const commands = await import(pathToFileURL(join(src, 'commands/backfill.ts')).href) as Tree
  const lib = await import(pathToFileURL(join(src, 'index.ts')).href) as { RemoteWriter: { init: () => Promise<void> }, createCodec: () => Promise<Codec> }
  await lib.RemoteWriter.init()
  return { name, openInput: input.openInput, readItems: input.readItems, regroup: input.regroup, backfill: commands.backfill, codec: await lib.createCodec() }
}

const WINDOW = 200_000 // backfill's default window

/**
 * 'dry run' is backfill({ dryRun: true }) as it is; 'dry, direct' is the same work with
 * readItems handed to regroup directly (backfill.ts wraps it in skipDone, an async generator
 * that costs a few promise turns per record): read, regroup, and each item validated by the
 * codec (begin + append), as validateOnly does.
 */
type Stage = 'readItems' | '+regroup' | 'dry run' | 'dry, direct'
const STAGES: Stage[] = ['readItems', '+regroup', 'dry run', 'dry, direct']

function readOptions (c: Corpus, tree: Tree, trees: Tree[]): Record<string, unknown> {
  return { format: c.format, ...(tree === trees[0] ? c.csv : c.csvOther) }
}

/** Runs one stage once; returns the samples it saw. */
async function runStage (c: Corpus, stage: Stage, tree: Tree, trees: Tree[]): Promise<number> {
  const options = readOptions(c, tree, trees)
  if (stage === 'dry run') {
    const { format, ...csv } = options
    const s = await tree.backfill({ files: [c.path], dryRun: true, format, csv, report: () => {} })
    if (s.rejectedLines !== 0 || s.rejectedSeries !== 0) throw new Error(`${c.id} ${tree.name}: ${s.rejectedLines} rejected lines, ${s.rejectedSeries} rejected series`)
    return s.samplesSent
  }
  const records = tree.readItems(tree.openInput(c.path).stream, options)
  let samples = 0
  if (stage === 'readItems') {
    for await (const r of records) {
      if (r.error !== undefined) throw new Error(`${c.id} ${tree.name}: line ${r.error.line}: ${r.error.message}`)
      samples += (r.item as { values: unknown[] }).values.length
    }
    return samples
  }
  for await (const b of tree.regroup(records, { windowSamples: WINDOW })) {
    if (b.error !== undefined) throw new Error(`${c.id} ${tree.name}: line ${b.error.line}: ${b.error.message}`)
    samples += b.samples as number
    if (stage === 'dry, direct') {
      for (const item of b.items as unknown[]) {
        tree.codec.begin()
        tree.codec.append(item, 0)
      }
    }
  }
  return samples
}

// ---- the run -----------------------------------------------------------------------------

const here = new URL('.', import.meta.url).pathname
const trees = [await loadTree('this tree', join(here, '../src'))]
if (abDir !== undefined) trees.push(await loadTree(abDir, abDir))

const times = new Map<string, number[]>()
/** CPU time of the process per run, ms: on a shared machine a steadier measure of one core's work than the wall clock. */
const cpuTimes = new Map<string, number[]>()
const key = (c: Corpus, stage: Stage, tree: Tree): string => `${c.id}\u0000${stage}\u0000${tree.name}`
console.log(`corpora in ${dir}: ${corpora.map(c => `${c.id} ${(c.bytes / MB).toFixed(1)} MB, ${c.samples} samples`).join('; ')}`)

// Untimed warm-up: one pass of every stage (JIT, page cache).
for (const c of corpora) for (const tree of trees) await runStage(c, 'dry run', tree, trees)

for (let round = 0; round < rounds; round++) {
  for (const c of corpora) {
    for (const stage of STAGES) {
      const order = round % 2 === 0 ? trees : [...trees].reverse()
      for (const tree of order) {
        gc()
        const cpu = process.cpuUsage()
        const t = process.hrtime.bigint()
        const n = await runStage(c, stage, tree, trees)
        const ms = Number(process.hrtime.bigint() - t) / 1e6
        const used = process.cpuUsage(cpu)
        if (n !== c.samples) throw new Error(`${c.id} ${stage} ${tree.name}: ${n} samples, expected ${c.samples}`)
        const list = times.get(key(c, stage, tree)) ?? []
        list.push(ms)
        times.set(key(c, stage, tree), list)
        const cpuList = cpuTimes.get(key(c, stage, tree)) ?? []
        cpuList.push((used.user + used.system) / 1000)
        cpuTimes.set(key(c, stage, tree), cpuList)
      }
    }
  }
  process.stderr.write(`round ${round + 1}/${rounds} done\n`)
}

// ---- the table ---------------------------------------------------------------------------

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const rows: string[][] = [['corpus', 'stage', 'tree', 'MB/s', 'samples/s', 'median ms', 'spread', 'best samples/s', 'samples/cpu-s', 'cpu ms']]
for (const c of corpora) {
  for (const stage of STAGES) {
    for (const tree of trees) {
      const ms = times.get(key(c, stage, tree)) as number[]
      const m = median(ms)
      const spread = (Math.max(...ms) - Math.min(...ms)) / m * 100
      const cpu = median(cpuTimes.get(key(c, stage, tree)) as number[])
      rows.push([c.id, stage, tree.name, (c.bytes / MB / (m / 1000)).toFixed(1), `${(c.samples / (m / 1000) / 1e6).toFixed(2)}M`, m.toFixed(0), `±${(spread / 2).toFixed(0)}%`,
        `${(c.samples / (Math.min(...ms) / 1000) / 1e6).toFixed(2)}M`, `${(c.samples / (cpu / 1000) / 1e6).toFixed(2)}M`, cpu.toFixed(0)])
    }
  }
}
const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)))
for (const [i, r] of rows.entries()) {
  console.log(r.map((cell, j) => (j >= 3 ? cell.padStart(widths[j]) : cell.padEnd(widths[j]))).join('  '))
  if (i === 0) console.log(widths.map(w => '-'.repeat(w)).join('  '))
}
console.log(`\nnode ${process.version}, ${rounds} rounds, median; spread is (max - min) / 2 as % of the median; window ${WINDOW} samples;`)
console.log('best: the fastest round (neighbours on a shared machine only slow a round down); cpu: user + system time of')
console.log('the whole process (GC and I/O threads included), median of the rounds')
