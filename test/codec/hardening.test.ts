// Regression tests for the codec defects of the hardening issue (an adversarial run found
// them): label objects that outlived their codecs, BigInt timestamps out of range, lone
// surrogates in label values, stale markers in plain arrays, malformed label pairs, and label
// objects changed during a call. Each test failed before its fix.
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import type { Codec } from '../../src/codec/codec.js'
import { ValidationError } from '../../src/errors.js'
import type { Item } from '../../src/types.js'
import { STALE } from '../../src/types.js'
import { STALE_BITS, independentDecode, thrown } from '../support/helpers.js'

const T = 1_700_000_000_000

/** Every own symbol-keyed property of an object, with the length of the chain under it. */
function hiddenKeys (o: object): number[] {
  return Object.getOwnPropertySymbols(o).map((s) => {
    let n = 0
    for (let slot = (o as any)[s]; slot !== undefined && n < 1000; slot = slot.next) n++
    return n
  })
}

describe('label objects seen by many codecs', () => {
  it('carry one hidden property with a short chain, however many codecs saw them', async () => {
    const objects = Array.from({ length: 20 }, (_, i) => ({ __name__: 'm', i: String(i) }))
    const codecs: Codec[] = []
    for (let c = 0; c < 24; c++) {
      const codec = await createCodec()
      codec.encode(objects.map((metric) => ({ metric, values: [c], timestamps: [T] })))
      codecs.push(codec)
    }
    for (const o of objects) {
      const keys = hiddenKeys(o)
      expect(keys.length).toBe(1)
      expect(keys[0]).toBeLessThanOrEqual(4)
      expect(Object.keys(o)).toEqual(['__name__', 'i'])
    }
  })

  it('two codecs taking turns on the same objects both keep their cache hits', async () => {
    const a = await createCodec()
    const b = await createCodec()
    const objects = Array.from({ length: 10 }, (_, i) => ({ __name__: 'm', i: String(i) }))
    const items = objects.map((metric): Item => ({ metric, values: [1], timestamps: [T] }))
    a.encode(items)
    b.encode(items)
    const hitsA = a.stats().cacheHits
    const hitsB = b.stats().cacheHits
    for (let round = 0; round < 3; round++) {
      const ba = a.encode(items)
      const bb = b.encode(items)
      expect(independentDecode(ba).series.length).toBe(10)
      expect(independentDecode(bb).series.length).toBe(10)
    }
    expect(a.stats().cacheHits - hitsA).toBe(30)
    expect(b.stats().cacheHits - hitsB).toBe(30)
    expect(a.stats().labelEncodes).toBe(10)
  })

  it('six codecs taking turns on the same objects all keep hitting (a chain full of live caches does not thrash)', async () => {
    const codecs: Codec[] = []
    for (let c = 0; c < 6; c++) codecs.push(await createCodec())
    const objects = Array.from({ length: 50 }, (_, i) => ({ __name__: 'm', i: String(i) }))
    const items = objects.map((metric): Item => ({ metric, values: [1], timestamps: [T] }))
    for (const c of codecs) c.encode(items)
    const encodes = codecs.map((c) => c.stats().labelEncodes)
    for (let round = 0; round < 5; round++) for (const c of codecs) expect(independentDecode(c.encode(items)).series.length).toBe(50)
    expect(codecs.map((c) => c.stats().labelEncodes)).toEqual(encodes)
    expect(encodes).toEqual([50, 50, 50, 50, 50, 50])
    for (const o of objects) expect(hiddenKeys(o)).toEqual([4])
  })

  it('an object frozen after its first use is found again after the cache was dropped', async () => {
    const codec = await createCodec({ seriesCacheBytes: 4096 })
    const metric = { __name__: 'm', job: 'frozen' }
    codec.encode([{ metric, values: [1], timestamps: [T] }])
    Object.freeze(metric)
    // Fill the cache past its cap with other label sets: it is dropped.
    for (let i = 0; i < 200; i++) codec.encode([{ metric: { __name__: 'other', i: String(i), pad: 'x'.repeat(40) }, values: [1], timestamps: [T] }])
    expect(codec.stats().cacheResets).toBeGreaterThan(0)
    codec.encode([{ metric, values: [1], timestamps: [T] }])
    const before = codec.stats().labelEncodes
    for (let i = 0; i < 5; i++) codec.encode([{ metric, values: [1], timestamps: [T] }])
    expect(codec.stats().labelEncodes).toBe(before)
  })

  it('a Proxy that makes up every property is encoded and does not hang the call', () => {
    // A "default dict" Proxy answers any key, the cache's symbol too, with itself: a walk
    // that trusted it never ended. Run in a child process so that a regression fails, not hangs.
    const src = new URL('../../src/codec/codec.ts', import.meta.url).pathname
    const code = `
      const { createCodec } = await import(${JSON.stringify(src)})
      const codec = await createCodec()
      const target = { __name__: 'm', job: 'p' }
      const p = new Proxy(target, { get: (t, k) => (k in t ? t[k] : p) })
      for (let i = 0; i < 3; i++) codec.encode([{ metric: p, values: [1], timestamps: [${T}] }])
      console.log('ok', codec.stats().labelEncodes >= 1)
    `
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { timeout: 30_000, encoding: 'utf8' })
    expect(r.signal, r.stderr).toBeNull()
    expect(r.stdout.trim(), r.stderr).toBe('ok true')
  })

  it('an object that inherits another\'s slot is encoded from its own labels', async () => {
    const codec = await createCodec()
    const base = { __name__: 'm', job: 'a' }
    codec.encode([{ metric: base, values: [1], timestamps: [T] }])
    const child = Object.create(base) as Record<string, string>
    child.job = 'b'
    const got = independentDecode(codec.encode([{ metric: child, values: [1], timestamps: [T] }])).series[0]
    expect(got.labels).toEqual([['__name__', 'm'], ['job', 'b']])
  })
})


describe('BigInt timestamps outside a BigInt64Array', () => {
  const cases: Array<[string, unknown[]]> = [
    ['2^63 (wrapped to -2^63 before)', [2n ** 63n]],
    ['2^64 + 5 (wrapped to 5 before)', [2n ** 64n + 5n]],
    ['an in-range BigInt', [1_700_000_000_000n]],
  ]
  for (const [what, timestamps] of cases) {
    it(`${what}: a ValidationError in encode(), encodeV2() and for one sample or two`, async () => {
      const codec = await createCodec()
      for (const encode of [codec.encode.bind(codec), codec.encodeV2.bind(codec)]) {
        for (const n of [1, 2]) {
          const item = { metric: { __name__: 'm' }, values: Array(n).fill(1), timestamps: Array(n).fill(timestamps[0]) } as unknown as Item
          const err = thrown(() => encode([{ metric: { __name__: 'ok' }, values: [1], timestamps: [T] }, item]))
          expect(err).toBeInstanceOf(ValidationError)
          expect(err).toMatchObject({ seriesIndex: 1, field: 'timestamps', sampleIndex: 0 })
          expect((err as Error).message).toMatch(/BigInt64Array/)
        }
      }
      // Usable after, and a BigInt64Array still takes BigInts.
      const body = codec.encode([{ metric: { __name__: 'm' }, values: [1], timestamps: new BigInt64Array([2n ** 62n]) }])
      expect(independentDecode(body).series[0].timestamps).toEqual(new BigInt64Array([2n ** 62n]))
    })
  }
})

describe('lone surrogates in labels', () => {
  const bad = ['a\uD800', '\uDC00', 'x\uDBFFy', '\uD83D']
  for (const value of bad) {
    it(`a value ${JSON.stringify(value)} is a ValidationError naming the label, not a U+FFFD on the wire`, async () => {
      const codec = await createCodec()
      for (const metric of [{ __name__: 'm', job: value }, [['__name__', 'm'], ['job', value]]] as const) {
        for (const n of [1, 2]) {
          const item: Item = { metric, values: Array(n).fill(1), timestamps: Array.from({ length: n }, (_, i) => T + i) }
          for (const encode of [codec.encode.bind(codec), codec.encodeV2.bind(codec)]) {
            const err = thrown(() => encode([item]))
            expect(err).toBeInstanceOf(ValidationError)
            expect(err).toMatchObject({ seriesIndex: 0, field: 'metric', label: 'job' })
            expect((err as Error).message).toMatch(/lone UTF-16 surrogate/)
          }
        }
      }
      expect(() => codec.series({ __name__: 'm', job: value })).toThrow(ValidationError)
      const err = thrown(() => codec.encodeV2([{ metric: { __name__: 'm' }, values: [1], timestamps: [T], exemplars: [{ labels: { trace_id: value }, value: 1, timestamp: T }] }]))
      expect(err).toBeInstanceOf(ValidationError)
      const md = thrown(() => codec.encodeV2([{ metric: { __name__: 'm' }, values: [1], timestamps: [T], metadata: { type: 'gauge', help: `h${value}` } }]))
      expect(md).toBeInstanceOf(ValidationError)
      expect((md as Error).message).toMatch(/metadata.help/)
    })
  }

  it('paired surrogates and U+FFFD itself still go out byte for byte', async () => {
    const codec = await createCodec()
    const value = '😀\uFFFD\u{10FFFF}ü'
    const got = independentDecode(codec.encode([{ metric: { __name__: 'm', job: value }, values: [1], timestamps: [T] }])).series[0]
    expect(got.labels).toEqual([['__name__', 'm'], ['job', value]])
  })
})

describe('STALE in plain arrays', () => {
  it('goes out as the stale NaN bits in every path (one sample, many, unsorted, 2.0)', async () => {
    const codec = await createCodec()
    const bodies = [
      codec.encode([{ metric: { __name__: 'm' }, values: [STALE], timestamps: [T] }]),
      codec.encode([{ metric: { __name__: 'm' }, values: [1, STALE], timestamps: [T, T + 1] }]),
      codec.encode([{ metric: { __name__: 'm' }, values: [STALE, 1], timestamps: [T + 1, T] }]),
    ]
    expect(Array.from(independentDecode(bodies[0]).series[0].values)).toEqual([STALE_BITS])
    expect(Array.from(independentDecode(bodies[1]).series[0].values)).toEqual([0x3ff0000000000000n, STALE_BITS])
    expect(Array.from(independentDecode(bodies[2]).series[0].values)).toEqual([0x3ff0000000000000n, STALE_BITS])
    const v2 = codec.decodeV2(codec.encodeV2([{ metric: { __name__: 'm' }, values: [1, STALE], timestamps: [T, T + 1] }]))
    const bits = new BigUint64Array(v2.items[0].values.buffer)
    expect(Array.from(bits)).toEqual([0x3ff0000000000000n, STALE_BITS])
  })

  it('a hot loop building number[]s keeps every marker (STALE_NAN there may not survive; STALE does)', async () => {
    const codec = await createCodec()
    const make = (i: number): Item => ({ metric: { __name__: 'm', i: String(i % 50) }, values: [i, STALE], timestamps: [T + 2 * i, T + 2 * i + 1] })
    let stale = 0
    for (let round = 0; round < 40; round++) {
      const items: Item[] = []
      for (let i = 0; i < 2000; i++) items.push(make(i))
      for (const s of independentDecode(codec.encode(items)).series) for (const b of s.values) if (b === STALE_BITS) stale++
    }
    expect(stale).toBe(80_000)
  })

  it('is a ValidationError in timestamps', async () => {
    const codec = await createCodec()
    const err = thrown(() => codec.encode([{ metric: { __name__: 'm' }, values: [1, 2], timestamps: [T, STALE] as unknown as number[] }]))
    expect(err).toMatchObject({ seriesIndex: 0, field: 'timestamps', sampleIndex: 1 })
  })
})

describe('malformed [name, value] pairs', () => {
  const shapes: unknown[] = [
    [['__name__', 'm'], 'job'],
    [['__name__', 'm'], ['job']],
    [['__name__', 'm'], null],
    [['__name__', 'm'], ['job', 'x', 'y']],
    [['__name__', 'm'], [1, 'x']],
  ]
  for (const metric of shapes) {
    // A samples error found before the labels are looked at (two values, one timestamp) named the
    // series through Object.fromEntries(), which threw a TypeError on a malformed pair.
    for (const [values, timestamps] of [[[1, 2], [T]], [['x', 2], [T, T + 1]], [[1], [T]], [[1], []]]) {
      it(`${JSON.stringify(metric)} with values ${JSON.stringify(values)} at ${timestamps.length} timestamps: a ValidationError, never a TypeError`, async () => {
        const codec = await createCodec()
        for (const encode of [codec.encode.bind(codec), codec.encodeV2.bind(codec)]) {
          const err = thrown(() => encode([{ metric, values, timestamps } as unknown as Item]))
          expect(err).toBeInstanceOf(ValidationError)
          expect((err as ValidationError).seriesIndex).toBe(0)
        }
        expect(independentDecode(codec.encode([{ metric: { __name__: 'ok' }, values: [1], timestamps: [T] }])).series.length).toBe(1)
      })
    }
  }
})

describe('through the writer', () => {
  it('STALE arrives as the stale NaN; a BigInt in a plain array fails the call whole, and the writer goes on', async () => {
    const { RemoteWriter } = await import('../../src/writer/writer.js')
    const { startReceiver } = await import('../support/fake-server.js')
    const rx = await startReceiver()
    const w = new RemoteWriter({ url: rx.url, autoConvertSecondsToMs: false })
    try {
      const one = { metric: { __name__: 'm', k: 'one' }, values: [STALE], timestamps: [T] }
      const two = { metric: { __name__: 'm', k: 'two' }, values: [1, STALE], timestamps: [T, T + 1] }
      await w.send([one, two])
      const bad = [{ metric: { __name__: 'm', k: 'ok' }, values: [1], timestamps: [T] }, { metric: { __name__: 'm', k: 'bad' }, values: [1], timestamps: [2n ** 64n + 5n] as unknown as number[] }]
      await expect(w.send(bad)).rejects.toMatchObject({ name: 'ValidationError', seriesIndex: 1, field: 'timestamps' })
      expect(() => w.write(bad)).toThrow(ValidationError)
      await w.close()
      const got = rx.requests.flatMap((r) => r.items).map((s) => `${s.labels.k}:${Array.from(s.bits, (b) => b.toString(16)).join(',')}`).sort()
      expect(got).toEqual(['one:7ff0000000000002', 'two:3ff0000000000000,7ff0000000000002'])
    } finally {
      await rx.close()
    }
  })
})

describe('label values that are not strings', () => {
  it('a value String() cannot convert is a ValidationError naming the label, not a TypeError', async () => {
    const codec = await createCodec()
    for (const value of [Object.create(null), Symbol('s'), 42, null, { toString () { throw new Error('no') } }]) {
      const err = thrown(() => codec.encode([{ metric: { __name__: 'm', job: value }, values: [1, 2], timestamps: [T] } as unknown as Item]))
      expect(err).toBeInstanceOf(ValidationError)
      expect((err as ValidationError).message).toMatch(/job=<(object|symbol|number)>/)
    }
  })
})
