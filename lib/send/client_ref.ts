/**
 * The `client_ref` sent with every message: Vonage echoes it in each delivery receipt, so a
 * receipt finds its campaign and its recipient from the `client_ref` alone.
 *
 * Format (documented in `docs/client_ref.md`): `pl1-TAG-TO`, e.g.
 * `pl1-k7x3m2q9abcd-14155550100`, at most 32 characters.
 * - `pl1` marks politely's format, version 1.
 * - `TAG` names the campaign: 12 characters `a-z2-7`, the first 60 bits of the SHA-256 of
 *   the journal's header (sender, message-template hash and creation time), in base32.
 *   Every run that resumes the journal gets the same tag; another journal (another
 *   campaign, or another `--redis` worker's share of one) gets another.
 * - `TO` is the recipient's E.164 digits: the key of its lines in the journal, unique in
 *   the campaign because a number listed twice is sent once.
 *
 * A `client_ref` column in the recipients file replaces the whole value for its line.
 *
 * @module
 */

/**
 * What a campaign tag is computed from: the fields of the journal's header.
 *
 * @example Tagging a campaign
 * ```ts
 * import { campaignTag, type CampaignTagSource } from "./client_ref.ts";
 *
 * const header: CampaignTagSource = {
 *   from: "Acme",
 *   textHash: "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
 *   createdAt: "2026-12-01T15:00:00.000Z",
 * };
 * console.log((await campaignTag(header)).length); // 12
 * ```
 */
export interface CampaignTagSource {
  /** The sender (`--from`). */
  from: string;
  /** The hash of the message template (`hashMessageText`). */
  textHash: string;
  /** When the journal was created (ISO 8601), which tells two runs of one text apart. */
  createdAt: string;
}

/**
 * A `client_ref` read back by {@linkcode parseClientRef}.
 *
 * @example Routing a receipt
 * ```ts
 * import { parseClientRef, type ParsedClientRef } from "./client_ref.ts";
 *
 * const parsed: ParsedClientRef | undefined = parseClientRef("pl1-k7x3m2q9abcd-14155550100");
 * console.log(parsed); // { tag: "k7x3m2q9abcd", to: "14155550100" }
 * ```
 */
export interface ParsedClientRef {
  /** The campaign tag. */
  tag: string;
  /** The recipient's E.164 digits. */
  to: string;
}

/** Vonage: `client_ref` holds at most 100 characters. */
export const MAX_CLIENT_REF_CHARS = 100;
const PREFIX = "pl1";
const TAG_CHARS = 12;
const BASE32 = "abcdefghijklmnopqrstuvwxyz234567";
const PATTERN = /^pl1-([a-z2-7]{12})-([1-9][0-9]{6,14})$/;

/**
 * The campaign tag for a journal header: the same header always gives the same tag.
 *
 * @example The same header, the same tag
 * ```ts
 * import { campaignTag } from "./client_ref.ts";
 *
 * const header = { from: "Acme", textHash: "sha256:00", createdAt: "2026-12-01T15:00:00.000Z" };
 * console.log(await campaignTag(header) === await campaignTag({ ...header })); // true
 * ```
 */
export async function campaignTag(source: CampaignTagSource): Promise<string> {
  // JSON keeps the fields apart whatever they contain.
  const input = JSON.stringify([PREFIX, source.from, source.textHash, source.createdAt]);
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(input)),
  );
  let tag = "";
  let bits = 0;
  let buffer = 0;
  for (const byte of digest) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5 && tag.length < TAG_CHARS) {
      tag += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= 0xff;
    if (tag.length === TAG_CHARS) break;
  }
  return tag;
}

/**
 * The `client_ref` of one recipient of a campaign.
 *
 * @example One recipient's reference
 * ```ts
 * import { clientRef } from "./client_ref.ts";
 *
 * console.log(clientRef("k7x3m2q9abcd", "14155550100")); // pl1-k7x3m2q9abcd-14155550100
 * ```
 */
export function clientRef(tag: string, to: string): string {
  return `${PREFIX}-${tag}-${to}`;
}

/**
 * Read a `client_ref` made by {@linkcode clientRef}; `undefined` for any other value (one
 * from a `client_ref` column, or another sender's).
 *
 * @example A reference from elsewhere
 * ```ts
 * import { parseClientRef } from "./client_ref.ts";
 *
 * console.log(parseClientRef("order-1234")); // undefined
 * ```
 */
export function parseClientRef(ref: string): ParsedClientRef | undefined {
  const match = PATTERN.exec(ref);
  return match === null ? undefined : { tag: match[1]!, to: match[2]! };
}

/**
 * Why a `client_ref` from the recipients file cannot be sent, or `undefined` if it can:
 * 1 to 100 characters, no control characters.
 *
 * @example Too long
 * ```ts
 * import { checkClientRef } from "./client_ref.ts";
 *
 * console.log(checkClientRef("order-1234")); // undefined
 * console.log(checkClientRef("x".repeat(101))); // client_ref is 101 characters long; Vonage …
 * ```
 */
export function checkClientRef(value: string): string | undefined {
  const chars = [...value].length;
  if (chars > MAX_CLIENT_REF_CHARS) {
    return `client_ref is ${chars} characters long; Vonage keeps at most ${MAX_CLIENT_REF_CHARS}`;
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) {
    return `client_ref ${JSON.stringify(value)} has a control character (a tab or line break)`;
  }
  return undefined;
}
