/**
 * Checking a sender (`from`) the way Vonage will, before any request: an alphanumeric id
 * Vonage refuses would fail every message of a campaign with the same 422.
 *
 * @module
 */

/**
 * The result of {@linkcode checkSenderId}: the sender as it goes to the API, or why not.
 *
 * @example Printing why a sender is refused
 * ```ts
 * import { checkSenderId, type SenderIdCheck } from "./sender_id.ts";
 *
 * const check: SenderIdCheck = checkSenderId("My Company Name");
 * if (!check.ok) console.log(check.reason);
 * // "My Company Name" is 15 characters long: an alphanumeric sender id has at most 11 …
 * ```
 */
export type SenderIdCheck =
  | { ok: true; kind: "number" | "alphanumeric"; from: string }
  | { ok: false; reason: string };

/** Vonage: alphanumeric sender ids have at most 11 characters. */
const MAX_ALPHANUMERIC = 11;
/** E.164 numbers: 7–15 digits with the country code, no leading 0. */
const NUMBER = /^[1-9][0-9]{6,14}$/;

/**
 * Check a sender: E.164 digits (7–15, no leading 0; a leading `+` and spaces are dropped)
 * or an alphanumeric sender id of 1–11 letters, digits and spaces with at least one
 * letter. Letters are ASCII: carriers show nothing else in a sender id.
 *
 * @example Numbers and names
 * ```ts
 * import { checkSenderId } from "./sender_id.ts";
 *
 * console.log(checkSenderId("+1 415 555 0100")); // { ok: true, kind: "number", from: "14155550100" }
 * console.log(checkSenderId("Acme Shop")); // { ok: true, kind: "alphanumeric", from: "Acme Shop" }
 * console.log(checkSenderId("My Company Name").ok); // false
 * ```
 */
export function checkSenderId(raw: string): SenderIdCheck {
  const shown = JSON.stringify(raw);
  const compact = raw.trim().replace(/^\+/, "").replace(/[\s\-.()]/g, "");
  if (/^[0-9]+$/.test(compact) && (raw.trim().startsWith("+") || compact.length >= 7)) {
    if (NUMBER.test(compact)) return { ok: true, kind: "number", from: compact };
    return {
      ok: false,
      reason: `${shown} is not a sender number: it has ${compact.length} digits` +
        (compact.startsWith("0") ? " and starts with 0" : "") +
        "; a number is 7 to 15 digits with the country code first (e.g. 14155550100)",
    };
  }
  const name = raw.trim();
  if (name === "") return { ok: false, reason: "the sender is empty: give a number or a name" };
  const bad = [...name].filter((char) => !/[A-Za-z0-9 ]/.test(char));
  if (bad.length > 0) {
    const shownBad = [...new Set(bad)].map((char) => JSON.stringify(char)).join(", ");
    return {
      ok: false,
      reason: `${shown} has characters a sender id cannot have (${shownBad}): use letters ` +
        "A-Z, digits and spaces",
    };
  }
  if (name.length > MAX_ALPHANUMERIC) {
    return {
      ok: false,
      reason: `${shown} is ${name.length} characters long: an alphanumeric sender id has at ` +
        `most ${MAX_ALPHANUMERIC} (e.g. ${JSON.stringify(shorten(name))})`,
    };
  }
  if (!/[A-Za-z]/.test(name)) {
    return {
      ok: false,
      reason: `${shown} is neither a sender number (7 to 15 digits with the country code) nor ` +
        "a sender id (which needs at least one letter)",
    };
  }
  return { ok: true, kind: "alphanumeric", from: name };
}

/** A suggestion that fits: the words kept whole while they fit, else the first 11 characters. */
function shorten(name: string): string {
  let kept = "";
  for (const word of name.split(/ +/)) {
    const next = kept === "" ? word : `${kept} ${word}`;
    if (next.length > MAX_ALPHANUMERIC) break;
    kept = next;
  }
  return kept === "" ? name.slice(0, MAX_ALPHANUMERIC).trim() : kept;
}
