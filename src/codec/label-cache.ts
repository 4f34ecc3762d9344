/**
 * The series cache: label sets encoded once into linear memory as pre-encoded label blocks,
 * and found again by a SeriesHandle or by the label object itself.
 *
 * Encoding a label set (UTF-8, validation, sorting) costs far more than copying its bytes. A
 * label object found in the cache is compared name by name and value by value with what was
 * encoded, so a mutated object is encoded again, never sent stale. The cache is bounded by
 * `seriesCacheBytes`: when full it is dropped whole (the generation moves on, and every entry
 * of an older generation is encoded again on its next use). A trap of the core drops it too.
 */
import { ValidationError, coreMessages } from '../errors.js'
import { setLabel } from '../labels.js'
import { checkWellFormed } from './unicode.js'
import type { Item, Labels, SeriesRef } from '../types.js'
import type { Core } from '../core/wasm.js'

/** A label set's cached block: valid while `gen` equals the cache's generation. */
export interface CacheEntry {
  ptr: number
  len: number
  gen: number
  /** Hash of the canonical label block: equal label sets hash equal (for sharding). */
  hash: number
  names: string[]
  values: string[]
}

/** A label object's link to one cache's entry for it (a class: what a Proxy makes up is not one). */
class Slot {
  constructor (
    /** The cache (LabelCache#id) the entry belongs to. */
    readonly cache: number,
    /** The object the slot was made for (an object that inherits it from a prototype does not own it). */
    readonly owner: object,
    public entry: CacheEntry,
    /** The call epoch in which `owner` was last compared with `entry`. */
    public epoch: number,
    /** The slot of another cache that saw the same object, if any. */
    public next: Slot | undefined,
  ) {}
}

/**
 * The one property every cache puts on label objects, shared by all codecs of the process: a
 * symbol per codec left one more hidden key on each object per codec that ever saw it (4,000
 * writers over the same label objects grew each by 4,000 keys, turned them into slow
 * dictionaries and held 220 MB). Each object keeps a chain of at most MAX_SLOTS slots, one per
 * cache. A cache that finds the chain full of slots of live caches keeps its slot in its own
 * WeakMap instead (slower to find, never thrashing); the slot of a collected codec's cache is
 * replaced.
 */
const SLOT = Symbol('prometheus-remote-writer.labels')
const MAX_SLOTS = 4
let nextCacheId = 1
/** Ids of the caches not collected yet. */
const live = new Set<number>()
const collected = new FinalizationRegistry<number>((id) => live.delete(id))

/** The slot of cache `id` in a label object's chain, if any (a bounded walk over real slots). */
function chainSlot (metric: object, id: number): Slot | undefined {
  let s: unknown = (metric as Record<symbol, unknown>)[SLOT]
  for (let k = 0; k < MAX_SLOTS && s instanceof Slot; k++) {
    if (s.cache === id) return s
    s = s.next
  }
  return undefined
}

/**
 * A series whose labels were validated and pre-encoded by `codec.series()`. Its labels are a
 * frozen copy, so the cached encoding can never go stale. Pass it as `item.series`.
 */
export class SeriesHandle implements SeriesRef {
  readonly labels: Readonly<Record<string, string>>
  /** @internal The cache that holds the block. */
  readonly owner: LabelCache
  /** @internal The cached block; re-encoded when its generation is stale. */
  entry: CacheEntry
  /** @internal */
  constructor (labels: Readonly<Record<string, string>>, owner: LabelCache, entry: CacheEntry) {
    this.labels = labels
    this.owner = owner
    this.entry = entry
  }
}

/** Cache and size counters of a codec. */
export interface CodecStats {
  /** Label sets encoded from strings. */
  labelEncodes: number
  /** Label sets served from the series cache. */
  cacheHits: number
  /** Times the cache was dropped because it reached seriesCacheBytes (or after a trap). */
  cacheResets: number
  /** Bytes of linear memory held by the cache. */
  cacheBytes: number
}

/** UTF-16 units in one label set. */
const MAX_LABEL_CHARS = 1 << 24

const encoder = new TextEncoder()

/** The label blocks of one core. */
export class LabelCache {
  readonly #core: Core
  readonly #cap: number
  /**
   * Where a label object's cache slot lives: in the chain under SLOT, a non-enumerable
   * symbol property on the object itself (a WeakMap lookup costs ~30x more with 10^5
   * entries), or, for frozen objects, this cache's WeakMap, which dies with it. for-in,
   * Object.keys, JSON.stringify, spreads and deep-equality checks ignore the property; the
   * slot's `owner` guards against an object that inherits it.
   */
  readonly #id = nextCacheId++
  readonly #byObject = new WeakMap<object, Slot>()
  /**
   * Bumped at the start of every call. A label object verified during the current epoch is
   * not compared again: nothing can change it within one synchronous call.
   */
  #epoch = 0
  #gen = 1
  #coreGen: number
  #stats = { labelEncodes: 0, cacheHits: 0, cacheResets: 0 }
  /**
   * Set while staged records point at cached label blocks: the cache may then run past its
   * cap rather than free blocks those records still point to.
   */
  pinned = false

  constructor (core: Core, cap: number) {
    live.add(this.#id)
    collected.register(this, this.#id)
    this.#core = core
    this.#cap = cap
    this.#coreGen = core.generation
  }

  /** Whether label blocks outlive their call (seriesCacheBytes > 0). */
  get caching (): boolean {
    return this.#cap > 0
  }

  /** Starts a call: label objects are compared again from here on, and an overfull cache is dropped. */
  beginCall (): void {
    this.#epoch++
    this.#trim()
  }

  /**
   * Drops the cache if a call ran it past its cap (it may, while records were pinned). With
   * the cache off (cap 0), label blocks live for one call: they are dropped at the next.
   */
  #trim (): void {
    const used = this.#core.exports.cacheBytes() >>> 0
    if (this.#cap > 0 ? used > this.#cap : used > 0) {
      this.#core.exports.cacheReset()
      this.#gen++
      if (this.#cap > 0) this.#stats.cacheResets++
    }
  }

  /** After a trap replaced the core: every block is gone. */
  checkCore (): void {
    if (this.#core.generation === this.#coreGen) return
    this.#coreGen = this.#core.generation
    this.#gen++
    this.#stats.cacheResets++
  }

  /** Whether an entry still points at a live block. */
  valid (entry: CacheEntry): boolean {
    return entry.gen === this.#gen && this.#core.generation === this.#coreGen
  }

  /** `entry` if it is still valid, else the item's block resolved again. */
  fresh (entry: CacheEntry | undefined, item: Item, index: number): CacheEntry {
    return entry !== undefined && this.valid(entry) ? entry : this.resolve(item, index)
  }

  /** An entry encoded again from its own names and values if the cache was dropped since. */
  renew (entry: CacheEntry, index: number): CacheEntry {
    this.checkCore()
    return entry.gen === this.#gen ? entry : this.encode(entry.names, entry.values, index, this.#cap > 0)
  }

  /**
   * Validates and pre-encodes a label set, and returns a handle to pass as `item.series`.
   * Throws ValidationError (seriesIndex -1) for an invalid label set.
   */
  handle (labels: Labels): SeriesHandle {
    this.beginCall()
    const [names, values] = splitLabels(labels, -1)
    const frozen: Record<string, string> = {}
    for (let i = 0; i < names.length; i++) setLabel(frozen, names[i], values[i])
    return new SeriesHandle(Object.freeze(frozen), this, this.encode(names, values, -1, true))
  }

  /** The cached (or freshly built) label block of an item. */
  resolve (item: Item, index: number): CacheEntry {
    this.checkCore()
    const handle = item.series
    if (handle !== undefined) {
      if (!(handle instanceof SeriesHandle) || handle.owner !== this) {
        throw new ValidationError('series must be a handle made by this codec', { seriesIndex: index, field: 'item' })
      }
      let entry = handle.entry
      if (entry.gen !== this.#gen) {
        entry = this.encode(entry.names, entry.values, index, true)
        handle.entry = entry
      } else {
        this.#stats.cacheHits++
      }
      return entry
    }
    const metric = item.metric
    if (metric === null || typeof metric !== 'object') {
      throw new ValidationError('must be an object of label names to values', { seriesIndex: index, field: 'metric' })
    }
    const slot = chainSlot(metric, this.#id) ?? this.#byObject.get(metric)
    if (slot !== undefined && slot.entry.gen === this.#gen) {
      // Checked already in this call: the object cannot have changed since (no caller code
      // runs inside a synchronous call).
      if (slot.owner === metric && slot.epoch === this.#epoch) {
        this.#stats.cacheHits++
        return slot.entry
      }
      if (sameLabels(metric, slot.entry)) {
        this.#stats.cacheHits++
        if (slot.owner === metric) slot.epoch = this.#epoch
        else this.#remember(metric, slot.entry) // inherited from a prototype
        return slot.entry
      }
    }
    const [names, values] = splitLabels(metric, index)
    const cache = this.#cap > 0
    const entry = this.encode(names, values, index, cache)
    if (cache) this.#remember(metric, entry)
    return entry
  }

  /**
   * Links a label object to its entry: this cache's slot updated in place where it has one (a
   * frozen object's too), else a new slot first in the object's chain, keeping the slots of
   * live caches, or in this cache's WeakMap when the object is frozen or its chain is full of
   * live caches' slots.
   */
  #remember (metric: object, entry: CacheEntry): void {
    const id = this.#id
    const own: unknown = Object.getOwnPropertyDescriptor(metric, SLOT)?.value
    let k = 0
    for (let s = own; k < MAX_SLOTS && s instanceof Slot; s = s.next, k++) {
      if (s.cache === id && s.owner === metric) {
        s.entry = entry
        s.epoch = this.#epoch
        return
      }
    }
    const mapped = this.#byObject.get(metric)
    if (mapped !== undefined && mapped.owner === metric) {
      mapped.entry = entry
      mapped.epoch = this.#epoch
      return
    }
    // A new chain: this cache's slot, then the other live caches' (copied: slots are never shared).
    let rest: Slot | undefined
    let tail: Slot | undefined
    let kept = 1
    let full = false
    k = 0
    for (let s = own; k < MAX_SLOTS && s instanceof Slot; s = s.next, k++) {
      if (s.cache === id || s.owner !== metric || !live.has(s.cache)) continue
      if (kept === MAX_SLOTS) {
        full = true
        break
      }
      const copy = new Slot(s.cache, s.owner, s.entry, s.epoch, undefined)
      if (tail === undefined) rest = copy
      else tail.next = copy
      tail = copy
      kept++
    }
    if (!full && Object.isExtensible(metric)) {
      try {
        // Non-enumerable, so that deep equality (assert.deepStrictEqual, test matchers) and
        // spreads ignore it. Defining costs more than assigning, but only on first sight.
        Object.defineProperty(metric, SLOT, { value: new Slot(id, metric, entry, this.#epoch, rest), writable: true, configurable: true })
        return
      } catch { /* a Proxy that refuses it */ }
    }
    this.#byObject.set(metric, new Slot(id, metric, entry, this.#epoch, undefined))
  }

  /** Writes a label set into linear memory and has the core build its block. */
  encode (names: string[], values: string[], index: number, cache: boolean, flags = 0): CacheEntry {
    const core = this.#core
    const ex = core.exports
    const n = names.length
    let chars = 0
    for (let i = 0; i < n; i++) chars += names[i].length + values[i].length
    if (chars > MAX_LABEL_CHARS) {
      throw new ValidationError(`label set too large (${chars} characters; at most ${MAX_LABEL_CHARS})`, { seriesIndex: index, field: 'metric' })
    }
    const maxBlock = chars * 3 + n * 26 + 32 // the block, then its strings' global ids and refs cache
    // With the cap at 0 only handles reach here with cache=true: they keep their blocks.
    // While records that point at cached blocks are being staged (pinned), the cache may
    // run past its cap rather than free blocks those records still point to.
    if (cache && this.#cap > 0 && !this.pinned && (ex.cacheBytes() >>> 0) + maxBlock > this.#cap) {
      ex.cacheReset()
      this.#gen++
      this.#stats.cacheResets++
    }
    const base = ex.labelStageReserve(n * 8 + chars * 3 + 8) >>> 0
    core.refresh()
    const u8 = core.u8
    const u32 = core.u32
    const start = base + n * 8
    // One encodeInto for the whole set: when every unit became one byte the set is ASCII and
    // the lengths are the strings' lengths. Otherwise encode string by string.
    let all = ''
    for (let i = 0; i < n; i++) all += names[i] + values[i]
    const { written } = encoder.encodeInto(all, u8.subarray(start, start + chars * 3))
    if (written === chars) {
      for (let i = 0; i < n; i++) {
        u32[(base >>> 2) + 2 * i] = names[i].length
        u32[(base >>> 2) + 2 * i + 1] = values[i].length
      }
    } else {
      // Not ASCII: a lone surrogate would become U+FFFD, and the series another one.
      checkWellFormed(names, values, index)
      let p = start
      for (let i = 0; i < n; i++) {
        const nl = encoder.encodeInto(names[i], u8.subarray(p, p + names[i].length * 3)).written
        p += nl
        const vl = encoder.encodeInto(values[i], u8.subarray(p, p + values[i].length * 3)).written
        p += vl
        u32[(base >>> 2) + 2 * i] = nl
        u32[(base >>> 2) + 2 * i + 1] = vl
      }
    }
    // Always in the arena, so that a block stays valid for the whole call (a call may resolve
    // many label sets before it encodes them); with the cache off, beginCall() drops them at
    // the start of the next call.
    const rc = ex.buildLabels(n, flags)
    core.refresh()
    if (rc < 0) {
      const at = ex.errorIndex()
      const labels = Object.fromEntries(names.map((k, i) => [k, values[i]]))
      throw new ValidationError(coreMessages[rc] ?? `error ${rc}`, {
        seriesIndex: index,
        labels,
        field: 'metric',
        label: at >= 0 ? names[at] : undefined,
      })
    }
    this.#stats.labelEncodes++
    return { ptr: ex.resultPtr() >>> 0, len: ex.resultLen() >>> 0, gen: this.#gen, hash: ex.resultHash() >>> 0, names, values }
  }

  /** Cache counters. */
  stats (): CodecStats {
    return { ...this.#stats, cacheBytes: this.#core.exports.cacheBytes() >>> 0 }
  }
}

/** Whether `metric` still holds exactly the labels `entry` was built from. */
function sameLabels (metric: Labels, entry: CacheEntry): boolean {
  const names = entry.names
  const values = entry.values
  if (Array.isArray(metric)) {
    if (metric.length !== names.length) return false
    for (let i = 0; i < names.length; i++) {
      const pair = metric[i]
      if (!Array.isArray(pair) || pair.length !== 2 || pair[0] !== names[i] || !Object.is(pair[1], values[i])) return false
    }
    return true
  }
  // Object.is, not !==: a label value is usually the very string cached, and SameValue
  // returns on equal references without reading the string, where a strict comparison first
  // loads its map to check its type. Of a gateway's 200,000 series those are 2 million
  // strings, mostly out of cache: this took about 20% off the check.
  let i = 0
  const record = metric as Readonly<Record<string, string>>
  for (const k in record) {
    if (k !== names[i] || !Object.is(record[k], values[i])) return false
    i++
  }
  return i === names.length
}

/** Splits a label set into names and values, checking that both are strings. */
export function splitLabels (metric: Labels, index: number): [string[], string[]] {
  const names: string[] = []
  const values: string[] = []
  if (Array.isArray(metric)) {
    for (const pair of metric) {
      if (!Array.isArray(pair) || pair.length !== 2) {
        throw new ValidationError('label pairs must be [name, value]', { seriesIndex: index, field: 'metric' })
      }
      names.push(pair[0])
      values.push(pair[1])
    }
  } else {
    for (const k in metric) {
      names.push(k)
      values.push((metric as Record<string, string>)[k])
    }
  }
  for (let i = 0; i < names.length; i++) {
    if (typeof names[i] !== 'string' || typeof values[i] !== 'string') {
      const labels = Array.isArray(metric) ? undefined : metric as Record<string, string>
      throw new ValidationError(`label ${typeof names[i] !== 'string' ? 'name' : 'value'} must be a string`, {
        seriesIndex: index, labels, field: 'metric', label: String(names[i]),
      })
    }
  }
  return [names, values]
}
