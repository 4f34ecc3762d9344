// The slice of the WebAssembly JS API this package uses. Node provides it globally, but
// TypeScript only declares it in the DOM libs, which a Node package should not pull in.
declare namespace WebAssembly {
  interface MemoryDescriptor { initial: number, maximum?: number }
  class Memory {
    constructor (descriptor: MemoryDescriptor)
    readonly buffer: ArrayBuffer
    grow (delta: number): number
  }
  class Module {
    constructor (bytes: BufferSource)
  }
  type ImportValue = ((...args: any[]) => unknown) | Memory | number
  type Imports = Record<string, Record<string, ImportValue>>
  class Instance {
    constructor (module: Module, imports?: Imports)
    readonly exports: Record<string, unknown>
  }
  class RuntimeError extends Error {}
  class CompileError extends Error {}
}
type BufferSource = ArrayBufferView | ArrayBuffer
