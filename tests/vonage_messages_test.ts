import assert from "node:assert/strict";
import { FakeClock } from "../lib/core/fake_clock.ts";
import { VonageCredentialsError } from "../lib/vonage/jwt.ts";
import { createVonageClient, type SendOutcome } from "../lib/vonage/mod.ts";

const PRIVATE_PEM = await Deno.readTextFile(
  new URL("../fixtures/test_private.key", import.meta.url),
);
const PUBLIC_PEM = await Deno.readTextFile(new URL("../fixtures/test_public.pem", import.meta.url));
const APP_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab";
const SMS = { to: "447700900001", from: "Politely", text: "Hello" };

interface Seen {
  path: string;
  method: string;
  headers: Headers;
  body: unknown;
}

function problem(
  status: number,
  body: Record<string, unknown>,
  headers: HeadersInit = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}

/**
 * A tiny Vonage-like server: the first path segment picks the answer, so each
 * test points the client's baseUrl at `http://127.0.0.1:PORT/<scenario>`.
 */
function startServer(): { url: string; seen: Seen[]; server: Deno.HttpServer<Deno.NetAddr> } {
  const seen: Seen[] = [];
  const tokens401 = new Set<string>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    const [scenario = "", ...rest] = url.pathname.split("/").filter(Boolean);
    const text = await req.text();
    seen.push({
      path: url.pathname,
      method: req.method,
      headers: req.headers,
      body: JSON.parse(text),
    });
    assert.equal(rest.join("/"), "v1/messages");
    switch (scenario) {
      case "accept":
        return Response.json({ message_uuid: "aaaaaaaa-0000-4000-8000-000000000001" }, {
          status: 202,
        });
      case "throttle":
        return problem(429, {
          title: "Rate Limit Hit",
          detail: "Please wait, then retry your request",
        });
      case "throttle-hint":
        return problem(429, { title: "Rate Limit Hit" }, { "retry-after": "2" });
      case "unavailable":
        return problem(503, { title: "Service Unavailable" }, { "ratelimit": '"p";r=0;t=5' });
      case "invalid":
        return problem(422, {
          type: "https://developer.vonage.com/api-errors#invalid-params",
          title: "Invalid params",
          detail: "The value of one or more parameters is invalid.",
          invalid_parameters: [{ name: "to", reason: "Invalid number" }, { bogus: true }],
        });
      case "too-large":
        return new Response("payload too large", { status: 413 });
      case "forbidden":
        return problem(403, { title: "Forbidden" });
      case "unauthorized":
        return problem(401, { title: "Unauthorized", detail: "Invalid token" });
      case "expired-once": {
        // Refuse the first token it sees; accept any other.
        const token = req.headers.get("authorization") ?? "";
        if (tokens401.size === 0) tokens401.add(token);
        if (tokens401.has(token)) return problem(401, { title: "Unauthorized" });
        return Response.json({ message_uuid: "aaaaaaaa-0000-4000-8000-000000000002" }, {
          status: 202,
        });
      }
      case "payment":
        return problem(402, {
          title: "Low balance",
          detail: "This request could not be performed due to your account balance being low.",
        });
      case "error500":
        return problem(500, { title: "Internal Error" });
      case "error502":
        return new Response("<html>Bad Gateway</html>", { status: 502 });
      case "accepted-no-uuid":
        return new Response("{}", { status: 202 });
      case "redirect":
        return new Response(null, {
          status: 301,
          headers: { location: "https://elsewhere.example/" },
        });
      default:
        return new Response("not found", { status: 404 });
    }
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, seen, server };
}

async function send(baseUrl: string): Promise<SendOutcome> {
  const client = createVonageClient({ applicationId: APP_ID, privateKey: PRIVATE_PEM, baseUrl });
  return await client.sendSms(SMS);
}

async function verifyJwt(jwt: string): Promise<Record<string, unknown>> {
  const [header = "", payload = "", signature = ""] = jwt.split(".");
  const decode = (s: string) =>
    Uint8Array.from(
      atob(s.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - s.length % 4) % 4)),
      (c) => c.charCodeAt(0),
    );
  const spki = Uint8Array.from(
    atob(PUBLIC_PEM.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, "").replace(/\s+/g, "")),
    (c) => c.charCodeAt(0),
  );
  const key = await crypto.subtle.importKey(
    "spki",
    spki,
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    [
      "verify",
    ],
  );
  const ok = await crypto.subtle.verify(
    "RSASSA-PKCS1-v1_5",
    key,
    decode(signature),
    new TextEncoder().encode(`${header}.${payload}`),
  );
  assert.ok(ok, "the JWT verifies with the public key");
  return JSON.parse(new TextDecoder().decode(decode(payload)));
}

Deno.test("sendSms() posts the v1 body with a bearer JWT and returns accepted with the uuid", async () => {
  const { url, seen, server } = startServer();
  try {
    const client = createVonageClient({
      applicationId: APP_ID,
      privateKey: PRIVATE_PEM,
      baseUrl: `${url}/accept/`,
    });
    const outcome = await client.sendSms({ ...SMS, clientRef: "row-7" });
    assert.deepEqual(outcome, {
      kind: "accepted",
      status: 202,
      messageUuid: "aaaaaaaa-0000-4000-8000-000000000001",
    });
    await client.sendSms(SMS);
    assert.equal(seen.length, 2);
    const [first, second] = seen as [Seen, Seen];
    assert.equal(first.path, "/accept/v1/messages");
    assert.equal(first.method, "POST");
    assert.equal(first.headers.get("content-type"), "application/json");
    assert.equal(first.headers.get("accept"), "application/json");
    assert.deepEqual(first.body, {
      message_type: "text",
      channel: "sms",
      to: "447700900001",
      from: "Politely",
      text: "Hello",
      client_ref: "row-7",
    });
    assert.equal((second.body as Record<string, unknown>).client_ref, undefined);
    const auth = first.headers.get("authorization") ?? "";
    assert.match(auth, /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    const claims = await verifyJwt(auth.slice("Bearer ".length));
    assert.equal(claims.application_id, APP_ID);
    // One token serves both requests: one RSA signature, not one per send.
    assert.equal(second.headers.get("authorization"), auth);
    assert.equal(client.tokensMinted, 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("sendSms() maps every kind of server answer to its outcome", async () => {
  const { url, server } = startServer();
  try {
    assert.deepEqual(await send(`${url}/throttle`), {
      kind: "throttled",
      status: 429,
      title: "Rate Limit Hit",
      detail: "Please wait, then retry your request",
    });
    assert.deepEqual(await send(`${url}/throttle-hint`), {
      kind: "throttled",
      status: 429,
      title: "Rate Limit Hit",
      detail: "",
      retryAfterMs: 2000,
    });
    assert.deepEqual(await send(`${url}/unavailable`), {
      kind: "unavailable",
      status: 503,
      title: "Service Unavailable",
      detail: "",
      retryAfterMs: 5000,
    });
    assert.deepEqual(await send(`${url}/invalid`), {
      kind: "rejected",
      status: 422,
      title: "Invalid params",
      detail: "The value of one or more parameters is invalid.",
      invalidParameters: [{ name: "to", reason: "Invalid number" }],
    });
    assert.deepEqual(await send(`${url}/too-large`), {
      kind: "rejected",
      status: 413,
      title: "HTTP 413",
      detail: "payload too large",
      invalidParameters: [],
    });
    // Not about this message: the endpoint is wrong, and every message would meet it.
    assert.deepEqual(await send(`${url}/nowhere`), {
      kind: "unexpected",
      status: 404,
      title: "HTTP 404",
      detail: "not found",
    });
    const redirect = await send(`${url}/redirect`);
    assert.equal(redirect.kind, "unexpected");
    assert.equal(redirect.kind === "unexpected" && redirect.status, 301);
    assert.match(redirect.kind === "unexpected" ? redirect.detail : "", /check the base URL/);
    assert.deepEqual(await send(`${url}/forbidden`), {
      kind: "auth",
      status: 403,
      title: "Forbidden",
      detail: "",
    });
    assert.deepEqual(await send(`${url}/payment`), {
      kind: "payment",
      status: 402,
      title: "Low balance",
      detail: "This request could not be performed due to your account balance being low.",
    });
    assert.deepEqual(await send(`${url}/error500`), {
      kind: "uncertain",
      status: 500,
      reason: "server error 500: Internal Error",
    });
    assert.deepEqual(await send(`${url}/error502`), {
      kind: "uncertain",
      status: 502,
      reason: "server error 502: <html>Bad Gateway</html>",
    });
    assert.deepEqual(await send(`${url}/accepted-no-uuid`), {
      kind: "uncertain",
      status: 202,
      reason: "answered 202 without a message_uuid",
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("sendSms() re-mints once after a 401 and succeeds with the fresh token", async () => {
  const { url, seen, server } = startServer();
  try {
    const client = createVonageClient({
      applicationId: APP_ID,
      privateKey: PRIVATE_PEM,
      baseUrl: `${url}/expired-once`,
    });
    const outcome = await client.sendSms(SMS);
    assert.equal(outcome.kind, "accepted");
    assert.equal(seen.length, 2);
    assert.notEqual(seen[0]!.headers.get("authorization"), seen[1]!.headers.get("authorization"));
    assert.equal(client.tokensMinted, 2);
  } finally {
    await server.shutdown();
  }
});

Deno.test("sendSms() awaits beforeRetry before its retry after a 401, and rejects with its reason", async () => {
  const { url, seen, server } = startServer();
  try {
    const client = createVonageClient({
      applicationId: APP_ID,
      privateKey: PRIVATE_PEM,
      baseUrl: `${url}/expired-once`,
    });
    let paced = 0;
    const outcome = await client.sendSms(SMS, {
      beforeRetry: () => {
        paced++;
        assert.equal(seen.length, 1, "called between the 401 and the retry");
        return Promise.resolve();
      },
    });
    assert.equal(outcome.kind, "accepted");
    assert.equal(paced, 1);
    assert.equal(seen.length, 2);

    const stop = new Error("the run stopped");
    await assert.rejects(
      createVonageClient({
        applicationId: APP_ID,
        privateKey: PRIVATE_PEM,
        baseUrl: `${url}/unauthorized`,
      })
        .sendSms(SMS, { beforeRetry: () => Promise.reject(stop) }),
      (error) => error === stop,
    );
    assert.equal(seen.length, 3, "no retry after beforeRetry rejected");
  } finally {
    await server.shutdown();
  }
});

Deno.test("sendSms() reports auth after a 401 with a fresh token too, and stops there", async () => {
  const { url, seen, server } = startServer();
  try {
    const client = createVonageClient({
      applicationId: APP_ID,
      privateKey: PRIVATE_PEM,
      baseUrl: `${url}/unauthorized`,
    });
    assert.deepEqual(await client.sendSms(SMS), {
      kind: "auth",
      status: 401,
      title: "Unauthorized",
      detail: "Invalid token",
    });
    assert.equal(seen.length, 2, "one re-mint, no hammering");
  } finally {
    await server.shutdown();
  }
});

Deno.test("sendSms() reports not-sent when the connection is refused", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const outcome = await send(`http://127.0.0.1:${port}`);
  assert.equal(outcome.kind, "not-sent");
  assert.match(outcome.kind === "not-sent" ? outcome.reason : "", /Connection refused/);
});

Deno.test("sendSms() reports uncertain when the server reads the request and drops the connection", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  let received = "";
  const serve = (async () => {
    const conn = await listener.accept();
    const buffer = new Uint8Array(8192);
    const n = await conn.read(buffer);
    received = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
    conn.close();
  })();
  try {
    const outcome = await send(`http://127.0.0.1:${port}`);
    await serve;
    // The server did get the request: resending could deliver it twice.
    assert.match(received, /^POST \/v1\/messages HTTP\/1\.1/);
    assert.equal(outcome.kind, "uncertain");
    assert.match(
      outcome.kind === "uncertain" ? outcome.reason : "",
      /connection closed before message completed/,
    );
  } finally {
    listener.close();
  }
});

Deno.test("sendSms() reports uncertain when no answer comes within timeoutMs", async () => {
  const clock = new FakeClock(Date.now());
  let arrived!: () => void;
  const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.text();
    arrived();
    await released;
    return Response.json({ message_uuid: "late" }, { status: 202 });
  });
  try {
    const client = createVonageClient({
      applicationId: APP_ID,
      privateKey: PRIVATE_PEM,
      baseUrl: `http://127.0.0.1:${server.addr.port}`,
      clock,
      timeoutMs: 5000,
    });
    const pending = client.sendSms(SMS);
    await requestArrived;
    await clock.advance(4999);
    await clock.advance(1);
    assert.deepEqual(await pending, { kind: "uncertain", reason: "no answer within 5000 ms" });
    assert.equal(clock.pendingSleepers, 0, "the timer is gone");
  } finally {
    release();
    await server.shutdown();
  }
});

Deno.test("sendSms() leaves no timer behind after an answer", async () => {
  const clock = new FakeClock(Date.now());
  const { url, server } = startServer();
  try {
    const client = createVonageClient({
      applicationId: APP_ID,
      privateKey: PRIVATE_PEM,
      baseUrl: `${url}/accept`,
      clock,
    });
    assert.equal((await client.sendSms(SMS)).kind, "accepted");
    assert.equal(clock.pendingSleepers, 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("sendSms() rejects with the reason when aborted before sending, uncertain once in flight", async () => {
  const controller = new AbortController();
  controller.abort(new Error("stop"));
  const client = createVonageClient({
    applicationId: APP_ID,
    privateKey: PRIVATE_PEM,
    baseUrl: "http://127.0.0.1:9",
  });
  await assert.rejects(client.sendSms(SMS, { signal: controller.signal }), /stop/);

  let arrived!: () => void;
  const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.text();
    arrived();
    await released;
    return new Response(null, { status: 500 });
  });
  try {
    const inFlight = new AbortController();
    const live = createVonageClient({
      applicationId: APP_ID,
      privateKey: PRIVATE_PEM,
      baseUrl: `http://127.0.0.1:${server.addr.port}`,
    });
    const pending = live.sendSms(SMS, { signal: inFlight.signal });
    await requestArrived;
    inFlight.abort();
    assert.deepEqual(await pending, {
      kind: "uncertain",
      reason: "aborted while the request was in flight",
    });
  } finally {
    release();
    await server.shutdown();
  }
});

Deno.test("sendSms() classifies Deno's DNS failure as not-sent", async () => {
  // The sandbox allows only loopback, so this replays the error Deno 2.9 gives
  // for `fetch("http://nonexistent.invalid/")`, captured from a real run.
  const dnsFailure = new TypeError("fetch failed", {
    cause: new Error(
      "error sending request for url (http://nonexistent.invalid/v1/messages): client error (Connect): dns error: failed to lookup address information: Name or service not known",
    ),
  });
  const client = createVonageClient({
    applicationId: APP_ID,
    privateKey: PRIVATE_PEM,
    baseUrl: "http://nonexistent.invalid",
    fetch: () => Promise.reject(dnsFailure),
  });
  const outcome = await client.sendSms(SMS);
  assert.equal(outcome.kind, "not-sent");
});

Deno.test("sendSms() throws VonageCredentialsError for a bad key before sending anything", async () => {
  let calls = 0;
  const client = createVonageClient({
    applicationId: APP_ID,
    privateKey: "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----",
    fetch: () => {
      calls++;
      return Promise.resolve(new Response(null, { status: 202 }));
    },
  });
  await assert.rejects(client.sendSms(SMS), VonageCredentialsError);
  assert.equal(calls, 0);
});

Deno.test("createVonageClient() checks baseUrl and timeoutMs", () => {
  assert.throws(
    () =>
      createVonageClient({
        applicationId: APP_ID,
        privateKey: PRIVATE_PEM,
        baseUrl: "api.nexmo.com",
      }),
    (e: unknown) => e instanceof TypeError && /'baseUrl' must be an http\(s\) URL/.test(e.message),
  );
  assert.throws(
    () => createVonageClient({ applicationId: APP_ID, privateKey: PRIVATE_PEM, timeoutMs: 0 }),
    RangeError,
  );
});

Deno.test("sendSms() reports uncertain when a 202's body is cut off", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const serve = (async () => {
    const conn = await listener.accept();
    await conn.read(new Uint8Array(8192));
    await conn.write(
      new TextEncoder().encode('HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\n{"mess'),
    );
    conn.close();
  })();
  try {
    const outcome = await send(`http://127.0.0.1:${port}`);
    await serve;
    assert.equal(outcome.kind, "uncertain");
    assert.equal(outcome.kind === "uncertain" && outcome.status, 202);
    assert.match(outcome.kind === "uncertain" ? outcome.reason : "", /body was cut off/);
  } finally {
    listener.close();
  }
});
