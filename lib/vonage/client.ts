/**
 * A client for the Vonage Messages API (`POST /v1/messages`) that sends one SMS
 * per call and says exactly what became of it, as a {@linkcode SendOutcome}.
 *
 * `sendSms` makes one attempt, plus one re-mint-and-retry after a 401 (an expired
 * or skewed token is not bad credentials). It never retries anything else: retries
 * belong to the caller, so they are never stacked.
 *
 * @module
 */

import { type Clock, realClock } from "../core/clock.ts";
import { httpUrl } from "../core/parse_url.ts";
import { USER_AGENT } from "../core/version.ts";
import { failedBeforeSending } from "../core/polite_fetch.ts";
import { classifyAnswer } from "./classify_answer.ts";
import type { SendOutcome, SmsMessage } from "./outcomes.ts";
import { VonageTokenSource } from "./token_source.ts";

// Re-exported so that this module's documentation is complete on its own.
export type { Clock, SendOutcome, SmsMessage };

/**
 * Options for {@linkcode createVonageClient}.
 *
 * @example Pointing the client at the mock
 * ```ts
 * import { createVonageClient, type VonageClientOptions } from "./mod.ts";
 *
 * const options: VonageClientOptions = {
 *   applicationId: "app",
 *   privateKey: await Deno.readTextFile("fixtures/test_private.key"),
 *   baseUrl: "http://127.0.0.1:8787", // `main.ts mock`; the default is Vonage's own
 *   timeoutMs: 10_000,
 * };
 * const client = createVonageClient(options);
 * console.log(client.tokensMinted); // 0: nothing is signed before the first send
 * ```
 */
export interface VonageClientOptions {
  /** The Vonage application id. Required. */
  applicationId: string;
  /** The application's private key: PKCS#8 PEM text or a signing `CryptoKey`. Required. */
  privateKey: string | CryptoKey;
  /**
   * Where the API lives; `/v1/messages` is appended. Use
   * `https://api-eu.vonage.com` for the EU, or the mock's URL.
   *
   * @default {"https://api.nexmo.com"}
   */
  baseUrl?: string;
  /**
   * The `fetch` to call.
   *
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /**
   * Where time comes from: token lifetimes, request timeouts, and the epoch
   * reading that an HTTP-date Retry-After is measured against.
   *
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * Milliseconds to wait for a complete answer before giving up on a request
   * (an `uncertain` outcome). Each call can override it.
   *
   * @default {30000}
   */
  timeoutMs?: number;
  /**
   * Lifetime of each token in seconds (30 to 86400). Tokens are reused until
   * 60 s before they expire.
   *
   * @default {900}
   */
  tokenTtlSeconds?: number;
}

/**
 * Options for {@linkcode VonageClient.sendSms}.
 *
 * @example Giving one send its own deadline
 * ```ts
 * import { createVonageClient, type SendSmsOptions } from "./mod.ts";
 *
 * const client = createVonageClient({
 *   applicationId: "app",
 *   privateKey: await Deno.readTextFile("fixtures/test_private.key"),
 *   fetch: () =>
 *     Promise.resolve(Response.json({ message_uuid: crypto.randomUUID() }, { status: 202 })),
 * });
 * const options: SendSmsOptions = { timeoutMs: 5_000, signal: new AbortController().signal };
 * const outcome = await client.sendSms({ to: "447700900000", from: "Acme", text: "Hi" }, options);
 * console.log(outcome.kind); // accepted
 * ```
 */
export interface SendSmsOptions {
  /**
   * Abort the send. Aborted before the request leaves: `sendSms` rejects with
   * `signal.reason`. Aborted while it is in flight: an `uncertain` outcome.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * This call's timeout in milliseconds.
   *
   * @default {the client's timeoutMs}
   */
  timeoutMs?: number;
  /**
   * Awaited before the one retry with a fresh token after a 401, so that a
   * caller who paces its requests can take a token for it too. If it rejects,
   * `sendSms` rejects with that reason (the 401 means nothing was accepted).
   *
   * @default {undefined}
   */
  beforeRetry?: () => Promise<void>;
}

/**
 * A Vonage Messages API client; see {@linkcode createVonageClient}.
 *
 * @example A stand-in client for tests
 * ```ts
 * import type { SendOutcome, SmsMessage, VonageClient } from "./mod.ts";
 *
 * // Accepts everything: no network, no key.
 * const fake: VonageClient = {
 *   tokensMinted: 0,
 *   sendSms: (_message: SmsMessage): Promise<SendOutcome> =>
 *     Promise.resolve({ kind: "accepted", status: 202, messageUuid: crypto.randomUUID() }),
 * };
 * const outcome = await fake.sendSms({ to: "447700900000", from: "Acme", text: "Hi" });
 * console.log(outcome.kind); // accepted
 * ```
 */
export interface VonageClient {
  /**
   * Send one SMS: one attempt, plus one retry with a fresh token after a 401.
   *
   * @throws {VonageCredentialsError} When the key or application id is unusable (nothing sent).
   * @throws When `signal` aborts before the request leaves (with `signal.reason`), or
   *   when Deno refuses the request outright (e.g. no `--allow-net` for the host).
   */
  sendSms(message: SmsMessage, options?: SendSmsOptions): Promise<SendOutcome>;
  /** How many tokens the client has minted (RSA signatures made). */
  readonly tokensMinted: number;
}

function messageOf(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    parts.push(current instanceof Error ? current.message : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(": ");
}

function isPermissionError(error: unknown): boolean {
  return error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied;
}

type Attempt = { outcome: SendOutcome; unauthorized: boolean };

/** Where and how a client posts: fixed when it is created. */
interface Endpoint {
  url: string;
  fetchFn: typeof globalThis.fetch;
  clock: Clock;
}

/**
 * One POST of one message with one token, within `timeoutMs`: the outcome, and
 * whether the server said 401 (so the caller may try once with a fresh token).
 */
async function postOnce(
  endpoint: Endpoint,
  body: string,
  token: string,
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<Attempt> {
  const { url, fetchFn, clock } = endpoint;
  // The timeout runs on the injected clock, so tests can fire it in virtual time.
  const timeout = new AbortController();
  const stopTimer = new AbortController();
  clock.sleep(timeoutMs, stopTimer.signal).then(
    () => timeout.abort(new DOMException(`no answer within ${timeoutMs} ms`, "TimeoutError")),
    () => {},
  );
  const requestSignal = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
  const inFlightFailure = (error: unknown): Attempt => {
    if (timeout.signal.aborted) {
      return {
        outcome: { kind: "uncertain", reason: `no answer within ${timeoutMs} ms` },
        unauthorized: false,
      };
    }
    if (signal?.aborted) {
      return {
        outcome: { kind: "uncertain", reason: "aborted while the request was in flight" },
        unauthorized: false,
      };
    }
    if (isPermissionError(error)) throw error;
    const reason = messageOf(error);
    return failedBeforeSending(error)
      ? { outcome: { kind: "not-sent", reason }, unauthorized: false }
      : { outcome: { kind: "uncertain", reason }, unauthorized: false };
  };
  try {
    let response: Response;
    try {
      response = await fetchFn(url, {
        method: "POST",
        headers: {
          "authorization": `Bearer ${token}`,
          "content-type": "application/json",
          "accept": "application/json",
          "user-agent": USER_AGENT,
          // Never on a reused connection: when a kept-alive connection closes
          // with no answer, Deno's fetch silently sends the request again on a
          // new one, and a second POST here is a second SMS (measured against
          // the mock's drop front: 53 arrivals for 40 sends without this line).
          "connection": "close",
        },
        body,
        redirect: "manual",
        signal: requestSignal,
      });
    } catch (error) {
      return inFlightFailure(error);
    }
    const status = response.status;
    let text: string | undefined;
    try {
      text = await response.text();
    } catch (error) {
      // A 2xx whose body was cut off may well have been accepted.
      if (status >= 200 && status < 300) {
        const why = timeout.signal.aborted
          ? `no complete answer within ${timeoutMs} ms`
          : messageOf(error);
        return {
          outcome: {
            kind: "uncertain",
            status,
            reason: `answered ${status} but the body was cut off: ${why}`,
          },
          unauthorized: false,
        };
      }
      // Otherwise the status alone decides.
    }
    return {
      outcome: classifyAnswer(response, status, text, clock.now()),
      unauthorized: status === 401,
    };
  } finally {
    stopTimer.abort();
  }
}

/**
 * Create a Vonage Messages API client.
 *
 * The client mints one JWT and reuses it until 60 s before it expires (see
 * `VonageTokenSource`); it never retries on its own, except once with a
 * fresh token after a 401. How it told a refused connection (`not-sent`) from
 * one dropped after sending (`uncertain`): see `failedBeforeSending`.
 *
 * @param options Credentials, where the API is, and what to call it with.
 * @returns The client.
 * @throws {TypeError} When `baseUrl` is not an http(s) URL.
 * @throws {RangeError} When `timeoutMs` or `tokenTtlSeconds` is out of range.
 *
 * @example Sending one SMS and acting on the outcome
 * ```ts ignore
 * import { createVonageClient } from "./mod.ts";
 *
 * const client = createVonageClient({
 *   applicationId: Deno.env.get("VONAGE_APPLICATION_ID")!,
 *   privateKey: await Deno.readTextFile("private.key"),
 * });
 * const outcome = await client.sendSms({ to: "447700900000", from: "Politely", text: "Hi" });
 * switch (outcome.kind) {
 *   case "accepted":
 *     console.log("sent", outcome.messageUuid);
 *     break;
 *   case "throttled":
 *     console.log("slow down", outcome.retryAfterMs ?? "(no hint)");
 *     break;
 *   default:
 *     console.log(outcome.kind);
 * }
 * ```
 */
export function createVonageClient(options: VonageClientOptions): VonageClient {
  const {
    applicationId,
    privateKey,
    baseUrl = "https://api.nexmo.com",
    fetch: fetchFn = globalThis.fetch,
    clock = realClock,
    timeoutMs: defaultTimeoutMs = 30_000,
    tokenTtlSeconds = 900,
  } = options;
  const base = httpUrl(baseUrl);
  if (base === undefined) {
    throw new TypeError(
      `Cannot create Vonage client: 'baseUrl' must be an http(s) URL, current value is ${
        JSON.stringify(baseUrl)
      }`,
    );
  }
  checkTimeout(defaultTimeoutMs, "Cannot create Vonage client");
  const endpoint: Endpoint = {
    url: `${base.origin}${base.pathname.replace(/\/+$/, "")}/v1/messages`,
    fetchFn,
    clock,
  };
  const tokens = new VonageTokenSource({
    applicationId,
    privateKey,
    ttlSeconds: tokenTtlSeconds,
    clock,
  });

  return {
    get tokensMinted(): number {
      return tokens.mintCount;
    },
    async sendSms(message: SmsMessage, sendOptions: SendSmsOptions = {}): Promise<SendOutcome> {
      const { signal, timeoutMs = defaultTimeoutMs } = sendOptions;
      checkTimeout(timeoutMs, "Cannot send SMS");
      signal?.throwIfAborted();
      const payload: Record<string, string> = {
        message_type: "text",
        channel: "sms",
        to: message.to,
        from: message.from,
        text: message.text,
      };
      if (message.clientRef !== undefined) payload.client_ref = message.clientRef;
      const body = JSON.stringify(payload);

      let token = await tokens.get();
      signal?.throwIfAborted();
      const first = await postOnce(endpoint, body, token, signal, timeoutMs);
      if (!first.unauthorized) return first.outcome;
      // A 401 may mean an expired or clock-skewed token: one fresh token decides.
      tokens.invalidate(token);
      await sendOptions.beforeRetry?.();
      token = await tokens.get();
      signal?.throwIfAborted();
      return (await postOnce(endpoint, body, token, signal, timeoutMs)).outcome;
    },
  };
}

function checkTimeout(timeoutMs: number, what: string): void {
  if (!(timeoutMs > 0)) {
    throw new RangeError(
      `${what}: 'timeoutMs' must be a positive number, current value is ${timeoutMs}`,
    );
  }
}
