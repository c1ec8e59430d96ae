/**
 * Test helper: a loopback port that is free right now (bound, read, released). Someone
 * may take it before the caller binds it; callers that cannot wait for that retry.
 *
 * @module
 */

/** A free loopback port (bound, read, released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
