/**
 * Retry policy: which answers are worth another attempt, and how long to wait.
 *
 * The remote-write spec (shared/docs/protocol.md §1.5, §4.3): retry 5xx with backoff, never
 * 2xx or 4xx other than 429, 429 optionally. Transport errors and timeouts are retried like
 * 5xx. Retry-After (seconds, or an HTTP date) is honoured for every retryable answer.
 *
 * Some servers answer 5xx for errors that will never go away: Prometheus 2.42 says 500 for
 * "too old sample", duplicate label names and disabled native histograms
 * (shared/docs/backends.md §4). Such bodies are matched and not retried; the retry budget
 * (count and duration) ends every other endless loop.
 */

/** 5xx bodies that mean a permanent rejection. */
export const PERMANENT_5XX: readonly RegExp[] = [
  /too old sample/i,
  /label name .* is not unique/i,
  /native histograms are disabled/i,
]

/** Whether an HTTP answer should be retried. */
export function retryableStatus (status: number, body: string, retryOn429: boolean): boolean {
  if (status === 429) return retryOn429
  if (status >= 500 && status <= 599) return !PERMANENT_5XX.some((re) => re.test(body))
  return false
}

/**
 * Milliseconds a Retry-After header asks for, or undefined when absent or unparseable.
 * A date in the past means 0.
 */
export function parseRetryAfter (value: string | string[] | undefined, now = Date.now()): number | undefined {
  if (Array.isArray(value)) value = value[0]
  if (value === undefined) return undefined
  const v = value.trim()
  if (/^\d+$/.test(v)) return Number(v) * 1000
  const date = Date.parse(v)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, date - now)
}

/**
 * Exponential backoff with full jitter: a uniform draw from [0, min(max, min * 2^(attempt-1))].
 * `attempt` counts retries from 1.
 */
export function backoff (attempt: number, minMs: number, maxMs: number, random = Math.random): number {
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30))
  return random() * cap
}
