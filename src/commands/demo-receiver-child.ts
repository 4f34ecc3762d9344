/**
 * What runs in the demo's receiver process (demo-receiver.ts forks it): the built-in
 * receiver, started with the faults the parent sends, and its counts sent back at close.
 * The messages are ToReceiver and FromReceiver (demo-receiver.ts).
 */
import { startReceiver } from './receiver.js'
import type { FaultOptions, Receiver } from './receiver.js'
import type { FromReceiver, ToReceiver } from './demo-receiver.js'

const parent = process.send?.bind(process)
if (parent === undefined) {
  console.error('demo-receiver-child: prw demo starts this process; it does not run by itself')
  process.exit(2)
}

const send = (m: FromReceiver): Promise<void> => new Promise((resolve) => { parent(m, undefined, {}, () => resolve()) })

// The parent decides when this process ends: Ctrl-C in a terminal reaches the whole process
// group, and the parent, which gets it too, ends this process itself.
process.on('SIGINT', () => {})
// Gone with the parent however the parent ends, SIGKILL included: the channel closes.
process.on('disconnect', () => process.exit(0))

let receiver: Receiver | undefined
/** CPU used up to `ready`: starting node, the loader and the codec are not the receiver's cost. */
let startup: NodeJS.CpuUsage | undefined

process.on('message', (m: ToReceiver) => {
  if (m.t === 'start') void start(m.faults)
  else if (m.t === 'close') void close()
})

async function start (faults: FaultOptions): Promise<void> {
  try {
    receiver = await startReceiver(faults)
  } catch (err) {
    await send({ t: 'failed', message: err instanceof Error ? err.message : String(err) })
    process.exit(1)
  }
  startup = process.cpuUsage()
  await send({ t: 'ready', url: receiver.url })
}

async function close (): Promise<void> {
  if (receiver === undefined) return process.disconnect()
  await receiver.close()
  const cpu = process.cpuUsage(startup)
  await send({ t: 'closed', stats: receiver.stats(), cpuMicros: cpu.user + cpu.system })
  process.disconnect()
}
