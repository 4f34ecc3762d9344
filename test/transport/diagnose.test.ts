/**
 * The diagnosis of failed attempts: real transport failures (a closed port, a self-signed
 * certificate, a certificate for another name, https:// to a plain port, http:// to a TLS port,
 * a server that does not speak HTTP, a name that does not resolve), on both send paths, reach
 * the 'retry' event and the BatchError with their cause; HTTP answers by status and body.
 */
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BatchError, RemoteWriter, SendError } from '../../src/index.js'
import type { Diagnosis, RetryEvent } from '../../src/index.js'
import { diagnoseAnswer, diagnoseError } from '../../src/transport/diagnose.js'
import { deadUrl } from '../support/fake-server.js'

const tlsDir = new URL('../support/tls/', import.meta.url)
const key = readFileSync(new URL('key.pem', tlsDir))
const cert = readFileSync(new URL('cert.pem', tlsDir))
const servers: net.Server[] = []
const port = (s: net.Server): number => (s.address() as AddressInfo).port

async function listen<S extends net.Server> (s: S): Promise<S> {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  servers.push(s)
  return s
}

let tlsPort = 0
let plainPort = 0
let sshPort = 0
beforeAll(async () => {
  tlsPort = port(await listen(https.createServer({ key, cert }, (_q, s) => { s.statusCode = 204; s.end() })))
  plainPort = port(await listen(http.createServer((_q, s) => { s.statusCode = 204; s.end() })))
  sshPort = port(await listen(net.createServer((c) => { c.end('SSH-2.0-OpenSSH_9.0\r\n') })))
})
afterAll(() => { for (const s of servers) s.close() })

/** Sends one sample with one retry; resolves with the retry event's and the BatchError's diagnosis. */
async function diagnose (url: string, ioThread: boolean, extra: object = {}): Promise<{ retry: Diagnosis | undefined, failed: Diagnosis | undefined }> {
  const w = new RemoteWriter({ url, ioThread, maxRetries: 1, minBackoff: 1, maxBackoff: 2, ...extra })
  let retry: Diagnosis | undefined
  w.on('retry', (e: RetryEvent) => { retry ??= e.diagnosis })
  try {
    await w.send({ metric: { __name__: 'x' }, values: [1], timestamps: [Date.now()] })
    return { retry, failed: undefined }
  } catch (err) {
    expect(err).toBeInstanceOf(SendError)
    const e = (err as SendError).errors[0]
    expect(e).toBeInstanceOf(BatchError)
    return { retry, failed: e.diagnosis }
  } finally {
    await w.close().catch(() => {}) // LostDataError: the failure was seen above
  }
}

describe.each([['the I/O thread', true], ['inline', false]])('transport failures, %s', (_name, ioThread) => {
  it.each([
    ['a closed port', () => deadUrl(), {}, 'refused', false],
    ['a self-signed certificate', () => `https://127.0.0.1:${tlsPort}/api/v1/write`, {}, 'tls-untrusted', true],
    ['a certificate for another name', () => `https://localhost:${tlsPort}/api/v1/write`, { tls: { ca: cert } }, 'tls-name', true],
    ['https:// to a plain port', () => `https://127.0.0.1:${plainPort}/api/v1/write`, {}, 'tls-not-tls', true],
    ['a server that is not HTTP', () => `http://127.0.0.1:${sshPort}/api/v1/write`, {}, 'not-http', true],
  ])('%s', async (_what, url, extra, cause, permanent) => {
    const { retry, failed } = await diagnose(await url(), ioThread as boolean, extra)
    expect(retry).toMatchObject({ cause, permanent })
    expect(failed).toMatchObject({ cause, permanent })
  })

  it('http:// to a TLS port is a closed connection', async () => {
    const { failed } = await diagnose(`http://127.0.0.1:${tlsPort}/api/v1/write`, ioThread as boolean)
    expect(failed?.cause).toBe('reset')
  })

  it('a name that does not resolve', async () => {
    const { failed } = await diagnose('http://no-such-host.invalid/api/v1/write', ioThread as boolean)
    // Without a reachable resolver the lookup fails for now (EAI_AGAIN) instead of for good.
    expect(['dns', 'dns-retry']).toContain(failed?.cause)
  })
})

describe('diagnoseAnswer', () => {
  it.each([
    [400, 'out of bounds', false, 'too-old', true],
    [400, 'out of order sample', false, 'too-old', true],
    [500, 'too old sample', false, 'too-old', true],
    [400, 'the sample has been rejected because its timestamp is too old (err-mimir-sample-timestamp-too-old)', false, 'too-old', true],
    [401, 'Unauthorized', false, 'auth', true],
    [403, '', false, 'auth', true],
    [404, '404 page not found', false, 'not-found', true],
    [405, 'method not allowed', false, 'method', true],
    [413, 'too large', false, 'too-large', true],
    [415, 'unsupported', false, 'protocol', true],
    [429, 'slow down', true, 'throttled', false],
    [429, 'slow down', false, 'throttled', true],
    [503, 'unavailable', true, 'server-error', false],
    [400, 'Client sent an HTTP request to an HTTPS server.', false, 'not-http', true],
    [400, 'invalid label name', false, 'rejected', true],
  ])('%i %j', (status, body, retryable, cause, permanent) => {
    expect(diagnoseAnswer(status, body, retryable)).toMatchObject({ cause, permanent })
  })
})

describe('diagnoseError', () => {
  it.each([
    ['EAI_AGAIN', 'dns-retry', false],
    ['ENOTFOUND', 'dns', true],
    ['EHOSTUNREACH', 'unreachable', false],
    ['ECONNRESET', 'reset', false],
    ['UND_ERR_CONNECT_TIMEOUT', 'timeout', false],
    ['CERT_HAS_EXPIRED', 'tls-untrusted', true],
    ['ESOMETHINGELSE', 'network', false],
  ])('%s', (code, cause, permanent) => {
    expect(diagnoseError(Object.assign(new Error('x'), { code }))).toMatchObject({ cause, permanent })
  })

  it('a certificate for other names says which, or that it names none', () => {
    const named = Object.assign(new Error("Hostname/IP does not match certificate's altnames: Host: localhost. is not in the cert's altnames: DNS:example.test"), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
    expect(diagnoseError(named).title).toBe('certificate is not for this host name (it is for DNS:example.test)')
    const none = Object.assign(new Error("Hostname/IP does not match certificate's altnames: IP: 127.0.0.1 is not in the cert's list: "), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })
    expect(diagnoseError(none).title).toBe('certificate is not for this host name (it names no host: no subjectAltName)')
  })

  it('a timeout without an error', () => {
    expect(diagnoseError(undefined, true).cause).toBe('timeout')
  })
})
