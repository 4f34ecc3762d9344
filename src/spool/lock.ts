/**
 * A spool belongs to one process at a time: `lock` in its directory holds the owner's pid,
 * created exclusively (O_EXCL). A lock whose process is gone (a crash, a power cut) is taken
 * over; one whose process runs is refused with a SpoolError naming it. Within a process, a
 * directory is held by one spool at a time (a restart in a container may give the new process
 * the dead one's pid, so the pid alone cannot tell).
 */
import { closeSync, openSync, readFileSync, realpathSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { SpoolError } from '../errors.js'

/** Real paths of the spool directories this process holds. */
const held = new Set<string>()

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Takes the directory's lock; returns what releases it. Throws SpoolError when it is held. */
export function lockDir (dir: string): { release: () => void, tookOver: number | undefined } {
  const real = realpathSync(dir)
  const path = join(dir, 'lock')
  if (held.has(real)) throw new SpoolError(`spool ${dir} is in use by another writer in this process (pid ${process.pid}); give each writer its own spool directory`, dir)
  let tookOver: number | undefined
  for (let tries = 0; ; tries++) {
    let fd: number
    try {
      fd = openSync(path, 'wx', 0o644)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || tries > 2) {
        throw new SpoolError(`cannot lock spool ${dir}: ${(err as Error).message}`, dir, { cause: err })
      }
      let text = ''
      try {
        text = readFileSync(path, 'utf8')
      } catch { /* gone meanwhile: try again */ }
      const pid = Number.parseInt(text, 10)
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new SpoolError(`spool ${dir} is in use by process ${pid} (its lock file ${path}); give each writer its own spool directory, or stop that process`, dir)
      }
      // The holder is gone (or the file is empty or torn): take it over.
      tookOver = Number.isSafeInteger(pid) && pid > 0 ? pid : undefined
      try {
        unlinkSync(path)
      } catch { /* another process took it over first: the next open says who */ }
      continue
    }
    try {
      writeSync(fd, `${process.pid}\n`)
    } finally {
      closeSync(fd)
    }
    held.add(real)
    let released = false
    return {
      tookOver,
      release: () => {
        if (released) return
        released = true
        held.delete(real)
        try {
          unlinkSync(path)
        } catch { /* removed by hand: nothing to release */ }
      },
    }
  }
}
