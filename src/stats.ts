/**
 * Latency histogram for request percentiles: log-spaced buckets (2% apart) from 10 µs to
 * about 20 minutes, so memory stays fixed however long a writer runs, and any percentile is
 * within 2% of the truth. The maximum is exact.
 */

const GROWTH = 1.02
const MIN_MS = 0.01
const LOG_GROWTH = Math.log(GROWTH)
const BUCKETS = Math.ceil(Math.log(1.2e6 / MIN_MS) / LOG_GROWTH) + 1

/** Percentiles of request latency, in milliseconds. */
export interface LatencySummary {
  count: number
  p50: number
  p90: number
  p99: number
  max: number
}

export class LatencyHistogram {
  readonly #counts = new Float64Array(BUCKETS)
  #count = 0
  #max = 0

  record (ms: number): void {
    const i = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / LOG_GROWTH))
    this.#counts[i]++
    this.#count++
    if (ms > this.#max) this.#max = ms
  }

  /** The upper bound of the bucket holding quantile q (0..1), capped at the exact max. */
  quantile (q: number): number {
    if (this.#count === 0) return 0
    const rank = Math.max(1, Math.ceil(q * this.#count))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]
      if (seen >= rank) return Math.min(this.#max, MIN_MS * GROWTH ** i)
    }
    return this.#max
  }

  summary (): LatencySummary {
    return {
      count: this.#count,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p99: this.quantile(0.99),
      max: this.#max,
    }
  }
}
