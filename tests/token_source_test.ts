import assert from "node:assert/strict";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { VonageCredentialsError } from "../lib/vonage/jwt.ts";
import { VonageTokenSource } from "../lib/vonage/token_source.ts";

const PRIVATE_PEM = await Deno.readTextFile(
  new URL("../fixtures/test_private.key", import.meta.url),
);
const APP_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab";

function claims(jwt: string): { iat: number; exp: number; jti: string } {
  const payload = jwt.split(".")[1]!.replaceAll("-", "+").replaceAll("_", "/");
  return JSON.parse(atob(payload + "=".repeat((4 - payload.length % 4) % 4)));
}

Deno.test("VonageTokenSource.get() reuses one token until 60 s before it expires", async () => {
  const clock = new FakeClock(1_000_000);
  const tokens = new VonageTokenSource({ applicationId: APP_ID, privateKey: PRIVATE_PEM, clock });
  const first = await tokens.get();
  assert.equal(claims(first).exp - claims(first).iat, 900);
  await clock.advance(839_999);
  assert.equal(await tokens.get(), first);
  assert.equal(tokens.mintCount, 1);
  await clock.advance(1);
  const second = await tokens.get();
  assert.notEqual(second, first);
  assert.equal(tokens.mintCount, 2);
  assert.equal(claims(second).iat, (1_000_000 + 840_000) / 1000);
});

Deno.test("VonageTokenSource.get() counts expiry from iat rounded down to the second", async () => {
  const clock = new FakeClock(10_900);
  const tokens = new VonageTokenSource({ applicationId: APP_ID, privateKey: PRIVATE_PEM, clock });
  const first = await tokens.get();
  assert.equal(claims(first).iat, 10);
  // exp is 10 + 900 = 910 s, so the token goes stale at 850 s, not 850.9 s.
  await clock.advanceTo(849_999);
  assert.equal(await tokens.get(), first);
  await clock.advanceTo(850_000);
  assert.notEqual(await tokens.get(), first);
});

Deno.test("VonageTokenSource.get() shares one in-flight mint among concurrent callers", async () => {
  const tokens = new VonageTokenSource({
    applicationId: APP_ID,
    privateKey: PRIVATE_PEM,
    clock: new FakeClock(),
  });
  const all = await Promise.all(Array.from({ length: 20 }, () => tokens.get()));
  assert.equal(new Set(all).size, 1);
  assert.equal(tokens.mintCount, 1);
});

Deno.test("VonageTokenSource.invalidate() after a 401 leads to exactly one re-mint", async () => {
  const tokens = new VonageTokenSource({
    applicationId: APP_ID,
    privateKey: PRIVATE_PEM,
    clock: new FakeClock(),
  });
  const refused = await tokens.get();
  // Three requests that carried the same token all come back 401.
  tokens.invalidate(refused);
  const renewed = await Promise.all([tokens.get(), tokens.get()]);
  tokens.invalidate(refused);
  const later = await tokens.get();
  assert.notEqual(renewed[0], refused);
  assert.equal(renewed[1], renewed[0]);
  assert.equal(later, renewed[0]);
  assert.equal(tokens.mintCount, 2);
});

Deno.test("VonageTokenSource keeps short-lived tokens for half their life", async () => {
  const clock = new FakeClock();
  const tokens = new VonageTokenSource({
    applicationId: APP_ID,
    privateKey: PRIVATE_PEM,
    ttlSeconds: 60,
    clock,
  });
  const first = await tokens.get();
  await clock.advance(29_999);
  assert.equal(await tokens.get(), first);
  await clock.advance(1);
  assert.notEqual(await tokens.get(), first);
});

Deno.test("VonageTokenSource.get() rejects a bad key every time, and each caller sees it", async () => {
  const tokens = new VonageTokenSource({
    applicationId: APP_ID,
    privateKey: "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
    clock: new FakeClock(),
  });
  const results = await Promise.allSettled([tokens.get(), tokens.get()]);
  for (const result of results) {
    assert.equal(result.status, "rejected");
    assert.ok(result.reason instanceof VonageCredentialsError);
  }
  await assert.rejects(tokens.get(), VonageCredentialsError);
  assert.equal(tokens.mintCount, 0);
});

Deno.test("new VonageTokenSource() checks its numbers", () => {
  assert.throws(
    () => new VonageTokenSource({ applicationId: APP_ID, privateKey: PRIVATE_PEM, ttlSeconds: 10 }),
    /'ttlSeconds' must be an integer from 30 to 86400, current value is 10/,
  );
  assert.throws(
    () =>
      new VonageTokenSource({
        applicationId: APP_ID,
        privateKey: PRIVATE_PEM,
        refreshBeforeMs: -1,
      }),
    RangeError,
  );
});
