/**
 * The command line's feedback, in-process: one message per cause, a count and a hint at the end,
 * stopping on what cannot heal; and its argument helpers (suggestions, flag words, the resume
 * command without secrets).
 */
import { describe, expect, it } from 'vitest'
import { BatchError } from '../../src/index.js'
import type { Diagnosis, RetryEvent } from '../../src/index.js'
import { Feedback, causeOf } from '../../src/commands/feedback.js'
import { flagWords, resumeCommand, suggest } from '../../src/commands/args.js'

const refused: Diagnosis = { cause: 'refused', permanent: false, title: 'connection refused' }
const retry = (diagnosis: Diagnosis, delayMs = 100): RetryEvent => ({ attempt: 1, delayMs, error: 'request failed: connect ECONNREFUSED', diagnosis })
const failure = (diagnosis: Diagnosis | undefined, samples = 10): BatchError =>
  new BatchError('http://x/api/v1/write: server returned HTTP 400: out of bounds', { reason: 'http', status: 400, attempts: 1, series: [], samples, diagnosis })

function collect (options: Partial<ConstructorParameters<typeof Feedback>[0]> = {}): { fb: Feedback, lines: string[], stops: string[] } {
  const lines: string[] = []
  const stops: string[] = []
  const fb = new Feedback({ print: (l) => lines.push(l), url: 'http://127.0.0.1:9/api/v1/write', onStop: (w) => stops.push(w), ...options })
  return { fb, lines, stops }
}

describe('Feedback', () => {
  it('tells the first retry of a cause at once with its hint, then only counts', () => {
    const { fb, lines } = collect()
    for (let i = 0; i < 50; i++) fb.retry(retry(refused, 2000))
    expect(lines).toEqual(['connection refused; retrying, next in 2 s. Nothing listens at 127.0.0.1:9: is the server up, and the port right?'])
    expect(fb.live()).toMatch(/^connection refused: retrying \(50\), next in [12] s$/)
    expect(fb.summary()).toEqual(['retries: connection refused 50'])
  })

  it('mentions --verbose only where the command has it', () => {
    const tooOld: Diagnosis = { cause: 'too-old', permanent: true, title: 't' }
    const withFlag = collect()
    const without = collect({ verboseFlag: false })
    for (let i = 0; i < 3; i++) {
      withFlag.fb.failed(failure(tooOld))
      without.fb.failed(failure(tooOld))
    }
    expect(withFlag.lines[2]).toMatch(/\(more like this are counted, not shown; --verbose shows all\)$/)
    expect(without.lines[2]).toMatch(/\(more like this are counted, not shown\)$/)
  })

  it('verbose tells every retry', () => {
    const { fb, lines } = collect({ verbose: true })
    for (let i = 0; i < 5; i++) fb.retry(retry(refused))
    expect(lines).toHaveLength(5)
  })

  it('stops at once on a transport failure that cannot heal', () => {
    const { fb, stops } = collect()
    fb.retry(retry({ cause: 'tls-untrusted', permanent: true, title: 'certificate not trusted (self-signed certificate)' }))
    expect(stops).toHaveLength(1)
    expect(stops[0]).toBe('certificate not trusted (self-signed certificate): this cannot heal by retrying, giving up.')
    expect(fb.stopped).toBe(stops[0])
  })

  it('shows 3 failures of a cause, counts the rest, and stops after 5 when nothing was accepted', () => {
    const tooOld: Diagnosis = { cause: 'too-old', permanent: true, title: 'samples refused for their time' }
    const { fb, lines, stops } = collect()
    for (let i = 0; i < 4; i++) fb.failed(failure(tooOld), { oldest: Date.UTC(2026, 0, 1), newest: Date.UTC(2026, 0, 2) })
    expect(lines).toHaveLength(3)
    expect(lines[2]).toMatch(/more like this are counted, not shown; --verbose shows all/)
    expect(stops).toHaveLength(0)
    fb.failed(failure(tooOld), { oldest: Date.UTC(2025, 11, 31), newest: Date.UTC(2026, 0, 1) })
    expect(stops[0]).toBe('the first 5 requests were all refused (samples refused for their time): stopping early, nothing was accepted.')
    expect(lines[3]).toMatch(/^the first 5 requests were all refused \(samples refused for their time\): stopping early, nothing was accepted\. The refused requests held samples from 2025-12-31T00:00:00\.000Z to 2026-01-02T00:00:00\.000Z\. Prometheus refuses/)
    expect(fb.summary()[0]).toMatch(/^5 requests \(50 samples\) failed: samples refused for their time\. The refused requests held samples from 2025-12-31/)
  })

  it('does not stop early once something was accepted, nor for causes that can heal', () => {
    const { fb, stops } = collect()
    fb.accepted = 1
    for (let i = 0; i < 10; i++) fb.failed(failure({ cause: 'too-old', permanent: true, title: 't' }))
    const other = collect()
    for (let i = 0; i < 10; i++) other.fb.failed(failure({ cause: 'server-error', permanent: false, title: 'HTTP 503' }))
    expect(stops).toHaveLength(0)
    expect(other.stops).toHaveLength(0)
  })

  it('groups input problems by cause: the values taken out', () => {
    const { fb, lines } = collect()
    for (let i = 0; i < 600; i++) fb.problem(`column "ts": invalid timestamp "2026-12-06T19:${String(i % 60).padStart(2, '0')}:00Z" (timestampUnit 'ms')`, `x.csv:${i + 2}`, 'Set how timestamps are written with --csv-timestamp-unit ms|s|iso.')
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/^x\.csv:2: column "ts": invalid timestamp/)
    expect(fb.summary()).toEqual(['600 × column "…": invalid timestamp "…" (timestampUnit \'…\'). Set how timestamps are written with --csv-timestamp-unit ms|s|iso.'])
  })

  it('tells at most 8 kinds of input problems apart: garbage does not make a new cause a line', () => {
    const { fb, lines } = collect()
    const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima']
    for (const w of words) for (let i = 0; i < 5; i++) fb.problem(`unexpected ${w}`, `x:${i}`)
    const summary = fb.summary()
    expect(summary).toHaveLength(9)
    expect(summary[8]).toBe('20 × other problems')
    expect(lines.length).toBeLessThanOrEqual(9 * 3)
  })

  it('causeOf takes numbers and quoted text out', () => {
    expect(causeOf('line 12: value "abc" at 3.5e3')).toBe('line N: value "…" at N')
  })
})

describe('argument helpers', () => {
  it('suggests the closest flag for a typo, and nothing for a stranger', () => {
    const flags = ['series', 'metrics', 'labels', 'label-cardinality', 'duration', 'rate']
    expect(suggest('serie', flags)).toBe('series')
    expect(suggest('durtaion', flags)).toBe('duration')
    expect(suggest('label-card', flags)).toBe('label-cardinality')
    expect(suggest('zzz', flags)).toBeUndefined()
  })

  it('turns library option names into flags', () => {
    expect(flagWords("column \"t\": invalid timestamp \"x\" (timestampUnit 'ms')")).toBe('column "t": invalid timestamp "x" (--csv-timestamp-unit ms)')
    expect(flagWords("a Remote Write 1.0 receiver stores nothing of a 2.0 request (use protocol: 'v1')")).toMatch(/\(use --protocol v1\)$/)
    expect(flagWords('csv: valueColumns must name at least one column')).toBe('csv: --csv-value-columns must name at least one column')
  })

  it('the resume command keeps the arguments, quoted, and never a secret', () => {
    const cmd = resumeCommand(['backfill', '--url', 'https://me:pw@h:1/w?token=abc', '--bearer-token', 'tok', '--basic-auth=u:p', '--header', 'Authorization: x',
      '--proxy', 'http://pu:PROXYPASS@p:3128', '--checkpoint', 'c p.json', 'a.jsonl'])
    expect(cmd).toBe("prw backfill --url 'https://USER:PASSWORD@h:1/w?token=VALUE' --bearer-token '<BEARER_TOKEN>' --basic-auth='<BASIC_AUTH>' --header '<HEADER>' " +
      "--proxy http://USER:PASSWORD@p:3128/ --checkpoint 'c p.json' a.jsonl")
    expect(cmd).not.toMatch(/pw@|abc|tok\b|u:p|Authorization|PROXYPASS/)
  })
})
