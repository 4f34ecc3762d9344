/** The spool's options and counts. */

/** How a spool is used. */
export interface SpoolOptions {
  /** The directory (created if missing). One writer (one process) at a time. */
  dir: string
  /** Disk the spool may take, in bytes (segment files; at least 1 MiB). */
  maxBytes: number
  /** Requests spooled longer ago than this (ms) are dropped and reported ('expired'). Default: never. */
  maxAge?: number
  /**
   * When data is fsynced. 'batch' (default): at least every second and at every flush().
   * 'always': every request, before it is sent. 'none': never (flush() means written to the
   * OS: it survives the process, not a power cut).
   */
  sync?: 'always' | 'batch' | 'none'
  /**
   * When the spool holds maxBytes: 'block' (default) makes producers wait, as a full memory
   * buffer does; 'dropOldest' deletes the oldest requests, each reported failed ('spool-full').
   */
  onFull?: 'block' | 'dropOldest'
  /** Bytes per segment file (a request larger than that has one to itself). Default maxBytes / 64, from 16 KiB to 64 MiB. */
  segmentBytes?: number
}

/** Requests, their samples, and their bytes on disk. */
export interface Counts { requests: number, series: number, samples: number, bytes: number }

/** Adds (sign 1) or takes away (sign -1) one record of `h` (`bytes` on disk) to counts. */
export function count (c: Counts, sign: 1 | -1, h: { series: number, samples: number }, bytes: number): void {
  c.requests += sign
  c.series += sign * h.series
  c.samples += sign * h.samples
  c.bytes += sign * bytes
}

export const noCounts = (): Counts => ({ requests: 0, series: 0, samples: 0, bytes: 0 })

/** Adds `b` to `a` (times `sign`); returns `a`. */
export function add (a: Counts, b: Counts, sign: 1 | -1 = 1): Counts {
  a.requests += sign * b.requests
  a.series += sign * b.series
  a.samples += sign * b.samples
  a.bytes += sign * b.bytes
  return a
}
