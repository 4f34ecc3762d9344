/**
 * The spool's record of what is done, in two files. `acks`: an append-only log of the ids of
 * done requests, rewritten (atomically, by rename) to keep only the ids still in live segments.
 * `shards`: one slot per shard, the last request its sender saw accepted (record.ts), written by
 * the senders; on opening, what it says is folded into the log and it starts afresh.
 */
import { closeSync, fdatasyncSync, fstatSync, fsyncSync, openSync, readSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { ACK_BYTES, decodeAck, decodeSlots, encodeAck, encodeSlotsHeader } from './record.js'

/** Reads a whole file, or undefined when there is none. */
function readAll (path: string, max = Infinity): Buffer | undefined {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const buf = Buffer.alloc(Math.min(fstatSync(fd).size, max))
    let n = 0
    while (n < buf.length) {
      const got = readSync(fd, buf, n, buf.length - n, n)
      if (got === 0) break
      n += got
    }
    return buf.subarray(0, n)
  } finally {
    closeSync(fd)
  }
}

/** Writes a file whole under a temporary name, fsyncs it (unless `sync` is false), renames it over `path`. */
function replace (path: string, buf: Uint8Array, sync: boolean): void {
  const tmp = `${path}.tmp`
  const fd = openSync(tmp, 'w', 0o644)
  try {
    writeSync(fd, buf)
    if (sync) fdatasyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
}

/** fsyncs a directory (new, renamed and deleted names in it). */
export function syncDir (dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** The ids in the acknowledgement log (a torn or damaged entry is ignored). */
export function readAcks (dir: string): Set<number> {
  const done = new Set<number>()
  const buf = readAll(join(dir, 'acks'))
  if (buf === undefined) return done
  for (let at = 0; at + ACK_BYTES <= buf.length; at += ACK_BYTES) {
    const id = decodeAck(buf, at)
    if (id !== undefined) done.add(id)
  }
  return done
}

/**
 * Replaces the acknowledgement log by one of the ids in it (and `more`) that `keep` keeps;
 * returns a descriptor to append to it and its size.
 */
export function rewriteAcks (dir: string, keep: (id: number) => boolean, sync: boolean, more?: Iterable<number>): { fd: number, bytes: number } {
  const ids = readAcks(dir)
  for (const id of more ?? []) ids.add(id)
  const kept = [...ids].filter(keep)
  const buf = new Uint8Array(kept.length * ACK_BYTES)
  kept.forEach((id, i) => encodeAck(id, buf.subarray(i * ACK_BYTES, (i + 1) * ACK_BYTES)))
  const path = join(dir, 'acks')
  replace(path, buf, sync)
  return { fd: openSync(path, 'a'), bytes: buf.length }
}

/** The last run's shard file: the last accepted id per shard, or undefined when there is none. */
export function readSlots (path: string): number[] | undefined {
  const buf = readAll(path, ACK_BYTES * (1 + 1024))
  const slots = buf === undefined ? undefined : decodeSlots(buf)
  return slots === undefined || slots.length === 0 ? undefined : slots
}

/** A fresh shard file for `shards` shards, replacing the last one atomically; returns a descriptor to fsync it. */
export function writeSlots (path: string, shards: number, sync: boolean): number {
  const buf = new Uint8Array(ACK_BYTES * (1 + shards))
  buf.set(encodeSlotsHeader(shards))
  replace(path, buf, sync)
  return openSync(path, 'r')
}
