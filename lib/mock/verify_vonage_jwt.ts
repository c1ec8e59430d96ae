/**
 * Checking a request's `Authorization: Bearer <JWT>` the way Vonage does:
 * RS256 only, signed by the application's key, carrying the application's
 * `application_id`, an `iat` and a `jti`, and not expired (an `exp` at most
 * 24 h after `iat`; without `exp`, 15 minutes after `iat`).
 *
 * Token times are wall-clock seconds, so they are checked against the wall
 * clock (`nowMs`), never against the mock's pacing clock.
 *
 * @module
 */

import { errors, importSPKI, jwtVerify } from "../deps/jose.ts";

/** Without `exp`, Vonage treats a token as valid for 15 minutes after `iat`. */
const DEFAULT_TTL_SECONDS = 15 * 60;
/** Vonage refuses lifetimes longer than 24 hours. */
const MAX_TTL_SECONDS = 24 * 60 * 60;
/** Seconds of clock skew forgiven, so a client that rounds `iat` up is not refused. */
const CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Turn the `publicKey` option into a verification key: an SPKI PEM is imported
 * for RS256, a `CryptoKey` must be an RSASSA-PKCS1-v1_5 public key.
 *
 * @throws {TypeError} if the key is neither, with a message saying what is expected.
 *
 * @example Importing the fixture key
 * ```ts
 * import { importVerificationKey } from "./verify_vonage_jwt.ts";
 *
 * const pem = await Deno.readTextFile("fixtures/test_public.pem");
 * const key = await importVerificationKey(pem);
 * console.log(key.type); // public
 * ```
 */
export async function importVerificationKey(publicKey: string | CryptoKey): Promise<CryptoKey> {
  if (typeof publicKey !== "string") {
    if (
      publicKey instanceof CryptoKey && publicKey.type === "public" &&
      publicKey.algorithm.name === "RSASSA-PKCS1-v1_5"
    ) {
      return publicKey;
    }
    throw new TypeError(
      "Cannot create mock Vonage: 'publicKey' must be an SPKI PEM string or an RSASSA-PKCS1-v1_5 public CryptoKey",
    );
  }
  if (!publicKey.includes("-----BEGIN PUBLIC KEY-----")) {
    throw new TypeError(
      "Cannot create mock Vonage: 'publicKey' must be an SPKI PEM ('-----BEGIN PUBLIC KEY-----'); " +
        "derive it from a private key with 'openssl pkey -in private.key -pubout'",
    );
  }
  try {
    return await importSPKI(publicKey.trim(), "RS256");
  } catch (error: unknown) {
    throw new TypeError(
      "Cannot create mock Vonage: 'publicKey' is not a readable RSA public key in SPKI PEM form",
      { cause: error },
    );
  }
}

/** Verified tokens remembered; a client reuses one token, so a few suffice. */
const CACHE_SIZE = 1024;

/**
 * Checks `Authorization` header values for one application.
 *
 * An RS256 signature check costs about half a millisecond in Deno (measured
 * here: ten times the rest of a request), and clients such as politely's
 * token source reuse one token for minutes. So a token that passed is
 * remembered with the window in which its time claims hold, and the same
 * string inside that window passes without a second signature check. Outside
 * it, and for every token that failed, the full check runs again and says why.
 *
 * @example Refusing a request without a token
 * ```ts
 * import { importVerificationKey, VonageJwtVerifier } from "./verify_vonage_jwt.ts";
 *
 * const key = await importVerificationKey(await Deno.readTextFile("fixtures/test_public.pem"));
 * const verifier = new VonageJwtVerifier(key, "app");
 * console.log(await verifier.verify(null, Date.now()));
 * // "Missing 'Authorization: Bearer <JWT>' header."
 * ```
 */
export class VonageJwtVerifier {
  readonly #key: CryptoKey;
  readonly #applicationId: string;
  /** Token → the wall-clock window (ms) in which it is valid; oldest first. */
  readonly #passed = new Map<string, { fromMs: number; untilMs: number }>();

  /** Verify tokens signed by `key`'s private half for `applicationId`. */
  constructor(key: CryptoKey, applicationId: string) {
    this.#key = key;
    this.#applicationId = applicationId;
  }

  /**
   * Verify the `Authorization` header value of a request.
   *
   * @param authorization The header value, or `null` when the header is absent.
   * @param nowMs The wall-clock time in epoch milliseconds.
   * @returns `undefined` when the token is good, else why it was refused (one sentence).
   */
  async verify(authorization: string | null, nowMs: number): Promise<string | undefined> {
    if (authorization === null) return "Missing 'Authorization: Bearer <JWT>' header.";
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
    if (!match) {
      return "The Authorization header must be 'Bearer <JWT>' (this mock accepts JWT auth only).";
    }
    const token = match[1]!;
    const window = this.#passed.get(token);
    if (window && nowMs >= window.fromMs && nowMs < window.untilMs) return undefined;

    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        algorithms: ["RS256"],
        requiredClaims: ["application_id", "iat", "jti"],
        maxTokenAge: MAX_TTL_SECONDS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        currentDate: new Date(nowMs),
      }));
    } catch (error: unknown) {
      return explain(error);
    }
    const { application_id, iat, exp, nbf, jti } = payload;
    if (application_id !== this.#applicationId) {
      return `The token's application_id is ${
        JSON.stringify(application_id)
      }, not this application's.`;
    }
    if (typeof jti !== "string" || jti.length === 0) {
      return "The token's jti claim must be a non-empty string.";
    }
    const iatSeconds = iat as number; // jose checked it is a number (maxTokenAge needs it)
    const expSeconds = exp === undefined ? iatSeconds + DEFAULT_TTL_SECONDS : exp as number;
    if (exp === undefined && nowMs / 1000 >= expSeconds + CLOCK_TOLERANCE_SECONDS) {
      return "The token has expired: without exp it is valid for 15 minutes after iat.";
    }
    if (expSeconds - iatSeconds > MAX_TTL_SECONDS) {
      return "The token's lifetime (exp - iat) is longer than 24 hours.";
    }
    this.#remember(token, {
      fromMs: (Math.max(iatSeconds, typeof nbf === "number" ? nbf : -Infinity) -
        CLOCK_TOLERANCE_SECONDS) * 1000,
      untilMs: (expSeconds + CLOCK_TOLERANCE_SECONDS) * 1000,
    });
    return undefined;
  }

  #remember(token: string, window: { fromMs: number; untilMs: number }): void {
    if (this.#passed.size >= CACHE_SIZE) {
      const oldest = this.#passed.keys().next().value;
      if (oldest !== undefined) this.#passed.delete(oldest);
    }
    this.#passed.set(token, window);
  }
}

function explain(error: unknown): string {
  if (error instanceof errors.JWTExpired) return `The token has expired (${error.claim}).`;
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return "The token must be signed with RS256 (its alg header names another algorithm).";
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return "The token's signature does not match the application's public key.";
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    return error.reason === "missing"
      ? `The token lacks the required ${error.claim} claim.`
      : `The token's ${error.claim} claim is not valid (${error.message}).`;
  }
  if (error instanceof errors.JOSEError) return `The token is malformed (${error.message}).`;
  return "The token is malformed.";
}
