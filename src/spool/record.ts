/**
 * A spool record on disk: an 80-byte header, then the request body exactly as it is sent
 * (snappy-compressed protobuf). Little-endian throughout.
 *
 *   0  u32 magic 'PRWS'          4  u32 CRC-32 of header bytes 8..80
 *   8  u32 body length          12  u32 CRC-32 of the body
 *  16  u8  format (1)           17  u8  flags (bit 0: Remote Write 2.0)
 *  18  u16 shard                20  u16 shards the writer had
 *  24  f64 id (from 1, one per record, increasing through the spool)
 *  32  u32 series               36  u32 samples (native histogram samples included)
 *  40  u32 histograms           44  u32 uncompressed protobuf bytes
 *  48  f64 created (ms since the epoch, when the request was sealed)
 *  56  f64 first timestamp      64  f64 last timestamp (ms): reserved, NaN in this version
 *  72  8 bytes reserved (0)
 *
 * (The writer does not see a request's timestamps once the core has converted them, and
 * tracking them costs every append; `created` is what maxAge goes by.)
 *
 * The header has its own checksum, so a scan can walk from header to header and find the next
 * good one past damage without trusting any length it has not checked.
 */
import { crc32 } from 'node:zlib'

export const HEADER_BYTES = 80
/** 'PRWS' read as a little-endian u32. */
export const MAGIC = 0x53575250
export const FORMAT = 1
/** The largest body a record may hold: a request is at most 32 MiB before compression. */
export const MAX_BODY = 64 << 20

/** What a record says about the request it holds. */
export interface RecordInfo {
  v2: boolean
  shard: number
  shards: number
  series: number
  samples: number
  histograms: number
  rawBytes: number
  created: number
  first: number
  last: number
}

export interface RecordHeader extends RecordInfo {
  id: number
  bodyBytes: number
  bodyCrc: number
}

/** The header of a record holding `body`. */
export function encodeHeader (id: number, info: RecordInfo, body: Uint8Array): Uint8Array {
  const buf = new Uint8Array(HEADER_BYTES)
  const v = new DataView(buf.buffer)
  v.setUint32(0, MAGIC, true)
  v.setUint32(8, body.length, true)
  v.setUint32(12, crc32(body), true)
  v.setUint8(16, FORMAT)
  v.setUint8(17, info.v2 ? 1 : 0)
  v.setUint16(18, info.shard, true)
  v.setUint16(20, info.shards, true)
  v.setFloat64(24, id, true)
  v.setUint32(32, info.series, true)
  v.setUint32(36, info.samples, true)
  v.setUint32(40, info.histograms, true)
  v.setUint32(44, info.rawBytes, true)
  v.setFloat64(48, info.created, true)
  v.setFloat64(56, info.first, true)
  v.setFloat64(64, info.last, true)
  v.setUint32(4, crc32(buf.subarray(8)), true)
  return buf
}

/**
 * The header at the start of `buf` (at least HEADER_BYTES long), or undefined when it is not
 * a good one: wrong magic, checksum or format, or values no writer writes.
 */
export function decodeHeader (buf: Uint8Array): RecordHeader | undefined {
  if (buf.length < HEADER_BYTES) return undefined
  const v = new DataView(buf.buffer, buf.byteOffset, HEADER_BYTES)
  if (v.getUint32(0, true) !== MAGIC) return undefined
  if (v.getUint32(4, true) !== crc32(buf.subarray(8, HEADER_BYTES))) return undefined
  if (v.getUint8(16) !== FORMAT) return undefined
  const h: RecordHeader = {
    id: v.getFloat64(24, true),
    bodyBytes: v.getUint32(8, true),
    bodyCrc: v.getUint32(12, true),
    v2: (v.getUint8(17) & 1) === 1,
    shard: v.getUint16(18, true),
    shards: v.getUint16(20, true),
    series: v.getUint32(32, true),
    samples: v.getUint32(36, true),
    histograms: v.getUint32(40, true),
    rawBytes: v.getUint32(44, true),
    created: v.getFloat64(48, true),
    first: v.getFloat64(56, true),
    last: v.getFloat64(64, true),
  }
  const sane = Number.isSafeInteger(h.id) && h.id >= 1 && h.bodyBytes <= MAX_BODY && h.shards >= 1 && h.shard < h.shards &&
    h.histograms <= h.samples && Number.isFinite(h.created)
  return sane ? h : undefined
}

/** Whether `body` is what the header says it is. */
export function bodyMatches (h: RecordHeader, body: Uint8Array): boolean {
  return body.length === h.bodyBytes && crc32(body) === h.bodyCrc
}

/**
 * The shard file (`shards`): a 16-byte header (magic 'PRWL', the writer's shard count, 0, a
 * CRC-32 of those 12 bytes), then per shard a 16-byte slot, an ack (below) of the last
 * request of that shard its sender saw accepted. A shard's requests are accepted in order, so
 * a slot stands for every request of its shard up to that id.
 */
const SLOTS_MAGIC = 0x4c575250

export function encodeSlotsHeader (shards: number): Uint8Array {
  const buf = new Uint8Array(ACK_BYTES)
  const v = new DataView(buf.buffer)
  v.setUint32(0, SLOTS_MAGIC, true)
  v.setUint32(4, shards, true)
  v.setUint32(12, crc32(buf.subarray(0, 12)), true)
  return buf
}

/** The shard count of a shard file, and the last accepted id per shard (0: none or unreadable). */
export function decodeSlots (buf: Uint8Array): number[] | undefined {
  if (buf.length < ACK_BYTES) return undefined
  const v = new DataView(buf.buffer, buf.byteOffset, buf.length)
  if (v.getUint32(0, true) !== SLOTS_MAGIC || v.getUint32(12, true) !== crc32(buf.subarray(0, 12))) return undefined
  const n = v.getUint32(4, true)
  return Array.from({ length: n }, (_, s) => decodeAck(buf, ACK_BYTES * (1 + s)) ?? 0)
}

/** One done record in the acknowledgement log: its id and a check, 16 bytes. */
export const ACK_BYTES = 16
const ACK_MAGIC = 0x4b434150 // 'PACK'

export function encodeAck (id: number, buf = new Uint8Array(ACK_BYTES)): Uint8Array {
  const v = new DataView(buf.buffer, buf.byteOffset, ACK_BYTES)
  v.setUint32(0, ACK_MAGIC, true)
  v.setFloat64(4, id, true)
  v.setUint32(12, crc32(buf.subarray(0, 12)), true)
  return buf
}

/** The id of the ack at `buf[at..at+16)`, or undefined when it is not a whole, good one. */
export function decodeAck (buf: Uint8Array, at: number): number | undefined {
  if (at + ACK_BYTES > buf.length) return undefined
  const v = new DataView(buf.buffer, buf.byteOffset + at, ACK_BYTES)
  if (v.getUint32(0, true) !== ACK_MAGIC || v.getUint32(12, true) !== crc32(buf.subarray(at, at + 12))) return undefined
  const id = v.getFloat64(4, true)
  return Number.isSafeInteger(id) && id >= 1 ? id : undefined
}

/** What a sender writes in the shard file when the request `id` of `shard` is accepted. */
export function slot (shard: number, id: number): { at: number, bytes: Uint8Array } {
  return { at: ACK_BYTES * (1 + shard), bytes: encodeAck(id) }
}
