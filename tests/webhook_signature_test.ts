import assert from "node:assert/strict";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { signWebhookBody, verifyWebhookSignature } from "../lib/vonage/webhook_signature.ts";

const SECRET = "test-signature-secret-0123456789";
const NOW = Date.UTC(2026, 11, 1, 12);
const BODY = JSON.stringify({
  message_uuid: "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
  to: "14155550100",
  timestamp: "2026-12-01T12:00:00.000Z",
  status: "delivered",
});
const bytes = (text: string) => new TextEncoder().encode(text);
const base64url = (text: string) =>
  btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
const clock = () => new FakeClock(NOW);

async function verify(authorization: string | null, body = BODY, secret = SECRET) {
  return await verifyWebhookSignature(authorization, bytes(body), secret, { clock: clock() });
}

Deno.test("verifyWebhookSignature() accepts a webhook signed with the secret, and returns its jti and iat", async () => {
  const token = await signWebhookBody(BODY, SECRET, { issuedAtMs: NOW - 1_000, jti: "j-1" });
  const verdict = await verify(`Bearer ${token}`);
  assert.deepEqual(verdict, { ok: true, jti: "j-1", issuedAtMs: NOW - 1_000 });
});

Deno.test("verifyWebhookSignature() refuses a webhook signed with another secret", async () => {
  const token = await signWebhookBody(BODY, "someone-elses-secret", { issuedAtMs: NOW });
  const verdict = await verify(`Bearer ${token}`);
  assert.deepEqual(verdict, {
    ok: false,
    reason: "the signature does not match the signature secret",
  });
});

Deno.test("verifyWebhookSignature() refuses a body changed after signing (payload_hash)", async () => {
  const token = await signWebhookBody(BODY, SECRET, { issuedAtMs: NOW });
  const tampered = BODY.replace('"delivered"', '"rejected"');
  const verdict = await verify(`Bearer ${token}`, tampered);
  assert.deepEqual(verdict, {
    ok: false,
    reason: "payload_hash does not match the body: it was altered",
  });
});

Deno.test("verifyWebhookSignature() refuses an unsigned webhook and a header that is not Bearer", async () => {
  assert.deepEqual(await verify(null), {
    ok: false,
    reason: "no Authorization header: the webhook is unsigned",
  });
  assert.deepEqual(await verify(""), {
    ok: false,
    reason: "no Authorization header: the webhook is unsigned",
  });
  assert.deepEqual(await verify(`Basic ${btoa("key:secret")}`), {
    ok: false,
    reason: "the Authorization header is not 'Bearer <JWT>'",
  });
  assert.deepEqual(await verify("Bearer not-a-jwt"), {
    ok: false,
    reason: "the token is malformed (ERR_JWS_INVALID)",
  });
});

Deno.test("verifyWebhookSignature() refuses a stale iat and one far in the future", async () => {
  const stale = await signWebhookBody(BODY, SECRET, { issuedAtMs: NOW - 301_000 });
  assert.deepEqual(await verify(`Bearer ${stale}`), {
    ok: false,
    reason: "the token is stale: iat is 301 s old, more than the 300 s allowed",
  });
  const borderline = await signWebhookBody(BODY, SECRET, { issuedAtMs: NOW - 300_000 });
  assert.equal((await verify(`Bearer ${borderline}`)).ok, true);
  const future = await signWebhookBody(BODY, SECRET, { issuedAtMs: NOW + 120_000 });
  assert.deepEqual(await verify(`Bearer ${future}`), {
    ok: false,
    reason: "the token's iat is 120 s in the future",
  });
});

Deno.test("verifyWebhookSignature() refuses alg none, even with every claim right", async () => {
  const signed = await signWebhookBody(BODY, SECRET, { issuedAtMs: NOW });
  const payload = signed.split(".")[1]!;
  const unsigned = `${base64url(JSON.stringify({ alg: "none", typ: "JWT" }))}.${payload}.`;
  assert.deepEqual(await verify(`Bearer ${unsigned}`), {
    ok: false,
    reason: "the token is not signed with HS256 (alg 'none' and others are refused)",
  });
  // The signed token's own signature under a header that claims another HMAC.
  const [, , signature] = signed.split(".");
  const relabelled = `${
    base64url(JSON.stringify({ alg: "HS512", typ: "JWT" }))
  }.${payload}.${signature}`;
  assert.equal((await verify(`Bearer ${relabelled}`)).ok, false);
});

Deno.test("verifyWebhookSignature() refuses a token without jti or payload_hash", async () => {
  const { SignJWT } = await import("../lib/deps/jose.ts");
  const key = bytes(SECRET);
  const noJti = await new SignJWT({ payload_hash: "00" }).setProtectedHeader({ alg: "HS256" })
    .setIssuedAt(NOW / 1000).sign(key);
  assert.deepEqual(await verify(`Bearer ${noJti}`), {
    ok: false,
    reason: "the token has no jti, so a replay could not be told apart",
  });
  const noHash = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setJti("j")
    .setIssuedAt(NOW / 1000).sign(key);
  assert.deepEqual(await verify(`Bearer ${noHash}`), {
    ok: false,
    reason: "the token has no payload_hash",
  });
});

Deno.test("verifyWebhookSignature() throws for an empty secret: a setup mistake, not a bad webhook", async () => {
  await assert.rejects(
    () => verifyWebhookSignature("Bearer x", bytes(BODY), ""),
    /'secret' must be the account's signature secret/,
  );
});
