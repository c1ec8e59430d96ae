import assert from "node:assert/strict";
import type { Clock } from "../lib/core/clock.ts";
import { FakeClock } from "../lib/core/fake_clock.ts";
import type { Limiter, LimiterOutcome, TakeOptions } from "../lib/core/limiter.ts";
import { defaultClassify, failedBeforeSending, politeFetch } from "../lib/core/polite_fetch.ts";
import { RetryError } from "../lib/core/retry.ts";
import { TokenBucket } from "../lib/core/token_bucket.ts";
import { createRandom } from "../lib/core/seeded_random.ts";

/** A limiter that grants at once and writes down what it was told, and when. */
class RecordingLimiter implements Limiter {
  readonly ratePerSecond = Infinity;
  readonly burst = Infinity;
  takes: number[] = [];
  pauses: Array<{ atMs: number; ms: number }> = [];
  observed: LimiterOutcome[] = [];
  constructor(readonly clock: Clock) {}
  take(_n = 1, options: TakeOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    this.takes.push(this.clock.now());
    return Promise.resolve();
  }
  pause(ms: number): void {
    this.pauses.push({ atMs: this.clock.now(), ms });
  }
  observe(outcome: LimiterOutcome): void {
    this.observed.push(outcome);
  }
}

interface Call {
  atMs: number;
  method: string;
  body: string;
}

/**
 * A scripted fetch: answers with the given responses in turn (a function may
 * throw instead) and records when each call came and what body it carried.
 */
function scriptedFetch(
  clock: Clock,
  script: Array<Response | (() => Response)>,
): { fetch: typeof fetch; calls: Call[] } {
  const calls: Call[] = [];
  const fetchFn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    calls.push({ atMs: clock.now(), method: request.method, body: await request.text() });
    const next = script.shift();
    if (next === undefined) throw new Error("the script ran out");
    return typeof next === "function" ? next() : next;
  };
  return { fetch: fetchFn as typeof fetch, calls };
}

/** A response whose body records whether it was cancelled. */
function trackedResponse(status: number, headers: HeadersInit = {}): {
  response: Response;
  cancelled: () => boolean;
} {
  let wasCancelled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(new TextEncoder().encode(`status ${status}`));
      controller.close();
    },
    cancel() {
      wasCancelled = true;
    },
  });
  return { response: new Response(body, { status, headers }), cancelled: () => wasCancelled };
}

Deno.test("politeFetch() waits exactly the Retry-After of a 429, pauses the limiter and replays the body", async () => {
  const clock = new FakeClock(1_000_000);
  const limiter = new RecordingLimiter(clock);
  const throttled = trackedResponse(429, { "retry-after": "3" });
  const { fetch, calls } = scriptedFetch(clock, [throttled.response, new Response("ok")]);
  const pending = politeFetch("http://api.test/items", {
    method: "POST",
    body: '{"n":1}',
    fetch,
    clock,
    limiter,
    // A jittered backoff would never land on exactly 3000 ms.
    retry: { backoff: { baseMs: 1000, jitter: "full", random: () => 0.37 } },
  });
  await clock.runAll();
  const response = await pending;
  assert.equal(response.status, 200);
  assert.equal(await response.text(), "ok");
  assert.deepEqual(calls, [
    { atMs: 1_000_000, method: "POST", body: '{"n":1}' },
    { atMs: 1_003_000, method: "POST", body: '{"n":1}' },
  ]);
  assert.deepEqual(limiter.takes, [1_000_000, 1_003_000]);
  assert.deepEqual(limiter.pauses, [{ atMs: 1_000_000, ms: 3000 }]);
  assert.deepEqual(limiter.observed, ["throttled", "accepted"]);
  assert.ok(throttled.cancelled(), "the retried-past body was cancelled");
});

/** A limiter that paces nothing and cannot learn: it only takes and pauses. */
class PausingLimiter implements Limiter {
  readonly ratePerSecond = Infinity;
  readonly burst = Infinity;
  pauses: Array<{ atMs: number; ms: number }> = [];
  constructor(readonly clock: Clock) {}
  take(): Promise<void> {
    return Promise.resolve();
  }
  pause(ms: number): void {
    this.pauses.push({ atMs: this.clock.now(), ms });
  }
}

Deno.test("politeFetch() pauses a limiter that cannot learn for the computed backoff when a 429 has no hint", async () => {
  const clock = new FakeClock();
  const limiter = new PausingLimiter(clock);
  const { fetch, calls } = scriptedFetch(clock, [
    new Response(null, { status: 429 }),
    new Response(null, { status: 429 }),
    new Response(null, { status: 204 }),
  ]);
  const pending = politeFetch("http://api.test/", {
    fetch,
    clock,
    limiter,
    retry: { backoff: { baseMs: 1000, jitter: "full", random: () => 0.5 } },
  });
  await clock.runAll();
  assert.equal((await pending).status, 204);
  // Full jitter at random 0.5: half of 1000, then half of 2000.
  assert.deepEqual(calls.map((c) => c.atMs), [0, 500, 1500]);
  assert.deepEqual(limiter.pauses, [{ atMs: 0, ms: 500 }, { atMs: 500, ms: 1000 }]);
});

Deno.test("politeFetch() replays every replayable body type", async () => {
  const bodies: Array<[BodyInit, string]> = [
    ["text", "text"],
    [new TextEncoder().encode("bytes"), "bytes"],
    [new TextEncoder().encode("buffer").buffer, "buffer"],
    [new URLSearchParams({ a: "1", b: "2" }), "a=1&b=2"],
    [new Blob(["blob"]), "blob"],
  ];
  for (const [body, expected] of bodies) {
    const clock = new FakeClock();
    const { fetch, calls } = scriptedFetch(clock, [
      new Response(null, { status: 503, headers: { "retry-after": "0" } }),
      new Response(null, { status: 200 }),
    ]);
    const pending = politeFetch("http://api.test/", { method: "PUT", body, fetch, clock });
    await clock.runAll();
    assert.equal((await pending).status, 200);
    assert.deepEqual(calls.map((c) => c.body), [expected, expected], String(body));
  }
  const form = new FormData();
  form.set("field", "value");
  const clock = new FakeClock();
  const { fetch, calls } = scriptedFetch(clock, [
    new Response(null, { status: 503 }),
    new Response(),
  ]);
  const pending = politeFetch("http://api.test/", {
    method: "POST",
    body: form,
    fetch,
    clock,
    retry: { backoff: { jitter: "none" } },
  });
  await clock.runAll();
  await (await pending).body?.cancel();
  assert.equal(calls.length, 2);
  assert.match(calls[1]!.body, /name="field"\r\n\r\nvalue/);
});

Deno.test("politeFetch() clones a Request input for every attempt", async () => {
  const clock = new FakeClock();
  const { fetch, calls } = scriptedFetch(clock, [
    new Response(null, { status: 429 }),
    new Response(),
  ]);
  const request = new Request("http://api.test/", { method: "POST", body: "from a Request" });
  const pending = politeFetch(request, { fetch, clock, retry: { backoff: { jitter: "none" } } });
  await clock.runAll();
  await (await pending).body?.cancel();
  assert.deepEqual(calls.map((c) => c.body), ["from a Request", "from a Request"]);
});

Deno.test("politeFetch() never retries a ReadableStream body and returns the 429", async () => {
  const clock = new FakeClock();
  const limiter = new RecordingLimiter(clock);
  const { fetch, calls } = scriptedFetch(clock, [
    new Response(null, { status: 429, headers: { "retry-after": "1" } }),
    new Response(),
  ]);
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("streamed"));
      controller.close();
    },
  });
  const pending = politeFetch("http://api.test/", { method: "POST", body, fetch, clock, limiter });
  await clock.runAll();
  const response = await pending;
  assert.equal(response.status, 429);
  assert.equal(calls.length, 1);
  // The server's word still reaches the shared limiter.
  assert.deepEqual(limiter.pauses, [{ atMs: 0, ms: 1000 }]);
});

Deno.test("politeFetch() retries a 503 with its RateLimit reset and returns the success", async () => {
  const clock = new FakeClock();
  const limiter = new RecordingLimiter(clock);
  const { fetch, calls } = scriptedFetch(clock, [
    new Response(null, { status: 503, headers: { "ratelimit": '"p";r=0;t=7' } }),
    new Response("done"),
  ]);
  const pending = politeFetch("http://api.test/", { fetch, clock, limiter });
  await clock.runAll();
  assert.equal(await (await pending).text(), "done");
  assert.deepEqual(calls.map((c) => c.atMs), [0, 7000]);
  assert.deepEqual(limiter.pauses, [], "a 503 is not a throttle");
  assert.deepEqual(limiter.observed, ["accepted", "accepted"]);
});

Deno.test("politeFetch() returns a success at once after one limiter take", async () => {
  const clock = new FakeClock();
  const limiter = new RecordingLimiter(clock);
  const { fetch, calls } = scriptedFetch(clock, [new Response("hello", { status: 201 })]);
  const response = await politeFetch("http://api.test/", { fetch, clock, limiter });
  assert.equal(response.status, 201);
  assert.equal(await response.text(), "hello");
  assert.equal(calls.length, 1);
  assert.deepEqual(limiter.takes, [0]);
  assert.deepEqual(limiter.observed, ["accepted"]);
  assert.equal(clock.pendingSleepers, 0);
});

Deno.test("politeFetch() returns other statuses as they are, without retrying", async () => {
  for (const status of [400, 404, 500, 502]) {
    const clock = new FakeClock();
    const { fetch, calls } = scriptedFetch(clock, [new Response(null, { status })]);
    assert.equal((await politeFetch("http://api.test/", { fetch, clock })).status, status);
    assert.equal(calls.length, 1);
  }
});

Deno.test("politeFetch() returns the last 429 when attempts run out, and cancels the others' bodies", async () => {
  const clock = new FakeClock();
  const answers = [trackedResponse(429), trackedResponse(429), trackedResponse(429)];
  const { fetch, calls } = scriptedFetch(clock, answers.map((a) => a.response));
  const pending = politeFetch("http://api.test/", {
    fetch,
    clock,
    retry: { maxAttempts: 3, backoff: { jitter: "none", baseMs: 100 } },
  });
  await clock.runAll();
  const response = await pending;
  assert.equal(response, answers[2]!.response);
  assert.equal(calls.length, 3);
  assert.deepEqual(answers.map((a) => a.cancelled()), [true, true, false]);
  assert.equal(await response.text(), "status 429", "the returned body is intact");
});

Deno.test("politeFetch() returns the 429 at once when its Retry-After passes maxElapsedMs", async () => {
  const clock = new FakeClock();
  const limiter = new RecordingLimiter(clock);
  const { fetch, calls } = scriptedFetch(clock, [
    new Response(null, { status: 429, headers: { "retry-after": "3600" } }),
  ]);
  const pending = politeFetch("http://api.test/", {
    fetch,
    clock,
    limiter,
    retry: { maxElapsedMs: 60_000 },
  });
  await clock.runAll();
  assert.equal((await pending).status, 429);
  assert.equal(calls.length, 1);
  assert.equal(clock.now(), 0, "gave up without sleeping");
  assert.deepEqual(limiter.pauses, [{ atMs: 0, ms: 3_600_000 }]);
});

const refused = () =>
  new TypeError("fetch failed", {
    cause: new Error(
      "error sending request for url (http://127.0.0.1:1/): client error (Connect): tcp connect error: Connection refused (os error 111)",
    ),
  });
const dropped = () =>
  new TypeError("fetch failed", {
    cause: new Error(
      "error sending request from 127.0.0.1:52318 for http://127.0.0.1:1/ (127.0.0.1:1): client error (SendRequest): connection closed before message completed",
    ),
  });

Deno.test("politeFetch() retries a POST only when the request never left", async () => {
  const clock = new FakeClock();
  let scripted = scriptedFetch(clock, [() => {
    throw refused();
  }, new Response("second")]);
  const pending = politeFetch("http://api.test/", {
    method: "POST",
    body: "x",
    fetch: scripted.fetch,
    clock,
  });
  await clock.runAll();
  assert.equal(await (await pending).text(), "second");
  assert.equal(scripted.calls.length, 2);

  scripted = scriptedFetch(clock, [() => {
    throw dropped();
  }, new Response("never")]);
  const failed = politeFetch("http://api.test/", {
    method: "POST",
    body: "x",
    fetch: scripted.fetch,
    clock,
  });
  const settled = failed.then(() => undefined, (e: unknown) => e);
  await clock.runAll();
  await assert.rejects(
    failed,
    (e: unknown) => e instanceof TypeError && e.message === "fetch failed",
  );
  await settled;
  assert.equal(scripted.calls.length, 1, "a POST that may have arrived is not sent again");
});

Deno.test("politeFetch() retries network errors of idempotent methods, then throws RetryError", async () => {
  const clock = new FakeClock();
  const { fetch, calls } = scriptedFetch(clock, [
    () => {
      throw dropped();
    },
    () => {
      throw dropped();
    },
  ]);
  const pending = politeFetch("http://api.test/", {
    fetch,
    clock,
    retry: { maxAttempts: 2, backoff: { jitter: "none", baseMs: 10 } },
  });
  const outcome = pending.then(() => undefined, (e: unknown) => e);
  await clock.runAll();
  const error = await outcome;
  assert.ok(error instanceof RetryError);
  assert.equal(error.attempts, 2);
  assert.ok(error.cause instanceof TypeError);
  assert.deepEqual(calls.map((c) => c.method), ["GET", "GET"]);
});

Deno.test("politeFetch() uses a custom classify", async () => {
  const clock = new FakeClock();
  const { fetch, calls } = scriptedFetch(clock, [
    new Response(null, { status: 502 }),
    new Response(),
  ]);
  const pending = politeFetch("http://api.test/", {
    fetch,
    clock,
    classify: (r) => (r.status === 502 ? "retry" : defaultClassify(r)),
    retry: { backoff: { jitter: "none" } },
  });
  await clock.runAll();
  assert.equal((await pending).status, 200);
  assert.equal(calls.length, 2);
});

Deno.test("politeFetch() stops at once when its signal aborts during a wait", async () => {
  const clock = new FakeClock();
  const controller = new AbortController();
  const throttled = trackedResponse(429, { "retry-after": "30" });
  const { fetch } = scriptedFetch(clock, [throttled.response]);
  const pending = politeFetch("http://api.test/", { fetch, clock, signal: controller.signal });
  const outcome = pending.then(() => "resolved", (e: unknown) => e);
  await clock.advance(1000);
  controller.abort(new Error("user cancelled"));
  assert.match(String(await outcome), /user cancelled/);
  assert.equal(clock.pendingSleepers, 0);
  assert.ok(throttled.cancelled());
});

Deno.test("politeFetch() against a real server: 429 then 200, body replayed, no leaked bodies", async () => {
  const received: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    received.push(await req.text());
    return received.length === 1
      ? new Response("slow down", { status: 429, headers: { "retry-after": "0" } })
      : Response.json({ ok: true }, { status: 202 });
  });
  try {
    const response = await politeFetch(`http://127.0.0.1:${server.addr.port}/send`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to: "447700900001" }),
    });
    assert.equal(response.status, 202);
    assert.deepEqual(await response.json(), { ok: true });
    assert.deepEqual(received, ['{"to":"447700900001"}', '{"to":"447700900001"}']);
  } finally {
    await server.shutdown();
  }
});

Deno.test("failedBeforeSending() tells a refused connection from one dropped after sending", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const refusedError = await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "x" }).then(
    () => assert.fail("should not connect"),
    (e: unknown) => e,
  );
  assert.equal(failedBeforeSending(refusedError), true);
  const blockedError = await fetch("http://127.0.0.1:1/", { method: "POST", body: "x" }).then(
    () => assert.fail("port 1 should be blocked"),
    (e: unknown) => e,
  );
  assert.equal(failedBeforeSending(blockedError), true);

  const dropping = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serve = (async () => {
    const conn = await dropping.accept();
    await conn.read(new Uint8Array(4096));
    conn.close();
  })();
  const droppedError = await fetch(`http://127.0.0.1:${(dropping.addr as Deno.NetAddr).port}/`, {
    method: "POST",
    body: "x",
  }).then(() => assert.fail("should not answer"), (e: unknown) => e);
  await serve;
  dropping.close();
  assert.equal(failedBeforeSending(droppedError), false);
  assert.equal(failedBeforeSending(new Error("anything else")), false);
  assert.equal(failedBeforeSending(Object.assign(new Error("x"), { code: "ECONNREFUSED" })), true);
  assert.equal(
    failedBeforeSending(new TypeError("fetch failed", { cause: { code: "ENOTFOUND" } })),
    true,
  );
});

Deno.test("politeFetch() pauses a shared TokenBucket so queued callers wait out a 429 too", async () => {
  const clock = new FakeClock();
  const limiter = new TokenBucket({ ratePerSecond: 10, burst: 1, clock });
  const { fetch, calls } = scriptedFetch(clock, [
    new Response(null, { status: 429, headers: { "retry-after": "2" } }),
    new Response(),
    new Response(),
    new Response(),
  ]);
  const all = Promise.all(
    ["a", "b", "c"].map((body) =>
      politeFetch("http://api.test/", { method: "POST", body, fetch, clock, limiter })
    ),
  );
  await clock.runAll();
  const responses = await all;
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 200]);
  const times = calls.map((c) => c.atMs);
  // b and c were queued for 100 ms and 200 ms; the 429 pushed everyone past 2 s.
  assert.equal(times[0], 0);
  assert.ok(times.slice(1).every((t) => t >= 2000), String(times));
  for (let i = 2; i < times.length; i++) {
    assert.ok(times[i]! - times[i - 1]! >= 100 - 1e-9, String(times));
  }
  assert.deepEqual(calls.map((c) => c.body).sort(), ["a", "a", "b", "c"]);
});

Deno.test("politeFetch() does not pause a learning limiter for a 429 without a hint: it tells it, and queues again at once", async () => {
  const clock = new FakeClock();
  const limiter = new RecordingLimiter(clock);
  const { fetch, calls } = scriptedFetch(clock, [
    new Response(null, { status: 429 }),
    new Response(null, { status: 204 }),
  ]);
  const pending = politeFetch("http://api.test/", { fetch, clock, limiter });
  await clock.runAll();
  assert.equal((await pending).status, 204);
  assert.deepEqual(calls.map((c) => c.atMs), [0, 0]);
  assert.deepEqual(limiter.pauses, []);
  assert.deepEqual(limiter.observed, ["throttled", "accepted"]);
});

Deno.test("politeFetch() passes on the limit a 429 states in RateLimit-Policy", async () => {
  const clock = new FakeClock();
  const limiter = new TokenBucket({ ratePerSecond: 50, clock });
  const { fetch } = scriptedFetch(clock, [
    new Response(null, { status: 429, headers: { "ratelimit-policy": '"default";q=100;w=10' } }),
    new Response(null, { status: 204 }),
  ]);
  const pending = politeFetch("http://api.test/", { fetch, clock, limiter });
  await clock.runAll();
  assert.equal((await pending).status, 204);
  // 100 per 10 s, less the learner's margin of 1%.
  assert.ok(
    limiter.ratePerSecond >= 9.9 && limiter.ratePerSecond <= 10,
    `${limiter.ratePerSecond}`,
  );
});

/**
 * `count` POSTs at once through one TokenBucket at `ratePerSecond` (the README's
 * quick start) against a strict server bucket of the same rate, in virtual
 * time: requests arrive 2 ms after they leave plus exponential jitter (mean 0.6 ms).
 */
async function postsToStrictServer(serverBurst: number, seed: number) {
  const count = 100;
  const ratePerSecond = 20;
  const clock = new FakeClock();
  const server = new TokenBucket({ ratePerSecond, burst: serverBurst, clock });
  const random = createRandom(seed);
  let firstMs: number | undefined;
  let lastAcceptedMs = 0;
  let throttled = 0;
  const fetch = async (): Promise<Response> => {
    await clock.sleep(2 - 0.6 * Math.log(1 - random()));
    firstMs ??= clock.now();
    const accepted = server.tryTake();
    if (accepted) lastAcceptedMs = clock.now();
    else throttled++;
    await clock.sleep(2);
    return new Response(null, { status: accepted ? 201 : 429 });
  };
  const limiter = new TokenBucket({ ratePerSecond, clock });
  const all = Promise.all(
    Array.from(
      { length: count },
      () => politeFetch("http://api.test/", { method: "POST", body: "{}", limiter, clock, fetch }),
    ),
  );
  await clock.runAll();
  const statuses = (await all).map((response) => response.status);
  const idealMs = ((count - 1) / ratePerSecond) * 1000;
  return { ratio: (lastAcceptedMs - (firstMs ?? 0)) / idealMs, throttled, statuses };
}

Deno.test("politeFetch() with a TokenBucket at exactly a strict burst-1 server's rate learns a margin instead of stacking pauses", async () => {
  for (const seed of [1, 2, 3, 4]) {
    const { ratio, throttled, statuses } = await postsToStrictServer(1, seed);
    assert.ok(statuses.every((status) => status === 201), `seed ${seed}: all accepted`);
    // Pausing one backoff per 429 took 9.14 × ideal with 51 × 429 (issue 14).
    assert.ok(throttled < 5, `seed ${seed}: ${throttled} × 429`);
    assert.ok(ratio <= 1.2, `seed ${seed}: ${ratio.toFixed(3)} × ideal`);
  }
});

Deno.test("politeFetch() with a TokenBucket at exactly a burst-2 server's rate: ideal time, no 429", async () => {
  for (const seed of [1, 2]) {
    const { ratio, throttled } = await postsToStrictServer(2, seed);
    assert.equal(throttled, 0);
    assert.ok(ratio <= 1.001, `seed ${seed}: ${ratio.toFixed(4)} × ideal`);
  }
});
