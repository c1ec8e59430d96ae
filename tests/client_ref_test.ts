import assert from "node:assert/strict";
import {
  campaignTag,
  checkClientRef,
  clientRef,
  MAX_CLIENT_REF_CHARS,
  parseClientRef,
} from "../lib/send/client_ref.ts";

const header = {
  from: "Acme",
  textHash: "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
  createdAt: "2026-12-01T15:00:00.000Z",
};

Deno.test("campaignTag() is stable for one journal header and differs for another", async () => {
  const tag = await campaignTag(header);
  assert.match(tag, /^[a-z2-7]{12}$/);
  assert.equal(await campaignTag({ ...header }), tag);
  assert.notEqual(await campaignTag({ ...header, createdAt: "2026-12-01T15:00:00.001Z" }), tag);
  assert.notEqual(await campaignTag({ ...header, from: "Acme2" }), tag);
  // Fields are kept apart: moving a character from one to the next changes the tag.
  assert.notEqual(
    await campaignTag({ ...header, from: "Acm", textHash: "e" + header.textHash }),
    tag,
  );
});

Deno.test("clientRef() and parseClientRef() round-trip, within Vonage's 100 characters", async () => {
  const tag = await campaignTag(header);
  const ref = clientRef(tag, "441234567890123");
  assert.equal(ref, `pl1-${tag}-441234567890123`);
  assert.ok(ref.length <= 32 && ref.length <= MAX_CLIENT_REF_CHARS);
  assert.deepStrictEqual(parseClientRef(ref), { tag, to: "441234567890123" });
  assert.equal(parseClientRef("order-1234"), undefined);
  assert.equal(parseClientRef(`pl1-${tag}-0441234567`), undefined);
  assert.equal(parseClientRef(`pl2-${tag}-14155550100`), undefined);
});

Deno.test("checkClientRef() refuses values Vonage would not keep", () => {
  assert.equal(checkClientRef("order-1234"), undefined);
  assert.equal(checkClientRef("x".repeat(100)), undefined);
  assert.equal(
    checkClientRef("x".repeat(101)),
    "client_ref is 101 characters long; Vonage keeps at most 100",
  );
  assert.match(checkClientRef("a\tb")!, /control character/);
});
