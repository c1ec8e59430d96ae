/**
 * The checks the mock applies to a `POST /v1/messages` body, following the
 * Vonage Messages API v1 rules for an SMS text message. Every bad field is
 * reported, not just the first, so a client author sees all mistakes at once.
 *
 * @module
 */

import type { InvalidParameter } from "./problem.ts";

/**
 * An SMS the mock accepted, as its fields arrived.
 *
 * @example Reading the fields of a valid SMS
 * ```ts
 * import { type SmsFields, validateSms } from "./validate_sms.ts";
 *
 * const sms = { to: "447700900000", from: "Acme", text: "Hi" };
 * const result = validateSms({ message_type: "text", channel: "sms", ...sms });
 * if (result.ok) {
 *   const fields: SmsFields = result.sms;
 *   console.log(fields.to, fields.client_ref); // 447700900000 undefined
 * }
 * ```
 */
export interface SmsFields {
  /** The recipient: 7–15 digits (E.164 without `+`). */
  to: string;
  /** The sender: a number, or an alphanumeric sender id of up to 11 characters. */
  from: string;
  /** The message text, 1–1000 characters. */
  text: string;
  /** The caller's reference, up to 100 characters, when given. */
  client_ref?: string;
  /** Where this message's status webhooks go instead of the application's, when given. */
  webhook_url?: string;
}

/**
 * The outcome of {@linkcode validateSms}: the fields, or every reason to refuse them.
 *
 * @example Turning a validation into a status
 * ```ts
 * import { type SmsValidation, validateSms } from "./validate_sms.ts";
 *
 * const sms = { to: "447700900000", from: "Acme", text: "" };
 * const result: SmsValidation = validateSms({ message_type: "text", channel: "sms", ...sms });
 * if (result.ok) console.log(202, result.sms.to);
 * else console.log(422, result.invalid.map((p) => p.name)); // 422 ["text"]
 * ```
 */
export type SmsValidation =
  | { ok: true; sms: SmsFields }
  | { ok: false; invalid: InvalidParameter[] };

// E.164 allows at most 15 digits; 7 is the shortest real subscriber number Vonage takes.
const E164_DIGITS = /^[1-9]\d{6,14}$/;
// A numeric sender may also be a short code, so only the upper bound applies.
const NUMERIC_SENDER = /^\d{1,15}$/;
// Alphanumeric sender ids: GSM allows 11 characters; letters, digits and spaces.
const ALPHANUMERIC_SENDER = /^[A-Za-z0-9][A-Za-z0-9 ]{0,10}$/;
const MAX_TEXT_CHARS = 1000;
const MAX_CLIENT_REF_CHARS = 100;
const ENCODING_TYPES = ["text", "unicode", "auto"];
const WEBHOOK_VERSIONS = ["v0.1", "v1"];

/** Length in Unicode code points, which is what a person counts as characters. */
function charCount(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

/**
 * Check a parsed JSON body against the v1 SMS rules.
 *
 * Required: `message_type: "text"`, `channel: "sms"`, `to`, `from`, `text`.
 * Optional and checked when present: `client_ref`, `webhook_url`,
 * `webhook_version`, `ttl`, `sms.encoding_type`. Other fields are ignored.
 *
 * @example Finding every bad field
 * ```ts
 * import { validateSms } from "./validate_sms.ts";
 *
 * const result = validateSms({ message_type: "text", channel: "sms", to: "+44", from: "Acme" });
 * if (!result.ok) console.log(result.invalid.map((p) => p.name)); // ["to", "text"]
 * ```
 */
export function validateSms(body: unknown): SmsValidation {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return {
      ok: false,
      invalid: [{ name: "body", reason: `must be a JSON object, got ${describe(body)}` }],
    };
  }
  const fields = body as Record<string, unknown>;
  const invalid: InvalidParameter[] = [];
  const refuse = (name: string, reason: string) => invalid.push({ name, reason });

  const { message_type, channel, to, from, text, client_ref } = fields;
  if (message_type === undefined) refuse("message_type", 'is required; use "text"');
  else if (message_type !== "text") {
    refuse("message_type", 'must be "text" (this mock takes SMS text messages only)');
  }

  if (channel === undefined) refuse("channel", 'is required; use "sms"');
  else if (channel !== "sms") refuse("channel", 'must be "sms" (this mock takes SMS only)');

  if (to === undefined) refuse("to", "is required");
  else if (typeof to !== "string" || !E164_DIGITS.test(to)) {
    refuse("to", "must be a phone number in E.164 format: 7 to 15 digits, no leading + or 00");
  }

  if (from === undefined) refuse("from", "is required");
  else if (
    typeof from !== "string" || !(NUMERIC_SENDER.test(from) || ALPHANUMERIC_SENDER.test(from))
  ) {
    refuse(
      "from",
      "must be a number of up to 15 digits (no +) or an alphanumeric sender id of 1 to 11 letters, digits or spaces",
    );
  }

  if (text === undefined) refuse("text", "is required");
  else if (typeof text !== "string") refuse("text", `must be a string, got ${describe(text)}`);
  else {
    const length = charCount(text);
    if (length < 1 || length > MAX_TEXT_CHARS) {
      refuse("text", `must be 1 to ${MAX_TEXT_CHARS} characters long, got ${length}`);
    }
  }

  if (client_ref !== undefined) {
    if (typeof client_ref !== "string") {
      refuse("client_ref", `must be a string, got ${describe(client_ref)}`);
    } else if (charCount(client_ref) > MAX_CLIENT_REF_CHARS) {
      refuse(
        "client_ref",
        `must be at most ${MAX_CLIENT_REF_CHARS} characters long, got ${charCount(client_ref)}`,
      );
    }
  }

  checkOptionalFields(fields, refuse);

  if (invalid.length > 0) return { ok: false, invalid };
  const sms: SmsFields = { to: to as string, from: from as string, text: text as string };
  if (typeof client_ref === "string") sms.client_ref = client_ref;
  if (typeof fields.webhook_url === "string") sms.webhook_url = fields.webhook_url;
  return { ok: true, sms };
}

function checkOptionalFields(
  fields: Record<string, unknown>,
  refuse: (name: string, reason: string) => void,
): void {
  const { webhook_url, webhook_version, ttl, sms } = fields;
  if (webhook_url !== undefined && !(typeof webhook_url === "string" && isHttpUrl(webhook_url))) {
    refuse("webhook_url", "must be an absolute http or https URL");
  }
  if (
    webhook_version !== undefined &&
    !(typeof webhook_version === "string" && WEBHOOK_VERSIONS.includes(webhook_version))
  ) {
    refuse("webhook_version", `must be one of ${WEBHOOK_VERSIONS.join(", ")}`);
  }
  if (ttl !== undefined && !(typeof ttl === "number" && Number.isInteger(ttl) && ttl > 0)) {
    refuse("ttl", "must be a positive whole number of seconds");
  }
  if (sms !== undefined) {
    if (typeof sms !== "object" || sms === null || Array.isArray(sms)) {
      refuse("sms", `must be an object, got ${describe(sms)}`);
    } else {
      const { encoding_type } = sms as Record<string, unknown>;
      if (
        encoding_type !== undefined &&
        !(typeof encoding_type === "string" && ENCODING_TYPES.includes(encoding_type))
      ) {
        refuse("sms.encoding_type", `must be one of ${ENCODING_TYPES.join(", ")}`);
      }
    }
  }
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}
