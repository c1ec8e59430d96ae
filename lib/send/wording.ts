/**
 * Small pieces of the wording of problems and summaries, shared so that every
 * message shows values and counts the same way.
 *
 * @module
 */

/**
 * A value shown in a message: quoted, escaped, and cut short if long.
 *
 * @example Quoting a long value
 * ```ts
 * import { quote } from "./wording.ts";
 *
 * console.log(quote("+1 415"), quote("x".repeat(50)).length); // "\"+1 415\"" 42
 * ```
 */
export function quote(value: string): string {
  const shown = value.length > 40 ? `${value.slice(0, 37)}...` : value;
  return JSON.stringify(shown);
}

/**
 * A count with its noun: `1 segment`, `2 segments`.
 *
 * @example Counting segments
 * ```ts
 * import { plural } from "./wording.ts";
 *
 * console.log(plural(1, "segment"), plural(2, "segment")); // "1 segment" "2 segments"
 * ```
 */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}
