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
 * The three HTTP-date forms recipients must accept (RFC 9110 §5.6.7): IMF-fixdate
 * `Sun, 06 Nov 1994 08:49:37 GMT`, obsolete RFC 850 `Sunday, 06-Nov-94 08:49:37 GMT`, and
 * asctime `Sun Nov  6 08:49:37 1994`.
 */
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)'
const HTTP_DATE = new RegExp([
  `^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \\d{2} ${MONTH} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$`,
  `^(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \\d{2}-${MONTH}-\\d{2} \\d{2}:\\d{2}:\\d{2} GMT$`,
  `^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} [ \\d]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}$`,
].join('|'))

/**
 * Milliseconds a Retry-After header asks for: delay-seconds (digits only) or an IMF-fixdate
 * HTTP-date (RFC 9110 §10.2.3). Undefined when absent, malformed, or not in the future:
 * then the normal backoff applies (as Prometheus does for a value of 0 or less).
 */
export function parseRetryAfter (value: string | string[] | undefined, now = Date.now()): number | undefined {
  if (Array.isArray(value)) value = value[0]
  if (value === undefined) return undefined
  const v = value.trim()
  let ms: number
  if (/^\d+$/.test(v)) ms = Number(v) * 1000
  else if (HTTP_DATE.test(v)) ms = Date.parse(/GMT$/.test(v) ? v : `${v} GMT`) - now
  else return undefined
  return ms > 0 && Number.isFinite(ms) ? ms : undefined
}

/**
 * Exponential backoff with full jitter: a uniform draw from [1, min(max, min * 2^(attempt-1))].
 * `attempt` counts retries from 1.
 */
export function backoff (attempt: number, minMs: number, maxMs: number, random = Math.random): number {
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt - 1, 30))
  // Never 0: a retry always waits (the compliance suite requires every interval >= 1 ms).
  return Math.max(1, random() * cap)
}

/** The longest delay setTimeout takes (2^31-1 ms); longer waits are made of several. */
const MAX_TIMER = 0x7fffffff

/** Resolves after `ms` (any length: long waits are several timers); rejects with the signal's reason on abort. */
export function sleep (ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    let timer: NodeJS.Timeout
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    const until = Date.now() + ms
    const arm = (): void => {
      const left = until - Date.now()
      if (left <= 0) {
        signal.removeEventListener('abort', onAbort)
        resolve()
        return
      }
      timer = setTimeout(arm, Math.min(left, MAX_TIMER))
    }
    signal.addEventListener('abort', onAbort, { once: true })
    timer = setTimeout(arm, Math.min(ms, MAX_TIMER))
  })
}
