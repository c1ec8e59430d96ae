/**
 * Key pairs for talking to the mock with no files prepared: the mock verifies
 * with the public half, a client signs its JWTs with the private half.
 *
 * @module
 */

/**
 * Make an RS256 (RSASSA-PKCS1-v1_5, SHA-256, 2048-bit) key pair, the kind a
 * Vonage application has. Pass `extractable: true` to export the private key
 * as PEM afterwards (see {@linkcode privateKeyToPem}).
 *
 * @example A mock and a client sharing a fresh key pair
 * ```ts
 * import { generateVonageKeyPair } from "./key_pair.ts";
 *
 * const { publicKey, privateKey } = await generateVonageKeyPair();
 * console.log(publicKey.type, privateKey.type); // "public" "private"
 * ```
 */
export function generateVonageKeyPair(
  { extractable = false }: { extractable?: boolean } = {},
): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    extractable,
    ["sign", "verify"],
  );
}

/**
 * The PKCS#8 PEM text of an extractable private key (what Vonage's
 * `private.key` file holds).
 *
 * @example Writing a fresh private key for a client
 * ```ts
 * import { generateVonageKeyPair, privateKeyToPem } from "./key_pair.ts";
 *
 * const pair = await generateVonageKeyPair({ extractable: true });
 * console.log((await privateKeyToPem(pair.privateKey)).split("\n")[0]); // -----BEGIN PRIVATE KEY-----
 * ```
 */
export async function privateKeyToPem(privateKey: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", privateKey));
  const base64 = btoa(String.fromCharCode(...der));
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
}
