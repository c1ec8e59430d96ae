import assert from "node:assert/strict";
import { checkSenderId } from "../lib/send/sender_id.ts";

function reason(raw: string): string {
  const check = checkSenderId(raw);
  if (check.ok) throw new Error(`${raw} was accepted as ${check.from}`);
  return check.reason;
}

Deno.test("checkSenderId() accepts E.164 numbers and gives their digits", () => {
  assert.deepStrictEqual(checkSenderId("14155550100"), {
    ok: true,
    kind: "number",
    from: "14155550100",
  });
  assert.deepStrictEqual(checkSenderId("+44 7700 900123").ok, true);
  assert.deepStrictEqual(checkSenderId("+44 7700 900123"), {
    ok: true,
    kind: "number",
    from: "447700900123",
  });
  assert.deepStrictEqual(checkSenderId("1234567").ok, true);
});

Deno.test("checkSenderId() accepts alphanumeric ids of 1 to 11 characters with a letter", () => {
  assert.deepStrictEqual(checkSenderId("Acme Shop"), {
    ok: true,
    kind: "alphanumeric",
    from: "Acme Shop",
  });
  assert.deepStrictEqual(checkSenderId("A").ok, true);
  assert.deepStrictEqual(checkSenderId("Politely 24").ok, true);
  assert.deepStrictEqual(checkSenderId("123456").ok, false);
});

Deno.test("checkSenderId() refuses a sender id longer than 11 and suggests one that fits", () => {
  assert.equal(
    reason("My Company Name"),
    '"My Company Name" is 15 characters long: an alphanumeric sender id has at most 11 ' +
      '(e.g. "My Company")',
  );
});

Deno.test("checkSenderId() refuses wrong numbers, symbols and digit-only short ids", () => {
  assert.equal(
    reason("+1234"),
    '"+1234" is not a sender number: it has 4 digits; a number is 7 to 15 digits with the ' +
      "country code first (e.g. 14155550100)",
  );
  assert.match(reason("0441234567"), /starts with 0/);
  assert.match(reason("1234567890123456"), /16 digits/);
  assert.equal(
    reason("Café"),
    '"Café" has characters a sender id cannot have ("é"): use letters A-Z, digits and spaces',
  );
  assert.match(reason("12345"), /needs at least one letter/);
  assert.equal(reason("  "), "the sender is empty: give a number or a name");
});
