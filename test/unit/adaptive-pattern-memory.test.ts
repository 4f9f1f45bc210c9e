import { describe, expect, it } from "vitest";
import { PatternMemory } from "../../pipeline/detect/adaptive/pattern-memory.ts";

describe("adaptive detector, pattern memory", () => {
  it("finds a new shape with no large value far from the remembered past, and near once it has repeated", () => {
    const memory = new PatternMemory(6, 100, 1);
    let rng = 7;
    const noise = () => ((rng = (rng * 16807) % 2147483647) / 2147483647 - 0.5) * 0.1;
    // A flat stretch: every shape is near a remembered one.
    const flat: number[] = [];
    for (let i = 0; i < 200; i++) {
      const d = memory.observe(noise());
      if (d !== undefined && i > 50) flat.push(d);
    }
    expect(Math.max(...flat)).toBeLessThan(0.15);
    // An oscillation inside the flat stretch's range of values (±1): far from every flat shape at first.
    const wave = (i: number) => [0, 1, -1][i % 3]! + noise();
    const first: number[] = [];
    for (let i = 0; i < 12; i++) first.push(memory.observe(wave(i))!);
    expect(Math.max(...first)).toBeGreaterThan(0.5);
    // After it has repeated for a while, it is remembered.
    let last = Infinity;
    for (let i = 12; i < 150; i++) last = memory.observe(wave(i))!;
    expect(last).toBeLessThan(0.15);
  });

  it("says nothing before it has stored a stretch, and forgets what its capacity no longer holds", () => {
    const memory = new PatternMemory(4, 10, 2);
    expect(memory.observe(1)).toBeUndefined();
    for (let i = 0; i < 5_000; i++) memory.observe(Math.sin(i / 5));
    // Only the last 10 stored stretches (20 rows) are remembered: a shape from 5,000 rows ago that differs from them is far.
    const d = [3, 3, 3, 3].map((v) => memory.observe(v)).at(-1)!;
    expect(d).toBeGreaterThan(1.5);
  });
});
