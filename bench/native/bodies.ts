/**
 * Writes the first 10 request bodies of W1 and W2 (uncompressed protobuf, as the codec builds
 * them) to DIR/W1.bin and DIR/W2.bin, and the native `snappy` package's compression of each
 * to DIR/W1.bin.snappy and DIR/W2.bin.snappy: the input and the reference output of
 * bench/native/snappy-encode.c, and of `bench/native/wasm.ts`, which times the core's
 * compressor on the same files. Layout: u32 count, count × u32 length, the bodies.
 *
 *   npx tsx bench/native/bodies.ts DIR
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { compressSync } from 'snappy'
import { createCodec } from '../../src/index.js'
import { w1Backfill, w2Gateway } from '../workloads.js'

function pack (parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((a, p) => a + p.length, 0)
  const out = new Uint8Array(4 + 4 * parts.length + total)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, parts.length, true)
  let at = 4 + 4 * parts.length
  parts.forEach((p, i) => {
    dv.setUint32(4 + 4 * i, p.length, true)
    out.set(p, at)
    at += p.length
  })
  return out
}

const dir = process.argv[2]
if (dir === undefined) {
  console.error('usage: npx tsx bench/native/bodies.ts DIR')
  process.exit(2)
}
mkdirSync(dir, { recursive: true })
const codec = await createCodec()
for (const [id, make] of [['W1', w1Backfill], ['W2', w2Gateway]] as const) {
  const bodies = make().requests.slice(0, 10).map((r) => codec.encodeProtobuf(r.items))
  writeFileSync(join(dir, `${id}.bin`), pack(bodies))
  writeFileSync(join(dir, `${id}.bin.snappy`), pack(bodies.map((b) => new Uint8Array(compressSync(Buffer.from(b))))))
  console.log(`${join(dir, id)}.bin: ${bodies.length} bodies`)
}
