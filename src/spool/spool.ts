/**
 * The spool: requests on disk, in order, from the moment they are sealed until they are
 * acknowledged (or failed for good and reported). A log of segment files, each named by the
 * id of its first record (`00000000000000000001.seg`), records as record.ts describes, and an
 * acknowledgement log (`acks`) of the ids that are done. A segment is deleted once every
 * record in it is done.
 *
 * The writer appends each sealed request (append) and reads them back in order through one
 * cursor (next, body); when the cursor has caught up with the end, a request just appended is
 * taken from memory instead (take), so a writer whose backend keeps up never reads the disk.
 *
 * Writes are plain write(2) calls: what append() returned survives the process being killed.
 * What survives a power cut is what was fsynced: sync() (coalesced, off the main thread), on
 * the `sync` policy's schedule. The acknowledgement of a request is written before the next
 * request of its shard is sent, so a crash resends at most the one request per shard that was
 * on the wire.
 *
 * Opening recovers from damage: a header or body that fails its checksum at the end of a
 * segment (a write torn by a power cut) is cut off; damage in the middle is skipped up to the
 * next good header; both are reported (`warnings`, `corrupt`). A body is checked again when it
 * is read, so nothing damaged is ever sent.
 */
import { closeSync, fdatasyncSync, ftruncateSync, readSync, unlinkSync, writeSync, writevSync } from 'node:fs'
import { join } from 'node:path'
import { SpoolError } from '../errors.js'
import { rewriteAcks, syncDir, writeSlots } from './ack-log.js'
import { ACK_BYTES, HEADER_BYTES, bodyMatches, encodeAck, encodeHeader } from './record.js'
import type { RecordHeader, RecordInfo } from './record.js'
import { Syncer } from './syncer.js'
import { add, count, noCounts } from './types.js'
import type { Counts, SpoolOptions } from './types.js'
import { Segment, createSegment, findHeader, headerAt, lostBefore, markDamaged, openDir, readEntries, segmentOf } from './segment.js'
import type { Damage, Entry } from './segment.js'

export type { RecordHeader, RecordInfo } from './record.js'
export type { Counts, SpoolOptions } from './types.js'
export { Segment } from './segment.js'
export type { Entry } from './segment.js'



const MiB = 1 << 20
const SYNC_INTERVAL = 1000

export class Spool {
  readonly dir: string
  readonly maxBytes: number
  readonly maxAge: number
  readonly syncMode: 'always' | 'batch' | 'none'
  readonly onFull: 'block' | 'dropOldest'
  readonly segmentBytes: number
  /** Bytes of the segment files. */
  bytes = 0
  /** Records not done (spooled, not acknowledged or reported). */
  readonly pending: Counts = noCounts()
  /** What opening found from earlier runs. */
  readonly found: Counts = noCounts()
  /** Damage found: records skipped or cut, and bytes. */
  get corrupt (): { records: number, bytes: number } { return { records: this.#damage.records, bytes: this.#damage.bytes } }
  /** fsyncs done. */
  get syncs (): number { return this.#syncer.syncs }
  /** Appended by this run: requests, and bytes on disk (headers included). */
  readonly appended = { requests: 0, bytes: 0 }
  /** What opening had to say (damage cut or skipped, a stale lock taken over), for the writer to report. */
  readonly warnings: string[]
  readonly #damage: Damage = { records: 0, bytes: 0, warnings: [] }
  /** The first id of this run: records below it were found on opening. */
  readonly firstNewId: number
  /** The shard file the senders write accepted requests to (see record.ts). */
  readonly slotsPath: string
  readonly #segs: Segment[] = []
  #active: Segment
  #cursor: { seg: Segment, offset: number }
  /** Done ids the cursor has not passed (to skip them). */
  readonly #done = new Set<number>()
  #nextId: number
  #acks = -1
  #acksBytes = 0
  #acksBase = 0
  /** The shard file, open to fsync it (the senders write it). */
  #slots = -1
  readonly #syncer: Syncer
  readonly #release: () => void
  readonly #ackBuf = new Uint8Array(ACK_BYTES)
  #closed = false
  /** Told of what goes wrong where nobody waits: a background fsync, an acknowledgement not recorded, damage found. */
  onWarning: (err: SpoolError) => void = () => {}
  /** Told of requests lost to damage found while running (they are not in `pending` any more). */
  onLost: (lost: Counts) => void = () => {}

  /** `shards`: how many shards the writer has (one slot each in the shard file). */
  constructor (o: SpoolOptions, shards = 1) {
    this.dir = o.dir
    this.slotsPath = join(o.dir, 'shards')
    this.#syncer = new Syncer(o.dir)
    this.warnings = this.#damage.warnings
    this.maxBytes = o.maxBytes
    this.maxAge = o.maxAge ?? Infinity
    this.syncMode = o.sync ?? 'batch'
    this.onFull = o.onFull ?? 'block'
    // Small against maxBytes: space comes back a segment at a time, and a segment holding a
    // request on its way to the server (at most two per shard) cannot be dropped yet.
    this.segmentBytes = o.segmentBytes ?? Math.min(64 * MiB, Math.max(16 << 10, Math.floor(o.maxBytes / 64)))
    const dir = o.dir
    const { release, done, segs, maxId } = openDir(dir, this.slotsPath, this.#damage)
    this.#release = release
    try {
      this.#segs.push(...segs)
      for (const seg of segs) this.bytes += seg.size
      for (const seg of segs) add(this.pending, seg.left)
      this.#nextId = this.firstNewId = maxId + 1
      for (const seg of segs) if (seg.live === 0) this.#delete(seg)
      for (const id of done) if (segmentOf(this.#segs, id) !== undefined) this.#done.add(id)
      this.#active = this.#create(this.#nextId)
      this.#cursor = { seg: this.#segs[0], offset: 0 }
      this.#rewriteAcks(done)
      // The slots are in the log now (fsynced, unless sync is 'none'): a fresh shard file.
      if (this.syncMode !== 'none') syncDir(dir)
      this.#slots = writeSlots(this.slotsPath, shards, this.syncMode !== 'none')
      this.#syncer.dirDirty = true
      Object.assign(this.found, this.pending)
    } catch (err) {
      this.#closeAll()
      this.#release()
      if (err instanceof SpoolError) throw err
      throw new SpoolError(`cannot open spool ${dir}: ${(err as Error).message}`, dir, { cause: err })
    }
    if (this.syncMode === 'batch') this.#syncer.every(SYNC_INTERVAL, (err) => this.onWarning(err))
  }

  /** Whether producers must wait (onFull 'block' and the spool holds maxBytes). */
  full (): boolean {
    // Acknowledged requests in the active segment take no room: it goes, a new one begins.
    if (this.bytes >= this.maxBytes && this.#active.live === 0 && this.#active.size > 0 && !this.#closed) {
      try {
        this.#roll()
      } catch (err) {
        this.#failed(err, 'begin a segment in')
      }
    }
    return this.bytes >= this.maxBytes
  }

  /**
   * Appends a request; returns its entry. Throws SpoolError when the disk refuses (the segment
   * is cut back to what it was: no torn record stays behind).
   */
  append (info: RecordInfo, body: Uint8Array): Entry {
    this.#checkOpen()
    let seg = this.#active
    if (seg.size > 0 && seg.size + HEADER_BYTES + body.length > this.segmentBytes) seg = this.#roll()
    const id = this.#nextId
    const header = encodeHeader(id, info, body)
    const at = seg.size
    const n = HEADER_BYTES + body.length
    try {
      let written = 0
      while (written < n) {
        written += written < HEADER_BYTES
          ? writevSync(seg.fd, [header.subarray(written), body], at + written)
          : writeSync(seg.fd, body, written - HEADER_BYTES, n - written, at + written)
      }
      if (this.syncMode === 'always') fdatasyncSync(seg.fd)
    } catch (err) {
      try {
        ftruncateSync(seg.fd, at)
      } catch { /* the next append overwrites it, and opening cuts it */ }
      throw new SpoolError(`cannot write to spool ${this.dir}: ${(err as Error).message}`, seg.path, { cause: err })
    }
    this.#nextId++
    seg.size += n
    seg.live++
    count(seg.left, 1, info, n)
    seg.newest = Math.max(seg.newest, info.created)
    if (this.syncMode !== 'always') this.#syncer.mark(seg.fd)
    this.bytes += n
    this.appended.requests++
    this.appended.bytes += n
    count(this.pending, 1, info, n)
    return { id, seg, offset: at, h: { ...info, id, bodyBytes: body.length, bodyCrc: 0 } }
  }

  /**
   * Takes a just-appended entry from memory, past the cursor, when the cursor had caught up
   * with it (nothing older waits on disk). Returns false when it must wait its turn in next().
   */
  take (e: Entry): boolean {
    const c = this.#cursor
    if (c.seg !== e.seg || c.offset !== e.offset) return false
    c.offset += HEADER_BYTES + e.h.bodyBytes
    count(e.seg.out, 1, e.h, HEADER_BYTES + e.h.bodyBytes)
    return true
  }

  /** The next record not done, in order, or undefined when the cursor has caught up. */
  next (): Entry | undefined {
    this.#checkOpen()
    const c = this.#cursor
    const head = new Uint8Array(HEADER_BYTES)
    for (;;) {
      const seg = c.seg
      if (c.offset >= seg.size) {
        if (seg === this.#active) return undefined
        c.seg = this.#segs[this.#segs.indexOf(seg) + 1]
        c.offset = 0
        continue
      }
      const skip = seg.skips.find(([from]) => from === c.offset)
      if (skip !== undefined) {
        c.offset = skip[1]
        continue
      }
      let h: RecordHeader | undefined
      try {
        h = headerAt(seg, c.offset, head)
      } catch (err) {
        this.#failed(err, 'read')
      }
      if (h === undefined || c.offset + HEADER_BYTES + h.bodyBytes > seg.size) {
        // Changed (or unreadable) since it was written: skipped to the next good header.
        this.#damagedMidRun(seg, c.offset)
        continue
      }
      const e: Entry = { id: h.id, seg, offset: c.offset, h }
      c.offset += HEADER_BYTES + h.bodyBytes
      if (this.#done.delete(h.id)) continue
      count(seg.out, 1, h, HEADER_BYTES + h.bodyBytes)
      return e
    }
  }

  /** Puts back the entry next() returned last: it comes again. */
  unread (e: Entry): void {
    this.#cursor.seg = e.seg
    this.#cursor.offset = e.offset
    count(e.seg.out, -1, e.h, HEADER_BYTES + e.h.bodyBytes)
  }

  /**
   * The entry's body, read from disk (into `into` when given, at least bodyBytes long), or
   * undefined when it does not match its checksum.
   */
  body (e: Entry, into: Uint8Array = new Uint8Array(e.h.bodyBytes)): Uint8Array | undefined {
    this.#checkOpen()
    const buf = into.subarray(0, e.h.bodyBytes)
    try {
      const n = readSync(e.seg.fd, buf, 0, buf.length, e.offset + HEADER_BYTES)
      if (n !== buf.length || !bodyMatches(e.h, buf)) return undefined
    } catch (err) {
      this.#failed(err, 'read')
      return undefined
    }
    return buf
  }

  /** Counts a record found damaged when it was read (it is also made done, by the caller). */
  damagedRecord (e: Entry): void { markDamaged(e.seg, e.offset, e.offset + HEADER_BYTES + e.h.bodyBytes, 'its body does not match its checksum', this.#damage) }

  /**
   * The entry is done (acknowledged, or failed for good and reported): it never comes again.
   * The segment goes once every record in it is done.
   */
  done (e: Entry, slotted = false): void {
    const seg = e.seg
    if (this.#closed || seg.fd < 0) return
    // Never throws: the accounts move first; a disk that fails here costs at most a resend
    // after a restart, and flush() says so.
    try {
      if (!slotted) {
        writeSync(this.#acks, encodeAck(e.id, this.#ackBuf))
        this.#acksBytes += ACK_BYTES
        this.#syncer.mark(this.#acks)
      } else if (this.#slots >= 0) {
        this.#syncer.mark(this.#slots)
      }
    } catch (err) {
      this.#failed(err, 'record an acknowledgement in')
    }
    seg.live--
    const n = HEADER_BYTES + e.h.bodyBytes
    count(seg.left, -1, e.h, n)
    count(this.pending, -1, e.h, n)
    if (this.passed(e)) count(seg.out, -1, e.h, n)
    else this.#done.add(e.id)
    try {
      // (Never while a request of it is on its way: its file is its only durable copy.)
      if (seg.live === 0 && seg.out.requests <= 0 && seg !== this.#active) this.#delete(seg)
      if (this.#acksBytes > 2 * this.#acksBase + MiB) this.#rewriteAcks()
    } catch (err) {
      this.#failed(err, 'clean up')
    }
  }

  /**
   * A header the cursor met that is no longer good (the disk changed under the spool, or cannot
   * be read): the cursor goes on at the next good header, and the records in between, which
   * cannot be told apart, are counted from the segment's accounts: they are lost, never sent.
   */
  #damagedMidRun (seg: Segment, from: number): void {
    let to = -1
    try {
      to = findHeader(seg.fd, from + 1, seg.size)
    } catch (err) {
      this.#failed(err, 'read') // unreadable: the rest of the segment is lost, and said so
    }
    const end = to < 0 ? seg.size : to
    markDamaged(seg, from, end, 'its header was damaged after it was written', this.#damage)
    this.#cursor.offset = end
    const lost = lostBefore(seg, end, this.entries(seg))
    if (lost.requests > 0) {
      seg.live -= lost.requests
      add(seg.left, lost, -1)
      add(this.pending, lost, -1)
      this.onLost(lost)
    }
    this.onWarning(new SpoolError(`spool ${this.dir}: ${this.warnings[this.warnings.length - 1]}; ${lost.requests} requests (${lost.samples} samples) in them are lost`, seg.path))
    if (seg.live === 0 && seg.out.requests <= 0 && seg !== this.#active) this.#delete(seg)
  }

  /**
   * A disk error where nothing can throw: warned about (onWarning) and, unless it is a read
   * error, thrown by the next sync() (flush() rejects with it).
   */
  #failed (err: unknown, what: string): void {
    const e = new SpoolError(`cannot ${what} spool ${this.dir}: ${(err as Error)?.message ?? err}`, this.dir, { cause: err })
    // A read error costs what could not be read (reported as such), not durability.
    if (what !== 'read') this.#syncer.fail(e)
    this.onWarning(e)
  }

  /** Segments before the active one, oldest first (for dropping and expiring). */
  oldSegments (): readonly Segment[] {
    return this.#segs.slice(0, -1)
  }

  /** The active segment is closed and a new one begun (so that all of it can be dropped). */
  roll (): void {
    if (this.#active.size > 0) this.#roll()
  }

  /** Every record of a segment not done, in order: the ones the cursor passed and the ones ahead. */
  entries (seg: Segment): Entry[] {
    // Behind the cursor, a record not done is held by the writer; ahead, the done set knows.
    const done = (id: number, offset: number): boolean => !this.passed({ seg, offset }) && this.#done.has(id)
    return readEntries(seg, done, (err) => this.#failed(err, 'read'))
  }

  /** Whether the cursor is past an entry (it was handed out by next() or take()). */
  passed (e: Pick<Entry, 'seg' | 'offset'>): boolean {
    const c = this.#cursor
    return e.seg.firstId < c.seg.firstId || (e.seg === c.seg && e.offset < c.offset)
  }

  /**
   * fsyncs what was written since the last one (segments, the acknowledgement log, the shard
   * file, the directory), off the main thread. Calls made while one runs share the next.
   * Rejects with SpoolError when the disk fails.
   */
  sync (): Promise<void> {
    if (this.#closed || this.syncMode === 'none') return Promise.resolve()
    return this.#syncer.sync()
  }

  /** Syncs (unless 'none'), closes every file and releases the lock. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    try {
      await this.sync()
    } finally {
      await this.#syncer.stop()
      // Everything done: the directory is left with no segment to open next time.
      if (this.#active.live === 0) {
        try {
          this.#delete(this.#active)
        } catch { /* removed by hand */ }
      }
      this.#closed = true
      this.#closeAll()
      this.#release()
    }
  }

  #checkOpen (): void {
    if (this.#closed) throw new SpoolError(`spool ${this.dir} is closed`, this.dir)
  }

  #create (firstId: number): Segment {
    // 'always': its name is on disk before a record in it counts as durable.
    const seg = createSegment(this.dir, firstId, this.syncMode === 'always')
    this.#segs.push(seg)
    this.#syncer.dirDirty = true
    return seg
  }

  #roll (): Segment {
    const old = this.#active
    this.#active = this.#create(this.#nextId)
    if (old.live === 0) this.#delete(old)
    return this.#active
  }

  #delete (seg: Segment): void {
    const i = this.#segs.indexOf(seg)
    if (i < 0) return
    this.#segs.splice(i, 1)
    const c = this.#cursor as { seg: Segment, offset: number } | undefined
    if (c !== undefined && c.seg === seg) {
      c.seg = this.#segs[i]
      c.offset = 0
    }
    unlinkSync(seg.path)
    // Closing the last descriptor of an unlinked file frees its pages: off the main thread.
    this.#syncer.release(seg.fd)
    seg.fd = -1
    this.bytes -= seg.size
    this.#syncer.dirDirty = true
    const next = this.#segs[i]?.firstId ?? Infinity
    for (const id of this.#done) if (id >= seg.firstId && id < next) this.#done.delete(id)
  }

  /** A new acknowledgement log of the done ids still in live segments (and `more`), replacing the old. */
  #rewriteAcks (more?: Set<number>): void {
    const old = this.#acks
    const { fd, bytes } = rewriteAcks(this.dir, (id) => segmentOf(this.#segs, id) !== undefined, this.syncMode !== 'none', more)
    this.#syncer.dirDirty = true
    if (old >= 0) this.#syncer.release(old)
    this.#acks = fd
    this.#acksBytes = bytes
    this.#acksBase = bytes
  }

  #closeAll (): void {
    if (this.#slots >= 0) closeSync(this.#slots)
    this.#slots = -1
    for (const s of this.#segs) {
      if (s.fd >= 0) closeSync(s.fd)
      s.fd = -1
    }
    if (this.#acks >= 0) closeSync(this.#acks)
    this.#acks = -1
  }
}

