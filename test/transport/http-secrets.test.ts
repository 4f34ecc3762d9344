// Issue 12, defect 4 (b, c) at the transport: a url or proxy that does not parse is refused by
// name without its text (undici's TypeError kept the password in `.input`), a transport error
// that shows a credential is replaced before it leaves, and the redaction itself (every form a
// server echoes a secret in, a secret cut at the end, URLs safe to show).
import { inspect } from 'node:util'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { IoError, InvalidArgumentError, RemoteWriter, SendError } from '../../src/index.js'
import { REDACTED, safeUrl } from '../../src/redact.js'
import { Redactor } from '../../src/transport/redactor.js'
import { Transport } from '../../src/transport/http.js'
import type { TransportOptions } from '../../src/transport/http.js'

const T0 = 1_700_000_000_000
const all = (x: unknown): string => `${String(x)}\n${inspect(x, { depth: 10, showHidden: true })}\n${JSON.stringify(x)}`

/** What the constructor threw. */
function thrown (f: () => unknown): unknown {
  try {
    f()
  } catch (e) {
    return e
  }
  return undefined
}

beforeAll(async () => { await RemoteWriter.init() })

describe('options that do not parse', () => {
  const env = { ...process.env }
  afterEach(() => { process.env = { ...env } })

  it.each([
    ['proxy', { url: 'http://127.0.0.1:9/w', proxy: 'http://user:pw-SECRET-1@[not-a-host' }],
    ['proxy', { url: 'http://127.0.0.1:9/w', proxy: 'user:pw-SECRET-1@proxy:8080 with spaces' }],
    ['url', { url: 'http://user:pw-SECRET-1@[not-a-host/api/v1/write' }],
    ['url', { url: 'ftp://user:pw-SECRET-1@host/api/v1/write' }],
  ])('%s: an InvalidArgumentError naming it, without its text', (name, options) => {
    for (const ioThread of [true, false]) {
      const err = thrown(() => new RemoteWriter({ ...options, ioThread }))
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect((err as Error).message).toMatch(new RegExp(`^invalid ${name}: `))
      expect(all(err)).not.toContain('SECRET')
    }
  })

  it('a proxy in the environment that does not parse (useEnvProxy): named by its variable, without its text', () => {
    delete process.env.http_proxy
    delete process.env.https_proxy
    process.env.HTTPS_PROXY = 'http://user:pw-SECRET-2@[bad'
    const err = thrown(() => new RemoteWriter({ url: 'http://127.0.0.1:9/w', useEnvProxy: true }))
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as Error).message).toMatch(/^invalid proxy in the environment \(HTTPS_PROXY\): /)
    expect(all(err)).not.toContain('SECRET')
  })
})

describe('transport errors', () => {
  it("an error of the transport that shows a credential (a TypeError's .input, its message) is replaced by one that does not, keeping its code", async () => {
    const secret = 'tok-SECRET-3'
    const failing = {
      dispatch () {
        throw Object.assign(new TypeError(`bad request for Bearer ${secret}`), { code: 'ERR_INVALID_URL', input: `http://x:${secret}@h/` })
      },
      close: async () => {},
      destroy: async () => {},
    }
    const w = new RemoteWriter({ url: 'http://127.0.0.1:9/w', auth: { bearerToken: secret }, dispatcher: failing as never, maxRetries: 0 })
    const err = await w.send({ metric: { __name__: 'm' }, values: [1], timestamps: [T0] }).then(() => undefined, (e: unknown) => e) as SendError
    await w.close().catch(() => {})
    expect(err).toBeInstanceOf(SendError)
    const cause = err.errors[0].cause as IoError
    expect(cause).toBeInstanceOf(IoError)
    expect(cause.code).toBe('ERR_INVALID_URL')
    expect(cause.message).toBe(`bad request for Bearer ${REDACTED}`)
    expect(all(err)).not.toContain('SECRET')
    expect(all(err.errors[0])).not.toContain('SECRET')
  })

  it('an error that shows none is kept as it is', () => {
    const t = new Transport({ url: 'http://127.0.0.1:9/w', auth: { bearerToken: 'tok-SECRET-4' }, connections: 1 } satisfies TransportOptions)
    const e = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })
    expect(t.redactor.error(e)).toBe(e)
    void t.close()
  })
})

describe('Redactor', () => {
  it('cuts each secret as given, percent-encoded, JSON-escaped and as Go escapes it, overlapping ones whole', () => {
    const pw = 'p "w" <&> %/ ü'
    const r = new Redactor([pw, '', undefined, 'abcdef', 'defghi'])
    const json = JSON.stringify(pw).slice(1, -1)
    const go = json.replace(/[<>&]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`)
    expect(go).toContain('\\u003c')
    for (const f of [pw, encodeURIComponent(pw), json, go]) expect(r.redact(`a ${f} b`)).toBe(`a ${REDACTED} b`)
    expect(r.redact(`1 ${pw} 2 ${pw}`)).toBe(`1 ${REDACTED} 2 ${REDACTED}`)
    expect(r.redact('x abcdefghi y')).toBe(`x ${REDACTED} y`) // two secrets that overlap: one mark, nothing of either left
    expect(r.redact('nothing here')).toBe('nothing here')
    expect(new Redactor([]).redact('a b')).toBe('a b')
  })

  it('cuts the start of a secret at the end of the text (from 4 characters, or half of a short one)', () => {
    const r = new Redactor(['tok-SECRET-5', 'ab'])
    expect(r.redact('body ends tok-SEC')).toBe(`body ends ${REDACTED}`)
    expect(r.redact('body ends tok-')).toBe(`body ends ${REDACTED}`)
    expect(r.redact('body ends tok')).toBe('body ends tok')
    expect(r.redact('x a')).toBe(`x ${REDACTED}`)
    expect(r.redact('tok-SECRET-5')).toBe(REDACTED)
  })

  it('counts the longest form in bytes, to read that far past an excerpt', () => {
    expect(new Redactor(['ü']).longest).toBe(Buffer.byteLength(encodeURIComponent('ü')))
  })
})

describe('safeUrl', () => {
  it('shows scheme, host and path: never user info, query or fragment; never the text of what does not parse', () => {
    expect(safeUrl('http://user:pw-SECRET@h:9/api/v1/write?token=SECRET#SECRET')).toBe('http://h:9/api/v1/write')
    expect(safeUrl(new URL('https://TOKEN-SECRET@h/x'))).toBe('https://h/x')
    expect(safeUrl('http://user:pw-SECRET@[bad')).toBe('(not a valid URL)')
    expect(safeUrl(undefined)).toBe('(not a valid URL)')
  })
})
