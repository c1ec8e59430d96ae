/**
 * End-to-end test of delivery receipts with real processes over loopback: the mock Vonage
 * Messages API (served by this test process) posts signed status webhooks to
 * `main.ts receipts` (its own process, killed with SIGKILL midway and started again on
 * the same port) while `main.ts send` (its own process) sends; `main.ts report` (its own
 * process) then counts every message once, by outcome, with prices.
 */

import assert from "node:assert/strict";
import type { DeliveryReport } from "../lib/receipts/delivery_report.ts";
import { readReceipts } from "../lib/receipts/receipts_file.ts";
import { freePort } from "./support/free_port.ts";
import {
  mainCommand as runMainCommand,
  numbers,
  sendToMock,
  serveTestMock,
  tempDir,
  writeList,
} from "./support/send_cli.ts";

const SECRET = "e2e-signature-secret";

/** `main.ts ARGS…` with no signature secret inherited unless `env` gives one. */
function mainCommand(args: string[], env: Record<string, string> = {}): Deno.Command {
  return runMainCommand(args, { env: { VONAGE_SIGNATURE_SECRET: "", ...env } });
}

/** `main.ts receipts JOURNAL --port PORT`, resolved once it answers `GET /stats`. */
async function startReceipts(journal: string, port: number) {
  const child = mainCommand(["receipts", journal, "--port", String(port)], {
    VONAGE_SIGNATURE_SECRET: SECRET,
  }).spawn();
  const output = child.output();
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/stats`);
      await response.body?.cancel();
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      const { stderr } = await output;
      throw new Error(`the receipts server never listened: ${new TextDecoder().decode(stderr)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { child, output };
}

Deno.test("receipts end to end: 300 messages, 5% undeliverable, the receipts server killed midway; report counts each message once with prices", async () => {
  await using dir = await tempDir();
  const list = numbers(300);
  const input = await writeList(`${dir.path}/people.txt`, list);
  const journal = `${input}.journal.jsonl`;
  const port = freePort();
  let receipts = await startReceipts(journal, port);

  await using mock = await serveTestMock({
    ratePerSecond: 150,
    burst: 5,
    statusWebhooks: {
      signatureSecret: SECRET,
      url: `http://127.0.0.1:${port}/webhooks/status`,
      delayMs: 200,
      undeliverableRate: 0.05,
      price: "0.0333",
      currency: "EUR",
      retryBaseMs: 100,
      retryCapMs: 800,
      seed: 5,
    },
  });
  const sending = sendToMock(input, mock.url, ["--rate", "100"]).output();

  // Kill the receipts server (no goodbye) once a third of the 600 webhooks are through,
  // while send is still writing its journal; start it again 400 ms later.
  while ((mock.webhooks().stats?.answered ?? 0) < 200) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  receipts.child.kill("SIGKILL");
  const killed = await receipts.output;
  assert.equal(killed.signal, "SIGKILL");
  const answeredAtKill = mock.webhooks().stats!.answered;
  await new Promise((resolve) => setTimeout(resolve, 400));
  receipts = await startReceipts(journal, port);

  const sent = await sending;
  assert.equal(sent.code, 0, new TextDecoder().decode(sent.stderr));
  await mock.webhooksIdle();
  const { stats, planned } = mock.webhooks();
  assert.equal(stats!.messages, 300);
  assert.equal(stats!.answered, 600, "every webhook answered 2xx in the end");
  assert.equal(stats!.abandoned, 0);
  assert.ok(stats!.retried > 0, "the restart made the mock retry");
  assert.ok(answeredAtKill < 600, "the kill came before the end");

  // The report works while the receipts server is still running.
  const reported = await mainCommand(["report", journal, "--json"]).output();
  assert.equal(reported.code, 0, new TextDecoder().decode(reported.stderr));
  const report = JSON.parse(new TextDecoder().decode(reported.stdout)) as DeliveryReport;

  receipts.child.kill("SIGTERM");
  const stopped = await receipts.output;
  assert.equal(stopped.code, 0, new TextDecoder().decode(stopped.stderr));
  assert.match(new TextDecoder().decode(stopped.stdout), /stopped: \d+ receipts written/);

  const expected = { delivered: 0, rejected: 0, undeliverable: 0 };
  for (const plan of planned) expected[plan.status]++;
  assert.ok(
    expected.undeliverable >= 5 && expected.undeliverable <= 30,
    `${expected.undeliverable}`,
  );
  assert.deepEqual(
    {
      accepted: report.accepted,
      delivered: report.delivered,
      rejected: report.rejected,
      undeliverable: report.undeliverable,
      waiting: report.waiting,
      unknownMessages: report.unknownMessages,
      receipts: report.receipts,
    },
    { accepted: 300, ...expected, waiting: 0, unknownMessages: 0, receipts: 600 },
  );
  assert.equal(report.delivered + report.rejected + report.undeliverable + report.waiting, 300);
  assert.deepEqual(
    report.errors,
    expected.undeliverable === 0 ? {} : {
      "1100 Communication failed: the message could not be passed to the carrier":
        expected.undeliverable,
    },
  );
  // Every message was submitted, so each costs 0.0333 once: 300 × 0.0333 = 9.99 exactly.
  assert.deepEqual(report.prices, { EUR: "9.99" });

  // On disk: each of the 600 receipts exactly once, despite the kill and the retries.
  const stored = await readReceipts(`${journal}.receipts.jsonl`);
  assert.equal(stored.length, 600);
  const keys = new Set(stored.map((s) => `${s.receipt.messageUuid} ${s.receipt.status}`));
  assert.equal(keys.size, 600);
  const accepted = new Set(mock.messages().map((m) => m.message_uuid));
  assert.ok(stored.every((s) => accepted.has(s.receipt.messageUuid)));
});

Deno.test("receipts end to end: a message whose 202 was lost (uncertain in the journal) still gets its receipt, kept and reported, never dropped", async () => {
  await using dir = await tempDir();
  const input = await writeList(`${dir.path}/people.txt`, numbers(60));
  const journal = `${input}.journal.jsonl`;
  const port = freePort();
  const receipts = await startReceipts(journal, port);
  await using mock = await serveTestMock({
    ratePerSecond: 0,
    dropRate: 0.1, // accepted, then the connection closes: send cannot know
    statusWebhooks: {
      signatureSecret: SECRET,
      url: `http://127.0.0.1:${port}/webhooks/status`,
      delayMs: 50,
      seed: 9,
    },
  });
  const sent = await sendToMock(input, mock.url, ["--rate", "200"]).output();
  assert.equal(sent.code, 1, "uncertain messages make the exit status 1");
  await mock.webhooksIdle();
  const dropped = mock.messages().filter((m) => !m.answered);
  assert.ok(dropped.length > 0, "the seed drops some answers");

  const reported = await mainCommand(["report", journal, "--json"]).output();
  const report = JSON.parse(new TextDecoder().decode(reported.stdout)) as DeliveryReport;
  receipts.child.kill("SIGTERM");
  await receipts.output;

  assert.equal(report.receipts, 120, "two receipts for each of the 60 accepted messages");
  if (mock.messages().some((m) => m.client_ref?.startsWith("pl1-"))) {
    // send sets politely's client_ref: the receipts prove the uncertain ones were accepted.
    assert.equal(report.accepted, 60);
    assert.equal(report.acceptedPerReceipt, dropped.length);
    assert.equal(report.unknownMessages, 0);
  } else {
    // Without it, the journal never learnt their ids: kept, counted apart.
    assert.equal(report.accepted, 60 - dropped.length);
    assert.equal(report.notAccepted.uncertain, dropped.length);
    assert.equal(report.unknownMessages, dropped.length);
  }
  const stored = await readReceipts(`${journal}.receipts.jsonl`);
  for (const message of dropped) {
    assert.ok(stored.some((s) => s.receipt.messageUuid === message.message_uuid));
  }
});
