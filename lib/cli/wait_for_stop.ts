/**
 * How the long-running commands (`mock`, `receipts`) wait to be stopped.
 *
 * @module
 */

/**
 * Resolve `stopped` on SIGINT, SIGTERM, SIGHUP or `signal`; `dispose()` stops listening for them.
 *
 * @example Serving until Ctrl-C
 * ```ts
 * import { waitForStop } from "./wait_for_stop.ts";
 *
 * const stop = waitForStop(AbortSignal.timeout(10));
 * try {
 *   await stop.stopped;
 * } finally {
 *   stop.dispose();
 * }
 * ```
 */
export function waitForStop(
  signal: AbortSignal | undefined,
): { stopped: Promise<void>; dispose(): void } {
  // SIGHUP: the terminal went away; stopping cleanly still removes what the command made.
  const names: Deno.Signal[] = Deno.build.os === "windows"
    ? ["SIGINT"]
    : ["SIGINT", "SIGTERM", "SIGHUP"];
  let onStop = () => {};
  const stopped = new Promise<void>((resolve) => (onStop = resolve));
  for (const name of names) Deno.addSignalListener(name, onStop);
  signal?.addEventListener("abort", onStop, { once: true });
  if (signal?.aborted) onStop();
  return {
    stopped,
    dispose() {
      for (const name of names) Deno.removeSignalListener(name, onStop);
      signal?.removeEventListener("abort", onStop);
    },
  };
}
