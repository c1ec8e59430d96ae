/**
 * How a send job ends each recipient: the journal record first, then the
 * counters and the `onSettled` hook, exactly once per recipient.
 *
 * @module
 */

import type { JournalState } from "./journal.ts";
import type { SendOutcome } from "../vonage/outcomes.ts";
import type { SendCounts, SendJournal, SendRecipient, SendSettlement } from "./send_job.ts";

/**
 * Counters at the start of a run: all zero.
 *
 * @example Showing progress before the first answer
 * ```ts
 * import { emptySendCounts } from "./settle.ts";
 *
 * const counts = emptySendCounts();
 * console.log(counts.accepted, counts.attempts); // 0 0
 * ```
 */
export function emptySendCounts(): SendCounts {
  return { total: 0, accepted: 0, failed: 0, uncertain: 0, skipped: 0, attempts: 0, throttled: 0 };
}

/** Retrying these cannot cause a duplicate: the server did not take the message. */
export function isNotAccepted(outcome: SendOutcome): boolean {
  return outcome.kind === "throttled" || outcome.kind === "unavailable" ||
    outcome.kind === "not-sent";
}

/**
 * Why an answer stops the whole run, or `undefined` if it does not: answers that every
 * later message would meet too (bad credentials, no credit, a wrong endpoint, a 422 about
 * the request rather than its recipient). The recipients then stay pending.
 */
export function runStopFor(
  outcome: SendOutcome,
): "auth" | "payment" | "unexpected" | "request" | undefined {
  if (outcome.kind === "auth" || outcome.kind === "payment" || outcome.kind === "unexpected") {
    return outcome.kind;
  }
  return isRequestRejection(outcome) ? "request" : undefined;
}

/** Whether an answer stops the whole run (see {@linkcode runStopFor}). */
export function stopsTheRun(outcome: SendOutcome): boolean {
  return runStopFor(outcome) !== undefined;
}

/**
 * A 422 whose invalid parameters are none of them the recipient (`from`, `text`,
 * `channel` …): a mistake in the request, the same for every message, not this
 * recipient's failure.
 */
export function isRequestRejection(outcome: SendOutcome): boolean {
  return outcome.kind === "rejected" && outcome.status === 422 &&
    outcome.invalidParameters.length > 0 &&
    outcome.invalidParameters.every((parameter) => parameter.name !== "to");
}

/** One answer, for people: the status and the server's own words. */
export function describeOutcome(outcome: SendOutcome): string {
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
 * Records each recipient's end and keeps the counts.
 *
 * @example Deciding one recipient
 * ```ts
 * import { Settler } from "./settle.ts";
 *
 * const journal = {
 *   sending: async () => {}, released: async () => {}, failed: async () => {},
 *   uncertain: async () => {}, accepted: async (to: string) => console.log("accepted", to),
 * };
 * const settler = new Settler({ journal });
 * await settler.decide({ line: 1, to: "447700900000" }, { kind: "accepted", messageUuid: "m-1" });
 * console.log(settler.counts.accepted); // 1
 * ```
 */
export class Settler<R extends SendRecipient = SendRecipient> {
  /** The run's counters. */
  readonly counts: SendCounts = emptySendCounts();
  /** Failure reasons and how many messages each one ended. */
  readonly failedByReason: Record<string, number> = {};
  /** Recipients left undecided because the run stopped. */
  pending = 0;
  readonly #journal: SendJournal;
  readonly #onSettled: ((recipient: R, settlement: SendSettlement) => Promise<void>) | undefined;
  readonly #onProgress: ((counts: Readonly<SendCounts>) => void) | undefined;

  constructor(options: {
    journal: SendJournal;
    onSettled?: ((recipient: R, settlement: SendSettlement) => Promise<void>) | undefined;
    onProgress?: ((counts: Readonly<SendCounts>) => void) | undefined;
  }) {
    this.#journal = options.journal;
    this.#onSettled = options.onSettled;
    this.#onProgress = options.onProgress;
  }

  /** Tell the progress listener the counts changed. */
  progress(): void {
    this.#onProgress?.(this.counts);
  }

  /** Record a final outcome of this run: accepted, failed or uncertain. */
  async decide(recipient: R, outcome: SendOutcome): Promise<void> {
    const { to } = recipient;
    let settlement: SendSettlement;
    switch (outcome.kind) {
      case "accepted":
        this.counts.accepted++;
        await this.#journal.accepted(to, outcome.messageUuid);
        settlement = { state: "accepted", messageUuid: outcome.messageUuid };
        break;
      case "rejected":
        settlement = await this.#fail(to, describeOutcome(outcome));
        break;
      case "uncertain":
        this.counts.uncertain++;
        await this.#journal.uncertain(to, outcome.reason);
        settlement = { state: "uncertain", reason: outcome.reason };
        break;
      default:
        // Not accepted, and retries are over: a definite failure.
        settlement = await this.#fail(to, `gave up: ${describeOutcome(outcome)}`);
    }
    // Counted first, so a failing hook still leaves the counts right.
    this.progress();
    await this.#onSettled?.(recipient, settlement);
  }

  /** Stopped before this recipient was decided: it stays pending. */
  async leavePending(recipient: R): Promise<void> {
    this.pending++;
    this.progress();
    await this.#onSettled?.(recipient, { state: "pending" });
  }

  /** An earlier run decided this recipient: not sent again. */
  async skip(recipient: R, previous: JournalState): Promise<void> {
    this.counts.skipped++;
    this.progress();
    await this.#onSettled?.(recipient, { state: "skipped", previous });
  }

  async #fail(to: string, reason: string): Promise<SendSettlement> {
    this.counts.failed++;
    this.failedByReason[reason] = (this.failedByReason[reason] ?? 0) + 1;
    await this.#journal.failed(to, reason);
    return { state: "failed", reason };
  }
}
