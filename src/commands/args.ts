/**
 * The command line's own rules: usage errors (exit 2) that name the flag and suggest the
 * closest one for a typo, files checked before anything is sent, the exit codes, the words of
 * library messages turned into flags, and the command that resumes a run.
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { InvalidArgumentError } from '../index.js'

/** Exit codes, as `--help` and the README document them. */
export const EXIT = {
  /** Every sample was accepted. */
  ok: 0,
  /** Something was not accepted (rejected lines or series, failed requests). */
  notAccepted: 1,
  /** The command line was wrong (a flag, a value, a missing file); nothing was sent. */
  usage: 2,
  /** Gave up: unreachable, or a failure that cannot heal; a checkpoint makes the run resumable. */
  gaveUp: 3,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const

export const EXIT_USAGE = `exit status: 0 every sample accepted; 1 something not accepted; 2 usage error (nothing sent);
             3 gave up (unreachable, or a failure that cannot heal); 130 interrupted`

/** A wrong command line: printed with a pointer to --help, exit status 2. */
export class UsageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** node:util parseArgs, with its errors as UsageErrors that name the flag and suggest the closest. */
export function parseFlags<O extends NonNullable<ParseArgsConfig['options']>> (args: string[], options: O, allowPositionals = false): ReturnType<typeof parseArgs<{ options: O, allowPositionals: boolean, args: string[] }>> {
  // `--rate -5`: parseArgs takes -5 for an option and says the value is missing.
  for (let i = 0; i + 1 < args.length; i++) {
    const spec = args[i].startsWith('--') ? options[args[i].slice(2)] : undefined
    if (spec?.type === 'string' && /^-\d|^-\.\d|^-Infinity$/.test(args[i + 1])) {
      throw new UsageError(`${args[i]} must not be negative, got ${JSON.stringify(args[i + 1])}`)
    }
  }
  try {
    return parseArgs({ args, options, allowPositionals, strict: true })
  } catch (err) {
    const code = (err as { code?: string }).code
    const message = (err as Error).message
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'([^']+)'/.exec(message)?.[1] ?? message
      const name = flag.replace(/^-+/, '').replace(/=.*$/, '')
      const near = suggest(name, Object.keys(options))
      throw new UsageError(`unknown option ${flag}${near === undefined ? '' : ` (did you mean --${near}?)`}`)
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const arg = /'([^']+)'/.exec(message)?.[1]
      throw new UsageError(`unexpected argument${arg === undefined ? '' : ` ${JSON.stringify(arg)}`}: this command takes flags only`)
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const flag = /--[\w-]+/.exec(message)?.[0]
      const spec = flag === undefined ? undefined : options[flag.slice(2)]
      throw new UsageError(spec?.type === 'boolean' ? `${flag} takes no value` : `${flag ?? 'an option'} needs a value`)
    }
    throw err
  }
}

/** The candidate closest to `word` (edit distance at most 2, or a prefix), if any. */
export function suggest (word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 3 ? 1 : distance(word, c)
    if (d < bestD) {
      bestD = d
      best = c
    }
  }
  return bestD <= Math.min(2, Math.max(1, Math.floor(word.length / 3))) ? best : undefined
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function distance (a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/** Every file can be read (stdin, '-', always can): a plain message naming the first that cannot. */
export function checkFiles (files: readonly string[]): void {
  for (const f of files) {
    if (f === '-') continue
    let st
    try {
      st = statSync(f)
    } catch (err) {
      const code = (err as { code?: string }).code
      throw new UsageError(`cannot read ${f}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`)
    }
    if (st.isDirectory()) throw new UsageError(`cannot read ${f}: it is a directory (give the files in it)`)
  }
}

/** A file a flag will write at the end of the run: its folder must exist now, not after the run. */
export function checkWritable (path: string | undefined, flag: string): void {
  if (path === undefined) return
  const dir = dirname(resolve(path))
  try {
    accessSync(dir, constants.W_OK)
  } catch (err) {
    const code = (err as { code?: string }).code
    throw new UsageError(`${flag} ${path}: cannot write there (${code === 'ENOENT' ? `no folder ${dir}` : code === 'EACCES' ? 'permission denied' : (err as Error).message})`)
  }
  if (existsSync(path) && statSync(path).isDirectory()) throw new UsageError(`${flag} ${path}: it is a directory`)
}

/** --give-up-after S in ms: 0 is never (Infinity); otherwise at least 1 s, so a slow answer is not taken for an outage. */
export function giveUpFlag (v: string | undefined): number {
  if (v === undefined) return 180_000
  const n = Number(v)
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || (n > 0 && n < 1)) throw new UsageError(`--give-up-after must be 0 (never) or a number of seconds >= 1, got ${JSON.stringify(v)}`)
  return n === 0 ? Infinity : n * 1000
}

/** Library option names in a message, as the flags that set them. */
const FLAG_WORDS: ReadonlyArray<[RegExp, string]> = [
  [/\btimestampUnit '(\w+)'/g, '--csv-timestamp-unit $1'],
  [/\btimestampUnit\b/g, '--csv-timestamp-unit'],
  [/\btimestampColumn\b/g, '--csv-timestamp-column'],
  [/\bvalueColumns\b/g, '--csv-value-columns'],
  [/\blabelColumns\b/g, '--csv-label-columns'],
  [/\bmetricName\b/g, '--csv-metric-name'],
  [/\bprotocol: '(v1|v2|auto)'/g, '--protocol $1'],
  [/\bmaxSamplesPerRequest\b/g, '--batch'],
  [/\binvalid (concurrency|timeout|proxy)\b/g, 'invalid --$1'],
  [/\bwindowSamples\b/g, '--window'],
]

/** A library message in the command line's words: option names become the flags that set them. */
export function flagWords (message: string): string {
  let out = message
  for (const [re, flag] of FLAG_WORDS) out = out.replace(re, flag)
  return out
}

/**
 * Ctrl-C for a command that sends: the first says so and aborts the signal (the run stops and
 * reports), a second quits at once. `release()` removes the handler.
 */
export function interruptOnSigint (print: (line: string) => void): { signal: AbortSignal, release: () => void } {
  const interrupt = new AbortController()
  const onSigint = (): void => {
    if (interrupt.signal.aborted) process.exit(EXIT.interrupted)
    print('interrupted: stopping (Ctrl-C again to quit at once)')
    interrupt.abort()
  }
  process.on('SIGINT', onSigint)
  return { signal: interrupt.signal, release: () => { process.off('SIGINT', onSigint) } }
}

/** Whether an error is the user's command line: a usage error, or an option value the library refused. */
export function isUsage (err: unknown): boolean {
  return err instanceof UsageError || err instanceof InvalidArgumentError
}

/** Flags whose value is a secret: shown as a placeholder in a printed command. */
const SECRET_FLAGS = new Set(['--bearer-token', '--basic-auth', '--header'])
/** Flags whose value is a URL: shown without user info or query values. */
const URL_FLAGS = new Set(['--url', '--proxy'])

/**
 * The command line that resumes this run (`prw` and the same arguments), quoted for a POSIX
 * shell, with secret values replaced by placeholders the user fills in again.
 */
export function resumeCommand (argv: readonly string[]): string {
  const out: string[] = ['prw']
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const eq = a.indexOf('=')
    const flag = eq > 0 ? a.slice(0, eq) : a
    if (!SECRET_FLAGS.has(flag) && !URL_FLAGS.has(flag)) {
      out.push(quote(a))
      continue
    }
    const value = eq > 0 ? a.slice(eq + 1) : argv[++i]
    if (value === undefined) {
      out.push(quote(a))
      continue
    }
    // A URL keeps its shape; a secret becomes a placeholder, quoted so that a pasted line is no shell redirection.
    const shown = URL_FLAGS.has(flag) ? quote(redactUrl(value)) : `'<${flag.slice(2).toUpperCase().replace(/-/g, '_')}>'`
    out.push(eq > 0 ? `${flag}=${shown}` : `${flag} ${shown}`)
  }
  return out.join(' ')
}

/** A URL without user info (kept as a placeholder) and without its query's values. */
function redactUrl (s: string): string {
  try {
    const u = new URL(s)
    if (u.username || u.password) {
      u.username = 'USER'
      u.password = u.password ? 'PASSWORD' : ''
    }
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, 'VALUE')
    return u.href
  } catch {
    return '<URL>'
  }
}

function quote (s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`
}
