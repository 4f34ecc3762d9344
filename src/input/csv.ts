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
import { setLabel } from '../labels.js'
import type { InputItem, InputRecord } from './record.js'
import type { Line } from './lines.js'
import { DEFAULT_MAX_LINE_BYTES } from './lines.js'
import { decimalToInteger, parseSampleValue } from './values.js'

/** How timestamps are written: integer (or decimal) milliseconds, seconds, or ISO-8601 text. */
export type TimestampUnit = 'ms' | 's' | 'iso'

/** Options of the CSV reader. */
export interface CsvOptions {
  /** Name of the timestamp column. Default 'timestamp'. */
  timestampColumn?: string
  /**
   * 'ms' (default) or 's': a decimal number, converted exactly and rounded half to even to
   * integer milliseconds. 'iso': an ISO-8601 date parsed with Date.parse (beware: a date-time
   * without an offset or 'Z' is local time).
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
  push (lines: readonly Line[], out: InputRecord[]): void
  /** Handles the end of input. */
  end (out: InputRecord[]): void
}

interface Plan {
  width: number
  timestampIndex: number
  timestampColumn: string
  labels: Array<{ name: string, index: number }>
  values: Array<{ name: string, index: number }>
  /** Index of a `__name__` label column, or -1. */
  nameIndex: number
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

function makePlan (header: readonly string[], line: number, options: CsvOptions): Plan {
  const names = header.map(h => h.trim())
  const where = new Map<string, number>()
  names.forEach((n, i) => {
    if (where.has(n)) throw new InvalidArgumentError(`csv header (line ${line}): column ${JSON.stringify(n)} appears twice`)
    where.set(n, i)
  })
  const find = (name: string, role: string, option: string): number => {
    const i = where.get(name)
    if (i === undefined) {
      throw new InvalidArgumentError(`csv header (line ${line}): ${role} column ${JSON.stringify(name)} not found (columns: ${columnList(names)}); set ${option}`)
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

function parseTimestamp (cell: string, unit: TimestampUnit): number {
  if (unit === 'iso') return Date.parse(cell)
  return decimalToInteger(cell, unit === 's' ? 3 : 0)
}

/**
 * Creates a CSV reader. Throws InvalidArgumentError for bad options here, and from `push`
 * when the header lacks a named column.
 */
export function createCsvReader (options: CsvOptions = {}): CsvReader {
  const unit = options.timestampUnit ?? 'ms'
  if (unit !== 'ms' && unit !== 's' && unit !== 'iso') {
    throw new InvalidArgumentError(`csv: timestampUnit must be 'ms', 's' or 'iso', got ${JSON.stringify(unit)}`)
  }
  const delimiter = options.delimiter ?? ','
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new InvalidArgumentError(`csv: delimiter must be one character other than a quote or line break, got ${JSON.stringify(delimiter)}`)
  }
  if (options.metricName !== undefined && options.metricName === '') throw new InvalidArgumentError('csv: metricName must not be empty')
  const maxChars = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
  const parseOptions = { delimiter, record_delimiter: '\n', relax_column_count: true, skip_empty_lines: false, max_record_size: maxChars }

  let plan: Plan | undefined
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

  const emitRow = (row: string[], rec: RawRecord, out: InputRecord[]): void => {
    const p = plan as Plan
    const { line, offset } = rec
    if (row.length !== p.width) {
      out.push({ error: { line, message: `expected ${p.width} fields as in the header, got ${row.length}` }, offset })
      return
    }
    const tsCell = row[p.timestampIndex].trim()
    const ts = tsCell === '' ? NaN : parseTimestamp(tsCell, unit)
    if (!Number.isFinite(ts)) {
      out.push({ error: { line, message: `column ${JSON.stringify(p.timestampColumn)}: invalid timestamp ${JSON.stringify(tsCell)} (timestampUnit '${unit}')` }, offset })
      return
    }
    const rowName = p.nameIndex >= 0 ? row[p.nameIndex] : ''
    for (const v of p.values) {
      const cell = row[v.index].trim()
      if (cell === '') continue
      const value = parseSampleValue(cell)
      if (value === undefined) {
        out.push({ error: { line, message: `column ${JSON.stringify(v.name)}: invalid value ${JSON.stringify(cell)}` }, offset })
        continue
      }
      const metric: Record<string, string> = { __name__: rowName !== '' ? rowName : options.metricName ?? v.name }
      for (const l of p.labels) {
        const lv = row[l.index]
        if (lv !== '') setLabel(metric, l.name, lv)
      }
      const item: InputItem = { metric, values: [value], timestamps: [ts] }
      out.push({ item, line, offset })
    }
  }

  const flush = (out: InputRecord[]): void => {
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
      if (typeof row === 'string') out.push({ error: { line: batch[i].line, message: row }, offset: batch[i].offset })
      else emitRow(row, batch[i], out)
    }
    batch = []
    batchChars = 0
  }

  const record = (rec: RawRecord, out: InputRecord[]): void => {
    if (plan === undefined) {
      const header = parseOne(rec)
      if (typeof header === 'string') throw new InvalidArgumentError(`csv header (line ${rec.line}): ${header}`)
      plan = makePlan(header, rec.line, options)
      return
    }
    batch.push(rec)
    batchChars += rec.text.length
    if (batch.length >= BATCH_RECORDS || batchChars >= BATCH_CHARS) flush(out)
  }

  const fail = (line: number, offset: number, message: string, out: InputRecord[]): void => {
    flush(out)
    out.push({ error: { line, message }, offset })
  }

  return {
    push (lines, out) {
      for (const l of lines) {
        lastOffset = l.offset
        if (l.tooLong === true) {
          if (pending !== undefined) {
            fail(pending.line, l.offset, `csv: quoted field starting here runs into a line longer than ${maxChars} bytes`, out)
            pending = undefined
          }
          fail(l.line, l.offset, `line is longer than ${maxChars} bytes (maxLineBytes)`, out)
          continue
        }
        if (pending !== undefined) {
          pending.parts.push(pending.eol, l.text)
          pending.chars += pending.eol.length + l.text.length
          pending.eol = l.eol
          if (quoteOpenAtEnd(l.text, true, delimiter)) {
            if (pending.chars > maxChars) {
              fail(pending.line, l.offset, `csv: quoted field not closed within ${maxChars} characters`, out)
              pending = undefined
            }
            continue
          }
          const text = pending.parts.join('')
          const line = pending.line
          pending = undefined
          record({ text, line, offset: l.offset }, out)
          continue
        }
        if (l.text.trim() === '') continue
        if (quoteOpenAtEnd(l.text, false, delimiter)) {
          pending = { parts: [l.text], chars: l.text.length, line: l.line, eol: l.eol }
          continue
        }
        record({ text: l.text, line: l.line, offset: l.offset }, out)
      }
    },
    end (out) {
      flush(out)
      if (pending !== undefined) {
        out.push({ error: { line: pending.line, message: 'csv: quoted field not closed at the end of input' }, offset: lastOffset })
        pending = undefined
      }
    },
  }
}
