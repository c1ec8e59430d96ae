import assert from "node:assert/strict";
import { MessageTemplate } from "../lib/send/message_template.ts";
import {
  formatProblem,
  readRecipients,
  type ReadRecipientsOptions,
  type RecipientEntry,
} from "../lib/send/recipients.ts";

const encoder = new TextEncoder();

/** A stream of the given chunks (strings are UTF-8 encoded). */
function streamOf(...chunks: Array<string | Uint8Array>): ReadableStream<Uint8Array> {
  const queue = chunks.map((chunk) => typeof chunk === "string" ? encoder.encode(chunk) : chunk);
  return new ReadableStream({
    pull(controller) {
      const next = queue.shift();
      if (next === undefined) controller.close();
      else controller.enqueue(next);
    },
  });
}

async function readAll(
  input: string | ReadableStream<Uint8Array>,
  options?: ReadRecipientsOptions,
): Promise<RecipientEntry[]> {
  const stream = typeof input === "string" ? streamOf(input) : input;
  return await Array.fromAsync(readRecipients(stream, options));
}

/** Entries as short strings: `3 14155550100`, `3 14155550100 "text"`, `3 ! reason`, `3 = 1`. */
async function summarise(
  input: string | ReadableStream<Uint8Array>,
  options?: ReadRecipientsOptions,
): Promise<string[]> {
  return (await readAll(input, options)).map((entry) => {
    switch (entry.kind) {
      case "recipient": {
        const { line, to, text } = entry.recipient;
        return text === undefined ? `${line} ${to}` : `${line} ${to} ${JSON.stringify(text)}`;
      }
      case "problem":
        return `${entry.problem.line} ! ${entry.problem.reason}${
          entry.problem.fatal ? " [fatal]" : ""
        }`;
      case "duplicate":
        return `${entry.duplicate.line} ${entry.duplicate.to} = ${entry.duplicate.firstLine}`;
    }
  });
}

Deno.test("readRecipients() reads a plain list, one number per line, with comments and blank lines", async () => {
  const input = "# customers\n+1 415 555 0100\n\n  442079460000  \n# done\n";
  assert.deepEqual(await summarise(input), ["2 14155550100", "4 442079460000"]);
});

Deno.test("readRecipients() reads a CSV file with the phone column named in the header", async () => {
  const input = "name,Phone,city\nAda,+44 20 7946 0000,London\nBob , 1-415-555-0100 , SF\n";
  assert.deepEqual(await summarise(input), ["2 442079460000", "3 14155550100"]);
});

Deno.test("readRecipients() accepts every phone column name in any case", async () => {
  for (
    const name of ["to", "PHONE", "Number", "msisdn", "Mobile", "phone_number", "Phone Number"]
  ) {
    assert.deepEqual(await summarise(`${name}\n14155550100\n`), ["2 14155550100"], name);
  }
});

Deno.test("readRecipients() takes a per-recipient text column and keeps RFC 4180 quoting", async () => {
  const input = [
    "to,text,note",
    '14155550100,"Hello, Ada","she said ""hi"""',
    "14155550101,,plain",
    '  "14155550102" , "Two\nlines" , x',
    '14155550103,"Say ""yes"", please",',
  ].join("\r\n") + "\r\n";
  assert.deepEqual(await summarise(input), [
    '2 14155550100 "Hello, Ada"',
    "3 14155550101",
    '4 14155550102 "Two\\nlines"',
    '6 14155550103 "Say \\"yes\\", please"',
  ]);
});

Deno.test("readRecipients() reports a CSV header without a phone column on line 1 and stops", async () => {
  const entries = await summarise("name,email\nAda,ada@example.com\n");
  assert.deepEqual(entries, [
    '1 ! the CSV header names no phone column (found "name", "email"); name the column to send ' +
    "to one of: to, phone, number, msisdn, mobile (any case) [fatal]",
  ]);
  const headerless = await summarise("14155550100,Ada\n14155550101,Bob\n");
  assert.equal(headerless.length, 1);
  assert.match(
    headerless[0]!,
    /^1 ! .*looks like data: add a header line such as "to,name" \[fatal\]$/,
  );
  const semicolons = await summarise("name;phone\nAda;14155550100\n");
  assert.match(semicolons[0]!, /not semicolons \[fatal\]$/);
});

Deno.test("readRecipients() refuses a CSV header with two phone columns unless one is 'to'", async () => {
  const ambiguous = await summarise("phone,mobile\n14155550100,14155550101\n");
  assert.deepEqual(ambiguous, [
    '1 ! the CSV header has more than one phone column ("phone", "mobile"); keep one, or name ' +
    'the column to send to "to" [fatal]',
  ]);
  assert.deepEqual(await summarise("phone,to\n14155550100,14155550101\n"), ["2 14155550101"]);
});

Deno.test("readRecipients() reports CSV rows with the wrong field count or bad quoting", async () => {
  const input = [
    "to,text",
    "14155550100,Hello, world",
    "14155550101",
    '14155550102,"fine"',
    '14155550103,"closed"late',
    ",no number",
    '14155550104,"never closed',
    "14155550105,after",
  ].join("\n");
  assert.deepEqual(await summarise(input), [
    "2 ! has 3 fields but the header has 2 columns (a comma inside a field must be quoted)",
    "3 ! has 1 field but the header has 2 columns",
    '4 14155550102 "fine"',
    '5 ! field 2 has text after its closing quote (write a " inside a quoted field as "")',
    '6 ! no phone number: the "to" field is empty',
    '7 ! a quoted field is never closed: the file ends inside it (a " is missing)',
  ]);
});

Deno.test("readRecipients() reads JSON Lines with string or number 'to' and optional text", async () => {
  const input = [
    '{"to": "+1 415 555 0100", "text": "Hi"}',
    '{"to": 442079460000}',
    '{"to": "14155550102", "text": null, "extra": 1}',
    "",
    '{"to": 14155550103, "text": ""}',
  ].join("\n");
  assert.deepEqual(await summarise(input), [
    '1 14155550100 "Hi"',
    "2 442079460000",
    "3 14155550102",
    "5 14155550103",
  ]);
});

Deno.test("readRecipients() reports every bad JSON line with its line number", async () => {
  const input = [
    '{"to": "14155550100"}',
    "{not json",
    '["14155550101"]',
    '{"phone": "14155550102"}',
    '{"to": true}',
    '{"to": 1.5}',
    '{"to": "14155550103", "text": 7}',
    '{"to": "abc"}',
  ].join("\n");
  const lines = await summarise(input);
  assert.equal(lines[0], "1 14155550100");
  assert.match(lines[1]!, /^2 ! is not valid JSON: /);
  assert.deepEqual(lines.slice(2), [
    '3 ! must be a JSON object like {"to": "14155550100"}',
    '4 ! has no "to" field',
    '5 ! "to" must be a string or a whole number, current value is true',
    '6 ! "to" is 1.5, not a whole number: a phone number is digits; write it as a string ' +
    '("to": "14155550100")',
    '7 ! "text" must be a string, current value is 7',
    '8 ! "abc" is not a phone number: only digits, spaces, a leading +, and - . ( ) are allowed',
  ]);
});

Deno.test("readRecipients() reports each invalid number on its own line and goes on", async () => {
  const input = "14155550100\n12ab\n\n020 7946 0000\n1234\n14155550101\n";
  const lines = await summarise(input);
  assert.equal(lines.length, 5);
  assert.equal(lines[0], "1 14155550100");
  assert.match(lines[1]!, /^2 ! "12ab" is not a phone number/);
  assert.match(lines[2]!, /^4 ! "020 7946 0000" read as international .* pass --default-country$/);
  assert.match(
    lines[3]!,
    /^5 ! "1234" is not a valid number read as international \(\+1 United States\): too short/,
  );
  assert.equal(lines[4], "6 14155550101");
});

Deno.test("readRecipients() yields a repeated number once and reports the repeat", async () => {
  const input = "to\n+1 415 555 0100\n14155550101\n1-415-555-0100\n14155550100\n";
  assert.deepEqual(await summarise(input), [
    "2 14155550100",
    "3 14155550101",
    "4 14155550100 = 2",
    "5 14155550100 = 2",
  ]);
  assert.deepEqual(await summarise(input, { dedupe: false }), [
    "2 14155550100",
    "3 14155550101",
    "4 14155550100",
    "5 14155550100",
  ]);
});

Deno.test("readRecipients() keeps thousands of distinct numbers apart while deduplicating", async () => {
  const lines: string[] = [];
  for (let index = 0; index < 20_000; index++) {
    lines.push(String(14_152_000_000 + index * 379));
  }
  lines.push(String(14_152_000_000 + 123 * 379));
  const entries = await readAll(lines.join("\n"));
  assert.equal(entries.filter((entry) => entry.kind === "recipient").length, 20_000);
  assert.deepEqual(entries.at(-1), {
    kind: "duplicate",
    duplicate: { line: 20_001, to: String(14_152_000_000 + 123 * 379), firstLine: 124 },
  });
});

Deno.test("readRecipients() handles CRLF, a UTF-8 BOM and a last line without newline", async () => {
  const bom = new Uint8Array([0xef, 0xbb, 0xbf]);
  const input = streamOf(bom, "phone,text\r\n14155550100,Hi\r\n\r\n14155550101,Bye");
  assert.deepEqual(await summarise(input), ['2 14155550100 "Hi"', '4 14155550101 "Bye"']);
});

Deno.test("readRecipients() joins lines split across chunks anywhere, even inside a character", async () => {
  const text = "to,text\n14155550100,héllo ✓\n14155550101,second\n";
  const bytes = encoder.encode(text);
  const expected = await summarise(text);
  for (let cut = 1; cut < bytes.length; cut++) {
    const stream = streamOf(bytes.slice(0, cut), bytes.slice(cut, cut + 3), bytes.slice(cut + 3));
    assert.deepEqual(await summarise(stream), expected, `cut at ${cut}`);
  }
});

Deno.test("readRecipients() reports invalid UTF-8 as a problem on its line", async () => {
  const latin1 = new Uint8Array([...encoder.encode("14155550101,Jos"), 0xe9, 10]);
  const input = streamOf("to,name\n14155550100,Ada\n", latin1, "14155550102,Bob\n");
  assert.deepEqual(await summarise(input), [
    "2 14155550100",
    "3 ! is not valid UTF-8 text: save the file as UTF-8 (it may be Latin-1 or Windows-1252)",
    "4 14155550102",
  ]);
  const oneChunk = new Uint8Array([
    ...encoder.encode("to,name\n14155550100,Ada\n14155550101,Jos"),
    0xe9,
    ...encoder.encode("\n14155550102,Bob\n"),
  ]);
  assert.deepEqual(await summarise(streamOf(oneChunk)), [
    "2 14155550100",
    "3 ! is not valid UTF-8 text: save the file as UTF-8 (it may be Latin-1 or Windows-1252)",
    "4 14155550102",
  ]);
  const binary = streamOf(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 10, 0x31]));
  assert.deepEqual(await summarise(binary), [
    "1 ! is not valid UTF-8 text: save the file as UTF-8 (it may be Latin-1 or Windows-1252) [fatal]",
  ]);
  const utf16 = streamOf(new Uint8Array([0xff, 0xfe, 0x74, 0, 0x6f, 0, 10, 0]));
  assert.match((await summarise(utf16))[0]!, /^1 ! the file is UTF-16 encoded: save it as UTF-8/);
});

Deno.test("readRecipients() reports an over-long line without holding it and reads on", async () => {
  const long = "1".repeat(5_000);
  const input = streamOf("to,text\n14155550100,", long, long, long, "\n14155550101,ok\n");
  assert.deepEqual(await summarise(input, { maxLineBytes: 10_240 }), [
    "2 ! line is 15012 bytes long, more than the 10240 allowed",
    '3 14155550101 "ok"',
  ]);
  const inOneChunk = streamOf(`to\n14155550100\n${"é".repeat(6_000)}\n14155550101\n`);
  assert.deepEqual(await summarise(inOneChunk), [
    "2 14155550100",
    "3 ! line is 12000 bytes long, more than the 10240 allowed",
    "4 14155550101",
  ]);
  const firstLine = streamOf("x".repeat(20_000), "\n14155550100\n");
  assert.deepEqual(await summarise(firstLine), [
    "1 ! line is 20000 bytes long, more than the 10240 allowed: this does not look like a " +
    "recipients file [fatal]",
  ]);
});

Deno.test("readRecipients() reports a text longer than Vonage accepts", async () => {
  const input = `{"to":"14155550100","text":"${"é".repeat(1001)}"}\n{"to":"14155550101","text":"${
    "é".repeat(1000)
  }"}\n`;
  const entries = await readAll(input);
  assert.deepEqual(entries[0], {
    kind: "problem",
    problem: {
      line: 1,
      reason: "the text is 1001 characters long; Vonage accepts at most 1000",
      fatal: false,
    },
  });
  assert.equal(entries[1]?.kind, "recipient");
});

Deno.test("readRecipients() yields nothing for an empty or blank input", async () => {
  assert.deepEqual(await summarise(""), []);
  assert.deepEqual(await summarise("\n \r\n\t\n"), []);
});

Deno.test("readRecipients() cancels the stream when the caller stops early", async () => {
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.enqueue(encoder.encode("14155550100\n14155550101\n"));
    },
    cancel() {
      cancelled = true;
    },
  });
  for await (const entry of readRecipients(stream, { dedupe: false })) {
    assert.equal(entry.kind, "recipient");
    break;
  }
  assert.equal(cancelled, true);
});

Deno.test("readRecipients() closes a file it stops reading early", async () => {
  const path = await Deno.makeTempFile({ suffix: ".csv" });
  try {
    await Deno.writeTextFile(path, "name,email\nAda,ada@example.com\n".repeat(10_000));
    const file = await Deno.open(path);
    const entries = await readAll(file.readable);
    assert.equal(entries.length, 1);
    // The sanitizer fails this test if the file was left open.
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("readRecipients() streams 1,000,000 lines, pulling input only as it is consumed", async () => {
  const total = 1_000_000;
  const linesPerChunk = 10_000;
  let pulledChunks = 0;
  let produced = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (produced >= total) {
        controller.close();
        return;
      }
      let text = produced === 0 ? "phone,text\r\n" : "";
      for (let index = 0; index < linesPerChunk; index++, produced++) {
        text += `+1 (415) ${2_000_000 + produced},msg ${produced}\r\n`;
      }
      pulledChunks++;
      controller.enqueue(encoder.encode(text));
    },
  });
  let recipients = 0;
  let pulledAtFirst = -1;
  let lastLine = 0;
  for await (const entry of readRecipients(stream)) {
    if (entry.kind !== "recipient") assert.fail(`unexpected ${JSON.stringify(entry)}`);
    if (pulledAtFirst < 0) pulledAtFirst = pulledChunks;
    recipients++;
    lastLine = entry.recipient.line;
  }
  assert.equal(recipients, total);
  assert.equal(lastLine, total + 1);
  assert.equal(pulledChunks, total / linesPerChunk);
  // The first recipient came out after at most the first chunk and one read ahead.
  assert.ok(pulledAtFirst <= 2, `pulled ${pulledAtFirst} chunks before the first entry`);
});

Deno.test("formatProblem() prints FILE:LINE: why for problems and duplicates", () => {
  assert.equal(
    formatProblem("recipients.csv", {
      line: 14,
      reason: '"12ab" is not a phone number',
      fatal: false,
    }),
    'recipients.csv:14: "12ab" is not a phone number',
  );
  assert.equal(
    formatProblem("-", { line: 9, to: "14155550100", firstLine: 3 }),
    "-:9: 14155550100 is listed again (first on line 3); it gets one message",
  );
});

Deno.test("readRecipients() rejects a non-positive maxLineBytes", async () => {
  await assert.rejects(
    readAll("14155550100\n", { maxLineBytes: 0 }),
    new RangeError(
      "Cannot read recipients: 'maxLineBytes' must be a positive integer, current value is 0",
    ),
  );
});

Deno.test("readRecipients() reads national numbers with defaultCountry, else refuses them", async () => {
  const input = "to\n(415) 555-2671\n202 555 0101\n+44 20 7946 0000\n";
  assert.deepEqual(await summarise(input, { defaultCountry: "US" }), [
    "2 14155552671",
    "3 12025550101",
    "4 442079460000",
  ]);
  const refused = await summarise(input);
  assert.match(
    refused[0]!,
    /^2 ! "\(415\) 555-2671" is not a valid number read as international \(\+41 Switzerland\)/,
  );
  assert.match(
    refused[1]!,
    /^3 ! "202 555 0101" is not a valid number read as international \(\+20 Egypt\)/,
  );
  assert.equal(refused[2], "4 442079460000");
});

Deno.test("readRecipients() refuses JSON numbers that are negative, fractional or inexact", async () => {
  const input = [
    '{"to": -15557000011}',
    '{"to": 14155550100.5}',
    '{"to": 123456789012345678}',
    '{"to": 0}',
    '{"to": 14155550100}',
  ].join("\n");
  const lines = await summarise(input);
  assert.match(
    lines[0]!,
    /^1 ! "to" is -15557000011, not a positive number: .* write it as a string/,
  );
  assert.match(lines[1]!, /^2 ! "to" is 14155550100.5, not a whole number/);
  assert.match(lines[2]!, /^3 ! "to" is 123456789012345680, too large to be read exactly/);
  assert.match(lines[3]!, /^4 ! "to" is 0, not a positive number/);
  assert.equal(lines[4], "5 14155550100");
});

Deno.test("readRecipients() fills {{column}} templates from CSV columns and JSON fields", async () => {
  const template = MessageTemplate.parse("Hi {{Name}}, code {{code}}");
  const csv =
    'to,name,code,text\n14155550100,Ada,1,\n14155550101,Bob,,\n14155550102,Cy,3,"Yo {{name}}"\n';
  assert.deepEqual(await summarise(csv, { template }), [
    '2 14155550100 "Hi Ada, code 1"',
    '3 ! the "code" value is empty, and the message uses {{code}}',
    '4 14155550102 "Yo Cy"',
  ]);
  const jsonl =
    '{"to": "14155550100", "name": "Ada", "code": 7}\n{"to": "14155550101", "name": "Bob"}\n';
  assert.deepEqual(await summarise(jsonl, { template }), [
    '1 14155550100 "Hi Ada, code 7"',
    '2 ! the "code" value is missing, and the message uses {{code}}',
  ]);
  // Without placeholders the template stays the run's text: nothing per recipient.
  assert.deepEqual(
    await summarise("to\n14155550100\n", { template: MessageTemplate.parse("Hi") }),
    [
      "2 14155550100",
    ],
  );
});

Deno.test("readRecipients() refuses a template whose placeholder names no column before reading on", async () => {
  const template = MessageTemplate.parse("Hi {{first}}");
  assert.deepEqual(await summarise("to,name\n14155550100,Ada\n", { template }), [
    '1 ! the message uses {{first}}, but the CSV header has no such column (found "to", ' +
    '"name"); fix the placeholder or add the column [fatal]',
  ]);
  assert.deepEqual(await summarise("14155550100\n14155550101\n", { template }), [
    "1 ! the message uses {{first}}, but a list of numbers has no columns: use a CSV file " +
    "with a header naming them [fatal]",
  ]);
  // A text column's own placeholders are checked line by line.
  assert.deepEqual(await summarise('to,text\n14155550100,"Hi {{nope}}"\n14155550101,"Hi {{x"\n'), [
    '2 ! the "nope" value is missing, and the message uses {{nope}}',
    '3 ! the text\'s "{{" at character 4 is never closed: write placeholders as {{column}}',
  ]);
});

Deno.test("readRecipients() takes a client_ref column or field, and checks it", async () => {
  const csv = `to,Client_Ref\n14155550100,order-1\n14155550101,\n14155550102,${"x".repeat(101)}\n`;
  const entries = await readAll(csv);
  assert.deepEqual(entries[0], {
    kind: "recipient",
    recipient: { line: 2, to: "14155550100", clientRef: "order-1" },
  });
  assert.deepEqual(entries[1], { kind: "recipient", recipient: { line: 3, to: "14155550101" } });
  assert.deepEqual(entries[2], {
    kind: "problem",
    problem: {
      line: 4,
      reason: "client_ref is 101 characters long; Vonage keeps at most 100",
      fatal: false,
    },
  });
  const jsonl = await readAll(
    '{"to": "14155550100", "client_ref": "a-1"}\n{"to": "14155550101", "client_ref": 5}\n',
  );
  assert.deepEqual(jsonl[0], {
    kind: "recipient",
    recipient: { line: 1, to: "14155550100", clientRef: "a-1" },
  });
  assert.equal(
    jsonl[1]!.kind === "problem" && jsonl[1]!.problem.reason,
    '"client_ref" must be a string, current value is 5',
  );
});
