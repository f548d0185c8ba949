/**
 * Seeded pseudo-random numbers for the membership core and the simulator, so that
 * any run replays from its seed.
 *
 * @module
 */

/** A source of uniform numbers in [0, 1). */
export interface Random {
  next(): number;
}

/** mulberry32: small, fast, good enough for probe order and jitter (not for secrets). */
export function createSeededRandom(seed: number): Random {
  let state = seed >>> 0;
  return {
    next(): number {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}

/** An integer in [0, bound). */
export function randomInt(random: Random, bound: number): number {
  return Math.floor(random.next() * bound);
}

/** Shuffles `items` in place (Fisher–Yates) and returns it. */
export function shuffle<T>(random: Random, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    const tmp = items[i];
    items[i] = items[j];
    items[j] = tmp;
  }
  return items;
}

/** Up to `count` distinct items drawn from `items`, in random order. */
export function sample<T>(random: Random, items: readonly T[], count: number): T[] {
  return shuffle(random, [...items]).slice(0, Math.max(0, count));
}
