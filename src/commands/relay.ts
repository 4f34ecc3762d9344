/**
 * `prw relay`: a gateway in a box. A remote-write receiver (1.0 and 2.0, the checks of
 * `prw receive`) in front of a spooled writer that forwards everything it accepts upstream.
 *
 * A device's request is answered 2xx only once its data is durable in the spool (written and
 * fsynced, per the spool's sync policy), so the device's own retries cover a crash of the
 * relay; a request that arrives while the spool is full (onFull 'block') is answered 503 with
 * Retry-After, and nothing of it is kept. Requests that arrive together share one fsync.
 *
 * Its counters are on `GET /metrics` in the Prometheus text format, for a Prometheus to scrape.
 */
import { RemoteWriter } from '../index.js'
import type { BatchError, DecodedItem, RemoteWriterOptions, RetryEvent, SpoolOptions, WriterSummary } from '../index.js'
import { startReceiver } from './receiver.js'
import type { Receiver, ReceiverOptions } from './receiver.js'

export interface RelayOptions {
  /** Where devices send. Default 127.0.0.1, port 9201 (0 picks one). */
  host?: string
  port?: number
  /** The upstream endpoint. */
  url: string
  /** Options of the upstream writer (auth, tenant, TLS, protocol, concurrency, ...). */
  writer?: Omit<RemoteWriterOptions, 'url' | 'spool'>
  spool: SpoolOptions
  /** The receiver's bounds on what one device request may cost (see ReceiverOptions). */
  decodeLimits?: ReceiverOptions['decodeLimits']
  maxBodyBytes?: number
  /** Each batch the upstream rejected for good, or a policy dropped (reported, never silent). */
  onError?: (err: BatchError) => void
  /** What the spool has to say (damage found, a stale lock taken over, a disk that fails). */
  onWarning?: (err: Error) => void
  /** An upstream attempt failed and is retried (the request waits in the spool). */
  onRetry?: (e: RetryEvent) => void
}

/** What a relay has done. */
export interface RelayStats {
  /** Samples are float and native histogram samples together (`histograms`: of those, histograms). */
  received: { requests: number, samples: number, histograms: number, exemplars: number }
  /** Exemplars of 1.0 requests that a 2.0 upstream cannot carry (a series without samples in its request). */
  droppedExemplars: number
  /** Device requests not accepted, by status. */
  rejected: Record<number, number>
  forwarded: { requests: number, samples: number }
  retried: { requests: number, samples: number }
  failed: { requests: number, samples: number }
  spool: { bytes: number, maxBytes: number, pendingRequests: number, pendingSamples: number, replayedSamples: number, droppedSamples: number, expiredSamples: number, corruptRecords: number }
}

export interface Relay {
  /** Where devices send: `http://host:port/api/v1/write`. */
  readonly url: string
  readonly port: number
  readonly writer: RemoteWriter
  stats (): RelayStats
  /** The counters in the Prometheus text format (what GET /metrics answers). */
  metrics (): string
  /**
   * Stops receiving, then closes the writer: what is not acknowledged within `timeout` ms
   * stays in the spool for the next start.
   */
  close (timeout?: number): Promise<WriterSummary>
}

/** A device request the relay does not take now: answered with this status. */
class Refused extends Error {
  readonly status: number
  readonly retryAfter: number | undefined
  constructor (message: string, status: number, retryAfter?: number) {
    super(message)
    this.status = status
    this.retryAfter = retryAfter
  }
}

export async function startRelay (o: RelayOptions): Promise<Relay> {
  await RemoteWriter.init()
  const writer = new RemoteWriter({
    ...o.writer,
    url: o.url,
    spool: o.spool,
    // Decoded timestamps are milliseconds already, in order: take them as they are.
    autoConvertSecondsToMs: false,
    strictTimestamps: false,
  })
  writer.on('error', (err: BatchError) => o.onError?.(err))
  writer.on('warning', (err: Error) => o.onWarning?.(err))
  if (o.onRetry !== undefined) writer.on('retry', o.onRetry)
  const blocks = o.spool.onFull !== 'dropOldest'
  let commit: Promise<void> | undefined
  // Requests that arrive in one turn of the event loop share one flush (and one fsync).
  const durable = (): Promise<void> => {
    commit ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      commit = undefined
      return writer.flush()
    })
    return commit
  }
  const v2 = (o.writer?.protocol ?? 'v1') !== 'v1'
  let droppedExemplars = 0
  const forward = async (decoded: DecodedItem[]): Promise<void> => {
    const items = v2 ? withExemplars(decoded, (n) => {
      if (droppedExemplars === 0) o.onWarning?.(new Error(`a Remote Write 1.0 request carried exemplars of a series without samples in it: Remote Write 2.0 cannot carry them, so they are dropped (counted in prw_relay_dropped_exemplars_total); use --protocol v1 upstream to keep them`))
      droppedExemplars += n
    }) : decoded
    const spool = writer.stats().spool
    if (blocks && spool !== undefined && spool.full) {
      throw new Refused(`the relay's spool is full (${spool.bytes} of ${spool.maxBytes} bytes): try again later`, 503, 5)
    }
    try {
      writer.write(items)
    } catch (err) {
      if ((err as Error).name === 'ValidationError') throw err
      throw new Refused(`the relay cannot take this request: ${(err as Error).message}`, 503, 1)
    }
    try {
      await durable()
    } catch (err) {
      throw new Refused(`the relay could not make this request durable: ${(err as Error).message}`, 503, 5)
    }
  }
  let receiver: Receiver
  try {
    receiver = await startReceiver({
      host: o.host ?? '127.0.0.1',
      port: o.port ?? 9201,
      maxBodyBytes: o.maxBodyBytes,
      decodeLimits: o.decodeLimits,
      forward,
      get: { '/metrics': () => ({ type: 'text/plain; version=0.0.4; charset=utf-8', body: metrics() }) },
    })
  } catch (err) {
    await writer.close({ timeout: 0 }).catch(() => {})
    throw err
  }

  const stats = (): RelayStats => {
    const r = receiver.stats()
    const w = writer.stats()
    const s = w.spool
    return {
      // Samples here and below: float and native histogram samples, as the writer counts them.
      received: { requests: r.accepted, samples: r.samples + r.histograms, histograms: r.histograms, exemplars: r.exemplars },
      rejected: r.statuses,
      droppedExemplars,
      forwarded: { requests: w.sent.requests, samples: w.sent.samples },
      retried: { ...w.retried },
      failed: { requests: w.failed.requests, samples: w.failed.samples },
      spool: {
        bytes: s?.bytes ?? 0,
        maxBytes: s?.maxBytes ?? 0,
        pendingRequests: s?.pending.requests ?? 0,
        pendingSamples: s?.pending.samples ?? 0,
        replayedSamples: s?.replayed.samples ?? 0,
        droppedSamples: s?.dropped.samples ?? 0,
        expiredSamples: s?.expired.samples ?? 0,
        corruptRecords: s?.corrupt.records ?? 0,
      },
    }
  }

  const metrics = (): string => {
    const s = stats()
    const out: string[] = []
    const metric = (name: string, type: 'counter' | 'gauge', help: string, rows: Array<[string, number]>): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const [labels, v] of rows) out.push(`${name}${labels} ${v}`)
    }
    metric('prw_relay_received_requests_total', 'counter', 'Device requests accepted (durable in the spool).', [['', s.received.requests]])
    metric('prw_relay_received_samples_total', 'counter', 'Samples accepted from devices (native histogram samples included).', [['', s.received.samples]])
    metric('prw_relay_received_histograms_total', 'counter', 'Native histogram samples accepted from devices.', [['', s.received.histograms]])
    metric('prw_relay_rejected_requests_total', 'counter', 'Device requests not accepted, by status.',
      Object.entries(s.rejected).map(([code, n]) => [`{code="${code}"}`, n]))
    metric('prw_relay_forwarded_requests_total', 'counter', 'Requests acknowledged upstream.', [['', s.forwarded.requests]])
    metric('prw_relay_forwarded_samples_total', 'counter', 'Samples acknowledged upstream.', [['', s.forwarded.samples]])
    metric('prw_relay_retried_requests_total', 'counter', 'Upstream attempts retried.', [['', s.retried.requests]])
    metric('prw_relay_failed_samples_total', 'counter', 'Samples that failed for good upstream or were dropped by the spool policies.', [['', s.failed.samples]])
    metric('prw_relay_dropped_samples_total', 'counter', 'Samples dropped by the spool, by reason.',
      [['{reason="spool-full"}', s.spool.droppedSamples], ['{reason="expired"}', s.spool.expiredSamples]])
    metric('prw_relay_dropped_exemplars_total', 'counter', 'Exemplars of 1.0 requests a 2.0 upstream cannot carry (no samples of their series in the request).', [['', s.droppedExemplars]])
    metric('prw_relay_corrupt_records_total', 'counter', 'Spool records found damaged on disk (never sent).', [['', s.spool.corruptRecords]])
    metric('prw_relay_replayed_samples_total', 'counter', 'Samples found in the spool at start and acknowledged since.', [['', s.spool.replayedSamples]])
    metric('prw_relay_spool_bytes', 'gauge', 'Bytes of the spool on disk.', [['', s.spool.bytes]])
    metric('prw_relay_spool_max_bytes', 'gauge', 'The most the spool may take.', [['', s.spool.maxBytes]])
    metric('prw_relay_spool_pending_requests', 'gauge', 'Requests in the spool not acknowledged yet.', [['', s.spool.pendingRequests]])
    metric('prw_relay_spool_pending_samples', 'gauge', 'Samples in the spool not acknowledged yet.', [['', s.spool.pendingSamples]])
    return `${out.join('\n')}\n`
  }

  let closing: Promise<WriterSummary> | undefined
  return {
    url: receiver.url,
    port: receiver.port,
    writer,
    stats,
    metrics,
    close: (timeout = 5000) => {
      closing ??= (async () => {
        await receiver.close()
        return await writer.close({ timeout })
      })()
      return closing
    },
  }
}

/**
 * For a 2.0 upstream: a 1.0 request carries a series' exemplars in a record of their own
 * (labels and exemplars, no samples), which 2.0 cannot carry. They join the record of the same
 * series with samples or histograms in the request; those with none are dropped (`dropped`
 * is told how many), never silently.
 */
function withExemplars (items: DecodedItem[], dropped: (n: number) => void): DecodedItem[] {
  if (!items.some((it) => it.exemplars !== undefined && it.values.length === 0 && (it.histograms?.length ?? 0) === 0)) return items
  const key = (it: DecodedItem): string => JSON.stringify(it.metric)
  const carriers = new Map<string, DecodedItem>()
  for (const it of items) if (it.values.length > 0 || (it.histograms?.length ?? 0) > 0) carriers.set(key(it), it)
  const out: DecodedItem[] = []
  for (const it of items) {
    if (it.exemplars === undefined || it.values.length > 0 || (it.histograms?.length ?? 0) > 0) {
      out.push(it)
      continue
    }
    const carrier = carriers.get(key(it))
    if (carrier === undefined) {
      dropped(it.exemplars.length)
      continue
    }
    carrier.exemplars = [...(carrier.exemplars ?? []), ...it.exemplars]
  }
  return out
}
