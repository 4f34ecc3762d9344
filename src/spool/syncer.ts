/**
 * When the spool's files reach the disk: the descriptors written since the last fsync, and the
 * directory when names in it changed, fsynced together off the main thread (libuv's pool).
 * Calls made while one runs share the next one; a descriptor closed meanwhile is closed only
 * once the fsync under way is over, never fsynced after it was closed.
 */
import { close, closeSync, fdatasync, fsync, openSync } from 'node:fs'
import { SpoolError } from '../errors.js'

export class Syncer {
  /** fsyncs done. */
  syncs = 0
  /** Names in the directory changed since the last fsync. */
  dirDirty = false
  readonly #dir: string
  readonly #dirty = new Set<number>()
  #syncing: Promise<void> | undefined
  #again: Promise<void> | undefined
  #closeLater: number[] = []
  /** Descriptors released while an fsync ran: not to be marked dirty again. */
  readonly #released = new Set<number>()
  #timer: NodeJS.Timeout | undefined
  /** A failure since the last sync() that reported one: the next sync() rejects with it. */
  #error: SpoolError | undefined

  constructor (dir: string) {
    this.#dir = dir
  }

  /** `fd` was written to. */
  mark (fd: number): void {
    this.#dirty.add(fd)
  }

  /** Anything written since the last fsync. */
  dirty (): boolean {
    return this.#dirty.size > 0 || this.dirDirty
  }

  /** Runs sync() every `ms` while anything is dirty; `onError` gets what fails. */
  every (ms: number, onError: (err: SpoolError) => void): void {
    this.#timer = setInterval(() => {
      // A failure here is told to the next caller of sync() (flush()) too.
      if (this.dirty()) {
        this.sync().catch((err: SpoolError) => {
          this.#error ??= err
          onError(err)
        })
      }
    }, ms)
    this.#timer.unref()
  }

  /** Something written may not be on disk: the next sync() rejects with `err` (once). */
  fail (err: SpoolError): void {
    this.#error ??= err
  }

  /** Closes `fd` (now, or after the fsync under way); it is not fsynced any more. */
  release (fd: number): void {
    this.#dirty.delete(fd)
    if (this.#syncing !== undefined) {
      this.#closeLater.push(fd)
      this.#released.add(fd)
    } else {
      close(fd, () => {})
    }
  }

  /** fsyncs what was written since the last one. Rejects with SpoolError when the disk fails. */
  sync (): Promise<void> {
    if (this.#syncing !== undefined) {
      const next = (): Promise<void> => {
        this.#again = undefined
        return this.sync()
      }
      this.#again ??= this.#syncing.then(next, next)
      return this.#again
    }
    const fds = [...this.#dirty]
    this.#dirty.clear()
    const dir = this.dirDirty
    this.dirDirty = false
    const one = (fd: number, data: boolean): Promise<void> => new Promise((resolve, reject) => {
      (data ? fdatasync : fsync)(fd, (err) => (err ? reject(err) : resolve()))
    })
    const run = async (): Promise<void> => {
      const jobs = fds.map((fd) => one(fd, true))
      let dirFd = -1
      try {
        if (dir) {
          dirFd = openSync(this.#dir, 'r')
          jobs.push(one(dirFd, false))
        }
        await Promise.all(jobs)
        this.syncs++
      } catch (err) {
        // Tried again next time; and this failure is told to every sync() until one reports it.
        for (const fd of fds) if (!this.#released.has(fd)) this.#dirty.add(fd)
        this.dirDirty ||= dir
        this.#error ??= new SpoolError(`cannot fsync spool ${this.#dir}: ${(err as Error).message}`, this.#dir, { cause: err })
      } finally {
        if (dirFd >= 0) closeSync(dirFd)
      }
      const failed = this.#error
      this.#error = undefined
      if (failed !== undefined) throw failed
    }
    this.#syncing = run().finally(() => {
      this.#syncing = undefined
      for (const fd of this.#closeLater) close(fd, () => {})
      this.#closeLater = []
      this.#released.clear()
    })
    return this.#syncing
  }

  /** Stops the timer and waits for the fsync under way (its failure is not this caller's). */
  async stop (): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    await this.#syncing?.catch(() => {})
    await this.#again?.catch(() => {})
  }
}
