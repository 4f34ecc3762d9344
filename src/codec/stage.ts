/**
 * Staging: samples, metadata and exemplars copied into the core's staging areas, for the
 * append that follows. Values and timestamps go in with one typed-array `set()` when they come
 * in typed arrays (element by element for plain arrays, type-checked on the way).
 *
 * `addStaged()` is the one sort-and-retry path of every append: stage, append (or check), and
 * when the core answers that the timestamps are out of order, stage a sorted copy and go again.
 */
import { CoreCode, ValidationError, coreMessages } from '../errors.js'
import { STALE } from '../types.js'
import type { Item, Timestamps, Values } from '../types.js'
import type { Core } from '../core/wasm.js'
import { AS_SECONDS, AS_STRICT, AS_TS_I64, LB_NAME_OPTIONAL } from '../core/wasm.js'
import type { LabelCache } from './label-cache.js'
import type { CacheEntry } from './label-cache.js'
import { checkMetadata, invalid, recordLabels } from './validate.js'
import { splitLabels } from './label-cache.js'

/** The stale marker's bits (0x7ff0000000000002), low and high words. */
const STALE_LO = 2
const STALE_HI = 0x7ff00000

/** The error for a BigInt outside a BigInt64Array. */
const BIGINT_ARRAY = 'must be a number (BigInt timestamps go in a BigInt64Array, which holds only values in the int64 range)'

/** First timestamps below this mark a series in seconds (the Python library's rule). */
export const SECONDS_BELOW = 1e10

/** Bytes of a record of the core's addSingles() table. */
export const SINGLE_RECORD = 32

/** Samples sorted by timestamp, and where each came from. */
export interface SortedSamples {
  values: Float64Array
  timestamps: Float64Array | BigInt64Array
  /** Index in the item of each sorted sample. */
  order: number[]
}

const encoder = new TextEncoder()

/**
 * The timestamp flags of a series: the seconds rule is decided here, once, from the first
 * timestamp as given, so a sorted copy or a slice of the series follows the same rule.
 */
export function flagsFor (timestamps: Timestamps, strict: number, autoSeconds: boolean): number {
  let flags = strict & AS_STRICT
  if (autoSeconds && timestamps.length > 0) {
    const t0 = Number(timestamps[0])
    if (Number.isFinite(t0) && t0 < SECONDS_BELOW) flags |= AS_SECONDS
  }
  return flags
}

/** Copies samples [start, stop) into the core's stage; returns the flags for the append. */
export function stageSamples (core: Core, values: Values, timestamps: Timestamps, start: number, stop: number, item: Item, index: number, flags: number): number {
  const n = stop - start
  const vi = (core.exports.stageReserve(n * 16 || 8) >>> 0) >>> 3
  core.refresh()
  stageNumbers(core.f64, vi, values, start, stop, item, index, 'values')
  if (timestamps instanceof BigInt64Array) {
    core.i64.set(start === 0 && stop === timestamps.length ? timestamps : timestamps.subarray(start, stop), vi + n)
    return flags | AS_TS_I64
  }
  stageNumbers(core.f64, vi + n, timestamps, start, stop, item, index, 'timestamps')
  return flags
}

/**
 * The core call addStaged() makes on staged samples (an append, or the check), set up by its
 * owner just before: an object reused call after call, not a closure made per series.
 */
export interface StagedOp {
  /** Runs the core call with the staged samples' flags; returns its code. */
  run (flags: number): number
}

/**
 * Stages samples [start, end) and runs `op` on them (an append, or the core's check). When
 * the core answers TS_UNSORTED and `sort` is on, stages them sorted (stable) and runs it
 * again. Throws the ValidationError naming the sample at fault; returns the sorted copy when
 * it made one.
 */
export function addStaged (core: Core, item: Item, index: number, values: Values, timestamps: Timestamps, start: number, end: number, base: number, sort: boolean, op: StagedOp): SortedSamples | undefined {
  let rc = op.run(stageSamples(core, values, timestamps, start, end, item, index, base))
  let sorted: SortedSamples | undefined
  if (rc === CoreCode.TS_UNSORTED && sort) {
    sorted = sortedCopy(values, timestamps, start, end)
    rc = op.run(stageSamples(core, sorted.values, sorted.timestamps, 0, end - start, item, index, base))
  }
  if (rc < 0) throw sampleError(core, rc, item, index, start, sorted?.order)
  return sorted
}

/** The ValidationError for a core error about a sample; `order` maps a sorted copy back. */
export function sampleError (core: Core, rc: number, item: Item, index: number, start: number, order?: number[]): ValidationError {
  const at = core.exports.errorIndex()
  const sampleIndex = at < 0 ? undefined : order !== undefined ? order[at] : start + at
  return invalid(item, index, 'timestamps', coreMessages[rc] ?? `error ${rc}`, sampleIndex)
}

/** Stages an item's help and unit for a 2.0 append; returns [type, helpLen, unitLen]. */
export function stageMetadata (core: Core, item: Item, index: number): [number, number, number] {
  const type = checkMetadata(item, index)
  const md = item.metadata
  const help = md?.help ?? ''
  const unit = md?.unit ?? ''
  if (help === '' && unit === '') return [type, 0, 0]
  const [hl, ul] = stageTexts(core, help, unit, '')
  return [type, hl, ul]
}

/** Stages a 1.0 metadata record's family name, help and unit; returns [nameLen, helpLen, unitLen]. */
export function stageMetadataV1 (core: Core, item: Item, name: string): [number, number, number] {
  return stageTexts(core, name, item.metadata?.help ?? '', item.metadata?.unit ?? '')
}

/** Writes three strings back to back, as UTF-8, into the metadata stage; returns their byte lengths. */
function stageTexts (core: Core, a: string, b: string, c: string): [number, number, number] {
  const p = core.exports.v2MetaReserve((a.length + b.length + c.length) * 3 + 8) >>> 0
  core.refresh()
  const u8 = core.u8
  const al = encoder.encodeInto(a, u8.subarray(p, p + a.length * 3)).written
  const bl = encoder.encodeInto(b, u8.subarray(p + al, p + al + b.length * 3)).written
  const cl = encoder.encodeInto(c, u8.subarray(p + al + bl, p + al + bl + c.length * 3)).written
  return [al, bl, cl]
}

/**
 * Validates and stages an item's exemplars for the next series append (exemplars.ts); returns
 * how many. Their label blocks are pinned in the cache until the append.
 */
export function stageExemplars (core: Core, labels: LabelCache, item: Item, index: number): number {
  const xs = item.exemplars
  const ex = core.exports
  if (xs === undefined || xs.length === 0) return 0
  const bad = (i: number, why: string): ValidationError => new ValidationError(`exemplars[${i}]: ${why}`, { seriesIndex: index, labels: recordLabels(item), field: 'item' })
  if (!Array.isArray(xs)) throw bad(0, 'exemplars must be an array')
  const blocks: CacheEntry[] = []
  labels.pinned = true
  try {
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]
      if (x === null || typeof x !== 'object') throw bad(i, 'must be an object { labels, value, timestamp }')
      if (typeof x.value !== 'number') throw bad(i, 'value must be a number')
      if (!Number.isSafeInteger(x.timestamp)) throw bad(i, 'timestamp must be an integer number of milliseconds')
      const [names, values] = splitLabels(x.labels ?? {}, index)
      try {
        blocks.push(labels.encode(names, values, index, true, LB_NAME_OPTIONAL))
      } catch (err) {
        if (err instanceof ValidationError) throw bad(i, `labels: ${err.detail}`)
        throw err
      }
    }
  } finally {
    labels.pinned = false
  }
  const base = (ex.exemplarReserve(xs.length) >>> 0)
  core.refresh()
  for (let i = 0; i < xs.length; i++) {
    const r = base + i * 24
    core.u32[r >>> 2] = blocks[i].ptr
    core.u32[(r >>> 2) + 1] = blocks[i].len
    core.f64[(r >>> 3) + 1] = xs[i].value
    core.i64[(r >>> 3) + 2] = BigInt(xs[i].timestamp)
  }
  ex.exemplarSet(xs.length)
  return xs.length
}

/**
 * Writes addSingles() records for `count` one-sample items at u32 index `rec`: items
 * [first, first + count) of `items`, or with `idx`, items idx[first..first + count), their
 * label entries from `entries` (parallel to `items`) while still valid. Label blocks are
 * pinned until the core has read the records.
 */
export function stageSingles (core: Core, labels: LabelCache, strict: number, autoSeconds: boolean, items: readonly Item[], first: number, count: number, idx: readonly number[] | undefined, entries: readonly CacheEntry[] | undefined, rec: number): void {
  for (let k = 0; k < count; k++) {
    const i = idx === undefined ? first + k : idx[first + k]
    const item = items[i]
    // fresh(), written out: this runs once per one-sample item.
    const known = entries?.[i]
    const entry = known !== undefined && labels.valid(known) ? known : labels.resolve(item, i)
    core.refresh()
    const u32 = core.u32
    const r = rec + k * (SINGLE_RECORD >>> 2)
    u32[r] = entry.ptr
    u32[r + 1] = entry.len
    core.f64[(r >>> 1) + 2] = item.values[0] as number // isSingle(): a number
    const t = item.timestamps[0]
    let flags = strict
    if (typeof t === 'bigint') {
      // Only a BigInt64Array holds BigInts that fit: one in a plain array would wrap modulo 2^64.
      if (!(item.timestamps instanceof BigInt64Array)) throw invalid(item, i, 'timestamps', BIGINT_ARRAY, 0)
      core.i64[(r >>> 1) + 3] = t
      flags |= AS_TS_I64
      if (autoSeconds && Number(t) < SECONDS_BELOW) flags |= AS_SECONDS
    } else {
      if (typeof t !== 'number') throw invalid(item, i, 'timestamps', 'must be a number', 0)
      core.f64[(r >>> 1) + 3] = t
      if (autoSeconds && t < SECONDS_BELOW) flags |= AS_SECONDS
    }
    u32[r + 2] = flags
  }
}

/**
 * Samples [start, stop) sorted by timestamp (stable: equal timestamps keep their order).
 * Values are copied as bytes when they come in a Float64Array, so NaN payloads survive.
 */
export function sortedCopy (values: Values, timestamps: Timestamps, start: number, stop: number): SortedSamples {
  const n = stop - start
  const order = new Array<number>(n)
  for (let i = 0; i < n; i++) order[i] = start + i
  let ts: Float64Array | BigInt64Array
  if (timestamps instanceof BigInt64Array) {
    order.sort((a, b) => (timestamps[a] < timestamps[b] ? -1 : timestamps[a] > timestamps[b] ? 1 : 0))
    ts = new BigInt64Array(n)
    for (let i = 0; i < n; i++) ts[i] = timestamps[order[i]]
  } else {
    order.sort((a, b) => (timestamps[a] as number) - (timestamps[b] as number))
    ts = new Float64Array(n)
    for (let i = 0; i < n; i++) ts[i] = timestamps[order[i]] as number
  }
  const vs = new Float64Array(n)
  if (values instanceof Float64Array) {
    const src = new BigUint64Array(values.buffer, values.byteOffset, values.length)
    const dst = new BigUint64Array(vs.buffer)
    for (let i = 0; i < n; i++) dst[i] = src[order[i]]
  } else {
    // Staged once already, so every value is a number or STALE.
    for (let i = 0; i < n; i++) {
      const v = values[order[i]]
      if (typeof v === 'number') vs[i] = v
      else setStale(vs, i)
    }
  }
  return { values: vs, timestamps: ts, order }
}

/**
 * Copies values or float timestamps [start, stop) to f64[at..]: one set() from a Float64Array,
 * element by element (each checked to be a number) from anything else.
 */
function stageNumbers (f64: Float64Array, at: number, src: ArrayLike<unknown>, start: number, stop: number, item: Item, index: number, field: 'values' | 'timestamps'): void {
  if (src instanceof Float64Array) {
    f64.set(start === 0 && stop === src.length ? src : src.subarray(start, stop), at)
    return
  }
  for (let i = start; i < stop; i++) {
    const v = src[i]
    if (typeof v !== 'number') {
      if (v === STALE && field === 'values') {
        setStale(f64, at + i - start)
        continue
      }
      throw invalid(item, index, field, typeof v === 'bigint' && field === 'timestamps' ? BIGINT_ARRAY : 'must be a number', i)
    }
    f64[at + i - start] = v
  }
}

/** Writes the stale marker's bits into f64[i] through an integer view (a NaN as a number may lose its payload). */
function setStale (f64: Float64Array, i: number): void {
  const u32 = new Uint32Array(f64.buffer, f64.byteOffset + i * 8, 2)
  u32[0] = STALE_LO
  u32[1] = STALE_HI
}
