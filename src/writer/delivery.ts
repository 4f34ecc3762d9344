/**
 * Delivery: each shard's sealed batches go to the sender in order, and each batch is attempted
 * until it is acknowledged or fails for good. Every retry decision is made here (whichever
 * thread the attempts run on): what is retryable, how long to wait (backoff, Retry-After), when
 * the budget is spent, and the 'auto' fallback to 1.0. A shard's next batch goes only after
 * the one before it settled, so each series reaches the server in order.
 */
import type { Outcome, Sender } from '../transport/attempt.js'
import { accepted, holds, shortfall } from '../transport/attempt.js'
import { diagnoseAnswer, diagnoseError } from '../transport/diagnose.js'
import { TimeoutError } from '../errors.js'
import type { Diagnosis, FailureReason } from '../errors.js'
import { LatencyHistogram } from '../stats.js'
import type { Batch, Shard } from './batch.js'
import type { Events, Ledger } from './ledger.js'
import type { Resolved } from './options.js'
import type { Protocol } from './protocol.js'
import type { SpoolFeed } from './spooled.js'
import { backoff, parseRetryAfter, retryableStatus, sleep } from './retry.js'

/** One attempt's outcome, emitted as 'response'. */
export interface ResponseEvent {
  status: number | undefined
  attempt: number
  latencyMs: number
  series: number
  samples: number
  bytes: number
  /** For failed attempts (a 2xx that did not write everything too): why. */
  error?: string
  /** For failed attempts: why, as a user acts on it. */
  diagnosis?: Diagnosis
}

/** A failed attempt that will be retried, emitted as 'retry'. */
export interface RetryEvent {
  /** The attempt that failed (1 for the first). */
  attempt: number
  /** How long the writer waits before the next attempt. */
  delayMs: number
  /** The HTTP status, when there was an answer. */
  status?: number
  error: string
  /** Why, as a user acts on it; `permanent` says waiting cannot heal it (the writer retries anyway). */
  diagnosis: Diagnosis
}

/** A 2.0 request answered 2xx that did not write all it carried. */
const SHORT: Diagnosis = { cause: 'protocol', permanent: true, title: 'answered 2xx without writing every sample' }
/** An 'auto' writer's 2.0 request that a 1.0 receiver answered: re-sent as 1.0. */
const NOT_V2: Diagnosis = { cause: 'protocol', permanent: false, title: 'no Remote Write 2.0 here: falling back to 1.0' }

/** Batches per shard handed to a pipelined sender ahead of their turn. */
const PIPELINE_DEPTH = 8
/**
 * With a spool: two (the one on the wire, and the next, ready the moment it is accepted), as
 * fast as eight; a batch handed over is out of reach of onFull 'dropOldest' and maxAge.
 */
const SPOOL_PIPELINE_DEPTH = 2

export class Delivery {
  readonly latency = new LatencyHistogram()
  readonly #sender: Sender
  readonly #shards: readonly Shard[]
  readonly #ledger: Ledger
  readonly #protocol: Protocol
  readonly #o: Resolved
  readonly #events: Events
  readonly #signal: AbortSignal
  /**
   * With a spool: what is idle includes the spool. (The sender itself writes each accepted
   * batch to the spool before the shard's next one goes: Carrier.ack.)
   */
  readonly feed: SpoolFeed | undefined
  readonly #depth: number

  constructor (sender: Sender, shards: readonly Shard[], ledger: Ledger, protocol: Protocol, o: Resolved, events: Events, signal: AbortSignal, feed?: SpoolFeed) {
    this.#sender = sender
    this.#shards = shards
    this.#ledger = ledger
    this.#protocol = protocol
    this.#o = o
    this.#events = events
    this.#signal = signal
    this.feed = feed
    this.#depth = feed === undefined ? PIPELINE_DEPTH : SPOOL_PIPELINE_DEPTH
  }

  /** Requests on the wire: at most one per shard (an I/O thread queues the rest behind it). */
  inFlight (): number {
    return this.#shards.reduce((n, s) => n + (s.attempting > 0 && !s.waiting ? 1 : 0), 0)
  }

  /** Nothing buffered, open, queued or in flight. */
  idle (): boolean {
    return this.#ledger.bufferedSamples === 0 && this.#shards.every((s) => s.queue.length === 0 && s.open === undefined) && (this.feed?.idle() ?? true)
  }

  /** Sends what the shard has queued, in order. */
  pump (shard: Shard): void {
    if (this.#sender.pipelined) {
      // Hand over the shard's batches in order; the sender sends each after the one before.
      while (shard.handed < shard.queue.length && shard.handed < this.#depth) {
        const batch = shard.queue[shard.handed++]
        void this.#deliver(batch).catch((err: unknown) => this.#lost(batch, err)).then(() => {
          shard.queue.splice(shard.queue.indexOf(batch), 1)
          shard.handed--
          this.#settled(shard)
        })
      }
      return
    }
    if (shard.sending) return
    shard.sending = true
    void (async () => {
      try {
        while (shard.queue.length > 0) {
          const batch = shard.queue[0]
          await this.#deliver(batch).catch((err: unknown) => this.#lost(batch, err))
          shard.queue.shift()
          this.#settled(undefined)
        }
      } finally {
        shard.sending = false
      }
      this.#settled(shard)
    })()
  }

  /** #deliver() threw (it should not): the batch is reported failed, never left hanging. */
  #lost (batch: Batch, err: unknown): void {
    if (!batch.settled) {
      this.#ledger.fail(batch, 'network', `internal error while sending: ${(err as Error)?.message ?? err}`, 0, undefined, undefined, err)
    }
  }

  /** A batch of `shard` settled (or, with undefined, one of an inline shard that goes on). */
  #settled (shard: Shard | undefined): void {
    // A full buffer of open batches waits for an acknowledgement that makes room; if this
    // was the last request out, nothing else would send them.
    if (this.#ledger.full()) this.#ledger.unblock()
    if (shard === undefined) return
    if (this.#sender.pipelined) this.pump(shard)
    if (this.idle()) this.#ledger.wakeIdle()
  }

  /** Sends one batch until it is acknowledged or fails for good; never throws. */
  async #deliver (batch: Batch): Promise<void> {
    const ledger = this.#ledger
    const fail = ledger.fail.bind(ledger, batch)
    batch.handed = true
    if (batch.body === undefined) {
      fail('encode', `could not encode the request: ${(batch.encodeError as Error)?.message ?? batch.encodeError}`, 0, undefined, undefined, batch.encodeError)
      return
    }
    // From the first send, not from the hand-over: behind another batch's retries in the I/O
    // thread's queue, a batch must not use up its own retry budget.
    let started = 0
    const signal = this.#signal
    const shard = batch.shard.index
    // The sender holds the shard after an attempt it did not accept, until we retry or release.
    let held = false
    try {
      for (let attempt = 1; ; attempt++) {
        if (signal.aborted) {
          this.#stopped(batch, attempt - 1)
          return
        }
        if (this.feed?.expire(batch) === true) return
        if (batch.v2 && !this.#protocol.v2) this.#protocol.toV1(batch) // the writer fell back since this batch was built
        if (batch.encodeError !== undefined) {
          fail('encode', (batch.encodeError as Error).message, attempt - 1, undefined, undefined, batch.encodeError)
          return
        }
        const expect = { v2: batch.v2, floats: batch.samples - batch.histograms, histograms: batch.histograms }
        batch.shard.attempting++
        batch.shard.waiting = false
        let outcome: Outcome
        try {
          outcome = await this.#sender.attempt(shard, batch, attempt, expect)
        } finally {
          batch.shard.attempting--
        }
        held = holds(outcome, expect)
        batch.shard.waiting = held
        const failing = !accepted(outcome, expect)
        // With a spool, producers held by a full memory window go on once a shard fails.
        if (failing && !batch.shard.failing && this.feed !== undefined) {
          batch.shard.failing = true
          this.#ledger.wake()
        }
        batch.shard.failing = failing
        const ms = outcome.ms
        if (attempt === 1) started = Date.now() - ms
        if (outcome.kind === 'aborted' || (outcome.kind !== 'answer' && signal.aborted)) {
          this.#stopped(batch, attempt)
          return
        }
        if (batch.body === undefined) {
          // Only if the I/O thread died holding it: the body is gone, so is the batch.
          fail('network', `request failed: ${(outcome.error as Error)?.message ?? outcome.error}`, attempt, undefined, undefined, outcome.error)
          return
        }
        let retryable: boolean
        let reason: FailureReason
        let message: string
        let retryAfter: number | undefined
        let diagnosis: Diagnosis
        const { status, body } = outcome
        if (outcome.kind === 'answer') {
          this.latency.record(ms)
          if (this.#protocol.notV2(batch, outcome.status, outcome.written.samples)) {
            // Not a 2.0 receiver: 415, or a 1.0 receiver that stored nothing. Resend as 1.0.
            this.#response(batch, status, attempt, ms, 'no Remote Write 2.0 here: falling back to 1.0', NOT_V2)
            this.#protocol.fallBack()
            this.#protocol.toV1(batch)
            if (batch.encodeError !== undefined) {
              fail('encode', (batch.encodeError as Error).message, attempt, status, body, batch.encodeError)
              return
            }
            continue
          }
          if (status !== undefined && status >= 200 && status < 300) {
            batch.acked = outcome.acked === true
            const short = batch.v2 ? shortfall(outcome.written, expect.floats, expect.histograms) : undefined
            this.#response(batch, status, attempt, ms, short, short === undefined ? undefined : SHORT)
            if (short === undefined) ledger.succeed(batch)
            else fail('http', short, attempt, status, body, undefined, SHORT)
            return
          }
          retryAfter = parseRetryAfter(outcome.retryAfter)
          retryable = retryableStatus(outcome.status, outcome.body, this.#o.retryOn429)
          reason = 'http'
          message = `server returned HTTP ${status}${body ? `: ${body.trim()}` : ''}`
          diagnosis = diagnoseAnswer(outcome.status, outcome.body, retryable)
        } else {
          retryable = true
          reason = outcome.kind
          message = outcome.kind === 'timeout'
            ? `no answer within ${this.#o.timeout} ms`
            : `request failed: ${(outcome.error as Error)?.message ?? outcome.error}`
          diagnosis = diagnoseError(outcome.error, outcome.kind === 'timeout')
        }
        this.#response(batch, status, attempt, ms, message, diagnosis)
        if (!retryable) {
          fail(reason, message, attempt, status, body, outcome.error, diagnosis)
          return
        }
        const delay = retryAfter ?? backoff(attempt, this.#o.minBackoff, this.#o.maxBackoff)
        if (attempt > this.#o.maxRetries || Date.now() + delay - started > this.#o.maxRetryDuration) {
          fail('retries-exhausted', `gave up retrying: ${message}`, attempt, status, body, outcome.error, diagnosis)
          return
        }
        ledger.retry(batch)
        const event: RetryEvent = { attempt, delayMs: delay, error: message, diagnosis }
        if (status !== undefined) event.status = status
        this.#events.emit('retry', event)
        try {
          await sleep(delay, signal)
        } catch {
          this.#stopped(batch, attempt, status, body)
          return
        }
      }
    } finally {
      if (held) {
        batch.shard.waiting = false
        this.#sender.release(shard)
      }
    }
  }

  /**
   * The writer was aborted: by its signal ('aborted'), or by close()'s deadline passing (a
   * TimeoutError as the reason: 'timeout', with it as the cause). The batch fails.
   */
  #stopped (batch: Batch, attempts: number, status?: number, body?: string): void {
    const why: unknown = this.#signal.reason
    if (batch.entry !== undefined) {
      const reason = why instanceof TimeoutError ? 'timeout' : 'aborted'
      this.#ledger.leave(batch, reason, why instanceof TimeoutError ? `${why.message} before this request was acknowledged` : 'aborted', attempts, why)
      return
    }
    if (why instanceof TimeoutError) this.#ledger.fail(batch, 'timeout', `${why.message} before this request was acknowledged`, attempts, status, body, why)
    else this.#ledger.fail(batch, 'aborted', 'aborted', attempts, status, body)
  }

  #response (batch: Batch, status: number | undefined, attempt: number, latencyMs: number, error?: string, diagnosis?: Diagnosis): void {
    if (!this.#events.listens('response')) return
    const event: ResponseEvent = {
      status, attempt, latencyMs, series: batch.entries.length, samples: batch.samples, bytes: batch.body?.length ?? 0,
    }
    if (error !== undefined) event.error = error
    if (diagnosis !== undefined) event.diagnosis = diagnosis
    this.#events.emit('response', event)
  }
}
