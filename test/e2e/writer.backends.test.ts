// End to end against real servers: Debian's Prometheus 2.42 and VictoriaMetrics 1.79 on
// 127.0.0.1, started by test/e2e/backends/start.sh (PROMETHEUS_URL, VICTORIA_URL). Everything
// written is read back: every sample bit-exact from Prometheus; counts and exact timestamps
// from VictoriaMetrics, which stores values as rounded decimals (shared/docs/backends.md).
//
// Without the env: PRW_E2E=require (.ci/run) fails (NOT_STARTED), anything else skips with the reason in the
// suite's name. Each run labels its series run=<random>, so reruns against the same servers
// do not collide.
import { beforeAll, describe, expect, it } from 'vitest'
import { LostDataError, RemoteWriter, SendError } from '../../src/index.js'
import type { Item, SendResult, WriterSummary } from '../../src/index.js'
import { NOT_STARTED, assertReady, newRunId, promNumber, promRawSamples, promSettled, suiteBackends, vmExport, vmForceFlush } from './backends.js'
import type { RawSeries } from './backends.js'

const backends = suiteBackends('end to end against Prometheus and VictoriaMetrics', 'test/e2e/writer.backends.test.ts')
const RUN = newRunId()
const MIN = 60_000
const DAY = 86_400_000


// ---- data -------------------------------------------------------------------------------------

/** A seeded xorshift32 stream (Marsaglia's 13/17/5 triple); never 0 for a non-zero seed. */
function xorshift32 (seed: number): () => number {
  let x = (seed * 0x9e3779b1) | 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
}

/** A uniform double in [0, 1) with all 53 mantissa bits drawn. */
function uniform53 (next: () => number): number {
  return ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992
}

const BF_SERIES = 100
const BF_SAMPLES = 10_000
const BF_STEP = 15_000
/** The last backfill timestamp: three days ago, on a minute. */
const BF_END = Math.floor(Date.now() / MIN) * MIN - 3 * DAY
const BF_START = BF_END - (BF_SAMPLES - 1) * BF_STEP
const BF_NAME = 'prw_e2e_backfill'

/** 100 series × 10,000 samples, 15 s apart, each a seeded random walk of full-precision floats. */
function backfillItems (): Item[] {
  const items: Item[] = []
  for (let k = 0; k < BF_SERIES; k++) {
    const next = xorshift32(k + 1)
    const timestamps = new Float64Array(BF_SAMPLES)
    const values = new Float64Array(BF_SAMPLES)
    let v = 1000 + 10 * k
    for (let i = 0; i < BF_SAMPLES; i++) {
      timestamps[i] = BF_START + i * BF_STEP
      v += uniform53(next) - 0.5
      values[i] = v
    }
    items.push({ metric: { __name__: BF_NAME, run: RUN, series: String(k), job: 'e2e' }, values, timestamps })
  }
  return items
}

const IOT_SERIES = 50_000
const IOT_ROUNDS = 3
/** Round r is at IOT_T0 + r minutes; the last round is 3 minutes ago. */
const IOT_T0 = Math.floor(Date.now() / 1000) * 1000 - 5 * MIN
const IOT_NAME = 'prw_e2e_iot'
const iotTime = (r: number): number => IOT_T0 + r * MIN
/** Integers, exact on both servers. */
const iotValue = (device: number, round: number): number => device * 4 + round

// ---- helpers ----------------------------------------------------------------------------------

const scratch = new Float64Array(2)
const scratchBits = new BigUint64Array(scratch.buffer)
/** Same float64 bit pattern (so -0 ≠ 0 and NaN = NaN only with equal payloads). */
function sameBits (a: number, b: number): boolean {
  scratch[0] = a
  scratch[1] = b
  return scratchBits[0] === scratchBits[1]
}

/** Runs fn over xs with at most `limit` calls in flight. */
async function eachLimit<T> (xs: readonly T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < xs.length) await fn(xs[next++])
  }
  await Promise.all(Array.from({ length: Math.min(limit, xs.length) }, worker))
}

const rate = (samples: number, ms: number): string => `${Math.round(samples / (ms / 1000)).toLocaleString('en-US')} samples/s`
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const log = (msg: string): void => { console.log(`[e2e ${RUN}] ${msg}`) }

/** A selector for this run's series of `name` plus extra matchers. */
const sel = (name: string, extra = ''): string => `${name}{run="${RUN}"${extra ? `,${extra}` : ''}}`

// ---- tests ------------------------------------------------------------------------------------

const title = 'end to end against Prometheus 2.42 and VictoriaMetrics 1.79' +
  (backends === undefined ? ` (skipped: PROMETHEUS_URL / VICTORIA_URL not set; ${NOT_STARTED})` : '')

describe.skipIf(backends === undefined)(title, () => {
  const PROM = backends?.prometheus ?? ''
  const VM = backends?.victoria ?? ''
  const PROM_WRITE = `${PROM}/api/v1/write`
  const VM_WRITE = `${VM}/api/v1/write`

  beforeAll(async () => {
    await assertReady(backends!)
  })

  describe('backfill: 100 series × 10,000 samples, 15 s apart, ending 3 days ago, via send()', () => {
    let items: Item[] = []
    beforeAll(() => { items = backfillItems() })

    /** Sends the whole backfill with one send() and times it. */
    async function sendBackfill (url: string, backend: string): Promise<SendResult> {
      const writer = new RemoteWriter({ url, concurrency: 4 })
      const t0 = performance.now()
      const result = await writer.send(items)
      const ms = performance.now() - t0
      const summary = await writer.close()
      const { latency } = writer.stats()
      log(`backfill → ${backend}: ${result.samples.toLocaleString('en-US')} samples in ${result.requests} requests, ` +
        `${secs(ms)} = ${rate(result.samples, ms)} (request latency p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms)`)
      expect(summary.failed.samples).toBe(0)
      return result
    }

    it('Prometheus stores every sample bit-exact', async () => {
      // Prometheus 2.42 loses some acknowledged samples of series it is given while it
      // compacts its head (see promSettled). A backfill into an empty head makes that head span
      // days, compactable while the backfill is still arriving (it failed in CI that way, with
      // other suites writing beside it). Moving the head to now first sends every backfilled
      // sample to the out-of-order head, which is not compacted while the in-order head spans
      // less than 3 h.
      const probe = new RemoteWriter({ url: PROM_WRITE })
      await probe.send([{ metric: { __name__: 'prw_e2e_probe', run: RUN, probe: 'backfill' }, values: [1], timestamps: [Date.now()] }])
      await probe.close()
      await promSettled(PROM)
      const result = await sendBackfill(PROM_WRITE, 'Prometheus')
      expect(result).toMatchObject({ samples: BF_SERIES * BF_SAMPLES, series: expect.any(Number) })

      // Read back every sample, one series per query: a range selector at BF_END returns the
      // stored samples themselves (the 2d window covers the 41.7 h of each series).
      const t0 = performance.now()
      const problems: string[] = []
      let mismatches = 0
      let compared = 0
      await eachLimit(items, 4, async (item) => {
        const k = (item.metric as Record<string, string>).series
        const got = await promRawSamples(PROM, sel(BF_NAME, `series="${k}"`), '2d', BF_END)
        if (got.length !== 1) {
          problems.push(`series ${k}: ${got.length} series returned`)
          return
        }
        const { timestamps, values } = got[0]
        const wantTs = item.timestamps as Float64Array
        const wantV = item.values as Float64Array
        if (timestamps.length !== wantTs.length) problems.unshift(`series ${k}: ${timestamps.length} samples, want ${wantTs.length}`)
        const n = Math.min(timestamps.length, wantTs.length)
        for (let i = 0; i < n; i++) {
          if (timestamps[i] !== wantTs[i] || !sameBits(values[i], wantV[i])) {
            if (mismatches++ < 10) problems.push(`series ${k}[${i}]: got ${timestamps[i]}=${values[i]}, want ${wantTs[i]}=${wantV[i]}`)
          } else {
            compared++
          }
        }
      })
      log(`backfill ← Prometheus: ${compared.toLocaleString('en-US')} samples read back and compared in ${secs(performance.now() - t0)}`)
      expect(problems.slice(0, 30), `${mismatches} samples differ`).toEqual([])
      expect(compared).toBe(BF_SERIES * BF_SAMPLES)
    }, 120_000)

    it('VictoriaMetrics stores every sample: exact counts and timestamps, values to 1e-9', async () => {
      const result = await sendBackfill(VM_WRITE, 'VictoriaMetrics')
      expect(result.samples).toBe(BF_SERIES * BF_SAMPLES)

      const t0 = performance.now()
      await vmForceFlush(VM)
      const flushMs = performance.now() - t0
      const got = await vmExport(VM, sel(BF_NAME))
      log(`backfill ← VictoriaMetrics: force_flush ${secs(flushMs)}, export of ${got.length} series in ${secs(performance.now() - t0 - flushMs)}`)

      const byK = new Map(got.map((s) => [s.metric.series, s]))
      expect(byK.size).toBe(BF_SERIES)
      const problems: string[] = []
      let maxRel = 0
      for (const item of items) {
        const k = (item.metric as Record<string, string>).series
        const s = byK.get(k)
        if (s === undefined) {
          problems.push(`series ${k} missing`)
          continue
        }
        const wantTs = item.timestamps as Float64Array
        const wantV = item.values as Float64Array
        if (s.timestamps.length !== BF_SAMPLES) problems.push(`series ${k}: ${s.timestamps.length} samples, want ${BF_SAMPLES}`)
        for (let i = 0; i < Math.min(s.timestamps.length, BF_SAMPLES); i++) {
          if (s.timestamps[i] !== wantTs[i]) {
            problems.push(`series ${k}[${i}]: timestamp ${s.timestamps[i]}, want ${wantTs[i]}`)
            break
          }
          maxRel = Math.max(maxRel, Math.abs(s.values[i] - wantV[i]) / Math.abs(wantV[i]))
        }
      }
      log(`backfill ← VictoriaMetrics: largest relative value error ${maxRel.toExponential(2)} (VM rounds to a decimal mantissa)`)
      expect(problems).toEqual([])
      expect(maxRel).toBeLessThan(1e-9)
    }, 120_000)
  })

  describe('IoT: 50,000 series × 3 rounds, one sample each, a minute apart, via write() + flush()', () => {
    let labels: Array<Record<string, string>> = []
    beforeAll(() => {
      labels = Array.from({ length: IOT_SERIES }, (_, i) => ({
        __name__: IOT_NAME, run: RUN, device: `dev-${i}`, site: `site-${i % 50}`, kind: 'temperature',
      }))
    })

    /** Writes the three rounds, flushing after each, and times the whole. */
    async function writeIot (url: string, backend: string): Promise<WriterSummary> {
      const writer = new RemoteWriter({ url, concurrency: 4 })
      const t0 = performance.now()
      for (let r = 0; r < IOT_ROUNDS; r++) {
        const timestamps = [iotTime(r)]
        for (let i0 = 0; i0 < IOT_SERIES; i0 += 5000) {
          const chunk: Item[] = []
          for (let i = i0; i < Math.min(i0 + 5000, IOT_SERIES); i++) {
            chunk.push({ metric: labels[i], values: [iotValue(i, r)], timestamps })
          }
          if (!writer.write(chunk)) await writer.ready()
        }
        await writer.flush()
      }
      const ms = performance.now() - t0
      const summary = await writer.close()
      log(`IoT → ${backend}: ${summary.samples.toLocaleString('en-US')} samples in ${summary.requests} requests, ${secs(ms)} = ${rate(summary.samples, ms)}`)
      return summary
    }

    /** Σ over devices of iotValue(i, r): exact in float64. */
    const roundSum = (r: number): number => 4 * (IOT_SERIES * (IOT_SERIES - 1)) / 2 + IOT_SERIES * r

    it('Prometheus has 50,000 series with one sample per round', async () => {
      // The backfill left a head of days-old samples. The first recent sample makes all of it
      // compactable, and Prometheus 2.42 loses some samples of series it is given while it
      // compacts, after answering 204 (see promSettled). So move the head to now with one
      // sample of a series of its own, and let that compaction finish first.
      const probe = new RemoteWriter({ url: PROM_WRITE })
      await probe.send([{ metric: { __name__: 'prw_e2e_probe', run: RUN, probe: 'head' }, values: [1], timestamps: [iotTime(0) - MIN] }])
      await probe.close()
      await promSettled(PROM)
      const summary = await writeIot(PROM_WRITE, 'Prometheus')
      expect(summary).toMatchObject({ samples: IOT_SERIES * IOT_ROUNDS, failed: { samples: 0 } })

      const end = iotTime(IOT_ROUNDS - 1) + MIN
      expect(await promNumber(PROM, `count(count_over_time(${sel(IOT_NAME)}[1h]))`, end)).toBe(IOT_SERIES)
      expect(await promNumber(PROM, `sum(count_over_time(${sel(IOT_NAME)}[1h]))`, end)).toBe(IOT_SERIES * IOT_ROUNDS)
      for (let r = 0; r < IOT_ROUNDS; r++) {
        // A 30 s window centred 15 s after round r holds round r only.
        const at = iotTime(r) + 15_000
        expect(await promNumber(PROM, `count(count_over_time(${sel(IOT_NAME)}[30s]))`, at), `round ${r} series`).toBe(IOT_SERIES)
        expect(await promNumber(PROM, `sum(sum_over_time(${sel(IOT_NAME)}[30s]))`, at), `round ${r} value sum`).toBe(roundSum(r))
      }
    }, 120_000)

    it('VictoriaMetrics has 50,000 series with one sample per round', async () => {
      const summary = await writeIot(VM_WRITE, 'VictoriaMetrics')
      expect(summary).toMatchObject({ samples: IOT_SERIES * IOT_ROUNDS, failed: { samples: 0 } })

      await vmForceFlush(VM)
      const got = await vmExport(VM, sel(IOT_NAME))
      expect(got.length).toBe(IOT_SERIES)
      const perRound = new Array<number>(IOT_ROUNDS).fill(0)
      const problems: string[] = []
      for (const s of got) {
        const i = Number(s.metric.device.slice('dev-'.length))
        const want = Array.from({ length: IOT_ROUNDS }, (_, r) => iotTime(r))
        if (s.timestamps.join() !== want.join() || s.values.join() !== want.map((_, r) => iotValue(i, r)).join()) {
          if (problems.length < 10) problems.push(`${s.metric.device}: ${s.timestamps.join()} = ${s.values.join()}`)
        }
        for (const t of s.timestamps) {
          const r = (t - IOT_T0) / MIN
          if (Number.isInteger(r) && r >= 0 && r < IOT_ROUNDS) perRound[r]++
        }
      }
      expect(problems).toEqual([])
      expect(perRound).toEqual(new Array(IOT_ROUNDS).fill(IOT_SERIES))
    }, 120_000)
  })

  describe('bad data is answered as documented (shared/docs/backends.md §4)', () => {
    const now = (): number => Math.floor(Date.now() / 1000) * 1000
    /** 101 years before now: older than Prometheus's 100y out-of-order window, and negative. */
    const ancient = (): number => now() - Math.round(101 * 365.25 * DAY)

    it('Prometheus: a changed duplicate of the newest sample → SendError with HTTP 400 and the body, not retried', async () => {
      const metric = { __name__: 'prw_e2e_probe', run: RUN, probe: 'dup' }
      const t = now() - MIN
      const writer = new RemoteWriter({ url: PROM_WRITE, concurrency: 4 })
      const retries: unknown[] = []
      writer.on('retry', (e) => retries.push(e))
      expect(await writer.send({ metric, values: [1], timestamps: [t] })).toEqual({ requests: 1, series: 1, samples: 1 })

      const err = await writer.send({ metric, values: [2], timestamps: [t] }).then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(SendError)
      const sendErr = err as SendError
      expect(sendErr.result).toEqual({ requests: 0, series: 0, samples: 0 })
      expect(sendErr.failed).toEqual({ requests: 1, series: 1, samples: 1 })
      expect(sendErr.errors).toHaveLength(1)
      const batch = sendErr.errors[0]
      expect(batch).toMatchObject({ reason: 'http', status: 400, attempts: 1, sampleCount: 1 })
      expect(batch.body).toMatch(/duplicate sample for timestamp/)
      expect(batch.series).toEqual([{ labels: metric, samples: 1 }])
      expect(sendErr.message).toMatch(/HTTP 400.*duplicate sample for timestamp/)
      expect(retries).toEqual([])
      log(`Prometheus 400: ${sendErr.message}`)
      await expect(writer.close()).rejects.toBeInstanceOf(LostDataError)

      // The first value stays.
      const stored = await promRawSamples(PROM, sel('prw_e2e_probe', 'probe="dup"'))
      expect(stored.map((s) => [s.timestamps, s.values])).toEqual([[[t], [1]]])
    }, 60_000)

    it('Prometheus: a 101-year-old sample → permanent HTTP 500 "too old sample", reported at once, not retried', async () => {
      const writer = new RemoteWriter({ url: PROM_WRITE, concurrency: 4, autoConvertSecondsToMs: false })
      const retries: unknown[] = []
      writer.on('retry', (e) => retries.push(e))
      // The window is measured from the newest sample in the head (any series): make it now.
      await writer.send({ metric: { __name__: 'prw_e2e_probe', run: RUN, probe: 'anchor' }, values: [1], timestamps: [now()] })

      const metric = { __name__: 'prw_e2e_probe', run: RUN, probe: 'ancient' }
      const t = ancient()
      expect(t).toBeLessThan(0)
      const t0 = performance.now()
      const err = await writer.send({ metric, values: [1], timestamps: [t] }).then(() => undefined, (e: unknown) => e)
      const ms = performance.now() - t0
      expect(err).toBeInstanceOf(SendError)
      const batch = (err as SendError).errors[0]
      expect(batch).toMatchObject({ reason: 'http', status: 500, attempts: 1, sampleCount: 1 })
      expect(batch.body).toMatch(/too old sample/)
      expect(retries).toEqual([])
      expect(writer.stats().retried.requests).toBe(0)
      log(`Prometheus 500 after ${ms.toFixed(0)} ms: ${(err as SendError).message}`)
      await expect(writer.close()).rejects.toBeInstanceOf(LostDataError)

      expect(await promRawSamples(PROM, sel('prw_e2e_probe', 'probe="ancient"'))).toEqual([])
    }, 60_000)

    it('VictoriaMetrics: answers 204 to both, stores the changed duplicate twice and the 101-year-old sample not at all', async () => {
      const writer = new RemoteWriter({ url: VM_WRITE, concurrency: 4, autoConvertSecondsToMs: false })
      const dup = { __name__: 'prw_e2e_probe', run: RUN, probe: 'dup' }
      const t = now() - MIN
      await writer.send({ metric: dup, values: [1], timestamps: [t] })
      await writer.send({ metric: dup, values: [2], timestamps: [t] })
      const old = ancient()
      await writer.send({ metric: { __name__: 'prw_e2e_probe', run: RUN, probe: 'ancient' }, values: [1], timestamps: [old] })
      expect((await writer.close()).failed.samples).toBe(0)

      await vmForceFlush(VM)
      // Export from before the ancient sample: VM takes a negative start, and still has nothing.
      const got = await vmExport(VM, sel('prw_e2e_probe'), { startMs: old - DAY })
      const view = got.map((s: RawSeries) => ({ probe: s.metric.probe, timestamps: s.timestamps, values: [...s.values].sort() }))
      expect(view).toEqual([{ probe: 'dup', timestamps: [t, t], values: [1, 2] }])
    }, 60_000)
  })

  it('Prometheus returns awkward float64 values bit-exact', async () => {
    const values = [
      -0, 0, 5e-324, -5e-324, Number.MIN_VALUE * 2 ** 52, Number.MAX_VALUE, -Number.MAX_VALUE, Math.PI, 1 / 3, 0.1,
      1e-300, 2 ** 53, 2 ** 53 + 2, 1e15 + 0.25, 123456789.12345679, 0.12345678901234566, Infinity, -Infinity, NaN,
    ]
    const t0 = Math.floor(Date.now() / 1000) * 1000 - 2 * MIN
    const timestamps = values.map((_, i) => t0 + i * 1000)
    const metric = { __name__: 'prw_e2e_floats', run: RUN }
    const writer = new RemoteWriter({ url: PROM_WRITE })
    await writer.send({ metric, values, timestamps })
    await writer.close()
    const [got] = await promRawSamples(PROM, sel('prw_e2e_floats'), '1h', t0 + values.length * 1000)
    expect(got.timestamps).toEqual(timestamps)
    const wrong = values.flatMap((v, i) => sameBits(got.values[i], v) || (Number.isNaN(v) && Number.isNaN(got.values[i])) ? [] : [`${v} came back as ${got.values[i]}`])
    expect(wrong).toEqual([])
  })
})
