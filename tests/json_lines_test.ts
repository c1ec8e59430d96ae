import assert from "node:assert/strict";
import { forEachLine } from "../lib/send/json_lines.ts";
import { tempDir } from "./support/send_cli.ts";

Deno.test("forEachLine() reads whole lines across 64 KiB chunks, a character split by a chunk included, and stops before a torn tail", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/lines.jsonl`;
  // 'é' is two bytes: with 999-byte lines, some fall across a 65,536-byte boundary mid-character.
  const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify({ i, text: "é".repeat(490) }));
  const whole = lines.join("\n") + "\n";
  await Deno.writeTextFile(path, whole + '{"i":300,"te');
  using file = await Deno.open(path);
  const read: string[] = [];
  const result = await forEachLine(file, 0, (line) => void read.push(line));
  assert.deepEqual(read, lines);
  const end = new TextEncoder().encode(whole).length;
  assert.deepEqual(result, { end, lines: 300, torn: true, tail: '{"i":300,"te' });

  // Continuing from `end` after the writer finished the line reads just that line.
  await Deno.writeTextFile(path, 'xt":"done"}\n', { append: true });
  const rest: string[] = [];
  const more = await forEachLine(file, result.end, (line) => void rest.push(line));
  assert.deepEqual(rest, ['{"i":300,"text":"done"}']);
  assert.equal(more.torn, false);
});

Deno.test("forEachLine() stops, with the error tooLong gives, once a line runs past maxLineChars without its newline (memory stays bounded); a whole line is passed on", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/lines.jsonl`;
  const tooLong = (lineNumber: number) => new Error(`line ${lineNumber} too long`);
  await Deno.writeTextFile(path, `{"a":1}\n${"x".repeat(20)}`);
  using torn = await Deno.open(path);
  await assert.rejects(forEachLine(torn, 0, () => {}, { maxLineChars: 10, tooLong }), {
    message: "line 2 too long",
  });
  await Deno.writeTextFile(path, "\n", { append: true });
  using whole = await Deno.open(path);
  const read: string[] = [];
  await forEachLine(whole, 0, (line) => void read.push(line), { maxLineChars: 10, tooLong });
  assert.deepEqual(read, ['{"a":1}', "x".repeat(20)]);
});
