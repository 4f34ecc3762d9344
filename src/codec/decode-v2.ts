/**
 * Decoder for an uncompressed io.prometheus.write.v2.Request (Remote Write 2.0): labels and
 * metadata resolved through the symbols table, native histograms and exemplars in the shape
 * the codec takes. Bounded before it starts, as the 1.0 decoder is (decode-limits.ts).
 */
import { DecodeError } from '../errors.js'
import type { DecodedItem, NativeHistogram } from '../types.js'
import { setLabel } from '../labels.js'
import { countRecords, limitError } from './decode-limits.js'
import type { DecodeOptions } from './decode-limits.js'
import { checkSeries, compareRanges, decodeHistogram, decodeSample, describe, readRepeated, shown, releaseBits, sampleBits, samplesFrom, startBits } from './decode-parts.js'
import { I64, LEN, Reader, VARINT } from './reader.js'

/** Metadata.type names by number (io.prometheus.write.v2.Metadata.MetricType). */
const METRIC_TYPES = ['unknown', 'counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset'] as const

/** What decodeV2Request() returns besides the series. */
export interface DecodedV2 {
  items: DecodedItem[]
  /** Native histograms and exemplars decoded, for written-count answers. */
  histograms: number
  exemplars: number
}

/**
 * Decodes an uncompressed io.prometheus.write.v2.Request: labels and metadata resolved
 * through the symbols table. With `strict`, also checks what a 2.0 receiver must: symbols[0]
 * is "", refs in range and in pairs, labels sorted and unique, `__name__` present, timestamps
 * non-decreasing, a series with samples or histograms but not both. Throws DecodeError, also
 * before building anything for input past a limit of `options`; `inputBytes` is the size of
 * the body as received, for `maxExpansion` (default the protobuf's own length).
 */
export function decodeV2Request (buf: Uint8Array, options: DecodeOptions = {}, inputBytes = buf.length): DecodedV2 {
  const counts = countRecords(buf, true, options, inputBytes)
  try {
    return decode(buf, options, counts.max.maxLabelBytes)
  } finally {
    releaseBits()
  }
}

function decode (buf: Uint8Array, options: DecodeOptions, maxLabelBytes: number): DecodedV2 {
  const r = new Reader(buf)
  const strict = options.strict === true
  // Pass 1: the symbols (field 4), wherever they are, and where the series are.
  const symbols: string[] = []
  const symStart: number[] = []
  const symEnd: number[] = []
  const series: number[] = []
  while (r.pos < r.end) {
    const tag = r.uint32()
    if (tag === ((4 << 3) | LEN)) {
      const end = r.delimited()
      symbols.push(r.string(r.pos, end))
      symStart.push(r.pos)
      symEnd.push(end)
      r.pos = end
    } else if (tag === ((5 << 3) | LEN)) {
      const end = r.delimited()
      series.push(r.pos, end)
      r.pos = end
    } else {
      r.skip(tag & 7)
    }
  }
  if (strict && series.length > 0 && symbols[0] !== '') throw new DecodeError('symbols[0] must be the empty string')
  if (strict && new Set(symbols).size !== symbols.length) throw new DecodeError('the symbols table repeats a string')
  const sym = (ref: number): string => {
    if (ref >= symbols.length) throw new DecodeError(`symbol reference ${ref} out of range (${symbols.length} symbols)`)
    return symbols[ref]
  }
  const out: DecodedV2 = { items: [], histograms: 0, exemplars: 0 }
  const labels = new SeriesLabels(buf, symbols, symStart, symEnd, strict, maxLabelBytes)
  for (let k = 0; k < series.length; k += 2) {
    r.pos = series[k]
    r.end = series[k + 1]
    const metric = labels.start()
    let bits = startBits()
    let n = 0
    let metadata: DecodedItem['metadata']
    let histograms: NativeHistogram[] | undefined
    let exemplars: Array<{ refs: number[], value: number, timestamp: number }> | undefined
    while (r.pos < r.end) {
      const tag = r.uint32()
      const field = tag >>> 3
      if (field === 1 && (tag & 7) === LEN) {
        const end = r.delimited()
        const outer = r.end
        r.end = end
        while (r.pos < end) labels.add(r.uint32())
        r.end = outer
      } else if (field === 1 && (tag & 7) === VARINT) {
        labels.add(r.uint32())
      } else if (field === 2 && (tag & 7) === LEN) {
        const end = r.delimited()
        bits = sampleBits(bits, n)
        const outer = r.end
        r.end = end
        decodeSample(r, bits, n * 4)
        r.end = outer
        n++
        r.pos = end
      } else if (field === 3 && (tag & 7) === LEN) {
        const end = r.delimited()
        const outer = r.end
        r.end = end
        ;(histograms ??= []).push(decodeHistogram(r, true))
        r.end = outer
        out.histograms++
      } else if (field === 4 && (tag & 7) === LEN) {
        const end = r.delimited()
        const outer = r.end
        r.end = end
        const x = { refs: [] as number[], value: 0, timestamp: 0 }
        while (r.pos < end) {
          const t = r.uint32()
          if (t >>> 3 === 1) readRepeated(r, t & 7, VARINT, x.refs, () => r.uint32(), end)
          else if (t === ((2 << 3) | I64)) x.value = r.double()
          else if (t === ((3 << 3) | VARINT)) x.timestamp = r.int64()
          else r.skip(t & 7)
        }
        r.end = outer
        ;(exemplars ??= []).push(x)
        out.exemplars++
      } else if (field === 5 && (tag & 7) === LEN) {
        const end = r.delimited()
        const outer = r.end
        r.end = end
        let type = 0
        let help = 0
        let unit = 0
        while (r.pos < end) {
          const t = r.uint32()
          if (t === ((1 << 3) | VARINT)) type = r.uint32()
          else if (t === ((3 << 3) | VARINT)) help = r.uint32()
          else if (t === ((4 << 3) | VARINT)) unit = r.uint32()
          else r.skip(t & 7)
        }
        r.end = outer
        if (type !== 0 || help !== 0 || unit !== 0) {
          metadata = { type: METRIC_TYPES[type] ?? 'unknown', help: sym(help), unit: sym(unit) }
        }
      } else {
        r.skip(tag & 7)
      }
    }
    if (labels.odd) throw new DecodeError(`series ${out.items.length}: labels_refs has an odd length`)
    const item: DecodedItem = { metric, ...samplesFrom(bits, n, options.bigint === true) }
    if (metadata !== undefined) item.metadata = metadata
    if (histograms !== undefined) item.histograms = histograms
    if (exemplars !== undefined) {
      item.exemplars = exemplars.map(({ refs, value, timestamp }) => {
        if (refs.length % 2 !== 0) throw new DecodeError(`series ${out.items.length}: an exemplar's labels_refs has an odd length`)
        const xl: Record<string, string> = {}
        for (let i = 0; i < refs.length; i += 2) {
          const name = sym(refs[i])
          const v = sym(refs[i + 1])
          labels.charge(symEnd[refs[i]] - symStart[refs[i]] + symEnd[refs[i + 1]] - symStart[refs[i + 1]])
          setLabel(xl, name, v)
        }
        return { labels: xl, value, timestamp }
      })
    }
    if (strict) {
      if (n > 0 && histograms !== undefined) throw new DecodeError(`series ${out.items.length} ${describe(metric)}: carries both samples and histograms`)
      checkSeries(item, out.items.length, true)
    }
    out.items.push(item)
  }
  return out
}

/**
 * The labels of the series being decoded, resolved pair by pair as labels_refs are read
 * (never held as a list of refs: a series of millions of refs costs its record, not an array),
 * checked for order in strict mode as they come.
 */
class SeriesLabels {
  metric: Record<string, string> = {}
  /** A name ref waiting for its value ref, or -1. */
  #name = -1
  /** The previous name ref (strict order), or -1. */
  #prev = -1

  constructor (
    private readonly buf: Uint8Array,
    private readonly symbols: readonly string[],
    private readonly symStart: readonly number[],
    private readonly symEnd: readonly number[],
    private readonly strict: boolean,
    private readonly maxLabelBytes: number,
  ) {}

  /** Bytes of labels resolved so far, in series and exemplars. */
  #bytes = 0

  /** Charges resolved label bytes against maxLabelBytes, before anything scans them. */
  charge (bytes: number): void {
    this.#bytes += bytes
    if (this.#bytes > this.maxLabelBytes) {
      throw limitError(`the request has more than ${this.maxLabelBytes} bytes of labels (refs resolved to their symbols): ${this.#bytes} by its ${this.#series}th series (raise the maxLabelBytes decode option)`, 'maxLabelBytes', this.#bytes, this.maxLabelBytes)
    }
  }

  #series = 0

  /** Starts the next series; returns its metric record. */
  start (): Record<string, string> {
    this.#series++
    this.#name = this.#prev = -1
    return (this.metric = {})
  }

  /** Whether a name ref is left without its value. */
  get odd (): boolean {
    return this.#name >= 0
  }

  add (ref: number): void {
    const name = this.#name
    if (name < 0) {
      this.#sym(ref)
      this.#name = ref
      return
    }
    this.#name = -1
    const value = this.#sym(ref)
    this.charge(this.symEnd[name] - this.symStart[name] + this.symEnd[ref] - this.symStart[ref])
    if (this.strict && this.#prev >= 0 && compareRanges(this.buf, this.symStart[this.#prev], this.symEnd[this.#prev], this.symStart[name], this.symEnd[name]) >= 0) {
      throw new DecodeError(`series ${describe(this.metric)}: labels not sorted or duplicate name ${shown(this.symbols[name])}`)
    }
    this.#prev = name
    setLabel(this.metric, this.symbols[name], value)
  }

  #sym (ref: number): string {
    if (ref >= this.symbols.length) throw new DecodeError(`symbol reference ${ref} out of range (${this.symbols.length} symbols)`)
    return this.symbols[ref]
  }
}
