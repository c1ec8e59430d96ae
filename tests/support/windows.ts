/**
 * Counting events in time windows, to check a pace from the outside: a limiter that allows
 * R per second with a burst of B may let at most R + B through in any one second.
 *
 * @module
 */

/**
 * The most events in any one-second window [t, t + 1000 ms] that starts at an event.
 * `timesMs` are in milliseconds, in any order.
 */
export function busiestSecond(timesMs: readonly number[]): number {
  const sorted = [...timesMs].sort((a, b) => a - b);
  let most = 0;
  let end = 0;
  for (let start = 0; start < sorted.length; start++) {
    while (end < sorted.length && sorted[end]! <= sorted[start]! + 1000) end++;
    most = Math.max(most, end - start);
  }
  return most;
}
