// Pattern novelty: the distance from the last few rows (as a shape, in the
// series' own spreads) to the nearest stretch of the same length seen in the
// remembered past, as in k-NN discord detectors (KNN-CAD). A pattern change
// with no large value — a flat series that starts to oscillate — is far from
// everything remembered; once it repeats, it is remembered and scores low.
// Bounded: a ring of `capacity` stored stretches, one every `stride` rows.

export class PatternMemory {
  private readonly recent: Float64Array;
  private readonly store: Float64Array;
  private stored = 0;
  private seen = 0;

  constructor(
    private readonly length: number,
    private readonly capacity: number,
    private readonly stride: number,
  ) {
    // Twice the length: the current stretch and the one `length` rows older, which is what gets stored (no overlap with the current).
    this.recent = new Float64Array(2 * length);
    this.store = new Float64Array(capacity * length);
  }

  /** Distance (root mean square, in the units given) of the stretch ending with `z` to its nearest stored stretch; undefined until enough is stored. */
  observe(z: number): number | undefined {
    const L = this.length;
    this.recent.copyWithin(0, 1);
    this.recent[2 * L - 1] = z;
    this.seen++;
    let nearest: number | undefined;
    if (this.seen >= L && this.stored >= 8) {
      const n = Math.min(this.stored, this.capacity);
      let best = Infinity;
      for (let k = 0; k < n; k++) {
        const base = k * L;
        let d = 0;
        for (let j = 0; j < L && d < best; j++) {
          const e = this.recent[L + j]! - this.store[base + j]!;
          d += e * e;
        }
        if (d < best) best = d;
      }
      nearest = Math.sqrt(best / L);
    }
    if (this.seen >= 2 * L && this.seen % this.stride === 0) {
      this.store.set(this.recent.subarray(0, L), (this.stored % this.capacity) * L);
      this.stored++;
    }
    return nearest;
  }
}
