/**
 * The records of readItems: produced a batch at a time (the lines of a chunk, see batch.ts),
 * taken one at a time, or a batch at a time by regroup.
 *
 * Why not an async generator: one that yields each record costs several promise turns per
 * record (`yield*` over an array cost about 0.5 µs a record on a 2-core EPYC, more than
 * parsing a line). Here a record already read is handed over with one resolved promise, and
 * regroup takes whole batches.
 */
import type { RecordBatch } from './batch.js'
import type { InputRecord } from './record.js'

/** Where a {@link RecordStream} hands its records over in batches. */
export const RECORD_BATCHES: unique symbol = Symbol('prometheus-remote-writer.recordBatches')

/** What readItems returns: records, one at a time, or in batches through {@link RECORD_BATCHES}. */
export interface RecordStream extends AsyncIterableIterator<InputRecord> {
  /** The records not taken yet, in input order, a batch at a time. Take records one way only. */
  [RECORD_BATCHES]: () => AsyncGenerator<RecordBatch>
}

/** The batches of a record stream, or undefined for another kind of iterable. */
export function batchesOf (records: AsyncIterable<InputRecord>): AsyncGenerator<RecordBatch> | undefined {
  return records instanceof RecordReader ? records[RECORD_BATCHES]() : undefined
}

/** A {@link RecordStream} over a generator of record batches. */
export class RecordReader implements RecordStream {
  readonly #batches: AsyncGenerator<RecordBatch>
  #buf: RecordBatch | undefined
  #i = 0
  /** next() calls waiting for a batch: the calls after them queue behind them, in order. */
  #waiting = 0
  #queue: Promise<unknown> = Promise.resolve()

  constructor (batches: AsyncGenerator<RecordBatch>) {
    this.#batches = batches
  }

  [Symbol.asyncIterator] (): this {
    return this
  }

  next (): Promise<IteratorResult<InputRecord>> {
    const buf = this.#buf
    if (this.#waiting === 0 && buf !== undefined && this.#i < buf.length) return Promise.resolve({ value: buf.at(this.#i++), done: false })
    this.#waiting++
    const taken = this.#queue.then(async () => await this.#take())
    this.#queue = taken.catch(() => {})
    return taken.finally(() => { this.#waiting-- })
  }

  async #take (): Promise<IteratorResult<InputRecord>> {
    let buf = this.#buf
    while (buf === undefined || this.#i >= buf.length) {
      const r = await this.#batches.next()
      if (r.done === true) return { value: undefined, done: true }
      buf = this.#buf = r.value
      this.#i = 0
    }
    return { value: buf.at(this.#i++), done: false }
  }

  /** Stops reading: the source is closed. */
  async return (): Promise<IteratorResult<InputRecord>> {
    this.#buf = undefined
    await this.#batches.return(undefined)
    return { value: undefined, done: true }
  }

  async * [RECORD_BATCHES] (): AsyncGenerator<RecordBatch> {
    const buf = this.#buf
    this.#buf = undefined
    if (buf !== undefined && this.#i < buf.length) yield buf.rest(this.#i)
    yield * this.#batches
  }
}
