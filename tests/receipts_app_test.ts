import assert from "node:assert/strict";
import { hashMessageText, Journal } from "../lib/send/journal.ts";
import { makeDeliveryReport } from "../lib/receipts/delivery_report.ts";
import {
  createReceiptsApp,
  type ReceiptsApp,
  receiptsPathFor,
  unmatchedPathFor,
} from "../lib/receipts/receipts_app.ts";
import { readReceipts } from "../lib/receipts/receipts_file.ts";
import { signWebhookBody } from "../lib/vonage/webhook_signature.ts";
import { campaignTag, clientRef } from "../lib/send/client_ref.ts";
import { tempDir } from "./support/send_cli.ts";

const SECRET = "receipts-test-secret";

/** A real journal (written by the Journal class) with these numbers accepted as these ids. */
async function writeJournal(path: string, accepted: Record<string, string>, failed: string[] = []) {
  await using journal = await Journal.open(path, {
    from: "Acme",
    textHash: await hashMessageText("hi"),
  });
  for (const [to, uuid] of Object.entries(accepted)) {
    await journal.sending(to, 1);
    await journal.accepted(to, uuid);
  }
  for (const to of failed) {
    await journal.sending(to, 1);
    await journal.failed(to, "422 Invalid params");
  }
}

function receipt(uuid: string, status: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    message_uuid: uuid,
    to: "14155550100",
    timestamp: `2026-12-01T12:00:0${status === "submitted" ? 1 : 2}.000Z`,
    status,
    channel: "sms",
    ...extra,
  });
}

async function post(
  receipts: ReceiptsApp,
  body: string,
  authorization?: string | null,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const token = authorization === undefined
    ? `Bearer ${await signWebhookBody(body, SECRET)}`
    : authorization;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== null) headers.authorization = token;
  const response = await receipts.app.request("/webhooks/status", {
    method: "POST",
    headers,
    body,
  });
  return { status: response.status, json: await response.json() };
}

Deno.test("receipts: a signed webhook is written once, however often it is delivered", async () => {
  await using dir = await tempDir();
  const journal = `${dir.path}/a.csv.journal.jsonl`;
  await writeJournal(journal, { "14155550100": "m-1" });
  const receipts = await createReceiptsApp({ journals: [journal], signatureSecret: SECRET });
  try {
    const body = receipt("m-1", "delivered");
    assert.deepEqual(await post(receipts, body), { status: 200, json: { status: "recorded" } });
    // Vonage's retry of the same webhook comes with a fresh token.
    assert.deepEqual(await post(receipts, body), { status: 200, json: { status: "duplicate" } });
    const [first, second] = await Promise.all([
      post(receipts, receipt("m-1", "submitted")),
      post(receipts, receipt("m-1", "submitted")),
    ]);
    assert.deepEqual([first.json.status, second.json.status].sort(), ["duplicate", "recorded"]);
    assert.deepEqual(receipts.stats(), {
      recorded: 2,
      duplicates: 2,
      unmatched: 0,
      refused: 0,
      invalid: 0,
      failed: 0,
    });
  } finally {
    await receipts.close();
  }
  const stored = await readReceipts(receiptsPathFor(journal));
  assert.deepEqual(stored.map((s) => s.receipt.status).sort(), ["delivered", "submitted"]);
});

Deno.test("receipts: unsigned, forged, tampered, stale, alg-none and replayed webhooks get 401 and are written nowhere", async () => {
  await using dir = await tempDir();
  const journal = `${dir.path}/a.csv.journal.jsonl`;
  await writeJournal(journal, { "14155550100": "m-1" });
  const receipts = await createReceiptsApp({ journals: [journal], signatureSecret: SECRET });
  const body = receipt("m-1", "delivered");
  const signed = await signWebhookBody(body, SECRET);
  const payload = signed.split(".")[1]!;
  const none = `${btoa(JSON.stringify({ alg: "none" })).replace(/=+$/, "")}.${payload}.`;
  const cases: Array<[string, string, string | null, RegExp]> = [
    ["unsigned", body, null, /unsigned/],
    ["wrong secret", body, `Bearer ${await signWebhookBody(body, "not-the-secret")}`, /signature/],
    ["tampered", receipt("m-1", "rejected"), `Bearer ${signed}`, /payload_hash/],
    [
      "stale",
      body,
      `Bearer ${await signWebhookBody(body, SECRET, { issuedAtMs: Date.now() - 600_000 })}`,
      /stale/,
    ],
    ["alg none", body, `Bearer ${none}`, /HS256/],
  ];
  try {
    for (const [name, sent, authorization, why] of cases) {
      const answer = await post(receipts, sent, authorization);
      assert.equal(answer.status, 401, name);
      assert.match(String(answer.json.detail), why, name);
    }
    assert.equal((await post(receipts, body, `Bearer ${signed}`)).status, 200);
    const replay = await post(receipts, body, `Bearer ${signed}`);
    assert.equal(replay.status, 401);
    assert.match(String(replay.json.detail), /used before: a replay/);
    assert.equal(receipts.stats().refused, cases.length + 1);
  } finally {
    await receipts.close();
  }
  assert.equal((await readReceipts(receiptsPathFor(journal))).length, 1);
  const lines = (await Deno.readTextFile(receiptsPathFor(journal))).trim().split("\n");
  assert.equal(lines.length, 2, "the header and the one good receipt");

  // After a restart, the replayed token is still refused and the receipt still known.
  const again = await createReceiptsApp({ journals: [journal], signatureSecret: SECRET });
  try {
    assert.equal((await post(again, body, `Bearer ${signed}`)).status, 401);
    assert.deepEqual((await post(again, body)).json, { status: "duplicate" });
  } finally {
    await again.close();
  }
});

Deno.test("receipts: a torn last line (a crash mid-write) is dropped on restart; earlier lines are kept", async () => {
  await using dir = await tempDir();
  const journal = `${dir.path}/a.csv.journal.jsonl`;
  await writeJournal(journal, { "14155550100": "m-1" });
  const first = await createReceiptsApp({ journals: [journal], signatureSecret: SECRET });
  await post(first, receipt("m-1", "submitted"));
  await first.close();
  const path = receiptsPathFor(journal);
  await Deno.writeTextFile(path, '{"type":"receipt","key":"m-1 deliv', { append: true });
  assert.equal((await readReceipts(path)).length, 1, "a reader skips the torn line");
  const second = await createReceiptsApp({ journals: [journal], signatureSecret: SECRET });
  try {
    assert.deepEqual((await post(second, receipt("m-1", "delivered"))).json, {
      status: "recorded",
    });
  } finally {
    await second.close();
  }
  const stored = await readReceipts(path);
  assert.deepEqual(stored.map((s) => s.receipt.status), ["submitted", "delivered"]);
});

Deno.test("receipts: a second server on the same campaign is refused while the first runs", async () => {
  await using dir = await tempDir();
  const journal = `${dir.path}/a.csv.journal.jsonl`;
  await writeJournal(journal, {});
  const first = await createReceiptsApp({ journals: [journal], signatureSecret: SECRET });
  try {
    await assert.rejects(
      () => createReceiptsApp({ journals: [journal], signatureSecret: SECRET }),
      /in use by another receipts server/,
    );
  } finally {
    await first.close();
  }
});

Deno.test("receipts: with two campaigns, each receipt goes to its journal's file and an unknown one is kept apart", async () => {
  await using dir = await tempDir();
  const a = `${dir.path}/a.csv.journal.jsonl`;
  const b = `${dir.path}/b.csv.journal.jsonl`;
  await writeJournal(a, { "14155550100": "a-1" });
  await writeJournal(b, { "14155550101": "b-1" });
  const receipts = await createReceiptsApp({ journals: [a, b], signatureSecret: SECRET });
  try {
    await post(receipts, receipt("a-1", "delivered"));
    await post(receipts, receipt("b-1", "delivered"));
    await post(receipts, receipt("x-9", "delivered"));
    assert.equal(receipts.stats().unmatched, 1);
  } finally {
    await receipts.close();
  }
  const uuids = async (path: string) =>
    (await readReceipts(path)).map((s) => s.receipt.messageUuid);
  assert.deepEqual(await uuids(receiptsPathFor(a)), ["a-1"]);
  assert.deepEqual(await uuids(receiptsPathFor(b)), ["b-1"]);
  assert.deepEqual(await uuids(unmatchedPathFor(a)), ["x-9"]);
});

Deno.test("receipts: a signed body that is not a status webhook is refused (422) and not written", async () => {
  await using dir = await tempDir();
  const journal = `${dir.path}/a.csv.journal.jsonl`;
  await writeJournal(journal, {});
  const receipts = await createReceiptsApp({ journals: [journal], signatureSecret: SECRET });
  try {
    const answer = await post(receipts, JSON.stringify({ status: "delivered" }));
    assert.equal(answer.status, 422);
    assert.equal(receipts.stats().invalid, 1);
  } finally {
    await receipts.close();
  }
  assert.equal((await readReceipts(receiptsPathFor(journal))).length, 0);
});

Deno.test("makeDeliveryReport() counts each accepted message once by its final receipt, with reasons and exact prices", async () => {
  await using dir = await tempDir();
  const journal = `${dir.path}/a.csv.journal.jsonl`;
  await writeJournal(journal, {
    "14155550100": "m-0",
    "14155550101": "m-1",
    "14155550102": "m-2",
    "14155550103": "m-3",
    "14155550104": "m-4",
  }, ["14155550109"]);
  const receipts = await createReceiptsApp({ journals: [journal], signatureSecret: SECRET });
  const usage = { usage: { currency: "EUR", price: "0.1" } };
  try {
    for (const uuid of ["m-0", "m-1", "m-2", "m-4"]) {
      await post(receipts, receipt(uuid, "submitted", usage));
    }
    await post(receipts, receipt("m-0", "delivered", usage));
    await post(receipts, receipt("m-1", "delivered", usage));
    await post(
      receipts,
      receipt("m-2", "undeliverable", { error: { title: 1100, detail: "Communication failed" } }),
    );
    await post(receipts, receipt("m-3", "rejected", { error: { title: "1050" } }));
    await post(receipts, receipt("z-9", "delivered")); // not this campaign's
  } finally {
    await receipts.close();
  }
  const report = await makeDeliveryReport(journal);
  assert.deepEqual({ ...report, journal: undefined, receiptsFiles: undefined }, {
    journal: undefined,
    receiptsFiles: undefined,
    numbers: 6,
    accepted: 5,
    acceptedPerReceipt: 0,
    delivered: 2,
    rejected: 1,
    undeliverable: 1,
    waiting: 1,
    submitted: 1,
    notAccepted: { failed: 1, uncertain: 0, pending: 0 },
    errors: { "1100 Communication failed": 1, "1050": 1 },
    // 0.1 four times is 0.4 exactly (as binary floats it would be 0.30000000000000004 + 0.1).
    prices: { EUR: "0.40" },
    receipts: 9,
    unknownMessages: 1,
  });
});

Deno.test("receipts: a client_ref finds its campaign and recipient, even one the journal left uncertain (a lost 202)", async () => {
  await using dir = await tempDir();
  const a = `${dir.path}/a.csv.journal.jsonl`;
  const b = `${dir.path}/b.csv.journal.jsonl`;
  await writeJournal(a, { "14155550100": "a-1" });
  await writeJournal(b, { "14155550101": "b-1" });
  {
    // The send to 14155550102 left no outcome: the run died waiting for the answer.
    await using journal = await Journal.open(b, {
      from: "Acme",
      textHash: await hashMessageText("hi"),
    });
    await journal.sending("14155550102", 1);
  }
  const header = JSON.parse((await Deno.readTextFile(b)).split("\n")[0]!);
  const ref = clientRef(await campaignTag(header), "14155550102");
  const receipts = await createReceiptsApp({ journals: [a, b], signatureSecret: SECRET });
  try {
    // The uuid is in no journal; the client_ref names campaign b and its recipient.
    const usage = { usage: { currency: "EUR", price: "0.05" } };
    await post(receipts, receipt("lost-1", "submitted", { client_ref: ref, ...usage }));
    await post(receipts, receipt("lost-1", "delivered", { client_ref: ref }));
    assert.equal(receipts.stats().unmatched, 0);
  } finally {
    await receipts.close();
  }
  const uuids = (await readReceipts(receiptsPathFor(b))).map((s) => s.receipt.messageUuid);
  assert.deepEqual(uuids, ["lost-1", "lost-1"]);
  const report = await makeDeliveryReport(b);
  assert.equal(report.accepted, 1 + 1);
  assert.equal(report.acceptedPerReceipt, 1);
  assert.equal(report.delivered, 1);
  assert.equal(report.waiting, 1);
  assert.deepEqual(report.notAccepted, { failed: 0, uncertain: 0, pending: 0 });
  assert.deepEqual(report.prices, { EUR: "0.05" });
});

Deno.test("receipts: a body over the limit is refused (413) without being read whole, chunked or not", async () => {
  await using dir = await tempDir();
  const journal = `${dir.path}/a.csv.journal.jsonl`;
  await writeJournal(journal, {});
  const receipts = await createReceiptsApp({
    journals: [journal],
    signatureSecret: SECRET,
    maxBodyBytes: 1024,
  });
  try {
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(512));
      },
    });
    const response = await receipts.app.request("/webhooks/status", {
      method: "POST",
      body: endless,
    });
    assert.equal(response.status, 413);
    await response.body?.cancel();
    assert.ok(pulled < 10, `${pulled} chunks pulled`);
    assert.equal(receipts.stats().invalid, 1);
  } finally {
    await receipts.close();
  }
});
