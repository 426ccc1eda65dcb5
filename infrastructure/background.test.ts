/** Wakeable: the sleep of every background loop (fake timers: what is pinned is order, not speed). */
import { PollLoop, Wakeable, type PassResult } from './background';

describe('Wakeable', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  async function settledAfter(p: Promise<void>, ms: number): Promise<boolean> {
    let done = false;
    void p.then(() => (done = true));
    await jest.advanceTimersByTimeAsync(ms);
    return done;
  }

  test('sleeps its time when nobody wakes it', async () => {
    const w = new Wakeable();
    const p = w.sleep(1000);
    expect(await settledAfter(p, 999)).toBe(false);
    expect(await settledAfter(p, 1)).toBe(true);
  });

  test('a wake ends the sleep at once when there is no floor', async () => {
    const w = new Wakeable();
    const p = w.sleep(1000);
    w.wake();
    expect(await settledAfter(p, 0)).toBe(true);
  });

  test('with a floor, wakes end the sleep once the floor has passed, however many there are', async () => {
    const w = new Wakeable();
    const p = w.sleep(1000, 50);
    for (let i = 0; i < 10; i++) w.wake();
    expect(await settledAfter(p, 49)).toBe(false);
    expect(await settledAfter(p, 1)).toBe(true);
    // a wake after the floor has passed ends the sleep at once
    const q = w.sleep(1000, 50);
    await jest.advanceTimersByTimeAsync(60);
    w.wake();
    expect(await settledAfter(q, 0)).toBe(true);
  });

  test('a wake while nobody sleeps is kept: the next sleep ends after its floor, not its full time', async () => {
    const w = new Wakeable();
    w.wake(); // the loop was busy with a pass when new work arrived
    const p = w.sleep(1000, 20);
    expect(await settledAfter(p, 19)).toBe(false);
    expect(await settledAfter(p, 1)).toBe(true);
    // it is used up: the sleep after that waits its time again
    const q = w.sleep(1000, 20);
    expect(await settledAfter(q, 500)).toBe(false);
    w.interrupt();
  });

  test('a floor above the sleep time never lengthens the sleep', async () => {
    const w = new Wakeable();
    const p = w.sleep(5, 20);
    w.wake();
    expect(await settledAfter(p, 5)).toBe(true);
  });

  test('interrupt ends the sleep now, floor or not (stopping)', async () => {
    const w = new Wakeable();
    const p = w.sleep(1000, 500);
    w.interrupt();
    expect(await settledAfter(p, 0)).toBe(true);
  });
});

describe('PollLoop', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  function counting(results: Array<PassResult | Error>) {
    let calls = 0;
    const pass = async (): Promise<PassResult> => {
      const r = results[Math.min(calls, results.length - 1)]!;
      calls++;
      if (r instanceof Error) throw r;
      return r;
    };
    return { pass, calls: () => calls };
  }

  test('an idle pass sleeps idleMs; a wake runs the next pass at once (after the floor)', async () => {
    const c = counting(['idle']);
    const loop = new PollLoop(c.pass, { idleMs: 1000, wakeFloorMs: 20, maxFailureDelayMs: 5000 });
    loop.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(c.calls()).toBe(1);
    await jest.advanceTimersByTimeAsync(500);
    expect(c.calls()).toBe(1);
    loop.wake();
    await jest.advanceTimersByTimeAsync(0);
    expect(c.calls()).toBe(2);
    await jest.advanceTimersByTimeAsync(10);
    loop.wake();
    await jest.advanceTimersByTimeAsync(5);
    expect(c.calls()).toBe(2); // within the floor
    await jest.advanceTimersByTimeAsync(5);
    expect(c.calls()).toBe(3);
    await loop.stop();
  });

  test("'more' runs the next pass without sleeping", async () => {
    const c = counting(['more', 'more', 'more', 'idle']);
    const loop = new PollLoop(c.pass, { idleMs: 1000, maxFailureDelayMs: 5000 });
    loop.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(c.calls()).toBe(4);
    await loop.stop();
  });

  test('failing passes back off doubling from 200 ms up to the cap; wakes do not cut a backoff short; success resets it', async () => {
    const errors: number[] = [];
    const c = counting([new Error('1'), new Error('2'), new Error('3'), new Error('4'), new Error('5'), 'idle']);
    const loop = new PollLoop(c.pass, { idleMs: 60_000, maxFailureDelayMs: 1000, onError: (_e, n) => void errors.push(n) });
    loop.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(c.calls()).toBe(1);
    loop.wake();
    await jest.advanceTimersByTimeAsync(199);
    expect(c.calls()).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(c.calls()).toBe(2); // 200 ms
    await jest.advanceTimersByTimeAsync(400);
    expect(c.calls()).toBe(3); // 400 ms
    await jest.advanceTimersByTimeAsync(800);
    expect(c.calls()).toBe(4); // 800 ms
    await jest.advanceTimersByTimeAsync(999);
    expect(c.calls()).toBe(4);
    await jest.advanceTimersByTimeAsync(1);
    expect(c.calls()).toBe(5); // capped at 1000 ms
    await jest.advanceTimersByTimeAsync(1000);
    expect(c.calls()).toBe(6); // succeeded: now idle for a minute
    expect(errors).toEqual([1, 2, 3, 4, 5]);
    await loop.stop();
  });

  test('stop ends the sleep at once, waits for the pass in flight and releases the lease; a stopping pass can tell', async () => {
    let release!: () => void;
    let sawStopping = false;
    const lease = { tryAcquire: jest.fn(async () => true), release: jest.fn(async () => undefined) };
    let passes = 0;
    const loop: PollLoop = new PollLoop(
      async () => {
        passes++;
        if (passes === 2) {
          await new Promise<void>((r) => (release = r));
          sawStopping = loop.stopping;
        }
        return 'idle';
      },
      { idleMs: 60_000, maxFailureDelayMs: 5000, lease },
    );
    loop.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(passes).toBe(1);
    loop.wake();
    await jest.advanceTimersByTimeAsync(0);
    expect(passes).toBe(2);
    let stopped = false;
    const stopping = loop.stop().then(() => (stopped = true));
    await jest.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false); // the pass is still in flight
    release();
    await stopping;
    expect(sawStopping).toBe(true);
    expect(loop.running).toBe(false);
    expect(loop.stopping).toBe(false);
    expect(lease.release).toHaveBeenCalledTimes(1);
    expect(passes).toBe(2);
  });

  test('without the lease no pass runs; it retries the lease after leaseRetryMs (a failing lease check counts as not held)', async () => {
    let held = false;
    const missing: number[] = [];
    const lease = {
      tryAcquire: jest.fn(async () => {
        if (lease.tryAcquire.mock.calls.length === 1) throw new Error('database down');
        return held;
      }),
      release: jest.fn(async () => undefined),
    };
    const c = counting(['idle']);
    const loop = new PollLoop(c.pass, { idleMs: 60_000, maxFailureDelayMs: 5000, lease, leaseRetryMs: 2000, onLeaseMissing: () => void missing.push(Date.now()) });
    loop.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(c.calls()).toBe(0);
    await jest.advanceTimersByTimeAsync(2000);
    expect(c.calls()).toBe(0);
    expect(missing).toHaveLength(2);
    held = true;
    await jest.advanceTimersByTimeAsync(2000);
    expect(c.calls()).toBe(1);
    await loop.stop();
  });
});
