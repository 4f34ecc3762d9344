// Issue 12, defect 7: `concurrency` had no upper bound. Above 4,095 (the core's request slots)
// send() and write() threw 'request slot 4096 out of range' after part of the call was encoded,
// and close() then sent that part (16,876 of 40,000 samples delivered, 0 failed): a failing call
// was not undone whole; `concurrency: 1e8` passed and aborted the process out of memory. Now
// concurrency is bounded at construction (1024: each shard's open batch holds a slot), and the
// bound itself works: every sample of send() and write() reaches a local receiver.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidArgumentError, RemoteWriter } from '../../src/index.js'
import type { Item } from '../../src/index.js'
import { startReceiver } from '../support/fake-server.js'
import type { Receiver } from '../support/fake-server.js'

const T0 = 1_700_000_000_000
const MAX = 1024

let rx: Receiver
beforeAll(async () => {
  await RemoteWriter.init()
  rx = await startReceiver()
})
afterAll(async () => { await rx.close() })

/** `series` one-sample items, distinct label sets (so they spread over every shard), and one long series. */
function workload (series: number, long: number, tag: string): Item[] {
  const out: Item[] = Array.from({ length: series }, (_, i) => ({ metric: { __name__: 'conc_test', run: tag, s: String(i) }, values: [i], timestamps: [T0 + i] }))
  out.push({ metric: { __name__: 'conc_long', run: tag }, values: Float64Array.from({ length: long }, (_, i) => i), timestamps: Float64Array.from({ length: long }, (_, i) => T0 + i) })
  return out
}

const received = (tag: string): number => rx.requests.reduce((n, r) => n + r.items.filter((s) => s.labels.run === tag).reduce((k, s) => k + s.values.length, 0), 0)

describe('concurrency', () => {
  it.each([MAX + 1, 4095, 4096, 5000, 1e8, Infinity])('%s is refused at construction, by name', (concurrency) => {
    expect(() => new RemoteWriter({ url: rx.url, ioThread: false, concurrency })).toThrow(InvalidArgumentError)
    expect(() => new RemoteWriter({ url: rx.url, ioThread: false, concurrency })).toThrow(/^invalid concurrency: must be an integer from 1 to 1024/)
  })

  it.each([true, false])(`${MAX} (the bound) works: send() and write() deliver every sample (ioThread: %s)`, async (ioThread) => {
    const w = new RemoteWriter({ url: rx.url, ioThread, concurrency: MAX, maxSamplesPerRequest: 50 })
    const a = workload(6000, 10_000, `send-${ioThread}`)
    expect(await w.send(a)).toMatchObject({ samples: 16_000 })
    const b = workload(6000, 10_000, `write-${ioThread}`)
    for (let i = 0; i < b.length; i += 1000) {
      if (!w.write(b.slice(i, i + 1000))) await w.ready()
    }
    const summary = await w.close()
    expect(summary.failed.samples).toBe(0)
    expect(summary.samples).toBe(32_000)
    expect(received(`send-${ioThread}`)).toBe(16_000)
    expect(received(`write-${ioThread}`)).toBe(16_000)
    expect(rx.connections()).toBeGreaterThan(1)
  })
})
