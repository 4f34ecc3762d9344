// prometheus.WriteRequest (Remote Write 1.0) as a protobufjs reflection tree, built by hand
// from the field tables in shared/docs/protocol.md §1.1 (which were checked against
// prometheus/prometheus prompb/types.proto and remote.proto). Tests decode with it as an
// independent reference: nothing here shares code with assembly/ or src/.
//
//   message WriteRequest   { repeated TimeSeries timeseries = 1; reserved 2;
//                            repeated MetricMetadata metadata = 3; }
//   message TimeSeries     { repeated Label labels = 1; repeated Sample samples = 2;
//                            repeated Exemplar exemplars = 3; repeated Histogram histograms = 4; }
//   message Label          { string name = 1; string value = 2; }
//   message Sample         { double value = 1; int64 timestamp = 2; }
//   message Exemplar       { repeated Label labels = 1; double value = 2; int64 timestamp = 3; }
//   message BucketSpan     { sint32 offset = 1; uint32 length = 2; }
//   message Histogram      { oneof count { uint64 count_int = 1; double count_float = 2; }
//                            double sum = 3; sint32 schema = 4; double zero_threshold = 5;
//                            oneof zero_count { uint64 zero_count_int = 6; double zero_count_float = 7; }
//                            repeated BucketSpan negative_spans = 8; repeated sint64 negative_deltas = 9;
//                            repeated double negative_counts = 10; repeated BucketSpan positive_spans = 11;
//                            repeated sint64 positive_deltas = 12; repeated double positive_counts = 13;
//                            ResetHint reset_hint = 14; int64 timestamp = 15;
//                            repeated double custom_values = 16; }
//   message MetricMetadata { MetricType type = 1; string metric_family_name = 2;
//                            string help = 4; string unit = 5; }
//
// Two roots are exported. `WriteRequest` is the schema as specified. `WriteRequestBits` is the
// same schema with every double that a sample or exemplar carries declared `fixed64` instead:
// both are wire type 1 (8 bytes, little-endian), so protobufjs hands back the raw u64 bits as
// a Long and NaN payloads (stale markers) cannot be lost in a JS number.
import protobuf from 'protobufjs'

const { Enum, Field, OneOf, Root, Type } = protobuf

const PACKED = { packed: true }

/**
 * The Histogram message (numbered alike in both versions). `resetHint` is the type of field 14:
 * the nested ResetHint enum (1.0), or plain int32; `v2` adds start_timestamp (17).
 */
function histogramType (repeated: { packed: boolean }, resetHint: 'ResetHint' | 'int32', v2: boolean): protobuf.Type {
  const histogram = new Type('Histogram')
    .add(new Field('countInt', 1, 'uint64'))
    .add(new Field('countFloat', 2, 'double'))
    .add(new Field('sum', 3, 'double'))
    .add(new Field('schema', 4, 'sint32'))
    .add(new Field('zeroThreshold', 5, 'double'))
    .add(new Field('zeroCountInt', 6, 'uint64'))
    .add(new Field('zeroCountFloat', 7, 'double'))
    .add(new Field('negativeSpans', 8, 'BucketSpan', 'repeated'))
    .add(new Field('negativeDeltas', 9, 'sint64', 'repeated', undefined, repeated))
    .add(new Field('negativeCounts', 10, 'double', 'repeated', undefined, repeated))
    .add(new Field('positiveSpans', 11, 'BucketSpan', 'repeated'))
    .add(new Field('positiveDeltas', 12, 'sint64', 'repeated', undefined, repeated))
    .add(new Field('positiveCounts', 13, 'double', 'repeated', undefined, repeated))
    .add(new Field('resetHint', 14, resetHint))
    .add(new Field('timestamp', 15, 'int64'))
    .add(new Field('customValues', 16, 'double', 'repeated', undefined, repeated))
  if (v2) histogram.add(new Field('startTimestamp', 17, 'int64'))
  if (resetHint === 'ResetHint') histogram.add(new Enum('ResetHint', { UNKNOWN: 0, YES: 1, NO: 2, GAUGE: 3 }))
  histogram.add(new OneOf('count', ['countInt', 'countFloat']))
  histogram.add(new OneOf('zeroCount', ['zeroCountInt', 'zeroCountFloat']))
  return histogram
}

/** Builds the `prometheus` package; `sampleDouble` is the type used for Sample/Exemplar values. */
function buildRoot (sampleDouble: 'double' | 'fixed64'): protobuf.Root {
  const root = new Root()
  const ns = root.define('prometheus')

  ns.add(new Type('Label')
    .add(new Field('name', 1, 'string'))
    .add(new Field('value', 2, 'string')))

  ns.add(new Type('Sample')
    .add(new Field('value', 1, sampleDouble))
    .add(new Field('timestamp', 2, 'int64')))

  ns.add(new Type('Exemplar')
    .add(new Field('labels', 1, 'Label', 'repeated'))
    .add(new Field('value', 2, sampleDouble))
    .add(new Field('timestamp', 3, 'int64')))

  ns.add(new Type('BucketSpan')
    .add(new Field('offset', 1, 'sint32'))
    .add(new Field('length', 2, 'uint32')))

  ns.add(histogramType(PACKED, 'ResetHint', false))

  ns.add(new Type('TimeSeries')
    .add(new Field('labels', 1, 'Label', 'repeated'))
    .add(new Field('samples', 2, 'Sample', 'repeated'))
    .add(new Field('exemplars', 3, 'Exemplar', 'repeated'))
    .add(new Field('histograms', 4, 'Histogram', 'repeated')))

  const metadata = new Type('MetricMetadata')
    .add(new Field('type', 1, 'MetricType'))
    .add(new Field('metricFamilyName', 2, 'string'))
    .add(new Field('help', 4, 'string'))
    .add(new Field('unit', 5, 'string'))
  metadata.add(new Enum('MetricType', {
    UNKNOWN: 0, COUNTER: 1, GAUGE: 2, HISTOGRAM: 3, GAUGEHISTOGRAM: 4, SUMMARY: 5, INFO: 6, STATESET: 7,
  }))
  ns.add(metadata)

  // Field 2 is reserved ("Cortex uses this field to determine the source").
  const request = new Type('WriteRequest')
    .add(new Field('timeseries', 1, 'TimeSeries', 'repeated'))
    .add(new Field('metadata', 3, 'MetricMetadata', 'repeated'))
  request.reserved = [[2, 2]]
  ns.add(request)

  root.resolveAll()
  return root
}

/** The specified schema: Sample.value is a double. */
export const WriteRequest: protobuf.Type = buildRoot('double').lookupType('prometheus.WriteRequest')

/** The same wire format with Sample.value and Exemplar.value read as raw u64 bits (fixed64). */
export const WriteRequestBits: protobuf.Type = buildRoot('fixed64').lookupType('prometheus.WriteRequest')

/**
 * io.prometheus.write.v2.Request (Remote Write 2.0, protocol.md §2.1) with samples (and their
 * start_timestamp), histograms, exemplars and metadata; `packed: false` writes the repeated
 * scalars unpacked, as a decoder must also accept. Reset hints and metadata types are int32.
 */
export function v2Request (packed = true): protobuf.Type {
  const repeated = { packed }
  const root = new Root()
  const ns = root.define('io.prometheus.write.v2')
  ns.add(new Type('BucketSpan').add(new Field('offset', 1, 'sint32')).add(new Field('length', 2, 'uint32')))
  ns.add(histogramType(repeated, 'int32', true))
  ns.add(new Type('Exemplar')
    .add(new Field('labelsRefs', 1, 'uint32', 'repeated', undefined, repeated))
    .add(new Field('value', 2, 'double'))
    .add(new Field('timestamp', 3, 'int64')))
  ns.add(new Type('Sample')
    .add(new Field('value', 1, 'double'))
    .add(new Field('timestamp', 2, 'int64'))
    .add(new Field('startTimestamp', 3, 'int64')))
  ns.add(new Type('Metadata')
    .add(new Field('type', 1, 'int32'))
    .add(new Field('helpRef', 3, 'uint32'))
    .add(new Field('unitRef', 4, 'uint32')))
  ns.add(new Type('TimeSeries')
    .add(new Field('labelsRefs', 1, 'uint32', 'repeated', undefined, repeated))
    .add(new Field('samples', 2, 'Sample', 'repeated'))
    .add(new Field('histograms', 3, 'Histogram', 'repeated'))
    .add(new Field('exemplars', 4, 'Exemplar', 'repeated'))
    .add(new Field('metadata', 5, 'Metadata')))
  ns.add(new Type('Request')
    .add(new Field('symbols', 4, 'string', 'repeated'))
    .add(new Field('timeseries', 5, 'TimeSeries', 'repeated')))
  root.resolveAll()
  return root.lookupType('io.prometheus.write.v2.Request')
}

/** Decoded shapes (protobufjs camel-cases field names; int64/uint64/fixed64 come back as Long). */
export interface LongLike { low: number, high: number, unsigned: boolean }
export interface PbLabel { name: string, value: string }
export interface PbSample<V> { value: V, timestamp: LongLike | number }
export interface PbTimeSeries<V> {
  labels: PbLabel[]
  samples: Array<PbSample<V>>
  exemplars: unknown[]
  histograms: unknown[]
}
export interface PbWriteRequest<V> { timeseries: Array<PbTimeSeries<V>>, metadata: unknown[] }
