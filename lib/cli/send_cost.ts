/**
 * The estimated cost of a send: SMS parts (segments) times `--price-per-segment`.
 *
 * @module
 */

/** Segments × price, rounded to a millionth so sums of decimals print cleanly. */
export function estimateCost(
  segments: number,
  pricePerSegment: number | undefined,
): number | undefined {
  if (pricePerSegment === undefined) return undefined;
  return Math.round(segments * pricePerSegment * 1e6) / 1e6;
}

/** A cost as people read it: `1,234.5675`. */
export function formatCost(cost: number): string {
  return cost.toLocaleString("en-US", { maximumFractionDigits: 6 });
}
