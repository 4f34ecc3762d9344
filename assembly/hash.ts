// Hashing of byte strings, shared by the label blocks (sharding) and the symbol tables.

/** A 32-bit hash of p[0..n) for sharding: 4 bytes a step, multiply-rotate, then a final mix. */
export function hashBytes(p: usize, n: usize): u32 {
  let h: u32 = 0x9e3779b9 ^ <u32>n;
  let end = p + (n & ~<usize>3);
  for (; p < end; p += 4) h = rotl<u32>((h ^ load<u32>(p)) * 0x85ebca6b, 13) * 5 + 0xe6546b64;
  for (end += n & 3; p < end; p++) h = (h ^ <u32>load<u8>(p)) * 0x01000193;
  h ^= h >>> 16;
  h *= 0x7feb352d;
  h ^= h >>> 15;
  return h;
}
