/** The one exponential backoff: doubling from the base, the cap, equal jitter bounds. */
import { backoffDelay } from './backoff';

describe('backoffDelay', () => {
  const policy = { baseMs: 100, maxMs: 5000 };

  test('doubles from the base for each retry', () => {
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, policy))).toEqual([100, 200, 400, 800, 1600]);
  });

  test('never exceeds the cap, however many attempts (no overflow to Infinity or NaN)', () => {
    expect(backoffDelay(7, policy)).toBe(5000);
    expect(backoffDelay(1_000, policy)).toBe(5000);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, { baseMs: 1000, maxMs: 60_000 })).toBe(60_000);
  });

  test('an attempt of 0 or less counts as the first retry', () => {
    expect(backoffDelay(0, policy)).toBe(100);
    expect(backoffDelay(-3, policy)).toBe(100);
  });

  test('equal jitter stays within [half, all] of the capped delay and spans it', () => {
    const jittered = { ...policy, jitter: 'equal' as const };
    expect(backoffDelay(3, jittered, () => 0)).toBe(200);
    expect(backoffDelay(3, jittered, () => 0.999999)).toBe(400);
    expect(backoffDelay(3, jittered, () => 0.5)).toBe(300);
    expect(backoffDelay(20, jittered, () => 0)).toBe(2500);
    expect(backoffDelay(20, jittered, () => 0.999999)).toBe(5000);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(1 + (i % 8), jittered);
      const full = Math.min(5000, 100 * 2 ** (i % 8));
      expect(d).toBeGreaterThanOrEqual(full / 2);
      expect(d).toBeLessThanOrEqual(full);
    }
  });

  test('a random source out of [0, 1) cannot push the delay out of its bounds', () => {
    const jittered = { ...policy, jitter: 'equal' as const };
    expect(backoffDelay(2, jittered, () => 7)).toBe(200);
    expect(backoffDelay(2, jittered, () => -1)).toBe(100);
  });
});
