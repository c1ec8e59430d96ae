import assert from "node:assert/strict";
import { FakeClock } from "../lib/core/fake_clock.ts";
import {
  formatSummary,
  Progress,
  type ProgressCounters,
  type ProgressEnv,
  type ProgressWriter,
  type SendSummary,
} from "../lib/send/progress.ts";

const ESC = "\x1b";
const CLEAR = `\r${ESC}[2K`;

class FakeWriter implements ProgressWriter {
  writes: string[] = [];
  constructor(readonly isTerminal: boolean, readonly columns?: number) {}
  write(text: string): void {
    this.writes.push(text);
  }
}

function envOf(values: Record<string, string>): ProgressEnv {
  return { get: (name) => values[name] };
}

function counters(total: number | undefined): ProgressCounters {
  return { total, accepted: 0, failed: 0, uncertain: 0, skipped: 0, throttled: 0 };
}

/** Strip colour codes (not the line control). */
function plain(text: string): string {
  return text.replace(new RegExp(`${ESC}\\[[0-9;]*m`, "g"), "");
}

Deno.test("Progress on a terminal draws one line in place, only when it changes", async () => {
  const clock = new FakeClock();
  const writer = new FakeWriter(true);
  const state = counters(100);
  const progress = new Progress(() => state, { clock, writer, env: envOf({}) });
  progress.start();
  assert.deepEqual(writer.writes.map(plain), [`${CLEAR}0% 0/100 · 0 accepted · 0ms`]);

  await clock.advance(100);
  assert.equal(writer.writes.length, 2); // the elapsed time moved from 0ms to 100ms
  await clock.advance(50);
  assert.equal(writer.writes.length, 2, "no redraw between ticks");

  state.accepted = 5;
  state.throttled = 2;
  await clock.advance(50);
  assert.equal(plain(writer.writes.at(-1)!), `${CLEAR}5% 5/100 · 5 accepted · 2×429 · 200ms`);
  for (const write of writer.writes) assert.ok(!write.includes("\n"), "never a newline");
  progress.stop();
  assert.equal(writer.writes.at(-1), CLEAR, "stop() clears the line");
  assert.equal(clock.pendingSleepers, 0, "stop() leaves no timer");
});

Deno.test("Progress on a terminal redraws at most ten times a second however fast counts change", async () => {
  const clock = new FakeClock();
  const writer = new FakeWriter(true);
  const state = counters(10_000);
  const progress = new Progress(() => state, { clock, writer, env: envOf({}) });
  progress.start();
  for (let step = 0; step < 200; step++) {
    state.accepted += 3;
    await clock.advance(5);
  }
  progress.stop();
  // 1 s of sending: the first draw, ten redraws, and the final clear.
  assert.equal(writer.writes.length, 12);
});

Deno.test("Progress shows the rate over the recent window and an ETA", async () => {
  const clock = new FakeClock();
  const writer = new FakeWriter(true);
  const state = counters(100);
  const progress = new Progress(() => state, { clock, writer, env: envOf({}), windowMs: 10_000 });
  progress.start();
  // 20 s at 4 outcomes/s, then 10 s at 1/s: the window shows only the recent rate.
  for (let second = 0; second < 20; second++) {
    state.accepted += 3;
    state.failed += 1;
    await clock.advance(1_000);
  }
  assert.equal(progress.render(), "80% 80/100 · 60 accepted · 20 failed · 4.00/s · 20s · ETA 5s");
  for (let second = 0; second < 10; second++) {
    state.uncertain += 1;
    await clock.advance(1_000);
  }
  assert.equal(
    progress.render(),
    "90% 90/100 · 60 accepted · 20 failed · 10 uncertain · 1.00/s · 30s · ETA 10s",
  );
  progress.stop();
});

Deno.test("Progress counts journal skips as done but not in the rate", async () => {
  const clock = new FakeClock();
  const state = counters(1_000);
  state.skipped = 400;
  const progress = new Progress(() => state, {
    clock,
    writer: new FakeWriter(true),
    env: envOf({}),
  });
  progress.start();
  for (let second = 0; second < 5; second++) {
    state.accepted += 2;
    await clock.advance(1_000);
  }
  assert.equal(
    progress.render(),
    "41% 410/1,000 · 10 accepted · 400 skipped · 2.00/s · 5s · ETA 4m 55s",
  );
  progress.stop();
});

Deno.test("Progress without a known total shows a count and no ETA", async () => {
  const clock = new FakeClock();
  const state = counters(undefined);
  const progress = new Progress(() => state, {
    clock,
    writer: new FakeWriter(true),
    env: envOf({}),
  });
  progress.start();
  state.accepted = 1_234;
  await clock.advance(2_000);
  assert.equal(progress.render(), "1,234 done · 1,234 accepted · 617/s · 2s");
  progress.stop();
});

Deno.test("Progress off a terminal writes a plain line every 5 s", async () => {
  const clock = new FakeClock();
  const writer = new FakeWriter(false);
  const state = counters(100);
  const progress = new Progress(() => state, { clock, writer, env: envOf({}) });
  progress.start();
  assert.deepEqual(writer.writes, []);
  state.accepted = 5;
  await clock.advance(4_999);
  assert.deepEqual(writer.writes, []);
  await clock.advance(1);
  assert.deepEqual(writer.writes, ["5% 5/100 · 5 accepted · 1.00/s · 5s · ETA 1m 35s\n"]);
  await clock.advance(5_000);
  assert.equal(writer.writes.length, 2, "a line every 5 s even without change");
  progress.stop();
  assert.equal(writer.writes.length, 2, "nothing to clear in a log");
  assert.equal(clock.pendingSleepers, 0);
});

Deno.test("Progress draws nothing and starts no timer when quiet", async () => {
  for (const isTerminal of [true, false]) {
    const clock = new FakeClock();
    const writer = new FakeWriter(isTerminal);
    const progress = new Progress(() => counters(10), { clock, writer, quiet: true });
    progress.start();
    assert.equal(clock.pendingSleepers, 0);
    await clock.advance(60_000);
    progress.stop();
    assert.deepEqual(writer.writes, []);
  }
});

Deno.test("Progress colours only on a terminal and never when NO_COLOR is set", () => {
  const state = counters(10);
  state.accepted = 1;
  state.failed = 1;
  const drawn = (writer: FakeWriter, env: Record<string, string>): string => {
    const progress = new Progress(() => state, { clock: new FakeClock(), writer, env: envOf(env) });
    progress.start();
    progress.stop();
    return writer.writes[0] ?? "";
  };
  const coloured = drawn(new FakeWriter(true), {});
  assert.ok(coloured.includes("\x1b[32m1 accepted\x1b[0m"), JSON.stringify(coloured));
  assert.ok(coloured.includes("\x1b[31m1 failed\x1b[0m"));
  assert.ok(drawn(new FakeWriter(true), { NO_COLOR: "" }).includes("\x1b[32m"), "empty NO_COLOR");
  const noColor = drawn(new FakeWriter(true), { NO_COLOR: "1" });
  assert.equal(noColor, `${CLEAR}20% 2/10 · 1 accepted · 1 failed · 0ms`);
});

Deno.test("Progress cuts the line to the terminal width so it never wraps", () => {
  const writer = new FakeWriter(true, 30);
  const state = counters(100);
  state.accepted = 50;
  state.failed = 2;
  const progress = new Progress(() => state, {
    clock: new FakeClock(),
    writer,
    env: envOf({ NO_COLOR: "1" }),
  });
  progress.start();
  progress.stop();
  assert.equal(writer.writes[0], `${CLEAR}52% 52/100 · 50 accepted · 2…`);
  assert.equal(writer.writes[0]!.length - CLEAR.length, 29);
});

Deno.test("Progress.log() prints a message above the progress line", () => {
  const clock = new FakeClock();
  const writer = new FakeWriter(true);
  const progress = new Progress(() => counters(10), {
    clock,
    writer,
    env: envOf({ NO_COLOR: "1" }),
  });
  progress.start();
  progress.log("recipients.csv:3: skipped");
  assert.equal(
    writer.writes.at(-1),
    `${CLEAR}recipients.csv:3: skipped\n0% 0/10 · 0 accepted · 0ms`,
  );
  progress.stop();
  progress.log("after");
  assert.equal(writer.writes.at(-1), "after\n");
  const log = new FakeWriter(false);
  const quiet = new Progress(() => counters(10), { clock, writer: log, quiet: true });
  quiet.log("still shown");
  assert.deepEqual(log.writes, ["still shown\n"]);
});

Deno.test("Progress stops drawing instead of throwing when the writer fails", async () => {
  const clock = new FakeClock();
  let calls = 0;
  const writer: ProgressWriter = {
    isTerminal: true,
    write() {
      calls++;
      throw new Deno.errors.BrokenPipe("stderr closed");
    },
  };
  const state = counters(10);
  const progress = new Progress(() => state, { clock, writer, env: envOf({}) });
  progress.start();
  state.accepted = 1;
  await clock.advance(1_000);
  progress.stop();
  assert.equal(calls, 1);
  assert.equal(clock.pendingSleepers, 0);
});

Deno.test("Progress with the real clock clears its timer on stop()", async () => {
  const writer = new FakeWriter(true);
  const progress = new Progress(() => counters(10), { writer, env: envOf({}), redrawMs: 5 });
  progress.start();
  await new Promise((resolve) => setTimeout(resolve, 30));
  progress.stop();
  assert.ok(writer.writes.length >= 2);
  // The test sanitizer fails this test if the timer were still pending.
});

Deno.test("Progress rejects a non-positive interval", () => {
  assert.throws(
    () => new Progress(() => counters(1), { redrawMs: 0, writer: new FakeWriter(true) }),
    new RangeError(
      "Cannot create Progress: 'redrawMs' must be a positive number, current value is 0",
    ),
  );
});

const summary: SendSummary = {
  total: 10_000,
  accepted: 9_890,
  failed: 30,
  failedByReason: {
    "422 Invalid Parameters: 'to' is not a valid number": 20,
    "400 Bad Request": 10,
  },
  uncertain: 20,
  skipped: 50,
  pending: 10,
  invalid: 3,
  duplicates: 2,
  attempts: 9_952,
  throttled: 12,
  elapsedMs: 9_960_000,
  ratePerSecond: 1,
  requestRatePerSecond: (9_952 - 1) / 9_960,
  achievedRatePerSecond: (9_890 - 1) / 9_960,
};

Deno.test("formatSummary() reports every outcome, failures by reason, 429s and the rate", () => {
  assert.equal(
    formatSummary(summary),
    [
      "Done in 2h 46m 00s.",
      "  accepted    9,890",
      "  failed         30",
      "                 20  422 Invalid Parameters: 'to' is not a valid number",
      "                 10  400 Bad Request",
      "  uncertain      20  may have been accepted; rerun with --resend-uncertain to send them again",
      "  skipped        50  already decided in the journal",
      "  pending        10  not sent because the run stopped",
      "  invalid         3  input lines skipped",
      "  duplicates      2  listed more than once, sent once",
      "  attempts    9,952  12 answered 429 Too Many Requests",
      "  rate         1.00 requests/s achieved (0.99 accepted/s), 1/s configured",
    ].join("\n"),
  );
});

Deno.test("formatSummary() shows a limit learned from 429s below the configured rate", () => {
  const text = formatSummary({ ...summary, ratePerSecond: 40, learnedLimitPerSecond: 19.84 });
  assert.equal(
    text.split("\n").at(-1),
    "  limit        19.8/s learned from 429s (below the configured rate)",
  );
  assert.ok(!formatSummary(summary).includes("learned"));
});

Deno.test("formatSummary() leads with the stop reason and leaves out empty rows", () => {
  const text = formatSummary({
    total: 5,
    accepted: 2,
    failed: 0,
    failedByReason: {},
    uncertain: 0,
    skipped: 0,
    pending: 3,
    invalid: 0,
    duplicates: 0,
    attempts: 2,
    throttled: 0,
    elapsedMs: 2_100,
    ratePerSecond: 0.5,
    requestRatePerSecond: 1 / 2.1,
    achievedRatePerSecond: 1 / 2.1,
    stopReason: "401 Unauthorized: check VONAGE_APPLICATION_ID and the private key",
  });
  assert.equal(
    text,
    [
      "Stopped after 2s: 401 Unauthorized: check VONAGE_APPLICATION_ID and the private key",
      "  accepted   2",
      "  failed     0",
      "  uncertain  0",
      "  pending    3  not sent because the run stopped",
      "  attempts   2  no 429 Too Many Requests",
      "  rate       0.48 requests/s achieved (0.48 accepted/s), 0.50/s configured",
    ].join("\n"),
  );
});

Deno.test("formatSummary() shows no rate for a run too short to measure one", () => {
  // One message answered in 11 ms: 1/0.011 s would have read "90.9 requests/s".
  const text = formatSummary({
    total: 1,
    accepted: 1,
    failed: 0,
    failedByReason: {},
    uncertain: 0,
    skipped: 0,
    pending: 0,
    invalid: 0,
    duplicates: 0,
    attempts: 1,
    throttled: 0,
    elapsedMs: 11,
    ratePerSecond: 1,
    requestRatePerSecond: undefined,
    achievedRatePerSecond: undefined,
  });
  assert.equal(
    text.split("\n").at(-1),
    "  rate       1/s configured (too few requests to measure the rate achieved)",
  );
  assert.ok(!text.includes("accepted/s"), text);
});

Deno.test("formatSummary() colours non-zero counts only when asked", () => {
  const coloured = formatSummary(summary, { color: true });
  assert.ok(coloured.includes(" \x1b[32m9,890\x1b[0m"));
  assert.ok(coloured.includes("   \x1b[31m30\x1b[0m"));
  assert.equal(plain(coloured), formatSummary(summary));
});

Deno.test("Progress.render() before start() counts elapsed time from construction", async () => {
  const clock = new FakeClock(1_750_000_000_000);
  const state = counters(10);
  const progress = new Progress(() => state, {
    clock,
    writer: new FakeWriter(true),
    env: envOf({}),
  });
  await clock.advance(3_000);
  assert.match(progress.render(), / 3s/);
  progress.stop();
});
