import assert from "node:assert/strict";
import { JournalReader } from "../lib/receipts/journal_reader.ts";
import { hashMessageText, Journal } from "../lib/send/journal.ts";
import { campaignTag, clientRef } from "../lib/send/client_ref.ts";
import { FakeClock } from "../lib/core/fake_clock.ts";

Deno.test("JournalReader follows a journal taken over by a fixed sender: the new tag, a fresh start", async () => {
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    await Deno.remove(path);
    const textHash = await hashMessageText("Hi");
    const refused = await Journal.open(path, { from: "Acmee", textHash }, {
      clock: new FakeClock(0),
    });
    await refused.sending("14155550100");
    await refused.released("14155550100", "422 Invalid params (from: not a sender)");
    await refused.close();
    const fixed = await Journal.open(path, { from: "Acme", textHash }, {
      clock: new FakeClock(1_000),
    });
    await fixed.sending("14155550101");
    await fixed.accepted("14155550101", "uuid-1");
    await fixed.close();

    const reader = await JournalReader.open(path);
    const tag = await campaignTag({ from: "Acme", textHash, createdAt: fixed.replay.createdAt! });
    assert.equal(reader.tag, tag);
    assert.deepEqual([...reader.numbers.keys()], ["14155550101"]);
    // A receipt whose 202 was lost is still found by its client_ref.
    assert.equal(
      reader.numberOf({ messageUuid: "unknown", clientRef: clientRef(tag, "14155550101") }),
      "14155550101",
    );
  } finally {
    await Deno.remove(path).catch(() => {});
  }
});

Deno.test("JournalReader matches a receipt by a client_ref the recipient brought", async () => {
  const path = await Deno.makeTempFile({ suffix: ".jsonl" });
  try {
    await Deno.remove(path);
    const journal = await Journal.open(path, { from: "Acme", textHash: "sha256:00" });
    await journal.sending("14155550100", undefined, "order-7");
    await journal.sending("14155550101");
    await journal.close();
    const line = (await Deno.readTextFile(path)).split("\n")[1]!;
    assert.equal(JSON.parse(line).ref, "order-7");
    const reader = await JournalReader.open(path);
    // Both answers were lost: only the client_ref tells which number a receipt is about.
    assert.equal(reader.numberOf({ messageUuid: "u-1", clientRef: "order-7" }), "14155550100");
    assert.equal(reader.numberOf({ messageUuid: "u-2", clientRef: "order-8" }), undefined);
    // And a rerun of the journal still replays it.
    const again = await Journal.open(path, { from: "Acme", textHash: "sha256:00" });
    assert.equal(again.previous.get("14155550100")?.state, "uncertain");
    await again.close();
  } finally {
    await Deno.remove(path).catch(() => {});
  }
});
