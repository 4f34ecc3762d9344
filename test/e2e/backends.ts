// Helpers for the end-to-end tests against real servers (test/e2e/*.backends.test.ts):
// where the servers are (the env that test/e2e/backends/start.sh writes), and how to read back
// what was written: raw samples from Prometheus's query API, JSON lines from
// VictoriaMetrics' /api/v1/export. See shared/docs/backends.md for the servers' quirks.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, it } from 'vitest'

/** Base URLs (no trailing slash) of the two servers. */
export interface Backends {
  prometheus: string
  victoria: string
}

/** The message a run with PRW_E2E=require and no servers fails with. */
export const NOT_STARTED = 'backends not started: run test/e2e/backends/start.sh'

/**
 * The servers from PROMETHEUS_URL and VICTORIA_URL, or, when those are unset and
 * PRW_BACKENDS_ENV names a file, from the `export KEY=value` lines start.sh wrote there.
 * Undefined when either URL is missing.
 */
export function backendsFromEnv (env: NodeJS.ProcessEnv = process.env): Backends | undefined {
  let prometheus = env.PROMETHEUS_URL
  let victoria = env.VICTORIA_URL
  if ((!prometheus || !victoria) && env.PRW_BACKENDS_ENV) {
    const file = readEnvFile(env.PRW_BACKENDS_ENV)
    prometheus ||= file.PROMETHEUS_URL
    victoria ||= file.VICTORIA_URL
  }
  if (!prometheus || !victoria) return undefined
  return { prometheus: prometheus.replace(/\/+$/, ''), victoria: victoria.replace(/\/+$/, '') }
}

/** `KEY=value` lines (an optional `export ` prefix, optional quotes); {} when unreadable. */
export function readEnvFile (path: string): Record<string, string> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return {}
  }
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*?)\s*$/.exec(line)
    if (m) out[m[1]] = m[2].replace(/^(['"])(.*)\1$/, '$2')
  }
  return out
}

/**
 * Whether the end-to-end suites must run: PRW_E2E=require, which .ci/run sets. Then a missing
 * server is a failure; otherwise (a developer machine, or any CI service that only sets CI=true)
 * the suites skip with a hint. CI alone does not make them strict: a fresh clone's `npm test`
 * passes anywhere.
 */
export function e2eRequired (env: NodeJS.ProcessEnv = process.env): boolean {
  return env.PRW_E2E === 'require'
}

/** The hint a skipped suite prints. */
export function skipHint (file: string, env: NodeJS.ProcessEnv = process.env): string {
  return `${file} skipped: PROMETHEUS_URL / VICTORIA_URL not set (to run it: test/e2e/backends/start.sh, then source ${env.PRW_BACKENDS_ENV ?? '/tmp/prw-backends.env'}; PRW_E2E=require makes missing servers a failure)`
}

/**
 * The servers for a suite, from the environment. Without them, PRW_E2E=require registers a
 * test under the suite's `title` that fails with NOT_STARTED; anything else prints a hint, and
 * the suite (`describe.skipIf(backends === undefined)`) skips.
 */
export function suiteBackends (title: string, file: string): Backends | undefined {
  const backends = backendsFromEnv()
  if (backends !== undefined) return backends
  if (e2eRequired()) {
    describe(title, () => {
      it('has its servers', () => {
        throw new Error(`${NOT_STARTED} (PRW_E2E=require but PROMETHEUS_URL / VICTORIA_URL are not set)`)
      })
    })
  } else {
    console.warn(skipHint(file))
  }
  return undefined
}

/** A fresh label value for this run, so reruns against the same servers never collide. */
export function newRunId (): string {
  return `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
}

/** Throws unless both servers answer their readiness endpoints. */
export async function assertReady (b: Backends): Promise<void> {
  for (const url of [`${b.prometheus}/-/ready`, `${b.victoria}/health`]) {
    let res: Response
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(5000) })
    } catch (err) {
      throw new Error(`${url} is not reachable (${(err as Error).message}); ${NOT_STARTED}`)
    }
    await res.arrayBuffer()
    if (!res.ok) throw new Error(`${url} answered ${res.status}; ${NOT_STARTED}`)
  }
}

// ---- Prometheus -------------------------------------------------------------------------------

/** One series with its raw samples: timestamps in unix ms, values as float64. */
export interface RawSeries {
  metric: Record<string, string>
  timestamps: number[]
  values: number[]
}

/** The `data` of a successful Prometheus query. */
export interface PromData {
  resultType: 'matrix' | 'vector' | 'scalar' | 'string'
  result: Array<{ metric: Record<string, string>, value?: [number, string], values?: Array<[number, string]> }>
}

/**
 * Prometheus's text form of a sample value as a float64. Go's strconv 'f'/-1 formatting is the
 * shortest text that round-trips, so Number() gives back the exact bits; the special values
 * are spelled NaN, +Inf and -Inf (Number('+Inf') would be NaN).
 */
export function parsePromValue (s: string): number {
  if (s === '+Inf') return Infinity
  if (s === '-Inf') return -Infinity
  if (s === 'NaN') return NaN
  const v = Number(s)
  if (Number.isNaN(v)) throw new Error(`not a Prometheus sample value: ${JSON.stringify(s)}`)
  return v
}

/** Seconds with millisecond precision, as Prometheus's API wants times. */
const promTime = (ms: number): string => (ms / 1000).toFixed(3)

/** POST /api/v1/query at `atMs` (default now); throws on any error answer. */
export async function promQuery (base: string, query: string, atMs = Date.now()): Promise<PromData> {
  const res = await fetch(`${base}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query, time: promTime(atMs) }).toString(),
  })
  const text = await res.text()
  let json: { status: string, data?: PromData, error?: string, errorType?: string }
  try {
    json = JSON.parse(text)
  } catch {
    throw new Error(`Prometheus answered ${res.status} with non-JSON: ${text.slice(0, 200)}`)
  }
  if (!res.ok || json.status !== 'success' || json.data === undefined) {
    throw new Error(`Prometheus query ${JSON.stringify(query)} failed (${res.status}): ${json.errorType ?? ''} ${json.error ?? text.slice(0, 200)}`)
  }
  return json.data
}

/**
 * Raw samples of every series matching `selector` within `range` (a PromQL duration, e.g.
 * '2d' or '150y') before `atMs`: an instant query of a range selector returns the stored
 * samples themselves, unlike query_range, which evaluates at steps (and allows at most 11,000
 * points per series). In 2.42 the window includes both ends.
 */
export async function promRawSamples (base: string, selector: string, range = '150y', atMs = Date.now()): Promise<RawSeries[]> {
  const data = await promQuery(base, `${selector}[${range}]`, atMs)
  if (data.resultType !== 'matrix') throw new Error(`expected a matrix, got ${data.resultType}`)
  return data.result.map((r) => {
    const points = r.values ?? []
    const timestamps = new Array<number>(points.length)
    const values = new Array<number>(points.length)
    for (let i = 0; i < points.length; i++) {
      timestamps[i] = Math.round(points[i][0] * 1000)
      values[i] = parsePromValue(points[i][1])
    }
    return { metric: r.metric, timestamps, values }
  })
}

/**
 * The single value of an instant query that aggregates to one element (e.g. `count(...)`),
 * or 0 when the result is empty (PromQL aggregations of nothing return nothing).
 */
export async function promNumber (base: string, query: string, atMs = Date.now()): Promise<number> {
  const data = await promQuery(base, query, atMs)
  if (data.resultType === 'scalar') return parsePromValue((data.result as unknown as [number, string])[1])
  if (data.resultType !== 'vector') throw new Error(`expected a vector, got ${data.resultType}`)
  if (data.result.length === 0) return 0
  if (data.result.length > 1) throw new Error(`expected one element, got ${data.result.length}`)
  return parsePromValue(data.result[0].value![1])
}

/**
 * Waits until Prometheus has no compaction under way: its compaction and head-truncation
 * counters hold still for two seconds. Prometheus 2.42 acknowledges (204) samples of series
 * created while its head is compacted and truncated, then keeps only some of them. Seen in
 * the IoT test after the backfill: the backfill leaves a head spanning days that ends days
 * ago, and the first recent sample makes all of it compactable at once. A recording proxy
 * showed the lost samples in well-formed requests, answered 204, with no out-of-order append.
 */
export async function promSettled (base: string, timeoutMs = 60_000): Promise<void> {
  const read = async (): Promise<string> => {
    const text = await (await fetch(`${base}/metrics`)).text()
    const pick = (name: string): string => text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? '?'
    return [pick('prometheus_tsdb_compactions_total'), pick('prometheus_tsdb_head_truncations_total'), pick('prometheus_tsdb_compaction_populating_block')].join(' ')
  }
  const end = Date.now() + timeoutMs
  let last = await read()
  let still = 0
  while (Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    const now = await read()
    still = now === last && now.endsWith(' 0') ? still + 1 : 0
    if (still >= 8) return
    last = now
  }
  throw new Error(`Prometheus kept compacting for ${timeoutMs} ms (${last})`)
}

// ---- VictoriaMetrics --------------------------------------------------------------------------

/** GET /internal/force_flush: makes recently written samples searchable (about 10 ms). */
export async function vmForceFlush (base: string): Promise<void> {
  const res = await fetch(`${base}/internal/force_flush`)
  const text = await res.text()
  if (res.status !== 200) throw new Error(`force_flush answered ${res.status}: ${text.slice(0, 200)}`)
}

/**
 * One line of /api/v1/export: `{"metric":{...},"values":[...],"timestamps":[...]}`. VM writes
 * NaN, +Inf and -Inf as bare tokens, which JSON.parse rejects, so they are quoted first. Only
 * the values array is touched (found from the end of the line: the timestamps array after it
 * holds integers only, and label values, which come first, may contain anything).
 */
export function parseVmExportLine (line: string): RawSeries {
  const at = line.lastIndexOf('"values":[')
  if (at >= 0) {
    const open = at + '"values":['.length
    const close = line.indexOf(']', open)
    const fixed = line.slice(open, close).replace(/(^|,)(NaN|[+-]?Inf)(?=,|$)/g, '$1"$2"')
    line = line.slice(0, open) + fixed + line.slice(close)
  }
  const raw = JSON.parse(line) as { metric: Record<string, string>, values: Array<number | string>, timestamps: number[] }
  const values = raw.values.map((v) => typeof v === 'number' ? v : parsePromValue(v === 'Inf' ? '+Inf' : v))
  return { metric: raw.metric, timestamps: raw.timestamps, values }
}

/**
 * Streams /api/v1/export for the series matching `match` (a series selector), calling
 * `onSeries` per series. VM may return a series in several lines (one per stored block run);
 * the caller merges by labels if it cares. Times are unix ms.
 */
export async function vmExportEach (
  base: string, match: string, onSeries: (s: RawSeries) => void, range: { startMs?: number, endMs?: number } = {},
): Promise<void> {
  const params = new URLSearchParams({ 'match[]': match })
  if (range.startMs !== undefined) params.set('start', promTime(range.startMs))
  if (range.endMs !== undefined) params.set('end', promTime(range.endMs))
  const res = await fetch(`${base}/api/v1/export`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: params.toString(),
  })
  if (res.status !== 200 || res.body === null) {
    throw new Error(`VictoriaMetrics export answered ${res.status}: ${(await res.text()).slice(0, 300)}`)
  }
  const decoder = new TextDecoder()
  let rest = ''
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    rest += decoder.decode(chunk, { stream: true })
    let nl: number
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl)
      rest = rest.slice(nl + 1)
      if (line.trim() !== '') onSeries(parseVmExportLine(line))
    }
  }
  rest += decoder.decode()
  if (rest.trim() !== '') onSeries(parseVmExportLine(rest))
}

/** Every series matching `match`, merged per label set and sorted by timestamp. */
export async function vmExport (base: string, match: string, range: { startMs?: number, endMs?: number } = {}): Promise<RawSeries[]> {
  const byKey = new Map<string, RawSeries>()
  await vmExportEach(base, match, (s) => {
    const key = labelsKey(s.metric)
    const seen = byKey.get(key)
    if (seen === undefined) {
      byKey.set(key, s)
    } else {
      for (let i = 0; i < s.timestamps.length; i++) {
        seen.timestamps.push(s.timestamps[i])
        seen.values.push(s.values[i])
      }
    }
  }, range)
  for (const s of byKey.values()) {
    const order = s.timestamps.map((_, i) => i).sort((a, b) => s.timestamps[a] - s.timestamps[b])
    s.timestamps = order.map((i) => s.timestamps[i])
    s.values = order.map((i) => s.values[i])
  }
  return [...byKey.values()]
}

/** A canonical string for a label set (sorted names). */
export function labelsKey (metric: Record<string, string>): string {
  return JSON.stringify(Object.keys(metric).sort().map((k) => [k, metric[k]]))
}
