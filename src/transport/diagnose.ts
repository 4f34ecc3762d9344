/**
 * Why an attempt failed, as someone would act on it: a transport error or an HTTP answer
 * becomes a cause (connection refused, an untrusted certificate, a sample too old, ...), with
 * whether waiting can heal it. The writer puts the diagnosis on its 'retry' events and on every
 * BatchError; the command line groups messages by it and stops on what cannot heal.
 *
 * Error codes are Node's and undici's, the same on both send paths (the I/O thread rebuilds
 * its errors with their code). Bodies are matched the way Prometheus 2.42, Mimir and
 * VictoriaMetrics word them (shared/docs/backends.md §4).
 */

import type { Diagnosis, FailureCause } from '../errors.js'

const TLS_UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED', 'CERT_REVOKED', 'CERT_SIGNATURE_FAILURE', 'CERT_CHAIN_TOO_LONG', 'INVALID_CA',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE', 'ERR_TLS_CERT_SIGNATURE_ALGORITHM_UNSUPPORTED',
])

const TLS_NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG'])

function d (cause: FailureCause, permanent: boolean, title: string): Diagnosis {
  return { cause, permanent, title }
}

/** The diagnosis of an attempt that got no answer: the transport's error (with its `code`). */
export function diagnoseError (error: unknown, timedOut = false): Diagnosis {
  if (timedOut) return d('timeout', false, 'no answer in time')
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined
  const message = error instanceof Error ? error.message : String(error)
  if (code === 'ECONNREFUSED') return d('refused', false, 'connection refused')
  if (code === 'ENOTFOUND') return d('dns', true, 'host name does not resolve')
  if (code === 'EAI_AGAIN') return d('dns-retry', false, 'host name lookup failed for now')
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EHOSTDOWN' || code === 'ENETDOWN') return d('unreachable', false, 'host unreachable')
  if (code !== undefined && TLS_UNTRUSTED.has(code)) return d('tls-untrusted', true, `certificate not trusted (${message})`)
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    // Node ends the message with the certificate's names, an empty list when it has none.
    const names = /.*(?:altnames|list): (.*)$/.exec(message)?.[1]?.trim() ?? ''
    return d('tls-name', true, `certificate is not for this host name (${names === '' ? 'it names no host: no subjectAltName' : `it is for ${names}`})`)
  }
  if ((code !== undefined && TLS_NOT_TLS.has(code)) || /wrong version number|packet length too long/i.test(message)) {
    return d('tls-not-tls', true, 'no TLS on this port')
  }
  if (/does not match the HTTP\/1\.1 protocol/i.test(message) || code?.startsWith('HPE_') === true) return d('not-http', true, 'the answer is not HTTP/1.1')
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || code === 'UND_ERR_CLOSED') return d('reset', false, 'connection closed before an answer')
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ERR_PRW_TIMEOUT') {
    return d('timeout', false, 'no answer in time')
  }
  return d('network', false, `network error${code === undefined ? '' : ` (${code})`}`)
}

/** Bodies that say samples were refused for their time (Prometheus, Mimir, Cortex). */
const TOO_OLD = /out of bounds|too old|out of order|sample-timestamp-too-old|sample-out-of-order|timestamp too old/i

/** The diagnosis of an HTTP answer that was not a success. `retryable` is the writer's own decision for it. */
export function diagnoseAnswer (status: number, body: string, retryable: boolean): Diagnosis {
  if (TOO_OLD.test(body) && status !== 429) return d('too-old', !retryable, 'samples refused for their time')
  if (status === 401 || status === 403) return d('auth', true, `HTTP ${status}: credentials refused`)
  if (status === 404) return d('not-found', true, 'HTTP 404: nothing at this path')
  if (status === 405) return d('method', true, 'HTTP 405: this path does not take POST')
  if (status === 413) return d('too-large', true, 'HTTP 413: request too large')
  if (status === 415) return d('protocol', true, 'HTTP 415: protocol not supported')
  if (status === 429) return d('throttled', !retryable, 'HTTP 429: too many requests')
  if (status >= 500) return d('server-error', !retryable, `HTTP ${status}`)
  if (status === 400 && /HTTP request to an HTTPS server|plain HTTP request was sent to HTTPS port/i.test(body)) return d('not-http', true, 'plain HTTP sent to an HTTPS server')
  return d('rejected', !retryable, `HTTP ${status}`)
}
