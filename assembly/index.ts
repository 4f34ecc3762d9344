// The core's ABI: numbers in, numbers out (pointers, lengths, counts, negative error
// codes from errors.ts). No AS strings, arrays or classes cross the boundary.

import { E_TOO_LARGE } from "./errors";
import { arenaReset, arenaSize, arenaUsedBytes, input, raw, reserve, snap } from "./memory";
import { reqLen, reqPtr } from "./prompb";
import { compress, decodedLen, decompress, maxCompressedLen } from "./snappy";
import { gReset } from "./gstrings";
export { exemplarReserve, exemplarSet } from "./exemplars";

export {
  addExemplarSeries, addHistSeries, addMetadataV1, addSeries, addSingles, buildLabels, checkSeries, errorIndex, labelStageReserve, reqLen, reqPtr,
  reqTruncate,
  resultHash, resultLen, resultPtr, stageReserve,
} from "./prompb";

export {
  v2AddHistSeries, v2AddSeries, v2AddSingles, v2Finish, v2StartSet, v2Templates, v2MetaReserve, v2Reset, v2SeriesLen, v2SymbolCount, v2SymbolsLen, v2Truncate,
} from "./prompb2";
import { appendSinglesTo, currentSlot, reqReset as v1Reset, selectV1 } from "./prompb";
import { v2Abandon, v2Swap } from "./prompb2";

/** Starts a 1.0 request in the selected slot (a 2.0 request the slot was building is given up). */
export function reqReset(): void {
  v1Reset();
  v2Abandon();
}

/**
 * Selects request slot k (0 <= k < 4096): later calls on the request being built (1.0 or
 * 2.0) act on slot k's. Returns 0, or -1 for a slot out of range.
 */
export function reqSelect(k: u32): i32 {
  let prev = currentSlot();
  let r = selectV1(k);
  if (r == 0 && prev != k) v2Swap(prev, k);
  return r;
}

/**
 * One-sample series into several 1.0 requests in one call (see prompb.ts appendSinglesTo).
 * The 2.0 state stays with the slot selected before the call until the end, then follows.
 */
export function addSinglesTo(count: u32): i32 {
  let prev = currentSlot();
  let rc = appendSinglesTo(count);
  let now = currentSlot();
  if (now != prev) v2Swap(prev, now);
  return rc;
}

/** Drops every cached label block (and their strings' global ids); JS invalidates its handles by generation. */
export function cacheReset(): void {
  arenaReset();
  gReset();
}
/** Bytes of label blocks in the series cache. */
export function cacheBytes(): usize { return arenaUsedBytes(); }
/** Bytes of linear memory the series cache holds (whole chunks). */
export function cacheHeldBytes(): usize { return arenaSize(); }

let snapLen: usize = 0;

/** Snappy-compresses the current request into `snap`; returns the compressed length. */
export function reqCompress(): usize {
  let n = reqLen();
  let dst = reserve(snap, maxCompressedLen(n), 0);
  snapLen = compress(reqPtr(), n, dst);
  return snapLen;
}
/** Pointer of the compressed request (valid until the next allocating call). */
export function snapPtr(): usize { return snap.ptr; }

/** Makes `input` hold `bytes` and returns its pointer, for JS to copy bytes into. */
export function inputReserve(bytes: usize): usize { return reserve(input, bytes, 0); }

/**
 * Snappy-compresses input[0..len) into `snap`; returns the compressed length
 * (read it at snapPtr()).
 */
export function compressInput(len: usize): usize {
  let dst = reserve(snap, maxCompressedLen(len), 0);
  return compress(input.ptr, len, dst);
}

/**
 * Decompresses input[0..len) into `raw`, refusing a decoded length above maxLen.
 * Returns the decoded length, or a negative error code. Read the bytes at rawPtr().
 */
export function decompressInput(len: usize, maxLen: usize): i32 {
  let n = decodedLen(input.ptr, len);
  if (n < 0) return <i32>n;
  if (<u64>n > <u64>maxLen) return E_TOO_LARGE;
  let dst = reserve(raw, max<usize>(<usize>n, 1), 0);
  let r = decompress(input.ptr, len, dst, <usize>n);
  return r < 0 ? r : <i32>n;
}
/** Pointer of the last decompressed bytes. */
export function rawPtr(): usize { return raw.ptr; }
