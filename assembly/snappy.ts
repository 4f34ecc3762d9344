// Snappy block format (raw, not framed): the body encoding of Prometheus remote write.
//
// Layout (google/snappy format_description.txt, golang/snappy snappy.go):
//   preamble  uvarint(decoded length), at most 2^32-1
//   elements  tag byte; tag&3 is the element type, m = tag>>2:
//     00 literal  m < 60: length m+1, bytes follow. m = 60..63: length-1 is a 1..4 byte LE int.
//     01 copy-1   length 4 + (m & 7), offset ((tag >> 5) << 8) | next byte (11 bits).
//     10 copy-2   length m+1, offset u16 LE.
//     11 copy-4   length m+1, offset u32 LE (legacy; decoded, never emitted).
//   A copy reads already decoded output. length > offset is a run and must behave as a
//   forward byte-by-byte copy. Offset 0, or an offset before the start, is corrupt.
//
// The encoder mirrors golang/snappy encode.go + encode_other.go @ 43d5d4cd (same structure,
// names and decisions), so its output is byte-identical to snappy.Encode; the decoder follows
// the rejection rules of decode.go / decode_other.go. Written from the format description;
// all functions work on raw linear-memory pointers and allocate nothing. The decoder's copy
// fast path uses v128 moves (asconfig enables simd).

import { E_CORRUPT } from "./errors";
import { copyShort } from "./memory";

// @ts-ignore: decorator
@inline const TAG_LITERAL: u32 = 0x00;
// @ts-ignore: decorator
@inline const TAG_COPY1: u32 = 0x01;
// @ts-ignore: decorator
@inline const TAG_COPY2: u32 = 0x02;

/** Largest input to encodeBlock. Not part of the wire format, but it keeps every offset < 2^16,
 *  so table entries fit in a u16 and no copy-4 is ever needed. */
// @ts-ignore: decorator
@inline const MAX_BLOCK_SIZE: usize = 65536;

/** encodeBlock stops looking for matches this close to the block end, so the hot loop can do
 *  unchecked 4- and 8-byte loads near s (s <= sLimit = end - 15 keeps them inside the block). */
// @ts-ignore: decorator
@inline const INPUT_MARGIN: usize = 16 - 1;

/** Blocks shorter than this are emitted as one literal: encodeBlock needs at least one byte
 *  before s = 1, and INPUT_MARGIN bytes after it, to find anything. */
// @ts-ignore: decorator
@inline const MIN_NON_LITERAL_BLOCK_SIZE: usize = 1 + 1 + INPUT_MARGIN;

/** Hash table entries (u16 block-relative positions): 1<<8, doubled while below 1<<14 and below
 *  the block length. C++ goes up to 1<<15; Go stops at 1<<14, and that choice shapes the output. */
// @ts-ignore: decorator
@inline const MAX_TABLE_SIZE: usize = 1 << 14;

/** Static hash table: MAX_TABLE_SIZE u16 slots. Only the first tableSize slots of a block are
 *  used, and they are zeroed per block, so the output depends on the input alone. */
// @ts-ignore: decorator
@lazy const table: usize = memory.data(<i32>(MAX_TABLE_SIZE << 1), 16);

/** Multiplicative hash of 4 input bytes (32-bit multiply). shift >= 32-14 keeps the result below
 *  MAX_TABLE_SIZE, which makes Go's `& tableMask` a no-op here. */
// @ts-ignore: decorator
@inline
function hash(u: u32, shift: u32): usize {
  return <usize>((u * 0x1e35a7bd) >> shift);
}

/** Worst-case compressed size: 32 + n + n/6 (golang MaxEncodedLen).
 *
 *  Derivation (golang encode.go): runs of literals grow by at most 62/60 (tag + length byte per
 *  60 bytes). The worst item is a 1-byte literal (2 bytes) followed by a 5-byte copy that needs a
 *  wide offset (5 bytes): 6 input bytes become 7, hence n/6; 32 covers the preamble and slack.
 *  Saturates at the usize maximum, which no wasm32 buffer can reach. */
export function maxCompressedLen(n: usize): usize {
  let m: u64 = 32 + <u64>n + <u64>n / 6;
  return m > <u64><usize>-1 ? <usize>-1 : <usize>m;
}

/** Compresses src[0..srcLen) into dst (which has >= maxCompressedLen(srcLen) bytes). Returns bytes written. */
export function compress(src: usize, srcLen: usize, dst: usize): usize {
  let d = dst + putUvarint(dst, <u32>srcLen);
  let end = src + srcLen;
  // Blocks are encoded independently (fresh table, matches never cross a boundary) but
  // share one contiguous output; every offset is therefore still < MAX_BLOCK_SIZE.
  while (src < end) {
    let n = min<usize>(end - src, MAX_BLOCK_SIZE);
    if (n < MIN_NON_LITERAL_BLOCK_SIZE) {
      d += emitLiteral(d, src, n);
    } else {
      d += encodeBlock(d, src, n);
    }
    src += n;
  }
  return d - dst;
}

/** Writes v as a uvarint and returns bytes written (1..5). */
// @ts-ignore: decorator
@inline
function putUvarint(dst: usize, v: u32): usize {
  let p = dst;
  while (v >= 0x80) {
    store<u8>(p++, <u8>(v | 0x80));
    v >>= 7;
  }
  store<u8>(p++, <u8>v);
  return p - dst;
}

/** Writes a literal element and returns bytes written.
 *
 *  It assumes that:
 *    dst is long enough to hold the encoded bytes
 *    1 <= len && len <= 65536 (so the 62/63 tag forms are never needed) */
// @ts-ignore: decorator
@inline
function emitLiteral(dst: usize, lit: usize, len: usize): usize {
  let n = <u32>len - 1;
  let i: usize;
  if (n < 60) {
    store<u8>(dst, <u8>((n << 2) | TAG_LITERAL));
    i = 1;
  } else if (n < 1 << 8) {
    store<u8>(dst, <u8>((60 << 2) | TAG_LITERAL));
    store<u8>(dst, <u8>n, 1);
    i = 2;
  } else {
    store<u8>(dst, <u8>((61 << 2) | TAG_LITERAL));
    store<u16>(dst + 1, <u16>n); // unaligned LE store
    i = 3;
  }
  copyShort(dst + i, lit, len);
  return i + len;
}

/** Like emitLiteral, for literals found inside encodeBlock's search loop: copies 16 bytes when
 *  len <= 16 instead of calling memory.copy.
 *
 *  It assumes that, besides emitLiteral's conditions:
 *    lit + 16 <= block end (the literal ends at s <= sLimit = end - 15, and lit < s)
 *    dst + 17 is inside the output buffer (see the MaxEncodedLen slack argument in encodeBlock)
 *  The bytes past the literal are garbage that the next element overwrites. */
// @ts-ignore: decorator
@inline
function emitLiteralShort(dst: usize, lit: usize, len: usize): usize {
  if (len <= 16) {
    store<u8>(dst, <u8>(((<u32>len - 1) << 2) | TAG_LITERAL));
    store<u64>(dst + 1, load<u64>(lit));
    store<u64>(dst + 9, load<u64>(lit + 8));
    return 1 + len;
  }
  return emitLiteral(dst, lit, len);
}

/** Writes a copy element (or a run of them) and returns bytes written.
 *
 *  It assumes that:
 *    dst is long enough to hold the encoded bytes
 *    1 <= offset && offset <= 65535
 *    4 <= length && length <= 65535 */
// @ts-ignore: decorator
@inline
function emitCopy(dst: usize, offset: usize, length: usize): usize {
  let i: usize = 0;
  // A single copy-1/copy-2 holds at most 64 bytes. The loop threshold is a little higher
  // (68 = 64 + 4) and the length emitted below a little lower (60 = 64 - 4) because a length-67
  // copy is shorter as copy-2 of 60 + copy-1 of 7 (3+2 bytes) than as copy-2 of 64 + a length-3
  // remainder, which copy-1 cannot express and would need another copy-2 (3+3 bytes).
  while (length >= 68) {
    store<u8>(dst + i, <u8>((63 << 2) | TAG_COPY2));
    store<u16>(dst + i + 1, <u16>offset);
    i += 3;
    length -= 64;
  }
  if (length > 64) {
    store<u8>(dst + i, <u8>((59 << 2) | TAG_COPY2));
    store<u16>(dst + i + 1, <u16>offset);
    i += 3;
    length -= 60;
  }
  if (length >= 12 || offset >= 2048) {
    store<u8>(dst + i, <u8>(((<u32>length - 1) << 2) | TAG_COPY2));
    store<u16>(dst + i + 1, <u16>offset);
    return i + 3;
  }
  // copy-1: 3 high offset bits in the tag, length 4..11 in 3 bits.
  store<u8>(dst + i, <u8>(((<u32>offset >> 8) << 5) | ((<u32>length - 4) << 2) | TAG_COPY1));
  store<u8>(dst + i + 1, <u8>offset);
  return i + 2;
}

/** Returns the largest j such that src[i..i+(j-j0)) == src[j0..j) and j <= end, starting from j0.
 *
 *  It assumes that i < j (i trails j, so reads at i stay in bounds whenever reads at j do).
 *  Compares 8 or 16 bytes at a time; the first differing byte is ctz(xor)/8 on little-endian
 *  loads, or the first clear bit of the byte-equality mask, which gives exactly the length a
 *  byte-by-byte loop would. */
// @ts-ignore: decorator
@inline
function extendMatch(i: usize, j: usize, end: usize): usize {
  // Most matches end within a few bytes: try one 8-byte compare first, then go 16 at a time.
  if (j + 8 <= end) {
    let x = load<u64>(j) ^ load<u64>(i);
    if (x != 0) return j + (<usize>ctz(x) >> 3);
    i += 8;
    j += 8;
  }
  while (j + 16 <= end) {
    // One bit per equal byte; the first 0 bit is the first difference.
    let eq = i8x16.bitmask(i8x16.eq(v128.load(j), v128.load(i)));
    if (eq != 0xffff) return j + <usize>ctz(~eq);
    i += 16;
    j += 16;
  }
  while (j + 8 <= end) {
    let x = load<u64>(j) ^ load<u64>(i);
    if (x != 0) return j + (<usize>ctz(x) >> 3);
    i += 8;
    j += 8;
  }
  while (j < end && load<u8>(j) == load<u8>(i)) {
    i++;
    j++;
  }
  return j;
}

/** Encodes one block (a whole element sequence, no preamble) and returns bytes written.
 *
 *  It assumes that:
 *    dst is long enough to hold the encoded bytes
 *    MIN_NON_LITERAL_BLOCK_SIZE <= len && len <= MAX_BLOCK_SIZE
 *
 *  Output slack for emitLiteralShort: a literal + copy pair encodes in at most its input size + 2
 *  bytes, and the + 1/+ 2 needs a literal of 60+ bytes, so after p input bytes the output is below
 *  8 + p + p/30. At least 15 input bytes remain (s <= sLimit), and maxCompressedLen(p + 15) is
 *  over 47 + p + p/6, which leaves more than the 17 bytes emitLiteralShort may touch. */
function encodeBlock(dst: usize, src: usize, len: usize): usize {
  // Table size: 1<<8, doubled while below MAX_TABLE_SIZE and below len.
  let shift: u32 = 32 - 8;
  let tableSize: usize = 1 << 8;
  while (tableSize < MAX_TABLE_SIZE && tableSize < len) {
    tableSize <<= 1;
    shift--;
  }
  memory.fill(table, 0, tableSize << 1);
  // Every block over 8 KiB uses the largest table. A constant shift there frees a register
  // in the hot loops (encodeBody is inlined twice).
  if (shift == 32 - 14) return encodeBody(dst, src, len, 32 - 14);
  return encodeBody(dst, src, len, shift);
}

/** The table step of a probe at pos, whose 4 bytes hash to h: returns the candidate that h's
 *  slot holds and stores pos there (whatever the comparison that follows finds). */
// @ts-ignore: decorator
@inline
function lookup(src: usize, pos: usize, h: usize): usize {
  let slot = table + (h << 1);
  let candidate = src + <usize>load<u16>(slot);
  store<u16>(slot, <u16>(pos - src));
  return candidate;
}

/** encodeBlock after the table is sized and cleared. */
// @ts-ignore: decorator
@inline
function encodeBody(dst: usize, src: usize, len: usize, shift: u32): usize {
  let end = src + len;
  // Stop searching INPUT_MARGIN bytes early: the remainder is always emitted as a literal.
  let sLimit = end - INPUT_MARGIN;
  let d = dst;
  let nextEmit = src;
  // The output must start with a literal, so the first match can start at 1 at the earliest.
  let s = src + 1;

  while (true) {
    // Skip heuristic (from C++ CompressFragment): after 32 misses probe every 2nd byte, after
    // 32 more every 3rd, and so on. A small density loss on compressible input, a large speed
    // win on incompressible input. skip is reset at each new search.
    let skip: u32 = 32;
    let candidate: usize = 0;
    let found = false;
    // The first 32 probes step by one byte. Take them 8 at a time from two 8-byte loads: the
    // same probes, in the same order, with the same table updates as the loop below, so the
    // output does not change; only the loads and loop checks are shared. Each probe at p
    // needs p + 1 <= sLimit, as below; s + 8 <= sLimit covers the group.
    while (skip < 64 && s + 8 <= sLimit) {
      let lo = load<u64>(s);
      let hi = load<u64>(s + 4);
      let v0 = <u32>lo;
      candidate = lookup(src, s, hash(v0, shift));
      if (v0 == load<u32>(candidate)) { found = true; break; }
      let v1 = <u32>(lo >> 8);
      candidate = lookup(src, s + 1, hash(v1, shift));
      if (v1 == load<u32>(candidate)) { s += 1; found = true; break; }
      let v2 = <u32>(lo >> 16);
      candidate = lookup(src, s + 2, hash(v2, shift));
      if (v2 == load<u32>(candidate)) { s += 2; found = true; break; }
      let v3 = <u32>(lo >> 24);
      candidate = lookup(src, s + 3, hash(v3, shift));
      if (v3 == load<u32>(candidate)) { s += 3; found = true; break; }
      let v4 = <u32>hi;
      candidate = lookup(src, s + 4, hash(v4, shift));
      if (v4 == load<u32>(candidate)) { s += 4; found = true; break; }
      let v5 = <u32>(hi >> 8);
      candidate = lookup(src, s + 5, hash(v5, shift));
      if (v5 == load<u32>(candidate)) { s += 5; found = true; break; }
      let v6 = <u32>(hi >> 16);
      candidate = lookup(src, s + 6, hash(v6, shift));
      if (v6 == load<u32>(candidate)) { s += 6; found = true; break; }
      let v7 = <u32>(hi >> 24);
      candidate = lookup(src, s + 7, hash(v7, shift));
      if (v7 == load<u32>(candidate)) { s += 7; found = true; break; }
      s += 8;
      skip += 8;
    }
    if (!found) {
      // Probes 33 on, or the last few before sLimit, one at a time.
      let nextS = s;
      // The 4 bytes at s and their hash, carried over from each probe to the next.
      let nextVal = load<u32>(s);
      let nextHash = hash(nextVal, shift);
      while (true) {
        s = nextS;
        let val = nextVal;
        let bytesBetweenHashLookups = skip >> 5;
        nextS = s + bytesBetweenHashLookups;
        skip += bytesBetweenHashLookups;
        if (nextS > sLimit) break;
        candidate = lookup(src, s, nextHash);
        nextVal = load<u32>(nextS);
        nextHash = hash(nextVal, shift);
        if (val == load<u32>(candidate)) {
          found = true;
          break;
        }
      }
      if (!found) break; // emitRemainder
    }

    // src[nextEmit..s) are unmatched; emit them as a literal before the copy at s.
    d += emitLiteralShort(d, nextEmit, s - nextEmit);

    // Emit copies while the byte after one copy starts another 4-byte match, without
    // going back to the skip loop (and without emitting empty literals).
    let more = true;
    while (true) {
      // Invariant: 4-byte match at s with candidate; nothing pending before s.
      let base = s;
      s = extendMatch(candidate + 4, s + 4, end);
      d += emitCopy(d, base - candidate, s - base);
      nextEmit = s;
      if (s >= sLimit) {
        more = false;
        break;
      }
      // Insert s-1 (inside the copy) and probe s with one 8-byte load; s + 7 < end here.
      let x = load<u64>(s - 1);
      store<u16>(table + (hash(<u32>x, shift) << 1), <u16>(s - 1 - src));
      candidate = lookup(src, s, hash(<u32>(x >> 8), shift));
      if (<u32>(x >> 8) != load<u32>(candidate)) {
        s++;
        break;
      }
    }
    if (!more) break; // emitRemainder
  }

  // emitRemainder
  if (nextEmit < end) d += emitLiteral(d, nextEmit, end - nextEmit);
  return d - dst;
}

/** Reads the uvarint preamble: the decoded length, or a negative error code (E_CORRUPT) as i64.
 *
 *  Same acceptance as Go's binary.Uvarint + snappy.decodedLen: up to 10 bytes (non-minimal forms
 *  allowed), a 10th byte > 1 or an 11th byte overflows, truncation is corrupt, and so is any
 *  value above 0xffffffff. */
export function decodedLen(src: usize, srcLen: usize): i64 {
  let x: u64 = 0;
  let shift: u64 = 0;
  for (let i: usize = 0; i < srcLen; i++) {
    if (i == 10) return E_CORRUPT; // overflow: more than 10 bytes
    let b = <u64>load<u8>(src + i);
    if (b < 0x80) {
      if (i == 9 && b > 1) return E_CORRUPT; // overflow: bit 64 and up
      x |= b << shift;
      return x > 0xffffffff ? <i64>E_CORRUPT : <i64>x;
    }
    x |= (b & 0x7f) << shift;
    shift += 7;
  }
  return E_CORRUPT; // truncated (also: empty input)
}

/** Decompresses src into dst, whose size is exactly dstLen (= decodedLen). Returns 0, or a negative error code.
 *
 *  Every read is checked against src + srcLen and every write against dst + dstLen, so corrupt
 *  input can neither read nor write out of bounds. src and dst must not overlap. On error dst
 *  holds partial output. */
export function decompress(src: usize, srcLen: usize, dst: usize, dstLen: usize): i32 {
  let n = decodedLen(src, srcLen);
  if (n < 0) return <i32>n;
  if (<u64>n != <u64>dstLen) return E_CORRUPT;
  // decodedLen proved the preamble terminates inside src: skip continuation bytes.
  let s = src;
  while (load<u8>(s) & 0x80) s++;
  s++;

  let end = src + srcLen;
  let d = dst;
  let dEnd = dst + dstLen;

  while (s < end) {
    let tag = <u32>load<u8>(s);
    let length: usize;
    let offset: usize;
    let type = tag & 3;
    if (type == TAG_LITERAL) {
      let x = tag >> 2;
      if (x < 60) {
        s++;
        let lenS = <usize>x + 1;
        // Short literal with slack on both sides: two 8-byte moves instead of memory.copy
        // (the bytes past lenS are rewritten by later elements, as with copies below).
        if (lenS <= 16 && s + 16 <= end && d + 16 <= dEnd) {
          store<u64>(d, load<u64>(s));
          store<u64>(d + 8, load<u64>(s + 8));
          d += lenS;
          s += lenS;
          continue;
        }
      } else {
        // 60..63: length-1 follows in 1..4 bytes.
        let nb = <usize>(x - 59);
        if (nb >= end - s) return E_CORRUPT; // header runs past the input
        let p = s + 1;
        if (nb == 1) x = <u32>load<u8>(p);
        else if (nb == 2) x = <u32>load<u16>(p);
        else if (nb == 3) x = <u32>load<u16>(p) | (<u32>load<u8>(p + 2) << 16);
        else x = load<u32>(p);
        s = p + nb;
      }
      // u64: x + 1 can be 2^32, which would wrap to 0 in wasm32 usize.
      let lit: u64 = <u64>x + 1;
      if (lit > <u64>(dEnd - d) || lit > <u64>(end - s)) return E_CORRUPT;
      length = <usize>lit;
      memory.copy(d, s, length);
      d += length;
      s += length;
      continue;
    } else if (type == TAG_COPY1) {
      if (end - s < 2) return E_CORRUPT;
      length = 4 + ((tag >> 2) & 7);
      offset = ((tag & 0xe0) << 3) | <u32>load<u8>(s + 1);
      s += 2;
    } else if (type == TAG_COPY2) {
      if (end - s < 3) return E_CORRUPT;
      length = 1 + (tag >> 2);
      offset = <usize>load<u16>(s + 1);
      s += 3;
    } else {
      // copy-4: legacy, never emitted by golang/snappy, still valid input.
      if (end - s < 5) return E_CORRUPT;
      length = 1 + (tag >> 2);
      offset = <usize>load<u32>(s + 1);
      s += 5;
    }

    if (offset == 0 || offset > d - dst || length > dEnd - d) return E_CORRUPT;

    let from = d - offset;
    if (offset >= 8) {
      // A k-byte move with offset >= k reads only bytes that are already final (from + k <= d),
      // so moving k bytes at a time matches forward byte-by-byte semantics on overlap too.
      // The fast paths below write whole moves past `length` (at most 15 bytes, kept inside
      // dst by the slack test); later elements overwrite that tail, and the final d == dEnd
      // check guarantees they do.
      if (length <= 16 && d + 16 <= dEnd) {
        store<u64>(d, load<u64>(from));
        store<u64>(d + 8, load<u64>(from + 8));
        d += length;
        continue;
      }
      if (offset >= 16 && d + 64 <= dEnd) {
        // A single element copies at most 64 bytes.
        let i: usize = 0;
        do {
          v128.store(d + i, v128.load(from + i));
          i += 16;
        } while (i < length);
        d += length;
        continue;
      }
      let stop = d + length;
      while (d + 8 <= stop) {
        store<u64>(d, load<u64>(from));
        d += 8;
        from += 8;
      }
      while (d < stop) {
        store<u8>(d, load<u8>(from));
        d++;
        from++;
      }
    } else if (offset == 1) {
      // Run of one byte.
      memory.fill(d, load<u8>(from), length);
      d += length;
    } else {
      let stop = d + length;
      while (d < stop) {
        store<u8>(d, load<u8>(from));
        d++;
        from++;
      }
    }
  }
  // Short output (or, via the checks above, anything that would overrun it) is corrupt.
  return d == dEnd ? 0 : E_CORRUPT;
}
