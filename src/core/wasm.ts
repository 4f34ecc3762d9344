/**
 * The core layer (this folder, this file): the bridge to the WebAssembly core (assembly/). This is the only module that touches
 * `memory.buffer`: it owns the instance, keeps typed-array views over linear memory and
 * rebuilds them whenever the memory has grown (growth replaces the ArrayBuffer).
 *
 * A trap inside WebAssembly may leave the instance's heap inconsistent, so after any trap
 * the instance is thrown away and a fresh one created from the compiled module; callers
 * see a CoreTrapError and `generation` moves on, which invalidates every pointer held
 * into the old memory (the codec's series cache checks it).
 */
import { readFileSync } from 'node:fs'
import { CoreTrapError, InternalError, SnappyError } from '../errors.js'

/** The raw exports of assembly/index.ts. Pointers and lengths are wasm32 `usize`. */
export interface CoreExports {
  memory: WebAssembly.Memory
  addSeries(labels: number, labelsLen: number, n: number, flags: number): number
  checkSeries(n: number, flags: number): number
  addSingles(count: number): number
  addSinglesTo(count: number): number
  addHistSeries(labels: number, labelsLen: number, count: number): number
  v2AddHistSeries(labels: number, labelsLen: number, count: number, staged: number, type: number, helpLen: number, unitLen: number): number
  v2Reset(): void
  addExemplarSeries(labels: number, labelsLen: number): number
  addMetadataV1(type: number, nameLen: number, helpLen: number, unitLen: number): number
  exemplarReserve(count: number): number
  exemplarSet(count: number): void
  v2AddSingles(count: number): number
  v2StartSet(ms: number): void
  v2AddSeries(labels: number, labelsLen: number, n: number, flags: number, type: number, helpLen: number, unitLen: number): number
  v2MetaReserve(bytes: number): number
  v2Finish(): number
  v2Templates(bytes: number): void
  v2SymbolCount(): number
  v2SeriesLen(): number
  v2SymbolsLen(): number
  v2Truncate(seriesBytes: number, count: number, symbolBytes: number): void
  resultHash(): number
  buildLabels(n: number, flags: number): number
  errorIndex(): number
  labelStageReserve(bytes: number): number
  stageReserve(bytes: number): number
  reqReset(): void
  reqSelect(k: number): number
  reqTruncate(len: number): void
  reqLen(): number
  reqPtr(): number
  reqCompress(): number
  snapPtr(): number
  resultPtr(): number
  resultLen(): number
  cacheReset(): void
  cacheBytes(): number
  cacheHeldBytes(): number
  inputReserve(bytes: number): number
  compressInput(len: number): number
  decompressInput(len: number, maxLen: number): number
  rawPtr(): number
}

/** Flags of buildLabels(); mirror assembly/labels.ts. */
export const LB_UTF8_NAMES = 2
export const LB_NAME_OPTIONAL = 4
/** Flags of addSeries(); mirror assembly/samples.ts. */
export const AS_TS_I64 = 1
export const AS_AUTO_SECONDS = 2
export const AS_STRICT = 4
export const AS_SECONDS = 8

/** Pages (64 KiB) the module asks for at start; matches asconfig.json initialMemory. */
const INITIAL_PAGES = 16
/** The wasm32 ceiling: 4 GiB. */
const MAX_PAGES = 65536

/** Largest decompressed body accepted by default: the 32 MiB receivers allow (protocol.md §3.4). */
export const DEFAULT_MAX_DECODED = 32 << 20

let compiled: WebAssembly.Module | undefined

function wasmUrl (): URL {
  const name = process.env.PRW_WASM === 'debug' ? 'debug.wasm' : 'release.wasm'
  return new URL(`../../build/${name}`, import.meta.url)
}

/** Compiles the module once per process. */
function compileModule (): WebAssembly.Module {
  if (compiled === undefined) {
    let bytes: Buffer
    try {
      bytes = readFileSync(wasmUrl())
    } catch (err) {
      throw new InternalError(`cannot read the WebAssembly core at ${wasmUrl().pathname}: the package is incomplete (from a checkout: run \`npm run build\`)`, { cause: err })
    }
    compiled = new WebAssembly.Module(bytes)
  }
  return compiled
}

/** One instance of the core with views over its memory. */
export class Core {
  /** The current instance's exports. Call through them, then `refresh()` before reading views. */
  exports!: CoreExports
  /** Bumped every time the instance is replaced; pointers from older generations are void. */
  generation = 0
  u8!: Uint8Array
  u32!: Uint32Array
  f64!: Float64Array
  i64!: BigInt64Array
  readonly #maxPages: number
  readonly #templateBytes: number

  /**
   * @param maxMemoryBytes ceiling for this instance's linear memory (rounded up to 64 KiB
   *   pages; default 4 GiB). A request that needs more makes the core trap: the call throws
   *   CoreTrapError and the instance is replaced.
   */
  constructor (maxMemoryBytes = MAX_PAGES * 65536, templateBytes = 0) {
    this.#maxPages = Math.max(INITIAL_PAGES, Math.min(MAX_PAGES, Math.ceil(maxMemoryBytes / 65536)))
    // 2.0 request templates are heap memory the caller did not budget for under a limit.
    this.#templateBytes = this.#maxPages < MAX_PAGES ? 0 : templateBytes
    this.#instantiate()
  }

  #instantiate (): void {
    const memory = new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: this.#maxPages })
    const instance = new WebAssembly.Instance(compileModule(), {
      env: {
        memory,
        abort: (msg: number, file: number, line: number, col: number) => {
          throw new CoreAbort(`${readAsString(memory, msg)} in ${readAsString(memory, file)}:${line}:${col}`)
        },
      },
    })
    this.exports = { ...(instance.exports as unknown as CoreExports), memory }
    this.exports.v2Templates(this.#templateBytes)
    this.generation++
    this.#remap()
  }

  /** Rebuilds the views if linear memory has grown since they were made. */
  refresh (): void {
    // Growth detaches the old ArrayBuffer, which empties every view on it: a length check is
    // far cheaper than the memory.buffer getter on this hot path.
    if (this.u8.length !== 0) return
    this.#remap()
  }

  #remap (): void {
    const buffer = this.exports.memory.buffer
    this.u8 = new Uint8Array(buffer)
    this.u32 = new Uint32Array(buffer)
    this.f64 = new Float64Array(buffer)
    this.i64 = new BigInt64Array(buffer)
  }

  /**
   * Replaces the instance after a trap and returns the error to throw. Any error that is not
   * a WebAssembly trap is returned unchanged.
   */
  recover (err: unknown): unknown {
    // Told apart by class, never by message: a ValidationError's message quotes labels,
    // which may say anything.
    if (err instanceof WebAssembly.RuntimeError || err instanceof CoreAbort) {
      const used = this.exports.memory.buffer.byteLength
      this.#instantiate()
      return new CoreTrapError(err, `linear memory ${used} of at most ${this.#maxPages * 65536} bytes`)
    }
    return err
  }

  /** Snappy-compresses `input` (block format); returns a copy. */
  compress (input: Uint8Array): Uint8Array {
    try {
      const p = this.exports.inputReserve(input.length) >>> 0
      this.refresh()
      this.u8.set(input, p)
      const n = this.exports.compressInput(input.length) >>> 0
      this.refresh()
      const q = this.exports.snapPtr() >>> 0
      return this.u8.slice(q, q + n)
    } catch (err) {
      throw this.recover(err)
    }
  }

  /**
   * Decompresses a snappy block into linear memory and returns a view of the result, valid
   * until the next call into this core. Throws SnappyError on corrupt input or when the
   * decoded length exceeds `maxLength`.
   */
  decompressView (input: Uint8Array, maxLength = DEFAULT_MAX_DECODED): Uint8Array {
    let n: number
    try {
      const p = this.exports.inputReserve(input.length) >>> 0
      this.refresh()
      this.u8.set(input, p)
      n = this.exports.decompressInput(input.length, Math.min(maxLength, 0x7fffffff))
      this.refresh()
    } catch (err) {
      throw this.recover(err)
    }
    if (n < 0) throw new SnappyError(n)
    const q = this.exports.rawPtr() >>> 0
    return this.u8.subarray(q, q + n)
  }
}

/** What the core's `abort` import throws (an AssemblyScript assertion or allocation failure): a trap. */
class CoreAbort extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CoreAbort'
  }
}

/** Reads an AssemblyScript string (UTF-16, byte length at ptr-4) for abort messages. */
function readAsString (memory: WebAssembly.Memory, ptr: number): string {
  if (!ptr) return ''
  const p = ptr >>> 0
  const len = new Uint32Array(memory.buffer, p - 4, 1)[0] >>> 1
  return String.fromCharCode(...new Uint16Array(memory.buffer, p, Math.min(len, 1000)))
}

/** Compiles the WebAssembly module (once per process). */
export async function loadCore (): Promise<void> {
  compileModule()
}
