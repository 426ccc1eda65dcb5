/**
 * Real databases for tests. PostgreSQL: the server given by DATABASE_URL (scripts/test.sh starts
 * a throwaway cluster when none is given); each test file gets its own schema, dropped at the end.
 * Embedded: an in-memory PGlite.
 */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { PgClient } from '../../infrastructure/sql/pgClient';
import { PgliteClient } from '../../infrastructure/sql/pgliteClient';
import { migrate } from '../../infrastructure/sql/migrate';
import type { SqlClient } from '../../domain/ports/sql';

export function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set: run the tests with `npm test`, which starts PostgreSQL');
  return url;
}

export function uniqueSchema(prefix = 't'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

export interface TestDatabase {
  db: SqlClient;
  schema: string;
  drop(): Promise<void>;
}

export async function postgresDatabase(opts: { max?: number } = {}): Promise<TestDatabase> {
  const schema = uniqueSchema();
  const db = new PgClient({ connectionString: databaseUrl(), schema, max: opts.max ?? 24 });
  await migrate(db, schema);
  return {
    db,
    schema,
    async drop() {
      await db.close().catch(() => undefined);
      const admin = new Client({ connectionString: databaseUrl() });
      await admin.connect();
      try {
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await admin.end();
      }
    },
  };
}

export async function embeddedDatabase(dataDir?: string): Promise<TestDatabase> {
  const schema = 'public';
  const db = await PgliteClient.open(dataDir, schema);
  await migrate(db, schema);
  return { db, schema, drop: () => db.close() };
}

/** Drops a test schema (with everything in it) on the PostgreSQL server. */
export async function dropSchema(schema: string): Promise<void> {
  const admin = new Client({ connectionString: databaseUrl() });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
}
