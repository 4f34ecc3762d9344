/**
 * The transport layer (this folder) is how a sealed request reaches the server and what came
 * back, on the writer's thread (sender.ts) or on the process's I/O thread (io-thread.ts,
 * io-worker.ts). It knows nothing of the codec or the writer: bodies in, outcomes out
 * (attempt.ts), every retry decision left to the writer.
 *
 * This file: the HTTP transport over undici: builds the dispatcher (a keep-alive Pool, a proxy agent, or one
 * the caller injects), the remote-write headers, and runs one attempt: POST, read at most
 * 1 KiB of an error body, always consume or discard the rest so the connection is reused.
 *
 * Secrets (Authorization, user info in the URL, the proxy's credentials, secret-looking headers
 * and query parameters) live only in the header object and URLs handed to undici. Nothing here
 * puts them in an error, an event or a log line, and a server that echoes them back does not
 * get them through either: each excerpt of an answer, and each transport error, is redacted
 * (every credential this transport sends, in every form it sends it) before it leaves here.
 */
import { EnvHttpProxyAgent, Pool, ProxyAgent } from 'undici'
import type { Dispatcher } from 'undici'
import { InvalidArgumentError, TimeoutError } from '../errors.js'
import { safeUrl } from '../redact.js'
import { Redactor } from './redactor.js'
import { USER_AGENT } from '../version.js'


/** Headers a caller may not set (Prometheus's reserved list plus Authorization, compared lowercased). */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'host', 'content-encoding', 'content-length', 'content-type', 'user-agent', 'connection', 'keep-alive',
  'proxy-authenticate', 'proxy-authorization', 'www-authenticate', 'accept-encoding',
  'x-prometheus-remote-write-version', 'x-prometheus-remote-read-version', 'x-amz-date',
  'x-amz-security-token', 'x-amz-content-sha256', 'authorization', 'transfer-encoding', 'retry-attempt',
  'expect', 'upgrade',
])

/** An HTTP field name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** A field value undici will send: no CR, LF or NUL. */
const BAD_VALUE = /[\r\n\0]/

/** Credentials: HTTP basic, or a bearer token. */
export type Auth = { username: string, password: string } | { bearerToken: string }

/** TLS settings for https URLs. */
export interface TlsOptions {
  /** Trusted CA certificates (PEM), instead of Node's defaults. */
  ca?: string | Buffer | Array<string | Buffer>
  /** Client certificate (PEM), for mutual TLS. */
  cert?: string | Buffer
  /** Client private key (PEM), for mutual TLS. */
  key?: string | Buffer
  /** Server name for SNI and certificate checks. */
  servername?: string
  /** Verify the server's certificate. Default true. */
  rejectUnauthorized?: boolean
}

/** What the transport needs to know. */
export interface TransportOptions {
  url: string | URL
  headers?: Record<string, string>
  auth?: Auth
  tenant?: string
  tls?: TlsOptions
  proxy?: string | URL
  useEnvProxy?: boolean
  dispatcher?: Dispatcher
  connections: number
}

/** The result of one attempt that got an HTTP answer. */
export interface HttpAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  /** At most the first 1 KiB of the body, as text; '' for 2xx. */
  body: string
}

const ERROR_BODY_LIMIT = 1024
/** Past this much body we stop reading and drop the connection instead. */
const DRAIN_LIMIT = 256 * 1024

/** Header and query parameter names whose values are taken for credentials. */
const SECRET_NAME = /auth|token|secret|passw|pwd|key|cookie|session|signature|credential|bearer|jwt/i
/** What undici's ProxyAgent speaks. */
const PROXY_SCHEMES = ['http:', 'https:', 'socks:', 'socks5:']
/** The proxy variables EnvHttpProxyAgent reads. */
const PROXY_ENV = ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY']

/**
 * `value` as a URL of one of `schemes`, or an InvalidArgumentError naming `name` and never
 * showing the value (it may hold a password).
 */
function parseUrl (value: unknown, name: string, schemes = ['http:', 'https:']): URL {
  let url: URL
  try {
    url = new URL(String(value))
  } catch {
    throw new InvalidArgumentError(`invalid ${name}: not a valid URL (its text is not shown: it may hold credentials)`)
  }
  if (!schemes.includes(url.protocol)) throw new InvalidArgumentError(`invalid ${name}: must be a URL with scheme ${schemes.join(' or ')}`)
  return url
}

const decoded = (s: string): string => {
  try {
    return decodeURIComponent(s)
  } catch {
    return s
  }
}

/** A URL's password and query secrets, as written and decoded, and the basic credentials made of its user info. */
function urlSecrets (url: URL): string[] {
  const out = [url.password, decoded(url.password)]
  if (url.username !== '' || url.password !== '') out.push(Buffer.from(`${decoded(url.username)}:${decoded(url.password)}`).toString('base64'))
  // A user name without a password is a token (https://TOKEN@host/).
  if (url.password === '') out.push(url.username, decoded(url.username))
  for (const [k, v] of url.searchParams) if (SECRET_NAME.test(k)) out.push(v)
  for (const part of url.search.slice(1).split('&')) {
    const i = part.indexOf('=')
    if (i > 0 && SECRET_NAME.test(decoded(part.slice(0, i)))) out.push(part.slice(i + 1))
  }
  return out
}

export class Transport {
  readonly origin: string
  readonly path: string
  /** The URL without user info or query, safe to show. */
  readonly displayUrl: string
  /** Cuts every credential this transport sends out of text and errors that leave it. */
  readonly redactor: Redactor
  readonly #dispatcher: Dispatcher
  readonly #owned: boolean
  readonly #headers: Record<string, string>
  readonly #headersV2: Record<string, string>
  readonly #active = new Set<Attempt>()
  #aborted: unknown = undefined

  constructor (options: TransportOptions) {
    const url = parseUrl(options.url, 'url')
    this.origin = url.origin
    this.path = `${url.pathname}${url.search}`
    this.displayUrl = safeUrl(url)
    const secrets = urlSecrets(url)

    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (RESERVED_HEADERS.has(name.toLowerCase())) {
        throw new InvalidArgumentError(`header ${JSON.stringify(name)} is reserved and cannot be set`)
      }
      if (!TOKEN.test(name)) throw new InvalidArgumentError(`header name ${JSON.stringify(name)} is not a valid HTTP field name`)
      if (typeof value !== 'string') throw new InvalidArgumentError(`header ${JSON.stringify(name)} must be a string`)
      if (BAD_VALUE.test(value)) throw new InvalidArgumentError(`header ${JSON.stringify(name)} has a value with CR, LF or NUL`)
      headers[name.toLowerCase()] = value
      if (SECRET_NAME.test(name)) secrets.push(value)
    }
    let auth = options.auth
    if (auth === undefined && (url.username || url.password)) {
      auth = { username: decoded(url.username), password: decoded(url.password) }
    }
    if (auth !== undefined) {
      if ('bearerToken' in auth && typeof auth.bearerToken === 'string') {
        headers.authorization = `Bearer ${auth.bearerToken}`
        secrets.push(auth.bearerToken)
      } else if ('username' in auth && typeof auth.username === 'string') {
        const basic = Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')
        headers.authorization = `Basic ${basic}`
        secrets.push(basic, String(auth.password ?? ''))
        if (!auth.password) secrets.push(auth.username) // a token as the user name
      } else if ('bearerToken' in auth) {
        // Most often `process.env.TOKEN` with TOKEN not set: say so, not that the shape is wrong.
        throw new InvalidArgumentError(`auth.bearerToken must be a string, got ${auth.bearerToken === null ? 'null' : typeof auth.bearerToken} (is the variable it is read from set?)`)
      } else if ('username' in auth) {
        throw new InvalidArgumentError(`auth.username must be a string, got ${auth.username === null ? 'null' : typeof auth.username} (is the variable it is read from set?)`)
      } else {
        throw new InvalidArgumentError('auth must be { username, password } or { bearerToken }')
      }
    }
    if (options.tenant !== undefined) {
      if (headers['x-scope-orgid'] !== undefined) throw new InvalidArgumentError('set the tenant either with tenant or with an X-Scope-OrgID header, not both')
      if (BAD_VALUE.test(options.tenant)) throw new InvalidArgumentError('tenant has CR, LF or NUL')
      headers['x-scope-orgid'] = options.tenant
    }
    headers['content-encoding'] = 'snappy'
    headers['user-agent'] = USER_AGENT
    this.#headers = { ...headers, 'content-type': 'application/x-protobuf', 'x-prometheus-remote-write-version': '0.1.0' }
    // Exactly this Content-Type, with no space after ';' (receivers compare it as is: protocol.md §2.2).
    this.#headersV2 = { ...headers, 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request', 'x-prometheus-remote-write-version': '2.0.0' }

    // The proxies' credentials (undici sends them as Proxy-Authorization); a proxy URL that does
    // not parse is refused here, by name, before undici's TypeError could show it.
    const proxy = options.proxy === undefined ? undefined : parseUrl(options.proxy, 'proxy', PROXY_SCHEMES)
    if (proxy !== undefined) secrets.push(...urlSecrets(proxy))
    if (options.useEnvProxy === true && options.dispatcher === undefined && proxy === undefined) {
      for (const name of PROXY_ENV) {
        const v = process.env[name]
        if (v) secrets.push(...urlSecrets(parseUrl(v, `proxy in the environment (${name})`, PROXY_SCHEMES)))
      }
    }
    this.redactor = new Redactor(secrets)

    const connect = options.tls === undefined ? undefined : { ...options.tls }
    if (options.dispatcher !== undefined) {
      this.#dispatcher = options.dispatcher
      this.#owned = false
    } else if (proxy !== undefined) {
      this.#dispatcher = new ProxyAgent({ uri: proxy.href, requestTls: connect, connections: options.connections })
      this.#owned = true
    } else if (options.useEnvProxy === true) {
      this.#dispatcher = new EnvHttpProxyAgent({ connect, connections: options.connections })
      this.#owned = true
    } else {
      this.#dispatcher = new Pool(this.origin, { connections: options.connections, connect, pipelining: 1 })
      this.#owned = true
    }
  }

  /**
   * POSTs `body`. Resolves with the answer (any status); rejects on transport errors, when
   * no complete answer arrives within `timeoutMs` (isTimeout() tells), and after abort().
   * `attempt` > 1 adds Prometheus's `Retry-Attempt` header; `v2` sends the Remote Write 2.0
   * Content-Type and version.
   *
   * Built on dispatch() with a handler of its own, not request(): no body stream, no
   * AbortSignal and no promise chain per attempt, which costs a third of request()'s time.
   */
  post (body: Uint8Array, attempt: number, timeoutMs: number, v2 = false): Promise<HttpAnswer> {
    if (this.#aborted !== undefined) return Promise.reject(this.#aborted)
    const base = v2 ? this.#headersV2 : this.#headers
    const headers = attempt > 1 ? { ...base, 'retry-attempt': String(attempt - 1) } : base
    return new Promise((resolve, reject) => {
      const a = new Attempt(this, resolve, reject, timeoutMs)
      this.#active.add(a)
      try {
        this.#dispatcher.dispatch({
          origin: this.origin,
          path: this.path,
          method: 'POST',
          headers,
          body,
          // Backstops only: the attempt's own timer is the precise bound.
          headersTimeout: Math.max(timeoutMs, 1000),
          bodyTimeout: Math.max(timeoutMs, 1000),
        }, a)
      } catch (err) {
        a.settle(err)
      }
    })
  }

  /** Ends every attempt in flight with `reason`, and makes later post() calls reject with it. */
  abort (reason: unknown): void {
    this.#aborted ??= reason ?? new Error('aborted')
    for (const a of [...this.#active]) a.cancel(this.#aborted)
  }

  /** @internal An attempt settled. */
  done (a: Attempt): void {
    this.#active.delete(a)
  }

  /**
   * Closes the dispatcher if this transport created it: waiting for what it has under way, or,
   * with `force` (after an abort), at once, dropping its connections.
   */
  async close (force = false): Promise<void> {
    if (!this.#owned) return
    if (force) await this.#dispatcher.destroy()
    else await this.#dispatcher.close()
  }
}

/** Whether a post() rejection was its timeout. */
export function isTimeout (err: unknown): boolean {
  const code = (err as { code?: string })?.code
  return code === 'ERR_PRW_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT'
}


/**
 * One POST: undici's dispatch handler, its timer, and the answer it collects. It keeps at most
 * the first 1 KiB of a non-2xx body and reads on, up to DRAIN_LIMIT, so the connection can be
 * reused; past that it settles and drops the connection.
 */
class Attempt implements Dispatcher.DispatchHandler {
  readonly #transport: Transport
  /** Bytes of an error body kept: the excerpt, and enough past it to see a secret its end cuts. */
  readonly #keep: number
  readonly #resolve: (a: HttpAnswer) => void
  readonly #reject: (e: unknown) => void
  readonly #timer: NodeJS.Timeout
  #controller: Dispatcher.DispatchController | undefined = undefined
  #settled = false
  #status = 0
  #headers: Record<string, string | string[] | undefined> = {}
  #chunks: Buffer[] | undefined = undefined
  #kept = 0
  #read = 0

  constructor (transport: Transport, resolve: (a: HttpAnswer) => void, reject: (e: unknown) => void, timeoutMs: number) {
    this.#transport = transport
    this.#keep = ERROR_BODY_LIMIT + transport.redactor.longest
    this.#resolve = resolve
    this.#reject = reject
    this.#timer = setTimeout(() => this.cancel(new TimeoutError(`no answer within ${timeoutMs} ms`)), timeoutMs)
  }

  /** Ends the attempt with `reason`: now if it is under way, or as soon as undici starts it. */
  cancel (reason: unknown): void {
    if (this.#settled) return
    this.settle(reason)
    this.#controller?.abort(reason as Error)
  }

  /** Settles once: with the answer collected so far, or with `error`. */
  settle (error?: unknown): void {
    if (this.#settled) return
    this.#settled = true
    clearTimeout(this.#timer)
    this.#transport.done(this)
    const redactor = this.#transport.redactor
    if (error !== undefined) {
      this.#reject(redactor.error(error))
      return
    }
    const chunks = this.#chunks
    const body = chunks === undefined ? '' : excerpt(redactor.redact(utf8(Buffer.concat(chunks), this.#kept === this.#keep)))
    this.#resolve({ status: this.#status, headers: this.#headers, body })
  }

  onRequestStart (controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.#settled) controller.abort(new Error('attempt ended before it started'))
  }

  onResponseStart (_controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    this.#status = statusCode
    this.#headers = headers
    if (statusCode < 200 || statusCode >= 300) this.#chunks = []
  }

  onResponseData (controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#read += chunk.length
    const chunks = this.#chunks
    if (chunks !== undefined && this.#kept < this.#keep) {
      const part = chunk.subarray(0, this.#keep - this.#kept)
      chunks.push(Buffer.from(part)) // undici may reuse the chunk's memory
      this.#kept += part.length
    }
    if (this.#read > DRAIN_LIMIT) {
      this.settle()
      controller.abort(new Error('answer body too long; connection dropped'))
    }
  }

  onResponseEnd (): void {
    this.settle()
  }

  onResponseError (_controller: Dispatcher.DispatchController, err: Error): void {
    // After the status line, a body cut short still gave the answer and what it had.
    if (this.#status !== 0) this.settle()
    else this.settle(err)
  }
}

/** Bytes as UTF-8 text; when `cut` (the body went on), without a character cut in half at the end. */
function utf8 (bytes: Buffer, cut: boolean): string {
  return (cut ? bytes.subarray(0, whole(bytes, bytes.length)) : bytes).toString('utf8')
}

/** The largest end <= `end` that does not cut a UTF-8 character of `bytes` in half. */
function whole (bytes: Buffer, end: number): number {
  if (end >= bytes.length) {
    // Cut at the buffer's end: drop an incomplete last character.
    let back = 0
    while (back < 3 && end - back - 1 >= 0 && (bytes[end - back - 1] & 0xc0) === 0x80) back++
    const lead = bytes[end - back - 1]
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1
    return need > back + 1 ? end - back - 1 : end
  }
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--
  return end
}

/** The first 1 KiB (at most) of redacted text, not cutting a UTF-8 character in half. */
function excerpt (text: string): string {
  const bytes = Buffer.from(text, 'utf8')
  return bytes.length <= ERROR_BODY_LIMIT ? text : bytes.subarray(0, whole(bytes, ERROR_BODY_LIMIT)).toString('utf8')
}
