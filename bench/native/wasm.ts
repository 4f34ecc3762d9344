/**
 * The core's snappy compressor on the files of bodies.ts, timed the way snappy-encode.c
 * times the native build of the same algorithm (best of 16 rounds of 10 passes), and checked
 * byte for byte against the reference output. Each pass also copies the body into linear
 * memory (a memcpy, 2-3% of the time).
 *
 *   npx tsx bench/native/wasm.ts DIR/W1.bin DIR/W2.bin
 */
import { readFileSync } from 'node:fs'
import { Core, loadCore } from '../../src/core/wasm.js'

function unpack (buf: Uint8Array): Uint8Array[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  const n = dv.getUint32(0, true)
  const out: Uint8Array[] = []
  let at = 4 + 4 * n
  for (let i = 0; i < n; i++) {
    const len = dv.getUint32(4 + 4 * i, true)
    out.push(buf.subarray(at, at + len))
    at += len
  }
  return out
}

await loadCore()
const core = new Core()
for (const path of process.argv.slice(2)) {
  const bodies = unpack(readFileSync(path))
  const want = unpack(readFileSync(`${path}.snappy`))
  bodies.forEach((b, i) => {
    if (Buffer.compare(core.compress(b), want[i]) !== 0) throw new Error(`${path}: body ${i} differs from the reference`)
  })
  const ex = core.exports
  const once = (b: Uint8Array): number => {
    const p = ex.inputReserve(b.length) >>> 0
    core.refresh()
    core.u8.set(b, p)
    return ex.compressInput(b.length)
  }
  const total = bodies.reduce((a, b) => a + b.length, 0)
  let best = Infinity
  for (let round = 0; round < 16; round++) {
    const t = performance.now()
    for (let rep = 0; rep < 10; rep++) for (const b of bodies) once(b)
    best = Math.min(best, performance.now() - t)
  }
  console.log(`${path}: ${bodies.length} bodies, ${(total / bodies.length / 1024).toFixed(0)} KiB each: ` +
    `${(total * 10 / (best / 1000) / 1e6).toFixed(0)} MB/s (best of 16 rounds), output identical to the reference`)
}
