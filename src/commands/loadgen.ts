/**
 * Load generation for benchmarking remote-write backends (`prw bench`): a synthetic fleet of
 * series, sampled every tick at an open-loop target rate (or as fast as the backend takes),
 * with churn, sent through the writer; live status and a final report of achieved versus
 * target throughput, latency percentiles, errors by status, and the client's own CPU.
 *
 * Open loop: the generator does not slow down because the backend is slow. When the
 * writer's buffer is full, what the schedule asked for and could not be queued is counted as
 * `behind` (it is never sent later, and never silently: the report shows it).
 */
import { LatencyHistogram } from '../stats.js'
import type { LatencySummary } from '../stats.js'
import { LostDataError, RemoteWriter } from '../index.js'
import type { BatchError, Item, RemoteWriterOptions, ResponseEvent, RetryEvent } from '../index.js'
import { Feedback, Watchdog } from './feedback.js'

export interface LoadOptions {
  url: string
  writer?: Omit<RemoteWriterOptions, 'url'>
  /** Active series. Default 10000. */
  series?: number
  /** Distinct metric names the series are spread over. Default 10. */
  metrics?: number
  /** Extra labels per series (besides __name__, job, instance, series_id). Default 5. */
  labels?: number
  /** Distinct values per extra label. Default 10. */
  labelCardinality?: number
  /** Series replaced by new ones every `churnInterval` ms. Default 0. */
  churn?: number
  /** Default 10000 ms. */
  churnInterval?: number
  /** Target samples/s (open loop); 0 sends as fast as the backend acknowledges. Default 0. */
  rate?: number
  /** Run time in ms. Default 30000. */
  duration?: number
  /** Called about once a second with the last second's numbers. */
  onTick?: (t: LoadSecond, total: LoadTotals) => void
  /** Problems, one message per cause as they first happen. Default: stderr. */
  report?: (line: string) => void
  /** Every failure, not only the first few of each cause. */
  verbose?: boolean
  /** Stop when nothing was accepted for this long while requests wait. Default 180000 ms. */
  giveUpAfterMs?: number
  /**
   * After `duration`, how long what is still unacknowledged may take before it counts as failed.
   * Default: the writer's closeTimeout, else 5000 ms.
   */
  drainMs?: number
  /** Stops the run early (Ctrl-C); the report covers what ran. */
  signal?: AbortSignal
}

/** One second of the run. */
/** About one second of the run (the last one may be shorter): rates per second over it. */
export interface LoadSecond {
  /** Seconds since the start, at its end. */
  second: number
  /** Samples acknowledged per second. */
  samples: number
  /** Requests acknowledged per second. */
  requests: number
  /** Bytes on the wire per second (acknowledged requests). */
  bytes: number
  /** Failed attempts in it. */
  errors: number
  p50: number
  p99: number
}

export interface LoadTotals {
  samplesGenerated: number
  samplesSent: number
  behind: number
  elapsedMs: number
  /** The live retry state ("connection refused: retrying (3), next in 2 s"), or ''. */
  retrying: string
}

export interface LoadReport {
  target: number
  achieved: number
  samplesSent: number
  samplesFailed: number
  behind: number
  requests: number
  requestsPerSecond: number
  bytesPerSecond: number
  latency: LatencySummary
  /** Failed attempts by cause ('HTTP 503', 'connection refused', 'answered 2xx without writing every sample', ...). */
  errors: Record<string, number>
  /** Attempts made: accepted, failed and retried. */
  attempts: number
  /** Requests that failed for good, by cause. */
  failures: Record<string, number>
  /** One line per cause with what to do, for the end of the run. */
  causes: string[]
  /** Set when the run stopped early: why (a failure that cannot heal, nothing accepted for too long, interrupted). */
  stopped?: string
  cpu: { userMs: number, systemMs: number, percentOfOneCore: number }
  seconds: LoadSecond[]
  config: Record<string, unknown>
}

/** Resolves when the writer has room again, at the deadline (performance.now() time), or on a stop, whichever is first. */
async function untilReady (writer: RemoteWriter, deadline: number, stop: AbortSignal): Promise<void> {
  if (stop.aborted) return
  let timer: NodeJS.Timeout | undefined
  let onStop: (() => void) | undefined
  try {
    await Promise.race([
      writer.ready(),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, Math.max(0, deadline - performance.now())) }),
      new Promise<void>((resolve) => {
        onStop = () => resolve()
        stop.addEventListener('abort', onStop, { once: true })
      }),
    ])
  } finally {
    clearTimeout(timer)
    if (onStop !== undefined) stop.removeEventListener('abort', onStop)
  }
}

/** Runs a load test and resolves with its report. */
export async function runLoad (options: LoadOptions): Promise<LoadReport> {
  const {
    series = 10_000, metrics = 10, labels = 5, labelCardinality = 10, churn = 0, churnInterval = 10_000,
    rate = 0, duration = 30_000,
  } = options
  const stop = new AbortController()
  const feedback = new Feedback({
    print: options.report ?? ((line) => process.stderr.write(`${line}\n`)),
    verbose: options.verbose,
    url: options.url,
    onStop: () => stop.abort(),
  })
  const onSignal = (): void => { feedback.giveUp('interrupted', false) }
  options.signal?.addEventListener('abort', onSignal, { once: true })
  const writer = new RemoteWriter({ ...options.writer, url: options.url })
  const fleet: Array<Record<string, string>> = []
  let nextId = 0
  const makeSeries = (): Record<string, string> => {
    const id = nextId++
    const m: Record<string, string> = {
      __name__: `prw_bench_metric_${id % metrics}`,
      job: 'prw-bench',
      instance: `host-${id % 100}`,
      series_id: String(id),
    }
    for (let l = 0; l < labels; l++) m[`label_${l}`] = `value_${(id * (l + 7)) % labelCardinality}`
    return m
  }
  for (let i = 0; i < series; i++) fleet.push(makeSeries())

  const errors: Record<string, number> = {}
  const seconds: LoadSecond[] = []
  let cur = { samples: 0, requests: 0, bytes: 0, errors: 0, hist: new LatencyHistogram() }
  let attempts = 0
  writer.on('response', (e: ResponseEvent) => {
    attempts++
    if (e.error === undefined && e.status !== undefined && e.status >= 200 && e.status < 300) {
      cur.samples += e.samples
      cur.requests++
      cur.bytes += e.bytes
      cur.hist.record(e.latencyMs)
      feedback.accepted++
    } else {
      // A 2xx that did not write every sample of a 2.0 request is a failure too.
      const key = e.diagnosis?.title ?? (e.status !== undefined ? `HTTP ${e.status}` : 'network')
      errors[key] = (errors[key] ?? 0) + 1
      cur.errors++
    }
  })
  writer.on('retry', (e: RetryEvent) => feedback.retry(e))
  writer.on('error', (err: BatchError) => feedback.failed(err)) // reported once per cause, counted in the report
  const watchdog = new Watchdog(writer, options.giveUpAfterMs ?? 180_000, feedback)

  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  let generated = 0
  let behind = 0
  let cursor = 0
  let lastChurn = t0
  let value = 0
  const totals = (): LoadTotals => ({
    samplesGenerated: generated, samplesSent: writer.stats().sent.samples, behind, elapsedMs: performance.now() - t0, retrying: feedback.live(),
  })

  let lastTick = performance.now()
  /** One entry of `seconds`: rates over the time since the last (about a second; the last one shorter). */
  const tick = (final = false): void => {
    const now = performance.now()
    const dt = (now - lastTick) / 1000
    if (final && cur.samples === 0 && cur.errors === 0 && cur.requests === 0) return
    if (!(dt > 0)) return
    lastTick = now
    const s = cur.hist.summary()
    const second: LoadSecond = {
      second: Math.round((now - t0) / 1000),
      samples: cur.samples / dt,
      requests: Math.round(cur.requests / dt),
      bytes: cur.bytes / dt,
      errors: cur.errors,
      p50: s.p50,
      p99: s.p99,
    }
    seconds.push(second)
    cur = { samples: 0, requests: 0, bytes: 0, errors: 0, hist: new LatencyHistogram() }
    options.onTick?.(second, totals())
  }
  const ticker = setInterval(() => tick(), 1000)

  /**
   * The next `n` samples of the fleet, round robin, timestamped now, and always after the
   * series' previous sample (a series written twice within a millisecond gets the next one),
   * so that no backend sees a duplicate timestamp.
   */
  const last = new Float64Array(series)
  const batch = (n: number): Item[] => {
    const items: Item[] = []
    const now = Date.now()
    for (let k = 0; k < n; k++) {
      const t = Math.max(now, last[cursor] + 1)
      last[cursor] = t
      items.push({ metric: fleet[cursor], values: [value++ % 1000], timestamps: [t] })
      cursor = (cursor + 1) % fleet.length
    }
    return items
  }

  const churnStep = (): void => {
    if (churn <= 0 || performance.now() - lastChurn < churnInterval) return
    lastChurn = performance.now()
    for (let k = 0; k < churn; k++) {
      const at = (cursor + k) % fleet.length
      fleet[at] = makeSeries()
      last[at] = 0
    }
  }

  let failed = 0
  try {
    if (rate > 0) {
      // Open loop: every 10 ms, queue what the schedule says is due; what cannot be queued is behind.
      const TICK = 10
      let due = 0
      while (performance.now() - t0 < duration && !stop.signal.aborted) {
        const elapsed = performance.now() - t0
        const target = Math.floor((elapsed / 1000) * rate)
        due = target - generated - behind
        if (due > 0) {
          churnStep()
          const chunk = Math.min(due, 2000)
          if (writer.stats().buffered.samples + chunk <= (options.writer?.maxBufferedSamples ?? 100_000)) {
            writer.write(batch(chunk))
            generated += chunk
          } else {
            behind += chunk
          }
          if (chunk < due) continue
        }
        await new Promise((resolve) => setTimeout(resolve, TICK))
      }
    } else {
      // Closed loop: as fast as the backend takes it.
      while (performance.now() - t0 < duration && !stop.signal.aborted) {
        churnStep()
        const ok = writer.write(batch(2000))
        generated += 2000
        // A full buffer waits for room, but never past the end of the run or a stop (a silent
        // server would hold it for the whole retry budget); and always lets timers and signals
        // in (ready() can resolve in a microtask, turn after turn).
        if (!ok) await untilReady(writer, t0 + duration, stop.signal)
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
    }
    // The run ends at its duration: what is not acknowledged within the drain time (or at once,
    // when it stopped for a cause that cannot heal) counts as failed.
    const drain = stop.signal.aborted ? 0 : options.drainMs ?? options.writer?.closeTimeout ?? 5000
    await writer.close({ timeout: drain })
  } catch (err) {
    if (!(err instanceof LostDataError)) throw err
    failed = err.summary.failed.samples
  } finally {
    clearInterval(ticker)
    tick(true) // the last, partial second: what failed at the end shows on the live line too
    watchdog.stop()
    options.signal?.removeEventListener('abort', onSignal)
  }
  const elapsedMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  const stats = writer.stats()
  const secs = elapsedMs / 1000
  return {
    target: rate,
    achieved: stats.sent.samples / secs,
    samplesSent: stats.sent.samples,
    samplesFailed: failed || stats.failed.samples,
    behind,
    requests: stats.sent.requests,
    requestsPerSecond: stats.sent.requests / secs,
    bytesPerSecond: stats.sent.bytesCompressed / secs,
    latency: stats.latency,
    errors,
    attempts,
    failures: feedback.counts(feedback.failures, true),
    causes: feedback.summary(),
    ...(feedback.stopped !== undefined ? { stopped: feedback.stopped } : {}),
    cpu: { userMs: cpu.user / 1000, systemMs: cpu.system / 1000, percentOfOneCore: (100 * (cpu.user + cpu.system) / 1000) / elapsedMs },
    seconds,
    config: { series, metrics, labels, labelCardinality, churn, churnInterval, rate, duration, concurrency: options.writer?.concurrency ?? 4 },
  }
}
