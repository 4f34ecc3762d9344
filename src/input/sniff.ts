/**
 * Telling the input format from the first bytes of an input, and from one line that failed to
 * parse in another format.
 *
 * The sniffer reads a bounded head (at most {@link SNIFF_BYTES} bytes, {@link SNIFF_LINES}
 * lines) and answers only when the head agrees with one format:
 * - JSON lines: the first line is a JSON object (or, cut short by the head's end, starts
 *   like one: `{"metric":`).
 * - Prometheus text and OpenMetrics: every line is a comment or a sample. Both read the same
 *   but for timestamps (integer milliseconds, decimal seconds), so OpenMetrics needs a
 *   marker: `# EOF`, `# UNIT`, a type only it has, an exemplar (` # {`), a timestamp in
 *   seconds, or a `_created` series. Integer timestamps in milliseconds mark Prometheus text.
 * - CSV: the first line is a header of at least two names split by `,`, `;` or a tab, and the
 *   lines after it have as many fields.
 * The head's last line, when the head ends inside it, may be cut: it counts only if it reads.
 */
import { parse as parseCsv } from 'csv-parse/sync'
import { FORMAT_NAMES, detectFormat, extensionOf } from './formats.js'
import type { InputFormat } from './formats.js'
import { quoteBareSpecials } from './jsonl.js'
import { parsePromLine } from './promtext.js'
import { looksLikeDate } from './timestamps.js'

/** Bytes of an input the sniffer looks at. */
export const SNIFF_BYTES = 64 * 1024
/** Non-blank lines of the head the sniffer looks at. */
export const SNIFF_LINES = 500
/** Characters of a failed line {@link looksLike} looks at. */
const HINT_CHARS = 4096

/** What {@link sniffFormat} found. */
export interface Sniffed {
  format: InputFormat
  /** Why, for a message: `line 1 is "# HELP"`, `the file name ends in .csv`. */
  reason: string
  /** CSV only: the header's delimiter. */
  delimiter?: string
}

/** One line of the head. */
interface HeadLine {
  text: string
  /** 1-based. */
  line: number
  /** The head ends inside this line: it may be cut. */
  cut: boolean
}

/** What the Prometheus-text family makes of a line. */
type PromKind =
  | { kind: 'comment', keyword: string, om: string | undefined }
  | { kind: 'sample', om: string | undefined, prom: string | undefined, created: boolean }
  | undefined

const OM_ONLY_TYPES = new Set(['unknown', 'stateset', 'info', 'gaugehistogram'])
const PROM_OPTIONS = { openmetrics: false, now: NaN }
const OM_OPTIONS = { openmetrics: true, now: NaN }
/** Milliseconds since 1973: smaller integer timestamps are taken for seconds. */
const MIN_MS = 1e11

const quote = (s: string, max = 60): string => JSON.stringify(s.length > max ? `${s.slice(0, max)}…` : s)

/**
 * Says which format an input is, from its first bytes (decompressed; only the first
 * {@link SNIFF_BYTES} are read) and, when the bytes do not tell, from its file name.
 * Returns undefined when unsure: empty input, a mix of formats, CSV without a header, ...
 */
export function sniffFormat (head: Uint8Array | string, fileName?: string): Sniffed | undefined {
  const text = typeof head === 'string' ? head.slice(0, SNIFF_BYTES) : Buffer.from(head.buffer, head.byteOffset, Math.min(head.byteLength, SNIFF_BYTES)).toString('utf8')
  const lines = headLines(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text)
  const byName = fileName === undefined ? undefined : detectFormat(fileName)
  const found = lines.length === 0 ? undefined : sniffJson(lines[0]) ?? sniffProm(lines, byName) ?? sniffCsv(lines)
  if (found !== undefined || byName === undefined) return found
  return { format: byName, reason: `the file name ends in .${extensionOf(fileName as string)}` }
}

/** The first non-blank lines of a head, without terminators. */
function headLines (text: string): HeadLine[] {
  const out: HeadLine[] = []
  let from = 0
  for (let n = 1; from < text.length && out.length < SNIFF_LINES; n++) {
    const nl = text.indexOf('\n', from)
    const end = nl === -1 ? text.length : nl
    const line = text.slice(from, end > from && text.charCodeAt(end - 1) === 13 ? end - 1 : end)
    if (line.trim() !== '') out.push({ text: line, line: n, cut: nl === -1 })
    from = end + 1
  }
  return out
}

function isJsonObject (text: string): boolean {
  const parse = (s: string): unknown => { try { return JSON.parse(s) } catch { return undefined } }
  const v = parse(text) ?? parse(quoteBareSpecials(text))
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Starts like a VictoriaMetrics export line. */
const JSON_START = /^\s*\{\s*"(?:metric|values|timestamps)"\s*:/

function sniffJson (first: HeadLine): Sniffed | undefined {
  const t = first.text.trimStart()
  if (t.charCodeAt(0) !== 123 /* { */) return undefined
  if (isJsonObject(first.text)) return { format: 'jsonl', reason: `line ${first.line} is a JSON object` }
  if (first.cut && JSON_START.test(t)) return { format: 'jsonl', reason: `line ${first.line} starts like a JSON object (${quote(t, 12)})` }
  return undefined
}

/** What a line is in the Prometheus text family: a comment, a sample (and which format it marks), or neither. */
function promKind (text: string): PromKind {
  const t = text.trimStart()
  if (t.charCodeAt(0) === 35 /* # */) {
    const m = /^#\s*(HELP|TYPE|UNIT|EOF)\b\s*(\S*)\s*(\S*)/.exec(t)
    const keyword = m?.[1] ?? '#'
    const om = keyword === 'EOF' || keyword === 'UNIT' ? `"# ${keyword}"`
      : keyword === 'TYPE' && OM_ONLY_TYPES.has(m?.[3] ?? '') ? `"# TYPE ${m?.[2]} ${m?.[3]}" (a type only OpenMetrics has)` : undefined
    return { kind: 'comment', keyword, om }
  }
  const asProm = parsePromLine(text, PROM_OPTIONS)
  const asOm = asProm !== undefined && 'item' in asProm ? asProm : parsePromLine(text, OM_OPTIONS)
  if (asOm === undefined || !('item' in asOm)) return undefined
  const ts = asOm.item.timestamps[0]
  const created = asOm.item.metric.__name__.endsWith('_created')
  let om: string | undefined
  let prom: string | undefined
  if (asProm === undefined || !('item' in asProm)) om = 'a timestamp in decimal seconds'
  else if (!Number.isNaN(ts) && Math.abs(ts) < MIN_MS) om = `a timestamp in seconds (${ts})`
  else if (!Number.isNaN(ts)) prom = `a timestamp in milliseconds (${ts})`
  const ex = text.lastIndexOf(' # {')
  if (om === undefined && ex > 0) {
    const before = parsePromLine(text.slice(0, ex), PROM_OPTIONS)
    if (before !== undefined && 'item' in before) om = 'an exemplar (" # {")'
  }
  return { kind: 'sample', om, prom, created }
}

function sniffProm (lines: HeadLine[], byName: InputFormat | undefined): Sniffed | undefined {
  let om: string | undefined
  let weakOm: string | undefined
  let prom: string | undefined
  let first: string | undefined
  for (const l of lines) {
    const k = promKind(l.text)
    if (k === undefined) {
      if (l.cut) break
      return undefined
    }
    if (k.kind === 'comment') {
      if (k.keyword !== '#') first ??= `line ${l.line} is "# ${k.keyword}"`
    } else {
      first ??= `line ${l.line} is a sample (${quote(l.text.trim())})`
      if (k.created) weakOm ??= `line ${l.line} is a _created series`
    }
    if (k.om !== undefined) om ??= k.kind === 'comment' ? `line ${l.line} is ${k.om}` : `line ${l.line} has ${k.om}`
    if (k.kind === 'sample' && k.prom !== undefined) prom ??= `line ${l.line} has ${k.prom}`
  }
  if (first === undefined) return undefined // only bare "#" comments: anything could follow
  if (om !== undefined) return prom === undefined ? { format: 'openmetrics', reason: om } : undefined
  if (prom !== undefined) return { format: 'prom', reason: `${first}, ${prom.replace(/^line \d+ has /, 'with ')}` }
  if (weakOm !== undefined) return { format: 'openmetrics', reason: weakOm }
  // Without timestamps the two read alike: the file name may still choose OpenMetrics.
  if (byName === 'openmetrics') return { format: 'openmetrics', reason: `${first}, and the file name says OpenMetrics` }
  return { format: 'prom', reason: first }
}

const DELIMITERS: ReadonlyArray<[string, string]> = [[',', 'comma'], [';', 'semicolon'], ['\t', 'tab']]
/** A header cell that is a number (or empty): such a first line is data, not a header. */
const TIME_COLUMN = /^\s*(?:timestamp|time|ts|date)\s*$/i
const NOT_A_NAME = /^\s*(?:[+-]?[\d.]+(?:[eE][+-]?\d+)?)?\s*$/

function sniffCsv (lines: HeadLine[]): Sniffed | undefined {
  const complete = lines.filter(l => !l.cut)
  const rows = complete.length > 0 ? complete : lines
  for (const [delimiter, name] of DELIMITERS) {
    let parsed: string[][]
    try {
      parsed = parseCsv(rows.map(l => l.text).join('\n'), { delimiter, relax_column_count: true, skip_empty_lines: true }) as string[][]
    } catch {
      continue
    }
    const header = parsed[0]
    if (header === undefined || header.length < 2 || header.some(h => NOT_A_NAME.test(h) || looksLikeDate(h.trim()))) continue
    if (parsed.some(r => r.length !== header.length)) continue
    // A lone line with a comma could be prose: without rows to agree with it, it must name a time column.
    if (parsed.length === 1 && !header.some(h => TIME_COLUMN.test(h))) continue
    return { format: 'csv', reason: `line ${rows[0].line} is a header of ${header.length} ${name}-separated columns`, delimiter }
  }
  return undefined
}

/**
 * Which other format a line that failed to parse as `failed` looks like, for a hint
 * ("this looks like Prometheus text"); undefined when it looks like none or like `failed`
 * itself. Looks at the line's first few kilobytes only.
 */
export function looksLike (text: string, failed: InputFormat): InputFormat | undefined {
  const t = text.length > HINT_CHARS ? text.slice(0, HINT_CHARS) : text
  const cut = t.length < text.length
  const line: HeadLine = { text: t, line: 1, cut }
  // A VictoriaMetrics line is told by its start, without parsing kilobytes of JSON per error.
  let guess: InputFormat | undefined = JSON_START.test(t) ? 'jsonl' : sniffJson(line)?.format
  if (guess === undefined) {
    const k = promKind(t)
    if (k?.kind === 'sample') guess = k.om !== undefined ? 'openmetrics' : 'prom'
    else if (k?.kind === 'comment' && k.keyword !== '#') guess = k.om !== undefined ? 'openmetrics' : 'prom'
  }
  // A CSV row: fields, and none of the braces and "=" of the other formats.
  if (guess === undefined && DELIMITERS.some(([d]) => t.includes(d)) && !/[{}=]/.test(t)) guess = 'csv'
  return guess === failed ? undefined : guess
}

/** The hint for a line that {@link looksLike} another format: "this looks like Prometheus text". */
export function formatHint (format: InputFormat): string {
  return `this looks like ${FORMAT_NAMES[format]}`
}
