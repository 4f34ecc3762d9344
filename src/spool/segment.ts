/**
 * A segment file of the spool, and how it is read when the spool opens: record by record,
 * each header checked; a torn or damaged end is cut off, damage in the middle skipped up to the
 * next good header; both are counted and reported.
 */
import { ftruncateSync, fstatSync, openSync, readSync } from 'node:fs'
import { join } from 'node:path'
import { HEADER_BYTES, MAGIC, bodyMatches, decodeHeader } from './record.js'
import type { RecordHeader } from './record.js'

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

/** What a scan found in a segment: records not done, their samples and bytes, the largest id. */
export interface Scanned { maxId: number, live: number, samples: number, bytes: number }

/**
 * Reads a segment at opening. `done` says which records are done already; `accepted` (the last
 * run's shard file) adds the ones its senders saw accepted, which are added to `done`.
 */
export function scanSegment (dir: string, name: string, done: Set<number>, accepted: ((h: RecordHeader) => boolean) | undefined, damage: Damage): { seg: Segment, scanned: Scanned } {
  const path = join(dir, name)
  const fd = openSync(path, 'r+')
  const seg = new Segment(Number(SEGMENT_RE.exec(name)?.[1]), path, fd)
  const scanned: Scanned = { maxId: 0, live: 0, samples: 0, bytes: 0 }
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
      scanned.live++
      scanned.samples += hh.samples
      scanned.bytes += end - at
    }
    at = end
  }
  seg.size = Math.min(at, size)
  return { seg, scanned }
}

/** Records damage from `from` to `to` in a segment: skipped, counted, reported. */
export function markDamaged (seg: Segment, from: number, to: number, why: string, damage: Damage): void {
  seg.skips.push([from, to])
  damage.records++
  damage.bytes += to - from
  damage.warnings.push(`spool: skipped ${to - from} damaged bytes at offset ${from} of ${seg.path} (${why}); they are not sent`)
}

/** The offset of the next good header in [from, size) whose record fits, or -1. */
function findHeader (fd: number, from: number, size: number): number {
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
