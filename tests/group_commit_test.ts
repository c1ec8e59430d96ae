import assert from "node:assert/strict";
import { GroupCommit } from "../lib/send/group_commit.ts";
import { tempDir } from "./support/send_cli.ts";

Deno.test("GroupCommit: appends in one turn share one fsync; later ones take the next", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/log.jsonl`;
  using file = await Deno.open(path, { write: true, createNew: true });
  const writer = new GroupCommit(file, (cause) => new Error("unexpected", { cause }));
  await Promise.all([writer.append("a\n"), writer.append("b\n"), writer.append("c\n")]);
  await writer.append("d\n");
  assert.equal(writer.commits, 2);
  assert.equal(writer.bytes, 8);
  assert.equal(await Deno.readTextFile(path), "a\nb\nc\nd\n");
});

Deno.test("GroupCommit: once a write fails, that batch and every later append reject with the error made from the cause", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/log.jsonl`;
  await Deno.writeTextFile(path, "");
  using file = await Deno.open(path, { read: true }); // not writable: the write fails
  const writer = new GroupCommit(file, (cause) => new Error("cannot write the log", { cause }));
  const batch = [writer.append("a\n"), writer.append("b\n")];
  for (const append of batch) await assert.rejects(append, { message: "cannot write the log" });
  await writer.settled();
  assert.equal(writer.failure?.message, "cannot write the log");
  assert.ok(writer.failure?.cause instanceof Error);
  await assert.rejects(writer.append("c\n"), { message: "cannot write the log" });
  assert.equal(writer.commits, 0);
});
