/**
 * The commands (this folder) are what `prw` runs (../cli.ts parses their flags): demo,
 * backfill, bench (loadgen.ts), receive; they use the library through ../index.ts only.
 *
 * This file is the main job (`npm start`, `prw demo`): streams a generated workload through the writer,
 * a backfill shape then an IoT shape, with live progress, and ends with a report. Without a
 * URL it starts the built-in receiver on a loopback port and proves that every sample arrived
 * (counts and an order-independent checksum computed separately on both sides).
 */
import { safeUrl } from '../redact.js'
import { addSamples, labelsHash } from './checksum.js'
import { startReceiver } from './receiver.js'
import type { FaultOptions, Receiver } from './receiver.js'
import { RemoteWriter } from '../index.js'
import type { Item, RemoteWriterOptions, WriterStats } from '../index.js'

export interface DemoOptions {
  /** Send to this backend instead of the built-in receiver. */
  url?: string
  /** Writer options (auth, headers, concurrency, ...). */
  writer?: Omit<RemoteWriterOptions, 'url'>
  /** Backfill shape: series × samples, 15 s apart, ending a day ago. */
  backfillSeries?: number
  backfillSamples?: number
  /** IoT shape: series × rounds, one sample per series per round. */
  iotSeries?: number
  iotRounds?: number
  /** Faults for the built-in receiver (to see retries, or to see the proof fail). */
  faults?: FaultOptions
  /** Where progress and the report go. Default process.stdout. */
  out?: NodeJS.WritableStream & { isTTY?: boolean }
}

export interface DemoReport {
  samples: number
  seconds: number
  stats: WriterStats
  /** Set when the built-in receiver was used. */
  verified?: { ok: boolean, receivedSamples: number, sentChecksum: number, receivedChecksum: number }
}

/** Runs the demo and resolves with its report. Never throws for lost data: the report says. */
export async function runDemo (options: DemoOptions = {}): Promise<DemoReport> {
  const {
    backfillSeries = 200, backfillSamples = 10_000, iotSeries = 100_000, iotRounds = 10,
    out = process.stdout,
  } = options
  let receiver: Receiver | undefined
  let url = options.url
  if (url === undefined) {
    receiver = await startReceiver(options.faults)
    url = receiver.url
  }
  const writer = new RemoteWriter({ concurrency: 4, ...options.writer, url })
  const total = backfillSeries * backfillSamples + iotSeries * iotRounds
  const print = (line: string): void => { out.write(`${line}\n`) }
  // Never the URL as given: its user info or query may hold credentials.
  print(`sending ${total.toLocaleString('en-US')} samples to ${receiver ? `the built-in receiver at ${url}` : safeUrl(url)}`)

  let queued = 0
  let checksum = 0
  const t0 = performance.now()
  const progress = setInterval(() => {
    const s = writer.stats()
    const secs = (performance.now() - t0) / 1000
    const line = `  ${pct(s.sent.samples, total)} acknowledged ${s.sent.samples.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}` +
      `  ${rate(s.sent.samples / secs)} samples/s  ${s.sent.requests} requests  ${s.retried.requests} retries  ${s.failed.samples} failed`
    if (out.isTTY) out.write(`\r${line}`)
    else print(line)
  }, out.isTTY ? 200 : 1000)

  const push = async (items: Item[]): Promise<void> => {
    for (const it of items) {
      checksum = addSamples(checksum, labelsHash(it.metric as Record<string, string>), it.values, it.timestamps as ArrayLike<number>)
      queued += it.values.length
    }
    if (!writer.write(items)) await writer.ready()
  }

  // Backfill: long series of random-walk temperatures, 15 s apart, ending a day ago.
  const end = Math.floor(Date.now() / 15_000) * 15_000 - 86_400_000
  const start = end - (backfillSamples - 1) * 15_000
  let seed = 42
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed / 4294967296
  }
  const CHUNK = 2_000
  for (let s = 0; s < backfillSeries; s++) {
    const metric = { __name__: 'demo_temperature_celsius', job: 'demo', instance: `host-${s % 20}`, sensor: `s${s}` }
    let v = 20 + random() * 5
    for (let off = 0; off < backfillSamples; off += CHUNK) {
      const n = Math.min(CHUNK, backfillSamples - off)
      const values = new Float64Array(n)
      const timestamps = new Float64Array(n)
      for (let i = 0; i < n; i++) {
        v += random() - 0.5
        values[i] = Math.round(v * 100) / 100
        timestamps[i] = start + (off + i) * 15_000
      }
      await push([{ metric, values, timestamps }])
    }
  }
  // IoT: many devices, one reading each per round, the same label objects every round.
  const devices = Array.from({ length: iotSeries }, (_, i) => ({
    __name__: 'demo_device_battery_volts', job: 'gateway', device_id: `dev-${i.toString(36).padStart(4, '0')}`, site: `site-${i % 37}`,
  }))
  const iotStart = Math.floor(Date.now() / 60_000) * 60_000 - iotRounds * 60_000
  for (let round = 0; round < iotRounds; round++) {
    for (let off = 0; off < iotSeries; off += CHUNK) {
      const items: Item[] = []
      for (let i = off; i < Math.min(off + CHUNK, iotSeries); i++) {
        items.push({ metric: devices[i], values: [3 + random()], timestamps: [iotStart + round * 60_000] })
      }
      await push(items)
    }
  }

  let lost: unknown
  try {
    await writer.close()
  } catch (err) {
    lost = err
  }
  clearInterval(progress)
  const seconds = (performance.now() - t0) / 1000
  if (out.isTTY) out.write('\n')
  const stats = writer.stats()
  const report: DemoReport = { samples: queued, seconds, stats }
  const l = stats.latency
  print('')
  print(`samples      ${stats.sent.samples.toLocaleString('en-US')} acknowledged of ${queued.toLocaleString('en-US')} in ${seconds.toFixed(2)} s: ${rate(stats.sent.samples / seconds)} samples/s`)
  print(`requests     ${stats.sent.requests} acknowledged, ${stats.retried.requests} retried, ${stats.failed.requests} failed`)
  print(`bytes        ${mb(stats.sent.bytesRaw)} protobuf -> ${mb(stats.sent.bytesCompressed)} snappy (${(stats.sent.bytesRaw / Math.max(1, stats.sent.bytesCompressed)).toFixed(2)}x)`)
  print(`latency      p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  max ${ms(l.max)}`)
  if (lost !== undefined) print(`LOST         ${(lost as Error).message}`)
  if (receiver) {
    const r = receiver.stats()
    await receiver.close()
    const ok = r.samples === queued && r.checksum === checksum && stats.failed.samples === 0
    report.verified = { ok, receivedSamples: r.samples, sentChecksum: checksum, receivedChecksum: r.checksum }
    print(`receiver     ${r.samples.toLocaleString('en-US')} samples in ${r.accepted} requests, ${r.rejected} rejected, ${r.injected} faults injected`)
    print(`checksum     sent ${hex(checksum)}, received ${hex(r.checksum)}`)
    print(`verified     ${ok ? 'OK: every sample arrived exactly once, unchanged' : 'FAILED: the receiver did not get exactly what was sent'}`)
  }
  return report
}

const pct = (a: number, b: number): string => `${((100 * a) / Math.max(1, b)).toFixed(0).padStart(3)}%`
const rate = (r: number): string => (r >= 1e6 ? `${(r / 1e6).toFixed(2)}M` : `${(r / 1e3).toFixed(1)}k`)
const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`
const ms = (v: number): string => `${v.toFixed(1)} ms`
const hex = (v: number): string => v.toString(16).padStart(8, '0')
