// Remote Write 1.0 encoder: prometheus.WriteRequest, written forward with exact lengths.
//
//   message WriteRequest { repeated TimeSeries timeseries = 1; }
//   message TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//   message Label        { string name = 1; string value = 2; }
//   message Sample       { double value = 1; int64 timestamp = 2; }
//
// Field tables: shared/docs/protocol.md §1.1. A request is the concatenation of
// TimeSeries records (WriteRequest has no length prefix of its own), so addSeries()
// appends one record to `out` per call. Every length is measured before it is written:
// no shifting, and the bytes are canonical. Zero scalars are omitted as proto3 does (a
// value is omitted only when its bits are all zero, so -0.0 survives).
//
// A label set is turned into a "label block" once: the TimeSeries.labels records
// (tag 0x0a, length, Label) of the validated, sorted labels. The series cache keeps these
// blocks in the arena, so a series seen before costs one memory.copy per request.

import {
  E_LABEL_DUPLICATE, E_LABEL_NAME, E_METRIC_NAME, E_NO_METRIC_NAME, E_SLOT,
  E_TS_FRACTIONAL, E_TS_NOT_FINITE, E_TS_RANGE, E_TS_SECONDS, E_TS_UNSORTED,
} from "./errors";
import { arenaAlloc, copyShort, lstage, out, reserve, scratch, stage } from "./memory";
import { continuationBits, spread56, spread56x2, varint32Size, varint64Size, writeVarint32, writeVarint64Wide } from "./varint";
import { histRecordSize, histogramSize, writeHistogram } from "./histogram";
import { hashBytes } from "./hash";
import { IDS_PENDING } from "./gstrings";
import { exemplarClear, exemplarCount, exemplarRecord, exemplarV1Size, writeExemplarV1 } from "./exemplars";

// Tags: (field << 3) | wire type.
const TAG_TS: u8 = (1 << 3) | 2; //      WriteRequest.timeseries
const TAG_LABEL: u8 = (1 << 3) | 2; //   TimeSeries.labels
const TAG_SAMPLE: u8 = (2 << 3) | 2; //  TimeSeries.samples
const TAG_NAME: u8 = (1 << 3) | 2; //    Label.name
const TAG_VALUE: u8 = (2 << 3) | 2; //   Label.value
const TAG_DOUBLE: u8 = (1 << 3) | 1; //  Sample.value
const TAG_TSTAMP: u8 = (2 << 3) | 0; //  Sample.timestamp

/** buildLabels flag: accept any UTF-8 label and metric names (Remote Write 2.0 rules). */
export const LB_UTF8_NAMES: u32 = 2;
/** buildLabels flag: accept a label set without __name__. */
export const LB_NAME_OPTIONAL: u32 = 4;

/** addSeries flag: timestamps are int64 (BigInt64Array), not float64. */
export const AS_TS_I64: u32 = 1;
/** addSeries flag: a first timestamp below 1e10 means the series is in seconds. */
export const AS_AUTO_SECONDS: u32 = 2;
/** addSeries flag: reject fractional milliseconds and seconds instead of converting. */
export const AS_STRICT: u32 = 4;
/**
 * addSeries flag: the series is in seconds; multiply by 1000. JS sets it when it decided from
 * the series' first timestamp as given, so every slice and a sorted copy get the same rule.
 */
export const AS_SECONDS: u32 = 8;

/** Prometheus's stale marker (model/value/value.go StaleNaN). */
const STALE_NAN: u64 = 0x7ff0000000000002;
/** StaleNaN after a JS engine quieted it (bit 51 set): what a number[] can carry. */
const STALE_NAN_QUIET: u64 = 0x7ff8000000000002;
/** "__name__" read as a little-endian u64. */
const NAME_LABEL: u64 = 0x5f5f656d616e5f5f;
/** First timestamps below this are taken as seconds (2286-11-20 in seconds). */
const SECONDS_BELOW: f64 = 1e10;

let resPtr: usize = 0;
let resLen: usize = 0;
let resHash: u32 = 0;
let errIndex: i32 = -1;

/** Pointer of the last label block built. */
export function resultPtr(): usize { return resPtr; }
/** Length of the last label block built. */
export function resultLen(): usize { return resLen; }
/** Hash of the last label block built: equal label sets hash equal (the block is canonical). */
export function resultHash(): u32 { return resHash; }
/** Sets errorIndex() (for the 2.0 encoder). */
export function errIndexSet(i: i32): void { errIndex = i; }
/** Index of the label or sample that caused the last error, or -1. */
export function errorIndex(): i32 { return errIndex; }

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
  errIndex = -1;
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
      errIndex = <i32>i;
      return E_LABEL_NAME;
    }
    if (vl == 0) continue; // an empty value means the label is absent
    if (nl == 8 && load<u64>(np) == NAME_LABEL) {
      if (!utf8 && !validName(vp, vl, true)) {
        errIndex = <i32>i;
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
        errIndex = <i32>load<u32>(e, 16);
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

/** Bytes of a Sample record's payload (without its tag and 1-byte length). */
// @ts-ignore: decorator
@inline
export function samplePayload(bits: u64, t: i64): usize {
  return (bits != 0 ? 9 : <usize>0) + (t != 0 ? <usize>1 + varint64Size(<u64>t) : <usize>0);
}

/**
 * Writes one Sample record (tag, 1-byte length, value unless its bits are 0, timestamp unless
 * 0) and returns the pointer past it. A quieted stale marker goes out as the stale marker.
 * It assumes 8 writable bytes past the record (the timestamp's varint is one 8-byte store).
 */
// @ts-ignore: decorator
@inline
export function writeSample(p: usize, bits: u64, t: i64): usize {
  if (bits == STALE_NAN_QUIET) bits = STALE_NAN;
  store<u8>(p, TAG_SAMPLE);
  store<u8>(p, <u8>samplePayload(bits, t), 1);
  p += 2;
  if (bits != 0) {
    store<u8>(p, TAG_DOUBLE);
    store<u64>(p, bits, 1);
    p += 9;
  }
  if (t != 0) {
    store<u8>(p++, TAG_TSTAMP);
    p = writeVarint64Wide(p, <u64>t);
  }
  return p;
}

// ---- the request being built -----------------------------------------------------------

let outLen: usize = 0;

// Request slots: the writer builds one request per shard at once. Slot k keeps the buffer
// and length of its request while another slot is selected; `out`/outLen always describe
// the selected one. Slot 0 is selected at start (the codec's own encode() uses it).
const MAX_SLOTS: u32 = 4096;
/** Per slot: buffer pointer, capacity, length (usize each). */
const slots = memory.data(<i32>(MAX_SLOTS * 3 * sizeof<usize>()), 16);
let current: u32 = 0;

/** The selected request slot. */
export function currentSlot(): u32 { return current; }

/**
 * Selects request slot k (0 <= k < 4096) for the 1.0 state (index.ts reqSelect also swaps
 * the 2.0 state): later reqReset/addSeries/reqLen/reqCompress act on its request. Returns 0,
 * or -1 for a slot out of range.
 */
export function selectV1(k: u32): i32 {
  if (k >= MAX_SLOTS) return -1;
  if (k == current) return 0;
  let a = slots + <usize>current * 3 * sizeof<usize>();
  store<usize>(a, out.ptr);
  store<usize>(a, out.cap, sizeof<usize>());
  store<usize>(a, outLen, 2 * sizeof<usize>());
  let b = slots + <usize>k * 3 * sizeof<usize>();
  out.ptr = load<usize>(b);
  out.cap = load<usize>(b, sizeof<usize>());
  outLen = load<usize>(b, 2 * sizeof<usize>());
  current = k;
  return 0;
}

/** Cuts the selected request back to `len` bytes (len <= reqLen()): undoes later appends. */
export function reqTruncate(len: usize): void {
  if (len < outLen) outLen = len;
}

/** Sets the selected request's length (after a writer other than addSeries filled `out`). */
export function setOutLen(n: usize): void { outLen = n; }

/** Starts a new request: `out` becomes empty. */
export function reqReset(): void { outLen = 0; }
/** Bytes of protobuf written so far for the current request. */
export function reqLen(): usize { return outLen; }
/** One Sample record of writeSamples' uniform path; `varint` is the timestamp's bytes. */
// @ts-ignore: decorator
@inline
function writeUniform(p: usize, bits: u64, varint: i64, size: usize, withValue: u32, withoutValue: u16): usize {
  if (bits == STALE_NAN_QUIET) bits = STALE_NAN;
  if (bits != 0) {
    store<u32>(p, withValue);
    store<u64>(p, bits, 3);
    p += 11;
  } else {
    store<u16>(p, withoutValue);
    p += 2;
  }
  store<u8>(p, TAG_TSTAMP);
  store<i64>(p, varint, 1);
  return p + 1 + size;
}

/**
 * Writes the `n` Sample records staged at vals/ts and returns the pointer past them. `size`
 * is scanTsSize from the scan() of these very samples: when it is not 0, every timestamp is
 * positive with a varint of that many bytes, and the loop needs neither size computation nor
 * a branch on the timestamp. It assumes 8 writable bytes past the records, as writeSample.
 */
// @ts-ignore: decorator
@inline
export function writeSamples(p: usize, vals: usize, ts: usize, n: usize, size: usize): usize {
  if (size == 0) {
    for (let i: usize = 0; i < n; i++) {
      p = writeSample(p, load<u64>(vals + (i << 3)), load<i64>(ts + (i << 3)));
    }
    return p;
  }
  let more = continuationBits(size);
  // Tag, length and value tag of a Sample with a value, as one little-endian store (its 4th
  // byte is overwritten by the value); and tag and length of one without.
  let withValue = <u32>TAG_SAMPLE | ((10 + <u32>size) << 8) | (<u32>TAG_DOUBLE << 16);
  let withoutValue = <u16>(<u32>TAG_SAMPLE | ((1 + <u32>size) << 8));
  // The timestamps' varint bytes two at a time.
  let moreX2 = i64x2.splat(more);
  let i: usize = 0;
  for (; i + 2 <= n; i += 2) {
    let t = v128.or(spread56x2(v128.load(ts + (i << 3))), moreX2);
    p = writeUniform(p, load<u64>(vals + (i << 3)), i64x2.extract_lane(t, 0), size, withValue, withoutValue);
    p = writeUniform(p, load<u64>(vals + (i << 3), 8), i64x2.extract_lane(t, 1), size, withValue, withoutValue);
  }
  if (i < n) {
    p = writeUniform(p, load<u64>(vals + (i << 3)), <i64>(spread56(load<u64>(ts + (i << 3))) | more), size, withValue, withoutValue);
  }
  return p;
}

/** Pointer of the current request's protobuf bytes (valid until the next allocating call). */
export function reqPtr(): usize { return out.ptr; }

/** Makes `stage` hold `bytes` and returns its pointer; the previous contents are dropped. */
export function stageReserve(bytes: usize): usize { return reserve(stage, bytes, 0); }
/** Makes `lstage` hold `bytes` and returns its pointer; the previous contents are dropped. */
export function labelStageReserve(bytes: usize): usize { return reserve(lstage, bytes, 0); }

/**
 * Appends one TimeSeries to the request: the label block at labels[0..labelsLen) and the
 * `n` samples JS staged in `stage` (f64 values[n], then timestamps[n] as f64 or, with
 * AS_TS_I64, i64). Timestamps are validated and converted to int64 milliseconds in place
 * first (scan); nothing is written unless the whole series is valid. Returns 0, or an error
 * code with errorIndex() naming the sample.
 */
export function addSeries(labels: usize, labelsLen: usize, n: u32, flags: u32): i32 {
  let r = scan(n, flags);
  if (r < 0) return r;
  let vals = stage.ptr;
  let ts = vals + (<usize>n << 3);
  let body = labelsLen + scanBytes;

  // + 8: the last timestamp's 8-byte varint store may reach past the record.
  let p = reserve(out, outLen + 6 + body + 8, outLen) + outLen;
  store<u8>(p++, TAG_TS);
  p = writeVarint32(p, <u32>body);
  copyShort(p, labels, labelsLen);
  p = writeSamples(p + labelsLen, vals, ts, n, scanTsSize);
  outLen = p - out.ptr;
  return 0;
}

const TAG_HISTOGRAM: u8 = (4 << 3) | 2; // TimeSeries.histograms (1.0)
const TAG_METADATA_V1: u8 = (3 << 3) | 2; // WriteRequest.metadata (1.0)

/**
 * Appends a 1.0 WriteRequest.metadata record: MetricMetadata { MetricType type = 1;
 * string metric_family_name = 2; string help = 4; string unit = 5; }. The name, help and unit
 * strings were staged in `lstage` one after the other.
 */
export function addMetadataV1(type: u32, nameLen: usize, helpLen: usize, unitLen: usize): i32 {
  let body = (type != 0 ? <usize>1 + varint32Size(type) : <usize>0) +
    (nameLen > 0 ? <usize>1 + varint32Size(<u32>nameLen) + nameLen : <usize>0) +
    (helpLen > 0 ? <usize>1 + varint32Size(<u32>helpLen) + helpLen : <usize>0) +
    (unitLen > 0 ? <usize>1 + varint32Size(<u32>unitLen) + unitLen : <usize>0);
  let p = reserve(out, outLen + 6 + body, outLen) + outLen;
  store<u8>(p++, TAG_METADATA_V1);
  p = writeVarint32(p, <u32>body);
  if (type != 0) {
    store<u8>(p++, (1 << 3) | 0);
    p = writeVarint32(p, type);
  }
  let src = lstage.ptr;
  if (nameLen > 0) {
    store<u8>(p++, (2 << 3) | 2);
    p = writeVarint32(p, <u32>nameLen);
    memory.copy(p, src, nameLen);
    p += nameLen;
  }
  if (helpLen > 0) {
    store<u8>(p++, (4 << 3) | 2);
    p = writeVarint32(p, <u32>helpLen);
    memory.copy(p, src + nameLen, helpLen);
    p += helpLen;
  }
  if (unitLen > 0) {
    store<u8>(p++, (5 << 3) | 2);
    p = writeVarint32(p, <u32>unitLen);
    memory.copy(p, src + nameLen + helpLen, unitLen);
    p += unitLen;
  }
  outLen = p - out.ptr;
  return 0;
}
const TAG_EXEMPLAR: u8 = (3 << 3) | 2; //  TimeSeries.exemplars (1.0)

/**
 * Appends one 1.0 TimeSeries holding the staged exemplars (exemplars.ts) and no samples, as
 * Prometheus sends them, and clears them.
 */
export function addExemplarSeries(labels: usize, labelsLen: usize): i32 {
  let body = labelsLen;
  for (let i: u32 = 0; i < exemplarCount; i++) {
    let m = exemplarV1Size(exemplarRecord(i));
    body += 1 + varint32Size(<u32>m) + m;
  }
  let p = reserve(out, outLen + 6 + body, outLen) + outLen;
  store<u8>(p++, TAG_TS);
  p = writeVarint32(p, <u32>body);
  copyShort(p, labels, labelsLen);
  p += labelsLen;
  for (let i: u32 = 0; i < exemplarCount; i++) p = writeExemplarV1(p, exemplarRecord(i), TAG_EXEMPLAR);
  outLen = p - out.ptr;
  exemplarClear();
  return 0;
}

/**
 * Appends one TimeSeries holding native histograms: the label block and `count` histogram
 * records JS staged in `stage` (histogram.ts describes the layout; JS validated them).
 */
export function addHistSeries(labels: usize, labelsLen: usize, count: u32): i32 {
  let body = labelsLen;
  let r = stage.ptr;
  for (let i: u32 = 0; i < count; i++) {
    let m = histogramSize(r, false);
    body += 1 + varint32Size(<u32>m) + m;
    r += histRecordSize(r);
  }
  let p = reserve(out, outLen + 6 + body, outLen) + outLen;
  store<u8>(p++, TAG_TS);
  p = writeVarint32(p, <u32>body);
  copyShort(p, labels, labelsLen);
  p += labelsLen;
  r = stage.ptr;
  for (let i: u32 = 0; i < count; i++) {
    store<u8>(p++, TAG_HISTOGRAM);
    p = writeVarint32(p, <u32>histogramSize(r, false));
    p = writeHistogram(p, r, false);
    r += histRecordSize(r);
  }
  outLen = p - out.ptr;
  return 0;
}

/** Bytes of one record of addSingles()'s table. */
export const SINGLE: usize = 32;

/**
 * Appends `count` one-sample series in one call: the shape of the Prometheus layout and of
 * IoT gateways, where a call per series would cost more than the encoding. JS staged in
 * `stage` one 32-byte record per series:
 *   u32 labels pointer, u32 labels length, u32 flags (AS_*), u32 request slot (addSinglesTo
 *   only), u64 value bits, f64 timestamp (or i64 with AS_TS_I64).
 * Each timestamp is checked as scan() checks it. Returns 0, or an error code with
 * errorIndex() naming the record; the records before it are appended, the rest are not.
 */
export function addSingles(count: u32): i32 {
  errIndex = -1;
  // A record's TimeSeries is at most: tag, 5-byte length, labels, and a 22-byte Sample.
  let need: usize = 0;
  for (let i: u32 = 0; i < count; i++) need += 28 + <usize>load<u32>(stage.ptr + <usize>i * SINGLE, 4);
  let p = reserve(out, outLen + need, outLen) + outLen;
  let rec = stage.ptr;
  for (let i: u32 = 0; i < count; i++, rec += SINGLE) {
    let q = writeSingle(p, rec);
    if (q == 0) return singleError(i, singleCode, p);
    p = q;
  }
  outLen = p - out.ptr;
  return 0;
}

/**
 * Writes the TimeSeries of addSingles() record `rec` at p (room reserved: 28 bytes beyond its
 * labels); returns where it ends, or 0 with singleCode set for a bad timestamp.
 */
// @ts-ignore: decorator
@inline
function writeSingle(p: usize, rec: usize): usize {
  let labels = <usize>load<u32>(rec);
  let labelsLen = <usize>load<u32>(rec, 4);
  let bits = load<u64>(rec, 16);
  let t = singleTimestamp(rec);
  if (singleCode < 0) return 0;
  store<u8>(p++, TAG_TS);
  p = writeVarint32(p, <u32>(labelsLen + 2 + samplePayload(bits, t)));
  copyShort(p, labels, labelsLen);
  return writeSample(p + labelsLen, bits, t);
}

/**
 * addSingles() over several 1.0 requests at once: each record names its request slot (u32 at
 * offset 12) and is appended to that request, in record order. A writer lists its call's
 * series in the caller's order, which is the order their label blocks were cached in (a
 * gateway resends its series in the same order): the blocks are then read front to back,
 * which the CPU prefetches, instead of one shard's scattered subset at a time. Only the 1.0
 * state follows the slots (index.ts addSinglesTo swaps the 2.0 state once, at the end).
 * Returns 0, or an error code with errorIndex() naming the record; the records before it are
 * appended (each request's length covers them), the rest are not.
 */
export function appendSinglesTo(count: u32): i32 {
  errIndex = -1;
  let rec = stage.ptr;
  for (let i: u32 = 0; i < count; i++, rec += SINGLE) {
    let k = load<u32>(rec, 12);
    if (k != current && selectV1(k) != 0) {
      errIndex = <i32>i;
      return E_SLOT;
    }
    let p = reserve(out, outLen + 28 + <usize>load<u32>(rec, 4), outLen) + outLen;
    let q = writeSingle(p, rec);
    if (q == 0) return singleError(i, singleCode, p);
    outLen = q - out.ptr;
  }
  return 0;
}

/** 0, or the error code of the last singleTimestamp(). */
export let singleCode: i32 = 0;

/**
 * The timestamp of an addSingles() record, checked and converted as scan() does; on error
 * singleCode is set (and the result is meaningless).
 */
export function singleTimestamp(rec: usize): i64 {
  singleCode = 0;
  let flags = load<u32>(rec, 8);
  if ((flags & AS_TS_I64) != 0) {
    let t = load<i64>(rec, 24);
    if (inSeconds(flags, <f64>t)) {
      if ((flags & AS_STRICT) != 0) singleCode = E_TS_SECONDS;
      else if (t > i64.MAX_VALUE / 1000 || t < -(i64.MAX_VALUE / 1000)) singleCode = E_TS_RANGE;
      else t *= 1000;
    }
    return t;
  }
  let f = load<f64>(rec, 24);
  if (f - f != 0) {
    singleCode = E_TS_NOT_FINITE;
    return 0;
  }
  if (inSeconds(flags, f)) {
    if ((flags & AS_STRICT) != 0) {
      singleCode = E_TS_SECONDS;
      return 0;
    }
    f *= 1000;
  }
  let r = nearest<f64>(f);
  if ((flags & AS_STRICT) != 0 && r != f) singleCode = E_TS_FRACTIONAL;
  else if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0)) singleCode = E_TS_RANGE;
  return singleCode < 0 ? 0 : <i64>r;
}

/** Ends addSingles() at record i: keeps what was written before it. */
function singleError(i: u32, code: i32, p: usize): i32 {
  errIndex = <i32>i;
  outLen = p - out.ptr;
  return code;
}

/**
 * Validates the `n` timestamps JS staged in `stage` and converts them to int64 milliseconds
 * in place, without writing to the request (the writer checks items when they are written
 * and encodes them later). Returns 0 or an error code, as addSeries.
 */
export function checkSeries(n: u32, flags: u32): i32 {
  return scan(n, flags, false);
}

/**
 * Whether a series is in seconds: AS_SECONDS, or AS_AUTO_SECONDS with a finite first
 * timestamp below 1e10.
 */
// @ts-ignore: decorator
@inline
function inSeconds(flags: u32, t0: f64): bool {
  return (flags & AS_SECONDS) != 0 ||
    ((flags & AS_AUTO_SECONDS) != 0 && t0 - t0 == 0 && t0 < SECONDS_BELOW);
}

/** Bytes of the Sample records of the last scan(): two per sample plus their payloads. */
export let scanBytes: usize = 0;
/**
 * Varint size of every timestamp of the last scan() when they all share one (1..8) and are
 * positive, as a sorted series whose first and last timestamps do; else 0. writeSamples()
 * then writes without per-sample sizes.
 */
export let scanTsSize: usize = 0;

/**
 * One pass over a staged series: each timestamp is checked (finite, inside int64, the
 * seconds and strict rules), converted to int64 milliseconds in place, and compared with
 * the previous one (non-decreasing). Then, when `sized` (callers that write the samples),
 * the Sample records' size goes into scanBytes and scanTsSize. Returns 0, or an error code
 * with errorIndex() naming the sample.
 */
export function scan(n: u32, flags: u32, sized: bool = true): i32 {
  errIndex = -1;
  scanBytes = 0;
  scanTsSize = 0;
  if (n == 0) return 0;
  let vals = stage.ptr;
  let ts = vals + (<usize>n << 3);
  let strict = (flags & AS_STRICT) != 0;
  let prev = i64.MIN_VALUE;
  if ((flags & AS_TS_I64) != 0) {
    let seconds = inSeconds(flags, <f64>load<i64>(ts));
    if (seconds && strict) {
      errIndex = 0;
      return E_TS_SECONDS;
    }
    const LIMIT: i64 = i64.MAX_VALUE / 1000;
    for (let i: usize = 0; i < <usize>n; i++) {
      let t = load<i64>(ts + (i << 3));
      if (seconds) {
        if (t > LIMIT || t < -LIMIT) {
          errIndex = <i32>i;
          return E_TS_RANGE;
        }
        t *= 1000;
        store<i64>(ts + (i << 3), t);
      }
      if (t < prev) {
        errIndex = <i32>i;
        return E_TS_UNSORTED;
      }
      prev = t;
    }
  } else {
    let scale: f64 = 1;
    if (inSeconds(flags, load<f64>(ts))) {
      if (strict) {
        errIndex = 0;
        return E_TS_SECONDS;
      }
      scale = 1000;
    }
    let i: usize = 0;
    if (n >= 2) {
      // Two at a time first. While a pair passes every rule and stays below 2^51 in
      // magnitude, one vector test covers it, and adding then subtracting 1.5 * 2^52 turns
      // its (whole) doubles into int64s exactly. The first pair that fails any test, an error
      // or just a larger value, and everything after it, go the scalar way below, which
      // reports errors.
      let sc = f64x2.splat(scale);
      let lo = f64x2.splat(-2251799813685248.0); // -2^51
      let hi = f64x2.splat(2251799813685248.0); // 2^51
      let magic = f64x2.splat(6755399441055744.0); // 1.5 * 2^52
      let lenient = strict ? i64x2.splat(0) : i64x2.splat(-1);
      let last = f64x2.splat(-Infinity);
      for (; i + 2 <= <usize>n; i += 2) {
        let f = f64x2.mul(v128.load(ts + (i << 3)), sc);
        let r = f64x2.nearest(f);
        // Each lane's predecessor: [last[1], r[0]].
        let before = i8x16.shuffle(last, r, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23);
        let ok = v128.and(v128.and(f64x2.ge(r, lo), f64x2.lt(r, hi)), f64x2.ge(r, before));
        ok = v128.and(ok, v128.or(f64x2.eq(r, f), lenient));
        if (!i64x2.all_true(ok)) break;
        v128.store(ts + (i << 3), i64x2.sub(f64x2.add(r, magic), magic));
        last = r;
      }
      if (i > 0) prev = <i64>f64x2.extract_lane(last, 1);
    }
    for (; i < <usize>n; i++) {
      let g = load<f64>(ts + (i << 3));
      let f = g * scale;
      // f64.nearest rounds half to even, as Python's round() does.
      let r = nearest<f64>(f);
      // [-2^63, 2^63): both bounds are exact doubles. NaN and ±Infinity fail this test too;
      // one branch serves both rules and the error path tells them apart. (Doubles this
      // large are whole numbers, so the strict test below could not have failed first.)
      if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0)) {
        errIndex = <i32>i;
        return g - g != 0 ? E_TS_NOT_FINITE : E_TS_RANGE;
      }
      if (strict && r != f) {
        errIndex = <i32>i;
        return E_TS_FRACTIONAL;
      }
      let t = <i64>r;
      store<i64>(ts + (i << 3), t);
      if (t < prev) {
        errIndex = <i32>i;
        return E_TS_UNSORTED;
      }
      prev = t;
    }
  }
  if (sized) scanBytes = samplesSize(vals, ts, <usize>n);
  return 0;
}

/**
 * Bytes of the Sample records of n sorted samples (sets scanTsSize). When the first
 * timestamp is positive and the last needs as many varint bytes as the first, sorting puts
 * every timestamp in that size class: the size is then per-sample constant plus 9 per
 * non-zero value, and only the values need a (16-byte) pass.
 */
// @ts-ignore: decorator
@inline
function samplesSize(vals: usize, ts: usize, n: usize): usize {
  let first = load<i64>(ts);
  let size = varint64Size(<u64>first);
  if (first > 0 && size <= 8 && varint64Size(<u64>load<i64>(ts + ((n - 1) << 3))) == size) {
    scanTsSize = size;
    // Count +0.0 values (bits 0: no value field): i64x2.eq gives -1 per zero lane.
    let zeros = i64x2.splat(0);
    let i: usize = 0;
    for (; i + 2 <= n; i += 2) {
      zeros = i64x2.sub(zeros, i64x2.eq(v128.load(vals + (i << 3)), i64x2.splat(0)));
    }
    let z = <usize>(i64x2.extract_lane(zeros, 0) + i64x2.extract_lane(zeros, 1));
    if (i < n && load<u64>(vals + (i << 3)) == 0) z++;
    return n * (3 + size) + (n - z) * 9;
  }
  let bytes: usize = n << 1;
  for (let i: usize = 0; i < n; i++) {
    bytes += samplePayload(load<u64>(vals + (i << 3)), load<i64>(ts + (i << 3)));
  }
  return bytes;
}
