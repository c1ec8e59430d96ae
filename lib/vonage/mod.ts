/**
 * The Vonage Messages API (SMS): RS256 application JWTs, a token source that
 * reuses them until shortly before expiry, a client whose every answer is
 * one typed {@linkcode SendOutcome}, and the HS256 signature of status webhooks.
 *
 * @example Sending one SMS to the local mock
 * ```ts
 * import { createVonageClient } from "./mod.ts";
 *
 * const client = createVonageClient({
 *   applicationId: "politely-mock-app",
 *   privateKey: await Deno.readTextFile("fixtures/test_private.key"),
 *   baseUrl: "http://127.0.0.1:8787", // `main.ts mock`
 * });
 * console.log(client.tokensMinted); // 0: nothing is signed before the first send
 * ```
 *
 * @module
 */

export {
  importVonagePrivateKey,
  mintVonageJwt,
  type MintVonageJwtOptions,
  VonageCredentialsError,
} from "./jwt.ts";
export { VonageTokenSource, type VonageTokenSourceOptions } from "./token_source.ts";
export {
  signWebhookBody,
  type SignWebhookOptions,
  type VerifyWebhookOptions,
  verifyWebhookSignature,
  type WebhookVerdict,
} from "./webhook_signature.ts";
export type {
  AcceptedOutcome,
  AuthOutcome,
  InvalidParameter,
  NotSentOutcome,
  PaymentOutcome,
  RejectedOutcome,
  SendOutcome,
  SmsMessage,
  ThrottledOutcome,
  UnavailableOutcome,
  UncertainOutcome,
  UnexpectedOutcome,
} from "./outcomes.ts";
export {
  createVonageClient,
  type SendSmsOptions,
  type VonageClient,
  type VonageClientOptions,
} from "./client.ts";
export type { Clock } from "../core/clock.ts";
