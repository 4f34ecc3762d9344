// Global ids for the strings of cached label blocks. The first 2.0 request that uses a block
// gives every name and value in it an id (equal strings, equal ids) and stores the ids after
// the block (labelIds). A 2.0 request maps an id to its symbol with an array lookup stamped
// with the request's epoch, instead of hashing the bytes again (prompb2.ts localRef). The
// bytes stay in the label blocks, so the table lives exactly as long as the series cache:
// cacheReset() clears both. 1.0 requests never need ids, and never pay for them.

import { Region, reserve } from "./memory";
import { hashBytes } from "./hash";

/** Set in a label block's label count until labelIds() has filled in its ids. */
export const IDS_PENDING: u32 = 0x80000000;

/**
 * Per id, 24 bytes: u32 pointer to the bytes, u32 length, then for the 2.0 request that last
 * looked it up (prompb2.ts localRef): u32 symbol ref, u32 request slot, u64 epoch (64 bits, so
 * that no epoch ever comes round again).
 */
const records = new Region();
let count: u32 = 0;
/**
 * Open addressing, 8 bytes per slot: u32 id + 1 (0 = empty) and the string's u32 hash, so a
 * probe rejects other strings without touching their records. Capacity a power of two.
 */
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
    reserve(slots, 1024 << 3, 0);
    mask = 1023;
    memory.fill(slots.ptr, 0, 1024 << 3);
  }
  let h = hashBytes(p, n);
  let i = h & mask;
  while (true) {
    let slot = slots.ptr + (<usize>i << 3);
    let e = load<u32>(slot);
    if (e == 0) break;
    if (load<u32>(slot, 4) == h) {
      let rec = gRecord(e - 1);
      if (<usize>load<u32>(rec, 4) == n && memory.compare(<usize>load<u32>(rec), p, n) == 0) return e - 1;
    }
    i = (i + 1) & mask;
  }
  let id = count++;
  let rec = reserve(records, <usize>count * 24, <usize>id * 24) + <usize>id * 24;
  store<u32>(rec, <u32>p);
  store<u32>(rec, <u32>n, 4);
  store<u32>(rec, 0, 8);
  store<u32>(rec, 0, 12);
  store<u64>(rec, 0, 16);
  let slot = slots.ptr + (<usize>i << 3);
  store<u32>(slot, id + 1);
  store<u32>(slot, h, 4);
  if (count * 2 > mask) grow();
  return id;
}

function grow(): void {
  let cap = (<usize>mask + 1) << 1;
  reserve(slots, cap << 3, 0);
  mask = <u32>cap - 1;
  memory.fill(slots.ptr, 0, cap << 3);
  for (let id: u32 = 0; id < count; id++) {
    let rec = gRecord(id);
    let h = hashBytes(<usize>load<u32>(rec), <usize>load<u32>(rec, 4));
    let i = h & mask;
    while (load<u32>(slots.ptr + (<usize>i << 3)) != 0) i = (i + 1) & mask;
    let slot = slots.ptr + (<usize>i << 3);
    store<u32>(slot, id + 1);
    store<u32>(slot, h, 4);
  }
}

/** Reads the varint at `p` (at most 5 bytes, as buildLabels wrote it) into `varintValue`; returns the pointer past it. */
// @ts-ignore: decorator
@inline
function readVarint(p: usize): usize {
  let v: u32 = 0;
  let shift: u32 = 0;
  while (true) {
    let b = <u32>load<u8>(p++);
    v |= (b & 0x7f) << shift;
    if (b < 0x80) break;
    shift += 7;
  }
  varintValue = v;
  return p;
}
let varintValue: u32 = 0;

/**
 * The ids area of the label block at labels[0..labelsLen) (labels.ts buildLabels), its ids
 * filled in on first use: u32 count, then a u32 name id and a u32 value id per label.
 */
export function labelIds(labels: usize, labelsLen: usize): usize {
  let g = labels + ((labelsLen + 7) & ~<usize>7);
  let c = load<u32>(g);
  if ((c & IDS_PENDING) == 0) return g;
  c &= ~IDS_PENDING;
  // Each Label record as buildLabels wrote it: 0a len 0a nlen name 12 vlen value.
  let p = labels;
  for (let k: usize = 0; k < <usize>c; k++) {
    p = readVarint(p + 1); // past the record's tag and length
    p = readVarint(p + 1);
    let nl = <usize>varintValue;
    store<u32>(g + 4 + (k << 3), gIntern(p, nl));
    p = readVarint(p + nl + 1);
    let vl = <usize>varintValue;
    store<u32>(g + 8 + (k << 3), gIntern(p, vl));
    p += vl;
  }
  store<u32>(g, c);
  return g;
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
  if (mask != 0) memory.fill(slots.ptr, 0, (<usize>mask + 1) << 3);
}
