// Label sets: validation and the pre-encoded "label block" (Remote Write 1.0 field tables,
// shared/docs/protocol.md §1.1).
//
//   message TimeSeries   { repeated Label labels = 1; ... }
//   message Label        { string name = 1; string value = 2; }
//
// A label set is turned into a label block once: the TimeSeries.labels records (tag 0x0a,
// length, Label) of the validated, sorted labels. The series cache keeps these blocks in the
// arena, so a series seen before costs one memory.copy per request (prompb.ts); a 2.0 request
// reads its labels from the same block (prompb2.ts v2Head).

import { E_LABEL_DUPLICATE, E_LABEL_NAME, E_METRIC_NAME, E_NO_METRIC_NAME, errIndexSet } from "./errors";
import { arenaAlloc, lstage, reserve, scratch } from "./memory";
import { varint32Size, writeVarint32 } from "./varint";
import { hashBytes } from "./hash";
import { IDS_PENDING } from "./gstrings";

// Tags: (field << 3) | wire type.
const TAG_LABEL: u8 = (1 << 3) | 2; //   TimeSeries.labels
const TAG_NAME: u8 = (1 << 3) | 2; //    Label.name
const TAG_VALUE: u8 = (2 << 3) | 2; //   Label.value

/** buildLabels flag: accept any UTF-8 label and metric names (Remote Write 2.0 rules). */
export const LB_UTF8_NAMES: u32 = 2;
/** buildLabels flag: accept a label set without __name__. */
export const LB_NAME_OPTIONAL: u32 = 4;

/** "__name__" read as a little-endian u64. */
const NAME_LABEL: u64 = 0x5f5f656d616e5f5f;

let resPtr: usize = 0;
let resLen: usize = 0;
let resHash: u32 = 0;

/** Pointer of the last label block built. */
export function resultPtr(): usize { return resPtr; }
/** Length of the last label block built. */
export function resultLen(): usize { return resLen; }
/** Hash of the last label block built: equal label sets hash equal (the block is canonical). */
export function resultHash(): u32 { return resHash; }

// @ts-ignore: decorator
@inline
function isAlpha(c: u32): bool { return ((c | 0x20) - 0x61) < 26; }
// @ts-ignore: decorator
@inline
function isDigit(c: u32): bool { return (c - 0x30) < 10; }

/** Whether p[0..n) matches [a-zA-Z_][a-zA-Z0-9_]*, or with `colon` also ':'. */
function validName(p: usize, n: usize, colon: bool): bool {
  if (n == 0) return false;
  let c = <u32>load<u8>(p);
  if (!(isAlpha(c) || c == 0x5f || (colon && c == 0x3a))) return false;
  for (let i: usize = 1; i < n; i++) {
    c = <u32>load<u8>(p + i);
    if (!(isAlpha(c) || isDigit(c) || c == 0x5f || (colon && c == 0x3a))) return false;
  }
  return true;
}

// Sort table entry: name pointer, name length, value pointer, value length, input index.
const ENTRY: usize = 20;

/** Byte-wise comparison of two names, as Go compares strings. */
// @ts-ignore: decorator
@inline
function compareNames(ap: usize, al: usize, bp: usize, bl: usize): i32 {
  let c = memory.compare(ap, bp, min<usize>(al, bl));
  if (c != 0) return c;
  return al < bl ? -1 : i32(al > bl);
}

/**
 * Builds the label block of the label set JS staged in `lstage`:
 *   u32 lengths[2n] (name, value, name, value, ...), then the UTF-8 bytes in that order.
 * Validates names, drops labels with empty values, sorts by name, rejects duplicates and
 * a missing __name__. Returns 0 (block at resultPtr()/resultLen()) or an error code with
 * errorIndex() naming the label by its input position.
 */
export function buildLabels(n: u32, flags: u32): i32 {
  errIndexSet(-1);
  let lens = lstage.ptr;
  let bytes = lens + (<usize>n << 3);
  let total: usize = 0;
  for (let i: u32 = 0; i < n; i++) {
    total += <usize>load<u32>(lens + (<usize>i << 3)) + <usize>load<u32>(lens + (<usize>i << 3) + 4);
  }
  let table = reserve(scratch, <usize>n * ENTRY, 0);

  let utf8 = (flags & LB_UTF8_NAMES) != 0;
  let hasName = false;
  let kept: usize = 0;
  let p = bytes;
  for (let i: u32 = 0; i < n; i++) {
    let nl = <usize>load<u32>(lens + (<usize>i << 3));
    let vl = <usize>load<u32>(lens + (<usize>i << 3) + 4);
    let np = p;
    let vp = p + nl;
    p = vp + vl;
    if (nl == 0 || (!utf8 && !validName(np, nl, false))) {
      errIndexSet(<i32>i);
      return E_LABEL_NAME;
    }
    if (vl == 0) continue; // an empty value means the label is absent
    if (nl == 8 && load<u64>(np) == NAME_LABEL) {
      if (!utf8 && !validName(vp, vl, true)) {
        errIndexSet(<i32>i);
        return E_METRIC_NAME;
      }
      hasName = true;
    }
    // Insertion sort: label sets are small and usually arrive sorted or nearly so.
    let j = kept;
    while (j > 0) {
      let e = table + (j - 1) * ENTRY;
      if (compareNames(load<u32>(e), load<u32>(e, 4), np, nl) <= 0) break;
      memory.copy(e + ENTRY, e, ENTRY);
      j--;
    }
    let e = table + j * ENTRY;
    store<u32>(e, <u32>np);
    store<u32>(e, <u32>nl, 4);
    store<u32>(e, <u32>vp, 8);
    store<u32>(e, <u32>vl, 12);
    store<u32>(e, i, 16);
    kept++;
  }
  if (!hasName && (flags & LB_NAME_OPTIONAL) == 0) return E_NO_METRIC_NAME;

  let size: usize = 0;
  for (let k: usize = 0; k < kept; k++) {
    let e = table + k * ENTRY;
    if (k > 0) {
      let d = e - ENTRY;
      if (compareNames(load<u32>(d), load<u32>(d, 4), load<u32>(e), load<u32>(e, 4)) == 0) {
        errIndexSet(<i32>load<u32>(e, 16));
        return E_LABEL_DUPLICATE;
      }
    }
    let m = labelSize(load<u32>(e, 4), load<u32>(e, 12));
    size += 1 + varint32Size(<u32>m) + m;
  }

  // The block, then (8-aligned) room for the global ids of its strings, which a 2.0 request
  // fills on first use (gstrings.ts labelIds): u32 count of labels (flagged IDS_PENDING until
  // then), a u32 name id and a u32 value id per label, then the 2.0 refs cache (prompb2.ts
  // v2Head): u64 stamp, u32 offset, u32 length.
  let ids = (size + 7) & ~<usize>7;
  let dst = arenaAlloc(ids + 20 + (kept << 3));
  resPtr = dst;
  resLen = size;
  let g = resPtr + ids;
  store<u32>(g, <u32>kept | IDS_PENDING);
  store<u64>(g + 4 + (kept << 3), 0);
  for (let k: usize = 0; k < kept; k++) {
    let e = table + k * ENTRY;
    let np = <usize>load<u32>(e);
    let nl = <usize>load<u32>(e, 4);
    let vp = <usize>load<u32>(e, 8);
    let vl = <usize>load<u32>(e, 12);
    store<u8>(dst++, TAG_LABEL);
    dst = writeVarint32(dst, <u32>labelSize(nl, vl));
    store<u8>(dst++, TAG_NAME);
    dst = writeVarint32(dst, <u32>nl);
    memory.copy(dst, np, nl);
    dst += nl;
    store<u8>(dst++, TAG_VALUE);
    dst = writeVarint32(dst, <u32>vl);
    memory.copy(dst, vp, vl);
    dst += vl;
  }
  resHash = hashBytes(resPtr, size);
  return 0;
}

/** Encoded size of a Label with non-empty name and value of these lengths. */
// @ts-ignore: decorator
@inline
function labelSize(nl: usize, vl: usize): usize {
  return 2 + varint32Size(<u32>nl) + nl + varint32Size(<u32>vl) + vl;
}
