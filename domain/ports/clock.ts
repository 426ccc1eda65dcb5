/**
 * Where business time comes from. Commands carry `metadata.now` and deciders never read the
 * wall clock; the application layer (commands, processors, reactors, sagas, retriers) takes that
 * `now` from the Clock the composition root injects, so a test can fix time and a decision that
 * depends on it (a due date, an expired checkout session, a retry's `availableAt`) is
 * deterministic. Measuring elapsed time (timeouts, lag gauges) is not business time and stays on
 * the process clock.
 */
export interface Clock {
  now(): Date;
}

/** The wall clock: what production runs on. */
export const systemClock: Clock = { now: () => new Date() };

/** A clock that stands still at `at` until moved: for tests and replays. */
export class FixedClock implements Clock {
  private at: Date;
  constructor(at: Date | string) {
    this.at = new Date(at);
  }
  now(): Date {
    return new Date(this.at.getTime());
  }
  set(at: Date | string): void {
    this.at = new Date(at);
  }
  advance(ms: number): void {
    this.at = new Date(this.at.getTime() + ms);
  }
}
