/**
 * A self-contained HTML report of a load test: the summary, and throughput and latency over
 * time drawn with uPlot, whose script and style are inlined so the file opens without network.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { LoadReport } from './loadgen.js'

const require = createRequire(import.meta.url)

/** Escapes text for HTML. */
function esc (s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Renders the report as one HTML document. `title` names the target (no secrets in it). */
export function renderHtml (report: LoadReport, title: string): string {
  const uplotJs = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8')
  const uplotCss = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8')
  const l = report.latency
  const rows: Array<[string, string]> = [
    ['target', report.target > 0 ? `${fmt(report.target)} samples/s` : 'as fast as acknowledged'],
    ['achieved', `${fmt(report.achieved)} samples/s`],
    ['samples sent / failed / behind schedule', `${report.samplesSent} / ${report.samplesFailed} / ${report.behind}`],
    ['requests', `${report.requests} (${report.requestsPerSecond.toFixed(1)}/s)`],
    ['bytes on the wire', `${(report.bytesPerSecond / 1e6).toFixed(2)} MB/s`],
    ['latency p50 / p90 / p99 / max', `${l.p50.toFixed(1)} / ${l.p90.toFixed(1)} / ${l.p99.toFixed(1)} / ${l.max.toFixed(1)} ms`],
    ['errors', Object.keys(report.errors).length ? Object.entries(report.errors).map(([k, v]) => `${k}: ${v}`).join(', ') : 'none'],
    ['client CPU', `${report.cpu.percentOfOneCore.toFixed(0)}% of one core`],
    ['config', JSON.stringify(report.config)],
  ]
  // JSON inside a <script> must not close it: escape '<'.
  const data = JSON.stringify(report.seconds).replace(/</g, '\\u003c')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>remote-write load test: ${esc(title)}</title>
<style>${uplotCss}
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222 }
table { border-collapse: collapse; margin-bottom: 24px } td { padding: 3px 12px 3px 0; vertical-align: top }
td:first-child { color: #666; white-space: nowrap } h1 { font-size: 18px } h2 { font-size: 15px; margin-top: 24px }
</style></head><body>
<h1>remote-write load test: ${esc(title)}</h1>
<table>${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>
<h2>Throughput (acknowledged, per second)</h2><div id="tput"></div>
<h2>Latency (per second)</h2><div id="lat"></div>
<script>${uplotJs}</script>
<script>
const s = ${data};
const x = s.map(d => d.second);
const w = Math.min(1100, document.body.clientWidth - 20);
new uPlot({ width: w, height: 300, scales: { x: { time: false } }, axes: [{ label: 'second' }, { label: 'samples/s' }, { side: 1, scale: 'r', label: 'requests/s', grid: { show: false } }],
  series: [{}, { label: 'samples/s', stroke: '#1f77b4' }, { label: 'requests/s', stroke: '#ff7f0e', scale: 'r' }, { label: 'errors', stroke: '#d62728', scale: 'r' }] },
  [x, s.map(d => d.samples), s.map(d => d.requests), s.map(d => d.errors)], document.getElementById('tput'));
new uPlot({ width: w, height: 300, scales: { x: { time: false } }, axes: [{ label: 'second' }, { label: 'ms' }],
  series: [{}, { label: 'p50 ms', stroke: '#2ca02c' }, { label: 'p99 ms', stroke: '#9467bd' }] },
  [x, s.map(d => d.p50), s.map(d => d.p99)], document.getElementById('lat'));
</script></body></html>
`
}

function fmt (r: number): string {
  return r >= 1e6 ? `${(r / 1e6).toFixed(2)}M` : r >= 1e3 ? `${(r / 1e3).toFixed(1)}k` : r.toFixed(0)
}
