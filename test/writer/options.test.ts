// src/writer/options.ts: every option is checked once, at construction, with an
// InvalidArgumentError that names it, says what it must be and shows what it got.
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError, RemoteWriter, createCodec } from '../../src/index.js'
import type { RemoteWriterOptions } from '../../src/index.js'
import { resolveOptions } from '../../src/writer/options.js'

const URL_ = 'http://127.0.0.1:9/api/v1/write'

const bad: Array<[keyof RemoteWriterOptions, unknown]> = [
  ['maxRetries', 2.5], ['maxRetries', -1], ['maxRetries', NaN], ['maxRetries', '3'],
  ['maxSamplesPerRequest', 0], ['maxSamplesPerRequest', 1.5], ['maxSamplesPerRequest', Infinity],
  ['maxBytesPerRequest', 1023], ['maxBytesPerRequest', 4096.5],
  ['concurrency', 0], ['concurrency', 2.5], ['concurrency', 1025],
  ['maxBufferedSamples', 0], ['maxBufferedSamples', 10.5],
  ['maxBufferedBytes', 0], ['maxBufferedBytes', 1.5], ['maxBufferedBytes', -Infinity],
  ['timeout', 0], ['timeout', -5], ['timeout', Infinity], ['timeout', NaN],
  ['flushInterval', 0], ['flushInterval', NaN],
  ['minBackoff', 0], ['maxBackoff', 1], ['maxRetryDuration', -1], ['maxRetryDuration', NaN],
  ['retryOn429', 'yes'], ['ioThread', 1], ['onError', 'log'], ['signal', {}],
  ['protocol', 'v3'],
  ['seriesCacheBytes', -1], ['seriesCacheBytes', 1.5], ['seriesCacheBytes', Infinity],
  ['maxDecodedBytes', 1.5], ['maxMemoryBytes', 0], ['maxMemoryBytes', 2.5],
]

describe('writer options', () => {
  it.each(bad)('%s: %s is an InvalidArgumentError naming the option', async (name, value) => {
    await RemoteWriter.init()
    let err: unknown
    try {
      // eslint-disable-next-line no-new
      new RemoteWriter({ url: URL_, ioThread: false, [name]: value } as RemoteWriterOptions)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as Error).message).toContain(`invalid ${name}`)
    expect((err as Error).message).toMatch(/must be/)
  })

  it('takes the documented edge values: Infinity where it means "no limit", integers at their bounds', async () => {
    await RemoteWriter.init()
    const ok: Partial<RemoteWriterOptions>[] = [
      { maxRetries: 0 }, { maxRetries: Infinity }, { maxRetryDuration: Infinity }, { maxRetryDuration: 0 },
      { maxBufferedBytes: Infinity }, { concurrency: 1024 }, { maxBytesPerRequest: 1024 }, { timeout: 0.5 },
      { flushInterval: Infinity }, { seriesCacheBytes: 0 },
    ]
    for (const o of ok) {
      const w = new RemoteWriter({ url: URL_, ioThread: false, ...o })
      await w.close()
    }
  })

  it('fills in the defaults', () => {
    const { o, transport } = resolveOptions(URL_)
    expect(o).toEqual({
      timeout: 30_000, maxSamplesPerRequest: 2000, maxBytesPerRequest: 4 << 20, concurrency: 4, flushInterval: 5000,
      maxBufferedSamples: 100_000, maxBufferedBytes: 64 << 20, minBackoff: 30, maxBackoff: 5000, maxRetries: 10,
      maxRetryDuration: 120_000, retryOn429: true, protocol: 'v1',
    })
    expect(transport.connections).toBe(4)
  })

  it('never shows a secret: a bad auth option names the option, not its value', () => {
    expect(() => new RemoteWriter({ url: URL_, auth: { password: 'hunter2' } as never })).toThrow(/^auth must be/)
    try {
      new RemoteWriter({ url: URL_, auth: { password: 'hunter2' } as never }) // eslint-disable-line no-new
    } catch (e) {
      expect(String((e as Error).message)).not.toContain('hunter2')
    }
  })

  it('the codec checks its own options the same way', async () => {
    await expect(createCodec({ seriesCacheBytes: 0.5 })).rejects.toThrow(/invalid seriesCacheBytes: must be an integer >= 0 \(got 0.5\)/)
  })
})
