// Protobuf base-128 varints (https://protobuf.dev/programming-guides/encoding/#varints).
// Helpers come in pairs: a size function and a writer that returns the new pointer. The
// caller reserves the worst case (5 bytes for u32, 10 for u64) before writing.

/** Bytes of the varint encoding of `v` (1..5). */
// @ts-ignore: decorator
@inline
export function varint32Size(v: u32): usize {
  return ((32 - clz<u32>(v | 1) + 6) / 7) as usize;
}

/** Bytes of the varint encoding of `v` (1..10); negative int64s take 10. */
// @ts-ignore: decorator
@inline
export function varint64Size(v: u64): usize {
  return ((64 - clz<u64>(v | 1) + 6) / 7) as usize;
}

/** Writes `v` at `p` and returns the pointer past it. */
// @ts-ignore: decorator
@inline
export function writeVarint32(p: usize, v: u32): usize {
  while (v >= 0x80) {
    store<u8>(p++, <u8>(v | 0x80));
    v >>>= 7;
  }
  store<u8>(p++, <u8>v);
  return p;
}

/** Writes `v` at `p` and returns the pointer past it. */
// @ts-ignore: decorator
@inline
export function writeVarint64(p: usize, v: u64): usize {
  while (v >= 0x80) {
    store<u8>(p++, <u8>(v | 0x80));
    v >>>= 7;
  }
  store<u8>(p++, <u8>v);
  return p;
}

/**
 * Writes `v` at `p` with one 8-byte store when it fits 8 varint bytes (v < 2^56: every
 * millisecond timestamp of the next two million years), and returns the pointer past it.
 * It assumes that 8 bytes at p are writable (the bytes past the varint are scratch).
 */
// @ts-ignore: decorator
@inline
export function writeVarint64Wide(p: usize, v: u64): usize {
  if (v >= (<u64>1 << 56)) return writeVarint64(p, v);
  let size = varint64Size(v);
  store<u64>(p, spread56(v) | continuationBits(size));
  return p + size;
}

/**
 * The 7-bit groups of v < 2^56 one per byte (group k in bits 8k..8k+6, bit 7 of every byte
 * clear): the varint's bytes before the continuation bits. Three halving steps (28-, 14-,
 * then 7-bit halves move up by 4, 2, 1 bits) instead of one shift and mask per group.
 */
// @ts-ignore: decorator
@inline
export function spread56(v: u64): u64 {
  v = (v & KEEP28) | ((v & MOVE28) << 4);
  v = (v & KEEP14) | ((v & MOVE14) << 2);
  return (v & KEEP7) | ((v & MOVE7) << 1);
}

/** spread56 of both 64-bit lanes. */
// @ts-ignore: decorator
@inline
export function spread56x2(v: v128): v128 {
  v = v128.or(v128.and(v, i64x2.splat(KEEP28)), i64x2.shl(v128.and(v, i64x2.splat(MOVE28)), 4));
  v = v128.or(v128.and(v, i64x2.splat(KEEP14)), i64x2.shl(v128.and(v, i64x2.splat(MOVE14)), 2));
  return v128.or(v128.and(v, i64x2.splat(KEEP7)), i64x2.shl(v128.and(v, i64x2.splat(MOVE7)), 1));
}

// spread56's halving steps: at each, the low half of every field stays (KEEP) and the high
// half (MOVE) moves up by 4, 2, then 1 bits.
// @ts-ignore: decorator
@inline const KEEP28: u64 = 0x000000000fffffff;
// @ts-ignore: decorator
@inline const MOVE28: u64 = 0x00fffffff0000000;
// @ts-ignore: decorator
@inline const KEEP14: u64 = 0x00003fff00003fff;
// @ts-ignore: decorator
@inline const MOVE14: u64 = 0x0fffc0000fffc000;
// @ts-ignore: decorator
@inline const KEEP7: u64 = 0x007f007f007f007f;
// @ts-ignore: decorator
@inline const MOVE7: u64 = 0x3f803f803f803f80;

/** The continuation bits of a `size`-byte varint (1..8): bit 7 of all but its last byte. */
// @ts-ignore: decorator
@inline
export function continuationBits(size: usize): u64 {
  return 0x8080808080808080 & ((<u64>1 << (<u64>(size - 1) << 3)) - 1);
}
