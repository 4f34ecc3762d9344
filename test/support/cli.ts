// The command line as a spawned process (tsx on src/cli.ts), for the CLI tests.
import { spawn } from 'node:child_process'

/** src/cli.ts. */
export const CLI = new URL('../../src/cli.ts', import.meta.url).pathname

/** What a run printed, and how it ended. */
export interface Run {
  code: number | null
  stdout: string
  stderr: string
  /** Milliseconds from the start to the end of the run. */
  ms?: number
  /** Milliseconds from the start to the first output on stderr (Infinity if none). */
  firstStderrMs?: number
}

/**
 * Runs `prw ...args`; `killAfterStdout` (or `killAfterStderr`) sends SIGINT once stdout (stderr)
 * matches it; `stdin` is written to its standard input.
 */
export function prw (args: string[], opts: {
  killAfterStdout?: RegExp
  killAfterStderr?: RegExp
  /** Polled every 50 ms: SIGINT once it returns true. */
  killWhen?: () => boolean
  env?: Record<string, string>
  stdin?: string | Buffer
  /** Leave standard input open after `stdin` was written (a producer that pauses). */
  keepStdinOpen?: boolean
} = {}): Promise<Run> {
  return new Promise((resolve) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    if (opts.stdin !== undefined) {
      if (opts.keepStdinOpen === true) child.stdin?.write(opts.stdin)
      else child.stdin?.end(opts.stdin)
    }
    let stdout = ''
    let stderr = ''
    let firstStderrMs = Infinity
    let killed = false
    const kill = (): void => {
      if (killed) return
      killed = true
      child.kill('SIGINT')
    }
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (opts.killAfterStdout?.test(stdout) === true) kill()
    })
    child.stderr?.on('data', (d: Buffer) => {
      if (firstStderrMs === Infinity) firstStderrMs = performance.now() - t0
      stderr += d.toString()
      if (opts.killAfterStderr?.test(stderr) === true) kill()
    })
    const poll = opts.killWhen === undefined ? undefined : setInterval(() => { if (opts.killWhen?.() === true) kill() }, 50)
    child.on('close', (code) => {
      clearInterval(poll)
      child.stdin?.destroy()
      resolve({ code, stdout, stderr, ms: performance.now() - t0, firstStderrMs })
    })
  })
}
