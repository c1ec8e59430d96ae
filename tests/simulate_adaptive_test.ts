import assert from "node:assert/strict";
import { join } from "node:path";
import { runSimulateCommand } from "../lib/cli/simulate_command.ts";
import { DefaultRateLimiter } from "../lib/deps/smithy_util_retry.ts";
import { ADAPTIVE_LEARNERS, simulateAdaptive } from "../lib/simulate/adaptive.ts";
import { adaptiveChart, renderSvg } from "../lib/simulate/charts.ts";
import { formatAdaptive } from "../lib/simulate/report.ts";

Deno.test("simulateAdaptive() runs both learners against a limit that falls and rises, the same every time", async () => {
  const first = await simulateAdaptive();
  assert.deepEqual(await simulateAdaptive(), first, "virtual time: no wall clock, no randomness");
  assert.deepEqual(first.timelines.map((t) => t.learner), [...ADAPTIVE_LEARNERS]);
  const { phases, binMs, burst } = first.settings;
  assert.deepEqual(phases.map((p) => p.ratePerSecond), [20, 8, 30]);
  for (const t of first.timelines) {
    assert.equal(t.sent.length, 60_000 / binMs);
    const accepted = t.accepted.reduce((a, b) => a + b);
    const throttled = t.throttledAtMs.length;
    assert.equal(t.phases.reduce((sum, p) => sum + p.throttled, 0), throttled);
    // Every request that reached the server in time was either accepted or throttled.
    assert.ok(t.sent.reduce((a, b) => a + b) >= accepted + throttled);
    let startMs = 0;
    for (const [i, phase] of phases.entries()) {
      const summary = t.phases[i]!;
      // The server is strict: never more than its limit plus one burst.
      assert.ok(
        summary.acceptedPerSecond * phase.durationMs / 1000 <=
          phase.ratePerSecond * phase.durationMs / 1000 + burst,
      );
      // In the second half of each phase the learner has found the new limit.
      const from = (startMs + phase.durationMs / 2) / binMs;
      const to = (startMs + phase.durationMs) / binMs;
      const late = t.accepted.slice(from, to).reduce((a, b) => a + b) / (phase.durationMs / 2000);
      assert.ok(
        late >= 0.6 * phase.ratePerSecond,
        `${t.learner} accepts ${late}/s late in the ${phase.ratePerSecond}/s phase`,
      );
      assert.ok(summary.throttled <= 0.1 * summary.sent, `${t.learner}: ${summary.throttled} 429s`);
      startMs += phase.durationMs;
    }
  }
});

Deno.test("simulateAdaptive() gives the AWS learner back its real timer", async () => {
  const seam = DefaultRateLimiter as unknown as { setTimeoutFn: unknown };
  const before = seam.setTimeoutFn;
  await simulateAdaptive({ phases: [{ ratePerSecond: 5, durationMs: 2_000 }] });
  assert.equal(seam.setTimeoutFn, before);
});

Deno.test("simulateAdaptive() rejects phases, concurrency and timings it cannot run", async () => {
  await assert.rejects(() => simulateAdaptive({ phases: [] }), RangeError);
  await assert.rejects(
    () => simulateAdaptive({ phases: [{ ratePerSecond: 0, durationMs: 1_000 }] }),
    /each with a positive rate and duration/,
  );
  await assert.rejects(
    () => simulateAdaptive({ concurrency: 0.5 }),
    /'concurrency' must be a positive integer, current value is 0.5/,
  );
  await assert.rejects(() => simulateAdaptive({ binMs: 0 }), RangeError);
});

Deno.test("adaptiveChart() and formatAdaptive() show both learners, the limit and the 429s", async () => {
  const result = await simulateAdaptive({
    phases: [{ ratePerSecond: 10, durationMs: 4_000 }, { ratePerSecond: 4, durationMs: 4_000 }],
  });
  const svg = await renderSvg(adaptiveChart(result));
  assert.equal(await renderSvg(adaptiveChart(result)), svg, "same result, same bytes");
  for (const text of ["AWS SDK adaptive mode", "politely", "a 429", "10/s → 4/s"]) {
    assert.ok(svg.includes(text), text);
  }
  const table = formatAdaptive(result);
  assert.match(table, /^adaptive: an unknown limit that changes \(burst 2, no hints\)/);
  assert.equal(table.split("\n").length, 2 + 2 * 2, table);
});

Deno.test("main.ts simulate adaptive writes adaptive.svg and prints the table", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out: string[] = [];
    const code = await runSimulateCommand(["adaptive", "--out", dir, "--quiet"], {
      stdout: (line) => out.push(line),
    });
    assert.equal(code, 0);
    assert.ok((await Deno.readTextFile(join(dir, "adaptive.svg"))).startsWith("<svg"));
    assert.match(out.join("\n"), /^learner +limit +accepted/m);
    assert.match(out.join("\n"), /charts: .*adaptive\.svg$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
