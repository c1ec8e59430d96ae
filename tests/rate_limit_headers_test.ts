import assert from "node:assert/strict";
import { parseRateLimit, parseRetryAfter, serverDelayMs } from "../lib/core/rate_limit_headers.ts";

const NOW = Date.UTC(2026, 9, 21, 7, 27, 0); // Wed, 21 Oct 2026 07:27:00 GMT

function h(init: Record<string, string>): Headers {
  return new Headers(init);
}

Deno.test("parseRetryAfter() reads delay-seconds as milliseconds", () => {
  assert.equal(parseRetryAfter(h({ "retry-after": "120" }), NOW), 120_000);
  assert.equal(parseRetryAfter(h({ "retry-after": " 0 " }), NOW), 0);
  assert.equal(parseRetryAfter(h({ "retry-after": "1.5" }), NOW), 1500);
});

Deno.test("parseRetryAfter() reads all three HTTP-date forms relative to nowMs", () => {
  assert.equal(parseRetryAfter(h({ "retry-after": "Wed, 21 Oct 2026 07:28:00 GMT" }), NOW), 60_000);
  assert.equal(
    parseRetryAfter(h({ "retry-after": "Wednesday, 21-Oct-26 07:27:30 GMT" }), NOW),
    30_000,
  );
  assert.equal(parseRetryAfter(h({ "retry-after": "Wed Oct 21 07:27:10 2026" }), NOW), 10_000);
});

Deno.test("parseRetryAfter() gives 0 for a date in the past", () => {
  assert.equal(parseRetryAfter(h({ "retry-after": "Sun, 06 Nov 1994 08:49:37 GMT" }), NOW), 0);
});

Deno.test("parseRetryAfter() ignores missing and malformed values without throwing", () => {
  assert.equal(parseRetryAfter(h({}), NOW), undefined);
  for (
    const garbage of [
      "",
      "soon",
      "-5",
      "1e3",
      "12abc",
      "Wed, 31 Feb 2026 07:28:00 GMT",
      "Wed, 21 Oct 2026 25:28:00 GMT",
      "soon 2026",
      "9".repeat(400),
    ]
  ) {
    assert.equal(parseRetryAfter(h({ "retry-after": garbage }), NOW), undefined, garbage);
  }
});

Deno.test("parseRateLimit() reads IETF draft 10 RateLimit and RateLimit-Policy", () => {
  const info = parseRateLimit(
    h({ "ratelimit": '"p";r=50;t=30', "ratelimit-policy": '"p";q=100;w=60' }),
    NOW,
  );
  assert.deepEqual(info, { limit: 100, remaining: 50, resetMs: 30_000, policyWindowMs: 60_000 });
});

Deno.test("parseRateLimit() picks the binding policy among several draft 10 items", () => {
  const info = parseRateLimit(
    h({
      "ratelimit": '"burst";r=5;t=1, "daily";r=0;t=3600, "hourly";r=0;t=60',
      "ratelimit-policy": '"burst";q=10;w=1, "daily";q=1000;w=86400, "hourly";q=100;w=3600',
    }),
    NOW,
  );
  // Two policies are exhausted: the later reset is the one that binds.
  assert.deepEqual(info, {
    limit: 1000,
    remaining: 0,
    resetMs: 3_600_000,
    policyWindowMs: 86_400_000,
  });
});

Deno.test("parseRateLimit() ignores draft 10 quotas counted in bytes or concurrent requests", () => {
  // The draft's own example of a byte quota: 65535 content bytes per 10 s, not 65535 requests.
  const bytes = h({ "ratelimit-policy": '"peruser";q=65535;qu="content-bytes";w=10' });
  assert.equal(parseRateLimit(bytes, NOW), undefined);

  const mixed = parseRateLimit(
    h({
      "ratelimit": '"bytes";r=0;t=50, "reqs";r=7;t=2',
      "ratelimit-policy":
        '"bytes";q=65535;qu="content-bytes";w=60, "open";q=4;qu="concurrent-requests", "reqs";q=10;qu="requests";w=1',
    }),
    NOW,
  );
  // The exhausted byte quota does not make a request wait; the request quota binds.
  assert.deepEqual(mixed, { limit: 10, remaining: 7, resetMs: 2_000, policyWindowMs: 1_000 });
});

Deno.test("parseRateLimit() reads the draft 6-8 dictionary form of RateLimit", () => {
  assert.deepEqual(parseRateLimit(h({ "ratelimit": "limit=10, remaining=0, reset=3" }), NOW), {
    limit: 10,
    remaining: 0,
    resetMs: 3000,
  });
});

Deno.test("parseRateLimit() reads the older RateLimit-Limit/-Remaining/-Reset in seconds", () => {
  const info = parseRateLimit(
    h({
      "ratelimit-limit": "100, 100;w=60",
      "ratelimit-remaining": "0",
      "ratelimit-reset": "7",
    }),
    NOW,
  );
  assert.deepEqual(info, { limit: 100, remaining: 0, resetMs: 7000, policyWindowMs: 60_000 });
});

Deno.test("parseRateLimit() reads X-RateLimit-Reset as epoch seconds plus a 1 s margin", () => {
  const resetEpochSeconds = NOW / 1000 + 10;
  const info = parseRateLimit(
    h({
      "x-ratelimit-limit": "5000",
      "x-ratelimit-remaining": "0",
      "x-ratelimit-reset": String(resetEpochSeconds),
    }),
    NOW,
  );
  assert.deepEqual(info, { limit: 5000, remaining: 0, resetMs: 11_000 });
});

Deno.test("parseRateLimit() tells an X-RateLimit-Reset delay from an epoch by magnitude", () => {
  assert.equal(parseRateLimit(h({ "x-ratelimit-reset": "30" }), NOW)?.resetMs, 30_000);
  assert.equal(
    parseRateLimit(h({ "x-ratelimit-reset": String(NOW + 2000) }), NOW)?.resetMs,
    3000,
    "epoch milliseconds",
  );
  // An epoch reset already past still gets the margin, then clamps at 0.
  assert.equal(
    parseRateLimit(h({ "x-ratelimit-reset": String(NOW / 1000 - 0.5) }), NOW)?.resetMs,
    500,
  );
  assert.equal(
    parseRateLimit(h({ "x-ratelimit-reset": String(NOW / 1000 - 60) }), NOW)?.resetMs,
    0,
  );
  assert.equal(parseRateLimit(h({ "x-ratelimit-reset-after": "2.5" }), NOW)?.resetMs, 2500);
});

Deno.test("parseRateLimit() prefers draft 10 counters over older and X- families", () => {
  const info = parseRateLimit(
    h({
      "ratelimit": '"p";r=3;t=9',
      "ratelimit-remaining": "0",
      "ratelimit-reset": "100",
      "x-ratelimit-limit": "50",
      "x-ratelimit-remaining": "0",
    }),
    NOW,
  );
  assert.deepEqual(info, { limit: 50, remaining: 3, resetMs: 9000 });
});

Deno.test("parseRateLimit() ignores garbage in every header without throwing", () => {
  assert.equal(parseRateLimit(h({}), NOW), undefined);
  const garbage = h({
    "ratelimit": '"p;r=;t=abc, ,;;, "unterminated',
    "ratelimit-policy": "q=, w",
    "ratelimit-limit": "lots",
    "ratelimit-remaining": "-1",
    "ratelimit-reset": "tomorrow",
    "x-ratelimit-limit": "NaN",
    "x-ratelimit-remaining": "Infinity",
    "x-ratelimit-reset": "0x10",
  });
  assert.equal(parseRateLimit(garbage, NOW), undefined);
  // One good member survives a bad one beside it.
  assert.deepEqual(parseRateLimit(h({ "ratelimit": 'x;r=-1, "p";r=2;t=1' }), NOW), {
    remaining: 2,
    resetMs: 1000,
  });
});

Deno.test("serverDelayMs() lets Retry-After take precedence over RateLimit headers", () => {
  const response = new Response(null, {
    status: 429,
    headers: { "retry-after": "4", "ratelimit": '"p";r=0;t=30' },
  });
  assert.equal(serverDelayMs(response, NOW), 4000);
});

Deno.test("serverDelayMs() uses the reset only when no request remains", () => {
  assert.equal(serverDelayMs(h({ "ratelimit": '"p";r=0;t=30' }), NOW), 30_000);
  assert.equal(serverDelayMs(h({ "ratelimit": '"p";r=1;t=30' }), NOW), undefined);
  assert.equal(
    serverDelayMs(
      h({ "x-ratelimit-remaining": "0", "x-ratelimit-reset": String(NOW / 1000) }),
      NOW,
    ),
    1000,
  );
  assert.equal(
    serverDelayMs(h({ "retry-after": "later", "ratelimit-remaining": "0" }), NOW),
    undefined,
  );
  assert.equal(
    serverDelayMs(
      h({ "retry-after": "later", "ratelimit-remaining": "0", "ratelimit-reset": "2" }),
      NOW,
    ),
    2000,
  );
});
