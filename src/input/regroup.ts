/**
 * Series reassembly: line-oriented inputs give one sample per line (Prometheus text, CSV)
 * or series cut into chunks (JSON lines). `regroup` merges what belongs to one series within
 * a bounded window, so that the writer sends few, long, time-sorted series.
 */
import { InvalidArgumentError } from '../errors.js'
import type { ErrorRecord, InputItem, InputRecord } from './record.js'

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

/**
 * The key of a label set: its pairs sorted by name, length-prefixed so that no two
 * different label sets share a key.
 */
export function seriesKey (metric: Readonly<Record<string, string>>): string {
  const names = Object.keys(metric).sort()
  let key = ''
  for (const name of names) {
    const value = metric[name]
    key += `${name.length}:${name}${value.length}:${value}`
  }
  return key
}

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
    entry.item = { metric: entry.item.metric, values: Array.from(entry.item.values), timestamps: Array.from(entry.item.timestamps) }
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

  for await (const rec of records) {
    if ('error' in rec) {
      yield rec
      if (rec.offset > offset) {
        offset = rec.offset
        line = rec.error.line
      }
      continue
    }
    const n = rec.item.values.length
    // Flush only at a line boundary, so that `offset` never claims half a line.
    if (buffered > 0 && buffered + n > window && rec.offset !== offset) yield flush()
    const key = seriesKey(rec.item.metric)
    const entry = series.get(key)
    if (entry === undefined) series.set(key, { item: rec.item, owned: false })
    else append(entry, rec.item)
    buffered += n
    offset = rec.offset
    line = rec.line
  }
  if (series.size > 0) yield flush()
}
