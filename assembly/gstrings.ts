// Global ids for the strings of cached label blocks. buildLabels() gives every name and value
// an id (equal strings, equal ids) and stores the ids after the block. A 2.0 request maps an
// id to its symbol with an array lookup stamped with the request's epoch, instead of hashing
// the bytes again (prompb2.ts localRef). The bytes stay in the label blocks, so the table
// lives exactly as long as the series cache: cacheReset() clears both.

import { Region, reserve } from "./memory";
import { hashBytes } from "./hash";

/**
 * Per id, 24 bytes: u32 pointer to the bytes, u32 length, then for the 2.0 request that last
 * looked it up (prompb2.ts localRef) u32 symbol ref and u32 epoch; u32 hash; u32 request slot
 * of that lookup.
 */
const records = new Region();
let count: u32 = 0;
/** Open addressing: u32 slots holding id + 1 (0 = empty); capacity a power of two. */
const slots = new Region();
let mask: u32 = 0;

/** The record of id `id`. */
// @ts-ignore: decorator
@inline
export function gRecord(id: u32): usize {
  return records.ptr + <usize>id * 24;
}

/** The id of the string p[0..n) (which must stay where it is until gReset()). */
export function gIntern(p: usize, n: usize): u32 {
  if (mask == 0) {
    reserve(slots, 1024 << 2, 0);
    mask = 1023;
    memory.fill(slots.ptr, 0, 1024 << 2);
  }
  let h = hashBytes(p, n);
  let i = h & mask;
  while (true) {
    let e = load<u32>(slots.ptr + (<usize>i << 2));
    if (e == 0) break;
    let rec = gRecord(e - 1);
    if (<usize>load<u32>(rec, 4) == n && memory.compare(<usize>load<u32>(rec), p, n) == 0) return e - 1;
    i = (i + 1) & mask;
  }
  let id = count++;
  let rec = reserve(records, <usize>count * 24, <usize>id * 24) + <usize>id * 24;
  store<u32>(rec, <u32>p);
  store<u32>(rec, <u32>n, 4);
  store<u32>(rec, 0, 8);
  store<u32>(rec, 0, 12);
  store<u32>(rec, h, 16);
  store<u32>(rec, 0, 20);
  store<u32>(slots.ptr + (<usize>i << 2), id + 1);
  if (count * 2 > mask) grow();
  return id;
}

function grow(): void {
  let cap = (<usize>mask + 1) << 1;
  reserve(slots, cap << 2, 0);
  mask = <u32>cap - 1;
  memory.fill(slots.ptr, 0, cap << 2);
  for (let id: u32 = 0; id < count; id++) {
    let rec = gRecord(id);
    let i = load<u32>(rec, 16) & mask;
    while (load<u32>(slots.ptr + (<usize>i << 2)) != 0) i = (i + 1) & mask;
    store<u32>(slots.ptr + (<usize>i << 2), id + 1);
  }
}

/** Bumped by gReset(): ids of an older generation name other strings, or none. */
let generation: u32 = 0;

/** The current generation of ids. */
// @ts-ignore: decorator
@inline
export function gGeneration(): u32 {
  return generation;
}

/** Forgets every id (the label blocks holding the bytes are being freed). */
export function gReset(): void {
  generation++;
  count = 0;
  if (mask != 0) memory.fill(slots.ptr, 0, (<usize>mask + 1) << 2);
}
