/**
 * Timestamps written as text: numbers of milliseconds, and ISO-8601 / RFC 3339 dates.
 *
 * The date parser is strict and exact: `2026-12-06T19:23:00Z`, `2026-12-06 19:23:00.123456+02:00`,
 * `2026-12-06T19:23Z`, `2026-12-06` (midnight UTC). A date-time must say its offset (`Z`,
 * `+02:00`, `+0200`, `+02`): without one it would be local time, a different instant on every
 * machine, so it is refused with that reason. Fractions of a millisecond are cut off (as
 * Prometheus and `Date.parse` do), never rounded up into the next millisecond.
 */

const DIGIT0 = 48

/** The value of `n` decimal digits at `i`, or -1 if any is not a digit. */
function digits (s: string, i: number, n: number): number {
  let v = 0
  for (let k = i; k < i + n; k++) {
    const d = s.charCodeAt(k) - DIGIT0
    // Past the end charCodeAt is NaN, which fails this test too.
    if (!(d >= 0 && d <= 9)) return -1
    v = v * 10 + d
  }
  return v
}

const isLeap = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil): no Date, no 2-digit-year quirk. */
function daysFromCivil (y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** Why a text is not a date this module accepts, or undefined when it is one. */
type Problem = string | undefined

/**
 * Parses an ISO-8601 / RFC 3339 date (see the module comment) to Unix milliseconds. Returns
 * NaN for anything else; {@link isoDateProblem} says why.
 */
export function parseIsoDate (s: string): number {
  const r = scan(s)
  return typeof r === 'number' ? r : NaN
}

/**
 * Why `s` is not an ISO-8601 date {@link parseIsoDate} accepts ("month 13 is out of range",
 * "no UTC offset: ..."), or undefined when it is one.
 */
export function isoDateProblem (s: string): Problem {
  const r = scan(s)
  return typeof r === 'number' ? undefined : r
}

/** Whether `s` starts like a date (YYYY-MM), so that an error can speak of dates rather than numbers. */
export function looksLikeDate (s: string): boolean {
  return s.length >= 7 && digits(s, 0, 4) >= 0 && s.charCodeAt(4) === 45 && digits(s, 5, 2) >= 0
}

const NOT_A_DATE = 'not an ISO-8601 date (like 2026-12-06T19:23:00Z)'
const NO_OFFSET = 'no UTC offset: add Z or an offset like +02:00 (without one it is local time, which differs between machines)'

/** The date's milliseconds, or what is wrong with it. */
function scan (s: string): number | string {
  const n = s.length
  if (n < 10 || s.charCodeAt(4) !== 45 /* - */ || s.charCodeAt(7) !== 45) return NOT_A_DATE
  const y = digits(s, 0, 4)
  const mo = digits(s, 5, 2)
  const d = digits(s, 8, 2)
  if (y < 0 || mo < 0 || d < 0) return NOT_A_DATE
  if (mo < 1 || mo > 12) return `month ${mo} is out of range`
  const monthDays = mo === 2 && isLeap(y) ? 29 : MONTH_DAYS[mo - 1]
  if (d < 1 || d > monthDays) return `day ${d} is out of range for ${s.slice(0, 7)}`
  const days = daysFromCivil(y, mo, d)
  if (n === 10) return days * 86_400_000
  const sep = s.charCodeAt(10)
  if (sep !== 84 /* T */ && sep !== 116 /* t */ && sep !== 32) return NOT_A_DATE
  // hh:mm[:ss[.fff...]]
  const h = digits(s, 11, 2)
  const mi = s.charCodeAt(13) === 58 /* : */ ? digits(s, 14, 2) : -1
  if (h < 0 || mi < 0) return NOT_A_DATE
  if (h > 24) return `hour ${h} is out of range`
  if (mi > 59) return `minute ${mi} is out of range`
  let i = 16
  let sec = 0
  let ms = 0
  if (s.charCodeAt(i) === 58) {
    sec = digits(s, i + 1, 2)
    if (sec < 0) return NOT_A_DATE
    if (sec > 59) return `second ${sec} is out of range`
    i += 3
    if (s.charCodeAt(i) === 46 /* . */) {
      const from = ++i
      while (i < n && s.charCodeAt(i) >= DIGIT0 && s.charCodeAt(i) <= DIGIT0 + 9) i++
      if (i === from) return NOT_A_DATE
      // Milliseconds: the first three digits; the rest is cut off.
      for (let k = from; k < from + 3; k++) ms = ms * 10 + (k < i ? s.charCodeAt(k) - DIGIT0 : 0)
    }
  }
  // 24:00:00 is the end of the day (ISO 8601, and Date.parse), and only that.
  if (h === 24 && (mi !== 0 || sec !== 0 || ms !== 0)) return `hour 24 is out of range (only 24:00:00 is, the end of the day)`
  const offset = zoneOffset(s, i)
  if (typeof offset === 'string') return offset
  return (days * 86_400 + h * 3600 + mi * 60 + sec - offset) * 1000 + ms
}

/**
 * An ISO-8601 date as {@link parseIsoDate} reads it, or else as Date.parse does (a date-time
 * without an offset is local time; other forms too), but never a day or an hour out of range:
 * Date.parse rolls 2026-02-29 over into March. NaN when neither reads it.
 */
export function parseLenientDate (s: string): number {
  const r = scan(s)
  if (typeof r === 'number') return r
  return r === NOT_A_DATE || r === NO_OFFSET ? Date.parse(s) : NaN
}

/** The UTC offset in seconds written from `i` to the end of `s`, or what is wrong with it. */
function zoneOffset (s: string, i: number): number | string {
  const n = s.length
  if (i === n) return NO_OFFSET
  const c = s.charCodeAt(i)
  if ((c === 90 /* Z */ || c === 122 /* z */) && i + 1 === n) return 0
  if (c !== 43 /* + */ && c !== 45 /* - */) return NOT_A_DATE
  const oh = digits(s, i + 1, 2)
  let om = 0
  const rest = n - (i + 3)
  if (rest === 3 && s.charCodeAt(i + 3) === 58) om = digits(s, i + 4, 2)
  else if (rest === 2) om = digits(s, i + 3, 2)
  else if (rest !== 0) return NOT_A_DATE
  if (oh < 0 || om < 0) return NOT_A_DATE
  if (oh > 23 || om > 59) return `offset ${s.slice(i)} is out of range`
  return (c === 45 ? -1 : 1) * (oh * 3600 + om * 60)
}
