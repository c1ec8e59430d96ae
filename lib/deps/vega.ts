/**
 * `vega` and `vega-lite` (charts rendered to SVG), pinned in this one place.
 *
 * @module
 */
export * as vega from "npm:vega@6.4.0";
export * as vl from "npm:vega-lite@6.5.0";
export type { TopLevelSpec } from "npm:vega-lite@6.5.0";
