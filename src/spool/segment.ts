/**
 * A segment file of the spool, and how it is read when the spool opens: record by record,
 * each header checked; a torn or damaged end is cut off, damage in the middle skipped up to the
 * next good header; both are counted and reported.
 */
import { closeSync, ftruncateSync, fstatSync, mkdirSync, openSync, readSync, readdirSync, unlinkSync } from 'node:fs'
import { SpoolError } from '../errors.js'
import { readAcks, readSlots, syncDir } from './ack-log.js'
import { lockDir } from './lock.js'
import { join } from 'node:path'
import { HEADER_BYTES, MAGIC, bodyMatches, decodeHeader } from './record.js'
import type { RecordHeader } from './record.js'
import { add, count, noCounts } from './types.js'
import type { Counts } from './types.js'

export const SEGMENT_RE = /^(\d{20})\.seg$/
export const segName = (id: number): string => `${String(id).padStart(20, '0')}.seg`
const MiB = 1 << 20
const MAGIC_BYTES = Buffer.alloc(4)
MAGIC_BYTES.writeUInt32LE(MAGIC)

/** One segment file. */
export class Segment {
  readonly firstId: number
  readonly path: string
  fd: number
  /** Bytes of whole records: where the next append goes. */
  size = 0
  /** Records not done yet. */
  live = 0
  /** Of the records not done: what they hold; and of those, the ones the cursor passed (handed out). */
  readonly left: Counts = noCounts()
  readonly out: Counts = noCounts()
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

/** Damage found: records (or damaged ranges) and bytes; and what was said about it. */
export interface Damage { records: number, bytes: number, warnings: string[] }

/** What a scan found in a segment: the largest id. */
export interface Scanned { maxId: number }

/**
 * Reads a segment at opening. `done` says which records are done already; `accepted` (the last
 * run's shard file) adds the ones its senders saw accepted, which are added to `done`.
 */
export function scanSegment (dir: string, name: string, done: Set<number>, accepted: ((h: RecordHeader) => boolean) | undefined, damage: Damage): { seg: Segment, scanned: Scanned } {
  const path = join(dir, name)
  const fd = openSync(path, 'r+')
  const seg = new Segment(Number(SEGMENT_RE.exec(name)?.[1]), path, fd)
  const scanned: Scanned = { maxId: 0 }
  const size = fstatSync(fd).size
  const head = new Uint8Array(HEADER_BYTES)
  let at = 0
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
      const next = findHeader(fd, at + 1, size)
      if (next < 0) {
        ftruncateSync(fd, at)
        damage.records++
        damage.bytes += size - at
        damage.warnings.push(`spool ${dir}: cut ${size - at} bytes of a torn or damaged record at the end of ${name} (a write cut short, e.g. by a power cut); what came before is kept`)
        break
      }
      markDamaged(seg, at, next, 'a damaged header', damage)
      at = next
      continue
    }
    const hh = h as RecordHeader
    scanned.maxId = Math.max(scanned.maxId, hh.id)
    seg.newest = Math.max(seg.newest, hh.created)
    if (!done.has(hh.id) && accepted?.(hh) === true) done.add(hh.id)
    if (!done.has(hh.id)) {
      seg.live++
      count(seg.left, 1, hh, end - at)
    }
    at = end
  }
  seg.size = Math.min(at, size)
  return { seg, scanned }
}

/** Reads every segment of a spool directory at opening (see scanSegment), oldest first. */
export function scanDir (dir: string, done: Set<number>, accepted: ((h: RecordHeader) => boolean) | undefined, damage: Damage): { segs: Segment[], maxId: number } {
  const segs: Segment[] = []
  let maxId = 0
  for (const id of done) maxId = Math.max(maxId, id)
  for (const name of readdirSync(dir).filter((n) => SEGMENT_RE.test(n)).sort()) {
    const { seg, scanned } = scanSegment(dir, name, done, accepted, damage)
    segs.push(seg)
    maxId = Math.max(maxId, scanned.maxId)
  }
  return { segs, maxId }
}

/** The header at `at` in a segment, or undefined when it is not a good one. Throws when the disk cannot be read. */
export function headerAt (seg: Segment, at: number, head = new Uint8Array(HEADER_BYTES)): RecordHeader | undefined {
  return readSync(seg.fd, head, 0, HEADER_BYTES, at) === HEADER_BYTES ? decodeHeader(head) : undefined
}

/** Records damage from `from` to `to` in a segment: skipped, counted, reported. */
export function markDamaged (seg: Segment, from: number, to: number, why: string, damage: Damage): void {
  seg.skips.push([from, to])
  damage.records++
  damage.bytes += to - from
  damage.warnings.push(`spool: skipped ${to - from} damaged bytes at offset ${from} of ${seg.path} (${why}); they are not sent`)
}

/** The offset of the next good header in [from, size) whose record fits, or -1. */
export function findHeader (fd: number, from: number, size: number): number {
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

/**
 * The records of a segment that `done` does not rule out, in order. A damaged header is passed
 * over to the next good one; a read error ends the list, and is told.
 */
export function readEntries (seg: Segment, done: (id: number, at: number) => boolean, failed: (err: unknown) => void): Entry[] {
  const out: Entry[] = []
  const head = new Uint8Array(HEADER_BYTES)
  let at = 0
  while (at < seg.size) {
    const skip = seg.skips.find(([from]) => from === at)
    if (skip !== undefined) {
      at = skip[1]
      continue
    }
    let h: RecordHeader | undefined
    try {
      h = headerAt(seg, at, head)
      if (h === undefined) {
        const next = findHeader(seg.fd, at + 1, seg.size)
        if (next < 0) break
        at = next
        continue
      }
    } catch (err) {
      failed(err)
      break
    }
    if (!done(h.id, at)) out.push({ id: h.id, seg, offset: at, h })
    at += HEADER_BYTES + h.bodyBytes
  }
  return out
}

/** The segment (of `segs`, oldest first) holding `id`, if any. */
export function segmentOf (segs: readonly Segment[], id: number): Segment | undefined {
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

/**
 * After damage in a segment up to `end`: what the records in it that cannot be read held. Of
 * the records not done (`seg.left`), those are neither handed out (`seg.out`) nor readable
 * from `end` on (`entries`, the segment's records not done).
 */
export function lostBefore (seg: Segment, end: number, entries: readonly Entry[]): Counts {
  const after = noCounts()
  for (const e of entries) if (e.offset >= end) count(after, 1, e.h, HEADER_BYTES + e.h.bodyBytes)
  const lost = add(add(noCounts(), seg.left), add(add(noCounts(), seg.out), after), -1)
  for (const k of ['requests', 'series', 'samples', 'bytes'] as const) lost[k] = Math.max(0, lost[k])
  return lost
}

/**
 * Opens a spool directory: creates it if missing, takes its lock, and reads what is there: the
 * acknowledgement log, the last run's shard file (what its senders saw accepted: every request
 * of a slot's shard up to its id), and every segment. Releases the lock if anything fails.
 */
export function openDir (dir: string, slotsPath: string, damage: Damage): { release: () => void, done: Set<number>, segs: Segment[], maxId: number } {
  try {
    mkdirSync(dir, { recursive: true })
  } catch (err) {
    throw new SpoolError(`cannot create spool directory ${dir}: ${(err as Error).message}`, dir, { cause: err })
  }
  const lock = lockDir(dir)
  try {
    if (lock.tookOver !== undefined) damage.warnings.push(`spool ${dir}: took over the lock of process ${lock.tookOver}, which is gone`)
    const done = readAcks(dir)
    const slots = readSlots(slotsPath)
    const accepted = slots === undefined ? undefined : (h: RecordHeader): boolean => h.id <= slots[h.shard % slots.length]
    return { release: lock.release, done, ...scanDir(dir, done, accepted, damage) }
  } catch (err) {
    lock.release()
    if (err instanceof SpoolError) throw err
    throw new SpoolError(`cannot open spool ${dir}: ${(err as Error).message}`, dir, { cause: err })
  }
}

/** A new, empty segment file; with `syncName`, its name is fsynced into the directory first. */
export function createSegment (dir: string, firstId: number, syncName: boolean): Segment {
  const path = join(dir, segName(firstId))
  const seg = new Segment(firstId, path, openSync(path, 'w+', 0o644))
  try {
    if (syncName) syncDir(dir)
  } catch (err) {
    closeSync(seg.fd)
    unlinkSync(path)
    throw err
  }
  return seg
}
