// `main.ts demo` as a user runs it: a real process, the in-process mock on a
// real socket, both ways of sending, and the exactly-once check.
import assert from "node:assert/strict";
import { demoRecipients } from "../lib/cli/demo_command.ts";
import { readRecipients, type Recipient } from "../lib/send/recipients.ts";
import { runMain, tempDir, writeList } from "./support/send_cli.ts";

/** `main.ts demo ARGS…` with network and read access, and write access if `write`. */
function runDemo(args: string[], write = false) {
  const permissions = [
    "--allow-net=127.0.0.1",
    "--allow-read",
    ...(write ? ["--allow-write"] : []),
  ];
  return runMain(["demo", ...args], { permissions });
}

/** `count` numbers (12025551000, 12025551010, …) in a file in `dir`; returns its path. */
function demoList(dir: string, count: number): Promise<string> {
  const list = Array.from({ length: count }, (_, i) => `1202555${String(100 + i)}0`);
  return writeList(`${dir}/list.txt`, list);
}

Deno.test("main.ts demo sends every recipient once both ways; the naive way meets 429s, the polite one keeps to the rate", async () => {
  await using dir = await tempDir();
  const recipients = await demoList(dir.path, 10);
  const { code, stdout, stderr } = await runDemo([
    "--recipients",
    recipients,
    "--rate",
    "20",
    "--json",
  ]);
  assert.equal(code, 0, stderr);
  const report = JSON.parse(stdout);
  assert.equal(report.recipients, 10);
  const [naive, polite] = report.runs;
  assert.equal(naive.mode, "naive");
  assert.equal(polite.mode, "polite");
  for (const run of report.runs) {
    assert.equal(run.result.accepted, 10);
    assert.equal(run.serverAccepted, 10);
    assert.equal(run.serverDistinct, 10);
    assert.equal(run.result.attempts, 10 + run.result.throttled);
    assert.equal(run.serverThrottled, run.result.throttled);
  }
  // Ten at once against burst 2: the naive way must meet 429s. The polite way meets
  // none on a quiet machine (what the demo shows), but a stall can bunch its requests,
  // so here it must only never be faster than its rate: (10 − 1) intervals at 20/s.
  assert.ok(naive.result.throttled > 0, "the naive run met no 429");
  assert.ok(polite.elapsedMs >= (10 - 1) / 20 * 1000 - 5, `polite took ${polite.elapsedMs} ms`);
});

Deno.test("main.ts demo refuses a bad flag with one line and exit 2", async () => {
  const { code, stderr } = await runDemo(["--rate", "0"]);
  assert.equal(code, 2);
  assert.match(stderr.trim(), /^politely: --rate must be a positive number, got '0'$/);
});

Deno.test("main.ts demo with --allow-write ends with delivery figures: every polite message has its final receipt, counted once", async () => {
  await using dir = await tempDir();
  const recipients = await demoList(dir.path, 40);
  const { code, stdout, stderr } = await runDemo(
    ["--recipients", recipients, "--rate", "40", "--burst", "5", "--json"],
    true,
  );
  assert.equal(code, 0, stderr);
  const [naive, polite] = JSON.parse(stdout).runs;
  assert.equal(naive.delivery, undefined, "only the polite run asks for receipts");
  const delivery = polite.delivery;
  assert.equal(delivery.accepted, 40);
  assert.equal(delivery.waiting, 0);
  assert.equal(delivery.delivered + delivery.rejected + delivery.undeliverable, 40);
  // Each submitted message (all but the rejected) costs the mock's 0.0333 EUR once.
  const cents = Math.round(Number(delivery.prices.EUR) * 10_000);
  assert.equal(cents, (40 - delivery.rejected) * 333);
});

Deno.test("demoRecipients() are the fixture's 60 numbers, so the demo needs no file of the repository", async () => {
  const fixture = await Deno.open(new URL("../fixtures/recipients.csv", import.meta.url));
  const fromFile: Recipient[] = [];
  for await (const entry of readRecipients(fixture.readable)) {
    assert.equal(entry.kind, "recipient", JSON.stringify(entry));
    if (entry.kind === "recipient") {
      fromFile.push({ line: entry.recipient.line, to: entry.recipient.to });
    }
  }
  assert.equal(fromFile.length, 60);
  assert.deepEqual(demoRecipients(), fromFile);
});
