/**
 * The sleep every background loop (subscriptions, projections, outbox relay, webhook retrier)
 * idles on between passes: `wake()` cuts the current sleep short, so new work is picked up at
 * once instead of at the next poll.
 */
export class Wakeable {
  private wakeUp: (() => void) | null = null;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wakeUp = null;
        resolve();
      }, ms);
      this.wakeUp = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }
}
