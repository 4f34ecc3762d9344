// Snappy over the core's regions (the block format itself is snappy.ts): the request being
// built is compressed from `out` into `snap`, and bytes JS lends in `input` are compressed
// into `snap` or decompressed into `raw`, up to a length the caller allows.

import { E_TOO_LARGE } from "./errors";
import { input, raw, reserve, snap } from "./memory";
import { reqLen, reqPtr } from "./prompb";
import { compress, decodedLen, decompress, maxCompressedLen } from "./snappy";

/** Snappy-compresses the current request into `snap`; returns the compressed length. */
export function reqCompress(): usize {
  let n = reqLen();
  let dst = reserve(snap, maxCompressedLen(n), 0);
  return compress(reqPtr(), n, dst);
}

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
