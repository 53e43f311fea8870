/** The simulator's randomness lives in shared/rng.ts (pure: the demo seed, sample generator and tests use it too). */
export * from '../../shared/rng.js';
