/**
 * The tests of code that reads or writes dates, run again in child processes under
 * non-UTC time zones. CI runs in UTC, where a date parsed in local time (`new Date(y, m, d)`
 * instead of `Date.UTC`) gives the right answer by luck; these zones make it wrong.
 *
 * @module
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url).pathname;

/** Test files whose code parses or prints dates: HTTP-dates, `Retry-After`, journal times. */
const DATE_TESTS = [
  "tests/rate_limit_headers_test.ts",
  "tests/polite_fetch_test.ts",
  "tests/journal_test.ts",
];

/**
 * One zone on each side of UTC, with offsets that are not whole hours, so that neither a
 * sign error nor rounding to the hour can pass. The offsets are for 1 January 2026.
 */
const ZONES = [
  { tz: "Asia/Kathmandu", offsetMinutes: 5 * 60 + 45 },
  { tz: "America/St_Johns", offsetMinutes: -(3 * 60 + 30) },
];

async function run(args: string[], tz: string): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { TZ: tz, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
}

/** `+05:45`, `-03:30`. */
function formatOffset(minutes: number): string {
  const abs = Math.abs(minutes);
  const hhmm = `${String(Math.floor(abs / 60)).padStart(2, "0")}:${
    String(abs % 60).padStart(2, "0")
  }`;
  return `${minutes < 0 ? "-" : "+"}${hhmm}`;
}

for (const { tz, offsetMinutes } of ZONES) {
  Deno.test(`the date tests pass under TZ=${tz} (UTC${formatOffset(offsetMinutes)})`, async () => {
    // The zone must really apply in the child, or the run below proves nothing.
    const zone = await run(
      ["eval", "console.log(-new Date(2026, 0, 1).getTimezoneOffset())"],
      tz,
    );
    assert.equal(zone.code, 0, zone.output);
    assert.equal(Number(zone.output.trim()), offsetMinutes, `TZ=${tz} did not apply`);

    // Type-checked already by the parent run; the child only runs them.
    const tests = await run(
      [
        "test",
        "--no-check",
        "--allow-net=127.0.0.1,localhost",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        ...DATE_TESTS,
      ],
      tz,
    );
    assert.equal(tests.code, 0, `under TZ=${tz}:\n${tests.output}`);
    const summary = /^ok \| (\d+) passed(?: \(\d+ steps\))? \| 0 failed( \|.*)?/m.exec(
      tests.output,
    );
    assert.ok(summary, `no summary line under TZ=${tz}:\n${tests.output}`);
    assert.ok(Number(summary[1]) > 0, "no test ran");
    assert.equal(summary[2]?.trim() ?? "", "", `some tests were skipped: ${summary[0]}`);
  });
}
