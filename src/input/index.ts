/**
 * Reading series from files: VictoriaMetrics JSON lines, Prometheus text, OpenMetrics and
 * CSV, plain or gzip-compressed, as a stream of records that each carry the line they came
 * from and the byte offset after it.
 *
 * ```ts
 * const input = openInput('dump.jsonl.gz')
 * for await (const rec of readItems(input.stream, { format: detectFormat(input.name) ?? 'jsonl' })) {
 *   if ('error' in rec) console.error(`${input.name}:${rec.error.line}: ${rec.error.message}`)
 *   else use(rec.item)
 * }
 * ```
 *
 * Offsets count bytes of the decompressed stream. To resume after a checkpoint at offset X,
 * read the input again and drop the records whose offset is at most X (this works for gzip
 * and for CSV, whose header must be read again anyway).
 */
import { InvalidArgumentError } from '../errors.js'
import type { CsvOptions } from './csv.js'
import { createCsvReader } from './csv.js'
import { parseJsonLine } from './jsonl.js'
import type { Line } from './lines.js'
import { DEFAULT_MAX_LINE_BYTES, gunzip, lineBatches, maybeGunzip } from './lines.js'
import type { InputRecord, LineResult } from './record.js'
import { parsePromLine } from './promtext.js'

export { openInput, maybeGunzip, gunzip, splitLines, lineBatches, isGzipMagic, DEFAULT_MAX_LINE_BYTES } from './lines.js'
export type { Line, OpenedInput, SplitOptions } from './lines.js'
export { parseJsonLine, quoteBareSpecials } from './jsonl.js'
export { parsePromLine } from './promtext.js'
export type { PromLineOptions } from './promtext.js'
export { parseSampleValue, decimalToInteger } from './values.js'
export type { ErrorRecord, InputItem, InputRecord, ItemRecord, LineResult } from './record.js'
export { createCsvReader, quoteOpenAtEnd } from './csv.js'
export type { CsvOptions, CsvReader, TimestampUnit } from './csv.js'
export { regroup } from './regroup.js'
export type { RegroupOptions, RegroupBatch, RegroupOutput } from './regroup.js'

/** The input formats. */
export type InputFormat = 'jsonl' | 'prom' | 'openmetrics' | 'csv'

/** Options that every format takes. */
export interface CommonReadOptions {
  /** Decompress gzip: 'auto' (default) looks at the first two bytes. */
  gzip?: boolean | 'auto'
  /** Longest line kept, in bytes; a longer one is reported as an error. Default 64 MiB. */
  maxLineBytes?: number
}

/** Options of {@link readItems}, by format. */
export type ReadOptions = CommonReadOptions & (
  | { format: 'jsonl' }
  | {
    format: 'prom' | 'openmetrics'
    /** Timestamp (ms) for samples written without one. Default: Date.now() when reading starts. */
    now?: number
  }
  | ({ format: 'csv' } & Omit<CsvOptions, 'maxLineBytes'>)
)

const EXTENSIONS: Readonly<Record<string, InputFormat>> = {
  jsonl: 'jsonl',
  json: 'jsonl',
  ndjson: 'jsonl',
  prom: 'prom',
  txt: 'prom',
  om: 'openmetrics',
  openmetrics: 'openmetrics',
  csv: 'csv',
}

/**
 * The format a file name implies, after stripping `.gz`: .jsonl/.json/.ndjson → 'jsonl',
 * .prom/.txt → 'prom', .om/.openmetrics → 'openmetrics', .csv → 'csv'; otherwise undefined.
 */
export function detectFormat (fileName: string): InputFormat | undefined {
  const base = fileName.replace(/^.*[\\/]/, '').toLowerCase().replace(/\.gz$/, '')
  const dot = base.lastIndexOf('.')
  if (dot <= 0) return undefined
  return EXTENSIONS[base.slice(dot + 1)]
}

/** Turns a stateless line parser into the batch form the reader loop uses. */
function perLine (parse: (text: string) => LineResult, maxLineBytes: number): (lines: readonly Line[], out: InputRecord[]) => void {
  return (lines, out) => {
    for (const l of lines) {
      if (l.tooLong === true) {
        out.push({ error: { line: l.line, message: `line is longer than ${maxLineBytes} bytes (maxLineBytes)` }, offset: l.offset })
        continue
      }
      const r = parse(l.text)
      if (r === undefined) continue
      if ('error' in r) out.push({ error: { line: l.line, message: r.error }, offset: l.offset })
      else out.push({ item: r.item, line: l.line, offset: l.offset })
    }
  }
}

/**
 * Reads series from a byte stream (a file, stdin, an HTTP body) in the given format.
 * Yields one record per sample line (per series chunk for JSON lines, per value cell for
 * CSV), in input order, with its line number and the byte offset after it. Malformed lines
 * are yielded as `{ error: { line, message }, offset }` and reading goes on; I/O and gzip
 * errors, and a CSV header that lacks a named column, are thrown.
 *
 * Samples of one series are not merged here: see {@link regroup}.
 */
export async function * readItems (source: AsyncIterable<Uint8Array>, options: ReadOptions): AsyncGenerator<InputRecord> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES
  let push: (lines: readonly Line[], out: InputRecord[]) => void
  let end: (out: InputRecord[]) => void = () => {}
  switch (options.format) {
    case 'jsonl':
      push = perLine(parseJsonLine, maxLineBytes)
      break
    case 'prom':
    case 'openmetrics': {
      const lineOptions = { openmetrics: options.format === 'openmetrics', now: options.now ?? Date.now() }
      push = perLine(text => parsePromLine(text, lineOptions), maxLineBytes)
      break
    }
    case 'csv': {
      const reader = createCsvReader({ ...options, maxLineBytes })
      push = (lines, out) => reader.push(lines, out)
      end = out => reader.end(out)
      break
    }
    default:
      throw new InvalidArgumentError(`unknown input format ${JSON.stringify((options as { format: unknown }).format)}: expected 'jsonl', 'prom', 'openmetrics' or 'csv'`)
  }
  const gzip = options.gzip ?? 'auto'
  const bytes = gzip === 'auto' ? maybeGunzip(source) : gzip ? gunzip(source) : source
  const out: InputRecord[] = []
  for await (const lines of lineBatches(bytes, { maxLineBytes })) {
    push(lines, out)
    if (out.length > 0) {
      yield * out
      out.length = 0
    }
  }
  end(out)
  yield * out
}
