// Timings of `main.ts simulate` in virtual time. Targets (2-core machine):
// article < 2 s, contention (19 client counts × 5 strategies × 20 runs) < 30 s.
// Run: deno task bench bench/simulate_bench.ts
import { simulateArticle } from "../lib/simulate/article.ts";
import { simulateContention } from "../lib/simulate/contention.ts";
import { simulatePacing } from "../lib/simulate/pacing.ts";
import {
  articleCallsChart,
  articleDeadlineChart,
  contentionCallsChart,
  contentionTimeChart,
  pacingChart,
  pacingTimelineChart,
  renderSvg,
} from "../lib/simulate/charts.ts";

Deno.bench({
  name: "simulate article: 500 tasks × 5 strategies, 300 s budget, + deadline runs",
  n: 3,
  warmup: 1,
  fn: async () => {
    await simulateArticle();
  },
});

Deno.bench({
  name: "simulate contention: C = 10 … 190 × 5 strategies × 20 runs",
  n: 1,
  warmup: 0,
  fn: async () => {
    await simulateContention({ runs: 20 });
  },
});

Deno.bench({
  name: "simulate contention: C = 100 × 5 strategies × 20 runs",
  n: 2,
  warmup: 1,
  fn: async () => {
    await simulateContention({ clientCounts: [100], runs: 20 });
  },
});

Deno.bench({
  name: "simulate pacing: N = 25 … 300 × 2 approaches × 10 runs",
  n: 3,
  warmup: 1,
  fn: async () => {
    await simulatePacing();
  },
});

const article = await simulateArticle();
const contention = await simulateContention({ runs: 1 });
const pacing = await simulatePacing({ runs: 1 });

Deno.bench({
  name: "render the six charts to SVG",
  n: 3,
  warmup: 1,
  fn: async () => {
    for (
      const spec of [
        articleCallsChart(article),
        articleDeadlineChart(article),
        contentionCallsChart(contention),
        contentionTimeChart(contention),
        pacingChart(pacing),
        pacingTimelineChart(pacing),
      ]
    ) {
      await renderSvg(spec);
    }
  },
});
