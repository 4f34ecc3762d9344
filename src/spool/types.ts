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
export interface Counts { requests: number, samples: number, bytes: number }
