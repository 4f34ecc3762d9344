/** Sample values and decimal numbers as exposition formats and CSV write them. */

/** A decimal number as exposition formats write it (no hex, no '_', no 'Infinity'). */
export const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
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
  // Most timestamps are plain integers that a double holds exactly, shifted too: no digit
  // shuffling. (+ 0 turns "-0" into 0, as below.)
  if (shift >= 0 && text.length + shift <= 15 && isSmallInteger(text)) return Number(text) * 10 ** shift + 0
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

/** Whether text is an optional '-' and 1 to 15 digits: an integer that Number() reads exactly. */
function isSmallInteger (text: string): boolean {
  const from = text.charCodeAt(0) === 45 /* - */ ? 1 : 0
  const n = text.length - from
  if (n < 1 || n > 15) return false
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return true
}

/** Powers of ten a double holds exactly (up to 10^22). */
const EXACT_POWERS = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`))

/**
 * Reads the decimal number in s[from, to) without cutting it out: the same number as
 * `Number(s.slice(from, to))` when that text matches DECIMAL. Returns undefined when it does
 * not, or when it has more than 15 significant digits or an exponent past ±22: the caller
 * then goes the slow way (parseSampleValue), which also reads NaN and Inf.
 *
 * Why it is exact: the digits make an integer below 2^53 and 10^e (|e| ≤ 22) is exact, so one
 * multiplication or division gives the correctly rounded result, as Number() does (Clinger's
 * fast path).
 */
export function parseDecimalAt (s: string, from: number, to: number): number | undefined {
  let p = from
  let c = s.charCodeAt(p)
  const neg = c === 45 /* - */
  if (neg || c === 43 /* + */) c = s.charCodeAt(++p)
  let m = 0
  let digits = 0
  let scale = 0
  let any = false
  for (; p < to && c >= 48 && c <= 57; c = s.charCodeAt(++p)) {
    any = true
    if (m === 0 && c === 48) continue
    if (++digits > 15) return undefined
    m = m * 10 + (c - 48)
  }
  if (p < to && c === 46 /* . */) {
    for (c = s.charCodeAt(++p); p < to && c >= 48 && c <= 57; c = s.charCodeAt(++p)) {
      any = true
      scale--
      if (m === 0 && c === 48) continue
      if (++digits > 15) return undefined
      m = m * 10 + (c - 48)
    }
  }
  if (!any) return undefined
  if (p < to && (c === 101 || c === 69) /* e E */) {
    c = s.charCodeAt(++p)
    const eneg = c === 45
    if (eneg || c === 43) c = s.charCodeAt(++p)
    let e = 0
    const start = p
    for (; p < to && c >= 48 && c <= 57; c = s.charCodeAt(++p)) if ((e = e * 10 + (c - 48)) > 400) return undefined
    if (p === start) return undefined
    scale += eneg ? -e : e
  }
  if (p !== to) return undefined
  let r = m
  if (m !== 0 && scale !== 0) {
    if (scale > 22 || scale < -22) return undefined
    r = scale > 0 ? m * EXACT_POWERS[scale] : m / EXACT_POWERS[-scale]
  }
  return neg ? -r : r
}

/**
 * Reads the integer in s[from, to) (an optional sign and up to 15 digits) without cutting it
 * out; undefined for anything else, which the caller reads the slow way.
 */
export function parseIntegerAt (s: string, from: number, to: number): number | undefined {
  let p = from
  let c = s.charCodeAt(p)
  const neg = c === 45 /* - */
  if (neg || c === 43 /* + */) p++
  if (p >= to || to - p > 15) return undefined
  let v = 0
  for (; p < to; p++) {
    c = s.charCodeAt(p)
    if (c < 48 || c > 57) return undefined
    v = v * 10 + (c - 48)
  }
  return neg ? -v : v
}
