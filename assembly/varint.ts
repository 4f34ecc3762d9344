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
