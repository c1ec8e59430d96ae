import assert from "node:assert/strict";
import {
  importVonagePrivateKey,
  mintVonageJwt,
  VonageCredentialsError,
} from "../lib/vonage/jwt.ts";

const PRIVATE_PEM = await Deno.readTextFile(
  new URL("../fixtures/test_private.key", import.meta.url),
);
const PUBLIC_PEM = await Deno.readTextFile(new URL("../fixtures/test_public.pem", import.meta.url));
const OTHER_PEM = await Deno.readTextFile(
  new URL("../fixtures/other_private.key", import.meta.url),
);
const APP_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab";

function base64UrlDecode(text: string): Uint8Array<ArrayBuffer> {
  const base64 = text.replaceAll("-", "+").replaceAll("_", "/");
  const padded = base64 + "=".repeat((4 - base64.length % 4) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function decodeJson(part: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(base64UrlDecode(part)));
}

/** Import an SPKI PEM with Web Crypto alone, no jose, so the test checks interop. */
async function importPublicKey(pem: string): Promise<CryptoKey> {
  const body = pem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, "").replace(/\s+/g, "");
  return await crypto.subtle.importKey(
    "spki",
    base64UrlDecode(body.replaceAll("+", "-").replaceAll("/", "_")),
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["verify"],
  );
}

async function verifies(jwt: string, publicPem = PUBLIC_PEM): Promise<boolean> {
  const [header = "", payload = "", signature = ""] = jwt.split(".");
  return await crypto.subtle.verify(
    "RSASSA-PKCS1-v1_5",
    await importPublicKey(publicPem),
    base64UrlDecode(signature),
    new TextEncoder().encode(`${header}.${payload}`),
  );
}

Deno.test("mintVonageJwt() signs a token that Web Crypto verifies with the public key", async () => {
  const nowMs = 1_760_000_000_500;
  const jwt = await mintVonageJwt({ applicationId: APP_ID, privateKey: PRIVATE_PEM, nowMs });
  const parts = jwt.split(".");
  assert.equal(parts.length, 3);
  assert.equal(await verifies(jwt), true);
  assert.deepEqual(decodeJson(parts[0]!), { alg: "RS256", typ: "JWT" });
  const claims = decodeJson(parts[1]!);
  assert.equal(claims.application_id, APP_ID);
  assert.equal(claims.iat, 1_760_000_000);
  assert.equal(claims.exp, 1_760_000_000 + 900);
  assert.match(
    String(claims.jti),
    /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
  );
});

Deno.test("mintVonageJwt() gives every token a fresh jti and honours ttlSeconds", async () => {
  const a = await mintVonageJwt({
    applicationId: APP_ID,
    privateKey: PRIVATE_PEM,
    ttlSeconds: 60,
    nowMs: 0,
  });
  const b = await mintVonageJwt({
    applicationId: APP_ID,
    privateKey: PRIVATE_PEM,
    ttlSeconds: 60,
    nowMs: 0,
  });
  const ca = decodeJson(a.split(".")[1]!);
  const cb = decodeJson(b.split(".")[1]!);
  assert.notEqual(ca.jti, cb.jti);
  assert.equal(ca.exp, 60);
  const fixed = await mintVonageJwt({ applicationId: APP_ID, privateKey: PRIVATE_PEM, jti: "j-1" });
  assert.equal(decodeJson(fixed.split(".")[1]!).jti, "j-1");
});

Deno.test("mintVonageJwt() accepts an imported CryptoKey", async () => {
  const key = await importVonagePrivateKey(PRIVATE_PEM);
  assert.equal(key.extractable, false);
  const jwt = await mintVonageJwt({ applicationId: APP_ID, privateKey: key });
  assert.equal(await verifies(jwt), true);
});

Deno.test("mintVonageJwt() signs with the key it is given, not another", async () => {
  const jwt = await mintVonageJwt({ applicationId: APP_ID, privateKey: OTHER_PEM });
  assert.equal(await verifies(jwt), false);
});

Deno.test("mintVonageJwt() tolerates CRLF and literal \\n sequences from environment variables", async () => {
  const crlf = PRIVATE_PEM.replaceAll("\n", "\r\n");
  assert.equal(
    await verifies(await mintVonageJwt({ applicationId: APP_ID, privateKey: crlf })),
    true,
  );
  const escaped = PRIVATE_PEM.trim().replaceAll("\n", "\\n");
  assert.equal(
    await verifies(await mintVonageJwt({ applicationId: APP_ID, privateKey: escaped })),
    true,
  );
});

const PKCS1_BODY = "MIIEowIBAAKCAQEAsecretsecretsecretsecretsecretsecret0123456789";

Deno.test("mintVonageJwt() explains a PKCS#1 key without echoing it", async () => {
  const pkcs1 = `-----BEGIN RSA PRIVATE KEY-----\n${PKCS1_BODY}\n-----END RSA PRIVATE KEY-----\n`;
  const error = await mintVonageJwt({ applicationId: APP_ID, privateKey: pkcs1 }).then(
    () => assert.fail("should have thrown"),
    (e: unknown) => e,
  );
  assert.ok(error instanceof VonageCredentialsError);
  assert.match(
    error.message,
    /expected a PKCS#8 PEM private key \('-----BEGIN PRIVATE KEY-----'\)/,
  );
  assert.match(error.message, /PKCS#1/);
  assert.match(error.message, /openssl pkcs8 -topk8 -nocrypt/);
  assert.ok(!error.message.includes(PKCS1_BODY.slice(0, 20)));
});

Deno.test("mintVonageJwt() rejects garbage, public keys and broken PKCS#8 without echoing them", async () => {
  const cases: Array<[string, RegExp]> = [
    ["", /got an empty string/],
    ["sk_live_secretsecretsecret", /no '-----BEGIN PRIVATE KEY-----' line/],
    ["./keys/private.key", /looks like a file path/],
    [PUBLIC_PEM, /got a public key/],
    [
      `-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC`,
      /it is cut off: .* no '-----END PRIVATE KEY-----' line/,
    ],
    [
      `-----BEGIN PRIVATE KEY-----\nsecret!!!secret\n-----END PRIVATE KEY-----`,
      /not base64/,
    ],
    [
      `-----BEGIN PRIVATE KEY-----\nc2VjcmV0c2VjcmV0c2VjcmV0\n-----END PRIVATE KEY-----`,
      /does not import/,
    ],
  ];
  for (const [key, message] of cases) {
    const error = await mintVonageJwt({ applicationId: APP_ID, privateKey: key }).then(
      () => assert.fail("should have thrown"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof VonageCredentialsError, String(error));
    assert.match(error.message, message);
    assert.ok(!/secret/.test(error.message), error.message);
    assert.ok(!error.message.includes("MIIB"), "no public key material either");
  }
});

Deno.test("mintVonageJwt() rejects a CryptoKey that cannot sign RS256", async () => {
  const publicKey = await importPublicKey(PUBLIC_PEM);
  await assert.rejects(
    mintVonageJwt({ applicationId: APP_ID, privateKey: publicKey }),
    (e: unknown) => e instanceof VonageCredentialsError && /got a public/.test(e.message),
  );
});

Deno.test("mintVonageJwt() checks applicationId and ttlSeconds", async () => {
  await assert.rejects(
    mintVonageJwt({ applicationId: "", privateKey: PRIVATE_PEM }),
    VonageCredentialsError,
  );
  for (const ttlSeconds of [29, 86_401, 1.5, Number.NaN]) {
    await assert.rejects(
      mintVonageJwt({ applicationId: APP_ID, privateKey: PRIVATE_PEM, ttlSeconds }),
      (e: unknown) =>
        e instanceof RangeError && e.message.includes(`current value is ${ttlSeconds}`),
    );
  }
});
