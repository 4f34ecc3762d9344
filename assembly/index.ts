// The core's ABI: numbers in, numbers out (pointers, lengths, counts, negative error
// codes from errors.ts). No AS strings, arrays or classes cross the boundary. This file only
// wires the exports: the modules below do the work, and the one-line wrappers here hand out
// the staging regions (memory.ts) and the series cache's counters.

import { arenaReset, arenaSize, arenaUsedBytes, input, lstage, raw, reserve, snap, stage } from "./memory";
import { gReset } from "./gstrings";

export { errorIndex } from "./errors";
export { buildLabels, resultHash, resultLen, resultPtr } from "./labels";
export { checkSeries } from "./samples";
export {
  addExemplarSeries, addHistSeries, addMetadataV1, addSeries, addSingles, reqLen, reqPtr, reqTruncate,
} from "./prompb";
export { addSinglesTo, reqReset, reqSelect } from "./slots";
export { exemplarReserve, exemplarSet } from "./exemplars";
export {
  v2AddHistSeries, v2AddSeries, v2AddSingles, v2Finish, v2StartSet, v2Templates, v2MetaReserve, v2Reset, v2SeriesLen, v2SymbolCount, v2SymbolsLen, v2Truncate,
} from "./prompb2";
export { compressInput, decompressInput, reqCompress } from "./compression";

/** Makes `stage` hold `bytes` and returns its pointer; the previous contents are dropped. */
export function stageReserve(bytes: usize): usize { return reserve(stage, bytes, 0); }
/** Makes `lstage` hold `bytes` and returns its pointer; the previous contents are dropped. */
export function labelStageReserve(bytes: usize): usize { return reserve(lstage, bytes, 0); }
/** Makes `input` hold `bytes` and returns its pointer, for JS to copy bytes into. */
export function inputReserve(bytes: usize): usize { return reserve(input, bytes, 0); }
/** Pointer of the compressed request (valid until the next allocating call). */
export function snapPtr(): usize { return snap.ptr; }
/** Pointer of the last decompressed bytes. */
export function rawPtr(): usize { return raw.ptr; }

/** Drops every cached label block (and their strings' global ids); JS invalidates its handles by generation. */
export function cacheReset(): void {
  arenaReset();
  gReset();
}
/** Bytes of label blocks in the series cache. */
export function cacheBytes(): usize { return arenaUsedBytes(); }
/** Bytes of linear memory the series cache holds (whole chunks). */
export function cacheHeldBytes(): usize { return arenaSize(); }
