// The receiver against decompression amplification (issue 12, defect 1): it accepted four
// 1.5 MB requests of minimal records with 204 after 12-38 s each, at 4.6 GB. Now such bodies
// are answered 413 naming the limit, counted as rejected, and the receiver goes on serving;
// its limits can be set (decodeLimits, `prw receive --limit`), and hold with `--out` too.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { compressSync } from 'snappy'
import { afterAll, describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import { startReceiver } from '../../src/commands/receiver.js'
import type { Receiver } from '../../src/commands/receiver.js'
import { InvalidArgumentError } from '../../src/errors.js'
import type { Item } from '../../src/types.js'

const V2_TYPE = 'application/x-protobuf;proto=io.prometheus.write.v2.Request'
const T = 1_767_225_600_000

function repeat (unit: readonly number[], n: number, head: readonly number[] = []): Buffer {
  const out = Buffer.alloc(head.length + unit.length * n)
  out.set(head)
  for (let i = 0; i < n; i++) out.set(unit, head.length + i * unit.length)
  return out
}

async function post (url: string, body: Uint8Array, v2 = false): Promise<{ status: number, text: string }> {
  const res = await fetch(url, {
    method: 'POST',
    body,
    headers: { 'content-encoding': 'snappy', 'content-type': v2 ? V2_TYPE : 'application/x-protobuf' },
  })
  return { status: res.status, text: await res.text() }
}

const series = (n: number): Item[] => Array.from({ length: n }, (_, i) => ({ metric: { __name__: 'up', i: String(i) }, values: [1], timestamps: [T] }))

/** The bodies: 32 MiB of minimal records in about 1.5 MB. */
const AMPLIFIERS: Array<{ name: string, v2: boolean, body: () => Buffer }> = [
  { name: '1.0 empty series', v2: false, body: () => compressSync(repeat([0x0a, 0x00], (32 << 20) / 2 - 16)) },
  { name: '1.0 series of one empty sample', v2: false, body: () => compressSync(repeat([0x0a, 0x02, 0x12, 0x00], (32 << 20) / 4 - 16)) },
  {
    name: '2.0 valid series of tiny refs',
    v2: true,
    body: () => compressSync(repeat([0x2a, 0x06, 0x0a, 0x02, 0x01, 0x02, 0x12, 0x00], (32 << 20) / 8 - 16, [0x22, 0x00, 0x22, 0x08, ...Buffer.from('__name__'), 0x22, 0x01, 0x61])),
  },
  { name: '2.0 empty series', v2: true, body: () => compressSync(repeat([0x2a, 0x00], (32 << 20) / 2 - 16)) },
]

async function expectServing (receiver: Receiver, accepted: number): Promise<void> {
  const codec = await createCodec()
  expect((await post(receiver.url, codec.encode(series(3)))).status).toBe(204)
  expect((await post(receiver.url, codec.encodeV2(series(2)), true)).status).toBe(204)
  expect(receiver.stats().accepted).toBe(accepted + 2)
}

describe('receiver bounds', () => {
  it('answers 413 naming the limit to each amplifying body, counts it rejected, and keeps serving', async () => {
    const receiver = await startReceiver()
    try {
      for (const a of AMPLIFIERS) {
        const body = a.body()
        expect(body.length).toBeLessThan(1.6e6)
        const r = await post(receiver.url, body, a.v2)
        expect(r.status, a.name).toBe(413)
        expect(r.text).toMatch(/^protobuf: the request .* \(raise the max\w+ decode option\)\n$/)
      }
      const s = receiver.stats()
      expect(s).toMatchObject({ requests: 4, accepted: 0, rejected: 4, rejectedBy: { 'too-large': 4 }, series: 0, samples: 0, statuses: { 413: 4 } })
      await expectServing(receiver, 0)
    } finally {
      await receiver.close()
    }
  })

  it('takes its limits from decodeLimits: one series past maxSeries is 413, the limit itself 204; a bad limit fails at start', async () => {
    const receiver = await startReceiver({ decodeLimits: { maxSeries: 100, maxSamples: 1000 } })
    try {
      const codec = await createCodec()
      const over = await post(receiver.url, codec.encodeV2(series(101)), true)
      expect(over.status).toBe(413)
      expect(over.text).toContain('more than 100 series: 101')
      expect(over.text).toContain('raise the maxSeries decode option')
      expect((await post(receiver.url, codec.encode(series(100)))).status).toBe(204)
      const long: Item[] = [{ metric: { __name__: 'up' }, values: new Float64Array(1001), timestamps: Float64Array.from({ length: 1001 }, (_, i) => T + i) }]
      expect((await post(receiver.url, codec.encode(long))).text).toContain('more than 1000 samples')
      expect(receiver.stats()).toMatchObject({ accepted: 1, rejected: 2, rejectedBy: { 'too-large': 2 }, series: 100, statuses: { 413: 2 } })
    } finally {
      await receiver.close()
    }
    await expect(startReceiver({ decodeLimits: { maxSeries: -1 } })).rejects.toThrow(InvalidArgumentError)
  })

  it('413 for a body that decodes past maxDecodedBytes, 400 for a malformed one, 400 for a series without samples (strict)', async () => {
    const receiver = await startReceiver({ maxDecodedBytes: 1 << 20 })
    try {
      const big = await post(receiver.url, compressSync(repeat([0x08, 0x00], 1 << 20)))
      expect(big).toEqual({ status: 413, text: 'snappy: decoded length exceeds the limit\n' })
      expect((await post(receiver.url, compressSync(Buffer.from([0x0a, 0x05, 0x0a])))).status).toBe(400)
      const bare = compressSync(Buffer.from([0x22, 0x00, 0x22, 0x08, ...Buffer.from('__name__'), 0x22, 0x01, 0x61, 0x2a, 0x04, 0x0a, 0x02, 0x01, 0x02]))
      expect(await post(receiver.url, bare, true)).toEqual({ status: 400, text: 'protobuf: series 0 a{}: carries no samples or histograms\n' })
      expect(receiver.stats().statuses).toEqual({ 400: 2, 413: 1 })
      expect(receiver.stats().rejectedBy).toEqual({ 'too-large': 1, protobuf: 1, samples: 1 })
      await expectServing(receiver, 0)
    } finally {
      await receiver.close()
    }
  })
})

describe('prw receive --limit, with --out', () => {
  const CLI = new URL('../../src/cli.ts', import.meta.url).pathname
  const dir = mkdtempSync(join(tmpdir(), 'prw-receive-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  function receive (args: string[], send?: (url: string) => Promise<void>): Promise<{ code: number | null, stdout: string, stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'receive', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      let started = false
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString()
        const url = /receiving on (\S+)/.exec(stdout)?.[1]
        if (url !== undefined && !started) {
          started = true
          // Without requests to send, it was not meant to start: stop it at once.
          if (send === undefined) return child.kill('SIGINT')
          send(url).then(() => child.kill('SIGINT'), (err) => {
            child.kill('SIGKILL')
            reject(err)
          })
        }
      })
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
      child.on('close', (code) => resolve({ code, stdout, stderr }))
    })
  }

  it('answers 413 past a limit set on the command line, writes only what it accepted, and reports the rejection', async () => {
    const out = join(dir, 'got.jsonl')
    const codec = await createCodec()
    const statuses: number[] = []
    const r = await receive(['--limit', 'maxSeries=10', '--limit', 'maxObjectBytes=Infinity', '--out', out], async (url) => {
      statuses.push((await post(url, codec.encode(series(11)))).status)
      statuses.push((await post(url, compressSync(repeat([0x0a, 0x00], (32 << 20) / 2 - 16)))).status)
      statuses.push((await post(url, codec.encode(series(10)))).status)
    })
    expect(r.stderr).toBe('')
    expect(statuses).toEqual([413, 413, 204])
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { metric: Record<string, string> })
    expect(lines.map((l) => l.metric.i)).toEqual(Array.from({ length: 10 }, (_, i) => String(i)))
    expect(r.stdout).toMatch(/received 10 samples of 10 series; requests: 1 accepted, 2 rejected \(too-large 2\), 0 injected, 0 other/)
  })

  it('refuses a --limit it cannot read, naming it', async () => {
    for (const bad of ['maxSerie=5', 'maxSeries', 'maxSeries=-1', 'maxSeries=']) {
      const r = await receive(['--limit', bad])
      expect(r.code).toBe(2) // a usage error
      expect(r.stderr).toContain(`invalid --limit ${JSON.stringify(bad)}`)
    }
  })
})
