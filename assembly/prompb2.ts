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

import { Region, copyShort, lstage, out, reserve, stage } from "./memory";
import { errIndexSet } from "./errors";
import { SINGLE, samplePayload, scan, scanBytes, scanTsSize, singleCode, singleTimestamp, writeSample, writeSamples } from "./samples";
import { setOutLen } from "./prompb";
import { hashBytes } from "./hash";
import { gGeneration, gRecord, labelIds } from "./gstrings";
import { exemplarClear, exemplarCount, exemplarRecord, exemplarScalars, writeExemplarScalars } from "./exemplars";
import { varint32Size, varint64Size, writeVarint32, writeVarint64 } from "./varint";
import { histogramFieldsSize, writeHistogramFields } from "./histogram";

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

// ---- request templates ------------------------------------------------------------------
//
// A gateway sends the same series, in the same order, every scrape: its requests' symbols
// tables and labels_refs come out the same each time. A finished request whose every symbol
// came from its series' labels is kept as a template, keyed by its first label block: per
// series, the block, its labels_refs field, and the symbol count and bytes after it; then the
// symbols table. A request whose first series has that block follows the template while its
// series keep matching: each one's labels_refs field is copied, and nothing is interned. The
// symbols table is materialized (the template's, up to where the request got) when the
// request ends, or when it stops matching, after which it goes on as usual, interning by
// bytes (keyed = false). Blocks are addresses in the series cache arena: valid, and holding
// the same labels, within one generation of global ids (cacheReset() bumps it).

/** Template being followed (its blob), 0 when none. */
let tFollow: usize = 0;
/** Series of the template matched so far. */
let tPos: u32 = 0;
/** The request may become a template: every symbol so far came from its series' labels. */
let tPure: bool = true;
/** The request matched a template from its first series (then it is no new template). */
let tFollowed: bool = false;
/** Per series head of the request: block, labels_refs field offset in `series`, field length, symbolCount and symbolsLen after it. */
const trace = new Region();
let traceLen: u32 = 0;
const TRACE_ENTRY: usize = 20;

/** Templates by first block (open addressing over T_PROBE slots); each is one heap block (see tSave). */
const T_SLOTS: u32 = 256;
const T_PROBE: usize = 4;
const tKeys = memory.data(<i32>T_SLOTS * 4, 8);
const tBlobs = memory.data(<i32>T_SLOTS * 4, 8);
// Template blob: u32 gen, n, refsBytes, symbolsLen, symbolCount, followers (requests following
// it now), detached (replaced while followed: freed by its last follower), then n entries of 5
// u32 (block, refs offset in the blob's refs area, refs length, symbolCount and symbolsLen after
// it), then the refs area, the symbols bytes and the symbol index (8 bytes a symbol).
const T_HEAD: usize = 28;
/** Templates use at most this much heap memory (v2Templates; 0 = none kept). */
let tBudget: usize = 0;
let tBytes: usize = 0;

/**
 * Sets how much heap memory templates may hold (JS: a quarter of the series cache's budget;
 * 0 under maxMemoryBytes, which did not budget for them). Set once, before any request.
 */
export function v2Templates(bytes: usize): void {
  tBudget = bytes;
}

/** Frees a template blob. */
function tFree(blob: usize): void {
  tBytes -= tSize(blob);
  heap.free(blob);
}

function tSize(blob: usize): usize {
  let n = <usize>load<u32>(blob, 4);
  return T_HEAD + n * TRACE_ENTRY + <usize>load<u32>(blob, 8) + <usize>load<u32>(blob, 12) + (<usize>load<u32>(blob, 16) << 3);
}

/** The request stops following its template (freed if it was replaced meanwhile and nobody else follows it). */
function tUnfollow(): void {
  let blob = tFollow;
  tFollow = 0;
  let f = load<u32>(blob, 20) - 1;
  store<u32>(blob, f, 20);
  if (f == 0 && load<u32>(blob, 24) != 0) tFree(blob);
}

// @ts-ignore: decorator
@inline
function tSlot(block: usize): usize {
  return <usize>((<u32>(block >>> 3) * 0x9e3779b1) >>> 24) << 2; // 256 slots, as byte offsets
}

/** The slot (byte offset) holding the template of `block`, or where to put it: a free one, or its home. */
function tFind(block: usize): usize {
  let home = tSlot(block);
  let free: usize = <usize>-1;
  for (let i: usize = 0; i < T_PROBE; i++) {
    let k = (home + (i << 2)) & ((<usize>T_SLOTS << 2) - 1);
    let key = load<u32>(tKeys + k);
    if (key == <u32>block) return k;
    if (key == 0 && free == <usize>-1) free = k;
  }
  return free != <usize>-1 ? free : home;
}

// Per request slot (see prompb.ts selectV1): the 2.0 state of every slot's request, swapped
// in and out of the globals above by v2Swap() (slots.ts calls it with selectV1).
const SLOT_WORDS: usize = 26;
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
  store<usize>(a, tFollow, 19 * W); store<usize>(a, <usize>tPos, 20 * W);
  store<usize>(a, <usize>tPure | (<usize>tFollowed << 1), 21 * W);
  store<usize>(a, trace.ptr, 22 * W); store<usize>(a, trace.cap, 23 * W); store<usize>(a, <usize>traceLen, 24 * W);
  let b = v2slots + <usize>to * SLOT_WORDS * W;
  symbols.ptr = load<usize>(b); symbols.cap = load<usize>(b, W); symbolsLen = load<usize>(b, 2 * W);
  symbolIndex.ptr = load<usize>(b, 3 * W); symbolIndex.cap = load<usize>(b, 4 * W); symbolCount = <u32>load<usize>(b, 5 * W);
  slots.ptr = load<usize>(b, 6 * W); slots.cap = load<usize>(b, 7 * W); slotMask = <u32>load<usize>(b, 8 * W);
  series.ptr = load<usize>(b, 9 * W); series.cap = load<usize>(b, 10 * W); seriesLen = load<usize>(b, 11 * W);
  epoch = load<u64>(b, 12 * W);
  keyed = load<usize>(b, 14 * W) != 0; keyedGen = <u32>load<usize>(b, 15 * W); hashed = load<usize>(b, 16 * W) != 0;
  refsEpoch = load<u64>(b, 17 * W);
  tFollow = load<usize>(b, 19 * W); tPos = <u32>load<usize>(b, 20 * W);
  let f = load<usize>(b, 21 * W);
  tPure = (f & 1) != 0; tFollowed = (f & 2) != 0;
  trace.ptr = load<usize>(b, 22 * W); trace.cap = load<usize>(b, 23 * W); traceLen = <u32>load<usize>(b, 24 * W);
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
export function v2SymbolsLen(): usize { return tFollow != 0 ? tSymbolsLen() : symbolsLen; }

/**
 * Cuts the selected 2.0 request back to an earlier state (series bytes, symbol count and
 * symbol bytes, as v2SeriesLen/v2SymbolCount/v2SymbolsLen gave them): undoes later appends.
 */
export function v2Truncate(seriesBytes: usize, count: u32, symbolBytes: usize): void {
  tLeave(); // the trace would have to be cut too: this request will not be a template
  traceLen = 0;
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

/**
 * The selected slot starts a 1.0 request (slots.ts reqReset): a 2.0 request it was building is
 * given up, and with it the template that request followed.
 */
export function v2Abandon(): void {
  if (tFollow != 0) tUnfollow();
  tPos = 0;
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
  if (tFollow != 0) tUnfollow(); // a request given up while it followed one
  tPos = 0;
  tPure = true;
  tFollowed = false;
  traceLen = 0;
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
  if (exemplarCount > 0) tLeave();
  let xBytes = exemplarsSize();
  let st = startTs;
  let stBytes: usize = st != 0 ? <usize>1 + varint64Size(<u64>st) : <usize>0;
  let w = v2Head(labels, labelsLen, refsAt, scanBytes() + xBytes + <usize>n * stBytes, type, helpLen, unitLen);
  let vals = stage.ptr;
  let ts = vals + (<usize>n << 3);
  if (st == 0) w = writeSamples(w, vals, ts, <usize>n, scanTsSize());
  else for (let i: usize = 0; i < <usize>n; i++) {
    let bits = load<u64>(vals + (i << 3));
    let t = load<i64>(ts + (i << 3));
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
  let body = histogramFieldsSize(stage.ptr, count, true);
  if (exemplarCount > 0) tLeave();
  let xBytes = exemplarsSize();
  let w = v2Head(labels, labelsLen, staged, body + xBytes, type, helpLen, unitLen);
  w = writeHistogramFields(w, stage.ptr, count, TAG_HISTOGRAM, true);
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
    if (singleCode() < 0) {
      errIndexSet(<i32>i);
      return singleCode();
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
  if (helpLen > 0 || unitLen > 0) tLeave();
  else if (tFollow != 0 || (traceLen == 0 && tPure && seriesLen == 0)) {
    let w = tHead(labels, payload, type);
    if (w != 0) return w;
  }
  metaType = type;
  metaHelp = helpLen > 0 ? intern(lstage.ptr, helpLen) : 0;
  metaUnit = unitLen > 0 ? intern(lstage.ptr + helpLen, unitLen) : 0;
  metaLen = (type != 0 ? <usize>1 + varint32Size(type) : <usize>0) +
    (metaHelp != 0 ? <usize>1 + varint32Size(metaHelp) : <usize>0) + (metaUnit != 0 ? <usize>1 + varint32Size(metaUnit) : <usize>0);
  // The global ids of the block's strings follow it (labels.ts buildLabels), then its cache:
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
    // From earlier in this request to its end: a cached offset is below seriesLen (a new
    // epoch starts at every truncation and reset), so the two never overlap.
    copyShort(w, series.ptr + <usize>load<u32>(cache, 8), len);
    if (tPure) tTrace(labels, w - series.ptr, len);
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
  let fieldAt = w;
  if (refsLen > 0) {
    store<u8>(w++, TAG_REFS);
    w = writeVarint32(w, <u32>refsLen);
    for (let k: usize = 0; k < count; k++) w = writeVarint32(w, load<u32>(refs + (k << 2)));
  }
  if (tPure) tTrace(labels, fieldAt - series.ptr, w - fieldAt);
  return w;
}

/** Appends a trace entry for the series head just written (symbols as they are now). */
function tTrace(block: usize, off: usize, len: usize): void {
  let e = reserve(trace, (<usize>traceLen + 1) * TRACE_ENTRY, <usize>traceLen * TRACE_ENTRY) + <usize>traceLen * TRACE_ENTRY;
  store<u32>(e, <u32>block);
  store<u32>(e, <u32>off, 4);
  store<u32>(e, <u32>len, 8);
  store<u32>(e, symbolCount, 12);
  store<u32>(e, <u32>symbolsLen, 16);
  traceLen++;
}

/** The followed template's blob. */
// @ts-ignore: decorator
@inline
function tBlob(): usize {
  return tFollow;
}

/** Symbols the request holds while it follows its template (after tPos series; "" before any). */
function tSymbolCount(): u32 {
  return tPos == 0 ? 1 : load<u32>(tBlob() + T_HEAD + <usize>(tPos - 1) * TRACE_ENTRY, 12);
}

function tSymbolsLen(): usize {
  return tPos == 0 ? 2 : <usize>load<u32>(tBlob() + T_HEAD + <usize>(tPos - 1) * TRACE_ENTRY, 16);
}

/**
 * The series head of a request that may follow a template: 0 when it does not (or no longer
 * does: then the symbols so far are materialized and the caller goes on as usual).
 */
function tHead(labels: usize, payload: usize, type: u32): usize {
  if (tFollow == 0) {
    // The request's first series: is there a template that starts with its block?
    let k = tFind(labels);
    let blob = <usize>load<u32>(tBlobs + k);
    if (blob == 0 || load<u32>(tKeys + k) != <u32>labels || load<u32>(blob) != gGeneration() || symbolCount != 1) return 0;
    tFollow = blob;
    store<u32>(blob, load<u32>(blob, 20) + 1, 20);
    tPos = 0;
    tFollowed = true;
  }
  let blob = tBlob();
  let n = load<u32>(blob, 4);
  let e = blob + T_HEAD + <usize>tPos * TRACE_ENTRY;
  // A cache reset since the template was made: block addresses may now hold other labels.
  if (tPos >= n || <usize>load<u32>(e) != labels || load<u32>(blob) != gGeneration()) {
    tMaterialize();
    keyed = false; // the materialized symbols carry no cached refs: intern by bytes from here
    hashed = false;
    epoch = ++epochs;
    return 0;
  }
  metaType = type;
  metaHelp = 0;
  metaUnit = 0;
  metaLen = type != 0 ? <usize>1 + varint32Size(type) : <usize>0;
  let len = <usize>load<u32>(e, 8);
  let refs = blob + T_HEAD + <usize>n * TRACE_ENTRY + <usize>load<u32>(e, 4);
  let body = len + payload + 2 + metaLen;
  let w = reserve(series, seriesLen + 6 + body + 8, seriesLen) + seriesLen;
  store<u8>(w++, TAG_SERIES);
  w = writeVarint32(w, <u32>body);
  memory.copy(w, refs, len);
  tTraceAt(e, w - series.ptr);
  tPos++;
  return w + len;
}

/** A trace entry copied from the template (the refs field now at `off` in this request). */
function tTraceAt(src: usize, off: usize): void {
  let e = reserve(trace, (<usize>traceLen + 1) * TRACE_ENTRY, <usize>traceLen * TRACE_ENTRY) + <usize>traceLen * TRACE_ENTRY;
  store<u32>(e, load<u32>(src));
  store<u32>(e, <u32>off, 4);
  store<u32>(e, load<u32>(src, 8), 8);
  store<u32>(e, load<u32>(src, 12), 12);
  store<u32>(e, load<u32>(src, 16), 16);
  traceLen++;
}

/** Stops following the template: the symbols table becomes the template's up to tPos. */
function tMaterialize(): void {
  if (tFollow == 0) return;
  let blob = tBlob();
  let n = <usize>load<u32>(blob, 4);
  let count = tSymbolCount();
  let len = tSymbolsLen();
  let syms = blob + T_HEAD + n * TRACE_ENTRY + <usize>load<u32>(blob, 8);
  let index = syms + <usize>load<u32>(blob, 12);
  let p = reserve(symbols, len + 8, 0);
  memory.copy(p, syms, len);
  let q = reserve(symbolIndex, <usize>count << 3, 0);
  memory.copy(q, index, <usize>count << 3);
  symbolCount = count;
  symbolsLen = len;
  tUnfollow();
}

/** Leaves the template for good: something other than series labels enters the symbols table. */
function tLeave(): void {
  if (tFollow != 0) {
    tMaterialize();
    keyed = false;
    hashed = false;
    epoch = ++epochs;
  }
  tPure = false;
}

/** The generation of global ids the templates were last swept for. */
let tGen: u32 = 0;

/** Drops the templates of older generations (their blocks are gone): freed, or by their last follower. */
function tSweep(): void {
  tGen = gGeneration();
  for (let k: usize = 0; k < (<usize>T_SLOTS << 2); k += 4) {
    let blob = <usize>load<u32>(tBlobs + k);
    if (blob == 0 || load<u32>(blob) == tGen) continue;
    store<u32>(tBlobs + k, 0);
    store<u32>(tKeys + k, 0);
    if (load<u32>(blob, 20) == 0) tFree(blob);
    else store<u32>(blob, 1, 24);
  }
}

/** Keeps the finished request as the template of its first block. */
function tSave(): void {
  let n = <usize>traceLen;
  let refsBytes: usize = 0;
  for (let i: usize = 0; i < n; i++) refsBytes += <usize>load<u32>(trace.ptr + i * TRACE_ENTRY, 8);
  let size = T_HEAD + n * TRACE_ENTRY + refsBytes + symbolsLen + (<usize>symbolCount << 3);
  let first = <usize>load<u32>(trace.ptr);
  let k = tFind(first);
  let old = <usize>load<u32>(tBlobs + k);
  if (old != 0) {
    store<u32>(tBlobs + k, 0);
    store<u32>(tKeys + k, 0);
    // Followed by a request in another slot: its last follower frees it.
    if (load<u32>(old, 20) == 0) tFree(old);
    else store<u32>(old, 1, 24);
  }
  if (tGen != gGeneration() || tBytes + size > tBudget) tSweep();
  if (tBytes + size > tBudget) return;
  let blob = heap.alloc(size);
  tBytes += size;
  store<u32>(blob, gGeneration());
  store<u32>(blob, <u32>n, 4);
  store<u32>(blob, <u32>refsBytes, 8);
  store<u32>(blob, <u32>symbolsLen, 12);
  store<u32>(blob, symbolCount, 16);
  store<u32>(blob, 0, 20);
  store<u32>(blob, 0, 24);
  let refs = blob + T_HEAD + n * TRACE_ENTRY;
  let at: usize = 0;
  for (let i: usize = 0; i < n; i++) {
    let src = trace.ptr + i * TRACE_ENTRY;
    let dst = blob + T_HEAD + i * TRACE_ENTRY;
    let len = <usize>load<u32>(src, 8);
    store<u32>(dst, load<u32>(src));
    store<u32>(dst, <u32>at, 4);
    store<u32>(dst, <u32>len, 8);
    store<u32>(dst, load<u32>(src, 12), 12);
    store<u32>(dst, load<u32>(src, 16), 16);
    memory.copy(refs + at, series.ptr + <usize>load<u32>(src, 4), len);
    at += len;
  }
  memory.copy(refs + refsBytes, symbols.ptr, symbolsLen);
  memory.copy(refs + refsBytes + symbolsLen, symbolIndex.ptr, <usize>symbolCount << 3);
  store<u32>(tKeys + k, <u32>first);
  store<u32>(tBlobs + k, <u32>blob);
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
  if (tFollow != 0) {
    // The request is a prefix of its template: nothing new to keep. Its table is now an
    // ordinary one, with no refs cached (as after tLeave), should anything be appended still.
    tMaterialize();
    keyed = false;
    hashed = false;
    epoch = ++epochs;
  } else if (tPure && traceLen > 0 && keyedGen == gGeneration()) {
    // A new template, or one that replaces the template it followed for a while. Not if the
    // series cache was reset while the request was open: its first blocks are addresses of
    // the old generation, which the new one reuses for other label sets.
    tSave();
  }
  let total = symbolsLen + seriesLen;
  let p = reserve(out, total, 0);
  memory.copy(p, symbols.ptr, symbolsLen);
  memory.copy(p + symbolsLen, series.ptr, seriesLen);
  setOutLen(total);
  return total;
}

/** Symbols in the current request's table ("" included). */
export function v2SymbolCount(): u32 {
  return tFollow != 0 ? tSymbolCount() : symbolCount;
}
