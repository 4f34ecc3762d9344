// `prw receive`'s counters (issue 14, "Counters that mean what they say"), in process against
// startReceiver: bad requests are rejected by reason, injected faults are counted apart from
// them (and from 405s), and `series` is distinct series over the run, not series per request.
import { compressSync } from 'snappy'
import { describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import type { Codec } from '../../src/codec/codec.js'
import { liveLine, summaryLine } from '../../src/commands/receive-cli.js'
import { startReceiver } from '../../src/commands/receiver.js'
import type { Receiver, ReceiverOptions, ReceiverStats } from '../../src/commands/receiver.js'
import type { Item } from '../../src/types.js'
import { referenceEncode } from '../support/helpers.js'

const V1_TYPE = 'application/x-protobuf'
const V2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request'
const T = 1_767_225_600_000

interface Answer { status: number, text: string, headers: Headers }

async function post (url: string, body: Uint8Array, { type = V1_TYPE, encoding = 'snappy', method = 'POST' } = {}): Promise<Answer> {
  const res = await fetch(url, { method, body: method === 'GET' ? undefined : body, headers: { 'content-encoding': encoding, 'content-type': type } })
  return { status: res.status, text: await res.text(), headers: res.headers }
}

/** A 1.0 body of one series as given (labels in this order, not checked), one sample of 1 at each timestamp. */
function raw (labels: Array<[string, string]>, ts: number[] = [T]): Buffer {
  const values = BigUint64Array.from(ts.map(() => 0x3ff0000000000000n))
  return compressSync(Buffer.from(referenceEncode([{ labels, values, timestamps: BigInt64Array.from(ts.map(BigInt)) }])))
}

const series = (n: number, from = 0, samples = 1): Item[] => Array.from({ length: n }, (_, i) => ({
  metric: { __name__: 'up', job: 'test', i: String(from + i) },
  values: Array.from({ length: samples }, () => 1),
  timestamps: Array.from({ length: samples }, (_, k) => T + k),
}))

async function withReceiver<T> (options: ReceiverOptions, fn: (r: Receiver, codec: Codec) => Promise<T>): Promise<T> {
  const receiver = await startReceiver(options)
  try {
    return await fn(receiver, await createCodec())
  } finally {
    await receiver.close()
  }
}

/** The categories add up to the requests once every request is answered. */
function expectAddsUp (s: ReceiverStats): void {
  expect(s.accepted + s.rejected + s.injected + s.other).toBe(s.requests)
  for (const [total, by] of [[s.rejected, s.rejectedBy], [s.injected, s.injectedBy], [s.other, s.otherBy]] as const) {
    expect(Object.values(by).reduce((a, b) => a + b, 0)).toBe(total)
  }
}

describe('receiver counters: rejected by reason, other answers apart', () => {
  it('names the reason of each bad request, keeps 405s out of rejected, and keeps the statuses it answers', async () => {
    await withReceiver({ maxBodyBytes: 64 << 10, decodeLimits: { maxSeries: 50 } }, async (receiver, codec) => {
      const good = codec.encode(series(3))
      const bare = compressSync(Buffer.from([0x22, 0x00, 0x22, 0x08, ...Buffer.from('__name__'), 0x22, 0x01, 0x61, 0x2a, 0x04, 0x0a, 0x02, 0x01, 0x02]))
      const cases: Array<{ name: string, body: Uint8Array, type?: string, encoding?: string, method?: string, status: number, text: RegExp }> = [
        { name: 'not snappy', body: Buffer.from('this is not snappy at all'), status: 400, text: /^snappy: corrupt input/ },
        { name: 'truncated protobuf', body: compressSync(Buffer.from([0x0a, 0x05, 0x0a])), status: 400, text: /^protobuf: / },
        { name: 'not UTF-8', body: raw([['__name__', 'm'], ['a', '\ud800']]), status: 400, text: /not valid UTF-8/ },
        { name: 'labels not sorted', body: raw([['__name__', 'm'], ['b', '1'], ['a', '2']]), status: 400, text: /not sorted/ },
        { name: 'duplicate label', body: raw([['__name__', 'm'], ['a', '1'], ['a', '2']]), status: 400, text: /duplicate/ },
        { name: 'no metric name', body: raw([['a', '1']]), status: 400, text: /missing __name__/ },
        { name: 'invalid label name', body: raw([['1a', 'x'], ['__name__', 'm']]), status: 400, text: /invalid label name/ },
        { name: 'invalid metric name', body: raw([['__name__', 'a-b']]), status: 400, text: /invalid metric name/ },
        { name: 'samples out of order', body: raw([['__name__', 'm']], [T, T - 1]), status: 400, text: /out of order/ },
        { name: '2.0 series carrying nothing', body: bare, type: V2_TYPE, status: 400, text: /carries no samples/ },
        { name: 'body past maxBodyBytes', body: new Uint8Array(100 << 10), status: 413, text: /body larger than 65536 bytes/ },
        { name: 'past a decode limit', body: codec.encode(series(51)), status: 413, text: /raise the maxSeries decode option/ },
        { name: 'JSON content type', body: good, type: 'application/json', status: 415, text: /Content-Type/ },
        { name: 'gzip encoding', body: good, encoding: 'gzip', status: 415, text: /Content-Encoding/ },
        { name: 'a browser GET', body: good, method: 'GET', status: 405, text: /method not allowed/ },
        { name: 'PUT', body: good, method: 'PUT', status: 405, text: /method not allowed/ },
        { name: 'good 1.0', body: good, status: 204, text: /^$/ },
        { name: 'good 2.0', body: codec.encodeV2(series(2)), type: V2_TYPE, status: 204, text: /^$/ },
      ]
      for (const c of cases) {
        const r = await post(receiver.url, c.body, c)
        expect(r.status, `${c.name}: ${r.text}`).toBe(c.status)
        expect(r.text, c.name).toMatch(c.text)
      }
      const s = receiver.stats()
      expect(s).toMatchObject({ requests: cases.length, accepted: 2, rejected: 14, injected: 0, other: 2, series: 3, samples: 5 })
      expect(s.rejectedBy).toEqual({ snappy: 1, protobuf: 2, labels: 5, samples: 2, 'too-large': 2, 'content-type': 1, 'content-encoding': 1 })
      expect(s.otherBy).toEqual({ method: 2 })
      expect(s.injectedBy).toEqual({})
      // Every answer of 300 or more by status, as before: what the relay reports as rejected by code.
      expect(s.statuses).toEqual({ 400: 10, 413: 2, 415: 2, 405: 2 })
      expectAddsUp(s)
    })
  })

  it('counts what a forward refuses: a 4xx rejected as invalid, a 503 (a full spool) apart as unavailable', async () => {
    let refuse: unknown
    const forward = async (): Promise<void> => { if (refuse !== undefined) throw refuse }
    await withReceiver({ forward }, async (receiver, codec) => {
      refuse = Object.assign(new Error('label value too long'), { name: 'ValidationError' })
      expect(await post(receiver.url, codec.encode(series(1)))).toMatchObject({ status: 400, text: 'label value too long\n' })
      refuse = Object.assign(new Error('the spool is full'), { status: 503, retryAfter: 5 })
      const full = await post(receiver.url, codec.encode(series(1)))
      expect(full.status).toBe(503)
      expect(full.headers.get('retry-after')).toBe('5')
      refuse = undefined
      expect((await post(receiver.url, codec.encode(series(4)))).status).toBe(204)
      const s = receiver.stats()
      expect(s).toMatchObject({ requests: 3, accepted: 1, rejected: 1, rejectedBy: { invalid: 1 }, other: 1, otherBy: { unavailable: 1 }, series: 4, statuses: { 400: 1, 503: 1 } })
      expectAddsUp(s)
    })
  })

  it('counts the request it drops (dropRequest) as accepted, and none of its series or samples; one request, with --latency too', async () => {
    await withReceiver({ dropRequest: 2 }, async (receiver, codec) => {
      for (let i = 0; i < 3; i++) expect((await post(receiver.url, codec.encode(series(2, 10 * i)))).status).toBe(204)
      expect(receiver.stats()).toMatchObject({ requests: 3, accepted: 3, series: 4, samples: 4 })
    })
    // Four at once, answered 50 ms later: the second to arrive is dropped, and only it.
    await withReceiver({ dropRequest: 2, latency: 50 }, async (receiver, codec) => {
      const answers = await Promise.all([0, 1, 2, 3].map((i) => post(receiver.url, codec.encode(series(2, 10 * i)))))
      expect(answers.map((a) => a.status)).toEqual([204, 204, 204, 204])
      expect(receiver.stats()).toMatchObject({ requests: 4, accepted: 4, series: 6, samples: 6 })
    })
  })
})

describe('receiver counters: injected faults (--fail-rate, --reset-rate), seeded', () => {
  /** Sends n requests, every fourth one not snappy; the answers' statuses, 0 for a reset connection. */
  async function run (receiver: Receiver, codec: Codec, n: number): Promise<number[]> {
    const statuses: number[] = []
    for (let i = 0; i < n; i++) {
      const body = i % 4 === 3 ? Buffer.from('not snappy') : codec.encode(series(1, i % 10))
      const r = await post(receiver.url, body).catch(() => undefined)
      if (r?.status === 503) {
        expect(r.text).toBe('injected failure\n')
        expect(r.headers.get('retry-after')).toBe('2')
      }
      statuses.push(r?.status ?? 0)
    }
    return statuses
  }
  const tally = (xs: number[]): Record<number, number> => {
    const out: Record<number, number> = {}
    for (const x of xs) out[x] = (out[x] ?? 0) + 1
    return out
  }

  it('--fail-rate 0.3: the injected 503s are injected, not rejected; a bad body drawn for a fault is a fault', async () => {
    const N = 200
    const got = await withReceiver({ failRate: 0.3, retryAfter: 2, seed: 7 }, async (receiver, codec) => {
      const statuses = await run(receiver, codec, N)
      const n = tally(statuses)
      expect(n[503]).toBeGreaterThan(0.2 * N)
      expect(n[503]).toBeLessThan(0.4 * N)
      const s = receiver.stats()
      expect(s).toMatchObject({ requests: N, accepted: n[204], rejected: n[400], rejectedBy: { snappy: n[400] }, injected: n[503], injectedBy: { status: n[503] }, other: 0 })
      expect(s.statuses).toEqual({ 400: n[400], 503: n[503] })
      // Of the 50 bodies that are not snappy, those drawn for a fault were answered 503.
      expect(n[400]).toBeLessThan(50)
      expect(s.series).toBe(10)
      expectAddsUp(s)
      return statuses
    })
    // The same seed draws the same faults; another seed others.
    expect(await withReceiver({ failRate: 0.3, retryAfter: 2, seed: 7 }, (r, codec) => run(r, codec, N))).toEqual(got)
    expect(await withReceiver({ failRate: 0.3, retryAfter: 2, seed: 8 }, (r, codec) => run(r, codec, N))).not.toEqual(got)
  })

  it('--fail-rate 0.3 fails about 30% of first requests over seeds 1..40, not all of them', async () => {
    let failed = 0
    for (let seed = 1; seed <= 40; seed++) {
      failed += await withReceiver({ failRate: 0.3, seed }, async (receiver, codec) => (await post(receiver.url, codec.encode(series(1)))).status === 503 ? 1 : 0)
    }
    expect(failed).toBeGreaterThanOrEqual(4)
    expect(failed).toBeLessThanOrEqual(20)
  })

  it('--reset-rate 0.2 with --fail-rate 0.1: resets and injected statuses counted by kind', async () => {
    const N = 120
    await withReceiver({ resetRate: 0.2, failRate: 0.1, retryAfter: 2, seed: 3 }, async (receiver, codec) => {
      const n = tally(await run(receiver, codec, N))
      expect(n[0]).toBeGreaterThan(0.1 * N)
      expect(n[503]).toBeGreaterThan(0)
      const s = receiver.stats()
      expect(s).toMatchObject({ requests: N, accepted: n[204], rejected: n[400] ?? 0, injected: n[0] + n[503], injectedBy: { reset: n[0], status: n[503] } })
      expectAddsUp(s)
    })
  })
})

describe('receiver counters: distinct series over the run', () => {
  it('counts 30 series sent 24 times, in 1.0 and 2.0, as 30 series (not 720)', async () => {
    await withReceiver({}, async (receiver, codec) => {
      for (let round = 0; round < 24; round++) {
        const items = series(30, 0, 1).map((it) => ({ ...it, timestamps: [T + round] }))
        const r = round % 2 === 0 ? await post(receiver.url, codec.encode(items)) : await post(receiver.url, codec.encodeV2(items), { type: V2_TYPE })
        expect(r.status).toBe(204)
      }
      expect(receiver.stats()).toMatchObject({ accepted: 24, samples: 720, series: 30, seriesApproximate: false })
    })
  })

  it('past exactSeries it estimates, and says so', async () => {
    await withReceiver({ exactSeries: 100 }, async (receiver, codec) => {
      for (let i = 0; i < 3; i++) await post(receiver.url, codec.encode(series(100)))
      expect(receiver.stats()).toMatchObject({ series: 100, seriesApproximate: false })
      for (let i = 0; i < 3; i++) await post(receiver.url, codec.encode(series(100, 100 * i, 2)))
      const s = receiver.stats()
      expect(s.seriesApproximate).toBe(true)
      expect(Math.abs(s.series - 300)).toBeLessThanOrEqual(6)
      expect(s.samples).toBe(900)
    })
  })
})

describe('prw receive lines', () => {
  const base: ReceiverStats = {
    requests: 10, accepted: 5, rejected: 3, rejectedBy: { 'too-large': 2, snappy: 1 }, injected: 1, injectedBy: { reset: 1 }, other: 1, otherBy: { method: 1 },
    series: 720, seriesApproximate: false, samples: 1_036_800, bytes: 1, histograms: 0, exemplars: 0, checksum: 0, statuses: { 413: 2, 400: 1, 405: 1 },
  }

  it('say accepted, rejected by reason, injected by kind, other by reason, and the distinct series', () => {
    expect(summaryLine(base)).toBe('received 1036800 samples of 720 series; requests: 5 accepted, 3 rejected (too-large 2, snappy 1), 1 injected (reset 1), 1 other (method 1)')
    expect(liveLine(base, { ...base, samples: 1_000_000 })).toBe('1036800 samples of 720 series (+36800/s); requests: 5 accepted, 3 rejected (too-large 2, snappy 1), 1 injected (reset 1), 1 other (method 1)')
    const clean = { ...base, rejected: 0, rejectedBy: {}, injected: 0, injectedBy: {}, other: 0, otherBy: {}, histograms: 2, exemplars: 3 }
    expect(summaryLine(clean)).toBe('received 1036800 samples, 2 histograms, 3 exemplars of 720 series; requests: 5 accepted, 0 rejected, 0 injected, 0 other')
  })

  it('label an estimate as one', () => {
    expect(summaryLine({ ...base, series: 1_234_567, seriesApproximate: true })).toMatch(/ of about 1\.2 M series;/)
    expect(summaryLine({ ...base, series: 2_345, seriesApproximate: true })).toMatch(/ of about 2\.3 k series;/)
  })
})
