// The main job (`prw demo`, `npm start`): the built-in receiver runs in a process of its own
// and is gone when the demo ends, however it ends; the proof holds, and fails for a receiver
// that drops a request; the report has the client's own cost; progress shows the current rate.
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { RateWindow, runDemo } from '../../src/commands/demo.js'
import { prw } from '../support/cli.js'

/** 36,000 samples: 10 × 3,000 backfill, 2,000 devices × 3 rounds. */
const SMALL = { backfillSeries: 10, backfillSamples: 3_000, iotSeries: 2_000, iotRounds: 3 }

/** A stream for `out`: what was printed, and a hook on each write. */
function sink (onWrite: (text: string) => void = () => {}): { out: Writable, text: () => string } {
  let text = ''
  const out = new Writable({
    write (chunk: Buffer, _enc, done) {
      text += chunk.toString()
      onWrite(text)
      done()
    },
  })
  return { out, text: () => text }
}

/** The process has ended and been reaped (a zombie still answers kill 0). */
function gone (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

const receiverPid = (text: string): number => Number(/the built-in receiver at \S+ \(process (\d+)\)/.exec(text)?.[1])

describe('runDemo', () => {
  it('proves delivery to a receiver in its own process, which is gone afterwards, and reports the client cost', async () => {
    const { out, text } = sink()
    const r = await runDemo({ ...SMALL, out })
    expect(r.verified).toEqual({ ok: true, receivedSamples: 36_000, sentChecksum: r.verified?.sentChecksum, receivedChecksum: r.verified?.sentChecksum })
    expect(r.samples).toBe(36_000)
    const pid = r.receiver?.pid as number
    expect(pid).toBe(receiverPid(text()))
    expect(pid).not.toBe(process.pid)
    expect(gone(pid)).toBe(true)
    // The client's cost: its CPU over what it wrote, the codec's own rate, request latency.
    expect(r.client.cpuPerMillion).toBeGreaterThan(0)
    expect(r.client.cpuPerMillion).toBeLessThan(1e4) // 10 ms per sample would be a unit mistake
    expect(r.client.encodeRate).toBeGreaterThan(1e4)
    expect(r.receiver?.cpuPerMillion).toBeGreaterThan(0)
    expect(r.stats.latency.p50).toBeGreaterThan(0)
    expect(r.stats.latency.p99).toBeGreaterThanOrEqual(r.stats.latency.p50)
    expect(text()).toMatch(/^verified\s+OK/m)
  })

  it('fails the proof when the receiver process acknowledges a request it dropped', async () => {
    const { out, text } = sink()
    const r = await runDemo({ ...SMALL, out, faults: { dropRequest: 2 } })
    expect(r.stats.failed.samples).toBe(0) // the writer saw only 204s
    expect(r.verified?.ok).toBe(false)
    expect(r.verified?.receivedSamples).toBe(34_000) // request 2: one backfill chunk of 2,000
    expect(r.verified?.receivedChecksum).not.toBe(r.verified?.sentChecksum)
    expect(text()).toMatch(/^verified\s+FAILED/m)
    expect(gone(r.receiver?.pid as number)).toBe(true)
  })

  it('stops, saying so, when the receiver process dies', async () => {
    let killed = 0
    // Slow answers and one request at a time: the demo is still sending when the kill lands.
    const { out } = sink((text) => {
      const pid = receiverPid(text)
      if (killed === 0 && pid > 0) process.kill(killed = pid, 'SIGKILL')
    })
    const run = runDemo({ backfillSeries: 0, backfillSamples: 0, iotSeries: 2_000, iotRounds: 20, out, faults: { latency: 100 }, writer: { concurrency: 1 } })
    await expect(run).rejects.toThrow(/^the built-in receiver \(process \d+\) died: killed by SIGKILL, with [\d,]+ of 40,000 samples acknowledged/)
    expect(killed).toBeGreaterThan(0)
    expect(gone(killed)).toBe(true)
  })
})

describe('RateWindow', () => {
  it('gives the rate over the last second, not since the start', () => {
    const w = new RateWindow(0)
    expect(w.add(1000, 1000)).toBe(1000)
    expect(w.add(2000, 3000)).toBe(2000)
    expect(w.add(3000, 3000)).toBe(0) // a stall shows at once (the average would say 1000)
    expect(w.add(4000, 3500)).toBe(500)
  })

  it('spans ~1 s when sampled every 200 ms', () => {
    const w = new RateWindow(0)
    let last = 0
    for (let t = 200; t <= 3000; t += 200) last = w.add(t, t < 2000 ? t * 10 : 20_000)
    expect(last).toBe(0) // flat since t = 2000: the window no longer reaches back before it
    const v = new RateWindow(0)
    for (let t = 200; t <= 1800; t += 200) last = v.add(t, t)
    expect(last).toBe(1000)
  })
})

describe('prw demo (spawned)', () => {
  it('prints the whole loop, then the client cost, then the proof, and exits 0', async () => {
    const r = await prw(['demo', '--iot-series', '1000', '--iot-rounds', '2', '--backfill-series', '10', '--backfill-samples', '100'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const lines = r.stdout.trimEnd().split('\n').filter((l) => !l.startsWith('  ')) // not the progress
    const expected = [
      /^sending 3,000 samples to the built-in receiver at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/write \(process \d+\)$/,
      /^$/,
      /^samples {6}3,000 acknowledged of 3,000 in \d+\.\d\d s: \d+\.\d+[kM] samples\/s through the whole loop$/,
      /^encode {7}\d+\.\d+[kM] samples\/s: the codec alone on this workload/,
      /^client CPU {3}\d+\.\d\d s per million samples, \d+\.\d\d cores busy/,
      /^latency {6}p50 \d+\.\d ms {2}p90 \d+\.\d ms {2}p99 \d+\.\d ms {2}max \d+\.\d ms$/,
      /^requests {5}\d+ acknowledged, 0 retried, 0 failed$/,
      /^bytes {8}/,
      /^receiver {5}3,000 samples in \d+ requests, 0 rejected, 0 faults injected; its process used \d+\.\d\d s CPU per million samples$/,
      /^checksum {5}sent ([0-9a-f]{8}), received \1$/,
      /^verified {5}OK: every sample arrived exactly once, unchanged$/,
    ]
    expect(lines).toHaveLength(expected.length)
    lines.forEach((line, i) => expect(line).toMatch(expected[i]))
    expect(gone(receiverPid(r.stdout))).toBe(true)
  })

  it('ends the receiver process, and then itself, on SIGINT', async () => {
    const r = await prw(['demo', '--iot-series', '20000', '--iot-rounds', '10'], { killAfterStdout: /\(process \d+\)\n/ })
    expect(r.stdout).not.toMatch(/^verified/m) // stopped midway
    expect(r.code).toBe(null) // ended by the signal, raised again once the receiver was gone
    expect(gone(receiverPid(r.stdout))).toBe(true)
  })
})
