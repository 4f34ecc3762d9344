// Request slots across both encoders: the writer builds one request per shard at once, and
// selecting a slot swaps the 1.0 state (prompb.ts selectV1: `out` and its length) and the
// 2.0 state (prompb2.ts v2Swap: symbols, series, template) together. These are the ABI
// calls that act on both.

import { appendSinglesTo, currentSlot, resetV1, selectV1 } from "./prompb";
import { v2Abandon, v2Swap } from "./prompb2";

/** Starts a 1.0 request in the selected slot (a 2.0 request the slot was building is given up). */
export function reqReset(): void {
  resetV1();
  v2Abandon();
}

/**
 * Selects request slot k (0 <= k < 4096): later calls on the request being built (1.0 or
 * 2.0) act on slot k's. Returns 0, or -1 for a slot out of range.
 */
export function reqSelect(k: u32): i32 {
  let prev = currentSlot();
  let r = selectV1(k);
  if (r == 0 && prev != k) v2Swap(prev, k);
  return r;
}

/**
 * One-sample series into several 1.0 requests in one call (see prompb.ts appendSinglesTo).
 * The 2.0 state stays with the slot selected before the call until the end, then follows.
 */
export function addSinglesTo(count: u32): i32 {
  let prev = currentSlot();
  let rc = appendSinglesTo(count);
  let now = currentSlot();
  if (now != prev) v2Swap(prev, now);
  return rc;
}
