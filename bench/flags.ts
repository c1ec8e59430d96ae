/**
 * The command line of a bench script: `--name value` flags, each with a default. A flag
 * whose default is a number must be given a number.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** The flags' values: numbers where the default is a number, else strings. */
export type BenchFlags<T extends Record<string, string | number>> = {
  [K in keyof T]: T[K] extends number ? number : string;
};

/**
 * Read `args` (the script's arguments by default) against `defaults`; an unknown flag,
 * or a number flag given something else, throws an error that names it.
 *
 * @example A bench with `--runs N` and `--aof always|none`
 * ```ts
 * import { benchFlags } from "./flags.ts";
 *
 * const flags = benchFlags({ runs: 3, aof: "always" }, ["--runs", "5"]);
 * console.log(flags.runs + 1, flags.aof); // 6 always
 * ```
 */
export function benchFlags<const T extends Record<string, string | number>>(
  defaults: T,
  args: string[] = Deno.args,
): BenchFlags<T> {
  const options = Object.fromEntries(
    Object.entries(defaults).map(([name, value]) => [
      name,
      { type: "string" as const, default: String(value) },
    ]),
  );
  const { values } = parseArgs({ args, strict: true, options });
  const flags: Record<string, string | number> = {};
  for (const [name, fallback] of Object.entries(defaults)) {
    const value = values[name] as string;
    if (typeof fallback === "string") {
      flags[name] = value;
      continue;
    }
    const number = Number(value);
    if (value.trim() === "" || !Number.isFinite(number)) {
      throw new RangeError(`--${name} must be a number, current value is ${value}`);
    }
    flags[name] = number;
  }
  return flags as BenchFlags<T>;
}
