/**
 * The command line as a user meets it when something is wrong (issue 14's reproductions), run as
 * spawned processes: the first feedback within seconds, one message per cause with what to do,
 * the exit status, giving up instead of retrying forever, and no floods.
 */
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { deadUrl, startReceiver } from '../support/fake-server.js'
import { prw } from '../support/cli.js'

const dir = mkdtempSync(join(tmpdir(), 'prw-feedback-'))
const servers: net.Server[] = []
afterAll(() => {
  for (const s of servers) s.close()
  rmSync(dir, { recursive: true, force: true })
})

async function listen<S extends net.Server> (s: S): Promise<number> {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  servers.push(s)
  return (s.address() as AddressInfo).port
}

/** A JSON-lines file of `series` series × `samples` samples, `ageMs` old, 15 s apart. */
function jsonl (name: string, series: number, samples: number, ageMs = 0, seconds = false): string {
  const t0 = Date.now() - ageMs - samples * 15_000
  const lines: string[] = []
  for (let s = 0; s < series; s++) {
    const ts = Array.from({ length: samples }, (_, i) => t0 + i * 15_000)
    lines.push(JSON.stringify({
      metric: { __name__: 'feedback_test', series: String(s) },
      values: ts.map((_, i) => i),
      timestamps: seconds ? ts.map((t) => Math.floor(t / 1000)) : ts,
    }))
  }
  const path = join(dir, name)
  writeFileSync(path, `${lines.join('\n')}\n`)
  return path
}

const lineCount = (s: string): number => s.split('\n').filter(Boolean).length

let small = ''
beforeAll(() => { small = jsonl('small.jsonl', 10, 100) })

describe('prw backfill when the server cannot be reached', () => {
  it('tells at once that the connection is refused, and gives up after --give-up-after (exit 3, resumable)', async () => {
    const url = await deadUrl()
    const cp = join(dir, 'refused.checkpoint')
    const r = await prw(['backfill', '--url', url, '--give-up-after', '2', '--checkpoint', cp, small])
    expect(r.firstStderrMs).toBeLessThan(3000 + 1500) // the process's own start included
    expect(r.stderr).toMatch(/connection refused; retrying, next in .*Nothing listens at 127\.0\.0\.1:\d+: is the server up/)
    expect(r.code).toBe(3)
    expect(r.stdout).toMatch(/GAVE UP: nothing was accepted for 2 s \(connection refused: retrying \(\d+\)/)
    expect(r.stdout).toMatch(/resume with: prw backfill --url http:\/\/127\.0\.0\.1:\d+\/api\/v1\/write --give-up-after 2 --checkpoint \S+ \S+small\.jsonl/)
    expect(r.stdout).toMatch(/retries: connection refused \d+/)
    expect(r.ms).toBeLessThan(15_000)
    expect(lineCount(r.stderr)).toBeLessThan(10) // one message for the cause, not one per retry
  })

  it('does not retry a certificate it cannot trust: one message naming --ca-file and --insecure', async () => {
    const tlsDir = new URL('../support/tls/', import.meta.url)
    const port = await listen(https.createServer({ key: readFileSync(new URL('key.pem', tlsDir)), cert: readFileSync(new URL('cert.pem', tlsDir)) }, (_q, s) => { s.statusCode = 204; s.end() }))
    const r = await prw(['backfill', '--url', `https://127.0.0.1:${port}/api/v1/write`, small])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/certificate not trusted \(self-signed certificate\): this cannot heal by retrying, giving up\. Pass the server's CA certificate with --ca-file FILE \(or --insecure/)
    expect(r.ms).toBeLessThan(10_000)
  })

  it('https:// to a plain HTTP port says to use http://', async () => {
    const port = await listen(http.createServer((_q, s) => { s.statusCode = 204; s.end() }))
    const r = await prw(['backfill', '--url', `https://127.0.0.1:${port}/api/v1/write`, small])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/use http:\/\/ instead of https:\/\//)
    expect(r.stderr).not.toMatch(/wrong version number.*wrong version number/s)
  })

  it('a server that does not speak HTTP', async () => {
    const port = await listen(net.createServer((c) => { c.end('SSH-2.0-OpenSSH_9.0\r\n') }))
    const r = await prw(['backfill', '--url', `http://127.0.0.1:${port}/api/v1/write`, small])
    expect(r.code).toBe(3)
    expect(r.stderr).toMatch(/does not answer HTTP\/1\.1: if it speaks TLS use https:\/\//)
  })
})

describe('prw backfill when the server refuses the data', () => {
  it('old samples into a Prometheus without an out-of-order window: stops after the first requests, with the time range and the setting', async () => {
    const rx = await startReceiver({ handler: () => ({ status: 400, body: 'out of bounds' }) })
    try {
      const old = jsonl('old.jsonl', 200, 2500, 30 * 86_400_000) // 250 requests
      const r = await prw(['backfill', '--url', rx.url, old])
      expect(r.code).toBe(3)
      expect(rx.requests.length).toBeLessThan(60) // what was in flight when it stopped
      expect(r.stdout).toMatch(/GAVE UP: the first 5 requests were all refused \(samples refused for their time\): stopping early/)
      expect(r.stderr).toMatch(/stopping early, nothing was accepted\. The refused requests held samples from 20\d\d-\d\d-\d\dT.*Z to 20\d\d-.*out_of_order_time_window/)
      expect(r.stdout).toMatch(/^\d+ requests \(\d+ samples\) failed: samples refused for their time\. The refused requests held samples from 20\d\d-.*out_of_order_time_window/m)
      expect(r.stdout).toMatch(/^\d+ requests \(\d+ samples\) not sent: the run stopped\.$/m)
      expect(lineCount(r.stdout) + lineCount(r.stderr)).toBeLessThan(25)
    } finally {
      await rx.close()
    }
  })

  it('a wrong path: one hint naming the usual paths', async () => {
    const rx = await startReceiver({ handler: () => ({ status: 404, body: '404 page not found' }) })
    try {
      const r = await prw(['backfill', '--url', rx.url, small])
      expect(r.stdout + r.stderr).toMatch(/Check the path in --url: Prometheus takes \/api\/v1\/write/)
      expect(r.code).toBe(1)
    } finally {
      await rx.close()
    }
  })
})

describe('prw backfill interrupted', () => {
  it('Ctrl-C with a checkpoint says how to resume, and the rerun finishes the job', async () => {
    let stall = true
    const rx = await startReceiver({ handler: () => (stall ? { delayMs: 300 } : undefined) })
    try {
      const big = jsonl('interrupt.jsonl', 50, 2000)
      const cp = join(dir, 'interrupt.checkpoint')
      const args = ['backfill', '--url', rx.url, '--checkpoint', cp, '--concurrency', '1', big]
      // A chunk is 4 requests here: after the 6th arrived, the first chunk was acknowledged.
      const r = await prw(args, { killWhen: () => rx.requests.length >= 6 })
      expect(r.code).toBe(130)
      expect(r.stderr).toMatch(/interrupted: stopping/)
      expect(r.stdout).toMatch(/interrupted; resume with: prw backfill --url http:\/\/127\.0\.0\.1:\d+\/api\/v1\/write --checkpoint \S+ --concurrency 1 \S+interrupt\.jsonl/)
      stall = false
      const again = await prw(args)
      expect(again.code).toBe(0)
      expect(again.stdout).toMatch(/samples skipped: acknowledged before the checkpoint/)
    } finally {
      await rx.close()
    }
  })

  it('never prints a secret in the resume command', async () => {
    const rx = await startReceiver({ handler: () => ({ delayMs: 300 }) })
    try {
      const cp = join(dir, 'secret.checkpoint')
      const r = await prw(['backfill', '--url', rx.url.replace('http://', 'http://user:hunter2@'), '--bearer-token', 's3cr3t-token', '--checkpoint', cp, '--concurrency', '1', jsonl('secret.jsonl', 50, 2000)],
        { killWhen: () => rx.requests.length >= 2 })
      expect(r.stdout).toMatch(/resume with: .*--bearer-token '<BEARER_TOKEN>'/)
      expect(r.stdout + r.stderr).not.toMatch(/hunter2|s3cr3t-token/)
    } finally {
      await rx.close()
    }
  })
})

describe('prw backfill from a stdin that stays open', () => {
  // Two lines: a window of one sample is handed over once the next record shows it is complete.
  const line = (name: string): string => `${JSON.stringify({ metric: { __name__: name }, values: [1], timestamps: [Date.now()] })}\n`
  const head = line('open_stdin_a') + line('open_stdin_b')

  it('stops on Ctrl-C', async () => {
    const rx = await startReceiver()
    try {
      const r = await prw(['backfill', '--url', rx.url, '--format', 'jsonl', '-'], { stdin: head, keepStdinOpen: true, killAfterStderr: /./ })
      expect(r.code).toBe(130)
      expect(r.ms).toBeLessThan(8000)
    } finally {
      await rx.close()
    }
  })

  it('exits once it gives up', async () => {
    const url = await deadUrl()
    const r = await prw(['backfill', '--url', url, '--format', 'jsonl', '--window', '1', '--give-up-after', '1', '-'], { stdin: head, keepStdinOpen: true })
    expect(r.code).toBe(3)
    expect(r.stdout).toMatch(/GAVE UP: nothing was accepted for 1 s/)
    expect(r.ms).toBeLessThan(10_000)
  })
})

describe('prw backfill against a server that never answers', () => {
  it('says so after 5 s, not only at --timeout', async () => {
    const rx = await startReceiver({ handler: () => new Promise(() => {}) })
    try {
      const r = await prw(['backfill', '--url', rx.url, '--give-up-after', '8', small])
      expect(r.stderr).toMatch(/no answer yet after [56] s \(\d+ requests? on the wire\): the server may be slow or stuck/)
      expect(r.code).toBe(3)
    } finally {
      await rx.close()
    }
  })
})

describe('prw backfill and its checks', () => {
  it('--give-up-after 0 is never; below 1 s is refused', async () => {
    const r = await prw(['backfill', '--url', 'http://127.0.0.1:1/x', '--give-up-after', '0.5', small])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--give-up-after must be 0 \(never\) or a number of seconds >= 1, got "0\.5"/)
  })

  it('a negative value names the flag', async () => {
    const r = await prw(['bench', '--url', 'http://127.0.0.1:1/x', '--rate', '-5'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--rate must not be negative, got "-5"/)
  })

  it('a checkpoint that cannot be written is refused before anything is sent', async () => {
    const r = await prw(['backfill', '--url', 'http://127.0.0.1:1/x', '--checkpoint', join(dir, 'no-such-dir', 'cp.json'), small])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--checkpoint \S+cp\.json: cannot write there \(no folder/)
  })

  it('a broken second file is named, and exits 1 (something was sent)', async () => {
    const rx = await startReceiver()
    try {
      const csv = join(dir, 'badheader.csv')
      writeFileSync(csv, 'when,value\n1,2\n')
      const r = await prw(['backfill', '--url', rx.url, small, csv])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/badheader\.csv: /)
      expect(rx.requests.length).toBeGreaterThan(0)
    } finally {
      await rx.close()
    }
  })

  it('thousands of invalid series are reported once each cause, and the rest is sent without one resend per bad series', async () => {
    const rx = await startReceiver()
    try {
      const lines: string[] = []
      for (let s = 0; s < 3000; s++) {
        lines.push(JSON.stringify({ metric: { __name__: s % 2 === 0 ? 'good_series' : 'bad-name', s: String(s) }, values: [1], timestamps: [Date.now()] }))
      }
      const f = join(dir, 'half-bad.jsonl')
      writeFileSync(f, `${lines.join('\n')}\n`)
      const r = await prw(['backfill', '--url', rx.url, f])
      expect(r.code).toBe(1)
      expect(rx.requests.length).toBeLessThanOrEqual(4) // one per shard
      expect(rx.requests.reduce((n, q) => n + q.items.length, 0)).toBe(1500)
      expect(r.stdout).toMatch(/NOT ACCEPTED: 0 malformed lines, 1500 invalid series/)
      expect(lineCount(r.stderr)).toBeLessThan(10)
      expect(r.ms).toBeLessThan(15_000)
    } finally {
      await rx.close()
    }
  })
})

describe('prw backfill reads what it is given', () => {
  it('Prometheus text piped in without --format is recognised, and it says so', async () => {
    const rx = await startReceiver()
    try {
      const t = Date.now()
      const text = `# HELP up whether up\n# TYPE up gauge\nup{job="a"} 1 ${t}\nup{job="b"} 0 ${t}\n`
      const r = await prw(['backfill', '--url', rx.url, '-'], { stdin: text })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toMatch(/reading <stdin> as Prometheus text \(line 1 is "# HELP"/)
      expect(r.stdout).toMatch(/^2 samples accepted of 2 read from 4 lines/m)
    } finally {
      await rx.close()
    }
  })

  it('CSV with RFC 3339 timestamps is read without a flag', async () => {
    let got: number[] = []
    const rx = await startReceiver({ handler: (req) => { got = got.concat(req.items.flatMap((x) => x.timestamps)) } })
    try {
      const f = join(dir, 'iso.csv')
      writeFileSync(f, 'timestamp,host,value\n2026-12-06T19:23:00Z,a,1\n2026-12-06T19:23:15.5+01:00,a,2\n')
      const r = await prw(['backfill', '--url', rx.url, '--csv-metric-name', 'temp', f])
      expect(r.code, r.stderr).toBe(0)
      expect(got.sort()).toEqual([Date.UTC(2026, 11, 6, 18, 23, 15, 500), Date.UTC(2026, 11, 6, 19, 23, 0)])
    } finally {
      await rx.close()
    }
  })

  it('600,000 lines of bad timestamps print at most a screenful, with the flag to set', async () => {
    const f = join(dir, 'bad-ts.csv')
    writeFileSync(f, `timestamp,host,value\n${'yesterday,a,1\n'.repeat(600_000)}`)
    const r = await prw(['backfill', '--dry-run', '--csv-metric-name', 'temp', f])
    expect(r.code).toBe(1)
    expect(lineCount(r.stdout) + lineCount(r.stderr)).toBeLessThan(25)
    expect(r.stdout).toMatch(/^600000 × column "…": invalid timestamp "…".*--csv-timestamp-unit/m)
    expect(r.stdout).toMatch(/NOT ACCEPTED: 600000 malformed lines/)
  })

  it('seconds timestamps are converted, and it says so once', async () => {
    let got: number[] = []
    const rx = await startReceiver({ handler: (req) => { got = req.items.flatMap((s) => s.timestamps) } })
    try {
      const secs = jsonl('seconds.jsonl', 3, 10, 0, true)
      const r = await prw(['backfill', '--url', rx.url, secs])
      expect(r.code).toBe(0)
      expect(r.stderr).toMatch(/timestamps below 1e10 are read as seconds \(\d+ is 20\d\d-/)
      expect(r.stderr.match(/timestamps below 1e10/g)).toHaveLength(1)
      expect(got.length).toBeGreaterThan(0)
      for (const t of got) expect(t).toBeGreaterThan(1e12) // milliseconds, not 1970
    } finally {
      await rx.close()
    }
  })
})

describe('prw flags', () => {
  it('an unknown option suggests the closest one (exit 2)', async () => {
    const r = await prw(['bench', '--url', 'http://127.0.0.1:1/x', '--serie', '10'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/unknown option --serie \(did you mean --series\?\)/)
    expect(r.stderr).toMatch(/run 'prw bench --help'/)
  })

  it('a missing file is a plain message (exit 2), before anything is sent', async () => {
    const r = await prw(['backfill', '--url', 'http://127.0.0.1:1/x', join(dir, 'nope.jsonl')])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/cannot read \S+nope\.jsonl: no such file/)
    expect(r.stderr).not.toMatch(/ENOENT|stat/)
  })

  it('an unknown command suggests the closest', async () => {
    const r = await prw(['backfil'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/unknown command "backfil" \(did you mean backfill\?\)/)
  })

  it('demo --help lists each option once', async () => {
    const r = await prw(['demo', '--help'])
    for (const flag of ['--url', '--bearer-token', '--tenant', '--concurrency']) {
      expect(r.stdout.split(new RegExp(`^\\s+${flag}\\s`, 'm')).length - 1).toBe(1)
    }
  })

  it('--help documents the exit codes', async () => {
    const r = await prw(['backfill', '--help'])
    expect(r.stdout).toMatch(/exit status: 0 every sample accepted; 1 something not accepted; 2 usage error.*\n.*3 gave up/)
  })
})

describe('prw bench when the server cannot be reached', () => {
  it('ends within --give-up-after, naming the cause (exit 3)', async () => {
    const url = await deadUrl()
    const r = await prw(['bench', '--url', url, '--duration', '60', '--give-up-after', '2', '--series', '100'])
    expect(r.code).toBe(3)
    expect(r.firstStderrMs).toBeLessThan(3000 + 1500)
    expect(r.ms).toBeLessThan(12_000)
    expect(r.stderr).toMatch(/connection refused; retrying/)
    expect(r.stdout).toMatch(/errors\s+connection refused: \d+/)
    expect(r.stdout).toMatch(/GAVE UP: nothing was accepted for 2 s/)
  })

  it('as fast as acknowledged, against a server that never answers: ends at --duration plus the drain, Ctrl-C at once', async () => {
    const rx = await startReceiver({ handler: () => new Promise(() => {}) })
    try {
      const r = await prw(['bench', '--url', rx.url, '--duration', '2', '--series', '100'])
      expect(r.ms).toBeLessThan(2000 + 5000 + 3000)
      expect(r.code).toBe(1)
      const c = await prw(['bench', '--url', rx.url, '--duration', '60', '--series', '100'], { killAfterStderr: /1s / })
      expect(c.code).toBe(130)
      expect(c.stderr).toMatch(/interrupted: stopping/)
      expect(c.ms).toBeLessThan(10_000)
    } finally {
      await rx.close()
    }
  })

  it('ends at --duration plus at most 5 s of draining, what is unacknowledged counted failed', async () => {
    const rx = await startReceiver({ handler: () => new Promise(() => {}) }) // never answers
    try {
      const r = await prw(['bench', '--url', rx.url, '--duration', '2', '--series', '100', '--rate', '1000'])
      expect(r.ms).toBeLessThan(2000 + 5000 + 3000)
      expect(r.stdout).toMatch(/achieved\s+0 samples\/s \(0 accepted, [1-9]\d* failed/)
      expect(r.code).toBe(1)
    } finally {
      await rx.close()
    }
  })

  it('--protocol v2 against a 1.0 receiver counts every request failed, live and at the end', async () => {
    const rx = await startReceiver() // answers 204 without the 2.0 written counts
    try {
      const r = await prw(['bench', '--url', rx.url, '--protocol', 'v2', '--duration', '2', '--series', '100', '--give-up-after', '60'])
      expect(r.stdout).toMatch(/achieved\s+0 samples\/s \(0 accepted, [1-9]\d* failed/)
      expect(r.stdout).toMatch(/errors\s+answered 2xx without writing every sample: [1-9]/)
      expect(r.stdout).toMatch(/This server does not take Remote Write 2\.0: use --protocol v1/)
      expect(r.stderr).toMatch(/ [1-9]\d* errors/) // the live line counts them too
      expect(r.code).toBe(3)
    } finally {
      await rx.close()
    }
  })
})
