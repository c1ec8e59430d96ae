/**
 * politely: call rate-limited HTTP APIs as fast as they allow and never faster.
 *
 * Pace requests before they hit the limit ({@linkcode TokenBucket}), and when a
 * server still says "slow down", back off with jitter ({@linkcode retry}),
 * honouring what the server says.
 *
 * @module
 */

export { type Clock, realClock } from "./lib/clock.ts";
export { FakeClock } from "./lib/fake_clock.ts";
export type { Limiter, LimiterOutcome, TakeOptions } from "./lib/limiter.ts";
export {
  applyJitter,
  type Backoff,
  BACKOFF_STRATEGIES,
  type BackoffOptions,
  type BackoffStrategy,
  baseDelayMs,
  type BaseDelayOptions,
  createBackoff,
  decorrelatedDelayMs,
  type DecorrelatedOptions,
  type Jitter,
  JITTERS,
} from "./lib/backoff.ts";
export {
  retry,
  type RetryAttemptContext,
  type RetryDecisionContext,
  RetryError,
  type RetryErrorInit,
  type RetryGiveUpReason,
  type RetryHookContext,
  type RetryOptions,
} from "./lib/retry.ts";
export {
  parseRateLimit,
  parseRetryAfter,
  type RateLimitInfo,
  serverDelayMs,
} from "./lib/rate_limit_headers.ts";
export {
  defaultClassify,
  failedBeforeSending,
  politeFetch,
  type PoliteFetchInit,
  type PoliteFetchOptions,
  type PoliteRetryOptions,
  type ResponseVerdict,
} from "./lib/polite_fetch.ts";
export {
  importVonagePrivateKey,
  mintVonageJwt,
  type MintVonageJwtOptions,
  VonageCredentialsError,
} from "./lib/vonage/jwt.ts";
export { VonageTokenSource, type VonageTokenSourceOptions } from "./lib/vonage/token_source.ts";
export {
  type AcceptedOutcome,
  type AuthOutcome,
  createVonageClient,
  type InvalidParameter,
  type NotSentOutcome,
  type PaymentOutcome,
  type RejectedOutcome,
  type SendOutcome,
  type SendSmsOptions,
  type SmsMessage,
  type ThrottledOutcome,
  type UnavailableOutcome,
  type UncertainOutcome,
  type UnexpectedOutcome,
  type VonageClient,
  type VonageClientOptions,
} from "./lib/vonage/messages.ts";
export { type Reservation, TokenBucket, type TokenBucketOptions } from "./lib/token_bucket.ts";
export { AdaptiveLimiter, type AdaptiveLimiterOptions } from "./lib/adaptive_limiter.ts";
export {
  formatProblem,
  parsePhoneNumber,
  type PhoneNumberResult,
  readRecipients,
  type ReadRecipientsOptions,
  type Recipient,
  type RecipientDuplicate,
  type RecipientEntry,
  type RecipientProblem,
} from "./lib/recipients.ts";
export {
  hashMessageText,
  Journal,
  JournalError,
  type JournalErrorCode,
  type JournalHeader,
  type JournalOptions,
  type JournalReplay,
  type JournalState,
  type JournalStats,
} from "./lib/journal.ts";
export {
  formatSummary,
  type FormatSummaryOptions,
  Progress,
  type ProgressCounters,
  type ProgressEnv,
  type ProgressOptions,
  type ProgressWriter,
  type SendSummary,
  stderrWriter,
} from "./lib/progress.ts";
export {
  emptySendCounts,
  runSendJob,
  type SendCounts,
  type SendJobOptions,
  type SendJobResult,
  type SendJournal,
  type SendSms,
} from "./lib/send_job.ts";
export type { RecipientSource, SendRecipient, SendSettlement } from "./lib/send_job.ts";
