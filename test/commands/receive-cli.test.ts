// `prw receive` as a process (src/commands/receive-cli.ts through src/cli.ts): with
// --fail-rate, its live line and its summary say accepted, rejected by reason, injected and
// other apart, and the distinct series; --out keeps what it accepted.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createCodec } from '../../src/codec/codec.js'
import type { Item } from '../../src/types.js'
import { CLI, prw } from '../support/cli.js'

const T = 1_767_225_600_000

/** Runs `prw receive --port 0 ...args`, calls `send` with its URL, waits for stdout to match `until`, then stops it with SIGINT. */
function receive (args: string[], send: (url: string) => Promise<RegExp>): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'receive', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let until: RegExp | undefined
    let started = false
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      const url = /receiving on (\S+)/.exec(stdout)?.[1]
      if (url !== undefined && !started) {
        started = true
        send(url).then((re) => { until = re }, (err) => {
          child.kill('SIGKILL')
          reject(err)
        })
      }
      if (until?.test(stdout)) {
        until = undefined
        child.kill('SIGINT')
      }
    })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

describe('prw receive', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prw-receive-cli-'))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('--fail-rate 0.3: prints accepted, rejected by reason, injected and other apart, and 5 distinct series', async () => {
    const out = join(dir, 'got.jsonl')
    const codec = await createCodec()
    const items: Item[] = Array.from({ length: 5 }, (_, i) => ({ metric: { __name__: 'up', i: String(i) }, values: [i === 0 ? NaN : 1], timestamps: [T] }))
    const answers: number[] = []
    const count = (status: number): number => answers.filter((s) => s === status).length
    const r = await receive(['--fail-rate', '0.3', '--out', out], async (url) => {
      const post = async (body: Uint8Array): Promise<void> => {
        const res = await fetch(url, { method: 'POST', body, headers: { 'content-encoding': 'snappy', 'content-type': 'application/x-protobuf' } })
        await res.arrayBuffer()
        answers.push(res.status)
      }
      for (let round = 0; round < 20; round++) await post(codec.encode(items.map((it) => ({ ...it, timestamps: [T + round] }))))
      for (let k = 0; k < 4; k++) await post(Buffer.from('not snappy'))
      const get = await fetch(url)
      await get.arrayBuffer()
      answers.push(get.status)
      // Stopped once the live line has seen all 25 requests.
      return new RegExp(`requests: ${count(204)} accepted, .* 1 other \\(method 1\\)\\n`)
    })
    expect(r.stderr).toBe('')
    expect(r.code, `not stopped by its live line (killed after 20 s):\n${r.stdout}`).toBe(0)
    const [accepted, rejected, injected] = [count(204), count(400), count(503)]
    expect(accepted + rejected + injected + count(405)).toBe(25)
    expect(injected).toBeGreaterThan(0)
    const parts = (n: number, what: string, reason: string): string => `${n} ${what}${n > 0 ? ` \\(${reason} ${n}\\)` : ''}`
    const requests = `requests: ${accepted} accepted, ${parts(rejected, 'rejected', 'snappy')}, ${parts(injected, 'injected', 'status')}, 1 other \\(method 1\\)`
    expect(r.stdout).toMatch(new RegExp(`^${5 * accepted} samples of 5 series \\(\\+\\d+/s\\); ${requests}$`, 'm'))
    expect(r.stdout).toMatch(new RegExp(`\\nreceived ${5 * accepted} samples of 5 series; ${requests}\\n$`))
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { metric: Record<string, string>, values: Array<number | string> })
    expect(lines).toHaveLength(5 * accepted)
    expect(lines.find((l) => l.metric.i === '0')?.values).toEqual(['NaN'])
  })

  it('refuses a flag it does not know, a --status that is no fault, a --port past 65535, a bad --limit: exit status 2, naming it', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--fail-rat', '0.3'], /unknown option --fail-rat \(did you mean --fail-rate\?\)/],
      [['--status', '200'], /--status must be from 300 to 599, got 200/],
      [['--port', '70000'], /--port must be from 0 to 65535, got 70000/],
      [['--limit', 'maxSerie=5'], /invalid --limit "maxSerie=5"/],
      [['--fail-rate', '2'], /--fail-rate must be a number from 0 to 1, got "2"/],
      [['--out', join(dir, 'no-such-dir', 'x.jsonl')], /--out: cannot open .*no-such-dir\/x\.jsonl: ENOENT/],
    ]
    for (const [args, message] of cases) {
      const r = await prw(['receive', ...args])
      expect(r.code, args.join(' ')).toBe(2)
      expect(r.stderr).toMatch(message)
      expect(r.stdout).toBe('')
    }
  })

  it.skipIf(!existsSync('/dev/full'))('stops with exit status 1 when --out cannot be written (a full disk), saying so', async () => {
    const codec = await createCodec()
    const r = await receive(['--out', '/dev/full'], async (url) => {
      const items: Item[] = [{ metric: { __name__: 'up' }, values: [1], timestamps: [T] }]
      await fetch(url, { method: 'POST', body: codec.encode(items), headers: { 'content-encoding': 'snappy', 'content-type': 'application/x-protobuf' } })
      return /never/
    })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^--out \/dev\/full: ENOSPC.*: stopped receiving/)
    expect(r.stdout).toMatch(/received 1 samples of 1 series; requests: 1 accepted/)
  })
})
