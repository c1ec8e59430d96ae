import assert from "node:assert/strict";
import { generateVonageKeyPair } from "../lib/mock/key_pair.ts";
import { importPKCS8, SignJWT } from "../lib/deps/jose.ts";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { parseRateLimit } from "../lib/core/rate_limit_headers.ts";
import {
  createMockVonage,
  DroppedConnectionError,
  type MockVonage,
  type MockVonageOptions,
  serveMockVonage,
} from "../lib/mock/mod.ts";
import { importVerificationKey, VonageJwtVerifier } from "../lib/mock/verify_vonage_jwt.ts";

const APP_ID = "test-app";
const publicKey = await Deno.readTextFile(new URL("../fixtures/test_public.pem", import.meta.url));
const privateKey = await importPKCS8(
  await Deno.readTextFile(new URL("../fixtures/test_private.key", import.meta.url)),
  "RS256",
);
const otherKey = await importPKCS8(
  await Deno.readTextFile(new URL("../fixtures/other_private.key", import.meta.url)),
  "RS256",
);
const nowSeconds = () => Math.floor(Date.now() / 1000);

interface TokenOptions {
  claims?: Record<string, unknown>;
  key?: CryptoKey;
  iat?: number | null;
  jti?: string | null;
  exp?: number | null;
}

/** A Vonage-style token; pass `null` to leave a claim out. */
function token(options: TokenOptions = {}): Promise<string> {
  const { claims = {}, key = privateKey, iat = nowSeconds(), jti = crypto.randomUUID() } = options;
  const exp = options.exp === undefined ? nowSeconds() + 900 : options.exp;
  const jwt = new SignJWT({ application_id: APP_ID, ...claims })
    .setProtectedHeader({ alg: "RS256", typ: "JWT" });
  if (iat !== null) jwt.setIssuedAt(iat);
  if (jti !== null) jwt.setJti(jti);
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(key);
}

const SMS = { message_type: "text", channel: "sms", to: "447700900001", from: "Acme", text: "Hi" };

async function send(
  mock: MockVonage,
  body: unknown = SMS,
  headers: Record<string, string> | Promise<Record<string, string>> = authorized(),
): Promise<Response> {
  return await mock.app.request("/v1/messages", {
    method: "POST",
    headers: { "content-type": "application/json", ...await headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function authorized(options?: TokenOptions): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${await token(options)}` };
}

function mock(options: Partial<MockVonageOptions> = {}): Promise<MockVonage> {
  return createMockVonage({
    publicKey,
    applicationId: APP_ID,
    ratePerSecond: 0,
    clock: new FakeClock(),
    ...options,
  });
}

async function problemOf(response: Response) {
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  const body = await response.json();
  for (const field of ["type", "title", "detail", "instance"]) {
    assert.equal(typeof body[field], "string", `problem+json has a string ${field}`);
  }
  return body;
}

Deno.test("POST /v1/messages answers 202 with a message_uuid and records the message", async () => {
  const m = await mock();
  const response = await send(m, { ...SMS, client_ref: "order-17" });
  assert.equal(response.status, 202);
  assert.equal(response.headers.get("content-type"), "application/json");
  const { message_uuid } = await response.json();
  assert.match(
    message_uuid,
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
  assert.deepEqual(m.messages(), [{
    to: SMS.to,
    from: SMS.from,
    text: SMS.text,
    client_ref: "order-17",
    message_uuid,
    timeMs: 0,
    answered: true,
  }]);
});

Deno.test("POST /v1/messages refuses every bad token with a 401 problem", async (t) => {
  const m = await mock();
  const cases: Array<[string, Record<string, string> | Promise<Record<string, string>>, RegExp]> = [
    ["no Authorization header", {}, /Missing 'Authorization: Bearer/],
    ["Basic auth", { authorization: "Basic YTpi" }, /must be 'Bearer <JWT>'/],
    ["a token that is not a JWT", { authorization: "Bearer not.a.jwt" }, /malformed/],
    [
      "an HS256 token",
      (async () => ({
        authorization: `Bearer ${await new SignJWT({ application_id: APP_ID, jti: "j" })
          .setProtectedHeader({ alg: "HS256" })
          .setIssuedAt()
          .sign(new Uint8Array(32))}`,
      }))(),
      /RS256/,
    ],
    ["a token signed with another key", authorized({ key: otherKey }), /signature/],
    [
      "an expired token",
      authorized({ iat: nowSeconds() - 120, exp: nowSeconds() - 60 }),
      /expired/,
    ],
    [
      "a token without exp older than 15 minutes",
      authorized({ iat: nowSeconds() - 16 * 60, exp: null }),
      /expired.*15 minutes/,
    ],
    ["a token without iat", authorized({ iat: null }), /lacks the required iat/],
    ["a token without jti", authorized({ jti: null }), /lacks the required jti/],
    ["an empty jti", authorized({ jti: "" }), /jti claim must be a non-empty string/],
    [
      "a token without application_id",
      authorized({ claims: { application_id: undefined } }),
      /lacks the required application_id/,
    ],
    [
      "another application's token",
      authorized({ claims: { application_id: "someone-else" } }),
      /"someone-else", not this application's/,
    ],
    [
      "a lifetime over 24 hours",
      authorized({ exp: nowSeconds() + 25 * 3600 }),
      /longer than 24 hours/,
    ],
    ["an iat in the future", authorized({ iat: nowSeconds() + 600 }), /iat claim is not valid/],
    ["a token not yet valid", authorized({ claims: { nbf: nowSeconds() + 600 } }), /nbf/],
  ];
  for (const [name, headers, detail] of cases) {
    await t.step(name, async () => {
      const response = await send(m, SMS, headers);
      assert.equal(response.status, 401);
      const body = await problemOf(response);
      assert.equal(body.title, "Unauthorized");
      assert.match(body.detail, detail);
    });
  }
  assert.equal(m.stats().byStatus["401"], cases.length);
  assert.deepEqual(m.messages(), []);
});

Deno.test("POST /v1/messages accepts a token without exp within 15 minutes of iat", async () => {
  const m = await mock();
  const response = await send(m, SMS, authorized({ iat: nowSeconds() - 60, exp: null }));
  assert.equal(response.status, 202);
  await response.body?.cancel();
});

Deno.test("VonageJwtVerifier remembers a good token only while its time claims hold", async () => {
  const verifier = new VonageJwtVerifier(await importVerificationKey(publicKey), APP_ID);
  const iat = nowSeconds();
  const { authorization } = await authorized({ iat, exp: iat + 60 });
  const nowMs = iat * 1000;
  assert.equal(await verifier.verify(authorization, nowMs), undefined);
  assert.equal(await verifier.verify(authorization, nowMs + 30_000), undefined);
  // Past exp (plus the 5 s tolerance) the full check runs again and says why.
  assert.match((await verifier.verify(authorization, nowMs + 66_000))!, /expired/);
  assert.match((await verifier.verify(authorization, nowMs - 60_000))!, /iat claim is not valid/);
  // A token refused once is refused again: failures are never remembered.
  const { authorization: foreign } = await authorized({ key: otherKey });
  assert.match((await verifier.verify(foreign, nowMs))!, /signature/);
  assert.match((await verifier.verify(foreign, nowMs))!, /signature/);
});

Deno.test("POST /v1/messages answers 400 for malformed JSON and 413 over maxBodyBytes", async () => {
  const m = await mock({ maxBodyBytes: 1_000 });
  const malformed = await send(m, '{"to": ');
  assert.equal(malformed.status, 400);
  assert.match((await problemOf(malformed)).detail, /not valid JSON/);

  const empty = await send(m, "");
  assert.equal(empty.status, 400);
  await empty.body?.cancel();

  const large = await send(m, { ...SMS, text: "x".repeat(1_001) });
  assert.equal(large.status, 413);
  assert.match((await problemOf(large)).detail, /larger than 1000 bytes/);

  // A streamed body has no Content-Length: the size is found while reading.
  const chunk = new TextEncoder().encode(" ".repeat(400));
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(chunk);
    },
  });
  const streamed = await m.app.request("/v1/messages", {
    method: "POST",
    headers: await authorized(),
    body: stream,
  });
  assert.equal(streamed.status, 413);
  await streamed.body?.cancel();
  assert.deepEqual(m.stats().byStatus, { "400": 2, "413": 2 });
});

Deno.test("POST /v1/messages refuses 64 KiB + 1 bytes by default", async () => {
  const m = await mock();
  const response = await send(m, " ".repeat(65_537));
  assert.equal(response.status, 413);
  await response.body?.cancel();
  const fits = await send(m, JSON.stringify(SMS).padEnd(65_536, " "));
  assert.equal(fits.status, 202);
  await fits.body?.cancel();
});

Deno.test("POST /v1/messages answers 422 naming each invalid field", async (t) => {
  const m = await mock();
  const cases: Array<[string, unknown, string[]]> = [
    ["a JSON array", [SMS], ["body"]],
    ["no fields at all", {}, ["message_type", "channel", "to", "from", "text"]],
    ["message_type image", { ...SMS, message_type: "image" }, ["message_type"]],
    ["channel whatsapp", { ...SMS, channel: "whatsapp" }, ["channel"]],
    ["to with a +", { ...SMS, to: "+447700900001" }, ["to"]],
    ["to with 6 digits", { ...SMS, to: "447700" }, ["to"]],
    ["to with 16 digits", { ...SMS, to: "4477009000011234" }, ["to"]],
    ["to as a number", { ...SMS, to: 447700900001 }, ["to"]],
    ["from with 12 letters", { ...SMS, from: "AcmeWidgetsX" }, ["from"]],
    ["from with punctuation", { ...SMS, from: "Acme!" }, ["from"]],
    ["from with 16 digits", { ...SMS, from: "4477009000011234" }, ["from"]],
    ["empty text", { ...SMS, text: "" }, ["text"]],
    ["text of 1001 characters", { ...SMS, text: "é".repeat(1_001) }, ["text"]],
    ["client_ref of 101 characters", { ...SMS, client_ref: "r".repeat(101) }, ["client_ref"]],
    ["client_ref as a number", { ...SMS, client_ref: 5 }, ["client_ref"]],
    ["a webhook_url that is no URL", { ...SMS, webhook_url: "nowhere" }, ["webhook_url"]],
    ["webhook_version v2", { ...SMS, webhook_version: "v2" }, ["webhook_version"]],
    ["a negative ttl", { ...SMS, ttl: -5 }, ["ttl"]],
    ["sms.encoding_type binary", { ...SMS, sms: { encoding_type: "binary" } }, [
      "sms.encoding_type",
    ]],
    ["bad to and text together", { ...SMS, to: "12", text: 3 }, ["to", "text"]],
  ];
  for (const [name, body, fields] of cases) {
    await t.step(name, async () => {
      const response = await send(m, body);
      assert.equal(response.status, 422);
      const problem = await problemOf(response);
      assert.equal(problem.title, "Invalid params");
      assert.deepEqual(problem.invalid_parameters.map((p: { name: string }) => p.name), fields);
      for (const parameter of problem.invalid_parameters) {
        assert.ok(parameter.reason.length > 0);
      }
    });
  }
  assert.deepEqual(m.messages(), []);
});

Deno.test("POST /v1/messages accepts the edges of every field", async () => {
  const m = await mock();
  const bodies = [
    { ...SMS, to: "4477009", from: "447700900002" },
    { ...SMS, to: "447700900001234", from: "Acme Shop 1" },
    { ...SMS, text: "é".repeat(1_000), client_ref: "r".repeat(100) },
    {
      ...SMS,
      webhook_url: "https://example.com/status",
      webhook_version: "v1",
      ttl: 600,
      sms: { encoding_type: "unicode" },
      extra_field: "ignored",
    },
  ];
  for (const body of bodies) {
    const response = await send(m, body);
    assert.equal(response.status, 202, JSON.stringify(body));
    await response.body?.cancel();
  }
});

Deno.test("POST /v1/messages answers 429 like Vonage once the bucket is empty, and 202 after refill", async () => {
  const clock = new FakeClock();
  const m = await mock({ ratePerSecond: 1, burst: 1, clock });
  const first = await send(m);
  assert.equal(first.status, 202);
  await first.body?.cancel();

  const throttled = await send(m);
  assert.equal(throttled.status, 429);
  assert.equal(throttled.headers.get("retry-after"), null, "no Retry-After unless asked");
  assert.equal(throttled.headers.get("ratelimit"), null, "no RateLimit unless asked");
  const problem = await problemOf(throttled);
  assert.equal(problem.title, "Rate Limit Hit");
  assert.equal(problem.detail, "Please wait, then retry your request");

  await clock.advance(999);
  const early = await send(m);
  assert.equal(early.status, 429);
  await early.body?.cancel();
  await clock.advance(1);
  const refilled = await send(m);
  assert.equal(refilled.status, 202);
  await refilled.body?.cancel();
  assert.equal(m.messages().length, 2);
});

Deno.test("POST /v1/messages lets a burst through at once, then paces at the rate", async () => {
  const clock = new FakeClock();
  const m = await mock({ ratePerSecond: 10, burst: 3, clock });
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) {
    const response = await send(m);
    statuses.push(response.status);
    await response.body?.cancel();
  }
  assert.deepEqual(statuses, [202, 202, 202, 429]);
  await clock.advance(100);
  const next = await send(m);
  assert.equal(next.status, 202);
  await next.body?.cancel();
});

Deno.test("POST /v1/messages sends Retry-After in whole seconds until the next token when asked", async () => {
  const clock = new FakeClock();
  const m = await mock({ ratePerSecond: 0.25, burst: 1, retryAfter: true, clock });
  (await send(m)).body?.cancel();
  const throttled = await send(m);
  assert.equal(throttled.status, 429);
  assert.equal(throttled.headers.get("retry-after"), "4");
  await throttled.body?.cancel();
  await clock.advance(1_500);
  const later = await send(m);
  assert.equal(later.headers.get("retry-after"), "3");
  await later.body?.cancel();
  await clock.advance(2_500);
  const accepted = await send(m);
  assert.equal(accepted.status, 202);
  assert.equal(accepted.headers.get("retry-after"), null);
  await accepted.body?.cancel();
});

Deno.test("POST /v1/messages sends IETF RateLimit fields that politely's parser reads", async () => {
  const clock = new FakeClock();
  const m = await mock({ ratePerSecond: 2, burst: 3, rateLimitHeaders: true, clock });
  const seen = [];
  for (let i = 0; i < 4; i++) {
    const response = await send(m);
    seen.push({ status: response.status, ...parseRateLimit(response.headers, Date.now()) });
    assert.equal(response.headers.get("ratelimit-policy"), '"default";q=2;w=1');
    await response.body?.cancel();
  }
  assert.deepEqual(seen, [
    { status: 202, limit: 2, remaining: 2, resetMs: 1_000, policyWindowMs: 1_000 },
    { status: 202, limit: 2, remaining: 1, resetMs: 1_000, policyWindowMs: 1_000 },
    { status: 202, limit: 2, remaining: 0, resetMs: 1_000, policyWindowMs: 1_000 },
    { status: 429, limit: 2, remaining: 0, resetMs: 1_000, policyWindowMs: 1_000 },
  ]);
  const slow = await mock({ ratePerSecond: 0.2, rateLimitHeaders: true, clock });
  const response = await send(slow);
  assert.equal(response.headers.get("ratelimit-policy"), '"default";q=1;w=5');
  assert.equal(response.headers.get("ratelimit"), '"default";r=0;t=5');
  await response.body?.cancel();
});

Deno.test("POST /v1/messages charges invalid requests to the rate limit, but not unauthenticated ones", async () => {
  const m = await mock({ ratePerSecond: 1, burst: 1 });
  const unauthenticated = await send(m, SMS, {});
  assert.equal(unauthenticated.status, 401);
  await unauthenticated.body?.cancel();
  const invalid = await send(m, { ...SMS, to: "x" });
  assert.equal(invalid.status, 422);
  await invalid.body?.cancel();
  const throttled = await send(m);
  assert.equal(throttled.status, 429);
  await throttled.body?.cancel();
  // A throttled request's body is never read: even garbage gets 429, not 400.
  const garbage = await send(m, "{oops");
  assert.equal(garbage.status, 429);
  await garbage.body?.cancel();
});

Deno.test("POST /v1/messages never throttles with ratePerSecond 0 or Infinity", async () => {
  for (const ratePerSecond of [0, Infinity]) {
    const m = await mock({ ratePerSecond });
    for (let i = 0; i < 30; i++) {
      const response = await send(m);
      assert.equal(response.status, 202);
      await response.body?.cancel();
    }
    const stats = m.stats();
    assert.equal(stats.accepted, 30);
    assert.equal(stats.ratePerSecond, null);
    assert.equal(stats.burst, null);
  }
});

Deno.test("failRate answers 500 without accepting, reproducibly from the seed", async () => {
  const run = async (seed: number) => {
    const m = await mock({ failRate: 0.5, seed });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const response = await send(m);
      statuses.push(response.status);
      if (response.status === 500) {
        assert.match((await problemOf(response)).detail, /failRate/);
      } else await response.body?.cancel();
    }
    return { statuses, m };
  };
  const a = await run(7);
  const b = await run(7);
  const c = await run(8);
  assert.deepEqual(a.statuses, b.statuses);
  assert.notDeepEqual(a.statuses, c.statuses);
  const failures = a.statuses.filter((s) => s === 500).length;
  assert.ok(failures > 8 && failures < 32, `about half fail, got ${failures}`);
  assert.equal(a.m.messages().length, 40 - failures);
  assert.equal(a.m.stats().byStatus["500"], failures);
  assert.equal(a.m.stats().seed, 7);

  const always = await mock({ failRate: 1 });
  const response = await send(always);
  assert.equal(response.status, 500);
  await response.body?.cancel();
});

Deno.test("failStatus 402 answers a low-balance problem and accepts nothing", async () => {
  const m = await mock({ failRate: 1, failStatus: 402 });
  const response = await send(m);
  assert.equal(response.status, 402);
  const body = await problemOf(response);
  assert.equal(body.title, "Low balance");
  assert.match(body.detail, /Top up/);
  assert.equal(m.messages().length, 0);
  assert.equal(m.stats().byStatus["402"], 1);
  await assert.rejects(mock({ failStatus: 418 as 500 }), /'failStatus' must be one of 402, 500/);
});

Deno.test("dropRate accepts the message and rejects app.request with a DroppedConnectionError", async () => {
  const m = await mock({ dropRate: 1 });
  await assert.rejects(send(m), (error: unknown) => {
    assert.ok(error instanceof DroppedConnectionError);
    assert.ok(error instanceof TypeError, "like fetch, a dropped connection is a TypeError");
    return true;
  });
  const [message] = m.messages();
  assert.equal(message?.answered, false);
  assert.equal(message?.to, SMS.to);
  const stats = m.stats();
  assert.deepEqual(stats.byStatus, { dropped: 1 });
  assert.equal(stats.accepted, 1);
});

Deno.test("latencyMs holds the answer until the clock has moved that far", async () => {
  const clock = new FakeClock();
  const m = await mock({ latencyMs: 250, clock });
  let status = 0;
  const pending = send(m).then(async (response) => {
    status = response.status;
    await response.body?.cancel();
  });
  // Verifying the token takes real time (Web Crypto); wait until the answer is held.
  while (clock.pendingSleepers === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  await clock.advance(249);
  assert.equal(status, 0);
  await clock.advance(1);
  await pending;
  assert.equal(status, 202);
});

Deno.test("GET /stats counts every answer and a per-second series by arrival", async () => {
  const clock = new FakeClock(5_000);
  const m = await mock({ ratePerSecond: 1, burst: 1, clock });
  const at = async (ms: number, body: unknown = SMS) => {
    await clock.advanceTo(5_000 + ms);
    const response = await send(m, body);
    await response.body?.cancel();
  };
  await at(0); // 202
  await at(100); // 429
  await at(200); // 429
  await at(1_000); // 202
  await at(1_500, { ...SMS, to: "1" }); // 429: the bucket is empty, the body is never read
  await at(3_200, { ...SMS, to: "1" }); // 422
  await clock.advanceTo(9_000);

  const response = await m.app.request("/stats");
  assert.equal(response.status, 200);
  const stats = await response.json();
  assert.deepEqual(stats, {
    uptimeMs: 4_000,
    ratePerSecond: 1,
    burst: 1,
    seed: stats.seed,
    arrivals: 6,
    accepted: 2,
    throttled: 3,
    byStatus: { "202": 2, "422": 1, "429": 3 },
    perSecond: [
      { second: 0, arrivals: 3, accepted: 1, throttled: 2 },
      { second: 1, arrivals: 2, accepted: 1, throttled: 1 },
      { second: 3, arrivals: 1, accepted: 0, throttled: 0 },
    ],
  });
  assert.deepEqual(m.stats(), stats);
});

Deno.test("GET /messages lists accepted messages, keeping the newest maxStoredMessages", async () => {
  const clock = new FakeClock();
  const m = await mock({ maxStoredMessages: 2, clock });
  for (const to of ["4477009000001", "4477009000002", "4477009000003", "4477009000004"]) {
    await clock.advance(10);
    const response = await send(m, { ...SMS, to });
    await response.body?.cancel();
  }
  const response = await m.app.request("/messages");
  const { messages } = await response.json();
  assert.deepEqual(messages.map((message: { to: string }) => message.to), [
    "4477009000003",
    "4477009000004",
  ]);
  assert.deepEqual(messages.map((message: { timeMs: number }) => message.timeMs), [30, 40]);
  assert.equal(m.stats().accepted, 4);
});

Deno.test("the mock answers 404 and 405 problems for other routes", async () => {
  const m = await mock();
  const notFound = await m.app.request("/v0.1/messages", { method: "POST" });
  assert.equal(notFound.status, 404);
  await problemOf(notFound);
  const wrongMethod = await m.app.request("/v1/messages");
  assert.equal(wrongMethod.status, 405);
  assert.equal(wrongMethod.headers.get("allow"), "POST");
  await problemOf(wrongMethod);
});

Deno.test("createMockVonage() refuses bad options with errors that name them", async () => {
  await assert.rejects(mock({ publicKey: "not a key" }), TypeError);
  await assert.rejects(
    mock({ publicKey: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----" }),
    /not a readable RSA public key/,
  );
  await assert.rejects(mock({ applicationId: "" }), /'applicationId' must be a non-empty string/);
  await assert.rejects(mock({ ratePerSecond: -1 }), RangeError);
  await assert.rejects(mock({ ratePerSecond: 1, burst: 0.5 }), /'burst'/);
  await assert.rejects(mock({ failRate: 1.5 }), /'failRate' must be a number from 0 to 1/);
  await assert.rejects(mock({ failRate: 0.6, dropRate: 0.6 }), /at most 1 - failRate/);
  await assert.rejects(mock({ latencyMs: -1 }), /'latencyMs'/);
  await assert.rejects(mock({ maxBodyBytes: 0 }), /'maxBodyBytes'/);
  await assert.rejects(mock({ seed: NaN }), /'seed'/);
});

Deno.test("createMockVonage() takes the public key as a CryptoKey too", async () => {
  const pair = await generateVonageKeyPair();
  const m = await mock({ publicKey: pair.publicKey });
  const accepted = await send(m, SMS, authorized({ key: pair.privateKey }));
  assert.equal(accepted.status, 202);
  await accepted.body?.cancel();
  const refused = await send(m);
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
  await assert.rejects(mock({ publicKey: pair.privateKey }), TypeError);
});

// --- On a real socket -------------------------------------------------------

Deno.test("serveMockVonage() answers a real fetch with 202 and shuts down cleanly", async () => {
  const server = await serveMockVonage({ publicKey, applicationId: APP_ID, ratePerSecond: 100 });
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const response = await fetch(`${server.url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", ...await authorized() },
    body: JSON.stringify(SMS),
  });
  assert.equal(response.status, 202);
  const { message_uuid } = await response.json();
  assert.equal(server.messages()[0]?.message_uuid, message_uuid);
  const stats = await (await fetch(`${server.url}/stats`)).json();
  assert.equal(stats.accepted, 1);
  await server.shutdown();
  await server.shutdown(); // a second call is harmless
  await assert.rejects(fetch(`${server.url}/stats`), TypeError);
});

Deno.test("serveMockVonage() with dropRate 1 closes the socket with no answer: fetch rejects", async () => {
  await using server = await serveMockVonage({
    publicKey,
    applicationId: APP_ID,
    ratePerSecond: 0,
    dropRate: 1,
  });
  const headers = { "content-type": "application/json", ...await authorized() };
  await assert.rejects(
    fetch(`${server.url}/v1/messages`, { method: "POST", headers, body: JSON.stringify(SMS) }),
    TypeError,
  );

  // Not a byte of an answer: a raw client reads end-of-stream straight away.
  const body = JSON.stringify(SMS);
  const request =
    `POST /v1/messages HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n` +
    `authorization: ${headers.authorization}\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await conn.write(new TextEncoder().encode(request));
  const received = await new Response(conn.readable).arrayBuffer().catch(() => new ArrayBuffer(0));
  assert.equal(received.byteLength, 0);

  // Requests that are not dropped (here: no token) are answered through the same front.
  const unauthorized = await fetch(`${server.url}/v1/messages`, { method: "POST", body });
  assert.equal(unauthorized.status, 401);
  await unauthorized.body?.cancel();
  assert.deepEqual(server.stats().byStatus, { "401": 1, dropped: 2 });
  assert.deepEqual(server.messages().map((m) => m.answered), [false, false]);
});

Deno.test("serveMockVonage() with dropRate 0.5 drops exactly the connections it counts", async () => {
  await using server = await serveMockVonage({
    publicKey,
    applicationId: APP_ID,
    ratePerSecond: 0,
    dropRate: 0.5,
    seed: 3,
  });
  // No connection reuse: a pooled fetch silently resends a POST whose reused
  // connection closed without an answer, which would blur the count here.
  using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  const headers = { "content-type": "application/json", ...await authorized() };
  let answered = 0, failed = 0;
  for (let i = 0; i < 20; i++) {
    try {
      const response = await fetch(`${server.url}/v1/messages`, {
        method: "POST",
        headers,
        body: JSON.stringify(SMS),
        client,
      });
      assert.equal(response.status, 202);
      await response.body?.cancel();
      answered++;
    } catch (error: unknown) {
      assert.ok(error instanceof TypeError);
      failed++;
    }
  }
  const stats = server.stats();
  assert.equal(stats.byStatus["202"] ?? 0, answered);
  assert.equal(stats.byStatus.dropped ?? 0, failed);
  assert.ok(answered > 0 && failed > 0, `both happen: ${answered} answered, ${failed} dropped`);
  assert.equal(stats.arrivals, 20);
  assert.equal(server.messages().length, 20);
});

Deno.test("serveMockVonage() refuses a bad port and a port in use", async () => {
  await assert.rejects(
    serveMockVonage({ publicKey, applicationId: APP_ID, port: 70_000 }),
    /'port' must be an integer from 0 to 65535/,
  );
  await using first = await serveMockVonage({ publicKey, applicationId: APP_ID });
  await assert.rejects(
    serveMockVonage({ publicKey, applicationId: APP_ID, port: first.port }),
    Deno.errors.AddrInUse,
  );
  await assert.rejects(
    serveMockVonage({ publicKey, applicationId: APP_ID, port: first.port, dropRate: 0.1 }),
    Deno.errors.AddrInUse,
  );
});

Deno.test("POST /v1/messages with senders refuses any other from with 422 naming from", async () => {
  const m = await mock({ senders: ["Acme", "14155550100"] });
  assert.equal((await send(m)).status, 202);
  await (await send(m, { ...SMS, from: "14155550100" })).body?.cancel();
  const refused = await send(m, { ...SMS, from: "Acmee" });
  assert.equal(refused.status, 422);
  const body = await problemOf(refused);
  assert.deepEqual(body.invalid_parameters, [
    { name: "from", reason: "is not a sender of this account; use one of Acme, 14155550100" },
  ]);
  assert.equal(m.messages().length, 2);
});

Deno.test("GET /messages keeps each accepted request's User-Agent", async () => {
  const m = await mock();
  const response = await send(m, SMS, {
    ...await authorized(),
    "user-agent": "politely/0.1.0 Deno/2.9.6",
  });
  await response.body?.cancel();
  assert.equal(m.messages()[0]?.user_agent, "politely/0.1.0 Deno/2.9.6");
});
