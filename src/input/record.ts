/** What the readers yield: series chunks with the line they came from, or malformed lines. */
import { setLabel } from '../labels.js'
import type { InputFormat } from './formats.js'

/**
 * One series chunk read from input: labels, values, and timestamps in milliseconds. Items of
 * one series may share their `metric` object, which must then not be modified.
 */
export interface InputItem {
  metric: Record<string, string>
  values: number[]
  timestamps: number[]
}

/** A series chunk and where it came from. */
export interface ItemRecord {
  item: InputItem
  /** 1-based line number (for CSV, the record's first line). */
  line: number
  /** Byte offset just after the line (for resume checkpoints). */
  offset: number
}

/** A malformed line: reported, not thrown, so that reading goes on. */
export interface ErrorRecord {
  error: {
    line: number
    message: string
    /**
     * Set when the line reads as another format (a Prometheus text line in a file read as
     * JSON lines): for a hint such as "this looks like Prometheus text: use --format prom".
     */
    looksLike?: InputFormat
  }
  /** Byte offset just after the line. */
  offset: number
}

/** What {@link readItems} yields. */
export type InputRecord = ItemRecord | ErrorRecord

/** What a line parser makes of one line: an item, an error, or nothing (a comment, a blank line). */
export type LineResult = { item: InputItem } | { error: string } | undefined

/**
 * A copy of a string that holds no larger string alive. V8 makes a substring of 13 or more
 * characters a view into its parent (a whole line, a whole chunk of input); a label value
 * kept in a cache for the whole read must not pin the chunk it was cut from. Concatenating
 * and cutting again makes a new flat string of the value's own size.
 */
export function detach (s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1)
}

/**
 * The key of a label set: its pairs sorted by name, length-prefixed so that no two
 * different label sets share a key.
 */
export function seriesKey (metric: Readonly<Record<string, string>>): string {
  const cached = (metric as Record<symbol, string | undefined>)[SERIES_KEY]
  if (cached !== undefined) return cached
  const names = Object.keys(metric).sort()
  let key = ''
  for (const name of names) {
    const value = metric[name]
    key += `${name.length}:${name}${value.length}:${value}`
  }
  return key
}

/** Where a label object shared by many records keeps its {@link seriesKey}, computed once. */
const SERIES_KEY = Symbol('prometheus-remote-writer.seriesKey')

/**
 * A copy of a label object, for many records to share: its strings detached, its series key
 * attached (not enumerable, so the object still has only its labels).
 */
export function detachLabels (metric: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const name of Object.keys(metric)) setLabel(out, detach(name), detach(metric[name]))
  Object.defineProperty(out, SERIES_KEY, { value: seriesKey(out), enumerable: false })
  return out
}
