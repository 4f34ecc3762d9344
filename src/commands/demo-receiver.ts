/**
 * The demo's built-in receiver in a process of its own (demo-receiver-child.ts runs in it),
 * so that decoding every request does not take the client's core, and so that the client's
 * process.cpuUsage() is the client's alone. Its counts and checksum come back over IPC.
 *
 * The process never outlives the demo: close() ends it, kill() ends it at once (demo.ts
 * calls it whatever happens), the parent's SIGINT, SIGTERM or SIGHUP ends it before the
 * parent ends, and the child leaves by itself when its IPC channel closes (the parent gone,
 * even by SIGKILL). If it ends before close(), `died` rejects with a ReceiverDied saying how.
 */
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { FaultOptions, ReceiverStats } from './receiver.js'

/** Parent → child. */
export type ToReceiver = { t: 'start', faults: FaultOptions } | { t: 'close' }
/** Child → parent. `cpuMicros`: user + system CPU the child used from `ready` on. */
export type FromReceiver =
  | { t: 'ready', url: string }
  | { t: 'failed', message: string }
  | { t: 'closed', stats: ReceiverStats, cpuMicros: number }

export interface ReceiverProcess {
  readonly pid: number
  /** `http://127.0.0.1:port/api/v1/write` */
  readonly url: string
  /** Rejects with a ReceiverDied if the process ends before close() or kill() ends it; never resolves. */
  readonly died: Promise<never>
  /** Closes the receiver and waits for the process to end; resolves with what it received. */
  close(): Promise<{ stats: ReceiverStats, cpuMicros: number }>
  /** Ends the process now (SIGKILL) if it still runs. Safe to call any time, more than once. */
  kill(): void
}

/** The receiver process ended when nobody asked it to. */
export class ReceiverDied extends Error {
  override name = 'ReceiverDied'
}

const START_TIMEOUT_MS = 30_000
const CLOSE_TIMEOUT_MS = 10_000
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * The child's entry and node flags: beside this file with the same extension. Compiled
 * (dist/), plain node runs the .js. From the sources (`npm start` runs tsx, the tests run
 * vitest), node needs tsx's loader, named by its absolute URL: vitest's own process does not
 * have it in process.execArgv, and the parent's other flags (--inspect, ...) must not be
 * copied to the child.
 */
export function childEntry (): { file: string, execArgv: string[] } {
  const here = import.meta.url
  const ext = here.endsWith('.ts') ? '.ts' : '.js'
  const file = fileURLToPath(new URL(`./demo-receiver-child${ext}`, here))
  if (ext === '.js') return { file, execArgv: [] }
  const tsx = pathToFileURL(createRequire(here).resolve('tsx')).href
  return { file, execArgv: ['--import', tsx] }
}

/** Starts the receiver in a child process with these faults; resolves once it listens. */
export async function forkReceiver (faults: FaultOptions = {}): Promise<ReceiverProcess> {
  const { file, execArgv } = childEntry()
  const child = fork(file, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const name = `the built-in receiver (process ${child.pid ?? '?'})`
  let expected = false // close() or kill() is ending it
  const onSignal = (signal: NodeJS.Signals): void => {
    kill()
    // Ours was the listener that kept the signal from ending the process: raise it again,
    // once the child is reaped (no zombie is left behind where init does not reap), or a
    // second later at most.
    let raised = false
    const raise = (): void => {
      if (raised) return
      raised = true
      process.kill(process.pid, signal)
    }
    if (child.exitCode !== null || child.signalCode !== null) return raise()
    child.once('exit', raise)
    setTimeout(raise, 1000).unref()
  }
  const onExit = (): void => { child.kill('SIGKILL') }
  const release = (): void => {
    for (const s of STOP_SIGNALS) process.off(s, onSignal)
    process.off('exit', onExit)
  }
  const kill = (): void => {
    expected = true
    release()
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  for (const s of STOP_SIGNALS) process.once(s, onSignal)
  process.once('exit', onExit) // a process.exit() elsewhere
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const died = new Promise<never>((_resolve, reject) => {
    child.once('exit', (code, signal) => {
      release()
      if (!expected) reject(new ReceiverDied(`${name} died: ${signal === null ? `exit status ${code ?? '?'}` : `killed by ${signal}`}`))
    })
  })
  died.catch(() => {}) // a death nobody is listening for (the demo is past sending) must not crash the process
  // A spawn that failed, or a message that could not go: its exit (or the timeout) follows.
  child.on('error', () => {})

  let url: string
  try {
    url = await started(child, name, faults, died)
  } catch (err) {
    kill()
    throw err
  }
  return {
    pid: child.pid as number,
    url,
    died,
    async close () {
      expected = true
      try {
        const closed = await closeChild(child, name)
        await exited
        return closed
      } finally {
        kill()
      }
    },
    kill,
  }
}

/** Sends the faults and waits for `ready`: the URL. */
function started (child: ChildProcess, name: string, faults: FaultOptions, died: Promise<never>): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS)
    const done = (): void => { clearTimeout(timer) }
    child.on('message', (m: FromReceiver) => {
      if (m.t === 'ready') resolve(m.url)
      else if (m.t === 'failed') reject(new Error(`${name} could not start: ${m.message}`))
      else return
      done()
    })
    died.catch((err: unknown) => { done(); reject(err) })
    child.once('error', (err) => { done(); reject(new Error(`${name} could not start: ${err.message}`)) })
    child.send({ t: 'start', faults } satisfies ToReceiver)
  })
}

/** Asks the child to close and waits for its counts (they come before its channel closes). */
function closeChild (child: ChildProcess, name: string): Promise<{ stats: ReceiverStats, cpuMicros: number }> {
  return new Promise((resolve, reject) => {
    if (!child.connected) {
      reject(new ReceiverDied(`${name} ended before the demo asked for its counts`))
      return
    }
    const timer = setTimeout(() => reject(new Error(`${name} did not close within ${CLOSE_TIMEOUT_MS / 1000} s`)), CLOSE_TIMEOUT_MS)
    child.on('message', (m: FromReceiver) => {
      if (m.t !== 'closed') return
      clearTimeout(timer)
      resolve({ stats: m.stats, cpuMicros: m.cpuMicros })
    })
    child.once('disconnect', () => {
      clearTimeout(timer)
      reject(new ReceiverDied(`${name} ended without sending its counts`))
    })
    child.send({ t: 'close' } satisfies ToReceiver)
  })
}
