/**
 * Prometheus's stale marker: the NaN with bits 0x7ff0000000000002
 * (prometheus/prometheus model/value/value.go StaleNaN). A series that ends sends one.
 *
 * JS engines may quiet a signalling NaN when it is stored in a plain array or touched by
 * arithmetic, which turns it into 0x7ff8000000000002. The core maps that pattern back to
 * the stale marker, so STALE_NAN works in a plain number[] as well as in a Float64Array
 * (where the bits are kept as they are). A normal NaN (0x7ff8000000000000) stays a normal
 * NaN. Test for it with isStaleNaN(), never with ===.
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
