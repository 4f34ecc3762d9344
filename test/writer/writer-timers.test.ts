// Issue 12, defect 6: a Node timer of 2^31 ms or more fires after 1 ms. `timeout: 2 ** 31` timed
// out every attempt at once (the server got each request six times, the writer reported it
// lost); `timeout: Infinity` failed inside undici ("invalid headersTimeout"). Every option that
// becomes a timer is either checked to a range (an InvalidArgumentError naming it) or made of
// timers that never overflow: timeout, flushInterval, minBackoff, maxBackoff, maxRetryDuration,
// a Retry-After, closeTimeout. Both ways of sending are run. Nothing here needs anything to be
// fast: the waits check that something did NOT happen within them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidArgumentError, RemoteWriter, SendError } from '../../src/index.js'
import type { Item, RemoteWriterOptions } from '../../src/index.js'
import { MAX_TIMER } from '../../src/writer/options.js'
import { startReceiver } from '../support/fake-server.js'
import type { Handler, Receiver } from '../support/fake-server.js'

const T0 = 1_700_000_000_000
const one = (i = 0): Item => ({ metric: { __name__: 'timer_test' }, values: [i], timestamps: [T0 + i] })
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

let rx: Receiver
let handler: Handler = () => undefined
beforeAll(async () => {
  await RemoteWriter.init()
  rx = await startReceiver({ handler: (r, n) => handler(r, n) })
})
afterAll(async () => { await rx.close() })

function refused (options: Partial<RemoteWriterOptions>): Error | undefined {
  try {
    void new RemoteWriter({ url: rx.url, ioThread: false, ...options }).close()
  } catch (e) {
    return e as Error
  }
  return undefined
}

describe('options that become timers: the range', () => {
  const OVER = 2 ** 31
  it.each([
    ['timeout', [OVER, Infinity, 0, -1, NaN, -Infinity], [MAX_TIMER, 1, 0.5]],
    ['minBackoff', [OVER, Infinity, 0, -1, NaN], [MAX_TIMER, 1]],
    ['flushInterval', [0, -1, NaN, -Infinity], [MAX_TIMER, OVER, Infinity, 1]],
    ['maxRetryDuration', [-1, NaN, -Infinity], [0, MAX_TIMER, OVER, Infinity]],
    ['closeTimeout', [-1, NaN, -Infinity], [0, MAX_TIMER, OVER, Infinity]],
  ] as const)('%s: refuses %j by name, takes %j', (name, bad, good) => {
    const extra = name === 'minBackoff' ? { maxBackoff: Infinity } : {}
    for (const v of bad) {
      const err = refused({ ...extra, [name]: v })
      expect(err, `${name}: ${v}`).toBeInstanceOf(InvalidArgumentError)
      expect(err?.message).toMatch(new RegExp(`^invalid ${name}: must be .*\\(got ${String(v)}\\)$`))
    }
    for (const v of good) expect(refused({ ...extra, [name]: v }), `${name}: ${v}`).toBeUndefined()
  })

  it('maxBackoff: at least minBackoff, any length (retry waits are made of several timers)', () => {
    for (const v of [NaN, 5]) expect(refused({ minBackoff: 10, maxBackoff: v })).toBeInstanceOf(InvalidArgumentError)
    for (const v of [10, MAX_TIMER, OVER, Infinity]) expect(refused({ minBackoff: 10, maxBackoff: v })).toBeUndefined()
  })
})

describe.each([true, false])('timers that do not overflow (ioThread: %s)', (ioThread) => {
  it('timeout 2^31-1: an answer that takes 150 ms is acknowledged at the first attempt', async () => {
    handler = () => ({ delayMs: 150 })
    rx.requests.length = 0
    const statuses: Array<number | undefined> = []
    const w = new RemoteWriter({ url: rx.url, ioThread, timeout: MAX_TIMER })
    w.on('response', (e: { status?: number }) => statuses.push(e.status))
    expect(await w.send(one())).toEqual({ requests: 1, series: 1, samples: 1 })
    await w.close()
    expect(statuses).toEqual([204])
    expect(rx.requests.length).toBe(1)
  })

  it('a Retry-After past 2^31 ms (with maxRetryDuration Infinity) is waited for, not retried at once', async () => {
    handler = () => ({ status: 503, headers: { 'retry-after': String(Math.ceil(2 ** 31 / 1000) + 10) } })
    rx.requests.length = 0
    const ac = new AbortController()
    const delays: number[] = []
    const w = new RemoteWriter({ url: rx.url, ioThread, maxRetryDuration: Infinity, maxRetries: Infinity, signal: ac.signal })
    w.on('retry', (e: { delayMs: number }) => delays.push(e.delayMs))
    const sent = w.send(one()).then(() => undefined, (e: unknown) => e)
    while (delays.length === 0) await wait(5)
    expect(delays[0]).toBeGreaterThan(2 ** 31)
    await wait(300)
    expect(rx.requests.length).toBe(1) // a 1 ms timer would have retried by now, again and again
    ac.abort()
    const err = await sent
    expect(err).toBeInstanceOf(SendError)
    expect((err as SendError).errors[0].reason).toBe('aborted')
    await w.close().catch(() => {})
  })

  it('flushInterval 2^31: a partly filled batch waits for flush(); flushInterval 1: it goes by itself', async () => {
    handler = () => undefined
    rx.requests.length = 0
    const w = new RemoteWriter({ url: rx.url, ioThread, flushInterval: 2 ** 31 })
    w.write(one(1))
    await wait(1200) // the flush timer ticks at least once a second
    expect(rx.requests.length).toBe(0)
    await w.flush()
    expect(rx.requests.length).toBe(1)
    await w.close()

    const v = new RemoteWriter({ url: rx.url, ioThread, flushInterval: 1 })
    v.write(one(2))
    while (rx.requests.length < 2) await wait(5)
    expect(v.stats().buffered.samples + v.stats().sent.samples).toBe(1)
    await v.close()
  })

  it('maxRetryDuration 0: no retry; a 503 fails at its first attempt', async () => {
    handler = () => ({ status: 503 })
    rx.requests.length = 0
    const w = new RemoteWriter({ url: rx.url, ioThread, maxRetryDuration: 0, minBackoff: 1 })
    const err = await w.send(one()).then(() => undefined, (e: unknown) => e) as SendError
    expect(err.errors[0]).toMatchObject({ reason: 'retries-exhausted', attempts: 1 })
    expect(rx.requests.length).toBe(1)
    await w.close().catch(() => {})
  })
})
