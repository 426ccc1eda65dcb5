import { cached } from './cached';

describe('cached (single-flight, short TTL)', () => {
  test('concurrent callers share one call; the value is reused for the TTL after it settles, then fetched again', async () => {
    let t = 0;
    let calls = 0;
    const get = cached(async (k: string) => `${k}${++calls}`, 1000, () => t);
    expect(await Promise.all([get('a'), get('a'), get('a')])).toEqual(['a1', 'a1', 'a1']);
    t += 999;
    expect(await get('a')).toBe('a1');
    expect(await get('b')).toBe('b2'); // per key
    t += 1;
    expect(await get('a')).toBe('a3');
    expect(calls).toBe(3);
  });

  test('a failure is shared by its waiters but not kept', async () => {
    let calls = 0;
    const get = cached(async () => {
      calls++;
      if (calls === 1) throw new Error('down');
      return 'up';
    }, 60_000);
    const [x, y] = await Promise.allSettled([get(null), get(null)]);
    expect([x.status, y.status]).toEqual(['rejected', 'rejected']);
    expect(await get(null)).toBe('up');
    expect(calls).toBe(2);
  });
});
