/**
 * One write() or send() call, all or nothing: its items are validated as they are encoded into
 * their shards' open batches, and when one is invalid every batch the call touched is rolled
 * back (requests cut back to their marks, counters restored, new batches dropped) before the
 * error is thrown. Batches that filled up during the call are sealed when it succeeds.
 *
 * A series always goes to the shard its label hash picks. One-sample items (an IoT gateway's
 * scrape) go in runs through the core's addSingles(); a call of only such items into 1.0
 * batches goes in one core call, in the caller's order. A call larger than the buffer is
 * validated whole first, then encoded a request's worth at a time.
 */
import type { RequestBuilder, Mark } from '../codec/builder.js'
import type { Encoder, Prepared } from '../codec/encoder.js'
import type { CacheEntry } from '../codec/label-cache.js'
import { MAX_SAMPLE_BYTES, SERIES_OVERHEAD, exemplarBytes, histogramBytes, metadataBytes } from '../codec/sizes.js'
import { checkV2Exemplars, isSingle } from '../codec/validate.js'
import type { Item } from '../types.js'
import type { Batch, Shard, Tracker } from './batch.js'
import type { Batcher } from './batcher.js'
import type { Ledger } from './ledger.js'
import type { Resolved } from './options.js'
import type { Protocol } from './protocol.js'

/** A batch's state when a call first touched it, to roll the call back. */
interface Undo { batch: Batch, samples: number, histograms: number, bytes: number, v1Estimate: number, series: number, fresh: boolean, mark: Mark | undefined }

/** Requests one call may fill before its end (their bodies wait, compressed, until it succeeds). */
const MAX_CALL_BATCHES = 2048

const reqOf = (batch: Batch): RequestBuilder => batch.req as RequestBuilder

export class WriteCall {
  readonly #enc: Encoder
  readonly #batcher: Batcher
  readonly #ledger: Ledger
  readonly #protocol: Protocol
  readonly #o: Resolved
  /** Per item of a call of one-sample items, the request slot it goes to (reused). */
  #slotOf = new Uint32Array(0)
  /** Per shard, the indices of a call's items (reused from call to call). */
  readonly #buckets: number[][]
  /** 1.0 bytes of what the next record carries beyond its samples (histograms, exemplars), for v1Estimate. */
  #v1Extra = 0
  /** Batches the call under way began: only its records, compressed as soon as they fill. */
  readonly #fresh = new Set<Batch>()

  constructor (enc: Encoder, batcher: Batcher, ledger: Ledger, protocol: Protocol, o: Resolved) {
    this.#enc = enc
    this.#batcher = batcher
    this.#ledger = ledger
    this.#protocol = protocol
    this.#o = o
    this.#buckets = batcher.shards.map(() => [])
  }

  /** Encodes a call (see the top of this file); `tracker` is its send()'s, if any. */
  write (items: readonly Item[], tracker: Tracker | undefined): void {
    if (this.fits(items)) {
      this.encode(items, tracker)
      return
    }
    for (const [p, from, to] of this.pieces(items)) this.encode([p.item], tracker, p, from, to)
  }

  /**
   * Whether a call can be encoded in one go: it fits the buffer, and the batches it may fill
   * (which hold their request slots in the core until the call ends) stay well below the
   * core's 4096 slots.
   */
  fits (items: readonly Item[]): boolean {
    let total = 0
    for (const it of items) total += (it as Item)?.values?.length ?? 0
    const { maxSamplesPerRequest, maxBytesPerRequest, maxBufferedSamples } = this.#o
    const batches = Math.max(total / maxSamplesPerRequest, (total * MAX_SAMPLE_BYTES + items.length * 512) / maxBytesPerRequest)
    return total <= maxBufferedSamples && batches + this.#batcher.shards.length < MAX_CALL_BATCHES
  }

  /**
   * A call too large for one go, validated whole (the 2.0 rules too) before the first piece,
   * then cut into pieces of a request's worth of samples: [item, from, to]. An item without
   * samples (histograms, exemplars) is one piece.
   */
  * pieces (items: readonly Item[]): Generator<[Prepared, number, number]> {
    let prepared: Prepared[]
    try {
      prepared = this.#enc.prepareAll(items)
    } catch (err) {
      throw this.#enc.recover(err)
    }
    if (this.#protocol.v2) for (const p of prepared) checkV2Exemplars(p.item, p.index)
    const step = this.#o.maxSamplesPerRequest
    for (const p of prepared) {
      const n = p.values.length
      for (let from = 0; from < n || from === 0; from += step) {
        yield [p, from, Math.min(n, from + step)]
        if (n === 0) break
      }
    }
  }

  /** Encodes items (or, with `prepared`, samples [from, to) of that one item) all or nothing. */
  encode (items: readonly Item[], tracker: Tracker | undefined, prepared?: Prepared, from = 0, to?: number): void {
    const enc = this.#enc
    const batcher = this.#batcher
    if (enc.generation !== batcher.coreGen) batcher.coreReplaced()
    enc.beginCall()
    this.#fresh.clear()
    const undo: Undo[] = []
    const filled: Batch[] = []
    let samples = 0
    try {
      if (prepared !== undefined) samples = this.#item(items[0], 0, prepared, undo, filled, from, to)
      else samples = this.#items(items, undo, filled)
    } catch (err) {
      // After a trap the requests are gone: report every batch that held samples as failed
      // (the filled ones too, which no shard holds any more). Otherwise undo the call.
      const e = enc.recover(err)
      enc.clearExemplars()
      this.#v1Extra = 0
      if (enc.generation !== batcher.coreGen) batcher.coreReplaced(filled)
      else this.#rollback(undo)
      throw e
    }
    if (tracker !== undefined) {
      tracker.pending += samples
      for (const u of undo) {
        const series = u.batch.entries.length - u.series
        if (series === 0) continue
        const part = u.batch.trackers.get(tracker)
        const added = u.batch.samples - u.samples
        if (part) {
          part.series += series
          part.samples += added
        } else {
          u.batch.trackers.set(tracker, { series, samples: added })
        }
      }
    }
    for (const batch of filled) batcher.seal(batch)
    if (this.#ledger.full()) batcher.unblock()
    batcher.armTimer()
  }

  /**
   * A call's items: their labels first (so a bad label set throws before anything is
   * encoded), then shard by shard in input order, one-sample items in runs. Returns the
   * samples encoded.
   */
  #items (items: readonly Item[], undo: Undo[], filled: Batch[]): number {
    const enc = this.#enc
    const shards = this.#batcher.shards
    const entries = new Array<CacheEntry>(items.length)
    const buckets = this.#buckets
    for (const b of buckets) b.length = 0
    let singles = 0
    for (let i = 0; i < items.length; i++) {
      const entry = enc.resolve(items[i], i)
      entries[i] = entry
      buckets[entry.hash % shards.length].push(i)
      if (isSingle(items[i])) singles++
    }
    if (singles === items.length && !this.#protocol.v2 && shards.every((s) => s.open === undefined || !s.open.v2)) {
      return this.#allSingles(items, entries, undo, filled)
    }
    let samples = 0
    for (let k = 0; k < shards.length; k++) {
      const bucket = buckets[k]
      let j = 0
      while (j < bucket.length) {
        let run = 0
        while (!(shards[k].open?.v2 ?? this.#protocol.v2) && j + run < bucket.length && isSingle(items[bucket[j + run]])) run++
        if (run > 0) {
          this.#singles(shards[k], items, bucket, entries, j, run, undo, filled)
          samples += run
          j += run
          continue
        }
        const i = bucket[j]
        samples += this.#item(items[i], i, undefined, undo, filled, 0, undefined, entries[i])
        j++
      }
    }
    return samples
  }

  /**
   * A call of one-sample items only, into 1.0 batches. Each item's batch is chosen first,
   * shard by shard, by count and worst-case bytes as #singles does; then one core call appends
   * them all in the caller's order, which reads their cached label blocks front to back
   * instead of one shard's scattered subset at a time. A batch the estimate closes early is
   * sent a little under the byte limit.
   */
  #allSingles (items: readonly Item[], entries: CacheEntry[], undo: Undo[], filled: Batch[]): number {
    const batcher = this.#batcher
    const n = items.length
    if (this.#slotOf.length < n) this.#slotOf = new Uint32Array(Math.max(n, 2 * this.#slotOf.length))
    const slotOf = this.#slotOf
    // Per batch filled: the batch, its shard's bucket, and the bucket range [from, from + take).
    const plan: Array<{ batch: Batch, bucket: number[], from: number, take: number }> = []
    for (let k = 0; k < batcher.shards.length; k++) {
      const shard = batcher.shards[k]
      const bucket = this.#buckets[k]
      let j = 0
      while (j < bucket.length) {
        const batch = this.#open(shard, undo)
        const take = batcher.singlesThatFit(batch, entries, bucket, j, bucket.length)
        if (take > 0) {
          const slot = reqOf(batch).slot
          for (let t = j; t < j + take; t++) slotOf[bucket[t]] = slot
          plan.push({ batch, bucket, from: j, take })
          j += take
        }
        // Items left over: this batch is full (by count, or by the estimate). Its records are
        // appended below, all at once: it keeps its slot until then.
        if (j < bucket.length) this.#markFull(shard, batch, filled, false)
      }
    }
    this.#enc.singles(items, 0, n, undefined, entries, false, slotOf)
    for (const { batch, bucket, from, take } of plan) {
      reqOf(batch).addedSingles(take)
      batcher.grewSingles(batch, entries, bucket, from, take)
      if (!batch.full && batcher.isFull(batch)) this.#markFull(batch.shard, batch, filled, false)
    }
    for (const batch of filled) this.#compress(batch)
    return n
  }

  /** Encodes the one-sample items bucket[j..j + run) into the shard's batches. */
  #singles (shard: Shard, items: readonly Item[], bucket: number[], entries: CacheEntry[], j: number, run: number, undo: Undo[], filled: Batch[]): void {
    const batcher = this.#batcher
    const end = j + run
    while (j < end) {
      const batch = this.#open(shard, undo)
      const take = batcher.singlesThatFit(batch, entries, bucket, j, end)
      if (take === 0) {
        this.#markFull(shard, batch, filled)
        continue
      }
      reqOf(batch).appendSingles(items, j, take, bucket, entries)
      batcher.grewSingles(batch, entries, bucket, j, take)
      j += take
      if (batcher.isFull(batch)) this.#markFull(shard, batch, filled)
    }
  }

  /** Encodes one item into its shard's batches; returns its samples, native histograms included (as batch.samples counts them). */
  #item (item: Item, index: number, prepared: Prepared | undefined, undo: Undo[], filled: Batch[], from = 0, to?: number, resolved?: CacheEntry): number {
    const enc = this.#enc
    const batcher = this.#batcher
    let entry = prepared?.entry ?? resolved ?? enc.resolve(item, index)
    // Histograms, exemplars and metadata go with an item's first slice (from 0).
    const hs = from === 0 && item.histograms !== undefined && item.histograms.length > 0 ? item.histograms : undefined
    const n = to ?? item.values.length
    const xs = from === 0 && item.exemplars !== undefined && item.exemplars.length > 0
    const shard = batcher.shardOf(entry)
    // An open batch of the other protocol (built before an 'auto' fallback) takes nothing
    // more: every record of this item, and the exemplars staged for its first, go to batches
    // of the writer's protocol.
    if (shard.open !== undefined && shard.open.v2 !== this.#protocol.v2) this.#markFull(shard, this.#open(shard, undo), filled)
    const v2 = this.#protocol.v2
    if (item.metadata !== undefined && from === 0 && !v2) {
      // 1.0: metadata as WriteRequest.metadata, once per family and request.
      const b = this.#open(shard, undo)
      reqOf(b).appendMetadata(item, index)
      this.#grew(b, entry, 0)
      b.entries.pop() // a metadata record is not a series
      b.counts.pop()
    }
    if (xs && !v2) {
      // 1.0: the exemplars go in a record of their own, in the shard's open batch.
      const b = this.#open(shard, undo)
      reqOf(b).appendExemplars(item, index, entry)
      this.#grew(b, entry, 0)
    }
    if (xs && v2) {
      // 2.0: they ride with the item's first record (histograms if any, else the first
      // samples). The series' block is made valid first: staging pins the cache until then.
      checkV2Exemplars(item, index)
      entry = enc.labels.fresh(entry, item, index)
      enc.stageExemplars(item, index)
      // In 1.0 they would be a record of their own: counted against the batch they ride in.
      this.#v1Extra = SERIES_OVERHEAD + entry.len + exemplarBytes(item.exemplars ?? [])
    }
    const histograms = hs !== undefined ? this.#histograms(item, index, entry, undo, filled) : 0
    if (n - from <= 0) return histograms // a series without samples carries nothing more to store
    let batch = this.#open(shard, undo)
    const extra = (batch.v2 ? metadataBytes(item) : 0) + this.#v1Extra
    if (prepared === undefined && n <= batcher.room(batch, entry, extra)) {
      reqOf(batch).append(item, index, entry)
      this.#grew(batch, entry, n)
      if (batcher.isFull(batch)) this.#markFull(shard, batch, filled)
      return histograms + n
    }
    // Too long for the open batch: validate (and sort) the whole series, then cut it.
    const p = prepared ?? enc.prepare(item, index, entry)
    let start = from
    while (start < n) {
      batch = this.#open(shard, undo)
      let take = Math.min(n - start, batcher.room(batch, p.entry, (batch.v2 ? metadataBytes(item) : 0) + this.#v1Extra))
      if (take <= 0) {
        if (batch.samples > 0) {
          this.#markFull(shard, batch, filled)
          continue
        }
        take = 1 // a single huge label set still goes out, one sample at a time
      }
      reqOf(batch).appendRange(p, start, start + take)
      this.#grew(batch, p.entry, take)
      start += take
      if (batcher.isFull(batch)) this.#markFull(shard, batch, filled)
    }
    return histograms + n - from
  }

  /**
   * Encodes an item's native histograms as one series record in its shard's open batch (a
   * histogram counts as one sample against the batch limits); returns how many.
   */
  #histograms (item: Item, index: number, entry: CacheEntry, undo: Undo[], filled: Batch[]): number {
    const hs = item.histograms ?? []
    if (hs.length === 0) return 0
    const batcher = this.#batcher
    const shard = batcher.shardOf(entry)
    let batch = this.#open(shard, undo)
    // At most this many bytes as a record (and exemplars staged to ride with it, as 1.0 would send them).
    const bytes = SERIES_OVERHEAD + entry.len + histogramBytes(hs) + this.#v1Extra
    if (batch.samples > 0 && (batch.samples + hs.length > this.#o.maxSamplesPerRequest || batcher.sized(batch) + bytes > this.#o.maxBytesPerRequest)) {
      this.#markFull(shard, batch, filled)
      batch = this.#open(shard, undo)
    }
    reqOf(batch).appendHistograms(item, index, entry)
    this.#v1Extra += histogramBytes(hs)
    this.#grew(batch, entry, hs.length, 0)
    batch.histograms += hs.length
    if (batcher.isFull(batch)) this.#markFull(shard, batch, filled)
    return hs.length
  }

  /** The shard's open batch (a new one if none), recorded for rollback on first touch. */
  #open (shard: Shard, undo: Undo[]): Batch {
    let batch = shard.open
    if (batch === undefined) {
      batch = this.#batcher.open(shard)
      this.#fresh.add(batch)
      undo.push({ batch, samples: 0, histograms: 0, bytes: 0, v1Estimate: 0, series: 0, fresh: true, mark: undefined })
    } else if (!undo.some((u) => u.batch === batch)) {
      undo.push({
        batch, samples: batch.samples, histograms: batch.histograms, bytes: batch.bytes, v1Estimate: batch.v1Estimate, series: batch.entries.length, fresh: false, mark: reqOf(batch).mark(),
      })
    }
    return batch
  }

  /** Accounts for a series record just appended to the batch's request (`sampleBytes`: each sample's 1.0 bytes at most, for v1Estimate). */
  #grew (batch: Batch, entry: CacheEntry, samples: number, sampleBytes = MAX_SAMPLE_BYTES): void {
    const bytes = reqOf(batch).size
    this.#ledger.grow(samples, bytes - batch.bytes)
    batch.bytes = bytes
    batch.v1Estimate += SERIES_OVERHEAD + entry.len + samples * sampleBytes + this.#v1Extra
    this.#v1Extra = 0
    batch.samples += samples
    batch.entries.push(entry)
    batch.counts.push(samples)
  }

  /**
   * A batch is full: it leaves its shard, to be queued when the call succeeds. One this call
   * began is compressed at once (unless `now` is false), which frees its request slot: a call
   * may fill any number of requests (one sample each, when labels nearly fill one), and the
   * core's 4096 slots are only ever held by each shard's open batch and the one it had when
   * the call began (concurrency is at most 1024).
   */
  #markFull (shard: Shard, batch: Batch, filled: Batch[], now = true): void {
    batch.full = true
    shard.open = undefined
    filled.push(batch)
    if (now) this.#compress(batch)
  }

  /** Compresses a full batch this call began; a trap while doing it fails the call (the core was replaced). */
  #compress (batch: Batch): void {
    if (!this.#fresh.has(batch) || batch.req === undefined) return
    this.#batcher.compress(batch)
    if (this.#enc.generation !== this.#batcher.coreGen) throw batch.encodeError
  }

  /** Undoes a failed call. */
  #rollback (undo: Undo[]): void {
    for (const u of undo) {
      const b = u.batch
      this.#ledger.grow(-(b.samples - u.samples), -(b.bytes - u.bytes))
      if (u.fresh) {
        this.#batcher.discard(b)
        if (b.shard.open === b) b.shard.open = undefined
        continue
      }
      reqOf(b).rollback(u.mark as Mark)
      b.samples = u.samples
      b.histograms = u.histograms
      b.bytes = u.bytes
      b.v1Estimate = u.v1Estimate
      b.entries.length = u.series
      b.counts.length = u.series
      // It was the shard's open batch when the call began: it is again.
      b.full = false
      b.shard.open = b
    }
  }
}
