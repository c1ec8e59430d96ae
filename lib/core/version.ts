/**
 * politely's version. Its one source is `deno.json` (the file JSR publishes from),
 * imported as JSON, so it is the same from a clone, by URL and installed.
 *
 * @module
 */

import config from "../../deno.json" with { type: "json" };

/**
 * The version in `deno.json`.
 *
 * @example Printing the version
 * ```ts
 * import { VERSION } from "./version.ts";
 *
 * console.log(`politely ${VERSION}`); // politely 0.1.0
 * ```
 */
export const VERSION: string = config.version;

/**
 * The `User-Agent` every request to an API carries: `politely/VERSION Deno/VERSION`, so
 * the API's owner can tell who is calling and with what.
 *
 * @example The header value
 * ```ts
 * import { USER_AGENT } from "./version.ts";
 *
 * console.log(USER_AGENT); // politely/0.1.0 Deno/2.9.6
 * ```
 */
export const USER_AGENT: string = `politely/${VERSION} Deno/${Deno.version.deno}`;
