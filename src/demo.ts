/**
 * `npm start`: encodes a generated workload (a backfill shape, then an IoT shape) with the
 * WebAssembly codec, decodes every request back, and proves that every sample survived
 * (counts and a checksum over labels, timestamps and value bits). Needs no server.
 */
import { createCodec } from './codec.js'
import type { Item } from './types.js'

const SERIES = Number(process.env.DEMO_SERIES ?? 200)
const SAMPLES = Number(process.env.DEMO_SAMPLES ?? 10_000)
const IOT_SERIES = Number(process.env.DEMO_IOT_SERIES ?? 100_000)
const BATCH = 2_000

/** FNV-1a over a string, folded into a running 32-bit hash. */
function fnv (h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}

const bits = new Float64Array(1)
const bitsU32 = new Uint32Array(bits.buffer)

/** Order-independent checksum of one series' samples. */
function checksum (labels: Record<string, string>, values: ArrayLike<number>, timestamps: ArrayLike<number>): number {
  let key = 2166136261
  for (const k of Object.keys(labels).sort()) key = fnv(fnv(key, k), labels[k])
  let sum = 0
  for (let i = 0; i < values.length; i++) {
    bits[0] = values[i]
    sum = (sum + Math.imul(key ^ bitsU32[0] ^ bitsU32[1], 2654435761) + timestamps[i]) % 4294967296
  }
  return sum
}

async function main (): Promise<void> {
  const codec = await createCodec()
  const start = Date.UTC(2026, 0, 1)
  let sent = 0
  let received = 0
  let rawBytes = 0
  let wireBytes = 0
  let expected = 0
  let got = 0
  let requests = 0
  let encodeMs = 0

  const run = (items: Item[]): void => {
    const t0 = performance.now()
    const body = codec.encode(items)
    encodeMs += performance.now() - t0
    requests++
    wireBytes += body.length
    for (const it of items) {
      sent += it.values.length
      expected = (expected + checksum(it.metric as Record<string, string>, it.values, it.timestamps as ArrayLike<number>)) % 4294967296
    }
    for (const d of codec.decode(body)) {
      received += d.values.length
      got = (got + checksum(d.metric, d.values, d.timestamps as number[])) % 4294967296
    }
    rawBytes += codec.size
  }

  // Backfill: long series, 15 s apart, split into requests of BATCH samples.
  let x = 1
  for (let s = 0; s < SERIES; s++) {
    const metric = { __name__: 'demo_temperature_celsius', job: 'demo', instance: `host-${s % 20}`, sensor: `s${s}` }
    for (let off = 0; off < SAMPLES; off += BATCH) {
      const n = Math.min(BATCH, SAMPLES - off)
      const values = new Float64Array(n)
      const timestamps = new Float64Array(n)
      for (let i = 0; i < n; i++) {
        x = (x * 1103515245 + 12345) % 2147483648
        values[i] = 20 + (x / 2147483648) * 5
        timestamps[i] = start + (off + i) * 15_000
      }
      run([{ metric, values, timestamps }])
    }
  }
  // IoT: many series, one sample each, BATCH series per request.
  const devices = Array.from({ length: IOT_SERIES }, (_, i) => ({
    __name__: 'demo_device_up', job: 'gateway', device_id: `dev-${i.toString(36)}`, region: `r${i % 7}`,
  }))
  for (let round = 0; round < 3; round++) {
    for (let off = 0; off < devices.length; off += BATCH) {
      const items: Item[] = []
      for (let i = off; i < Math.min(off + BATCH, devices.length); i++) {
        items.push({ metric: devices[i], values: [round === 1 && i % 97 === 0 ? 0 : 1], timestamps: [start + round * 60_000] })
      }
      run(items)
    }
  }

  const ok = sent === received && expected === got
  const rate = sent / (encodeMs / 1000)
  console.log(`requests        ${requests}`)
  console.log(`samples         ${sent} sent, ${received} decoded back`)
  console.log(`bytes           ${(rawBytes / 1e6).toFixed(1)} MB protobuf -> ${(wireBytes / 1e6).toFixed(1)} MB snappy (${(rawBytes / wireBytes).toFixed(2)}x)`)
  console.log(`encode          ${(rate / 1e6).toFixed(2)} M samples/s (validation + protobuf + snappy, one thread)`)
  console.log(`checksum        ${expected.toString(16)} sent, ${got.toString(16)} decoded: ${ok ? 'MATCH' : 'MISMATCH'}`)
  console.log(`cache           ${JSON.stringify(codec.stats())}`)
  if (!ok) process.exitCode = 1
}

await main()
