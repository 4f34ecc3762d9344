// A child process for test/spool/spool-faults.test.ts: one of several racing for a spool's lock,
// run as `node --import tsx test/support/lock-child.ts`. Commands on stdin, one a line:
//   try DIR   says `ready`, spins until DIR/go exists (so that every child starts at once), takes
//             the lock as Spool does (lockDir) and says `got PID TOOKOVER` or `refused MESSAGE`
//   release   releases the lock it holds, if any, and says `released`
// It exits when stdin ends. Nothing here asserts: the parent does.
import { existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { lockDir } from '../../src/spool/lock.js'

const say = (line: string): void => {
  process.stdout.write(`${line}\n`)
}
let held: { release: () => void } | undefined
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, dir] = line.split(' ')
  if (cmd === 'try') {
    say('ready')
    const until = Date.now() + 10_000
    while (!existsSync(`${dir}/go`) && Date.now() < until) { /* spin: start with the others */ }
    try {
      const lock = lockDir(dir)
      held = lock
      say(`got ${process.pid} ${String(lock.tookOver)}`)
    } catch (err) {
      say(`refused ${(err as Error).message}`)
    }
  } else if (cmd === 'release') {
    held?.release()
    held = undefined
    say('released')
  }
}
