/**
 * The projection runtime and every read model against a real PostgreSQL server (DATABASE_URL):
 * live-built equals rebuilt over random histories, crashes between batches, two runners at once
 * (exactly once through the checkpoint fence), dead letters in skip and halt mode.
 */
import type { EventStore, RecordedEvent } from '../domain/ports/eventStore';
import { SharedReads } from '../infrastructure/eventstore/sharedReads';
import { SqlEventStore } from '../infrastructure/eventstore/sqlEventStore';
import type { SqlClient } from '../domain/ports/sql';
import { AlwaysLeader } from '../infrastructure/sql/leaderLease';
import { postgresDatabase, type TestDatabase } from '../test/support/databases';
import { eventually } from '../test/support/events';
import { generateHistories } from '../test/support/histories';
import { projections } from './index';
import { ProjectionRunner, requestRebuild, resumeProjection } from '../infrastructure/projections/runner';
import type { ProjectionDefinition } from '../domain/ports/projection';

async function dump(db: SqlClient, def: ProjectionDefinition): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const table of def.tables) {
    const { rows } = await db.query<{ j: string }>(`SELECT row_to_json(v)::text AS j FROM ${table} v ORDER BY 1`);
    out[table] = rows.map((r) => JSON.parse(r.j) as unknown);
  }
  return out;
}

/**
 * Waits until every runner has passed the newest committed event. Not `store.headPosition()`:
 * that is the head a reader may see now, and a runner's own open transaction (read-model writes
 * plus checkpoint) holds the snapshot xmin below appends that have already committed, so it can
 * lag the last append and the dump would race the final events.
 */
async function caughtUp(db: SqlClient, runners: ProjectionRunner[]): Promise<void> {
  const { rows } = await db.query<{ c: string; p: string }>(
    'SELECT transaction_id::text AS c, global_position::text AS p FROM events ORDER BY transaction_id DESC, global_position DESC LIMIT 1',
  );
  const head = rows[0] ? { commit: BigInt(rows[0].c), prepare: BigInt(rows[0].p) } : null;
  await eventually(async () => {
    for (const r of runners) {
      const p = await r.position();
      if (head && (!p || p.commit < head.commit || (p.commit === head.commit && p.prepare < head.prepare))) {
        r.wake();
        return false;
      }
    }
    return true;
  }, 60_000);
}

async function generationOf(db: SqlClient, name: string): Promise<number> {
  const { rows } = await db.query<{ g: number }>('SELECT active_generation AS g FROM projection_state WHERE name = $1', [name]);
  return rows[0]?.g ?? 0;
}

describe('projections (PostgreSQL)', () => {
  let t: TestDatabase;
  let store: SqlEventStore;
  const runners: ProjectionRunner[] = [];

  let sharedReads: SharedReads;

  beforeAll(async () => {
    t = await postgresDatabase({ max: 40 });
    store = new SqlEventStore(t.db);
    sharedReads = new SharedReads(store);
  });
  afterEach(async () => {
    await Promise.all(runners.splice(0).map((r) => r.stop()));
  });
  afterAll(() => t.drop());

  function runner(def: ProjectionDefinition, opts: ConstructorParameters<typeof ProjectionRunner>[4] = {}): ProjectionRunner {
    // as in the service: the runners of one process share their rebuild reads
    const r = new ProjectionRunner(t.db, store, def, new AlwaysLeader(def.name), { idleDelayMs: 20, leaseRetryMs: 50, sharedReads, ...opts });
    runners.push(r);
    return r;
  }

  test.each([1, 2, 3])('live-built read models equal their rebuild from zero (random histories, seed %i)', async (seed) => {
    const live = await Promise.all(projections.map(async (def) => {
      const r = runner(def, { batchSize: 13, rebuildBatchSize: 7 });
      await r.install();
      r.start();
      return r;
    }));
    // events arrive while the projections run
    await generateHistories(store, seed, { prefix: `s${seed}`, invoices: 8, bookings: 8, customers: 5, stepsPerStream: 10 });
    await caughtUp(t.db, live);
    const before = await Promise.all(projections.map((d) => dump(t.db, d)));
    expect(before.some((d) => Object.values(d).some((rows) => rows.length > 0))).toBe(true);

    const generations = await Promise.all(projections.map((d) => generationOf(t.db, d.name)));
    const sharedBefore = sharedReads.shared;
    for (const d of projections) await requestRebuild(t.db, d.name);
    live.forEach((r) => r.wake());
    await eventually(async () => (await Promise.all(projections.map((d, i) => generationOf(t.db, d.name).then((g) => g === generations[i]! + 1)))).every(Boolean), 60_000);
    await caughtUp(t.db, live);
    const after = await Promise.all(projections.map((d) => dump(t.db, d)));
    expect(after).toEqual(before);
    // the rebuilds ran side by side and took batches from each other's reads
    expect(sharedReads.shared).toBeGreaterThan(sharedBefore);
  });

  test('read models hold what the histories say: one row per invoice, every invoice event in the history, payment attempts counted once', async () => {
    const live = await Promise.all(projections.map(async (def) => {
      const r = runner(def);
      await r.install();
      r.start();
      return r;
    }));
    await generateHistories(store, 42, { prefix: 'facts', invoices: 5, bookings: 0, customers: 0, stepsPerStream: 12 });
    await caughtUp(t.db, live);
    const events = (await readAll(store)).filter((e) => e.streamId.startsWith('invoice-tenant-h.facts-'));
    const { rows: inv } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM invoices WHERE invoice_id LIKE 'facts-%'`);
    expect(Number(inv[0]!.n)).toBe(5);
    const { rows: hist } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM invoice_history WHERE invoice_id LIKE 'facts-%'`);
    expect(Number(hist[0]!.n)).toBe(events.length);
    const attempts = events.filter((e) => ['PaymentSucceeded', 'PaymentAttemptFailed', 'PaymentAmountMismatch', 'OverpaymentRecorded'].includes(e.type));
    const pendings = events.filter((e) => e.type === 'PaymentAttemptPending');
    const { rows: pay } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM payment_history WHERE payable_id LIKE 'facts-%'`);
    // pending attempts are rows of their own until a final outcome for the same payment updates them
    expect(Number(pay[0]!.n)).toBeGreaterThanOrEqual(attempts.length);
    expect(Number(pay[0]!.n)).toBeLessThanOrEqual(attempts.length + pendings.length);
    const { rows: paid } = await t.db.query<{ s: string | null }>(`SELECT sum(amount_paid) AS s FROM invoices WHERE invoice_id LIKE 'facts-%'`);
    const paidEvents = events.filter((e) => e.type === 'InvoicePaid').reduce((n, e) => n + (e.data as { amount: { amount: number } }).amount.amount, 0);
    expect(Number(paid[0]!.s ?? 0)).toBe(paidEvents);
  });

  /** A copy of a projection under other table names, whose apply can be made to misbehave. */
  function variant(base: ProjectionDefinition, suffix: string, wrap: (apply: () => Promise<void>) => Promise<void>): ProjectionDefinition {
    const rename = (tt: Record<string, string>) => Object.fromEntries(base.tables.map((x) => [x, tt[`${x}_${suffix}`]!]));
    return {
      ...base,
      name: `${base.name}_${suffix}`,
      tables: base.tables.map((x) => `${x}_${suffix}`),
      ddl: (tt) => base.ddl(rename(tt)),
      ...(base.queryIndexes ? { queryIndexes: (tt: Record<string, string>) => base.queryIndexes!(rename(tt)) } : {}),
      apply: (tx, events, tt) => wrap(() => base.apply(tx, events, rename(tt))),
    };
  }

  let seeded = false;
  async function seedOnce(): Promise<void> {
    if (seeded) return;
    seeded = true;
    await generateHistories(store, 7, { prefix: 'crash', invoices: 6, bookings: 6, customers: 4, stepsPerStream: 8 });
  }

  test.each(projections.map((p) => [p.name, p] as const))('%s: a crash between batches (transient failure) loses and doubles nothing', async (name, base) => {
    await seedOnce();
    let batches = 0;
    const crashing = variant(base, 'crashy', async (apply) => {
      batches++;
      await apply();
      if (batches % 3 === 0) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' });
    });
    const clean = variant(base, 'clean', (apply) => apply());
    const r1 = runner(crashing, { batchSize: 5 });
    const r2 = runner(clean, { batchSize: 1000 });
    await r1.install();
    await r2.install();
    r1.start();
    r2.start();
    await caughtUp(t.db, [r1, r2]);
    expect(batches).toBeGreaterThan(3);
    const a = await dump(t.db, crashing);
    const b = await dump(t.db, clean);
    expect(Object.values(a)).toEqual(Object.values(b));
    expect(Object.values(a).some((rows) => rows.length > 0)).toBe(true);
    expect(name).toBe(base.name);
  });

  test.each(projections.map((p) => [p.name, p] as const))('%s: two runners at once (a lost lease) apply every event exactly once', async (name, base) => {
    await seedOnce();
    const def = variant(base, 'split', (apply) => apply());
    const a = runner(def, { batchSize: 3 });
    const b = runner(def, { batchSize: 3 });
    const clean = variant(base, 'single', (apply) => apply());
    const c = runner(clean, { batchSize: 1000 });
    await a.install();
    await c.install();
    a.start();
    b.start();
    c.start();
    await generateHistories(store, 99 + name.length, { prefix: `split-${name}`, invoices: 4, bookings: 4, customers: 3, stepsPerStream: 8 });
    await caughtUp(t.db, [a, b, c]);
    // the counters move just after each commit: give the last batch its tick, then compare
    await eventually(() => a.status().applied + b.status().applied >= c.status().applied, 10_000).catch(() => undefined);
    expect(a.status().applied + b.status().applied).toBe(c.status().applied);
    expect(Object.values(await dump(t.db, def))).toEqual(Object.values(await dump(t.db, clean)));
  });

  test('when the code changes a projection\'s tables, it rebuilds into a new generation before going live', async () => {
    await seedOnce();
    const base = projections.find((p) => p.name === 'bookings')!;
    const v1 = variant(base, 'versioned', (apply) => apply());
    const r1 = runner(v1);
    await r1.install();
    r1.start();
    await caughtUp(t.db, [r1]);
    await r1.stop();
    runners.splice(runners.indexOf(r1), 1);
    const g1 = await generationOf(t.db, v1.name);
    // the next release adds a column
    const v2: ProjectionDefinition = { ...v1, ddl: (tt) => `${v1.ddl(tt)}\nALTER TABLE ${tt.bookings_versioned} ADD COLUMN note text;` };
    const r2 = runner(v2);
    await r2.install();
    r2.start();
    await eventually(async () => (await generationOf(t.db, v1.name)) === g1 + 1, 30_000);
    await caughtUp(t.db, [r2]);
    const { rows } = await t.db.query<{ n: string }>(`SELECT count(note) AS n FROM bookings_versioned`);
    expect(Number(rows[0]!.n)).toBe(0); // the new column exists in the live view
    expect((await dump(t.db, v2)).bookings_versioned!.length).toBeGreaterThan(0);
  });

  async function indexesOf(table: string): Promise<string[]> {
    const { rows } = await t.db.query<{ i: string }>('SELECT indexname AS i FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 ORDER BY 1', [table]);
    return rows.map((r) => r.i);
  }

  test('a rebuild that crashes midway switches nothing; the next leader rebuilds from zero and switches a complete, indexed generation', async () => {
    await seedOnce();
    const base = projections.find((p) => p.name === 'payment_history')!;
    // Stops inside the third rebuild batch until released, then fails as a lost connection would:
    // two batches of the new generation are committed, the third is not.
    let rebuildBatches = 0;
    let inThird: () => void = () => undefined;
    const reachedThird = new Promise<void>((r) => (inThird = r));
    let crash: (err: Error) => void = () => undefined;
    const crashed = new Promise<never>((_, reject) => (crash = reject));
    crashed.catch(() => undefined);
    let armed = false;
    const def = variant(base, 'midcrash', async (apply) => {
      await apply();
      if (armed && ++rebuildBatches === 3) {
        inThird();
        await crashed;
      }
    });
    const r1 = runner(def, { rebuildBatchSize: 5 });
    await r1.install();
    r1.start();
    await caughtUp(t.db, [r1]);
    const before = await dump(t.db, def);
    expect(before.payment_history_midcrash!.length).toBeGreaterThan(10);
    const g = await generationOf(t.db, def.name);
    // the live generation has every index, query indexes included
    expect(await indexesOf(`payment_history_midcrash__g${g}`)).toEqual(
      [`payment_history_midcrash__g${g}_customer`, `payment_history_midcrash__g${g}_list`, `payment_history_midcrash__g${g}_payable`, `payment_history_midcrash__g${g}_pkey`].sort(),
    );

    armed = true;
    await requestRebuild(t.db, def.name);
    r1.wake();
    await reachedThird;
    const stopping = r1.stop();
    crash(Object.assign(new Error('Connection terminated unexpectedly'), { code: '08006' }));
    await stopping;
    runners.splice(runners.indexOf(r1), 1);

    // nothing switched: the old generation answers, the rebuild is still requested
    expect(await generationOf(t.db, def.name)).toBe(g);
    expect(await dump(t.db, def)).toEqual(before);
    const { rows: st } = await t.db.query<{ r: Date | null }>('SELECT rebuild_requested_at AS r FROM projection_state WHERE name = $1', [def.name]);
    expect(st[0]!.r).not.toBeNull();
    // the partial generation holds the two committed batches and no query indexes yet
    const { rows: partial } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM payment_history_midcrash__g${g + 1}`);
    expect(Number(partial[0]!.n)).toBeGreaterThan(0);
    expect(Number(partial[0]!.n)).toBeLessThan(before.payment_history_midcrash!.length);
    expect(await indexesOf(`payment_history_midcrash__g${g + 1}`)).toEqual([`payment_history_midcrash__g${g + 1}_payable`, `payment_history_midcrash__g${g + 1}_pkey`]);

    // the next leader starts the rebuild over and switches to a complete generation
    armed = false;
    const r2 = runner(def, { rebuildBatchSize: 5 });
    r2.start();
    await eventually(async () => (await generationOf(t.db, def.name)) === g + 1, 60_000);
    expect(await dump(t.db, def)).toEqual(before);
    expect(await indexesOf(`payment_history_midcrash__g${g + 1}`)).toEqual(
      [`payment_history_midcrash__g${g + 1}_customer`, `payment_history_midcrash__g${g + 1}_list`, `payment_history_midcrash__g${g + 1}_payable`, `payment_history_midcrash__g${g + 1}_pkey`].sort(),
    );
    expect(await indexesOf(`payment_history_midcrash__g${g}`)).toEqual([]); // the old generation is dropped
  });

  test('only rebuild batches commit asynchronously; live batches (before and after the switch) commit synchronously', async () => {
    await seedOnce();
    const base = projections.find((p) => p.name === 'invoices')!;
    const seen: Array<{ generation: string; syncCommit: string }> = [];
    const def: ProjectionDefinition = {
      ...base,
      name: 'invoices_commit',
      tables: ['invoices_commit'],
      ddl: (tt) => base.ddl({ invoices: tt.invoices_commit! }),
      queryIndexes: (tt) => base.queryIndexes!({ invoices: tt.invoices_commit! }),
      async apply(tx, events, tt) {
        const { rows } = await tx.query<{ s: string }>(`SELECT current_setting('synchronous_commit') AS s`);
        seen.push({ generation: tt.invoices_commit!, syncCommit: rows[0]!.s });
        await base.apply(tx, events, { invoices: tt.invoices_commit! });
      },
    };
    const r = runner(def, { batchSize: 50, rebuildBatchSize: 50 });
    await r.install();
    r.start();
    await caughtUp(t.db, [r]);
    const g = await generationOf(t.db, def.name);
    await requestRebuild(t.db, def.name);
    r.wake();
    await eventually(async () => (await generationOf(t.db, def.name)) === g + 1, 60_000);
    await generateHistories(store, 314, { prefix: 'commit', invoices: 3, bookings: 0, customers: 0, stepsPerStream: 6 });
    await caughtUp(t.db, [r]);
    const by = (gen: number) => [...new Set(seen.filter((x) => x.generation === `invoices_commit__g${gen}`).map((x) => x.syncCommit))];
    expect(by(g)).toEqual(['on']);
    // rebuild batches and, after the switch, live batches on the same generation
    expect(seen.filter((x) => x.generation === `invoices_commit__g${g + 1}`).length).toBeGreaterThan(1);
    const rebuilt = seen.findIndex((x) => x.generation === `invoices_commit__g${g + 1}`);
    expect(seen[rebuilt]!.syncCommit).toBe('off');
    expect(seen[seen.length - 1]).toEqual({ generation: `invoices_commit__g${g + 1}`, syncCommit: 'on' });
  });

  test('an event a projection cannot apply is dead-lettered; in skip mode the rest is applied', async () => {
    const base = projections.find((p) => p.name === 'invoice_history')!;
    const poisoned: ProjectionDefinition = {
      ...base,
      name: 'history_skip',
      tables: ['history_skip'],
      ddl: (tt) => base.ddl({ invoice_history: tt.history_skip! }),
      async apply(tx, events, tt) {
        for (const e of events) {
          if (e.type === 'InvoiceVoided') throw new Error('cannot apply a void (test poison)');
          await base.apply(tx, [e], { invoice_history: tt.history_skip! });
        }
      },
    };
    await generateHistories(store, 5, { prefix: 'poison', invoices: 12, bookings: 0, customers: 0, stepsPerStream: 10 });
    const r = runner(poisoned, { onError: 'skip', batchSize: 50 });
    await r.install();
    r.start();
    await caughtUp(t.db, [r]);
    const all = (await readAll(store)).filter((e) => e.streamId.startsWith('invoice-') && (base.eventTypes as ReadonlySet<string>).has(e.type));
    const voids = all.filter((e) => e.type === 'InvoiceVoided');
    expect(voids.length).toBeGreaterThan(0);
    const { rows } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM history_skip`);
    expect(Number(rows[0]!.n)).toBe(all.length - voids.length);
    const dl = await t.db.query<{ event_id: string; error: string }>(`SELECT event_id::text, error FROM projection_dead_letters WHERE projection = 'history_skip'`);
    expect(dl.rows.map((x) => x.event_id).sort()).toEqual(voids.map((v) => v.id).sort());
    expect(dl.rows[0]!.error).toContain('test poison');
    expect(r.status().deadLetters).toBe(voids.length);
    expect(r.status().halted).toBeNull();
  });

  test('in halt mode the projection stops just before the bad event, and resumes (retry or skip) on request', async () => {
    const base = projections.find((p) => p.name === 'invoice_history')!;
    let poison = true;
    const poisoned: ProjectionDefinition = {
      ...base,
      name: 'history_halt',
      tables: ['history_halt'],
      ddl: (tt) => base.ddl({ invoice_history: tt.history_halt! }),
      async apply(tx, events, tt) {
        for (const e of events) {
          if (poison && e.type === 'InvoiceVoided') throw new Error('cannot apply a void (test poison)');
          await base.apply(tx, [e], { invoice_history: tt.history_halt! });
        }
      },
    };
    const r = runner(poisoned, { onError: 'halt', batchSize: 50 });
    await r.install();
    r.start();
    await eventually(async () => r.status().halted !== null, 30_000);
    const halted = r.status().halted!;
    expect(halted).toContain('InvoiceVoided');
    const { rows } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM history_halt`);
    const all = (await readAll(store)).filter((e) => (base.eventTypes as ReadonlySet<string>).has(e.type) && e.streamId.startsWith('invoice-'));
    const firstVoid = all.findIndex((e) => e.type === 'InvoiceVoided');
    expect(Number(rows[0]!.n)).toBe(firstVoid); // everything before the bad event, nothing after
    // resume and retry: still poisoned, halts again on the same event
    await resumeProjection(t.db, 'history_halt');
    r.wake();
    await eventually(async () => r.status().halted !== null && (await t.db.query(`SELECT 1 FROM projection_state WHERE name = 'history_halt' AND halted_at IS NOT NULL`)).rows.length === 1, 30_000);
    // the code is fixed: resume and everything is applied
    poison = false;
    await resumeProjection(t.db, 'history_halt');
    r.wake();
    await caughtUp(t.db, [r]);
    const done = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM history_halt`);
    expect(Number(done.rows[0]!.n)).toBe(all.length);
  });
});

async function readAll(store: EventStore): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for (;;) {
    const page = await store.readAll({ after: out[out.length - 1]?.position ?? null, maxCount: 1000 });
    if (page.length === 0) return out;
    out.push(...page);
  }
}
