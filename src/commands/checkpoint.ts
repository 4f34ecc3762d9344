/**
 * The backfill's resume checkpoint: per file, how far the server has acknowledged, advanced
 * with every acknowledged chunk of a few requests (not per window of 200,000 samples), so that
 * a killed run resumes re-sending little more than what was in flight.
 *
 * A position is a byte offset into the (decompressed) file, which every window up to it
 * covers whole, plus a place inside the window that starts there: `items` whole items of that
 * window and `sample` samples of the next. A window is rebuilt exactly on resume: regroup()
 * makes the same window from the same lines with the same window size, which the checkpoint
 * records (a different --window makes the partial place unusable, and the run resumes from
 * the window's start instead, as it does when the rebuilt window does not end at the same
 * offset with the same number of samples: the file changed).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'

/** Where a window's acknowledged prefix ends. */
export interface WindowPlace {
  /** The window size (samples) the window was cut with. */
  samples: number
  /** The window's end offset and its samples: a window rebuilt on resume must match both. */
  end: number
  size: number
  /** Whole items acknowledged. */
  items: number
  /** Samples of item `items` acknowledged. */
  sample: number
}

/** A file's acknowledged prefix. */
export interface FilePlace {
  /** Every record up to this byte offset is acknowledged (or was reported). */
  offset: number
  /** The line of that offset, for people. */
  line: number
  /** Within the window that starts after `offset`: what is acknowledged of it. */
  window?: WindowPlace
}

/** What a checkpoint file holds. */
export interface CheckpointFile {
  version: 1
  files: Record<string, FilePlace>
}

/** Loads a checkpoint; a missing file is an empty one. Throws on a file that is not one. */
export function loadCheckpoint (path: string): CheckpointFile {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, files: {} }
    throw new Error(`cannot read checkpoint ${path}: ${(err as Error).message}`)
  }
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    throw new Error(`checkpoint ${path} is not JSON: ${(err as Error).message}`)
  }
  const d = data as Partial<CheckpointFile> | null
  if (d === null || typeof d !== 'object' || d.version !== 1 || d.files === null || typeof d.files !== 'object') {
    throw new Error(`checkpoint ${path} is not a backfill checkpoint (version 1)`)
  }
  for (const [file, place] of Object.entries(d.files)) {
    const p = place as Partial<FilePlace> | null
    const w = p?.window
    const ok = p !== null && typeof p === 'object' && isCount(p.offset) && isCount(p.line) &&
      (w === undefined || (w !== null && typeof w === 'object' && isCount(w.samples) && isCount(w.end) && isCount(w.size) && isCount(w.items) && isCount(w.sample)))
    if (!ok) throw new Error(`checkpoint ${path}: the entry of ${JSON.stringify(file)} is malformed`)
  }
  return d as CheckpointFile
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/** Writes a checkpoint atomically: a temp file, then rename. */
export function saveCheckpoint (path: string, data: CheckpointFile): void {
  const tmp = `${path}.tmp`
  writeFileSync(tmp, JSON.stringify(data))
  renameSync(tmp, path)
}

/** One chunk handed to the writer: where it ends in its window, and how it settled. */
export interface Chunk {
  items: number
  sample: number
  settled: boolean
  ok: boolean
}

/** A window being sent: its end offset and line, its samples, and its chunks in order. */
interface Window {
  offset: number
  line: number
  samples: number
  chunks: Chunk[]
  /** All its chunks were handed over. */
  closed: boolean
}

/**
 * The acknowledged prefix of one file, advanced as chunks settle (in any order) over the
 * prefix of settled chunks. It stops for good at the first chunk that did not settle ok: what
 * follows is sent, but a resume starts before the failure.
 */
export class FileProgress {
  readonly #windows: Window[] = []
  #place: FilePlace
  #broken = false
  readonly #windowSamples: number
  readonly #save: (place: FilePlace) => void

  /** `start` is the place the run resumed from; `save` is told every new place. */
  constructor (start: FilePlace, windowSamples: number, save: (place: FilePlace) => void) {
    this.#place = start
    this.#windowSamples = windowSamples
    this.#save = save
  }

  /** The place acknowledged so far. */
  get place (): FilePlace {
    return this.#place
  }

  /** Starts a window of `samples` samples that ends at `offset` (after `line`). */
  open (offset: number, line: number, samples: number): void {
    this.#windows.push({ offset, line, samples, chunks: [], closed: false })
  }

  /** Adds a chunk, ending at (`items`, `sample`) of the newest window; returns its handle. */
  chunk (items: number, sample: number): Chunk {
    const c: Chunk = { items, sample, settled: false, ok: false }
    this.#windows[this.#windows.length - 1].chunks.push(c)
    return c
  }

  /** Every chunk of the newest window was handed over. */
  close (): void {
    this.#windows[this.#windows.length - 1].closed = true
    this.#advance()
  }

  /** A chunk settled: acknowledged whole (`ok`), or not. */
  settle (c: Chunk, ok: boolean): void {
    c.settled = true
    c.ok = ok
    this.#advance()
  }

  #advance (): void {
    let moved = false
    while (!this.#broken && this.#windows.length > 0) {
      const w = this.#windows[0]
      while (w.chunks.length > 0 && w.chunks[0].settled) {
        const c = w.chunks.shift() as Chunk
        if (!c.ok) {
          this.#broken = true
          break
        }
        this.#place = { offset: this.#place.offset, line: this.#place.line, window: { samples: this.#windowSamples, end: w.offset, size: w.samples, items: c.items, sample: c.sample } }
        moved = true
      }
      if (this.#broken || !w.closed || w.chunks.length > 0) break
      this.#windows.shift()
      this.#place = { offset: w.offset, line: w.line }
      moved = true
    }
    if (moved) this.#save(this.#place)
  }
}

/**
 * Writes the checkpoint at every new place: chunks are a few requests each, so that is tens of
 * small writes a second at full speed, and a kill never loses an acknowledged chunk.
 */
export class Saver {
  #error: Error | undefined
  constructor (readonly path: string, readonly data: CheckpointFile, readonly report: (l: string) => void) {}
  set (file: string, place: FilePlace): void {
    this.data.files[file] = place
    try {
      saveCheckpoint(this.path, this.data)
    } catch (err) {
      // Reported once; the backfill goes on and fails at its end (a resume would re-send more).
      if (this.#error === undefined) this.report(`cannot write checkpoint ${this.path}: ${(err as Error).message}`)
      this.#error ??= err as Error
    }
  }

  /** Throws if the checkpoint could not be written. */
  check (): void {
    if (this.#error !== undefined) throw new Error(`cannot write checkpoint ${this.path}: ${this.#error.message}`)
  }
}
