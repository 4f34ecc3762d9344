// The backfill's chunked sending and resume, from review: a read error in the window read
// ahead, rejected series in the last chunk, a file changed between a kill and its resume.
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { backfill } from '../../src/commands/backfill.js'
import { startReceiver } from '../support/fake-server.js'
import type { CapturedRequest } from '../support/fake-server.js'

const T = 1_700_000_000_000
const dir = mkdtempSync(join(tmpdir(), 'prw-bf-resume-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const line = (labels: Record<string, string>, ts: number[]): string => JSON.stringify({ metric: { __name__: 'm', ...labels }, values: ts.map((t) => t - T), timestamps: ts })
const timesOf = (reqs: CapturedRequest[]): number[] => reqs.flatMap((r) => r.items.flatMap((s) => s.timestamps.map((t) => t - T)))

describe('backfill, chunked', () => {
  it('a read error in the window read ahead fails the backfill in order (no unhandled rejection)', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => line({ s: String(i % 50) }, [T + i]))
    const gz = gzipSync(`${lines.join('\n')}\n`)
    const path = join(dir, 'trunc.jsonl.gz')
    writeFileSync(path, gz.subarray(0, Math.floor(gz.length * 0.8)))
    const rx = await startReceiver({ handler: () => ({ status: 204, delayMs: 200 }) })
    try {
      await expect(backfill({ files: [path], url: rx.url, windowSamples: 500, report: () => {}, writer: { ioThread: false } })).rejects.toThrow(/unexpected end of file/)
    } finally {
      await rx.close()
    }
  })

  it('many rejected series in the last chunk: the good samples of that chunk still go out', async () => {
    for (const ioThread of [false, true]) {
      const path = join(dir, `lastbad-${ioThread}.jsonl`)
      const lines = Array.from({ length: 10 }, (_, i) => line({ s: String(i) }, [T + i]))
      for (let b = 0; b < 20; b++) lines.push(JSON.stringify({ metric: { __name__: '1bad', b: String(b) }, values: [1], timestamps: [T] }))
      writeFileSync(path, `${lines.join('\n')}\n`)
      const rx = await startReceiver()
      const reports: string[] = []
      try {
        const s = await backfill({ files: [path], url: rx.url, report: (l) => reports.push(l), writer: { ioThread } })
        expect(s).toMatchObject({ samplesRead: 30, samplesSent: 10, rejectedSeries: 20, failedSamples: 0, failedRequests: 0 })
        expect(timesOf(rx.requests).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        expect(reports.filter((r) => /writer is closed/.test(r))).toEqual([])
      } finally {
        await rx.close()
      }
    }
  })

  it('a file changed after the kill: the place inside its window is not used, nothing is skipped that was not sent', async () => {
    const path = join(dir, 'grow.jsonl')
    const cp = join(dir, 'grow-cp.json')
    writeFileSync(path, `${[line({}, [T + 10, T + 20, T + 30]), line({}, [T + 40, T + 50, T + 60])].join('\n')}\n`)
    const opts = (url: string): Parameters<typeof backfill>[0] => ({ files: [path], url, checkpoint: cp, chunkSamples: 3, inFlight: 1, report: () => {}, writer: { ioThread: false, maxRetries: 0 } })
    // The first run: one chunk acknowledged, then the server fails everything.
    let n = 0
    const rx1 = await startReceiver({ handler: () => (++n > 1 ? { status: 400 } : undefined) })
    const rx2 = await startReceiver()
    try {
      await backfill(opts(rx1.url))
      const place = JSON.parse(readFileSync(cp, 'utf8')).files[path]
      expect(place.window).toMatchObject({ items: 0, sample: 3 })
      const first = timesOf(rx1.requests.filter((_, i) => i === 0))
      expect(first).toEqual([10, 20, 30])
      // A late sample of the same series is appended: the window is another one now.
      appendFileSync(path, `${line({}, [T + 5])}\n`)
      const s = await backfill(opts(rx2.url))
      expect(s.samplesSkipped).toBe(0)
      expect(timesOf(rx2.requests).sort((a, b) => a - b)).toEqual([5, 10, 20, 30, 40, 50, 60])
    } finally {
      await rx1.close()
      await rx2.close()
    }
  })

  it('the same file resumes inside its window: the acknowledged chunk is skipped', async () => {
    const path = join(dir, 'same.jsonl')
    const cp = join(dir, 'same-cp.json')
    writeFileSync(path, `${[line({}, [T + 10, T + 20, T + 30]), line({}, [T + 40, T + 50, T + 60])].join('\n')}\n`)
    const opts = (url: string): Parameters<typeof backfill>[0] => ({ files: [path], url, checkpoint: cp, chunkSamples: 3, inFlight: 1, report: () => {}, writer: { ioThread: false, maxRetries: 0 } })
    let n = 0
    const rx1 = await startReceiver({ handler: () => (++n > 1 ? { status: 400 } : undefined) })
    const rx2 = await startReceiver()
    try {
      await backfill(opts(rx1.url))
      const s = await backfill(opts(rx2.url))
      expect(s.samplesSkipped).toBe(3)
      expect(timesOf(rx2.requests)).toEqual([40, 50, 60])
    } finally {
      await rx1.close()
      await rx2.close()
    }
  })
})
