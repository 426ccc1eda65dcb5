import { backoffDelay } from '../domain/shared/backoff';

/**
 * The sleep every background loop (subscriptions, projections, outbox relay, webhook retrier)
 * idles on between passes: `wake()` cuts the current sleep short, so new work is picked up at
 * once instead of at the next poll. A wake that comes while the loop is busy is kept for its
 * next sleep, so work that arrives during a pass is never left to the poll interval.
 */
export class Wakeable {
  private wakeUp: (() => void) | null = null;
  private finish: (() => void) | null = null;
  /** A wake() that came while nobody slept (the loop was busy): the next sleep honours it. */
  private pending = false;

  /**
   * Sleeps `ms`; wake() ends it early, but never before `floorMs` have passed since it began. A
   * floor turns a storm of wakes (one per append under load) into one pass per floor, so a pass
   * handles many new items instead of one: the added latency is bounded by the floor while the
   * work per item falls.
   */
  async sleep(ms: number, floorMs = 0): Promise<void> {
    const started = Date.now();
    const woken = this.pending;
    this.pending = false;
    await new Promise<void>((resolve) => {
      let timer = setTimeout(end, ms);
      function end() {
        clearTimeout(timer);
        resolve();
      }
      this.finish = end;
      this.wakeUp = () => {
        const elapsed = Date.now() - started;
        // never past the sleep's own end: a floor above `ms` does not lengthen it
        const left = Math.min(floorMs, ms) - elapsed;
        if (left <= 0) { end(); return; }
        clearTimeout(timer);
        timer = setTimeout(end, left);
      };
      if (woken) this.wake();
    });
    this.wakeUp = null;
    this.finish = null;
  }

  /** Ends the current sleep now, or once its floor has passed. */
  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    if (w) w();
    else this.pending = true;
  }

  /** Ends the current sleep now, floor or not (stopping). */
  interrupt(): void {
    const f = this.finish;
    this.wakeUp = null;
    this.finish = null;
    if (f) f();
    else this.pending = true;
  }
}

/** The first backoff after a failing pass of a background loop; it doubles per failure up to the loop's cap. */
export const FAILURE_BACKOFF_BASE_MS = 100;

/** What a pass of a `PollLoop` found: `more` runs the next pass at once, `idle` sleeps first. */
export type PassResult = 'more' | 'idle';

export interface PollLoopOptions {
  /** Sleep after an `idle` pass; a wake ends it early. */
  readonly idleMs: number;
  /** A wake ends the idle sleep only once this much of it has passed (a storm of wakes becomes one pass per floor). */
  readonly wakeFloorMs?: number;
  /** Cap of the backoff after failing passes (from `FAILURE_BACKOFF_BASE_MS`, doubling). */
  readonly maxFailureDelayMs: number;
  /** One active loop across instances: a pass runs only while this lease is held; released on stop. */
  readonly lease?: { tryAcquire(): Promise<boolean>; release(): Promise<void> };
  /** Sleep while another instance holds the lease. */
  readonly leaseRetryMs?: number;
  /** The lease is held elsewhere (or could not be checked): the pass did not run. */
  readonly onLeaseMissing?: () => void | Promise<void>;
  /** A pass failed (`failures`: consecutive failures so far); the loop backs off and tries again. */
  readonly onError?: (err: unknown, failures: number) => void | Promise<void>;
}

/**
 * The loop of a background worker (outbox relay, consumer isolation's retrier, catch-up
 * subscriptions): `start()` runs passes until `stop()`; between passes it sleeps on a `Wakeable`
 * (`wake()` cuts the sleep short, honouring the floor); a failing pass backs off
 * (`domain/shared/backoff.ts`), and the backoff is a floor of its own, so wakes from appends do
 * not turn it into a retry storm. `stop()` ends any sleep at once, waits for the pass in flight and
 * releases the lease.
 */
export class PollLoop {
  private readonly sleeper = new Wakeable();
  private stopped = true;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly pass: () => Promise<PassResult>,
    private readonly opts: PollLoopOptions,
  ) {}

  /** Started and not asked to stop. */
  get running(): boolean {
    return !this.stopped;
  }

  /** `stop()` was called while the loop still runs: a pass should return early. False once stopped (a pass called directly runs in full). */
  get stopping(): boolean {
    return this.stopped && this.loop !== null;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sleeper.interrupt();
    await this.loop;
    this.loop = null;
    await this.opts.lease?.release();
  }

  wake(): void {
    this.sleeper.wake();
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const lease = this.opts.lease;
      if (lease && !(await lease.tryAcquire().catch(() => false))) {
        await this.opts.onLeaseMissing?.();
        await this.idle(this.opts.leaseRetryMs ?? 2000);
        continue;
      }
      try {
        const result = await this.pass();
        failures = 0;
        if (result === 'idle') await this.idle(this.opts.idleMs, this.opts.wakeFloorMs ?? 0);
      } catch (err) {
        failures += 1;
        await this.opts.onError?.(err, failures);
        const backoff = backoffDelay(failures + 1, { baseMs: FAILURE_BACKOFF_BASE_MS, maxMs: this.opts.maxFailureDelayMs });
        await this.idle(backoff, backoff);
      }
    }
  }

  private idle(ms: number, floorMs = 0): Promise<void> {
    return this.stopped ? Promise.resolve() : this.sleeper.sleep(ms, floorMs);
  }
}
