/**
 * Minting the JSON Web Tokens the Vonage APIs authenticate with.
 *
 * Vonage accepts RS256 only: a token signed with the application's private
 * key (the `private.key` PKCS#8 PEM from the dashboard or CLI), carrying the
 * `application_id`, `iat`, a unique `jti` and an `exp` between 30 s and 24 h
 * after `iat` (15 min when absent).
 *
 * A private key that is not in the expected form raises a
 * {@linkcode VonageCredentialsError} that says what was expected and how to
 * fix it, and never repeats the key material it was given.
 *
 * @module
 */

// A full specifier, not the import map's alias: mod.ts must import from a plain URL.
import { importPKCS8, SignJWT } from "../deps/jose.ts";

/**
 * The private key or application id cannot be used to sign Vonage tokens.
 *
 * Callers catch it to tell a configuration mistake (fix the key, nothing was
 * sent) from a failed request. Its message never contains key material.
 *
 * @example Telling a bad key apart
 * ```ts
 * import { mintVonageJwt, VonageCredentialsError } from "./jwt.ts";
 *
 * try {
 *   await mintVonageJwt({ applicationId: "app", privateKey: "not a key" });
 * } catch (error) {
 *   if (error instanceof VonageCredentialsError) console.error(error.message);
 * }
 * ```
 */
export class VonageCredentialsError extends Error {
  /** Create the error; `options.cause` carries the underlying import failure, if any. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "VonageCredentialsError";
  }
}

/**
 * Options for {@linkcode mintVonageJwt}.
 *
 * @example A five-minute token
 * ```ts
 * import { mintVonageJwt, type MintVonageJwtOptions } from "./jwt.ts";
 *
 * const options: MintVonageJwtOptions = {
 *   applicationId: "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab",
 *   privateKey: await Deno.readTextFile("fixtures/test_private.key"),
 *   ttlSeconds: 300,
 * };
 * const jwt = await mintVonageJwt(options);
 * console.log(jwt.split(".").length); // 3: header, payload, signature
 * ```
 */
export interface MintVonageJwtOptions {
  /** The Vonage application id (the `application_id` claim). Required. */
  applicationId: string;
  /**
   * The application's private key: a PKCS#8 PEM string
   * (`-----BEGIN PRIVATE KEY-----`) or an RSASSA-PKCS1-v1_5 SHA-256
   * `CryptoKey` that can sign. Required.
   */
  privateKey: string | CryptoKey;
  /**
   * Lifetime of the token in seconds (`exp = iat + ttlSeconds`), an integer
   * from 30 to 86400 as Vonage requires.
   *
   * @default {900}
   */
  ttlSeconds?: number;
  /**
   * The current time in epoch milliseconds, for `iat`.
   *
   * @default {Date.now()}
   */
  nowMs?: number;
  /**
   * The token's unique id. Vonage rejects a reused `jti`, so leave it unset
   * except in tests.
   *
   * @default {crypto.randomUUID()}
   */
  jti?: string;
}

const MIN_TTL_SECONDS = 30;
const MAX_TTL_SECONDS = 24 * 60 * 60;
const PKCS8_HEADER = "-----BEGIN PRIVATE KEY-----";
const PKCS8_FOOTER = "-----END PRIVATE KEY-----";
const EXPECTED = `expected a PKCS#8 PEM private key ('${PKCS8_HEADER}')`;

// What other PEM labels mean for the user, and what to do about them.
const WRONG_PEM_LABELS: ReadonlyArray<[RegExp, string]> = [
  [
    /-----BEGIN RSA PRIVATE KEY-----/,
    "got a PKCS#1 RSA key: convert it with `openssl pkcs8 -topk8 -nocrypt -in private.key -out private_pkcs8.key`",
  ],
  [
    /-----BEGIN ENCRYPTED PRIVATE KEY-----/,
    "got a passphrase-protected PKCS#8 key: decrypt it with `openssl pkcs8 -in private.key -out private_plain.key`",
  ],
  [
    /-----BEGIN (?:RSA )?PUBLIC KEY-----/,
    "got a public key: use the application's private key (the private.key file Vonage gave you)",
  ],
  [
    /-----BEGIN CERTIFICATE-----/,
    "got a certificate: use the application's private key (the private.key file Vonage gave you)",
  ],
  [
    /-----BEGIN OPENSSH PRIVATE KEY-----/,
    "got an OpenSSH key: Vonage application keys are RSA keys in PKCS#8 PEM form",
  ],
  [
    /-----BEGIN EC PRIVATE KEY-----/,
    "got an EC key: Vonage signs with RS256 only and needs an RSA key",
  ],
];

/**
 * Check the PEM's form and return it cleaned up: CRLF line ends, stray
 * indentation and the literal `\n` sequences that environment variables often
 * hold instead of newlines are all normalised away.
 */
function normalisePkcs8Pem(pem: string): string {
  const text = pem.includes("\n") ? pem : pem.replaceAll("\\n", "\n");
  const begin = text.indexOf(PKCS8_HEADER);
  const end = text.indexOf(PKCS8_FOOTER);
  if (begin >= 0 && end < begin) {
    throw new VonageCredentialsError(
      `Invalid Vonage private key: ${EXPECTED}; it is cut off: it has its '${PKCS8_HEADER}' ` +
        `line but no '${PKCS8_FOOTER}' line after it (copy the whole private.key file, ` +
        `${text.slice(begin).split("\n").length} lines arrived)`,
    );
  }
  if (begin < 0 || end < begin) {
    for (const [label, advice] of WRONG_PEM_LABELS) {
      if (label.test(text)) {
        throw new VonageCredentialsError(`Invalid Vonage private key: ${EXPECTED}; ${advice}`);
      }
    }
    const what = text.trim() === ""
      ? "an empty string"
      : `${text.length} characters with no '${PKCS8_HEADER}' line` +
        (text.length < 260 && !/\s/.test(text.trim()) && /[\\/.]/.test(text)
          ? " (it looks like a file path: pass the file's contents, not its name)"
          : "");
    throw new VonageCredentialsError(`Invalid Vonage private key: ${EXPECTED}; got ${what}`);
  }
  const body = text.slice(begin + PKCS8_HEADER.length, end).replace(/\s+/g, "");
  if (body === "" || !/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
    throw new VonageCredentialsError(
      `Invalid Vonage private key: ${EXPECTED}; the text between its BEGIN and END lines is not base64`,
    );
  }
  const lines = body.match(/.{1,64}/g) ?? [];
  return `${PKCS8_HEADER}\n${lines.join("\n")}\n${PKCS8_FOOTER}\n`;
}

/**
 * Import a Vonage application's private key (PKCS#8 PEM) for signing RS256
 * tokens. Import once and reuse the key: parsing PEM costs more than signing.
 *
 * @param pem The private key as PKCS#8 PEM text.
 * @returns A non-extractable `CryptoKey` for RS256 signing.
 * @throws {VonageCredentialsError} When `pem` is not a PKCS#8 RSA private key.
 *
 * @example Importing the key from a file
 * ```ts ignore
 * import { importVonagePrivateKey } from "./jwt.ts";
 *
 * const key = await importVonagePrivateKey(await Deno.readTextFile("private.key"));
 * ```
 */
export async function importVonagePrivateKey(pem: string): Promise<CryptoKey> {
  if (typeof pem !== "string") {
    throw new VonageCredentialsError(`Invalid Vonage private key: ${EXPECTED}; got ${typeof pem}`);
  }
  const clean = normalisePkcs8Pem(pem);
  try {
    return await importPKCS8(clean, "RS256");
  } catch (error) {
    // The cause is Web Crypto's own message (an ASN.1 tag, "unsupported
    // algorithm"): it names no key material.
    throw new VonageCredentialsError(
      `Invalid Vonage private key: ${EXPECTED} holding an RSA key; got a PKCS#8 block that ` +
        `does not import as one (is it an EC or Ed25519 key, or truncated?)`,
      { cause: error },
    );
  }
}

function assertSigningKey(key: CryptoKey): void {
  const algorithm = key.algorithm as RsaHashedKeyAlgorithm;
  const ok = key.type === "private" && algorithm.name === "RSASSA-PKCS1-v1_5" &&
    algorithm.hash?.name === "SHA-256" && key.usages.includes("sign");
  if (!ok) {
    throw new VonageCredentialsError(
      `Invalid Vonage private key: expected an RSASSA-PKCS1-v1_5 SHA-256 private CryptoKey with ` +
        `the "sign" usage; got a ${key.type} ${algorithm.name} key with usages [${
          key.usages.join(", ")
        }]`,
    );
  }
}

// PEM text → imported key. Bounded: a process signs with one or two keys, and
// this cache exists so that a string key is parsed once, not once per token.
const importedKeys = new Map<string, Promise<CryptoKey>>();
const MAX_CACHED_KEYS = 4;

function cachedImport(pem: string): Promise<CryptoKey> {
  let imported = importedKeys.get(pem);
  if (imported === undefined) {
    imported = importVonagePrivateKey(pem);
    // A failed import is not cached, so a corrected key is read afresh.
    imported.catch(() => importedKeys.delete(pem));
    if (importedKeys.size >= MAX_CACHED_KEYS) {
      const oldest = importedKeys.keys().next().value;
      if (oldest !== undefined) importedKeys.delete(oldest);
    }
    importedKeys.set(pem, imported);
  }
  return imported;
}

/**
 * Mint one RS256 JWT for the Vonage APIs.
 *
 * Header `{ alg: "RS256", typ: "JWT" }`; claims `application_id`, `iat`
 * (seconds), a fresh `jti` and `exp = iat + ttlSeconds`. A PEM string is
 * imported once and the `CryptoKey` cached, so minting repeatedly with the
 * same string costs one RSA signature each. To reuse tokens rather than mint
 * one per request, see `VonageTokenSource` in `token_source.ts`.
 *
 * @param options The application id, key and token lifetime.
 * @returns The compact JWT (`header.payload.signature`).
 * @throws {VonageCredentialsError} When the key is not a PKCS#8 RSA private key
 *   (or a suitable `CryptoKey`), or `applicationId` is empty.
 * @throws {RangeError} When `ttlSeconds` is not an integer from 30 to 86400.
 *
 * @example Minting a token for a request
 * ```ts ignore
 * import { mintVonageJwt } from "./jwt.ts";
 *
 * const jwt = await mintVonageJwt({
 *   applicationId: Deno.env.get("VONAGE_APPLICATION_ID")!,
 *   privateKey: await Deno.readTextFile("private.key"),
 * });
 * const headers = { authorization: `Bearer ${jwt}` };
 * ```
 */
export async function mintVonageJwt(options: MintVonageJwtOptions): Promise<string> {
  const {
    applicationId,
    privateKey,
    ttlSeconds = 900,
    nowMs = Date.now(),
    jti = crypto.randomUUID(),
  } = options;
  if (typeof applicationId !== "string" || applicationId.trim() === "") {
    throw new VonageCredentialsError(
      `Cannot mint a Vonage JWT: 'applicationId' must be a non-empty string, current value is ${
        JSON.stringify(applicationId)
      }`,
    );
  }
  if (
    !Number.isInteger(ttlSeconds) || ttlSeconds < MIN_TTL_SECONDS || ttlSeconds > MAX_TTL_SECONDS
  ) {
    throw new RangeError(
      `Cannot mint a Vonage JWT: 'ttlSeconds' must be an integer from ${MIN_TTL_SECONDS} to ${MAX_TTL_SECONDS}, current value is ${ttlSeconds}`,
    );
  }
  if (!Number.isFinite(nowMs)) {
    throw new RangeError(
      `Cannot mint a Vonage JWT: 'nowMs' must be a finite number, current value is ${nowMs}`,
    );
  }
  if (typeof jti !== "string" || jti === "") {
    throw new TypeError(
      `Cannot mint a Vonage JWT: 'jti' must be a non-empty string, current value is ${jti}`,
    );
  }
  let key: CryptoKey;
  if (typeof privateKey === "string") {
    key = await cachedImport(privateKey);
  } else if (privateKey instanceof CryptoKey) {
    assertSigningKey(privateKey);
    key = privateKey;
  } else {
    throw new VonageCredentialsError(
      `Invalid Vonage private key: ${EXPECTED} or a CryptoKey; got ${
        privateKey === null ? "null" : typeof privateKey
      }`,
    );
  }
  const iat = Math.floor(nowMs / 1000);
  return await new SignJWT({ application_id: applicationId })
    .setProtectedHeader({ alg: "RS256", typ: "JWT" })
    .setIssuedAt(iat)
    .setJti(jti)
    .setExpirationTime(iat + ttlSeconds)
    .sign(key);
}
