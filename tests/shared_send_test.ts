/**
 * The pieces `main.ts send --redis` is built on, in-process against a real
 * `redis-server`: the campaign id, and the queue's hand-over tools (started
 * marks, touches, hand-backs, a restarted consumer's history, tallies), and how a
 * worker's `SharedSend` applies them.
 */

import assert from "node:assert/strict";
import {
  campaignId,
  type QueuedRecipient,
  queueKey,
  RecipientDigest,
  SharedSend,
} from "../lib/redis/shared_send.ts";
import { RedisWorkQueue } from "../lib/redis/work_queue.ts";
import { redisTest, startRedisServer } from "./support/redis_server.ts";

interface Job {
  to: string;
}

const jobs = (n: number): Job[] => Array.from({ length: n }, (_, i) => ({ to: `${i + 1}` }));

function idOf(list: Array<{ to: string; text?: string }>, parts: Partial<{ from: string }> = {}) {
  const recipients = new RecipientDigest();
  list.forEach((recipient, i) => recipients.add({ line: i + 1, ...recipient }));
  return campaignId({
    applicationId: "app",
    from: parts.from ?? "Acme",
    textHash: "sha256:x",
    recipients,
  });
}

Deno.test("campaignId() is the same for the same campaign and differs with order, text or sender", () => {
  const list = [{ to: "14155550100" }, { to: "14155550101" }];
  const id = idOf(list);
  assert.match(id, /^[0-9a-f]{24}$/);
  assert.equal(idOf(list.map((r) => ({ ...r }))), id);
  assert.notEqual(idOf([...list].reverse()), id);
  assert.notEqual(idOf([list[0]!, { ...list[1]!, text: "own text" }]), id);
  assert.notEqual(idOf(list, { from: "Other" }), id);
  assert.notEqual(idOf(list.slice(0, 1)), id);
});

redisTest(
  "RedisWorkQueue.markStarted() marks only while held; a reclaimed entry carries startedBy",
  async () => {
    await using server = await startRedisServer();
    const options = { redis: server.url, key: "run", reclaimIdleMs: 100 };
    await using dead = new RedisWorkQueue<Job>(options);
    await using heir = new RedisWorkQueue<Job>(options);
    await dead.load(jobs(3));
    const [first, second] = await dead.claim("dead", 2);
    assert.equal(await dead.markStarted("dead", first!.id), true);
    // Another consumer cannot mark what it does not hold.
    assert.equal(await heir.markStarted("heir", second!.id), false);

    await new Promise((resolve) => setTimeout(resolve, 150));
    const taken = await heir.claim("heir", 5);
    assert.deepEqual(
      taken.map((e) => [e.id, e.reclaimed, e.startedBy]),
      [[first!.id, true, "dead"], [second!.id, true, undefined], ["3-0", false, undefined]],
    );
    // The dead worker has lost them: it may not begin one now.
    assert.equal(await dead.markStarted("dead", second!.id), false);
    // Completing clears the mark.
    await heir.complete(first!.id, "uncertain", { tally: "uncertain" });
    await heir.complete(second!.id, "accepted", { tally: "accepted" });
    await heir.complete("3-0", "accepted", { tally: "accepted" });
    assert.deepEqual(await heir.tallies(), { uncertain: 1, accepted: 2 });
    assert.deepEqual(await heir.counts(), { enqueued: 3, pending: 0, completed: 3 });
  },
);

redisTest(
  "RedisWorkQueue.touch() keeps a live worker's entries from being taken; findIdle() sees the quiet ones",
  async () => {
    await using server = await startRedisServer();
    const options = { redis: server.url, key: "run", reclaimIdleMs: 200 };
    await using live = new RedisWorkQueue<Job>(options);
    await using quiet = new RedisWorkQueue<Job>(options);
    await using other = new RedisWorkQueue<Job>(options);
    await live.load(jobs(4));
    const held = (await live.claim("live", 2)).map((e) => e.id);
    const left = (await quiet.claim("quiet", 2)).map((e) => e.id);

    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 80));
      assert.equal(await live.touch("live", held), 2);
    }
    // 320 ms on: the live worker's entries are fresh, the quiet one's are not.
    const idle = await other.findIdle(150);
    assert.ok(idle !== undefined && idle.consumer === "quiet" && idle.idleMs >= 300);
    const taken = await other.claim("other", 10);
    assert.deepEqual(taken.map((e) => e.id).sort(), [...left].sort());
    assert.ok(taken.every((e) => e.reclaimed));
    // Touching what one no longer holds does nothing.
    assert.equal(await quiet.touch("quiet", left), 0);
    assert.equal(await other.findIdle(150), undefined);
  },
);

redisTest(
  "RedisWorkQueue.release() hands entries back unmarked: the next claim by anyone gets them fresh",
  async () => {
    await using server = await startRedisServer();
    const options = { redis: server.url, key: "run" };
    await using stopping = new RedisWorkQueue<Job>(options);
    await using other = new RedisWorkQueue<Job>(options);
    await stopping.load(jobs(5));
    const claimed = await stopping.claim("stopping", 3);
    await stopping.markStarted("stopping", claimed[0]!.id);
    assert.equal(await stopping.release("stopping", claimed.map((e) => e.id)), 3);
    // Released twice, or by someone who does not hold them: nothing happens.
    assert.equal(await other.release("other", claimed.map((e) => e.id)), 0);

    const next = await other.claim("other", 2);
    assert.deepEqual(
      next.map((e) => [e.id, e.reclaimed, e.startedBy]),
      [["1-0", false, undefined], ["2-0", false, undefined]],
    );
    const rest = await other.claim("other", 5);
    assert.deepEqual(rest.map((e) => e.id), ["3-0", "4-0", "5-0"]);
    await assert.rejects(other.claim("(released)"), TypeError);
  },
);

redisTest(
  "RedisWorkQueue.claim() gives a consumer restarted under its name its own entries first",
  async () => {
    await using server = await startRedisServer();
    const options = { redis: server.url, key: "run" };
    {
      await using before = new RedisWorkQueue<Job>(options);
      await before.load(jobs(6));
      const held = await before.claim("host:/journal", 3);
      await before.markStarted("host:/journal", held[1]!.id);
      // … and the process dies here.
    }
    await using after = new RedisWorkQueue<Job>(options);
    const first = await after.claim("host:/journal", 2);
    assert.deepEqual(
      first.map((e) => [e.id, e.reclaimed, e.startedBy]),
      [["1-0", true, undefined], ["2-0", true, "host:/journal"]],
    );
    const second = await after.claim("host:/journal", 2);
    assert.deepEqual(second.map((e) => [e.id, e.reclaimed]), [["3-0", true], ["4-0", false]]);
  },
);

redisTest(
  "SharedSend: a reclaimed entry another worker began is in doubt; on a stop only unbegun entries go back",
  async () => {
    await using server = await startRedisServer();
    const id = idOf([{ to: "1" }]);
    const options = { redis: server.url, key: queueKey(id), reclaimIdleMs: 100 };
    await using dead = new RedisWorkQueue<{ to: string; line: number }>(options);
    await dead.load(Array.from({ length: 6 }, (_, i) => ({ to: `${i + 1}`, line: i + 1 })));
    const held = await dead.claim("dead", 3);
    // The dead worker had begun the first two, not the third.
    assert.equal(await dead.markStarted("dead", held[0]!.id), true);
    assert.equal(await dead.markStarted("dead", held[1]!.id), true);
    await new Promise((resolve) => setTimeout(resolve, 150));

    const shared = await SharedSend.open({
      redisUrl: server.url,
      applicationId: "app",
      campaignId: id,
      ratePerSecond: 10,
      burst: 1,
      worker: "me",
      previous: new Map(),
      reclaimIdleMs: 100,
      batchSize: 6,
    });
    let first: QueuedRecipient | undefined;
    try {
      const admission = new AbortController();
      for await (const recipient of shared.recipients(admission.signal)) {
        first = recipient;
        break;
      }
      assert.equal(first?.entryId, "1-0");
      assert.match(first?.doubt ?? "", /worker dead stopped while sending it/);
      // The run stops before its turn: it stays pending, and is not handed back; nor is
      // the second, begun by the dead worker and still in this one's buffer.
      await shared.onSettled(first!, { state: "pending" });
    } finally {
      await shared.close();
    }

    await using other = new RedisWorkQueue<{ to: string; line: number }>(options);
    const back = await other.claim("other", 10);
    assert.deepEqual(
      back.map((e) => [e.id, e.reclaimed, e.startedBy]),
      ["3-0", "4-0", "5-0", "6-0"].map((id) => [id, false, undefined]),
    );
    for (const entry of back) await other.complete(entry.id, "accepted");
    await new Promise((resolve) => setTimeout(resolve, 150));
    const doubtful = await other.claim("other", 10);
    assert.deepEqual(doubtful.map((e) => [e.id, e.startedBy]), [["1-0", "dead"], ["2-0", "dead"]]);
  },
);
