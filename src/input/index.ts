/**
 * Reading series from files: VictoriaMetrics JSON lines, Prometheus text, OpenMetrics and
 * CSV, plain or gzip-compressed, as a stream of records that each carry the line they came
 * from and the byte offset after it.
 *
 * ```ts
 * const input = openInput('dump.jsonl.gz')
 * const records = readItems(input.stream, {
 *   format: 'auto', fileName: input.name,
 *   onFormat: (format, why) => console.error(`reading ${input.name} as ${FORMAT_NAMES[format]} (${why})`),
 * })
 * for await (const rec of records) {
 *   if ('error' in rec) console.error(`${input.name}:${rec.error.line}: ${rec.error.message}`)
 *   else use(rec.item)
 * }
 * ```
 *
 * Offsets count bytes of the decompressed stream. To resume after a checkpoint at offset X,
 * read the input again with `skipThrough: X`: the records whose offset is at most X are
 * dropped (this works for gzip and for CSV, whose header must be read again anyway).
 *
 * Speed: readItems hands records over a chunk at a time (reader.ts, batch.ts), and regroup
 * takes them so, without a promise turn or an object per record; the Prometheus text and CSV
 * readers parse each series' labels once (promtext.ts, csv-rows.ts). Put nothing between
 * readItems and regroup that takes records one at a time: an async generator costs about
 * 0.5 µs a record, as much as reading it.
 */
import { InvalidArgumentError } from '../errors.js'
import type { CsvOptions } from './csv.js'
import { createCsvReader } from './csv.js'
import type { InputFormat } from './formats.js'
import { parseJsonLine } from './jsonl.js'
import type { LineSpans } from './lines.js'
import { DEFAULT_MAX_LINE_BYTES, gunzip, lineSpans, maybeGunzip, peekHead } from './lines.js'
import { RecordBatch } from './batch.js'
import type { ErrorRecord, InputRecord } from './record.js'
import { createPromParser } from './promtext.js'
import { RecordReader } from './reader.js'
import type { RecordStream } from './reader.js'
import { SNIFF_BYTES, looksLike, sniffFormat } from './sniff.js'

export { openInput, maybeGunzip, gunzip, splitLines, lineBatches, isGzipMagic, peekHead, DEFAULT_MAX_LINE_BYTES } from './lines.js'
export type { Line, OpenedInput, Peeked, SplitOptions } from './lines.js'
export { detectFormat, FORMAT_NAMES } from './formats.js'
export type { InputFormat } from './formats.js'
export { sniffFormat, looksLike, formatHint, SNIFF_BYTES } from './sniff.js'
export type { Sniffed } from './sniff.js'
export type { RecordStream } from './reader.js'
export { parseIsoDate, isoDateProblem } from './timestamps.js'
export { parseJsonLine, quoteBareSpecials } from './jsonl.js'
export { createPromParser, parsePromLine } from './promtext.js'
export type { PromLineOptions } from './promtext.js'
export { parseSampleValue, decimalToInteger } from './values.js'
export type { ErrorRecord, InputItem, InputRecord, ItemRecord, LineResult } from './record.js'
export { createCsvReader, quoteOpenAtEnd } from './csv.js'
export type { CsvOptions, CsvReader, TimestampUnit } from './csv.js'
export { regroup } from './regroup.js'
export type { RegroupOptions, RegroupBatch, RegroupOutput } from './regroup.js'

/** Options that every format takes. */
export interface CommonReadOptions {
  /** Decompress gzip: 'auto' (default) looks at the first two bytes. */
  gzip?: boolean | 'auto'
  /** Longest line kept, in bytes; a longer one is reported as an error. Default 64 MiB. */
  maxLineBytes?: number
  /**
   * Drop the records that end at or before this byte offset: the place of a resume
   * checkpoint. Default 0 (none). Faster than filtering the records afterwards.
   */
  skipThrough?: number
  /** Told the samples of each record dropped by skipThrough. */
  onSkipped?: (samples: number) => void
}

/** Options of the Prometheus text and OpenMetrics readers. */
interface PromOptions {
  /** Timestamp (ms) for samples written without one. Default: Date.now() when reading starts. */
  now?: number
}

/** Options of {@link readItems}, by format. */
export type ReadOptions = CommonReadOptions & (
  | { format: 'jsonl' }
  | ({ format: 'prom' | 'openmetrics' } & PromOptions)
  | ({ format: 'csv' } & Omit<CsvOptions, 'maxLineBytes'>)
  | ({
    /**
     * Tell the format from the first bytes (decompressed; see sniffFormat), and from
     * `fileName` when they do not tell. Reading throws InvalidArgumentError when unsure.
     */
    format: 'auto'
    /** The input's name: its extension decides when the bytes do not, and messages name it. */
    fileName?: string
    /** Called once, before the first record, with the format chosen and why ("line 1 is \"# HELP\""). */
    onFormat?: (format: InputFormat, reason: string) => void
  } & PromOptions & Omit<CsvOptions, 'maxLineBytes'>)
)

/** What the reader loop feeds lines to: a format's parser, adding records to a batch. */
interface Parser {
  push (lines: LineSpans, out: RecordBatch): void
  end (out: RecordBatch): void
  /** Records a line gives at most (a CSV row gives one per value column): to size batches. */
  readonly samplesPerLine: number
}

/**
 * A line parser: adds the records of the line s[from, to) to `out`, or returns its error
 * message. `s` is mostly the decoded text of a whole chunk: a parser reads in place.
 */
type LineParser = (s: string, from: number, to: number, line: number, offset: number, out: RecordBatch) => string | undefined

/** Turns a line parser into the batch form the reader loop uses. */
function perLine (format: InputFormat, parse: LineParser, maxLineBytes: number): Parser {
  return {
    push (lines, out) {
      const { texts, starts, ends, offsets } = lines
      for (let k = 0; k < lines.count; k++) {
        const line = lines.firstLine + k
        if (lines.tooLong(k)) {
          out.record({ error: { line, message: `line is longer than ${maxLineBytes} bytes (maxLineBytes)` }, offset: offsets[k] })
          continue
        }
        const error = parse(texts[k], starts[k], ends[k], line, offsets[k], out)
        if (error !== undefined) out.record({ error: withHint({ line, message: error }, lines.text(k), format), offset: offsets[k] })
      }
    },
    end () {},
    samplesPerLine: 1,
  }
}

/** parseJsonLine as a {@link LineParser}. */
function jsonLine (s: string, from: number, to: number, line: number, offset: number, out: RecordBatch): string | undefined {
  const r = parseJsonLine(s.slice(from, to))
  if (r === undefined) return undefined
  if ('error' in r) return r.error
  out.record({ item: r.item, line, offset })
  return undefined
}

/** The error, with the format its line looks like when that is another one. */
function withHint (error: ErrorRecord['error'], text: string, format: InputFormat): ErrorRecord['error'] {
  const other = looksLike(text, format)
  return other === undefined ? error : { ...error, looksLike: other }
}

function parserFor (options: ReadOptions, maxLineBytes: number): Parser {
  switch (options.format) {
    case 'jsonl':
      return perLine('jsonl', jsonLine, maxLineBytes)
    case 'prom':
    case 'openmetrics': {
      const parse = createPromParser({ openmetrics: options.format === 'openmetrics', now: options.now ?? Date.now() })
      return perLine(options.format, parse, maxLineBytes)
    }
    case 'csv':
      return createCsvReader({ ...options, maxLineBytes })
    default:
      throw new InvalidArgumentError(`unknown input format ${JSON.stringify((options as { format: unknown }).format)}: expected 'auto', 'jsonl', 'prom', 'openmetrics' or 'csv'`)
  }
}

/** The error for an input whose format sniffFormat could not tell. */
function unknownFormat (name: string | undefined, head: Buffer): string {
  const first = head.toString('utf8', 0, Math.min(head.length, 200)).split('\n').find(l => l.trim() !== '')
  const what = name === undefined ? 'the input' : name
  const line = first === undefined ? 'it is empty' : `it starts with ${JSON.stringify(first.length > 60 ? first.slice(0, 60) + '…' : first)}`
  return `cannot tell the format of ${what}: ${line}, which reads as none of JSON lines, Prometheus text, OpenMetrics, or CSV with a header; set the format`
}

/**
 * Reads series from a byte stream (a file, stdin, an HTTP body) in the given format, or in
 * the format its first bytes show (`format: 'auto'`).
 * Yields one record per sample line (per series chunk for JSON lines, per value cell for
 * CSV), in input order, with its line number and the byte offset after it. Malformed lines
 * are yielded as `{ error: { line, message, looksLike? }, offset }` and reading goes on; I/O
 * and gzip errors, a CSV header that lacks a named column, and a format 'auto' cannot tell,
 * are thrown.
 *
 * Samples of one series are not merged here: see {@link regroup}. Records of one series may
 * share one `metric` object (Prometheus text, CSV): treat it as read-only.
 */
export function readItems (source: AsyncIterable<Uint8Array>, options: ReadOptions): RecordStream {
  return new RecordReader(recordBatches(source, options))
}

/** The records of readItems, a batch per chunk of input that ends a line. */
async function * recordBatches (source: AsyncIterable<Uint8Array>, options: ReadOptions): AsyncGenerator<RecordBatch> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
  let parser = options.format === 'auto' ? undefined : parserFor(options, maxLineBytes)
  const gzip = options.gzip ?? 'auto'
  let bytes = gzip === 'auto' ? maybeGunzip(source) : gzip ? gunzip(source) : source
  if (options.format === 'auto') {
    const peeked = await peekHead(bytes, SNIFF_BYTES)
    const sniffed = sniffFormat(peeked.head, options.fileName)
    if (sniffed === undefined) {
      await peeked.close()
      throw new InvalidArgumentError(unknownFormat(options.fileName, peeked.head))
    }
    options.onFormat?.(sniffed.format, sniffed.reason)
    bytes = peeked.stream
    parser = parserFor({ ...options, format: sniffed.format, delimiter: options.delimiter ?? sniffed.delimiter } as ReadOptions, maxLineBytes)
  }
  const p = parser as Parser
  const skip = skipper(options)
  for await (const lines of lineSpans(bytes, { maxLineBytes })) {
    // A new batch each time: the reader hands this one out.
    const out = new RecordBatch(lines.count * p.samplesPerLine)
    p.push(lines, out)
    if (out.length > 0) yield skip(out)
  }
  const out = new RecordBatch()
  p.end(out)
  if (out.length > 0) yield skip(out)
}

/** Drops the records a resume checkpoint covers (options.skipThrough), telling onSkipped. */
function skipper (options: CommonReadOptions): (records: RecordBatch) => RecordBatch {
  const through = options.skipThrough ?? 0
  if (!(through > 0)) return records => records
  const dropped = (rec: InputRecord): void => {
    if ('item' in rec) options.onSkipped?.(rec.item.values.length)
  }
  // Offsets never decrease: past the checkpoint, batches go through untouched.
  return records => records.offset[0] > through ? records : records.rest(0, through, dropped)
}
