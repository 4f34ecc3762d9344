// An independent Remote Write 2.0 decoder for tests: native snappy and snappyjs, then
// protobufjs with a v2 schema built from the field tables of protocol.md §2.1, refs resolved
// through the symbols table.
import protobuf from 'protobufjs'
import { uncompressSync } from 'snappy'
import SnappyJS from 'snappyjs'
import { expect } from 'vitest'

/** The v2 schema, from protocol.md §2.1 (Sample.value read as fixed64 to keep NaN bits). */
function v2Schema (): protobuf.Type {
  const root = new protobuf.Root()
  const ns = root.define('io.prometheus.write.v2')
  ns.add(new protobuf.Type('Sample')
    .add(new protobuf.Field('value', 1, 'fixed64'))
    .add(new protobuf.Field('timestamp', 2, 'int64'))
    .add(new protobuf.Field('startTimestamp', 3, 'int64')))
  ns.add(new protobuf.Type('Metadata')
    .add(new protobuf.Field('type', 1, 'int32'))
    .add(new protobuf.Field('helpRef', 3, 'uint32'))
    .add(new protobuf.Field('unitRef', 4, 'uint32')))
  ns.add(new protobuf.Type('TimeSeries')
    .add(new protobuf.Field('labelsRefs', 1, 'uint32', 'repeated'))
    .add(new protobuf.Field('samples', 2, 'Sample', 'repeated'))
    .add(new protobuf.Field('metadata', 5, 'Metadata')))
  ns.add(new protobuf.Type('Request')
    .add(new protobuf.Field('symbols', 4, 'string', 'repeated'))
    .add(new protobuf.Field('timeseries', 5, 'TimeSeries', 'repeated')))
  return root.lookupType('io.prometheus.write.v2.Request')
}
export const Request = v2Schema()
/** The same bytes read as 1.0: must be an empty message (fields 4 and 5 are unknown there). */
export const V1 = (() => {
  const root = new protobuf.Root()
  root.define('prometheus').add(new protobuf.Type('WriteRequest').add(new protobuf.Field('timeseries', 1, 'bytes', 'repeated')))
  return root.lookupType('prometheus.WriteRequest')
})()

export interface V2Series { labels: Array<[string, string]>, values: bigint[], timestamps: bigint[], type: number, help: string, unit: string }

/** Independent decode: both snappy decoders, protobufjs, refs resolved through the symbols. */
export function decodeV2 (body: Uint8Array): { symbols: string[], series: V2Series[], raw: Uint8Array } {
  const native = uncompressSync(Buffer.from(body)) as Buffer
  const js = SnappyJS.uncompress(new Uint8Array(body)) as Uint8Array
  expect(Buffer.compare(native, Buffer.from(js))).toBe(0)
  const msg = Request.toObject(Request.decode(native), { longs: String, defaults: true }) as {
    symbols: string[]
    timeseries: Array<{ labelsRefs: number[], samples: Array<{ value: string, timestamp: string }>, metadata?: { type: number, helpRef: number, unitRef: number } }>
  }
  const sym = (i: number): string => {
    expect(i).toBeLessThan(msg.symbols.length)
    return msg.symbols[i]
  }
  return {
    raw: new Uint8Array(native),
    symbols: msg.symbols,
    series: msg.timeseries.map((ts) => {
      expect(ts.labelsRefs.length % 2).toBe(0)
      const labels: Array<[string, string]> = []
      for (let i = 0; i < ts.labelsRefs.length; i += 2) labels.push([sym(ts.labelsRefs[i]), sym(ts.labelsRefs[i + 1])])
      return {
        labels,
        values: ts.samples.map((s) => BigInt.asUintN(64, BigInt(s.value))),
        timestamps: ts.samples.map((s) => BigInt(s.timestamp)),
        type: ts.metadata?.type ?? 0,
        help: sym(ts.metadata?.helpRef ?? 0),
        unit: sym(ts.metadata?.unitRef ?? 0),
      }
    }),
  }
}

