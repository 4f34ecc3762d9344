// Native histograms: the Histogram message, the same in Remote Write 1.0 and 2.0 (protocol.md
// §1.1; 2.0 adds start_timestamp = 17).
//
//   message Histogram {
//     oneof count { uint64 count_int = 1; double count_float = 2; }
//     double sum = 3;  sint32 schema = 4;  double zero_threshold = 5;
//     oneof zero_count { uint64 zero_count_int = 6; double zero_count_float = 7; }
//     repeated BucketSpan negative_spans = 8;  repeated sint64 negative_deltas = 9;  repeated double negative_counts = 10;
//     repeated BucketSpan positive_spans = 11; repeated sint64 positive_deltas = 12; repeated double positive_counts = 13;
//     ResetHint reset_hint = 14;  int64 timestamp = 15;  repeated double custom_values = 16;  int64 start_timestamp = 17;
//   }
//   message BucketSpan { sint32 offset = 1; uint32 length = 2; }
//
// JS stages each histogram as a record (validated in JS first):
//   0 count (u64 or f64)   8 sum f64   16 zero_threshold f64   24 zero_count (u64 or f64)
//   32 timestamp i64   40 start_timestamp i64   48 schema i32   52 flags u32 (bit 0 float, bits 1-2 reset hint)
//   56 negative spans, 60 negative buckets, 64 positive spans, 68 positive buckets, 72 custom values (u32 counts)
//   80 spans (i32 offset, u32 length) and buckets (i64 deltas or f64 counts), negative then
//      positive, then custom values (f64).
// The oneof members (count, zero_count) are always written, even when 0; other zero scalars
// are left out as proto3 does (a double only when its bits are all zero, so -0.0 survives).

import { varint32Size, varint64Size, writeVarint32, writeVarint64 } from "./varint";

/** Bytes of a staged record's fixed part. */
export const HIST_HEADER: usize = 80;
const FLOAT: u32 = 1;

// @ts-ignore: decorator
@inline function zigzag32(v: i32): u32 { return <u32>((v << 1) ^ (v >> 31)); }
// @ts-ignore: decorator
@inline function zigzag64(v: i64): u64 { return <u64>((v << 1) ^ (v >> 63)); }

/** Bytes of the staged record at `r`. */
export function histRecordSize(r: usize): usize {
  let spans = <usize>load<u32>(r, 56) + <usize>load<u32>(r, 64);
  let buckets = <usize>load<u32>(r, 60) + <usize>load<u32>(r, 68);
  return HIST_HEADER + (spans << 3) + (buckets << 3) + (<usize>load<u32>(r, 72) << 3);
}

/** Bytes of the spans field (tag, length, BucketSpan) for `n` spans at `s`. */
function spansSize(s: usize, n: usize): usize {
  let size: usize = 0;
  for (let i: usize = 0; i < n; i++) {
    let offset = load<i32>(s + (i << 3));
    let length = load<u32>(s + (i << 3), 4);
    let m = (offset != 0 ? <usize>1 + varint32Size(zigzag32(offset)) : <usize>0) + (length != 0 ? <usize>1 + varint32Size(length) : <usize>0);
    size += 2 + m; // tag, 1-byte length (m <= 12)
  }
  return size;
}

/** Bytes of a packed bucket field (without tag and length) for `n` buckets at `b`. */
function bucketsPayload(b: usize, n: usize, float: bool): usize {
  if (float) return n << 3;
  let size: usize = 0;
  for (let i: usize = 0; i < n; i++) size += varint64Size(zigzag64(load<i64>(b + (i << 3))));
  return size;
}

// @ts-ignore: decorator
@inline function packedSize(payload: usize): usize {
  return payload == 0 ? 0 : 1 + varint32Size(<u32>payload) + payload;
}

/** Bytes of the Histogram message (without its own tag and length) for the record at `r`. */
export function histogramSize(r: usize, v2: bool): usize {
  let float = (load<u32>(r, 52) & FLOAT) != 0;
  let size: usize = 0;
  size += float ? 9 : 1 + varint64Size(load<u64>(r));
  if (load<u64>(r, 8) != 0) size += 9;
  let schema = load<i32>(r, 48);
  if (schema != 0) size += 1 + varint32Size(zigzag32(schema));
  if (load<u64>(r, 16) != 0) size += 9;
  size += float ? 9 : 1 + varint64Size(load<u64>(r, 24));
  let p = r + HIST_HEADER;
  let nNegS = <usize>load<u32>(r, 56);
  let nNegB = <usize>load<u32>(r, 60);
  let nPosS = <usize>load<u32>(r, 64);
  let nPosB = <usize>load<u32>(r, 68);
  let nCustom = <usize>load<u32>(r, 72);
  size += spansSize(p, nNegS);
  p += nNegS << 3;
  size += packedSize(bucketsPayload(p, nNegB, float));
  p += nNegB << 3;
  size += spansSize(p, nPosS);
  p += nPosS << 3;
  size += packedSize(bucketsPayload(p, nPosB, float));
  let hint = (load<u32>(r, 52) >> 1) & 3;
  if (hint != 0) size += 2;
  let t = load<i64>(r, 32);
  if (t != 0) size += 1 + varint64Size(<u64>t);
  if (nCustom > 0) size += 2 + varint32Size(<u32>(nCustom << 3)) + (nCustom << 3);
  let st = load<i64>(r, 40);
  if (v2 && st != 0) size += 2 + varint64Size(<u64>st);
  return size;
}

function writeSpans(w: usize, tag: u8, s: usize, n: usize): usize {
  for (let i: usize = 0; i < n; i++) {
    let offset = load<i32>(s + (i << 3));
    let length = load<u32>(s + (i << 3), 4);
    let m = (offset != 0 ? <usize>1 + varint32Size(zigzag32(offset)) : <usize>0) + (length != 0 ? <usize>1 + varint32Size(length) : <usize>0);
    store<u8>(w++, tag);
    store<u8>(w++, <u8>m);
    if (offset != 0) {
      store<u8>(w++, (1 << 3) | 0);
      w = writeVarint32(w, zigzag32(offset));
    }
    if (length != 0) {
      store<u8>(w++, (2 << 3) | 0);
      w = writeVarint32(w, length);
    }
  }
  return w;
}

function writeBuckets(w: usize, tagInt: u8, tagFloat: u8, b: usize, n: usize, float: bool): usize {
  let payload = bucketsPayload(b, n, float);
  if (payload == 0) return w;
  store<u8>(w++, float ? tagFloat : tagInt);
  w = writeVarint32(w, <u32>payload);
  if (float) {
    memory.copy(w, b, n << 3);
    return w + (n << 3);
  }
  for (let i: usize = 0; i < n; i++) w = writeVarint64(w, zigzag64(load<i64>(b + (i << 3))));
  return w;
}

/** Writes the Histogram message (fields only) for the record at `r`; returns the pointer past it. */
export function writeHistogram(w: usize, r: usize, v2: bool): usize {
  let float = (load<u32>(r, 52) & FLOAT) != 0;
  if (float) {
    store<u8>(w, (2 << 3) | 1);
    store<u64>(w, load<u64>(r), 1);
    w += 9;
  } else {
    store<u8>(w++, (1 << 3) | 0);
    w = writeVarint64(w, load<u64>(r));
  }
  let sum = load<u64>(r, 8);
  if (sum != 0) {
    store<u8>(w, (3 << 3) | 1);
    store<u64>(w, sum, 1);
    w += 9;
  }
  let schema = load<i32>(r, 48);
  if (schema != 0) {
    store<u8>(w++, (4 << 3) | 0);
    w = writeVarint32(w, zigzag32(schema));
  }
  let zt = load<u64>(r, 16);
  if (zt != 0) {
    store<u8>(w, (5 << 3) | 1);
    store<u64>(w, zt, 1);
    w += 9;
  }
  if (float) {
    store<u8>(w, (7 << 3) | 1);
    store<u64>(w, load<u64>(r, 24), 1);
    w += 9;
  } else {
    store<u8>(w++, (6 << 3) | 0);
    w = writeVarint64(w, load<u64>(r, 24));
  }
  let p = r + HIST_HEADER;
  let nNegS = <usize>load<u32>(r, 56);
  let nNegB = <usize>load<u32>(r, 60);
  let nPosS = <usize>load<u32>(r, 64);
  let nPosB = <usize>load<u32>(r, 68);
  let nCustom = <usize>load<u32>(r, 72);
  w = writeSpans(w, (8 << 3) | 2, p, nNegS);
  p += nNegS << 3;
  w = writeBuckets(w, (9 << 3) | 2, (10 << 3) | 2, p, nNegB, float);
  p += nNegB << 3;
  w = writeSpans(w, (11 << 3) | 2, p, nPosS);
  p += nPosS << 3;
  w = writeBuckets(w, (12 << 3) | 2, (13 << 3) | 2, p, nPosB, float);
  p += nPosB << 3;
  let hint = (load<u32>(r, 52) >> 1) & 3;
  if (hint != 0) {
    store<u8>(w++, (14 << 3) | 0);
    store<u8>(w++, <u8>hint);
  }
  let t = load<i64>(r, 32);
  if (t != 0) {
    store<u8>(w++, (15 << 3) | 0);
    w = writeVarint64(w, <u64>t);
  }
  if (nCustom > 0) {
    // Field 16: a 2-byte tag.
    store<u8>(w++, <u8>(((16 << 3) | 2) | 0x80));
    store<u8>(w++, 1);
    w = writeVarint32(w, <u32>(nCustom << 3));
    memory.copy(w, p, nCustom << 3);
    w += nCustom << 3;
  }
  let st = load<i64>(r, 40);
  if (v2 && st != 0) {
    store<u8>(w++, <u8>(((17 << 3) | 0) | 0x80)); // field 17: a 2-byte tag
    store<u8>(w++, 1);
    w = writeVarint64(w, <u64>st);
  }
  return w;
}

/**
 * Bytes of the `count` histogram records staged from `r` as repeated message fields of a
 * TimeSeries: tag byte, length and message each.
 */
export function histogramFieldsSize(r: usize, count: u32, v2: bool): usize {
  let n: usize = 0;
  for (let i: u32 = 0; i < count; i++) {
    let m = histogramSize(r, v2);
    n += 1 + varint32Size(<u32>m) + m;
    r += histRecordSize(r);
  }
  return n;
}

/**
 * Writes the `count` histogram records staged from `r` at `w` as repeated fields with tag
 * byte `tag`; returns the pointer past them.
 * Precondition: `histogramFieldsSize(r, count, v2)` bytes are reserved at `w`.
 */
export function writeHistogramFields(w: usize, r: usize, count: u32, tag: u8, v2: bool): usize {
  for (let i: u32 = 0; i < count; i++) {
    store<u8>(w++, tag);
    w = writeVarint32(w, <u32>histogramSize(r, v2));
    w = writeHistogram(w, r, v2);
    r += histRecordSize(r);
  }
  return w;
}
