// `prw relay` as a spawned process between a real Prometheus and VictoriaMetrics, with a crash
// while its spool holds data. A test-owned Prometheus 2.42 (/usr/bin/prometheus, its own data
// dir and port) scrapes itself every second under a job unique to this run and remote-writes to
// the relay; the relay forwards through its spool to a gate in this process (node:http) that
// passes each POST on to the VictoriaMetrics that test/e2e/backends/start.sh started
// (VICTORIA_URL), or answers 503 while closed.
//
// About 6 s in, the gate closes, so the relay keeps what it takes in its spool. Once its /metrics
// shows samples pending (and at least 3 s on; for up to 3 s more, preferably at a moment when a
// request of Prometheus is durable but not answered yet), the relay is SIGKILLed; Prometheus
// retries for 2 s; the relay is started again on the same port and spool with the gate still
// closed (it must find the data, and its first attempts are refused), then the gate opens and
// the relay runs 10 s more. The restarted relay must have replayed at least what was pending at
// the kill (prw_relay_replayed_samples_total).
//
// Then the scrape stops, Prometheus's queue drains (its own metrics say so), VM is flushed, and
// every raw sample Prometheus stored for the job in the window must be in VM's export, value
// equal up to VM's decimal rounding (shared/docs/backends.md), compared as sets per series: VM
// keeps a resent sample twice. Resends are bounded by what Prometheus can have in flight at the
// kill, and no request body VM took before the kill goes through the gate again. Nothing failed
// or was dropped, by Prometheus or by the relay.
//
// Like the other *.backends.test.ts: without PROMETHEUS_URL / VICTORIA_URL it skips, and
// PRW_E2E=require makes that a failure (suiteBackends). The shared Prometheus is not written to.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { Agent, createServer as createHttpServer, request as httpRequest } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, Server } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { assertReady, e2eRequired, labelsKey, newRunId, promRawSamples, suiteBackends, vmExport, vmForceFlush } from './backends.js'
import type { RawSeries } from './backends.js'
import { CLI } from '../support/cli.js'

const TITLE = 'prw relay between a scraping Prometheus and VictoriaMetrics, killed and restarted'
const backends = suiteBackends(TITLE, 'test/e2e/relay.backends.test.ts')
const PROM_BIN = '/usr/bin/prometheus'
const RUN = newRunId()
const JOB = `relaytest-${RUN}`

/**
 * How long the first relay forwards, how long at least the gate is closed before the kill, how
 * long Prometheus has no relay to send to, and how long the restarted relay runs with the gate open.
 */
const FIRST_MS = 6_000
const CLOSED_MS = 3_000
const DOWN_MS = 2_000
/** How long the kill waits, at most, for a moment when a request of Prometheus is durable but not answered. */
const AIM_MS = 3_000
/** How long at least the gate stays closed after the restarted relay is up. */
const REOPEN_MS = 1_000
const SECOND_MS = 10_000
/** Prometheus's queue bounds (set in its config): what it can have in flight at the kill. */
const PROM_MAX_SHARDS = 4
const PROM_MAX_SAMPLES_PER_SEND = 500

// ---- child processes --------------------------------------------------------------------------

interface Proc {
  name: string
  child: ChildProcess
  /** stdout and stderr, interleaved (the last 256 KiB). */
  log: () => string
  /** Resolves with the exit code or signal once the process is gone. */
  exited: Promise<string>
}

const procs: Proc[] = []

function start (name: string, cmd: string, args: string[]): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } })
  let log = ''
  const add = (d: Buffer): void => {
    log += d.toString()
    if (log.length > 512 * 1024) log = log.slice(-256 * 1024)
  }
  child.stdout!.on('data', add)
  child.stderr!.on('data', add)
  const exited = new Promise<string>((resolve) => {
    child.on('exit', (code, signal) => resolve(signal ?? `exit ${code}`))
    child.on('error', (err) => resolve(`spawn error: ${err.message}`))
  })
  const p: Proc = { name, child, log: () => log, exited }
  procs.push(p)
  return p
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
async function stop (p: Proc, graceMs = 5000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return
  p.child.kill('SIGTERM')
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs)
  await p.exited
  clearTimeout(timer)
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A port nobody listens on now (the kernel's pick on 127.0.0.1). */
async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
  })
}

/** Polls `url` until it answers 200 (body returned); fails when `p` exits or after `timeoutMs`. */
async function waitFor (p: Proc, url: string, timeoutMs = 30_000): Promise<string> {
  const end = Date.now() + timeoutMs
  let exited: string | undefined
  void p.exited.then((how) => { exited = how })
  for (;;) {
    if (exited !== undefined) throw new Error(`${p.name} exited (${exited}) before ${url} answered:\n${p.log().slice(-3000)}`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
      const body = await res.text()
      if (res.status === 200) return body
    } catch {}
    if (Date.now() > end) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${p.log().slice(-3000)}`)
    await sleep(100)
  }
}

// ---- the gate between the relay and VictoriaMetrics -------------------------------------------

/** Headers that belong to one hop (RFC 9110 §7.6.1), and the length the gate sets itself. */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'content-length'])

function endToEnd (h: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !HOP.has(k)) out[k] = v
  return out
}

interface Gate {
  /** Where the relay sends: `http://127.0.0.1:port/api/v1/write`. */
  url: string
  /** When false, every request is answered 503 (body read, nothing passed on). */
  open: boolean
  /** Requests passed on and answered 2xx by VM, answered otherwise by VM, refused while closed, not delivered to VM (502). */
  passed: number
  notOk: Record<number, number>
  refused: number
  broken: string[]
  /** When (Date.now()) VM answered 2xx to each body, by sha256: twice is the relay resending what VM took. */
  bodies: Map<string, number[]>
  close: () => Promise<void>
}

async function startGate (target: string): Promise<Gate> {
  const upstream = new URL(target)
  const agent = new Agent({ keepAlive: true })
  const gate: Gate = { url: '', open: true, passed: 0, notOk: {}, refused: 0, broken: [], bodies: new Map(), close: async () => {} }
  const server: Server = createHttpServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('error', () => res.destroy())
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      if (req.method !== 'POST' || req.url !== '/api/v1/write') {
        res.writeHead(404).end('not here\n')
        return
      }
      if (!gate.open) {
        gate.refused++
        res.writeHead(503, { 'content-type': 'text/plain' }).end('the test gate is closed\n')
        return
      }
      const up = httpRequest({
        agent,
        host: upstream.hostname,
        port: upstream.port,
        path: `${upstream.pathname}${upstream.search}`,
        method: 'POST',
        headers: { ...endToEnd(req.headers), 'content-length': body.length },
        timeout: 10_000,
      }, (ur: IncomingMessage) => {
        const back: Buffer[] = []
        ur.on('data', (c: Buffer) => back.push(c))
        ur.on('error', (err) => {
          gate.broken.push(`reading VM's answer: ${err.message}`)
          res.destroy()
        })
        ur.on('end', () => {
          const status = ur.statusCode ?? 502
          if (status >= 200 && status < 300) {
            gate.passed++
            const h = createHash('sha256').update(body).digest('hex')
            const seen = gate.bodies.get(h)
            if (seen === undefined) gate.bodies.set(h, [Date.now()])
            else seen.push(Date.now())
          } else {
            gate.notOk[status] = (gate.notOk[status] ?? 0) + 1
          }
          res.writeHead(status, endToEnd(ur.headers)).end(Buffer.concat(back))
        })
      })
      up.on('timeout', () => up.destroy(new Error('no answer from VM in 10 s')))
      up.on('error', (err) => {
        gate.broken.push(`passing a request on to VM: ${err.message}`)
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(`the test gate could not reach VM: ${err.message}\n`)
        else res.destroy()
      })
      up.end(body)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  gate.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/v1/write`
  gate.close = async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
    agent.destroy()
  }
  return gate
}

// ---- metrics text -----------------------------------------------------------------------------

/**
 * The sum of every sample of `name` in a Prometheus text exposition (all label sets), or
 * undefined when there is none.
 */
function metric (text: string, name: string): number | undefined {
  let sum: number | undefined
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'gm')
  for (const m of text.matchAll(re)) sum = (sum ?? 0) + Number(m[1])
  return sum
}

async function scrape (url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${text.slice(0, 200)}`)
  return text
}

// ---- values -----------------------------------------------------------------------------------

/** Equal up to VictoriaMetrics' decimal rounding (it keeps 12 to 17 significant digits). */
function sameValue (prom: number, vm: number): boolean {
  if (Object.is(prom, vm) || prom === vm) return true
  if (!Number.isFinite(prom) || !Number.isFinite(vm)) return false
  return Math.abs(prom - vm) <= 1e-12 * Math.max(Math.abs(prom), Math.abs(vm))
}

// ---- the test ---------------------------------------------------------------------------------

const haveProm = existsSync(PROM_BIN)
if (backends !== undefined && !haveProm && !e2eRequired()) {
  console.warn(`test/e2e/relay.backends.test.ts skipped: ${PROM_BIN} is missing (test/e2e/backends/start.sh installs it)`)
}

describe.skipIf(backends === undefined || (!haveProm && !e2eRequired()))(TITLE, () => {
  let dir: string | undefined
  let gate: Gate | undefined
  afterAll(async () => {
    await Promise.all(procs.map(async (p) => await stop(p)))
    await gate?.close()
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  })

  it('every sample Prometheus stored reaches VictoriaMetrics through a relay killed with a full spool and replaying it', async () => {
    const b = backends!
    if (!haveProm) throw new Error(`${PROM_BIN} is missing: run test/e2e/backends/start.sh (it installs prometheus with apt)`)
    await assertReady(b)
    dir = mkdtempSync(join(tmpdir(), 'prw-e2e-relay-'))
    const t = { start: Date.now() } as Record<string, number>
    const lap = (name: string): void => { t[name] = Date.now() }

    const spool = join(dir, 'spool')
    const relayPort = await freePort()
    const relayBase = `http://127.0.0.1:${relayPort}`
    gate = await startGate(`${b.victoria}/api/v1/write`)
    const relayArgs = ['--import', 'tsx', CLI, 'relay', '--listen', `127.0.0.1:${relayPort}`,
      '--url', gate.url, '--spool', spool, '--close-timeout', '2000']
    const relay1 = start('relay (first)', process.execPath, relayArgs)
    await waitFor(relay1, `${relayBase}/metrics`)
    lap('relay1Ready')

    // Prometheus: scrapes itself every second as JOB and remote-writes to the relay. Reloaded
    // (SIGHUP) later with no scrape config and the same remote_write, so its queue stays.
    const promPort = await freePort()
    const promBase = `http://127.0.0.1:${promPort}`
    const promDir = join(dir, 'prometheus')
    const config = (scrape: boolean): string => [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1m',
      scrape
        ? `scrape_configs:\n  - job_name: ${JSON.stringify(JOB)}\n    static_configs:\n      - targets: ["127.0.0.1:${promPort}"]`
        : 'scrape_configs: []',
      'remote_write:',
      `  - url: ${JSON.stringify(`${relayBase}/api/v1/write`)}`,
      '    name: relay',
      '    queue_config:',
      '      batch_send_deadline: 1s',
      '      min_backoff: 100ms',
      '      max_backoff: 1s',
      `      max_shards: ${PROM_MAX_SHARDS}`,
      `      max_samples_per_send: ${PROM_MAX_SAMPLES_PER_SEND}`,
      '',
    ].join('\n')
    const configFile = join(dir, 'prometheus.yml')
    writeFileSync(configFile, config(true))
    const windowStart = Date.now()
    const prom = start('prometheus (test-owned)', PROM_BIN, [
      `--config.file=${configFile}`, `--storage.tsdb.path=${promDir}`, `--web.listen-address=127.0.0.1:${promPort}`,
      '--storage.tsdb.retention.time=1d', '--log.level=info',
    ])
    await waitFor(prom, `${promBase}/-/ready`)
    lap('promReady')

    // Prometheus applies new scrape targets at most every 5 s: wait until the relay has taken
    // the first samples, run, close the gate until the relay's spool holds samples, then crash
    // the relay.
    for (const end = Date.now() + 30_000; (metric(await scrape(`${relayBase}/metrics`), 'prw_relay_received_samples_total') ?? 0) === 0;) {
      if (Date.now() > end) throw new Error(`the relay received nothing from Prometheus in 30 s:\n${prom.log().slice(-3000)}\n${relay1.log().slice(-3000)}`)
      await sleep(200)
    }
    lap('firstData')
    await sleep(FIRST_MS)
    const passedBeforeClose = gate.passed
    gate.open = false
    lap('gateClosed')
    let before = ''
    for (const end = Date.now() + 20_000, min = Date.now() + CLOSED_MS; ;) {
      before = await scrape(`${relayBase}/metrics`)
      if (Date.now() >= min && (metric(before, 'prw_relay_spool_pending_samples') ?? 0) > 0 && gate.refused > 0) break
      if (Date.now() > end) throw new Error(`the relay's spool held nothing 20 s after the gate closed (gate refused ${gate.refused}):\n${before}\n${relay1.log().slice(-3000)}`)
      await sleep(200)
    }
    // Preferably (for up to AIM_MS) the kill comes while a request of Prometheus is in the spool
    // but not answered (pending + forwarded > received): Prometheus sends it again, the restarted
    // relay replays it too, and VM gets it twice.
    const unanswered = (m: string): number => (metric(m, 'prw_relay_spool_pending_samples') ?? 0) +
      (metric(m, 'prw_relay_forwarded_samples_total') ?? 0) - (metric(m, 'prw_relay_received_samples_total') ?? 0)
    for (const end = Date.now() + AIM_MS; unanswered(before) === 0 && Date.now() < end;) {
      await sleep(2)
      before = await scrape(`${relayBase}/metrics`)
    }
    const refusedAtKill = gate.refused
    relay1.child.kill('SIGKILL')
    expect(await relay1.exited).toBe('SIGKILL')
    lap('killed')
    await sleep(DOWN_MS)

    const relay2 = start('relay (restarted)', process.execPath, relayArgs)
    await waitFor(relay2, `${relayBase}/metrics`)
    // The gate is still closed: what the restarted relay has pending now is what it found (and
    // whatever Prometheus has sent it since), at least what was pending before the kill.
    const found = await scrape(`${relayBase}/metrics`)
    lap('relay2Ready')
    // Its first attempts (the replay) meet the closed gate too, then the gate opens.
    for (const end = Date.now() + 10_000, min = Date.now() + REOPEN_MS; Date.now() < min || gate.refused === refusedAtKill;) {
      if (Date.now() > end) throw new Error(`the restarted relay sent nothing in 10 s:\n${relay2.log().slice(-3000)}`)
      await sleep(100)
    }
    gate.open = true
    lap('gateOpened')
    await sleep(SECOND_MS)

    // Stop scraping: reload without the job. The scrape pool stops (its stale markers are
    // appended) before the reload counts as done.
    const reloadedBefore = metric(await scrape(`${promBase}/metrics`), 'prometheus_config_last_reload_success_timestamp_seconds') ?? 0
    lap('reloadStart')
    writeFileSync(configFile, config(false))
    prom.child.kill('SIGHUP')
    for (let i = 0; ; i++) {
      const m = await scrape(`${promBase}/metrics`)
      if ((metric(m, 'prometheus_config_last_reload_success_timestamp_seconds') ?? 0) > reloadedBefore) break
      if (i > 150) throw new Error(`Prometheus did not reload within 15 s:\n${prom.log().slice(-3000)}`)
      await sleep(100)
    }
    const windowEnd = Date.now()
    lap('scrapeStopped')

    // Wait until Prometheus has sent everything it appended: the newest sent timestamp reached
    // the newest appended one and nothing is pending in its queue; then until the relay has
    // nothing waiting for upstream.
    let promMetrics = ''
    let drained = false
    for (const end = Date.now() + 20_000; Date.now() < end;) {
      promMetrics = await scrape(`${promBase}/metrics`)
      const highest = metric(promMetrics, 'prometheus_remote_storage_highest_timestamp_in_seconds')
      const sent = metric(promMetrics, 'prometheus_remote_storage_queue_highest_sent_timestamp_seconds')
      const pending = metric(promMetrics, 'prometheus_remote_storage_samples_pending')
      if (highest !== undefined && sent !== undefined && sent >= highest && pending === 0) {
        drained = true
        break
      }
      await sleep(200)
    }
    const promCounter = (name: string): number | undefined => metric(promMetrics, name)
    expect(drained, `Prometheus's remote-write queue did not drain in 20 s: highest ${promCounter('prometheus_remote_storage_highest_timestamp_in_seconds')}, ` +
      `sent ${promCounter('prometheus_remote_storage_queue_highest_sent_timestamp_seconds')}, pending ${promCounter('prometheus_remote_storage_samples_pending')}\n${prom.log().slice(-3000)}`).toBe(true)
    lap('promDrained')
    let relayMetrics = ''
    for (const end = Date.now() + 20_000; ;) {
      relayMetrics = await scrape(`${relayBase}/metrics`)
      if (metric(relayMetrics, 'prw_relay_spool_pending_samples') === 0) break
      if (Date.now() > end) throw new Error(`the relay still has samples waiting after 20 s:\n${relayMetrics}\n${relay2.log().slice(-3000)}`)
      await sleep(200)
    }
    lap('relayDrained')
    await vmForceFlush(b.victoria)

    // Prometheus's own account: nothing failed or dropped (samples, and the rest it sends).
    const lost: Record<string, number | undefined> = {}
    for (const kind of ['samples', 'histograms', 'exemplars']) {
      for (const what of ['failed', 'dropped']) {
        const name = `prometheus_remote_storage_${kind}_${what}_total`
        lost[name] = promCounter(name)
      }
    }
    lost.prometheus_remote_storage_metadata_failed_total = promCounter('prometheus_remote_storage_metadata_failed_total')
    expect(lost.prometheus_remote_storage_samples_failed_total, 'Prometheus 2.42 exposes samples_failed_total').toBeDefined()
    expect(lost.prometheus_remote_storage_samples_dropped_total, 'Prometheus 2.42 exposes samples_dropped_total').toBeDefined()
    for (const [name, v] of Object.entries(lost)) expect(v ?? 0, `${name} on Prometheus's /metrics`).toBe(0)
    // The outage was real: Prometheus had to retry.
    const retried = promCounter('prometheus_remote_storage_samples_retried_total') ?? 0
    expect(retried, 'prometheus_remote_storage_samples_retried_total (did the relay go down?)').toBeGreaterThan(0)

    // Prometheus's stored samples of JOB in the window, and VM's for a slightly wider one.
    const rangeMs = windowEnd - windowStart + 1000
    const promSeries = await promRawSamples(promBase, `{job=${JSON.stringify(JOB)}}`, `${rangeMs}ms`, windowEnd)
    const vmSeries = await vmExport(b.victoria, `{job=${JSON.stringify(JOB)}}`, { startMs: windowStart - 5000, endMs: windowEnd + 5000 })
    lap('readBack')
    // VM's samples as a set per series: timestamp -> the values stored (a resent sample twice).
    const vmByKey = new Map<string, Map<number, number[]>>()
    let vmSamples = 0
    let vmDistinct = 0
    for (const s of vmSeries) {
      const key = labelsKey(s.metric)
      let byTs = vmByKey.get(key)
      if (byTs === undefined) vmByKey.set(key, byTs = new Map())
      for (let i = 0; i < s.timestamps.length; i++) {
        const vs = byTs.get(s.timestamps[i])
        if (vs === undefined) {
          byTs.set(s.timestamps[i], [s.values[i]])
          vmDistinct++
        } else {
          vs.push(s.values[i])
        }
        vmSamples++
      }
    }
    const vmDuplicates = vmSamples - vmDistinct
    // Bodies VM took more than once: after the restart both, when Prometheus resent a request
    // the first relay had made durable but not answered (the restarted relay replays it, and
    // takes it again; batched alike, it sends the same bytes). One taken before the kill as well
    // is the relay sending again what it had been told VM took.
    const resent = [...gate.bodies.values()].filter((at) => at.length > 1)
    const resentAcked = resent.filter((at) => at[0] < t.killed)
    let compared = 0
    let nan = 0
    let rounded = 0
    const missing: string[] = []
    const differ: string[] = []
    const missingSeries: string[] = []
    for (const s of promSeries as RawSeries[]) {
      const key = labelsKey(s.metric)
      const vm = vmByKey.get(key)
      if (vm === undefined && s.values.some((v) => !Number.isNaN(v))) {
        missingSeries.push(`${key} (${s.timestamps.length} samples)`)
        continue
      }
      for (let i = 0; i < s.timestamps.length; i++) {
        const v = s.values[i]
        if (Number.isNaN(v)) {
          nan++
          continue
        }
        compared++
        const got = vm?.get(s.timestamps[i])
        if (got === undefined) {
          missing.push(`${key} @${s.timestamps[i]} = ${v}`)
        } else if (!got.some((g) => sameValue(v, g))) {
          differ.push(`${key} @${s.timestamps[i]}: Prometheus ${v}, VictoriaMetrics ${got.join(', ')}`)
        } else if (!got.includes(v)) {
          rounded++
        }
      }
    }
    const total = promSeries.reduce((n, s) => n + s.timestamps.length, 0)
    const relay = {
      before: Object.fromEntries(['received_samples_total', 'forwarded_samples_total', 'retried_requests_total', 'spool_pending_samples'].map((n) => [n, metric(before, `prw_relay_${n}`)])),
      found: Object.fromEntries(['received_samples_total', 'spool_pending_samples'].map((n) => [n, metric(found, `prw_relay_${n}`)])),
      after: Object.fromEntries(['received_samples_total', 'forwarded_samples_total', 'replayed_samples_total', 'failed_samples_total',
        'dropped_samples_total', 'corrupt_records_total', 'rejected_requests_total', 'retried_requests_total', 'spool_pending_samples'].map((n) => [n, metric(relayMetrics, `prw_relay_${n}`)])),
    }
    console.log(`relay e2e (${JOB}): ${promSeries.length} series, ${total} samples stored by Prometheus in the window ` +
      `(${compared} compared, ${nan} NaN values skipped (VM drops them), ${rounded} equal only up to rounding); VM exported ${vmSeries.length} series, ${vmSamples} samples ` +
      `(${vmDistinct} distinct, ${vmDuplicates} stored twice or more: resends); Prometheus retried ${retried} samples\n` +
      `gate: ${gate.passed} requests passed (${passedBeforeClose} before it closed), ${refusedAtKill} refused before the kill, ${gate.refused} in all, ` +
      `VM answered not 2xx ${JSON.stringify(gate.notOk)}, ${gate.broken.length} broken, ${resent.length} bodies passed more than once` +
      `${resent.length > 0 ? ` (at ${resent.map((at) => at.map((ms) => ms - t.start).join(' and ')).join('; ')} ms)` : ''}\n` +
      `relay before the kill ${JSON.stringify(relay.before)} (${unanswered(before)} samples durable, not answered yet); restarted relay at start (gate closed) ${JSON.stringify(relay.found)}; at the end ${JSON.stringify(relay.after)}\n` +
      `timings (ms from start): ${Object.entries(t).map(([k, v]) => `${k} ${v - t.start}`).join(', ')}`)

    expect(promSeries.length, 'Prometheus stored nothing for the job').toBeGreaterThan(100)
    expect(compared).toBeGreaterThan(1000)
    expect(missingSeries.slice(0, 20), `${missingSeries.length} series of Prometheus are not in VictoriaMetrics`).toEqual([])
    expect(missing.slice(0, 20), `${missing.length} of ${compared} samples of Prometheus are not in VictoriaMetrics`).toEqual([])
    expect(differ.slice(0, 20), `${differ.length} of ${compared} samples differ beyond VictoriaMetrics' rounding`).toEqual([])
    // Resends: only what Prometheus had in flight when the relay died (durable in the spool, not
    // answered), at most max_shards requests of max_samples_per_send. The relay itself sends
    // nothing again that VM took before the kill: the gate was closed for seconds before it, so
    // every acknowledgement was on disk (spool.ts: written before the shard's next request).
    expect(vmDuplicates, 'samples VictoriaMetrics stored more than once').toBeLessThanOrEqual(PROM_MAX_SHARDS * PROM_MAX_SAMPLES_PER_SEND)
    expect(resentAcked.map((at) => at.map((ms) => ms - t.start).join(' and ')),
      'request bodies VM took before the kill that the relay sent again (ms from start)').toEqual([])

    // The gate did its part: it passed data before it closed, refused while closed, and every
    // request it passed on reached VM and was taken.
    expect(passedBeforeClose, 'requests the gate passed before it closed').toBeGreaterThan(0)
    expect(refusedAtKill, 'requests the gate refused before the kill').toBeGreaterThan(0)
    expect(gate.notOk, 'VM answers other than 2xx').toEqual({})
    expect(gate.broken, 'requests the gate could not pass on').toEqual([])

    // The relay's own account: it took and forwarded data before the kill, held samples in its
    // spool at the kill, found them when restarted, replayed them once the gate opened, forwarded
    // more, and lost nothing.
    expect(relay.before.received_samples_total, 'the first relay received samples').toBeGreaterThan(0)
    expect(relay.before.forwarded_samples_total, 'the first relay forwarded samples before the gate closed').toBeGreaterThan(0)
    expect(relay.before.spool_pending_samples, 'samples pending in the first relay\'s spool at the kill').toBeGreaterThan(0)
    expect(relay.found.spool_pending_samples ?? 0, 'samples pending in the restarted relay\'s spool at its start (gate closed) vs. before the kill')
      .toBeGreaterThanOrEqual(relay.before.spool_pending_samples ?? 0)
    expect(relay.after.replayed_samples_total ?? 0, 'prw_relay_replayed_samples_total of the restarted relay vs. pending before the kill')
      .toBeGreaterThanOrEqual(relay.before.spool_pending_samples ?? 0)
    expect(relay.after.replayed_samples_total, 'prw_relay_replayed_samples_total of the restarted relay').toBeGreaterThan(0)
    expect(relay.after.forwarded_samples_total, 'the restarted relay forwarded').toBeGreaterThan(0)
    expect(relay.after.retried_requests_total, 'the restarted relay retried (its first attempts met the closed gate)').toBeGreaterThan(0)
    for (const n of ['failed_samples_total', 'dropped_samples_total', 'corrupt_records_total', 'rejected_requests_total']) {
      expect(relay.after[n] ?? 0, `prw_relay_${n} of the restarted relay`).toBe(0)
    }
    const log2 = relay2.log()
    // Upstream trouble that heals is told (the closed gate, then forwarding again); a failure
    // for good is any other `upstream:` line.
    const failure = /^upstream: (?!.*; retrying, devices' data waits in the spool$)(?!forwarding again after )/m
    expect(log2, 'the restarted relay reports no upstream failure').not.toMatch(failure)
    expect(log2, 'the restarted relay tells the closed gate, then the recovery').toMatch(/^upstream: HTTP 503 \(the test gate is closed\); retrying[^\n]*\n(?:.*\n)*upstream: forwarding again after/m)
    expect(log2, 'the restarted relay skipped no damaged spool record').not.toMatch(/skipped \d+ damaged bytes/)
    expect(relay1.log(), 'the first relay reports no upstream failure').not.toMatch(failure)

    // A clean stop of the restarted relay leaves nothing behind.
    await stop(prom)
    relay2.child.kill('SIGINT')
    expect(await relay2.exited).toBe('exit 0')
    expect(relay2.log()).toMatch(/0 failed/)
    expect(relay2.log()).not.toMatch(/left in the spool/)
    lap('end')
    console.log(`relay e2e: restarted relay's output:\n${relay2.log().trim()}`)
  }, 90_000)
})
