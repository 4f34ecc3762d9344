/** The input formats, their names for messages, and what a file name says about them. */

/** The input formats. */
export type InputFormat = 'jsonl' | 'prom' | 'openmetrics' | 'csv'

/** Each format's name in messages ("reading x.txt as Prometheus text"). */
export const FORMAT_NAMES: Readonly<Record<InputFormat, string>> = {
  jsonl: 'JSON lines',
  prom: 'Prometheus text',
  openmetrics: 'OpenMetrics',
  csv: 'CSV',
}

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

/** A file name's extension after stripping `.gz`, lowercased ('' when it has none). */
export function extensionOf (fileName: string): string {
  const base = fileName.replace(/^.*[\\/]/, '').toLowerCase().replace(/\.gz$/, '')
  const dot = base.lastIndexOf('.')
  return dot <= 0 ? '' : base.slice(dot + 1)
}

/**
 * The format a file name implies, after stripping `.gz`: .jsonl/.json/.ndjson → 'jsonl',
 * .prom/.txt → 'prom', .om/.openmetrics → 'openmetrics', .csv → 'csv'; otherwise undefined.
 */
export function detectFormat (fileName: string): InputFormat | undefined {
  const ext = extensionOf(fileName)
  return Object.hasOwn(EXTENSIONS, ext) ? EXTENSIONS[ext] : undefined
}
