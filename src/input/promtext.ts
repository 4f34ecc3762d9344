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
import type { InputItem, LineResult } from './record.js'
import { decimalToInteger, parseSampleValue } from './values.js'

/** Options of {@link parsePromLine}. */
export interface PromLineOptions {
  /** Parse timestamps as OpenMetrics float seconds instead of integer milliseconds. */
  openmetrics: boolean
  /** Timestamp (ms) for samples written without one. */
  now: number
}

/** What one line of text holds: a sample, nothing (blank or comment), or an error. */

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

/**
 * Parses one line of Prometheus text or OpenMetrics. Returns undefined for a blank or
 * comment line, `{ item }` with one sample, or `{ error }` saying what is wrong.
 */
export function parsePromLine (text: string, options: PromLineOptions): LineResult {
  const s = text
  let i = skipSpaces(s, 0)
  if (i >= s.length || s.charCodeAt(i) === 35 /* # */) return undefined
  const metric: Record<string, string> = {}
  let name: string | undefined
  let c = s.charCodeAt(i)
  if (c !== 123 /* { */) {
    if (!isMetricNameStart(c)) return { error: `invalid metric name: unexpected ${describe(s, i)}` }
    const start = i
    while (i < s.length && isMetricNameChar(s.charCodeAt(i))) i++
    name = s.slice(start, i)
    if (i < s.length && !isSpace(s.charCodeAt(i)) && s.charCodeAt(i) !== 123) {
      return { error: `invalid metric name: unexpected ${describe(s, i)}` }
    }
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

  // value [timestamp] [# exemplar]
  i = skipSpaces(s, i)
  let end = tokenEnd(s, i)
  if (end === i) return { error: `${JSON.stringify(name)}: missing value` }
  const valueToken = s.slice(i, end)
  i = skipSpaces(s, end)
  let tsToken: string | undefined
  if (i < s.length && s.charCodeAt(i) !== 35) {
    end = tokenEnd(s, i)
    tsToken = s.slice(i, end)
    i = skipSpaces(s, end)
    if (i < s.length && s.charCodeAt(i) !== 35) {
      return { error: `${JSON.stringify(name)}: unexpected ${JSON.stringify(s.slice(i, tokenEnd(s, i)))} after the timestamp` }
    }
  }
  const value = parseSampleValue(valueToken)
  if (value === undefined) return { error: `${JSON.stringify(name)}: invalid value ${JSON.stringify(valueToken)}` }
  let timestamp = options.now
  if (tsToken !== undefined) {
    const t = tsToken
    if (options.openmetrics) {
      timestamp = decimalToInteger(t, 3)
      if (!Number.isFinite(timestamp)) return { error: `${JSON.stringify(name)}: invalid timestamp ${JSON.stringify(t)} (OpenMetrics: seconds)` }
      if (Math.abs(timestamp) >= 1e14) {
        return { error: `${JSON.stringify(name)}: timestamp ${t} is too large for seconds: OpenMetrics timestamps are seconds; use the Prometheus text format for milliseconds` }
      }
    } else {
      if (!INTEGER.test(t)) {
        return { error: `${JSON.stringify(name)}: invalid timestamp ${JSON.stringify(t)}: the Prometheus text format wants integer milliseconds (OpenMetrics seconds need the openmetrics format)` }
      }
      timestamp = Number(t)
    }
  }
  return { item: { metric, values: [value], timestamps: [timestamp] } }
}
