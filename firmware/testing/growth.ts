/** For tests that check an algorithm is linear: how much longer ten times the input takes. */

/** time(f(10n)) / time(f(n)), each the best of three runs after a warm-up. */
export function growth(f: (n: number) => unknown, n: number): number {
  const best = (m: number) => {
    let b = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      f(m);
      b = Math.min(b, performance.now() - t0);
    }
    return b;
  };
  best(n);
  return best(10 * n) / Math.max(best(n), 0.05);
}
