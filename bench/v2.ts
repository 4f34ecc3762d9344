/**
 * Remote Write 2.0 next to 1.0 on the same workloads (W2 warm, W4, W1): samples/s of
 * codec.encodeV2() and codec.encode(), and bytes per sample, uncompressed and compressed.
 *
 *   npm run bench:v2            (tsx bench/v2.ts [--seconds S])
 */
import { createCodec } from '../src/codec/codec.js'
import type { Codec } from '../src/codec/codec.js'
import type { Item } from '../src/types.js'
import { nextTimestamp, w1Backfill, w2Gateway, w4PrometheusLayout } from './workloads.js'
import type { Request, Workload } from './workloads.js'

const args = process.argv.slice(2)
const SECONDS = Number(args[args.indexOf('--seconds') + 1] || 2) || 2

interface Row { workload: string, protocol: string, rate: number, rawPerSample: number, wirePerSample: number }

/** Encodes requests round-robin for `SECONDS` (after as long a warm-up); best of 3 rounds. */
function measure (codec: Codec, reqs: Request[], v2: boolean): number {
  const run = (ms: number): number => {
    let samples = 0
    const t0 = performance.now()
    let i = 0
    while (performance.now() - t0 < ms) {
      const r = reqs[i++ % reqs.length]
      if (v2) codec.encodeV2(r.items as Item[])
      else codec.encode(r.items as Item[])
      samples += r.samples
    }
    return samples / ((performance.now() - t0) / 1000)
  }
  run(SECONDS * 1000)
  return Math.max(run(SECONDS * 1000), run(SECONDS * 1000), run(SECONDS * 1000))
}

function sizes (codec: Codec, reqs: Request[], v2: boolean): [number, number] {
  let raw = 0
  let wire = 0
  let samples = 0
  for (const r of reqs.slice(0, 20)) {
    raw += (v2 ? codec.encodeV2Protobuf(r.items as Item[]) : codec.encodeProtobuf(r.items as Item[])).length
    wire += (v2 ? codec.encodeV2(r.items as Item[]) : codec.encode(r.items as Item[])).length
    samples += r.samples
  }
  return [raw / samples, wire / samples]
}

async function main (): Promise<void> {
  const rows: Row[] = []
  const workloads: Array<[string, Workload, boolean]> = [['W2/warm', w2Gateway(), true], ['W4', w4PrometheusLayout(), false], ['W1', w1Backfill(), false]]
  for (const [name, w, warm] of workloads) {
    const reqs = warm ? nextTimestamp(w.requests) : w.requests
    for (const v2 of [false, true]) {
      const codec = await createCodec()
      if (warm) for (const r of w.requests) codec.encode(r.items as Item[]) // first sight of every series
      const [rawPerSample, wirePerSample] = sizes(codec, reqs, v2)
      rows.push({ workload: name, protocol: v2 ? '2.0' : '1.0', rate: measure(codec, reqs, v2), rawPerSample, wirePerSample })
    }
  }
  console.log(`node ${process.version}; best of 3 rounds of ${SECONDS} s per cell`)
  console.log('| workload | protocol | samples/s | v2 / v1 | protobuf B/sample | snappy B/sample |')
  console.log('|:--|:--|--:|--:|--:|--:|')
  for (const r of rows) {
    const v1 = rows.find((x) => x.workload === r.workload && x.protocol === '1.0')!
    const ratio = r.protocol === '2.0' ? `${(r.rate / v1.rate).toFixed(2)}×` : ''
    const rate = r.rate >= 1e6 ? `${(r.rate / 1e6).toFixed(2)} M` : `${(r.rate / 1e3).toFixed(0)} k`
    console.log(`| ${r.workload} | ${r.protocol} | ${rate} | ${ratio} | ${r.rawPerSample.toFixed(1)} | ${r.wirePerSample.toFixed(1)} |`)
  }
}

await main()
