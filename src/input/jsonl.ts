/**
 * VictoriaMetrics JSON lines, as `/api/v1/export` writes them, one series chunk per line:
 *
 * ```text
 * {"metric":{"__name__":"up","job":"node"},"values":[1,NaN,+Inf],"timestamps":[1700000000000,1700000015000,1700000030000]}
 * ```
 *
 * - Timestamps are milliseconds and are passed on as given; strings are read too: numbers of
 *   milliseconds (`"1700000000000"`) and ISO-8601 dates with their offset (`"2026-12-06T19:23:00Z"`).
 * - VictoriaMetrics writes special values as bare `NaN`, `+Inf`, `-Inf` tokens, which are
 *   not JSON. A line that JSON.parse rejects is retried with every such token outside
 *   string literals quoted (`Inf`, `Infinity` and any letter case too), so label values
 *   that contain these words are never touched.
 * - Values may also be numeric strings (`"1.5"`, `"NaN"`), as Prometheus' JSON APIs write them.
 * - Labels with an empty value are dropped.
 */
import { setLabel } from '../labels.js'
import type { InputItem, LineResult } from './record.js'
import { isoDateProblem, looksLikeDate, parseIsoDate } from './timestamps.js'
import { DECIMAL, parseSampleValue } from './values.js'

const SPECIAL_TOKEN = /[+-]?(?:inf(?:inity)?|nan)(?![A-Za-z0-9_])/iy

/** Whether a character can start a bare special-value token. */
const mayStartToken = (c: number): boolean =>
  c === 43 /* + */ || c === 45 /* - */ || c === 73 /* I */ || c === 105 /* i */ || c === 78 /* N */ || c === 110 /* n */

/** Index just after the JSON string literal whose opening quote is at `i` (or the text's length). */
function skipString (s: string, i: number): number {
  let j = i + 1
  for (;;) {
    const q = s.indexOf('"', j)
    if (q === -1) return s.length
    // Escaped when preceded by an odd number of backslashes.
    let b = q - 1
    while (b > i && s.charCodeAt(b) === 92) b--
    if ((q - 1 - b) % 2 === 0) return q + 1
    j = q + 1
  }
}

/**
 * Quotes the bare NaN / Inf / +Inf / -Inf / Infinity tokens that appear outside JSON string
 * literals, so that JSON.parse accepts the text: `[1,NaN,-Inf]` becomes `[1,"NaN","-Inf"]`.
 * Text inside strings (label values) is left exactly as it was.
 */
export function quoteBareSpecials (text: string): string {
  let out = ''
  let last = 0
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 34 /* " */) {
      i = skipString(text, i)
      continue
    }
    if (mayStartToken(c)) {
      const prev = i > 0 ? text.charCodeAt(i - 1) : 0
      // Not in the middle of a number or word (like the "e" of 1e5, or "-" of -1).
      const atBoundary = !((prev >= 48 && prev <= 57) || (prev >= 65 && prev <= 90) || (prev >= 97 && prev <= 122) || prev === 46 || prev === 95)
      if (atBoundary) {
        SPECIAL_TOKEN.lastIndex = i
        const m = SPECIAL_TOKEN.exec(text)
        if (m !== null) {
          out += text.slice(last, i) + '"' + m[0] + '"'
          i += m[0].length
          last = i
          continue
        }
      }
    }
    i++
  }
  return last === 0 ? text : out + text.slice(last)
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

function parseMetric (raw: unknown): Record<string, string> | string {
  if (!isRecord(raw)) return `"metric" must be an object, got ${typeName(raw)}`
  const metric: Record<string, string> = {}
  for (const k of Object.keys(raw)) {
    const v = raw[k]
    if (typeof v !== 'string') return `"metric.${k}" must be a string, got ${typeName(v)}`
    if (v !== '') setLabel(metric, k, v)
  }
  return metric
}

function parseValues (raw: unknown): number[] | string {
  if (!Array.isArray(raw)) return `"values" must be an array, got ${typeName(raw)}`
  /** A copy, made at the first value that is not a number: the strings become numbers. */
  let values: number[] | undefined
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i]
    if (typeof v === 'number') {
      if (values !== undefined) values[i] = v
      continue
    }
    const parsed = typeof v === 'string' ? parseSampleValue(v.trim()) : undefined
    if (parsed === undefined) return `"values[${i}]" must be a number, got ${typeName(v)}${typeof v === 'string' ? ` ${JSON.stringify(v)}` : ''}`
    values ??= (raw as number[]).slice(0, i)
    values[i] = parsed
  }
  return values ?? raw as number[]
}

/** A timestamp written as a string: a number of milliseconds, or an ISO-8601 date with its offset; NaN otherwise. */
function stringTimestamp (t: string): number {
  return looksLikeDate(t) ? parseIsoDate(t) : DECIMAL.test(t) ? Number(t) : NaN
}

function parseTimestamps (raw: unknown): number[] | string {
  if (!Array.isArray(raw)) return `"timestamps" must be an array, got ${typeName(raw)}`
  /** A copy, made at the first string: the strings become numbers. */
  let out: number[] | undefined
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i]
    if (typeof t === 'number' && Number.isFinite(t)) {
      if (out !== undefined) out[i] = t
      continue
    }
    const ms = typeof t === 'string' ? stringTimestamp(t) : NaN
    if (!Number.isFinite(ms)) {
      const problem = typeof t === 'string' && looksLikeDate(t) ? `: ${isoDateProblem(t) as string}` : ''
      return `"timestamps[${i}]" must be a finite number of milliseconds or an ISO-8601 date, got ${typeof t === 'string' ? JSON.stringify(t) : typeName(t)}${problem}`
    }
    out ??= (raw as number[]).slice(0, i)
    out[i] = ms
  }
  return out ?? raw as number[]
}

function typeName (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'object') return 'an object'
  if (typeof v === 'number') return String(v)
  return `a ${typeof v}`
}

/** The JSON.parse message, cut short: V8 quotes the input, which may be megabytes long. */
function jsonError (err: unknown): string {
  const msg = (err as Error)?.message ?? String(err)
  return `invalid JSON: ${msg.length > 300 ? msg.slice(0, 300) + '…' : msg}`
}

/**
 * Parses one JSON line. Returns undefined for a blank line, `{ item }`, or `{ error }`
 * naming the field at fault (`"values" must be an array, got null`).
 */
export function parseJsonLine (text: string): LineResult {
  if (text.trim() === '') return undefined
  let obj: unknown
  try {
    obj = JSON.parse(text)
  } catch (first) {
    const fixed = quoteBareSpecials(text)
    if (fixed === text) return { error: jsonError(first) }
    try {
      obj = JSON.parse(fixed)
    } catch (second) {
      return { error: jsonError(second) }
    }
  }
  if (!isRecord(obj)) return { error: `a line must be a JSON object, got ${typeName(obj)}` }
  const metric = parseMetric(obj.metric)
  if (typeof metric === 'string') return { error: metric }
  const values = parseValues(obj.values)
  if (typeof values === 'string') return { error: values }
  const timestamps = parseTimestamps(obj.timestamps)
  if (typeof timestamps === 'string') return { error: timestamps }
  if (values.length !== timestamps.length) {
    return { error: `"values" has ${values.length} elements but "timestamps" has ${timestamps.length}` }
  }
  const item: InputItem = { metric, values, timestamps }
  return { item }
}
