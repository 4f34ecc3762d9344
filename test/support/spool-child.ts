// A child process for test/writer/spool-crash.test.ts: a RemoteWriter with a durable spool,
// run as `node --import tsx test/support/spool-child.ts '<json config>'`. Three modes:
//
//  crash   streams sequence-numbered samples until it is killed: sample q of series s has
//          value q and timestamp T0 + q * 1000. Before writing the samples up to q it appends
//          `R q` (reserved) to the progress file, so a later attempt can start past anything
//          that may be in the spool; after every `flushEvery` chunks it awaits flush() (durable
//          on disk) and appends `D q`: every sample up to q must reach the receiver one day.
//  drain   opens the spool, writes nothing, close() with no timeout (replays what is there),
//          prints the summary and the spool's stats as JSON.
//          It says `ready` once the writer is open and `sending` at its first answer.
//  outage  writes `series` x `samples` samples while the receiver is down, sampling its RSS;
//          prints the RSS figures, waits for `go` on stdin (the parent starts the receiver),
//          then flush({ acknowledged: true }) and close(), and prints the stats.
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
  /** crash: ms to wait after each chunk (the producer's pace; 0: as fast as it can). */
  pace?: number
  /** crash and outage: how many series. */
  series?: number
  /** outage: samples per series. */
  samples?: number
}

export const T0 = 1_700_000_000_000
export const CONCURRENCY = 4
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
  spool: { dir: config.dir, maxBytes: 256 * MiB, sync: 'batch' },
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
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }
  const timer = setInterval(sample, 5)
  global.gc?.()
  const baseline = process.memoryUsage().rss
  const handles: SeriesHandle[] = Array.from({ length: S }, (_, s) => writer.series(labels(s)))
  const values = new Float64Array(K)
  const timestamps = new Float64Array(K)
  const items: Item[] = handles.map((h) => ({ series: h, values, timestamps }))
  const began = Date.now()
  let waits = 0
  for (let q = 0; q < N; q += K) {
    for (let i = 0; i < K; i++) {
      values[i] = q + i
      timestamps[i] = T0 + (q + i) * 1000
    }
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
  clearInterval(timer)
  const st = writer.stats()
  say('written', { baseline, peak, ms: Date.now() - began, waits, spool: st.spool, sent: st.sent, buffered: st.buffered, retried: st.retried })
  // The parent starts the receiver, then says go.
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()))
  process.stdin.destroy()
  const t = Date.now()
  await writer.flush({ acknowledged: true })
  const acked = Date.now() - t
  const summary = await writer.close()
  say('done', { acked, summary: { ...summary, errors: summary.errors.map((e) => e.message) }, stats: writer.stats() })
}
