/**
 * End to end: samples/s from items to acknowledged requests, into a loopback receiver that
 * runs in its own process and only reads bodies (so it does not share the client's thread).
 * Runs, in the same process and against the same receiver:
 *   - this project's RemoteWriter (write() + ready(), then flush()),
 *   - this project's codec alone (encode() of the same requests, nothing sent): the ceiling,
 *   - the npm package prometheus-remote-write 0.5.1 (pushTimeseries, with Node's fetch and
 *     the same number of requests in flight).
 * Workloads: W1 (backfill) and W2 warm (IoT gateway, same series again), from workloads.ts.
 *
 *   npm run bench:writer            (tsx bench/writer.ts [--rounds N] [--json FILE])
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createRequire } from 'node:module'
import { createCodec } from '../src/codec/codec.js'
import { RemoteWriter } from '../src/writer/writer.js'
import type { Item } from '../src/types.js'
import { nextTimestamp, w1Backfill, w2Gateway } from './workloads.js'
import type { PeerSeries, Request, Workload } from './workloads.js'

const require = createRequire(import.meta.url)
const { pushTimeseries } = require('prometheus-remote-write') as {
  pushTimeseries: (ts: PeerSeries[], o: { url: string, fetch: typeof fetch }) => Promise<{ status: number, errorMessage?: string }>
}

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4)
const args = process.argv.slice(2)
const ROUNDS = Number(args[args.indexOf('--rounds') + 1] || 8) || 8
const JSON_OUT = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined

/** A body-reading receiver in a child process: 204 for everything; counts bytes. */
async function startSink (): Promise<{ url: string, stop: () => void }> {
  const code = `
    const http = require('node:http')
    const s = http.createServer((q, r) => { q.on('data', () => {}).on('end', () => { r.writeHead(204); r.end() }) })
    s.keepAliveTimeout = 60000
    s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'))`
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())))
  return { url: `http://127.0.0.1:${port}/api/v1/write`, stop: () => child.kill() }
}

interface Result { workload: string, stack: string, samples: number, seconds: number, rate: number, cpu: number }

/** Samples, wall seconds, and this process's CPU time over wall time (all threads: 1.0 = one core). */
async function timeIt (fn: () => Promise<number>): Promise<{ samples: number, seconds: number, cpu: number }> {
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  const samples = await fn()
  const c = process.cpuUsage(c0)
  const seconds = (performance.now() - t0) / 1000
  return { samples, seconds, cpu: (c.user + c.system) / 1e6 / seconds }
}

/** The requests of a workload for one round (W2 warm: the next timestamp each round). */
function roundRequests (w: Workload, round: number): Request[] {
  if (w.id !== 'W2' || round === 0) return w.requests
  let reqs = w.requests
  for (let i = 0; i < round; i++) reqs = nextTimestamp(reqs)
  return reqs
}

async function ours (url: string, reqs: Request[], writer: RemoteWriter): Promise<number> {
  let n = 0
  for (const r of reqs) {
    if (!writer.write(r.items as Item[])) await writer.ready()
    n += r.samples
  }
  // With a spool flush() only makes it durable: wait for the acknowledgements too.
  await writer.flush({ acknowledged: true })
  return n
}

async function codecAlone (reqs: Request[], codec: Awaited<ReturnType<typeof createCodec>>): Promise<number> {
  let n = 0
  for (const r of reqs) {
    codec.encode(r.items as Item[])
    n += r.samples
  }
  return n
}

async function npmPackage (url: string, reqs: Request[]): Promise<number> {
  let n = 0
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < reqs.length) {
      const r = reqs[next++]
      const res = await pushTimeseries(r.peer, { url, fetch })
      if (res.status >= 300) throw new Error(`npm package got ${res.status}: ${res.errorMessage}`)
      n += r.samples
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return n
}

async function main (): Promise<void> {
  const sink = await startSink()
  const results: Result[] = []
  const spoolDisk: string[] = []
  try {
    for (const w of [w1Backfill(), w2Gateway()]) {
      const name = w.id === 'W2' ? 'W2/warm' : w.id
      const writer = new RemoteWriter({ url: sink.url, concurrency: CONCURRENCY })
      const spoolDir = mkdtempSync(join(tmpdir(), 'prw-bench-spool-'))
      const spooled = new RemoteWriter({ url: sink.url, concurrency: CONCURRENCY, spool: { dir: spoolDir, maxBytes: 1 << 30, sync: 'batch' } })
      const codec = await createCodec()
      // Warm-up: JIT, and for W2 the first sight of every series (it is the warm case).
      // V8 tiers WebAssembly and JS up while they run: warm each path for a few seconds.
      for (const t0 = Date.now(); Date.now() - t0 < 4000;) {
        await ours(sink.url, roundRequests(w, 0), writer)
        await ours(sink.url, roundRequests(w, 0), spooled)
        await codecAlone(roundRequests(w, 0), codec)
      }
      await npmPackage(sink.url, roundRequests(w, 0).slice(0, 50))
      const best: Record<string, { samples: number, seconds: number, cpu: number }> = {}
      for (let round = 1; round <= ROUNDS; round++) {
        const reqs = roundRequests(w, round)
        for (const [stack, fn] of [
          ['(a) RemoteWriter, end to end', () => ours(sink.url, reqs, writer)],
          ['(a) RemoteWriter + spool (sync batch)', () => ours(sink.url, reqs, spooled)],
          ['(a) codec alone (no I/O)', () => codecAlone(reqs, codec)],
          ['(b) prometheus-remote-write 0.5.1', () => npmPackage(sink.url, reqs)],
        ] as const) {
          const r = await timeIt(fn)
          if (!best[stack] || r.samples / r.seconds > best[stack].samples / best[stack].seconds) best[stack] = r
        }
      }
      await writer.close()
      const st = spooled.stats()
      await spooled.close()
      rmSync(spoolDir, { recursive: true, force: true })
      spoolDisk.push(`${name}: spool ${(st.spool?.appended.bytes ?? 0) / st.sent.samples} bytes/sample on disk vs ${st.sent.bytesCompressed / st.sent.samples} on the wire (${(100 * ((st.spool?.appended.bytes ?? 0) / st.sent.bytesCompressed - 1)).toFixed(2)}% more)`)
      for (const [stack, r] of Object.entries(best)) {
        results.push({ workload: name, stack, samples: r.samples, seconds: r.seconds, rate: r.samples / r.seconds, cpu: r.cpu })
      }
    }
  } finally {
    sink.stop()
  }
  console.log(`node ${process.version}, concurrency ${CONCURRENCY} (the writer sends from its I/O thread; the npm package keeps ${CONCURRENCY} requests in flight), loopback receiver in its own process, best of ${ROUNDS} rounds`)
  console.log('| workload | stack | samples/s | vs codec alone | vs npm package | client CPU | targets |')
  console.log('|:--|:--|--:|--:|--:|--:|:--|')
  for (const wl of [...new Set(results.map((r) => r.workload))]) {
    const rows = results.filter((r) => r.workload === wl)
    const codec = rows.find((r) => r.stack.includes('codec alone'))?.rate ?? NaN
    const npm = rows.find((r) => r.stack.includes('prometheus-remote-write'))?.rate ?? NaN
    const plain = rows.find((r) => r.stack.includes('end to end'))?.rate ?? NaN
    for (const r of rows) {
      const vsCodec = r.rate / codec
      const vsNpm = r.rate / npm
      const target = r.stack.includes('spool')
        ? `≥60% of the writer without a spool: ${(100 * r.rate / plain).toFixed(0)}% ${r.rate / plain >= 0.6 ? 'ok' : 'MISS'}`
        : r.stack.includes('RemoteWriter')
          ? `≥70% of codec ${vsCodec >= 0.7 ? 'ok' : 'MISS'}, ≥5× npm ${vsNpm >= 5 ? 'ok' : 'MISS'}`
          : ''
      console.log(`| ${wl} | ${r.stack} | ${fmt(r.rate)} | ${(100 * vsCodec).toFixed(0)}% | ${vsNpm.toFixed(2)}× | ${(100 * r.cpu).toFixed(0)}% | ${target} |`)
    }
  }
  for (const line of spoolDisk) console.log(line)
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify(results, null, 2))
}

function fmt (r: number): string {
  return r >= 1e6 ? `${(r / 1e6).toFixed(2)} M` : `${(r / 1e3).toFixed(0)} k`
}

await main()
