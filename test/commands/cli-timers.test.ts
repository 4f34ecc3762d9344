// Issue 12, defect 6 and close()'s deadline on the command line: a --timeout a Node timer cannot
// hold is refused by name (it used to time every attempt out after 1 ms), and --close-timeout
// bounds how long a command waits at the end for a server that never answers.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { gate, startReceiver } from '../support/fake-server.js'
import type { Receiver } from '../support/fake-server.js'
import { prw } from '../support/cli.js'

const SMALL = ['--backfill-series', '2', '--backfill-samples', '10', '--iot-series', '10', '--iot-rounds', '1']
const never = gate()
let silent: Receiver
beforeAll(async () => {
  silent = await startReceiver({ handler: async () => { await never.wait } })
})
afterAll(async () => {
  await silent.close()
})

describe('prw timers', () => {
  it('--timeout past 2^31-1 is refused by name', async () => {
    const r = await prw(['demo', '--url', silent.url, '--timeout', String(2 ** 31), ...SMALL])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^prw: invalid --timeout: must be a number of milliseconds > 0 and <= 2147483647 \(got 2147483648\)/m)
    expect(silent.requests.length).toBe(0)
  })

  it('--close-timeout: against a server that never answers, the command ends once it has passed, reporting the samples lost', async () => {
    const r = await prw(['demo', '--url', silent.url, '--close-timeout', '300', ...SMALL])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/LOST\s+30 samples in \d+ requests were not accepted: .*close\(\) timed out after 300 ms/)
  })

  it('--close-timeout bounds a backfill too: what was in flight is reported failed, and the checkpoint stays before it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prw-cli-timers-'))
    try {
      const f = join(dir, 'in.jsonl')
      writeFileSync(f, Array.from({ length: 5 }, (_, s) => JSON.stringify({ metric: { __name__: 'm', s: String(s) }, values: [1, 2], timestamps: [1_700_000_000_000, 1_700_000_015_000] })).join('\n'))
      const ck = join(dir, 'ck.json')
      const r = await prw(['backfill', '--url', silent.url, '--close-timeout', '300', '--checkpoint', ck, f])
      expect(r.code).toBe(1)
      expect(r.stdout + r.stderr).toMatch(/close\(\) timed out after 300 ms/)
      expect(r.stdout).toMatch(/NOT ACCEPTED: 0 malformed lines, 0 invalid series, 10 samples in \d+ failed requests/)
      expect(existsSync(ck)).toBe(false) // nothing was acknowledged
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
