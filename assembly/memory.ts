// Memory layout of the core.
//
// The module owns every byte it hands out; JS never hard-codes an offset. Buffers live on
// the runtime's TLSF heap (runtime "minimal": we allocate only unmanaged memory, so its GC
// never runs) and are reached through a few long-lived regions:
//
//   stage   samples of one series, written by JS: f64 values[n], then f64|i64 timestamps[n]
//   lstage  label strings of one label set, written by JS (see labels.ts buildLabels)
//   out     the protobuf body of the request being built
//   snap    the snappy-compressed body
//   input   bytes JS lends for decompression; raw holds the decompressed result
//   scratch per-call working space (label sort table, ephemeral label blocks)
//
// A region grows by doubling (or to the exact need when that is larger) and keeps its
// contents only when asked to. Growth can move a region and replace memory.buffer, so JS
// refreshes its views after every call that may allocate (src/core/wasm.ts).
//
// Pre-encoded label blocks of the series cache live in an arena of chunks: appended to,
// never freed one by one, and dropped all together by cacheReset(). JS enforces the cap
// and tracks validity with a generation number.

/** A growable buffer on the heap. */
@unmanaged
export class Region {
  ptr: usize = 0;
  cap: usize = 0;
}

/**
 * Makes `r` hold at least `need` bytes and returns its pointer. The first `keep` bytes
 * survive a move; the rest of the contents are undefined.
 */
export function reserve(r: Region, need: usize, keep: usize): usize {
  if (need <= r.cap) return r.ptr;
  let cap = max<usize>(need, r.cap << 1);
  cap = (cap + 63) & ~<usize>63;
  if (r.ptr == 0) {
    r.ptr = heap.alloc(cap);
  } else if (keep > 0) {
    r.ptr = heap.realloc(r.ptr, cap);
  } else {
    heap.free(r.ptr);
    r.ptr = heap.alloc(cap);
  }
  r.cap = cap;
  return r.ptr;
}

export const stage = new Region();
export const lstage = new Region();
export const out = new Region();
export const snap = new Region();
export const input = new Region();
export const raw = new Region();
export const scratch = new Region();
/** Exemplars of the series being appended (see exemplars.ts). */
export const xstage = new Region();

// ---- series cache arena ----------------------------------------------------------------

/** Bytes of a fresh chunk; a label block larger than this gets a chunk of its own. */
const CHUNK: usize = 1 << 20;
/** Header of a chunk: the previous chunk's pointer. */
const CHUNK_HEADER: usize = 8;

let chunkHead: usize = 0; // newest chunk, linking back to older ones
let chunkPos: usize = 0; // next free byte in the newest chunk
let chunkEnd: usize = 0;
let arenaBytes: usize = 0; // held in chunks
let arenaUsed: usize = 0; // handed out

/** Returns `n` bytes from the cache arena; they stay valid until cacheReset(). */
export function arenaAlloc(n: usize): usize {
  if (chunkPos + n > chunkEnd) {
    let size = max<usize>(CHUNK, n + CHUNK_HEADER);
    let c = heap.alloc(size);
    store<usize>(c, chunkHead);
    chunkHead = c;
    chunkPos = c + CHUNK_HEADER;
    chunkEnd = c + size;
    arenaBytes += size;
  }
  let p = chunkPos;
  let step = (n + 7) & ~<usize>7;
  chunkPos += step;
  arenaUsed += step;
  return p;
}

/** Frees every chunk of the cache arena. */
export function arenaReset(): void {
  let c = chunkHead;
  while (c != 0) {
    let prev = load<usize>(c);
    heap.free(c);
    c = prev;
  }
  chunkHead = 0;
  chunkPos = 0;
  chunkEnd = 0;
  arenaBytes = 0;
  arenaUsed = 0;
}

/** Bytes held by the cache arena (whole chunks). */
export function arenaSize(): usize {
  return arenaBytes;
}

/** Bytes of the cache arena handed out to label blocks. */
export function arenaUsedBytes(): usize {
  return arenaUsed;
}

/**
 * Copies n bytes from src to dst (regions that do not overlap) with inline 16-byte moves.
 * V8 compiles memory.copy to a call into the engine's C memmove: for the short copies of
 * the hot paths, a label block of a few hundred bytes per series, that call costs more than
 * the copy. Long copies still go to memory.copy. Writes only dst[0..n).
 */
// @ts-ignore: decorator
@inline
export function copyShort(dst: usize, src: usize, n: usize): void {
  if (n >= 16 && n <= 512) {
    // Whole 16-byte moves, then one more that ends exactly at n (it may rewrite a few bytes).
    let end = n - 16;
    let i: usize = 0;
    while (i < end) {
      v128.store(dst + i, v128.load(src + i));
      i += 16;
    }
    v128.store(dst + end, v128.load(src + end));
  } else {
    memory.copy(dst, src, n);
  }
}
