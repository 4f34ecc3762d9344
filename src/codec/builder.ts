/**
 * RequestBuilder: one request being built in one of the core's request slots, Remote Write 1.0
 * or 2.0. Records are appended to it (series, one-sample items, native histograms, exemplars,
 * metadata), it can be cut back to a mark, and sealing compresses it. The Codec builds its
 * requests in slot 0; the writer builds one per shard at once in the others.
 *
 * Every append selects the builder's slot first (a no-op when it is selected already), so
 * builders of one encoder can be used in any order. Appends throw ValidationError and leave
 * the request as it was before the record; the caller recovers from traps (Encoder.recover).
 */
import type { Item } from '../types.js'
import type { CacheEntry } from './label-cache.js'
import type { Encoder, Prepared } from './encoder.js'
import { addStaged, stageExemplars, stageMetadata, stageMetadataV1 } from './stage.js'
import type { StagedOp } from './stage.js'
import { stageHistograms, stagedBytes } from './histogram.js'
import { checkMetadata, checkStart, labelsOf, recordLabels } from './validate.js'

/** Where a request was, for rollback(): its 1.0 length, or its 2.0 series and symbol lengths. */
export type Mark = number | readonly [number, number, number]

/** A sealed request: the compressed body (a view into linear memory) and its protobuf size. */
export interface Sealed {
  /** Valid until the next call on this builder's encoder. */
  body: Uint8Array
  /** Bytes of the uncompressed protobuf. */
  rawBytes: number
}

/** One series record's append, for addStaged(): the core call of a 1.0 or a 2.0 request. */
class SeriesAppend implements StagedOp {
  ptr = 0
  len = 0
  n = 0
  type = 0
  helpLen = 0
  unitLen = 0
  start = 0
  v2 = false
  readonly #enc: Encoder
  constructor (enc: Encoder) {
    this.#enc = enc
  }

  run (flags: number): number {
    const ex = this.#enc.core.exports
    if (!this.v2) return ex.addSeries(this.ptr, this.len, this.n, flags)
    ex.v2StartSet(this.start)
    return ex.v2AddSeries(this.ptr, this.len, this.n, flags, this.type, this.helpLen, this.unitLen)
  }
}

export class RequestBuilder {
  readonly #enc: Encoder
  /** The core's request slot, and the core generation it belongs to. */
  readonly slot: number
  readonly generation: number
  #v2: boolean
  /** Series records and samples appended since the start. */
  #series = 0
  #samples = 0
  /** 1.0: metric families whose metadata this request carries already. */
  readonly #families = new Set<string>()
  /** The series append addStaged() runs, set up per record. */
  readonly #op: SeriesAppend

  /** A new, empty request in `slot` (a free slot of the encoder's when not given). */
  constructor (enc: Encoder, v2: boolean, slot = enc.takeSlot()) {
    this.#enc = enc
    this.slot = slot
    this.generation = enc.generation
    this.#v2 = v2
    this.#op = new SeriesAppend(enc)
    this.reset(v2)
  }

  /** Built as a Remote Write 2.0 request. */
  get v2 (): boolean {
    return this.#v2
  }

  /** Whether the core this request lives in is still the encoder's (a trap replaces it). */
  get alive (): boolean {
    return this.generation === this.#enc.generation
  }

  /** Starts over, empty, as a 1.0 or 2.0 request. */
  reset (v2: boolean): void {
    this.#select()
    const ex = this.#enc.core.exports
    ex.reqReset()
    if (v2) ex.v2Reset()
    this.#v2 = v2
    this.#series = 0
    this.#samples = 0
    this.#families.clear()
  }

  #select (): void {
    this.#enc.select(this.slot)
  }

  /** Bytes of protobuf appended so far (for 2.0: series and symbols). */
  get size (): number {
    this.#select()
    const ex = this.#enc.core.exports
    return this.#v2 ? (ex.v2SeriesLen() >>> 0) + (ex.v2SymbolsLen() >>> 0) : ex.reqLen() >>> 0
  }

  /** Series records appended. */
  get seriesCount (): number {
    return this.#series
  }

  /** Samples appended. */
  get sampleCount (): number {
    return this.#samples
  }

  /** Where the request is now, for rollback(). */
  mark (): Mark {
    this.#select()
    const ex = this.#enc.core.exports
    return this.#v2 ? [ex.v2SeriesLen() >>> 0, ex.v2SymbolCount() >>> 0, ex.v2SymbolsLen() >>> 0] : ex.reqLen() >>> 0
  }

  /**
   * Cuts the request back to `mark`. Metadata families recorded since are forgotten as a whole
   * (a family sent twice in a request is harmless); counters are the caller's to restore.
   */
  rollback (mark: Mark): void {
    this.#select()
    const ex = this.#enc.core.exports
    if (typeof mark === 'number') ex.reqTruncate(mark)
    else ex.v2Truncate(mark[0], mark[1], mark[2])
    this.#families.clear()
  }

  /**
   * Appends samples [start, end) of an item as one series record (2.0: with its metadata,
   * start timestamp and staged exemplars), sorting them when they are out of order.
   * `entry` is the item's label block when already resolved.
   */
  append (item: Item, index: number, entry: CacheEntry | undefined, start = 0, end = item.values.length): void {
    const enc = this.#enc
    entry = enc.labels.fresh(entry, item, index)
    this.#add(item, index, entry, item.values, item.timestamps, start, end, enc.flagsFor(item.timestamps), true)
  }

  /** Appends samples [start, end) of a prepared (validated, sorted) item as one series record. */
  appendRange (p: Prepared, start: number, end: number): void {
    p.entry = this.#enc.labels.renew(p.entry, p.index)
    this.#add(p.item, p.index, p.entry, p.values, p.timestamps, start, end, p.flags, false)
  }

  #add (item: Item, index: number, entry: CacheEntry, values: Item['values'], timestamps: Item['timestamps'], start: number, end: number, flags: number, sort: boolean): void {
    const enc = this.#enc
    const n = end - start
    this.#select()
    const op = this.#op
    op.ptr = entry.ptr
    op.len = entry.len
    op.n = n
    op.v2 = this.#v2
    if (this.#v2) {
      const [type, helpLen, unitLen] = stageMetadata(enc.core, item, index)
      op.type = type
      op.helpLen = helpLen
      op.unitLen = unitLen
      op.start = checkStart(item, index)
    }
    addStaged(enc.core, item, index, values, timestamps, start, end, flags, sort && enc.sort, op)
    this.#series++
    this.#samples += n
  }

  /**
   * Appends `count` one-sample items (see Encoder.singles): items [first, first + count), or
   * items idx[first..first + count) with their entries in `entries`.
   */
  appendSingles (items: readonly Item[], first: number, count: number, idx?: readonly number[], entries?: readonly CacheEntry[]): void {
    this.#select()
    this.#enc.singles(items, first, count, idx, entries, this.#v2)
    this.#series += count
    this.#samples += count
  }

  /** Accounts for `count` one-sample items appended to this request by Encoder.singles() with slots. */
  addedSingles (count: number): void {
    this.#series += count
    this.#samples += count
  }

  /** Appends an item's native histograms as one series record (2.0: with its metadata). */
  appendHistograms (item: Item, index: number, entry: CacheEntry | undefined): void {
    const enc = this.#enc
    entry = enc.labels.fresh(entry, item, index)
    const hs = item.histograms ?? []
    const ex = enc.core.exports
    this.#select()
    if (this.#v2) {
      const [type, helpLen, unitLen] = stageMetadata(enc.core, item, index)
      const count = stageHistograms(enc.core, hs, index, recordLabels(item))
      ex.v2AddHistSeries(entry.ptr, entry.len, count, stagedBytes(hs), type, helpLen, unitLen)
    } else {
      const count = stageHistograms(enc.core, hs, index, recordLabels(item))
      ex.addHistSeries(entry.ptr, entry.len, count)
    }
    this.#series++
  }

  /**
   * 1.0: appends an item's exemplars as a series record of their own, as Prometheus sends
   * them. (2.0 has no exemplar-only series: stage them with Encoder.stageExemplars() for the
   * item's next record instead.)
   */
  appendExemplars (item: Item, index: number, entry: CacheEntry | undefined): void {
    const enc = this.#enc
    // The series' block first: staging pins the cache until the append.
    entry = enc.labels.fresh(entry, item, index)
    this.#select()
    if (stageExemplars(enc.core, enc.labels, item, index) > 0) enc.core.exports.addExemplarSeries(entry.ptr, entry.len)
  }

  /**
   * 1.0: the item's metadata as a WriteRequest.metadata record, once per metric family (its
   * __name__) and request.
   */
  appendMetadata (item: Item, index: number): void {
    const type = checkMetadata(item, index)
    const name = labelsOf(item)?.__name__ ?? ''
    if (name === '' || this.#families.has(name)) return
    this.#families.add(name)
    const core = this.#enc.core
    const [nl, hl, ul] = stageMetadataV1(core, item, name)
    this.#select()
    core.exports.addMetadataV1(type, nl, hl, ul)
  }

  /**
   * Finishes the request (2.0: symbols and series assembled) and snappy-compresses it. The body
   * is a view into linear memory, valid until the next call on the encoder.
   */
  seal (): Sealed {
    const core = this.#enc.core
    this.#select()
    if (this.#v2) core.exports.v2Finish()
    const n = core.exports.reqCompress() >>> 0
    core.refresh()
    const p = core.exports.snapPtr() >>> 0
    return { body: core.u8.subarray(p, p + n), rawBytes: core.exports.reqLen() >>> 0 }
  }

  /** The uncompressed protobuf of a 1.0 request, or of a 2.0 request after finish() (a copy). */
  protobuf (): Uint8Array {
    const core = this.#enc.core
    this.#select()
    if (this.#v2) core.exports.v2Finish()
    core.refresh()
    const p = core.exports.reqPtr() >>> 0
    return core.u8.slice(p, p + (core.exports.reqLen() >>> 0))
  }

  /** Gives the slot back; the builder must not be used after. */
  release (): void {
    this.#enc.giveSlot(this.slot, this.generation)
  }
}
