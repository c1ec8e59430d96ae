/**
 * Whether a campaign's shared state in Redis is the one this worker's journal
 * took part in, and the recovery when it is not: every worker's journal seeds
 * the decisions it holds, and a rebuilt queue completes those entries without
 * sending. The reasoning: `docs/design.md` (campaign_state.ts).
 *
 * @module
 */

import { LuaScript } from "./lua_script.ts";
import { isOutage } from "./ride_through.ts";
import type { RedisCommander } from "./connect.ts";
import type { JournalState } from "../send/journal.ts";

// Re-exported so that this module's documentation is complete on its own.
export type { JournalState, RedisCommander };

/** How the server keeps its data, from `CONFIG GET` (`unknown` when CONFIG is refused). */
export type Persistence = "always" | "everysec" | "no-aof" | "unknown";

/** What a worker learned when it joined, from {@linkcode joinCampaign}. */
export interface JoinedCampaign {
  /** The campaign marker's epoch: a random id made when the campaign state was created. */
  epoch: string;
  /** The server's `run_id` when this worker joined: it changes at every restart. */
  runId: string;
  /** How the server keeps its data. */
  persistence: Persistence;
  /** Whether the campaign was recovered: then claimed entries are checked against the seeded decisions. */
  recovered: boolean;
}

/** What lost state looks like. */
export type LostStateKind = "gone" | "rebuilt" | "restarted";

/**
 * The campaign's state in Redis is not the one this worker took part in: it is
 * gone (the server restarted without its data), was rebuilt without this
 * worker, or the server restarted with settings that may have lost the last
 * writes. Sending on would risk sending twice; the message says how to recover.
 *
 * @example Stopping with exit status 2
 * ```ts ignore
 * import { CampaignStateLostError } from "./campaign_state.ts";
 *
 * try {
 *   await shared.join();
 * } catch (error) {
 *   if (error instanceof CampaignStateLostError) Deno.exit(2);
 *   throw error;
 * }
 * ```
 */
export class CampaignStateLostError extends Error {
  /** What was found. */
  readonly kind: LostStateKind;

  /** Describe lost state of `kind`; `message` is for people. */
  constructor(kind: LostStateKind, message: string) {
    super(message);
    this.name = "CampaignStateLostError";
    this.kind = kind;
  }
}

/** The keys of one campaign (one hash tag: one Redis Cluster slot). */
export interface CampaignKeys {
  /** Hash: epoch, runId, recovered, createdAt. */
  marker: string;
  /** Set: the workers that joined this state. */
  workers: string;
  /** Hash: number → JSON decision, seeded from journals by a recovery. */
  decided: string;
}

/**
 * The keys of the campaign `campaignId`.
 *
 * @example The marker's key
 * ```ts
 * import { campaignKeys } from "./campaign_state.ts";
 *
 * console.log(campaignKeys("abc").marker); // "politely:{abc}:campaign"
 * ```
 */
export function campaignKeys(campaignId: string): CampaignKeys {
  const base = `politely:{${campaignId}}`;
  return {
    marker: `${base}:campaign`,
    workers: `${base}:workers`,
    decided: `${base}:decided`,
  };
}

/**
 * The server's `run_id` (from `INFO server`) and how it keeps its data.
 *
 * @example Is the server durable?
 * ```ts ignore
 * import { serverState } from "./campaign_state.ts";
 *
 * console.log(await serverState(redis)); // { runId: "…", persistence: "always" }
 * ```
 */
export async function serverState(
  redis: RedisCommander,
): Promise<{ runId: string; persistence: Persistence }> {
  let runId = "";
  try {
    const info = String(await redis.sendCommand(["INFO", "server"]));
    runId = /^run_id:(\S+)/m.exec(info)?.[1] ?? "";
  } catch (error) {
    // An ACL may forbid INFO: restarts then go unseen (the persistence check still warns).
    if (isOutage(error)) throw error;
  }
  let persistence: Persistence = "unknown";
  try {
    const config = await redis.sendCommand(["CONFIG", "GET", "append*"]);
    const values = new Map<string, string>();
    if (Array.isArray(config)) {
      for (let i = 0; i + 1 < config.length; i += 2) {
        values.set(String(config[i]), String(config[i + 1]));
      }
    }
    const appendonly = values.get("appendonly");
    const fsync = values.get("appendfsync");
    if (appendonly === "no") persistence = "no-aof";
    else if (appendonly === "yes" && fsync === "always") persistence = "always";
    else if (appendonly === "yes") persistence = "everysec";
  } catch {
    // CONFIG is often disabled on managed servers: we cannot tell.
  }
  return { runId, persistence };
}

/**
 * KEYS = marker, workers. ARGV = worker, new epoch, run id, took part ("1"/"0"),
 * recover ("1"/"0"), now (ISO). Returns {status, epoch, runId, recovered} where
 * status is "joined", "created", "gone" or "rebuilt".
 */
const JOIN = new LuaScript(`
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  if ARGV[4] == '1' and ARGV[5] ~= '1' then return {'gone', '', '', '0'} end
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'runId', ARGV[3], 'createdAt', ARGV[6],
    'recovered', ARGV[5])
  redis.call('SADD', KEYS[2], ARGV[1])
  return {'created', ARGV[2], ARGV[3], ARGV[5]}
end
if ARGV[4] == '1' and ARGV[5] ~= '1' and redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then
  return {'rebuilt', epoch, '', '0'}
end
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[1], 'runId', ARGV[3], 'recovered', '1')
end
redis.call('SADD', KEYS[2], ARGV[1])
local marked = redis.call('HMGET', KEYS[1], 'runId', 'recovered')
return {'joined', epoch, marked[1] or '', marked[2] or '0'}
`);

/** Options for {@linkcode joinCampaign}. */
export interface JoinCampaignOptions {
  /** The campaign's keys. */
  keys: CampaignKeys;
  /** This worker's name. */
  worker: string;
  /** Whether this worker's journal has records of this campaign (it took part before). */
  tookPart: boolean;
  /** Join to recover: create the state if it is gone, and accept it whatever it is. */
  recover: boolean;
  /** How to tell the user to recover, for the error messages. */
  recoverHint: string;
  /**
   * A new epoch, if this worker creates the state.
   *
   * @default {crypto.randomUUID()}
   */
  newEpoch?: string;
}

/**
 * Join the campaign's state, or create it. A worker whose journal took part
 * refuses state that is gone, that was rebuilt without it, or that a server
 * restart may have rolled back (a server that does not `fsync` every write).
 *
 * @throws {CampaignStateLostError} in those three cases (not with `recover`).
 *
 * @example A first worker joins
 * ```ts ignore
 * import { campaignKeys, joinCampaign } from "./campaign_state.ts";
 *
 * const joined = await joinCampaign(redis, {
 *   keys: campaignKeys(id), worker: "host:/data/j.jsonl", tookPart: false, recover: false,
 *   recoverHint: "run with --redis-recover",
 * });
 * ```
 */
export async function joinCampaign(
  redis: RedisCommander,
  options: JoinCampaignOptions,
): Promise<JoinedCampaign> {
  const { keys, worker, tookPart, recover, recoverHint, newEpoch = crypto.randomUUID() } = options;
  const { runId, persistence } = await serverState(redis);
  const reply = await JOIN.run(redis, [keys.marker, keys.workers], [
    worker,
    newEpoch,
    runId,
    tookPart ? "1" : "0",
    recover ? "1" : "0",
    new Date().toISOString(),
  ]);
  if (!Array.isArray(reply) || reply.length < 4) {
    throw new TypeError(`joinCampaign got an unexpected reply: ${JSON.stringify(reply)}`);
  }
  const [status, epoch, markedRunId, recovered] = reply.map(String);
  if (status === "gone") {
    throw new CampaignStateLostError(
      "gone",
      `this worker's journal took part in the campaign, but its state is gone from Redis ` +
        `(${keys.marker} does not exist: the server restarted without its data, or the keys ` +
        `were deleted). Starting afresh could send twice. ${recoverHint}`,
    );
  }
  if (status === "rebuilt") {
    throw new CampaignStateLostError(
      "rebuilt",
      `this worker's journal took part in the campaign, but its state in Redis was made ` +
        `again without this worker (${keys.marker}): the old state was lost. ${recoverHint}`,
    );
  }
  if (tookPart && !recover && markedRunId !== runId && persistence !== "always") {
    throw new CampaignStateLostError(
      "restarted",
      `Redis restarted since this campaign's state was written, and it does not fsync ` +
        `every write (${describePersistence(persistence)}): its last writes may be lost. ` +
        recoverHint,
    );
  }
  return { epoch: epoch!, runId, persistence, recovered: recovered === "1" };
}

/**
 * Whether the state this worker joined is still there: the marker has the same
 * epoch, and a restarted server (a new `run_id`) fsyncs every write.
 *
 * @example A heartbeat's check
 * ```ts ignore
 * import { checkCampaign } from "./campaign_state.ts";
 *
 * const lost = await checkCampaign(redis, keys, joined, hint);
 * if (lost) throw lost;
 * ```
 */
export async function checkCampaign(
  redis: RedisCommander,
  keys: CampaignKeys,
  joined: JoinedCampaign,
  recoverHint: string,
): Promise<CampaignStateLostError | undefined> {
  const epoch = await redis.sendCommand(["HGET", keys.marker, "epoch"]);
  if (epoch === null || epoch === undefined) {
    return new CampaignStateLostError(
      "gone",
      `the campaign's state vanished from Redis while this worker ran (${keys.marker} is ` +
        `gone: the server restarted without its data, or the keys were deleted). Stopped ` +
        `before sending more, so that nothing goes twice. ${recoverHint}`,
    );
  }
  if (String(epoch) !== joined.epoch) {
    return new CampaignStateLostError(
      "rebuilt",
      `the campaign's state in Redis was made again while this worker ran (${keys.marker} ` +
        `has a new epoch): the old state was lost. Stopped before sending more. ${recoverHint}`,
    );
  }
  const { runId, persistence } = await serverState(redis);
  if (runId !== joined.runId && persistence !== "always") {
    return new CampaignStateLostError(
      "restarted",
      `Redis restarted while this worker ran, and it does not fsync every write ` +
        `(${describePersistence(persistence)}): its last writes may be lost. Stopped before ` +
        `sending more. ${recoverHint}`,
    );
  }
  return undefined;
}

/**
 * Persistence for people.
 *
 * @example Naming the settings in a warning
 * ```ts
 * import { describePersistence } from "./campaign_state.ts";
 *
 * console.log(describePersistence("no-aof")); // "appendonly no"
 * ```
 */
export function describePersistence(persistence: Persistence): string {
  switch (persistence) {
    case "always":
      return "appendonly yes, appendfsync always";
    case "everysec":
      return "appendonly yes, but appendfsync is not always";
    case "no-aof":
      return "appendonly no";
    case "unknown":
      return "CONFIG GET is refused, so its settings are unknown";
  }
}

/** A decision as the recovery seeds it. */
export interface SeededDecision {
  /** What the journal decided. */
  state: "accepted" | "failed" | "uncertain";
  /** For an accepted number: the server's id for the message. */
  messageUuid?: string;
  /** For a failed or uncertain number: why, for people. */
  reason?: string;
  /** The worker whose journal holds it. */
  worker: string;
}

/**
 * KEYS = decided. ARGV = pairs of number, JSON. Keeps, per number, the decision
 * that says most about what was sent: accepted over uncertain over failed.
 */
const SEED = new LuaScript(`
local rank = { failed = 1, uncertain = 2, accepted = 3 }
local added = 0
for i = 1, #ARGV, 2 do
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  local new = cjson.decode(ARGV[i + 1])
  if not old or rank[cjson.decode(old).state] < rank[new.state] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    added = added + 1
  end
end
return added
`);

/**
 * Add what a journal decided (accepted, failed, uncertain; pending numbers are
 * left out) to the campaign's decided set. Resolves with how many decisions
 * were seeded.
 *
 * @example Seeding from a journal
 * ```ts ignore
 * import { campaignKeys, seedDecisions } from "./campaign_state.ts";
 *
 * console.log(await seedDecisions(redis, campaignKeys(id), journal.previous, "host:/j.jsonl"));
 * ```
 */
export async function seedDecisions(
  redis: RedisCommander,
  keys: CampaignKeys,
  previous: ReadonlyMap<string, JournalState>,
  worker: string,
): Promise<number> {
  let seeded = 0;
  let batch: string[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    await SEED.run(redis, [keys.decided], batch);
    seeded += batch.length / 2;
    batch = [];
  };
  for (const [to, state] of previous) {
    if (state.state === "pending") continue;
    const decision: SeededDecision = state.state === "accepted"
      ? { state: "accepted", messageUuid: state.messageUuid, worker }
      : { state: state.state, reason: state.reason, worker };
    batch.push(to, JSON.stringify(decision));
    if (batch.length >= 1000) await flush();
  }
  await flush();
  return seeded;
}

/**
 * The seeded decisions for `numbers` (those that have one).
 *
 * @example Looking decisions up
 * ```ts ignore
 * import { campaignKeys, decisionsFor } from "./campaign_state.ts";
 *
 * const decided = await decisionsFor(redis, campaignKeys(id), ["14155550100"]);
 * ```
 */
export async function decisionsFor(
  redis: RedisCommander,
  keys: CampaignKeys,
  numbers: readonly string[],
): Promise<Map<string, SeededDecision>> {
  const found = new Map<string, SeededDecision>();
  if (numbers.length === 0) return found;
  const reply = await redis.sendCommand(["HMGET", keys.decided, ...numbers]);
  if (!Array.isArray(reply)) return found;
  numbers.forEach((to, i) => {
    const json = reply[i];
    if (typeof json === "string") found.set(to, JSON.parse(json) as SeededDecision);
  });
  return found;
}
