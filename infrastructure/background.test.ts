/** Wakeable: the sleep of every background loop (fake timers: what is pinned is order, not speed). */
import { Wakeable } from './background';

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
