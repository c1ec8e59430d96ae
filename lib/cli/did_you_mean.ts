/**
 * "Did you mean …?" for a mistyped command or flag: the closest known name by
 * edit distance, when it is close enough to be a typo rather than a different
 * word.
 *
 * @module
 */

/**
 * The known name closest to `typed`, or `undefined` when none is close enough:
 * at most one edit for names up to four characters, two up to eight, three
 * beyond, not counting leading dashes (a swap of neighbours counts as one
 * edit); or else the one name that `typed` is the start of (`--conc` →
 * `--concurrency`). Ties go to the name listed first.
 *
 * @example Suggesting a command
 * ```ts
 * import { closestName } from "./did_you_mean.ts";
 *
 * const commands = ["send", "receipts", "report", "mock", "demo", "simulate"];
 * console.log(closestName("sned", commands)); // "send"
 * console.log(closestName("simulte", commands)); // "simulate"
 * console.log(closestName("deploy", commands)); // undefined
 * ```
 */
export function closestName(typed: string, known: readonly string[]): string | undefined {
  // Leading dashes are the same in every flag: they would make short flags look long.
  const bare = (name: string): string => name.replace(/^-+/, "");
  const word = bare(typed);
  const allowed = word.length <= 4 ? 1 : word.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const distance = editDistance(word, bare(name));
    if (distance <= allowed && distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  if (best !== undefined) return best;
  // A clipped flag: node:util's parser takes no abbreviations, but the intent is plain.
  const extensions = word.length >= 3 ? known.filter((name) => name.startsWith(typed)) : [];
  return extensions.length === 1 ? extensions[0] : undefined;
}

/**
 * Edits (insert, delete, replace, or swap two neighbours) that turn `a` into
 * `b`: the optimal string alignment distance, one row of the table at a time.
 */
function editDistance(a: string, b: string): number {
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const same = a[i - 1] === b[j - 1];
      let cost = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (same ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        cost = Math.min(cost, beforePrevious[j - 2]! + 1);
      }
      current.push(cost);
    }
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length]!;
}
