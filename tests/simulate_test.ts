import assert from "node:assert/strict";
import { join } from "node:path";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { createBackoff } from "../lib/core/backoff.ts";
import {
  type ArticleResult,
  retryLikePythonBackoff,
  simulateArticle,
} from "../lib/simulate/article.ts";
import {
  AWS_REFERENCE_AT_100,
  type ContentionPoint,
  type ContentionStrategy,
  simulateContention,
} from "../lib/simulate/contention.ts";
import { runPacingWorld, simulatePacing } from "../lib/simulate/pacing.ts";
import { createNormal, createRandom, deriveSeed } from "../lib/core/seeded_random.ts";
import { TickClock } from "../lib/simulate/tick_clock.ts";
import { articleCallsChart, contentionTimeChart, renderSvg } from "../lib/simulate/charts.ts";
import { runSimulateCommand } from "../lib/cli/simulate_command.ts";
import { UsageError } from "../lib/cli/usage_error.ts";

// The full article run takes about half a second; several tests read it.
let fullArticle: Promise<ArticleResult> | undefined;
const article = (): Promise<ArticleResult> => (fullArticle ??= simulateArticle());
const seriesOf = async (strategy: string) => {
  const series = (await article()).series.find((s) => s.strategy === strategy);
  assert.ok(series, strategy);
  return series;
};

Deno.test("createRandom() repeats its stream for a seed and differs across seeds", () => {
  const draw = (seed: number) => Array.from({ length: 5 }, createRandom(seed));
  assert.deepEqual(draw(1), draw(1));
  assert.notDeepEqual(draw(1), draw(2));
  assert.notEqual(deriveSeed(1, "full", 100, 0), deriveSeed(1, "full", 100, 1));
  const random = createRandom(3);
  for (let i = 0; i < 1_000; i++) {
    const r = random();
    assert.ok(r >= 0 && r < 1, String(r));
  }
});

Deno.test("createNormal() has the asked mean and standard deviation", () => {
  const normal = createNormal(createRandom(9), 10, 2);
  const xs = Array.from({ length: 20_000 }, normal);
  const mean = xs.reduce((a, b) => a + b) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
  assert.ok(Math.abs(mean - 10) < 0.05, `mean ${mean}`);
  assert.ok(Math.abs(sd - 2) < 0.05, `sd ${sd}`);
});

Deno.test("TickClock rounds sleeps to its tick and shares instants", async () => {
  const fake = new FakeClock();
  const clock = new TickClock(fake, 1);
  const woke: number[] = [];
  const sleeps = [9.6, 10.4, 0.2].map((ms) => clock.sleep(ms).then(() => woke.push(clock.now())));
  await fake.runAll();
  await Promise.all(sleeps);
  assert.deepEqual(woke, [0, 10, 10]);
  assert.throws(() => new TickClock(fake, 0), RangeError);
});

Deno.test("simulateArticle() gives identical numbers for the same seed", async () => {
  const options = { tasks: 50, budgetMs: 60_000 };
  const a = await simulateArticle({ ...options, seed: 7 });
  const b = await simulateArticle({ ...options, seed: 7 });
  const c = await simulateArticle({ ...options, seed: 8 });
  assert.deepEqual(a, b);
  assert.notDeepEqual(
    a.series.find((s) => s.strategy === "full"),
    c.series.find((s) => s.strategy === "full"),
  );
});

Deno.test("simulateArticle() with constant backoff makes 500 calls in every second", async () => {
  const constant = await seriesOf("constant");
  assert.equal(constant.callsPerSecond.length, 301); // seconds 0 … 300
  assert.ok(constant.callsPerSecond.every((calls) => calls === 500));
  assert.equal(constant.totalCalls, 500 * 301);
  assert.equal(constant.peakToMean, 1);
});

Deno.test("simulateArticle() without jitter bunches every call at the 2ᵏ − 1 s marks", async () => {
  const expo = await seriesOf("exponential");
  const busy = expo.callsPerSecond.flatMap((calls, second) => (calls > 0 ? [second] : []));
  // Delays 1, 2, 4 … s put the k-th retry at 2ᵏ − 1 s; the 256 s delay after
  // 255 s would pass the 300 s budget, so every task gives up there.
  assert.deepEqual(busy, [0, 1, 3, 7, 15, 31, 63, 127, 255]);
  assert.ok(busy.every((second) => expo.callsPerSecond[second] === 500));
  // From 10 s on: five seconds of 500 calls in 290, a mean of 8.6/s.
  assert.ok(expo.peakToMean > 30, `peak/mean ${expo.peakToMean}`);
});

Deno.test("simulateArticle() with full jitter cuts peak-to-mean at least fivefold", async () => {
  const expo = await seriesOf("exponential");
  const full = await seriesOf("full");
  assert.ok(full.peakToMean * 5 <= expo.peakToMean, `${full.peakToMean} vs ${expo.peakToMean}`);
  // Spread out, yet about as much work: 4,500 calls without jitter, ~5,000 with.
  assert.ok(full.totalCalls < 1.25 * expo.totalCalls, String(full.totalCalls));
});

Deno.test("simulateArticle() shows Python backoff's deadline herd and none with retry()", async () => {
  const { deadline } = await article();
  assert.equal(deadline.length, 6);
  for (const series of deadline) {
    if (series.rule === "python-backoff") {
      // Every task is still running at 300 s and calls once more, together.
      assert.equal(series.callsAtDeadline, 500, series.strategy);
      assert.equal(series.callsPerSecond.at(-1), 500, series.strategy);
    } else {
      assert.equal(series.callsAtDeadline, 0, series.strategy);
      assert.ok(series.callsPerSecond.every((calls) => calls < 20), series.strategy);
    }
  }
});

Deno.test("retryLikePythonBackoff() cuts the last sleep to end at max_time, then calls once more", async () => {
  const clock = new FakeClock();
  const times: number[] = [];
  const backoff = createBackoff({ strategy: "exponential", baseMs: 1_000, jitter: "none" });
  const task = retryLikePythonBackoff(() => {
    times.push(clock.now());
    return false;
  }, { clock, backoff, maxTimeMs: 10_000 });
  await clock.runAll();
  assert.equal(await task, false);
  assert.deepEqual(times, [0, 1_000, 3_000, 7_000, 10_000]);
});

const point = (points: ContentionPoint[], strategy: ContentionStrategy, clients: number) => {
  const found = points.find((p) => p.strategy === strategy && p.clients === clients);
  assert.ok(found, `${strategy} at ${clients}`);
  return found;
};

function assertRanking(points: ContentionPoint[], clients: number): void {
  const calls = (s: ContentionStrategy) => point(points, s, clients).calls;
  const time = (s: ContentionStrategy) => point(points, s, clients).timeMs;
  const at = `at C=${clients}`;
  // No jitter is the worst backoff on both counts…
  for (const s of ["full", "equal", "decorrelated"] as const) {
    assert.ok(calls("exponential") > calls(s), `exponential vs ${s} calls ${at}`);
    assert.ok(time("exponential") > time(s), `exponential vs ${s} time ${at}`);
  }
  // …and full jitter does the least work. Equal jitter is a close second (the
  // study has them 2% apart at C=100; at C=150 they are within 1%, less than
  // the run-to-run noise of a few runs), so it gets a 1% tolerance.
  for (const s of ["none", "exponential", "decorrelated"] as const) {
    assert.ok(calls("full") < calls(s), `full vs ${s} calls ${at}`);
  }
  assert.ok(calls("full") <= 1.01 * calls("equal"), `full vs equal calls ${at}`);
}

Deno.test("simulateContention() at C=100 lands within 15% of the study's figures, in its ranking", async () => {
  const { points } = await simulateContention({ clientCounts: [100], runs: 10 });
  for (const [strategy, reference] of Object.entries(AWS_REFERENCE_AT_100)) {
    const p = point(points, strategy as ContentionStrategy, 100);
    const callsOff = Math.abs(p.calls - reference.calls) / reference.calls;
    const timeOff = Math.abs(p.timeMs - reference.timeMs) / reference.timeMs;
    assert.ok(callsOff < 0.15, `${strategy} calls ${p.calls} vs ${reference.calls}`);
    assert.ok(timeOff < 0.15, `${strategy} time ${p.timeMs} vs ${reference.timeMs}`);
  }
  assertRanking(points, 100);
  assert.equal(point(points, "full", 100).calls < point(points, "equal", 100).calls, true);
});

Deno.test("simulateContention() keeps the ranking at C=50 and C=150", async () => {
  const { points } = await simulateContention({ clientCounts: [50, 150], runs: 6 });
  assertRanking(points, 50);
  assertRanking(points, 150);
  assert.equal(point(points, "full", 50).calls < point(points, "equal", 50).calls, true);
});

Deno.test("simulateContention() is deterministic and reports progress", async () => {
  const seen: string[] = [];
  const options = {
    clientCounts: [10, 20],
    runs: 2,
    onProgress: (done: number, total: number) => seen.push(`${done}/${total}`),
  };
  const a = await simulateContention({ ...options, seed: 3 });
  const b = await simulateContention({ ...options, seed: 3 });
  assert.deepEqual(a, b);
  assert.deepEqual(seen, ["10/20", "20/20", "10/20", "20/20"]);
  await assert.rejects(() => simulateContention({ runs: 0 }), RangeError);
});

Deno.test("runPacingWorld(): pacing meets the limit exactly, naive retry wastes requests and time", async () => {
  const run = async (approach: "naive" | "paced") => {
    const clock = new FakeClock();
    const world = runPacingWorld(clock, {
      tasks: 100,
      approach,
      ratePerSecond: 10,
      random: createRandom(1),
    });
    await clock.runAll();
    return await world;
  };
  const paced = await run("paced");
  assert.equal(paced.attempts, 100);
  assert.equal(paced.throttled, 0);
  assert.equal(paced.timeMs, 9_900); // (100 − 1) / 10 s
  const naive = await run("naive");
  assert.equal(naive.attempts - naive.throttled, 100);
  assert.ok(naive.throttled > 100, String(naive.throttled));
  assert.ok(naive.timeMs > 2 * paced.timeMs, String(naive.timeMs));
});

Deno.test("simulatePacing() averages runs and keeps a timeline", async () => {
  const result = await simulatePacing({ taskCounts: [20, 40], runs: 2, timelineTasks: 40 });
  assert.equal(result.points.length, 4);
  const paced = result.points.find((p) => p.approach === "paced" && p.tasks === 40)!;
  assert.equal(paced.timeMs, paced.idealMs);
  assert.equal(result.timelines.length, 2);
  const naiveLine = result.timelines.find((t) => t.approach === "naive")!;
  assert.equal(naiveLine.accepted.reduce((a, b) => a + b), 40);
});

Deno.test("renderSvg() draws the charts, the same bytes for the same result", async () => {
  const result = await simulateArticle({ tasks: 20, budgetMs: 30_000 });
  const svg = await renderSvg(articleCallsChart(result));
  assert.ok(svg.startsWith("<svg"), svg.slice(0, 40));
  assert.ok(svg.includes("exponential + full jitter"));
  assert.equal(await renderSvg(articleCallsChart(result)), svg);
  const contention = await simulateContention({ clientCounts: [10, 20], runs: 1 });
  assert.ok((await renderSvg(contentionTimeChart(contention))).includes("completion time"));
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l) },
  };
}

Deno.test("runSimulateCommand() rejects bad flags with a one-line UsageError", async () => {
  for (
    const args of [
      ["--bogus"],
      ["sideways"],
      ["article", "pacing"],
      ["--seed", "x"],
      ["--runs", "0"],
      ["--runs", "-3"],
      ["--out"],
    ]
  ) {
    const { out, err, io } = capture();
    await assert.rejects(() => runSimulateCommand(args, io), UsageError, args.join(" "));
    assert.equal(out.length + err.length, 0, args.join(" "));
  }
  await assert.rejects(
    () => runSimulateCommand(["--runs", "-3"]),
    (error: unknown) => error instanceof UsageError && !error.message.includes("\n"),
  );
  await assert.rejects(
    () => runSimulateCommand(["--runs", "0"]),
    (error: unknown) =>
      error instanceof UsageError && !error.message.includes("\n") &&
      /--runs must be an integer >= 1/.test(error.message),
  );
});

Deno.test("main.ts simulate with a bad flag prints one line and exits 2", async () => {
  const main = new URL("../main.ts", import.meta.url);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", main.pathname, "simulate", "--bogus"],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr).trim();
  assert.equal(output.code, 2, stderr);
  assert.equal(stderr.split("\n").length, 1, stderr);
  assert.match(stderr, /bogus/);
});

Deno.test("runSimulateCommand() --help prints the usage", async () => {
  const { out, io } = capture();
  assert.equal(await runSimulateCommand(["--help"], io), 0);
  assert.match(out.join("\n"), /Usage: main\.ts simulate/);
});

Deno.test("runSimulateCommand() writes charts and the same JSON for the same seed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const run = async (seed: string) => {
      const { out, io } = capture();
      const args = ["pacing", "--out", dir, "--runs", "2", "--seed", seed, "--json"];
      assert.equal(await runSimulateCommand(args, io), 0);
      return out.join("\n");
    };
    const first = await run("5");
    const svg = await Deno.readTextFile(join(dir, "pacing.svg"));
    assert.equal(await run("5"), first);
    assert.equal(await Deno.readTextFile(join(dir, "pacing.svg")), svg);
    assert.notEqual(await run("6"), first);
    const numbers = JSON.parse(first);
    assert.equal(numbers.pacing.settings.seed, 5);
    assert.ok(svg.startsWith("<svg"));
    const { out, io } = capture();
    assert.equal(await runSimulateCommand(["pacing", "--out", dir, "--runs", "2"], io), 0);
    assert.match(out.join("\n"), /paced/);
    assert.match(out.join("\n"), /pacing-timeline\.svg/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("runSimulateCommand() reports an unwritable --out as a one-line UsageError", async () => {
  const file = await Deno.makeTempFile();
  try {
    const { out, io } = capture();
    await assert.rejects(
      () => runSimulateCommand(["pacing", "--runs", "1", "--out", file], io),
      (error: unknown) =>
        error instanceof UsageError && error.message.startsWith("cannot write the charts to ") &&
        !error.message.includes("\n"),
    );
    assert.equal(out.length, 0);
  } finally {
    await Deno.remove(file);
  }
});
