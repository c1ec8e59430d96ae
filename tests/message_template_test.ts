import assert from "node:assert/strict";
import { MessageTemplate } from "../lib/send/message_template.ts";

Deno.test("MessageTemplate fills {{column}} placeholders, any case and spacing", () => {
  const template = MessageTemplate.parse("Hi {{Name}}, {{ name }} owes {{amount}}.");
  assert.deepStrictEqual(template.names, ["name", "amount"]);
  const row: Record<string, string> = { name: "Ada", amount: "£5" };
  assert.deepStrictEqual(template.render((name) => row[name]), {
    ok: true,
    text: "Hi Ada, Ada owes £5.",
  });
  assert.equal(template.source, "Hi {{Name}}, {{ name }} owes {{amount}}.");
});

Deno.test("MessageTemplate.render() refuses a missing or empty value, naming it", () => {
  const template = MessageTemplate.parse("Hi {{name}}");
  assert.deepStrictEqual(template.render(() => ""), {
    ok: false,
    reason: 'the "name" value is empty, and the message uses {{name}}',
  });
  assert.deepStrictEqual(template.render(() => undefined), {
    ok: false,
    reason: 'the "name" value is missing, and the message uses {{name}}',
  });
});

Deno.test("MessageTemplate.missingFrom() lists names that match no column", () => {
  const template = MessageTemplate.parse("{{first}} {{Last}} {{code}}");
  assert.deepStrictEqual(template.missingFrom(["to", " First", "LAST"]), ["code"]);
  assert.deepStrictEqual(MessageTemplate.parse("plain").missingFrom([]), []);
});

Deno.test("MessageTemplate.parse() refuses an unclosed or empty placeholder, saying where", () => {
  assert.throws(
    () => MessageTemplate.parse("Hi {{name, see you"),
    new SyntaxError('"{{" at character 4 is never closed: write placeholders as {{column}}'),
  );
  assert.throws(
    () => MessageTemplate.parse("Hi {{name {{x}}"),
    new SyntaxError('"{{" at character 4 is never closed: write placeholders as {{column}}'),
  );
  assert.throws(() => MessageTemplate.parse("Hi {{ }}"), /at character 4 has no name/);
  // Single braces and a lone "}}" are text.
  assert.deepStrictEqual(MessageTemplate.parse("{a} }} b").render(() => "x"), {
    ok: true,
    text: "{a} }} b",
  });
});
