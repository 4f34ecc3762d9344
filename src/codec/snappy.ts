/**
 * Snappy block compression and decompression on their own (the block format of
 * shared/docs/protocol.md §3), through a process-wide instance of the core.
 */
import { Core, DEFAULT_MAX_DECODED } from '../core/wasm.js'

let shared: Core | undefined

/** The process-wide core used by the stand-alone snappy helpers. */
function sharedCore (): Core {
  shared ??= new Core()
  return shared
}

/** Snappy block compression through the core; returns a fresh copy. */
export function snappyCompress (input: Uint8Array): Uint8Array {
  return sharedCore().compress(input)
}

/**
 * Snappy block decompression through the core; returns a fresh copy. Throws SnappyError
 * (coreCode -1 corrupt, -2 too large) and leaves the core usable.
 */
export function snappyDecompress (input: Uint8Array, maxLength = DEFAULT_MAX_DECODED): Uint8Array {
  return sharedCore().decompressView(input, maxLength).slice()
}
