/**
 * The duplicate check of the recipients reader: every number seen and its
 * first line, in about 12 bytes a number.
 *
 * @module
 */

/**
 * The numbers seen so far and the line each was first on, in open addressing over typed
 * arrays: a valid number has at most 15 digits and no leading 0, so it is an exact,
 * unique, non-zero double (10^15 < 2^53), and 0 can mark an empty slot.
 *
 * @example Finding a duplicate
 * ```ts
 * import { PhoneNumberTable } from "./phone_number_table.ts";
 *
 * const seen = new PhoneNumberTable();
 * console.log(seen.addOrGet(14155550100, 2), seen.addOrGet(14155550100, 9)); // 0 2
 * ```
 */
export class PhoneNumberTable {
  #keys = new Float64Array(1024);
  #lines = new Uint32Array(1024);
  #size = 0;

  /** Record `key` first seen on `line`; if it was already there, return its line, else 0. */
  addOrGet(key: number, line: number): number {
    if ((this.#size + 1) * 2 > this.#keys.length) this.#grow();
    const keys = this.#keys;
    const mask = keys.length - 1;
    let slot = hashNumber(key) & mask;
    for (;;) {
      const existing = keys[slot]!;
      if (existing === 0) {
        keys[slot] = key;
        this.#lines[slot] = Math.min(line, 0xffff_ffff);
        this.#size++;
        return 0;
      }
      if (existing === key) return this.#lines[slot]!;
      slot = (slot + 1) & mask;
    }
  }

  #grow(): void {
    const oldKeys = this.#keys;
    const oldLines = this.#lines;
    const keys = new Float64Array(oldKeys.length * 2);
    const lines = new Uint32Array(oldKeys.length * 2);
    const mask = keys.length - 1;
    for (let index = 0; index < oldKeys.length; index++) {
      const key = oldKeys[index]!;
      if (key === 0) continue;
      let slot = hashNumber(key) & mask;
      while (keys[slot] !== 0) slot = (slot + 1) & mask;
      keys[slot] = key;
      lines[slot] = oldLines[index]!;
    }
    this.#keys = keys;
    this.#lines = lines;
  }
}

/** Mix both 32-bit halves of an integer below 2^53 into a well-spread 32-bit hash. */
function hashNumber(key: number): number {
  const low = key >>> 0;
  const high = Math.floor(key / 4_294_967_296);
  let hash = Math.imul(low ^ Math.imul(high, 0x9e3779b1), 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  return (hash ^ (hash >>> 16)) >>> 0;
}
