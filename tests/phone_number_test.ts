import assert from "node:assert/strict";
import { countryName, isCountryCode, readPhoneNumber } from "../lib/send/phone_number.ts";

function reason(raw: string, defaultCountry?: string): string {
  const reading = readPhoneNumber(raw, defaultCountry === undefined ? {} : { defaultCountry });
  if (reading.ok) throw new Error(`${raw} was accepted as ${reading.to}`);
  return reading.reason;
}

Deno.test("readPhoneNumber() gives E.164 digits without + for international numbers", () => {
  assert.deepStrictEqual(readPhoneNumber("+1 (415) 555-2671"), { ok: true, to: "14155552671" });
  assert.deepStrictEqual(readPhoneNumber("14155552671"), { ok: true, to: "14155552671" });
  assert.deepStrictEqual(readPhoneNumber("+44 20 7946 0000"), { ok: true, to: "442079460000" });
  assert.deepStrictEqual(readPhoneNumber("0044 20 7946 0000"), { ok: true, to: "442079460000" });
  assert.deepStrictEqual(readPhoneNumber("  +49.30.901820  "), { ok: true, to: "4930901820" });
});

Deno.test("readPhoneNumber() refuses a US national number read as international, naming the country", () => {
  assert.deepStrictEqual(
    reason("(415) 555-2671"),
    '"(415) 555-2671" is not a valid number read as international (+41 Switzerland): too ' +
      "short; if these are national numbers, pass --default-country",
  );
  // 202 555 0101 would be an Egyptian number.
  assert.deepStrictEqual(reason("202 555 0101").includes("(+20 Egypt)"), true);
});

Deno.test("readPhoneNumber() reads national numbers with defaultCountry", () => {
  const us = { defaultCountry: "US" };
  assert.deepStrictEqual(readPhoneNumber("(415) 555-2671", us), { ok: true, to: "14155552671" });
  assert.deepStrictEqual(readPhoneNumber("202 555 0101", us), { ok: true, to: "12025550101" });
  assert.deepStrictEqual(readPhoneNumber("1 415 555 2671", us), { ok: true, to: "14155552671" });
  assert.deepStrictEqual(readPhoneNumber("011 44 20 7946 0000", us), {
    ok: true,
    to: "442079460000",
  });
  // "+" and "00" stay international whatever the default country.
  assert.deepStrictEqual(readPhoneNumber("+44 20 7946 0000", us), { ok: true, to: "442079460000" });
  assert.deepStrictEqual(readPhoneNumber("0044 20 7946 0000", us), {
    ok: true,
    to: "442079460000",
  });
  assert.deepStrictEqual(readPhoneNumber("020 7946 0000", { defaultCountry: "GB" }), {
    ok: true,
    to: "442079460000",
  });
  assert.deepStrictEqual(
    reason("555 0100", "US"),
    '"555 0100" is not a valid number read as a number of United States (US): too short',
  );
});

Deno.test("readPhoneNumber() refuses unknown calling codes, wrong lengths and unallocated ranges", () => {
  assert.deepStrictEqual(
    reason("+999 1234567"),
    '"+999 1234567" starts with +999, which is no country\'s calling code',
  );
  assert.deepStrictEqual(
    reason("+1 202 555 01000"),
    '"+1 202 555 01000" is not a valid +1 United States number: too long',
  );
  // 555 is no US area code: the right length, and still no phone there.
  assert.deepStrictEqual(
    reason("+1 555 700 0011"),
    '"+1 555 700 0011" is not a valid +1 United States number',
  );
  assert.deepStrictEqual(
    reason("+1234 5678 9012 3456"),
    '"+1234 5678 9012 3456" is too long: 16 digits, and a phone number has at most 15 with its country code',
  );
  assert.deepStrictEqual(
    reason("9991234567"),
    '"9991234567" read as international starts with no country\'s calling code; if these are ' +
      "national numbers, pass --default-country",
  );
});

Deno.test("readPhoneNumber() refuses text that is not a phone number", () => {
  assert.deepStrictEqual(
    reason("12ab"),
    '"12ab" is not a phone number: only digits, spaces, a leading +, and - . ( ) are allowed',
  );
  assert.deepStrictEqual(
    reason("1+415"),
    '"1+415" is not a phone number: only digits, spaces, a leading +, and - . ( ) are allowed',
  );
  assert.deepStrictEqual(reason(" - "), '"-" is not a phone number: no digits');
  assert.deepStrictEqual(
    reason("-14155552671"),
    '"-14155552671" starts with a minus sign: a phone number has none',
  );
});

Deno.test("isCountryCode() accepts upper-case ISO 3166 alpha-2 codes with phone rules", () => {
  assert.deepStrictEqual([isCountryCode("US"), isCountryCode("GB"), isCountryCode("DE")], [
    true,
    true,
    true,
  ]);
  assert.deepStrictEqual([isCountryCode("us"), isCountryCode("USA"), isCountryCode("XX")], [
    false,
    false,
    false,
  ]);
  assert.deepStrictEqual(countryName("CH"), "Switzerland");
});
