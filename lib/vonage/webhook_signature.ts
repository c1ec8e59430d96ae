/**
 * Vonage's signed webhooks: `Authorization: Bearer <JWT>`, HS256 with the account's
 * signature secret, whose `payload_hash` claim is the hex SHA-256 of the request body.
 * {@linkcode verifyWebhookSignature} checks one; {@linkcode signWebhookBody} makes one (the
 * mock signs its status webhooks with it, tests forge and tamper with it).
 *
 * @module
 */

import { type Clock, realClock } from "../core/clock.ts";
import { errors, jwtVerify, SignJWT } from "../deps/jose.ts";

/**
 * Options for {@linkcode verifyWebhookSignature}.
 *
 * @example Allowing webhooks signed up to ten minutes ago
 * ```ts
 * import type { VerifyWebhookOptions } from "./webhook_signature.ts";
 *
 * const options: VerifyWebhookOptions = { maxAgeMs: 10 * 60_000 };
 * console.log(options.maxAgeMs); // 600000
 * ```
 */
export interface VerifyWebhookOptions {
  /**
   * The wall clock `iat` is checked against (`now()` in epoch milliseconds).
   *
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * How old a token's `iat` may be, in milliseconds. A captured webhook replayed later
   * than this is refused however well it is signed; younger replays are caught by the
   * caller remembering `jti` for this long.
   *
   * @default {300000}
   */
  maxAgeMs?: number;
  /** Milliseconds an `iat` may lie in the future (the sender's clock runs ahead). @default {60000} */
  futureSkewMs?: number;
}

/**
 * What {@linkcode verifyWebhookSignature} decided: the token's `jti` and `iat` when it
 * holds, or why not, in words for a log line.
 *
 * @example Logging a refusal
 * ```ts
 * import { verifyWebhookSignature, type WebhookVerdict } from "./webhook_signature.ts";
 *
 * const verdict: WebhookVerdict = await verifyWebhookSignature(null, new Uint8Array(), "secret");
 * if (!verdict.ok) console.log(verdict.reason); // no Authorization header: the webhook is unsigned
 * ```
 */
export type WebhookVerdict =
  | {
    ok: true;
    /** The token's id: remember it to refuse a replay of the same request. */
    jti: string;
    /** The token's `iat`, in epoch milliseconds. */
    issuedAtMs: number;
  }
  | {
    ok: false;
    /** Why the webhook is refused. */
    reason: string;
  };

const encoder = new TextEncoder();

/** Hex SHA-256 of `body`: what `payload_hash` must say. */
async function payloadHash(body: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", body as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function secretKey(secret: string, context: string): Uint8Array {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new TypeError(
      `${context}: 'secret' must be the account's signature secret (a non-empty string)`,
    );
  }
  return encoder.encode(secret);
}

/**
 * Check a webhook's `Authorization` header against its raw body: an HS256 JWT signed with
 * `secret` (any other `alg`, `none` included, is refused), a `payload_hash` equal to the
 * body's hex SHA-256, a `jti`, and an `iat` no older than `maxAgeMs`. Never throws for a
 * bad request; throws a `TypeError` for an empty `secret`.
 *
 * @example Accepting a webhook the mock signed
 * ```ts
 * import { signWebhookBody, verifyWebhookSignature } from "./webhook_signature.ts";
 *
 * const body = JSON.stringify({ message_uuid: "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab", status: "delivered" });
 * const token = await signWebhookBody(body, "my-signature-secret");
 * const bytes = new TextEncoder().encode(body);
 * const verdict = await verifyWebhookSignature(`Bearer ${token}`, bytes, "my-signature-secret");
 * console.log(verdict.ok); // true
 * ```
 */
export async function verifyWebhookSignature(
  authorization: string | null,
  body: Uint8Array,
  secret: string,
  options: VerifyWebhookOptions = {},
): Promise<WebhookVerdict> {
  const { clock = realClock, maxAgeMs = 300_000, futureSkewMs = 60_000 } = options;
  const key = secretKey(secret, "Cannot verify a webhook");
  if (authorization === null || authorization.trim() === "") {
    return { ok: false, reason: "no Authorization header: the webhook is unsigned" };
  }
  const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!match) return { ok: false, reason: "the Authorization header is not 'Bearer <JWT>'" };
  const nowMs = clock.now();
  let payload: Record<string, unknown>;
  try {
    // Time claims are checked below, against the injected clock and with our own words.
    ({ payload } = await jwtVerify(match[1]!, key, {
      algorithms: ["HS256"],
      currentDate: new Date(nowMs),
    }));
  } catch (error: unknown) {
    return { ok: false, reason: describeJoseError(error) };
  }
  if (typeof payload.jti !== "string" || payload.jti === "") {
    return { ok: false, reason: "the token has no jti, so a replay could not be told apart" };
  }
  if (typeof payload.iat !== "number") return { ok: false, reason: "the token has no iat" };
  const issuedAtMs = payload.iat * 1000;
  if (issuedAtMs < nowMs - maxAgeMs) {
    const ageSeconds = Math.round((nowMs - issuedAtMs) / 1000);
    return {
      ok: false,
      reason: `the token is stale: iat is ${ageSeconds} s old, more than the ${
        maxAgeMs / 1000
      } s allowed`,
    };
  }
  if (issuedAtMs > nowMs + futureSkewMs) {
    const aheadSeconds = Math.round((issuedAtMs - nowMs) / 1000);
    return { ok: false, reason: `the token's iat is ${aheadSeconds} s in the future` };
  }
  if (typeof payload.payload_hash !== "string") {
    return { ok: false, reason: "the token has no payload_hash" };
  }
  if (payload.payload_hash.toLowerCase() !== await payloadHash(body)) {
    return { ok: false, reason: "payload_hash does not match the body: it was altered" };
  }
  return { ok: true, jti: payload.jti, issuedAtMs };
}

function describeJoseError(error: unknown): string {
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return "the token is not signed with HS256 (alg 'none' and others are refused)";
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return "the signature does not match the signature secret";
  }
  if (error instanceof errors.JWTExpired) return "the token has expired (exp)";
  if (error instanceof errors.JWTClaimValidationFailed) {
    return `the token's ${error.claim} claim is invalid: ${error.reason}`;
  }
  if (error instanceof errors.JOSEError) return `the token is malformed (${error.code})`;
  return `the token could not be read: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * Options for {@linkcode signWebhookBody}.
 *
 * @example Signing as of a fixed time
 * ```ts
 * import type { SignWebhookOptions } from "./webhook_signature.ts";
 *
 * const options: SignWebhookOptions = { issuedAtMs: Date.UTC(2026, 0, 1) };
 * console.log(options.issuedAtMs); // 1767225600000
 * ```
 */
export interface SignWebhookOptions {
  /**
   * The token's `iat`, in epoch milliseconds.
   *
   * @default {Date.now()}
   */
  issuedAtMs?: number;
  /** The token's `jti`. @default {crypto.randomUUID()} */
  jti?: string;
  /** The `api_key` claim. @default {"politely-mock"} */
  apiKey?: string;
  /** The `application_id` claim. @default {"politely-mock-app"} */
  applicationId?: string;
}

/**
 * Sign `body` as Vonage signs a webhook: an HS256 JWT with `iss: "Vonage"`, `iat`, `jti`,
 * `api_key`, `application_id` and `payload_hash`. Returns the token, for
 * `Authorization: Bearer <token>`; a fresh `jti` each call, so sign every delivery attempt.
 *
 * @example Posting a signed status webhook
 * ```ts ignore
 * import { signWebhookBody } from "./webhook_signature.ts";
 *
 * const body = JSON.stringify({ message_uuid: "…", status: "delivered" });
 * const token = await signWebhookBody(body, "my-signature-secret");
 * await fetch("http://127.0.0.1:8788/webhooks/status", {
 *   method: "POST",
 *   headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
 *   body,
 * });
 * ```
 */
export async function signWebhookBody(
  body: string | Uint8Array,
  secret: string,
  options: SignWebhookOptions = {},
): Promise<string> {
  const {
    issuedAtMs = Date.now(),
    jti = crypto.randomUUID(),
    apiKey = "politely-mock",
    applicationId = "politely-mock-app",
  } = options;
  const key = secretKey(secret, "Cannot sign a webhook");
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  return await new SignJWT({
    api_key: apiKey,
    application_id: applicationId,
    payload_hash: await payloadHash(bytes),
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer("Vonage")
    .setIssuedAt(Math.floor(issuedAtMs / 1000))
    .setJti(jti)
    .sign(key);
}
