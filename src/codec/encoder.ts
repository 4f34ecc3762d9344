/**
 * The encoder: what every request of one codec shares. It owns the core instance, the series
 * cache, the encode options and the core's request slots, resolves and validates items, and
 * recovers from traps. Requests themselves are RequestBuilders (builder.ts), one per slot.
 *
 * A call that may trap ends in `recover(err)` at its boundary (the Codec's public methods, the
 * writer's write call): the core is then replaced, the cache dropped, and every slot of the old
 * core is void (`generation` moved on).
 */
import { CoreCode, InternalError, InvalidArgumentError, coreMessages } from '../errors.js'
import type { EncodeOptions, Item, Labels, Timestamps, Values } from '../types.js'
import { AS_STRICT, Core, DEFAULT_MAX_DECODED } from '../core/wasm.js'
import { LabelCache } from './label-cache.js'
import type { CacheEntry, CodecStats, SeriesHandle } from './label-cache.js'
import { SINGLE_RECORD, addStaged, flagsFor, stageExemplars, stageSingles } from './stage.js'
import type { StagedOp } from './stage.js'
import { checkExtras, checkShape, invalid } from './validate.js'

/** Options of createCodec(). */
export interface CodecOptions extends EncodeOptions {
  /**
   * Upper bound, in bytes of linear memory, for cached label blocks. When it is reached the
   * whole cache is dropped and refilled from use. 0 disables the cache. Default 128 MiB.
   */
  seriesCacheBytes?: number
  /** Largest decompressed body decode() accepts. Default 32 MiB. */
  maxDecodedBytes?: number
  /**
   * Ceiling for the core's linear memory. A call that needs more throws CoreTrapError; the
   * codec then starts over with a fresh instance (its series cache refills). Default 4 GiB.
   */
  maxMemoryBytes?: number
}

const DEFAULT_CACHE_BYTES = 128 << 20
/** The core's request slots; slot 0 is the Codec's own request. */
const SLOTS = 4096

/** An item checked by Encoder.prepare(): labels resolved, samples valid and in order. */
export interface Prepared {
  entry: CacheEntry
  values: Values
  timestamps: Timestamps
  /** Timestamp flags for the core (strict, seconds), decided once for the whole series. */
  flags: number
  item: Item
  index: number
}

function integer (name: string, v: unknown, min: number): void {
  if (!(typeof v === 'number' && Number.isInteger(v) && v >= min)) {
    throw new InvalidArgumentError(`invalid ${name}: must be an integer >= ${min} (got ${String(v)})`)
  }
}

/** Shared state of one codec's requests. Not safe to share across threads. */
export class Encoder {
  readonly core: Core
  readonly labels: LabelCache
  /** AS_STRICT when strictTimestamps. */
  readonly strict: number
  readonly autoSeconds: boolean
  readonly sort: boolean
  readonly maxDecoded: number
  /** Free request slots, and the next never-used one. */
  #slots: number[] = []
  #nextSlot = 1
  #slotGen: number
  /** The slot the core has selected, or -1 when unknown (after a call that moves it). */
  #selected = 0
  /** The core's timestamp check, for addStaged() in prepare(). */
  readonly #check: StagedOp & { n: number }

  constructor ({
    autoConvertSecondsToMs = true,
    strictTimestamps = false,
    sortSamples = true,
    seriesCacheBytes = DEFAULT_CACHE_BYTES,
    maxDecodedBytes = DEFAULT_MAX_DECODED,
    maxMemoryBytes,
  }: CodecOptions = {}) {
    integer('seriesCacheBytes', seriesCacheBytes, 0)
    integer('maxDecodedBytes', maxDecodedBytes, 0)
    if (maxMemoryBytes !== undefined) integer('maxMemoryBytes', maxMemoryBytes, 1)
    // 2.0 request templates (the core's prompb2.ts) get a quarter of the series cache's budget.
    this.core = new Core(maxMemoryBytes, Math.min(1 << 30, Math.floor(seriesCacheBytes / 4)))
    this.labels = new LabelCache(this.core, seriesCacheBytes)
    this.#slotGen = this.core.generation
    this.strict = strictTimestamps ? AS_STRICT : 0
    this.autoSeconds = autoConvertSecondsToMs
    this.sort = sortSamples
    this.maxDecoded = maxDecodedBytes
    const core = this.core
    this.#check = { n: 0, run (flags: number): number { return core.exports.checkSeries(this.n, flags) } }
  }

  /** Bumped whenever the core is replaced after a trap: request slots are then void. */
  get generation (): number {
    return this.core.generation
  }

  /**
   * The error to throw for `err`: after a trap the core is replaced (CoreTrapError), the cache
   * dropped and every request slot void. Anything else comes back unchanged.
   */
  recover (err: unknown): unknown {
    const e = this.core.recover(err)
    this.labels.checkCore()
    return e
  }

  /** A free request slot (1..4095). */
  takeSlot (): number {
    this.#checkSlots()
    const k = this.#slots.pop() ?? this.#nextSlot++
    if (k >= SLOTS) throw new InternalError('request slot out of range')
    return k
  }

  /** Returns a slot taken from the core of `gen`; slots of a replaced core are dropped. */
  giveSlot (k: number, gen: number): void {
    this.#checkSlots()
    if (gen === this.core.generation && k !== 0) this.#slots.push(k)
  }

  #checkSlots (): void {
    if (this.#slotGen === this.core.generation) return
    this.#slotGen = this.core.generation
    this.#slots = []
    this.#nextSlot = 1
    this.#selected = 0
  }

  /** Makes slot k the core's current request (1.0 and 2.0 state alike). */
  select (k: number): void {
    if (k === this.#selected && this.#slotGen === this.core.generation) return
    this.#checkSlots()
    if (this.core.exports.reqSelect(k) !== 0) throw new InternalError(`request slot ${k} out of range`)
    this.#selected = k
  }

  /** Starts a call: label objects are compared again from here on. */
  beginCall (): void {
    this.labels.beginCall()
  }

  /** Validates and pre-encodes a label set into a handle for `item.series`. */
  series (labels: Labels): SeriesHandle {
    try {
      return this.labels.handle(labels)
    } catch (err) {
      throw this.recover(err)
    }
  }

  /** Checks an item's shape and extras and returns its validated label block. Throws ValidationError. */
  resolve (item: Item, index: number): CacheEntry {
    checkShape(item, index)
    checkExtras(item, index)
    return this.labels.resolve(item, index)
  }

  /** The timestamp flags of a series (see flagsFor). */
  flagsFor (timestamps: Timestamps): number {
    return flagsFor(timestamps, this.strict, this.autoSeconds)
  }

  /**
   * Validates an item completely (labels, extras, value types, timestamps) without appending
   * it, and returns it with its label block resolved and its samples in order (a sorted copy
   * when they were not). Throws ValidationError. `entry`, when given, comes from resolve(),
   * which checked the item's shape and extras already.
   */
  prepare (item: Item, index: number, entry = this.resolve(item, index)): Prepared {
    const flags = this.flagsFor(item.timestamps)
    const n = item.values.length
    const check = this.#check
    check.n = n
    const sorted = addStaged(this.core, item, index, item.values, item.timestamps, 0, n, flags, this.sort, check)
    return { entry, values: sorted?.values ?? item.values, timestamps: sorted?.timestamps ?? item.timestamps, flags, item, index }
  }

  /**
   * prepare() for every item of a call, exemplars included; throws the first ValidationError,
   * with nothing of the call kept.
   */
  prepareAll (items: readonly Item[]): Prepared[] {
    this.beginCall()
    const out = new Array<Prepared>(items.length)
    for (let i = 0; i < items.length; i++) {
      out[i] = this.prepare(items[i], i)
      if (items[i].exemplars !== undefined) {
        // Validated (labels included) by staging them, then dropped: they are staged again
        // with the item's first record.
        try {
          this.stageExemplars(items[i], i)
        } finally {
          this.clearExemplars()
        }
      }
    }
    return out
  }

  /** Validates and stages an item's exemplars for the next series append; returns how many. */
  stageExemplars (item: Item, index: number): number {
    return stageExemplars(this.core, this.labels, item, index)
  }

  /** Drops staged exemplars (after a failed append). */
  clearExemplars (): void {
    this.core.exports.exemplarSet(0)
  }

  /**
   * Appends `count` one-sample items with the core's addSingles() family: items [first,
   * first + count) of `items`, or with `idx`, items idx[first..first + count), with their
   * entries from `entries` (parallel to `items`) where still valid. Into the selected request
   * (1.0 or 2.0), or with `slots`, item k into the 1.0 request of slot slots[k], in item
   * order. Throws ValidationError for the first bad item; the requests then hold the records
   * before it (callers discard or truncate).
   */
  singles (items: readonly Item[], first: number, count: number, idx: readonly number[] | undefined, entries: readonly CacheEntry[] | undefined, v2: boolean, slots?: Uint32Array): void {
    const core = this.core
    const ex = core.exports
    const rec = (ex.stageReserve(count * SINGLE_RECORD) >>> 0) >>> 2
    this.labels.pinned = true
    try {
      stageSingles(core, this.labels, this.strict, this.autoSeconds, items, first, count, idx, entries, rec)
    } finally {
      this.labels.pinned = false
    }
    let rc: number
    if (slots !== undefined) {
      const u32 = core.u32
      for (let k = 0; k < count; k++) u32[rec + k * (SINGLE_RECORD >>> 2) + 3] = slots[k]
      this.#selected = -1 // addSinglesTo leaves the last record's slot selected
      rc = ex.addSinglesTo(count)
    } else {
      rc = v2 ? ex.v2AddSingles(count) : ex.addSingles(count)
    }
    if (rc === CoreCode.SLOT) throw new InternalError('request slot out of range')
    if (rc < 0) {
      const at = ex.errorIndex()
      const i = idx === undefined ? first + at : idx[first + at]
      throw invalid(items[i], i, 'timestamps', coreMessages[rc] ?? `error ${rc}`, 0)
    }
  }

  /** Cache counters. */
  stats (): CodecStats {
    return this.labels.stats()
  }
}
