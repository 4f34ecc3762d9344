// The receiver's distinct series (src/commands/distinct-series.ts): a 53-bit hash of the label
// set, whatever its order; an exact count up to a bound, then a HyperLogLog estimate, whose
// error is measured here on seeded streams.
import { describe, expect, it } from 'vitest'
import { DistinctSeries, seriesHash } from '../../src/commands/distinct-series.js'
import { rng } from '../support/helpers.js'

/** A seeded stream of `n` distinct label sets like a scrape's (the last label makes each distinct), in a shuffled order of keys. */
function* labelSets (seed: number, n: number): Generator<Record<string, string>> {
  const r = rng(seed)
  for (let i = 0; i < n; i++) {
    const pairs: Array<[string, string]> = [
      ['__name__', `metric_${Math.floor(r() * 50)}`],
      ['instance', `10.0.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}:9100`],
      ['job', 'node'],
      ['series', `${seed}-${i}`],
    ]
    if (r() < 0.5) pairs.reverse()
    yield Object.fromEntries(pairs)
  }
}

describe('seriesHash', () => {
  it('is the same for any order of the labels, and 53 bits', () => {
    const a = seriesHash({ __name__: 'up', job: 'x', instance: 'h:1' })
    expect(seriesHash({ instance: 'h:1', job: 'x', __name__: 'up' })).toBe(a)
    expect(seriesHash({ job: 'x', __name__: 'up', instance: 'h:1', empty: '' })).toBe(a) // empty values are no label
    expect(Number.isSafeInteger(a) && a >= 0).toBe(true)
  })

  it('tells apart label sets that only a concatenation would confuse', () => {
    const sets: Array<Record<string, string>> = [
      { a: 'bc' }, { ab: 'c' }, { a: 'b', c: '' }, { a: 'b' }, { a: 'b', b: 'a' }, { a: 'a', b: 'b' }, { a: '', b: 'ab' }, { a: 'b\u0000c' }, { a: 'b', '\u0000c': '' },
    ]
    const hashes = sets.map((labels) => seriesHash(labels))
    expect(new Set(hashes).size).toBe(hashes.length - 2) // three are { a: 'b' }: an empty value is no label
  })

  it('has no collision among 1,000,000 distinct series', () => {
    const seen = new Set<number>()
    for (const labels of labelSets(1, 1_000_000)) seen.add(seriesHash(labels))
    expect(seen.size).toBe(1_000_000)
  })
})

describe('DistinctSeries', () => {
  it('is exact up to its bound, however often a series comes back', () => {
    const d = new DistinctSeries(1000)
    for (let round = 0; round < 3; round++) for (const labels of labelSets(2, 1000)) d.add(labels)
    expect(d.count).toBe(1000)
    expect(d.approximate).toBe(false)
    d.add({ __name__: 'one_more' })
    expect(d.approximate).toBe(true)
  })

  it('estimates within 3% at 1,000,000 distinct series (and 10k, 100k), on seeded streams', () => {
    for (const [seed, n] of [[3, 10_000], [4, 100_000], [5, 1_000_000]]) {
      const d = new DistinctSeries(0) // the estimate from the first series on
      for (const labels of labelSets(seed, n)) d.add(labels)
      expect(d.approximate).toBe(true)
      const error = Math.abs(d.count - n) / n
      expect(error, `${d.count} estimated for ${n}`).toBeLessThan(0.03)
    }
  })

  it('does not count a series twice past the bound: 200,000 series sent 3 times', () => {
    const d = new DistinctSeries(50_000)
    for (let round = 0; round < 3; round++) for (const labels of labelSets(7, 200_000)) d.add(labels)
    expect(d.approximate).toBe(true)
    expect(Math.abs(d.count - 200_000) / 200_000).toBeLessThan(0.03)
  })
})
