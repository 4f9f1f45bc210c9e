// The straight-line fit the budgets' forecast and the detectors' trend use.

/** Least-squares line through (x, y) points: y = a + b·x. */
export function linearFit(points: readonly [number, number][]): { a: number; b: number } {
  const n = points.length;
  if (n < 2) return { a: points[0]?.[1] ?? 0, b: 0 };
  let sx = 0,
    sy = 0,
    sxx = 0,
    sxy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const d = n * sxx - sx * sx;
  const b = d === 0 ? 0 : (n * sxy - sx * sy) / d;
  return { a: (sy - b * sx) / n, b };
}
