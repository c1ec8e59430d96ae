/**
 * `fetch`, politely: wait for the limiter, send, and when the server says "not
 * now" (429, 503) wait as long as it asks, then send again.
 *
 * Design notes: `docs/design.md` (polite_fetch.ts).
 *
 * @module
 */

import type { BackoffOptions, BackoffStrategy, Jitter } from "./backoff.ts";
import { type Clock, realClock } from "./clock.ts";
import {
  learnsFromThrottles,
  type Limiter,
  type LimiterOutcome,
  type ObserveDetail,
  pauseLimiter,
  type TakeOptions,
} from "./limiter.ts";
import { serverDelayMs, statedLimitPerSecond } from "./rate_limit_headers.ts";
import {
  retry,
  type RetryDecisionContext,
  RetryError,
  type RetryGiveUpReason,
  type RetryHookContext,
  type RetryOptions,
} from "./retry.ts";

// The types this module's options refer to, re-exported so that its
// documentation is complete on its own (mod.ts exports them too).
export type {
  BackoffOptions,
  BackoffStrategy,
  Clock,
  Jitter,
  Limiter,
  LimiterOutcome,
  RetryDecisionContext,
  RetryGiveUpReason,
  RetryHookContext,
  RetryOptions,
  TakeOptions,
};

/**
 * What to do with a response: `"done"` returns it, `"retry"` tries again
 * (not accepted, e.g. 503), `"throttled"` tries again and also pauses the
 * limiter (not accepted because of the rate, e.g. 429).
 *
 * @example Retrying a 409 as well
 * ```ts
 * import type { ResponseVerdict } from "./polite_fetch.ts";
 *
 * // This API answers 409 while a resource is still being created: ask again later.
 * const classify = (response: Response): ResponseVerdict =>
 *   response.status === 409 ? "retry" : response.status === 429 ? "throttled" : "done";
 * console.log(classify(new Response(null, { status: 409 }))); // retry
 * ```
 */
export type ResponseVerdict = "done" | "retry" | "throttled";

/**
 * The retry settings {@linkcode politeFetch} takes: the loop's options minus what it owns.
 *
 * @example Three attempts, a millisecond apart
 * ```ts
 * import { politeFetch, type PoliteRetryOptions } from "./polite_fetch.ts";
 *
 * const retry: PoliteRetryOptions = { maxAttempts: 3, backoff: { baseMs: 1, capMs: 1 } };
 * let calls = 0; // a stand-in for the network: two 503s, then a 200
 * const fakeFetch = () => Promise.resolve(new Response(null, { status: ++calls < 3 ? 503 : 200 }));
 * const response = await politeFetch("https://api.example.com/items", { retry, fetch: fakeFetch });
 * console.log(response.status, calls); // 200 3
 * ```
 */
export type PoliteRetryOptions = Omit<
  RetryOptions<Response>,
  "retryOnResult" | "delayHint" | "signal" | "clock"
>;

/**
 * What {@linkcode politeFetch} takes besides `fetch`'s own `RequestInit`.
 *
 * @example Sharing one set of options between calls
 * ```ts
 * import { politeFetch, type PoliteFetchOptions } from "./polite_fetch.ts";
 * import { TokenBucket } from "./token_bucket.ts";
 *
 * const polite: PoliteFetchOptions = {
 *   limiter: new TokenBucket({ ratePerSecond: 10 }),
 *   retry: { maxAttempts: 4 },
 *   fetch: () => Promise.resolve(new Response("ok")), // a stand-in for the network
 * };
 * const response = await politeFetch("https://api.example.com/items", polite);
 * console.log(await response.text()); // ok
 * ```
 */
export interface PoliteFetchOptions {
  /**
   * Taken from (one token) before every attempt, paused on a 429.
   *
   * @default {undefined}
   */
  limiter?: Limiter;
  /**
   * The retry loop's settings. `retryOn` replaces the default decision for
   * network errors; `onRetry` is called after politeFetch's own bookkeeping.
   *
   * @default {{ maxAttempts: 5, maxElapsedMs: 60000 }}
   */
  retry?: PoliteRetryOptions;
  /**
   * Sorts each response into done, retry or throttled.
   *
   * @default {defaultClassify: 429 → "throttled", 503 → "retry", else "done"}
   */
  classify?: (response: Response) => ResponseVerdict;
  /**
   * Where time comes from; its `now()` is also the epoch reading that
   * HTTP-date and epoch-second hints are measured against.
   *
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * The `fetch` to call.
   *
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
}

/**
 * `fetch`'s `RequestInit` plus {@linkcode PoliteFetchOptions}.
 *
 * @example A POST with politeFetch's options beside fetch's
 * ```ts
 * import { politeFetch, type PoliteFetchInit } from "./polite_fetch.ts";
 *
 * const init: PoliteFetchInit = {
 *   method: "POST",
 *   body: JSON.stringify({ name: "widget" }),
 *   retry: { maxAttempts: 3 },
 *   fetch: (_input, init) => Promise.resolve(new Response(init?.body ?? null, { status: 201 })),
 * };
 * const response = await politeFetch("https://api.example.com/items", init);
 * console.log(response.status, await response.text()); // 201 {"name":"widget"}
 * ```
 */
export type PoliteFetchInit = RequestInit & PoliteFetchOptions;

/**
 * The default {@linkcode PoliteFetchOptions.classify}: 429 is throttled, 503
 * is retried, anything else is returned.
 *
 * @param response The response to classify.
 * @returns The verdict.
 *
 * @example Extending the default
 * ```ts
 * import { defaultClassify, type ResponseVerdict } from "./polite_fetch.ts";
 *
 * const classify = (response: Response): ResponseVerdict =>
 *   response.status === 502 ? "retry" : defaultClassify(response);
 * console.log(classify(new Response(null, { status: 429 }))); // throttled
 * ```
 */
export function defaultClassify(response: Response): ResponseVerdict {
  if (response.status === 429) return "throttled";
  if (response.status === 503) return "retry";
  return "done";
}

// Errors that happen while connecting, before any byte of the request is
// written. Node and undici put a code on the error or its cause.
const NEVER_SENT_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EAI_NONAME",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/**
 * Whether a `fetch` failure happened before the request left this machine,
 * so that sending it again cannot make it happen twice.
 *
 * Deno's `fetch` rejects with `TypeError("fetch failed")` in every network
 * case; the `cause` tells them apart. A failure while connecting (refused,
 * DNS, TLS handshake) reads `… client error (Connect): tcp connect error:
 * Connection refused` or `… (Connect): dns error: …`, while a connection
 * dropped after the request was written reads `… client error (SendRequest):
 * connection closed before message completed`. Only the first is "never
 * sent". Errors from Node/undici are recognised by their `code`
 * (`ECONNREFUSED`, `ENOTFOUND`, …). Anything unrecognised counts as "may have
 * been sent", which is the safe answer.
 *
 * @param error What `fetch` rejected with.
 * @returns `true` only when the request certainly never left.
 *
 * @example Retrying only what never left
 * ```ts
 * import { failedBeforeSending } from "./polite_fetch.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const { port } = listener.addr as Deno.NetAddr;
 * listener.close();
 * try {
 *   await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "hi" });
 * } catch (error) {
 *   console.log(failedBeforeSending(error)); // true: the connection was refused
 * }
 * ```
 */
export function failedBeforeSending(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && current !== undefined; depth++) {
    if (current instanceof Deno.errors.ConnectionRefused) return true;
    if (typeof current === "object") {
      const code = (current as { code?: unknown }).code;
      if (typeof code === "string" && NEVER_SENT_CODES.has(code)) return true;
    }
    // "(Connect)": the connection was never made. "are blocked": Deno refuses
    // some ports (1, 25, …) before opening anything.
    if (
      current instanceof Error &&
      /client error \(Connect\)|Requests to port \d+ are blocked/.test(current.message)
    ) return true;
    current = current instanceof Error ? current.cause : undefined;
  }
  return false;
}

const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  "GET",
  "HEAD",
  "OPTIONS",
  "TRACE",
  "PUT",
  "DELETE",
]);

function isAbort(error: unknown): boolean {
  return error instanceof DOMException &&
    (error.name === "AbortError" || error.name === "TimeoutError");
}

/**
 * `fetch` with pacing and polite retries (see the module doc for the rules).
 *
 * @param input What to fetch, as for `fetch`.
 * @param init `fetch`'s options plus {@linkcode PoliteFetchOptions}.
 * @returns The first response classified `"done"`, or the last one when retries run out.
 * @throws {RetryError} When network errors exhaust the retries (`cause` is the last one).
 * @throws The network error itself when it is not retried, or `signal.reason` on abort.
 *
 * @example Calling a rate-limited API at 5 requests/s at most
 * ```ts ignore
 * import { politeFetch } from "./polite_fetch.ts";
 * import { TokenBucket } from "./token_bucket.ts";
 *
 * const limiter = new TokenBucket({ ratePerSecond: 5, burst: 1 });
 * const response = await politeFetch("https://api.example.com/items", {
 *   limiter,
 *   retry: { maxAttempts: 8, maxElapsedMs: 120_000 },
 * });
 * console.log(response.status, await response.json());
 * ```
 */
export async function politeFetch(
  input: string | URL | Request,
  init: PoliteFetchInit = {},
): Promise<Response> {
  const {
    limiter,
    retry: retryOptions = {},
    classify = defaultClassify,
    clock = realClock,
    fetch: fetchFn = globalThis.fetch,
    ...requestInit
  } = init;
  const { onRetry: userOnRetry, retryOn: userRetryOn, ...loopOptions } = retryOptions;
  const method = (requestInit.method ?? (input instanceof Request ? input.method : "GET"))
    .toUpperCase();
  const replayable = !(requestInit.body instanceof ReadableStream);
  // A limiter that learns from throttles slows itself; one that does not is paused.
  const learns = learnsFromThrottles(limiter);
  const verdicts = new WeakMap<
    Response,
    { verdict: ResponseVerdict; hintMs: number | undefined }
  >();

  const attempt = async ({ signal }: { signal: AbortSignal }): Promise<Response> => {
    await limiter?.take(1, { signal });
    // A Request's body can be read once: send a clone and keep the original for the next try.
    const request = input instanceof Request && replayable ? input.clone() : input;
    const response = await fetchFn(request, { ...requestInit, signal });
    const verdict = classify(response);
    let hintMs: number | undefined;
    if (verdict !== "done") hintMs = serverDelayMs(response, clock.now());
    if (verdict === "throttled") {
      const detail: ObserveDetail = {};
      const limitPerSecond = statedLimitPerSecond(response, clock.now());
      if (limitPerSecond !== undefined) detail.limitPerSecond = limitPerSecond;
      if (hintMs !== undefined) detail.retryAfterMs = hintMs;
      limiter?.observe?.("throttled", detail);
      if (hintMs !== undefined) pauseLimiter(limiter, hintMs);
    } else {
      limiter?.observe?.("accepted");
    }
    verdicts.set(response, { verdict, hintMs });
    return response;
  };

  const signal = requestInit.signal ?? undefined;
  try {
    return await retry<Response>(attempt, {
      maxAttempts: 5,
      maxElapsedMs: 60_000,
      ...loopOptions,
      ...(replayable ? {} : { maxAttempts: 1 }),
      clock,
      ...(signal ? { signal } : {}),
      retryOnResult: (response) => verdicts.get(response)?.verdict !== "done",
      delayHint: (errorOrResult) => {
        if (!(errorOrResult instanceof Response)) return undefined;
        const seen = verdicts.get(errorOrResult);
        // A learning limiter has slowed the shared pace already: queue again at once.
        if (seen?.verdict === "throttled" && seen.hintMs === undefined && learns) return 0;
        return seen?.hintMs;
      },
      retryOn: async (error, context) => {
        if (!replayable) return false;
        if (userRetryOn) return await userRetryOn(error, context);
        if (!(error instanceof TypeError) || isAbort(error)) return false;
        return failedBeforeSending(error) || IDEMPOTENT_METHODS.has(method);
      },
      onRetry: async (context) => {
        const response = context.result;
        if (response instanceof Response) {
          const seen = verdicts.get(response);
          // No hint: the computed backoff is the best guess at how long the server wants.
          if (seen?.verdict === "throttled" && seen.hintMs === undefined && !learns) {
            pauseLimiter(limiter, context.delayMs);
          }
          // An unread body holds a connection (and trips Deno's leak checks).
          await response.body?.cancel().catch(() => {});
        }
        await userOnRetry?.(context);
      },
    });
  } catch (error) {
    if (error instanceof RetryError && error.lastResult instanceof Response) {
      return error.lastResult;
    }
    throw error;
  }
}
