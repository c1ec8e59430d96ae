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
    throw new UsageError(`${command}: ${describe(text, args)}; see 'main.ts ${command} --help'`);
  }
}

/**
 * One line for a `parseArgs` error: its messages run over several lines and talk
 * about positionals after `--`, which is no help to someone who mistyped a flag.
 */
function describe(message: string, args: string[]): string {
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown option '${unknown[1]}'`;
  const ambiguous = /^Option '(-[^' ]+)[^']*' argument is ambiguous/.exec(message);
  if (ambiguous) {
    // `--latency -5`: node:util will not take a value that looks like a flag.
    const flag = ambiguous[1]!;
    const next = args[args.indexOf(flag) + 1] ?? "";
    return `${flag} needs a value, but '${next}' looks like a flag; ` +
      `write ${flag}=VALUE to give a value that starts with '-'`;
  }
  return message.replace(/\s*\n\s*/g, " ").split(/\.\s/)[0]!.replace(/\.$/, "");
}
