/** The messages between the writer's thread and the I/O thread (io-thread.ts, io-worker.ts). */
import type { TransportOptions } from './http.js'
import type { Ack, Expect, Outcome } from './attempt.js'

/** Main → I/O thread. */
export type ToWorker =
  | { t: 'open', w: number, options: TransportOptions, timeout: number, shards: number, held: number[], ackFile: string | undefined }
  | { t: 'send', w: number, id: number, shard: number, buf: ArrayBuffer, off: number, len: number, attempt: number, expect: Expect, ack: Ack | undefined }
  | { t: 'release', w: number, shard: number }
  | { t: 'abort', w: number, message: string }
  | { t: 'close', w: number, force: boolean }

/** I/O thread → main. An outcome's error travels as its message and code. */
export type FromWorker =
  | { t: 'done', w: number, id: number, buf: ArrayBuffer, outcome: Outcome }
  | { t: 'closed', w: number }
