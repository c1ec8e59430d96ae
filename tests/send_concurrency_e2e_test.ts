/**
 * End to end: `--concurrency` as large as the flag accepts costs nothing extra and
 * does not stop Ctrl-C from working (the real CLI, against the mock on loopback).
 * How fast each setting is: bench/send_concurrency.ts.
 */

import assert from "node:assert/strict";
import {
  acceptedCounts,
  numbers,
  runSend,
  sendToMock,
  serveTestMock,
  signalAfterAccepted,
  tempDir,
  writeList,
} from "./support/send_cli.ts";

Deno.test("send --concurrency 1000000000 sends each of 100 recipients once", async () => {
  await using dir = await tempDir();
  await using server = await serveTestMock({ ratePerSecond: 0, latencyMs: 20 });
  const list = numbers(100);
  const file = await writeList(`${dir.path}/recipients.txt`, list);

  const run = await runSend(file, server.url, ["--rate", "1000", "--concurrency", "1000000000"]);

  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.summary!.accepted, 100);
  const counts = acceptedCounts(server);
  assert.deepEqual(list.filter((to) => counts.get(to) !== 1), []);
});

Deno.test("send --concurrency 1000000000 stops on SIGINT and says what is left", async () => {
  await using dir = await tempDir();
  await using server = await serveTestMock({ ratePerSecond: 0, latencyMs: 50 });
  const list = numbers(300);
  const file = await writeList(`${dir.path}/recipients.txt`, list);

  const { run } = await signalAfterAccepted(
    server,
    sendToMock(file, server.url, ["--rate", "40", "--concurrency", "1000000000"]),
    "SIGINT",
    10,
  );

  assert.equal(run.code, 130, run.stderr);
  const summary = run.summary!;
  assert.equal(summary.stoppedBy, "interrupt");
  assert.ok(summary.pending > 100, `pending ${summary.pending}`);
  assert.equal(summary.accepted + summary.pending + summary.uncertain, 300);
  assert.equal(server.stats().accepted, summary.accepted);
});

Deno.test("send --timeout S gives up on one request after S seconds: uncertain, never resent", async () => {
  await using dir = await tempDir();
  await using server = await serveTestMock({ ratePerSecond: 0, latencyMs: 3_000 });
  const file = await writeList(`${dir.path}/recipients.txt`, numbers(2));

  const started = Date.now();
  const run = await runSend(file, server.url, ["--rate", "100", "--timeout", "0.3"]);

  assert.equal(run.code, 1, run.stderr);
  assert.equal(run.summary!.uncertain, 2);
  assert.equal(run.summary!.attempts, 2);
  assert.ok(Date.now() - started < 2_900, "neither request waited for the 3 s answer");
});
