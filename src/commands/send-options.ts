/**
 * The flags every command that sends shares (endpoint, auth, TLS, timeout, concurrency, proxy,
 * protocol), read into writer options; and the number parsers of every command. Secrets stay
 * out of messages.
 */
import { readFileSync } from 'node:fs'
import type { ParseArgsConfig } from 'node:util'
import type { Auth, RemoteWriterOptions, TlsOptions } from '../index.js'
import { UsageError } from './args.js'

export const SEND_USAGE = `sending options (every command that sends):
  --url URL                  endpoint (env PROMETHEUS_REMOTE_WRITE_URL)
  --header 'Name: value'     extra header (repeatable)
  --bearer-token TOKEN       Authorization: Bearer (env PROMETHEUS_REMOTE_WRITE_TOKEN)
  --bearer-token-file FILE   the token, read from a file
  --basic-auth USER:PASS     HTTP basic auth
  --basic-auth-file FILE     USER:PASS, read from a file
  --tenant ID                X-Scope-OrgID
  --ca-file FILE  --cert-file FILE  --key-file FILE  --server-name NAME  --insecure
  --timeout MS               per attempt (default 30000, at most 2147483647)
  --close-timeout MS         at the end, give up waiting after MS: what is not acknowledged
                             by then is reported failed (default: wait; up to ~150 s a request)
  --concurrency N            requests in flight (default 4)
  --proxy URL  --env-proxy   a proxy, or HTTP(S)_PROXY / NO_PROXY from the environment
  --protocol v1|v2|auto      Remote Write 1.0 (default), 2.0, or 2.0 falling back to 1.0`

export const SEND_OPTIONS = {
  url: { type: 'string' },
  header: { type: 'string', multiple: true },
  'bearer-token': { type: 'string' },
  'bearer-token-file': { type: 'string' },
  'basic-auth': { type: 'string' },
  'basic-auth-file': { type: 'string' },
  tenant: { type: 'string' },
  'ca-file': { type: 'string' },
  'cert-file': { type: 'string' },
  'key-file': { type: 'string' },
  'server-name': { type: 'string' },
  insecure: { type: 'boolean' },
  timeout: { type: 'string' },
  'close-timeout': { type: 'string' },
  concurrency: { type: 'string' },
  proxy: { type: 'string' },
  'env-proxy': { type: 'boolean' },
  protocol: { type: 'string' },
} as const satisfies ParseArgsConfig['options']

export type SendValues = { [K in keyof typeof SEND_OPTIONS]?: (typeof SEND_OPTIONS)[K] extends { multiple: true } ? string[] : (typeof SEND_OPTIONS)[K] extends { type: 'boolean' } ? boolean : string }

/** The endpoint and writer options from the common flags and the environment. Secrets stay out of messages. */
export function sendOptions (v: SendValues): { url: string | undefined, writer: Omit<RemoteWriterOptions, 'url'> } {
  const headers: Record<string, string> = {}
  for (const h of v.header ?? []) {
    const i = h.indexOf(':')
    if (i <= 0) throw new UsageError(`--header must be 'Name: value', got a value without a name`)
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim()
  }
  let auth: Auth | undefined
  const token = v['bearer-token'] ?? (v['bearer-token-file'] ? readFlagFile(v['bearer-token-file'], '--bearer-token-file', 'utf8').trim() : undefined) ??
    process.env.PROMETHEUS_REMOTE_WRITE_TOKEN
  const basic = v['basic-auth'] ?? (v['basic-auth-file'] ? readFlagFile(v['basic-auth-file'], '--basic-auth-file', 'utf8').trim() : undefined)
  if (basic !== undefined) {
    const i = basic.indexOf(':')
    if (i < 0) throw new UsageError('--basic-auth must be USER:PASS')
    auth = { username: basic.slice(0, i), password: basic.slice(i + 1) }
  } else if (token) {
    auth = { bearerToken: token }
  }
  let tls: TlsOptions | undefined
  if (v['ca-file'] || v['cert-file'] || v['key-file'] || v['server-name'] || v.insecure) {
    tls = {
      ca: v['ca-file'] ? readFlagFile(v['ca-file'], '--ca-file') : undefined,
      cert: v['cert-file'] ? readFlagFile(v['cert-file'], '--cert-file') : undefined,
      key: v['key-file'] ? readFlagFile(v['key-file'], '--key-file') : undefined,
      servername: v['server-name'],
      rejectUnauthorized: v.insecure ? false : undefined,
    }
  }
  const protocol = v.protocol ?? 'v1'
  if (protocol !== 'v1' && protocol !== 'v2' && protocol !== 'auto') throw new UsageError('--protocol must be v1, v2 or auto')
  const url = v.url ?? process.env.PROMETHEUS_REMOTE_WRITE_URL
  // Not echoed: a URL may carry credentials.
  if (url !== undefined && !/^https?:\/\/./i.test(url)) {
    throw new UsageError(`${v.url === undefined ? 'PROMETHEUS_REMOTE_WRITE_URL' : '--url'} must be a whole URL starting with http:// or https://, e.g. http://127.0.0.1:9090/api/v1/write`)
  }
  return {
    url,
    writer: {
      protocol,
      headers,
      auth,
      tenant: v.tenant,
      tls,
      timeout: v.timeout === undefined ? undefined : int(v.timeout, 30_000, '--timeout'),
      closeTimeout: v['close-timeout'] === undefined ? undefined : int(v['close-timeout'], 0, '--close-timeout'),
      concurrency: int(v.concurrency, 4, '--concurrency'),
      proxy: v.proxy,
      useEnvProxy: v['env-proxy'] === true,
    },
  }
}

/** A file a flag names, read whole; a plain message naming the flag when it cannot be read (never its content). */
function readFlagFile (path: string, flag: string): Buffer
function readFlagFile (path: string, flag: string, encoding: 'utf8'): string
function readFlagFile (path: string, flag: string, encoding?: 'utf8'): Buffer | string {
  try {
    return encoding === undefined ? readFileSync(path) : readFileSync(path, encoding)
  } catch (err) {
    const code = (err as { code?: string }).code
    throw new UsageError(`${flag}: cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message}`)
  }
}

/** A whole number flag (>= 0), or `fallback` when absent. The message names `flag`. */
export function int (v: string | undefined, fallback: number, flag = 'the value'): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (v.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new UsageError(`${flag} must be a whole number >= 0, got ${JSON.stringify(v)}`)
  return n
}

/** A number flag (>= 0, and at most `max`), or `fallback` when absent. The message names `flag`. */
export function num (v: string | undefined, fallback: number, flag = 'the value', max = Infinity): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > max) {
    throw new UsageError(`${flag} must be a number ${max === Infinity ? '>= 0' : `from 0 to ${max}`}, got ${JSON.stringify(v)}`)
  }
  return n
}
