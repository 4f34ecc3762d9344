// A child process for test/writer/spool-crash.test.ts: a RemoteWriter with a durable spool,
// run as `node --import tsx test/support/spool-child.ts '<json config>'`. Three modes:
//
//  crash   streams sequence-numbered samples until it is killed: sample q of series s has
//          value q and timestamp T0 + q * 1000. Before writing the samples up to q it appends
//          `R q` (reserved) to the progress file, so a later attempt can start past anything
//          that may be in the spool; after every `flushEvery` chunks it awaits flush() (durable
//          on disk) and appends `D q`: every sample up to q must reach the receiver one day.
//          It says `ready` once the writer is open and `sending` at its first answer.
//  drain   opens the spool, writes nothing, close() with no timeout (replays what is there),
//          prints the summary and the spool's stats as JSON.
//  outage  writes `series` x `samples` samples (values: outageValue below) while the receiver
//          is down, the first 3 chunks at once, then the rest sampling its memory from the
//          first refused attempt on; prints the figures (`written`), waits for a line on stdin
//          (the parent starts the receiver), then flush({ acknowledged: true }) and close(),
//          and prints the stats (`done`).
//
// Lines on stdout are `<tag> <json>`; the parent parses them. Nothing here asserts: the parent does.
import { fsyncSync, openSync, writeSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { RemoteWriter } from '../../src/index.js'
import type { Item, SeriesHandle } from '../../src/index.js'

export interface ChildConfig {
  mode: 'crash' | 'drain' | 'outage'
  url: string
  dir: string
  /** crash: the progress file, the first q, samples per series per chunk, chunks between flushes. */
  progress?: string
  start?: number
  chunk?: number
  flushEvery?: number
  /** The spool's segmentBytes (default: its own). */
  segmentBytes?: number
  /** crash: ms to wait after each chunk (the producer's pace; 0: as fast as it can). */
  pace?: number
  /** crash and outage: how many series. */
  series?: number
  /** outage: samples per series. */
  samples?: number
}

const T0 = 1_700_000_000_000
const CONCURRENCY = 4
const MiB = 1 << 20

const config = JSON.parse(process.argv[2]) as ChildConfig
const say = (tag: string, v: unknown = {}): void => {
  process.stdout.write(`${tag} ${JSON.stringify(v)}\n`)
}
// A child that somehow outlives its parent's kill must not linger.
setTimeout(() => {
  process.stderr.write('spool-child: 120 s safety limit reached\n')
  process.exit(3)
}, 120_000).unref()

await RemoteWriter.init()
const writer = new RemoteWriter({
  url: config.url,
  concurrency: CONCURRENCY,
  minBackoff: 5,
  maxBackoff: config.mode === 'outage' ? 100 : 50,
  spool: { dir: config.dir, maxBytes: 256 * MiB, sync: 'batch', ...(config.segmentBytes === undefined ? {} : { segmentBytes: config.segmentBytes }) },
})
writer.on('warning', (err: Error) => say('warning', { message: err.message }))
writer.on('error', (err: Error) => say('error', { message: err.message }))
writer.on('spool', (ev: unknown) => say('spool', ev))

const labels = (s: number): Record<string, string> => ({ __name__: 'spool_crash', s: String(s) })

if (config.mode === 'drain') {
  const summary = await writer.close()
  say('drained', { summary: { ...summary, errors: summary.errors.map((e) => e.message) }, spool: writer.stats().spool })
} else if (config.mode === 'crash') {
  const fd = openSync(config.progress as string, 'a')
  const S = config.series as number
  const K = config.chunk as number
  const pace = config.pace ?? 0
  const handles: SeriesHandle[] = Array.from({ length: S }, (_, s) => writer.series(labels(s)))
  const values = new Float64Array(K)
  const timestamps = new Float64Array(K)
  const items: Item[] = handles.map((h) => ({ series: h, values, timestamps }))
  say('ready')
  // The first answer: the sender is up (under tsx the I/O thread takes a second to start).
  writer.once('response', () => say('sending'))
  let q = config.start as number
  for (let chunks = 1; ; chunks++) {
    const last = q + K - 1
    // Reserved before anything of it can be in the spool: the next attempt starts past it.
    writeSync(fd, `R ${last}\n`)
    for (let i = 0; i < K; i++) {
      values[i] = q + i
      timestamps[i] = T0 + (q + i) * 1000
    }
    if (!writer.write(items)) await writer.ready()
    if (pace > 0) await sleep(pace)
    q = last + 1
    if (chunks % (config.flushEvery as number) === 0) {
      await writer.flush()
      writeSync(fd, `D ${last}\n`)
      fsyncSync(fd)
    }
  }
} else {
  const S = config.series as number
  const N = config.samples as number
  const K = 100
  let peak = 0
  let phase = 'writing'
  /** Per phase, the peak of each figure of process.memoryUsage(), and of the samples the writer buffers in memory. */
  const peaks: Record<string, Record<string, number>> = {}
  const sample = (): void => {
    const m = process.memoryUsage() as unknown as Record<string, number>
    peak = Math.max(peak, m.rss)
    const p = (peaks[phase] ??= {})
    for (const k of ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers']) p[k] = Math.max(p[k] ?? 0, m[k])
    p.buffered = Math.max(p.buffered ?? 0, writer.stats().buffered.samples)
  }
  const handles: SeriesHandle[] = Array.from({ length: S }, (_, s) => writer.series(labels(s)))
  const values = handles.map(() => new Float64Array(K))
  const timestamps = new Float64Array(K)
  const items: Item[] = handles.map((h, s) => ({ series: h, values: values[s], timestamps }))
  const fill = (q: number): void => {
    for (let i = 0; i < K; i++) timestamps[i] = T0 + (q + i) * 1000
    for (let s = 0; s < S; s++) {
      const v = values[s]
      for (let i = 0; i < K; i++) v[i] = outageValue(s, q + i)
    }
  }
  const refused = new Promise((resolve) => writer.once('response', resolve))
  const began = Date.now()
  let waits = 0
  // The first chunks at once, before any attempt could fail (the I/O thread is still
  // starting): 150,000 samples fill the memory window while the writer still counts as keeping
  // up, and the producer waits for room. Once the first attempt is refused it must go on,
  // writing to disk (it once waited forever for an acknowledgement that could not come).
  const FIRST = 3 * K
  for (let q = 0; q < FIRST; q += K) {
    fill(q)
    if (!writer.write(items)) {
      waits++
      await writer.ready()
    }
  }
  // The baseline: the first attempt refused (the I/O thread is up), garbage collected.
  await refused
  global.gc?.()
  const baseline = process.memoryUsage().rss
  const base = process.memoryUsage()
  const timer = setInterval(sample, 5)
  for (let q = FIRST; q < N; q += K) {
    fill(q)
    if (!writer.write(items)) {
      waits++
      await writer.ready()
    }
    sample()
    // Let the event loop run (retries, the RSS timer) as a real producer would.
    if ((q / K) % 10 === 9) await new Promise((resolve) => setImmediate(resolve))
  }
  await writer.flush()
  sample()
  const st = writer.stats()
  say('written', { baseline, base, peak, peaks, ms: Date.now() - began, waits, spool: st.spool, sent: st.sent, buffered: st.buffered, retried: st.retried })
  // The parent starts the receiver, then says go.
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()))
  process.stdin.destroy()
  phase = 'draining'
  const t = Date.now()
  await writer.flush({ acknowledged: true })
  const acked = Date.now() - t
  const summary = await writer.close()
  sample()
  clearInterval(timer)
  say('done', { acked, peaks, summary: { ...summary, errors: summary.errors.map((e) => e.message) }, stats: writer.stats() })
}

/**
 * Sample q of series s in the outage run: q plus a fraction from a hash of (s, q), so that
 * bodies do not compress to nearly nothing (what waits is about 12 bytes a sample on disk) and
 * floor(value) is q. The test computes the same values.
 */
function outageValue (s: number, q: number): number {
  let h = Math.imul(s + 1, 0x9e3779b1) ^ Math.imul(q + 1, 0x85ebca77)
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d)
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39)
  return q + ((h ^ (h >>> 15)) >>> 0) / 4294967296
}
