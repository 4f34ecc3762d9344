/**
 * Series reassembly: line-oriented inputs give one sample per line (Prometheus text, CSV)
 * or series cut into chunks (JSON lines). `regroup` merges what belongs to one series within
 * a bounded window, so that the writer sends few, long, time-sorted series.
 */
import { InvalidArgumentError } from '../errors.js'
import type { ErrorRecord, InputItem, InputRecord } from './record.js'
import { seriesKey } from './record.js'
import { batchesOf } from './reader.js'

export { seriesKey }

/** Options of {@link regroup}. */
export interface RegroupOptions {
  /**
   * How many samples to buffer before a batch is yielded. Memory is bounded by this plus the
   * samples of one input line (a line is never split across batches).
   */
  windowSamples: number
}

/** A batch of merged series, and the checkpoint it allows. */
export interface RegroupBatch {
  /** One item per label set, in order of first appearance; samples sorted by timestamp. */
  items: InputItem[]
  /** Total samples in `items`. */
  samples: number
  /**
   * Byte offset after the last input line covered: every line up to here is either in this
   * or an earlier batch, or was yielded as an error before this batch. Once this batch (and
   * the earlier ones) are acknowledged, it is safe to checkpoint at this offset.
   */
  offset: number
  /** The line number that ends at `offset`. */
  line: number
}

/** What {@link regroup} yields: merged batches, and error records passed through. */
export type RegroupOutput = RegroupBatch | ErrorRecord

/** Whether timestamps are in non-decreasing order. */
function isSorted (ts: readonly number[]): boolean {
  for (let i = 1; i < ts.length; i++) if (ts[i] < ts[i - 1]) return false
  return true
}

/**
 * Sorts a series' samples by timestamp, in place; stable, so samples with equal timestamps
 * keep their input order.
 */
export function sortSamples (item: InputItem): void {
  const { values, timestamps } = item
  if (isSorted(timestamps)) return
  const order = Array.from(timestamps.keys()).sort((a, b) => (timestamps[a] - timestamps[b]) || (a - b))
  const v = order.map(i => values[i])
  const t = order.map(i => timestamps[i])
  for (let i = 0; i < order.length; i++) {
    values[i] = v[i]
    timestamps[i] = t[i]
  }
}

interface Entry {
  item: InputItem
  /** Whether item's arrays were copied here and may be appended to. */
  owned: boolean
}

/** Copies the entry's arrays, once, so that the caller's records are never modified. */
function own (entry: Entry): InputItem {
  if (!entry.owned) {
    entry.item = { metric: entry.item.metric, values: entry.item.values.slice(), timestamps: entry.item.timestamps.slice() }
    entry.owned = true
  }
  return entry.item
}

function append (entry: Entry, item: InputItem): void {
  const { values, timestamps } = own(entry)
  for (let i = 0; i < item.values.length; i++) {
    values.push(item.values[i])
    timestamps.push(item.timestamps[i])
  }
}

/**
 * Merges the records of each label set (key: sorted label pairs) within a window of
 * `windowSamples` samples, sorts each merged series by timestamp (stable), and yields the
 * window as one batch with the offset it makes safe to checkpoint. Error records are passed
 * through as they come, before the batch that covers their line.
 *
 * Series are merged only within a window: a series whose samples lie further apart in the
 * input than the window comes out in several batches, each sorted on its own.
 */
export async function * regroup (records: AsyncIterable<InputRecord>, options: RegroupOptions): AsyncGenerator<RegroupOutput> {
  const window = options.windowSamples
  if (!(window >= 1)) throw new InvalidArgumentError(`regroup: windowSamples must be at least 1, got ${window}`)
  let series = new Map<string, Entry>()
  let buffered = 0
  /** Offset and line of the latest record seen; the line may still have more records. */
  let offset = 0
  let line = 0

  const flush = (): RegroupBatch => {
    const items: InputItem[] = []
    for (const entry of series.values()) {
      if (!isSorted(entry.item.timestamps)) sortSamples(own(entry))
      items.push(entry.item)
    }
    const batch = { items, samples: buffered, offset, line }
    series = new Map()
    buffered = 0
    return batch
  }

  /** Takes one record; returns what to yield for it: the record itself (an error), the window it closes, or nothing. */
  const take = (rec: InputRecord): RegroupOutput | undefined => {
    if ('error' in rec) {
      if (rec.offset > offset) {
        offset = rec.offset
        line = rec.error.line
      }
      return rec
    }
    const n = rec.item.values.length
    // Flush only at a line boundary, so that `offset` never claims half a line.
    const closed = buffered > 0 && buffered + n > window && rec.offset !== offset ? flush() : undefined
    const key = seriesKey(rec.item.metric)
    const entry = series.get(key)
    if (entry === undefined) series.set(key, { item: rec.item, owned: false })
    else append(entry, rec.item)
    buffered += n
    offset = rec.offset
    line = rec.line
    return closed
  }

  /** take() for a one-sample record of a RecordBatch, without making the record. */
  const takeSample = (metric: Record<string, string>, value: number, timestamp: number, at: number, where: number): RegroupBatch | undefined => {
    const closed = buffered > 0 && buffered + 1 > window && where !== offset ? flush() : undefined
    const key = seriesKey(metric)
    const entry = series.get(key)
    if (entry === undefined) {
      series.set(key, { item: { metric, values: [value], timestamps: [timestamp] }, owned: true })
    } else {
      const item = own(entry)
      item.values.push(value)
      item.timestamps.push(timestamp)
    }
    buffered++
    offset = where
    line = at
    return closed
  }

  // readItems' records come a batch at a time, in columns: no promise turn and no object per record.
  const batches = batchesOf(records)
  if (batches !== undefined) {
    for await (const b of batches) {
      for (let i = 0; i < b.length; i++) {
        const rec = b.whole[i]
        const out = rec !== null ? take(rec) : takeSample(b.metric[i], b.value[i], b.timestamp[i], b.line[i], b.offset[i])
        if (out !== undefined) yield out
      }
    }
  } else {
    for await (const rec of records) {
      const out = take(rec)
      if (out !== undefined) yield out
    }
  }
  if (series.size > 0) yield flush()
}
