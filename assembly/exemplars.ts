// Exemplars, staged by JS for the next series append (both protocol versions):
//
//   1.0  message Exemplar { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
//   2.0  message Exemplar { repeated uint32 labels_refs = 1; double value = 2; int64 timestamp = 3; }
//
// Each staged record is 24 bytes: u32 pointer and u32 length of the exemplar's label block
// (built by buildLabels, __name__ optional; its global string ids follow it), u64 value bits,
// i64 timestamp (ms; JS validated it). Zero scalars are left out as proto3 does.

import { xstage, reserve } from "./memory";
import { varint32Size, varint64Size, writeVarint32, writeVarint64 } from "./varint";

export const EXEMPLAR: usize = 24;
/** Exemplars staged for the next append; the append consumes them. */
export let exemplarCount: u32 = 0;

/** Makes room for `count` exemplar records and returns their pointer; they count once set. */
export function exemplarReserve(count: u32): usize {
  exemplarCount = 0;
  return reserve(xstage, max<usize>(<usize>count * EXEMPLAR, 8), 0);
}

/** Declares how many staged exemplar records the next series append carries. */
export function exemplarSet(count: u32): void {
  exemplarCount = count;
}

/** Forgets the staged exemplars (after an append used them). */
export function exemplarClear(): void {
  exemplarCount = 0;
}

/** The staged record i. */
// @ts-ignore: decorator
@inline
export function exemplarRecord(i: u32): usize {
  return xstage.ptr + <usize>i * EXEMPLAR;
}

/** Bytes of the value and timestamp fields of record `r`. */
// @ts-ignore: decorator
@inline
export function exemplarScalars(r: usize): usize {
  let t = load<i64>(r, 16);
  return (load<u64>(r, 8) != 0 ? 9 : 0) + (t != 0 ? 1 + varint64Size(<u64>t) : 0);
}

/** Writes the value and timestamp fields of record `r`; returns the pointer past them. */
export function writeExemplarScalars(w: usize, r: usize): usize {
  let bits = load<u64>(r, 8);
  if (bits != 0) {
    store<u8>(w, (2 << 3) | 1);
    store<u64>(w, bits, 1);
    w += 9;
  }
  let t = load<i64>(r, 16);
  if (t != 0) {
    store<u8>(w++, (3 << 3) | 0);
    w = writeVarint64(w, <u64>t);
  }
  return w;
}

/** Bytes of the 1.0 Exemplar message (without its tag and length) of record `r`. */
export function exemplarV1Size(r: usize): usize {
  return <usize>load<u32>(r, 4) + exemplarScalars(r);
}

/** Writes a 1.0 Exemplar (tag, length, fields) for record `r`; returns the pointer past it. */
export function writeExemplarV1(w: usize, r: usize, tag: u8): usize {
  let m = exemplarV1Size(r);
  store<u8>(w++, tag);
  w = writeVarint32(w, <u32>m);
  let len = <usize>load<u32>(r, 4);
  memory.copy(w, <usize>load<u32>(r), len);
  return writeExemplarScalars(w + len, r);
}

// Keep varint32Size referenced for the 2.0 writer's size computations.
export { varint32Size };
