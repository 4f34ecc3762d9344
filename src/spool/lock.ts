/**
 * A spool belongs to one process at a time: `lock` in its directory names the owner (pid, boot
 * id and the process's start time, so a pid reused by another process, or a lock from before a
 * reboot, is not taken for its owner). It appears whole, by link(2) of a file written first,
 * so nobody reads it empty. A lock whose owner is gone (a crash, a power cut) is taken over:
 * renamed away first (only one process can), and given back if it turns out to be a fresh one.
 * A lock whose owner runs is refused with a SpoolError naming it. Within a process, a
 * directory is held by one spool at a time.
 */
import { linkSync, readFileSync, realpathSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
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

/** Takes the directory's lock; returns what releases it. Throws SpoolError when it is held. */
export function lockDir (dir: string): { release: () => void, tookOver: number | undefined } {
  const real = realpathSync(dir)
  const path = join(dir, 'lock')
  if (held.has(real)) throw new SpoolError(`spool ${dir} is in use by another writer in this process (pid ${process.pid}); give each writer its own spool directory`, dir)
  const mine = `${process.pid} ${bootId()} ${startTime(process.pid)}\n`
  const unique = (what: string): string => join(dir, `lock.${what}.${process.pid}.${randomBytes(6).toString('hex')}`)
  let tookOver: number | undefined
  for (let tries = 0; ; tries++) {
    const tmp = unique('new')
    try {
      writeFileSync(tmp, mine, { mode: 0o644 })
      linkSync(tmp, path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || tries > 5) {
        throw new SpoolError(`cannot lock spool ${dir}: ${(err as Error).message}`, dir, { cause: err })
      }
      const text = readOr(path, '')
      const pid = owner(text)
      if (pid !== undefined) {
        throw new SpoolError(`spool ${dir} is in use by process ${pid} (its lock file ${path}); give each writer its own spool directory, or stop that process`, dir)
      }
      // Gone: take it over. Only one process can rename it away; the one that did makes sure
      // it moved the stale lock it read, and gives back a fresh one it moved by mistake.
      const stale = unique('stale')
      try {
        renameSync(path, stale)
        if (readOr(stale, '') === text) {
          const was = Number.parseInt(text, 10)
          tookOver = Number.isSafeInteger(was) && was > 0 ? was : undefined
        } else {
          try {
            linkSync(stale, path)
          } catch { /* a third process holds it now: the next round says so */ }
        }
        unlinkSync(stale)
      } catch { /* renamed by another process first: the next round says who holds it */ }
      continue
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
}
