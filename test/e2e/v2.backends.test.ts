// protocol: 'auto' against the real servers: neither Prometheus 2.42 nor VictoriaMetrics 1.79
// speaks Remote Write 2.0; both answer a 2.0 request with 204 and store nothing
// (shared/docs/backends.md §4). The writer must notice, fall back to 1.0, resend, and every
// sample must be stored.
import { beforeAll, describe, expect, it } from 'vitest'
import { RemoteWriter } from '../../src/writer/writer.js'
import type { Item } from '../../src/types.js'
import { assertReady, newRunId, promRawSamples, suiteBackends, vmExport, vmForceFlush } from './backends.js'

const backends = suiteBackends('protocol auto against Prometheus and VictoriaMetrics', 'test/e2e/v2.backends.test.ts')
const RUN = newRunId()


describe.skipIf(backends === undefined)('protocol auto against Prometheus and VictoriaMetrics', () => {
  beforeAll(async () => {
    if (backends !== undefined) await assertReady(backends)
  })

  for (const target of ['prometheus', 'victoria'] as const) {
    it(`${target}: 2.0 is refused in effect (204, nothing stored), the writer falls back and everything is stored`, async () => {
      const base = target === 'prometheus' ? backends!.prometheus : backends!.victoria
      const t0 = Math.floor(Date.now() / 1000) * 1000 - 600_000
      const items: Item[] = Array.from({ length: 5 }, (_, s) => ({
        metric: { __name__: 'prw_e2e_auto', run: RUN, s: String(s) },
        values: Array.from({ length: 20 }, (_, i) => s * 100 + i),
        timestamps: Array.from({ length: 20 }, (_, i) => t0 + i * 15_000),
        metadata: { type: 'gauge', help: 'auto fallback probe' },
      }))
      const w = new RemoteWriter({ url: `${base}/api/v1/write`, protocol: 'auto', autoConvertSecondsToMs: false })
      const switched: unknown[] = []
      w.on('protocol', (e) => switched.push(e))
      expect(await w.send(items)).toMatchObject({ samples: 100 })
      await w.close()
      expect(switched).toHaveLength(1)
      let stored: Array<{ metric: Record<string, string>, timestamps: number[] }>
      if (target === 'prometheus') {
        stored = await promRawSamples(base, `prw_e2e_auto{run="${RUN}"}`, '1h')
      } else {
        await vmForceFlush(base)
        stored = await vmExport(base, `prw_e2e_auto{run="${RUN}"}`, { startMs: t0 - 60_000, endMs: Date.now() })
      }
      expect(stored.length).toBe(5)
      for (const s of stored) expect(s.timestamps.length, JSON.stringify(s.metric)).toBe(20)
    })
  }
})
