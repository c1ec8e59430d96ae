/**
 * Flag parsing shared by every `main.ts` command: `node:util`'s `parseArgs`
 * in strict mode, with its errors turned into one-line {@linkcode UsageError}s
 * that suggest the flag meant ("did you mean --rate?") and end by pointing at
 * the command's `--help`.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { closestName } from "./did_you_mean.ts";
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
    throw new UsageError(
      `${command}: ${describe(text, args, options)}; see 'main.ts ${command} --help'`,
    );
  }
}

/**
 * One line for a `parseArgs` error: its messages run over several lines and talk
 * about positionals after `--`, which is no help to someone who mistyped a flag.
 */
function describe(message: string, args: string[], options: FlagOptions): string {
  const unknown = /^Unknown option '([^']+)'/.exec(message);
  if (unknown) {
    const typed = unknown[1]!;
    // A one-letter flag is too short to guess from; a long one is matched among long ones.
    const guess = typed.startsWith("--")
      ? closestName(typed, Object.keys(options).map((name) => `--${name}`))
      : undefined;
    return `unknown option '${typed}'` + (guess === undefined ? "" : ` (did you mean ${guess}?)`);
  }
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

/** What {@linkcode numberFlag} accepts. */
export interface NumberFlagRule {
  /** The least value allowed. */
  min: number;
  /**
   * The greatest value allowed.
   *
   * @default {Infinity}
   */
  max?: number;
  /**
   * Whole numbers only.
   *
   * @default {false}
   */
  integer?: boolean;
  /** What the flag wants, for the error: "a port number from 0 to 65535". */
  what: string;
}

/**
 * The one number reader of every command: plain decimal digits only (`0x10`,
 * `1e3`, `Infinity` and blanks are mistakes, never silently read), within the
 * rule's range.
 *
 * @example Reading --port
 * ```ts
 * import { numberFlag } from "./parse_flags.ts";
 *
 * console.log(numberFlag("port", "8787", { min: 0, max: 65535, integer: true, what: "a port" })); // 8787
 * ```
 */
export function numberFlag(flag: string, raw: string, rule: NumberFlagRule): number {
  const { min, max = Infinity, integer = false, what } = rule;
  const shape = integer ? /^\d+$/ : /^-?(\d+\.?\d*|\.\d+)$/;
  const value = Number(raw);
  if (!shape.test(raw.trim()) || !(value >= min && value <= max)) {
    throw new UsageError(`--${flag} must be ${what}, got '${raw}'`);
  }
  return value;
}

/**
 * A flag that must be a positive number: its value, or `fallback` when absent.
 *
 * @example Reading --rate
 * ```ts
 * import { positiveNumber } from "./parse_flags.ts";
 *
 * console.log(positiveNumber("rate", "2.5", 1), positiveNumber("rate", undefined, 1)); // 2.5 1
 * ```
 */
export function positiveNumber(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = numberFlag(flag, raw, { min: 0, what: "a positive number" });
  if (value === 0) throw new UsageError(`--${flag} must be a positive number, got '${raw}'`);
  return value;
}

/**
 * A flag that must be a positive whole number: its value, or `fallback` when
 * absent (which may be `Infinity`, meaning "no limit").
 *
 * @example Reading --burst
 * ```ts
 * import { positiveInteger } from "./parse_flags.ts";
 *
 * console.log(positiveInteger("burst", "2", 1)); // 2
 * ```
 */
export function positiveInteger(flag: string, raw: string | undefined, fallback: number): number {
  // The default may be Infinity ("no limit"), which is not a whole number but is meant.
  if (raw === undefined) return fallback;
  return numberFlag(flag, raw, { min: 1, integer: true, what: "a positive whole number" });
}
