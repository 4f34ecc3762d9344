// Issue 12, defect 4b: a server that echoes what the writer sent (its Authorization header, the
// URL's query, a custom key header) into an error body must not get a credential into anything
// the writer reports: BatchError / SendError / LostDataError (messages, `body`, every string
// property, util.inspect), 'response' / 'retry' / 'error' events, onError. The excerpt is
// redacted inside the transport, so both ways of sending are checked: from the I/O thread and
// from the calling thread.
import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LostDataError, RemoteWriter, SendError } from '../../src/index.js'
import type { Item, RemoteWriterOptions } from '../../src/index.js'
import { startReceiver } from '../support/fake-server.js'
import type { CapturedRequest, Handler, Receiver } from '../support/fake-server.js'

const T0 = 1_700_000_000_000
const items = (n: number): Item[] => Array.from({ length: n }, (_, i) => ({ metric: { __name__: 'echo_test', i: String(i) }, values: [i], timestamps: [T0 + i] }))

const TOKEN = 'tok-SECRET-0123456789abcdef'
const PASSWORD = 'pw-SECRET "q" <&> %/ ü:9' // every encoding of it differs from it
const URL_PASSWORD = 'urlpw-SECRET-7'
const API_KEY = 'key-SECRET-42'
const QUERY_KEY = 'q-SECRET-99'

/** What every form of each secret keeps (raw, JSON, percent-encoded); their base64 forms are checked apart. */
const MARKER = 'SECRET'
const basicOf = (user: string, pw: string): string => Buffer.from(`${user}:${pw}`).toString('base64')

/** Every form of what the server was sent, echoed: raw, JSON, percent-encoded, Go's JSON, basic decoded. */
function echo (r: CapturedRequest): string {
  const h = r.headers
  const auth = String(h.authorization ?? '')
  const basic = auth.startsWith('Basic ') ? Buffer.from(auth.slice(6), 'base64').toString('utf8') : ''
  const pw = basic.slice(basic.indexOf(':') + 1)
  return [
    `you sent ${JSON.stringify(h)} to ${r.url}`,
    `raw: ${auth} ${basic} ${String(h['x-api-key'] ?? '')}`,
    `encoded: ${encodeURIComponent(pw)} json: ${JSON.stringify(pw)} go: ${JSON.stringify(pw).replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`)}`,
  ].join('\n')
}

/** Every string a user could print of a value: JSON, inspect, messages, stacks, causes, nested errors. */
function renderings (x: unknown, depth = 0): string[] {
  const out = [JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ?? '', inspect(x, { depth: 10, showHidden: true })]
  if (x instanceof Error) {
    out.push(x.message, x.stack ?? '', String(x))
    for (const k of Object.getOwnPropertyNames(x)) out.push(String((x as unknown as Record<string, unknown>)[k]))
    if (depth < 5 && x.cause !== undefined) out.push(...renderings(x.cause, depth + 1))
    if (x instanceof SendError || x instanceof LostDataError) {
      for (const e of x instanceof SendError ? x.errors : x.summary.errors) out.push(...renderings(e, depth + 1))
    }
  }
  return out
}

function expectNoSecret (text: string, what: string): void {
  expect(text.includes(MARKER), `${what}: a secret leaked`).toBe(false)
  for (const s of [basicOf('user', PASSWORD), basicOf('user', URL_PASSWORD)]) expect(text.includes(s), `${what}: basic credentials leaked`).toBe(false)
}

let rx: Receiver
let handler: Handler = () => undefined
beforeAll(async () => {
  await RemoteWriter.init()
  rx = await startReceiver({ handler: (r, n) => handler(r, n) })
})
afterAll(async () => { await rx.close() })

const configs: Array<[string, (url: string) => Partial<RemoteWriterOptions> & { url: string }]> = [
  ['bearer token, key header, query key', (url) => ({ url: `${url}?api_key=${QUERY_KEY}&tenant=t1`, auth: { bearerToken: TOKEN }, headers: { 'X-Api-Key': API_KEY } })],
  ['basic auth', (url) => ({ url, auth: { username: 'user', password: PASSWORD } })],
  ['user info in the URL', (url) => ({ url: url.replace('http://', `http://user:${URL_PASSWORD}@`) })],
]

describe.each([true, false])('a server that echoes credentials (ioThread: %s)', (ioThread) => {
  it.each(configs)('%s: 400 and 500 bodies, events, SendError, LostDataError carry none of them', async (_name, config) => {
    handler = (r, n) => ({ status: n % 2 === 1 ? 500 : 400, body: echo(r) })
    rx.requests.length = 0
    const seen: unknown[] = []
    const w = new RemoteWriter({ ...config(rx.url), ioThread, minBackoff: 1, maxBackoff: 2, maxRetries: 1, concurrency: 1, onError: (e) => seen.push(e) })
    for (const ev of ['response', 'retry', 'error']) w.on(ev, (e: unknown) => seen.push(e))
    seen.push(await w.send(items(3)).then(() => undefined, (e: unknown) => e))
    w.write(items(2))
    seen.push(await w.close().then(() => undefined, (e: unknown) => e), w.stats())
    expect(seen.some((x) => x instanceof SendError)).toBe(true)
    expect(seen.some((x) => x instanceof LostDataError)).toBe(true)
    // The server did get (and echo) the credentials, and its bodies did reach the reports.
    expect(rx.requests.length).toBeGreaterThanOrEqual(3)
    expect(rx.requests.every((r) => echo(r).includes('SECRET'))).toBe(true)
    const text = seen.flatMap((x) => renderings(x)).join('\n')
    expect(text).toContain('HTTP 500: you sent')
    expect(text).toContain('HTTP 400: you sent')
    expect(text).toContain('[REDACTED]')
    expectNoSecret(text, _name)
  })

  it('a secret cut by the end of the 1 KiB excerpt, or by the end of the body, shows no piece of it', async () => {
    const L = TOKEN.length
    const bodies = [
      // the token across the 1 KiB mark, or ending exactly at it
      ...[4, 12, 1, L, L + 1].map((before) => `${'x'.repeat(1024 - before)}${TOKEN}${'y'.repeat(100)}`),
      // the body itself ends inside the token
      `${'x'.repeat(10)}${TOKEN.slice(0, 12)}`, `${'x'.repeat(1000)}${TOKEN.slice(0, 5)}`,
    ]
    for (const b of bodies) {
      handler = () => ({ status: 400, body: b })
      const w = new RemoteWriter({ url: rx.url, auth: { bearerToken: TOKEN }, ioThread, maxRetries: 0 })
      const err = await w.send(items(1)).then(() => undefined, (e: unknown) => e) as SendError
      await w.close().catch(() => {})
      const body = err.errors[0].body ?? ''
      // The text before it, then the mark (cut short itself when it falls on the 1 KiB mark).
      const rest = body.replace(/^x+/, '')
      expect(body.startsWith('x'.repeat(10))).toBe(true)
      expect(rest.length > 0 && '[REDACTED]'.startsWith(rest.slice(0, 10)), rest).toBe(true)
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(1024)
      // Not even its first 4 characters.
      for (const text of renderings(err)) expect(text.includes(TOKEN.slice(0, 4)), b.slice(-40)).toBe(false)
    }
  })
})
