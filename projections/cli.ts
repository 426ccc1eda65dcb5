/**
 * `npm run projections:rebuild -- <name>|all` — rebuilds read models from position zero into
 * fresh tables and switches over atomically. When a Settle instance is running (it holds the
 * projection's lease) the request is handed to it and this command waits for the switch; when
 * none is, this command does the rebuild itself. With the embedded database, stop the service
 * first (one process owns the data directory) or use POST /v1/admin/projections/<name>/rebuild.
 */
import { ensurePrivateDir } from '../infrastructure/config/dataDir';
import path from 'node:path';
import { loadConfig } from '../infrastructure/config/config';
import { SqlEventStore } from '../infrastructure/eventstore/sqlEventStore';
import { EsdbEventStore } from '../infrastructure/eventstore/esdbEventStore';
import { createLogger } from '../infrastructure/observability/logger';
import type { SqlClient } from '../infrastructure/sql/client';
import { AlwaysLeader, PgAdvisoryLease, type LeaderLease } from '../infrastructure/sql/leaderLease';
import { migrate } from '../infrastructure/sql/migrate';
import { PgClient } from '../infrastructure/sql/pgClient';
import { PgliteClient } from '../infrastructure/sql/pgliteClient';
import { projections, projectionNamed } from './index';
import { ProjectionRunner, requestRebuild } from './runner';

async function generation(db: SqlClient, name: string): Promise<number> {
  const { rows } = await db.query<{ g: number }>('SELECT active_generation AS g FROM projection_state WHERE name = $1', [name]);
  return Number(rows[0]?.g ?? 0);
}

async function main(): Promise<number> {
  const [command, target] = process.argv.slice(2);
  if (command !== 'rebuild' || !target) {
    process.stderr.write(`usage: npm run projections:rebuild -- <${projections.map((p) => p.name).join('|')}|all>\n`);
    return 2;
  }
  const defs = target === 'all' ? projections : [projectionNamed(target)].filter((d) => d !== undefined);
  if (defs.length === 0) {
    process.stderr.write(`unknown projection "${target}"; known: ${projections.map((p) => p.name).join(', ')}\n`);
    return 2;
  }
  const config = loadConfig();
  const logger = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
  let db: SqlClient;
  if (config.DATABASE_URL) db = new PgClient({ connectionString: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, max: 4 });
  else {
    ensurePrivateDir(config.dataDir);
    db = await PgliteClient.open(path.join(config.dataDir, 'pglite'), config.DATABASE_SCHEMA);
  }
  const store = config.EVENTSTORE_URL ? new EsdbEventStore(config.EVENTSTORE_URL) : new SqlEventStore(db);
  try {
    await migrate(db, config.DATABASE_SCHEMA);
    for (const def of defs) {
      const lease: LeaderLease = config.DATABASE_URL ? new PgAdvisoryLease(config.DATABASE_URL, `${config.DATABASE_SCHEMA}:projection:${def.name}`) : new AlwaysLeader(def.name);
      const runner = new ProjectionRunner(db, store, def, lease, { logger, leaseRetryMs: 500 });
      const before = await runner.install();
      await requestRebuild(db, def.name);
      const started = Date.now();
      const ownsIt = await lease.tryAcquire();
      if (ownsIt) runner.start();
      process.stdout.write(`${def.name}: rebuilding generation ${before + 1} ${ownsIt ? 'here' : 'on the running instance that holds it'}...\n`);
      while ((await generation(db, def.name)) === before) await new Promise((r) => setTimeout(r, 200));
      if (ownsIt) await runner.stop();
      await lease.release();
      process.stdout.write(`${def.name}: switched to generation ${before + 1} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    }
    return 0;
  } finally {
    if (store instanceof EsdbEventStore) await store.close();
    await db.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`projections: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
