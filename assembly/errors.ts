// Error codes returned by the core's exports. Every export that can fail returns a
// negative i32 from this list (or a count/length >= 0 on success); the hot path never
// throws. src/errors.ts mirrors these numbers and maps them to messages. Keep the two
// lists in step: test/core.test.ts compares them.
//
// errorIndex() names the input (label, sample or record) that caused the last error; every
// encoder sets it through errIndexSet().

/** Snappy: malformed input (bad preamble, bad tag, offset 0 or past the output, length mismatch). */
export const E_CORRUPT: i32 = -1;
/** Snappy: the decoded length is larger than the caller allowed, or the input exceeds 2^32-1. */
export const E_TOO_LARGE: i32 = -2;
/** Memory could not grow to hold the request. */
export const E_OOM: i32 = -3;
/** A timestamp is NaN or infinite. */
export const E_TS_NOT_FINITE: i32 = -10;
/** A timestamp falls outside the int64 range (after any seconds-to-milliseconds conversion). */
export const E_TS_RANGE: i32 = -11;
/** A timestamp has a fractional millisecond part and strict timestamps were asked for. */
export const E_TS_FRACTIONAL: i32 = -12;
/** A series' first timestamp is below 1e10 (looks like seconds) and strict timestamps were asked for. */
export const E_TS_SECONDS: i32 = -13;
/** Timestamps within a series are not in non-decreasing order. */
export const E_TS_UNSORTED: i32 = -14;
/** A label name is empty or does not match [a-zA-Z_][a-zA-Z0-9_]*. */
export const E_LABEL_NAME: i32 = -20;
/** The __name__ label's value does not match [a-zA-Z_:][a-zA-Z0-9_:]*. */
export const E_METRIC_NAME: i32 = -21;
/** Two labels have the same name. */
export const E_LABEL_DUPLICATE: i32 = -22;
/** The label set has no __name__ label (or its value is empty). */
export const E_NO_METRIC_NAME: i32 = -23;
/** Protobuf input is malformed (decoder). */
export const E_PROTO: i32 = -30;
/** A request slot number is out of range. */
export const E_SLOT: i32 = -40;

let errIndex: i32 = -1;

/** Sets errorIndex(). */
// @ts-ignore: decorator
@inline
export function errIndexSet(i: i32): void { errIndex = i; }
/** Index of the label or sample that caused the last error, or -1. */
export function errorIndex(): i32 { return errIndex; }
