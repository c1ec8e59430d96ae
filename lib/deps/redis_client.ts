/**
 * `@redis/client` (the Redis client), pinned in this one place.
 *
 * @module
 */

export { createClient, ErrorReply } from "npm:@redis/client@6.3.1";
