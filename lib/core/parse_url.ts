/**
 * The one URL check every option that takes a URL uses: it parses, and its
 * scheme is one of those allowed.
 *
 * @module
 */

/**
 * `text` as a URL whose protocol is one of `protocols` (with the colon), or
 * `undefined` when it is not a URL or has another scheme.
 *
 * @example Checking a Redis URL
 * ```ts
 * import { urlWithProtocol } from "./parse_url.ts";
 *
 * console.log(urlWithProtocol("redis://127.0.0.1:6379", ["redis:", "rediss:"])?.port); // "6379"
 * console.log(urlWithProtocol("http://x", ["redis:"])); // undefined
 * ```
 */
export function urlWithProtocol(text: string, protocols: readonly string[]): URL | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  return protocols.includes(url.protocol) ? url : undefined;
}

/**
 * `text` as an http(s) URL, or `undefined`.
 *
 * @example Checking a base URL
 * ```ts
 * import { httpUrl } from "./parse_url.ts";
 *
 * console.log(httpUrl("http://127.0.0.1:8787")?.host, httpUrl("ftp://x")); // "127.0.0.1:8787" undefined
 * ```
 */
export function httpUrl(text: string): URL | undefined {
  return urlWithProtocol(text, ["http:", "https:"]);
}
