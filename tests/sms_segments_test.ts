import assert from "node:assert/strict";
import { countSmsSegments, describeUcs2Cause } from "../lib/send/sms_segments.ts";

function parts(text: string): [string, number, number] {
  const counted = countSmsSegments(text);
  return [counted.encoding, counted.units, counted.segments];
}

Deno.test("countSmsSegments() counts GSM-7 in 160 septets, then 153 per part", () => {
  assert.deepStrictEqual(parts(""), ["GSM-7", 0, 0]);
  assert.deepStrictEqual(parts("Hello"), ["GSM-7", 5, 1]);
  assert.deepStrictEqual(parts("a".repeat(160)), ["GSM-7", 160, 1]);
  assert.deepStrictEqual(parts("a".repeat(161)), ["GSM-7", 161, 2]);
  assert.deepStrictEqual(parts("a".repeat(200)), ["GSM-7", 200, 2]);
  assert.deepStrictEqual(parts("a".repeat(306)), ["GSM-7", 306, 2]);
  assert.deepStrictEqual(parts("a".repeat(307)), ["GSM-7", 307, 3]);
  // The whole basic table, accents and Greek capitals included, is one septet each.
  assert.deepStrictEqual(parts("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà"), ["GSM-7", 42, 1]);
});

Deno.test("countSmsSegments() counts an extension character twice and never splits it", () => {
  assert.deepStrictEqual(parts("€"), ["GSM-7", 2, 1]);
  assert.deepStrictEqual(parts("{}[]~|^\\\f€"), ["GSM-7", 20, 1]);
  assert.deepStrictEqual(parts("€".repeat(80)), ["GSM-7", 160, 1]);
  assert.deepStrictEqual(parts("€".repeat(81)), ["GSM-7", 162, 2]);
  // 152 septets then a two-septet character: it goes whole into part two.
  assert.deepStrictEqual(parts("a".repeat(152) + "€" + "a".repeat(152)), ["GSM-7", 306, 3]);
  assert.deepStrictEqual(parts("a".repeat(151) + "€" + "a".repeat(153)), ["GSM-7", 306, 2]);
});

Deno.test("countSmsSegments() counts UCS-2 in UTF-16 units, 70 then 67, pairs kept whole", () => {
  assert.deepStrictEqual(parts("á".repeat(70)), ["UCS-2", 70, 1]);
  assert.deepStrictEqual(parts("á".repeat(71)), ["UCS-2", 71, 2]);
  // 80 characters with one emoji: 81 code units, two parts.
  assert.deepStrictEqual(parts("a".repeat(79) + "👋"), ["UCS-2", 81, 2]);
  assert.deepStrictEqual(parts("😀".repeat(35)), ["UCS-2", 70, 1]);
  // 66 units and then a pair that would straddle the 67-unit boundary: a third part.
  assert.deepStrictEqual(parts("a".repeat(66) + "😀" + "a".repeat(66)), ["UCS-2", 134, 3]);
  assert.deepStrictEqual(parts("a".repeat(65) + "😀" + "a".repeat(67)), ["UCS-2", 134, 2]);
});

Deno.test("countSmsSegments() names the characters that force UCS-2, where and how often", () => {
  const counted = countSmsSegments("It’s “here” – at 10\u00A0am, it’s 👋");
  assert.deepStrictEqual(
    counted.nonGsm.map((entry) => [entry.character, entry.position, entry.count, entry.gsm]),
    [
      ["’", 3, 2, "'"],
      ["“", 6, 1, '"'],
      ["”", 11, 1, '"'],
      ["–", 13, 1, "-"],
      ["\u00A0", 20, 1, " "],
      ["👋", 30, 1, undefined],
    ],
  );
  assert.equal(counted.nonGsm[4]!.codePoint, "U+00A0");
  assert.equal(counted.nonGsm[5]!.codePoint, "U+1F44B");
});

Deno.test("describeUcs2Cause() warns only when GSM look-alikes would take fewer parts", () => {
  assert.equal(
    describeUcs2Cause(countSmsSegments("It’s " + "x".repeat(70))),
    `UCS-2 because of "’" (U+2019) at character 3 (write ' instead): 2 parts instead of 1`,
  );
  assert.equal(describeUcs2Cause(countSmsSegments("Hello")), undefined);
  assert.equal(describeUcs2Cause(countSmsSegments("Привет")), undefined);
  // Cyrillic at length: UCS-2 needs 3 parts, GSM letters would need 2, so it is named.
  assert.match(describeUcs2Cause(countSmsSegments("Ж".repeat(150)))!, /3 parts instead of 1/);
});
