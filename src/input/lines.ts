/**
 * Byte-stream plumbing for the input readers: gzip auto-detection, opening a file or stdin,
 * and splitting bytes into numbered lines in constant memory.
 *
 * Offsets count bytes of the (decompressed) stream, so for a plain file they are file
 * positions; for a gzip file they are positions in the decompressed data.
 */
import { isAscii } from 'node:buffer'
import { createReadStream, statSync } from 'node:fs'
import { Readable, pipeline } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { InvalidArgumentError } from '../errors.js'

/** One line of input, without its terminator. */
export interface Line {
  /** The line's text, decoded as UTF-8 (a leading byte-order mark on line 1 is dropped). */
  text: string
  /** 1-based line number. */
  line: number
  /** Byte offset just after the line, terminator included. */
  offset: number
  /** The terminator that ended the line: '\n', '\r\n', or '' for a final line without one. */
  eol: '' | '\n' | '\r\n'
  /**
   * Set when the line was longer than `maxLineBytes`: its bytes were skipped without being
   * kept, and `text` is ''.
   */
  tooLong?: true
}

/** Options of {@link splitLines}. */
export interface SplitOptions {
  /**
   * Longest line kept, in bytes (terminator excluded). A longer line is reported with
   * `tooLong` and its bytes are dropped as they stream past, so memory stays bounded.
   * Default 64 MiB.
   */
  maxLineBytes?: number
}

/** Default of {@link SplitOptions.maxLineBytes}: 64 MiB. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024

const LF = 0x0a
const CR = 0x0d

/** Whether bytes start with the gzip magic number 1f 8b. */
export function isGzipMagic (head: Uint8Array): boolean {
  return head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b
}

/** The head of a byte stream, and the whole stream again: see {@link peekHead}. */
export interface Peeked {
  /** The stream's first bytes: `bytes` of them, or all of them when the stream is shorter. */
  head: Buffer
  /** Whether the stream holds nothing beyond `head`. */
  whole: boolean
  /** Every byte of the stream from its start, once: the head again, then the rest. Iterate it once. */
  stream: AsyncIterable<Uint8Array>
  /** Closes the source, for a caller that will not iterate `stream`. */
  close (): Promise<void>
}

/**
 * Reads the first `bytes` bytes of a stream (stdin, a file, a gunzip stream) without losing
 * them: `stream` yields them again, then the rest. Memory is bounded by `bytes` plus one chunk.
 * An error while reading the head closes the source and is thrown.
 */
export async function peekHead (source: AsyncIterable<Uint8Array>, bytes: number): Promise<Peeked> {
  const it = source[Symbol.asyncIterator]()
  const held: Uint8Array[] = []
  let have = 0
  let finished = false
  try {
    while (have < bytes) {
      const r = await it.next()
      if (r.done === true) {
        finished = true
        break
      }
      have += r.value.length
      // A chunk read before another is copied: a source may reuse its buffer once asked for the next.
      held.push(have < bytes ? Buffer.from(r.value) : r.value)
    }
  } catch (err) {
    await it.return?.()
    throw err
  }
  const all = held.length === 1 ? asBuffer(held[0]) : Buffer.concat(held)
  const stream = async function * (): AsyncGenerator<Uint8Array> {
    try {
      yield * held
      held.length = 0
      while (!finished) {
        const r = await it.next()
        if (r.done === true) {
          finished = true
          break
        }
        yield r.value
      }
    } finally {
      if (!finished) {
        finished = true
        await it.return?.()
      }
    }
  }
  const close = async (): Promise<void> => {
    if (finished) return
    finished = true
    await it.return?.()
  }
  return { head: all.subarray(0, bytes), whole: finished && have <= bytes, stream: stream(), close }
}

/**
 * Passes a byte stream through, decompressing it first when it starts with the gzip magic
 * bytes (1f 8b). Concatenated gzip members are all decompressed. A corrupt or truncated
 * gzip stream makes the iteration throw.
 */
export async function * maybeGunzip (source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const peeked = await peekHead(source, 2)
  yield * (isGzipMagic(peeked.head) ? gunzip(peeked.stream) : peeked.stream)
}

/**
 * Decompresses a gzip byte stream (all members of a multi-member file). A corrupt or
 * truncated stream makes the iteration throw.
 */
export function gunzip (source: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const z = createGunzip()
  // pipeline forwards a source error to z, whose iteration then throws; ending the
  // iteration early destroys z, and pipeline then closes the source.
  pipeline(Readable.from(source, { objectMode: false }), z, () => {})
  return z
}

function asBuffer (chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
}

/** EOL codes of {@link LineSpans}. */
const EOLS: ReadonlyArray<'' | '\n' | '\r\n'> = ['', '\n', '\r\n']
/** Added to the EOL code of a line over maxLineBytes. */
const TOO_LONG = 4
/** Added for a line whose text is another string than the line before's. */
const FRESH = 8

/**
 * The lines of one chunk as spans of decoded text, without an object or a string per line:
 * line k (numbered `firstLine + k`) is `texts[k].slice(starts[k], ends[k])`, mostly a span of
 * the chunk's one decoded string. readItems reads these; lineBatches makes Line objects of them.
 */
export class LineSpans {
  count = 0
  texts: string[] = []
  starts: Int32Array
  ends: Int32Array
  offsets: Float64Array
  /** The EOL code (0 none, 1 '\n', 2 '\r\n'), plus TOO_LONG for a line over maxLineBytes, plus FRESH. */
  flags: Uint8Array

  constructor (readonly firstLine: number, capacity: number) {
    const n = Math.max(capacity, 16)
    this.starts = new Int32Array(n)
    this.ends = new Int32Array(n)
    this.offsets = new Float64Array(n)
    this.flags = new Uint8Array(n)
  }

  /** Adds a line; `fresh`: its text is another string than the line before's. */
  add (text: string, start: number, end: number, offset: number, eol: 0 | 1 | 2, tooLong: boolean, fresh: boolean): void {
    if (this.count === this.starts.length) this.#grow()
    const k = this.count++
    this.texts.push(text)
    this.starts[k] = start
    this.ends[k] = end
    this.offsets[k] = offset
    this.flags[k] = eol + (tooLong ? TOO_LONG : 0) + (fresh || k === 0 ? FRESH : 0)
  }

  /**
   * Whether line k's text is another string than line k-1's (always for line 0): positions
   * found in one line's text hold for the next lines only while this is false. (Strings have
   * no identity in JS, and comparing two chunks would compare megabytes.)
   */
  fresh (k: number): boolean {
    return (this.flags[k] & FRESH) !== 0
  }

  /** The text of line k ('' for a line over maxLineBytes). */
  text (k: number): string {
    return this.texts[k].slice(this.starts[k], this.ends[k])
  }

  tooLong (k: number): boolean {
    return (this.flags[k] & TOO_LONG) !== 0
  }

  eol (k: number): '' | '\n' | '\r\n' {
    return EOLS[this.flags[k] & 3]
  }

  toLines (): Line[] {
    const out: Line[] = []
    for (let k = 0; k < this.count; k++) {
      const line: Line = { text: this.text(k), line: this.firstLine + k, offset: this.offsets[k], eol: this.eol(k) }
      if (this.tooLong(k)) line.tooLong = true
      out.push(line)
    }
    return out
  }

  #grow (): void {
    const n = this.starts.length * 2
    const grow = <T extends Int32Array | Float64Array | Uint8Array>(a: T, b: T): T => {
      b.set(a)
      return b
    }
    this.starts = grow(this.starts, new Int32Array(n))
    this.ends = grow(this.ends, new Int32Array(n))
    this.offsets = grow(this.offsets, new Float64Array(n))
    this.flags = grow(this.flags, new Uint8Array(n))
  }
}

/**
 * Splits a byte stream into lines, in batches (one per chunk that ends at least one line).
 * Handles '\n' and '\r\n', a final line without a terminator, and lines spanning any number
 * of chunks; memory is bounded by one chunk plus `maxLineBytes`.
 *
 * The lines a chunk ends are decoded in one go (as Latin-1 when they are all ASCII, which is
 * the fastest) and cut from that string; a line's text may be a view into it, so whatever a
 * reader keeps for long it must copy (see `detach` in record.ts).
 */
export async function * lineBatches (source: AsyncIterable<Uint8Array>, options: SplitOptions = {}): AsyncGenerator<Line[]> {
  for await (const spans of lineSpans(source, options)) yield spans.toLines()
}

/** {@link lineBatches}, as spans: what readItems reads. */
export async function * lineSpans (source: AsyncIterable<Uint8Array>, options: SplitOptions = {}): AsyncGenerator<LineSpans> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
  if (!(maxLineBytes > 0)) throw new InvalidArgumentError(`invalid maxLineBytes: must be > 0 (got ${maxLineBytes})`)
  /** Pieces of the current, unfinished line. */
  let pending: Buffer[] = []
  let pendingBytes = 0
  /** The current line exceeded maxLineBytes; its bytes are being dropped. */
  let skipping = false
  const at = { line: 0, base: 0 }
  /** Lines in the last chunk: the next chunk's spans are allocated about that size. */
  let expect = 64

  /** Keeps the bytes of `buf` from `start` on: the start of a line that a later chunk ends. */
  const keep = (buf: Buffer, start: number): void => {
    const rest = buf.length - start
    if (skipping || pendingBytes + rest > maxLineBytes + 1) {
      // Keep at most one byte, a possible '\r', so that the terminator is still recognized.
      skipping = true
      pending = [Buffer.from(buf.subarray(buf.length - 1))]
      pendingBytes = 1
    } else {
      // Copy, so that a source reusing its buffers cannot change kept bytes.
      pending.push(Buffer.from(buf.subarray(start)))
      pendingBytes += rest
    }
  }

  for await (const chunk of source) {
    const buf = asBuffer(chunk)
    const out = new LineSpans(at.line + 1, expect + (expect >> 2))
    let start = 0
    if (pendingBytes > 0 || skipping) {
      // The line begun in earlier chunks.
      const nl = buf.indexOf(LF)
      if (nl === -1) {
        keep(buf, 0)
        at.base += buf.length
        continue
      }
      pending.push(buf.subarray(0, nl + 1))
      const bytes = Buffer.concat(pending, pendingBytes + nl + 1)
      pending = []
      pendingBytes = 0
      const eolBytes = bytes.length > 1 && bytes[bytes.length - 2] === CR ? 2 : 1
      at.line++
      if (skipping || bytes.length - eolBytes > maxLineBytes) {
        out.add('', 0, 0, at.base + nl + 1, eolBytes, true, true)
      } else {
        const text = decode(bytes, at.line, bytes.length - eolBytes)
        out.add(text, 0, text.length, at.base + nl + 1, eolBytes, false, true)
      }
      skipping = false
      start = nl + 1
    }
    const last = buf.lastIndexOf(LF)
    if (last >= start) {
      splitWhole(buf, start, last + 1, at, maxLineBytes, out)
      start = last + 1
    }
    if (start < buf.length) keep(buf, start)
    at.base += buf.length
    if (out.count > 0) {
      expect = out.count
      yield out
    }
  }
  if (pendingBytes > 0 || skipping) {
    const bytes = Buffer.concat(pending, pendingBytes)
    const eolBytes = bytes.length > 0 && bytes[bytes.length - 1] === CR ? 1 : 0
    at.line++
    const out = new LineSpans(at.line, 1)
    if (skipping || bytes.length - eolBytes > maxLineBytes) {
      out.add('', 0, 0, at.base, 0, true, true)
    } else {
      // A final '\r' without '\n' is dropped from the text, like a '\r\n' terminator.
      const text = decode(bytes, at.line, bytes.length - eolBytes)
      out.add(text, 0, text.length, at.base, 0, false, true)
    }
    yield out
  }
}

/**
 * Adds the lines of buf[from, to), which ends with '\n', to `out`. `at` is the line number
 * before them and the offset of `buf` in the stream; the line number moves on.
 */
function splitWhole (buf: Buffer, from: number, to: number, at: { line: number, base: number }, maxLineBytes: number, out: LineSpans): void {
  const ascii = isAscii(buf.subarray(from, to))
  const text = buf.toString(ascii ? 'latin1' : 'utf8', from, to)
  // Characters are bytes in ASCII; otherwise the byte positions of the same '\n's are found alongside.
  let p = 0
  let b = from
  let fresh = true
  while (p < text.length) {
    const nl = text.indexOf('\n', p)
    const bnl = ascii ? from + nl : buf.indexOf(LF, b)
    const cr = nl > p && text.charCodeAt(nl - 1) === 13
    const bytes = bnl - b - (cr ? 1 : 0)
    const line = ++at.line
    const offset = at.base + bnl + 1
    if (bytes > maxLineBytes) {
      // Its text is '', another string.
      out.add('', 0, 0, offset, cr ? 2 : 1, true, true)
      fresh = true
    } else {
      // A byte-order mark (only ever from EF BB BF, which is not ASCII) is dropped on line 1.
      const s = line === 1 && text.charCodeAt(p) === 0xfeff ? p + 1 : p
      out.add(text, s, cr ? nl - 1 : nl, offset, cr ? 2 : 1, false, fresh)
      fresh = false
    }
    p = nl + 1
    b = bnl + 1
  }
}

/** The text of bytes[0, end), a line spanning chunks; a byte-order mark is dropped on line 1. */
function decode (bytes: Buffer, line: number, end: number): string {
  const start = line === 1 && end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0
  return bytes.toString('utf8', start, end)
}

/** Splits a byte stream into lines, one at a time; see {@link lineBatches}. */
export async function * splitLines (source: AsyncIterable<Uint8Array>, options: SplitOptions = {}): AsyncGenerator<Line> {
  for await (const batch of lineBatches(source, options)) yield * batch
}

/** An opened input: a byte stream, its size when known, and a name for messages. */
export interface OpenedInput {
  /** The raw bytes (gzip not yet removed: {@link maybeGunzip} does that). */
  stream: Readable
  /** The file's size in bytes; undefined for stdin and other non-regular files. */
  size: number | undefined
  /** The path as given, or '<stdin>' for '-'. */
  name: string
}

/**
 * Opens a file for reading, or stdin for '-'. Throws (ENOENT, EISDIR, ...) right away when
 * the path cannot be read as a file.
 */
export function openInput (pathOrDash: string): OpenedInput {
  if (pathOrDash === '-') return { stream: process.stdin, size: undefined, name: '<stdin>' }
  const st = statSync(pathOrDash)
  if (st.isDirectory()) throw Object.assign(new Error(`EISDIR: ${JSON.stringify(pathOrDash)} is a directory`), { code: 'EISDIR' })
  const stream = createReadStream(pathOrDash, { highWaterMark: 1 << 20 })
  return { stream, size: st.isFile() ? st.size : undefined, name: pathOrDash }
}
