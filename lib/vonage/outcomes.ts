/**
 * What became of one SMS: the typed outcomes of the Vonage Messages API, one per
 * row of the table of server answers (docs/design.md), so a caller can tell "not
 * accepted, safe to retry" (`throttled`, `unavailable`, `not-sent`) from "maybe
 * accepted, never resend blindly" (`uncertain`).
 *
 * @module
 */

/**
 * One SMS to send.
 *
 * @example One message with a reference of your own
 * ```ts
 * import type { SmsMessage } from "./mod.ts";
 *
 * const message: SmsMessage = {
 *   to: "447700900000",
 *   from: "Acme",
 *   text: "Your code is 1234",
 *   clientRef: "order-1234", // comes back in delivery receipts
 * };
 * ```
 */
export interface SmsMessage {
  /** The recipient, E.164 digits without `+` (e.g. `"447700900000"`). */
  to: string;
  /** The sender: a number in E.164 digits or an alphanumeric sender id. */
  from: string;
  /** The message text, 1 to 1000 characters. */
  text: string;
  /** Your reference (up to 100 characters), echoed in status webhooks. */
  clientRef?: string;
}

/**
 * A parameter the server found invalid (from a 422's `invalid_parameters`).
 *
 * @example Saying which fields were refused
 * ```ts
 * import type { InvalidParameter } from "./mod.ts";
 *
 * const describe = (parameters: InvalidParameter[]): string =>
 *   parameters.map(({ name, reason }) => `'${name}' ${reason}`).join("; ");
 * console.log(describe([{ name: "from", reason: "is too long" }])); // 'from' is too long
 * ```
 */
export interface InvalidParameter {
  /** The parameter's name, e.g. `"to"`. */
  name: string;
  /** Why it is invalid, in the server's words. */
  reason: string;
}

/**
 * 202: the message was accepted.
 *
 * @example Keeping the message ids
 * ```ts
 * import type { AcceptedOutcome, SendOutcome } from "./mod.ts";
 *
 * const sent: AcceptedOutcome[] = [];
 * function record(outcome: SendOutcome): void {
 *   if (outcome.kind === "accepted") sent.push(outcome); // narrowed to AcceptedOutcome
 * }
 * record({ kind: "accepted", status: 202, messageUuid: "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab" });
 * console.log(sent.length); // 1
 * ```
 */
export interface AcceptedOutcome {
  /** Discriminant. */
  kind: "accepted";
  /** The HTTP status (202). */
  status: number;
  /** Vonage's id for the message. */
  messageUuid: string;
}

/**
 * 429: throttled, not accepted; safe to retry after a wait.
 *
 * @example Waiting as long as the server asks
 * ```ts
 * import { createVonageClient, type ThrottledOutcome } from "./mod.ts";
 *
 * const waitMs = (outcome: ThrottledOutcome): number => outcome.retryAfterMs ?? 1_000;
 * const client = createVonageClient({
 *   applicationId: "app",
 *   privateKey: await Deno.readTextFile("fixtures/test_private.key"),
 *   fetch: () =>
 *     Promise.resolve(new Response(null, { status: 429, headers: { "retry-after": "2" } })),
 * });
 * const outcome = await client.sendSms({ to: "447700900000", from: "Acme", text: "Hi" });
 * if (outcome.kind === "throttled") console.log(waitMs(outcome)); // 2000
 * ```
 */
export interface ThrottledOutcome {
  /** Discriminant. */
  kind: "throttled";
  /** The HTTP status (429). */
  status: number;
  /** The server's requested wait (Retry-After or an exhausted RateLimit reset), if it gave one. */
  retryAfterMs?: number;
  /** The request limit per second the server states (`RateLimit-Policy` quota over window), if any. */
  limitPerSecond?: number;
  /** The problem's title, or `"HTTP 429"`. */
  title: string;
  /** The problem's detail, or `""`. */
  detail: string;
}

/**
 * 503: unavailable, not accepted; safe to retry after a wait.
 *
 * @example Falling back to your own backoff
 * ```ts
 * import type { UnavailableOutcome } from "./mod.ts";
 *
 * const outcome: UnavailableOutcome = {
 *   kind: "unavailable",
 *   status: 503,
 *   title: "Service Unavailable",
 *   detail: "",
 * };
 * console.log(outcome.retryAfterMs ?? 5_000); // 5000: no hint, so our own delay
 * ```
 */
export interface UnavailableOutcome {
  /** Discriminant. */
  kind: "unavailable";
  /** The HTTP status (503). */
  status: number;
  /** The server's requested wait, if it gave one. */
  retryAfterMs?: number;
  /** The problem's title, or `"HTTP 503"`. */
  title: string;
  /** The problem's detail, or `""`. */
  detail: string;
}

/**
 * 400, 413 or 422: this message is invalid as sent.
 *
 * @example Reporting why a message was refused
 * ```ts
 * import type { RejectedOutcome } from "./mod.ts";
 *
 * function explain({ status, title, detail, invalidParameters }: RejectedOutcome): string {
 *   const fields = invalidParameters.map((p) => `${p.name} ${p.reason}`).join("; ");
 *   return `${status} ${title}: ${fields || detail}`;
 * }
 * const invalidParameters = [{ name: "to", reason: "is not a phone number" }];
 * const outcome: RejectedOutcome = {
 *   kind: "rejected", status: 422, title: "Invalid params", detail: "", invalidParameters,
 * };
 * console.log(explain(outcome));
 * // 422 Invalid params: to is not a phone number
 * ```
 */
export interface RejectedOutcome {
  /** Discriminant. */
  kind: "rejected";
  /** The HTTP status. */
  status: number;
  /** The problem's title, or `"HTTP <status>"`. */
  title: string;
  /** The problem's detail, or the start of a non-JSON body, or `""`. */
  detail: string;
  /** The problem's `invalid_parameters` (empty when it has none). */
  invalidParameters: InvalidParameter[];
}

/**
 * An answer the Messages API does not give about one message: a redirect, 404,
 * 405 and other 4xx besides 400, 413 and 422. The request most likely reached
 * something else (a wrong base URL, a proxy), so every message would meet the
 * same answer: a sender should stop rather than fail each one.
 *
 * @example Telling the user what to check
 * ```ts
 * import type { UnexpectedOutcome } from "./mod.ts";
 *
 * const outcome: UnexpectedOutcome = {
 *   kind: "unexpected", status: 404, title: "Not Found", detail: "",
 * };
 * console.log(`${outcome.status} ${outcome.title}: is the base URL right?`);
 * // 404 Not Found: is the base URL right?
 * ```
 */
export interface UnexpectedOutcome {
  /** Discriminant. */
  kind: "unexpected";
  /** The HTTP status. */
  status: number;
  /** The problem's title, or `"HTTP <status>"`. */
  title: string;
  /** The problem's detail, or the start of a non-JSON body, or `""`. */
  detail: string;
}

/**
 * 401 (after one fresh token) or 403: the credentials are not accepted.
 *
 * @example Stopping a run on bad credentials
 * ```ts
 * import type { AuthOutcome } from "./mod.ts";
 *
 * // The client already tried once more with a fresh token: every later send would fail too.
 * const stopReason = (outcome: AuthOutcome): string =>
 *   `${outcome.status} ${outcome.title}: check the application id and private key`;
 * console.log(stopReason({ kind: "auth", status: 401, title: "Unauthorized", detail: "" }));
 * // 401 Unauthorized: check the application id and private key
 * ```
 */
export interface AuthOutcome {
  /** Discriminant. */
  kind: "auth";
  /** The HTTP status (401 or 403). */
  status: number;
  /** The problem's title, or `"HTTP <status>"`. */
  title: string;
  /** The problem's detail, or `""`. */
  detail: string;
}

/**
 * 402: the account is out of credit.
 *
 * @example Stopping when the account runs dry
 * ```ts
 * import type { PaymentOutcome } from "./mod.ts";
 *
 * // Nothing more can go out until someone tops up: stop, and leave the rest pending.
 * const stopReason = ({ title, detail }: PaymentOutcome): string => `${title}. ${detail}`;
 * const outcome: PaymentOutcome = {
 *   kind: "payment", status: 402, title: "Low balance", detail: "Top up",
 * };
 * console.log(stopReason(outcome)); // Low balance. Top up
 * ```
 */
export interface PaymentOutcome {
  /** Discriminant. */
  kind: "payment";
  /** The HTTP status (402). */
  status: number;
  /** The problem's title, or `"HTTP 402"`. */
  title: string;
  /** The problem's detail, or `""`. */
  detail: string;
}

/**
 * The request went out and we cannot tell whether it was accepted: 500, 502,
 * 504 or another 5xx, a 2xx without a `message_uuid`, a timeout, a connection
 * reset after sending, or an abort while in flight. Never resend blindly.
 *
 * @example Never resending blindly
 * ```ts
 * import type { UncertainOutcome } from "./mod.ts";
 *
 * const outcome: UncertainOutcome = { kind: "uncertain", status: 500, reason: "server error 500" };
 * // The message may have gone out: record it for a person to decide, and do not retry it.
 * console.log(`maybe sent (${outcome.reason})`); // maybe sent (server error 500)
 * ```
 */
export interface UncertainOutcome {
  /** Discriminant. */
  kind: "uncertain";
  /** What happened, for people. */
  reason: string;
  /** The HTTP status, when there was an answer. */
  status?: number;
}

/**
 * The request never left: connection refused, DNS failure. Safe to retry.
 *
 * @example Retrying what never left
 * ```ts
 * import { createVonageClient, type NotSentOutcome } from "./mod.ts";
 *
 * const client = createVonageClient({
 *   applicationId: "app",
 *   privateKey: await Deno.readTextFile("fixtures/test_private.key"),
 *   fetch: () => Promise.reject(new Deno.errors.ConnectionRefused("connection refused")),
 * });
 * const outcome = await client.sendSms({ to: "447700900000", from: "Acme", text: "Hi" });
 * // Never left this machine, so sending it again cannot send it twice.
 * const retryable: NotSentOutcome | undefined = outcome.kind === "not-sent" ? outcome : undefined;
 * console.log(retryable?.reason); // connection refused
 * ```
 */
export interface NotSentOutcome {
  /** Discriminant. */
  kind: "not-sent";
  /** What happened, for people. */
  reason: string;
}

/**
 * What became of one {@linkcode VonageClient.sendSms}: one kind per server answer.
 *
 * @example Handling every kind of answer
 * ```ts
 * import type { SendOutcome } from "./mod.ts";
 *
 * function describe(outcome: SendOutcome): string {
 *   switch (outcome.kind) {
 *     case "accepted":
 *       return `sent as ${outcome.messageUuid}`;
 *     case "throttled":
 *     case "unavailable":
 *       return `not taken; retry in ${outcome.retryAfterMs ?? 1_000} ms`;
 *     case "not-sent":
 *       return `never left (${outcome.reason}); safe to retry`;
 *     case "uncertain":
 *       return `maybe sent (${outcome.reason}); never resend blindly`;
 *     default: // rejected, auth, payment
 *       return `refused: ${outcome.status} ${outcome.title}`;
 *   }
 * }
 * console.log(describe({ kind: "not-sent", reason: "connection refused" }));
 * // never left (connection refused); safe to retry
 * ```
 */
export type SendOutcome =
  | AcceptedOutcome
  | ThrottledOutcome
  | UnavailableOutcome
  | RejectedOutcome
  | AuthOutcome
  | PaymentOutcome
  | UnexpectedOutcome
  | UncertainOutcome
  | NotSentOutcome;
