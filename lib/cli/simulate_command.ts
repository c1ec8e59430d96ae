/**
 * `main.ts simulate`: the article's graphs, the AWS contention study and the
 * pacing comparison, in virtual time, as SVG charts plus a terminal table.
 *
 * @module
 */

import { join } from "node:path";
import { simulateAdaptive } from "../simulate/adaptive.ts";
import { simulateArticle } from "../simulate/article.ts";
import { simulateContention } from "../simulate/contention.ts";
import { simulatePacing } from "../simulate/pacing.ts";
import {
  adaptiveChart,
  articleCallsChart,
  articleDeadlineChart,
  type ChartSpec,
  contentionCallsChart,
  contentionTimeChart,
  pacingChart,
  pacingTimelineChart,
  renderSvg,
} from "../simulate/charts.ts";
import {
  formatAdaptive,
  formatArticle,
  formatContention,
  formatPacing,
} from "../simulate/report.ts";
import { closestName } from "./did_you_mean.ts";
import { parseFlags } from "./parse_flags.ts";
import { UsageError } from "./usage_error.ts";

/** The help text of `main.ts simulate`. */
export const SIMULATE_USAGE: string =
  `Usage: main.ts simulate [article|contention|pacing|adaptive|all] [options]

Runs politely's retry, backoff and token bucket in virtual time and draws charts
(needs --allow-read --allow-write).

  article     500 always-failing tasks, 300 s budget: calls per second for
              constant, exponential and jittered backoff, and the deadline herd
  contention  the AWS "Exponential Backoff And Jitter" study: C clients write
              one row under optimistic concurrency, C = 10 … 190
  pacing      N tasks against a server limit: retry-on-429 vs token-bucket pacing
  adaptive    an unknown limit that changes (20/s, 8/s, 30/s): politely's learner
              next to the AWS SDK's (CUBIC), sending and accepted rate, 429s
  all         all four (the default)

Options:
  --out DIR     where to write the SVG charts (default ./simulations)
  --seed N      seed for every random draw; same seed, same output (default 1)
  --runs N      runs averaged per contention point (default 20; pacing uses half)
  --json        print the numbers as JSON on stdout instead of tables
  --quiet       no progress on stderr
  -h, --help    show this help
`;

/** Where {@linkcode runSimulateCommand} writes; the console by default. */
export interface SimulateCommandIo {
  /**
   * Receives standard output, a line at a time.
   *
   * @default {console.log}
   */
  stdout?: (line: string) => void;
  /**
   * Receives progress, a line at a time.
   *
   * @default {console.error}
   */
  stderr?: (line: string) => void;
}

type Which = "article" | "contention" | "pacing" | "adaptive" | "all";

interface Flags {
  which: Which;
  out: string;
  seed: number;
  runs: number;
  json: boolean;
  quiet: boolean;
  help: boolean;
}

function parseInteger(flag: string, text: string, min: number): number {
  const value = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(
      `--${flag} must be an integer${min > 0 ? ` >= ${min}` : ""}, got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

function parseSimulateFlags(args: string[]): Flags {
  const { values, positionals } = parseFlags("simulate", args, {
    out: { type: "string" },
    seed: { type: "string" },
    runs: { type: "string" },
    json: { type: "boolean" },
    quiet: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, { allowPositionals: true });
  if (positionals.length > 1) {
    throw new UsageError(
      `simulate takes one of article, contention, pacing, adaptive or all, got ${
        positionals.join(" ")
      }`,
    );
  }
  const which = positionals[0] ?? "all";
  const simulations = ["article", "contention", "pacing", "adaptive", "all"];
  if (!simulations.includes(which)) {
    const guess = closestName(which, simulations);
    throw new UsageError(
      `unknown simulation ${JSON.stringify(which)}` +
        (guess === undefined ? "" : ` (did you mean ${guess}?)`) +
        ": choose article, contention, pacing, adaptive or all",
    );
  }
  if (values.out !== undefined && values.out.trim() === "") {
    throw new UsageError("--out must name a directory");
  }
  return {
    which: which as Which,
    out: values.out ?? "simulations",
    seed: values.seed === undefined ? 1 : parseInteger("seed", values.seed, 0),
    runs: values.runs === undefined ? 20 : parseInteger("runs", values.runs, 1),
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    help: values.help ?? false,
  };
}

/**
 * Run `main.ts simulate` with the arguments after `simulate`; resolve to the
 * exit code (0).
 *
 * @throws {UsageError} for a bad flag or an `--out` directory that cannot be
 * written: `main.ts` prints its one-line message and exits 2.
 *
 * @example The article's graphs into a temporary directory
 * ```ts
 * import { runSimulateCommand } from "./simulate_command.ts";
 *
 * const out = await Deno.makeTempDir();
 * const code = await runSimulateCommand(["article", "--out", out, "--quiet"]);
 * console.log(code); // 0
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function runSimulateCommand(
  args: string[],
  io: SimulateCommandIo = {},
): Promise<number> {
  const { stdout = console.log, stderr = console.error } = io;
  const flags = parseSimulateFlags(args);
  if (flags.help) {
    stdout(SIMULATE_USAGE);
    return 0;
  }

  const { which, out, seed, runs, json, quiet } = flags;
  const charts: Array<[string, ChartSpec]> = [];
  const tables: string[] = [];
  const numbers: Record<string, unknown> = {};

  if (which === "article" || which === "all") {
    const result = await simulateArticle({ seed });
    charts.push(
      ["article-calls.svg", articleCallsChart(result)],
      ["article-deadline.svg", articleDeadlineChart(result)],
    );
    tables.push(formatArticle(result));
    numbers.article = result;
  }
  if (which === "contention" || which === "all") {
    const startMs = performance.now();
    const result = await simulateContention({
      seed,
      runs,
      onProgress: (done, total) => {
        // Only worth saying when it takes a while.
        if (quiet || performance.now() - startMs < 1_000) return;
        stderr(`contention: ${done}/${total} runs (${Math.round((100 * done) / total)}%)`);
      },
    });
    charts.push(
      ["contention-calls.svg", contentionCallsChart(result)],
      ["contention-time.svg", contentionTimeChart(result)],
    );
    tables.push(formatContention(result));
    numbers.contention = result;
  }
  if (which === "pacing" || which === "all") {
    const result = await simulatePacing({ seed, runs: Math.max(1, Math.round(runs / 2)) });
    charts.push(
      ["pacing.svg", pacingChart(result)],
      ["pacing-timeline.svg", pacingTimelineChart(result)],
    );
    tables.push(formatPacing(result));
    numbers.pacing = result;
  }
  if (which === "adaptive" || which === "all") {
    const result = await simulateAdaptive();
    charts.push(["adaptive.svg", adaptiveChart(result)]);
    tables.push(formatAdaptive(result));
    numbers.adaptive = result;
  }

  const written: string[] = [];
  try {
    await Deno.mkdir(out, { recursive: true });
    for (const [name, spec] of charts) {
      const path = join(out, name);
      await Deno.writeTextFile(path, await renderSvg(spec));
      written.push(path);
    }
  } catch (error: unknown) {
    // A directory we cannot create or write (or no --allow-write): say where, in one line.
    const isFileError = Object.values(Deno.errors).some((Kind) => error instanceof Kind);
    if (!isFileError || !(error instanceof Error)) throw error;
    throw new UsageError(`cannot write the charts to ${out}: ${error.message.split("\n")[0]}`);
  }
  if (json) {
    stdout(JSON.stringify(numbers, null, 2));
  } else {
    stdout([...tables, `charts: ${written.join(", ")}`].join("\n\n"));
  }
  return 0;
}
