// src/spool/ on its own (record.ts, spool.ts, lock.ts), on real temp directories: the record
// format, append/next/body/done across reopening, segments rolling and going, torn and zeroed
// tails cut, damage in the middle skipped, random flips never giving back wrong bytes, the lock,
// and the shard file folded into the acknowledgements on reopening.
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { SpoolError } from '../../src/errors.js'
import { HEADER_BYTES, bodyMatches, decodeHeader, encodeHeader, slot } from '../../src/spool/record.js'
import type { RecordInfo } from '../../src/spool/record.js'
import { Spool } from '../../src/spool/spool.js'
import type { Entry, SpoolOptions } from '../../src/spool/spool.js'
import { expectBytes, rng, thrown } from '../support/helpers.js'

const MiB = 1 << 20
const root = mkdtempSync(join(tmpdir(), 'prw-spool-test-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0
/** A directory path not made yet (the spool makes it). */
const freshDir = (): string => join(root, `d${dirs++}`)

function info (shard = 0, shards = 1, samples = 3): RecordInfo {
  return { v2: false, shard, shards, series: 1, samples, histograms: 0, rawBytes: 200, created: 1_700_000_000_000, first: 1, last: 2 }
}

/** A body of `len` bytes unique to (seed, id): random bytes, the id in the first four. */
function bodyFor (seed: number, id: number, len: number): Uint8Array {
  const r = rng(seed * 7919 + id)
  const b = new Uint8Array(len)
  for (let i = 0; i < len; i++) b[i] = Math.floor(r() * 256)
  if (len >= 4) new DataView(b.buffer).setUint32(0, id, true)
  return b
}

const open = (dir: string, o: Partial<SpoolOptions> = {}, shards = 1): Spool =>
  new Spool({ dir, maxBytes: MiB, segmentBytes: 4096, sync: 'none', ...o }, shards)

/** Every entry next() gives, with what body() says of it. */
function drain (s: Spool): Array<{ e: Entry, body: Uint8Array | undefined }> {
  const out: Array<{ e: Entry, body: Uint8Array | undefined }> = []
  for (let e = s.next(); e !== undefined; e = s.next()) out.push({ e, body: s.body(e) })
  return out
}

interface Rec { id: number, body: Uint8Array, path: string, offset: number, shard: number }

/** A closed spool at `dir` holding one record per length, shard i % shards; what it wrote. */
async function build (dir: string, lens: number[], seed: number, shards = 1, o: Partial<SpoolOptions> = {}): Promise<Rec[]> {
  const s = open(dir, o, shards)
  const recs = lens.map((len, i) => {
    const body = bodyFor(seed, i + 1, len)
    const e = s.append(info(i % shards, shards), body)
    expect(e.id).toBe(i + 1)
    return { id: e.id, body, path: e.seg.path, offset: e.offset, shard: i % shards }
  })
  await s.close()
  return recs
}

const segFiles = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.seg')).sort()

/** Asserts the drained entries are exactly `want`, in order, each body intact. */
function expectRecords (got: ReturnType<typeof drain>, want: readonly Rec[]): void {
  expect(got.map((g) => g.e.id)).toEqual(want.map((r) => r.id))
  got.forEach((g, i) => {
    expect(g.body, `body of record ${g.e.id}`).toBeDefined()
    expectBytes(g.body!, want[i].body, `body of record ${g.e.id}`)
  })
}

function flipByte (path: string, at: number, mask = 0x01): void {
  const fd = openSync(path, 'r+')
  try {
    const b = Buffer.alloc(1)
    readSync(fd, b, 0, 1, at)
    b[0] ^= mask
    writeSync(fd, b, 0, 1, at)
  } finally {
    closeSync(fd)
  }
}

/** A copy of the template spool directory, to damage. */
const copyOf = (template: string): string => {
  const dir = freshDir()
  cpSync(template, dir, { recursive: true })
  return dir
}
const inCopy = (dir: string, path: string): string => join(dir, path.slice(path.lastIndexOf('/') + 1))

describe('record format', () => {
  const body = bodyFor(1, 1, 300)
  const i: RecordInfo = { v2: true, shard: 3, shards: 4, series: 7, samples: 99, histograms: 5, rawBytes: 12345, created: 1.7e12 + 0.5, first: -5, last: NaN }

  it('encodeHeader/decodeHeader round trip (also from inside a larger buffer)', () => {
    const h = encodeHeader(2 ** 40 + 3, i, body)
    expect(h.length).toBe(HEADER_BYTES)
    const want = { ...i, id: 2 ** 40 + 3, bodyBytes: 300, bodyCrc: crc32(body) }
    expect(decodeHeader(h)).toEqual(want)
    const big = new Uint8Array(HEADER_BYTES + 13)
    big.set(h, 13)
    expect(decodeHeader(big.subarray(13))).toEqual(want)
    expect(decodeHeader(h.subarray(0, HEADER_BYTES - 1))).toBeUndefined()
    expect(bodyMatches(decodeHeader(h)!, body)).toBe(true)
  })

  it('a flipped bit anywhere in the header makes it undefined', () => {
    const h = encodeHeader(17, i, body)
    for (let bit = 0; bit < HEADER_BYTES * 8; bit++) {
      const c = h.slice()
      c[bit >> 3] ^= 1 << (bit & 7)
      expect(decodeHeader(c), `bit ${bit}`).toBeUndefined()
    }
  })

  it('bodyMatches is false on any flipped body byte, or a short or long body', () => {
    const h = decodeHeader(encodeHeader(17, i, body))!
    for (let at = 0; at < body.length; at++) {
      const c = body.slice()
      c[at] ^= 1 << (at & 7)
      expect(bodyMatches(h, c), `byte ${at}`).toBe(false)
    }
    expect(bodyMatches(h, body.subarray(0, 299))).toBe(false)
    expect(bodyMatches(h, new Uint8Array([...body, 0]))).toBe(false)
    expect(bodyMatches(h, new Uint8Array(300))).toBe(false)
  })
})

describe('append, next, body, done, reopen', () => {
  it('records come back in order after reopening; done ones never again; segments roll and go', async () => {
    const dir = freshDir()
    const r = rng(42)
    const lens = Array.from({ length: 61 }, () => 20 + Math.floor(r() * 400))
    // First run: some done straight from append (ahead of the cursor).
    const s = open(dir, { sync: 'batch' })
    const recs: Rec[] = []
    lens.forEach((len, k) => {
      const body = bodyFor(42, k + 1, len)
      const e = s.append(info(0, 1, k), body)
      recs.push({ id: e.id, body, path: e.seg.path, offset: e.offset, shard: 0 })
      if (e.id % 5 === 0) s.done(e)
    })
    const paths = [...new Set(recs.map((x) => x.path))]
    expect(paths.length, 'segments rolled').toBeGreaterThanOrEqual(3)
    for (const p of paths) expect(statSync(p).size).toBeLessThanOrEqual(4096)
    expect(s.pending.requests).toBe(61 - 12)
    await s.close()
    expect(existsSync(join(dir, 'lock')), 'the lock is released').toBe(false)

    const size = (xs: Rec[]): number => xs.reduce((a, x) => a + HEADER_BYTES + x.body.length, 0)
    let left = recs.filter((x) => x.id % 5 !== 0)
    const s1 = open(dir, { sync: 'batch' })
    expect(s1.warnings).toEqual([])
    expect(s1.corrupt).toEqual({ records: 0, bytes: 0 })
    expect(s1.found).toMatchObject({ requests: left.length, samples: left.reduce((a, x) => a + x.id - 1, 0), bytes: size(left) })
    expect(s1.firstNewId).toBe(62)
    const got = drain(s1)
    expectRecords(got, left)
    // Done: every third, and all of the first segment (which then goes).
    for (const { e } of got) if (e.id % 3 === 0 || e.seg.path === paths[0]) s1.done(e)
    expect(existsSync(paths[0]), 'a segment whose records are all done is deleted').toBe(false)
    expect(existsSync(paths[1])).toBe(true)
    expect(s1.pending.requests).toBe(left.filter((x) => x.id % 3 !== 0 && x.path !== paths[0]).length)
    await s1.close()

    left = left.filter((x) => x.id % 3 !== 0 && x.path !== paths[0])
    const s2 = open(dir)
    expect(s2.found.requests).toBe(left.length)
    expect(s2.found.bytes).toBe(size(left))
    expectRecords(drain(s2), left)
    // A new record gets the next id and comes after them.
    const nb = bodyFor(42, 62, 50)
    const ne = s2.append(info(), nb)
    expect(ne.id).toBe(62)
    const again = drain(s2)
    expect(again.map((g) => g.e.id)).toEqual([62])
    expectBytes(again[0].body!, nb)
    await s2.close()

    // Everything done: the directory keeps no segment.
    const s3 = open(dir)
    for (const { e } of drain(s3)) s3.done(e)
    expect(s3.pending.requests).toBe(0)
    await s3.close()
    expect(segFiles(dir)).toEqual([])
    const s4 = open(dir)
    expect(s4.found.requests).toBe(0)
    expect(s4.next()).toBeUndefined()
    await s4.close()
  })
})

describe('torn writes at the end', () => {
  // 17 records of 230 bytes fill a 4096-byte segment; the last segment holds records 18..20.
  const lens = [...Array<number>(19).fill(150), 61]
  const template = freshDir()
  let recs: Rec[] = []
  const setup = async (): Promise<void> => {
    if (recs.length === 0) recs = await build(template, lens, 7)
  }

  it('cut at every byte offset of the last record: the earlier ones come back, the torn one does not', async () => {
    await setup()
    const last = recs[recs.length - 1]
    expect(recs.filter((x) => x.path === last.path).length).toBeGreaterThanOrEqual(3)
    expect(recs[0].path).not.toBe(last.path)
    const end = last.offset + HEADER_BYTES + last.body.length
    expect(statSync(last.path).size).toBe(end)
    for (let off = last.offset; off < end; off++) {
      const dir = copyOf(template)
      const seg = inCopy(dir, last.path)
      truncateSync(seg, off)
      const s = open(dir)
      const cut = off - last.offset
      if (cut === 0) {
        expect(s.warnings, `offset ${off}`).toEqual([])
        expect(s.corrupt, `offset ${off}`).toEqual({ records: 0, bytes: 0 })
      } else {
        expect(s.warnings.length, `offset ${off}`).toBe(1)
        expect(s.warnings[0], `offset ${off}`).toContain(`cut ${cut} bytes`)
        expect(s.corrupt, `offset ${off}`).toEqual({ records: 1, bytes: cut })
      }
      expect(s.found.requests).toBe(recs.length - 1)
      expectRecords(drain(s), recs.slice(0, -1))
      expect(statSync(seg).size, 'the torn bytes are cut on disk').toBe(last.offset)
      // The spool goes on: the next record comes back whole.
      const nb = bodyFor(8, off, 33)
      const ne = s.append(info(), nb)
      const got = s.next()
      expect(got?.id).toBe(ne.id)
      expectBytes(s.body(got!)!, nb)
      await s.close()
      rmSync(dir, { recursive: true })
    }
  })

  it.each([
    ['its body zeroed', 'body'],
    ['the whole record zeroed', 'record'],
    ['its body zeroed and a zero page after it', 'page'],
  ])('last record with %s: cut or skipped, never returned by body() as valid', async (_, how) => {
    await setup()
    const last = recs[recs.length - 1]
    const dir = copyOf(template)
    const seg = inCopy(dir, last.path)
    const fd = openSync(seg, 'r+')
    const from = how === 'record' ? last.offset : last.offset + HEADER_BYTES
    writeSync(fd, new Uint8Array(last.offset + HEADER_BYTES + last.body.length - from), 0, undefined, from)
    if (how === 'page') writeSync(fd, new Uint8Array(4096), 0, 4096, last.offset + HEADER_BYTES + last.body.length)
    closeSync(fd)
    const s = open(dir)
    expect(s.warnings.length).toBe(1)
    expect(s.warnings[0]).toMatch(/cut \d+ bytes/)
    expect(s.corrupt.records).toBeGreaterThan(0)
    const got = drain(s)
    const valid = got.filter((g) => g.body !== undefined)
    expectRecords(valid, recs.slice(0, -1))
    expect(got.length - valid.length).toBeLessThanOrEqual(how === 'page' ? 1 : 0)
    await s.close()
  })
})

describe('damage in the middle', () => {
  const lens = Array.from({ length: 30 }, (_, k) => 60 + ((k * 37) % 200))
  const template = freshDir()
  let recs: Rec[] = []
  const setup = async (): Promise<void> => {
    if (recs.length === 0) recs = await build(template, lens, 11)
  }

  it.each([0, 3, 4, 8, 12, 16, 24, 47, 72, 79])('a flipped byte at %i of a middle record\'s header: it is skipped and reported', async (k) => {
    await setup()
    const mid = recs[8]
    expect(recs[9].path, 'not the last record of its segment').toBe(mid.path)
    const dir = copyOf(template)
    flipByte(inCopy(dir, mid.path), mid.offset + k, 0x40)
    const s = open(dir)
    expect(s.warnings.length).toBe(1)
    expect(s.warnings[0]).toContain(`skipped ${HEADER_BYTES + mid.body.length} damaged bytes at offset ${mid.offset}`)
    expect(s.corrupt).toEqual({ records: 1, bytes: HEADER_BYTES + mid.body.length })
    expect(s.found.requests).toBe(recs.length - 1)
    expectRecords(drain(s), recs.filter((x) => x !== mid))
    await s.close()
  })

  it('a flipped byte in a middle record\'s body: next() gives the entry, body() undefined', async () => {
    await setup()
    const mid = recs[8]
    for (const k of [0, 1, Math.floor(mid.body.length / 2), mid.body.length - 1]) {
      const dir = copyOf(template)
      flipByte(inCopy(dir, mid.path), mid.offset + HEADER_BYTES + k, 0x80)
      const s = open(dir)
      expect(s.warnings).toEqual([])
      const got = drain(s)
      expect(got.map((g) => g.e.id)).toEqual(recs.map((x) => x.id))
      const bad = got.find((g) => g.e.id === mid.id)!
      expect(bad.body, `body byte ${k} flipped`).toBeUndefined()
      expectRecords(got.filter((g) => g !== bad), recs.filter((x) => x !== mid))
      await s.close()
    }
  })

  it.each([1, 2, 3, 20260501])('seeded random flips (seed %i): no body() ever differs from what was appended', async (seed) => {
    await setup()
    const r = rng(seed)
    const files = [...new Set(recs.map((x) => x.path))].map((p) => ({ p, size: statSync(p).size }))
    const total = files.reduce((a, f) => a + f.size, 0)
    const byId = new Map(recs.map((x) => [x.id, x]))
    for (let trial = 0; trial < 25; trial++) {
      const dir = copyOf(template)
      const flips = 1 + Math.floor(r() * 3)
      const where: string[] = []
      for (let f = 0; f < flips; f++) {
        let at = Math.floor(r() * total)
        const file = files.find((x) => (at < x.size ? true : ((at -= x.size), false)))!
        flipByte(inCopy(dir, file.p), at, 1 << Math.floor(r() * 8))
        where.push(`${file.p.slice(-8)}@${at}`)
      }
      const what = `seed ${seed} trial ${trial} flips ${where.join(' ')}`
      const s = open(dir)
      const got = drain(s)
      const ids = got.map((g) => g.e.id)
      expect(ids, what).toEqual([...ids].sort((a, b) => a - b))
      expect(new Set(ids).size, what).toBe(ids.length)
      let valid = 0
      for (const g of got) {
        const want = byId.get(g.e.id)
        expect(want, `${what}: unknown id ${g.e.id}`).toBeDefined()
        if (g.body === undefined) continue
        valid++
        expectBytes(g.body, want!.body, `${what}: body of ${g.e.id}`)
      }
      expect(valid, what).toBeGreaterThanOrEqual(recs.length - flips)
      if (got.length < recs.length) expect(s.warnings.length, what).toBeGreaterThan(0)
      await s.close()
      rmSync(dir, { recursive: true })
    }
  })
})

describe('lock', () => {
  const children: ChildProcess[] = []
  afterAll(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill()
  })

  it('a second spool on the same directory in this process is refused, naming the pid; the first goes on', async () => {
    const dir = freshDir()
    const s = open(dir)
    s.append(info(), bodyFor(5, 1, 40))
    const err = thrown(() => open(dir))
    expect(err).toBeInstanceOf(SpoolError)
    expect((err as SpoolError).message).toContain(`pid ${process.pid}`)
    expect(readFileSync(join(dir, 'lock'), 'utf8').split(' ')[0]).toBe(String(process.pid))
    const b2 = bodyFor(5, 2, 40)
    s.append(info(), b2)
    await s.close()
    const s2 = open(dir)
    expect(s2.found.requests).toBe(2)
    expectBytes(drain(s2)[1].body!, b2)
    await s2.close()
  })

  it('a lock held by a live process is refused with a SpoolError naming its pid', async () => {
    const dir = freshDir()
    mkdirSync(dir)
    const child = spawn(process.execPath, ['-e', 'setTimeout(()=>{},30000)'], { stdio: 'ignore' })
    children.push(child)
    expect(child.pid).toBeGreaterThan(0)
    writeFileSync(join(dir, 'lock'), `${child.pid}\n`)
    const err = thrown(() => open(dir))
    expect(err).toBeInstanceOf(SpoolError)
    expect((err as SpoolError).message).toContain(`process ${child.pid}`)
    expect(readFileSync(join(dir, 'lock'), 'utf8').trim(), 'the lock is left to its holder').toBe(String(child.pid))
    expect(segFiles(dir)).toEqual([])
    // Once the holder is gone, the lock is taken over.
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill()
    await exited
    const s = open(dir)
    expect(s.warnings.join('\n')).toContain(`process ${child.pid}`)
    await s.close()
  })

  it('a lock of a dead process is taken over with a warning', async () => {
    const dir = freshDir()
    await build(dir, [30, 40], 3)
    const gone = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' })
    expect(gone.status).toBe(0)
    writeFileSync(join(dir, 'lock'), `${gone.pid}\n`)
    const s = open(dir)
    expect(s.warnings.length).toBe(1)
    expect(s.warnings[0]).toContain(`process ${gone.pid}`)
    expect(readFileSync(join(dir, 'lock'), 'utf8').split(' ')[0]).toBe(String(process.pid))
    expect(drain(s).map((g) => g.e.id)).toEqual([1, 2])
    await s.close()
    expect(existsSync(join(dir, 'lock'))).toBe(false)
    // An empty (torn) lock file is taken over too.
    writeFileSync(join(dir, 'lock'), '')
    const s2 = open(dir)
    expect(s2.found.requests).toBe(2)
    await s2.close()
  })
})

describe('the shard file', () => {
  it('slots written by the senders fold into the acknowledgements when reopened with another shard count', async () => {
    const dir = freshDir()
    const s = open(dir, {}, 2)
    const recs: Rec[] = []
    for (let k = 0; k < 12; k++) {
      const body = bodyFor(9, k + 1, 50 + k)
      const e = s.append(info(k % 2, 2), body)
      recs.push({ id: e.id, body, path: e.seg.path, offset: e.offset, shard: k % 2 })
    }
    // The sender of shard 0 saw its third request accepted (done() never called: a crash).
    const upTo = recs.filter((x) => x.shard === 0)[2].id
    expect(upTo).toBe(5)
    const at = slot(0, upTo)
    const fd = openSync(s.slotsPath, 'r+')
    writeSync(fd, at.bytes, 0, 16, at.at)
    closeSync(fd)
    await s.close()

    const left = recs.filter((x) => !(x.shard === 0 && x.id <= upTo))
    const s2 = open(dir, {}, 3)
    expect(s2.found.requests).toBe(left.length)
    expectRecords(drain(s2), left)
    await s2.close()
    // Folded for good: the new shard file is blank, the acknowledgements keep them out.
    const s3 = open(dir, {}, 1)
    expect(s3.found.requests).toBe(left.length)
    expectRecords(drain(s3), left)
    await s3.close()
  })
})

describe('damage met while running', () => {
  it.each([
    ['one header behind the cursor and one ahead', [0, 1], [2]],
    ['two headers ahead, with a good record between them', [1, 3], [1, 3]],
  ])('%s: exactly the unreadable records ahead are counted lost, the rest still come, and the segment stays until every record handed out is done', (_, damaged, lostIdx) => {
    const dir = freshDir()
    const s = open(dir, { segmentBytes: 1 << 16, sync: 'none' })
    const lost: number[] = []
    s.onLost = (l) => lost.push(l.requests)
    s.onWarning = () => {}
    const es = [0, 1, 2, 3, 4].map((i) => s.append(info(0, 1, 10), bodyFor(7, i + 1, 100)))
    s.roll()
    const first = s.next() as Entry
    expect(first.id).toBe(es[0].id)
    const fd = openSync(first.seg.path, 'r+')
    for (const i of damaged) writeSync(fd, Buffer.from('XXXX'), 0, 4, es[i].offset)
    closeSync(fd)
    const got: Entry[] = []
    for (let e = s.next(); e !== undefined; e = s.next()) got.push(e)
    const expected = es.slice(1).filter((_, j) => !damaged.includes(j + 1)).map((e) => e.id)
    expect(got.map((e) => e.id)).toEqual(expected)
    expect(lost.reduce((a, b) => a + b, 0)).toBe(lostIdx.filter((i) => i > 0).length)
    expect(lost.every((n) => n >= 0)).toBe(true)
    // The first record is still on its way: its segment (its only durable copy) stays.
    for (const e of got) s.done(e)
    expect(existsSync(first.seg.path)).toBe(true)
    s.done(first)
    expect(existsSync(first.seg.path)).toBe(false)
    expect(s.pending).toEqual({ requests: 0, series: 0, samples: 0, bytes: 0 })
  })
})
