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
        if (left <= 0) return end();
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
