/**
 * The records of one chunk of input, kept in columns: a one-sample record (a Prometheus text
 * line, a CSV value cell) costs no object of its own, only a slot in each column. Records are
 * made whole only for a consumer that takes them one at a time; regroup reads the columns.
 */
import type { InputRecord } from './record.js'

const NO_LABELS: Record<string, string> = Object.freeze({}) as Record<string, string>

export class RecordBatch {
  /** Per record: the label object of a one-sample record. */
  metric: Array<Record<string, string>>
  value: Float64Array
  timestamp: Float64Array
  line: Float64Array
  offset: Float64Array
  /** Per record: null for a one-sample record, else the record itself (an error, a JSON lines item). */
  whole: Array<InputRecord | null>
  /** Records in the batch. */
  length = 0

  /**
   * `capacity`: the records expected (the lines of a chunk, times the samples a line can give);
   * the columns are allocated once at that size (typed arrays, outside the young generation
   * that short-lived objects crowd) and grow if it was too small.
   */
  constructor (capacity = 16) {
    const n = Math.max(capacity, 1)
    this.metric = new Array(n)
    this.value = new Float64Array(n)
    this.timestamp = new Float64Array(n)
    this.line = new Float64Array(n)
    this.offset = new Float64Array(n)
    this.whole = new Array(n)
  }

  /** Adds a one-sample record. */
  sample (metric: Record<string, string>, value: number, timestamp: number, line: number, offset: number): void {
    if (this.length === this.value.length) this.#grow()
    const i = this.length++
    this.metric[i] = metric
    this.value[i] = value
    this.timestamp[i] = timestamp
    this.line[i] = line
    this.offset[i] = offset
    this.whole[i] = null
  }

  /** Adds a record as it is. */
  record (rec: InputRecord): void {
    if (this.length === this.value.length) this.#grow()
    const i = this.length++
    this.metric[i] = NO_LABELS
    this.line[i] = 'item' in rec ? rec.line : rec.error.line
    this.offset[i] = rec.offset
    this.whole[i] = rec
  }

  /** Record i, made whole. */
  at (i: number): InputRecord {
    return this.whole[i] ?? { item: { metric: this.metric[i], values: [this.value[i]], timestamps: [this.timestamp[i]] }, line: this.line[i], offset: this.offset[i] }
  }

  /** The records from i on, whose offset is above `after`, in a new batch; `dropped` is told each other record. */
  rest (i: number, after = -1, dropped?: (rec: InputRecord) => void): RecordBatch {
    const out = new RecordBatch(this.length - i)
    for (; i < this.length; i++) {
      const rec = this.whole[i]
      if (this.offset[i] <= after) dropped?.(this.at(i))
      else if (rec !== null) out.record(rec)
      else out.sample(this.metric[i], this.value[i], this.timestamp[i], this.line[i], this.offset[i])
    }
    return out
  }

  #grow (): void {
    const n = this.value.length * 2
    const grown = (a: Float64Array): Float64Array => {
      const b = new Float64Array(n)
      b.set(a)
      return b
    }
    this.value = grown(this.value)
    this.timestamp = grown(this.timestamp)
    this.line = grown(this.line)
    this.offset = grown(this.offset)
    this.metric.length = n
    this.whole.length = n
  }
}
