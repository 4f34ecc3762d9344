/**
 * The Redactor: removes what the writer sent as secrets (in every encoding) from anything shown:
 * server answers, transport errors, events.
 */
import { IoError } from '../errors.js'
import { REDACTED } from '../redact.js'

/**
 * Cuts secrets out of text: every occurrence of each secret, as given, percent-encoded and
 * JSON-escaped (the forms a server echoes them in), and a text that ends with the start of one
 * (an answer cut short inside it). A trailing piece shorter than half of a secret, and shorter
 * than 4 characters, is left: it says nothing of the secret.
 */
export class Redactor {
  readonly #forms: string[]
  /** Bytes (UTF-8) of the longest form: read this much past an excerpt's end to see any secret it cuts. */
  readonly longest: number

  constructor (secrets: Iterable<string | undefined>) {
    const forms = new Set<string>()
    for (const s of secrets) {
      if (typeof s !== 'string' || s === '') continue
      const json = JSON.stringify(s).slice(1, -1)
      forms.add(s)
      forms.add(json)
      forms.add(json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)) // as Go escapes it
      try {
        forms.add(encodeURIComponent(s))
      } catch { /* a lone surrogate: it has no percent-encoded form */ }
    }
    this.#forms = [...forms]
    this.longest = this.#forms.reduce((n, f) => Math.max(n, Buffer.byteLength(f)), 0)
  }

  /** `text` with every secret (and a trailing start of one) replaced by REDACTED. */
  redact (text: string): string {
    const cut: Array<[number, number]> = []
    for (const f of this.#forms) {
      for (let i = text.indexOf(f); i >= 0; i = text.indexOf(f, i + 1)) cut.push([i, i + f.length])
      const min = Math.min(4, Math.ceil(f.length / 2))
      for (let p = Math.max(0, text.length - f.length + 1); p <= text.length - min; p++) {
        if (text.charCodeAt(p) === f.charCodeAt(0) && f.startsWith(text.slice(p))) {
          cut.push([p, text.length])
          break
        }
      }
    }
    if (cut.length === 0) return text
    cut.sort((a, b) => a[0] - b[0])
    let out = ''
    let at = 0
    for (let k = 0; k < cut.length;) {
      const start = cut[k][0]
      let end = cut[k][1]
      for (k++; k < cut.length && cut[k][0] <= end; k++) end = Math.max(end, cut[k][1])
      out += text.slice(at, start) + REDACTED
      at = end
    }
    return out + text.slice(at)
  }

  /**
   * `err` when nothing in it shows a secret (its message, stack, string properties, causes);
   * otherwise an IoError with the redacted message and the same `code`, which shows none.
   */
  error (err: unknown): unknown {
    if (this.#forms.length === 0 || !this.#leaks(err, 0)) return err
    const e = err as { message?: unknown, code?: unknown }
    return new IoError(this.redact(String(e?.message ?? err)), typeof e?.code === 'string' ? e.code : undefined)
  }

  /** Whether a string, or an error, array or plain object (3 levels deep), shows a secret. */
  #leaks (v: unknown, depth: number): boolean {
    if (typeof v === 'string') return this.redact(v) !== v
    if (v === null || typeof v !== 'object' || depth > 3) return false
    const proto: unknown = Object.getPrototypeOf(v)
    if (!(v instanceof Error || Array.isArray(v) || proto === Object.prototype || proto === null)) return false // a socket, say
    const names = new Set([...Object.getOwnPropertyNames(v), 'message', 'stack', 'cause'])
    return [...names].some((k) => {
      try {
        return this.#leaks((v as Record<string, unknown>)[k], depth + 1)
      } catch {
        return false // a getter that throws shows nothing
      }
    })
  }
}
