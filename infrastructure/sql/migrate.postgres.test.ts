/** Migrations on a real PostgreSQL server (DATABASE_URL). */
import { Client } from 'pg';
import { databaseUrl, uniqueSchema } from '../../test/support/databases';
import { appliedVersion, latestMigration, migrate } from './migrate';
import { migrations } from './migrations';
import { PgClient } from './pgClient';

describe('migrations (PostgreSQL)', () => {
  const schema = uniqueSchema('mig');
  const a = new PgClient({ connectionString: databaseUrl(), schema, max: 4 });
  const b = new PgClient({ connectionString: databaseUrl(), schema, max: 4 });

  afterAll(async () => {
    await a.close();
    await b.close();
    const admin = new Client({ connectionString: databaseUrl() });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  });

  test('two processes migrating at once: each migration is applied exactly once', async () => {
    const [ra, rb] = await Promise.all([migrate(a, schema), migrate(b, schema)]);
    expect([...ra, ...rb].sort((x, y) => x - y)).toEqual(migrations.map((m) => m.version));
    expect(await appliedVersion(a, schema)).toBe(latestMigration);
    const { rows } = await a.query<{ n: string }>(`SELECT count(*) AS n FROM schema_migrations`);
    expect(Number(rows[0]!.n)).toBe(migrations.length);
    await expect(migrate(a, schema)).resolves.toEqual([]);
  });

  test('an applied migration that was edited afterwards stops startup', async () => {
    const edited = migrations.map((m, i) => (i === 0 ? { ...m, sql: `${m.sql}\n-- edited` } : m));
    await expect(migrate(a, schema, edited)).rejects.toThrow(/was changed after it was applied/);
  });

  test('a failing migration leaves nothing behind and names itself', async () => {
    const broken = [...migrations, { version: 999, name: 'broken', sql: 'CREATE TABLE half_done (id int); SELECT 1/0;' }];
    await expect(migrate(a, schema, broken)).rejects.toThrow(/migration 999 \(broken\) failed/);
    const { rows } = await a.query<{ t: string | null }>(`SELECT to_regclass('${schema}.half_done')::text AS t`);
    expect(rows[0]!.t).toBeNull();
    expect(await appliedVersion(a, schema)).toBe(latestMigration);
  });
});
