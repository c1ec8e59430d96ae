/**
 * Charts of the simulations, as vega-lite specs rendered to SVG headless.
 *
 * Each `*Chart` function turns a simulation result into a vega-lite spec (plain
 * data, easy to test or to open in the vega editor); {@linkcode renderSvg}
 * draws one. Nothing here reads the clock or randomness: the same result gives
 * byte-identical SVG.
 *
 * @module
 */

import { type TopLevelSpec, vega, vl } from "../deps/vega.ts";
import type { ArticleResult, ArticleStrategy } from "./article.ts";
import type { ContentionResult, ContentionStrategy } from "./contention.ts";
import type { PacingApproach, PacingResult } from "./pacing.ts";
import type { AdaptiveLearner, AdaptiveResult } from "./adaptive.ts";

export type * from "./article.ts";
export type * from "./contention.ts";
export type * from "./pacing.ts";
export type * from "./adaptive.ts";

/** A vega-lite spec, as the chart functions return it. */
export type ChartSpec = TopLevelSpec;

const ARTICLE_LABELS: Record<ArticleStrategy, string> = {
  constant: "constant 1 s",
  exponential: "exponential, no jitter",
  full: "exponential + full jitter",
  equal: "exponential + equal jitter",
  decorrelated: "decorrelated jitter",
};

const CONTENTION_LABELS: Record<ContentionStrategy, string> = {
  none: "no backoff",
  exponential: "exponential, no jitter",
  full: "full jitter",
  equal: "equal jitter",
  decorrelated: "decorrelated jitter",
};

const PACING_LABELS: Record<PacingApproach, string> = {
  naive: "naive: retry 429 (exponential + full jitter)",
  paced: "paced: token bucket at the limit",
};

const ADAPTIVE_LABELS: Record<AdaptiveLearner, string> = {
  politely: "politely's learner",
  aws: "AWS SDK adaptive mode (DefaultRateLimiter, CUBIC)",
};

// One colour per idea, the same in every chart (Tableau 10).
const COLORS = {
  none: "#e15759",
  constant: "#e15759",
  exponential: "#f28e2b",
  full: "#4e79a7",
  equal: "#59a14f",
  decorrelated: "#b07aa1",
  naive: "#e15759",
  paced: "#4e79a7",
  python: "#e15759",
  politely: "#4e79a7",
} as const;

const CONFIG = {
  font: "Helvetica, Arial, sans-serif",
  view: { stroke: "#ddd" },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: "#eee" },
  legend: {
    labelFontSize: 11,
    titleFontSize: 12,
    orient: "bottom",
    direction: "vertical",
    labelLimit: 0,
  },
  header: { labelFontSize: 12, titleFontSize: 12 },
  title: { fontSize: 15, subtitleFontSize: 12, subtitleColor: "#555", anchor: "start" },
} as const;

function colorScale<K extends string>(
  keys: readonly K[],
  labels: Record<K, string>,
  colors: (key: K) => string,
): { domain: string[]; range: string[] } {
  return { domain: keys.map((k) => labels[k]), range: keys.map(colors) };
}

/** One row per strategy, labelled above its panel, in the order given. */
function strategyRows(strategies: readonly ArticleStrategy[]) {
  return {
    row: {
      field: "strategy",
      type: "nominal" as const,
      sort: strategies.map((k) => ARTICLE_LABELS[k]),
      title: null,
      header: {
        labelAngle: 0,
        labelAlign: "left" as const,
        labelAnchor: "start" as const,
        labelOrient: "top" as const,
      },
    },
  };
}

/**
 * Calls per second over the whole budget, one panel per strategy, all on the
 * same axes (a square-root y scale, so both 500 calls/s and a handful show).
 *
 * @example Building and drawing the chart
 * ```ts
 * import { simulateArticle } from "./article.ts";
 * import { articleCallsChart, renderSvg } from "./charts.ts";
 *
 * const result = await simulateArticle({ tasks: 20, budgetMs: 20_000 });
 * const svg = await renderSvg(articleCallsChart(result));
 * console.log(svg.startsWith("<svg")); // true
 * ```
 */
export function articleCallsChart(result: ArticleResult): ChartSpec {
  const { tasks, budgetMs } = result.settings;
  const values = result.series.flatMap((series) =>
    series.callsPerSecond.map((calls, second) => ({
      strategy: ARTICLE_LABELS[series.strategy],
      second,
      calls,
    }))
  );
  const keys = result.series.map((s) => s.strategy);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `${tasks} always-failing tasks, ${budgetMs / 1_000} s budget: calls per second`,
      subtitle: "politely's retry in virtual time; one panel per backoff strategy, shared axes",
    },
    config: CONFIG,
    data: { values },
    facet: strategyRows(keys),
    spacing: 8,
    spec: {
      width: 640,
      height: 80,
      mark: { type: "area", interpolate: "step-after", line: true, opacity: 0.35 },
      encoding: {
        x: {
          field: "second",
          type: "quantitative",
          title: "time (s)",
          scale: { domain: [0, Math.ceil(budgetMs / 1_000) + 1], nice: false },
        },
        y: {
          field: "calls",
          type: "quantitative",
          title: "calls/s (√ scale)",
          scale: { type: "sqrt" },
          stack: null,
          axis: { tickCount: 4 },
        },
        color: {
          field: "strategy",
          type: "nominal",
          legend: null,
          scale: colorScale(keys, ARTICLE_LABELS, (k) => COLORS[k]),
        },
      },
    },
  };
}

/**
 * The last seconds before the deadline: Python `backoff`'s rule (cut the last
 * sleep to end at the deadline) against politely's (give up instead), for each
 * jittered strategy.
 *
 * @example Drawing the deadline chart
 * ```ts
 * import { simulateArticle } from "./article.ts";
 * import { articleDeadlineChart, renderSvg } from "./charts.ts";
 *
 * const result = await simulateArticle({ tasks: 20, budgetMs: 20_000, strategies: ["full"] });
 * const svg = await renderSvg(articleDeadlineChart(result));
 * console.log(svg.includes("deadline")); // true
 * ```
 */
export function articleDeadlineChart(result: ArticleResult): ChartSpec {
  const { budgetMs } = result.settings;
  const ruleLabel = {
    "python-backoff": "Python backoff: last sleep cut to end at the deadline",
    politely: "politely: give up when the next sleep would pass the deadline",
  } as const;
  const values = result.deadline.flatMap((series) =>
    series.callsPerSecond.map((calls, i) => ({
      strategy: ARTICLE_LABELS[series.strategy],
      rule: ruleLabel[series.rule],
      second: series.fromS + i,
      calls,
    }))
  );
  const strategies = [...new Set(result.deadline.map((d) => d.strategy))];
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `The last seconds before the ${budgetMs / 1_000} s deadline`,
      subtitle:
        "calls per second; every jittered task still running calls once more at the deadline",
    },
    config: CONFIG,
    data: { values },
    facet: strategyRows(strategies),
    spacing: 8,
    spec: {
      width: 640,
      height: 90,
      mark: { type: "bar" },
      encoding: {
        x: {
          field: "second",
          type: "ordinal",
          title: "time (s)",
          axis: { labelAngle: 0, labelExpr: "datum.value % 5 === 0 ? datum.value : ''" },
        },
        xOffset: { field: "rule", type: "nominal" },
        y: { field: "calls", type: "quantitative", title: "calls/s" },
        color: {
          field: "rule",
          type: "nominal",
          title: null,
          scale: {
            domain: [ruleLabel["python-backoff"], ruleLabel.politely],
            range: [COLORS.python, COLORS.politely],
          },
        },
      },
    },
  };
}

function contentionChart(
  result: ContentionResult,
  measure: "calls" | "timeMs",
): ChartSpec {
  const { runs, networkMeanMs, networkSdMs, baseMs, capMs } = result.settings;
  const values = result.points.map((p) => ({
    strategy: CONTENTION_LABELS[p.strategy],
    clients: p.clients,
    value: Math.round(measure === "calls" ? p.calls : p.timeMs),
  }));
  const keys = result.settings.strategies;
  const isTime = measure === "timeMs";
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: isTime
        ? "Time until every client has written (lower is better)"
        : "Total calls: the work done by the server (lower is better)",
      subtitle: [
        "C clients each write one row under optimistic concurrency (the AWS study's setup):",
        `network |N(${networkMeanMs}, ${networkSdMs}) ms| per leg, base ${baseMs} ms, cap ${capMs} ms; mean of ${runs} runs`,
      ],
    },
    config: CONFIG,
    width: 560,
    height: 320,
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "clients", type: "quantitative", title: "clients (C)" },
      y: {
        field: "value",
        type: "quantitative",
        title: isTime ? "completion time (ms, log scale)" : "calls",
        scale: isTime ? { type: "log" } : { zero: true },
      },
      color: {
        field: "strategy",
        type: "nominal",
        title: null,
        sort: keys.map((k) => CONTENTION_LABELS[k]),
        scale: colorScale(keys, CONTENTION_LABELS, (k) => COLORS[k]),
        legend: { orient: "right" },
      },
    },
  };
}

/**
 * Total calls against client count, one line per strategy.
 *
 * @example Drawing the work chart
 * ```ts
 * import { simulateContention } from "./contention.ts";
 * import { contentionCallsChart, renderSvg } from "./charts.ts";
 *
 * const result = await simulateContention({ clientCounts: [10, 20], runs: 1 });
 * const svg = await renderSvg(contentionCallsChart(result));
 * console.log(svg.length > 0); // true
 * ```
 */
export function contentionCallsChart(result: ContentionResult): ChartSpec {
  return contentionChart(result, "calls");
}

/**
 * Completion time against client count, one line per strategy (log scale:
 * exponential backoff without jitter is an order of magnitude slower).
 *
 * @example Drawing the time chart
 * ```ts
 * import { simulateContention } from "./contention.ts";
 * import { contentionTimeChart, renderSvg } from "./charts.ts";
 *
 * const result = await simulateContention({ clientCounts: [10, 20], runs: 1 });
 * const svg = await renderSvg(contentionTimeChart(result));
 * console.log(svg.length > 0); // true
 * ```
 */
export function contentionTimeChart(result: ContentionResult): ChartSpec {
  return contentionChart(result, "timeMs");
}

/**
 * Requests sent and time to finish against the number of tasks, naive retry
 * versus pacing, side by side.
 *
 * @example Drawing the pacing comparison
 * ```ts
 * import { simulatePacing } from "./pacing.ts";
 * import { pacingChart, renderSvg } from "./charts.ts";
 *
 * const result = await simulatePacing({ taskCounts: [10, 20], runs: 1, timelineTasks: 20 });
 * const svg = await renderSvg(pacingChart(result));
 * console.log(svg.length > 0); // true
 * ```
 */
export function pacingChart(result: PacingResult): ChartSpec {
  const { ratePerSecond, burst, runs } = result.settings;
  const approaches = [...new Set(result.points.map((p) => p.approach))];
  const rows = result.points.flatMap((p) => [
    {
      measure: "requests sent",
      approach: PACING_LABELS[p.approach],
      tasks: p.tasks,
      value: Math.round(p.attempts * 10) / 10,
    },
    {
      measure: "time until all accepted (s)",
      approach: PACING_LABELS[p.approach],
      tasks: p.tasks,
      value: Math.round(p.timeMs) / 1_000,
    },
  ]);
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `N tasks against a server limit of ${ratePerSecond}/s (burst ${burst})`,
      subtitle: `naive retry on 429 vs token-bucket pacing; mean of ${runs} runs`,
    },
    config: CONFIG,
    data: { values: rows },
    facet: {
      column: {
        field: "measure",
        type: "nominal",
        title: null,
        sort: ["requests sent", "time until all accepted (s)"],
      },
    },
    resolve: { scale: { y: "independent" } },
    spec: {
      width: 300,
      height: 260,
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "tasks", type: "quantitative", title: "tasks (N)" },
        y: { field: "value", type: "quantitative", title: null },
        color: {
          field: "approach",
          type: "nominal",
          title: null,
          scale: colorScale(approaches, PACING_LABELS, (k) => COLORS[k]),
        },
      },
    },
  };
}

/**
 * Requests over one run, cumulative: sent and accepted, for each approach. The
 * naive client sends most of its requests (and collects most of its 429s) in
 * the first seconds, then accepts the rest in a long, slow tail; the paced one
 * sends exactly what is accepted, at the limit.
 *
 * @example Drawing the timeline
 * ```ts
 * import { simulatePacing } from "./pacing.ts";
 * import { pacingTimelineChart, renderSvg } from "./charts.ts";
 *
 * const result = await simulatePacing({ taskCounts: [20], runs: 1, timelineTasks: 20 });
 * const svg = await renderSvg(pacingTimelineChart(result));
 * console.log(svg.length > 0); // true
 * ```
 */
export function pacingTimelineChart(result: PacingResult): ChartSpec {
  const { ratePerSecond, burst, timelineTasks } = result.settings;
  const values: Array<{ line: string; second: number; requests: number }> = [];
  const lines: string[] = [];
  const colors: string[] = [];
  const dashes: number[][] = [];
  for (const t of result.timelines) {
    const sentLine = `${t.approach}: sent`;
    const acceptedLine = `${t.approach}: accepted`;
    lines.push(sentLine, acceptedLine);
    colors.push(COLORS[t.approach], COLORS[t.approach]);
    dashes.push([1, 0], [5, 3]);
    let sent = 0;
    let accepted = 0;
    values.push({ line: sentLine, second: 0, requests: 0 });
    values.push({ line: acceptedLine, second: 0, requests: 0 });
    t.accepted.forEach((ok, second) => {
      accepted += ok;
      sent += ok + (t.throttled[second] ?? 0);
      values.push({ line: sentLine, second: second + 1, requests: sent });
      values.push({ line: acceptedLine, second: second + 1, requests: accepted });
    });
  }
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `${timelineTasks} tasks against ${ratePerSecond}/s (burst ${burst}): requests so far`,
      subtitle: "one run; solid: requests sent, dashed: requests accepted (the rest got 429)",
    },
    config: CONFIG,
    width: 560,
    height: 300,
    data: { values },
    mark: { type: "line", interpolate: "step-after" },
    encoding: {
      x: { field: "second", type: "quantitative", title: "time (s)" },
      y: { field: "requests", type: "quantitative", title: "requests (cumulative)" },
      color: {
        field: "line",
        type: "nominal",
        title: null,
        sort: lines,
        scale: { domain: lines, range: colors },
        legend: { orient: "right" },
      },
      strokeDash: {
        field: "line",
        type: "nominal",
        sort: lines,
        scale: { domain: lines, range: dashes },
      },
    },
  };
}

/**
 * Learning a limit that changes: for each learner, requests sent and accepted per second
 * against the server's limit over time, with every 429 marked below the curves.
 *
 * @example Drawing the learning chart
 * ```ts
 * import { simulateAdaptive } from "./adaptive.ts";
 * import { adaptiveChart, renderSvg } from "./charts.ts";
 *
 * const result = await simulateAdaptive({ phases: [{ ratePerSecond: 10, durationMs: 3_000 }] });
 * const svg = await renderSvg(adaptiveChart(result));
 * console.log(svg.includes("429")); // true
 * ```
 */
export function adaptiveChart(result: AdaptiveResult): ChartSpec {
  const { phases, burst, binMs, concurrency } = result.settings;
  const series = ["sent per second", "accepted per second", "the server's limit", "a 429"];
  const perSecond = 1000 / binMs;
  const endS = phases.reduce((sum, p) => sum + p.durationMs, 0) / 1000;
  const values: Array<{ learner: string; series: string; second: number; rate?: number }> = [];
  for (const t of result.timelines) {
    const learner = ADAPTIVE_LABELS[t.learner];
    const rate = (s: string, counts: number[]) =>
      counts.forEach((n, i) =>
        values.push({ learner, series: s, second: i / perSecond, rate: n * perSecond })
      );
    rate(series[0]!, t.sent);
    rate(series[1]!, t.accepted);
    let startS = 0;
    for (const phase of phases) {
      values.push({ learner, series: series[2]!, second: startS, rate: phase.ratePerSecond });
      startS += phase.durationMs / 1000;
    }
    values.push({ learner, series: series[2]!, second: endS, rate: phases.at(-1)!.ratePerSecond });
    for (const ms of t.throttledAtMs) {
      values.push({ learner, series: series[3]!, second: ms / 1000 });
    }
  }
  const color = {
    field: "series",
    type: "nominal" as const,
    title: null,
    scale: { domain: series, range: ["#a0cbe8", COLORS.politely, "#555", COLORS.naive] },
  };
  const x = {
    field: "second",
    type: "quantitative" as const,
    title: "time (s)",
    scale: { domain: [0, endS], nice: false },
  };
  const limits = phases.map((p) => `${p.ratePerSecond}/s`).join(" → ");
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `An unknown limit that changes: ${limits} (burst ${burst}, no hints)`,
      subtitle:
        `virtual time, each learner's own code in the same loop (${concurrency} in flight); ` +
        "ticks at the bottom: 429s",
    },
    config: CONFIG,
    data: { values },
    facet: {
      row: {
        field: "learner",
        type: "nominal",
        sort: result.timelines.map((t) => ADAPTIVE_LABELS[t.learner]),
        title: null,
        header: {
          labelAngle: 0,
          labelAlign: "left",
          labelAnchor: "start",
          labelOrient: "top",
        },
      },
    },
    spacing: 10,
    spec: {
      width: 640,
      height: 150,
      layer: [
        {
          transform: [{ filter: `datum.series !== '${series[3]}'` }],
          mark: { type: "line", interpolate: "step-after" },
          encoding: {
            x,
            y: { field: "rate", type: "quantitative", title: "requests/s" },
            color,
            strokeDash: {
              field: "series",
              type: "nominal",
              title: null,
              scale: { domain: series, range: [[1, 0], [1, 0], [4, 3], [1, 0]] },
            },
          },
        },
        {
          transform: [{ filter: `datum.series === '${series[3]}'` }],
          mark: { type: "tick", orient: "vertical", size: 10, thickness: 1 },
          encoding: { x, y: { datum: 0 }, color },
        },
      ],
    },
  };
}

/**
 * Compile a vega-lite spec and render it to an SVG string, headless.
 *
 * @example A tiny bar chart
 * ```ts
 * import { renderSvg } from "./charts.ts";
 *
 * const svg = await renderSvg({
 *   data: { values: [{ x: "a", y: 1 }, { x: "b", y: 2 }] },
 *   mark: "bar",
 *   encoding: { x: { field: "x", type: "nominal" }, y: { field: "y", type: "quantitative" } },
 * });
 * console.log(svg.startsWith("<svg")); // true
 * ```
 */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
