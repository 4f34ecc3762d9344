// src/index.ts is the published API: these are its runtime exports, exactly, and the codec
// publishes no internal methods (the writer's use of the codec goes through codec/builder.ts).
import { describe, expect, it } from 'vitest'
import * as api from '../src/index.js'

describe('the published API', () => {
  it('exports exactly these values', () => {
    expect(Object.keys(api).sort()).toEqual([
      'AbortedError', 'BatchError', 'Codec', 'CoreTrapError', 'DECODE_LIMITS', 'DecodeError', 'ERRORS', 'InternalError', 'InvalidArgumentError',
      'IoError', 'IoThreadError', 'ListenerError', 'LostDataError', 'RemoteWriteError', 'RemoteWriter', 'STALE', 'STALE_NAN', 'SendError',
      'SeriesHandle', 'SnappyError', 'SpoolError', 'TimeoutError', 'ValidationError', 'WriterClosedError', 'createCodec', 'decodeWriteRequest',
      'isStaleNaN', 'nativeHistogram', 'snappyCompress', 'snappyDecompress',
    ])
  })

  it('Codec has only its public methods', () => {
    const names = Object.getOwnPropertyNames(api.Codec.prototype).sort()
    expect(names).toEqual([
      'append', 'begin', 'constructor', 'decode', 'decodeV2', 'decompress', 'encode', 'encodeProtobuf', 'encodeV2',
      'encodeV2Protobuf', 'encodeView', 'finish', 'sampleCount', 'series', 'seriesCount', 'size', 'stats',
    ])
  })
})
