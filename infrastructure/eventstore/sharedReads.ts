import { comparePositions, type EventStore, type Position, type ReadAllOptions, type RecordedEvent } from '../../domain/ports/eventStore';

/**
 * One read of the global log for several subscriptions that walk it in step (projections being
 * rebuilt from position zero at the same time, in one process): each batch is read from the
 * database and parsed once, and handed to every member that asks for it.
 *
 * Why a shared batch is what a member's own read would have returned: readAll() only returns
 * events below the oldest running transaction, which are final; so a FULL batch read after a
 * position is exactly what any later read after that position returns. Short batches (the head)
 * are never shared: the member reads again itself, and sees what committed meanwhile.
 *
 * Members stay within `window` batches of each other: the member in front waits (at most
 * `maxWaitMs` per read, then reads alone) for one behind it inside the window, so the slower
 * projection consumes what the faster one read instead of falling out of reach and reading
 * everything again. The cost: projections rebuilt together finish together (the faster one's
 * old generation answers, not advancing, until about when the slower one is done). A member that
 * leaves (its rebuild ended or stopped) or is behind the whole window (it joined late) holds
 * nobody back.
 */
export class SharedReads {
  private readonly entries: Entry[] = [];
  private readonly members = new Set<Member>();
  private waiters: Array<() => void> = [];
  /** Reads served from a batch another member read (for tests and benchmarks). */
  shared = 0;

  constructor(
    private readonly store: EventStore,
    private readonly window = 8,
    private readonly maxWaitMs = 2000,
  ) {}

  /** An event store for one subscription (only readAll is shared); call leave() when it stops. */
  join(): EventStore & { leave(): void } {
    const member: Member = { after: null };
    this.members.add(member);
    const store = this.store;
    return {
      append: (...a) => store.append(...a),
      ...(store.appendAtomically ? { appendAtomically: store.appendAtomically.bind(store) } : {}),
      readStream: (...a) => store.readStream(...a),
      headPosition: () => store.headPosition(),
      close: () => store.close(),
      readAll: (o) => this.read(member, o ?? {}),
      leave: () => {
        this.members.delete(member);
        this.progress();
      },
    };
  }

  private async read(member: Member, o: ReadAllOptions): Promise<RecordedEvent[]> {
    const after = o.after ?? null;
    const maxCount = o.maxCount ?? 1000;
    member.after = after;
    this.progress();
    const deadline = Date.now() + this.maxWaitMs;
    for (;;) {
      const hit = this.entries.find((e) => e.maxCount === maxCount && same(e.after, after));
      if (hit) {
        const events = await hit.read;
        if (events !== null && events.length === maxCount) {
          if (hit.owner !== member) this.shared++;
          return events;
        }
        return this.store.readAll({ after, maxCount });
      }
      const last = this.entries[this.entries.length - 1];
      // Only a read that continues the window is kept; one behind it (a member that reloaded an
      // older checkpoint, or joined late) is read alone.
      const extends_ = !last || before(last.after, after);
      if (!extends_) return this.store.readAll({ after, maxCount });
      // Wait only for a member that will consume the window (one behind all of it reads alone,
      // and waiting for it would only slow this one down).
      const first = this.entries[0];
      const behind = [...this.members].some((m) => m !== member && before(m.after, after) && (!first || !before(m.after, first.after)));
      if (this.entries.length >= this.window && behind && Date.now() < deadline) {
        await this.waitForProgress(deadline - Date.now());
        continue;
      }
      if (this.entries.length >= this.window) return this.store.readAll({ after, maxCount });
      const entry: Entry = { after, maxCount, owner: member, read: this.store.readAll({ after, maxCount }).catch(() => null) };
      this.entries.push(entry);
      const events = await entry.read;
      if (events === null || events.length < maxCount) {
        // a failed or short read is not shared: drop it (those waiting on it read again themselves)
        const i = this.entries.indexOf(entry);
        if (i >= 0) this.entries.splice(i, 1);
        this.progress();
        if (events === null) return this.store.readAll({ after, maxCount }); // its error is this caller's
        return events;
      }
      return events;
    }
  }

  /** Drops batches every member has moved past and wakes members waiting for room. */
  private progress(): void {
    const slowest = [...this.members].reduce<Position | null | undefined>((min, m) => (min === undefined || before(m.after, min) ? m.after : min), undefined);
    for (let oldest = this.entries[0]; oldest && (slowest === undefined || before(oldest.after, slowest)); oldest = this.entries[0]) this.entries.shift();
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
  }

  private waitForProgress(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, ms));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

interface Member {
  /** Where this member last asked to read after (null: the start of the log). */
  after: Position | null;
}

interface Entry {
  readonly after: Position | null;
  readonly maxCount: number;
  readonly owner: Member;
  /** null: the read failed. */
  readonly read: Promise<RecordedEvent[] | null>;
}

function same(a: Position | null, b: Position | null): boolean {
  return a === null || b === null ? a === b : comparePositions(a, b) === 0;
}

/** a strictly before b, null being the start of the log. */
function before(a: Position | null, b: Position | null): boolean {
  if (a === null) return b !== null;
  if (b === null) return false;
  return comparePositions(a, b) < 0;
}
