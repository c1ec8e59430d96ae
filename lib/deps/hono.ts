/**
 * `hono` (the web framework of the mock and the receipts server), pinned in this one place.
 *
 * @module
 */
export { Hono } from "npm:hono@4.13.19";
