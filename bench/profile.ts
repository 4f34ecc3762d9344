/**
 * Runs one workload through this project's codec in a loop, for a CPU profile:
 *
 *   node --cpu-prof --cpu-prof-dir=prof --import tsx bench/profile.ts W2/warm 10
 *
 * Cases: W1, W2/cold, W2/warm, W2/handles, W3, W4 (see bench/workloads.ts). One case per
 * process, so the JIT is not warmed by another case's code paths. Input preparation (fresh
 * label objects for W2/cold, the next timestamp for W2/warm) runs inside the loop and shows
 * up in the profile under freshLabels / nextTimestamp.
 */
import { parseArgs } from 'node:util'
import { createCodec } from '../src/index.js'
import type { Item } from '../src/index.js'
import { freshLabels, nextTimestamp, w1Backfill, w2Gateway, w3Counters, w4PrometheusLayout } from './workloads.js'
import type { Request, Workload } from './workloads.js'

const usage = `usage: node --cpu-prof --import tsx bench/profile.ts <case> [seconds] [--view]

  case     W1 | W2/cold | W2/warm | W2/handles | W3 | W4
  seconds  how long to loop (default 10)
  --view   use encodeView() instead of encode()`

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: { view: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
})
const [name, secondsArg = '10'] = positionals
const makers: Record<string, () => Workload> = {
  W1: w1Backfill, 'W2/cold': w2Gateway, 'W2/warm': w2Gateway, 'W2/handles': w2Gateway, W3: w3Counters, W4: w4PrometheusLayout,
}
const seconds = Number(secondsArg)
if (opts.help || name === undefined || !(name in makers) || !(seconds > 0)) {
  console.error(usage)
  process.exit(opts.help ? 0 : 2)
}

const workload = makers[name]()
const codec = await createCodec()
const encode = opts.view ? (items: Item[]) => codec.encodeView(items) : (items: Item[]) => codec.encode(items)

let itemsOf = (r: Request): Item[] => r.items
if (name === 'W2/warm' || name === 'W2/handles') {
  for (const r of workload.requests) encode(r.items) // fill the series cache
}
if (name === 'W2/handles') {
  const handles = new Map(workload.labelSets.map((labels) => [labels, codec.series(labels)]))
  const byRequest = new Map(workload.requests.map((r) => [r, r.items.map((it): Item => ({
    series: handles.get(it.metric as Record<string, string>), values: it.values, timestamps: it.timestamps,
  }))]))
  itemsOf = (r) => byRequest.get(r)!
}
const prepare = name === 'W2/cold'
  ? (r: Request) => freshLabels(r)
  : name === 'W2/warm' || name === 'W2/handles' ? (r: Request) => nextTimestamp([r])[0] : (r: Request) => r

let samples = 0
let bytes = 0
let i = 0
const start = performance.now()
const stop = start + seconds * 1000
while (performance.now() < stop) {
  const r = prepare(workload.requests[i++ % workload.requests.length])
  bytes += encode(itemsOf(r)).length
  samples += r.samples
}
const elapsed = (performance.now() - start) / 1000
console.log(`${name}${opts.view ? ' (encodeView)' : ''}: ${i} requests, ${(samples / elapsed / 1e6).toFixed(2)} M samples/s ` +
  `(preparation included), ${(bytes / samples).toFixed(2)} B/sample`)
console.log(JSON.stringify(codec.stats()))
