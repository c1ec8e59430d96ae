import assert from "node:assert/strict";
import { ThrottledLog } from "../lib/cli/throttled_log.ts";
import { FakeClock } from "../lib/core/fake_clock.ts";

Deno.test("ThrottledLog writes a line once per interval, with the count held back, and the rest at flush", async () => {
  const clock = new FakeClock();
  const lines: string[] = [];
  const log = new ThrottledLog((line) => lines.push(line), { intervalMs: 10_000, clock });
  for (let i = 0; i < 50; i++) log.write("refused (401): bad signature");
  log.write("refused (401): stale");
  await clock.advance(10_000);
  log.write("refused (401): bad signature");
  log.write("refused (401): bad signature");
  log.flush();
  log.flush();
  assert.deepEqual(lines, [
    "refused (401): bad signature",
    "refused (401): stale",
    "refused (401): bad signature (50 times in the last 10 s)",
    "refused (401): bad signature (1 more)",
  ]);
});
