/**
 * `main.ts send`'s sending pass: the limiter, the client, Ctrl-C handling, the
 * progress line, the send job, and the summary with its exit code.
 *
 * @module
 */

import { LearningLimiter } from "../core/learning_limiter.ts";
import type { Limiter } from "../core/limiter.ts";
import { hashMessageText, type Journal, JournalError, type JournalState } from "../send/journal.ts";
import { campaignTag } from "../send/client_ref.ts";
import { formatSummary, Progress, type SendSummary, stderrWriter } from "../send/progress.ts";
import {
  emptySendCounts,
  runSendJob,
  type SendCounts,
  type SendJobOptions,
  type SendJobResult,
} from "../send/send_job.ts";
import { createVonageClient } from "../vonage/client.ts";
import { ErrorReply } from "../deps/redis_client.ts";
import { describeQueueTotals, type QueueTotals, type SharedSend } from "../redis/shared_send.ts";
import type { SendFlags } from "./send_flags.ts";
import { readOptionsFor, sendable, type Validation } from "./send_input.ts";
import { estimateCost, formatCost } from "./send_cost.ts";
import { plural } from "../send/wording.ts";
import type { SendCommandIo } from "./send_io.ts";
import { finishJournal } from "./send_setup.ts";
import { UsageError } from "./usage_error.ts";

/** Everything the sending pass needs, set up. */
export interface SendPlan extends Omit<SendFlags, "journal"> {
  journal: Journal;
  /** Set with --redis: this worker's share of a campaign shared through Redis. */
  shared: SharedSend | undefined;
  checked: Validation;
  privateKey: CryptoKey;
}

/**
 * Where `--adaptive` starts: a rate most APIs take (Vonage's default is 30
 * requests/s per key), doubled about every 200 ms until the first 429.
 */
const ADAPTIVE_START_PER_SECOND = 10;

/** What 429s taught the limiter, for the summary: only a limit below `--rate`. */
function learnedLimit(
  limiter: Limiter,
  ratePerSecond: number,
): { learnedLimitPerSecond?: number } {
  if (!(limiter instanceof LearningLimiter)) return {};
  const learned = limiter.learned().estimatePerSecond;
  return learned !== undefined && learned < ratePerSecond ? { learnedLimitPerSecond: learned } : {};
}

/** Send to every good recipient; resolves to the exit code. */
export async function runSend(path: string, plan: SendPlan, io: SendCommandIo): Promise<number> {
  const shared = plan.shared;
  const limiter: Limiter = shared !== undefined ? shared.limiter : new LearningLimiter({
    ratePerSecond: plan.ratePerSecond,
    burst: plan.burst,
    // --adaptive: the limit is unknown and --rate only bounds it: find it from
    // a modest start rather than flood the server with --rate's worth.
    ...(plan.adaptive
      ? { startPerSecond: Math.min(plan.ratePerSecond, ADAPTIVE_START_PER_SECOND) }
      : {}),
  });
  const client = createVonageClient({
    applicationId: plan.applicationId,
    privateKey: plan.privateKey,
    baseUrl: plan.baseUrl,
    timeoutMs: plan.timeoutMs,
  });

  let live: Readonly<SendCounts> = emptySendCounts();
  // A worker's share of a shared queue is not known in advance: no percentage then.
  const progress = new Progress(() => ({
    ...live,
    total: shared === undefined ? plan.checked.recipients : undefined,
  }), {
    writer: stderrWriter(),
    quiet: plan.quiet,
  });

  const interrupts = listenForInterrupts(progress);

  // A rerun says what it resumes: numbers left uncertain are skipped, and the user must
  // hear that, not find them folded into "skipped".
  const replaced = plan.journal.replay.replaced;
  const previous = plan.journal.replay.resumed && replaced === undefined
    ? tallyPrevious(plan.journal.previous)
    : undefined;
  if (previous !== undefined && plan.journal.path !== undefined) {
    io.stderr(describeResume(plan.journal.path, previous, plan.journal.replay.tornLines, plan));
  }
  if (replaced !== undefined && plan.journal.path !== undefined) {
    const what = replaced.from !== plan.from
      ? `the sender ${JSON.stringify(replaced.from)}`
      : "another message text";
    io.stderr(
      `the journal ${plan.journal.path} was started with ${what}, and nothing was accepted: ` +
        "this run takes it over and sends to everyone",
    );
  }

  progress.start();
  let result: SendJobResult;
  try {
    const options: SendJobOptions = {
      sendSms: (message, options) => client.sendSms(message, options),
      limiter,
      from: plan.from,
      text: plan.text ?? "",
      clientRefTag: await campaignTag({
        from: plan.from,
        textHash: await hashMessageText(plan.text ?? ""),
        // The journal's creation: the same tag for every run that resumes it.
        createdAt: plan.journal.replay.createdAt ?? new Date().toISOString(),
      }),
      journal: plan.journal,
      previous: plan.journal.previous,
      concurrency: inFlightCap(plan),
      maxTimeMs: plan.maxTimeMs,
      maxTries: plan.maxTries,
      backoff: { strategy: plan.strategy, jitter: plan.jitter },
      retryUncertain: plan.retryUncertain,
      resendUncertain: plan.resendUncertain,
      signal: interrupts.signal,
      onProgress: (counts) => (live = counts),
    };
    result = shared === undefined
      ? await runSendJob(sendable(path, plan.text, readOptionsFor(plan)), options)
      : await runSendJob(shared.recipients, {
        ...options,
        beforeSend: shared.beforeSend,
        onSettled: shared.onSettled,
      });
  } catch (error) {
    if (error instanceof JournalError) {
      // Everything recorded before the failure is on disk and replays correctly.
      throw new UsageError(
        `${error.message}; the run stopped, and what was recorded so far is safe: ` +
          "free the disk or fix the path, then rerun the same command to finish",
        { cause: error },
      );
    }
    const lost = await shared?.diagnose(error);
    if (lost !== undefined) {
      // Not a bug: Redis lost the campaign's state. Every decision is in the local journal.
      throw new UsageError(`the run stopped: ${lost.message}`, { cause: error });
    }
    if (shared !== undefined && error instanceof ErrorReply) {
      throw new UsageError(
        `the run stopped: Redis at ${shared.redisDisplayUrl} refused a command: ` +
          `${error.message} (a read-only replica, or an ACL that forbids it?). What this ` +
          "worker sent is in its journal: point --redis at the primary, or allow the " +
          "commands, and rerun the same command",
        { cause: error },
      );
    }
    if (shared !== undefined && !(await shared.reachable())) {
      // Not a bug: the shared server went away. Every decision is in the local journal.
      progress.stop();
      io.stderr(
        `the run stopped: lost the connection to Redis at ${shared.redisDisplayUrl} ` +
          `(${describeError(error)}). What this worker sent is in its journal, and entries ` +
          "it held stay in the queue: rerun the same command once Redis is back",
      );
      return 1;
    }
    throw error;
  } finally {
    progress.stop();
    interrupts.dispose();
  }
  await finishJournal(plan.journal, "flush");

  await reportRun(result, previous, plan, io, learnedLimit(limiter, plan.ratePerSecond));
  // With a shared queue, only what this worker's share skipped counts, not its whole journal.
  const leftByEarlierRuns = shared !== undefined
    ? shared.leftByEarlierRuns
    : previous === undefined
    ? 0
    : previous.failed + (plan.resendUncertain ? 0 : previous.uncertain);
  return exitCodeFor(result, leftByEarlierRuns);
}

/** The summary on stdout (text or JSON), and what to do next on stderr. */
async function reportRun(
  result: SendJobResult,
  previous: Record<JournalState["state"], number> | undefined,
  plan: SendPlan,
  io: SendCommandIo,
  learned: { learnedLimitPerSecond?: number },
): Promise<void> {
  const { shared } = plan;
  const summary: SendSummary & {
    stoppedBy?: string;
    journal?: string;
    previous?: Record<JournalState["state"], number>;
    worker?: string;
    queue?: QueueTotals;
    segments: number;
    pricePerSegment?: number;
    estimatedCost?: number;
  } = {
    ...result,
    // With a shared queue: this worker's share (the file's count is in `queue`).
    total: shared === undefined ? plan.checked.recipients : result.total,
    invalid: plan.checked.invalid,
    duplicates: plan.checked.duplicates,
    ratePerSecond: plan.ratePerSecond,
    ...learned,
    // Over the file's recipients, as the dry run counts them: what the campaign bills.
    segments: plan.checked.segments,
  };
  const cost = estimateCost(plan.checked.segments, plan.pricePerSegment);
  if (cost !== undefined) {
    summary.pricePerSegment = plan.pricePerSegment!;
    summary.estimatedCost = cost;
  }
  if (plan.journal.path !== undefined) summary.journal = plan.journal.path;
  if (previous !== undefined) summary.previous = previous;
  if (shared !== undefined) {
    summary.worker = shared.worker;
    summary.queue = await shared.totals();
  }
  if (plan.json) {
    io.stdout(JSON.stringify(summary));
  } else {
    io.stdout(
      formatSummary(summary, { color: Deno.stdout.isTerminal() && !io.env.get("NO_COLOR") }),
    );
    if (summary.queue !== undefined) io.stdout(`  ${describeQueueTotals(summary.queue)}`);
    io.stdout(
      `  ${plural(summary.segments, "segment")} for the file's ` +
        `${plural(plan.checked.recipients, "message")} (${
          plan.checked.encodings["UCS-2"]
        } in UCS-2)` +
        (cost === undefined ? "" : `; estimated cost ${formatCost(cost)}`),
    );
  }
  if (shared !== undefined && shared.lost > 0) {
    io.stderr(
      `${shared.lost} queue entries were completed by another worker that took them over ` +
        "first; give every worker the same, longer --redis-reclaim-after",
    );
  }
  if (result.stoppedBy === "auth") {
    io.stderr(
      `the API refused the credentials (${result.stopReason}); check VONAGE_APPLICATION_ID ` +
        "and that the private key belongs to that application. Unsent recipients stay pending.",
    );
  } else if (result.stoppedBy === "payment") {
    io.stderr(
      `the account is out of credit (${result.stopReason}); top it up and rerun: ` +
        "the journal skips everyone already sent.",
    );
  } else if (result.stoppedBy === "unexpected") {
    io.stderr(
      `the API answered ${result.stopReason}, which the Messages API does not answer for a ` +
        `message; check --base-url (${plan.baseUrl}). Unsent recipients stay pending.`,
    );
  } else if (result.stoppedBy === "request") {
    io.stderr(
      `the API refused the request itself (${result.stopReason}): every message would meet ` +
        "the same answer, so the run stopped after the first. Fix that option (--from, " +
        "--text) and rerun the same command: unsent recipients stay pending, and the journal " +
        "takes the fix as long as nothing was accepted yet.",
    );
  }
}

/**
 * First Ctrl-C (or SIGTERM): admit no new sends, let those in flight finish.
 * Second: leave at once; every `sending` record is on disk, and unfinished ones
 * replay as uncertain.
 */
function listenForInterrupts(progress: Progress): { signal: AbortSignal; dispose(): void } {
  const stop = new AbortController();
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    if (interrupts === 1) {
      progress.log(
        "stopping: letting requests in flight finish (up to 10 s); Ctrl-C again to quit at once",
      );
      stop.abort(new Error("interrupted"));
    } else {
      Deno.exit(130);
    }
  };
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  for (const name of signals) Deno.addSignalListener(name, onInterrupt);
  return {
    signal: stop.signal,
    dispose: () => {
      for (const name of signals) Deno.removeSignalListener(name, onInterrupt);
    },
  };
}

/**
 * The most requests that can be in flight at once: a request lasts at most
 * `--timeout`, and the limiter starts at most `burst + rate × timeout` of them in
 * that time. More workers than that would only wait in the limiter's queue (and
 * hold memory), so `--concurrency` above it changes nothing but the cost.
 */
export function inFlightCap(
  plan: Pick<SendPlan, "concurrency" | "ratePerSecond" | "burst" | "timeoutMs">,
): number {
  const reachable = plan.burst + Math.ceil(plan.ratePerSecond * plan.timeoutMs / 1000);
  return Math.max(1, Math.min(plan.concurrency, reachable));
}

/** How many numbers an earlier run left in each state. */
function tallyPrevious(
  previous: ReadonlyMap<string, JournalState>,
): Record<JournalState["state"], number> {
  const tally = { accepted: 0, failed: 0, uncertain: 0, pending: 0 };
  for (const { state } of previous.values()) tally[state]++;
  return tally;
}

function describeResume(
  path: string,
  tally: Record<JournalState["state"], number>,
  tornLines: number,
  plan: SendPlan,
): string {
  const skipped = plan.resendUncertain ? "accepted and failed" : "accepted, failed and uncertain";
  const uncertain = tally.uncertain === 0
    ? ""
    : plan.resendUncertain
    ? `; resending the ${tally.uncertain} uncertain (--resend-uncertain)`
    : `; the ${tally.uncertain} uncertain may have been accepted: --resend-uncertain sends ` +
      "them again";
  return `resuming ${path}: earlier runs left ${tally.accepted} accepted, ${tally.failed} ` +
    `failed, ${tally.uncertain} uncertain, ${tally.pending} pending; skipping the ${skipped}` +
    uncertain +
    (tornLines > 0 ? " (a torn last line from a crash was dropped)" : "");
}

/**
 * 0 only when every recipient of the file is accepted, counting what earlier
 * runs decided: a rerun that skips numbers left failed or uncertain is not done.
 */
function exitCodeFor(result: SendJobResult, leftByEarlierRuns: number): number {
  if (result.stoppedBy === "interrupt") return 130;
  // Credentials, endpoint or the request itself: the user's setup, to fix before anything
  // more is sent.
  if (
    result.stoppedBy === "auth" || result.stoppedBy === "unexpected" ||
    result.stoppedBy === "request"
  ) {
    return 2;
  }
  if (result.failed > 0 || result.uncertain > 0 || result.pending > 0) return 1;
  return leftByEarlierRuns > 0 ? 1 : 0;
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.message === "" ? error.name : `${error.name}: ${error.message}`;
}
