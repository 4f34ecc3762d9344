/**
 * Prometheus text exposition format and OpenMetrics text, one sample per line:
 *
 * ```text
 * # HELP http_requests_total Requests.
 * # TYPE http_requests_total counter
 * http_requests_total{method="post",code="200"} 1027 1395066363000
 * {"name.with.dots","label.x"="v"} 1
 * foo_bucket{le="0.1"} 8 1520879607.789 # {trace_id="KOO5S4vxi0o"} 0.67
 * # EOF
 * ```
 *
 * - Comment lines (`# HELP`, `# TYPE`, `# UNIT`, `# EOF`, any other `#` line) and blank lines
 *   are skipped.
 * - Label values unescape `\\`, `\"` and `\n`; any other backslash sequence is kept as is,
 *   as Prometheus does. Quoted metric and label names (the UTF-8 syntax of Prometheus 3)
 *   are accepted too.
 * - Values: decimal floats, and `NaN`, `Inf`, `+Inf`, `-Inf`, `Infinity` in any case.
 * - Timestamps: in the Prometheus format an integer of milliseconds; in OpenMetrics a
 *   decimal number of seconds, converted exactly to milliseconds and rounded half to even.
 *   A sample without a timestamp gets the `now` timestamp.
 * - An exemplar (` # {...} value [ts]` after the sample) is ignored.
 * - Labels with an empty value are dropped (to Prometheus they are the same as absent).
 *
 * The two formats cannot be told apart reliably before the end of a file (`# EOF`), so the
 * caller chooses: by file extension (`.om`, `.openmetrics` mean OpenMetrics, see
 * `detectFormat`) or explicitly with the `openmetrics` option.
 */
import { setLabel } from '../labels.js'
import type { RecordBatch } from './batch.js'
import type { LineResult } from './record.js'
import { detach, detachLabels } from './record.js'
import { decimalToInteger, parseDecimalAt, parseIntegerAt, parseSampleValue } from './values.js'

/** Options of {@link parsePromLine}. */
export interface PromLineOptions {
  /** Parse timestamps as OpenMetrics float seconds instead of integer milliseconds. */
  openmetrics: boolean
  /** Timestamp (ms) for samples written without one. */
  now: number
}

/** An integer timestamp. */
const INTEGER = /^[+-]?\d+$/

const isSpace = (c: number): boolean => c === 32 || c === 9
const isNameStart = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95
const isNameChar = (c: number): boolean => isNameStart(c) || (c >= 48 && c <= 57)
const isMetricNameStart = (c: number): boolean => isNameStart(c) || c === 58
const isMetricNameChar = (c: number): boolean => isNameChar(c) || c === 58

function skipSpaces (s: string, i: number): number {
  while (i < s.length && isSpace(s.charCodeAt(i))) i++
  return i
}

/** Reads a quoted string starting at the quote at `i`; returns its unescaped text and the index after it. */
function readQuoted (s: string, i: number): { value: string, end: number } | undefined {
  let out = ''
  let from = i + 1
  for (let j = from; j < s.length; j++) {
    const c = s.charCodeAt(j)
    if (c === 34 /* " */) return { value: out + s.slice(from, j), end: j + 1 }
    if (c === 92 /* \ */) {
      if (j + 1 >= s.length) return undefined
      const e = s[j + 1]
      out += s.slice(from, j) + (e === 'n' ? '\n' : e === '\\' ? '\\' : e === '"' ? '"' : '\\' + e)
      j++
      from = j + 1
    }
  }
  return undefined
}

/** Index of the end of the token starting at `i`: the next space, tab or '#'. */
function tokenEnd (s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i)
    if (c === 32 || c === 9 || c === 35) break
    i++
  }
  return i
}

const describe = (s: string, i: number): string =>
  i >= s.length ? 'end of line' : `${JSON.stringify(s[i])} at column ${i + 1}`

/** The series part of a sample line: its labels, and the index just after it. */
interface Series {
  metric: Record<string, string>
  end: number
}

/**
 * Parses the series part of a sample line starting at `i` (a non-space): the metric name and
 * the label set. `end` is just after the '}' of the label set, or after the name without one.
 */
function parseSeries (s: string, i: number): Series | { error: string } {
  const metric: Record<string, string> = {}
  let name: string | undefined
  let c = s.charCodeAt(i)
  let end = i
  if (c !== 123 /* { */) {
    if (!isMetricNameStart(c)) return { error: `invalid metric name: unexpected ${describe(s, i)}` }
    const start = i
    while (i < s.length && isMetricNameChar(s.charCodeAt(i))) i++
    name = s.slice(start, i)
    if (i < s.length && !isSpace(s.charCodeAt(i)) && s.charCodeAt(i) !== 123) {
      return { error: `invalid metric name: unexpected ${describe(s, i)}` }
    }
    end = i
    i = skipSpaces(s, i)
  }
  const labels: string[] = [] // name, value, name, value, ...
  if (i < s.length && s.charCodeAt(i) === 123) {
    i++
    for (;;) {
      i = skipSpaces(s, i)
      if (i >= s.length) return { error: 'unterminated label set: missing "}"' }
      c = s.charCodeAt(i)
      if (c === 125 /* } */) {
        i++
        break
      }
      let label: string
      let quotedName = false
      if (c === 34 /* " */) {
        const q = readQuoted(s, i)
        if (q === undefined) return { error: `unterminated quoted name starting at column ${i + 1}` }
        label = q.value
        i = q.end
        quotedName = true
      } else if (isNameStart(c)) {
        const start = i
        while (i < s.length && isNameChar(s.charCodeAt(i))) i++
        label = s.slice(start, i)
      } else {
        return { error: `invalid label name: unexpected ${describe(s, i)}` }
      }
      i = skipSpaces(s, i)
      c = s.charCodeAt(i)
      if (quotedName && (c === 44 /* , */ || c === 125)) {
        // {"metric.name", ...}: the metric name inside the braces.
        if (name !== undefined) return { error: `metric name given twice: ${JSON.stringify(name)} and ${JSON.stringify(label)}` }
        name = label
      } else {
        if (c !== 61 /* = */) return { error: `label ${JSON.stringify(label)}: expected "=" but found ${describe(s, i)}` }
        i = skipSpaces(s, i + 1)
        if (s.charCodeAt(i) !== 34) return { error: `label ${JSON.stringify(label)}: expected a quoted value but found ${describe(s, i)}` }
        const q = readQuoted(s, i)
        if (q === undefined) return { error: `label ${JSON.stringify(label)}: unterminated value (missing closing quote)` }
        labels.push(label, q.value)
        i = skipSpaces(s, q.end)
        c = s.charCodeAt(i)
      }
      if (c === 44) {
        i++
      } else if (i >= s.length) {
        return { error: 'unterminated label set: missing "}"' }
      } else if (c !== 125) {
        return { error: `label set: expected "," or "}" but found ${describe(s, i)}` }
      }
    }
    end = i
  }
  if (name === undefined || name === '') return { error: 'missing metric name' }
  setLabel(metric, '__name__', name)
  let empty = false
  for (let k = 0; k < labels.length; k += 2) {
    const label = labels[k]
    if (Object.hasOwn(metric, label)) {
      return { error: label === '__name__' ? 'label "__name__" repeats the metric name' : `duplicate label ${JSON.stringify(label)}` }
    }
    setLabel(metric, label, labels[k + 1])
    if (labels[k + 1] === '') empty = true
  }
  if (empty) for (let k = 0; k < labels.length; k += 2) if (labels[k + 1] === '') delete metric[labels[k]]
  return { metric, end }
}

/**
 * Parses what follows the series part from `i`: `value [timestamp] [# exemplar]`. Returns the
 * sample, or the error message (naming the metric).
 */
function parseTail (s: string, i: number, metric: Record<string, string>, options: PromLineOptions): LineResult {
  i = skipSpaces(s, i)
  let end = tokenEnd(s, i)
  if (end === i) return { error: `${JSON.stringify(metric.__name__)}: missing value` }
  const valueToken = s.slice(i, end)
  i = skipSpaces(s, end)
  let tsToken: string | undefined
  if (i < s.length && s.charCodeAt(i) !== 35) {
    end = tokenEnd(s, i)
    tsToken = s.slice(i, end)
    i = skipSpaces(s, end)
    if (i < s.length && s.charCodeAt(i) !== 35) {
      return { error: `${JSON.stringify(metric.__name__)}: unexpected ${JSON.stringify(s.slice(i, tokenEnd(s, i)))} after the timestamp` }
    }
  }
  const value = parseSampleValue(valueToken)
  if (value === undefined) return { error: `${JSON.stringify(metric.__name__)}: invalid value ${JSON.stringify(valueToken)}` }
  let timestamp = options.now
  if (tsToken !== undefined) {
    const t = tsToken
    if (options.openmetrics) {
      timestamp = decimalToInteger(t, 3)
      if (!Number.isFinite(timestamp)) return { error: `${JSON.stringify(metric.__name__)}: invalid timestamp ${JSON.stringify(t)} (OpenMetrics: seconds)` }
      if (Math.abs(timestamp) >= 1e14) {
        return { error: `${JSON.stringify(metric.__name__)}: timestamp ${t} is too large for seconds: OpenMetrics timestamps are seconds; use the Prometheus text format for milliseconds` }
      }
    } else {
      if (!INTEGER.test(t)) {
        return { error: `${JSON.stringify(metric.__name__)}: invalid timestamp ${JSON.stringify(t)}: the Prometheus text format wants integer milliseconds (OpenMetrics seconds need the openmetrics format)` }
      }
      timestamp = Number(t)
    }
  }
  return { item: { metric, values: [value], timestamps: [timestamp] } }
}

/**
 * Parses one line of Prometheus text or OpenMetrics. Returns undefined for a blank or
 * comment line, `{ item }` with one sample, or `{ error }` saying what is wrong.
 */
export function parsePromLine (text: string, options: PromLineOptions): LineResult {
  const i = skipSpaces(text, 0)
  if (i >= text.length || text.charCodeAt(i) === 35 /* # */) return undefined
  const series = parseSeries(text, i)
  if ('error' in series) return series
  return parseTail(text, series.end, series.metric, options)
}

/**
 * The end of the series part of a sample line starting at `i`, found without parsing it (the
 * name, and the label set up to its '}' outside quotes), or -1. For a line that
 * {@link parseSeries} reads, it is the same `end`.
 */
function seriesEnd (s: string, i: number): number {
  while (i < s.length && isMetricNameChar(s.charCodeAt(i))) i++
  const afterName = i
  i = skipSpaces(s, i)
  if (s.charCodeAt(i) !== 123 /* { */) {
    // The parser wants a space (or the end) right after a name without labels.
    return afterName < s.length && !isSpace(s.charCodeAt(afterName)) ? -1 : afterName
  }
  for (i++; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 125 /* } */) return i + 1
    if (c === 34 /* " */) {
      for (i++; i < s.length; i++) {
        const q = s.charCodeAt(i)
        if (q === 92 /* \ */) i++
        else if (q === 34) break
      }
    }
  }
  return -1
}

/** Series a line parser remembers; then it forgets them all (hostile input stays bounded). */
const MAX_SERIES = 50_000

/** A series a line parser has seen: its text, its shared label object, and the series seen after it. */
interface Known {
  key: string
  metric: Record<string, string>
  /** The key ends with the label set's '}' (else it is a bare name). */
  brace: boolean
  next: Known | undefined
}

/** Whether a bare metric name matched before `j` is the whole series part of s[.., to) (no label set follows). */
function bareNameEnds (s: string, j: number, to: number): boolean {
  if (j >= to) return true
  if (!isSpace(s.charCodeAt(j))) return false
  while (j < to && isSpace(s.charCodeAt(j))) j++
  return j >= to || s.charCodeAt(j) !== 123 /* { */
}

/** Index of the first char from `p` before `to` that is not a space. */
function pastSpaces (s: string, p: number, to: number): number {
  while (p < to && s.charCodeAt(p) === 32) p++
  return p
}

/** Index of the next space in s[p, to), or `to`. */
function spaceOrEnd (s: string, p: number, to: number): number {
  const sp = s.indexOf(' ', p)
  return sp === -1 || sp > to ? to : sp
}

/**
 * An OpenMetrics timestamp (seconds) in milliseconds, as {@link parseTail} reads it, or
 * undefined where parseTail reports an error.
 */
function secondsToMs (t: string): number | undefined {
  const ms = decimalToInteger(t, 3)
  return Number.isFinite(ms) && Math.abs(ms) < 1e14 ? ms : undefined
}

/**
 * The sample after a known series, read fast, and added to `out`: `value [timestamp]` in
 * s[j, to), separated by spaces, with plain decimal tokens. Tokens are found with indexOf (a
 * char loop in JS costs several times more) and read in place. Returns false, having added
 * nothing, for anything else (tabs, NaN, Inf, a comment or exemplar, an error), which
 * {@link parseTail} then reads: a token this accepts holds only digits, '.', 'e' and signs,
 * so parseTail would have cut and read it the same.
 */
function fastTail (s: string, j: number, to: number, metric: Record<string, string>, options: PromLineOptions, line: number, offset: number, out: RecordBatch): boolean {
  const vs = pastSpaces(s, j, to)
  const ve = spaceOrEnd(s, vs, to)
  const value = parseDecimalAt(s, vs, ve)
  if (value === undefined) return false
  const ts = pastSpaces(s, ve, to)
  if (ts >= to) {
    out.sample(metric, value, options.now, line, offset)
    return true
  }
  const te = spaceOrEnd(s, ts, to)
  // Only spaces may follow the timestamp.
  if (pastSpaces(s, te, to) < to) return false
  const t = options.openmetrics ? secondsToMs(s.slice(ts, te)) : parseIntegerAt(s, ts, te)
  if (t === undefined) return false
  out.sample(metric, value, t, line, offset)
  return true
}

/**
 * A line parser for a whole input, as fast as the series repeat: the label set of each series
 * is parsed once, and lines with the same series text (`name{labels}`, byte for byte) share
 * its label object, which then must not be modified. A scrape dump repeats its series in the
 * same order, so the series after the last one is tried first, by comparing text in place,
 * before the line is cut out and its series text looked up.
 *
 * The parser adds the sample of the line s[from, to) to `out` and returns undefined, or
 * returns the error message; blank and comment lines add nothing. Samples and errors are
 * those of {@link parsePromLine}.
 */
export function createPromParser (options: PromLineOptions): (s: string, from: number, to: number, line: number, offset: number, out: RecordBatch) => string | undefined {
  let known = new Map<string, Known>()
  let last: Known | undefined
  const seen = (k: Known): void => {
    if (last !== undefined) last.next = k
    last = k
  }

  /** The line cut out: the series looked up, or parsed and remembered. */
  const slow = (text: string, i: number, line: number, offset: number, out: RecordBatch): string | undefined => {
    const end = seriesEnd(text, i)
    const k = end > i ? known.get(text.slice(i, end)) : undefined
    if (k !== undefined) {
      const j = i + k.key.length
      if (fastTail(text, j, text.length, k.metric, options, line, offset, out)) {
        seen(k)
        return undefined
      }
      const r = parseTail(text, j, k.metric, options)
      if (r !== undefined && 'item' in r) {
        seen(k)
        out.sample(k.metric, r.item.values[0], r.item.timestamps[0], line, offset)
        return undefined
      }
    }
    const series = parseSeries(text, i)
    if ('error' in series) return series.error
    const r = parseTail(text, series.end, series.metric, options)
    if (r === undefined || 'error' in r) return r?.error
    // Detached: the text may be a view into a whole chunk of input, which a kept label must not pin.
    const metric = detachLabels(series.metric)
    if (known.size >= MAX_SERIES) {
      known = new Map()
      last = undefined
    }
    const key = detach(text.slice(i, series.end))
    const entry: Known = { key, metric, brace: key.charCodeAt(key.length - 1) === 125, next: undefined }
    known.set(key, entry)
    seen(entry)
    out.sample(metric, r.item.values[0], r.item.timestamps[0], line, offset)
    return undefined
  }

  return (s, from, to, line, offset, out) => {
    let i = from
    while (i < to && isSpace(s.charCodeAt(i))) i++
    if (i >= to || s.charCodeAt(i) === 35 /* # */) return undefined
    const k = last?.next
    const j = k === undefined ? -1 : i + k.key.length
    // A cut and === (a memcmp) is much faster than startsWith, or than hashing the key.
    if (k !== undefined && j <= to && s.slice(i, j) === k.key && (k.brace || bareNameEnds(s, j, to)) &&
      fastTail(s, j, to, k.metric, options, line, offset, out)) {
      seen(k)
      return undefined
    }
    return slow(s.slice(from, to), i - from, line, offset, out)
  }
}
