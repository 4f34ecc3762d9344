/**
 * Deterministic bench workloads. Every workload is generated from a fixed seed, so two
 * runs (and two stacks in one run) see the same series, values and timestamps.
 *
 * Each request is held twice, in the input shape of each stack, sharing label objects:
 * - `items`: this project's `Item[]` (`{ metric, values, timestamps }`);
 * - `peer`: the `Timeseries[]` that `prometheus-remote-write`'s `pushTimeseries()` takes
 *   (`{ labels, samples: [{ value, timestamp }] }`).
 * Building these shapes is setup, not timed work.
 */
import type { Item } from '../src/index.js'

/** One sample as `prometheus-remote-write` takes it. */
export interface PeerSample {
  value: number
  /** Unix milliseconds. */
  timestamp: number
}

/** One series as `prometheus-remote-write` takes it. */
export interface PeerSeries {
  labels: Record<string, string>
  samples: PeerSample[]
}

/** One remote-write request, in both input shapes. */
export interface Request {
  items: Item[]
  peer: PeerSeries[]
  /** TimeSeries records in the request. */
  series: number
  /** Samples in the request. */
  samples: number
}

/** A named list of requests. */
export interface Workload {
  id: string
  /** One line: what the workload is and how requests are cut. */
  layout: string
  requests: Request[]
  /** Distinct label sets, in first-use order (W2 uses them for handles). */
  labelSets: Array<Record<string, string>>
}

/** Unix ms of the first sample of every workload (2023-11-14). */
export const T0_MS = 1_700_000_000_000
/** Scrape interval of W1, W3 and W4, in ms. */
export const STEP_MS = 15_000
/** Samples (or series, for W2) per request in every workload. */
export const REQUEST_SAMPLES = 2_000

/**
 * xorshift32 (Marsaglia 2003, shifts 13/17/5) returning floats in [0, 1).
 * Seed 0 is a fixed point of xorshift, so it is mapped to 1.
 */
export function seeded (seed: number): () => number {
  let x = (seed | 0) || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4294967296
  }
}

/** `n` lowercase hex digits. */
function hex (rand: () => number, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[Math.floor(rand() * 16)]
  return s
}

/** `n` uppercase alphanumerics. */
function alnum (rand: () => number, n: number): string {
  const abc = 'ABCDEFGHJKLMNPQRSTUVWXYZ0123456789'
  let s = ''
  for (let i = 0; i < n; i++) s += abc[Math.floor(rand() * abc.length)]
  return s
}

function pick<T> (rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)]
}

/** The gauges of W1/W4: labels plus the full sample columns, one entry per series. */
interface Gauges {
  labels: Array<Record<string, string>>
  values: Float64Array[]
  timestamps: Float64Array[]
  /** `peer[s][i]` is sample i of series s as a `{ value, timestamp }` object. */
  peer: PeerSample[][]
}

const W1_SERIES = 100
const W1_SAMPLES = 10_000

/** 100 node-exporter-like gauges × 10,000 random-walk samples, 8 labels, sorted names. */
function gauges (): Gauges {
  const rand = seeded(0x5eed0001)
  const names = ['node_memory_Active_bytes', 'node_load1', 'process_resident_memory_bytes',
    'go_memstats_heap_inuse_bytes', 'node_filesystem_avail_bytes']
  const out: Gauges = { labels: [], values: [], timestamps: [], peer: [] }
  for (let s = 0; s < W1_SERIES; s++) {
    out.labels.push({
      __name__: names[s % names.length],
      cluster: pick(rand, ['prod-eu-1', 'prod-us-2', 'staging-eu-1']),
      cpu: String(s % 16),
      env: pick(rand, ['production', 'staging']),
      instance: `10.${s >> 8}.${s & 255}.${Math.floor(rand() * 250) + 1}:9100`,
      job: 'node-exporter',
      mode: pick(rand, ['idle', 'user', 'system', 'iowait']),
      region: pick(rand, ['eu-west-1', 'us-east-2', 'ap-south-1']),
    })
    const values = new Float64Array(W1_SAMPLES)
    const timestamps = new Float64Array(W1_SAMPLES)
    const peer: PeerSample[] = new Array(W1_SAMPLES)
    let v = rand() * 1e6
    const t0 = T0_MS + Math.floor(rand() * STEP_MS) // each target has its own scrape offset
    for (let i = 0; i < W1_SAMPLES; i++) {
      v += (rand() - 0.5) * 1e3
      values[i] = v
      timestamps[i] = t0 + i * STEP_MS
      peer[i] = { value: v, timestamp: t0 + i * STEP_MS }
    }
    out.values.push(values)
    out.timestamps.push(timestamps)
    out.peer.push(peer)
  }
  return out
}

let gaugeCache: Gauges | undefined
function sharedGauges (): Gauges {
  gaugeCache ??= gauges()
  return gaugeCache
}

/**
 * W1 backfill: 100 series × 10,000 samples (1M). Each request is one 2,000-sample slice
 * of one series (series-major: series 0 slices 0..4, then series 1, ...), 500 requests.
 * Values and timestamps are Float64Array subarrays.
 */
export function w1Backfill (): Workload {
  const g = sharedGauges()
  const requests: Request[] = []
  for (let s = 0; s < W1_SERIES; s++) {
    for (let off = 0; off < W1_SAMPLES; off += REQUEST_SAMPLES) {
      const end = off + REQUEST_SAMPLES
      requests.push({
        items: [{ metric: g.labels[s], values: g.values[s].subarray(off, end), timestamps: g.timestamps[s].subarray(off, end) }],
        peer: [{ labels: g.labels[s], samples: g.peer[s].slice(off, end) }],
        series: 1,
        samples: REQUEST_SAMPLES,
      })
    }
  }
  return {
    id: 'W1',
    layout: '100 series × 10,000 samples, 8 labels; request = one 2,000-sample slice of one series (Float64Array); 500 requests',
    requests,
    labelSets: g.labels,
  }
}

/**
 * W4 Prometheus layout: W1's first 2,000 samples of each series, one TimeSeries item per
 * sample (the series' same metric object), time-major (t0: series 0..99, t1: ...), 2,000
 * items per request = 20 scrapes × 100 series; 100 requests. Plain `[v]` / `[t]` arrays.
 */
export function w4PrometheusLayout (): Workload {
  const g = sharedGauges()
  const requests: Request[] = []
  let items: Item[] = []
  let peer: PeerSeries[] = []
  for (let i = 0; i < REQUEST_SAMPLES; i++) {
    for (let s = 0; s < W1_SERIES; s++) {
      const sample = g.peer[s][i]
      items.push({ metric: g.labels[s], values: [sample.value], timestamps: [sample.timestamp] })
      peer.push({ labels: g.labels[s], samples: [sample] })
      if (items.length === REQUEST_SAMPLES) {
        requests.push({ items, peer, series: items.length, samples: items.length })
        items = []
        peer = []
      }
    }
  }
  return {
    id: 'W4',
    layout: 'W1 series 0..99 × first 2,000 samples; 1 item per sample, time-major; 2,000 items/request (20 scrapes × 100 series); 100 requests',
    requests,
    labelSets: g.labels,
  }
}

const W2_SERIES = 200_000

/**
 * W2 IoT gateway: 200,000 devices × 1 reading, 10 labels with high-cardinality ids
 * (device_id, serial), 2,000 series per request; 100 requests. Plain `[v]` / `[t]`.
 */
export function w2Gateway (): Workload {
  const rand = seeded(0x5eed0002)
  const kinds = ['sensor_temperature_celsius', 'sensor_humidity_ratio', 'sensor_pressure_hpa',
    'sensor_battery_volts', 'sensor_rssi_dbm']
  const vendors = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark']
  const labelSets: Array<Record<string, string>> = []
  const requests: Request[] = []
  for (let base = 0; base < W2_SERIES; base += REQUEST_SAMPLES) {
    const items: Item[] = []
    const peer: PeerSeries[] = []
    for (let d = base; d < base + REQUEST_SAMPLES; d++) {
      const vendor = pick(rand, vendors)
      const labels = {
        __name__: kinds[d % kinds.length],
        device_id: `${hex(rand, 8)}-${hex(rand, 4)}-${hex(rand, 4)}-${hex(rand, 12)}`,
        firmware: `${1 + Math.floor(rand() * 3)}.${Math.floor(rand() * 20)}.${Math.floor(rand() * 10)}`,
        gateway: `gw-${String(d % 400).padStart(4, '0')}`,
        location: `building-${Math.floor(rand() * 60)}/floor-${Math.floor(rand() * 12)}`,
        model: `${vendor.toUpperCase().slice(0, 3)}-${Math.floor(rand() * 900) + 100}`,
        region: pick(rand, ['eu-central', 'eu-north', 'us-west', 'ap-east']),
        serial: alnum(rand, 14),
        site: `site-${Math.floor(d / 2000)}`,
        vendor,
      }
      labelSets.push(labels)
      const value = Math.round((rand() * 80 - 20) * 100) / 100
      const timestamp = T0_MS + Math.floor(rand() * 1000) // one poll, ms jitter
      items.push({ metric: labels, values: [value], timestamps: [timestamp] })
      peer.push({ labels, samples: [{ value, timestamp }] })
    }
    requests.push({ items, peer, series: REQUEST_SAMPLES, samples: REQUEST_SAMPLES })
  }
  return {
    id: 'W2',
    layout: '200,000 series × 1 sample, 10 labels (device_id, serial unique); 2,000 series/request; 100 requests',
    requests,
    labelSets,
  }
}

const W3_SERIES = 1_000
const W3_SAMPLES = 1_000

/**
 * W3 counters: 1,000 monotonic integer counters × 1,000 samples, 8 labels; a request is
 * two whole series (2,000 samples); 500 requests. Float64Array columns.
 */
export function w3Counters (): Workload {
  const rand = seeded(0x5eed0003)
  const names = ['http_requests_total', 'http_request_size_bytes_total', 'grpc_server_handled_total']
  const labelSets: Array<Record<string, string>> = []
  const items: Item[] = []
  const peer: PeerSeries[] = []
  for (let s = 0; s < W3_SERIES; s++) {
    const labels = {
      __name__: names[s % names.length],
      code: pick(rand, ['200', '200', '200', '201', '404', '500']),
      handler: pick(rand, ['/api/v1/query', '/api/v1/write', '/metrics', '/healthz', '/api/v1/series']),
      instance: `10.1.${s >> 6}.${s & 63}:8080`,
      job: 'api-server',
      method: pick(rand, ['GET', 'POST']),
      namespace: pick(rand, ['default', 'monitoring', 'payments']),
      pod: `api-${hex(rand, 10)}-${hex(rand, 5)}`,
    }
    labelSets.push(labels)
    const values = new Float64Array(W3_SAMPLES)
    const timestamps = new Float64Array(W3_SAMPLES)
    const samples: PeerSample[] = new Array(W3_SAMPLES)
    let c = Math.floor(rand() * 1e6) + 1
    const rate = 1 + rand() * 200
    const t0 = T0_MS + Math.floor(rand() * STEP_MS)
    for (let i = 0; i < W3_SAMPLES; i++) {
      c += Math.floor(rand() * rate)
      values[i] = c
      timestamps[i] = t0 + i * STEP_MS
      samples[i] = { value: c, timestamp: t0 + i * STEP_MS }
    }
    items.push({ metric: labels, values, timestamps })
    peer.push({ labels, samples })
  }
  const requests: Request[] = []
  const perRequest = REQUEST_SAMPLES / W3_SAMPLES
  for (let s = 0; s < W3_SERIES; s += perRequest) {
    requests.push({
      items: items.slice(s, s + perRequest),
      peer: peer.slice(s, s + perRequest),
      series: perRequest,
      samples: REQUEST_SAMPLES,
    })
  }
  return {
    id: 'W3',
    layout: '1,000 counters × 1,000 integer samples, 8 labels; request = 2 whole series (2,000 samples); 500 requests',
    requests,
    labelSets,
  }
}

/**
 * The same request with fresh label objects, as a gateway gets them from JSON messages:
 * new objects and new value strings (JSON.parse), so nothing keyed by identity can hit.
 * (Not `{ ...labels }`: V8 gives spread copies a shape that makes adding any property,
 * including the codec's cache slot, several times slower than on parsed or literal objects.)
 */
export function freshLabels (r: Request): Request {
  const metrics = JSON.parse(JSON.stringify(r.items.map((it) => it.metric))) as Array<Record<string, string>>
  const labels = JSON.parse(JSON.stringify(r.peer.map((s) => s.labels))) as Array<Record<string, string>>
  return {
    ...r,
    items: r.items.map((it, i) => ({ metric: metrics[i], values: it.values, timestamps: it.timestamps })),
    peer: r.peer.map((s, i): PeerSeries => ({ labels: labels[i], samples: s.samples })),
  }
}

/** Moves every single-sample series of `batch` to its next scrape, in both shapes, in place. */
export function nextTimestamp (batch: Request[]): Request[] {
  for (const r of batch) {
    for (const it of r.items) (it.timestamps as number[])[0] += STEP_MS
    for (const s of r.peer) s.samples[0].timestamp += STEP_MS
  }
  return batch
}
