/**
 * The writer's side of a spool (src/spool/): every sealed batch is appended to the spool
 * before it is queued, and the shards are fed from the spool in order through a window of
 * batches in memory (bounded by maxBufferedSamples / maxBufferedBytes). While the backend keeps
 * up, a batch just spooled goes straight into the window, its body still in memory; when it
 * does not (an outage), batches wait on disk only, and the window is refilled from the disk as
 * batches settle. Producers wait only when the spool is full (onFull 'block').
 *
 * A batch leaves the spool when it settles: acknowledged, or failed for good and reported.
 * What the spool's policies drop ('spool-full' for onFull 'dropOldest', 'expired' past
 * maxAge, 'corrupt' for a record damaged on disk) is reported like any failed batch: per
 * batch, with its series and counts.
 *
 * A spool written by a writer with another number of shards is replayed as it was sharded,
 * shard i going to shard i mod n, and the window does not mix its requests with newer ones:
 * each series stays in order.
 */
import { Codec } from '../codec/codec.js'
import { NO_LIMITS } from '../codec/decode-limits.js'
import { SpoolError } from '../errors.js'
import type { FailedSeries, FailureReason } from '../errors.js'
import { slot } from '../spool/record.js'
import { Spool } from '../spool/spool.js'
import type { Entry, SpoolOptions } from '../spool/spool.js'
import { Batch } from './batch.js'
import type { BodyPool, Shard, Tracker } from './batch.js'
import type { Events, Ledger } from './ledger.js'
import type { Resolved } from './options.js'

/** What stats() says about the spool. */
export interface SpoolStats {
  dir: string
  /** Bytes of its segment files, and the most it may take. */
  bytes: number
  maxBytes: number
  /** onFull 'block' and the spool holds maxBytes: producers wait. */
  full: boolean
  /** Requests in it not acknowledged yet (waiting, in memory or on the wire). */
  pending: { requests: number, series: number, samples: number, bytes: number }
  /** Found on opening, from an earlier run. */
  found: { requests: number, series: number, samples: number, bytes: number }
  /** Of those found, acknowledged by this writer. */
  replayed: { requests: number, samples: number }
  /** Dropped by its policies, each reported as a failed batch: onFull 'dropOldest', maxAge. */
  dropped: { requests: number, samples: number }
  expired: { requests: number, samples: number }
  /** Damage found on disk (cut or skipped, never sent): records and bytes. */
  corrupt: { records: number, bytes: number }
  /** Written by this writer: requests, and bytes on disk (record headers included). */
  appended: { requests: number, bytes: number }
  /** fsyncs done. */
  syncs: number
}


export class SpoolFeed {
  readonly spool: Spool
  readonly #shards: readonly Shard[]
  readonly #ledger: Ledger
  readonly #pool: BodyPool
  readonly #o: Resolved
  readonly #events: Events
  readonly #pump: (shard: Shard) => void
  /** Batches in memory (the window), by record id, until they settle. */
  readonly #window = new Map<number, Batch>()
  /** send() calls' shares of the batches waiting on disk, by record id. */
  readonly #trackers = new Map<number, Map<Tracker, { series: number, samples: number }>>()
  /** How many shards the window's batches were sharded over. */
  #era: number
  #filling = false
  #stopped = false
  #sweep: NodeJS.Timeout | undefined
  #describer: Codec | undefined
  /** An append that failed since the last flush(): flush() rejects with it. */
  #writeError: SpoolError | undefined
  /** Causes already warned about (each once). */
  readonly #warned = new Set<string>()
  readonly replayed = { requests: 0, samples: 0 }
  readonly dropped = { requests: 0, samples: 0 }
  readonly expired = { requests: 0, samples: 0 }
  /** Batches the spool could not take (a disk error), held in memory only until they settle. */
  readonly #memoryOnly = new Set<Batch>()
  /** Resolves the waits for an empty window (close()). */
  #emptied: Array<() => void> = []

  constructor (options: SpoolOptions, shards: readonly Shard[], ledger: Ledger, pool: BodyPool, o: Resolved, events: Events, pump: (shard: Shard) => void) {
    this.spool = new Spool(options, shards.length)
    this.#shards = shards
    this.#ledger = ledger
    this.#pool = pool
    this.#o = o
    this.#events = events
    this.#pump = pump
    this.#era = shards.length
    this.spool.onWarning = (err) => this.#warn(err.message)
    this.spool.onLost = (lost) => ledger.lost('corrupt', `${this.spool.dir}: ${lost.requests} requests damaged on disk while spooled: not sent`, lost)
    ledger.spool = {
      full: (memory) => this.#full(memory),
      settled: (batch, how) => this.#settled(batch, how),
      series: (batch) => this.#series(batch),
    }
    if (this.spool.maxAge !== Infinity) {
      this.#sweep = setInterval(() => this.#expire(), Math.max(10, Math.min(10_000, this.spool.maxAge / 4)))
      this.#sweep.unref()
    }
  }

  /** Starts: reports what opening found and replays it. */
  start (): void {
    for (const w of this.spool.warnings) this.#warn(w)
    const f = this.spool.found
    if (f.requests > 0) this.#events.emit('spool', { event: 'replay', dir: this.spool.dir, requests: f.requests, samples: f.samples, bytes: f.bytes })
    this.#fill()
  }

  /**
   * Whether producers must wait. Always when the spool is full under onFull 'block'. Otherwise,
   * for a full memory window only while sending keeps up (nothing waits on disk, no shard is
   * failing): then the spool costs no reads, as a writer without one. While the backend fails
   * or a backlog drains, batches go to disk and producers go on.
   */
  #full (memory: boolean): boolean {
    if (this.spool.onFull === 'block' && this.spool.full()) return true
    return memory && (this.#keepingUp() || this.#memoryOnly.size > 0)
  }

  /** Nothing waits on disk to be loaded, and no shard is failing. */
  #keepingUp (): boolean {
    return this.spool.pending.requests <= this.#window.size && !this.#shards.some((s) => s.failing)
  }

  #sameEra (e: Entry): boolean {
    return this.#window.size === 0 || e.h.shards === this.#era
  }

  /** Nothing is pending in the spool (everything spooled is done). */
  idle (): boolean {
    return this.spool.pending.requests === 0 && this.#window.size === 0
  }

  /** A sealed batch: spooled, then queued (or left on disk until the window has room for it). */
  admit (batch: Batch): void {
    const body = batch.body
    if (body === undefined || this.#stopped) {
      // Nothing to spool (it failed to encode: it is reported), or the spool is closed.
      this.#queue(batch)
      return
    }
    let e: Entry
    try {
      e = this.spool.append({
        v2: batch.v2, shard: batch.shard.index, shards: this.#shards.length, series: batch.entries.length,
        samples: batch.samples, histograms: batch.histograms, rawBytes: batch.rawBytes, created: batch.created, first: NaN, last: NaN,
      }, body)
    } catch (err) {
      // The disk refused: the batch is sent from memory (which bounds producers again while
      // such batches wait), and flush() says it is not durable.
      this.#writeError = err as SpoolError
      this.#warn(`${(err as Error).message}; requests are held in memory until it works again`)
      this.#memoryOnly.add(batch)
      this.#queue(batch)
      return
    }
    batch.entry = e
    batch.ack = slot(batch.shard.index, e.id)
    // The batch is counted in memory already: it joins the window if memory without it is
    // within the bounds (producers that heed backpressure keep it so; others spill to disk).
    const l = this.#ledger
    const fits = this.#window.size === 0 || (this.#sameEra(e) && l.bufferedSamples - batch.samples < this.#o.maxBufferedSamples && l.bufferedBytes - batch.bytes < this.#o.maxBufferedBytes)
    if (fits && this.spool.take(e)) {
      this.#era = e.h.shards
      this.#window.set(e.id, batch)
      this.#queue(batch)
    } else {
      // It waits on disk: out of memory, and out of the memory bounds.
      if (batch.trackers.size > 0) this.#trackers.set(e.id, batch.trackers)
      this.#ledger.grow(-batch.samples, -batch.bytes)
      if (batch.pooled !== undefined) this.#pool.give(batch.pooled)
      batch.pooled = undefined
      batch.body = undefined
    }
    if (this.spool.onFull === 'dropOldest' && this.spool.bytes > this.spool.maxBytes) this.#dropOldest()
  }

  /** For flush(): fsyncs what was spooled; rejects when an append or the fsync failed. */
  async durable (): Promise<void> {
    const failed = this.#writeError
    this.#writeError = undefined
    if (failed !== undefined) throw new SpoolError(`not everything written is durable: ${failed.message}`, failed.path, { cause: failed })
    await this.spool.sync()
  }

  /** Resolves when no batch is in memory any more (after an abort, what is queued is left quickly). */
  emptied (): Promise<void> {
    if (this.#window.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.#emptied.push(resolve))
  }

  /** No more loading from disk (the writer was aborted, or is closing after its deadline). */
  stop (): void {
    if (!this.#stopped) {
      // send() calls whose requests wait on disk: they stay there, and the callers are told.
      for (const trackers of this.#trackers.values()) this.#ledger.leaveTrackers(trackers, 'the writer stopped before this request was sent')
      this.#trackers.clear()
    }
    this.#stopped = true
    if (this.#sweep !== undefined) clearInterval(this.#sweep)
    this.#sweep = undefined
  }

  async close (): Promise<void> {
    this.stop()
    await this.spool.close()
  }

  stats (): SpoolStats {
    const s = this.spool
    return {
      dir: s.dir, bytes: s.bytes, maxBytes: s.maxBytes, full: s.onFull === 'block' && s.full(), pending: { ...s.pending }, found: { ...s.found },
      replayed: { ...this.replayed }, dropped: { ...this.dropped }, expired: { ...this.expired }, corrupt: { ...s.corrupt }, appended: { ...s.appended }, syncs: s.syncs,
    }
  }

  /** Whether the window takes the entry: room in memory (or an empty window), and the same sharding. */
  #room (e: Entry): boolean {
    if (this.#window.size === 0) return true
    const l = this.#ledger
    return e.h.shards === this.#era && l.bufferedSamples < this.#o.maxBufferedSamples && l.bufferedBytes < this.#o.maxBufferedBytes
  }

  #queue (batch: Batch): void {
    batch.shard.queue.push(batch)
    this.#pump(batch.shard)
  }

  /** Loads batches from disk into the window while it has room. */
  #fill (): void {
    if (this.#filling || this.#stopped) return
    this.#filling = true
    const touched = new Set<Shard>()
    try {
      for (;;) {
        const e = this.spool.next()
        if (e === undefined) break
        if (!this.#room(e)) {
          this.spool.unread(e)
          break
        }
        const shard = this.#shards[e.h.shard % this.#shards.length]
        if (Date.now() - e.h.created > this.spool.maxAge) {
          this.#drop(e, shard, 'expired')
          continue
        }
        const pooled = this.#pool.take(e.h.bodyBytes)
        const body = this.spool.body(e, pooled)
        if (body === undefined) {
          this.#pool.give(pooled)
          this.spool.damagedRecord(e)
          this.#warn(`spool ${this.spool.dir}: request ${e.id} (${e.h.samples} samples) is damaged on disk (its checksum does not match); it is reported failed, not sent`)
          this.#drop(e, shard, 'corrupt')
          continue
        }
        const batch = Batch.fromSpool(e, body, shard)
        batch.pooled = pooled
        batch.ack = slot(shard.index, e.id)
        const trackers = this.#trackers.get(e.id)
        if (trackers !== undefined) batch.trackers = trackers
        this.#trackers.delete(e.id)
        this.#era = e.h.shards
        this.#ledger.grow(batch.samples, batch.bytes)
        this.#window.set(e.id, batch)
        shard.queue.push(batch)
        touched.add(shard)
      }
    } finally {
      this.#filling = false
    }
    for (const shard of touched) this.#pump(shard)
  }

  /** The ledger settled a batch: done ones leave the spool; the window is refilled. */
  #settled (batch: Batch, how: 'ok' | 'failed' | 'left'): void {
    const e = batch.entry
    if (e === undefined) {
      this.#memoryOnly.delete(batch)
      return
    }
    this.#window.delete(e.id)
    this.#trackers.delete(e.id)
    if (how !== 'left') {
      this.spool.done(e, batch.acked)
      if (e.id < this.spool.firstNewId && how === 'ok') {
        this.replayed.requests++
        this.replayed.samples += batch.samples
      }
    }
    if (this.#window.size === 0) {
      const waiters = this.#emptied
      this.#emptied = []
      for (const w of waiters) w()
    }
    // Not from inside the ledger's settling: the shard's own bookkeeping comes first.
    queueMicrotask(() => this.#fill())
  }

  /**
   * Reports a record dropped by a policy (or damaged) as a failed batch, from its record:
   * counts from the header, series from its body when it can be read.
   */
  #drop (e: Entry, shard: Shard, reason: FailureReason): void {
    const batch = this.#window.get(e.id) ?? Batch.fromSpool(e, undefined, shard)
    if (!this.#window.has(e.id)) {
      const trackers = this.#trackers.get(e.id)
      if (trackers !== undefined) batch.trackers = trackers
      // It comes into the accounts to leave them: the ledger returns what it held.
      this.#ledger.grow(batch.samples, batch.bytes)
    } else if (!batch.handed) {
      const q = batch.shard.queue
      q.splice(q.indexOf(batch), 1)
    }
    const counts = reason === 'expired' ? this.expired : this.dropped
    if (reason !== 'corrupt') {
      counts.requests++
      counts.samples += batch.samples
    }
    const message = reason === 'expired'
      ? `dropped from the spool: older than maxAge (${this.spool.maxAge} ms)`
      : reason === 'spool-full' ? `dropped from the spool: spool full (maxBytes ${this.spool.maxBytes}, onFull 'dropOldest')` : 'damaged in the spool: not sent'
    this.#ledger.fail(batch, reason, message, 0)
  }

  /** A batch being attempted that passed maxAge is dropped (true) before its next attempt. */
  expire (batch: Batch): boolean {
    if (batch.entry === undefined || Date.now() - batch.created <= this.spool.maxAge) return false
    this.#drop(batch.entry, batch.shard, 'expired')
    return true
  }

  /** Drops the oldest requests not being attempted until the spool is within maxBytes. */
  #dropOldest (): void {
    const spool = this.spool
    let pass = 0
    while (spool.bytes > spool.maxBytes && pass++ < 2) {
      if (spool.oldSegments().length === 0) spool.roll()
      for (const seg of spool.oldSegments()) {
        for (const e of spool.entries(seg)) this.#dropUnlessHanded(e, 'spool-full')
        if (spool.bytes <= spool.maxBytes) return
      }
    }
  }

  #dropUnlessHanded (e: Entry, reason: FailureReason): void {
    const inWindow = this.#window.get(e.id)
    if (inWindow?.handed === true) return
    // Ahead of the cursor it is made done without being read; behind it, it is in the window.
    if (inWindow === undefined && this.spool.passed(e)) return
    this.#drop(e, this.#shards[e.h.shard % this.#shards.length], reason)
  }

  /** maxAge: requests older than it, in the window (not being attempted) or on disk, are dropped. */
  #expire (): void {
    if (this.#stopped) return
    const now = Date.now()
    const maxAge = this.spool.maxAge
    for (const b of [...this.#window.values()]) {
      if (!b.handed && b.entry !== undefined && now - b.created > maxAge) this.#drop(b.entry, b.shard, 'expired')
    }
    for (const seg of this.spool.oldSegments()) {
      if (now - seg.newest <= maxAge) break
      for (const e of this.spool.entries(seg)) this.#dropUnlessHanded(e, 'expired')
    }
    this.#fill()
  }

  /** The series of a batch read back from the spool (for its BatchError), decoded from its body. */
  #series (batch: Batch): FailedSeries[] {
    try {
      const body = batch.body ?? (batch.entry !== undefined ? this.spool.body(batch.entry) : undefined)
      if (body === undefined) return []
      this.#describer ??= new Codec({ autoConvertSecondsToMs: false, strictTimestamps: false, sortSamples: false, seriesCacheBytes: 0, maxDecodedBytes: 64 << 20 })
      const items = batch.v2 ? this.#describer.decodeV2(body, NO_LIMITS).items : this.#describer.decode(body, NO_LIMITS)
      return items.map((it) => ({ labels: it.metric, samples: it.values.length + (it.histograms?.length ?? 0) }))
    } catch {
      return []
    }
  }

  /** A warning, once per cause: the writer's 'warning' event, or a process warning without a listener. */
  #warn (message: string): void {
    const cause = message.replace(/\d+/g, 'N')
    if (this.#warned.has(cause)) return
    this.#warned.add(cause)
    if (this.#events.listens('warning')) this.#events.emit('warning', new SpoolError(message, this.spool.dir))
    else process.emitWarning(message, { type: 'SpoolWarning', code: 'ERR_PRW_SPOOL' })
  }
}
