/**
 * CSV rows without quotes, read fast: most rows repeat a few series, and building and keying
 * a label object, cutting every cell out and parsing numbers from strings cost more than
 * reading the row. A row is read straight from its text (cell positions, numbers parsed in
 * place), and rows of one series share one label object, found by comparing text.
 */
import { setLabel } from '../labels.js'
import type { RecordBatch } from './batch.js'
import { detach, detachLabels } from './record.js'
import { looksLikeDate, parseIsoDate } from './timestamps.js'
import { parseDecimalAt, parseIntegerAt } from './values.js'

/**
 * How timestamps are written: 'auto' (numbers of milliseconds and ISO-8601 dates, told apart
 * cell by cell), integer (or decimal) milliseconds, seconds, or ISO-8601 text.
 */
export type TimestampUnit = 'auto' | 'ms' | 's' | 'iso'

/** How a header's columns are read. */
export interface Plan {
  width: number
  timestampIndex: number
  timestampColumn: string
  labels: Array<{ name: string, index: number }>
  values: Array<{ name: string, index: number }>
  /** Index of a `__name__` label column, or -1. */
  nameIndex: number
}

/** Label objects a {@link LabelMaker} keeps; then it forgets them all (hostile input stays bounded). */
const MAX_SERIES = 50_000

/** A label object kept for one value column, with the one that followed it last time. */
interface Known {
  /** The key columns' cells as the row has them: joined by the delimiter (which no plain cell holds). */
  key: string
  metric: Record<string, string>
  next: Known | undefined
}

/** Makes the label object of a row's sample, and shares it between the rows of one series. */
export class LabelMaker {
  /** The label and `__name__` columns, in row order: they make the key. */
  readonly keyColumns: number[]
  /** Whether the key columns are side by side: the key is then a cut of the row's text. */
  readonly contiguous: boolean
  /** Per value column: the known label objects by key, and the last one used. */
  #known: Array<Map<string, Known>>
  #last: Array<Known | undefined>
  #size = 0

  constructor (readonly plan: Plan, readonly metricName: string | undefined, readonly delimiter: string) {
    this.keyColumns = [...plan.labels.map(l => l.index), ...(plan.nameIndex >= 0 ? [plan.nameIndex] : [])].sort((a, b) => a - b)
    this.contiguous = this.keyColumns.every((c, i) => i === 0 || c === this.keyColumns[i - 1] + 1)
    this.#known = plan.values.map(() => new Map())
    this.#last = plan.values.map(() => undefined)
  }

  /** A new label object for value column `k` of a row. */
  make (row: readonly string[], k: number): Record<string, string> {
    const p = this.plan
    const rowName = p.nameIndex >= 0 ? row[p.nameIndex] : ''
    const metric: Record<string, string> = { __name__: rowName !== '' ? rowName : this.metricName ?? p.values[k].name }
    for (const l of p.labels) {
      const lv = row[l.index]
      if (lv !== '') setLabel(metric, l.name, lv)
    }
    return metric
  }

  /** The shared label object for value column `k` of a row split without quotes. */
  shared (row: readonly string[], k: number): Record<string, string> {
    const key = this.keyColumns.map(c => row[c]).join(this.delimiter)
    return (this.#known[k].get(key) ?? this.#add(key, row, k)).metric
  }

  /**
   * The shared label object for value column `k` of the row text[rowFrom, rowTo), whose key
   * columns are text[from, to) (contiguous key columns only). Tries the series that followed the last one, then the same
   * one again, by comparing text; then looks the key up.
   */
  sharedAt (text: string, from: number, to: number, k: number, rowFrom: number, rowTo: number): Record<string, string> {
    const last = this.#last[k]
    // A cut and === (a memcmp) is much faster than startsWith, or than hashing the key.
    const key = text.slice(from, to)
    let found = last?.next
    if (found === undefined || found.key !== key) {
      found = last !== undefined && last.key === key ? last : this.#known[k].get(key) ?? this.#add(key, text.slice(rowFrom, rowTo).split(this.delimiter), k)
    }
    if (last !== undefined && last !== found) last.next = found
    this.#last[k] = found
    return found.metric
  }

  #add (key: string, row: readonly string[], k: number): Known {
    if (++this.#size > MAX_SERIES) {
      for (const m of this.#known) m.clear()
      this.#last.fill(undefined)
      this.#size = 1
    }
    // Detached: cells may be views into a whole chunk of input, which a kept label must not pin.
    const entry: Known = { key: detach(key), metric: detachLabels(this.make(row, k)), next: undefined }
    this.#known[k].set(entry.key, entry)
    return entry
  }
}

/**
 * Reads rows without quotes straight from their text. `read` returns false, having pushed
 * nothing, for a row it leaves to the general path: a field count other than the header's,
 * cells with spaces, NaN or Inf, long numbers, a timestamp unit other than numbers and dates
 * with their offset, key columns that are not side by side.
 */
export class PlainRows {
  /** Where each field starts; field f ends one before starts[f + 1]. */
  readonly #starts: Int32Array
  readonly #values: Float64Array

  constructor (readonly plan: Plan, readonly unit: TimestampUnit, readonly labels: LabelMaker, readonly delimiter: string) {
    this.#starts = new Int32Array(plan.width + 1)
    this.#values = new Float64Array(plan.values.length)
  }

  /** Reads the row text[from, to). */
  read (text: string, from: number, to: number, line: number, offset: number, out: RecordBatch): boolean {
    const { plan, delimiter, labels } = this
    const starts = this.#starts
    if (!labels.contiguous) return false
    let p = from
    starts[0] = from
    for (let f = 1; f < plan.width; f++) {
      const q = text.indexOf(delimiter, p)
      if (q === -1 || q >= to) return false
      starts[f] = p = q + 1
    }
    const extra = text.indexOf(delimiter, p)
    if (extra !== -1 && extra < to) return false
    starts[plan.width] = to + 1
    const ts = this.#timestamp(text, starts[plan.timestampIndex], starts[plan.timestampIndex + 1] - 1)
    if (ts === undefined) return false
    const values = this.#values
    for (let k = 0; k < plan.values.length; k++) {
      const c = plan.values[k].index
      const from = starts[c]
      const to = starts[c + 1] - 1
      // An empty cell is no sample (NaN marks it: a value read here is never NaN).
      const v = from === to ? NaN : parseDecimalAt(text, from, to)
      if (v === undefined) return false
      values[k] = v
    }
    const keys = labels.keyColumns
    const keyFrom = keys.length === 0 ? from : starts[keys[0]]
    const keyTo = keys.length === 0 ? from : starts[keys[keys.length - 1] + 1] - 1
    for (let k = 0; k < values.length; k++) {
      if (Number.isNaN(values[k])) continue
      out.sample(labels.sharedAt(text, keyFrom, keyTo, k, from, to), values[k], ts, line, offset)
    }
    return true
  }

  /** The timestamp in text[from, to), or undefined to leave the row to the general path. */
  #timestamp (text: string, from: number, to: number): number | undefined {
    switch (this.unit) {
      case 'auto':
      case 'ms': {
        // + 0: "-0" is 0, as decimalToInteger reads it.
        const t = parseIntegerAt(text, from, to)
        if (t !== undefined) return t + 0
        if (this.unit === 'ms' || !looksLikeDate(text.slice(from, Math.min(to, from + 7)))) return undefined
        const d = parseIsoDate(text.slice(from, to))
        return Number.isNaN(d) ? undefined : d
      }
      case 's': {
        const t = to - from <= 12 ? parseIntegerAt(text, from, to) : undefined
        return t === undefined ? undefined : t * 1000 + 0
      }
      default:
        return undefined
    }
  }
}
