/**
 * The bulk-send campaign: recipients read as a stream with their problems
 * named by line, a crash-safe journal, the send job that paces, retries and
 * records every outcome, and the progress line.
 *
 * @example Reading recipients from CSV text
 * ```ts
 * import { readRecipients } from "./mod.ts";
 *
 * const csv = "name,phone\nAda,+44 20 7946 0000\n";
 * for await (const entry of readRecipients(new Blob([csv]).stream())) {
 *   if (entry.kind === "recipient") console.log(entry.recipient.to); // 442079460000
 * }
 * ```
 *
 * @module
 */

export {
  formatProblem,
  readRecipients,
  type ReadRecipientsOptions,
  type Recipient,
  type RecipientDuplicate,
  type RecipientEntry,
  type RecipientProblem,
} from "./recipients.ts";
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
} from "./journal.ts";
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
} from "./progress.ts";
export {
  emptySendCounts,
  type RecipientSource,
  runSendJob,
  type SendCounts,
  type SendJobOptions,
  type SendJobResult,
  type SendJournal,
  type SendRecipient,
  type SendSettlement,
  type SendSms,
  type StopCause,
} from "./send_job.ts";
export type { Clock } from "../core/clock.ts";
export {
  countryName,
  isCountryCode,
  type PhoneNumberReading,
  readPhoneNumber,
  type ReadPhoneNumberOptions,
} from "./phone_number.ts";
export { checkSenderId, type SenderIdCheck } from "./sender_id.ts";
export {
  countSmsSegments,
  describeUcs2Cause,
  type NonGsmCharacter,
  type SmsSegments,
} from "./sms_segments.ts";
export { MessageTemplate, type RenderedText } from "./message_template.ts";
export {
  campaignTag,
  type CampaignTagSource,
  checkClientRef,
  clientRef,
  MAX_CLIENT_REF_CHARS,
  parseClientRef,
  type ParsedClientRef,
} from "./client_ref.ts";
