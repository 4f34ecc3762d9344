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
// A TimeSeries starts with the series' label block (labels.ts buildLabels: its Label records,
// pre-encoded), copied as is; its Sample records come from samples.ts. This file holds the
// request being built, its slots (the 1.0 half; slots.ts swaps the 2.0 half along), and the
// 1.0 records: samples, one-sample series, histograms, exemplars and metadata.

import { E_SLOT, errIndexSet } from "./errors";
import { copyShort, lstage, out, reserve, stage } from "./memory";
import { varint32Size, writeVarint32 } from "./varint";
import { histogramFieldsSize, writeHistogramFields } from "./histogram";
import { exemplarClear, exemplarCount, exemplarRecord, exemplarV1Size, writeExemplarV1 } from "./exemplars";
import { SINGLE, samplePayload, scan, scanBytes, scanTsSize, singleCode, singleTimestamp, writeSample, writeSamples } from "./samples";

// Tags: (field << 3) | wire type.
const TAG_TS: u8 = (1 << 3) | 2; //      WriteRequest.timeseries

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
 * Selects request slot k (0 <= k < 4096) for the 1.0 state (slots.ts reqSelect also swaps
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

/** Starts a new 1.0 request in the selected slot: `out` becomes empty (slots.ts reqReset). */
export function resetV1(): void { outLen = 0; }
/** Bytes of protobuf written so far for the current request. */
export function reqLen(): usize { return outLen; }
/** Pointer of the current request's protobuf bytes (valid until the next allocating call). */
export function reqPtr(): usize { return out.ptr; }

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
  let body = labelsLen + scanBytes();

  // + 8: the last timestamp's 8-byte varint store may reach past the record.
  let p = reserve(out, outLen + 6 + body + 8, outLen) + outLen;
  store<u8>(p++, TAG_TS);
  p = writeVarint32(p, <u32>body);
  copyShort(p, labels, labelsLen);
  p = writeSamples(p + labelsLen, vals, ts, n, scanTsSize());
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
  let body = labelsLen + histogramFieldsSize(stage.ptr, count, false);
  let p = reserve(out, outLen + 6 + body, outLen) + outLen;
  store<u8>(p++, TAG_TS);
  p = writeVarint32(p, <u32>body);
  copyShort(p, labels, labelsLen);
  p += labelsLen;
  p = writeHistogramFields(p, stage.ptr, count, TAG_HISTOGRAM, false);
  outLen = p - out.ptr;
  return 0;
}

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
  errIndexSet(-1);
  // A record's TimeSeries is at most: tag, 5-byte length, labels, and a 22-byte Sample.
  let need: usize = 0;
  for (let i: u32 = 0; i < count; i++) need += 28 + <usize>load<u32>(stage.ptr + <usize>i * SINGLE, 4);
  let p = reserve(out, outLen + need, outLen) + outLen;
  let rec = stage.ptr;
  for (let i: u32 = 0; i < count; i++, rec += SINGLE) {
    let q = writeSingle(p, rec);
    if (q == 0) return singleError(i, singleCode(), p);
    p = q;
  }
  outLen = p - out.ptr;
  return 0;
}

/**
 * Writes the TimeSeries of addSingles() record `rec` at p (room reserved: 28 bytes beyond its
 * labels); returns where it ends, or 0 with singleCode() set for a bad timestamp.
 */
// @ts-ignore: decorator
@inline
function writeSingle(p: usize, rec: usize): usize {
  let labels = <usize>load<u32>(rec);
  let labelsLen = <usize>load<u32>(rec, 4);
  let bits = load<u64>(rec, 16);
  let t = singleTimestamp(rec);
  if (singleCode() < 0) return 0;
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
 * state follows the slots (slots.ts addSinglesTo swaps the 2.0 state once, at the end).
 * Returns 0, or an error code with errorIndex() naming the record; the records before it are
 * appended (each request's length covers them), the rest are not.
 */
export function appendSinglesTo(count: u32): i32 {
  errIndexSet(-1);
  let rec = stage.ptr;
  for (let i: u32 = 0; i < count; i++, rec += SINGLE) {
    let k = load<u32>(rec, 12);
    if (k != current && selectV1(k) != 0) {
      errIndexSet(<i32>i);
      return E_SLOT;
    }
    let p = reserve(out, outLen + 28 + <usize>load<u32>(rec, 4), outLen) + outLen;
    let q = writeSingle(p, rec);
    if (q == 0) return singleError(i, singleCode(), p);
    outLen = q - out.ptr;
  }
  return 0;
}

/** Ends addSingles() at record i: keeps what was written before it. */
function singleError(i: u32, code: i32, p: usize): i32 {
  errIndexSet(<i32>i);
  outLen = p - out.ptr;
  return code;
}
