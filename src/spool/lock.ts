/**
 * A spool belongs to one process at a time: `lock` in its directory names the owner (pid, boot
 * id and the process's start time, so a pid reused by another process, or a lock from before a
 * reboot, is not taken for its owner). It appears whole, by link(2) of a file written first,
 * so nobody reads it empty. A lock whose owner is gone (a crash, a power cut) is taken over,
 * by one process at a time (see lockDir). A lock whose owner runs is refused with a SpoolError
 * naming it. Within a process, a
 * directory is held by one spool at a time.
 */
import { linkSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { SpoolError } from '../errors.js'

/** Real paths of the spool directories this process holds. */
const held = new Set<string>()

const readOr = (path: string, fallback: string): string => {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return fallback
  }
}

/** This boot's id (Linux), or '' where there is none. */
const bootId = (): string => readOr('/proc/sys/kernel/random/boot_id', '').trim()

/** When process `pid` started, in clock ticks since boot (Linux), or '' where unknown. */
function startTime (pid: number): string {
  const stat = readOr(`/proc/${pid}/stat`, '')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return fields[19] ?? ''
}

function running (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The owner a lock file names, if that process still runs (the same boot, the same start). */
function owner (text: string): number | undefined {
  const [pidText, boot = '', start = ''] = text.trim().split(' ')
  const pid = Number.parseInt(pidText, 10)
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid || !running(pid)) return undefined
  if (boot !== '' && bootId() !== '' && boot !== bootId()) return undefined
  if (start !== '' && startTime(pid) !== '' && start !== startTime(pid)) return undefined
  return pid
}

/** link(2) `from` to `to`: true, or false when `to` exists. */
function linked (from: string, to: string): boolean {
  try {
    linkSync(from, to)
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
}

const pause = (ms: number): void => { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms) }

/** A takeover left behind by a process that died in it (microseconds long when it works). */
const STALE_TAKEOVER_MS = 5000

/**
 * Takes the directory's lock; returns what releases it. Throws SpoolError when it is held.
 *
 * Creating `lock` needs nothing more: link(2) fails when it exists. Removing a stale one is done
 * only while holding `lock.takeover` (itself created by link): then nobody else removes, and
 * nobody can create `lock` while the stale one is there, so what is removed is what was read.
 */
export function lockDir (dir: string): { release: () => void, tookOver: number | undefined } {
  const real = realpathSync(dir)
  const path = join(dir, 'lock')
  const takeover = join(dir, 'lock.takeover')
  if (held.has(real)) throw new SpoolError(`spool ${dir} is in use by another writer in this process (pid ${process.pid}); give each writer its own spool directory`, dir)
  const mine = `${process.pid} ${bootId()} ${startTime(process.pid)}\n`
  const tmp = join(dir, `lock.new.${process.pid}.${randomBytes(6).toString('hex')}`)
  let tookOver: number | undefined
  try {
    writeFileSync(tmp, mine, { mode: 0o644 })
    for (let tries = 0; ; tries++) {
      if (linked(tmp, path)) break
      const text = readOr(path, '')
      const pid = owner(text)
      if (pid !== undefined) {
        throw new SpoolError(`spool ${dir} is in use by process ${pid} (its lock file ${path}); give each writer its own spool directory, or stop that process`, dir)
      }
      if (tries > 1000) throw new SpoolError(`cannot lock spool ${dir}: its stale lock could not be taken over`, dir)
      if (!linked(tmp, takeover)) {
        // Another process is taking it over; unless it died doing so, wait for it.
        const other = readOr(takeover, '')
        let age = 0
        try {
          age = Date.now() - statSync(takeover).mtimeMs
        } catch { /* gone: go again */ }
        if (other !== '' && owner(other) === undefined && age > STALE_TAKEOVER_MS) {
          const aside = join(dir, `lock.stale.${process.pid}.${randomBytes(6).toString('hex')}`)
          try {
            renameSync(takeover, aside)
            if (readOr(aside, '') !== other) linked(aside, takeover) // a live one, moved by mistake: back
            unlinkSync(aside)
          } catch { /* moved by another process first */ }
        }
        pause(5)
        continue
      }
      try {
        // Under the takeover lock: what `lock` holds now is what is removed.
        const now = readOr(path, '')
        if (owner(now) === undefined) {
          unlinkSync(path)
          const was = Number.parseInt(now, 10)
          tookOver = Number.isSafeInteger(was) && was > 0 ? was : undefined
        }
      } catch { /* gone meanwhile: go again */ } finally {
        unlinkSync(takeover)
      }
    }
  } catch (err) {
    if (err instanceof SpoolError) throw err
    throw new SpoolError(`cannot lock spool ${dir}: ${(err as Error).message}`, dir, { cause: err })
  } finally {
    try {
      unlinkSync(tmp)
    } catch { /* not written */ }
  }
  held.add(real)
  let released = false
  return {
    tookOver,
    release: () => {
      if (released) return
      released = true
      held.delete(real)
      // Only our own lock: a process that took it over since (we were taken for dead) keeps it.
      if (readOr(path, '') === mine) {
        try {
          unlinkSync(path)
        } catch { /* removed by hand */ }
      }
    },
  }
}
