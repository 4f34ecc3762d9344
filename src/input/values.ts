/** Sample values and decimal numbers as exposition formats and CSV write them. */

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const SPECIAL = /^[+-]?(?:inf(?:inity)?|nan)$/i
const DECIMAL_PARTS = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/

/**
 * Parses a sample value as Go's strconv.ParseFloat would, for the forms exposition formats
 * use: decimal floats and NaN / Inf / +Inf / -Inf / Infinity (any case). Returns undefined
 * for anything else (including '' and hex).
 */
export function parseSampleValue (token: string): number | undefined {
  if (DECIMAL.test(token)) return Number(token)
  if (SPECIAL.test(token)) {
    if (/nan/i.test(token)) return NaN
    return token.charCodeAt(0) === 45 /* - */ ? -Infinity : Infinity
  }
  return undefined
}

/**
 * Converts a decimal number written as text, times 10^`shift`, to an integer, exactly:
 * the decimal digits are shifted, not multiplied in floating point, and the result is
 * rounded half to even. `decimalToInteger('1.0005', 3)` is 1000, `('1.0015', 3)` is 1002.
 * Returns NaN when the text is not a decimal number, ±Infinity when it overflows.
 */
export function decimalToInteger (text: string, shift: number): number {
  const m = DECIMAL_PARTS.exec(text)
  if (m === null) return NaN
  const [, sign, intPart, fracPart = '', expPart] = m
  if (intPart.length === 0 && fracPart.length === 0) return NaN
  const exp = expPart === undefined ? 0 : Number(expPart)
  const all = intPart + fracPart
  const digits = all.replace(/^0+/, '')
  const neg = sign === '-'
  if (digits.length === 0) return 0
  // How many of `digits` are left of the decimal point after shifting.
  const point = intPart.length - (all.length - digits.length) + exp + shift
  if (point > 400) return neg ? -Infinity : Infinity
  if (point < 0) return 0 // below 0.1: rounds to 0
  const intDigits = point >= digits.length ? digits + '0'.repeat(point - digits.length) : digits.slice(0, point)
  const rest = point >= digits.length ? '' : digits.slice(point)
  let n = intDigits.length === 0 ? 0 : Number(intDigits)
  if (rest.length > 0) {
    const first = rest.charCodeAt(0) - 48
    const tail = /[1-9]/.test(rest.slice(1))
    const odd = intDigits.length > 0 && (intDigits.charCodeAt(intDigits.length - 1) - 48) % 2 === 1
    if (first > 5 || (first === 5 && (tail || odd))) n += 1
  }
  return neg && n !== 0 ? -n : n
}
