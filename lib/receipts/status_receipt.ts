/**
 * A Messages API status webhook (a delivery receipt), read from its JSON body. Only the
 * fields politely uses are checked; the whole body is kept as it came.
 *
 * @module
 */

/**
 * One status webhook: what happened to one message, and when.
 *
 * @example Reading a receipt
 * ```ts
 * import { parseStatusReceipt, type StatusReceipt } from "./status_receipt.ts";
 *
 * const parsed = parseStatusReceipt({
 *   message_uuid: "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
 *   to: "447700900000",
 *   timestamp: "2026-12-01T12:00:00.000Z",
 *   status: "delivered",
 *   usage: { currency: "EUR", price: "0.0333" },
 * });
 * const receipt: StatusReceipt | undefined = parsed.ok ? parsed.receipt : undefined;
 * console.log(receipt?.status, receipt?.price); // delivered { currency: "EUR", amount: "0.0333" }
 * ```
 */
export interface StatusReceipt {
  /** The id Vonage answered the send with. */
  messageUuid: string;
  /** `submitted`, `delivered`, `rejected`, `undeliverable` (SMS), or another channel's status. */
  status: string;
  /** When Vonage says the status changed (ISO 8601, as sent). */
  timestamp: string;
  /** The recipient, if the webhook names it. */
  to?: string;
  /** The `client_ref` given when sending, echoed back. */
  clientRef?: string;
  /** For `rejected` and `undeliverable`: Vonage's error code (`title`) and words. */
  error?: { code: string; detail?: string };
  /** What the message cost so far (`usage`), the amount as the decimal string Vonage sent. */
  price?: { currency: string; amount: string };
}

/**
 * What {@linkcode parseStatusReceipt} made of a body.
 *
 * @example Refusing a body that is not a receipt
 * ```ts
 * import { parseStatusReceipt, type ParsedReceipt } from "./status_receipt.ts";
 *
 * const parsed: ParsedReceipt = parseStatusReceipt({ status: "delivered" });
 * if (!parsed.ok) console.log(parsed.reason); // 'message_uuid' must be a non-empty string
 * ```
 */
export type ParsedReceipt =
  | { ok: true; receipt: StatusReceipt }
  | { ok: false; reason: string };

/** The statuses after which an SMS's fate is known. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set([
  "delivered",
  "rejected",
  "undeliverable",
]);

/**
 * Read a parsed JSON body as a status webhook: `message_uuid`, `status` and `timestamp`
 * must be non-empty strings; `usage.price` must be a decimal string (a number is
 * accepted and written as given).
 *
 * @example A rejected message and its error
 * ```ts
 * import { parseStatusReceipt } from "./status_receipt.ts";
 *
 * const parsed = parseStatusReceipt({
 *   message_uuid: "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
 *   timestamp: "2026-12-01T12:00:00.000Z",
 *   status: "rejected",
 *   error: { type: "https://developer.vonage.com/api-errors/messages#1050", title: 1050, detail: "Number barred" },
 * });
 * if (parsed.ok) console.log(parsed.receipt.error); // { code: "1050", detail: "Number barred" }
 * ```
 */
export function parseStatusReceipt(body: unknown): ParsedReceipt {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { ok: false, reason: "the body is not a JSON object" };
  }
  const fields = body as Record<string, unknown>;
  for (const name of ["message_uuid", "status", "timestamp"]) {
    if (typeof fields[name] !== "string" || fields[name] === "") {
      return { ok: false, reason: `'${name}' must be a non-empty string` };
    }
  }
  const receipt: StatusReceipt = {
    messageUuid: fields.message_uuid as string,
    status: fields.status as string,
    timestamp: fields.timestamp as string,
  };
  if (typeof fields.to === "string") receipt.to = fields.to;
  if (typeof fields.client_ref === "string" && fields.client_ref !== "") {
    receipt.clientRef = fields.client_ref;
  }
  const error = fields.error;
  if (typeof error === "object" && error !== null) {
    const { title, detail } = error as Record<string, unknown>;
    const code = typeof title === "string" || typeof title === "number" ? String(title) : "unknown";
    receipt.error = typeof detail === "string" ? { code, detail } : { code };
  }
  const usage = fields.usage;
  if (typeof usage === "object" && usage !== null) {
    const { currency, price } = usage as Record<string, unknown>;
    const amount = typeof price === "number" ? String(price) : price;
    if (typeof currency !== "string" || typeof amount !== "string" || !DECIMAL.test(amount)) {
      return {
        ok: false,
        reason: `'usage' must be { currency: string, price: decimal string }, got ${
          JSON.stringify(usage)
        }`,
      };
    }
    receipt.price = { currency, amount };
  }
  return { ok: true, receipt };
}

const DECIMAL = /^\d+(\.\d+)?$/;
