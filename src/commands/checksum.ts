/**
 * An order-independent checksum over samples: the sum, mod 2^32, of a hash of each
 * (label set, timestamp, value bits). The sender and the receiver compute it separately;
 * equal sums and equal counts mean every sample arrived once, unchanged. Labels are hashed
 * in sorted order, so key order does not matter.
 */
import type { Values } from '../index.js'

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)

/** FNV-1a over a string's UTF-16 units, continuing from `h`. */
function fnv (h: number, s: string): number {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}

/** Hash of a label set (names sorted). */
export function labelsHash (labels: Readonly<Record<string, string>>): number {
  let h = 2166136261
  for (const k of Object.keys(labels).sort()) {
    if (labels[k] === '') continue // empty values are dropped on the wire
    h = fnv(fnv(h ^ 0xff, k), labels[k])
  }
  return h
}

/** Adds the samples of one series to `sum`; returns the new sum (a uint32). */
export function addSamples (sum: number, key: number, values: Values, timestamps: ArrayLike<number | bigint>): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (typeof v !== 'number') { // STALE (the writer refused any other symbol)
      u32[0] = 2
      u32[1] = 0x7ff00000
    } else {
      f64[0] = v
    }
    if (u32[1] === 0x7ff80000 && u32[0] === 2) u32[1] = 0x7ff00000 // a quieted stale marker is a stale marker
    const t = Number(timestamps[i])
    let h = Math.imul(key ^ u32[0], 2654435761)
    h = Math.imul(h ^ u32[1], 2246822519)
    h = Math.imul(h ^ (t % 4294967296), 3266489917)
    h = Math.imul(h ^ Math.floor(t / 4294967296), 668265263)
    sum = (sum + ((h ^ (h >>> 15)) >>> 0)) % 4294967296
  }
  return sum
}
