/**
 * Benchmark (3), run as its own process: a log of N events is generated from real invoice streams
 * (those benchmark (2) wrote through the service), then the `invoices` and `payment_history`
 * projections are rebuilt from position zero by the production ProjectionRunner, both at once as
 * a service instance would. Baseline in the same run: reading the whole log through
 * SqlEventStore.readAll in the rebuild's batch size, applying nothing (the read ceiling).
 *
 * Generation (fast and still a valid log): the template streams are copied C times with the
 * invoice id suffixed by the copy number (in stream id, data and metadata), each event with a new
 * UUID, revisions kept, in multi-row INSERT ... SELECT statements of ~100k events per transaction;
 * then the `streams` table gets each stream's last revision. The global order is what the
 * inserts assign (transaction id, sequence), exactly as appends would.
 */
import { SharedReads } from '../infrastructure/eventstore/sharedReads';
import { SqlEventStore } from '../infrastructure/eventstore/sqlEventStore';
import { AlwaysLeader } from '../infrastructure/sql/leaderLease';
import { migrate } from '../infrastructure/sql/migrate';
import { PgClient } from '../infrastructure/sql/pgClient';
import { projectionNamed } from '../projections/index';
import { ProjectionRunner, requestRebuild } from '../infrastructure/projections/runner';
import type { Position } from '../domain/ports/eventStore';
import { childMain, sleep } from './lib';

export interface RebuildJobInput {
  databaseUrl: string;
  templateSchema: string;
  schema: string;
  events: number;
  runs: number;
}

export interface RebuildJobResult {
  events: number;
  generateSeconds: number;
  /** per run: seconds until both projections switched to the rebuilt generation */
  rebuildSeconds: number[];
  readSeconds: number[];
  invoices: number;
  historyRows: number;
}

const PROJECTIONS = ['invoices', 'payment_history'] as const;

export async function rebuildJob(input: RebuildJobInput): Promise<RebuildJobResult> {
  const db = new PgClient({ connectionString: input.databaseUrl, schema: input.schema, max: 8, applicationName: 'bench-rebuild' });
  try {
    await db.exec(`CREATE SCHEMA IF NOT EXISTS ${input.schema}`);
    await migrate(db, input.schema);
    const g0 = performance.now();
    await db.exec(`
      CREATE TABLE bench_template AS
        SELECT e.stream_id, e.stream_revision, e.event_type, e.data::text AS data, e.metadata::text AS metadata,
               split_part(e.stream_id, '.', 2) AS inv, dense_rank() OVER (ORDER BY e.stream_id) AS s
          FROM ${input.templateSchema}.events e
         WHERE e.stream_id IN (SELECT stream_id FROM ${input.templateSchema}.events WHERE stream_id LIKE 'invoice-%'
                                GROUP BY stream_id ORDER BY count(*) DESC, stream_id LIMIT 200);`);
    const perCopy = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM bench_template')).rows[0]!.n);
    if (perCopy === 0) throw new Error(`no invoice streams in ${input.templateSchema}`);
    const copies = Math.ceil(input.events / perCopy);
    const chunk = Math.max(1, Math.floor(100_000 / perCopy));
    for (let from = 0; from < copies; from += chunk) {
      const to = Math.min(copies, from + chunk) - 1;
      const remaining = input.events - from * perCopy;
      await db.query(
        `INSERT INTO events (stream_id, stream_revision, event_id, event_type, data, metadata)
         SELECT replace(t.stream_id, t.inv, t.inv || '_' || c), t.stream_revision, gen_random_uuid(), t.event_type,
                replace(t.data, t.inv, t.inv || '_' || c)::jsonb, replace(t.metadata, t.inv, t.inv || '_' || c)::jsonb
           FROM generate_series($1::int, $2::int) c CROSS JOIN bench_template t
          ORDER BY c, t.s, t.stream_revision
          LIMIT $3`,
        [from, to, remaining],
      );
    }
    await db.exec(`INSERT INTO streams (stream_id, revision) SELECT stream_id, max(stream_revision) FROM events GROUP BY stream_id;
                   DROP TABLE bench_template; ANALYZE events;`);
    const events = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]!.n);
    const generateSeconds = (performance.now() - g0) / 1000;

    const store = new SqlEventStore(db);
    // as the service runtime builds them: one SharedReads for the runners of the process
    const sharedReads = new SharedReads(store);
    const runners = PROJECTIONS.map((name) => new ProjectionRunner(db, store, projectionNamed(name)!, new AlwaysLeader(name), { sharedReads }));
    for (const r of runners) await r.install();
    const generation = async (name: string) => (await db.query<{ g: number }>('SELECT active_generation AS g FROM projection_state WHERE name = $1', [name])).rows[0]!.g;

    const rebuildSeconds: number[] = [];
    const readSeconds: number[] = [];
    for (let run = 0; run < input.runs; run++) {
      // baseline: read the whole log, nothing applied
      const r0 = performance.now();
      let after: Position | null = null;
      let read = 0;
      for (;;) {
        const batch = await store.readAll({ after, maxCount: 2000 });
        if (batch.length === 0) break;
        read += batch.length;
        after = batch[batch.length - 1]!.position;
      }
      if (read !== events) throw new Error(`read ${read} events, expected ${events}`);
      readSeconds.push((performance.now() - r0) / 1000);

      const before = await Promise.all(PROJECTIONS.map(generation));
      for (const name of PROJECTIONS) await requestRebuild(db, name);
      const t0 = performance.now();
      for (const r of runners) r.start();
      for (let i = 0; i < PROJECTIONS.length; i++) {
        while ((await generation(PROJECTIONS[i]!)) === before[i]) await sleep(50);
      }
      rebuildSeconds.push((performance.now() - t0) / 1000);
      for (const r of runners) await r.stop();
    }
    const invoices = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM invoices')).rows[0]!.n);
    const historyRows = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM payment_history')).rows[0]!.n);
    return { events, generateSeconds, rebuildSeconds, readSeconds, invoices, historyRows };
  } finally {
    await db.close();
  }
}

// the input is the RebuildJobInput bench/run.ts sends through runChild
if (require.main === module) childMain((input) => rebuildJob(input as RebuildJobInput));
