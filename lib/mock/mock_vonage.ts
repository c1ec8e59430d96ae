/**
 * A mock of the Vonage Messages API (`POST /v1/messages`, SMS only) as a Hono
 * app, with a real rate limit, for testing clients without an account.
 *
 * Design notes: `docs/design.md` (mock_vonage.ts).
 *
 * @module
 */

import { Hono } from "../deps/hono.ts";
import { type Clock, realClock } from "../core/clock.ts";
import { readBoundedBody } from "../core/read_bounded_body.ts";
import { createRandom, deriveSeed } from "../core/seeded_random.ts";
import { TokenBucket } from "../core/token_bucket.ts";
import { MockStatsRecorder, type MockVonageSecond, type MockVonageStats } from "./mock_stats.ts";
import { type InvalidParameter, type Problem, problem } from "./problem.ts";
import { type SmsFields, validateSms } from "./validate_sms.ts";
import {
  type PlannedOutcome,
  type StatusWebhookOptions,
  StatusWebhookSender,
  type StatusWebhookStats,
} from "./status_webhooks.ts";
import { importVerificationKey, VonageJwtVerifier } from "./verify_vonage_jwt.ts";

/**
 * Options for {@linkcode createMockVonage}.
 *
 * @example A mock with a limit, Retry-After and seeded faults
 * ```ts
 * import { createMockVonage, type MockVonageOptions } from "./mock_vonage.ts";
 *
 * const options: MockVonageOptions = {
 *   publicKey: await Deno.readTextFile("fixtures/test_public.pem"),
 *   applicationId: "app",
 *   ratePerSecond: 30,
 *   retryAfter: true, // tell throttled clients when to come back
 *   failRate: 0.01, // one request in a hundred answers 500
 *   seed: 42, // the same faults on every run
 * };
 * console.log((await createMockVonage(options)).stats().seed); // 42
 * ```
 */
export interface MockVonageOptions {
  /**
   * The application's public key, which every token must be signed with: an
   * SPKI PEM string (`-----BEGIN PUBLIC KEY-----`) or an RSASSA-PKCS1-v1_5
   * public `CryptoKey`. Required: auth is never silently switched off.
   */
  publicKey: string | CryptoKey;
  /** The application id every token must carry in `application_id`. Required. */
  applicationId: string;
  /**
   * Requests per second the bucket refills at. `0` or `Infinity` turns rate
   * limiting off. 1 is the US long-number SMS limit and the sandbox's.
   *
   * @default {1}
   */
  ratePerSecond?: number;
  /**
   * Tokens the bucket holds: how many requests may arrive at once after a
   * quiet spell. With 1, a request arriving a few ms early is refused, as on
   * strict real servers; 2 tolerates one early arrival.
   *
   * @default {1}
   */
  burst?: number;
  /**
   * Send `Retry-After` (whole seconds until the next token) on 429. Off by
   * default because real Vonage does not promise it: a client must cope without.
   *
   * @default {false}
   */
  retryAfter?: boolean;
  /**
   * Send the IETF `RateLimit` / `RateLimit-Policy` fields (draft 10) on every
   * answer that passed the rate limit check, and on 429. `r` is the tokens left,
   * `t` the whole seconds until the next token, and the policy the sustained
   * rate as `q` requests per `w` seconds.
   *
   * @default {false}
   */
  rateLimitHeaders?: boolean;
  /**
   * Share of otherwise acceptable requests answered `failStatus` (500), from
   * 0 to 1. These messages are not accepted.
   *
   * @default {0}
   */
  failRate?: number;
  /**
   * The status `failRate` answers with: 500, 502, 503 or 504 (a server
   * fault), or 402 (the account is out of credit, as Vonage says when the
   * balance runs low).
   *
   * @default {500}
   */
  failStatus?: 402 | 500 | 502 | 503 | 504;
  /**
   * Share of otherwise acceptable requests whose connection is closed with no
   * answer, from 0 to 1 (with `failRate`, at most 1 in total). These messages
   * are accepted. Over a socket the client sees a network error; through
   * `app.request()` the call rejects with a {@linkcode DroppedConnectionError}.
   *
   * @default {0}
   */
  dropRate?: number;
  /**
   * Milliseconds every answer of `POST /v1/messages` is held, on `clock`.
   *
   * @default {0}
   */
  latencyMs?: number;
  /**
   * Seed of the fault-injection draws: the same seed and the same requests
   * give the same faults. `stats().seed` reports the seed in use.
   *
   * @default {a random seed}
   */
  seed?: number;
  /**
   * Time for the rate limit, `latencyMs` and the statistics. Token times
   * (`iat`, `exp`) are always checked against the wall clock.
   *
   * @default {realClock}
   */
  clock?: Clock;
  /**
   * Largest request body accepted, in bytes; larger ones get 413.
   *
   * @default {65536}
   */
  maxBodyBytes?: number;
  /**
   * Most accepted messages kept for `GET /messages`; older ones are forgotten
   * first (the counts in `GET /stats` keep counting).
   *
   * @default {100000}
   */
  maxStoredMessages?: number;
  /**
   * The senders (`from`) registered to the account. When given, any other valid sender is
   * refused with 422 naming `from`, as Vonage refuses a sender it will not use: the same
   * answer for every message of a send.
   *
   * @default {undefined: any valid sender}
   */
  senders?: readonly string[];
  /**
   * Post signed status webhooks (delivery receipts) for every accepted message, as
   * Vonage does; see {@linkcode StatusWebhookSender}. Their `clock` defaults to the
   * mock's and their `seed` to one derived from the mock's. Call `close()` when done.
   *
   * @default {undefined: no webhooks}
   */
  statusWebhooks?: StatusWebhookOptions;
}

/**
 * A message the mock accepted, as listed by `GET /messages`.
 *
 * @example Checking what a client sent
 * ```ts
 * import { type AcceptedMessage, createMockVonage } from "./mock_vonage.ts";
 * import { createVonageClient } from "../vonage/mod.ts";
 *
 * const publicKey = await Deno.readTextFile("fixtures/test_public.pem");
 * const mock = await createMockVonage({ publicKey, applicationId: "app" });
 * const client = createVonageClient({
 *   applicationId: "app",
 *   privateKey: await Deno.readTextFile("fixtures/test_private.key"),
 *   fetch: async (input, init) => await mock.app.request(input, init),
 * });
 * await client.sendSms({ to: "447700900000", from: "Acme", text: "Hi" });
 * const [message]: AcceptedMessage[] = mock.messages();
 * console.log(message?.to, message?.answered); // 447700900000 true
 * ```
 */
export interface AcceptedMessage extends SmsFields {
  /** The id the mock answered with (or would have, for a dropped answer). */
  message_uuid: string;
  /** Milliseconds since the mock started, by its clock, when the request arrived. */
  timeMs: number;
  /** `false` when the mock accepted the message but dropped the connection instead of answering. */
  answered: boolean;
  /** The request's `User-Agent` header, when it had one. */
  user_agent?: string;
}

/**
 * The parts of the mock's Hono app that callers use. The object is a `Hono`
 * instance; this type names only what the mock promises, so the public API does
 * not depend on Hono's generics (mount it elsewhere with `mount(path, app.fetch)`).
 *
 * @example Answering requests without a socket
 * ```ts
 * import { createMockVonage, type MockVonageApp } from "./mock_vonage.ts";
 *
 * const publicKey = await Deno.readTextFile("fixtures/test_public.pem");
 * const app: MockVonageApp = (await createMockVonage({ publicKey, applicationId: "app" })).app;
 * const response = await app.fetch(new Request("http://localhost/stats"));
 * console.log(response.status); // 200
 * await response.body?.cancel();
 * ```
 */
export interface MockVonageApp {
  /** Answer a request: pass to `Deno.serve`, or mount in another server. */
  fetch(request: Request): Response | Promise<Response>;
  /** Answer a request in-process; a path like `"/v1/messages"` is resolved against `http://localhost`. */
  request(input: RequestInfo | URL, init?: RequestInit): Response | Promise<Response>;
}

/**
 * A mock Vonage Messages API: the Hono app and read access to what it saw.
 *
 * @example Asserting what the mock saw
 * ```ts
 * import { createMockVonage, type MockVonage } from "./mock_vonage.ts";
 *
 * const publicKey = await Deno.readTextFile("fixtures/test_public.pem");
 * const mock: MockVonage = await createMockVonage({ publicKey, applicationId: "app" });
 * const response = await mock.app.request("/v1/messages", { method: "POST" }); // no token
 * await response.body?.cancel();
 * console.log(mock.stats().byStatus, mock.messages().length); // { "401": 1 } 0
 * ```
 */
export interface MockVonage {
  /** The Hono app: serve `app.fetch`, or call `app.request()` in-process. */
  readonly app: MockVonageApp;
  /** The same data as `GET /stats`. */
  stats(): MockVonageStats;
  /** The same data as `GET /messages`: accepted messages, oldest first. */
  messages(): AcceptedMessage[];
  /**
   * The same data as `GET /webhooks`: the status webhooks' counts and the outcome
   * planned for each message (empty without `statusWebhooks`).
   */
  webhooks(): { stats: StatusWebhookStats | null; planned: PlannedOutcome[] };
  /** Resolve once every status webhook scheduled so far is done (at once without them). */
  webhooksIdle(): Promise<void>;
  /** Stop sending status webhooks and wait until every attempt has stopped. */
  close(): Promise<void>;
}

/**
 * The mock decided to close the connection without answering (`dropRate`).
 * `app.fetch` and `app.request()` reject with it, as `fetch` rejects with a
 * `TypeError` when a connection closes; {@linkcode serveMockVonage} turns it
 * into a real closed socket.
 *
 * @example Seeing a dropped connection in-process
 * ```ts
 * import { createMockVonage, DroppedConnectionError } from "./mock_vonage.ts";
 * import { importPKCS8, SignJWT } from "../deps/jose.ts";
 *
 * const publicKey = await Deno.readTextFile("fixtures/test_public.pem");
 * const privateKey = await importPKCS8(await Deno.readTextFile("fixtures/test_private.key"), "RS256");
 * const token = await new SignJWT({ application_id: "app" })
 *   .setProtectedHeader({ alg: "RS256", typ: "JWT" })
 *   .setIssuedAt()
 *   .setJti(crypto.randomUUID())
 *   .sign(privateKey);
 * const { app, messages } = await createMockVonage({ publicKey, applicationId: "app", dropRate: 1 });
 * const sms = { message_type: "text", channel: "sms", to: "447700900000", from: "Acme", text: "Hi" };
 * try {
 *   await app.request("/v1/messages", {
 *     method: "POST",
 *     headers: { authorization: `Bearer ${token}` },
 *     body: JSON.stringify(sms),
 *   });
 * } catch (error) {
 *   console.log(error instanceof DroppedConnectionError); // true
 *   console.log(messages()[0]?.answered); // false: accepted, but nobody was told
 * }
 * ```
 */
export class DroppedConnectionError extends TypeError {
  /** Create the error. */
  constructor(message = "mock Vonage dropped the connection without answering (dropRate)") {
    super(message);
    this.name = "DroppedConnectionError";
  }
}

/** An answer decided for a `POST /v1/messages` request. */
interface Answer {
  status: number;
  body: Problem | { message_uuid: string };
  headers: Record<string, string>;
}

const DROP = "drop";

/**
 * Make the mock. Async because importing the public key is.
 *
 * @throws {TypeError} if `publicKey` is not an RSA public key or `applicationId` is empty.
 * @throws {RangeError} if a number option is out of range.
 *
 * @example Testing a client in-process, in virtual time
 * ```ts
 * import { createMockVonage } from "./mock_vonage.ts";
 * import { FakeClock } from "../core/fake_clock.ts";
 *
 * const publicKey = await Deno.readTextFile("fixtures/test_public.pem");
 * const mock = await createMockVonage({ publicKey, applicationId: "app", clock: new FakeClock() });
 * const response = await mock.app.request("/v1/messages", { method: "POST" });
 * console.log(response.status); // 401: no token
 * await response.body?.cancel();
 * console.log(mock.stats().byStatus); // { "401": 1 }
 * ```
 */
export async function createMockVonage(options: MockVonageOptions): Promise<MockVonage> {
  const {
    publicKey,
    applicationId,
    ratePerSecond = 1,
    burst = 1,
    retryAfter = false,
    rateLimitHeaders = false,
    failRate = 0,
    failStatus = 500,
    dropRate = 0,
    latencyMs = 0,
    seed = Math.floor(Math.random() * 2 ** 31),
    clock = realClock,
    maxBodyBytes = 65_536,
    maxStoredMessages = 100_000,
    senders,
  } = options;
  checkOptions({
    applicationId,
    ratePerSecond,
    burst,
    failRate,
    failStatus,
    dropRate,
    latencyMs,
    seed,
    maxBodyBytes,
    maxStoredMessages,
  });
  const verifier = new VonageJwtVerifier(await importVerificationKey(publicKey), applicationId);
  const limited = ratePerSecond > 0 && ratePerSecond < Infinity;
  const bucket = limited ? new TokenBucket({ ratePerSecond, burst, clock }) : undefined;
  const random = createRandom(seed);
  const startMs = clock.now();
  const recorder = new MockStatsRecorder(startMs, {
    ratePerSecond: limited ? ratePerSecond : null,
    burst: limited ? burst : null,
    seed,
  });
  const stored = new MessageStore(maxStoredMessages);
  const webhooks = options.statusWebhooks === undefined ? undefined : new StatusWebhookSender({
    clock,
    seed: deriveSeed(seed, "status-webhooks"),
    ...options.statusWebhooks,
  });
  const policy = limited ? policyHeader(ratePerSecond) : "";

  function limitHeaders(tokens: number): Record<string, string> {
    if (!rateLimitHeaders || !bucket) return {};
    const remaining = Math.max(0, Math.floor(tokens + 1e-9));
    const untilNextMs = remaining >= burst ? 0 : (remaining + 1 - tokens) * (1000 / ratePerSecond);
    return {
      "ratelimit-policy": policy,
      "ratelimit": `"default";r=${remaining};t=${Math.ceil(untilNextMs / 1000 - 1e-9)}`,
    };
  }

  async function decide(request: Request, timeMs: number): Promise<Answer | typeof DROP> {
    const failure = await verifier.verify(request.headers.get("authorization"), Date.now());
    if (failure !== undefined) {
      return { status: 401, body: problem("unauthorized", "Unauthorized", failure), headers: {} };
    }

    let headers: Record<string, string> = {};
    if (bucket) {
      const allowed = bucket.tryTake();
      const tokens = bucket.tokens();
      headers = limitHeaders(tokens);
      if (!allowed) {
        if (retryAfter) {
          const untilNextMs = (1 - tokens) * (1000 / ratePerSecond);
          headers["retry-after"] = String(Math.max(1, Math.ceil(untilNextMs / 1000 - 1e-9)));
        }
        const body = problem("throttled", "Rate Limit Hit", "Please wait, then retry your request");
        return { status: 429, body, headers };
      }
    }

    const bytes = await readBoundedBody(request, maxBodyBytes);
    if (bytes === undefined) {
      const detail = `The request body is larger than ${maxBodyBytes} bytes.`;
      return {
        status: 413,
        body: problem("payload-too-large", "Payload Too Large", detail),
        headers,
      };
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch (error: unknown) {
      const why = error instanceof Error ? error.message : String(error);
      const detail = `The request body is not valid JSON: ${why}`;
      return { status: 400, body: problem("invalid-json", "Malformed JSON", detail), headers };
    }
    const validation = validateSms(json);
    if (!validation.ok) return { status: 422, body: invalidParams(validation.invalid), headers };
    if (senders !== undefined && !senders.includes(validation.sms.from)) {
      const reason = `is not a sender of this account; use one of ${senders.join(", ")}`;
      return { status: 422, body: invalidParams([{ name: "from", reason }]), headers };
    }

    // Draw only when faults are on, so turning them on changes nothing else.
    const draw = failRate > 0 || dropRate > 0 ? random() : 1;
    if (draw < failRate) return injectedFailure(failStatus, headers);
    const message_uuid = crypto.randomUUID();
    const answered = !(draw < failRate + dropRate);
    const userAgent = request.headers.get("user-agent");
    stored.add({
      ...validation.sms,
      message_uuid,
      timeMs,
      answered,
      ...(userAgent === null ? {} : { user_agent: userAgent }),
    });
    webhooks?.schedule({ ...validation.sms, message_uuid });
    if (!answered) return DROP;
    return { status: 202, body: { message_uuid }, headers };
  }

  const app = new Hono();
  app.post("/v1/messages", async (c) => {
    const arrivedMs = clock.now();
    const second: MockVonageSecond = recorder.arrival(arrivedMs);
    const answer = await decide(c.req.raw, arrivedMs - startMs);
    recorder.answer(answer === DROP ? "dropped" : answer.status, second);
    if (latencyMs > 0) await clock.sleep(latencyMs);
    if (answer === DROP) throw new DroppedConnectionError();
    const type = answer.status === 202 ? "application/json" : "application/problem+json";
    return new Response(JSON.stringify(answer.body), {
      status: answer.status,
      headers: { "content-type": type, ...answer.headers },
    });
  });
  app.all("/v1/messages", () =>
    problemResponse(
      405,
      problem("method-not-allowed", "Method Not Allowed", "Use POST for /v1/messages."),
      { allow: "POST" },
    ));
  app.get("/stats", (c) => c.json(recorder.snapshot(clock.now())));
  app.get("/messages", (c) => c.json({ messages: stored.list() }));
  const webhookReport = () => ({
    stats: webhooks?.stats() ?? null,
    planned: webhooks?.planned() ?? [],
  });
  app.get("/webhooks", (c) => c.json(webhookReport()));
  app.notFound((c) =>
    problemResponse(
      404,
      problem(
        "not-found",
        "Not Found",
        `This mock serves POST /v1/messages, GET /stats, GET /messages and GET /webhooks, not ${c.req.method} ${c.req.path}.`,
      ),
    )
  );
  app.onError((error) => {
    // A drop must reach the server as a rejection, never become an answer.
    if (error instanceof DroppedConnectionError) throw error;
    return problemResponse(
      500,
      problem("internal-error", "Internal Error", `The mock failed: ${error.message}`),
    );
  });

  return {
    app,
    stats: (): MockVonageStats => recorder.snapshot(clock.now()),
    messages: (): AcceptedMessage[] => stored.list(),
    webhooks: webhookReport,
    webhooksIdle: (): Promise<void> => webhooks?.idle() ?? Promise.resolve(),
    close: (): Promise<void> => webhooks?.close() ?? Promise.resolve(),
  };
}

function problemResponse(
  status: number,
  body: Problem,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}

function invalidParams(invalid: InvalidParameter[]): Problem {
  return problem(
    "invalid-params",
    "Invalid params",
    "The value of one or more parameters is invalid.",
    invalid,
  );
}

/** The sustained rate as whole `q` requests per whole `w` seconds. */
function policyHeader(ratePerSecond: number): string {
  const windowSeconds = ratePerSecond >= 1 ? 1 : Math.round(1 / ratePerSecond);
  const quota = Math.max(1, Math.floor(ratePerSecond * windowSeconds + 1e-9));
  return `"default";q=${quota};w=${windowSeconds}`;
}

/** The newest `limit` accepted messages, with amortised O(1) insertion. */
class MessageStore {
  readonly #limit: number;
  #items: AcceptedMessage[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  add(message: AcceptedMessage): void {
    if (this.#limit === 0) return;
    this.#items.push(message);
    // Trim in one go once twice over the limit, not one shift per insert.
    if (this.#items.length >= 2 * this.#limit) this.#items = this.#items.slice(-this.#limit);
  }

  list(): AcceptedMessage[] {
    return this.#items.slice(-this.#limit).map((message) => ({ ...message }));
  }
}

/** The answer `failRate` injects: a problem body like Vonage's for that status. */
function injectedFailure(status: number, headers: Record<string, string>): Answer {
  const detail = "Injected fault (failRate): the message was not accepted.";
  const body = status === 402
    ? problem("low-balance", "Low balance", `${detail} Top up your account.`)
    : problem("internal-error", status === 500 ? "Internal Error" : `HTTP ${status}`, detail);
  return { status, body, headers };
}

interface CheckedOptions {
  applicationId: unknown;
  ratePerSecond: number;
  burst: number;
  failRate: number;
  failStatus: number;
  dropRate: number;
  latencyMs: number;
  seed: number;
  maxBodyBytes: number;
  maxStoredMessages: number;
}

function checkOptions(options: CheckedOptions): void {
  const context = "Cannot create mock Vonage";
  const { applicationId, ratePerSecond, burst, failRate, dropRate, latencyMs, seed } = options;
  if (typeof applicationId !== "string" || applicationId.length === 0) {
    throw new TypeError(
      `${context}: 'applicationId' must be a non-empty string, current value is ${
        JSON.stringify(applicationId)
      }`,
    );
  }
  const range = (name: string, value: number, ok: boolean, what: string) => {
    if (!ok) {
      throw new RangeError(`${context}: '${name}' must be ${what}, current value is ${value}`);
    }
  };
  range(
    "ratePerSecond",
    ratePerSecond,
    ratePerSecond >= 0,
    "a non-negative number (0 or Infinity for no limit)",
  );
  range("burst", burst, burst >= 1 && burst < Infinity, "a finite number of at least 1");
  range("failRate", failRate, failRate >= 0 && failRate <= 1, "a number from 0 to 1");
  range(
    "failStatus",
    options.failStatus,
    [402, 500, 502, 503, 504].includes(options.failStatus),
    "one of 402, 500, 502, 503, 504",
  );
  range("dropRate", dropRate, dropRate >= 0 && dropRate <= 1, "a number from 0 to 1");
  range(
    "dropRate",
    dropRate,
    failRate + dropRate <= 1,
    `at most 1 - failRate (${1 - failRate}) so the shares add up to at most 1`,
  );
  range("latencyMs", latencyMs, latencyMs >= 0 && latencyMs < Infinity, "a non-negative number");
  range("seed", seed, Number.isFinite(seed), "a finite number");
  range(
    "maxBodyBytes",
    options.maxBodyBytes,
    Number.isSafeInteger(options.maxBodyBytes) && options.maxBodyBytes > 0,
    "a positive integer",
  );
  range(
    "maxStoredMessages",
    options.maxStoredMessages,
    Number.isSafeInteger(options.maxStoredMessages) && options.maxStoredMessages >= 0,
    "a non-negative integer",
  );
}
