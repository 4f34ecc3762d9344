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
  // Spread the 7-bit groups one per byte, then set the continuation bit of all but the last.
  let x: u64 = (v & 0x7f) | ((v & 0x3f80) << 1) | ((v & 0x1fc000) << 2) | ((v & 0xfe00000) << 3) |
    ((v & 0x7f0000000) << 4) | ((v & 0x3f800000000) << 5) | ((v & 0x1fc0000000000) << 6) |
    ((v & 0xfe000000000000) << 7);
  x |= 0x8080808080808080 & ((<u64>1 << (<u64>(size - 1) << 3)) - 1);
  store<u64>(p, x);
  return p + size;
}
