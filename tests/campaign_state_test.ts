import assert from "node:assert/strict";
import { connectRedis } from "../lib/redis/connect.ts";
import {
  campaignKeys,
  CampaignStateLostError,
  checkCampaign,
  decisionsFor,
  joinCampaign,
  seedDecisions,
} from "../lib/redis/campaign_state.ts";
import type { JournalState } from "../lib/send/journal.ts";
import { redisTest, startRedisServer } from "./support/redis_server.ts";

const HINT = "run --redis-recover";

async function lostKind(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(error instanceof CampaignStateLostError, String(error));
  assert.match(error.message, /run --redis-recover$/);
  return error.kind;
}

redisTest(
  "joinCampaign() creates the state for a new worker and refuses it to one whose journal took part",
  async () => {
    await using server = await startRedisServer();
    await using redis = await connectRedis(server.url);
    const keys = campaignKeys("c1");
    const join = (worker: string, tookPart: boolean, recover = false) =>
      joinCampaign(redis, { keys, worker, tookPart, recover, recoverHint: HINT });

    // Gone: a worker that took part finds nothing.
    assert.equal(await lostKind(join("a", true)), "gone");
    const created = await join("a", false);
    assert.equal(created.recovered, false);
    assert.equal((await join("a", true)).epoch, created.epoch, "a rejoins its own state");
    // Made again without b: b took part in the old state.
    assert.equal(await lostKind(join("b", true)), "rebuilt");
    assert.equal(await checkCampaign(redis, keys, created, HINT), undefined);

    // The state vanishes under a running worker.
    await redis.sendCommand(["DEL", keys.marker]);
    assert.equal((await checkCampaign(redis, keys, created, HINT))?.kind, "gone");
    // Recovery makes it again, marked recovered; then b may join.
    const recovered = await join("b", true, true);
    assert.equal(recovered.recovered, true);
    assert.equal((await join("b", true)).epoch, recovered.epoch);
    assert.equal((await checkCampaign(redis, keys, created, HINT))?.kind, "rebuilt");
  },
);

redisTest(
  "seedDecisions() keeps, per number, accepted over uncertain over failed; pending is left out",
  async () => {
    await using server = await startRedisServer();
    await using redis = await connectRedis(server.url);
    const keys = campaignKeys("c2");
    const a = new Map<string, JournalState>([
      ["1", { state: "failed", reason: "400", attempts: 1 }],
      ["2", { state: "uncertain", reason: "timeout", attempts: 1 }],
      ["3", { state: "pending", reason: "429", attempts: 1 }],
    ]);
    const b = new Map<string, JournalState>([
      ["1", { state: "uncertain", reason: "taken over", attempts: 0 }],
      ["2", { state: "accepted", messageUuid: "u-2", attempts: 1 }],
    ]);
    assert.equal(await seedDecisions(redis, keys, a, "a"), 2);
    assert.equal(await seedDecisions(redis, keys, b, "b"), 2);
    assert.equal(await seedDecisions(redis, keys, a, "a"), 2, "seeding again changes nothing");

    const decided = await decisionsFor(redis, keys, ["1", "2", "3", "4"]);
    assert.deepEqual(Object.fromEntries(decided), {
      "1": { state: "uncertain", reason: "taken over", worker: "b" },
      "2": { state: "accepted", messageUuid: "u-2", worker: "b" },
    });
  },
);
