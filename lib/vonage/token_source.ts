/**
 * One Vonage JWT shared by many requests, re-minted shortly before it expires.
 *
 * The official Node SDK signs a fresh token for every request: one RSA
 * signature each, which is most of a send's CPU at 30 requests/s. The 2020
 * script the project grew from did the opposite, minting once at start with a
 * 60 s lifetime and retrying for 300 s, so its later retries were bound to get
 * 401. A token source sits between: it hands out the same token until
 * `refreshBeforeMs` before its `exp`, then mints anew. Callers that ask while
 * a mint is in flight share it, so a burst of sends costs one signature.
 *
 * After a 401 the client calls {@linkcode VonageTokenSource.invalidate} with
 * the token that failed and asks again: that gives one fresh token to rule out
 * an expired or clock-skewed one before concluding the credentials are wrong.
 *
 * @module
 */

import { type Clock, realClock } from "../core/clock.ts";
import { importVonagePrivateKey, mintVonageJwt } from "./jwt.ts";

// Re-exported so that this module's documentation is complete on its own.
export type { Clock };

/**
 * Options for {@linkcode VonageTokenSource}.
 *
 * @example Ten-minute tokens, replaced 30 s before they expire
 * ```ts
 * import { VonageTokenSource, type VonageTokenSourceOptions } from "./token_source.ts";
 *
 * const options: VonageTokenSourceOptions = {
 *   applicationId: "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
 *   privateKey: await Deno.readTextFile("fixtures/test_private.key"),
 *   ttlSeconds: 600,
 *   refreshBeforeMs: 30_000,
 * };
 * const tokens = new VonageTokenSource(options);
 * console.log((await tokens.get()) === (await tokens.get()), tokens.mintCount); // true 1
 * ```
 */
export interface VonageTokenSourceOptions {
  /** The Vonage application id (the `application_id` claim). Required. */
  applicationId: string;
  /**
   * The application's private key: a PKCS#8 PEM string or a signing
   * `CryptoKey` (see `mintVonageJwt`). A PEM is imported once, on first use.
   * Required.
   */
  privateKey: string | CryptoKey;
  /**
   * Lifetime of each token in seconds (30 to 86400).
   *
   * @default {900}
   */
  ttlSeconds?: number;
  /**
   * Stop handing out a token this many milliseconds before its `exp`, so a
   * request (and its queueing) never outlives its token. Capped at half the
   * lifetime, so a short-lived token is still reused.
   *
   * @default {60000}
   */
  refreshBeforeMs?: number;
  /**
   * Where the time comes from (for `iat` and for deciding when to re-mint).
   *
   * @default {realClock}
   */
  clock?: Clock;
}

interface MintedToken {
  token: string;
  /** Clock time after which this token is no longer handed out. */
  staleAtMs: number;
}

/**
 * Hands out a Vonage JWT, reusing it until shortly before it expires.
 *
 * @example Sharing one token across requests
 * ```ts ignore
 * import { VonageTokenSource } from "./token_source.ts";
 *
 * const tokens = new VonageTokenSource({
 *   applicationId: Deno.env.get("VONAGE_APPLICATION_ID")!,
 *   privateKey: await Deno.readTextFile("private.key"),
 * });
 * const jwt = await tokens.get(); // mints
 * const again = await tokens.get(); // the same token, no signature
 * console.log(jwt === again); // true
 * ```
 */
export class VonageTokenSource {
  readonly #applicationId: string;
  readonly #privateKey: string | CryptoKey;
  readonly #ttlSeconds: number;
  readonly #refreshBeforeMs: number;
  readonly #clock: Clock;
  #key: Promise<CryptoKey> | undefined;
  #current: MintedToken | undefined;
  #pending: Promise<MintedToken> | undefined;
  #mints = 0;

  /**
   * Create a token source. Nothing is imported or signed until the first
   * {@linkcode VonageTokenSource.get}.
   *
   * @throws {RangeError} When `ttlSeconds` or `refreshBeforeMs` is out of range.
   */
  constructor(options: VonageTokenSourceOptions) {
    const {
      applicationId,
      privateKey,
      ttlSeconds = 900,
      refreshBeforeMs = 60_000,
      clock = realClock,
    } = options;
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 30 || ttlSeconds > 86_400) {
      throw new RangeError(
        `Cannot create VonageTokenSource: 'ttlSeconds' must be an integer from 30 to 86400, current value is ${ttlSeconds}`,
      );
    }
    if (!(refreshBeforeMs >= 0) || !Number.isFinite(refreshBeforeMs)) {
      throw new RangeError(
        `Cannot create VonageTokenSource: 'refreshBeforeMs' must be a non-negative number, current value is ${refreshBeforeMs}`,
      );
    }
    this.#applicationId = applicationId;
    this.#privateKey = privateKey;
    this.#ttlSeconds = ttlSeconds;
    this.#refreshBeforeMs = Math.min(refreshBeforeMs, (ttlSeconds * 1000) / 2);
    this.#clock = clock;
  }

  /** How many tokens this source has minted (signatures made). */
  get mintCount(): number {
    return this.#mints;
  }

  /**
   * The current token, minting a new one when there is none or it is within
   * `refreshBeforeMs` of expiring. Concurrent callers share one mint.
   *
   * @throws {VonageCredentialsError} When the key or application id is unusable.
   */
  async get(): Promise<string> {
    const current = this.#current;
    if (current !== undefined && this.#clock.now() < current.staleAtMs) return current.token;
    this.#pending ??= this.#mint().finally(() => {
      this.#pending = undefined;
    });
    return (await this.#pending).token;
  }

  /**
   * Stop handing out `token` (the server refused it). The next
   * {@linkcode VonageTokenSource.get} mints afresh. If another caller already
   * replaced that token, this does nothing, so a burst of 401s on the same old
   * token leads to one re-mint, not one each.
   */
  invalidate(token: string): void {
    if (this.#current?.token === token) this.#current = undefined;
  }

  async #mint(): Promise<MintedToken> {
    let privateKey = this.#privateKey;
    if (typeof privateKey === "string") {
      const pem = privateKey;
      this.#key ??= importVonagePrivateKey(pem).catch((error: unknown) => {
        this.#key = undefined;
        throw error;
      });
      privateKey = await this.#key;
    }
    const nowMs = this.#clock.now();
    const token = await mintVonageJwt({
      applicationId: this.#applicationId,
      privateKey,
      ttlSeconds: this.#ttlSeconds,
      nowMs,
    });
    this.#mints++;
    // `exp` is counted from `iat`, which is `nowMs` rounded down to the second.
    const expiresAtMs = Math.floor(nowMs / 1000) * 1000 + this.#ttlSeconds * 1000;
    const minted = { token, staleAtMs: expiresAtMs - this.#refreshBeforeMs };
    this.#current = minted;
    return minted;
  }
}
