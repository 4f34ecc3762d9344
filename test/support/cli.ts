// The command line as a spawned process (tsx on src/cli.ts), for the CLI tests.
import { spawn } from 'node:child_process'

/** src/cli.ts. */
export const CLI = new URL('../../src/cli.ts', import.meta.url).pathname

/** What a run printed, and how it ended. */
export interface Run { code: number | null, stdout: string, stderr: string }

/** Runs `prw ...args`; `killAfterStdout` sends SIGINT once stdout matches it. */
export function prw (args: string[], opts: { killAfterStdout?: RegExp, env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
      if (opts.killAfterStdout?.test(stdout)) child.kill('SIGINT')
    })
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}
