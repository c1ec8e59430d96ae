import assert from "node:assert/strict";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { Hono } from "../lib/deps/hono.ts";
import { StatusWebhookSender } from "../lib/mock/status_webhooks.ts";
import { verifyWebhookSignature } from "../lib/vonage/webhook_signature.ts";

const SECRET = "webhook-test-secret";
const URL_ = "http://receiver.test/webhooks/status";

interface Received {
  atMs: number;
  body: Record<string, unknown>;
  jti: string;
}

/**
 * A receiver as a Hono app called in-process: it checks each signature and answers
 * `answer(attempt)` (200 unless told otherwise), noting the virtual time of each post.
 */
function receiver(clock: FakeClock, answer: (attempt: number) => number = () => 200) {
  const received: Received[] = [];
  let attempts = 0;
  let inFlight = 0;
  const app = new Hono();
  app.post("*", async (c) => {
    const bytes = new Uint8Array(await c.req.arrayBuffer());
    const verdict = await verifyWebhookSignature(
      c.req.header("authorization") ?? null,
      bytes,
      SECRET,
    );
    assert.ok(verdict.ok, verdict.ok ? "" : verdict.reason);
    const status = answer(++attempts);
    received.push({
      atMs: clock.now(),
      body: JSON.parse(new TextDecoder().decode(bytes)),
      jti: verdict.jti,
    });
    return c.body(null, status as 200);
  });
  const fetch = async (input: string, init: RequestInit) => {
    inFlight++;
    try {
      return await app.request(input, init);
    } finally {
      inFlight--;
    }
  };
  return { received, fetch, inFlight: () => inFlight };
}

/**
 * Move virtual time to the next sleeper whenever no post is being answered (answering
 * takes real time: signatures are checked with WebCrypto), until the sender is idle.
 */
async function runUntilIdle(
  clock: FakeClock,
  sender: StatusWebhookSender,
  inFlight: () => number,
): Promise<void> {
  for (let i = 0; i < 100_000 && sender.stats().pending > 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    const next = clock.nextDueMs;
    if (inFlight() === 0 && next !== undefined) await clock.advanceTo(next);
  }
  assert.equal(sender.stats().pending, 0, "the webhooks never finished");
}

Deno.test("StatusWebhookSender posts submitted then the final status, delayMs apart, signed, with the price once submitted", async () => {
  const clock = new FakeClock(Date.UTC(2026, 11, 1));
  const { received, fetch, inFlight } = receiver(clock);
  await using sender = new StatusWebhookSender({
    signatureSecret: SECRET,
    url: URL_,
    delayMs: 500,
    clock,
    fetch,
    seed: 7,
  });
  sender.schedule({ message_uuid: "m-1", to: "14155550100", from: "Acme", client_ref: "c-1" });
  await runUntilIdle(clock, sender, inFlight);
  assert.deepEqual(received.map((r) => [r.atMs - Date.UTC(2026, 11, 1), r.body.status]), [
    [500, "submitted"],
    [1000, "delivered"],
  ]);
  assert.deepEqual(received[0]!.body.usage, { currency: "EUR", price: "0.0333" });
  assert.equal(received[1]!.body.client_ref, "c-1");
  assert.deepEqual(sender.planned(), [
    { message_uuid: "m-1", to: "14155550100", status: "delivered", price: "0.0333" },
  ]);
});

Deno.test("StatusWebhookSender draws the seeded shares of rejected and undeliverable, the same for the same seed", async () => {
  const outcomes = async (seed: number) => {
    const clock = new FakeClock();
    const { received, fetch, inFlight } = receiver(clock);
    await using sender = new StatusWebhookSender({
      signatureSecret: SECRET,
      url: URL_,
      delayMs: 10,
      rejectedRate: 0.1,
      undeliverableRate: 0.1,
      clock,
      fetch,
      seed,
    });
    for (let i = 0; i < 1000; i++) {
      sender.schedule({ message_uuid: `m-${i}`, to: "14155550100", from: "Acme" });
    }
    await runUntilIdle(clock, sender, inFlight);
    const counts: Record<string, number> = {};
    for (const plan of sender.planned()) counts[plan.status] = (counts[plan.status] ?? 0) + 1;
    const rejected = received.filter((r) => r.body.status === "rejected");
    assert.equal(rejected.length, counts.rejected);
    assert.ok(rejected.every((r) => r.body.usage === undefined), "a rejected SMS costs nothing");
    assert.equal(
      received.filter((r) => r.body.status === "undeliverable").length,
      counts.undeliverable,
    );
    return counts;
  };
  const first = await outcomes(3);
  assert.deepEqual(await outcomes(3), first);
  assert.ok(first.rejected! > 70 && first.rejected! < 130, `rejected ${first.rejected}`);
  assert.ok(first.undeliverable! > 70 && first.undeliverable! < 130);
  assert.equal(first.delivered! + first.rejected! + first.undeliverable!, 1000);
});

Deno.test("StatusWebhookSender retries a webhook answered 5xx after 1, 2, 4 × retryBaseMs with a fresh token, and gives up on 4xx", async () => {
  const clock = new FakeClock();
  const { received, fetch, inFlight } = receiver(clock, (attempt) => (attempt <= 3 ? 503 : 200));
  await using sender = new StatusWebhookSender({
    signatureSecret: SECRET,
    url: URL_,
    delayMs: 100,
    rejectedRate: 1,
    retryBaseMs: 1000,
    clock,
    fetch,
  });
  sender.schedule({ message_uuid: "m-1", to: "14155550100", from: "Acme" });
  await runUntilIdle(clock, sender, inFlight);
  assert.deepEqual(received.map((r) => r.atMs), [100, 1100, 3100, 7100]);
  assert.equal(new Set(received.map((r) => r.jti)).size, 4, "each attempt is signed anew");
  assert.equal(new Set(received.map((r) => JSON.stringify(r.body))).size, 1, "the same body");
  assert.deepEqual(sender.stats(), {
    messages: 1,
    posted: 4,
    answered: 1,
    retried: 3,
    abandoned: 0,
    pending: 0,
  });

  const refusing = receiver(clock, () => 401);
  await using refused = new StatusWebhookSender({
    signatureSecret: SECRET,
    url: URL_,
    delayMs: 100,
    rejectedRate: 1,
    clock,
    fetch: refusing.fetch,
  });
  refused.schedule({ message_uuid: "m-2", to: "14155550100", from: "Acme" });
  await runUntilIdle(clock, refused, refusing.inFlight);
  assert.equal(refusing.received.length, 1);
  assert.equal(refused.stats().abandoned, 1);
});

Deno.test("StatusWebhookSender retries a refused connection over a real socket, and close() stops every wait", async () => {
  // A port with nothing listening: every attempt is refused, so the sender keeps retrying.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const sender = new StatusWebhookSender({
    signatureSecret: SECRET,
    url: `http://127.0.0.1:${port}/`,
    delayMs: 0,
    retryBaseMs: 20,
  });
  sender.schedule({ message_uuid: "m-1", to: "14155550100", from: "Acme" });
  while (sender.stats().retried < 2) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(sender.stats().answered, 0);
  await sender.close(); // the test sanitizers fail this test if a timer or socket is left
  assert.equal(sender.stats().pending, 0);
});

Deno.test("StatusWebhookSender refuses options that would send nonsense", () => {
  assert.throws(() => new StatusWebhookSender({ signatureSecret: "" }), /'signatureSecret'/);
  assert.throws(
    () =>
      new StatusWebhookSender({
        signatureSecret: SECRET,
        rejectedRate: 0.6,
        undeliverableRate: 0.6,
      }),
    /'rejectedRate \+ undeliverableRate' must be from 0 to 1, current value is 1.2/,
  );
  assert.throws(
    () => new StatusWebhookSender({ signatureSecret: SECRET, url: "ftp://x" }),
    /'url' must be an http or https URL/,
  );
  assert.throws(
    () => new StatusWebhookSender({ signatureSecret: SECRET, price: "1,5" }),
    /'price' must be a decimal string/,
  );
});
