// The fast paths of the readers against their plain references, on seeded random input:
// lines decoded a chunk at a time against a line-by-line splitter (invalid UTF-8, CR, BOM,
// over-long lines, any chunking); the Prometheus parser that remembers series against
// parsePromLine (escapes, quotes, NaN/Inf, a known series followed by a bad tail); CSV rows
// split without csv-parse against csv-parse; label objects shared, and not pinning input.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { parse as parseCsv } from 'csv-parse/sync'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createPromParser, lineBatches, parsePromLine, parseSampleValue, readItems, regroup } from '../../src/input/index.js'
import { parseDecimalAt, parseIntegerAt } from '../../src/input/values.js'
import { RecordBatch } from '../../src/input/batch.js'
import type { InputItem, InputRecord, Line, LineResult, RegroupBatch } from '../../src/input/index.js'
import { seriesKey } from '../../src/input/regroup.js'

async function * cutAt (bytes: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let k = 0
  for (let i = 0; i < bytes.length;) {
    const n = sizes[k++ % sizes.length]
    yield bytes.subarray(i, i + n)
    i += n
  }
}
async function collect<T> (it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}
const num = (v: number): string => Object.is(v, -0) ? '-0' : String(v)
const exact = (r: unknown): unknown => JSON.parse(JSON.stringify(r, (_, v: unknown) => typeof v === 'number' ? num(v) : v))

/** Lines as a plain splitter sees them: the whole input at once, each line decoded on its own. */
function referenceLines (bytes: Buffer, maxLineBytes: number): Line[] {
  const out: Line[] = []
  let start = 0
  let line = 0
  while (start < bytes.length) {
    const nl = bytes.indexOf(0x0a, start)
    const end = nl === -1 ? bytes.length : nl
    const cr = end > start && bytes[end - 1] === 0x0d
    const textEnd = cr ? end - 1 : end
    line++
    const offset = nl === -1 ? bytes.length : nl + 1
    const eol = nl === -1 ? '' : cr ? '\r\n' : '\n'
    if (textEnd - start > maxLineBytes) out.push({ text: '', line, offset, eol, tooLong: true })
    else {
      const bom = line === 1 && bytes[start] === 0xef && bytes[start + 1] === 0xbb && bytes[start + 2] === 0xbf && textEnd - start >= 3 ? 3 : 0
      out.push({ text: bytes.toString('utf8', start + bom, textEnd), line, offset, eol })
    }
    start = offset
  }
  return out
}

describe('lineBatches: a chunk decoded at once', () => {
  const piece = fc.oneof(
    fc.constantFrom('\n', '\r\n', '\r', 'a', 'abc def', 'é', '😀', '\ufeff', '汉字', ''),
    fc.uint8Array({ maxLength: 4 }).map(b => Buffer.from(b).toString('latin1')), // raw bytes, invalid UTF-8 too
    fc.string({ maxLength: 30 }),
  )
  const input = fc.array(fc.tuple(piece, fc.boolean()), { maxLength: 60 }).map(parts => Buffer.concat(parts.map(([p, raw]) => Buffer.from(p, raw ? 'latin1' : 'utf8'))))

  it('gives the lines of a line-by-line splitter, whatever the chunking (seeded)', async () => {
    await fc.assert(fc.asyncProperty(input, fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 50 }),
      async (bytes, sizes, maxLineBytes) => {
        const lines = (await collect(lineBatches(cutAt(bytes, sizes), { maxLineBytes }))).flat()
        expect(lines).toEqual(referenceLines(bytes, maxLineBytes))
      }), { seed: 1414, numRuns: 1500 })
  })

  it('handles a chunk of mixed ASCII and non-ASCII lines, and a long line among short ones', async () => {
    const text = `a\n${'b'.repeat(100)}\r\nç\n\nd`
    const lines = (await collect(lineBatches(cutAt(Buffer.from(text), [1 << 16]), { maxLineBytes: 50 }))).flat()
    expect(lines.map(l => [l.text, l.tooLong === true, l.offset])).toEqual([['a', false, 2], ['', true, 104], ['ç', false, 107], ['', false, 108], ['d', false, 109]])
  })
})

/**
 * createPromParser as a function of a line: the item, the error message, or undefined. The
 * parser reads lines in place, from the text of a whole chunk: the line is given inside other
 * text (`around`, by default a line break each side) that must not count.
 */
function promParser (options: { openmetrics: boolean, now: number }, around: [string, string] = ['x 1\n', '\n9 9 9']): (text: string) => InputItem | string | undefined {
  const parse = createPromParser(options)
  return (text) => {
    const out = new RecordBatch()
    const [before, after] = around
    const error = parse(before + text + after, before.length, before.length + text.length, 1, 0, out)
    if (error !== undefined) return error
    const rec = out.length > 0 ? out.at(0) : undefined
    return rec !== undefined && 'item' in rec ? rec.item : undefined
  }
}

/** A createPromParser result in parsePromLine's form. */
const asResult = (r: InputItem | string | undefined): LineResult => r === undefined ? undefined : typeof r === 'string' ? { error: r } : { item: r }

describe('createPromParser against parsePromLine', () => {
  const name = fc.constantFrom('x', 'up', 'node_cpu_seconds_total', 'a:b', 'x_total')
  const labelValue = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.constantFrom('', 'a"b', 'back\\slash', 'new\nline', '}', '{', '} 1 2', ' # {x="y"} 1', ',', '=', 'NaN', 'é😀'),
  )
  const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
  const labelSet = fc.array(fc.tuple(fc.constantFrom('a', 'b', 'le', 'mode', '__name__', 'a.b'), labelValue), { maxLength: 3 }).map(ls =>
    ls.length === 0 ? '' : `{${ls.map(([k, v]) => `${k.includes('.') ? `"${k}"` : k}="${escape(v)}"`).join(',')}}`)
  const tail = fc.constantFrom(' 1', ' 1 1700000000000', ' NaN', ' +Inf 5', ' -Inf', ' 1.5e3 -7', ' abc', ' 1 1.5', ' 1 2 3', '', ' 1 # {t="x"} 2', '\t2', '7', '-1 5', ' 1 1700000000.5')
  const line = fc.tuple(fc.constantFrom('', ' ', '\t'), name, fc.constantFrom('', ' '), labelSet, tail, fc.boolean())
    .map(([lead, n, sp, ls, t, raw]) => raw ? `${lead}${n}${t}` : `${lead}${n}${sp}${ls}${t}`)

  it('gives the same items and errors, lines repeating series with other tails (seeded)', () => {
    const around = fc.tuple(fc.constantFrom('', 'x 1\n', '\n'), fc.constantFrom('', ' ', '\r', '\n', ' 5', '"}', '{a="1"} 2'))
    fc.assert(fc.property(fc.array(line, { minLength: 1, maxLength: 40 }), fc.boolean(), around, (lines, openmetrics, [before, after]) => {
      const options = { openmetrics, now: 42 }
      const parse = promParser(options, [before, after])
      // Twice through: the second pass finds every series known.
      for (const l of [...lines, ...lines]) expect(exact(asResult(parse(l)))).toEqual(exact(parsePromLine(l, options)))
    }), { seed: 20261208, numRuns: 1500 })
  })

  it('a known series followed by what the full parser refuses gives the full parser\'s error', () => {
    const parse = promParser({ openmetrics: false, now: 0 })
    expect(parse('x 1')).toEqual({ metric: { __name__: 'x' }, values: [1], timestamps: [0] })
    expect(parse('x-1 5')).toBe('invalid metric name: unexpected "-" at column 2')
    expect(parse('x {a="1"} 1')).toMatchObject({ metric: { __name__: 'x', a: '1' }, values: [1] })
    expect(parse('x{a="1"} 1')).toMatchObject({ values: [1] })
    expect(parse('x{a="1"}abc')).toBe('"x": invalid value "abc"')
    expect(parse('x{a="1"} 1 2 3')).toBe('"x": unexpected "3" after the timestamp')
  })

  it('lines of one series share one label object, which keys regroup as a fresh one would', () => {
    const parse = promParser({ openmetrics: false, now: 0 })
    const a = parse('m{b="2",a="1"} 1 10')
    const b = parse('m{b="2",a="1"} 2 20')
    if (typeof a !== 'object' || typeof b !== 'object') throw new Error('expected items')
    expect(a.metric).toBe(b.metric)
    expect(Object.keys(a.metric)).toEqual(['__name__', 'b', 'a'])
    expect(seriesKey(a.metric)).toBe(seriesKey({ ...a.metric }))
  })

  it('reads a very long line (a 1 MB label value) the same', () => {
    const l = `x{a="${'v'.repeat(1 << 20)}",b="\\"q\\""} 1 5`
    const parse = promParser({ openmetrics: false, now: 0 })
    expect(asResult(parse(l))).toEqual(parsePromLine(l, { openmetrics: false, now: 0 }))
    expect(asResult(parse(l))).toEqual(parsePromLine(l, { openmetrics: false, now: 0 }))
  })
})

describe('CSV rows without quotes, split without csv-parse', () => {
  it('splits as csv-parse does (seeded)', () => {
    const cell = fc.stringMatching(/^[a-z0-9 \t\r;é.,-]{0,6}$/)
    fc.assert(fc.property(fc.array(cell, { minLength: 1, maxLength: 6 }), fc.constantFrom(',', ';', '\t'), (cells, delimiter) => {
      const text = cells.join(delimiter)
      if (text.trim() === '') return
      const [row] = parseCsv(text, { delimiter, record_delimiter: '\n', relax_column_count: true, skip_empty_lines: false }) as string[][]
      expect(text.split(delimiter)).toEqual(row)
    }), { seed: 5, numRuns: 2000 })
  })

  it('reads quoted and plain rows in input order, plain rows of one series sharing labels', async () => {
    const text = 'timestamp,host,dc,value\n1,a,x,1\n2,"a",x,2\n3,a,x,3\n4,"b,c",,4\n5,a,,5\n'
    const recs = await collect(readItems(cutAt(Buffer.from(text), [7]), { format: 'csv' }))
    const items = recs.flatMap(r => 'item' in r ? [r.item] : [])
    expect(items.map(i => [i.timestamps[0], { ...i.metric }])).toEqual([
      [1, { __name__: 'value', host: 'a', dc: 'x' }],
      [2, { __name__: 'value', host: 'a', dc: 'x' }],
      [3, { __name__: 'value', host: 'a', dc: 'x' }],
      [4, { __name__: 'value', host: 'b,c' }],
      [5, { __name__: 'value', host: 'a' }],
    ])
    expect(items[0].metric).toBe(items[2].metric)
    expect(items[4].metric).not.toBe(items[0].metric)
    const [batch] = await collect(regroup((async function * () { yield * recs })(), { windowSamples: 100 })) as RegroupBatch[]
    expect(batch.items.map(i => [i.metric.dc ?? '', i.timestamps])).toEqual([['x', [1, 2, 3]], ['', [4]], ['', [5]]])
  })

  it('keys rows by their cells only where cells cannot hold the delimiter', async () => {
    // "a,b" quoted and a + b plain would join to the same key; the quoted row is not shared.
    const text = 'timestamp,h1,h2,value\n1,"a,b",c,1\n2,a,"b,c",2\n3,a,b,3\n'
    const items = (await collect(readItems(cutAt(Buffer.from(text), [100]), { format: 'csv' }))).flatMap(r => 'item' in r ? [r.item] : [])
    expect(items.map(i => [i.metric.h1, i.metric.h2])).toEqual([['a,b', 'c'], ['a', 'b,c'], ['a', 'b']])
  })
})

describe('CSV rows read in place against the general path', () => {
  const ts = fc.oneof(fc.integer({ min: -1e12, max: 4e12 }).map(String), fc.constantFrom('-0', '+5', '1.5', '1e3', ' 7', '2026-12-06T19:23:00Z', '2026-12-06T19:23:00.5+02:00', '2026-12-06T19:23:00', 'x', '', '99999999999999999'))
  const value = fc.oneof(fc.double({ noNaN: true }).map(num), fc.integer().map(String), fc.constantFrom('NaN', '+Inf', '-0', '', ' 1', '1 ', '0.1', '1e-7', '.5', '5.', 'abc', '1234567890123456789', '1e400'))
  const label = fc.constantFrom('a', 'b', '', ' a', 'sensor-1', 'x.y', 'é')
  const row = fc.tuple(ts, label, label, value, value, fc.integer({ min: -1, max: 1 }))
  const cells = ([t, l1, l2, v1, v2, extra]: [string, string, string, string, string, number]): string[] =>
    [t, l1, l2, v1, v2, ...(extra > 0 ? ['z'] : [])].slice(0, extra < 0 ? 4 : undefined)

  it('gives the same items and errors as rows read by csv-parse, whatever the chunking (seeded)', async () => {
    const chunking = fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 5 })
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(row, fc.nat()), { minLength: 1, maxLength: 30 }), fc.constantFrom('auto', 'ms', 's', 'iso'), chunking, async (rows, unit, sizes) => {
      const header = 'timestamp,host,dc,v1,v2\n'
      // Some cells quoted: rows with quotes go to csv-parse, the others are read in place.
      const mixed = header + rows.map(([r, mask]) => cells(r).map((c, i) => (mask >> i) % 2 === 1 ? `"${c}"` : c).join(',')).join('\r\n')
      // Quoting every cell sends each row through csv-parse, and changes no cell.
      const quoted = header + rows.map(([r]) => cells(r).map(c => `"${c}"`).join(',')).join('\r\n')
      const read = async (text: string, chunks: number[]): Promise<unknown[]> => (await collect(readItems(cutAt(Buffer.from(text), chunks), { format: 'csv', valueColumns: ['v1', 'v2'], timestampUnit: unit })))
        .map(r => 'item' in r ? [r.line, r.offset, { ...r.item.metric }, r.item.values.map(num), r.item.timestamps.map(num)] : [r.error.line, r.offset, r.error.message])
      const expected = await read(quoted, [1 << 16])
      // Offsets differ by the quotes added; compare them apart.
      const strip = (recs: unknown[]): unknown[] => recs.map(r => (r as unknown[]).filter((_, i) => i !== 1))
      expect(strip(await read(mixed, sizes))).toEqual(strip(expected))
      const plainText = header + rows.map(([r]) => cells(r).join(',')).join('\r\n')
      expect(strip(await read(plainText, sizes))).toEqual(strip(expected))
    }), { seed: 8, numRuns: 400 })
  })

  it('shares label objects also with key columns apart, and with a __name__ column', async () => {
    const text = 'host,timestamp,__name__,value,dc\na,1,m,1,x\na,2,m,2,x\nb,3,,3,x\n'
    const items = (await collect(readItems(cutAt(Buffer.from(text), [100]), { format: 'csv', metricName: 'dflt' }))).flatMap(r => 'item' in r ? [r.item] : [])
    expect(items.map(i => ({ ...i.metric }))).toEqual([{ __name__: 'm', host: 'a', dc: 'x' }, { __name__: 'm', host: 'a', dc: 'x' }, { __name__: 'dflt', host: 'b', dc: 'x' }])
    expect(items[0].metric).toBe(items[1].metric)
  })
})

describe('numbers read in place', () => {
  it('parseDecimalAt gives Number() exactly, or leaves the text to the slow way (seeded)', () => {
    const text = fc.oneof(
      fc.double().map(num),
      fc.stringMatching(/^[+-]?\d{0,20}(\.\d{0,20})?([eE][+-]?\d{1,3})?$/),
      fc.constantFrom('', '+', '-', '.', '1.', '.1', '1e', 'e1', '1e+', '0x10', 'NaN', 'Inf', '1_0', '00012', '-0', '0.000000000000000000001'),
    )
    fc.assert(fc.property(text, fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 }), (t, before, after) => {
      const s = before + t + after
      const v = parseDecimalAt(s, before.length, before.length + t.length)
      if (v !== undefined) expect(num(v)).toBe(num(parseSampleValue(t) as number))
      else if (t !== '' && /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(t)) expect(t.replace(/^[+-]?0*/, '').replace('.', '').replace(/[eE].*$/, '').replace(/^0+/, '').length > 15 || /[eE]/.test(t)).toBe(true)
      const i = parseIntegerAt(s, before.length, before.length + t.length)
      if (i !== undefined) expect(num(i)).toBe(num(Number(t)))
    }), { seed: 31, numRuns: 20000 })
  })
})

describe('label objects kept by the readers do not pin the input they were cut from', () => {
  /** A full collection, twice with a turn between: one alone left memory of the test before uncollected. */
  const gc = async (): Promise<void> => {
    setFlagsFromString('--expose-gc')
    const collect = runInNewContext('gc') as () => void
    collect()
    await new Promise(resolve => setTimeout(resolve, 20))
    collect()
  }

  // Chunks of 512 KB: Node makes strings over about 1 MB external, outside heapUsed.
  it.each(['prom', 'csv'] as const)('%s: 40 chunks of 512 KB, a new series in each, hold far less than 20 MB', async (format) => {
    const chunk = (i: number): Buffer => {
      const series = format === 'prom' ? `m{id="series-number-${i}-with-a-long-value"} 1 5\n` : `5,series-number-${i}-with-a-long-value,1\n`
      const filler = format === 'prom' ? `# ${'f'.repeat((1 << 19) - 3)}\n` : ''
      return Buffer.from(series + filler)
    }
    async function * source (): AsyncGenerator<Uint8Array> {
      if (format === 'csv') yield Buffer.from('timestamp,id,value\n')
      for (let i = 0; i < 40; i++) yield format === 'prom' ? chunk(i) : Buffer.concat([chunk(i), Buffer.from(`6,x,${'9'.repeat((1 << 19) - 10)}\n`)])
    }
    await gc()
    const used = (): number => process.memoryUsage().heapUsed + process.memoryUsage().external
    const before = used()
    const kept: InputItem[] = []
    for await (const r of readItems(source(), { format, now: 0 } as never) as AsyncIterable<InputRecord>) {
      if ('item' in r && r.item.metric.id !== 'x') kept.push(r.item)
    }
    await gc()
    const grown = used() - before
    expect(kept).toHaveLength(40)
    expect(grown).toBeLessThan(6 << 20)
  })
})

describe('the records of readItems, one at a time or in batches', () => {
  const text = Array.from({ length: 50 }, (_, i) => `m{s="${i % 3}"} ${i} ${i}`).join('\n') + '\nbroken{\n'
  const bytes = Buffer.from(text)

  it('gives the same records taken one by one, several at once, or through regroup', async () => {
    const one = await collect(readItems(cutAt(bytes, [97]), { format: 'prom' }))
    const it = readItems(cutAt(bytes, [97]), { format: 'prom' })
    // Asked for before the earlier ones are settled: they still come in order.
    const all = await Promise.all(Array.from({ length: one.length + 2 }, async () => await it.next()))
    expect(all.map(r => r.value)).toEqual([...one, undefined, undefined])
    expect(all.map(r => r.done)).toEqual([...one.map(() => false), true, true])
    expect(one.map(r => r.offset)).toEqual([...one.map(r => r.offset)].sort((a, b) => a - b))
    // regroup takes batches, also after records were taken one by one.
    const part = readItems(cutAt(bytes, [97]), { format: 'prom' })
    const first = await part.next()
    const rest = await collect(regroup(part, { windowSamples: 1000 }))
    const samples = rest.flatMap(o => 'items' in o ? o.items.flatMap(i => i.values) : [])
    expect(samples.length + 1).toBe(50)
    expect(first.value).toEqual(one[0])
    expect(rest.filter(o => 'error' in o)).toEqual([one.at(-1)])
  })

  it('stops the source when stopped early', async () => {
    let closed = false
    async function * source (): AsyncGenerator<Uint8Array> {
      try { for (let i = 0; i < 1000; i++) yield Buffer.from(`x ${i} ${i}\n`) } finally { closed = true }
    }
    const it = readItems(source(), { format: 'prom' })
    await it.next()
    await it.return?.()
    expect(closed).toBe(true)
  })

  it('skipThrough drops the records a checkpoint covers and tells their samples', async () => {
    const all = await collect(readItems(cutAt(bytes, [40]), { format: 'prom' }))
    const cut = all[20].offset
    let skipped = 0
    const kept = await collect(readItems(cutAt(bytes, [40]), { format: 'prom', skipThrough: cut, onSkipped: n => { skipped += n } }))
    expect(kept).toEqual(all.filter(r => r.offset > cut))
    expect(skipped).toBe(21)
  })
})
