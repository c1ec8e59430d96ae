/**
 * politely's version. Its one source is `deno.json` (the file JSR publishes
 * from), imported as JSON, so it is the same from a clone, by URL and installed.
 *
 * @module
 */

import config from "../../deno.json" with { type: "json" };

/**
 * The version in `deno.json`, as `main.ts --version` prints it.
 *
 * @example Printing the version
 * ```ts
 * import { VERSION } from "./version.ts";
 *
 * console.log(`politely ${VERSION}`); // politely 0.1.0
 * ```
 */
export const VERSION: string = config.version;
