/**
 * Secrets in text: what stands in for them, and URLs as they may be shown (see also
 * transport/redactor.ts, which removes what the writer sent from anything shown).
 */
/** What stands in for a secret in anything shown: messages, excerpts, events, printed URLs. */
export const REDACTED = '[REDACTED]'

/**
 * A URL as it may be shown: scheme, host and path. Never its user info (`user:password@`), query
 * or fragment, which may carry credentials. Never throws: what is not a parsable URL comes out as
 * `(not a valid URL)`, without its text.
 */
export function safeUrl (url: unknown): string {
  const u = URL.canParse(String(url)) ? new URL(String(url)) : undefined
  return u === undefined ? '(not a valid URL)' : `${u.protocol}//${u.host}${u.pathname}`
}

