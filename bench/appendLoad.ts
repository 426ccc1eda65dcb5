/**
 * Load generator of benchmark (1), run as its own process: W writers, each on its own streams,
 * append single ~1 KB events with an expected revision for a fixed time, against one target:
 *   settle       SqlEventStore with group commit (the default)
 *   settle-single SqlEventStore with EVENTSTORE_GROUP_COMMIT=false (one transaction per append)
 *   emmett       Emmett's PostgreSQL event store (@event-driven-io/emmett-postgresql)
 *   raw          plain single-row INSERTs into an equivalent table (same unique constraints), one
 *                implicit transaction each: the ceiling of one durable row per commit
 */
import { randomUUID } from 'node:crypto';
import { Pool } from 'pg';
import type { ExpectedRevision } from '../domain/ports/eventStore';
import { SqlEventStore } from '../infrastructure/eventstore/sqlEventStore';
import { migrate } from '../infrastructure/sql/migrate';
import { PgClient } from '../infrastructure/sql/pgClient';
import { childMain, kilobyteEvent } from './lib';

export type AppendTarget = 'settle' | 'settle-single' | 'emmett' | 'raw';

export interface AppendLoadInput {
  target: AppendTarget;
  databaseUrl: string;
  /** Schema for settle / raw (created here). Emmett uses its own tables in the database's public schema. */
  schema: string;
  writers: number;
  durationMs: number;
  streamsPerWriter: number;
  runId: string;
}

export interface AppendLoadResult {
  target: AppendTarget;
  writers: number;
  appends: number;
  seconds: number;
  perSecond: number;
  errors: number;
  /** group commit only: average appends per transaction */
  avgBatch?: number;
}

type AppendFn = (writer: number, stream: string, revision: bigint | null, i: number) => Promise<bigint>;

const RAW_DDL = (schema: string) => `
CREATE SCHEMA IF NOT EXISTS ${schema};
CREATE TABLE ${schema}.raw_events (
  global_position bigserial PRIMARY KEY,
  stream_id       text   NOT NULL,
  stream_revision bigint NOT NULL,
  event_id        uuid   NOT NULL,
  event_type      text   NOT NULL,
  data            jsonb  NOT NULL,
  metadata        jsonb  NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT raw_events_stream_revision_unique UNIQUE (stream_id, stream_revision),
  CONSTRAINT raw_events_stream_event_id_unique UNIQUE (stream_id, event_id)
);`;

const metadata = { correlationId: 'bench', causationId: 'bench', tenantId: 'bench', schemaVersion: 1 };

async function setup(input: AppendLoadInput): Promise<{ append: AppendFn; close(): Promise<void>; stats?: () => { batches: number; appends: number } }> {
  const max = input.writers + 2;
  switch (input.target) {
    case 'settle':
    case 'settle-single': {
      const db = new PgClient({ connectionString: input.databaseUrl, schema: input.schema, max, applicationName: 'bench-append' });
      await db.exec(`CREATE SCHEMA IF NOT EXISTS ${input.schema}`);
      await migrate(db, input.schema);
      const store = new SqlEventStore(db, undefined, { groupCommit: input.target === 'settle', ...(process.env.BENCH_GC_CONCURRENCY ? { maxConcurrentBatches: Number(process.env.BENCH_GC_CONCURRENCY) } : {}) });
      return {
        append: async (_w, stream, revision, i) => {
          const expected: ExpectedRevision = revision === null ? 'no_stream' : revision;
          const r = await store.append(stream, [{ id: randomUUID(), type: 'PaymentRecorded', data: kilobyteEvent(i), metadata }], expected);
          return r.nextExpectedRevision;
        },
        close: () => db.close(),
        stats: () => store.stats,
      };
    }
    case 'raw': {
      const pool = new Pool({ connectionString: input.databaseUrl, max, application_name: 'bench-raw' });
      await pool.query(RAW_DDL(input.schema));
      const sql = `INSERT INTO ${input.schema}.raw_events (stream_id, stream_revision, event_id, event_type, data, metadata) VALUES ($1, $2, $3, $4, $5, $6)`;
      return {
        append: async (_w, stream, revision, i) => {
          const next = revision === null ? 0n : revision + 1n;
          await pool.query(sql, [stream, next.toString(), randomUUID(), 'PaymentRecorded', JSON.stringify(kilobyteEvent(i)), JSON.stringify(metadata)]);
          return next;
        },
        close: () => pool.end(),
      };
    }
    case 'emmett': {
      // ESM-only in spirit, but ships a CommonJS build: required lazily so the other targets never load it
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, only when this target runs
      const emmettPg = require('@event-driven-io/emmett-postgresql') as typeof import('@event-driven-io/emmett-postgresql');
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily, only when this target runs
      const emmett = require('@event-driven-io/emmett') as typeof import('@event-driven-io/emmett');
      const pool = new Pool({ connectionString: input.databaseUrl, max, application_name: 'bench-emmett' });
      const store = emmettPg.getPostgreSQLEventStore(input.databaseUrl, {
        connectionOptions: { pooled: true, pool } as never,
      });
      return {
        append: async (_w, stream, revision, i) => {
          const r = await store.appendToStream(stream, [{ type: 'PaymentRecorded', data: kilobyteEvent(i), metadata: { eventId: randomUUID() } }] as never, {
            expectedStreamVersion: revision === null ? emmett.STREAM_DOES_NOT_EXIST : revision,
          });
          return r.nextExpectedStreamVersion;
        },
        close: async () => {
          await store.close();
          await pool.end().catch(() => undefined);
        },
      };
    }
  }
}

export async function appendLoad(input: AppendLoadInput): Promise<AppendLoadResult> {
  const target = await setup(input);
  try {
    // warm-up: every writer creates its streams (not measured)
    const revisions: Array<Array<bigint | null>> = Array.from({ length: input.writers }, () => Array.from({ length: input.streamsPerWriter }, () => null));
    const streamName = (w: number, s: number) => `bench-${input.runId}-w${w}-s${s}`;
    await Promise.all(
      revisions.map(async (revs, w) => {
        for (let s = 0; s < revs.length; s++) revs[s] = await target.append(w, streamName(w, s), null, s);
      }),
    );
    const before = target.stats ? { ...target.stats() } : null;
    let appends = 0;
    let errors = 0;
    const started = process.hrtime.bigint();
    const deadline = Date.now() + input.durationMs;
    await Promise.all(
      revisions.map(async (revs, w) => {
        let k = 0;
        while (Date.now() < deadline) {
          const s = k++ % revs.length;
          try {
            revs[s] = await target.append(w, streamName(w, s), revs[s]!, appends);
            appends++;
          } catch (err) {
            errors++;
            if (errors > 100) throw err;
          }
        }
      }),
    );
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const after = target.stats?.();
    return {
      target: input.target,
      writers: input.writers,
      appends,
      seconds,
      perSecond: appends / seconds,
      errors,
      ...(before && after ? { avgBatch: (after.appends - before.appends) / Math.max(1, after.batches - before.batches) } : {}),
    };
  } finally {
    await target.close();
  }
}

// the input is the AppendLoadInput bench/appendBench.ts sends through runChild
if (require.main === module) childMain((input) => appendLoad(input as AppendLoadInput));
