// The backfill checkpoint's bookkeeping: chunks settle in any order and the place moves over
// the settled prefix only; a failed chunk stops it for good; a closed window moves it to the
// window's end offset. And malformed checkpoint files are refused by name.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { FileProgress, loadCheckpoint } from '../../src/commands/checkpoint.js'
import type { FilePlace } from '../../src/commands/checkpoint.js'

describe('FileProgress', () => {
  it('moves over the prefix of settled chunks, then to the window end when the window is done', () => {
    const saved: FilePlace[] = []
    const p = new FileProgress({ offset: 0, line: 0 }, 100, (place) => saved.push(place))
    p.open(500, 10, 50)
    const a = p.chunk(2, 0)
    const b = p.chunk(3, 40)
    const c = p.chunk(5, 0)
    p.close()
    p.settle(b, true)
    expect(saved).toEqual([]) // a is not settled: nothing moves
    p.settle(a, true)
    expect(saved).toEqual([{ offset: 0, line: 0, window: { samples: 100, end: 500, size: 50, items: 3, sample: 40 } }])
    expect(p.place).toEqual(saved[0])
    p.settle(c, true)
    expect(saved.at(-1)).toEqual({ offset: 500, line: 10 })
    expect(p.place).toEqual({ offset: 500, line: 10 })
  })

  it('a window is not done until it is closed, and the next one counts from its end', () => {
    const p = new FileProgress({ offset: 7, line: 1 }, 100, () => {})
    p.open(500, 10, 50)
    const a = p.chunk(4, 0)
    p.settle(a, true)
    expect(p.place).toEqual({ offset: 7, line: 1, window: { samples: 100, end: 500, size: 50, items: 4, sample: 0 } })
    p.close()
    expect(p.place).toEqual({ offset: 500, line: 10 })
    p.open(900, 20, 60)
    const b = p.chunk(1, 5)
    p.settle(b, true)
    expect(p.place).toEqual({ offset: 500, line: 10, window: { samples: 100, end: 900, size: 60, items: 1, sample: 5 } })
  })

  it('stops for good at a chunk that failed', () => {
    const p = new FileProgress({ offset: 0, line: 0 }, 100, () => {})
    p.open(500, 10, 50)
    const a = p.chunk(1, 0)
    const b = p.chunk(2, 0)
    p.close()
    p.open(900, 20, 60)
    const c = p.chunk(1, 0)
    p.close()
    p.settle(b, true)
    p.settle(a, false)
    p.settle(c, true)
    expect(p.place).toEqual({ offset: 0, line: 0 })
  })

  it('an empty closed window moves the place to its end', () => {
    const p = new FileProgress({ offset: 0, line: 0 }, 100, () => {})
    p.open(300, 3, 0)
    p.close()
    expect(p.place).toEqual({ offset: 300, line: 3 })
  })
})

describe('loadCheckpoint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prw-ck-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  const write = (name: string, text: string): string => {
    const path = join(dir, name)
    writeFileSync(path, text)
    return path
  }

  it('a missing file is an empty checkpoint; a good one loads', () => {
    expect(loadCheckpoint(join(dir, 'none.json'))).toEqual({ version: 1, files: {} })
    const good = { version: 1, files: { a: { offset: 5, line: 1, window: { samples: 10, end: 9, size: 4, items: 1, sample: 2 } } } }
    expect(loadCheckpoint(write('good.json', JSON.stringify(good)))).toEqual(good)
  })

  for (const [what, text] of [
    ['not JSON', '{'],
    ['another version', '{"version":2,"files":{}}'],
    ['null', 'null'],
    ['a negative offset', '{"version":1,"files":{"a":{"offset":-5,"line":0}}}'],
    ['a window without counts', '{"version":1,"files":{"a":{"offset":5,"line":0,"window":{}}}}'],
  ] as const) {
    it(`refuses ${what}, naming the file`, () => {
      const path = write(`${what.replace(/ /g, '-')}.json`, text)
      expect(() => loadCheckpoint(path)).toThrow(path)
    })
  }
})
