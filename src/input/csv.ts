/**
 * CSV with a header row: one timestamp column, one or more value columns, and label columns.
 *
 * ```text
 * timestamp,host,region,cpu,mem
 * 1700000000000,web-1,eu,0.25,1024
 * ```
 *
 * With `valueColumns: ['cpu', 'mem']` each row gives two samples: `cpu{host="web-1",region="eu"}`
 * and `mem{...}`. Fields are split by csv-parse (quotes, `""` escapes, quoted line breaks).
 *
 * Records are cut from the line stream here, tracking whether a quoted field is still open
 * at the end of a line, and handed to csv-parse in batches. This keeps line numbers and byte
 * offsets exact whatever the line endings, and confines a malformed record (a stray quote,
 * a wrong field count) to its own lines: the records after it still come through.
 *
 * - Blank lines are skipped; the first non-blank record is the header (names are trimmed).
 * - An empty value cell means no sample; an empty label cell means no label.
 * - A record's `line` is its first line; its `offset` is the byte offset after its last line.
 */
import { parse as parseCsv } from 'csv-parse/sync'
import { InvalidArgumentError } from '../errors.js'
import { FORMAT_NAMES } from './formats.js'
import type { RecordBatch } from './batch.js'
import type { InputItem, InputRecord } from './record.js'
import { LabelMaker, PlainRows } from './csv-rows.js'
import type { Plan, TimestampUnit } from './csv-rows.js'
import { looksLike } from './sniff.js'
import type { LineSpans } from './lines.js'
import { DEFAULT_MAX_LINE_BYTES } from './lines.js'
import { decimalToInteger, parseSampleValue } from './values.js'
import { isoDateProblem, looksLikeDate, parseIsoDate, parseLenientDate } from './timestamps.js'

export type { TimestampUnit, Plan } from './csv-rows.js'

/** Options of the CSV reader. */
export interface CsvOptions {
  /** Name of the timestamp column. Default 'timestamp'. */
  timestampColumn?: string
  /**
   * 'auto' (default): a number is milliseconds (as 'ms'), an ISO-8601 / RFC 3339 date with
   * its UTC offset (`2026-12-06T19:23:00Z`, `...00.5+02:00`) is a date; a date-time without
   * an offset is refused (it would be local time). 'ms' or 's': a decimal number, converted
   * exactly and rounded half to even to integer milliseconds. 'iso': an ISO-8601 date, also
   * one without an offset (then local time, as Date.parse reads it).
   */
  timestampUnit?: TimestampUnit
  /** Columns holding sample values; each makes its own series. Default ['value']. */
  valueColumns?: string | readonly string[]
  /** Columns that become labels. Default: every column that is neither timestamp nor value. */
  labelColumns?: readonly string[]
  /**
   * The series' metric name. Default: the value column's name. Only with one value column.
   * A `__name__` label column, where not empty, takes precedence.
   */
  metricName?: string
  /** Field delimiter, one character. Default ','. */
  delimiter?: string
  /** Longest record kept, in characters, also across quoted line breaks. Default 64 Mi. */
  maxLineBytes?: number
}

/** A stateful reader fed with lines, in order; it appends what it finds to `out`. */
export interface CsvReader {
  /** Handles a batch of lines. */
  push (lines: LineSpans, out: RecordBatch): void
  /** Handles the end of input. */
  end (out: RecordBatch): void
  /** Records a line gives at most: one per value column (a record of several lines gives fewer). */
  readonly samplesPerLine: number
}


/** A record cut from the lines: its text, first line and the offset after its last line. */
interface RawRecord {
  text: string
  line: number
  offset: number
}

const BATCH_RECORDS = 1000
const BATCH_CHARS = 1 << 20

/**
 * Whether a quoted field is still open at the end of `text`, given whether one was open at
 * its start. Follows RFC 4180: a quote opens a field only at the field's start, `""` inside
 * a quoted field is a literal quote.
 */
export function quoteOpenAtEnd (text: string, openAtStart: boolean, delimiter: string): boolean {
  if (!openAtStart && !text.includes('"')) return false
  let open = openAtStart
  let fieldStart = !openAtStart
  const d = delimiter.charCodeAt(0)
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (open) {
      if (c === 34) {
        if (text.charCodeAt(i + 1) === 34) i++
        else open = false
      }
    } else if (c === 34 && fieldStart) {
      open = true
      fieldStart = false
    } else {
      fieldStart = c === d
    }
  }
  return open
}

function csvMessage (err: unknown): string {
  const msg = (err as Error)?.message ?? String(err)
  return `csv: ${msg.replace(/\s+(?:at|on) line \d+/, '')}`
}

function columnList (names: readonly string[]): string {
  return names.map(n => JSON.stringify(n)).join(', ')
}

function makePlan (header: readonly string[], line: number, options: CsvOptions, text: string): Plan {
  const names = header.map(h => h.trim())
  const other = looksLike(text, 'csv')
  const hint = other === undefined ? '' : ` (line ${line} looks like ${FORMAT_NAMES[other]}, not CSV)`
  const where = new Map<string, number>()
  names.forEach((n, i) => {
    if (where.has(n)) throw new InvalidArgumentError(`csv header (line ${line}): column ${JSON.stringify(n)} appears twice`)
    where.set(n, i)
  })
  const find = (name: string, role: string, option: string): number => {
    const i = where.get(name)
    if (i === undefined) {
      throw new InvalidArgumentError(`csv header (line ${line}): ${role} column ${JSON.stringify(name)} not found (columns: ${columnList(names)}); set ${option}${hint}`)
    }
    return i
  }
  const timestampColumn = options.timestampColumn ?? 'timestamp'
  const timestampIndex = find(timestampColumn, 'timestamp', 'timestampColumn')
  const valueNames = typeof options.valueColumns === 'string' ? [options.valueColumns] : [...(options.valueColumns ?? ['value'])]
  if (valueNames.length === 0) throw new InvalidArgumentError('csv: valueColumns must name at least one column')
  const values = valueNames.map(name => ({ name, index: find(name, 'value', 'valueColumns') }))
  for (const v of values) {
    if (v.index === timestampIndex) throw new InvalidArgumentError(`csv: column ${JSON.stringify(v.name)} cannot be both timestamp and value`)
  }
  const taken = new Set([timestampIndex, ...values.map(v => v.index)])
  const labelNames = options.labelColumns !== undefined
    ? [...options.labelColumns]
    : names.filter((_, i) => !taken.has(i))
  const labels = labelNames.map(name => {
    const index = find(name, 'label', 'labelColumns')
    if (taken.has(index)) throw new InvalidArgumentError(`csv: column ${JSON.stringify(name)} cannot be both a label and the timestamp or a value`)
    return { name, index }
  })
  const nameLabel = labels.find(l => l.name === '__name__')
  if (values.length > 1 && (options.metricName !== undefined || nameLabel !== undefined)) {
    throw new InvalidArgumentError(`csv: with several value columns (${columnList(valueNames)}) each column names its own series; metricName or a "__name__" column would merge them`)
  }
  return {
    width: names.length,
    timestampIndex,
    timestampColumn,
    labels: labels.filter(l => l !== nameLabel),
    values,
    nameIndex: nameLabel?.index ?? -1,
  }
}

/** A timestamp cell in milliseconds, or NaN. */
function parseTimestamp (cell: string, unit: TimestampUnit): number {
  switch (unit) {
    case 'auto': return looksLikeDate(cell) ? parseIsoDate(cell) : decimalToInteger(cell, 0)
    case 'iso': return parseLenientDate(cell)
    default: return decimalToInteger(cell, unit === 's' ? 3 : 0)
  }
}

/** The error for a timestamp cell that did not parse: what was expected and how to say otherwise. */
function timestampError (column: string, cell: string, unit: TimestampUnit): string {
  const what = `column ${JSON.stringify(column)}: invalid timestamp ${JSON.stringify(cell)}`
  if (unit !== 'auto') {
    const hint = unit !== 'iso' && looksLikeDate(cell) ? ': it looks like a date (--csv-timestamp-unit iso, or leave the unit unset)' : ''
    return `${what} (timestampUnit '${unit}')${hint}`
  }
  const problem = cell === '' ? 'empty' : looksLikeDate(cell) ? isoDateProblem(cell) : undefined
  return problem !== undefined
    ? `${what}: ${problem} (or set --csv-timestamp-unit iso, ms or s)`
    : `${what}: expected a number of milliseconds or an ISO-8601 date like 2026-12-06T19:23:00Z (or set --csv-timestamp-unit iso, ms or s)`
}

/**
 * Creates a CSV reader. Throws InvalidArgumentError for bad options here, and from `push`
 * when the header lacks a named column.
 */
export function createCsvReader (options: CsvOptions = {}): CsvReader {
  const unit = options.timestampUnit ?? 'auto'
  if (unit !== 'auto' && unit !== 'ms' && unit !== 's' && unit !== 'iso') {
    throw new InvalidArgumentError(`csv: timestampUnit must be 'auto', 'ms', 's' or 'iso', got ${JSON.stringify(unit)}`)
  }
  const delimiter = options.delimiter ?? ','
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new InvalidArgumentError(`csv: delimiter must be one character other than a quote or line break, got ${JSON.stringify(delimiter)}`)
  }
  if (options.metricName !== undefined && options.metricName === '') throw new InvalidArgumentError('csv: metricName must not be empty')
  const maxChars = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
  const parseOptions = { delimiter, record_delimiter: '\n', relax_column_count: true, skip_empty_lines: false, max_record_size: maxChars }

  let plan: Plan | undefined
  let labels: LabelMaker
  let plain: PlainRows
  /** A record whose quoted field spans lines, still open. */
  let pending: { parts: string[], chars: number, line: number, eol: string } | undefined
  let batch: RawRecord[] = []
  let batchChars = 0
  /** Offset after the last line seen. */
  let lastOffset = 0

  const parseOne = (rec: RawRecord): string[] | string => {
    try {
      const rows = parseCsv(rec.text, parseOptions) as string[][]
      if (rows.length !== 1) return 'csv: unexpected line break outside a quoted field'
      return rows[0]
    } catch (err) {
      return csvMessage(err)
    }
  }

  /** A malformed record, with the format its text looks like if not CSV. */
  const error = (rec: RawRecord, message: string): InputRecord => {
    const other = looksLike(rec.text, 'csv')
    return { error: other === undefined ? { line: rec.line, message } : { line: rec.line, message, looksLike: other }, offset: rec.offset }
  }

  /** The records of one row: a sample per value cell. `plain`: the cells were split without quotes. */
  const emitRow = (row: string[], rec: RawRecord, out: RecordBatch, plain: boolean): void => {
    const p = plan as Plan
    const { line, offset } = rec
    if (row.length !== p.width) {
      out.record(error(rec, `expected ${p.width} fields as in the header, got ${row.length}`))
      return
    }
    const tsCell = row[p.timestampIndex].trim()
    const ts = tsCell === '' ? NaN : parseTimestamp(tsCell, unit)
    if (!Number.isFinite(ts)) {
      out.record(error(rec, timestampError(p.timestampColumn, tsCell, unit)))
      return
    }
    for (let k = 0; k < p.values.length; k++) {
      const v = p.values[k]
      const cell = row[v.index].trim()
      if (cell === '') continue
      const value = parseSampleValue(cell)
      if (value === undefined) {
        out.record(error(rec, `column ${JSON.stringify(v.name)}: invalid value ${JSON.stringify(cell)}`))
        continue
      }
      const metric = plain ? labels.shared(row, k) : labels.make(row, k)
      const item: InputItem = { metric, values: [value], timestamps: [ts] }
      out.record({ item, line, offset })
    }
  }

  const flush = (out: RecordBatch): void => {
    if (batch.length === 0) return
    let rows: Array<string[] | string> | undefined
    try {
      const all = parseCsv(batch.map(r => r.text).join('\n'), parseOptions) as string[][]
      if (all.length === batch.length) rows = all
    } catch {
      // Some record is malformed: parse them one by one to find which.
    }
    rows ??= batch.map(parseOne)
    for (let i = 0; i < batch.length; i++) {
      const row = rows[i]
      if (typeof row === 'string') out.record(error(batch[i], row))
      else emitRow(row, batch[i], out, false)
    }
    batch = []
    batchChars = 0
  }

  const record = (rec: RawRecord, out: RecordBatch): void => {
    if (plan === undefined) {
      const header = parseOne(rec)
      if (typeof header === 'string') throw new InvalidArgumentError(`csv header (line ${rec.line}): ${header}`)
      plan = makePlan(header, rec.line, options, rec.text)
      labels = new LabelMaker(plan, options.metricName, delimiter)
      plain = new PlainRows(plan, unit, labels, delimiter)
      return
    }
    // A record without quotes (a header's next row, or one made whole from lines) is split here.
    if (!rec.text.includes('"')) {
      flush(out)
      if (!plain.read(rec.text, 0, rec.text.length, rec.line, rec.offset, out)) emitRow(rec.text.split(delimiter), rec, out, true)
      return
    }
    batch.push(rec)
    batchChars += rec.text.length
    if (batch.length >= BATCH_RECORDS || batchChars >= BATCH_CHARS) flush(out)
  }

  const fail = (line: number, offset: number, message: string, out: RecordBatch): void => {
    flush(out)
    out.record({ error: { line, message }, offset })
  }

  /** Where the next '"' is in the current text (Infinity: none), found from `quoteFrom` on. */
  let quoteAt = 0
  let quoteFrom = Infinity
  /** Whether s[from, to) holds a quote: one indexOf for a run of rows without, not one each (which could scan to the chunk's end every time). */
  const hasQuote = (s: string, from: number, to: number): boolean => {
    if (from < quoteFrom || quoteAt < from) {
      const q = s.indexOf('"', from)
      quoteAt = q === -1 ? Infinity : q
      quoteFrom = from
    }
    return quoteAt < to
  }

  /** A line with no printable ASCII first character is trimmed to see whether it is blank. */
  const blank = (s: string, from: number, to: number): boolean => {
    const c = s.charCodeAt(from)
    return !(c > 32 && c < 127) && s.slice(from, to).trim() === ''
  }

  return {
    push (lines, out) {
      const { texts, starts, ends, offsets } = lines
      for (let k = 0; k < lines.count; k++) {
        const line = lines.firstLine + k
        const offset = offsets[k]
        const s = texts[k]
        const from = starts[k]
        const to = ends[k]
        lastOffset = offset
        if (lines.fresh(k)) quoteFrom = Infinity
        if (lines.tooLong(k)) {
          if (pending !== undefined) {
            fail(pending.line, offset, `csv: quoted field starting here runs into a line longer than ${maxChars} bytes`, out)
            pending = undefined
          }
          fail(line, offset, `line is longer than ${maxChars} bytes (maxLineBytes)`, out)
          continue
        }
        if (pending !== undefined) {
          const text = s.slice(from, to)
          pending.parts.push(pending.eol, text)
          pending.chars += pending.eol.length + text.length
          pending.eol = lines.eol(k)
          if (quoteOpenAtEnd(text, true, delimiter)) {
            if (pending.chars > maxChars) {
              fail(pending.line, offset, `csv: quoted field not closed within ${maxChars} characters`, out)
              pending = undefined
            }
            continue
          }
          const whole = pending.parts.join('')
          const first = pending.line
          pending = undefined
          record({ text: whole, line: first, offset }, out)
          continue
        }
        if (blank(s, from, to)) continue
        // Most rows have no quotes: read in place, which is much faster than csv-parse, and in
        // order (the quoted records batched before go first).
        if (!hasQuote(s, from, to) && plan !== undefined) {
          flush(out)
          if (!plain.read(s, from, to, line, offset, out)) emitRow(s.slice(from, to).split(delimiter), { text: s.slice(from, to), line, offset }, out, true)
          continue
        }
        const text = s.slice(from, to)
        if (quoteOpenAtEnd(text, false, delimiter)) {
          pending = { parts: [text], chars: text.length, line, eol: lines.eol(k) }
          continue
        }
        record({ text, line, offset }, out)
      }
    },
    end (out) {
      flush(out)
      if (pending !== undefined) {
        out.record({ error: { line: pending.line, message: 'csv: quoted field not closed at the end of input' }, offset: lastOffset })
        pending = undefined
      }
    },
    samplesPerLine: typeof options.valueColumns === 'string' ? 1 : Math.max(1, options.valueColumns?.length ?? 1),
  }
}
