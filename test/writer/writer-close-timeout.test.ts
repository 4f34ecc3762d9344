// Against a server that accepts connections and never answers, close() took about 150 s per
// batch per shard (each attempt times out after 30 s, retried for 120 s): 30 minutes for a full
// default buffer. close({ timeout }) (and the closeTimeout option) bound it: once the deadline
// has passed, what is in flight is aborted, everything not acknowledged is reported failed
// (reason 'timeout', a TimeoutError as cause) and close() settles. Without a timeout, close()
// still waits for every request. No assertion here needs anything to be fast: a close() that
// ignored its deadline would hang past the test's own timeout.
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { BatchError, InvalidArgumentError, LostDataError, RemoteWriter, SendError, TimeoutError, WriterClosedError } from '../../src/index.js'
import type { Item, WriterSummary } from '../../src/index.js'
import { gate, startReceiver } from '../support/fake-server.js'
import type { Receiver } from '../support/fake-server.js'

const T0 = 1_700_000_000_000
const items = (n: number, from = 0): Item[] =>
  Array.from({ length: n }, (_, i) => ({ metric: { __name__: 'close_test', s: String((from + i) % 16) }, values: [from + i], timestamps: [T0 + from + i] }))

const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})
beforeAll(async () => { await RemoteWriter.init() })

/** A server that reads every request and never answers. */
async function silent (): Promise<Receiver> {
  const never = gate()
  const rx = await startReceiver({ handler: async () => { await never.wait } })
  cleanup.push(() => rx.close())
  return rx
}

function expectAllTimedOut (summary: WriterSummary, samples: number, ms: number): void {
  expect(summary.samples).toBe(0)
  expect(summary.failed.samples).toBe(samples)
  expect(summary.errors.length).toBe(summary.failed.requests)
  for (const e of summary.errors) {
    expect(e).toBeInstanceOf(BatchError)
    expect(e.reason).toBe('timeout')
    expect(e.message).toContain(`close() timed out after ${ms} ms before this request was acknowledged`)
    expect(e.cause).toBeInstanceOf(TimeoutError)
  }
}

describe.each([true, false])('close({ timeout }) (ioThread: %s)', (ioThread) => {
  it('against a server that never answers: settles once the deadline has passed, every sample reported failed', async () => {
    const rx = await silent()
    const w = new RemoteWriter({ url: rx.url, ioThread, concurrency: 2, maxSamplesPerRequest: 10 })
    w.write(items(200)) // 20 requests or so over 2 shards, one in flight per shard
    const err = await w.close({ timeout: 300 }).then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(LostDataError)
    expectAllTimedOut((err as LostDataError).summary, 200, 300)
    expect((err as LostDataError).summary.failed.requests).toBeGreaterThanOrEqual(20) // 10 per shard at most
    expect(rx.requests.length).toBeLessThanOrEqual(2) // one per shard reached the server
    expect(w.stats().buffered).toEqual({ samples: 0, bytes: 0 })
    expect(() => w.write(items(1))).toThrow(WriterClosedError)
  })

  it('a send() waiting for its acknowledgement ends with a SendError; the closeTimeout option is close()\'s default', async () => {
    const rx = await silent()
    const w = new RemoteWriter({ url: rx.url, ioThread, closeTimeout: 200, maxSamplesPerRequest: 50 })
    const sent = w.send(items(120)).then(() => undefined, (e: unknown) => e)
    while (rx.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    const closed = await w.close().then(() => undefined, (e: unknown) => e)
    const err = await sent
    expect(err).toBeInstanceOf(SendError)
    expect((err as SendError).failed.samples).toBe(120)
    expect((err as SendError).errors.every((e) => e.reason === 'timeout')).toBe(true)
    expect(closed).toBeInstanceOf(LostDataError)
    expectAllTimedOut((closed as LostDataError).summary, 120, 200)
  })

  it('a later close({ timeout }) arms its deadline on the close under way (same promise)', async () => {
    const rx = await silent()
    const w = new RemoteWriter({ url: rx.url, ioThread })
    w.write(items(10))
    const first = w.close()
    const second = w.close({ timeout: 100 })
    expect(second).toBe(first)
    const err = await first.then(() => undefined, (e: unknown) => e)
    expect(err).toBeInstanceOf(LostDataError)
    expectAllTimedOut((err as LostDataError).summary, 10, 100)
  })

  it('a deadline that does not pass changes nothing: everything acknowledged, even when answers are slow', async () => {
    const rx = await startReceiver({ handler: () => ({ delayMs: 100 }) })
    cleanup.push(() => rx.close())
    for (const timeout of [60_000, 2 ** 31, Infinity, undefined]) {
      const w = new RemoteWriter({ url: rx.url, ioThread, maxSamplesPerRequest: 20 })
      w.write(items(50))
      const summary = await w.close(timeout === undefined ? undefined : { timeout })
      expect(summary).toMatchObject({ samples: 50, failed: { samples: 0 } })
    }
  })

  it('a bad timeout is refused by name, and the writer can still be closed', async () => {
    const rx = await startReceiver()
    cleanup.push(() => rx.close())
    const w = new RemoteWriter({ url: rx.url, ioThread })
    w.write(items(5))
    for (const timeout of [-1, NaN, '100', null]) {
      const err = await w.close({ timeout } as never).then(() => undefined, (e: unknown) => e)
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect((err as Error).message).toMatch(/^invalid close\(\) timeout: must be a number of milliseconds >= 0, or Infinity/)
    }
    await expect(w.close('soon' as never)).rejects.toThrow(InvalidArgumentError)
    expect(await w.close({ timeout: 0 }).then((s) => s.samples, (e: LostDataError) => e.summary.samples + e.summary.failed.samples)).toBe(5)
    for (const closeTimeout of [-1, NaN, '1']) {
      expect(() => new RemoteWriter({ url: rx.url, ioThread, closeTimeout } as never)).toThrow(/^invalid closeTimeout: must be/)
    }
  })
})
