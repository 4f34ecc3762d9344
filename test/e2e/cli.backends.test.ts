// `prw backfill` as a spawned process into the real servers (Prometheus 2.42 and
// VictoriaMetrics 1.79, started by test/e2e/backends/start.sh), from every input format, then
// read back. Like writer.backends.test.ts: with PRW_E2E=require the servers must be there; elsewhere it skips.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertReady, newRunId, promRawSamples, suiteBackends, vmExport, vmForceFlush } from './backends.js'
import { prw } from '../support/cli.js'

const backends = suiteBackends('prw backfill into Prometheus and VictoriaMetrics', 'test/e2e/cli.backends.test.ts')
const RUN = newRunId()
const dir = mkdtempSync(join(tmpdir(), 'prw-e2e-cli-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const HOUR = 3_600_000
/** Two hours ago, on a minute: old enough to be a backfill, recent for both servers. */
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 2 * HOUR
const N = 120 // samples per series, 15 s apart

/** Writes the same 4 series × N samples in each format; returns the file paths. */
function writeInputs (): Record<string, string> {
  const series = [0, 1, 2, 3].map((s) => ({
    metric: { __name__: 'prw_e2e_cli', run: RUN, s: String(s) },
    values: Array.from({ length: N }, (_, i) => s * 1000 + i + 0.25),
    timestamps: Array.from({ length: N }, (_, i) => T0 + i * 15_000),
  }))
  const files: Record<string, string> = {}
  for (const fmt of ['jsonl', 'prom', 'om', 'csv']) {
    const lines: string[] = []
    if (fmt === 'csv') lines.push('timestamp,run,s,value')
    for (const it of series) {
      const m = { ...it.metric, fmt }
      if (fmt === 'jsonl') {
        lines.push(JSON.stringify({ metric: m, values: it.values, timestamps: it.timestamps }))
        continue
      }
      for (let i = 0; i < N; i++) {
        const labels = `run="${RUN}",s="${it.metric.s}",fmt="${fmt}"`
        if (fmt === 'prom') lines.push(`prw_e2e_cli{${labels}} ${it.values[i]} ${it.timestamps[i]}`)
        if (fmt === 'om') lines.push(`prw_e2e_cli{${labels}} ${it.values[i]} ${it.timestamps[i] / 1000}`)
        if (fmt === 'csv') lines.push(`${it.timestamps[i]},${RUN},${it.metric.s},${it.values[i]}`)
      }
    }
    if (fmt === 'om') lines.push('# EOF')
    const path = join(dir, `in.${fmt}${fmt === 'csv' ? '' : '.gz'}`)
    const text = `${lines.join('\n')}\n`
    writeFileSync(path, fmt === 'csv' ? text : gzipSync(text))
    files[fmt] = path
  }
  return files
}

describe.skipIf(backends === undefined)('prw backfill into Prometheus and VictoriaMetrics', () => {
  let files: Record<string, string>
  beforeAll(async () => {
    if (backends === undefined) return
    await assertReady(backends)
    files = writeInputs()
  })

  for (const target of ['prometheus', 'victoria'] as const) {
    it(`every format reaches ${target} and reads back sample for sample`, async () => {
      const b = backends!
      const base = target === 'prometheus' ? b.prometheus : b.victoria
      const url = `${base}/api/v1/write`
      for (const fmt of ['jsonl', 'prom', 'om']) {
        const r = await prw(['backfill', '--url', url, files[fmt]])
        expect(r.code, `${fmt}: ${r.stderr}`).toBe(0)
        expect(r.stdout).toContain(`${4 * N} samples accepted of ${4 * N} read`)
      }
      const csv = await prw(['backfill', '--url', url, '--csv-metric-name', 'prw_e2e_cli', '--csv-label-columns', 'run,s', files.csv])
      expect(csv.code, csv.stderr).toBe(0)

      const check = (series: { metric: Record<string, string>, timestamps: number[], values: number[] }, what: string): void => {
        const s = Number(series.metric.s)
        expect(series.timestamps, what).toEqual(Array.from({ length: N }, (_, i) => T0 + i * 15_000))
        expect(series.values, what).toEqual(Array.from({ length: N }, (_, i) => s * 1000 + i + 0.25))
      }
      if (target === 'prometheus') {
        for (const fmt of ['jsonl', 'prom', 'om']) {
          const got = await promRawSamples(base, `prw_e2e_cli{run="${RUN}",fmt="${fmt}"}`, '1d')
          expect(got.length, fmt).toBe(4)
          for (const series of got) check(series, `${fmt} s=${series.metric.s}`)
        }
        const fromCsv = await promRawSamples(base, `prw_e2e_cli{run="${RUN}",fmt=""}`, '1d')
        expect(fromCsv.length).toBe(4)
        for (const series of fromCsv) check(series, `csv s=${series.metric.s}`)
      } else {
        await vmForceFlush(base)
        const got = await vmExport(base, `prw_e2e_cli{run="${RUN}"}`, { startMs: T0 - HOUR, endMs: Date.now() })
        expect(got.length).toBe(16) // 4 series × (3 formats with fmt, and CSV without)
        for (const series of got) check(series, JSON.stringify(series.metric))
      }
    })
  }

  it('samples Prometheus refuses for their time: the run stops after the first requests with one message, the time range and the setting', async () => {
    // 1900: before the 100-year out-of-order window of the Prometheus under test, which answers
    // 500 `too old sample` (a stock Prometheus answers 400 `out of bounds` to anything an hour
    // older than its head: the same cause, tested against a scripted server in
    // test/commands/cli-feedback.test.ts). 50 series × 400 samples: 10 requests of 2000.
    const t1900 = Date.UTC(1900, 0, 1)
    const lines = Array.from({ length: 50 }, (_, s) => JSON.stringify({
      metric: { __name__: 'prw_e2e_too_old', run: RUN, s: String(s) },
      values: Array.from({ length: 400 }, (_, i) => i),
      timestamps: Array.from({ length: 400 }, (_, i) => t1900 + i * 15_000),
    }))
    const path = join(dir, 'too-old.jsonl')
    writeFileSync(path, `${lines.join('\n')}\n`)
    const r = await prw(['backfill', '--url', `${backends!.prometheus}/api/v1/write`, '--milliseconds', '--concurrency', '1', path])
    expect(r.code, r.stdout + r.stderr).toBe(3)
    expect(r.stderr).toMatch(/timestamps below 1e10 are sent as milliseconds \(--milliseconds\): -2208988800000 is 1900-01-01T00:00:00\.000Z/)
    expect(r.stderr).toMatch(/server returned HTTP 500: too old sample/)
    expect(r.stderr).toMatch(/the first 5 requests were all refused \(samples refused for their time\): stopping early, nothing was accepted\. The refused requests held samples from 1900-01-01T00:00:00\.000Z to 1900-01-01T\d\d:\d\d:\d\d\.000Z\. Prometheus refuses .*out_of_order_time_window/)
    expect(r.stdout).toMatch(/^\d+ requests \(\d+ samples\) failed: samples refused for their time\. The refused requests held samples from 1900-01-01T00:00:00\.000Z/m)
    expect(r.stdout).toMatch(/^GAVE UP: the first 5 requests were all refused \(samples refused for their time\): stopping early, nothing was accepted\.$/m)
    expect(r.stdout.split('\n').length + r.stderr.split('\n').length).toBeLessThan(25)
  })
})
