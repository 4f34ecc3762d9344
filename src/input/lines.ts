/**
 * Byte-stream plumbing for the input readers: gzip auto-detection, opening a file or stdin,
 * and splitting bytes into numbered lines in constant memory.
 *
 * Offsets count bytes of the (decompressed) stream, so for a plain file they are file
 * positions; for a gzip file they are positions in the decompressed data.
 */
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

/**
 * Passes a byte stream through, decompressing it first when it starts with the gzip magic
 * bytes (1f 8b). Concatenated gzip members are all decompressed. A corrupt or truncated
 * gzip stream makes the iteration throw.
 */
export async function * maybeGunzip (source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const it = source[Symbol.asyncIterator]()
  const head: Uint8Array[] = []
  let headBytes = 0
  let done = false
  try {
    while (headBytes < 2) {
      const r = await it.next()
      if (r.done === true) {
        done = true
        break
      }
      head.push(r.value)
      headBytes += r.value.length
    }
  } catch (err) {
    await it.return?.()
    throw err
  }
  const whole = async function * (): AsyncGenerator<Uint8Array> {
    let finished = done
    try {
      yield * head
      while (!finished) {
        const r = await it.next()
        if (r.done === true) {
          finished = true
          break
        }
        yield r.value
      }
    } finally {
      if (!finished) await it.return?.()
    }
  }
  if (!isGzipMagic(head.length === 1 ? head[0] : Buffer.concat(head))) {
    yield * whole()
    return
  }
  yield * gunzip(whole())
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

/**
 * Splits a byte stream into lines, in batches (one per chunk that ends at least one line).
 * Handles '\n' and '\r\n', a final line without a terminator, and lines spanning any number
 * of chunks; memory is bounded by one chunk plus `maxLineBytes`.
 */
export async function * lineBatches (source: AsyncIterable<Uint8Array>, options: SplitOptions = {}): AsyncGenerator<Line[]> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
  if (!(maxLineBytes > 0)) throw new InvalidArgumentError(`invalid maxLineBytes: must be > 0 (got ${maxLineBytes})`)
  /** Pieces of the current, unfinished line. */
  let pending: Buffer[] = []
  let pendingBytes = 0
  /** The current line exceeded maxLineBytes; its bytes are being dropped. */
  let skipping = false
  let lineNo = 0
  /** Absolute offset of the start of the current chunk. */
  let base = 0

  const finish = (bytes: Buffer, end: number, eolBytes: number): Line => {
    lineNo++
    const offset = end
    if (skipping) {
      skipping = false
      return { text: '', line: lineNo, offset, eol: eolBytes === 2 ? '\r\n' : eolBytes === 1 ? '\n' : '', tooLong: true }
    }
    return makeLine(bytes, lineNo, offset, eolBytes)
  }

  for await (const chunk of source) {
    const buf = asBuffer(chunk)
    const out: Line[] = []
    let start = 0
    for (;;) {
      const nl = buf.indexOf(LF, start)
      if (nl === -1) break
      let bytes: Buffer
      if (pendingBytes === 0) {
        bytes = buf.subarray(start, nl + 1)
      } else {
        pending.push(buf.subarray(start, nl + 1))
        bytes = Buffer.concat(pending, pendingBytes + nl + 1 - start)
        pending = []
        pendingBytes = 0
      }
      const eolBytes = bytes.length > 1 && bytes[bytes.length - 2] === CR ? 2 : 1
      if (bytes.length - eolBytes > maxLineBytes) skipping = true
      out.push(finish(bytes, base + nl + 1, eolBytes))
      start = nl + 1
    }
    if (start < buf.length) {
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
    base += buf.length
    if (out.length > 0) yield out
  }
  if (pendingBytes > 0 || skipping) {
    const bytes = Buffer.concat(pending, pendingBytes)
    const eolBytes = bytes.length > 0 && bytes[bytes.length - 1] === CR ? 1 : 0
    lineNo++
    if (skipping || bytes.length - eolBytes > maxLineBytes) {
      yield [{ text: '', line: lineNo, offset: base, eol: '', tooLong: true }]
    } else {
      // A final '\r' without '\n' is dropped from the text, like a '\r\n' terminator.
      yield [{ text: decode(bytes, lineNo, bytes.length - eolBytes), line: lineNo, offset: base, eol: '' }]
    }
  }
}

function makeLine (bytes: Buffer, line: number, offset: number, eolBytes: number): Line {
  return { text: decode(bytes, line, bytes.length - eolBytes), line, offset, eol: eolBytes === 2 ? '\r\n' : '\n' }
}

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
