import assert from "node:assert/strict";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { SeenTokens } from "../lib/receipts/seen_tokens.ts";

Deno.test("SeenTokens refuses a jti twice, lets a released one be claimed again, and forgets tokens past the age window", async () => {
  const clock = new FakeClock(Date.UTC(2026, 11, 1));
  const seen = new SeenTokens({ maxAgeMs: 300_000, skewMs: 60_000, clock });
  const issuedAtMs = clock.now();
  assert.equal(seen.claim("a", issuedAtMs), true);
  assert.equal(seen.claim("a", issuedAtMs), false);
  seen.release("a");
  assert.equal(seen.claim("a", issuedAtMs), true);

  // Remembered from disk: one still in the window, one too old to pass the age check anyway.
  seen.remember([["old", issuedAtMs - 361_000], ["recent", issuedAtMs - 10_000]]);
  assert.equal(seen.size, 2, "'old' is pruned at once");
  assert.equal(seen.claim("recent", issuedAtMs), false);

  // Six minutes later every token so far is past maxAge + skew; pruning runs every 1024 claims.
  await clock.advance(361_000);
  for (let i = 0; i < 1024; i++) seen.claim(`new-${i}`, clock.now());
  assert.equal(seen.size, 1024, "the 1024th claim pruned 'a' and 'recent', kept the new ones");
  assert.equal(seen.claim("a", issuedAtMs), true, "'a' was forgotten with its window");
});
