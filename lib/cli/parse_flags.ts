/**
 * Flag parsing shared by every `main.ts` command: `node:util`'s `parseArgs`
 * in strict mode, with its errors turned into one-line {@linkcode UsageError}s
 * that end by pointing at the command's `--help`.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./usage_error.ts";

/** The flag table of a command, as `parseArgs` takes it. */
export type FlagOptions = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parse `args` for `command` strictly; a mistake becomes a one-line `UsageError`.
 *
 * @example Parsing a command's flags
 * ```ts
 * import { parseFlags } from "./parse_flags.ts";
 *
 * const { values, positionals } = parseFlags("demo", ["--rate", "5", "extra"], {
 *   rate: { type: "string" },
 * }, { allowPositionals: true });
 * console.log(values.rate, positionals); // "5" ["extra"]
 * ```
 */
export function parseFlags<const T extends FlagOptions>(
  command: string,
  args: string[],
  options: T,
  { allowPositionals = false }: { allowPositionals?: boolean } = {},
): {
  values: ReturnType<typeof parseArgs<{ options: T; strict: true }>>["values"];
  positionals: string[];
} {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals });
    return { values, positionals };
  } catch (error: unknown) {
    const text = error instanceof Error ? error.message : String(error);
    const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(text);
    if (ambiguous) {
      // `--latency -5`: node:util will not take a value that looks like a flag.
      const flag = ambiguous[1];
      throw new UsageError(`${flag} needs a value; write a negative one as ${flag}=VALUE`);
    }
    // node:util's messages go on with a paragraph of advice over several lines;
    // the first sentence says it, and the CLI promises one line.
    const first = text.replace(/\s*\n\s*/g, " ").split(/\.\s/)[0]!.replace(/\.$/, "");
    throw new UsageError(`${command}: ${first}; see 'main.ts ${command} --help'`);
  }
}
