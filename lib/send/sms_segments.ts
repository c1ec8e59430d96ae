/**
 * How many SMS parts (segments) a text takes, and in which encoding: Vonage bills per
 * part. Text that fits the GSM 03.38 alphabet travels as 7-bit septets, 160 in one SMS
 * and 153 per part once split (the concatenation header takes the rest); the extension
 * table's characters (`^ { } \ [ ~ ] | €` and form feed) take two septets, an escape and
 * the character, and the pair is never split across parts. One character outside the
 * alphabet switches the whole text to UCS-2: 70 UTF-16 code units in one SMS, 67 per
 * part, a surrogate pair (an emoji) never split.
 *
 * @module
 */

/**
 * The encoding and size of one SMS text, from {@linkcode countSmsSegments}.
 *
 * @example A text with one emoji
 * ```ts
 * import { countSmsSegments, type SmsSegments } from "./sms_segments.ts";
 *
 * const counted: SmsSegments = countSmsSegments("Hello 👋");
 * console.log(counted.encoding, counted.units, counted.segments); // UCS-2 8 1
 * ```
 */
export interface SmsSegments {
  /** `GSM-7` when every character is in the GSM 03.38 alphabet, else `UCS-2`. */
  encoding: "GSM-7" | "UCS-2";
  /** Septets for GSM-7 (extension characters count two), UTF-16 code units for UCS-2. */
  units: number;
  /** SMS parts billed: 1 up to 160 / 70 units, then parts of 153 / 67. 0 for "". */
  segments: number;
  /**
   * With UCS-2: the characters outside the GSM alphabet, each once, in order of first
   * appearance, with its 1-based position (in characters, as a person counts) and count.
   */
  nonGsm: NonGsmCharacter[];
  /**
   * With UCS-2: the parts the text would take if its non-GSM characters were replaced by
   * GSM ones (one septet each); equal to `segments` for GSM-7.
   */
  segmentsIfGsm: number;
}

/**
 * A character that forces UCS-2, where it first appears, and a GSM look-alike if any.
 *
 * @example Naming the culprit
 * ```ts
 * import { countSmsSegments, type NonGsmCharacter } from "./sms_segments.ts";
 *
 * const [first]: NonGsmCharacter[] = countSmsSegments("It’s here").nonGsm;
 * console.log(first); // { character: "’", codePoint: "U+2019", position: 3, count: 1, gsm: "'" }
 * ```
 */
export interface NonGsmCharacter {
  /** The character itself. */
  character: string;
  /** Its code point as `U+XXXX`, for characters that are hard to see (no-break space). */
  codePoint: string;
  /** 1-based position of its first appearance, counting characters (code points). */
  position: number;
  /** How often it appears. */
  count: number;
  /** A GSM character that looks the same (`'` for `’`), when there is one. */
  gsm?: string;
}

const BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
const EXTENSION = "\f^{}\\[~]|€";
/** Septets per UTF-16 code unit: 0 outside the alphabet. Every GSM character is in the BMP. */
const SEPTETS = new Uint8Array(0x10000);
for (const char of BASIC) SEPTETS[char.charCodeAt(0)] = 1;
for (const char of EXTENSION) SEPTETS[char.charCodeAt(0)] = 2;

/** Typographic characters that slip in from word processors, and their GSM look-alikes. */
const LOOKALIKES: Readonly<Record<string, string>> = {
  "\u2018": "'",
  "\u2019": "'",
  "\u201A": "'",
  "\u2032": "'",
  "\u201C": '"',
  "\u201D": '"',
  "\u201E": '"',
  "\u2033": '"',
  "\u2013": "-",
  "\u2014": "-",
  "\u2212": "-",
  "\u00A0": " ",
  "\u2009": " ",
  "\u202F": " ",
  "\u2026": "...",
  "\u00E7": "Ç",
  "\t": " ",
};

const GSM_SINGLE = 160;
const GSM_PART = 153;
const UCS2_SINGLE = 70;
const UCS2_PART = 67;

/**
 * Count the SMS parts of a text and name what forces UCS-2.
 *
 * @example The sizes that decide the bill
 * ```ts
 * import { countSmsSegments } from "./sms_segments.ts";
 *
 * console.log(countSmsSegments("a".repeat(160)).segments); // 1
 * console.log(countSmsSegments("a".repeat(161)).segments); // 2
 * console.log(countSmsSegments("€".repeat(80)).units); // 160: each € takes two septets
 * console.log(countSmsSegments("é".repeat(70)).encoding); // GSM-7: é is in the alphabet
 * console.log(countSmsSegments("á".repeat(70)).segments); // 1 (UCS-2, 70 units)
 * ```
 */
export function countSmsSegments(text: string): SmsSegments {
  let septets = 0;
  let gsm = true;
  for (let index = 0; index < text.length; index++) {
    const cost = SEPTETS[text.charCodeAt(index)]!;
    if (cost === 0) {
      gsm = false;
      break;
    }
    septets += cost;
  }
  if (gsm) {
    const segments = septets <= GSM_SINGLE ? Math.min(septets, 1) : packParts(text, GSM_PART, true);
    return { encoding: "GSM-7", units: septets, segments, nonGsm: [], segmentsIfGsm: segments };
  }
  const segments = text.length <= UCS2_SINGLE ? 1 : packParts(text, UCS2_PART, false);
  const nonGsm = findNonGsm(text);
  return {
    encoding: "UCS-2",
    units: text.length,
    segments,
    nonGsm,
    segmentsIfGsm: segmentsIfReplaced(text),
  };
}

/**
 * Parts of `size` units, never splitting a two-septet GSM character (`gsm`) or a UTF-16
 * surrogate pair: a character that does not fit starts the next part.
 */
function packParts(text: string, size: number, gsm: boolean): number {
  let parts = 1;
  let used = 0;
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    let cost: number;
    if (gsm) cost = SEPTETS[unit]!;
    else if (unit >= 0xd800 && unit <= 0xdbff && index + 1 < text.length) {
      const next = text.charCodeAt(index + 1);
      cost = next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
      if (cost === 2) index++;
    } else cost = 1;
    if (used + cost > size) {
      parts++;
      used = 0;
    }
    used += cost;
  }
  return parts;
}

function findNonGsm(text: string): NonGsmCharacter[] {
  const found = new Map<string, NonGsmCharacter>();
  let position = 0;
  for (const character of text) {
    position++;
    if (character.length === 1 && SEPTETS[character.charCodeAt(0)]! > 0) continue;
    const seen = found.get(character);
    if (seen !== undefined) {
      seen.count++;
      continue;
    }
    const codePoint = `U+${character.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
    const entry: NonGsmCharacter = { character, codePoint, position, count: 1 };
    const gsm = LOOKALIKES[character];
    if (gsm !== undefined) entry.gsm = gsm;
    found.set(character, entry);
  }
  return [...found.values()];
}

/** GSM parts with each non-GSM character replaced by its look-alike, or one septet. */
function segmentsIfReplaced(text: string): number {
  let replaced = "";
  for (const character of text) {
    if (character.length === 1 && SEPTETS[character.charCodeAt(0)]! > 0) replaced += character;
    else replaced += LOOKALIKES[character] ?? "?";
  }
  return countSmsSegments(replaced).segments;
}

/**
 * Say which characters force UCS-2 and where, when replacing them would take fewer parts:
 * `undefined` when the text is GSM-7 or UCS-2 costs nothing more (a text in Cyrillic).
 *
 * @example A typographic apostrophe
 * ```ts
 * import { countSmsSegments, describeUcs2Cause } from "./sms_segments.ts";
 *
 * console.log(describeUcs2Cause(countSmsSegments("It’s " + "x".repeat(70))));
 * // UCS-2 because of "’" (U+2019) at character 3 (write ' instead): 2 parts instead of 1
 * ```
 */
export function describeUcs2Cause(counted: SmsSegments): string | undefined {
  if (counted.encoding === "GSM-7" || counted.segmentsIfGsm >= counted.segments) return undefined;
  const shown = counted.nonGsm.slice(0, 5).map((entry) =>
    `${JSON.stringify(entry.character)} (${entry.codePoint}) at character ${entry.position}` +
    (entry.count > 1 ? ` and ${entry.count - 1} more` : "") +
    (entry.gsm === undefined ? "" : ` (write ${entry.gsm} instead)`)
  );
  const more = counted.nonGsm.length > 5
    ? ` and ${counted.nonGsm.length - 5} other characters`
    : "";
  return `UCS-2 because of ${shown.join(", ")}${more}: ${counted.segments} parts instead of ` +
    `${counted.segmentsIfGsm}`;
}
