/** What the readers yield: series chunks with the line they came from, or malformed lines. */

/** One series chunk read from input: labels, values, and timestamps in milliseconds. */
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
  error: { line: number, message: string }
  /** Byte offset just after the line. */
  offset: number
}

/** What {@link readItems} yields. */
export type InputRecord = ItemRecord | ErrorRecord

/** What a line parser makes of one line: an item, an error, or nothing (a comment, a blank line). */
export type LineResult = { item: InputItem } | { error: string } | undefined
