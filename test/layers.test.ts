// The architecture as rules: src/ is in layers (README, "Design"), and these tests read every
// import of every file under src/ (type-only ones too) and fail on an import that crosses a
// layer the wrong way, on any import cycle, and on a file or class that outgrew its room.
import { readFileSync, readdirSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'

const SRC = fileURLToPath(new URL('../src/', import.meta.url))

/** src-relative path → the src-relative files it imports. */
type Graph = Map<string, string[]>

function sources (dir = SRC): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...sources(p))
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(relative(SRC, p))
  }
  return out.sort()
}

/**
 * Relative specifiers of every import of a file: `import … from`, `export … from`, `import '…'`,
 * `import('…')`, `import x = require('…')`, as TypeScript itself reads them (comments and
 * strings are not imports; any spacing is).
 */
export function importsOf (text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName).filter((f) => f.startsWith('./') || f.startsWith('../'))
}

/** Dynamic imports and require() calls whose module is not a literal: no rule could check them. */
export function opaqueImports (text: string): string[] {
  const out: string[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) {
      const arg = node.arguments[0]
      if (arg === undefined || !(ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg))) out.push(node.getText())
    }
    ts.forEachChild(node, visit)
  }
  visit(ts.createSourceFile('x.ts', text, ts.ScriptTarget.Latest, true))
  return out
}

function graphOf (files: string[], read: (f: string) => string): Graph {
  const g: Graph = new Map()
  for (const f of files) {
    g.set(f, importsOf(read(f)).map((spec) => normalize(join(dirname(f), spec)).replace(/\.js$/, '.ts')))
  }
  return g
}

const LEAVES = new Set(['errors.ts', 'redact.ts', 'types.ts', 'labels.ts', 'stats.ts', 'version.ts'])
const layer = (f: string): string => (f.includes('/') ? f.slice(0, f.indexOf('/')) : LEAVES.has(f) ? 'leaf' : f)

/** What each layer may import, besides itself and the leaves. */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  leaf: [],
  core: [],
  codec: ['core'],
  transport: [],
  writer: ['codec', 'transport', 'spool'],
  spool: [],
  input: [],
  commands: ['index.ts', 'input'],
  'index.ts': ['codec', 'core', 'writer', 'transport'],
  'cli.ts': ['index.ts', 'commands', 'input'],
}

/** The files io-worker.ts may reach: what runs inside the I/O thread. */
const WORKER_SIDE = new Set(['transport/io-worker.ts', 'transport/http.ts', 'transport/attempt.ts', 'transport/io-messages.ts', 'transport/redactor.ts'])

/** Every broken rule, as `from → to: why`. */
export function violations (g: Graph): string[] {
  const out: string[] = []
  for (const [from, tos] of g) {
    const lf = layer(from)
    for (const to of tos) {
      if (!g.has(to)) {
        out.push(`${from} → ${to}: not a source file`)
        continue
      }
      const lt = layer(to)
      if (lf === 'leaf') {
        out.push(`${from} → ${to}: a leaf imports nothing from src/`)
        continue
      }
      if (lt === lf || lt === 'leaf') continue
      const allowed = MAY_IMPORT[lf]
      if (allowed === undefined) out.push(`${from}: a file in no known layer`)
      else if (!allowed.includes(lt)) out.push(`${from} → ${to}: ${lf}/ may not import ${lt}${lt.endsWith('.ts') ? '' : '/'}`)
    }
  }
  // The I/O thread loads nothing that runs on the main thread.
  const seen = new Set<string>()
  const walk = (f: string): void => {
    if (seen.has(f)) return
    seen.add(f)
    for (const to of g.get(f) ?? []) walk(to)
  }
  if (g.has('transport/io-worker.ts')) walk('transport/io-worker.ts')
  for (const f of seen) {
    if (!WORKER_SIDE.has(f) && layer(f) !== 'leaf') out.push(`transport/io-worker.ts reaches ${f}, which runs on the main thread`)
  }
  for (const cycle of cycles(g)) out.push(`import cycle: ${cycle.join(' → ')}`)
  return out
}

/** Import cycles (each reported once, from its first file in sorted order). */
export function cycles (g: Graph): string[][] {
  const found: string[][] = []
  const state = new Map<string, 1 | 2>() // 1: on the stack, 2: done
  const stack: string[] = []
  const visit = (f: string): void => {
    state.set(f, 1)
    stack.push(f)
    for (const to of g.get(f) ?? []) {
      if (state.get(to) === 1) found.push([...stack.slice(stack.indexOf(to)), to])
      else if (state.get(to) === undefined && g.has(to)) visit(to)
    }
    stack.pop()
    state.set(f, 2)
  }
  for (const f of [...g.keys()].sort()) if (state.get(f) === undefined) visit(f)
  return found
}

/** Line counts of top-level classes: from `class X` to the `}` that closes it at column 0. */
function classSizes (text: string): Array<[string, number]> {
  const lines = text.split('\n')
  const out: Array<[string, number]> = []
  for (let i = 0; i < lines.length; i++) {
    const m = /^(?:export\s+)?(?:abstract\s+)?class\s+(\w+)/.exec(lines[i])
    if (m === null) continue
    let j = i + 1
    while (j < lines.length && lines[j] !== '}') j++
    out.push([m[1], j - i + 1])
  }
  return out
}

const files = sources()
const read = (f: string): string => readFileSync(join(SRC, f), 'utf8')

describe('the source tree', () => {
  it('keeps its layers: leaves import nothing, only codec/ reaches core/, commands/ use src/index.ts, io-worker.ts stays off the main thread, no cycles', () => {
    expect(violations(graphOf(files, read))).toEqual([])
    expect(files.flatMap((f) => opaqueImports(read(f)).map((call) => `${f}: ${call}`))).toEqual([])
  })

  it('catches what it is meant to catch (a graph with one of each forbidden import)', () => {
    const g: Graph = new Map([
      ['errors.ts', ['types.ts']],
      ['types.ts', []],
      ['core/wasm.ts', ['errors.ts']],
      ['codec/codec.ts', ['core/wasm.ts', 'writer/writer.ts']],
      ['writer/writer.ts', ['codec/codec.ts', 'core/wasm.ts', 'transport/sender.ts']],
      ['transport/sender.ts', ['transport/io-thread.ts']],
      ['transport/io-thread.ts', ['codec/codec.ts']],
      ['transport/io-worker.ts', ['transport/attempt.ts']],
      ['transport/attempt.ts', ['transport/sender.ts']],
      ['commands/demo.ts', ['writer/writer.ts', 'index.ts']],
      ['index.ts', ['codec/codec.ts', 'writer/writer.ts']],
    ])
    expect(violations(g)).toEqual([
      'errors.ts → types.ts: a leaf imports nothing from src/',
      'codec/codec.ts → writer/writer.ts: codec/ may not import writer/',
      'writer/writer.ts → core/wasm.ts: writer/ may not import core/',
      'transport/io-thread.ts → codec/codec.ts: transport/ may not import codec/',
      'commands/demo.ts → writer/writer.ts: commands/ may not import writer/',
      'transport/io-worker.ts reaches transport/sender.ts, which runs on the main thread',
      'transport/io-worker.ts reaches transport/io-thread.ts, which runs on the main thread',
      'transport/io-worker.ts reaches codec/codec.ts, which runs on the main thread',
      'transport/io-worker.ts reaches core/wasm.ts, which runs on the main thread',
      'transport/io-worker.ts reaches writer/writer.ts, which runs on the main thread',
      'import cycle: codec/codec.ts → writer/writer.ts → codec/codec.ts',
      'import cycle: codec/codec.ts → writer/writer.ts → transport/sender.ts → transport/io-thread.ts → codec/codec.ts',
    ])
  })

  it('reads every form of import, and flags imports no rule could check', () => {
    expect(importsOf([
      "import { a } from './a.js'",
      "import type { B } from '../b.js'",
      "import * as c from './c.js'",
      "import d, { e } from './d.js'",
      "export { f } from './f.js'",
      "export type { G } from './g.js'",
      "export*from'./h.js'",
      "import './side.js'",
      "const m = await import('./lazy.js')",
      'const t = await import(`./template.js`)',
      "import {\n  x, // the writer's part\n  y,\n} from './multi.js'",
      "import /* lazy */ { z } from './commented.js'",
      "import{w}from'./tight.js'",
      "import r = require('./required.js')",
      "import { readFileSync } from 'node:fs'",
      "// a.import('./not-an-import.js')",
      "const s = \"import q from './in-a-string.js'\"",
    ].join('\n'))).toEqual(['./a.js', '../b.js', './c.js', './d.js', './f.js', './g.js', './h.js', './side.js', './lazy.js', './template.js', './multi.js', './commented.js', './tight.js', './required.js'])
    expect(opaqueImports("const name = './x.js'\nawait import(name)\nrequire(`./${name}`)\nawait import('./fine.js')")).toEqual(['import(name)', 'require(`./${name}`)'])
  })

  it('has no file over 450 lines (the input readers excepted) and no class over 400', () => {
    const exempt = new Set(['input/csv.ts', 'input/promtext.ts'])
    const big: string[] = []
    for (const f of files) {
      const text = read(f)
      const n = text.split('\n').length - (text.endsWith('\n') ? 1 : 0)
      if (n >= 450 && !exempt.has(f)) big.push(`${f}: ${n} lines`)
      for (const [name, size] of classSizes(text)) if (size > 400) big.push(`${f}: class ${name}, ${size} lines`)
    }
    expect(big).toEqual([])
  })
})
