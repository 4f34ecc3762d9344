/**
 * Senders: how the writer's attempts reach undici.
 *
 * - InlineSender runs each attempt on the calling thread (the writer awaits one batch per
 *   shard at a time). Used with an injected dispatcher, which cannot cross threads, with
 *   `ioThread: false`, and when the thread cannot be used (options it cannot receive, or no
 *   io-worker.js beside this module).
 * - WorkerSender hands attempts to one I/O thread per process, shared by all writers. It keeps
 *   a FIFO per shard and sends a shard's next batch the moment the previous one is accepted,
 *   without waiting for the writer's thread, which meanwhile encodes. A batch that is not
 *   accepted (any error, any non-2xx, a 2.0 short write) holds its shard until the writer
 *   decides: `attempt()` again (a retry, or a 1.0 re-send after a fallback) or `release()`.
 *   So a series' samples still reach the server in order, and every retry decision stays in
 *   the writer.
 *
 * Bodies go to the I/O thread by transfer, not copy, and come back with the outcome
 * (io-thread.ts).
 */
import { closeSync, openSync } from 'node:fs'
import type { Transport, TransportOptions } from './http.js'
export type { Carrier, Sender } from './attempt.js'
import { attemptOn, recordAck } from './attempt.js'
import type { Carrier, Expect, Outcome, Sender } from './attempt.js'
import { WorkerSender, workerEntry } from './io-thread.js'

/** Attempts on the calling thread. */
export class InlineSender implements Sender {
  readonly pipelined = false
  readonly #transport: Transport
  readonly #timeout: number
  readonly #ackFd: number
  #aborted = false

  constructor (transport: Transport, timeoutMs: number, ackFile?: string) {
    this.#transport = transport
    this.#timeout = timeoutMs
    this.#ackFd = ackFile === undefined ? -1 : openSync(ackFile, 'r+')
  }

  async attempt (_shard: number, carrier: Carrier, attempt: number, expect: Expect): Promise<Outcome> {
    const o = await attemptOn(this.#transport, carrier.body as Uint8Array, attempt, this.#timeout, expect.v2, () => this.#aborted)
    recordAck(this.#ackFd, carrier.ack, o, expect)
    return o
  }

  release (): void {}

  abort (reason: unknown): void {
    this.#aborted = true
    this.#transport.abort(reason)
  }

  async close (): Promise<void> {
    // The writer closes the transport it lent.
    if (this.#ackFd >= 0) closeSync(this.#ackFd)
  }
}

/**
 * A sender for a writer: the I/O thread's when it can be used (no injected dispatcher, options
 * that can cross threads, the worker's code at hand), else one on the calling thread.
 */
export function createSender (options: TransportOptions, transport: Transport, timeoutMs: number, ioThread: boolean, ackFile?: string): Sender {
  if (ioThread && options.dispatcher === undefined && workerEntry() !== undefined) {
    try {
      return new WorkerSender(options, timeoutMs, ackFile)
    } catch {
      // Options the thread cannot receive (a function in tls, say): send from here.
    }
  }
  return new InlineSender(transport, timeoutMs, ackFile)
}

