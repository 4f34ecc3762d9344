/**
 * The writer's whole suite again, with `ioThread: false`: every attempt from the calling thread,
 * one batch per shard at a time (the path an injected dispatcher takes).
 */
;(globalThis as { PRW_INLINE?: boolean }).PRW_INLINE = true
await import('./writer.test.js')
