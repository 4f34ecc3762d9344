// Sample records, shared by both encoders (shared/docs/protocol.md §1.1, §2):
//
//   message Sample       { double value = 1; int64 timestamp = 2; }
//
// (2.0 adds int64 start_timestamp = 3, which prompb2.ts appends.) Timestamps come from JS as
// f64 or int64, in milliseconds or seconds: scan() checks a staged series, converts it to
// int64 milliseconds in place and measures its records; writeSamples() then writes them
// forward. Zero scalars are omitted as proto3 does (a value is omitted only when its bits are
// all zero, so -0.0 survives). The one-sample records of addSingles() (SINGLE) are checked
// record by record with singleTimestamp().

import { E_TS_FRACTIONAL, E_TS_NOT_FINITE, E_TS_RANGE, E_TS_SECONDS, E_TS_UNSORTED, errIndexSet } from "./errors";
import { stage } from "./memory";
import { continuationBits, spread56, spread56x2, varint64Size, writeVarint64Wide } from "./varint";

// Tags: (field << 3) | wire type.
const TAG_SAMPLE: u8 = (2 << 3) | 2; //  TimeSeries.samples
const TAG_DOUBLE: u8 = (1 << 3) | 1; //  Sample.value
const TAG_TSTAMP: u8 = (2 << 3) | 0; //  Sample.timestamp

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
/** First timestamps below this are taken as seconds (2286-11-20 in seconds). */
const SECONDS_BELOW: f64 = 1e10;

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
 * is scanTsSize() from the scan() of these very samples: when it is not 0, every timestamp is
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

/**
 * Bytes of one record of addSingles()'s table (prompb.ts), which v2AddSingles() (prompb2.ts)
 * reads too:
 *   u32 labels pointer, u32 labels length, u32 flags (AS_*), u32 request slot (addSinglesTo
 *   only), u64 value bits, f64 timestamp (or i64 with AS_TS_I64).
 */
export const SINGLE: usize = 32;

/** 0, or the error code of the last singleTimestamp(); read through singleCode(). */
let singleErr: i32 = 0;

/** 0, or the error code of the last singleTimestamp(). */
// @ts-ignore: decorator
@inline
export function singleCode(): i32 { return singleErr; }

/**
 * The timestamp of an addSingles() record, checked and converted as scan() does; on error
 * singleCode() is set (and the result is meaningless).
 */
export function singleTimestamp(rec: usize): i64 {
  singleErr = 0;
  let flags = load<u32>(rec, 8);
  if ((flags & AS_TS_I64) != 0) {
    let t = load<i64>(rec, 24);
    if (inSeconds(flags, <f64>t)) {
      if ((flags & AS_STRICT) != 0) singleErr = E_TS_SECONDS;
      else if (t > i64.MAX_VALUE / 1000 || t < -(i64.MAX_VALUE / 1000)) singleErr = E_TS_RANGE;
      else t *= 1000;
    }
    return t;
  }
  let f = load<f64>(rec, 24);
  if (f - f != 0) {
    singleErr = E_TS_NOT_FINITE;
    return 0;
  }
  if (inSeconds(flags, f)) {
    if ((flags & AS_STRICT) != 0) {
      singleErr = E_TS_SECONDS;
      return 0;
    }
    f *= 1000;
  }
  let r = nearest<f64>(f);
  if ((flags & AS_STRICT) != 0 && r != f) singleErr = E_TS_FRACTIONAL;
  else if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0)) singleErr = E_TS_RANGE;
  return singleErr < 0 ? 0 : <i64>r;
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
let scanned: usize = 0;
/**
 * Varint size of every timestamp of the last scan() when they all share one (1..8) and are
 * positive, as a sorted series whose first and last timestamps do; else 0. writeSamples()
 * then writes without per-sample sizes.
 */
let scannedTsSize: usize = 0;

/** Bytes of the Sample records of the last scan() (see scanned). */
// @ts-ignore: decorator
@inline
export function scanBytes(): usize { return scanned; }
/** Varint size shared by every timestamp of the last scan(), or 0 (see scannedTsSize). */
// @ts-ignore: decorator
@inline
export function scanTsSize(): usize { return scannedTsSize; }

/**
 * One pass over a staged series: each timestamp is checked (finite, inside int64, the
 * seconds and strict rules), converted to int64 milliseconds in place, and compared with
 * the previous one (non-decreasing). Then, when `sized` (callers that write the samples),
 * the Sample records' size goes into scanBytes() and scanTsSize(). Returns 0, or an error code
 * with errorIndex() naming the sample.
 */
export function scan(n: u32, flags: u32, sized: bool = true): i32 {
  errIndexSet(-1);
  scanned = 0;
  scannedTsSize = 0;
  if (n == 0) return 0;
  let vals = stage.ptr;
  let ts = vals + (<usize>n << 3);
  let strict = (flags & AS_STRICT) != 0;
  let prev = i64.MIN_VALUE;
  if ((flags & AS_TS_I64) != 0) {
    let seconds = inSeconds(flags, <f64>load<i64>(ts));
    if (seconds && strict) {
      errIndexSet(0);
      return E_TS_SECONDS;
    }
    const LIMIT: i64 = i64.MAX_VALUE / 1000;
    for (let i: usize = 0; i < <usize>n; i++) {
      let t = load<i64>(ts + (i << 3));
      if (seconds) {
        if (t > LIMIT || t < -LIMIT) {
          errIndexSet(<i32>i);
          return E_TS_RANGE;
        }
        t *= 1000;
        store<i64>(ts + (i << 3), t);
      }
      if (t < prev) {
        errIndexSet(<i32>i);
        return E_TS_UNSORTED;
      }
      prev = t;
    }
  } else {
    let scale: f64 = 1;
    if (inSeconds(flags, load<f64>(ts))) {
      if (strict) {
        errIndexSet(0);
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
        errIndexSet(<i32>i);
        return g - g != 0 ? E_TS_NOT_FINITE : E_TS_RANGE;
      }
      if (strict && r != f) {
        errIndexSet(<i32>i);
        return E_TS_FRACTIONAL;
      }
      let t = <i64>r;
      store<i64>(ts + (i << 3), t);
      if (t < prev) {
        errIndexSet(<i32>i);
        return E_TS_UNSORTED;
      }
      prev = t;
    }
  }
  if (sized) scanned = samplesSize(vals, ts, <usize>n);
  return 0;
}

/**
 * Bytes of the Sample records of n sorted samples (sets scanTsSize()). When the first
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
    scannedTsSize = size;
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
