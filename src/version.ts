/** The package's version and the User-Agent it sends (a leaf: it imports nothing from src/). */
import { readFileSync } from 'node:fs'

/** Package version, from the package.json beside src/ and dist/. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** The User-Agent this library sends. */
export const USER_AGENT = `prometheus-remote-writer/${VERSION}`
