/**
 * A small seeded PRNG (mulberry32) so that initialisation, shuffles and
 * synthetic data are reproducible across backends and restarts.
 */

/** Deterministic random numbers from a 32-bit seed. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    // Mix the seed so that nearby seeds give unrelated streams.
    this.#state = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0) || 1;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}

/** Derives a child seed so that separate streams (init, shuffle, data) never collide. */
export function deriveSeed(seed: number, ...salt: number[]): number {
  let h = seed | 0;
  for (const s of salt) {
    h = Math.imul(h ^ (s | 0), 0x01000193) ^ (h >>> 13);
  }
  return h | 0;
}

/** Seed streams: one per purpose, so that changing one never shifts another. */
export const SEED_STREAM = {
  init: 1,
  split: 2,
  order: 3,
  dropout: 4,
} as const;
