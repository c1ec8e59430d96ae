/**
 * A mock of the Vonage Messages API (`POST /v1/messages`, SMS) with a real
 * rate limit, JWT auth and fault injection, for testing clients with no
 * account: in-process as a Hono app ({@linkcode createMockVonage}) or on a
 * socket ({@linkcode serveMockVonage}).
 *
 * @example Serving the mock and sending one SMS to it
 * ```ts
 * import { serveMockVonage } from "@politely/politely/mock";
 * import { importPKCS8, SignJWT } from "../deps/jose.ts";
 *
 * const publicKey = await Deno.readTextFile("fixtures/test_public.pem");
 * const privateKey = await importPKCS8(await Deno.readTextFile("fixtures/test_private.key"), "RS256");
 * await using server = await serveMockVonage({ publicKey, applicationId: "my-app", ratePerSecond: 1 });
 *
 * const token = await new SignJWT({ application_id: "my-app" })
 *   .setProtectedHeader({ alg: "RS256", typ: "JWT" })
 *   .setIssuedAt()
 *   .setJti(crypto.randomUUID())
 *   .setExpirationTime("15m")
 *   .sign(privateKey);
 * const response = await fetch(`${server.url}/v1/messages`, {
 *   method: "POST",
 *   headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
 *   body: JSON.stringify({ message_type: "text", channel: "sms", to: "447700900000", from: "Acme", text: "Hi" }),
 * });
 * console.log(response.status, await response.json()); // 202 { message_uuid: "…" }
 * ```
 *
 * @module
 */

export {
  type AcceptedMessage,
  createMockVonage,
  DroppedConnectionError,
  type MockVonage,
  type MockVonageApp,
  type MockVonageOptions,
} from "./mock_vonage.ts";
export type { MockVonageSecond, MockVonageStats } from "./mock_stats.ts";
export type { InvalidParameter, Problem } from "./problem.ts";
export type { SmsFields } from "./validate_sms.ts";
export {
  type MockVonageServer,
  serveMockVonage,
  type ServeMockVonageOptions,
} from "./serve_mock_vonage.ts";
export { generateVonageKeyPair, privateKeyToPem } from "./key_pair.ts";
export {
  type PlannedOutcome,
  type StatusWebhookOptions,
  StatusWebhookSender,
  type StatusWebhookStats,
  type WebhookMessage,
} from "./status_webhooks.ts";
export type { Clock } from "../core/clock.ts";
