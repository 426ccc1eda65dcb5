import { createHash } from 'node:crypto';
import { assertSchemaName } from './client';
import type { SqlClient } from '../../domain/ports/sql';
import { latestMigration, migrations, type Migration } from './migrations';

function checksum(m: Migration): string {
  return createHash('sha256').update(m.sql).digest('hex');
}

/**
 * Applies pending migrations. Safe to run from several processes at once: the whole run holds a
 * session advisory lock keyed by the schema, so the second process waits and then finds nothing
 * to do. Each migration commits in its own transaction together with its bookkeeping row.
 */
export async function migrate(db: SqlClient, schema: string, list: readonly Migration[] = migrations): Promise<number[]> {
  assertSchemaName(schema);
  return db.withSession(async (s) => {
    await s.query(`SELECT pg_advisory_lock(hashtext($1))`, [`settle_migrations:${schema}`]);
    try {
      await s.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await s.query(`CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
        version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
      const { rows } = await s.query<{ version: number; checksum: string }>(`SELECT version, checksum FROM ${schema}.schema_migrations`);
      const applied = new Map(rows.map((r) => [r.version, r.checksum]));
      const done: number[] = [];
      for (const m of list) {
        const seen = applied.get(m.version);
        if (seen !== undefined) {
          if (seen !== checksum(m)) throw new Error(`migration ${m.version} (${m.name}) was changed after it was applied`);
          continue;
        }
        await s.query('BEGIN');
        try {
          await s.query(`SET LOCAL search_path TO ${schema}`);
          await s.exec(m.sql);
          await s.query(`INSERT INTO ${schema}.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)`, [m.version, m.name, checksum(m)]);
          await s.query('COMMIT');
        } catch (err) {
          await s.query('ROLLBACK').catch(() => undefined);
          throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`);
        }
        done.push(m.version);
      }
      return done;
    } finally {
      await s.query(`SELECT pg_advisory_unlock(hashtext($1))`, [`settle_migrations:${schema}`]).catch(() => undefined);
    }
  });
}

/** The highest applied migration, or 0; used by /readyz. */
export async function appliedVersion(db: SqlClient, schema: string): Promise<number> {
  assertSchemaName(schema);
  const { rows } = await db.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${schema}.schema_migrations`);
  return rows[0]?.v ?? 0;
}

export { latestMigration };
