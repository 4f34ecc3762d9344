// Remote Write 2.0 encoder: io.prometheus.write.v2.Request (shared/docs/protocol.md §2).
//
//   message Request    { reserved 1 to 3; repeated string symbols = 4; repeated TimeSeries timeseries = 5; }
//   message TimeSeries { repeated uint32 labels_refs = 1; repeated Sample samples = 2;
//                        repeated Histogram histograms = 3; repeated Exemplar exemplars = 4;
//                        Metadata metadata = 5; reserved 6; }
//   message Sample     { double value = 1; int64 timestamp = 2; int64 start_timestamp = 3; }
//   message Metadata   { MetricType type = 1; uint32 help_ref = 3; uint32 unit_ref = 4; }
//
// Strings are interned into the symbols table; symbols[0] is always "" and is written
// (`22 00`). Label strings carry global ids (gstrings.ts) whose records cache their ref in
// this request, stamped with the request's epoch: while every symbol came in that way, a
// miss is a string the table does not hold, and it is appended without hashing. A string
// without an id (help, unit), a truncation, or a reset of the ids makes the request build a
// hash table keyed by the string bytes over its symbols, and intern through it from then on. Series records
// are built in their own region while the table grows; v2Finish() writes the symbols, then
// the series, into `out`, where reqCompress() finds the request as for 1.0. Refs are per
// request, as Prometheus does (the protocol is stateless). Field 6 of TimeSeries (the
// removed created_timestamp) is never written.
//
// A series' labels come from its 1.0 label block (the series cache keeps those): the block's
// Label records give the sorted names and values to intern.

import { Region, lstage, out, reserve, stage } from "./memory";
import { SINGLE, errIndexSet, samplePayload, scan, scanBytes, setOutLen, singleCode, singleTimestamp, writeSample } from "./prompb";
import { hashBytes } from "./hash";
import { gGeneration, gRecord, labelIds } from "./gstrings";
import { exemplarClear, exemplarCount, exemplarRecord, exemplarScalars, writeExemplarScalars } from "./exemplars";
import { varint32Size, varint64Size, writeVarint32, writeVarint64 } from "./varint";
import { histRecordSize, histogramSize, writeHistogram } from "./histogram";

const TAG_SYMBOL: u8 = (4 << 3) | 2; //    Request.symbols
const TAG_SERIES: u8 = (5 << 3) | 2; //    Request.timeseries
const TAG_REFS: u8 = (1 << 3) | 2; //      TimeSeries.labels_refs (packed)
const TAG_HISTOGRAM: u8 = (3 << 3) | 2; // TimeSeries.histograms
const TAG_EXEMPLAR: u8 = (4 << 3) | 2; //  TimeSeries.exemplars
const TAG_METADATA: u8 = (5 << 3) | 2; //  TimeSeries.metadata
const TAG_META_TYPE: u8 = (1 << 3) | 0; // Metadata.type
const TAG_META_HELP: u8 = (3 << 3) | 0; // Metadata.help_ref
const TAG_META_UNIT: u8 = (4 << 3) | 0; // Metadata.unit_ref

/** Symbol records (`22 len bytes`) in table order. */
const symbols = new Region();
let symbolsLen: usize = 0;
/** Per symbol: u32 offset of its bytes in `symbols`, u32 length. */
const symbolIndex = new Region();
let symbolCount: u32 = 0;
/** Open addressing: u32 slots holding symbol index + 1 (0 = empty); capacity a power of two. */
const slots = new Region();
let slotMask: u32 = 0;
/** TimeSeries records of the request. */
const series = new Region();
let seriesLen: usize = 0;
/**
 * Stamps the symbol refs this request cached in the global string records (gstrings.ts):
 * unique per request (and renewed by v2Truncate), so another request's refs never count.
 */
let epoch: u64 = 0;
let epochs: u64 = 0;
/**
 * Every symbol so far came from a global id of generation `keyedGen` and is cached under
 * `epoch`: a cache miss is then a new string (localRef's fast path).
 */
let keyed: bool = true;
let keyedGen: u32 = 0;
/**
 * Stamps the labels_refs a label block's series record got in this request (see v2Head):
 * renewed with the request and whenever series records are cut off.
 */
let refsEpoch: u64 = 0;
/** The slots index every symbol of the request (built on the first intern() by bytes). */
let hashed: bool = false;
/** The request slot whose state the globals hold. */
let current: u32 = 0;

// Per request slot (see prompb.ts selectV1): the 2.0 state of every slot's request, swapped
// in and out of the globals above by v2Swap().
const SLOT_WORDS: usize = 19;
const v2slots = memory.data(4096 * <i32>SLOT_WORDS * <i32>sizeof<usize>(), 16);

/** Saves the 2.0 state into slot `from` and loads slot `to`'s. */
export function v2Swap(from: u32, to: u32): void {
  const W = sizeof<usize>();
  let a = v2slots + <usize>from * SLOT_WORDS * W;
  store<usize>(a, symbols.ptr); store<usize>(a, symbols.cap, W); store<usize>(a, symbolsLen, 2 * W);
  store<usize>(a, symbolIndex.ptr, 3 * W); store<usize>(a, symbolIndex.cap, 4 * W); store<usize>(a, <usize>symbolCount, 5 * W);
  store<usize>(a, slots.ptr, 6 * W); store<usize>(a, slots.cap, 7 * W); store<usize>(a, <usize>slotMask, 8 * W);
  store<usize>(a, series.ptr, 9 * W); store<usize>(a, series.cap, 10 * W); store<usize>(a, seriesLen, 11 * W);
  store<u64>(a, epoch, 12 * W); // words 12 and 13
  store<usize>(a, <usize>keyed, 14 * W); store<usize>(a, <usize>keyedGen, 15 * W); store<usize>(a, <usize>hashed, 16 * W);
  store<u64>(a, refsEpoch, 17 * W); // words 17 and 18
  let b = v2slots + <usize>to * SLOT_WORDS * W;
  symbols.ptr = load<usize>(b); symbols.cap = load<usize>(b, W); symbolsLen = load<usize>(b, 2 * W);
  symbolIndex.ptr = load<usize>(b, 3 * W); symbolIndex.cap = load<usize>(b, 4 * W); symbolCount = <u32>load<usize>(b, 5 * W);
  slots.ptr = load<usize>(b, 6 * W); slots.cap = load<usize>(b, 7 * W); slotMask = <u32>load<usize>(b, 8 * W);
  series.ptr = load<usize>(b, 9 * W); series.cap = load<usize>(b, 10 * W); seriesLen = load<usize>(b, 11 * W);
  epoch = load<u64>(b, 12 * W);
  keyed = load<usize>(b, 14 * W) != 0; keyedGen = <u32>load<usize>(b, 15 * W); hashed = load<usize>(b, 16 * W) != 0;
  refsEpoch = load<u64>(b, 17 * W);
  current = to;
}

/**
 * A string record cached for request `stamp` of slot `slot` is being taken over by the
 * selected request: if that request is still open there, it can no longer trust its misses.
 */
function unkey(slot: u32, stamp: u64): void {
  let a = v2slots + <usize>slot * SLOT_WORDS * sizeof<usize>();
  if (load<u64>(a, 12 * sizeof<usize>()) == stamp) store<usize>(a, 0, 14 * sizeof<usize>());
}

/** Bytes of series records in the selected 2.0 request. */
export function v2SeriesLen(): usize { return seriesLen; }
/** Bytes of symbol records in the selected 2.0 request. */
export function v2SymbolsLen(): usize { return symbolsLen; }

/**
 * Cuts the selected 2.0 request back to an earlier state (series bytes, symbol count and
 * symbol bytes, as v2SeriesLen/v2SymbolCount/v2SymbolsLen gave them): undoes later appends.
 */
export function v2Truncate(seriesBytes: usize, count: u32, symbolBytes: usize): void {
  // Cached labels_refs may be in what is cut, or refer to symbols that are.
  if (seriesBytes < seriesLen || count < symbolCount) refsEpoch = ++epochs;
  if (seriesBytes < seriesLen) seriesLen = seriesBytes;
  if (count < symbolCount) {
    epoch = ++epochs; // refs cached for the symbols dropped here must not be used again
    symbolCount = count;
    symbolsLen = symbolBytes;
    keyed = false; // the symbols that remain are no longer cached: intern by bytes
    hashed = false; // the slots are rebuilt from them when next needed
  }
}

/** Starts a 2.0 request: no series, and the symbols table holding only "". */
export function v2Reset(): void {
  epoch = ++epochs;
  refsEpoch = ++epochs;
  symbolsLen = 0;
  symbolCount = 0;
  seriesLen = 0;
  keyed = true;
  keyedGen = gGeneration();
  hashed = false;
  append(0, 0);
}

/** Appends the string p[0..n) to the symbols table (the caller knows it is new); returns its index. */
function append(p: usize, n: usize): u32 {
  let at = reserve(symbols, symbolsLen + 6 + n + 8, symbolsLen) + symbolsLen;
  store<u8>(at, TAG_SYMBOL);
  let bytes = writeVarint32(at + 1, <u32>n);
  if (n <= 32) {
    // Short strings (most label values) in 8-byte words: the last may write up to 7 bytes past
    // the record (reserved above) and read up to 7 past the string (which lies in a label
    // block, followed by its ids, or in lstage, reserved 8 bytes long; see v2MetaReserve).
    for (let k: usize = 0; k < n; k += 8) store<u64>(bytes + k, load<u64>(p + k));
  } else {
    memory.copy(bytes, p, n);
  }
  symbolsLen = bytes + n - symbols.ptr;
  let idx = symbolCount++;
  let rec = reserve(symbolIndex, <usize>symbolCount << 3, <usize>idx << 3) + (<usize>idx << 3);
  store<u32>(rec, <u32>(bytes - symbols.ptr));
  store<u32>(rec, <u32>n, 4);
  return idx;
}

/** Builds the slots over the symbols so far, unless they are built. */
function ensureHashed(): void {
  if (hashed) return;
  let cap: usize = 1024;
  while (cap < (<usize>symbolCount << 2)) cap <<= 1;
  if (cap > <usize>slotMask + 1) {
    reserve(slots, cap << 2, 0);
    slotMask = <u32>cap - 1;
  }
  refill();
  hashed = true;
}

/** The index of the string p[0..n) in the symbols table, adding it if new (by its bytes, through the slots). */
function intern(p: usize, n: usize): u32 {
  ensureHashed();
  let i = hashBytes(p, n) & slotMask;
  while (true) {
    let e = load<u32>(slots.ptr + (<usize>i << 2));
    if (e == 0) break;
    let idx = e - 1;
    let rec = symbolIndex.ptr + (<usize>idx << 3);
    if (<usize>load<u32>(rec, 4) == n && memory.compare(symbols.ptr + <usize>load<u32>(rec), p, n) == 0) return idx;
    i = (i + 1) & slotMask;
  }
  // New symbol: its record and index entry, then its slot.
  let idx = append(p, n);
  store<u32>(slots.ptr + (<usize>i << 2), idx + 1);
  if (symbolCount * 2 > slotMask) rehash();
  return idx;
}

/** Doubles the slot table and re-inserts every symbol. */
function rehash(): void {
  let cap = (<usize>slotMask + 1) << 1;
  reserve(slots, cap << 2, 0);
  slotMask = <u32>cap - 1;
  refill();
}

/** Clears the slots and inserts every symbol of the table again. */
function refill(): void {
  memory.fill(slots.ptr, 0, (<usize>slotMask + 1) << 2);
  for (let idx: u32 = 0; idx < symbolCount; idx++) {
    let rec = symbolIndex.ptr + (<usize>idx << 3);
    let i = hashBytes(symbols.ptr + <usize>load<u32>(rec), <usize>load<u32>(rec, 4)) & slotMask;
    while (load<u32>(slots.ptr + (<usize>i << 2)) != 0) i = (i + 1) & slotMask;
    store<u32>(slots.ptr + (<usize>i << 2), idx + 1);
  }
}

/**
 * The symbol ref of global string `id` in this request: cached in the string's record when
 * this request (its epoch) looked it up before; else appended (a keyed request: the string is
 * new to it) or interned by its bytes, and cached.
 */
// @ts-ignore: decorator
@inline
function localRef(id: u32): u32 {
  let rec = gRecord(id);
  if (load<u64>(rec, 16) == epoch) return load<u32>(rec, 8);
  let p = <usize>load<u32>(rec);
  let n = <usize>load<u32>(rec, 4);
  let ref: u32;
  if (n == 0) ref = 0;
  else if (keyed && !hashed && keyedGen == gGeneration()) ref = append(p, n);
  else ref = intern(p, n);
  let owner = load<u32>(rec, 12);
  let stamp = load<u64>(rec, 16);
  if (stamp != 0 && owner != current) unkey(owner, stamp);
  store<u32>(rec, ref, 8);
  store<u32>(rec, current, 12);
  store<u64>(rec, epoch, 16);
  return ref;
}

/**
 * Appends one 2.0 TimeSeries: labels from the 1.0 label block at labels[0..labelsLen), the
 * `n` samples staged as for addSeries(), and metadata (type; help and unit strings staged
 * in `lstage` at [0..helpLen) and [helpLen..helpLen+unitLen), after the labels were built). Returns 0 or an error code
 * with errorIndex() naming the sample, as addSeries().
 */
export function v2AddSeries(labels: usize, labelsLen: usize, n: u32, flags: u32, type: u32, helpLen: usize, unitLen: usize): i32 {
  let r = scan(n, flags);
  if (r < 0) return r;
  let refsAt = (<usize>n << 4);
  let xBytes = exemplarsSize();
  let st = startTs;
  let stBytes: usize = st != 0 ? <usize>1 + varint64Size(<u64>st) : <usize>0;
  let w = v2Head(labels, labelsLen, refsAt, scanBytes + xBytes + <usize>n * stBytes, type, helpLen, unitLen);
  let vals = stage.ptr;
  let ts = vals + (<usize>n << 3);
  for (let i: usize = 0; i < <usize>n; i++) {
    let bits = load<u64>(vals + (i << 3));
    let t = load<i64>(ts + (i << 3));
    if (st == 0) {
      w = writeSample(w, bits, t);
      continue;
    }
    // Sample { value = 1; timestamp = 2; start_timestamp = 3 }: the length byte grows by stBytes.
    let at = w;
    w = writeSample(w, bits, t);
    store<u8>(at + 1, load<u8>(at + 1) + <u8>stBytes);
    store<u8>(w++, (3 << 3) | 0);
    w = writeVarint64(w, <u64>st);
  }
  startTs = 0;
  w = writeExemplars(w);
  seriesLen = v2Tail(w);
  return 0;
}

/** The start timestamp (ms) of the next v2AddSeries()' samples; 0 = none. Consumed by it. */
let startTs: i64 = 0;

/** Sets the start timestamp of the samples of the next v2AddSeries() (ms; 0 for none). */
export function v2StartSet(ms: f64): void {
  startTs = <i64>ms;
}

/** Refs of the labels of staged exemplar record `r` (its global ids follow its label block). */
function exemplarRefsSize(r: usize): usize {
  let ids = labelIds(<usize>load<u32>(r), <usize>load<u32>(r, 4));
  let n = <usize>load<u32>(ids) << 1;
  let size: usize = 0;
  for (let k: usize = 0; k < n; k++) size += varint32Size(localRef(load<u32>(ids + 4 + (k << 2))));
  return size;
}

/** Bytes of the staged exemplars as TimeSeries.exemplars fields (interning their strings). */
function exemplarsSize(): usize {
  let total: usize = 0;
  for (let i: u32 = 0; i < exemplarCount; i++) {
    let r = exemplarRecord(i);
    let refs = exemplarRefsSize(r);
    let m = (refs > 0 ? <usize>1 + varint32Size(<u32>refs) + refs : <usize>0) + exemplarScalars(r);
    total += 1 + varint32Size(<u32>m) + m;
  }
  return total;
}

/** Writes the staged exemplars (their refs are cached by exemplarsSize()) and clears them. */
function writeExemplars(w: usize): usize {
  for (let i: u32 = 0; i < exemplarCount; i++) {
    let r = exemplarRecord(i);
    let refs = exemplarRefsSize(r);
    let m = (refs > 0 ? <usize>1 + varint32Size(<u32>refs) + refs : <usize>0) + exemplarScalars(r);
    store<u8>(w++, TAG_EXEMPLAR);
    w = writeVarint32(w, <u32>m);
    if (refs > 0) {
      store<u8>(w++, (1 << 3) | 2);
      w = writeVarint32(w, <u32>refs);
      let ids = labelIds(<usize>load<u32>(r), <usize>load<u32>(r, 4));
      let n = <usize>load<u32>(ids) << 1;
      for (let k: usize = 0; k < n; k++) w = writeVarint32(w, localRef(load<u32>(ids + 4 + (k << 2))));
    }
    w = writeExemplarScalars(w, r);
  }
  exemplarClear();
  return w;
}

/**
 * Appends one 2.0 TimeSeries holding `count` native histograms staged in `stage` (layout in
 * histogram.ts; JS validated them), with labels and metadata as v2AddSeries().
 */
export function v2AddHistSeries(labels: usize, labelsLen: usize, count: u32, staged: usize, type: u32, helpLen: usize, unitLen: usize): i32 {
  let body: usize = 0;
  let r = stage.ptr;
  for (let i: u32 = 0; i < count; i++) {
    let m = histogramSize(r, true);
    body += 1 + varint32Size(<u32>m) + m;
    r += histRecordSize(r);
  }
  let xBytes = exemplarsSize();
  let w = v2Head(labels, labelsLen, staged, body + xBytes, type, helpLen, unitLen);
  r = stage.ptr;
  for (let i: u32 = 0; i < count; i++) {
    store<u8>(w++, TAG_HISTOGRAM);
    w = writeVarint32(w, <u32>histogramSize(r, true));
    w = writeHistogram(w, r, true);
    r += histRecordSize(r);
  }
  w = writeExemplars(w);
  seriesLen = v2Tail(w);
  return 0;
}

/**
 * v2AddSeries() for `count` one-sample series without metadata, from addSingles() records in
 * `stage`: one call instead of one per series. Returns 0, or an error code with errorIndex()
 * naming the record; the records before it are appended.
 */
export function v2AddSingles(count: u32): i32 {
  errIndexSet(-1);
  let keep = <usize>count * SINGLE;
  for (let i: u32 = 0; i < count; i++) {
    let rec = stage.ptr + <usize>i * SINGLE;
    let t = singleTimestamp(rec);
    if (singleCode < 0) {
      errIndexSet(<i32>i);
      return singleCode;
    }
    let bits = load<u64>(rec, 16);
    let w = v2Head(<usize>load<u32>(rec), <usize>load<u32>(rec, 4), keep, 2 + samplePayload(bits, t), 0, 0, 0);
    // v2Head may have moved `stage`: read the record again through the new pointer.
    w = writeSample(w, load<u64>(stage.ptr + <usize>i * SINGLE, 16), t);
    seriesLen = v2Tail(w);
  }
  return 0;
}

// The metadata of the series being written, between v2Head() and v2Tail().
let metaType: u32 = 0;
let metaHelp: u32 = 0;
let metaUnit: u32 = 0;
let metaLen: usize = 0;

/**
 * Interns the labels (refs kept in `stage` after its first `keep` bytes) and the metadata
 * strings, reserves the series record for a payload of `payload` bytes (samples or
 * histograms), writes its tag, length and labels_refs, and returns where the payload goes.
 */
function v2Head(labels: usize, labelsLen: usize, keep: usize, payload: usize, type: u32, helpLen: usize, unitLen: usize): usize {
  metaType = type;
  metaHelp = helpLen > 0 ? intern(lstage.ptr, helpLen) : 0;
  metaUnit = unitLen > 0 ? intern(lstage.ptr + helpLen, unitLen) : 0;
  metaLen = (type != 0 ? <usize>1 + varint32Size(type) : <usize>0) +
    (metaHelp != 0 ? <usize>1 + varint32Size(metaHelp) : <usize>0) + (metaUnit != 0 ? <usize>1 + varint32Size(metaUnit) : <usize>0);
  // The global ids of the block's strings follow it (prompb.ts buildLabels), then its cache:
  // where this request wrote the block's labels_refs field before, if it did.
  let ids = labelIds(labels, labelsLen);
  let labelCount = <usize>load<u32>(ids);
  let cache = ids + 4 + (labelCount << 3);
  if (load<u64>(cache) == refsEpoch) {
    let len = <usize>load<u32>(cache, 12);
    let body = len + payload + 2 + metaLen;
    let w = reserve(series, seriesLen + 6 + body + 8, seriesLen) + seriesLen;
    store<u8>(w++, TAG_SERIES);
    w = writeVarint32(w, <u32>body);
    memory.copy(w, series.ptr + <usize>load<u32>(cache, 8), len);
    return w + len;
  }
  let refs = reserve(stage, keep + (labelCount << 3) + 16, keep) + keep;
  let count = labelCount << 1;
  let refsLen: usize = 0;
  for (let k: usize = 0; k < count; k++) {
    let ref = localRef(load<u32>(ids + 4 + (k << 2)));
    store<u32>(refs + (k << 2), ref);
    refsLen += varint32Size(ref);
  }
  let field = refsLen > 0 ? <usize>1 + varint32Size(<u32>refsLen) + refsLen : <usize>0;
  let body = field + payload + 2 + metaLen;

  let w = reserve(series, seriesLen + 6 + body + 8, seriesLen) + seriesLen;
  store<u8>(w++, TAG_SERIES);
  w = writeVarint32(w, <u32>body);
  store<u64>(cache, refsEpoch);
  store<u32>(cache, <u32>(w - series.ptr), 8);
  store<u32>(cache, <u32>field, 12);
  if (refsLen > 0) {
    store<u8>(w++, TAG_REFS);
    w = writeVarint32(w, <u32>refsLen);
    for (let k: usize = 0; k < count; k++) w = writeVarint32(w, load<u32>(refs + (k << 2)));
  }
  return w;
}

/** Writes the metadata that v2Head() prepared; returns the new length of the series region. */
function v2Tail(w: usize): usize {
  // Metadata is always written, as Prometheus does (an empty message when nothing is known).
  store<u8>(w++, TAG_METADATA);
  store<u8>(w++, <u8>metaLen);
  if (metaType != 0) {
    store<u8>(w++, TAG_META_TYPE);
    w = writeVarint32(w, metaType);
  }
  if (metaHelp != 0) {
    store<u8>(w++, TAG_META_HELP);
    w = writeVarint32(w, metaHelp);
  }
  if (metaUnit != 0) {
    store<u8>(w++, TAG_META_UNIT);
    w = writeVarint32(w, metaUnit);
  }
  return w - series.ptr;
}

/**
 * Reserves `bytes` of `lstage` for a series' help and unit strings; returns its pointer. The
 * label strings staged there before are no longer needed once the label block is built.
 */
export function v2MetaReserve(bytes: usize): usize {
  return reserve(lstage, bytes + 8, 0);
}

/** Writes the request (symbols, then series) into `out`; returns its length. */
export function v2Finish(): usize {
  let total = symbolsLen + seriesLen;
  let p = reserve(out, total, 0);
  memory.copy(p, symbols.ptr, symbolsLen);
  memory.copy(p + symbolsLen, series.ptr, seriesLen);
  setOutLen(total);
  return total;
}

/** Symbols in the current request's table ("" included). */
export function v2SymbolCount(): u32 {
  return symbolCount;
}
