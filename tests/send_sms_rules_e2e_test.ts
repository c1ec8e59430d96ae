/**
 * End-to-end tests of what `main.ts send` checks before it bills anyone (issue 10): the
 * real CLI in its own process, against the mock Vonage Messages API on loopback. Numbers
 * by country rules, the sender, a 422 about the request, templates, segments, client_ref
 * and User-Agent on every request.
 */

import assert from "node:assert/strict";
import { parseClientRef } from "../lib/send/client_ref.ts";
import { VERSION } from "../lib/core/version.ts";
import { runSend, serveTestMock, tempDir } from "./support/send_cli.ts";

Deno.test("send refuses national numbers without --default-country (exit 2, nothing sent); with US they go right", async () => {
  await using dir = await tempDir();
  await using server = await serveTestMock({ ratePerSecond: 0 });
  const file = `${dir.path}/people.csv`;
  await Deno.writeTextFile(file, "to\n(415) 555-2671\n202 555 0101\n+1 202 555 01000\n");

  const refused = await runSend(file, server.url, ["--no-journal"]);
  assert.equal(refused.code, 2, refused.stderr);
  const lines = refused.stderr.trimEnd().split("\n");
  assert.match(
    lines[0]!,
    /people\.csv:2: "\(415\) 555-2671" is not a valid number read as international \(\+41 Switzerland\): too short; if these are national numbers, pass --default-country$/,
  );
  assert.match(
    lines[1]!,
    /people\.csv:3: "202 555 0101" is not a valid number read as international \(\+20 Egypt\)/,
  );
  assert.match(
    lines[2]!,
    /people\.csv:4: "\+1 202 555 01000" is not a valid \+1 United States number: too long$/,
  );
  assert.match(lines[3]!, /^politely: 3 invalid lines in .*people\.csv; nothing sent/);
  assert.doesNotMatch(refused.stderr, /^\s+at /m);
  assert.equal(server.stats().arrivals, 0);

  await Deno.writeTextFile(file, "to\n(415) 555-2671\n202 555 0101\n");
  const sent = await runSend(file, server.url, ["--no-journal", "--default-country", "US"]);
  assert.equal(sent.code, 0, sent.stderr);
  assert.deepEqual(server.messages().map((m) => m.to).sort(), ["12025550101", "14155552671"]);
});

Deno.test("send stops a sender id Vonage would refuse before any request (exit 2)", async () => {
  await using dir = await tempDir();
  await using server = await serveTestMock({ ratePerSecond: 0 });
  const file = `${dir.path}/people.txt`;
  await Deno.writeTextFile(file, "14155550100\n");
  const run = await runSend(file, server.url, ["--no-journal"], { from: "My Company Name" });
  assert.equal(run.code, 2);
  assert.equal(
    run.stderr.trim(),
    'politely: --from: "My Company Name" is 15 characters long: an alphanumeric sender id has ' +
      'at most 11 (e.g. "My Company"); nothing sent',
  );
  assert.equal(server.stats().arrivals, 0);
});

Deno.test("send stops after one 422 about the sender, leaves everyone pending, and the fixed rerun reuses the journal", async () => {
  await using dir = await tempDir();
  // The account knows one sender: any other is refused 422 naming `from`, for everyone.
  await using server = await serveTestMock({ ratePerSecond: 0, senders: ["Acme"] });
  const file = `${dir.path}/people.txt`;
  await Deno.writeTextFile(file, "14155550100\n14155550101\n14155550102\n");

  const first = await runSend(file, server.url, ["--concurrency", "1"], { from: "Acmee" });
  assert.equal(first.code, 2, first.stderr);
  assert.equal(server.stats().arrivals, 1, "stopped after the first answer");
  assert.equal(first.summary?.stoppedBy, "request");
  assert.equal(first.summary?.pending, 3);
  assert.equal(first.summary?.failed, 0);
  assert.match(
    first.stderr,
    /the API refused the request itself \(422 .*from: is not a sender of this account/,
  );

  const second = await runSend(file, server.url, [], { from: "Acme" });
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /was started with the sender "Acmee", and nothing was accepted/);
  assert.equal(second.summary?.accepted, 3);
  assert.deepEqual(server.messages().map((m) => m.to).sort(), [
    "14155550100",
    "14155550101",
    "14155550102",
  ]);
});

Deno.test("send fills {{name}} per recipient, counts segments, and puts client_ref and User-Agent on every request", async () => {
  await using dir = await tempDir();
  await using server = await serveTestMock({ ratePerSecond: 0 });
  const file = `${dir.path}/people.csv`;
  await Deno.writeTextFile(
    file,
    "to,name,client_ref\n14155550100,Ada,\n14155550101,Bob,crm-42\n14155550102,Zoë 👋,\n",
  );
  const text = "Hello {{name}}, " + "x".repeat(190);
  const run = await runSend(file, server.url, ["--price-per-segment", "0.01"], { text });
  assert.equal(run.code, 0, run.stderr);
  const byTo = new Map(server.messages().map((m) => [m.to, m]));
  assert.equal(byTo.get("14155550100")?.text, "Hello Ada, " + "x".repeat(190));
  assert.equal(byTo.get("14155550101")?.text, "Hello Bob, " + "x".repeat(190));
  // 201 GSM-7 septets: 2 parts each; Zoë's emoji makes UCS-2: 206 units, 4 parts.
  const summary = run.summary as { segments?: number; estimatedCost?: number } | undefined;
  assert.equal(summary?.segments, 2 + 2 + 4);
  assert.equal(summary?.estimatedCost, 0.08);
  for (const message of server.messages()) {
    assert.match(message.user_agent ?? "", new RegExp(`^politely/${VERSION} Deno/\\d+\\.\\d+`));
  }
  assert.equal(byTo.get("14155550101")?.client_ref, "crm-42");
  // The journal keeps a recipient's own client_ref, so its receipts can be matched by it.
  const records = (await Deno.readTextFile(`${file}.journal.jsonl`)).trimEnd().split("\n")
    .map((line) => JSON.parse(line));
  assert.deepEqual(
    records.filter((r) => r.type === "sending" && r.ref !== undefined).map((r) => [r.to, r.ref]),
    [["14155550101", "crm-42"]],
  );
  const ada = parseClientRef(byTo.get("14155550100")?.client_ref ?? "");
  const zoe = parseClientRef(byTo.get("14155550102")?.client_ref ?? "");
  assert.equal(ada?.to, "14155550100");
  assert.equal(zoe?.to, "14155550102");
  assert.equal(ada?.tag, zoe?.tag, "one campaign, one tag");

  // A rerun of the campaign with one more recipient: the same tag (from the journal).
  await Deno.writeTextFile(file, "14155550103,Cyd,\n", { append: true });
  const rerun = await runSend(file, server.url, [], { text });
  assert.equal(rerun.code, 0, rerun.stderr);
  const cyd = server.messages().find((m) => m.to === "14155550103");
  assert.equal(parseClientRef(cyd?.client_ref ?? "")?.tag, ada?.tag);
});
