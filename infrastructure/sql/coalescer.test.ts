/** The statement coalescer, with a recording batch function (no database). */
import { Coalescer } from './coalescer';

const tick = () => new Promise((r) => setImmediate(r));

function recorder<I, O>(answer: (items: readonly I[]) => Promise<readonly O[]>) {
  const batches: I[][] = [];
  const run = async (items: readonly I[]) => {
    batches.push([...items]);
    return answer(items);
  };
  return { batches, run };
}

/** A batch function the test releases by hand, to control what queues behind a running batch. */
function gated() {
  const gates: Array<() => void> = [];
  const batches: number[][] = [];
  const run = (items: readonly number[]) =>
    new Promise<number[]>((resolve) => {
      batches.push([...items]);
      gates.push(() => resolve(items.map((i) => i * 10)));
    });
  return { batches, run, release: () => gates.shift()!() };
}

describe('Coalescer', () => {
  test('a quiet call runs at once, alone; calls made while a batch runs share the next batch, each with its own result', async () => {
    const g = gated();
    const c = new Coalescer<number, number>(g.run);
    const first = c.call(1);
    await tick();
    expect(g.batches).toEqual([[1]]);
    const rest = [2, 3, 4].map((i) => c.call(i));
    await tick();
    expect(g.batches).toEqual([[1]]); // the next batch waits for the running one
    g.release();
    expect(await first).toBe(10);
    await tick();
    expect(g.batches).toEqual([[1], [2, 3, 4]]);
    g.release();
    expect(await Promise.all(rest)).toEqual([20, 30, 40]);
    expect(c.stats).toEqual({ batches: 2, calls: 4, fallbacks: 0 });
  });

  test('calls made in one tick share one batch; maxBatch splits them', async () => {
    const r = recorder<number, number>(async (items) => items.map((i) => i + 1));
    const c = new Coalescer<number, number>(r.run, { maxBatch: 3 });
    expect(await Promise.all([1, 2, 3, 4, 5].map((i) => c.call(i)))).toEqual([2, 3, 4, 5, 6]);
    expect(r.batches).toEqual([[1, 2, 3], [4, 5]]);
  });

  test('maxBatchBytes bounds a batch by size; a call larger than the bound still runs, alone', async () => {
    const r = recorder<string, number>(async (items) => items.map((i) => i.length));
    const c = new Coalescer<string, number>(r.run, { sizeOf: (i) => i.length, maxBatchBytes: 10 });
    const items = ['aaaa', 'bbbb', 'cc', 'dddddddddddddd', 'e'];
    expect(await Promise.all(items.map((i) => c.call(i)))).toEqual([4, 4, 2, 14, 1]);
    expect(r.batches).toEqual([['aaaa', 'bbbb', 'cc'], ['dddddddddddddd'], ['e']]);
  });

  test('calls with the same key never share a batch and run in call order', async () => {
    const r = recorder<{ k: string; v: number }, number>(async (items) => items.map((i) => i.v));
    const c = new Coalescer<{ k: string; v: number }, number>(r.run, { keyOf: (i) => i.k });
    const calls = [{ k: 'a', v: 1 }, { k: 'b', v: 2 }, { k: 'a', v: 3 }, { k: 'c', v: 4 }, { k: 'a', v: 5 }];
    expect(await Promise.all(calls.map((i) => c.call(i)))).toEqual([1, 2, 3, 4, 5]);
    expect(r.batches.map((b) => b.map((i) => i.v))).toEqual([[1, 2, 4], [3], [5]]);
  });

  test('with several batches in flight, a call waits for the running call with its key', async () => {
    const g = gated();
    const c = new Coalescer<number, number>(g.run, { maxInFlight: 2, keyOf: (i) => String(i % 2) });
    const a = c.call(1);
    await tick();
    const b = c.call(3); // same key as 1, which is running
    const d = c.call(2);
    await tick();
    expect(g.batches).toEqual([[1], [2]]);
    g.release();
    expect(await a).toBe(10);
    await tick();
    expect(g.batches).toEqual([[1], [2], [3]]);
    g.release();
    g.release();
    expect(await Promise.all([b, d])).toEqual([30, 20]);
  });

  test('a statement error runs the batch call by call, so only the bad call fails', async () => {
    const r = recorder<number, number>(async (items) => {
      if (items.includes(13)) throw Object.assign(new Error('invalid input syntax'), { code: '22P02' });
      return items.map((i) => i * 2);
    });
    const c = new Coalescer<number, number>(r.run);
    const out = await Promise.allSettled([1, 13, 2].map((i) => c.call(i)));
    expect(out.map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).message))).toEqual([2, 'invalid input syntax', 4]);
    expect(r.batches).toEqual([[1, 13, 2], [1], [13], [2]]);
    expect(c.stats.fallbacks).toBe(1);
  });

  test('a connection failure rejects every call of the batch, without retrying them one by one', async () => {
    const r = recorder<number, number>(async () => {
      throw Object.assign(new Error('connection terminated'), { code: '08006' });
    });
    const c = new Coalescer<number, number>(r.run);
    const out = await Promise.allSettled([1, 2, 3].map((i) => c.call(i)));
    expect(out.every((o) => o.status === 'rejected')).toBe(true);
    expect(r.batches).toEqual([[1, 2, 3]]);
  });

  test('an answer of the wrong length rejects the batch instead of misassigning results', async () => {
    const c = new Coalescer<number, number>(async () => [1]);
    const out = await Promise.allSettled([1, 2].map((i) => c.call(i)));
    expect(out.map((o) => o.status)).toEqual(['rejected', 'rejected']);
  });
});
