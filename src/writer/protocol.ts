/**
 * Which protocol new batches are built in, and the 'auto' fallback: a writer with protocol
 * 'auto' builds Remote Write 2.0 requests until the endpoint shows it only speaks 1.0 (a 415,
 * or a 2xx without the written counts); from then on it builds 1.0, remembers the endpoint for
 * the process, and re-encodes each 2.0 batch still waiting as 1.0 before it is sent again.
 */
import { Codec } from '../codec/codec.js'
import { NO_LIMITS } from '../codec/decode-limits.js'
import type { Batch } from './batch.js'
import type { Events, Ledger } from './ledger.js'

/** Endpoints (URL without user info or query) that showed they only speak Remote Write 1.0. */
const v1Endpoints = new Set<string>()

export class Protocol {
  /** New batches are Remote Write 2.0 requests (protocol 'v2', or 'auto' until it fell back). */
  v2: boolean
  /** protocol 'auto': 2.0 until the endpoint shows it only speaks 1.0. */
  readonly auto: boolean
  readonly #url: string
  readonly #events: Events
  readonly #ledger: Ledger
  readonly #maxBytesPerRequest: number
  /** Encodes 1.0 bodies from 2.0 ones after a fallback (its own core; timestamps as they are). */
  #converter: Codec | undefined

  constructor (protocol: 'v1' | 'v2' | 'auto', url: string, events: Events, ledger: Ledger, maxBytesPerRequest: number) {
    this.auto = protocol === 'auto'
    this.v2 = protocol === 'v2' || (this.auto && !v1Endpoints.has(url))
    this.#url = url
    this.#events = events
    this.#ledger = ledger
    this.#maxBytesPerRequest = maxBytesPerRequest
  }

  /**
   * Whether an answer to a 2.0 batch says the receiver is not a 2.0 one: 415, or (for 'auto'
   * only) a 2xx without the written counts, what a 1.0 receiver answers after storing nothing.
   */
  notV2 (batch: Batch, status: number, samplesWritten: string | undefined): boolean {
    return this.auto && batch.v2 && (status === 415 || (status >= 200 && status < 300 && samplesWritten === undefined))
  }

  /** This endpoint speaks 1.0 only; new batches are 1.0 from now on. */
  fallBack (): void {
    if (!this.v2) return // another shard's request found it out first
    this.v2 = false
    v1Endpoints.add(this.#url)
    this.#events.emit('protocol', { protocol: 'v1', url: this.#url })
  }

  /**
   * Re-encodes a batch's 2.0 body as a 1.0 body: samples, native histograms, exemplars and
   * metadata (as WriteRequest.metadata). Start timestamps have no place in 1.0 and are left
   * out. A batch that cannot be re-encoded keeps the error, to be reported failed.
   */
  toV1 (batch: Batch): void {
    try {
      this.#converter ??= new Codec({
        autoConvertSecondsToMs: false, strictTimestamps: false, sortSamples: false, seriesCacheBytes: 0,
        maxDecodedBytes: Math.max(32 << 20, 2 * this.#maxBytesPerRequest),
      })
      // Its own batch: no decode limits (they bound untrusted bodies).
      const { items } = this.#converter.decodeV2(batch.body as Uint8Array, { bigint: true, ...NO_LIMITS })
      const body = this.#converter.encode(items)
      batch.rawBytes = this.#converter.size
      this.#ledger.grow(0, body.length - batch.bytes)
      batch.bytes = body.length
      batch.body = body
      batch.v2 = false
    } catch (err) {
      batch.encodeError = err
    }
  }
}
