/**
 * Lone UTF-16 surrogates in strings bound for the wire. Remote write requires valid UTF-8, and
 * TextEncoder would send U+FFFD in a lone surrogate's place: the series would be stored under
 * another name. So they are errors that name the label.
 */
import { ValidationError } from '../errors.js'
import { setLabel } from '../labels.js'

/** The index of the first lone UTF-16 surrogate in `s`, or -1. */
export function loneSurrogate (s: string): number {
  if ((s as unknown as { isWellFormed: () => boolean }).isWellFormed()) return -1
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++
        continue
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) return i
  }
  return -1
}

/**
 * Throws a ValidationError naming the label when a name or value holds a lone surrogate:
 * remote write requires valid UTF-8, and TextEncoder would send U+FFFD in its place.
 */
export function checkWellFormed (names: string[], values: string[], index: number): void {
  for (let i = 0; i < names.length; i++) {
    const inName = loneSurrogate(names[i])
    const at = inName >= 0 ? inName : loneSurrogate(values[i])
    if (at < 0) continue
    const s = inName >= 0 ? names[i] : values[i]
    const labels: Record<string, string> = {}
    for (let j = 0; j < names.length; j++) setLabel(labels, names[j], values[j])
    throw new ValidationError(`${inName >= 0 ? 'name' : 'value'} is not valid Unicode: a lone UTF-16 surrogate (\\u${s.charCodeAt(at).toString(16)}) at index ${at}; remote write requires valid UTF-8`, {
      seriesIndex: index, labels, field: 'metric', label: names[i],
    })
  }
}
