/** Label-record helpers shared by the codec, the decoder and the input readers (a leaf). */

/** Sets a label on a record; `__proto__` is a label name like any other, not the prototype. */
export function setLabel (record: Record<string, string>, name: string, value: string): void {
  if (name === '__proto__') Object.defineProperty(record, name, { value, enumerable: true, writable: true, configurable: true })
  else record[name] = value
}
