/**
 * The `jti`s of webhook tokens already used, so that a replayed request (a valid
 * signature and a fresh `iat`, sent again) is refused. A `jti` is kept as long as its
 * token could still pass the age check; after that the age check refuses the replay.
 *
 * @module
 */

import { type Clock, realClock } from "../core/clock.ts";

/**
 * Tokens seen, each until its `iat` is older than `maxAgeMs` plus `skewMs`.
 *
 * @example Refusing the second use of a token
 * ```ts
 * import { SeenTokens } from "./seen_tokens.ts";
 *
 * const seen = new SeenTokens({ maxAgeMs: 300_000 });
 * console.log(seen.claim("jti-1", Date.now())); // true: first use
 * console.log(seen.claim("jti-1", Date.now())); // false: a replay
 * ```
 */
export class SeenTokens {
  readonly #tokens = new Map<string, number>();
  readonly #horizonMs: number;
  readonly #clock: Clock;
  #claimsSincePrune = 0;

  /** Keep tokens for `maxAgeMs` plus `skewMs` (default 60 s) after their `iat`, by `clock`. */
  constructor(
    { maxAgeMs, skewMs = 60_000, clock = realClock }: {
      maxAgeMs: number;
      skewMs?: number;
      clock?: Clock;
    },
  ) {
    this.#horizonMs = maxAgeMs + skewMs;
    this.#clock = clock;
  }

  /** How many tokens are remembered. */
  get size(): number {
    return this.#tokens.size;
  }

  /** Remember tokens used before (e.g. read back from the receipts files at start). */
  remember(tokens: Iterable<[jti: string, issuedAtMs: number]>): void {
    for (const [jti, issuedAtMs] of tokens) this.#tokens.set(jti, issuedAtMs);
    this.#prune();
  }

  /** `true` and remembered if `jti` is new; `false` if it was used before (a replay). */
  claim(jti: string, issuedAtMs: number): boolean {
    if (this.#tokens.has(jti)) return false;
    this.#tokens.set(jti, issuedAtMs);
    // Pruning walks the map: do it once per thousand claims, not on every one.
    if (++this.#claimsSincePrune >= 1024) this.#prune();
    return true;
  }

  /** Forget `jti`, so the request it signed may be retried (it was not stored). */
  release(jti: string): void {
    this.#tokens.delete(jti);
  }

  #prune(): void {
    this.#claimsSincePrune = 0;
    const oldestMs = this.#clock.now() - this.#horizonMs;
    for (const [jti, issuedAtMs] of this.#tokens) {
      if (issuedAtMs < oldestMs) this.#tokens.delete(jti);
    }
  }
}
