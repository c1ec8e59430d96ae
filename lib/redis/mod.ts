/**
 * politely's scale-out parts: a rate budget and a work queue shared by many
 * workers through Redis. A separate entry point, so that the main library
 * pulls in no Redis client.
 *
 * @module
 */

export { type Clock, realClock } from "../core/clock.ts";
export type { Limiter, LimiterOutcome, TakeOptions } from "../core/limiter.ts";
export {
  connectRedis,
  type ConnectRedisOptions,
  type RedisCommander,
  type RedisConnection,
} from "./connect.ts";
export { RedisLimiter, type RedisLimiterOptions, type RedisReservation } from "./redis_limiter.ts";
export { isOutage, rideThrough, type RideThroughOptions } from "./ride_through.ts";
export {
  type CampaignKeys,
  campaignKeys,
  CampaignStateLostError,
  checkCampaign,
  decisionsFor,
  describePersistence,
  joinCampaign,
  type JoinCampaignOptions,
  type JoinedCampaign,
  type LostStateKind,
  type Persistence,
  seedDecisions,
  type SeededDecision,
  serverState,
} from "./campaign_state.ts";
export {
  type ClaimOptions,
  type CompleteOptions,
  type IdleEntry,
  RedisWorkQueue,
  type RedisWorkQueueOptions,
  type WorkEntry,
  type WorkQueueCounts,
} from "./work_queue.ts";
export {
  budgetKey,
  campaignId,
  type CampaignParts,
  defaultWorkerName,
  describeQueueTotals,
  type QueuedRecipient,
  queueKey,
  type QueueTotals,
  RecipientDigest,
  RedisUnreachableError,
  SharedSend,
  type SharedSendOptions,
} from "./shared_send.ts";
