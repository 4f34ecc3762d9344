/**
 * The baseline: how `prometheus-remote-write` 0.5.1 builds a body today, reimplemented
 * here so the bench controls the versions (protobufjs 8.8.1, snappyjs 0.7.0, snappy 7.4.3).
 *
 * What its `pushTimeseries()` does before the HTTP call, and what `encodePeer()` times:
 * 1. map each `{ labels, samples }` to a message object: labels as an array of
 *    `{ name, value }` from the entries of a spread copy of the labels object, samples as
 *    fresh `{ value, timestamp }` objects (a missing timestamp becomes `Date.now()`);
 * 2. `WriteRequest.verify(message)` (throws on a message error);
 * 3. `WriteRequest.encode(message).finish()`;
 * 4. snappy: `SnappyJS.compress(buffer)` in the package; native `compressSync` in (c).
 *
 * The package ships a pbjs static module; the schema here is built with protobufjs
 * reflection from the Remote Write 1.0 field tables (protocol.md §1.1). Reflection types
 * generate the same encoder/verifier code at first use.
 */
import protobuf from 'protobufjs'
import SnappyJS from 'snappyjs'
import { compressSync, uncompressSync } from 'snappy'
import type { PeerSeries } from './workloads.js'

const { Root, Type, Field, Enum } = protobuf

/** `prometheus.*` from prompb/types.proto + remote.proto, the fields the package declares. */
function buildSchema (): protobuf.Type {
  const ns = new Root().define('prometheus')
  ns.add(new Type('Label')
    .add(new Field('name', 1, 'string'))
    .add(new Field('value', 2, 'string')))
  ns.add(new Type('Sample')
    .add(new Field('value', 1, 'double'))
    .add(new Field('timestamp', 2, 'int64')))
  ns.add(new Type('Exemplar')
    .add(new Field('labels', 1, 'Label', 'repeated'))
    .add(new Field('value', 2, 'double'))
    .add(new Field('timestamp', 3, 'int64')))
  ns.add(new Type('TimeSeries')
    .add(new Field('labels', 1, 'Label', 'repeated'))
    .add(new Field('samples', 2, 'Sample', 'repeated'))
    .add(new Field('exemplars', 3, 'Exemplar', 'repeated')))
  const metadata = new Type('MetricMetadata')
    .add(new Enum('MetricType', {
      UNKNOWN: 0, COUNTER: 1, GAUGE: 2, HISTOGRAM: 3, GAUGEHISTOGRAM: 4, SUMMARY: 5, INFO: 6, STATESET: 7,
    }))
  metadata
    .add(new Field('type', 1, 'MetricType'))
    .add(new Field('metric_family_name', 2, 'string'))
    .add(new Field('help', 4, 'string'))
    .add(new Field('unit', 5, 'string'))
  ns.add(metadata)
  const request = new Type('WriteRequest')
    .add(new Field('timeseries', 1, 'TimeSeries', 'repeated'))
    .add(new Field('metadata', 3, 'MetricMetadata', 'repeated'))
  request.reserved = [[2, 2]]
  ns.add(request)
  return ns.root.lookupType('prometheus.WriteRequest')
}

/** The reflected `prometheus.WriteRequest`, also used to decode every stack's output. */
export const WriteRequest = buildSchema()

/** Step 1: the message object the package builds from its input. */
function toMessage (series: readonly PeerSeries[]): object {
  return {
    timeseries: series.map((ts) => ({
      labels: Object.entries({ ...ts.labels }).map(([name, value]) => ({ name, value })),
      samples: ts.samples.map((s) => ({ value: s.value, timestamp: s.timestamp || Date.now() })),
    })),
  }
}

/** Steps 1-3: the uncompressed WriteRequest protobuf, as the package produces it. */
export function encodePeer (series: readonly PeerSeries[]): Uint8Array {
  const message = toMessage(series)
  const problem = WriteRequest.verify(message)
  if (problem) throw new Error(problem)
  return WriteRequest.encode(message).finish()
}

/** Stack (b): protobufjs + snappyjs, as `prometheus-remote-write` does it. */
export function peerSnappyjs (series: readonly PeerSeries[]): Uint8Array {
  return SnappyJS.compress(encodePeer(series))
}

/** Stack (c): the same protobufjs path, then native `snappy.compressSync`. */
export function peerNative (series: readonly PeerSeries[]): Uint8Array {
  return compressSync(encodePeer(series))
}

/** snappyjs block compression alone. */
export function snappyjsCompress (raw: Uint8Array): Uint8Array {
  return SnappyJS.compress(raw)
}

/** Native snappy block compression alone. */
export function nativeCompress (raw: Uint8Array): Uint8Array {
  return compressSync(raw)
}

/** Native snappy block decompression. */
export function nativeUncompress (body: Uint8Array): Uint8Array {
  return uncompressSync(body, { asBuffer: true }) as Buffer
}

/** A decoded request, numbers only (int64 as Number), defaults filled in. */
export interface DecodedRequest {
  timeseries: Array<{
    labels: Array<{ name: string, value: string }>
    samples: Array<{ value: number, timestamp: number }>
  }>
}

/** Native snappy uncompress + protobufjs decode, independent of this project's decoder. */
export function decodeBody (body: Uint8Array): DecodedRequest {
  const message = WriteRequest.decode(nativeUncompress(body))
  return WriteRequest.toObject(message, { longs: Number, defaults: true, arrays: true }) as DecodedRequest
}
