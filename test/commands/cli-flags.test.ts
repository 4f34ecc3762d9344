// Bad flag values are refused before anything starts, with a message that names the flag and
// what it must be (issue 14, "Flags in messages"): numbers, ranges, and URLs without a scheme.
import { describe, expect, it } from 'vitest'
import { prw } from '../support/cli.js'

describe('the command line: bad flag values', () => {
  it.each([
    [['bench', '--url', 'http://127.0.0.1:1/api/v1/write', '--rate', 'abc'], '--rate must be a number >= 0, got "abc"'],
    [['bench', '--url', 'http://127.0.0.1:1/api/v1/write', '--series', '1e3x'], '--series must be a whole number >= 0, got "1e3x"'],
    [['bench', '--url', 'http://127.0.0.1:1/api/v1/write', '--concurrency', ''], '--concurrency must be a whole number >= 0, got ""'],
    [['receive', '--fail-rate', '2'], '--fail-rate must be a number from 0 to 1, got "2"'],
    [['receive', '--reset-rate=-0.1'], '--reset-rate must be a number from 0 to 1, got "-0.1"'],
    [['demo', '--iot-rounds', '1.5'], '--iot-rounds must be a whole number >= 0, got "1.5"'],
    [['backfill', '--url', 'http://127.0.0.1:1/api/v1/write', '--window=-5', 'x.jsonl'], '--window must be a whole number >= 0, got "-5"'],
    [['bench', '--url', '127.0.0.1:48207'], '--url must be a whole URL starting with http:// or https://, e.g. http://127.0.0.1:9090/api/v1/write'],
  ])('prw %j: exit 2, the flag named', async (args, message) => {
    const r = await prw(args)
    expect(r.code).toBe(2)
    expect(r.stderr.trim()).toBe(`prw: ${message}\nrun 'prw ${args[0]} --help' for the options`)
    expect(r.stdout).toBe('')
  })

  it('a URL without a scheme from the environment names the variable, and is not echoed (it may hold credentials)', async () => {
    const r = await prw(['bench', '--duration', '1'], { env: { PROMETHEUS_REMOTE_WRITE_URL: 'user:pw-SECRET@host:9090/api/v1/write' } })
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/^prw: PROMETHEUS_REMOTE_WRITE_URL must be a whole URL starting with http:\/\/ or https:\/\//)
    expect(r.stderr + r.stdout).not.toContain('SECRET')
  })
})
