// src/errors.ts: one table of every error class and code. Each code's class carries that code
// and its own name, every code written anywhere in src/ is in the table, and the library
// throws its own errors only through these classes.
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import * as api from '../src/index.js'
import { ERRORS, RemoteWriteError, rebuildError } from '../src/errors.js'
import type { ErrorCode } from '../src/errors.js'

const SRC = fileURLToPath(new URL('../src/', import.meta.url))

function sources (dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []))
}

/** One instance of each code's class. */
const samples: Record<ErrorCode, () => RemoteWriteError> = {
  ERR_PRW: () => new api.RemoteWriteError('x'),
  ERR_PRW_INVALID_ARGUMENT: () => new api.InvalidArgumentError('x'),
  ERR_PRW_VALIDATION: () => new api.ValidationError('x', { seriesIndex: 0, field: 'metric' }),
  ERR_PRW_SNAPPY: () => new api.SnappyError(-1),
  ERR_PRW_DECODE: () => new api.DecodeError('x'),
  ERR_PRW_CORE_TRAP: () => new api.CoreTrapError(new Error('unreachable')),
  ERR_PRW_INTERNAL: () => new api.InternalError('x'),
  ERR_PRW_CLOSED: () => new api.WriterClosedError(),
  ERR_PRW_ABORTED: () => new api.AbortedError(),
  ERR_PRW_TIMEOUT: () => new api.TimeoutError('x'),
  ERR_PRW_IO_THREAD: () => new api.IoThreadError('x'),
  ERR_PRW_LISTENER: () => new api.ListenerError('drain', new Error('x')),
  ERR_PRW_BATCH: () => new api.BatchError('x', { reason: 'http', attempts: 1, series: [], samples: 0 }),
  ERR_PRW_SEND: () => new api.SendError({ requests: 0, series: 0, samples: 0 }, { requests: 1, series: 1, samples: 1 }, []),
  ERR_PRW_SPOOL: () => new api.SpoolError('x', '/tmp/spool'),
  ERR_PRW_LOST: () => new api.LostDataError({ requests: 0, series: 0, samples: 0, failed: { requests: 1, series: 1, samples: 1 }, errors: [] }),
}

describe('errors', () => {
  it.each(Object.keys(ERRORS) as ErrorCode[])('%s: its class carries the code and its own name, and is exported', (code) => {
    const err = samples[code]()
    const { type } = ERRORS[code]
    expect(err).toBeInstanceOf(type)
    expect(err).toBeInstanceOf(RemoteWriteError)
    expect(err).toBeInstanceOf(Error)
    expect(err.code).toBe(code)
    expect(err.name).toBe(type.name)
    expect((api as Record<string, unknown>)[type.name]).toBe(type)
  })

  it('every ERR_PRW_* code written in src/ is in the table', () => {
    const found = new Set<string>()
    for (const f of sources()) for (const m of readFileSync(f, 'utf8').matchAll(/'(ERR_PRW[A-Z_]*)'/g)) found.add(m[1])
    expect([...found].filter((c) => !(c in ERRORS))).toEqual([])
    expect(found.size).toBeGreaterThan(10)
  })

  it('src/ throws no bare RemoteWriteError (each code has its class)', () => {
    const bare = sources().filter((f) => !f.endsWith('errors.ts') && /new RemoteWriteError\(/.test(readFileSync(f, 'utf8')))
    expect(bare).toEqual([])
  })

  it('an error from the I/O thread comes back as its class', () => {
    expect(rebuildError('no answer within 5 ms', 'ERR_PRW_TIMEOUT')).toBeInstanceOf(api.TimeoutError)
    expect(rebuildError('aborted', 'ERR_PRW_ABORTED')).toBeInstanceOf(api.AbortedError)
    expect(rebuildError('gone', 'ERR_PRW_IO_THREAD')).toBeInstanceOf(api.IoThreadError)
    const io = rebuildError('connect ECONNREFUSED 127.0.0.1:9', 'ECONNREFUSED')
    expect(io).toBeInstanceOf(api.IoError)
    // Not this library's error: it keeps its own code, as without the I/O thread.
    expect(io).toMatchObject({ name: 'IoError', code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:9' })
    expect(io).not.toBeInstanceOf(RemoteWriteError)
  })
})
