/**
 * A cursor over protobuf bytes, for the decoders (decode.ts, decode-v2.ts) and the counting
 * pass that bounds their work (decode-limits.ts). int64 values are read as two 32-bit
 * halves, never through BigInt.
 */
import { isUtf8 } from 'node:buffer'
import { DecodeError } from '../errors.js'

/** Wire types. */
export const VARINT = 0
export const I64 = 1
export const LEN = 2
export const I32 = 5

export class Reader {
  pos = 0
  /** High 32 bits of the last varint64() read. */
  hi = 0
  /** End of the message being read; narrowed while a nested message is read. */
  end: number
  /** The same bytes as a Buffer (Buffer#toString beats TextDecoder on short strings). */
  readonly text: Buffer
  /** The same bytes, for doubles. */
  readonly view: DataView

  constructor (readonly buf: Uint8Array, start = 0, end = buf.length) {
    this.pos = start
    this.end = end
    this.text = Buffer.from(buf.buffer, buf.byteOffset, buf.length)
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length)
  }

  /**
   * The UTF-8 string in buf[start..end). Bytes that are not valid UTF-8 are a DecodeError: a
   * JS string cannot hold them, and a U+FFFD in their place would name another series. (Only
   * a string holding a U+FFFD is checked again: that is how Buffer#toString marks bad bytes.)
   */
  string (start: number, end: number): string {
    const s = this.text.toString('utf8', start, end)
    if (s.indexOf('\uFFFD') >= 0 && !isUtf8(this.buf.subarray(start, end))) {
      throw new DecodeError(`a string of ${end - start} bytes at offset ${start} is not valid UTF-8 (${JSON.stringify(s.slice(0, 40))})`)
    }
    return s
  }

  /** Reads a varint of at most 32 significant bits (tags, lengths). */
  uint32 (): number {
    // One byte (most tags and lengths) inline; the rest, with the throws, out of line.
    const p = this.pos
    if (p < this.end) {
      const b = this.buf[p]
      if (b < 0x80) {
        this.pos = p + 1
        return b
      }
    }
    return this.uint32Long()
  }

  private uint32Long (): number {
    let result = 0
    let shift = 0
    const buf = this.buf
    while (shift < 35) {
      if (this.pos >= this.end) throw new DecodeError('unexpected end of input')
      const b = buf[this.pos++]
      result |= (b & 0x7f) << shift
      if (b < 0x80) return result >>> 0
      shift += 7
    }
    // A 10-byte encoding (a negative int32): the upper bytes carry nothing we keep.
    for (let i = 0; i < 5; i++) {
      if (this.pos >= this.end) throw new DecodeError('unexpected end of input')
      if (buf[this.pos++] < 0x80) return result >>> 0
    }
    throw new DecodeError('varint longer than 10 bytes')
  }

  /** Reads a varint of up to 64 bits: returns the low 32 bits and leaves the high in `hi`. */
  varint64 (): number {
    const p = this.pos
    if (p < this.end) {
      const b = this.buf[p]
      if (b < 0x80) {
        this.pos = p + 1
        this.hi = 0
        return b
      }
    }
    return this.varint64Long()
  }

  private varint64Long (): number {
    let lo = 0
    let hi = 0
    const buf = this.buf
    let b = 0
    for (let shift = 0; shift < 28; shift += 7) {
      if (this.pos >= this.end) throw new DecodeError('unexpected end of input')
      b = buf[this.pos++]
      lo |= (b & 0x7f) << shift
      if (b < 0x80) {
        this.hi = 0
        return lo >>> 0
      }
    }
    if (this.pos >= this.end) throw new DecodeError('unexpected end of input')
    b = buf[this.pos++]
    lo |= (b & 0x0f) << 28
    hi = (b & 0x7f) >> 4
    if (b >= 0x80) {
      for (let shift = 3; shift < 64; shift += 7) {
        if (this.pos >= this.end) throw new DecodeError('unexpected end of input')
        b = buf[this.pos++]
        if (shift < 32) hi |= (b & 0x7f) << shift
        if (b < 0x80) break
        if (shift >= 31) throw new DecodeError('varint longer than 10 bytes')
      }
    }
    this.hi = hi >>> 0
    return lo >>> 0
  }

  /** Reads a little-endian double (wire type I64). */
  double (): number {
    if (this.pos + 8 > this.end) throw new DecodeError('unexpected end of input')
    const v = this.view.getFloat64(this.pos, true)
    this.pos += 8
    return v
  }

  /** Reads an int64 varint as a number (exact within ±2^53). */
  int64 (): number {
    const lo = this.varint64()
    return (this.hi | 0) * 4294967296 + lo
  }

  /** Reads a uint64 varint as a number (exact below 2^53). */
  uint64 (): number {
    const lo = this.varint64()
    return this.hi * 4294967296 + lo
  }

  /** Reads a zigzag sint64 varint as a number (exact within ±2^53). */
  sint64 (): number {
    const lo = this.varint64()
    const hi = this.hi
    const neg = lo & 1
    let l = ((lo >>> 1) | (hi << 31)) >>> 0
    let h = hi >>> 1
    if (neg !== 0) {
      l = ~l >>> 0
      h = ~h
    }
    return (h | 0) * 4294967296 + l
  }

  /** Reads a zigzag sint32 varint. */
  sint32 (): number {
    const z = this.uint32()
    return (z >>> 1) ^ -(z & 1)
  }

  /** Returns the end of a length-delimited field that starts here, checking it fits. */
  delimited (): number {
    const len = this.uint32()
    const end = this.pos + len
    if (end > this.end) throw new DecodeError('length past end of message')
    return end
  }

  /** Skips a value of wire type `wire`. */
  skip (wire: number): void {
    switch (wire) {
      case VARINT: this.varint64(); break
      case I64: this.pos += 8; break
      case LEN: this.pos = this.delimited(); break
      case I32: this.pos += 4; break
      default: throw new DecodeError(`wrong wire type ${wire}`)
    }
    if (this.pos > this.end) throw new DecodeError('unexpected end of input')
  }

  /**
   * Counts the values of a packed (LEN) or unpacked (`single` wire type) repeated scalar
   * that starts here, and moves past it: varints by their last bytes, fixed64s by length.
   * Another wire type is skipped and counts 0, as the decoders skip it.
   */
  countRepeated (wire: number, single: number): number {
    if (wire === single) {
      this.skip(wire)
      return 1
    }
    if (wire !== LEN) {
      this.skip(wire)
      return 0
    }
    const end = this.delimited()
    let n = 0
    if (single === I64) {
      n = Math.ceil((end - this.pos) / 8)
    } else {
      for (let p = this.pos; p < end; p++) if (this.buf[p] < 0x80) n++
      // A trailing varint cut short still makes the decoder read (and fail on) one more value.
      if (end > this.pos && this.buf[end - 1] >= 0x80) n++
    }
    this.pos = end
    return n
  }
}
