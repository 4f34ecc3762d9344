/**
 * The demo's workload (demo.ts): a backfill shape, then an IoT shape, as the batches a caller
 * writes, and the rate at which the codec alone encodes it (the client's own cost, apart from
 * the loop through a receiver).
 */
import { createCodec } from '../index.js'
import type { Item } from '../index.js'

export interface WorkloadShape {
  /** Backfill: series × samples, 15 s apart, ending a day ago. */
  backfillSeries: number
  backfillSamples: number
  /** IoT: series × rounds, one sample per series per round, a minute apart. */
  iotSeries: number
  iotRounds: number
}

/** An item of the workload: always labels by name (the checksum hashes them). */
export type DemoItem = Item & { metric: Readonly<Record<string, string>> }

/** Samples per batch: one request's worth at the writer's default maxSamplesPerRequest. */
const CHUNK = 2_000

export function workloadSamples (s: WorkloadShape): number {
  return s.backfillSeries * s.backfillSamples + s.iotSeries * s.iotRounds
}

/** The batches, in the order the demo writes them; `now` (ms) places the timestamps. */
export function * workload (s: WorkloadShape, now = Date.now()): Generator<DemoItem[]> {
  let seed = 42
  const random = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
    return seed / 4294967296
  }
  // Backfill: long series of random-walk temperatures.
  const end = Math.floor(now / 15_000) * 15_000 - 86_400_000
  const start = end - (s.backfillSamples - 1) * 15_000
  for (let k = 0; k < s.backfillSeries; k++) {
    const metric = { __name__: 'demo_temperature_celsius', job: 'demo', instance: `host-${k % 20}`, sensor: `s${k}` }
    let v = 20 + random() * 5
    for (let off = 0; off < s.backfillSamples; off += CHUNK) {
      const n = Math.min(CHUNK, s.backfillSamples - off)
      const values = new Float64Array(n)
      const timestamps = new Float64Array(n)
      for (let i = 0; i < n; i++) {
        v += random() - 0.5
        values[i] = Math.round(v * 100) / 100
        timestamps[i] = start + (off + i) * 15_000
      }
      yield [{ metric, values, timestamps }]
    }
  }
  // IoT: many devices, one reading each per round, the same label objects every round (as
  // a gateway keeps them), so the writer's series cache serves all rounds after the first.
  const devices = Array.from({ length: s.iotSeries }, (_, i) => ({
    __name__: 'demo_device_battery_volts', job: 'gateway', device_id: `dev-${i.toString(36).padStart(4, '0')}`, site: `site-${i % 37}`,
  }))
  const iotStart = Math.floor(now / 60_000) * 60_000 - s.iotRounds * 60_000
  for (let round = 0; round < s.iotRounds; round++) {
    for (let off = 0; off < s.iotSeries; off += CHUNK) {
      const items: DemoItem[] = []
      for (let i = off; i < Math.min(off + CHUNK, s.iotSeries); i++) {
        items.push({ metric: devices[i], values: [3 + random()], timestamps: [iotStart + round * 60_000] })
      }
      yield items
    }
  }
}

/**
 * The same shapes with at most about `max` samples: fewer series, each as long as before
 * (capped too when one series alone is longer), so the share of label sets the series cache
 * serves and the length of the records stay those of the full workload.
 */
export function scaled (s: WorkloadShape, max: number): WorkloadShape {
  const f = Math.min(1, max / Math.max(1, workloadSamples(s)))
  const backfillSeries = Math.ceil(s.backfillSeries * f)
  const iotSeries = Math.ceil(s.iotSeries * f)
  return {
    backfillSeries,
    backfillSamples: Math.min(s.backfillSamples, Math.ceil((s.backfillSeries * s.backfillSamples * f) / Math.max(1, backfillSeries))),
    iotSeries,
    iotRounds: Math.min(s.iotRounds, Math.ceil((s.iotSeries * s.iotRounds * f) / Math.max(1, iotSeries))),
  }
}

/** Samples encoded per pass of encodeRate(): ~0.1 s at a few million samples/s. */
const ENCODE_SAMPLES = 300_000
const PASSES = 3

/**
 * Samples/s the codec alone encodes this workload into snappy-compressed requests, one per
 * batch as the writer builds them: the median of 3 passes over a scaled copy (scaled()), each
 * with a fresh codec (the series cache starts cold, as the writer's did). The batches are
 * generated before the clock starts: this times encoding only, on this thread.
 */
export async function encodeRate (s: WorkloadShape, v2: boolean): Promise<number> {
  const batches = [...workload(scaled(s, ENCODE_SAMPLES))]
  let samples = 0
  for (const b of batches) for (const it of b) samples += it.values.length
  if (samples === 0) return 0
  const rates: number[] = []
  for (let pass = 0; pass < PASSES; pass++) {
    const codec = await createCodec()
    const t0 = performance.now()
    for (const b of batches) {
      if (v2) codec.encodeV2(b)
      else codec.encodeView(b)
    }
    rates.push(samples / ((performance.now() - t0) / 1000))
  }
  return rates.sort((a, b) => a - b)[PASSES >> 1]
}
