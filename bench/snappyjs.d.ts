/** Types for snappyjs 0.7 (it ships none): block-format compress/uncompress. */
declare module 'snappyjs' {
  /** Compresses into the snappy block format; returns the same kind of buffer it was given. */
  export function compress<T extends Uint8Array | ArrayBuffer> (input: T): T
  /** Decompresses a snappy block; `maxLength` bounds the decoded size. */
  export function uncompress<T extends Uint8Array | ArrayBuffer> (input: T, maxLength?: number): T
  const SnappyJS: { compress: typeof compress, uncompress: typeof uncompress }
  export default SnappyJS
}
