/**
 * When a send job stops, and how: admission (may a new request start?), the
 * gate that holds every worker but the first until the first answer, and the
 * cut-off of requests in flight after a grace period. The first reason to stop
 * wins; later ones change nothing.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";

/** Why a run stopped before the end. */
export type StopCause = "auth" | "payment" | "unexpected" | "request" | "interrupt" | "error";

/** The run stopped (auth, payment or interrupt): a message that was not sent stays pending. */
export class RunStopped extends Error {}

/** Options for {@linkcode RunControl}. */
export interface RunControlOptions {
  /** Aborting stops admission (a first Ctrl-C). */
  signal?: AbortSignal | undefined;
  /** Aborting stops admission and cuts requests in flight off at once (a second Ctrl-C). */
  hardSignal?: AbortSignal | undefined;
  /** How long requests in flight may take after a stop; `Infinity` waits for every answer. */
  graceMs: number;
  /** Where time comes from. */
  clock: Clock;
}

/**
 * The stop state of one send job.
 *
 * @example Stopping a run
 * ```ts
 * import { realClock } from "../core/clock.ts";
 * import { RunControl } from "./run_control.ts";
 *
 * const control = new RunControl({ graceMs: 0, clock: realClock });
 * control.stop("payment", "402 Payment Required");
 * console.log(control.admission.aborted, control.stoppedBy); // true "payment"
 * control.dispose();
 * ```
 */
export class RunControl {
  readonly #admission = new AbortController();
  readonly #inFlight = new AbortController();
  readonly #graceTimer = new AbortController();
  readonly #options: RunControlOptions;
  #openGate!: () => void;
  /** Settles once the first answer has been acted on, or the run stopped. */
  readonly firstAnswer: Promise<void> = new Promise<void>((resolve) => (this.#openGate = resolve));
  /** Why the run stopped, if it did (the first cause). */
  stoppedBy: StopCause | undefined;
  /** The answer or event that stopped it, for people. */
  stopReason: string | undefined;
  /** The first unexpected error (a bug, a broken journal): rethrown when the job ends. */
  unexpected: { error: unknown } | undefined;

  constructor(options: RunControlOptions) {
    this.#options = options;
    const { signal, hardSignal, graceMs, clock } = options;
    this.#admission.signal.addEventListener("abort", () => {
      this.#openGate();
      // A grace period of Infinity means "wait for every answer": no timer at all.
      if (Number.isFinite(graceMs)) {
        clock.sleep(graceMs, this.#graceTimer.signal).then(() => this.cutOff(), () => {});
      }
    }, { once: true });
    if (signal?.aborted) this.#onCallerAbort();
    signal?.addEventListener("abort", this.#onCallerAbort, { once: true });
    if (hardSignal?.aborted) this.#onHardAbort();
    hardSignal?.addEventListener("abort", this.#onHardAbort, { once: true });
  }

  /** Aborts when no new request may start. */
  get admission(): AbortSignal {
    return this.#admission.signal;
  }

  /** Aborts when requests in flight are cut off. */
  get inFlight(): AbortSignal {
    return this.#inFlight.signal;
  }

  /** Let the other workers start: the first answer is in (or there will be none). */
  openGate(): void {
    this.#openGate();
  }

  /** Stop admitting new requests; the first cause and reason are kept. */
  stop(why: StopCause, reason: string): void {
    if (this.stoppedBy === undefined) {
      this.stoppedBy = why;
      this.stopReason = reason;
    }
    if (!this.#admission.signal.aborted) this.#admission.abort(new RunStopped(reason));
  }

  /** Stop because of something unexpected; the first error is kept to be rethrown. */
  fail(error: unknown): void {
    this.unexpected ??= { error };
    this.stop("error", error instanceof Error ? error.message : String(error));
  }

  /** Cut requests in flight off now. */
  cutOff(): void {
    if (!this.#inFlight.signal.aborted) this.#inFlight.abort(new RunStopped("cut off"));
  }

  /** Remove the listeners and the grace timer; open the gate for anyone still waiting. */
  dispose(): void {
    this.#options.signal?.removeEventListener("abort", this.#onCallerAbort);
    this.#options.hardSignal?.removeEventListener("abort", this.#onHardAbort);
    this.#graceTimer.abort();
    this.#openGate();
  }

  #onCallerAbort = (): void => this.stop("interrupt", "interrupted");

  // A hard stop is a stop too: nothing new may start, or it would go out with an aborted signal.
  #onHardAbort = (): void => {
    this.stop("interrupt", "interrupted");
    this.cutOff();
  };
}
