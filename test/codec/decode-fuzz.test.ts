// The decoder and the receiver under a seeded fuzz (issue 12): valid requests of random
// series, mutated before or after snappy (bytes flipped, cut, inserted, deleted, slices
// repeated), and amplifying bodies (one small record repeated up to 100,000 times). The only
// outcomes allowed are a result, a SnappyError or a DecodeError (the receiver: 204, 400 or
// 413, never a 5xx or a dropped connection); the codec and the receiver stay usable. The cases
// are bench/fuzz-decode.ts's, which runs them for longer outside CI. Sizes are bounded (and
// small limits drawn for many cases), so each case stays short; nothing is timed.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import { startReceiver } from '../../src/commands/receiver.js'
import { DECODE_LIMITS } from '../../src/codec/decode-limits.js'
import { amplifierCase, arbAmplifier, arbMutated, decodeOutcome, mutatedCase, stillUsable } from '../../bench/fuzz-decode.js'
import type { FuzzCase } from '../../bench/fuzz-decode.js'

const SEED = 20261212
const V2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request'

describe('decode fuzz', () => {
  it(`decode() and decodeV2() on mutated and amplifying bodies: a result, SnappyError or DecodeError, never another error; usable after (seed ${SEED})`, async () => {
    const codec = await createCodec()
    const seen = new Map<string, number>()
    const arb = fc.oneof(
      { arbitrary: arbMutated.map((m) => mutatedCase(codec, m)), weight: 3 },
      { arbitrary: arbAmplifier.map(amplifierCase), weight: 1 },
    )
    fc.assert(fc.property(arb, (c: FuzzCase) => {
      const out = decodeOutcome(codec, c)
      seen.set(out.kind, (seen.get(out.kind) ?? 0) + 1)
      if (out.kind === 'other') throw new Error(`${c.what} with ${JSON.stringify(c.options)}: ${out.detail}`)
      // What an accepted body decodes into stays within the limits it was decoded under.
      if (out.items !== undefined) {
        const samples = out.items.reduce((n, it) => n + it.values.length, 0)
        if (out.items.length > (c.options.maxSeries ?? DECODE_LIMITS.maxSeries)) throw new Error(`${c.what}: ${out.items.length} series decoded, past maxSeries`)
        if (samples > (c.options.maxSamples ?? DECODE_LIMITS.maxSamples)) throw new Error(`${c.what}: ${samples} samples decoded, past maxSamples`)
      }
      if (!stillUsable(codec)) throw new Error(`after ${c.what}: the codec decodes a valid request wrong`)
    }), { seed: SEED, numRuns: 1500 })
    // The cases reach every outcome, so the property is not vacuous.
    expect([...seen.keys()].sort()).toEqual(['decode', 'ok', 'snappy'])
  })

  it(`the receiver on the same bodies: 204, 400 or 413, counted, and it goes on serving (seed ${SEED})`, async () => {
    const receiver = await startReceiver({ decodeLimits: { maxSeries: 5000, maxSamples: 20_000, maxLabels: 20_000, maxBuckets: 20_000, maxObjectBytes: 64 << 20 } })
    const codec = await createCodec()
    const statuses = new Map<number, number>()
    try {
      const arb = fc.oneof(arbMutated.map((m) => mutatedCase(codec, m)), arbAmplifier.map(amplifierCase))
      await fc.assert(fc.asyncProperty(arb, async (c: FuzzCase) => {
        const res = await fetch(receiver.url, {
          method: 'POST',
          body: c.body,
          headers: { 'content-encoding': 'snappy', 'content-type': c.v2 ? V2_TYPE : 'application/x-protobuf' },
        })
        await res.text()
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
        if (![204, 400, 413].includes(res.status)) throw new Error(`${c.what}: answered ${res.status}`)
      }), { seed: SEED, numRuns: 200 })
      const s = receiver.stats()
      expect(s.requests).toBe(200)
      expect(s.accepted + s.rejected).toBe(200)
      expect([...statuses.keys()].sort()).toEqual([204, 400, 413])
      const valid = codec.encode([{ metric: { __name__: 'after', job: 'fuzz' }, values: [1], timestamps: [1_767_225_600_000] }])
      const res = await fetch(receiver.url, { method: 'POST', body: valid, headers: { 'content-encoding': 'snappy', 'content-type': 'application/x-protobuf' } })
      expect(res.status).toBe(204)
      expect(receiver.stats().accepted).toBe(s.accepted + 1)
    } finally {
      await receiver.close()
    }
  })
})
