/**
 * The bulk send: one SMS per recipient, paced by a limiter, retried by policy,
 * every outcome journaled.
 *
 * Each message follows the server-answer table in DESIGN.md:
 *
 * | answer | what the job does |
 * |---|---|
 * | accepted | record it; done |
 * | throttled (429) | pause the shared limiter (the server's hint, else one token interval), ease the rate a little, retry |
 * | unavailable (503), not-sent | retry with backoff or the server's hint |
 * | auth (401 after a fresh token, 403) | stop the whole run; unsent recipients stay pending |
 * | payment (402) | stop the whole run |
 * | rejected (400, 413, 422 …) | record it failed; continue |
 * | uncertain (500, timeout …) | record it uncertain, or retry with `retryUncertain` |
 *
 * Every attempt, first or retry, takes a token from the one limiter, and a
 * `sending` record is durable before the request leaves. Retries happen here
 * and only here: the client makes one attempt.
 *
 * @module
 */

import type { BackoffOptions } from "./backoff.ts";
import { type Clock, realClock } from "./clock.ts";
import type { JournalState } from "./journal.ts";
import type { Limiter } from "./limiter.ts";
import type { Recipient } from "./recipients.ts";
import { retry, RetryError } from "./retry.ts";
import type { SendOutcome, SmsMessage } from "./vonage/messages.ts";

/** What the job needs from a journal (see `lib/journal.ts`). */
export interface SendJournal {
  /** Durably record that a request for `to` is about to leave. */
  sending(to: string): Promise<void>;
  /** The last request for `to` was definitely not accepted: it is pending again. */
  released(to: string, reason: string): Promise<void>;
  /** Record that `to` was accepted. */
  accepted(to: string, messageUuid: string): Promise<void>;
  /** Record that `to` failed for good. */
  failed(to: string, reason: string): Promise<void>;
  /** Record that `to` may or may not have been accepted. */
  uncertain(to: string, reason: string): Promise<void>;
}

/** The one call the job makes to the API. */
export type SendSms = (
  message: SmsMessage,
  options: { signal: AbortSignal },
) => Promise<SendOutcome>;

/** Counters the job keeps while it runs. */
export interface SendCounts {
  /** Recipients handed to the job (after validation and de-duplication). */
  total: number;
  /** Accepted by the server in this run. */
  accepted: number;
  /** Failed for good in this run. */
  failed: number;
  /** Ended in doubt in this run. */
  uncertain: number;
  /** Skipped because an earlier run already decided them. */
  skipped: number;
  /** HTTP requests made (first tries and retries). */
  attempts: number;
  /** 429 answers received. */
  throttled: number;
}

/** What {@linkcode runSendJob} returns. */
export interface SendJobResult extends SendCounts {
  /** Failure reasons and how many messages each one ended. */
  failedByReason: Record<string, number>;
  /** Recipients never decided because the run stopped early. */
  pending: number;
  /** Why the run stopped before the end, if it did. */
  stoppedBy?: "auth" | "payment" | "interrupt" | "error";
  /** The answer that stopped the run, for people. */
  stopReason?: string;
  /** Milliseconds from the first send to the last answer. */
  elapsedMs: number;
  /** The pace achieved: accepted messages after the first, per second of `elapsedMs`. */
  achievedRatePerSecond: number;
}

/** Options for {@linkcode runSendJob}. */
export interface SendJobOptions {
  /** Sends one SMS; usually `client.sendSms` of a Vonage client. Required. */
  sendSms: SendSms;
  /** Paces every request, first tries and retries alike. Required. */
  limiter: Limiter;
  /** The sender (`from`) for every message. Required. */
  from: string;
  /** The text for recipients without their own. Required. */
  text: string;
  /** Where outcomes go. Required (pass a journal that writes nothing to opt out). */
  journal: SendJournal;
  /**
   * Decisions from an earlier run (a journal's `previous`): accepted and failed
   * numbers are skipped; uncertain ones too unless `resendUncertain`; pending
   * ones are sent.
   *
   * @default {new Map()}
   */
  previous?: ReadonlyMap<string, JournalState>;
  /**
   * The most requests in flight at once.
   *
   * @default {16}
   */
  concurrency?: number;
  /**
   * Per-message time budget in milliseconds, from its first attempt.
   *
   * @default {300000}
   */
  maxTimeMs?: number;
  /**
   * Per-message attempts in total, counting the first.
   *
   * @default {Infinity}
   */
  maxTries?: number;
  /**
   * The retry schedule; `baseMs` defaults to one token interval of `ratePerSecond`
   * (at least 10 ms, at most 1 s).
   *
   * @default {{ strategy: "exponential", jitter: "full" }}
   */
  backoff?: BackoffOptions;
  /**
   * The configured rate, used for the default backoff base, the pause after a
   * 429 without a hint, and the summary.
   *
   * @default {1}
   */
  ratePerSecond?: number;
  /**
   * After each 429, lower the limiter's rate by this share (via `setRate`, when
   * the limiter has one), never below `minRateShare` of the configured rate: a
   * strict server turns arrival jitter into 429s, so the job learns a margin
   * instead of repeating them. 0 turns it off.
   *
   * @default {0.02}
   */
  easeOnThrottle?: number;
  /**
   * The lowest share of `ratePerSecond` that easing may reach.
   *
   * @default {0.8}
   */
  minRateShare?: number;
  /**
   * Retry messages whose outcome is uncertain (they may be sent twice).
   *
   * @default {false}
   */
  retryUncertain?: boolean;
  /**
   * Send again to numbers an earlier run left uncertain (they may be sent twice).
   *
   * @default {false}
   */
  resendUncertain?: boolean;
  /**
   * Aborting stops admitting new sends; requests in flight finish (see `graceMs`).
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * After `signal` aborts, how long in-flight requests may take before they are
   * cut off (and recorded uncertain).
   *
   * @default {10000}
   */
  graceMs?: number;
  /**
   * Aborting cuts in-flight requests off at once (a second Ctrl-C).
   *
   * @default {undefined}
   */
  hardSignal?: AbortSignal;
  /**
   * Called after every answer and decision, for progress displays.
   *
   * @default {undefined}
   */
  onProgress?: (counts: Readonly<SendCounts>) => void;
  /**
   * Where time comes from.
   *
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * The source of randomness for jitter, in [0, 1).
   *
   * @default {Math.random}
   */
  random?: () => number;
}

type SetRate = { setRate(ratePerSecond: number, burst?: number): void; ratePerSecond: number };

function canSetRate(limiter: Limiter): limiter is Limiter & SetRate {
  const candidate = limiter as Partial<SetRate>;
  return typeof candidate.setRate === "function" && typeof candidate.ratePerSecond === "number";
}

/** The run stopped (auth, payment or interrupt): a message that was not sent stays pending. */
class RunStopped extends Error {}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Retrying these cannot cause a duplicate: the server did not take the message. */
function isNotAccepted(outcome: SendOutcome): boolean {
  return outcome.kind === "throttled" || outcome.kind === "unavailable" ||
    outcome.kind === "not-sent";
}

function describeOutcome(outcome: SendOutcome): string {
  switch (outcome.kind) {
    case "accepted":
      return "accepted";
    case "uncertain":
    case "not-sent":
      return outcome.reason;
    case "rejected": {
      const fields = outcome.invalidParameters.map((p) => `${p.name}: ${p.reason}`).join("; ");
      const what = [outcome.title, outcome.detail].filter((part) => part !== "").join(": ");
      return `${outcome.status} ${what}${fields === "" ? "" : ` (${fields})`}`;
    }
    default:
      return `${outcome.status} ${outcome.title}`;
  }
}

/**
 * Send one SMS to each recipient, as fast as the limiter allows, and record
 * every outcome. Resolves when every recipient is decided or the run stopped;
 * never rejects for an API answer (only for bugs or a failing journal).
 *
 * @example Sending to a list through a paced client
 * ```ts ignore
 * import { runSendJob } from "./send_job.ts";
 * import { TokenBucket } from "./token_bucket.ts";
 *
 * const result = await runSendJob(recipients, {
 *   sendSms: client.sendSms,
 *   limiter: new TokenBucket({ ratePerSecond: 1 }),
 *   from: "Politely",
 *   text: "Hello!",
 *   journal,
 * });
 * console.log(result.accepted, result.failed, result.uncertain);
 * ```
 */
export async function runSendJob(
  recipients: AsyncIterable<Recipient> | Iterable<Recipient>,
  options: SendJobOptions,
): Promise<SendJobResult> {
  const {
    sendSms,
    limiter,
    from,
    text,
    journal,
    previous = new Map<string, JournalState>(),
    concurrency = 16,
    maxTimeMs = 300_000,
    maxTries = Infinity,
    ratePerSecond = 1,
    easeOnThrottle = 0.02,
    minRateShare = 0.8,
    retryUncertain = false,
    resendUncertain = false,
    signal,
    graceMs = 10_000,
    hardSignal,
    onProgress,
    clock = realClock,
    random = Math.random,
  } = options;
  if (!(concurrency >= 1)) {
    throw new RangeError(
      `Cannot run send job: 'concurrency' must be at least 1, current value is ${concurrency}`,
    );
  }
  if (!(ratePerSecond > 0)) {
    throw new RangeError(
      `Cannot run send job: 'ratePerSecond' must be a positive number, current value is ${ratePerSecond}`,
    );
  }
  const intervalMs = 1000 / ratePerSecond;
  const backoff: BackoffOptions = {
    strategy: "exponential",
    jitter: "full",
    capMs: 60_000,
    ...options.backoff,
    baseMs: options.backoff?.baseMs ?? Math.min(1000, Math.max(10, intervalMs)),
    random: options.backoff?.random ?? random,
  };
  const floorRate = ratePerSecond * minRateShare;

  const counts: SendCounts = {
    total: 0,
    accepted: 0,
    failed: 0,
    uncertain: 0,
    skipped: 0,
    attempts: 0,
    throttled: 0,
  };
  const failedByReason: Record<string, number> = {};
  let pending = 0;
  let stoppedBy: SendJobResult["stoppedBy"];
  let stopReason: string | undefined;
  let unexpected: { error: unknown } | undefined;
  let firstSendMs: number | undefined;
  let lastAnswerMs: number | undefined;

  // Admission: aborted by the caller's signal or by a run-stopping answer.
  const admission = new AbortController();
  const stopRun = (why: NonNullable<SendJobResult["stoppedBy"]>, reason: string) => {
    if (stoppedBy === undefined) {
      stoppedBy = why;
      stopReason = reason;
    }
    if (!admission.signal.aborted) admission.abort(new RunStopped(reason));
  };
  const onCallerAbort = () => stopRun("interrupt", "interrupted");
  if (signal?.aborted) onCallerAbort();
  signal?.addEventListener("abort", onCallerAbort, { once: true });

  // In flight: cut off when the grace period after a stop runs out, or at once on hardSignal.
  const inFlight = new AbortController();
  const cutOff = () => {
    if (!inFlight.signal.aborted) inFlight.abort(new RunStopped("cut off"));
  };
  if (hardSignal?.aborted) cutOff();
  hardSignal?.addEventListener("abort", cutOff, { once: true });

  // The first request goes alone: bad credentials cost one request (plus the
  // client's one re-mint), not one per worker.
  let openGate!: () => void;
  const firstAnswer = new Promise<void>((resolve) => (openGate = resolve));
  let gateOpened = false;
  const openTheGate = () => {
    if (!gateOpened) {
      gateOpened = true;
      openGate();
    }
  };
  admission.signal.addEventListener("abort", openTheGate, { once: true });

  const progress = () => onProgress?.(counts);

  const decide = async (to: string, outcome: SendOutcome): Promise<void> => {
    lastAnswerMs = clock.now();
    switch (outcome.kind) {
      case "accepted":
        counts.accepted++;
        await journal.accepted(to, outcome.messageUuid);
        break;
      case "rejected": {
        const reason = describeOutcome(outcome);
        counts.failed++;
        failedByReason[reason] = (failedByReason[reason] ?? 0) + 1;
        await journal.failed(to, reason);
        break;
      }
      case "uncertain":
        counts.uncertain++;
        await journal.uncertain(to, outcome.reason);
        break;
      default: {
        // Not accepted, and retries are over: a definite failure.
        const reason = `gave up: ${describeOutcome(outcome)}`;
        counts.failed++;
        failedByReason[reason] = (failedByReason[reason] ?? 0) + 1;
        await journal.failed(to, reason);
      }
    }
    progress();
  };

  const sendOne = async (recipient: Recipient): Promise<void> => {
    const { to } = recipient;
    const message: SmsMessage = { to, from, text: recipient.text ?? text };
    let last: SendOutcome | undefined;
    let outcome: SendOutcome;
    try {
      outcome = await retry(async ({ signal: admitted }) => {
        await limiter.take(1, { signal: admitted });
        await journal.sending(to);
        firstSendMs ??= clock.now();
        counts.attempts++;
        let answer: SendOutcome;
        try {
          answer = await sendSms(message, { signal: inFlight.signal });
        } catch (error) {
          // sendSms throws only before the request leaves: nothing was sent.
          await journal.released(to, "not sent: " + describeError(error));
          throw error;
        }
        last = answer;
        openTheGate();
        if (answer.kind === "throttled") {
          counts.throttled++;
          limiter.pause?.(answer.retryAfterMs ?? intervalMs);
          limiter.observe?.("throttled");
          if (easeOnThrottle > 0 && canSetRate(limiter)) {
            limiter.setRate(Math.max(floorRate, limiter.ratePerSecond * (1 - easeOnThrottle)));
          }
        } else if (answer.kind === "accepted") {
          limiter.observe?.("accepted");
        }
        if (isNotAccepted(answer) || answer.kind === "auth" || answer.kind === "payment") {
          await journal.released(to, describeOutcome(answer));
        }
        if (answer.kind === "auth") stopRun("auth", describeOutcome(answer));
        if (answer.kind === "payment") stopRun("payment", describeOutcome(answer));
        progress();
        return answer;
      }, {
        signal: admission.signal,
        clock,
        maxAttempts: maxTries,
        maxElapsedMs: maxTimeMs,
        backoff,
        retryOn: () => false,
        retryOnResult: (answer) =>
          isNotAccepted(answer) || (retryUncertain && answer.kind === "uncertain"),
        delayHint: (answer) =>
          answer !== null && typeof answer === "object" && "retryAfterMs" in answer
            ? (answer as { retryAfterMs?: number }).retryAfterMs
            : undefined,
      });
    } catch (error) {
      if (error instanceof RetryError && last !== undefined) {
        await decide(to, last);
        return;
      }
      if (!admission.signal.aborted) {
        // A bug or a broken journal: stop admitting, let the others finish, then report it.
        unexpected ??= { error };
        stopRun("error", describeError(error));
      }
      // Stopped before this message was decided: it stays pending (the journal
      // holds a `released` record for any attempt that was refused).
      pending++;
      progress();
      return;
    }
    if (outcome.kind === "auth" || outcome.kind === "payment") {
      pending++;
      progress();
      return;
    }
    await decide(to, outcome);
  };

  const iterator =
    (Symbol.asyncIterator in recipients
      ? (recipients as AsyncIterable<Recipient>)[Symbol.asyncIterator]()
      : (recipients as Iterable<Recipient>)[Symbol.iterator]()) as
        | AsyncIterator<Recipient>
        | Iterator<Recipient>;
  const worker = async (index: number): Promise<void> => {
    // Workers other than the first start once the first answer is in.
    if (index > 0) await firstAnswer;
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        const recipient = next.value;
        counts.total++;
        const before = previous.get(recipient.to)?.state;
        if (admission.signal.aborted) {
          pending++;
        } else if (
          before === "accepted" || before === "failed" ||
          (before === "uncertain" && !resendUncertain)
        ) {
          counts.skipped++;
        } else {
          await sendOne(recipient);
          continue;
        }
        progress();
      }
    } finally {
      if (index === 0) openTheGate();
    }
  };

  let graceTimer: AbortController | undefined;
  const onStop = () => {
    graceTimer = new AbortController();
    clock.sleep(graceMs, graceTimer.signal).then(cutOff, () => {});
  };
  admission.signal.addEventListener("abort", onStop, { once: true });

  try {
    const workers = Math.max(1, Math.floor(Math.min(concurrency, 1_000_000)));
    await Promise.all(Array.from({ length: workers }, (_, i) => worker(i)));
  } finally {
    signal?.removeEventListener("abort", onCallerAbort);
    hardSignal?.removeEventListener("abort", cutOff);
    admission.signal.removeEventListener("abort", onStop);
    graceTimer?.abort();
    openTheGate();
  }
  if (unexpected) throw unexpected.error;

  const elapsedMs = firstSendMs === undefined || lastAnswerMs === undefined
    ? 0
    : Math.max(0, lastAnswerMs - firstSendMs);
  const result: SendJobResult = {
    ...counts,
    failedByReason,
    pending,
    elapsedMs,
    achievedRatePerSecond: elapsedMs > 0 && counts.accepted > 1
      ? (counts.accepted - 1) / (elapsedMs / 1000)
      : 0,
  };
  if (stoppedBy !== undefined) result.stoppedBy = stoppedBy;
  if (stopReason !== undefined) result.stopReason = stopReason;
  return result;
}
