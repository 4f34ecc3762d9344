/**
 * The commands (this folder) are what `prw` runs (../cli.ts parses their flags): demo,
 * backfill, bench (loadgen.ts), receive; they use the library through ../index.ts only.
 *
 * This file is the main job (`npm start`, `prw demo`): streams a generated workload
 * (demo-workload.ts) through the writer, with live progress, and ends with a report: the
 * whole loop's rate, then the client's own cost (the codec's encode rate, CPU per million
 * samples, request latency). Without a URL it starts the built-in receiver in a process of
 * its own (demo-receiver.ts), so client and receiver each get a core, and proves that every
 * sample arrived (counts and an order-independent checksum computed separately on both sides).
 */
import { safeUrl } from '../redact.js'
import { addSamples, labelsHash } from './checksum.js'
import { ReceiverDied, forkReceiver } from './demo-receiver.js'
import type { ReceiverProcess } from './demo-receiver.js'
import { encodeRate, workload, workloadSamples } from './demo-workload.js'
import type { WorkloadShape } from './demo-workload.js'
import type { FaultOptions } from './receiver.js'
import { RemoteWriter } from '../index.js'
import type { BatchError, RemoteWriterOptions, ResponseEvent, RetryEvent, WriterStats } from '../index.js'
import { Feedback, Watchdog } from './feedback.js'

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
  /** Problems, one message per cause as they first happen. Default: stderr. */
  report?: (line: string) => void
}

export interface DemoReport {
  samples: number
  seconds: number
  stats: WriterStats
  /** What the client itself cost (latency percentiles are in `stats.latency`). */
  client: {
    /** Samples/s the codec alone encodes this workload (a scaled copy, timed after the run). */
    encodeRate: number
    /**
     * CPU seconds (user + system, every thread of this process) per million samples written:
     * making the workload and its checksum, encoding, sending.
     */
    cpuPerMillion: number
  }
  /** The built-in receiver's process, when it was used; it has ended when runDemo resolves. */
  receiver?: { pid: number, cpuPerMillion: number }
  /** Set when the built-in receiver was used. */
  verified?: { ok: boolean, receivedSamples: number, sentChecksum: number, receivedChecksum: number }
  /** Set when the run stopped early: why (a failure that cannot heal, the first requests all refused, nothing accepted for 3 minutes). */
  stopped?: string
}

/**
 * Runs the demo and resolves with its report. Never throws for lost data: the report says.
 * Throws a ReceiverDied if the built-in receiver's process ends early.
 */
export async function runDemo (options: DemoOptions = {}): Promise<DemoReport> {
  const shape: WorkloadShape = {
    backfillSeries: options.backfillSeries ?? 200,
    backfillSamples: options.backfillSamples ?? 10_000,
    iotSeries: options.iotSeries ?? 100_000,
    iotRounds: options.iotRounds ?? 10,
  }
  const rx = options.url === undefined ? await forkReceiver(options.faults) : undefined
  try {
    return await demo(shape, options, rx)
  } finally {
    rx?.kill()
  }
}

async function demo (shape: WorkloadShape, options: DemoOptions, rx: ReceiverProcess | undefined): Promise<DemoReport> {
  const out = options.out ?? process.stdout
  const print = (line: string): void => { out.write(`${line}\n`) }
  const url = rx?.url ?? options.url as string
  const writer = new RemoteWriter({ concurrency: 4, ...options.writer, url })
  // What goes wrong is told at once, once per cause (a stock Prometheus refuses the backfill
  // shape, a day old); what cannot heal, or nothing accepted for 3 minutes, stops the run.
  const feedback = new Feedback({
    print: options.report ?? ((line) => process.stderr.write(`${line}\n`)),
    url,
    verboseFlag: false,
    onStop: () => { writer.close({ timeout: 0 }).catch(() => {}) },
  })
  writer.on('retry', (e: RetryEvent) => feedback.retry(e))
  writer.on('error', (err: BatchError) => feedback.failed(err))
  writer.on('response', (e: ResponseEvent) => { if (e.error === undefined && e.status !== undefined && e.status < 300) feedback.accepted++ })
  const watchdog = new Watchdog(writer, 180_000, feedback)
  const total = workloadSamples(shape)
  // Never the URL as given: its user info or query may hold credentials.
  print(`sending ${n(total)} samples to ${rx ? `the built-in receiver at ${url} (process ${rx.pid})` : safeUrl(url)}`)

  const progress = startProgress(writer, total, out)
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let sent: Sent
  try {
    sent = await send(writer, shape, rx, feedback)
  } catch (err) {
    if (!(err instanceof ReceiverDied)) throw err
    throw new ReceiverDied(`${err.message}, with ${n(writer.stats().sent.samples)} of ${n(total)} samples acknowledged: the demo stopped and proves nothing`)
  } finally {
    progress.stop()
    watchdog.stop()
  }
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const cpuSeconds = (cpu.user + cpu.system) / 1e6
  const received = await rx?.close()
  // Timed with the receiver gone and the writer closed: the codec has a core to itself.
  const encode = await encodeRate(shape, options.writer?.protocol === 'v2' || options.writer?.protocol === 'auto')
  const report: DemoReport = {
    samples: sent.queued, seconds, stats: writer.stats(), client: { encodeRate: encode, cpuPerMillion: perMillion(cpuSeconds, sent.queued) },
  }
  if (feedback.stopped !== undefined) report.stopped = feedback.stopped
  printReport(print, report, sent, cpuSeconds)
  for (const line of feedback.summary()) print(line)
  if (rx !== undefined && received !== undefined) {
    const r = received.stats
    const ok = r.samples === sent.queued && r.checksum === sent.checksum && report.stats.failed.samples === 0
    report.receiver = { pid: rx.pid, cpuPerMillion: perMillion(received.cpuMicros / 1e6, r.samples) }
    report.verified = { ok, receivedSamples: r.samples, sentChecksum: sent.checksum, receivedChecksum: r.checksum }
    print(`receiver     ${n(r.samples)} samples in ${r.accepted} requests, ${r.rejected} rejected, ${r.injected} faults injected; ` +
      `its process used ${report.receiver.cpuPerMillion.toFixed(2)} s CPU per million samples`)
    print(`checksum     sent ${hex(sent.checksum)}, received ${hex(r.checksum)}`)
    print(`verified     ${ok ? 'OK: every sample arrived exactly once, unchanged' : 'FAILED: the receiver did not get exactly what was sent'}`)
  }
  return report
}

/** What send() wrote: samples, their checksum, and close()'s error when samples were lost. */
interface Sent { queued: number, checksum: number, lost: unknown }

/**
 * Writes the workload, summing the sender's side of the checksum, and closes the writer.
 * Throws the receiver's ReceiverDied if its process ends first: the writer is then closed
 * at once (nothing sent after could arrive), which also ends any wait for room.
 */
async function send (writer: RemoteWriter, shape: WorkloadShape, rx: ReceiverProcess | undefined, feedback: Feedback): Promise<Sent> {
  let death: unknown
  rx?.died.catch((err: unknown) => {
    death = err
    writer.close({ timeout: 0 }).catch(() => {})
  })
  const keys = new WeakMap<object, number>() // the workload reuses its label objects: hash each once
  let queued = 0
  let checksum = 0
  let lost: unknown
  try {
    for (const batch of workload(shape)) {
      if (feedback.stopped !== undefined) break // the writer is closed: what is left is not sent
      for (const it of batch) {
        let key = keys.get(it.metric)
        if (key === undefined) keys.set(it.metric, key = labelsHash(it.metric))
        checksum = addSamples(checksum, key, it.values, it.timestamps as ArrayLike<number>)
        queued += it.values.length
      }
      if (!writer.write(batch)) await writer.ready()
    }
    lost = await writer.close().then(() => undefined, (err: unknown) => err)
  } catch (err) {
    if (death === undefined) {
      await writer.close({ timeout: 0 }).catch(() => {})
      throw err
    }
  }
  if (death !== undefined) throw death
  return { queued, checksum, lost }
}

/** The whole loop's rate, then the client's own cost, requests and bytes. */
function printReport (print: (line: string) => void, report: DemoReport, sent: Sent, cpuSeconds: number): void {
  const { stats, seconds } = report
  const l = stats.latency
  print('')
  print(`samples      ${n(stats.sent.samples)} acknowledged of ${n(sent.queued)} in ${seconds.toFixed(2)} s: ${rate(stats.sent.samples / seconds)} samples/s through the whole loop`)
  print(`encode       ${rate(report.client.encodeRate)} samples/s: the codec alone on this workload (a scaled copy, timed after the run)`)
  print(`client CPU   ${report.client.cpuPerMillion.toFixed(2)} s per million samples, ${(cpuSeconds / seconds).toFixed(2)} cores busy (making the workload and its checksum, encoding, sending)`)
  print(`latency      p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  max ${ms(l.max)}`)
  print(`requests     ${stats.sent.requests} acknowledged, ${stats.retried.requests} retried, ${stats.failed.requests} failed`)
  print(`bytes        ${mb(stats.sent.bytesRaw)} protobuf -> ${mb(stats.sent.bytesCompressed)} snappy (${(stats.sent.bytesRaw / Math.max(1, stats.sent.bytesCompressed)).toFixed(2)}x)`)
  if (sent.lost !== undefined) print(`LOST         ${(sent.lost as Error).message}`)
}

/**
 * The current rate: samples acknowledged over the last ~1 s (the snapshots since the newest
 * one at least `span` ms old), not the average since the start, which hides a slowdown or
 * a stall behind what came before.
 */
export class RateWindow {
  readonly #snaps: Array<{ t: number, n: number }>
  readonly #span: number

  constructor (t0: number, span = 900) {
    this.#snaps = [{ t: t0, n: 0 }]
    this.#span = span
  }

  /** Adds the count `n` at time `t` (ms) and returns the rate per second over the window. */
  add (t: number, n: number): number {
    const s = this.#snaps
    s.push({ t, n })
    while (s.length > 2 && t - s[1].t >= this.#span) s.shift()
    return t > s[0].t ? ((n - s[0].n) * 1000) / (t - s[0].t) : 0
  }
}

/** Prints progress every 200 ms on a terminal (one line, redrawn), else every second. */
function startProgress (writer: RemoteWriter, total: number, out: NodeJS.WritableStream & { isTTY?: boolean }): { stop(): void } {
  const window = new RateWindow(performance.now())
  const timer = setInterval(() => {
    const s = writer.stats()
    const now = window.add(performance.now(), s.sent.samples)
    const line = `  ${pct(s.sent.samples, total)} acknowledged ${n(s.sent.samples)} / ${n(total)}` +
      `  ${rate(now).padStart(6)} samples/s now  ${s.sent.requests} requests  ${s.retried.requests} retries  ${s.failed.samples} failed`
    out.write(out.isTTY ? `\r${line}\x1b[K` : `${line}\n`)
  }, out.isTTY ? 200 : 1000)
  let stopped = false
  return {
    stop () {
      if (stopped) return
      stopped = true
      clearInterval(timer)
      if (out.isTTY) out.write('\n')
    },
  }
}

const perMillion = (seconds: number, samples: number): number => (samples > 0 ? (seconds * 1e6) / samples : 0)
const n = (v: number): string => v.toLocaleString('en-US')
const pct = (a: number, b: number): string => `${((100 * a) / Math.max(1, b)).toFixed(0).padStart(3)}%`
const rate = (r: number): string => (r >= 1e6 ? `${(r / 1e6).toFixed(2)}M` : `${(r / 1e3).toFixed(1)}k`)
const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`
const ms = (v: number): string => `${v.toFixed(1)} ms`
const hex = (v: number): string => v.toString(16).padStart(8, '0')
