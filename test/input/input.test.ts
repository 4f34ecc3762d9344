// The input readers (src/input/): line splitting with exact line numbers and byte offsets,
// gzip detection, each format with its edge cases, malformed lines reported in place,
// series regrouping, and a round-trip property over JSON lines and Prometheus text.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/errors.js'
import {
  decimalToInteger, detectFormat, lineBatches, maybeGunzip, openInput, parseJsonLine, parsePromLine,
  parseSampleValue, quoteBareSpecials, quoteOpenAtEnd, readItems, regroup, splitLines,
} from '../../src/input/index.js'
import type { InputItem, InputRecord, Line, ReadOptions, RegroupBatch, RegroupOutput } from '../../src/input/index.js'
import { seriesKey } from '../../src/input/regroup.js'

// ---- helpers ---------------------------------------------------------------------------------

/** The bytes of `data` as an async stream of `chunk`-byte pieces. */
async function * chunks (data: string | Uint8Array, chunk = 1 << 16): AsyncGenerator<Uint8Array> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data
  for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, i + chunk)
}

/** Byte stream cut at the given positions. */
async function * cutAt (data: string | Uint8Array, cuts: number[]): AsyncGenerator<Uint8Array> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data
  let from = 0
  for (const c of [...cuts].sort((a, b) => a - b)) {
    if (c > from && c < bytes.length) {
      yield bytes.subarray(from, c)
      from = c
    }
  }
  if (from < bytes.length) yield bytes.subarray(from)
}

async function collect<T> (it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

const read = async (data: string | Uint8Array, options: ReadOptions, chunk?: number): Promise<InputRecord[]> =>
  await collect(readItems(chunks(data, chunk), options))

const items = (recs: InputRecord[]): InputItem[] => recs.flatMap(r => 'item' in r ? [r.item] : [])
const errors = (recs: InputRecord[]): Array<{ line: number, message: string }> => recs.flatMap(r => 'error' in r ? [r.error] : [])
const byteLen = (s: string): number => Buffer.byteLength(s)

/** The offsets after each line of a text, as a reader must report them. */
function lineEnds (text: string): number[] {
  const ends: number[] = []
  let pos = 0
  for (const part of text.split('\n')) {
    pos += byteLen(part) + 1
    ends.push(Math.min(pos, byteLen(text)))
  }
  if (text.endsWith('\n')) ends.pop()
  return ends
}

/** Numbers as bit-faithful strings (distinguishes -0, keeps NaN), for exact comparisons. */
const num = (v: number): string => Object.is(v, -0) ? '-0' : String(v)
const exact = (item: InputItem): { metric: Record<string, string>, values: string[], timestamps: number[] } =>
  ({ metric: { ...item.metric }, values: item.values.map(num), timestamps: [...item.timestamps] })

// ---- lines -----------------------------------------------------------------------------------

describe('splitLines', () => {
  const split = async (data: string | Uint8Array, chunk?: number, maxLineBytes?: number): Promise<Line[]> =>
    await collect(splitLines(chunks(data, chunk), { maxLineBytes }))

  it('splits on \\n and \\r\\n with 1-based numbers, exact offsets and terminators', async () => {
    const text = 'a\r\nbb\n\nccc\r\n\r\nd'
    for (const chunk of [1, 2, 3, 5, 100]) {
      const lines = await split(text, chunk)
      expect(lines).toEqual([
        { text: 'a', line: 1, offset: 3, eol: '\r\n' },
        { text: 'bb', line: 2, offset: 6, eol: '\n' },
        { text: '', line: 3, offset: 7, eol: '\n' },
        { text: 'ccc', line: 4, offset: 12, eol: '\r\n' },
        { text: '', line: 5, offset: 14, eol: '\r\n' },
        { text: 'd', line: 6, offset: 15, eol: '' },
      ])
    }
  })

  it('cuts at every position, including between \\r and \\n and inside UTF-8 sequences', async () => {
    const text = 'é€\r\n😀x\n\r\n汉字'
    const expected = await split(text)
    expect(expected.map(l => l.text)).toEqual(['é€', '😀x', '', '汉字'])
    const n = byteLen(text)
    for (let a = 1; a < n; a++) {
      for (let b = a; b < n; b++) {
        expect(await collect(splitLines(cutAt(text, [a, b])))).toEqual(expected)
      }
    }
  })

  it('handles empty input, a lone newline, and a final line without newline', async () => {
    expect(await split('')).toEqual([])
    expect(await split('\n')).toEqual([{ text: '', line: 1, offset: 1, eol: '\n' }])
    expect(await split('x')).toEqual([{ text: 'x', line: 1, offset: 1, eol: '' }])
    expect(await split('x\r')).toEqual([{ text: 'x', line: 1, offset: 2, eol: '' }])
  })

  it('drops a byte-order mark on line 1 only, but counts its bytes', async () => {
    const lines = await split('\ufeffa\n\ufeffb\n', 2)
    expect(lines.map(l => l.text)).toEqual(['a', '\ufeffb'])
    expect(lines.map(l => l.offset)).toEqual([5, 10])
  })

  it('keeps a huge line spanning many chunks intact', async () => {
    const big = 'x'.repeat(5_000_000) + 'é'
    const lines = await split(`a\n${big}\r\nb`, 65_536)
    expect(lines.map(l => l.text.length)).toEqual([1, big.length, 1])
    expect(lines[1].text === big).toBe(true)
    expect(lines.map(l => l.offset)).toEqual([2, 2 + byteLen(big) + 2, 2 + byteLen(big) + 3])
  })

  it('reports a line over maxLineBytes without keeping it, and goes on', async () => {
    const text = `ok\n${'y'.repeat(1000)}\r\n${'z'.repeat(10)}\nlast${'w'.repeat(20)}`
    for (const chunk of [1, 7, 64, 4096]) {
      const lines = await split(text, chunk, 10)
      expect(lines).toEqual([
        { text: 'ok', line: 1, offset: 3, eol: '\n' },
        { text: '', line: 2, offset: 1005, eol: '\r\n', tooLong: true },
        { text: 'z'.repeat(10), line: 3, offset: 1016, eol: '\n' },
        { text: '', line: 4, offset: 1040, eol: '', tooLong: true },
      ])
    }
  })

  it('yields lines in batches, one per chunk that ends a line', async () => {
    const batches = await collect(lineBatches(chunks('a\nb\nc', 4)))
    expect(batches.map(b => b.map(l => l.text))).toEqual([['a', 'b'], ['c']])
  })
})

describe('gzip', () => {
  it('decompresses by magic bytes, even when the first chunk has one byte', async () => {
    const gz = gzipSync('hello\nworld\n')
    expect(Buffer.concat(await collect(maybeGunzip(cutAt(gz, [1, 2, 5])))).toString()).toBe('hello\nworld\n')
  })

  it('decompresses concatenated gzip members', async () => {
    const gz = Buffer.concat([gzipSync('a\n'), gzipSync('b\n')])
    expect(Buffer.concat(await collect(maybeGunzip(chunks(gz, 3)))).toString()).toBe('a\nb\n')
  })

  it('passes other bytes through, including a lone 0x1f', async () => {
    expect(Buffer.concat(await collect(maybeGunzip(chunks('plain', 1)))).toString()).toBe('plain')
    expect(Buffer.concat(await collect(maybeGunzip(chunks(Buffer.from([0x1f]))))).equals(Buffer.from([0x1f]))).toBe(true)
    expect(await collect(maybeGunzip(chunks('')))).toEqual([])
  })

  it('throws on a truncated gzip stream', async () => {
    const gz = gzipSync('x'.repeat(10_000) + '\n')
    await expect(collect(maybeGunzip(chunks(gz.subarray(0, gz.length - 10))))).rejects.toThrow(/unexpected end/i)
  })

  it('reads every format gzip-compressed, with offsets in decompressed bytes', async () => {
    const text = '{"metric":{"__name__":"a"},"values":[1],"timestamps":[1000]}\n'
    const recs = await read(gzipSync(text), { format: 'jsonl' }, 5)
    expect(recs).toEqual([{ item: { metric: { __name__: 'a' }, values: [1], timestamps: [1000] }, line: 1, offset: byteLen(text) }])
    const plain = await read(gzipSync(text), { format: 'jsonl', gzip: false })
    expect(errors(plain)).toHaveLength(1)
  })
})

describe('openInput', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prw-input-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('opens a file with its size and name', async () => {
    const path = join(dir, 'x.prom')
    writeFileSync(path, 'up 1 1000\nup 2 2000\n')
    const input = openInput(path)
    expect(input.size).toBe(20)
    expect(input.name).toBe(path)
    const recs = await collect(readItems(input.stream, { format: detectFormat(input.name) ?? 'jsonl' }))
    expect(items(recs).map(i => i.values[0])).toEqual([1, 2])
  })

  it('opens stdin for "-" without a size', () => {
    const input = openInput('-')
    expect(input.stream).toBe(process.stdin)
    expect(input.size).toBeUndefined()
    expect(input.name).toBe('<stdin>')
  })

  it('throws at once for a missing file or a directory', () => {
    expect(() => openInput(join(dir, 'missing.jsonl'))).toThrow(/ENOENT/)
    expect(() => openInput(dir)).toThrow(/EISDIR/)
  })
})

describe('detectFormat', () => {
  it.each([
    ['a.jsonl', 'jsonl'], ['a.json', 'jsonl'], ['dir/a.NDJSON', 'jsonl'], ['a.jsonl.gz', 'jsonl'],
    ['a.prom', 'prom'], ['a.txt.gz', 'prom'], ['a.om', 'openmetrics'], ['x/y.openmetrics.gz', 'openmetrics'],
    ['a.csv', 'csv'], ['A.CSV.GZ', 'csv'], ['a.gz', undefined], ['a', undefined], ['.csv', undefined],
    ['a.parquet', undefined], ['dir.csv/file', undefined],
  ])('%s → %s', (name, format) => {
    expect(detectFormat(name)).toBe(format)
  })
})

// ---- JSON lines ------------------------------------------------------------------------------

describe('JSON lines', () => {
  it('reads VictoriaMetrics export lines with exact line numbers and offsets', async () => {
    const l1 = '{"metric":{"__name__":"up","job":"node"},"values":[1,0.5],"timestamps":[1700000000000,1700000015000]}'
    const l3 = '{"metric":{"__name__":"x"},"values":[],"timestamps":[]}'
    const text = `${l1}\r\n\n${l3}`
    const recs = await read(text, { format: 'jsonl' }, 7)
    expect(recs).toEqual([
      { item: { metric: { __name__: 'up', job: 'node' }, values: [1, 0.5], timestamps: [1700000000000, 1700000015000] }, line: 1, offset: l1.length + 2 },
      { item: { metric: { __name__: 'x' }, values: [], timestamps: [] }, line: 3, offset: byteLen(text) },
    ])
  })

  it('converts bare NaN, +Inf, -Inf, Inf, Infinity tokens', () => {
    const r = parseJsonLine('{"metric":{"__name__":"a"},"values":[NaN, +Inf,-Inf ,Inf,Infinity,-Infinity,nan,-inf,1e5,-1],"timestamps":[1,2,3,4,5,6,7,8,9,10]}')
    expect(r !== undefined && 'item' in r).toBe(true)
    if (r === undefined || !('item' in r)) return
    expect(r.item.values.map(num)).toEqual(['NaN', 'Infinity', '-Infinity', 'Infinity', 'Infinity', '-Infinity', 'NaN', '-Infinity', '100000', '-1'])
  })

  it('leaves label values that contain NaN / Inf words, quotes and escapes untouched', async () => {
    const metric = {
      __name__: 'NaN',
      a: 'NaN',
      b: '+Inf',
      c: '-Inf, NaN]',
      d: 'say \\"NaN\\" \\\\',
      e: 'Infinity"',
      f: 'ünïcødé 😀 NaN',
      g: '"',
      h: '\\',
    }
    const line = `{"metric":${JSON.stringify(metric)},"values":[NaN,-Inf],"timestamps":[1,2]}`
    const [rec] = await read(line, { format: 'jsonl' })
    expect('item' in rec && exact(rec.item)).toEqual({ metric, values: ['NaN', '-Infinity'], timestamps: [1, 2] })
  })

  it('quotes only tokens outside strings', () => {
    expect(quoteBareSpecials('[NaN,"NaN",-Inf,"a\\"NaN",Inf]')).toBe('["NaN","NaN","-Inf","a\\"NaN","Inf"]')
    expect(quoteBareSpecials('{"k":"\\\\",v:NaN}')).toBe('{"k":"\\\\",v:"NaN"}')
    expect(quoteBareSpecials('[1e5,null,true]')).toBe('[1e5,null,true]')
  })

  it('accepts numeric strings as values, keeps -0, drops empty label values, and a "__proto__" label', () => {
    const r = parseJsonLine('{"metric":{"__name__":"a","__proto__":"p","empty":""},"values":["1.5","NaN",-0],"timestamps":[1,2,3]}')
    if (r === undefined || !('item' in r)) throw new Error('expected an item')
    expect(Object.keys(r.item.metric)).toEqual(['__name__', '__proto__'])
    expect(Object.getPrototypeOf(r.item.metric)).toBe(Object.prototype)
    expect(r.item.metric.__proto__).toBe('p')
    expect(r.item.values.map(num)).toEqual(['1.5', 'NaN', '-0'])
  })

  it.each([
    ['not json', /^invalid JSON/],
    ['[1,2]', /^a line must be a JSON object, got an array/],
    ['{"metric":[],"values":[],"timestamps":[]}', /^"metric" must be an object, got an array/],
    ['{"values":[],"timestamps":[]}', /^"metric" must be an object, got a undefined/],
    ['{"metric":{"a":1},"values":[],"timestamps":[]}', /^"metric.a" must be a string, got 1/],
    ['{"metric":{},"values":null,"timestamps":[]}', /^"values" must be an array, got null/],
    ['{"metric":{},"values":[1,"x"],"timestamps":[1,2]}', /^"values\[1\]" must be a number, got a string "x"/],
    ['{"metric":{},"values":[1,true],"timestamps":[1,2]}', /^"values\[1\]" must be a number, got a boolean/],
    ['{"metric":{},"values":[1],"timestamps":"1"}', /^"timestamps" must be an array/],
    ['{"metric":{},"values":[1],"timestamps":[NaN]}', /^"timestamps\[0\]" must be a finite number of milliseconds/],
    ['{"metric":{},"values":[1,2],"timestamps":[1]}', /^"values" has 2 elements but "timestamps" has 1/],
    ['{"metric":{},"values":[NaN,],"timestamps":[1]}', /^invalid JSON/],
  ])('reports %s', (line, message) => {
    const r = parseJsonLine(line)
    expect(r !== undefined && 'error' in r ? r.error : r).toMatch(message)
  })

  it('reports malformed lines at their line number and still reads the good ones', async () => {
    const good = (i: number): string => `{"metric":{"__name__":"g","i":"${i}"},"values":[${i}],"timestamps":[${i}]}`
    const lines = [good(1), '{"metric":', good(3), '', '{"metric":{},"values":[1],"timestamps":[]}', good(6)]
    const text = lines.join('\n') + '\n'
    const recs = await read(text, { format: 'jsonl' }, 10)
    const ends = lineEnds(text)
    expect(recs.map(r => 'error' in r ? ['error', r.error.line, r.offset] : ['item', r.line, r.offset])).toEqual([
      ['item', 1, ends[0]], ['error', 2, ends[1]], ['item', 3, ends[2]], ['error', 5, ends[4]], ['item', 6, ends[5]],
    ])
    expect(errors(recs)[1].message).toBe('"values" has 1 elements but "timestamps" has 0')
  })

  it('reads a huge line (200,000 samples) and reports an over-long one', async () => {
    const n = 200_000
    const ts = Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i * 1000)
    const line = `{"metric":{"__name__":"big"},"values":[${ts.map((_, i) => (i % 1000 === 0 ? 'NaN' : String(i / 4))).join(',')}],"timestamps":[${ts.join(',')}]}`
    const text = `${line}\n${line}\n`
    const recs = await read(text, { format: 'jsonl' }, 65_536)
    expect(recs).toHaveLength(2)
    const [a] = items(recs)
    expect(a.values).toHaveLength(n)
    expect(a.values[1]).toBe(0.25)
    expect(a.values[1000]).toBeNaN()
    expect(a.timestamps[n - 1]).toBe(ts[n - 1])
    expect(recs[1].offset).toBe(byteLen(text))
    const short = await read(`${line}\n{"metric":{},"values":[1],"timestamps":[1]}\n`, { format: 'jsonl', maxLineBytes: 1000 }, 4096)
    expect(errors(short)).toEqual([{ line: 1, message: 'line is longer than 1000 bytes (maxLineBytes)' }])
    expect(items(short)).toHaveLength(1)
  })
})

// ---- Prometheus text and OpenMetrics ---------------------------------------------------------

describe('Prometheus text', () => {
  const prom = { openmetrics: false, now: 42 }
  const om = { openmetrics: true, now: 42 }
  const one = (line: string, opts = prom): InputItem => {
    const r = parsePromLine(line, opts)
    if (r === undefined || !('item' in r)) throw new Error(`expected an item from ${line}: ${JSON.stringify(r)}`)
    return r.item
  }
  const fail = (line: string, opts = prom): string => {
    const r = parsePromLine(line, opts)
    if (r === undefined || !('error' in r)) throw new Error(`expected an error from ${line}`)
    return r.error
  }

  it('reads samples with and without timestamps and labels', () => {
    expect(one('http_requests_total{method="post",code="200"} 1027 1395066363000')).toEqual(
      { metric: { __name__: 'http_requests_total', method: 'post', code: '200' }, values: [1027], timestamps: [1395066363000] })
    expect(one('up 1')).toEqual({ metric: { __name__: 'up' }, values: [1], timestamps: [42] })
    expect(one('a:b_c{} -1.5e3')).toEqual({ metric: { __name__: 'a:b_c' }, values: [-1500], timestamps: [42] })
    expect(one('  x\t{ a = "1" , b="2", }\t3  -5 ')).toEqual({ metric: { __name__: 'x', a: '1', b: '2' }, values: [3], timestamps: [-5] })
    expect(one('x{a="1"}7')).toEqual({ metric: { __name__: 'x', a: '1' }, values: [7], timestamps: [42] })
  })

  it('unescapes \\\\, \\" and \\n in label values and keeps other backslashes', () => {
    expect(one('x{a="q\\"uo\\\\te\\nnl",b="c:\\dir\\t",c="#{not an exemplar}"} 1').metric).toEqual(
      { __name__: 'x', a: 'q"uo\\te\nnl', b: 'c:\\dir\\t', c: '#{not an exemplar}' })
  })

  it('reads unicode, quoted metric and label names, and drops empty label values', () => {
    expect(one('x{city="Zürich 😀",e=""} 1').metric).toEqual({ __name__: 'x', city: 'Zürich 😀' })
    expect(one('{"my.metric","lbl.x"="v",y="w"} 2 10').metric).toEqual({ __name__: 'my.metric', 'lbl.x': 'v', y: 'w' })
    expect(one('{a="1","n"} 2').metric).toEqual({ __name__: 'n', a: '1' })
  })

  it.each([
    ['NaN', 'NaN'], ['nan', 'NaN'], ['+Inf', 'Infinity'], ['-Inf', '-Infinity'], ['Inf', 'Infinity'],
    ['+inf', 'Infinity'], ['Infinity', 'Infinity'], ['-0', '-0'], ['1e308', '1e+308'], ['.5', '0.5'], ['5.', '5'],
    ['0.1', '0.1'], ['-1.7976931348623157e308', '-1.7976931348623157e+308'], ['5e-324', '5e-324'],
  ])('parses the value %s', (token, expected) => {
    expect(num(one(`x ${token}`).values[0])).toBe(expected)
  })

  it.each(['', '0x10', '1_000', 'abc', '1e', '+', 'Nan1', '--1', 'Inff'])('rejects the value %j', token => {
    expect(parseSampleValue(token)).toBeUndefined()
  })

  it('skips comments, HELP, TYPE, UNIT, EOF and blank lines', async () => {
    const text = '# HELP x Help with "quotes" and \\n.\n# TYPE x counter\n# UNIT x seconds\n\n   \n# random comment\nx_total 1 5\n# EOF\n'
    const recs = await read(text, { format: 'openmetrics' })
    expect(recs).toEqual([{ item: { metric: { __name__: 'x_total' }, values: [1], timestamps: [5000] }, line: 7, offset: lineEnds(text)[6] }])
  })

  it('ignores exemplars', () => {
    expect(one('foo_bucket{le="0.1"} 8 1520879607.789 # {trace_id="KOO5S4vxi0o"} 0.67 1520879602.029', om))
      .toEqual({ metric: { __name__: 'foo_bucket', le: '0.1' }, values: [8], timestamps: [1520879607789] })
    expect(one('foo_bucket{le="+Inf"} 9 # {trace_id="x"} 1', om)).toEqual({ metric: { __name__: 'foo_bucket', le: '+Inf' }, values: [9], timestamps: [42] })
  })

  it('converts OpenMetrics seconds to milliseconds exactly, rounding half to even', () => {
    const ts = (t: string): number => one(`x 1 ${t}`, om).timestamps[0]
    expect(ts('1700000000')).toBe(1_700_000_000_000)
    expect(ts('1700000000.123')).toBe(1_700_000_000_123)
    expect(ts('1.0005')).toBe(1000) // 1000.5 → even
    expect(ts('1.0015')).toBe(1002) // 1001.5 → even
    expect(ts('1.00150001')).toBe(1002)
    expect(ts('1.0025')).toBe(1002)
    expect(ts('1.00250000001')).toBe(1003)
    expect(ts('0.0005')).toBe(0)
    expect(ts('0.0015')).toBe(2)
    expect(ts('-1.0015')).toBe(-1002)
    expect(ts('1.7e9')).toBe(1_700_000_000_000)
    expect(ts('17E-1')).toBe(1700)
    expect(ts('0.000000001')).toBe(0)
    expect(decimalToInteger('123', 0)).toBe(123)
    expect(decimalToInteger('2.5', 0)).toBe(2)
    expect(decimalToInteger('3.5', 0)).toBe(4)
    expect(decimalToInteger('1e500', 0)).toBe(Infinity)
    expect(decimalToInteger('x', 0)).toBeNaN()
    expect(decimalToInteger('.', 0)).toBeNaN()
  })

  it.each([
    ['x{a="1",a="2"} 1', prom, 'duplicate label "a"'],
    ['x{__name__="y"} 1', prom, 'label "__name__" repeats the metric name'],
    ['x{a="1"}', prom, '"x": missing value'],
    ['x abc', prom, '"x": invalid value "abc"'],
    ['x 1 2 3', prom, '"x": unexpected "3" after the timestamp'],
    ['x{a="1} 1', prom, 'label "a": unterminated value (missing closing quote)'],
    ['x{a="1" 1', prom, 'label set: expected "," or "}" but found "1" at column 9'],
    ['x{a=1} 1', prom, 'label "a": expected a quoted value but found "1" at column 5'],
    ['x{1a="1"} 1', prom, 'invalid label name: unexpected "1" at column 3'],
    ['x{a} 1', prom, 'label "a": expected "=" but found "}" at column 4'],
    ['x{a="1"', prom, 'unterminated label set: missing "}"'],
    ['1x 1', prom, 'invalid metric name: unexpected "1" at column 1'],
    ['x-y 1', prom, 'invalid metric name: unexpected "-" at column 2'],
    ['{a="1"} 1', prom, 'missing metric name'],
    ['x{"n"} 1', prom, 'metric name given twice: "x" and "n"'],
    ['x 1 1.5', prom, /Prometheus text format wants integer milliseconds/],
    ['x 1 abc', om, '"x": invalid timestamp "abc" (OpenMetrics: seconds)'],
    ['x 1 1700000000000', om, /too large for seconds/],
  ])('reports %j', (line, opts, message) => {
    expect(fail(line, opts)).toMatch(message)
  })

  it('reads CRLF input, gives default timestamps, reports bad lines in place', async () => {
    const text = '# TYPE a gauge\r\na{x="1"} 1\r\na{x="2"} NaN 99\r\nbroken{\r\na{x="3"} +Inf'
    const recs = await read(text, { format: 'prom', now: 7 }, 3)
    const ends = lineEnds(text)
    expect(recs).toEqual([
      { item: { metric: { __name__: 'a', x: '1' }, values: [1], timestamps: [7] }, line: 2, offset: ends[1] },
      { item: { metric: { __name__: 'a', x: '2' }, values: [NaN], timestamps: [99] }, line: 3, offset: ends[2] },
      { error: { line: 4, message: 'unterminated label set: missing "}"' }, offset: ends[3] },
      { item: { metric: { __name__: 'a', x: '3' }, values: [Infinity], timestamps: [7] }, line: 5, offset: byteLen(text) },
    ])
  })

  it('uses Date.now() when reading starts as the default timestamp', async () => {
    const before = Date.now()
    const [a, b] = items(await read('x 1\nx 2\n', { format: 'prom' }))
    expect(a.timestamps[0]).toBeGreaterThanOrEqual(before)
    expect(a.timestamps[0]).toBe(b.timestamps[0])
  })
})

// ---- CSV -------------------------------------------------------------------------------------

describe('CSV', () => {
  it('reads a header, value and label columns, with exact lines and offsets', async () => {
    const text = 'timestamp,host,region,value\n1000,web-1,eu,0.5\r\n\n2000,web-2,,NaN\n'
    const recs = await read(text, { format: 'csv' }, 5)
    const ends = lineEnds(text)
    expect(recs).toEqual([
      { item: { metric: { __name__: 'value', host: 'web-1', region: 'eu' }, values: [0.5], timestamps: [1000] }, line: 2, offset: ends[1] },
      { item: { metric: { __name__: 'value', host: 'web-2' }, values: [NaN], timestamps: [2000] }, line: 4, offset: ends[3] },
    ])
  })

  it('makes one series per value column, skips empty value cells, names by metricName', async () => {
    const text = 'time,host,cpu,mem\n1,a,0.25,1024\n2,b,,2048\n'
    const recs = await read(text, { format: 'csv', timestampColumn: 'time', valueColumns: ['cpu', 'mem'] })
    expect(items(recs)).toEqual([
      { metric: { __name__: 'cpu', host: 'a' }, values: [0.25], timestamps: [1] },
      { metric: { __name__: 'mem', host: 'a' }, values: [1024], timestamps: [1] },
      { metric: { __name__: 'mem', host: 'b' }, values: [2048], timestamps: [2] },
    ])
    const named = await read(text, { format: 'csv', timestampColumn: 'time', valueColumns: 'cpu', labelColumns: ['host'], metricName: 'node_cpu' })
    expect(items(named).map(i => i.metric)).toEqual([{ __name__: 'node_cpu', host: 'a' }])
  })

  it('uses a "__name__" column where it is not empty', async () => {
    const recs = await read('__name__,job,timestamp,value\nup,a,1,1\n,b,2,2\n', { format: 'csv', metricName: 'fallback' })
    expect(items(recs).map(i => i.metric)).toEqual([{ __name__: 'up', job: 'a' }, { __name__: 'fallback', job: 'b' }])
  })

  it.each([
    ['ms', '1700000000000.5', 1_700_000_000_000],
    ['ms', '1.7e12', 1_700_000_000_000],
    ['s', '1700000000.0015', 1_700_000_000_002],
    ['s', '1700000000', 1_700_000_000_000],
    ['iso', '2023-11-14T22:13:20Z', 1_700_000_000_000],
    ['iso', '2023-11-14T23:13:20.5+01:00', 1_700_000_000_500],
  ] as const)('timestampUnit %s: %s → %d', async (unit, cell, ms) => {
    const recs = await read(`timestamp,value\n${cell},1\n`, { format: 'csv', timestampUnit: unit })
    expect(items(recs)[0].timestamps).toEqual([ms])
  })

  it('handles quotes: delimiters, "" escapes, line breaks inside fields, unicode, BOM', async () => {
    const text = '\ufefftimestamp,"host name",value\n1,"a,b ""c""",1\n2,"multi\r\nline\nfield",2\r\n3,ünï 😀,3'
    const recs = await read(text, { format: 'csv' }, 3)
    const ends = lineEnds(text)
    expect(recs).toEqual([
      { item: { metric: { __name__: 'value', 'host name': 'a,b "c"' }, values: [1], timestamps: [1] }, line: 2, offset: ends[1] },
      { item: { metric: { __name__: 'value', 'host name': 'multi\r\nline\nfield' }, values: [2], timestamps: [2] }, line: 3, offset: ends[4] },
      { item: { metric: { __name__: 'value', 'host name': 'ünï 😀' }, values: [3], timestamps: [3] }, line: 6, offset: byteLen(text) },
    ])
  })

  it('reports malformed records at their line and reads the rest', async () => {
    const text = [
      'timestamp,host,value', // 1
      '1,a,1', // 2
      '2,b', // 3: too few fields
      '3,"c"x,3', // 4: junk after a closing quote
      'x,d,4', // 5: bad timestamp
      '5,e,abc', // 6: bad value
      '6,f"g,6', // 7: quote inside an unquoted field
      '7,g,7', // 8
      '8,"open', // 9: never closed
      '9,h,9', // 10
    ].join('\n')
    const recs = await read(text, { format: 'csv' })
    expect(items(recs).map(i => i.values[0])).toEqual([1, 7])
    expect(errors(recs)).toEqual([
      { line: 3, message: 'expected 3 fields as in the header, got 2' },
      { line: 4, message: expect.stringMatching(/^csv: Invalid Closing Quote/) },
      // The default unit is 'auto' (numbers and ISO dates), so the message says what both are.
      { line: 5, message: expect.stringMatching(/^column "timestamp": invalid timestamp "x": expected a number of milliseconds or an ISO-8601 date/) },
      { line: 6, message: 'column "value": invalid value "abc"' },
      { line: 7, message: expect.stringMatching(/^csv: Invalid Opening Quote/) },
      { line: 9, message: 'csv: quoted field not closed at the end of input' },
    ])
    // Records come out in input order, with non-decreasing offsets.
    const offsets = recs.map(r => r.offset)
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b))
    expect(offsets.at(-1)).toBe(byteLen(text))
  })

  it('finds a bad row inside a large batch and keeps the others', async () => {
    const rows = Array.from({ length: 2500 }, (_, i) => i === 1234 ? '1234,"x"y,1' : `${i},h${i % 7},${i}`)
    const text = `timestamp,host,value\n${rows.join('\n')}\n`
    const recs = await read(text, { format: 'csv' }, 4096)
    expect(items(recs)).toHaveLength(2499)
    expect(errors(recs).map(e => e.line)).toEqual([1236])
    const ends = lineEnds(text)
    for (const r of recs) expect(r.offset).toBe(ends[('item' in r ? r.line : r.error.line) - 1])
  })

  it('checks options and the header', async () => {
    await expect(read('time,value\n1,1\n', { format: 'csv' })).rejects.toThrow(InvalidArgumentError)
    await expect(read('time,value\n1,1\n', { format: 'csv' })).rejects.toThrow('csv header (line 1): timestamp column "timestamp" not found (columns: "time", "value"); set timestampColumn')
    await expect(read('timestamp,v\n1,1\n', { format: 'csv' })).rejects.toThrow(/value column "value" not found/)
    await expect(read('timestamp,a,a\n', { format: 'csv', valueColumns: ['a'] })).rejects.toThrow(/column "a" appears twice/)
    await expect(read('timestamp,a,b\n', { format: 'csv', valueColumns: ['a', 'b'], metricName: 'm' })).rejects.toThrow(/several value columns/)
    await expect(read('timestamp,a,b\n', { format: 'csv', valueColumns: ['a'], labelColumns: ['a'] })).rejects.toThrow(/both a label/)
    await expect(read('t\n', { format: 'csv', timestampUnit: 'us' as 'ms' })).rejects.toThrow(/timestampUnit/)
    expect(await read('', { format: 'csv' })).toEqual([])
    expect(await read('\n\ntimestamp,value\n', { format: 'csv' })).toEqual([])
  })

  it('takes another delimiter', async () => {
    const recs = await read('timestamp;host;value\n1;"a;b";2\n', { format: 'csv', delimiter: ';' })
    expect(items(recs)).toEqual([{ metric: { __name__: 'value', host: 'a;b' }, values: [2], timestamps: [1] }])
  })

  it('detects quote state like RFC 4180', () => {
    expect(quoteOpenAtEnd('a,"b', false, ',')).toBe(true)
    expect(quoteOpenAtEnd('a,"b""', false, ',')).toBe(true)
    expect(quoteOpenAtEnd('a,"b"""', false, ',')).toBe(false)
    expect(quoteOpenAtEnd('a,b"c', false, ',')).toBe(false)
    expect(quoteOpenAtEnd('x",y', true, ',')).toBe(false)
    expect(quoteOpenAtEnd('x",y,"z', true, ',')).toBe(true)
  })
})

describe('readItems', () => {
  it('rejects an unknown format', async () => {
    await expect(read('x', { format: 'xml' } as unknown as ReadOptions)).rejects.toThrow(InvalidArgumentError)
  })

  it('can be stopped early', async () => {
    const text = Array.from({ length: 1000 }, (_, i) => `x ${i} ${i}`).join('\n')
    let n = 0
    for await (const rec of readItems(chunks(gzipSync(text), 100), { format: 'prom' })) {
      if ('item' in rec && ++n === 3) break
    }
    expect(n).toBe(3)
  })
})

// ---- regroup ---------------------------------------------------------------------------------

describe('regroup', () => {
  const rec = (metric: Record<string, string>, ts: number[], line: number, values = ts.map(t => t / 10)): InputRecord =>
    ({ item: { metric, values, timestamps: ts }, line, offset: line * 10 })
  async function * from (recs: InputRecord[]): AsyncGenerator<InputRecord> { yield * recs }
  const batches = (out: RegroupOutput[]): RegroupBatch[] => out.filter((o): o is RegroupBatch => 'items' in o)

  it('merges records of one label set whatever the label order, sorted stably by timestamp', async () => {
    const out = await collect(regroup(from([
      rec({ __name__: 'a', x: '1', y: '2' }, [30, 10], 1),
      rec({ __name__: 'b' }, [5], 2),
      rec({ y: '2', __name__: 'a', x: '1' }, [20, 10], 3, [2, 99]),
      rec({ __name__: 'a', x: '1' }, [1], 4),
    ]), { windowSamples: 100 }))
    expect(out).toEqual([{
      items: [
        { metric: { __name__: 'a', x: '1', y: '2' }, values: [1, 99, 2, 3], timestamps: [10, 10, 20, 30] },
        { metric: { __name__: 'b' }, values: [0.5], timestamps: [5] },
        { metric: { __name__: 'a', x: '1' }, values: [0.1], timestamps: [1] },
      ],
      samples: 6,
      offset: 40,
      line: 4,
    }])
  })

  it('does not modify the records it was given', async () => {
    const r1 = rec({ __name__: 'a' }, [3, 1], 1)
    const r2 = rec({ __name__: 'a' }, [2], 2)
    await collect(regroup(from([r1, r2]), { windowSamples: 10 }))
    expect('item' in r1 && r1.item.timestamps).toEqual([3, 1])
    expect('item' in r2 && r2.item.timestamps).toEqual([2])
    const single = rec({ __name__: 'b' }, [3, 1], 1)
    const [b] = batches(await collect(regroup(from([single]), { windowSamples: 10 })))
    expect(b.items[0].timestamps).toEqual([1, 3])
    expect('item' in single && single.item.timestamps).toEqual([3, 1])
  })

  it('bounds each batch by windowSamples and gives a checkpoint offset per batch', async () => {
    const recs = Array.from({ length: 10 }, (_, i) => rec({ __name__: 'm', s: String(i % 3) }, [i, i + 100], i + 1))
    const out = batches(await collect(regroup(from(recs), { windowSamples: 5 })))
    expect(out.map(b => b.samples)).toEqual([4, 4, 4, 4, 4])
    expect(out.map(b => [b.line, b.offset])).toEqual([[2, 20], [4, 40], [6, 60], [8, 80], [10, 100]])
    // A record larger than the window is a batch of its own.
    const big = await collect(regroup(from([rec({ __name__: 'x' }, [1], 1), rec({ __name__: 'x' }, [1, 2, 3, 4, 5, 6], 2), rec({ __name__: 'x' }, [9], 3)]), { windowSamples: 3 }))
    expect(batches(big).map(b => b.samples)).toEqual([1, 6, 1])
  })

  it('never splits a line across batches', async () => {
    const same = (i: number, line: number): InputRecord => ({ item: { metric: { __name__: `v${i}` }, values: [i], timestamps: [line] }, line, offset: line * 10 })
    const out = batches(await collect(regroup(from([same(1, 1), same(2, 1), same(3, 1), same(1, 2), same(2, 2), same(3, 2)]), { windowSamples: 2 })))
    expect(out.map(b => [b.samples, b.offset])).toEqual([[3, 10], [3, 20]])
  })

  it('passes errors through in order, before the batch that covers them', async () => {
    const err = (line: number): InputRecord => ({ error: { line, message: `bad ${line}` }, offset: line * 10 })
    const out = await collect(regroup(from([rec({ __name__: 'a' }, [1], 1), err(2), rec({ __name__: 'a' }, [2], 3), err(4), err(5)]), { windowSamples: 1 }))
    // The first batch's checkpoint covers line 2, whose error was yielded before it.
    expect(out.map(o => 'error' in o ? `error ${o.error.line}` : `batch ${o.samples}@${o.offset}`)).toEqual([
      'error 2', 'batch 1@20', 'error 4', 'error 5', 'batch 1@50',
    ])
  })

  it('rejects a window below 1', async () => {
    await expect(collect(regroup(from([]), { windowSamples: 0 }))).rejects.toThrow(InvalidArgumentError)
  })

  it('keys label sets without collisions', () => {
    expect(seriesKey({ a: 'b', c: 'd' })).toBe(seriesKey({ c: 'd', a: 'b' }))
    expect(seriesKey({ a: 'b1:c' })).not.toBe(seriesKey({ a: 'b', '1:c': '' }))
    expect(seriesKey({ ab: 'c' })).not.toBe(seriesKey({ a: 'bc' }))
  })
})

// ---- round trip property ---------------------------------------------------------------------

describe('round trip: random series as JSON lines and Prometheus text', () => {
  interface Series { metric: Record<string, string>, samples: Array<[number, number]> }

  const labelValue = fc.oneof(
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }),
    fc.constantFrom('NaN', '+Inf', '-Inf', 'Inf', 'Infinity', 'a"b', 'back\\slash', 'new\nline', 'NaN"x\\', ' # {x="y"} 1', '{}', ','),
  )
  const labelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,6}$/).filter(n => n !== '__name__' && n !== '__proto__')
  const value = fc.oneof(fc.double(), fc.integer().map(Number), fc.constantFrom(NaN, Infinity, -Infinity, -0, 0))
  const seriesArb: fc.Arbitrary<Series> = fc.record({
    name: fc.stringMatching(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,10}$/),
    labels: fc.dictionary(labelName, labelValue, { maxKeys: 4 }),
    timestamps: fc.uniqueArray(fc.integer({ min: -1e12, max: 4e12 }), { minLength: 1, maxLength: 12 }),
    values: fc.array(value, { minLength: 12, maxLength: 12 }),
  }).map(({ name, labels, timestamps, values }) => ({
    metric: { __name__: name, ...labels },
    samples: timestamps.map((t, i): [number, number] => [t, values[i]]),
  }))
  const dataset = fc.uniqueArray(seriesArb, { minLength: 1, maxLength: 8, selector: s => seriesKey(s.metric) })

  const vmValue = (v: number): string => Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : num(v)
  const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

  /** Each series cut into chunks at the given points, the chunks shuffled into lines. */
  function toJsonLines (data: Series[], cuts: number[], order: number[]): string {
    const chunksOut: string[] = []
    let k = 0
    for (const s of data) {
      let from = 0
      while (from < s.samples.length) {
        const size = 1 + (cuts[k++ % cuts.length] % (s.samples.length - from))
        const part = s.samples.slice(from, from + size)
        chunksOut.push(`{"metric":${JSON.stringify(s.metric)},"values":[${part.map(p => vmValue(p[1])).join(',')}],"timestamps":[${part.map(p => p[0]).join(',')}]}`)
        from += size
      }
    }
    return shuffle(chunksOut, order).join('\n') + '\n'
  }

  function toPromText (data: Series[], order: number[]): string {
    const lines: string[] = []
    for (const s of data) {
      const { __name__: name, ...labels } = s.metric
      const set = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`).join(',')
      lines.push(`# TYPE ${name} gauge`)
      for (const [t, v] of s.samples) lines.push(`${name}{${set}} ${vmValue(v)} ${t}`)
    }
    return shuffle(lines, order).join('\n')
  }

  function shuffle<T> (xs: T[], order: number[]): T[] {
    const a = [...xs]
    for (let i = a.length - 1; i > 0; i--) {
      const j = order[i % order.length] % (i + 1)
      ;[a[i], a[j]] = [a[j], a[i]]
    }
    return a
  }

  /** Input series in the form regroup must give back: samples sorted by timestamp. */
  function expected (data: Series[]): Map<string, ReturnType<typeof exact>> {
    const m = new Map<string, ReturnType<typeof exact>>()
    for (const s of data) {
      const sorted = [...s.samples].sort((a, b) => a[0] - b[0])
      m.set(seriesKey(s.metric), exact({ metric: s.metric, values: sorted.map(p => p[1]), timestamps: sorted.map(p => p[0]) }))
    }
    return m
  }

  async function readBack (text: string, options: ReadOptions, cuts: number[], windowSamples: number): Promise<{ series: Map<string, ReturnType<typeof exact>>, out: RegroupOutput[] }> {
    const bytes = Buffer.from(text)
    const out = await collect(regroup(readItems(cutAt(bytes, cuts.map(c => c % (bytes.length + 1))), options), { windowSamples }))
    const series = new Map<string, ReturnType<typeof exact>>()
    for (const o of out) {
      if ('error' in o) throw new Error(`unexpected error: line ${o.error.line}: ${o.error.message}`)
      for (const item of o.items) {
        const key = seriesKey(item.metric)
        expect(series.has(key)).toBe(false)
        series.set(key, exact(item))
      }
    }
    return { series, out }
  }

  const sorted = (m: Map<string, unknown>): Array<[string, unknown]> => [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  const cutsArb = fc.array(fc.nat(), { minLength: 1, maxLength: 20 })

  it('JSON lines read back equal to the input after regroup', async () => {
    await fc.assert(fc.asyncProperty(dataset, cutsArb, cutsArb, cutsArb, async (data, sizes, order, byteCuts) => {
      const text = toJsonLines(data, sizes, order)
      const { series, out } = await readBack(text, { format: 'jsonl' }, byteCuts, 1e9)
      expect(sorted(series)).toEqual(sorted(expected(data)))
      expect(out.at(-1)).toMatchObject({ offset: byteLen(text) })
    }), { seed: 20261125, numRuns: 150 })
  })

  it('Prometheus text reads back equal to the input after regroup', async () => {
    await fc.assert(fc.asyncProperty(dataset, cutsArb, cutsArb, async (data, order, byteCuts) => {
      const text = toPromText(data, order)
      const { series, out } = await readBack(text, { format: 'prom', now: 0 }, byteCuts, 1e9)
      expect(sorted(series)).toEqual(sorted(expected(data)))
      // The checkpoint ends after the last sample line (trailing comments give no record).
      const lines = text.split('\n')
      let lastSample = lines.length - 1
      while (lines[lastSample].startsWith('#')) lastSample--
      expect(out.at(-1)).toMatchObject({ offset: lineEnds(text)[lastSample], line: lastSample + 1 })
    }), { seed: 20261125, numRuns: 150 })
  })

  it('with a small window, every sample still comes back once and batches respect the window', async () => {
    await fc.assert(fc.asyncProperty(dataset, cutsArb, fc.integer({ min: 1, max: 10 }), async (data, order, windowSamples) => {
      const text = toPromText(data, order)
      const out = batches(await collect(regroup(readItems(chunks(text, 13), { format: 'prom' }), { windowSamples })))
      const seen: string[] = []
      let lastOffset = 0
      for (const b of out) {
        expect(b.samples).toBeLessThanOrEqual(windowSamples)
        expect(b.offset).toBeGreaterThan(lastOffset)
        lastOffset = b.offset
        for (const item of b.items) item.timestamps.forEach((t, i) => seen.push(`${seriesKey(item.metric)} ${t} ${num(item.values[i])}`))
      }
      const want = data.flatMap(s => s.samples.map(([t, v]) => `${seriesKey(s.metric)} ${t} ${num(v)}`))
      expect(seen.sort()).toEqual(want.sort())
    }), { seed: 7, numRuns: 100 })
  })

  function batches (out: RegroupOutput[]): RegroupBatch[] {
    return out.filter((o): o is RegroupBatch => 'items' in o)
  }
})
