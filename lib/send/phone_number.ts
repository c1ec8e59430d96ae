/**
 * Reading a phone number by the rules of its country, with `libphonenumber-js` (the
 * maintained JavaScript port of Google's libphonenumber), through `lib/deps/`.
 *
 * **Metadata set: `max`.** The `min` set checks only a number's length per country, so
 * `isValid()` there is `isPossible()`: a wrong area code in the right length passes. `max`
 * also holds each country's number patterns, so it refuses unallocated ranges (US
 * `+1 555 …`, UK `+44 7700 900…`) that would be billed and never arrive. `mobile` would
 * refuse landlines outright, yet some carriers deliver SMS to them and US numbers are one
 * pattern for both. The cost is ~70 KB more code, and no speed: both parse about 250,000
 * numbers a second in Deno here.
 *
 * How a number is read:
 * - `+` or `00` first: international, whatever `defaultCountry` says.
 * - otherwise, with `defaultCountry`: a number of that country as people write it there
 *   (`(415) 555-2671` for US), its international dialling prefix (`011 …` for US) or its
 *   country code first (`1 415 …`) accepted too.
 * - otherwise: international digits without the `+` (Vonage's own format), which must
 *   be valid for the country they fall in.
 *
 * @module
 */

import {
  type CountryCode,
  isSupportedCountry,
  parsePhoneNumberWithError,
  phoneMetadata,
  type PhoneNumber,
  validatePhoneNumberLength,
} from "../deps/libphonenumber.ts";
import { quote } from "./wording.ts";

/**
 * Options for {@linkcode readPhoneNumber}.
 *
 * @example Reading national numbers of the United States
 * ```ts
 * import { readPhoneNumber, type ReadPhoneNumberOptions } from "./phone_number.ts";
 *
 * const options: ReadPhoneNumberOptions = { defaultCountry: "US" };
 * console.log(readPhoneNumber("(415) 555-2671", options)); // { ok: true, to: "14155552671" }
 * ```
 */
export interface ReadPhoneNumberOptions {
  /**
   * The ISO 3166 alpha-2 country (`US`, `GB`) whose national numbers are read; check it
   * with {@linkcode isCountryCode} first. Without it a number is read as international
   * digits.
   *
   * @default {undefined}
   */
  defaultCountry?: string;
}

/**
 * The result of {@linkcode readPhoneNumber}: E.164 digits without `+`, or why not.
 *
 * @example Printing why a number is refused
 * ```ts
 * import { type PhoneNumberReading, readPhoneNumber } from "./phone_number.ts";
 *
 * const reading: PhoneNumberReading = readPhoneNumber("+999 1234567");
 * if (!reading.ok) console.log(reading.reason);
 * // "+999 1234567" starts with +999, which is no country's calling code
 * ```
 */
export type PhoneNumberReading = { ok: true; to: string } | { ok: false; reason: string };

const COUNTRY_NAMES = new Intl.DisplayNames(["en"], { type: "region" });
const CALLING_CODES: Readonly<Record<string, readonly string[]>> =
  (phoneMetadata as { country_calling_codes: Record<string, string[]> }).country_calling_codes;
/** E.164: at most 15 digits, country code included. */
const MAX_DIGITS = 15;
/** Spaces, dashes, dots and parentheses are how people group digits; nothing else is. */
const SEPARATORS = /[\s\-.()]/g;
const NATIONAL_HINT = "if these are national numbers, pass --default-country";

/**
 * Whether `code` is an ISO 3166 alpha-2 country code (upper case) that has phone number
 * rules, for checking `--default-country`.
 *
 * @example Checking a flag value
 * ```ts
 * import { isCountryCode } from "./phone_number.ts";
 *
 * console.log(isCountryCode("US"), isCountryCode("USA"), isCountryCode("us")); // true false false
 * ```
 */
export function isCountryCode(code: string): boolean {
  return /^[A-Z]{2}$/.test(code) && isSupportedCountry(code);
}

/**
 * The English name of a country code, or the code itself if it has none.
 *
 * @example Naming a country
 * ```ts
 * import { countryName } from "./phone_number.ts";
 *
 * console.log(countryName("CH")); // Switzerland
 * ```
 */
export function countryName(code: string): string {
  try {
    return COUNTRY_NAMES.of(code) ?? code;
  } catch {
    return code;
  }
}

/**
 * Read one phone number as typed by a person or exported from a spreadsheet, and check it
 * against its country's numbering plan. What comes back is what Vonage wants: E.164 digits
 * without `+`. The reason for a refusal names the number, how it was read (the country it
 * fell in) and the fix; it has no file name or line (the caller adds them).
 *
 * @example International and national numbers
 * ```ts
 * import { readPhoneNumber } from "./phone_number.ts";
 *
 * console.log(readPhoneNumber("+44 20 7946 0000")); // { ok: true, to: "442079460000" }
 * console.log(readPhoneNumber("14155552671")); // { ok: true, to: "14155552671" }
 * const national = readPhoneNumber("(415) 555-2671");
 * if (!national.ok) console.log(national.reason);
 * // "(415) 555-2671" is not a valid number read as international (+41 Switzerland); if these
 * // are national numbers, pass --default-country
 * console.log(readPhoneNumber("(415) 555-2671", { defaultCountry: "US" }).ok); // true
 * ```
 */
export function readPhoneNumber(
  raw: string,
  options: ReadPhoneNumberOptions = {},
): PhoneNumberReading {
  const { defaultCountry } = options;
  const trimmed = raw.trim();
  const plus = trimmed.startsWith("+");
  const digits = (plus ? trimmed.slice(1) : trimmed).replace(SEPARATORS, "");
  const shown = quote(trimmed);
  if (trimmed.startsWith("-") && /[0-9]/.test(trimmed)) {
    // A spreadsheet's negative number, not a way to write a phone number.
    return { ok: false, reason: `${shown} starts with a minus sign: a phone number has none` };
  }
  if (!/^[0-9]+$/.test(digits)) {
    return {
      ok: false,
      reason: digits === ""
        ? `${shown} is not a phone number: no digits`
        : `${shown} is not a phone number: only digits, spaces, a leading +, and - . ( ) are allowed`,
    };
  }
  if (!plus && digits.startsWith("00")) return international(shown, digits.slice(2), "00");
  if (plus) return international(shown, digits, "+");
  if (defaultCountry !== undefined) return national(shown, digits, defaultCountry);
  return international(shown, digits, "");
}

/** `how`: the number was written with "+", with "00", or as bare digits ("") read as international. */
function international(shown: string, digits: string, how: "+" | "00" | ""): PhoneNumberReading {
  const hint = how === "" ? `; ${NATIONAL_HINT}` : "";
  const readAs = how === "" ? " read as international" : "";
  if (digits.length > MAX_DIGITS) {
    return {
      ok: false,
      reason: `${shown} is too long${readAs}: ${digits.length} digits, and a phone number has ` +
        `at most ${MAX_DIGITS} with its country code`,
    };
  }
  let number: PhoneNumber;
  try {
    number = parsePhoneNumberWithError(`+${digits}`, { extract: false });
  } catch {
    // Only the calling code can be wrong in a string of digits after "+".
    const code = digits.slice(0, 3);
    return {
      ok: false,
      reason: how === ""
        ? `${shown} read as international starts with no country's calling code; ${NATIONAL_HINT}`
        : `${shown} starts with +${code}, which is no country's calling code`,
    };
  }
  if (number.isValid()) return { ok: true, to: number.number.slice(1) };
  const where = describeCallingCode(number);
  const length = lengthProblem(`+${digits}`, undefined);
  const reason = how === ""
    ? `${shown} is not a valid number read as international (${where})${length}${hint}`
    : `${shown} is not a valid ${where} number${length}`;
  return { ok: false, reason };
}

function national(shown: string, digits: string, country: string): PhoneNumberReading {
  if (digits.length > MAX_DIGITS + 3) {
    return {
      ok: false,
      reason: `${shown} is too long for a phone number: ${digits.length} digits`,
    };
  }
  const name = `${countryName(country)} (${country})`;
  let number: PhoneNumber;
  try {
    number = parsePhoneNumberWithError(digits, {
      defaultCountry: country as CountryCode,
      extract: false,
    });
  } catch {
    return { ok: false, reason: `${shown} is not a valid number read as a number of ${name}` };
  }
  if (number.isValid()) return { ok: true, to: number.number.slice(1) };
  const length = lengthProblem(digits, country as CountryCode);
  const where = number.country === country || number.country === undefined
    ? `a number of ${name}`
    : `a number of ${describeCallingCode(number)}`;
  return { ok: false, reason: `${shown} is not a valid number read as ${where}${length}` };
}

/** "+41 Switzerland", "+1 United States", "+800 international service". */
function describeCallingCode(number: PhoneNumber): string {
  const code = number.countryCallingCode;
  const country = number.country ?? CALLING_CODES[code]?.[0];
  return country === undefined
    ? `+${code} international service`
    : `+${code} ${countryName(country)}`;
}

function lengthProblem(text: string, country: CountryCode | undefined): string {
  switch (
    validatePhoneNumberLength(text, country === undefined ? undefined : { defaultCountry: country })
  ) {
    case "TOO_SHORT":
      return ": too short";
    case "TOO_LONG":
      return ": too long";
    case "INVALID_LENGTH":
      return ": wrong length";
    default:
      return "";
  }
}
