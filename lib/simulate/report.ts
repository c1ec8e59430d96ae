/**
 * Compact terminal tables of the simulation results.
 *
 * @module
 */

import type { ArticleResult } from "./article.ts";
import { AWS_REFERENCE_AT_100, type ContentionResult } from "./contention.ts";
import type { PacingResult } from "./pacing.ts";
import type { AdaptiveResult } from "./adaptive.ts";

export type * from "./article.ts";
export type * from "./contention.ts";
export type * from "./pacing.ts";
export type * from "./adaptive.ts";

function table(header: string[], rows: string[][], alignRight: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => alignRight[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))
      .join("  ").trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

const int = (n: number): string => Math.round(n).toLocaleString("en-US");
const seconds = (ms: number): string => `${(ms / 1_000).toFixed(1)} s`;
const percent = (ours: number, reference: number): string => {
  const delta = (100 * (ours - reference)) / reference;
  return `${delta >= 0 ? "+" : ""}${delta.toFixed(1)}%`;
};

/**
 * The article simulation as a table: calls, bunching, and the deadline herd.
 *
 * @example Printing the table
 * ```ts
 * import { simulateArticle } from "./article.ts";
 * import { formatArticle } from "./report.ts";
 *
 * console.log(formatArticle(await simulateArticle({ tasks: 10, budgetMs: 10_000 })));
 * ```
 */
export function formatArticle(result: ArticleResult): string {
  const { tasks, budgetMs, seed, bunchingFromS } = result.settings;
  const atDeadline = (strategy: string, rule: string): string => {
    const series = result.deadline.find((d) => d.strategy === strategy && d.rule === rule);
    return series ? int(series.callsAtDeadline) : "–";
  };
  const rows = result.series.map((s) => [
    s.strategy,
    int(s.totalCalls),
    int(s.callsPerSecond[0] ?? 0),
    s.peakToMean.toFixed(1),
    seconds(s.lastCallMs),
    atDeadline(s.strategy, "python-backoff"),
    atDeadline(s.strategy, "politely"),
  ]);
  return [
    `article: ${tasks} always-failing tasks, ${
      budgetMs / 1_000
    } s budget, virtual time, seed ${seed}`,
    table(
      [
        "strategy",
        "calls",
        "in 1st s",
        `peak/mean ≥${bunchingFromS} s`,
        "last call",
        "at deadline (py)",
        "(politely)",
      ],
      rows,
      [false, true, true, true, true, true, true],
    ),
  ].join("\n");
}

/**
 * The contention study as a table: calls and time at a few client counts, and
 * the comparison with the published figures at 100 clients.
 *
 * @example Printing the table
 * ```ts
 * import { simulateContention } from "./contention.ts";
 * import { formatContention } from "./report.ts";
 *
 * console.log(formatContention(await simulateContention({ clientCounts: [10], runs: 1 })));
 * ```
 */
export function formatContention(result: ContentionResult): string {
  const { runs, seed, strategies } = result.settings;
  const counts = [...new Set(result.points.map((p) => p.clients))];
  const shown = counts.filter((c) => [50, 100, 150].includes(c));
  const columns = shown.length > 0 ? shown : counts.slice(-3);
  const rows = strategies.map((strategy) => {
    const cells: string[] = [strategy];
    for (const clients of columns) {
      const p = result.points.find((q) => q.strategy === strategy && q.clients === clients);
      cells.push(p ? `${int(p.calls)} / ${int(p.timeMs)}` : "–");
    }
    const at100 = result.points.find((q) => q.strategy === strategy && q.clients === 100);
    if (at100) {
      const ref = AWS_REFERENCE_AT_100[strategy];
      cells.push(
        `${int(ref.calls)} / ${int(ref.timeMs)}`,
        `${percent(at100.calls, ref.calls)} / ${percent(at100.timeMs, ref.timeMs)}`,
      );
    }
    return cells;
  });
  const header = ["strategy", ...columns.map((c) => `C=${c}: calls / ms`)];
  if (counts.includes(100)) header.push("AWS at C=100", "difference");
  return [
    `contention: optimistic concurrency, mean of ${runs} runs per point, seed ${seed}`,
    table(header, rows, header.map((_, i) => i > 0)),
  ].join("\n");
}

/**
 * The pacing comparison as a table.
 *
 * @example Printing the table
 * ```ts
 * import { simulatePacing } from "./pacing.ts";
 * import { formatPacing } from "./report.ts";
 *
 * console.log(formatPacing(await simulatePacing({ taskCounts: [20], runs: 1, timelineTasks: 20 })));
 * ```
 */
export function formatPacing(result: PacingResult): string {
  const { ratePerSecond, burst, runs, seed } = result.settings;
  const counts = [...new Set(result.points.map((p) => p.tasks))];
  const shown = counts.filter((c) => [50, 100, 200, 300].includes(c));
  const rows = result.points
    .filter((p) => (shown.length > 0 ? shown : counts).includes(p.tasks))
    .map((p) => [
      String(p.tasks),
      p.approach,
      int(p.attempts),
      int(p.throttled),
      seconds(p.timeMs),
      seconds(p.idealMs),
    ]);
  return [
    `pacing: server limit ${ratePerSecond}/s (burst ${burst}), mean of ${runs} runs, seed ${seed}`,
    table(
      ["tasks", "approach", "requests", "429s", "time", "ideal"],
      rows,
      [true, false, true, true, true, true],
    ),
  ].join("\n");
}

/**
 * The learning simulation as a table: per learner and per phase of the limit, the accepted
 * rate against the limit and the share of requests answered 429.
 *
 * @example Printing the table
 * ```ts
 * import { simulateAdaptive } from "./adaptive.ts";
 * import { formatAdaptive } from "./report.ts";
 *
 * console.log(formatAdaptive(await simulateAdaptive({ phases: [{ ratePerSecond: 10, durationMs: 5_000 }] })));
 * ```
 */
export function formatAdaptive(result: AdaptiveResult): string {
  const { burst, concurrency, roundTripMs } = result.settings;
  const rows = result.timelines.flatMap((t) =>
    t.phases.map((p) => [
      t.learner,
      `${p.ratePerSecond}/s`,
      `${p.acceptedPerSecond.toFixed(1)}/s`,
      `${((100 * p.acceptedPerSecond) / p.ratePerSecond).toFixed(0)}%`,
      int(p.sent),
      int(p.throttled),
      `${p.sent === 0 ? "0.0" : ((100 * p.throttled) / p.sent).toFixed(1)}%`,
    ])
  );
  return [
    `adaptive: an unknown limit that changes (burst ${burst}, no hints), ${concurrency} in flight, ` +
    `${roundTripMs} ms round trip`,
    table(
      ["learner", "limit", "accepted", "of limit", "sent", "429s", "429 share"],
      rows,
      [false, true, true, true, true, true, true],
    ),
  ].join("\n");
}
