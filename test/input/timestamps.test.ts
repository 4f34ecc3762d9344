// Timestamps as text (src/input/timestamps.ts) and where the readers take them: ISO-8601 /
// RFC 3339 dates recognised without a flag in CSV and in JSON lines, numbers kept as numbers,
// errors that name the column or field, the line, and the flag.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseJsonLine, readItems } from '../../src/input/index.js'
import type { InputItem, InputRecord, ReadOptions } from '../../src/input/index.js'
import { isoDateProblem, looksLikeDate, parseIsoDate, parseLenientDate } from '../../src/input/timestamps.js'

async function * bytes (text: string): AsyncGenerator<Uint8Array> { yield Buffer.from(text) }
async function read (text: string, options: ReadOptions): Promise<InputRecord[]> {
  const out: InputRecord[] = []
  for await (const r of readItems(bytes(text), options)) out.push(r)
  return out
}
const items = (recs: InputRecord[]): InputItem[] => recs.flatMap(r => 'item' in r ? [r.item] : [])
const errors = (recs: InputRecord[]): Array<{ line: number, message: string }> => recs.flatMap(r => 'error' in r ? [r.error] : [])

describe('parseIsoDate', () => {
  it.each([
    ['2023-11-14T22:13:20Z', 1_700_000_000_000],
    ['2023-11-14T22:13:20.5Z', 1_700_000_000_500],
    ['2023-11-14T22:13:20.123456789Z', 1_700_000_000_123], // cut to the millisecond, not rounded
    ['2023-11-14T22:13:20.9999Z', 1_700_000_000_999],
    ['2023-11-14T23:13:20+01:00', 1_700_000_000_000],
    ['2023-11-14T20:43:20-01:30', 1_700_000_000_000],
    ['2023-11-14T23:13:20+0100', 1_700_000_000_000],
    ['2023-11-14T23:13:20+01', 1_700_000_000_000],
    ['2023-11-14 22:13:20Z', 1_700_000_000_000],
    ['2023-11-14t22:13:20z', 1_700_000_000_000],
    ['2023-11-14T22:13Z', 1_699_999_980_000],
    ['2023-11-14', 1_699_920_000_000],
    ['2023-11-14T24:00:00Z', 1_700_006_400_000],
    ['1970-01-01T00:00:00Z', 0],
    ['1969-12-31T23:59:59.5Z', -500],
    ['0050-01-01T00:00:00Z', -60_589_296_000_000], // no two-digit-year quirk
    ['2024-02-29T12:00:00Z', 1_709_208_000_000],
    ['2000-02-29T00:00:00Z', 951_782_400_000],
  ])('%s → %d', (text, ms) => {
    expect(parseIsoDate(text)).toBe(ms)
    expect(isoDateProblem(text)).toBeUndefined()
  })

  it.each([
    ['2026-12-06T19:23:00', /^no UTC offset/],
    ['2026-13-06T19:23:00Z', /^month 13 is out of range/],
    ['2026-02-29T00:00:00Z', /^day 29 is out of range for 2026-02/],
    ['1900-02-29', /^day 29 is out of range/],
    ['2026-12-06T25:00:00Z', /^hour 25 is out of range/],
    ['2026-12-06T24:00:01Z', /^hour 24 is out of range/],
    ['2026-12-06T19:60:00Z', /^minute 60 is out of range/],
    ['2016-12-31T23:59:60Z', /^second 60 is out of range/],
    ['2026-12-06T19:23:00+24:00', /^offset \+24:00 is out of range/],
    ['2026-12-06T19:23:00.Z', /^not an ISO-8601 date/],
    ['2026-12-06T19:23:00 Z', /^not an ISO-8601 date/],
    ['2026-12-06T19Z', /^not an ISO-8601 date/],
    ['2026-12-06T1', /^not an ISO-8601 date/],
    ['2026-12-6', /^not an ISO-8601 date/],
    ['26-12-06', /^not an ISO-8601 date/],
    ['2026-12-06T19:23:00+2:00', /^not an ISO-8601 date/],
    ['1700000000000', /^not an ISO-8601 date/],
    ['', /^not an ISO-8601 date/],
  ])('refuses %j: %s', (text, problem) => {
    expect(parseIsoDate(text)).toBeNaN()
    expect(isoDateProblem(text)).toMatch(problem)
  })

  it('agrees with Date.parse on every RFC 3339 date-time it reads (seeded)', () => {
    const two = (n: number): string => String(n).padStart(2, '0')
    fc.assert(fc.property(
      fc.date({ min: new Date(Date.UTC(1, 0, 1)), max: new Date(Date.UTC(9999, 11, 31)), noInvalidDate: true }),
      fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
      fc.nat({ max: 999_999 }),
      fc.integer({ min: 0, max: 6 }),
      (date, offsetMin, micros, fracDigits) => {
        const local = new Date(date.getTime() + offsetMin * 60_000)
        const y = local.getUTCFullYear()
        if (y < 1 || y > 9999) return
        const frac = fracDigits === 0 ? '' : '.' + String(micros).padStart(6, '0').slice(0, fracDigits)
        const sign = offsetMin < 0 ? '-' : '+'
        const zone = offsetMin === 0 ? 'Z' : `${sign}${two(Math.floor(Math.abs(offsetMin) / 60))}:${two(Math.abs(offsetMin) % 60)}`
        const text = `${String(y).padStart(4, '0')}-${two(local.getUTCMonth() + 1)}-${two(local.getUTCDate())}T${two(local.getUTCHours())}:${two(local.getUTCMinutes())}:${two(local.getUTCSeconds())}${frac}${zone}`
        expect(parseIsoDate(text)).toBe(Date.parse(text))
      }), { seed: 20261206, numRuns: 2000 })
  })

  it('parseLenientDate reads local times and other forms as Date.parse does, but never an impossible day', () => {
    expect(parseLenientDate('2026-12-06T19:23:00')).toBe(Date.parse('2026-12-06T19:23:00'))
    expect(parseLenientDate('Tue, 14 Nov 2023 22:13:20 GMT')).toBe(1_700_000_000_000)
    expect(Date.parse('2026-02-29T00:00:00Z')).not.toBeNaN() // Date.parse rolls it into March
    expect(parseLenientDate('2026-02-29T00:00:00Z')).toBeNaN()
    expect(parseLenientDate('nonsense')).toBeNaN()
  })

  it('looksLikeDate: YYYY-MM at the start', () => {
    expect(looksLikeDate('2026-12')).toBe(true)
    expect(looksLikeDate('2026-12-06T00:00:00Z')).toBe(true)
    expect(looksLikeDate('1700000000000')).toBe(false)
    expect(looksLikeDate('-2026-12')).toBe(false)
  })
})

describe('CSV timestamps without a flag', () => {
  const csv = (cells: string[]): string => `timestamp,host,value\n${cells.map((c, i) => `${c},h,${i}`).join('\n')}\n`

  it('reads ISO dates (fractions, offsets) and numbers (kept as milliseconds) in one column', async () => {
    const recs = await read(csv(['2023-11-14T22:13:20Z', '2023-11-14T22:13:20.25Z', '2023-11-15T00:13:20+02:00', '1700000000000', '1700000000', '1.7e12']), { format: 'csv' })
    expect(errors(recs)).toEqual([])
    // Seconds stay seconds here: the writer's autoConvertSecondsToMs decides later.
    expect(items(recs).map(i => i.timestamps[0])).toEqual([1_700_000_000_000, 1_700_000_000_250, 1_700_000_000_000, 1_700_000_000_000, 1_700_000_000, 1_700_000_000_000])
  })

  it('reports a bad timestamp with its column, its line and the flag', async () => {
    const recs = await read(csv(['2023-11-14T22:13:20Z', 'yesterday', '2026-12-06T19:23:00', '2026-02-30T00:00:00Z', '']), { format: 'csv' })
    expect(items(recs)).toHaveLength(1)
    expect(errors(recs)).toEqual([
      { line: 3, message: 'column "timestamp": invalid timestamp "yesterday": expected a number of milliseconds or an ISO-8601 date like 2026-12-06T19:23:00Z (or set --csv-timestamp-unit iso, ms or s)' },
      { line: 4, message: expect.stringMatching(/^column "timestamp": invalid timestamp "2026-12-06T19:23:00": no UTC offset: add Z or an offset like \+02:00 .*--csv-timestamp-unit iso/) },
      { line: 5, message: expect.stringMatching(/^column "timestamp": invalid timestamp "2026-02-30T00:00:00Z": day 30 is out of range for 2026-02 /) },
      { line: 6, message: expect.stringMatching(/^column "timestamp": invalid timestamp "": empty /) },
    ])
  })

  it('keeps the explicit units: ms and s refuse dates (and say so), iso reads local times', async () => {
    const ms = await read(csv(['2023-11-14T22:13:20Z', '1700000000000']), { format: 'csv', timestampUnit: 'ms' })
    expect(errors(ms)).toEqual([{ line: 2, message: 'column "timestamp": invalid timestamp "2023-11-14T22:13:20Z" (timestampUnit \'ms\'): it looks like a date (--csv-timestamp-unit iso, or leave the unit unset)' }])
    const s = await read(csv(['1700000000']), { format: 'csv', timestampUnit: 's' })
    expect(items(s)[0].timestamps).toEqual([1_700_000_000_000])
    const iso = await read(csv(['2026-12-06T19:23:00', '2023-11-14T22:13:20.5Z', '1700000000000']), { format: 'csv', timestampUnit: 'iso' })
    expect(items(iso).map(i => i.timestamps[0])).toEqual([Date.parse('2026-12-06T19:23:00'), 1_700_000_000_500])
    expect(errors(iso)).toEqual([{ line: 4, message: 'column "timestamp": invalid timestamp "1700000000000" (timestampUnit \'iso\')' }])
  })
})

describe('JSON lines timestamps as strings', () => {
  const line = (ts: unknown[]): string => JSON.stringify({ metric: { __name__: 'a' }, values: ts.map((_, i) => i), timestamps: ts })
  const one = (ts: unknown[]): InputItem => {
    const r = parseJsonLine(line(ts))
    if (r === undefined || !('item' in r)) throw new Error(`expected an item: ${JSON.stringify(r)}`)
    return r.item
  }

  it('reads ISO dates and numeric strings among numbers', () => {
    expect(one(['2023-11-14T22:13:20Z', 1_700_000_001_000, '2023-11-14T23:13:22.5+01:00', '1700000003000']).timestamps)
      .toEqual([1_700_000_000_000, 1_700_000_001_000, 1_700_000_002_500, 1_700_000_003_000])
  })

  it('leaves an all-number array as it is', () => {
    expect(one([1, 2, 3]).timestamps).toEqual([1, 2, 3])
  })

  it.each([
    [['2026-12-06T19:23:00'], /^"timestamps\[0\]" must be a finite number of milliseconds or an ISO-8601 date, got "2026-12-06T19:23:00": no UTC offset/],
    [[1, 'soon'], /^"timestamps\[1\]" must be a finite number of milliseconds or an ISO-8601 date, got "soon"$/],
    [[1, 2, '2026-13-01T00:00:00Z'], /^"timestamps\[2\]" .*: month 13 is out of range$/],
    [['NaN'], /^"timestamps\[0\]" must be/],
    [[true], /^"timestamps\[0\]" must be a finite number of milliseconds or an ISO-8601 date, got a boolean$/],
  ])('reports %j', (ts, message) => {
    const r = parseJsonLine(line(ts))
    expect(r !== undefined && 'error' in r ? r.error : r).toMatch(message)
  })
})
