// The bridge to the WebAssembly core: error codes in step with assembly/errors.ts, memory
// growth with view refresh, and recovery after a real trap.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { uncompressSync } from 'snappy'
import { createCodec } from '../../src/codec/codec.js'
import { CoreCode, CoreTrapError, coreMessages } from '../../src/errors.js'

describe('error codes', () => {
  it('src/errors.ts mirrors every code of assembly/errors.ts', () => {
    const text = readFileSync(new URL('../../assembly/errors.ts', import.meta.url), 'utf8')
    const wasm = new Map<string, number>()
    for (const m of text.matchAll(/export const E_(\w+): i32 = (-?\d+);/g)) wasm.set(m[1], Number(m[2]))
    expect(wasm.size).toBeGreaterThan(10)
    expect(new Map(Object.entries(CoreCode))).toEqual(wasm)
    for (const code of wasm.values()) expect(coreMessages[code]).toBeTruthy()
  })
})

describe('traps', () => {
  const small = [{ metric: { __name__: 'up', job: 'x' }, values: [1], timestamps: [1000] }]
  const big = (n: number) => [{
    metric: { __name__: 'big', job: 'x' },
    values: new Float64Array(n).fill(1.5),
    timestamps: Float64Array.from({ length: n }, (_, i) => 1.7e12 + i),
  }]

  it('a trap (memory ceiling hit) throws CoreTrapError and the next calls are correct', async () => {
    const fresh = await createCodec({ autoConvertSecondsToMs: false })
    const expected = fresh.encode(small)
    const codec = await createCodec({ autoConvertSecondsToMs: false, maxMemoryBytes: 16 << 20 })
    const handle = codec.series({ __name__: 'h', a: 'b' })
    expect(codec.encode(small)).toEqual(expected)
    expect(() => codec.encode(big(2_000_000))).toThrow(CoreTrapError)
    // The instance was replaced: same bytes as a fresh codec, cached series re-encoded.
    expect(codec.encode(small)).toEqual(expected)
    const viaHandle = codec.encode([{ series: handle, values: [2], timestamps: [5] }])
    expect(viaHandle).toEqual(fresh.encode([{ metric: { __name__: 'h', a: 'b' }, values: [2], timestamps: [5] }]))
    expect(codec.stats().cacheResets).toBeGreaterThan(0)
    // And it still handles a request that fits under the ceiling.
    const body = codec.encode(big(100_000))
    expect(uncompressSync(Buffer.from(body)).length).toBe(fresh.encodeProtobuf(big(100_000)).length)
  })

  it('memory growth between calls keeps earlier copies intact and views fresh', async () => {
    const codec = await createCodec({ autoConvertSecondsToMs: false })
    const first = codec.encode(small)
    const kept = first.slice()
    const body = codec.encode(big(3_000_000)) // > 32 MiB of protobuf: memory grows
    expect(first).toEqual(kept)
    expect((uncompressSync(Buffer.from(body)) as Buffer).length).toBeGreaterThan(32 << 20)
    expect(codec.encode(small)).toEqual(kept)
  })
})
