/**
 * One attempt as an Outcome, and what the writer and the I/O thread agree on about it: whether
 * it was accepted (a 2xx that, for Remote Write 2.0, wrote everything), and whether it holds
 * its shard until the writer decides; and the Sender contract. Runs on either thread.
 */
import { writeSync } from 'node:fs'
import type { Transport } from './http.js'
import { isTimeout } from './http.js'

/** A 2.0 receiver's written-count headers (protocol.md §2.5). */
export interface Written { samples: string | undefined, histograms: string | undefined }

/** What one attempt came to. `ms` is its latency (from when it was sent). */
export type Outcome =
  | { kind: 'answer', status: number, body: string, retryAfter: string | undefined, written: Written, ms: number, error?: undefined, acked?: true }
  | { kind: 'timeout' | 'network' | 'aborted', status?: undefined, body?: undefined, error: unknown, ms: number, lost?: true }

/**
 * Whether the sender holds the shard after this outcome, until the writer retries or releases
 * it: after every attempt it did not accept, except one that never got its turn (`lost`: its
 * body went down with the I/O thread; another batch of the shard may be the one held).
 */
export function holds (o: Outcome, expect: Expect): boolean {
  return !accepted(o, expect) && !(o.kind !== 'answer' && o.lost === true)
}

/** What a batch carries, for the acceptance check: a 2.0 receiver must have written it all. */
export interface Expect { v2: boolean, floats: number, histograms: number }

/**
 * For a 2xx to a 2.0 request: why it did not store the whole batch, or undefined if it did.
 * No written-count header means a 1.0 receiver, which decodes a 2.0 body as an empty 1.0
 * request and stores nothing (protocol.md §2.5; Prometheus 2.42 does exactly this). Float
 * samples and native histograms are counted apart; exemplars are not data a caller resends,
 * so a receiver that drops some (an exemplar store that is off or full) is not a failure.
 */
export function shortfall (written: Written, floats: number, histograms: number): string | undefined {
  if (written.samples === undefined) {
    return "answered 2xx without X-Prometheus-Remote-Write-Samples-Written: a Remote Write 1.0 receiver stores nothing of a 2.0 request (use protocol: 'v1')"
  }
  const n = Number(written.samples)
  if (!Number.isInteger(n) || n < floats) return `the receiver wrote ${written.samples} of ${floats} samples`
  if (histograms > 0) {
    const h = Number(written.histograms)
    if (written.histograms === undefined || !Number.isInteger(h) || h < histograms) {
      return `the receiver wrote ${written.histograms ?? 'no'} of ${histograms} native histogram samples`
    }
  }
  return undefined
}

/** Whether an outcome lets the shard's next batch go: a 2xx that, for 2.0, wrote everything. */
export function accepted (o: Outcome, expect: Expect): boolean {
  if (o.kind !== 'answer' || o.status < 200 || o.status >= 300) return false
  return !expect.v2 || shortfall(o.written, expect.floats, expect.histograms) === undefined
}

function first (v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

/** One attempt through a transport on this thread, as an Outcome. */
export async function attemptOn (transport: Transport, body: Uint8Array, attempt: number, timeoutMs: number, v2: boolean, aborted: () => boolean): Promise<Outcome> {
  const t0 = performance.now()
  try {
    const a = await transport.post(body, attempt, timeoutMs, v2)
    return {
      kind: 'answer', status: a.status, body: a.body, retryAfter: first(a.headers['retry-after']), ms: performance.now() - t0,
      written: {
        samples: first(a.headers['x-prometheus-remote-write-samples-written']),
        histograms: first(a.headers['x-prometheus-remote-write-histograms-written']),
      },
    }
  } catch (error) {
    const kind = aborted() ? 'aborted' : isTimeout(error) ? 'timeout' : 'network'
    return { kind, error, ms: performance.now() - t0 }
  }
}

/**
 * The body of a batch; a sender may take it away during an attempt and puts it back after.
 * `ack`, with a spool: bytes the sender writes at `at` in its ack file (see recordAck) once
 * the batch is accepted, before the shard's next batch goes.
 */
export interface Carrier { body: Uint8Array | undefined, pooled: Uint8Array | undefined, ack?: Ack }

/** What a sender writes to its ack file when a batch is accepted. */
export interface Ack { at: number, bytes: Uint8Array }

/**
 * With a spool: an accepted batch's acknowledgement goes to disk (a positional write into the
 * ack file, `fd`) on the thread that sends, before that shard's next batch is sent, so a crash
 * resends at most the one request per shard that was on the wire. The outcome says it is done.
 */
export function recordAck (fd: number, ack: Ack | undefined, o: Outcome, expect: Expect): void {
  if (fd < 0 || ack === undefined || o.kind !== 'answer' || !accepted(o, expect)) return
  try {
    writeSync(fd, ack.bytes, 0, ack.bytes.length, ack.at)
    o.acked = true
  } catch { /* the writer's thread writes it to its log instead */ }
}

export interface Sender {
  /** Attempts run on another thread, queued per shard: the writer hands over a shard's batches without waiting. */
  readonly pipelined: boolean
  /**
   * Attempt number `attempt` of a batch on `shard`. A first attempt queues behind the shard's
   * earlier batches; a later one goes first (its shard is held for it).
   */
  attempt (shard: number, carrier: Carrier, attempt: number, expect: Expect): Promise<Outcome>
  /** After an outcome that was not accepted: the shard's next batch may go. */
  release (shard: number): void
  /** Ends every attempt under way or queued (they come out 'aborted'). */
  abort (reason: unknown): void
  /** Closes the connections: once what is under way is done, or with `force` (after abort()) at once. */
  close (force?: boolean): Promise<void>
}
