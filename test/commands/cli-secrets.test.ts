// Issue 12, defect 4 on the command line: `prw demo --url http://user:PASS@host/...` printed the
// URL with its password; `prw backfill` against a server that echoes the Authorization header
// printed the token (or base64 user:pass) in its report; a URL or proxy that does not parse
// must be refused without its text. Run as spawned processes, as a user runs them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startReceiver } from '../support/fake-server.js'
import type { Receiver } from '../support/fake-server.js'
import { prw } from '../support/cli.js'
import type { Run } from '../support/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'prw-cli-secrets-'))

const withCreds = (url: string): string => url.replace('http://', 'http://urluser:urlpw-SECRET-1@')
/** What must never be printed: every secret has SECRET in it; and the basic credentials in base64. */
function expectClean (r: Run): void {
  const out = r.stdout + r.stderr
  expect(out).not.toContain('SECRET')
  for (const [u, p] of [['urluser', 'urlpw-SECRET-1'], ['me', 'pw-SECRET-2']]) expect(out).not.toContain(Buffer.from(`${u}:${p}`).toString('base64'))
}

let echo: Receiver
let ok: Receiver
beforeAll(async () => {
  // Answers 400 with everything it was sent: the headers (Authorization too) and the URL with its query.
  echo = await startReceiver({ handler: (r) => ({ status: 400, body: `rejected ${r.url} ${JSON.stringify(r.headers)}` }) })
  ok = await startReceiver()
})
afterAll(async () => {
  await echo.close()
  await ok.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('prw and secrets', () => {
  it('demo prints the URL it sends to without its user info or query', async () => {
    const r = await prw(['demo', '--url', `${withCreds(ok.url)}?token=q-SECRET-3`, '--backfill-series', '2', '--backfill-samples', '10', '--iot-series', '10', '--iot-rounds', '1'])
    expect(r.code).toBe(0)
    expect(r.stdout.split('\n')[0]).toBe(`sending 30 samples to ${ok.url}`)
    expect(ok.requests.some((q) => q.headers.authorization === `Basic ${Buffer.from('urluser:urlpw-SECRET-1').toString('base64')}`)).toBe(true)
    expectClean(r)
  })

  it('backfill against a server that echoes the credentials: its report says HTTP 400, redacted', async () => {
    const f = join(dir, 'one.jsonl')
    writeFileSync(f, JSON.stringify({ metric: { __name__: 'm' }, values: [1], timestamps: [1_700_000_000_000] }))
    for (const args of [
      ['--url', withCreds(echo.url)],
      ['--url', `${echo.url}?api_key=q-SECRET-4`, '--bearer-token', 'tok-SECRET-5'],
      ['--url', echo.url, '--basic-auth', 'me:pw-SECRET-2'],
      ['--url', echo.url, '--header', 'X-Api-Key: key-SECRET-6'],
    ]) {
      echo.requests.length = 0
      const r = await prw(['backfill', ...args, f])
      expect(r.code).toBe(1)
      expect(echo.requests.length).toBeGreaterThan(0)
      expect(echo.requests.every((q) => `${q.url} ${JSON.stringify(q.headers)}`.includes('SECRET') || q.headers.authorization?.startsWith('Basic '))).toBe(true)
      expect(r.stderr + r.stdout).toMatch(/HTTP 400: rejected/)
      expect(r.stderr + r.stdout).toContain('[REDACTED]')
      expectClean(r)
    }
  })

  it('a URL or proxy that does not parse is refused by name, without its text', async () => {
    const f = join(dir, 'two.jsonl')
    writeFileSync(f, JSON.stringify({ metric: { __name__: 'm' }, values: [1], timestamps: [1_700_000_000_000] }))
    const bad = 'http://user:pw-SECRET-7@[not-a-host/api/v1/write'
    const runs: Array<[string[], RegExp]> = [
      [['bench', '--url', bad, '--duration', '1'], /^prw: invalid url: /m],
      [['backfill', '--url', bad, f], /^prw: invalid url: /m],
      [['backfill', '--url', ok.url, '--proxy', 'http://user:pw-SECRET-7@[bad', f], /^prw: invalid --proxy: /m],
      [['demo', '--url', bad], /^prw: invalid url: /m],
    ]
    for (const [args, message] of runs) {
      const r = await prw(args)
      expect(r.code, args[0]).toBe(2) // a usage error: nothing was sent
      expect(r.stderr, args[0]).toMatch(message)
      expectClean(r)
    }
  })
})
