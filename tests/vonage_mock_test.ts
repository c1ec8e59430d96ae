// The Vonage client against the mock, over a real loopback socket: pacing that
// never meets a 429, the article's retry-on-429 way, and dropped answers that
// must never turn into a second send.
import assert from "node:assert/strict";
import type { MockVonageServer } from "../lib/mock/serve_mock_vonage.ts";
import { retry } from "../lib/core/retry.ts";
import { createRandom } from "../lib/core/seeded_random.ts";
import { TokenBucket } from "../lib/core/token_bucket.ts";
import { createVonageClient, type SendOutcome, type VonageClient } from "../lib/vonage/mod.ts";
import { serveTestMock, TEST_APPLICATION_ID, TEST_PRIVATE_KEY } from "./support/send_cli.ts";
import { busiestSeconds, realTimeLimit } from "./support/windows.ts";

/** A client of the test application for `server`. */
function clientFor(server: MockVonageServer): VonageClient {
  return createVonageClient({
    applicationId: TEST_APPLICATION_ID,
    privateKey: TEST_PRIVATE_KEY,
    baseUrl: server.url,
  });
}

const numbers = (count: number) =>
  Array.from({ length: count }, (_, i) => `1202555${String(1000 + i).padStart(4, "0")}`);

// How many 429s a paced client meets on a quiet machine (none) is measured in
// `deno task bench:pacing`; here only what holds on any machine is asserted.
Deno.test("50 sends paced by a TokenBucket at 10/s reach a 10/s mock no faster than 10/s, each accepted once", async () => {
  await using server = await serveTestMock({ ratePerSecond: 10, burst: 2 });
  const client = clientFor(server);
  const bucket = new TokenBucket({ ratePerSecond: 10 });
  const outcomes: SendOutcome[] = [];
  const startMs = Date.now();
  await Promise.all(
    numbers(50).map(async (to) => {
      // A 429 (a stalled machine can bunch requests) is retried with a token of its own.
      for (;;) {
        await bucket.take();
        const outcome = await client.sendSms({ to, from: "Politely", text: "paced" });
        outcomes.push(outcome);
        if (outcome.kind !== "throttled") return;
      }
    }),
  );
  const elapsedMs = Date.now() - startMs;

  const accepted = outcomes.filter((o) => o.kind === "accepted").length;
  const throttled = outcomes.filter((o) => o.kind === "throttled").length;
  assert.equal(accepted, 50);
  assert.equal(outcomes.length, 50 + throttled);
  // The mock's own account, over HTTP as any client would read it, agrees.
  const stats = await (await fetch(`${server.url}/stats`)).json();
  assert.equal(stats.throttled, throttled);
  assert.equal(stats.accepted, accepted);
  assert.equal(stats.arrivals, outcomes.length);
  assert.equal(stats.byStatus["202"], accepted);
  const listed: { messages: Array<{ to: string }> } = await (await fetch(`${server.url}/messages`))
    .json();
  assert.equal(listed.messages.length, 50);
  assert.equal(new Set(listed.messages.map((m) => m.to)).size, 50);
  // Never faster than allowed, with room for a stalled process (see support/windows.ts).
  const busiest = busiestSeconds(stats.perSecond, 2);
  assert.ok(busiest <= realTimeLimit(10, 1, 2_000), `${busiest} requests in 2 s`);
  // (50 − 1) / 10 s is the floor. The bucket's turns are computed, not chained, so a stall
  // delays the end by its own length only: 3 s of room. A bucket at 5/s would take 9.8 s.
  assert.ok(elapsedMs >= 4_850 && elapsedMs < 4_900 + 3_000, `took ${elapsedMs} ms`);
  // One token reused for every request: no RSA signature per send.
  assert.equal(client.tokensMinted, 1);
});

Deno.test("50 sends the article's way (no pacing, retry each 429) all end accepted, none twice", async () => {
  await using server = await serveTestMock({ ratePerSecond: 10, burst: 2 });
  const client = clientFor(server);
  const random = createRandom(7);
  let throttled = 0;
  const outcomes = await Promise.all(
    numbers(50).map((to) =>
      retry(async () => {
        const outcome = await client.sendSms({ to, from: "Politely", text: "naive" });
        if (outcome.kind === "throttled") throttled++;
        return outcome;
      }, {
        retryOnResult: (outcome) => outcome.kind === "throttled",
        backoff: { strategy: "exponential", jitter: "full", baseMs: 100, capMs: 2_000, random },
        maxElapsedMs: 60_000,
      })
    ),
  );

  assert.ok(outcomes.every((o) => o.kind === "accepted"));
  const stats = server.stats();
  assert.ok(throttled > 0, "an unpaced burst of 50 must meet 429s");
  assert.equal(stats.throttled, throttled);
  assert.equal(stats.accepted, 50);
  assert.equal(stats.arrivals, 50 + throttled);
  const accepted = server.messages().map((m) => m.to);
  assert.equal(accepted.length, 50);
  assert.equal(new Set(accepted).size, 50);
});

Deno.test("a dropped answer is reported uncertain and never silently sent again", async () => {
  await using server = await serveTestMock({ ratePerSecond: 0, dropRate: 0.5, seed: 7 });
  const client = clientFor(server);
  const outcomes: SendOutcome[] = [];
  // One after another, so that without care a kept-alive connection would be reused.
  for (const to of numbers(40)) {
    outcomes.push(await client.sendSms({ to, from: "Politely", text: "drops" }));
  }
  const stats = server.stats();
  const uncertain = outcomes.filter((o) => o.kind === "uncertain").length;
  assert.equal(stats.arrivals, 40, "each send must reach the server exactly once");
  assert.equal(uncertain, stats.byStatus["dropped"]);
  assert.ok(uncertain > 5 && uncertain < 35, `${uncertain} dropped`);
  assert.equal(outcomes.filter((o) => o.kind === "accepted").length, 40 - uncertain);
});
