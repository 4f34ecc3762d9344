// The command line, run as spawned processes: the demo's proof (and that it can fail), the
// receiver's JSON-lines output, and backfill from files with rejects and a resume checkpoint.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { startReceiver } from '../../src/commands/receiver.js'
import type { DecodedItem } from '../../src/types.js'
import { CLI, prw } from '../support/cli.js'
import type { Run } from '../support/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'prw-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('prw demo', () => {
  const small = ['--backfill-series', '20', '--backfill-samples', '3000', '--iot-series', '5000', '--iot-rounds', '3']

  it('proves that the built-in receiver got every sample', async () => {
    const r = await prw(['demo', ...small])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/samples\s+75,000 acknowledged of 75,000/)
    expect(r.stdout).toMatch(/verified\s+OK/)
  })

  it('fails the proof when the receiver drops a request it acknowledged', async () => {
    const r = await prw(['demo', ...small, '--drop-request', '3'])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/verified\s+FAILED/)
  })

  it('retries injected 503s and still delivers everything', async () => {
    const r = await prw(['demo', ...small, '--fail-rate', '0.3'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/verified\s+OK/)
    expect(r.stdout).toMatch(/requests\s+\d+ acknowledged, [1-9]\d* retried, 0 failed/)
  })
})

describe('prw backfill', () => {
  /** 10 series × 1000 samples as JSON lines, each series split over 4 lines, lines shuffled. */
  function jsonl (): { text: string, samples: number } {
    const lines: string[] = []
    for (let s = 0; s < 10; s++) {
      for (let part = 0; part < 4; part++) {
        const ts: number[] = []
        const vs: number[] = []
        for (let i = 0; i < 250; i++) {
          ts.push(1_700_000_000_000 + (part * 250 + i) * 15_000)
          vs.push(s * 1000 + part * 250 + i)
        }
        lines.push(JSON.stringify({ metric: { __name__: 'bf_total', series: String(s) }, values: vs, timestamps: ts }))
      }
    }
    // Interleave the parts: series come back in pieces, out of order.
    lines.sort((a, b) => (a.length * 7919) % 13 - (b.length * 7919) % 13)
    return { text: `${lines.join('\n')}\n`, samples: 10_000 }
  }

  async function withReceiver<T> (fn: (url: string, got: DecodedItem[]) => Promise<T>): Promise<T> {
    const got: DecodedItem[] = []
    const receiver = await startReceiver({ onItems: (items) => got.push(...items) })
    try {
      return await fn(receiver.url, got)
    } finally {
      await receiver.close()
    }
  }

  const count = (got: DecodedItem[]): number => got.reduce((n, it) => n + it.values.length, 0)

  it('sends JSON lines (gzipped too), reassembled and sorted per series', async () => {
    const { text, samples } = jsonl()
    const plain = join(dir, 'a.jsonl')
    const gz = join(dir, 'b.jsonl.gz')
    writeFileSync(plain, text)
    writeFileSync(gz, gzipSync(text))
    await withReceiver(async (url, got) => {
      const r = await prw(['backfill', '--url', url, plain, gz])
      expect(r.code, r.stderr).toBe(0)
      expect(count(got)).toBe(2 * samples)
      for (const it of got) {
        const ts = it.timestamps as number[]
        for (let i = 1; i < ts.length; i++) expect(ts[i]).toBeGreaterThan(ts[i - 1])
      }
    })
  })

  it('sends Prometheus text, OpenMetrics and CSV', async () => {
    const prom = join(dir, 'c.prom')
    writeFileSync(prom, '# TYPE up gauge\nup{job="a"} 1 1700000000000\nup{job="a"} 0 1700000015000\nup{job="b"} 1 1700000000000\n')
    const om = join(dir, 'e.om')
    writeFileSync(om, '# TYPE om_total counter\nom_total{x="1"} 5 1700000000.5\nom_total{x="1"} 6 1700000015.25\n# EOF\n')
    const csv = join(dir, 'd.csv')
    writeFileSync(csv, 'timestamp,host,value\n1700000000000,h1,1.5\n1700000015000,h1,2.5\n1700000000000,h2,3\n')
    await withReceiver(async (url, got) => {
      const r = await prw(['backfill', '--url', url, prom, om, csv, '--csv-metric-name', 'temp'])
      expect(r.code, r.stderr).toBe(0)
      expect(count(got)).toBe(8)
      const fromOm = got.find((it) => it.metric.__name__ === 'om_total')
      expect(fromOm?.timestamps).toEqual([1700000000500, 1700000015250]) // OpenMetrics seconds -> ms
      expect(got.some((it) => it.metric.__name__ === 'temp' && it.metric.host === 'h1' && it.values.length === 2)).toBe(true)
    })
  })

  it('reports malformed lines with file and line, sends the good ones, and exits 1', async () => {
    const f = join(dir, 'bad.jsonl')
    writeFileSync(f, [
      JSON.stringify({ metric: { __name__: 'ok_metric' }, values: [1], timestamps: [1_700_000_000_000] }),
      '{not json',
      JSON.stringify({ metric: { __name__: 'bad-name' }, values: [1], timestamps: [1_700_000_000_000] }),
      JSON.stringify({ metric: { __name__: 'ok_metric', b: '1' }, values: [2], timestamps: [1_700_000_000_000] }),
    ].join('\n'))
    await withReceiver(async (url, got) => {
      const r = await prw(['backfill', '--url', url, f])
      expect(r.code).toBe(1)
      expect(r.stderr).toContain(`${f}:2:`)
      expect(r.stderr).toMatch(/bad-name.*invalid metric name/)
      expect(r.stdout).toMatch(/NOT ACCEPTED: 1 malformed lines, 1 invalid series/)
      expect(count(got)).toBe(2)
    })
  })

  it('--dry-run validates without sending', async () => {
    const f = join(dir, 'dry.jsonl')
    writeFileSync(f, jsonl().text)
    const r = await prw(['backfill', '--dry-run', f])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^parsed 10000 samples from 40 lines in 1 file, encoded 10000, in [\d.]+ s \(\d+ samples\/s\); nothing sent \(--dry-run\)$/m)
  })

  it('a run killed midway resumes from its checkpoint: nothing lost, and only what was in flight sent twice', async () => {
    const f = join(dir, 'big.jsonl')
    const lines: string[] = []
    const N = 200
    for (let s = 0; s < N; s++) {
      const ts = Array.from({ length: 2000 }, (_, i) => 1_700_000_000_000 + i * 15_000)
      lines.push(JSON.stringify({ metric: { __name__: 'resume_metric', s: String(s) }, values: ts.map((_, i) => i), timestamps: ts }))
    }
    writeFileSync(f, `${lines.join('\n')}\n`)
    const checkpoint = join(dir, 'ck.json')
    interface Place { offset: number, line: number, window?: { samples: number, items: number, sample: number } }
    /** Samples acknowledged according to a checkpoint entry (one series of 2000 samples per line). */
    const acked = (p: Place | undefined): number => p === undefined ? 0 : p.line * 2000 + (p.window === undefined ? 0 : p.window.items * 2000 + p.window.sample)
    // A slow receiver, so that the first run is still busy when it is killed. Windows of 50
    // lines, cut into chunks of 32,000 samples (4 requests per shard), two in flight.
    const got: DecodedItem[] = []
    const receiver = await startReceiver({ latency: 20, onItems: (items) => got.push(...items) })
    try {
      const args = ['backfill', '--url', receiver.url, '--window', '100000', '--checkpoint', checkpoint, f]
      const first = await new Promise<Run>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
        // Killed at a moment that has nothing to do with the checkpoint: late in the third window.
        const timer = setInterval(() => {
          if (got.reduce((n, it) => n + it.values.length, 0) >= 290_000) child.kill('SIGKILL')
        }, 2)
        child.on('close', (code) => {
          clearInterval(timer)
          resolve({ code, stdout: '', stderr: '' })
        })
      })
      expect(first.code).not.toBe(0) // killed
      const ck = JSON.parse(readFileSync(checkpoint, 'utf8')) as { files: Record<string, Place> }
      const done = acked(ck.files[f])
      expect(done).toBeGreaterThanOrEqual(200_000)
      expect(done).toBeLessThan(N * 2000)
      const receivedBefore = got.reduce((n, it) => n + it.values.length, 0)
      const second = await prw(args)
      expect(second.code, second.stderr).toBe(0)
      expect(second.stdout).toContain(`${done} samples skipped`)
      // Every series arrived completely.
      const perSeries = new Map<string, number>()
      for (const it of got) perSeries.set(it.metric.s, (perSeries.get(it.metric.s) ?? 0) + it.values.length)
      for (let s = 0; s < N; s++) expect(perSeries.get(String(s)) ?? 0, `series ${s}`).toBeGreaterThanOrEqual(2000)
      // Sent twice: what the first run had in flight when killed, at most two chunks.
      const total = got.reduce((n, it) => n + it.values.length, 0)
      expect(total - N * 2000, `${receivedBefore} received before the kill, checkpoint at ${done}`).toBeLessThanOrEqual(2 * 32_000)
    } finally {
      await receiver.close()
    }
  })
})

describe('secrets', () => {
  it('a token or password given on the command line never appears in the output, even on failures', async () => {
    const receiver = await startReceiver({ failRate: 1, status: 400 })
    try {
      const f = join(dir, 'secret.jsonl')
      writeFileSync(f, JSON.stringify({ metric: { __name__: 'm' }, values: [1], timestamps: [1_700_000_000_000] }))
      const url = receiver.url.replace('http://', 'http://user:url-PASSWORD-9@')
      for (const auth of [['--bearer-token', 'tok-SECRET-1'], ['--basic-auth', 'me:pw-SECRET-2']]) {
        const r = await prw(['backfill', '--url', url, ...auth, f])
        expect(r.code).toBe(1)
        expect(r.stderr + r.stdout).toMatch(/HTTP 400/)
        expect(r.stderr + r.stdout).not.toMatch(/SECRET|PASSWORD/)
      }
    } finally {
      await receiver.close()
    }
  })
})

describe('prw bench', () => {
  it('reports what the receiver counted, as text, JSON and a self-contained HTML page', async () => {
    const receiver = await startReceiver()
    try {
      const json = join(dir, 'bench.json')
      const html = join(dir, 'bench.html')
      const r = await prw(['bench', '--url', receiver.url, '--duration', '2', '--series', '5000', '--churn', '100', '--churn-interval', '500', '--json', json, '--html', html])
      expect(r.code, r.stderr).toBe(0)
      const report = JSON.parse(readFileSync(json, 'utf8')) as { samplesSent: number, requests: number, url: string, seconds: unknown[] }
      const counted = receiver.stats()
      expect(report.samplesSent).toBeGreaterThan(0)
      expect(report.samplesSent).toBe(counted.samples)
      expect(report.requests).toBe(counted.accepted)
      expect(r.stdout).toContain(`(${report.samplesSent} accepted, 0 failed`)
      expect(r.stdout).toMatch(/^errors      none \(failed attempts\)$/m)
      const page = readFileSync(html, 'utf8')
      expect(page).toContain('uPlot')
      expect(page).not.toMatch(/<script src=|<link [^>]*href=/) // nothing fetched from the network
    } finally {
      await receiver.close()
    }
  })

  it('an open-loop rate is reported against its target, with what fell behind', async () => {
    const receiver = await startReceiver()
    try {
      const json = join(dir, 'rate.json')
      const r = await prw(['bench', '--url', receiver.url, '--duration', '2', '--rate', '5000', '--series', '1000', '--json', json])
      expect(r.code, r.stderr).toBe(0)
      const report = JSON.parse(readFileSync(json, 'utf8')) as { target: number, achieved: number, samplesSent: number, behind: number }
      expect(report.target).toBe(5000)
      expect(report.samplesSent + report.behind).toBeGreaterThanOrEqual(9000)
      expect(report.samplesSent).toBeLessThanOrEqual(10_500)
      expect(receiver.stats().samples).toBe(report.samplesSent)
    } finally {
      await receiver.close()
    }
  })
})

describe('prw receive', () => {
  it('--out appends what it receives as JSON lines, and --help works', async () => {
    const help = await prw(['receive', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('--fail-rate')
    const out = join(dir, 'recv.jsonl')
    const port = 19000 + Math.floor(Math.random() * 500)
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'receive', '--port', String(port), '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] })
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
    const r = await prw(['demo', '--url', `http://127.0.0.1:${port}/api/v1/write`, '--backfill-series', '2', '--backfill-samples', '10', '--iot-series', '3', '--iot-rounds', '1'])
    expect(r.code, r.stderr).toBe(0)
    child.kill('SIGINT')
    await new Promise((resolve) => child.on('close', resolve))
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { metric: Record<string, string>, values: number[] })
    expect(lines.reduce((n, l) => n + l.values.length, 0)).toBe(23)
  })
})
