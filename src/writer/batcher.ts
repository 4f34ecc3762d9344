/**
 * The batcher: one open batch per shard, built in its own request slot of the core, and how
 * batches fill (by sample count and by worst-case bytes), are sealed (compressed into a pooled
 * buffer, the slot given back) and queued on their shard for delivery. A flush timer seals
 * batches that waited flushInterval; when the buffer is full and nothing is in flight, the open
 * batches are sealed as they are, since no acknowledgement would come to make room.
 */
import { RequestBuilder } from '../codec/builder.js'
import type { Encoder } from '../codec/encoder.js'
import type { CacheEntry } from '../codec/label-cache.js'
import { MAX_SAMPLE_BYTES, SERIES_OVERHEAD } from '../codec/sizes.js'
import { CoreTrapError } from '../errors.js'
import { Batch, Shard } from './batch.js'
import type { BodyPool } from './batch.js'
import type { Ledger } from './ledger.js'
import type { Resolved } from './options.js'
import type { Protocol } from './protocol.js'

/** The error a batch carries when the core trapped before its request was sent. */
function lostToTrap (): CoreTrapError {
  return new CoreTrapError(new Error('the core was replaced after a trap'), 'this request was lost before it was sent')
}

export class Batcher {
  readonly shards: readonly Shard[]
  readonly #enc: Encoder
  readonly #ledger: Ledger
  readonly #protocol: Protocol
  readonly #pool: BodyPool
  readonly #o: Resolved
  /** Hands a shard's newly queued batches to delivery. */
  readonly #pump: (shard: Shard) => void
  /** The core generation the open batches were begun in. */
  coreGen: number
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  /** With a spool: takes each sealed batch (it spools and queues it) instead of queueing it here. */
  admit: ((batch: Batch) => void) | undefined

  constructor (enc: Encoder, ledger: Ledger, protocol: Protocol, pool: BodyPool, o: Resolved, pump: (shard: Shard) => void) {
    this.shards = Array.from({ length: o.concurrency }, (_, i) => new Shard(i))
    this.#enc = enc
    this.#ledger = ledger
    this.#protocol = protocol
    this.#pool = pool
    this.#o = o
    this.#pump = pump
    this.coreGen = enc.generation
  }

  /** The shard a label set's series always goes to. */
  shardOf (entry: CacheEntry): Shard {
    return this.shards[entry.hash % this.shards.length]
  }

  /** A new open batch for the shard, in the writer's current protocol. */
  open (shard: Shard): Batch {
    const batch = new Batch(new RequestBuilder(this.#enc, this.#protocol.v2), shard, this.#protocol.v2)
    shard.open = batch
    return batch
  }

  /** Samples that still fit the batch, by count and by (worst-case) bytes. */
  room (batch: Batch, entry: CacheEntry, extra = 0): number {
    const byBytes = Math.floor((this.#o.maxBytesPerRequest - this.sized(batch) - SERIES_OVERHEAD - entry.len - extra) / MAX_SAMPLE_BYTES)
    return Math.min(this.#o.maxSamplesPerRequest - batch.samples, byBytes)
  }

  /** Whether not even one more sample fits. */
  isFull (batch: Batch): boolean {
    return batch.samples >= this.#o.maxSamplesPerRequest || this.sized(batch) + SERIES_OVERHEAD + MAX_SAMPLE_BYTES > this.#o.maxBytesPerRequest
  }

  /**
   * The size a batch counts for against maxBytesPerRequest: its encoded size, or, while an
   * 'auto' writer may still fall back, the larger 1.0 estimate (a 2.0 batch shares its
   * strings; the same series as 1.0 repeat them).
   */
  sized (batch: Batch): number {
    return this.#protocol.auto && batch.v2 ? Math.max(batch.bytes, batch.v1Estimate) : batch.bytes
  }

  /** How many of the one-sample items bucket[j..end) fit the batch, by count and by worst-case bytes. */
  singlesThatFit (batch: Batch, entries: CacheEntry[], bucket: number[], j: number, end: number): number {
    const { maxSamplesPerRequest, maxBytesPerRequest } = this.#o
    let take = 0
    let bytes = batch.bytes
    while (j + take < end && batch.samples + take < maxSamplesPerRequest) {
      const need = SERIES_OVERHEAD + entries[bucket[j + take]].len + MAX_SAMPLE_BYTES
      if (bytes + need > maxBytesPerRequest && (batch.samples + take) > 0) break
      bytes += need
      take++
    }
    return take
  }

  /** Accounts for the one-sample items bucket[from..from + take) just appended to the batch's request. */
  grewSingles (batch: Batch, entries: CacheEntry[], bucket: number[], from: number, take: number): void {
    const req = batch.req as RequestBuilder
    const size = req.size
    this.#ledger.grow(take, size - batch.bytes)
    batch.bytes = size
    batch.samples += take
    for (let t = from; t < from + take; t++) {
      batch.entries.push(entries[bucket[t]])
      batch.counts.push(1)
    }
  }

  /** Compresses a batch into its body, frees its slot and queues it on its shard. */
  seal (batch: Batch): void {
    if (this.#enc.generation !== this.coreGen) this.coreReplaced()
    this.compress(batch)
    batch.full = false
    if (this.admit !== undefined) {
      this.admit(batch)
      return
    }
    batch.shard.queue.push(batch)
    this.#pump(batch.shard)
  }

  /**
   * Compresses a batch into its body and frees its request slot, without queueing it (a batch
   * compressed already is left as it is). A trap while compressing replaces the core: the
   * batch keeps the error, and `generation` tells the caller.
   */
  compress (batch: Batch): void {
    const enc = this.#enc
    const req = batch.req
    if (req !== undefined) {
      batch.req = undefined
      // The core was replaced since this batch was begun (perhaps by sealing another batch
      // of the same call): its request is gone.
      if (!req.alive) batch.encodeError ??= lostToTrap()
      if (batch.encodeError === undefined) {
        try {
          const { body, rawBytes } = req.seal()
          batch.rawBytes = rawBytes
          const buf = this.#pool.take(body.length)
          buf.set(body)
          batch.pooled = buf
          batch.body = buf.subarray(0, body.length)
        } catch (err) {
          batch.encodeError = enc.recover(err)
        }
      }
      req.release()
    }
    const compressed = batch.body?.length ?? 0
    this.#ledger.grow(0, compressed - batch.bytes)
    batch.bytes = compressed
  }

  /** A batch of a call that was undone, never queued: its request slot and body buffer go back. */
  discard (batch: Batch): void {
    batch.req?.release()
    batch.req = undefined
    if (batch.pooled !== undefined) this.#pool.give(batch.pooled)
    batch.pooled = undefined
    batch.body = undefined
  }

  /** Seals every open batch that holds anything (samples, or only 1.0 exemplar or metadata records). */
  sealAll (): void {
    for (const shard of this.shards) {
      const b = shard.open
      if (b === undefined) continue
      shard.open = undefined
      if (b.bytes === 0) {
        b.req?.release()
        b.req = undefined
        continue
      }
      this.seal(b)
    }
  }

  /**
   * The buffer is full: if nothing is queued or in flight, no acknowledgement will come to
   * make room, so the open batches are sent as they are. Otherwise they keep filling.
   */
  unblock (): void {
    // A batch stays in its shard's queue until it settles: empty queues mean nothing in flight.
    if (this.shards.every((s) => s.queue.length === 0)) this.sealAll()
  }

  /**
   * The core trapped and was replaced (only possible when it runs out of memory): every
   * open batch's request is gone. Their samples are reported failed, never dropped silently.
   * `filled` are batches of the failed call that no shard holds any more.
   */
  coreReplaced (filled: Batch[] = []): void {
    this.coreGen = this.#enc.generation
    const lost = [...filled]
    for (const shard of this.shards) {
      if (shard.open !== undefined) lost.push(shard.open)
      shard.open = undefined
    }
    for (const b of lost) {
      b.req = undefined
      b.full = false
      if (b.samples === 0) {
        // Nothing of it to report (1.0 exemplar or metadata records at most): its bytes leave the buffer.
        this.#ledger.grow(0, -b.bytes)
        b.bytes = 0
        continue
      }
      b.encodeError ??= lostToTrap()
      b.shard.queue.push(b)
      this.#pump(b.shard)
    }
  }

  /** The flush timer runs while anything is buffered, so a partial batch never waits forever. */
  armTimer (): void {
    if (this.#timer !== undefined || this.#stopped) return
    const tick = Math.max(10, Math.min(1000, this.#o.flushInterval / 4))
    this.#timer = setInterval(() => {
      const now = Date.now()
      for (const shard of this.shards) {
        const b = shard.open
        if (b !== undefined && b.bytes > 0 && now - b.created >= this.#o.flushInterval) {
          shard.open = undefined
          this.seal(b)
        }
      }
      if (this.#ledger.bufferedSamples === 0 && this.#ledger.bufferedBytes === 0 && this.#timer !== undefined) {
        clearInterval(this.#timer)
        this.#timer = undefined
      }
    }, tick)
  }

  /** close() began: the timer is not armed again (a running one goes on until stop()). */
  closing (): void {
    this.#stopped = true
  }

  /** Stops the flush timer for good (close(), after its flush). */
  stop (): void {
    this.#stopped = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
  }
}
