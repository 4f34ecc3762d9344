/**
 * The writer's units of work: a Batch (one request's worth of samples, from its first record
 * to its acknowledgement or failure), the Shard it belongs to, the Tracker of a send() call's
 * share of the batches, and the pool of buffers compressed bodies live in.
 */
import type { RequestBuilder } from '../codec/builder.js'
import type { CacheEntry } from '../codec/label-cache.js'
import type { BatchError } from '../errors.js'
import type { Entry } from '../spool/spool.js'
import type { Ack } from '../transport/attempt.js'

/** A send() call's share of the batches: it settles when every sample of the call has. */
export class Tracker {
  pending = 0
  requests = 0
  series = 0
  samples = 0
  failed = { requests: 0, series: 0, samples: 0 }
  errors: BatchError[] = []
  done!: () => void
  readonly promise = new Promise<void>((resolve) => { this.done = resolve })
  settle (n: number): void {
    this.pending -= n
    if (this.pending === 0) this.done()
  }
}

/** A shard: its open batch, and its sealed batches in order until they settle. */
export class Shard {
  readonly index: number
  open: Batch | undefined
  /** Sealed batches, oldest first, until they settle. */
  readonly queue: Batch[] = []
  /** Inline sender: a batch is being delivered. */
  sending = false
  /** Pipelined sender: batches at the head of `queue` handed over and not settled yet. */
  handed = 0
  /** Attempts handed to the sender and not answered (the first is on the wire, unless `waiting`). */
  attempting = 0
  /** A batch of this shard was not accepted and waits for its retry: nothing of it is on the wire. */
  waiting = false
  /** Its last attempt was not accepted (until one is). */
  failing = false
  constructor (index: number) {
    this.index = index
  }
}

/**
 * One request's worth of samples. While open, it is being built in a RequestBuilder (one of
 * the core's request slots); sealing compresses it into `body` and gives the slot back. It
 * keeps the label entries and counts of its series, to report a failure.
 */
export class Batch {
  /** The request while open; undefined once sealed. */
  req: RequestBuilder | undefined
  /** Samples, native histogram samples included. */
  samples = 0
  /** Of those, native histogram samples (a 2.0 receiver counts them apart). */
  histograms = 0
  /** Protobuf bytes while open; compressed bytes once sealed. */
  bytes = 0
  /** When it was begun (for a request read back from a spool: when it was spooled). */
  created = Date.now()
  body: Uint8Array | undefined
  rawBytes = 0
  entries: CacheEntry[] = []
  counts: number[] = []
  /** How many series and samples of each send() call this batch carries. */
  trackers = new Map<Tracker, { series: number, samples: number }>()
  encodeError: unknown
  /** The pooled buffer `body` is a view of, returned to the pool when the batch settles. */
  pooled: Uint8Array | undefined
  /** Acknowledged or failed for good: its share of the buffer is returned. */
  settled = false
  /** Set during a write() call for a batch that filled up: sealed when the call succeeds. */
  full = false
  /** A Remote Write 2.0 request (until an 'auto' writer's fallback re-encodes it as 1.0). */
  v2: boolean
  /** An upper bound of this batch's size as a 1.0 request (see Batcher#sized). */
  v1Estimate = 0
  readonly shard: Shard
  /** With a spool: its record there, from when it was sealed until it settles. */
  entry: Entry | undefined
  /** With a spool: what the sender writes to the spool's ack file once the batch is accepted. */
  ack: Ack | undefined
  /** The sender wrote `ack`: the spool needs no entry in its log for it. */
  acked = false
  /** Handed to the sender: it is being attempted, and is no longer dropped or expired in the queue. */
  handed = false
  constructor (req: RequestBuilder | undefined, shard: Shard, v2: boolean) {
    this.req = req
    this.v2 = v2
    this.shard = shard
  }

  /** Series records it carries. */
  get series (): number {
    return this.entry?.h.series ?? this.entries.length
  }

  /** A request read back from the spool: sealed, with only the counts its record keeps. */
  static fromSpool (entry: Entry, body: Uint8Array | undefined, shard: Shard): Batch {
    const b = new Batch(undefined, shard, entry.h.v2)
    b.entry = entry
    b.body = body
    b.bytes = body?.length ?? 0
    b.samples = entry.h.samples
    b.histograms = entry.h.histograms
    b.rawBytes = entry.h.rawBytes
    b.created = entry.h.created
    return b
  }
}

/** Body buffers kept for reuse. */
const POOL_SIZE = 64

/**
 * Buffers for compressed bodies, reused: a body lives until its request settles, and large
 * short-lived allocations are what makes the garbage collector work hardest here.
 */
export class BodyPool {
  readonly #pool: Uint8Array[] = []

  /** A pooled buffer of at least `n` bytes (sizes are powers of two from 64 KiB). */
  take (n: number): Uint8Array {
    const pool = this.#pool
    for (let i = pool.length - 1; i >= 0; i--) {
      if (pool[i].length >= n) {
        const buf = pool[i]
        pool[i] = pool[pool.length - 1]
        pool.pop()
        return buf
      }
    }
    return new Uint8Array(Math.max(65536, 2 ** Math.ceil(Math.log2(n))))
  }

  /** Keeps a buffer for reuse (up to a bound). */
  give (buf: Uint8Array): void {
    if (this.#pool.length < POOL_SIZE) this.#pool.push(buf)
  }
}
