// Pure unit tests of the retry policy (src/writer/retry.ts) and the latency histogram (src/stats.ts).
// Expectations come from shared/docs/protocol.md §1.5 and §4.3 (which answers are retried, how
// Retry-After is read) and backends.md §4 (Prometheus 2.42's permanent 500 bodies), not from
// the code under test.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { PERMANENT_5XX, backoff, parseRetryAfter, retryableStatus } from '../../src/writer/retry.js'
import { LatencyHistogram } from '../../src/stats.js'

// ---- retryableStatus ----------------------------------------------------------------------

describe('retryableStatus', () => {
  it.each([500, 501, 502, 503, 504, 507, 520, 599])('retries %i (spec: MUST retry 5xx)', (status) => {
    expect(retryableStatus(status, '', true)).toBe(true)
    expect(retryableStatus(status, 'Service Unavailable\n', false)).toBe(true)
  })

  it.each([400, 401, 403, 404, 405, 408, 409, 411, 413, 415, 422, 451, 499])('never retries %i (spec: MUST NOT retry 4xx other than 429)', (status) => {
    expect(retryableStatus(status, '', true)).toBe(false)
    expect(retryableStatus(status, 'busy, try again', true)).toBe(false)
  })

  it.each([100, 200, 204, 299, 301, 302, 304, 307, 600, 999])('does not retry %i (2xx must not be retried; others are not 5xx)', (status) => {
    expect(retryableStatus(status, '', true)).toBe(false)
  })

  it('429 follows retryOn429', () => {
    expect(retryableStatus(429, '', true)).toBe(true)
    expect(retryableStatus(429, '', false)).toBe(false)
    // The permanent-body list is about 5xx only; a 429 body is never interpreted.
    expect(retryableStatus(429, 'too old sample', true)).toBe(true)
  })

  // backends.md §4: bodies of 500s from Prometheus 2.42 that no retry can fix.
  it.each([
    'too old sample\n',
    'label name "dup" is not unique: invalid sample\n',
    'native histograms are disabled\n',
    'TOO OLD SAMPLE',
    // VictoriaMetrics-style prefix in front of the message
    'remoteAddr: "127.0.0.1:1234"; requestURI: /api/v1/write; too old sample',
  ])('does not retry a 500 whose body is permanent: %j', (body) => {
    expect(retryableStatus(500, body, true)).toBe(false)
    expect(retryableStatus(503, body, true)).toBe(false)
  })

  it('retries 5xx with ordinary bodies, including ones that merely resemble the permanent ones', () => {
    for (const body of ['', 'internal error', 'sample too old? no', 'label name "a" is unique', 'histograms are enabled']) {
      expect(retryableStatus(500, body, true), body).toBe(true)
    }
  })

  it('PERMANENT_5XX matches each documented message', () => {
    for (const m of ['too old sample', 'label name "dup" is not unique: invalid sample', 'native histograms are disabled']) {
      expect(PERMANENT_5XX.some((re) => re.test(m)), m).toBe(true)
    }
  })
})

// ---- parseRetryAfter ----------------------------------------------------------------------

describe('parseRetryAfter', () => {
  const NOW = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')

  it('is undefined when the header is absent or empty', () => {
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined()
    expect(parseRetryAfter('', NOW)).toBeUndefined()
    expect(parseRetryAfter('   ', NOW)).toBeUndefined()
  })

  it('reads delay-seconds as milliseconds; 0 means "no advice" (the normal backoff applies)', () => {
    expect(parseRetryAfter('0', NOW)).toBeUndefined()
    expect(parseRetryAfter('1', NOW)).toBe(1000)
    expect(parseRetryAfter('120', NOW)).toBe(120_000)
    expect(parseRetryAfter(' 7 ', NOW)).toBe(7000)
  })

  it('takes the first of repeated headers', () => {
    expect(parseRetryAfter(['3', '9'], NOW)).toBe(3000)
  })

  it('reads an IMF-fixdate (RFC 9110 HTTP-date) relative to now', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', NOW)).toBe(10_000)
    expect(parseRetryAfter('Wed, 21 Oct 2015 08:28:00 GMT', NOW)).toBe(3_600_000)
  })

  it('reads the obsolete RFC 850 date form too (RFC 9110 §5.6.7 recipients MUST accept it)', () => {
    expect(parseRetryAfter('Wednesday, 21-Oct-15 07:28:05 GMT', NOW)).toBe(5000)
  })

  it('a date in the past is no advice: undefined, so the normal backoff applies (as Prometheus)', () => {
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', NOW)).toBeUndefined()
  })

  it('reads the asctime form too', () => {
    expect(parseRetryAfter('Wed Oct 21 07:28:05 2015', NOW)).toBe(5000)
  })

  it('uses Date.now() by default', () => {
    const inAMinute = new Date(Date.now() + 60_000).toUTCString()
    const ms = parseRetryAfter(inAMinute)!
    expect(ms).toBeGreaterThan(58_000)
    expect(ms).toBeLessThanOrEqual(60_000)
  })

  it('is undefined for values that are neither delay-seconds nor a date', () => {
    for (const v of ['soon', '5s', '1e3', '120abc', 'NaN']) expect(parseRetryAfter(v, NOW), v).toBeUndefined()
  })

  // BUG (src/writer/retry.ts parseRetryAfter): values that are not delay-seconds fall through to
  // Date.parse(), which V8 accepts leniently: '1.5' is 2001-01-05, '-1' and '+5' are dates in
  // 2001 too. They come back as 0 ("a date in the past") instead of undefined, and the writer
  // then retries with no delay at all. Prometheus (protocol.md §4.3) parses only
  // http.TimeFormat and Atoi; anything else is ignored and the normal backoff applies.
  it('is undefined for numbers that are not delay-seconds ("1.5", "-1", "+5")', () => {
    for (const v of ['1.5', '-1', '+5']) expect(parseRetryAfter(v, NOW), v).toBeUndefined()
  })
})

// ---- backoff ------------------------------------------------------------------------------

describe('backoff', () => {
  const top = (): number => 1 - Number.EPSILON / 2 // the largest value Math.random can return

  it('draws uniformly from [1, cap] with cap = min(max, min * 2^(attempt-1)): never 0', () => {
    expect(backoff(1, 30, 5000, () => 0)).toBe(1)
    expect(backoff(1, 30, 5000, () => 0.5)).toBe(15)
    expect(backoff(2, 30, 5000, () => 0.5)).toBe(30)
    expect(backoff(3, 30, 5000, () => 0.5)).toBe(60)
    expect(backoff(8, 30, 5000, () => 0.5)).toBe(1920)
    expect(backoff(9, 30, 5000, () => 0.5)).toBe(2500) // 3840 capped to 5000, halved
    expect(backoff(50, 30, 5000, () => 0.5)).toBe(2500)
  })

  it('the cap doubles per attempt from minBackoff up to maxBackoff (protocol.md §4.3 sequence)', () => {
    const caps = Array.from({ length: 11 }, (_, i) => backoff(i + 1, 30, 5000, () => 1))
    expect(caps).toEqual([30, 60, 120, 240, 480, 960, 1920, 3840, 5000, 5000, 5000])
  })

  it('never exceeds maxBackoff and stays finite for huge attempt numbers', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 1_000_000 }),
      fc.double({ min: 0, max: 10_000, noNaN: true }),
      fc.double({ min: 0, max: 100_000, noNaN: true }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      (attempt, a, b, r) => {
        const min = Math.min(a, b)
        const max = Math.max(a, b)
        const d = backoff(attempt, min, max, () => r)
        return Number.isFinite(d) && d >= 1 && d <= Math.max(1, max) && d <= Math.max(1, min * 2 ** Math.min(attempt - 1, 1000))
      },
    ), { seed: 18, numRuns: 500 })
    expect(backoff(1e9, 30, 5000, top)).toBeLessThanOrEqual(5000)
  })

  it('with the default random source stays inside [0, cap)', () => {
    for (let i = 0; i < 1000; i++) {
      const d = backoff(3, 10, 1000)
      expect(d).toBeGreaterThanOrEqual(0)
      expect(d).toBeLessThan(40)
    }
  })
})

// ---- LatencyHistogram ---------------------------------------------------------------------

/** The exact q-quantile by the nearest-rank definition (rank = ceil(q n), at least 1). */
function nearestRank (sorted: readonly number[], q: number): number {
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]
}

describe('LatencyHistogram', () => {
  it('is all zeros when empty', () => {
    expect(new LatencyHistogram().summary()).toEqual({ count: 0, p50: 0, p90: 0, p99: 0, max: 0 })
    expect(new LatencyHistogram().quantile(0.5)).toBe(0)
  })

  it('one value: every percentile is that value (capped at the exact max)', () => {
    const h = new LatencyHistogram()
    h.record(12.345)
    expect(h.summary()).toEqual({ count: 1, p50: 12.345, p90: 12.345, p99: 12.345, max: 12.345 })
  })

  it('keeps the exact maximum and counts every record', () => {
    const h = new LatencyHistogram()
    for (const v of [3, 1, 4, 1, 5, 9, 2, 6]) h.record(v)
    const s = h.summary()
    expect(s.count).toBe(8)
    expect(s.max).toBe(9)
  })

  it('separates a slow tail from the bulk', () => {
    const h = new LatencyHistogram()
    for (let i = 0; i < 980; i++) h.record(2)
    for (let i = 0; i < 20; i++) h.record(500)
    const s = h.summary()
    expect(s.p50).toBeGreaterThanOrEqual(2)
    expect(s.p50).toBeLessThanOrEqual(2 * 1.02)
    expect(s.p90).toBeLessThanOrEqual(2 * 1.02)
    expect(s.p99).toBeGreaterThanOrEqual(500)
    expect(s.max).toBe(500)
  })

  it('sub-10µs values land in the first bucket and never exceed the max', () => {
    const h = new LatencyHistogram()
    h.record(0)
    h.record(0.001)
    const s = h.summary()
    expect(s.max).toBe(0.001)
    expect(s.p99).toBeLessThanOrEqual(0.001)
  })

  it('every percentile is within 2% above the true nearest-rank value (10 µs .. 20 min), and ordered', () => {
    fc.assert(fc.property(
      fc.array(fc.double({ min: 0.01, max: 1.1e6, noNaN: true }), { minLength: 1, maxLength: 300 }),
      (values) => {
        const h = new LatencyHistogram()
        for (const v of values) h.record(v)
        const sorted = [...values].sort((a, b) => a - b)
        const s = h.summary()
        for (const [q, got] of [[0.5, s.p50], [0.9, s.p90], [0.99, s.p99]] as const) {
          const truth = nearestRank(sorted, q)
          if (!(got >= truth * (1 - 1e-12) && got <= truth * 1.02 * (1 + 1e-12))) {
            throw new Error(`q=${q}: got ${got}, true ${truth}`)
          }
        }
        return s.p50 <= s.p90 && s.p90 <= s.p99 && s.p99 <= s.max && s.max === sorted[sorted.length - 1] && s.count === values.length
      },
    ), { seed: 7, numRuns: 300 })
  })
})
