/**
 * The mock's status webhooks: for each accepted message, what Vonage would post to the
 * message's `webhook_url` (or the application's status URL) later, signed as Vonage
 * signs them (HS256 with the signature secret, `payload_hash` of the body).
 *
 * The model, per message, with a seeded draw: **delivered** (`submitted` with the price,
 * then `delivered`), **undeliverable** (`submitted` with the price, then
 * `undeliverable`, error 1100), or **rejected** (`rejected` alone, error 1050, no price:
 * Vonage charges an SMS when it is submitted). Each webhook is posted `delayMs` after
 * the one before it (the first, `delayMs` after acceptance). A webhook answered 5xx, or
 * not answered (refused connection, timeout), is posted again after 1, 2, 4 … ×
 * `retryBaseMs` (at most `retryCapMs`), each time with a fresh token; one answered
 * 2xx or 4xx is done. All waits are on the injected clock; `close()` stops them all.
 *
 * @module
 */

import { type Clock, realClock } from "../core/clock.ts";
import { createRandom } from "../core/seeded_random.ts";
import { signWebhookBody } from "../vonage/webhook_signature.ts";

/**
 * Options for {@linkcode StatusWebhookSender}.
 *
 * @example 5% undeliverable, receipts after half a second
 * ```ts
 * import type { StatusWebhookOptions } from "./status_webhooks.ts";
 *
 * const options: StatusWebhookOptions = {
 *   signatureSecret: "the account's signature secret",
 *   url: "http://127.0.0.1:8788/webhooks/status",
 *   delayMs: 500,
 *   undeliverableRate: 0.05,
 * };
 * console.log(options.undeliverableRate); // 0.05
 * ```
 */
export interface StatusWebhookOptions {
  /** The secret every webhook is signed with (the receiver's `--signature-secret`). Required. */
  signatureSecret: string;
  /**
   * Where webhooks go for messages sent without `webhook_url` (the application's status
   * URL). Without either, a message gets no webhooks.
   *
   * @default {undefined}
   */
  url?: string;
  /**
   * Milliseconds from acceptance to the first webhook, and between a message's webhooks.
   *
   * @default {1000}
   */
  delayMs?: number;
  /**
   * Share of messages rejected, 0 to 1.
   *
   * @default {0}
   */
  rejectedRate?: number;
  /**
   * Share of messages undeliverable, 0 to 1 (with `rejectedRate`, at most 1).
   *
   * @default {0}
   */
  undeliverableRate?: number;
  /**
   * The price of a submitted message, a decimal string.
   *
   * @default {"0.0333"}
   */
  price?: string;
  /**
   * The currency of `price`.
   *
   * @default {"EUR"}
   */
  currency?: string;
  /**
   * Milliseconds before the first retry of a webhook answered 5xx or not at all; each
   * further retry waits twice as long.
   *
   * @default {1000}
   */
  retryBaseMs?: number;
  /**
   * The longest wait between retries, in milliseconds.
   *
   * @default {60000}
   */
  retryCapMs?: number;
  /**
   * Attempts per webhook before it is given up.
   *
   * @default {20}
   */
  maxAttempts?: number;
  /**
   * Milliseconds an attempt may take before it counts as not answered.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * Seed of the outcome draws: the same seed and the same messages give the same outcomes.
   *
   * @default {a random seed}
   */
  seed?: number;
  /**
   * Time for every delay, retry wait and timeout. Tokens and timestamps use the wall clock.
   *
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * How webhooks are posted (a test can route them in-process).
   *
   * @default {globalThis.fetch}
   */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
}

/**
 * What the mock decided would become of one message.
 *
 * @example Counting undeliverable messages
 * ```ts
 * import type { PlannedOutcome } from "./status_webhooks.ts";
 *
 * const plans: PlannedOutcome[] = [{ message_uuid: "m-1", to: "14155550100", status: "undeliverable", price: "0.0333" }];
 * console.log(plans.filter((p) => p.status === "undeliverable").length); // 1
 * ```
 */
export interface PlannedOutcome {
  /** The message. */
  message_uuid: string;
  /** Its recipient. */
  to: string;
  /** Its final status. */
  status: "delivered" | "rejected" | "undeliverable";
  /** What it costs (`undefined` when rejected). */
  price?: string;
}

/**
 * Counts of the webhook sender (in the mock's `GET /stats` as `webhooks`).
 *
 * @example Waiting until every webhook is through
 * ```ts
 * import type { StatusWebhookStats } from "./status_webhooks.ts";
 *
 * const stats: StatusWebhookStats = { messages: 2, posted: 4, answered: 4, retried: 1, abandoned: 0, pending: 0 };
 * console.log(stats.pending === 0); // true
 * ```
 */
export interface StatusWebhookStats {
  /** Messages given webhooks. */
  messages: number;
  /** Attempts made (each a POST). */
  posted: number;
  /** Webhooks answered 2xx: done. */
  answered: number;
  /** Attempts answered 5xx or not at all, and so made again. */
  retried: number;
  /** Webhooks given up: answered 4xx, or `maxAttempts` reached. */
  abandoned: number;
  /** Messages whose webhooks are not all done yet. */
  pending: number;
}

/**
 * The fields of an accepted message that its webhooks carry.
 *
 * @example A message with its own webhook URL
 * ```ts
 * import type { WebhookMessage } from "./status_webhooks.ts";
 *
 * const message: WebhookMessage = {
 *   message_uuid: "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
 *   to: "14155550100",
 *   from: "Acme",
 *   webhook_url: "http://127.0.0.1:8788/webhooks/status",
 * };
 * console.log(message.webhook_url);
 * ```
 */
export interface WebhookMessage {
  /** The id the mock answered with. */
  message_uuid: string;
  /** The recipient. */
  to: string;
  /** The sender. */
  from: string;
  /** Echoed in every webhook when given. */
  client_ref?: string;
  /** Where this message's webhooks go instead of `url`. */
  webhook_url?: string;
}

/**
 * Posts the status webhooks of accepted messages, in the background.
 *
 * @example Sending the webhooks of one message
 * ```ts ignore
 * import { StatusWebhookSender } from "./status_webhooks.ts";
 *
 * await using sender = new StatusWebhookSender({ signatureSecret: "s3cret", url: "http://127.0.0.1:8788/" });
 * sender.schedule({ message_uuid: crypto.randomUUID(), to: "14155550100", from: "Acme" });
 * await sender.idle();
 * ```
 */
export class StatusWebhookSender implements AsyncDisposable {
  readonly #secret: string;
  readonly #url: string | undefined;
  readonly #delayMs: number;
  readonly #rejectedRate: number;
  readonly #undeliverableRate: number;
  readonly #price: string;
  readonly #currency: string;
  readonly #retryBaseMs: number;
  readonly #retryCapMs: number;
  readonly #maxAttempts: number;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #fetch: (input: string, init: RequestInit) => Promise<Response>;
  readonly #random: () => number;
  readonly #closing = new AbortController();
  readonly #tasks = new Set<Promise<void>>();
  readonly #planned: PlannedOutcome[] = [];
  #idleWaiters: Array<() => void> = [];
  #stats: StatusWebhookStats = {
    messages: 0,
    posted: 0,
    answered: 0,
    retried: 0,
    abandoned: 0,
    pending: 0,
  };

  /**
   * Check the options; nothing is posted before {@linkcode StatusWebhookSender.schedule}.
   *
   * @throws {TypeError} for an empty secret or a `url` that is not http(s).
   * @throws {RangeError} for a number option out of range.
   */
  constructor(options: StatusWebhookOptions) {
    const {
      signatureSecret,
      url,
      delayMs = 1000,
      rejectedRate = 0,
      undeliverableRate = 0,
      price = "0.0333",
      currency = "EUR",
      retryBaseMs = 1000,
      retryCapMs = 60_000,
      maxAttempts = 20,
      timeoutMs = 5000,
      seed = Math.floor(Math.random() * 2 ** 31),
      clock = realClock,
      fetch = globalThis.fetch,
    } = options;
    const context = "Cannot create the mock's status webhooks";
    if (typeof signatureSecret !== "string" || signatureSecret === "") {
      throw new TypeError(`${context}: 'signatureSecret' must be a non-empty string`);
    }
    if (url !== undefined && !/^https?:\/\/./.test(url)) {
      throw new TypeError(
        `${context}: 'url' must be an http or https URL, current value is ${url}`,
      );
    }
    const share = (name: string, value: number) => {
      if (!(value >= 0 && value <= 1)) {
        throw new RangeError(
          `${context}: '${name}' must be from 0 to 1, current value is ${value}`,
        );
      }
    };
    share("rejectedRate", rejectedRate);
    share("undeliverableRate", undeliverableRate);
    share("rejectedRate + undeliverableRate", rejectedRate + undeliverableRate);
    for (const [name, value] of Object.entries({ delayMs, retryBaseMs, retryCapMs, timeoutMs })) {
      if (!(value >= 0 && value < Infinity)) {
        throw new RangeError(
          `${context}: '${name}' must be a non-negative number, current value is ${value}`,
        );
      }
    }
    if (!(Number.isInteger(maxAttempts) && maxAttempts >= 1)) {
      throw new RangeError(
        `${context}: 'maxAttempts' must be a whole number of at least 1, current value is ${maxAttempts}`,
      );
    }
    if (!/^\d+(\.\d+)?$/.test(price)) {
      throw new RangeError(
        `${context}: 'price' must be a decimal string like "0.0333", current value is ${price}`,
      );
    }
    this.#secret = signatureSecret;
    this.#url = url;
    this.#delayMs = delayMs;
    this.#rejectedRate = rejectedRate;
    this.#undeliverableRate = undeliverableRate;
    this.#price = price;
    this.#currency = currency;
    this.#retryBaseMs = retryBaseMs;
    this.#retryCapMs = retryCapMs;
    this.#maxAttempts = maxAttempts;
    this.#timeoutMs = timeoutMs;
    this.#clock = clock;
    this.#fetch = fetch;
    this.#random = createRandom(seed);
  }

  /** Counts so far. */
  stats(): StatusWebhookStats {
    return { ...this.#stats };
  }

  /** What was decided for each message given webhooks, in order. */
  planned(): PlannedOutcome[] {
    return this.#planned.map((plan) => ({ ...plan }));
  }

  /**
   * Plan and start the webhooks of an accepted message; they go to its `webhook_url`,
   * else to `url`, else nowhere (the message is then not counted).
   */
  schedule(message: WebhookMessage): void {
    const target = message.webhook_url ?? this.#url;
    if (target === undefined || this.#closing.signal.aborted) return;
    const draw = this.#random();
    const status = draw < this.#rejectedRate
      ? "rejected"
      : draw < this.#rejectedRate + this.#undeliverableRate
      ? "undeliverable"
      : "delivered";
    const plan: PlannedOutcome = { message_uuid: message.message_uuid, to: message.to, status };
    if (status !== "rejected") plan.price = this.#price;
    this.#planned.push(plan);
    this.#stats.messages++;
    this.#stats.pending++;
    const task = this.#deliver(target, message, plan)
      .catch(() => {
        // Stopped by close(), or a webhook that could not even be signed: given up.
        if (!this.#closing.signal.aborted) this.#stats.abandoned++;
      })
      .finally(() => {
        this.#tasks.delete(task);
        this.#stats.pending--;
        if (this.#tasks.size === 0) {
          for (const wake of this.#idleWaiters.splice(0)) wake();
        }
      });
    this.#tasks.add(task);
  }

  /** Resolve once every scheduled message's webhooks are done (answered or given up). */
  idle(): Promise<void> {
    if (this.#tasks.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stop every wait and attempt, and resolve once they have all stopped. */
  async close(): Promise<void> {
    this.#closing.abort(new DOMException("the mock is shutting down", "AbortError"));
    await Promise.allSettled([...this.#tasks]);
    for (const wake of this.#idleWaiters.splice(0)) wake();
  }

  /** Same as {@linkcode StatusWebhookSender.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #deliver(target: string, message: WebhookMessage, plan: PlannedOutcome): Promise<void> {
    const signal = this.#closing.signal;
    const statuses = plan.status === "rejected" ? ["rejected"] : ["submitted", plan.status];
    for (const status of statuses) {
      await this.#clock.sleep(this.#delayMs, signal);
      await this.#post(target, this.#body(message, status, plan));
    }
  }

  #body(message: WebhookMessage, status: string, plan: PlannedOutcome): string {
    const body: Record<string, unknown> = {
      message_uuid: message.message_uuid,
      to: message.to,
      from: message.from,
      timestamp: new Date().toISOString(),
      status,
      channel: "sms",
    };
    if (message.client_ref !== undefined) body.client_ref = message.client_ref;
    if (plan.price !== undefined && status !== "undeliverable") {
      body.usage = { currency: this.#currency, price: plan.price };
    }
    if (status === "rejected") body.error = ERRORS.rejected;
    if (status === "undeliverable") body.error = ERRORS.undeliverable;
    return JSON.stringify(body);
  }

  /** Post one webhook until it is answered, refused or given up. */
  async #post(target: string, body: string): Promise<void> {
    const signal = this.#closing.signal;
    for (let attempt = 1;; attempt++) {
      signal.throwIfAborted();
      const token = await signWebhookBody(body, this.#secret);
      this.#stats.posted++;
      const status = await this.#attempt(target, body, token);
      if (status !== undefined && status < 500) {
        if (status < 300) this.#stats.answered++;
        else this.#stats.abandoned++; // 4xx: Vonage does not retry those
        return;
      }
      if (attempt >= this.#maxAttempts) {
        this.#stats.abandoned++;
        return;
      }
      this.#stats.retried++;
      const waitMs = Math.min(this.#retryCapMs, this.#retryBaseMs * 2 ** Math.min(attempt - 1, 30));
      await this.#clock.sleep(waitMs, signal);
    }
  }

  /** One POST: its status, or `undefined` when it was not answered in time. */
  async #attempt(target: string, body: string, token: string): Promise<number | undefined> {
    const attempt = new AbortController();
    const stop = () => attempt.abort();
    this.#closing.signal.addEventListener("abort", stop, { once: true });
    const timer = this.#clock.sleep(this.#timeoutMs, attempt.signal).then(stop, () => {});
    try {
      const response = await this.#fetch(target, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body,
        signal: attempt.signal,
      });
      await response.body?.cancel();
      return response.status;
    } catch {
      this.#closing.signal.throwIfAborted();
      return undefined;
    } finally {
      this.#closing.signal.removeEventListener("abort", stop);
      attempt.abort();
      await timer;
    }
  }
}

/** Errors from Vonage's Messages API catalogue, for the mock's failed outcomes. */
const ERRORS = {
  rejected: {
    type: "https://developer.vonage.com/api-errors/messages#1050",
    title: "1050",
    detail: "Number barred: the number is on a block list and may not receive messages",
  },
  undeliverable: {
    type: "https://developer.vonage.com/api-errors/messages#1100",
    title: "1100",
    detail: "Communication failed: the message could not be passed to the carrier",
  },
};
