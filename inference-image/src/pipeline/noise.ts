// Seeded randomness: the same seed gives the same video on every replica (reproducible bug reports).

/** mulberry32: a small, fast 32-bit PRNG; plenty for initial latent noise. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fills `out` with standard normal samples (Box–Muller over mulberry32). */
export function fillGaussian(out: Float32Array, seed: number): Float32Array {
  const uniform = mulberry32(seed);
  for (let i = 0; i < out.length; i += 2) {
    // 1 - u keeps the log argument in (0, 1].
    const r = Math.sqrt(-2 * Math.log(1 - uniform()));
    const theta = 2 * Math.PI * uniform();
    out[i] = r * Math.cos(theta);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(theta);
  }
  return out;
}

export function gaussian(length: number, seed: number): Float32Array {
  return fillGaussian(new Float32Array(length), seed);
}
