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
import {
  close, closeSync, fdatasync, fdatasyncSync, fstatSync, fsync, fsyncSync, ftruncateSync, mkdirSync, openSync, readSync, readdirSync,
  renameSync, unlinkSync, writeSync, writevSync,
} from 'node:fs'
import { join } from 'node:path'
import { SpoolError } from '../errors.js'
import { lockDir } from './lock.js'
import { ACK_BYTES, HEADER_BYTES, MAGIC, bodyMatches, decodeAck, decodeHeader, decodeSlots, encodeAck, encodeHeader, encodeSlotsHeader } from './record.js'
import type { RecordHeader, RecordInfo } from './record.js'

export type { RecordHeader, RecordInfo } from './record.js'

/** How a spool is used. */
export interface SpoolOptions {
  /** The directory (created if missing). One writer (one process) at a time. */
  dir: string
  /** Disk the spool may take, in bytes (segment files; at least 1 MiB). */
  maxBytes: number
  /** Requests spooled longer ago than this (ms) are dropped and reported ('expired'). Default: never. */
  maxAge?: number
  /**
   * When data is fsynced. 'batch' (default): at least every second and at every flush().
   * 'always': every request, before it is sent. 'none': never (flush() means written to the
   * OS: it survives the process, not a power cut).
   */
  sync?: 'always' | 'batch' | 'none'
  /**
   * When the spool holds maxBytes: 'block' (default) makes producers wait, as a full memory
   * buffer does; 'dropOldest' deletes the oldest requests, each reported failed ('spool-full').
   */
  onFull?: 'block' | 'dropOldest'
  /** Bytes per segment file. Default maxBytes / 8, from 1 to 64 MiB. */
  segmentBytes?: number
}

/** One segment file. */
export class Segment {
  readonly firstId: number
  readonly path: string
  fd: number
  /** Bytes of whole records: where the next append goes. */
  size = 0
  /** Records not done yet. */
  live = 0
  /** Written since the last fsync. */
  dirty = false
  /** Newest record's `created`. */
  newest = 0
  /** Damaged ranges found when opening: [from, to) offsets the cursor jumps over. */
  readonly skips: Array<[number, number]> = []
  constructor (firstId: number, path: string, fd: number) {
    this.firstId = firstId
    this.path = path
    this.fd = fd
  }
}

/** A record not done yet: where it is and what it says. */
export interface Entry {
  readonly id: number
  readonly seg: Segment
  readonly offset: number
  readonly h: RecordHeader
}

export interface Counts { requests: number, samples: number, bytes: number }

const SEGMENT_RE = /^(\d{20})\.seg$/
const segName = (id: number): string => `${String(id).padStart(20, '0')}.seg`
const MiB = 1 << 20
const SYNC_INTERVAL = 1000
const MAGIC_BYTES = Buffer.alloc(4)
MAGIC_BYTES.writeUInt32LE(MAGIC)

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
  readonly pending: Counts = { requests: 0, samples: 0, bytes: 0 }
  /** What opening found from earlier runs. */
  readonly found: Counts = { requests: 0, samples: 0, bytes: 0 }
  /** Damage found: records skipped or cut, and bytes. */
  readonly corrupt = { records: 0, bytes: 0 }
  /** fsyncs done. */
  syncs = 0
  /** Appended by this run: requests, and bytes on disk (headers included). */
  readonly appended = { requests: 0, bytes: 0 }
  /** What opening had to say (damage cut or skipped, a stale lock taken over), for the writer to report. */
  readonly warnings: string[] = []
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
  #acks: number
  #acksBytes = 0
  #acksBase = 0
  #acksDirty = false
  /** The shard file, open to fsync it (the senders write it). */
  #slots = -1
  #slotsDirty = false
  #dirDirty = false
  #syncing: Promise<void> | undefined
  #again: Promise<void> | undefined
  /** File descriptors to close once the sync under way is over. */
  #closeLater: number[] = []
  #timer: NodeJS.Timeout | undefined
  readonly #release: () => void
  readonly #ackBuf = new Uint8Array(ACK_BYTES)
  #closed = false
  /** Called when a background fsync fails. */
  onSyncError: (err: SpoolError) => void = () => {}

  /** `shards`: how many shards the writer has (one slot each in the shard file). */
  constructor (o: SpoolOptions, shards = 1) {
    this.dir = o.dir
    this.slotsPath = join(o.dir, 'shards')
    this.maxBytes = o.maxBytes
    this.maxAge = o.maxAge ?? Infinity
    this.syncMode = o.sync ?? 'batch'
    this.onFull = o.onFull ?? 'block'
    this.segmentBytes = o.segmentBytes ?? Math.min(64 * MiB, Math.max(MiB, Math.floor(o.maxBytes / 8)))
    const dir = o.dir
    try {
      mkdirSync(dir, { recursive: true })
    } catch (err) {
      throw new SpoolError(`cannot create spool directory ${dir}: ${(err as Error).message}`, dir, { cause: err })
    }
    const lock = lockDir(dir)
    this.#release = lock.release
    try {
      if (lock.tookOver !== undefined) this.warnings.push(`spool ${dir}: took over the lock of process ${lock.tookOver}, which is gone`)
      const done = this.#readAcks()
      // What the senders of the last run saw accepted: every request of a slot's shard up to its id.
      const slots = this.#readSlots()
      const accepted = slots === undefined
        ? undefined
        : (h: RecordHeader): boolean => h.id <= slots[h.shard % slots.length]
      let maxId = 0
      for (const id of done) maxId = Math.max(maxId, id)
      const names = readdirSync(dir).filter((n) => SEGMENT_RE.test(n)).sort()
      for (const name of names) {
        const seg = this.#scan(name, done, accepted)
        maxId = Math.max(maxId, seg.maxId)
      }
      this.#nextId = maxId + 1
      this.firstNewId = this.#nextId
      for (const seg of [...this.#segs]) {
        if (seg.live === 0) this.#delete(seg)
      }
      const liveIds = (id: number): boolean => this.#segOf(id) !== undefined
      for (const id of done) if (liveIds(id)) this.#done.add(id)
      this.#active = this.#create(this.#nextId)
      this.#cursor = { seg: this.#segs[0], offset: 0 }
      this.#acks = this.#rewriteAcks(done)
      // The slots are in the log now (fsynced, unless sync is 'none'): a fresh shard file.
      this.#writeSlots(shards)
      this.found.requests = this.pending.requests
      this.found.samples = this.pending.samples
      this.found.bytes = this.pending.bytes
    } catch (err) {
      this.#closeAll()
      this.#release()
      if (err instanceof SpoolError) throw err
      throw new SpoolError(`cannot open spool ${dir}: ${(err as Error).message}`, dir, { cause: err })
    }
    if (this.syncMode === 'batch') {
      this.#timer = setInterval(() => {
        if (this.#dirty()) this.sync().catch((err: SpoolError) => this.onSyncError(err))
      }, SYNC_INTERVAL)
      this.#timer.unref()
    }
  }

  /** Whether producers must wait (onFull 'block' and the spool holds maxBytes). */
  full (): boolean {
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
    seg.newest = Math.max(seg.newest, info.created)
    seg.dirty = this.syncMode !== 'always'
    this.bytes += n
    this.appended.requests++
    this.appended.bytes += n
    this.pending.requests++
    this.pending.samples += info.samples
    this.pending.bytes += n
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
      const h = readSync(seg.fd, head, 0, HEADER_BYTES, c.offset) === HEADER_BYTES ? decodeHeader(head) : undefined
      if (h === undefined || c.offset + HEADER_BYTES + h.bodyBytes > seg.size) {
        // Changed under us since it was scanned: the rest of the segment is not trusted.
        this.#damaged(seg, c.offset, seg.size, 'its header changed on disk since it was written')
        c.offset = seg.size
        continue
      }
      const e: Entry = { id: h.id, seg, offset: c.offset, h }
      c.offset += HEADER_BYTES + h.bodyBytes
      if (this.#done.delete(h.id)) continue
      return e
    }
  }

  /** Puts back the entry next() returned last: it comes again. */
  unread (e: Entry): void {
    this.#cursor.seg = e.seg
    this.#cursor.offset = e.offset
  }

  /**
   * The entry's body, read from disk (into `into` when given, at least bodyBytes long), or
   * undefined when it does not match its checksum.
   */
  body (e: Entry, into: Uint8Array = new Uint8Array(e.h.bodyBytes)): Uint8Array | undefined {
    this.#checkOpen()
    const buf = into.subarray(0, e.h.bodyBytes)
    const n = readSync(e.seg.fd, buf, 0, buf.length, e.offset + HEADER_BYTES)
    if (n !== buf.length || !bodyMatches(e.h, buf)) return undefined
    return buf
  }

  /** Counts a record found damaged when it was read (it is also made done, by the caller). */
  damagedRecord (e: Entry): void {
    this.corrupt.records++
    this.corrupt.bytes += HEADER_BYTES + e.h.bodyBytes
  }

  /**
   * The entry is done (acknowledged, or failed for good and reported): it never comes again.
   * The segment goes once every record in it is done.
   */
  done (e: Entry, slotted = false): void {
    const seg = e.seg
    if (this.#closed || seg.fd < 0) return
    if (!slotted) {
      writeSync(this.#acks, encodeAck(e.id, this.#ackBuf))
      this.#acksBytes += ACK_BYTES
      this.#acksDirty = true
    } else {
      this.#slotsDirty = true
    }
    seg.live--
    this.pending.requests--
    this.pending.samples -= e.h.samples
    this.pending.bytes -= HEADER_BYTES + e.h.bodyBytes
    const c = this.#cursor
    if (seg.firstId > c.seg.firstId || (seg === c.seg && e.offset >= c.offset)) this.#done.add(e.id)
    if (seg.live === 0 && seg !== this.#active) this.#delete(seg)
    if (this.#acksBytes > 2 * this.#acksBase + MiB) this.#acks = this.#rewriteAcks()
  }

  /** What a sender writes in the shard file when the request `id` of `shard` is accepted. */
  slot (shard: number, id: number): { at: number, bytes: Uint8Array } {
    return { at: ACK_BYTES * (1 + shard), bytes: encodeAck(id) }
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
    const out: Entry[] = []
    const head = new Uint8Array(HEADER_BYTES)
    let at = 0
    while (at < seg.size) {
      const skip = seg.skips.find(([from]) => from === at)
      if (skip !== undefined) {
        at = skip[1]
        continue
      }
      const h = readSync(seg.fd, head, 0, HEADER_BYTES, at) === HEADER_BYTES ? decodeHeader(head) : undefined
      if (h === undefined) break
      if (!this.#isDone(seg, h.id, at)) out.push({ id: h.id, seg, offset: at, h })
      at += HEADER_BYTES + h.bodyBytes
    }
    return out
  }

  /** Whether the cursor is past an entry (it was handed out by next() or take()). */
  passed (e: Entry): boolean {
    const c = this.#cursor
    return e.seg.firstId < c.seg.firstId || (e.seg === c.seg && e.offset < c.offset)
  }

  /**
   * fsyncs what was written since the last one (segments, the acknowledgement log, the
   * directory), off the main thread. Calls made while one runs share the next. Rejects with
   * SpoolError when the disk fails.
   */
  sync (): Promise<void> {
    if (this.#closed || this.syncMode === 'none') return Promise.resolve()
    if (this.#syncing !== undefined) {
      this.#again ??= this.#syncing.then(() => {
        this.#again = undefined
        return this.sync()
      }, () => {
        this.#again = undefined
        return this.sync()
      })
      return this.#again
    }
    const fds = this.#segs.filter((s) => s.dirty && s.fd >= 0).map((s) => s.fd)
    for (const s of this.#segs) s.dirty = false
    if (this.#acksDirty) fds.push(this.#acks)
    this.#acksDirty = false
    if (this.#slotsDirty && this.#slots >= 0) fds.push(this.#slots)
    this.#slotsDirty = false
    const dir = this.#dirDirty
    this.#dirDirty = false
    const one = (fd: number, data: boolean): Promise<void> => new Promise((resolve, reject) => {
      (data ? fdatasync : fsync)(fd, (err) => (err ? reject(err) : resolve()))
    })
    const run = async (): Promise<void> => {
      const jobs = fds.map((fd) => one(fd, true))
      let dirFd = -1
      if (dir) {
        dirFd = openSync(this.dir, 'r')
        jobs.push(one(dirFd, false))
      }
      try {
        await Promise.all(jobs)
        this.syncs++
      } catch (err) {
        throw new SpoolError(`cannot fsync spool ${this.dir}: ${(err as Error).message}`, this.dir, { cause: err })
      } finally {
        if (dirFd >= 0) closeSync(dirFd)
      }
    }
    this.#syncing = run().finally(() => {
      this.#syncing = undefined
      for (const fd of this.#closeLater) close(fd, () => {})
      this.#closeLater = []
    })
    return this.#syncing
  }

  /** Syncs (unless 'none'), closes every file and releases the lock. Idempotent. */
  async close (): Promise<void> {
    if (this.#closed) return
    if (this.#timer !== undefined) clearInterval(this.#timer)
    try {
      await this.sync()
      await this.#syncing
    } finally {
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

  #dirty (): boolean {
    return this.#acksDirty || this.#slotsDirty || this.#dirDirty || this.#segs.some((s) => s.dirty)
  }

  #isDone (seg: Segment, id: number, offset: number): boolean {
    const c = this.#cursor
    const ahead = seg.firstId > c.seg.firstId || (seg === c.seg && offset >= c.offset)
    // Behind the cursor, a record not done is held by the writer; ahead, the done set knows.
    return ahead && this.#done.has(id)
  }

  /** The live segment holding `id`, if any. */
  #segOf (id: number): Segment | undefined {
    const segs = this.#segs
    let lo = 0
    let hi = segs.length - 1
    let found: Segment | undefined
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (segs[mid].firstId <= id) {
        found = segs[mid]
        lo = mid + 1
      } else {
        hi = mid - 1
      }
    }
    return found
  }

  #create (firstId: number): Segment {
    const path = join(this.dir, segName(firstId))
    const seg = new Segment(firstId, path, openSync(path, 'w+', 0o644))
    this.#segs.push(seg)
    this.#dirDirty = true
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
    if (this.#syncing !== undefined) this.#closeLater.push(seg.fd)
    else close(seg.fd, () => {})
    seg.fd = -1
    this.bytes -= seg.size
    this.#dirDirty = true
    const next = this.#segs[i]?.firstId ?? Infinity
    for (const id of this.#done) if (id >= seg.firstId && id < next) this.#done.delete(id)
  }

  /** Reads a segment at opening: its records, damage cut off at the end or skipped in the middle. */
  #scan (name: string, done: Set<number>, accepted: ((h: RecordHeader) => boolean) | undefined): { maxId: number } {
    const path = join(this.dir, name)
    const fd = openSync(path, 'r+')
    const seg = new Segment(Number(SEGMENT_RE.exec(name)?.[1]), path, fd)
    this.#segs.push(seg)
    const size = fstatSync(fd).size
    const head = new Uint8Array(HEADER_BYTES)
    let at = 0
    let maxId = 0
    while (at < size) {
      const h = readSync(fd, head, 0, HEADER_BYTES, at) === HEADER_BYTES ? decodeHeader(head) : undefined
      const end = h === undefined ? -1 : at + HEADER_BYTES + h.bodyBytes
      let good = h !== undefined && end <= size
      if (good && end === size) {
        // The last record: a torn append can leave a whole header with a partial body.
        const body = Buffer.allocUnsafe((h as RecordHeader).bodyBytes)
        good = readSync(fd, body, 0, body.length, at + HEADER_BYTES) === body.length && bodyMatches(h as RecordHeader, body)
      }
      if (!good) {
        const next = this.#findHeader(fd, at + 1, size)
        if (next < 0) {
          ftruncateSync(fd, at)
          this.corrupt.records++
          this.corrupt.bytes += size - at
          this.warnings.push(`spool ${this.dir}: cut ${size - at} bytes of a torn or damaged record at the end of ${name} (a write cut short, e.g. by a power cut); what came before is kept`)
          break
        }
        this.#damaged(seg, at, next, 'a damaged header')
        at = next
        continue
      }
      const hh = h as RecordHeader
      maxId = Math.max(maxId, hh.id)
      seg.newest = Math.max(seg.newest, hh.created)
      if (!done.has(hh.id) && accepted?.(hh) === true) done.add(hh.id)
      if (!done.has(hh.id)) {
        seg.live++
        this.pending.requests++
        this.pending.samples += hh.samples
        this.pending.bytes += end - at
      }
      at = end
    }
    seg.size = Math.min(at, size)
    this.bytes += seg.size
    return { maxId }
  }

  /** Records damage from `from` to `to` in a segment: skipped, counted, reported. */
  #damaged (seg: Segment, from: number, to: number, why: string): void {
    seg.skips.push([from, to])
    this.corrupt.records++
    this.corrupt.bytes += to - from
    this.warnings.push(`spool ${this.dir}: skipped ${to - from} damaged bytes at offset ${from} of ${seg.path} (${why}); they are not sent`)
  }

  /** The offset of the next good header in [from, size) whose record fits, or -1. */
  #findHeader (fd: number, from: number, size: number): number {
    const CHUNK = MiB
    const buf = Buffer.allocUnsafe(CHUNK + HEADER_BYTES)
    for (let base = from; base < size; base += CHUNK) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - base), base)
      for (let i = buf.indexOf(MAGIC_BYTES); i >= 0 && i < Math.min(n, CHUNK); i = buf.indexOf(MAGIC_BYTES, i + 1)) {
        if (i + HEADER_BYTES > n) break
        const h = decodeHeader(buf.subarray(i, i + HEADER_BYTES))
        if (h !== undefined && base + i + HEADER_BYTES + h.bodyBytes <= size) return base + i
      }
    }
    return -1
  }

  /** The ids in the acknowledgement log (a torn last entry is ignored). */
  #readAcks (): Set<number> {
    const done = new Set<number>()
    let buf: Buffer
    try {
      const fd = openSync(join(this.dir, 'acks'), 'r')
      try {
        buf = Buffer.allocUnsafe(fstatSync(fd).size)
        readSync(fd, buf, 0, buf.length, 0)
      } finally {
        closeSync(fd)
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return done
      throw err
    }
    for (let at = 0; at + ACK_BYTES <= buf.length; at += ACK_BYTES) {
      const id = decodeAck(buf, at)
      if (id !== undefined) done.add(id)
    }
    return done
  }

  /**
   * Writes a new acknowledgement log of the done ids still in live segments (the ones the
   * cursor passed too), replacing the old one atomically; returns its descriptor, for appending.
   */
  #rewriteAcks (more?: Set<number>): number {
    const old = this.#acks as number | undefined
    const keep: number[] = []
    const ids = this.#readAcks()
    for (const id of more ?? []) ids.add(id)
    for (const id of ids) if (this.#segOf(id) !== undefined) keep.push(id)
    const buf = new Uint8Array(keep.length * ACK_BYTES)
    keep.forEach((id, i) => encodeAck(id, buf.subarray(i * ACK_BYTES, (i + 1) * ACK_BYTES)))
    const tmp = join(this.dir, 'acks.tmp')
    const fd = openSync(tmp, 'w', 0o644)
    try {
      writeSync(fd, buf)
      if (this.syncMode !== 'none') fdatasyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, join(this.dir, 'acks'))
    this.#dirDirty = true
    if (more !== undefined && this.syncMode !== 'none') this.#syncDir()
    if (old !== undefined) {
      if (this.#syncing !== undefined) this.#closeLater.push(old)
      else closeSync(old)
    }
    this.#acksBytes = buf.length
    this.#acksBase = buf.length
    return openSync(join(this.dir, 'acks'), 'a')
  }

  #syncDir (): void {
    const fd = openSync(this.dir, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
  }

  /** The last run's shard file: the last accepted id per shard, or undefined when there is none. */
  #readSlots (): number[] | undefined {
    try {
      const fd = openSync(this.slotsPath, 'r')
      try {
        const buf = Buffer.alloc(Math.min(fstatSync(fd).size, ACK_BYTES * 2048))
        readSync(fd, buf, 0, buf.length, 0)
        const slots = decodeSlots(buf)
        return slots === undefined || slots.length === 0 ? undefined : slots
      } finally {
        closeSync(fd)
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  /** A fresh shard file for `shards` shards, replacing the last one atomically. */
  #writeSlots (shards: number): void {
    const buf = new Uint8Array(ACK_BYTES * (1 + shards))
    buf.set(encodeSlotsHeader(shards))
    const tmp = `${this.slotsPath}.tmp`
    const fd = openSync(tmp, 'w', 0o644)
    try {
      writeSync(fd, buf)
      if (this.syncMode !== 'none') fdatasyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, this.slotsPath)
    this.#dirDirty = true
    this.#slots = openSync(this.slotsPath, 'r')
  }

  #closeAll (): void {
    if (this.#slots >= 0) closeSync(this.#slots)
    this.#slots = -1
    for (const s of this.#segs) {
      if (s.fd >= 0) closeSync(s.fd)
      s.fd = -1
    }
    const acks = this.#acks as number | undefined
    if (acks !== undefined) closeSync(acks)
    for (const fd of this.#closeLater) closeSync(fd)
    this.#closeLater = []
  }
}

