/**
 * Seeded randomness for tests, the demo, the mock's faults and the simulations:
 * the same seed gives the same numbers on every machine, so runs are reproducible.
 *
 * The generator is SFC32 (Chris Doty-Humphrey's "small fast chaotic" 32-bit
 * generator), seeded through SplitMix32 so that nearby seeds give unrelated
 * streams. It is not cryptographic; it only has to look random to a backoff.
 *
 * @module
 */

/** Mix a 32-bit state one SplitMix32 step; returns the next state and output. */
function splitMix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return [next, z >>> 0];
}

/**
 * Combine a seed and labels (a strategy name, a client count, a run number)
 * into one 32-bit seed, so each simulated world draws from its own stream and
 * adding a world never shifts the numbers of another.
 *
 * @example One stream per run
 * ```ts
 * import { deriveSeed } from "./seeded_random.ts";
 *
 * const a = deriveSeed(1, "full", 100, 0);
 * const b = deriveSeed(1, "full", 100, 1);
 * console.log(a !== b, a === deriveSeed(1, "full", 100, 0)); // true true
 * ```
 */
export function deriveSeed(seed: number, ...labels: Array<string | number>): number {
  // FNV-1a over the text form, then a SplitMix32 finaliser to spread the bits.
  let hash = 0x811c9dc5;
  const text = [seed, ...labels].join("\u0000");
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  }
  return splitMix32(hash)[1];
}

/**
 * A seeded uniform generator: each call returns a number in `[0, 1)`, the
 * shape every `random` option in politely expects.
 *
 * @example Reproducible draws
 * ```ts
 * import { createRandom } from "./seeded_random.ts";
 *
 * const a = createRandom(42);
 * const b = createRandom(42);
 * console.log(a() === b(), a() < 1); // true true
 * ```
 */
export function createRandom(seed: number): () => number {
  if (!Number.isFinite(seed)) {
    throw new RangeError(
      `Cannot create random generator: 'seed' must be a finite number, current value is ${seed}`,
    );
  }
  let state = Math.trunc(seed) | 0;
  let a: number, b: number, c: number, d: number;
  [state, a] = splitMix32(state);
  [state, b] = splitMix32(state);
  [state, c] = splitMix32(state);
  [state, d] = splitMix32(state);
  const step = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  // The first outputs of a freshly seeded SFC32 are still close to the seed.
  for (let i = 0; i < 12; i++) step();
  return (): number => step() / 4294967296;
}

/**
 * A normally distributed generator with mean `mean` and standard deviation
 * `sd`, built on a uniform `random` (Box–Muller, both values used).
 *
 * @example Network delays of |N(10 ms, 2 ms)|
 * ```ts
 * import { createNormal, createRandom } from "./seeded_random.ts";
 *
 * const normal = createNormal(createRandom(1), 10, 2);
 * const delayMs = Math.abs(normal());
 * console.log(delayMs > 0); // true
 * ```
 */
export function createNormal(random: () => number, mean = 0, sd = 1): () => number {
  let spare: number | undefined;
  return (): number => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return mean + sd * value;
    }
    // 1 - random() lies in (0, 1], so the logarithm is finite.
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    spare = radius * Math.sin(angle);
    return mean + sd * radius * Math.cos(angle);
  };
}
