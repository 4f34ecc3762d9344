/**
 * Prometheus's stale marker: the NaN with bits 0x7ff0000000000002
 * (prometheus/prometheus model/value/value.go StaleNaN). A series that ends sends one.
 *
 * Reliable in a Float64Array, which keeps the bits. Not in a plain number[]: JS engines may
 * quiet a signalling NaN stored there (0x7ff8000000000002, which the core maps back), and
 * V8's optimized code may store it as the canonical NaN, which nothing can map back. In plain
 * arrays, use STALE (types.ts). Test for a marker with isStaleNaN(), never with ===.
 */
const bits = new BigUint64Array([0x7ff0000000000002n])

/** The stale marker as a number. */
export const STALE_NAN: number = new Float64Array(bits.buffer)[0]

const scratch = new Float64Array(1)
const scratchBits = new BigUint64Array(scratch.buffer)

/** Whether `v` is a stale marker, signalling or quieted (see STALE_NAN). */
export function isStaleNaN (v: number): boolean {
  scratch[0] = v
  const b = scratchBits[0]
  return b === 0x7ff0000000000002n || b === 0x7ff8000000000002n
}
