/**
 * `npm run projections:rebuild -- <name>|all` (node dist/main/projections.js rebuild <name>):
 * the database and event log of the configuration, handed to main/rebuildCommand.ts.
 */
import path from 'node:path';
import { rebuildCommand } from './rebuildCommand';
import { loadConfig } from '../infrastructure/config/config';
import { ensurePrivateDir } from '../infrastructure/config/dataDir';
import { EsdbEventStore } from '../infrastructure/eventstore/esdbEventStore';
import { SqlEventStore } from '../infrastructure/eventstore/sqlEventStore';
import { createLogger } from '../infrastructure/observability/logger';
import type { SqlClient } from '../domain/ports/sql';
import { AlwaysLeader, PgAdvisoryLease } from '../infrastructure/sql/leaderLease';
import { migrate } from '../infrastructure/sql/migrate';
import { PgClient } from '../infrastructure/sql/pgClient';
import { PgliteClient } from '../infrastructure/sql/pgliteClient';

rebuildCommand(
  process.argv.slice(2),
  async () => {
    const config = loadConfig();
    const logger = createLogger(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL);
    let db: SqlClient;
    if (config.DATABASE_URL) db = new PgClient({ connectionString: config.DATABASE_URL, schema: config.DATABASE_SCHEMA, max: 4 });
    else {
      ensurePrivateDir(config.dataDir);
      db = await PgliteClient.open(path.join(config.dataDir, 'pglite'), config.DATABASE_SCHEMA);
    }
    const store = config.EVENTSTORE_URL ? new EsdbEventStore(config.EVENTSTORE_URL) : new SqlEventStore(db);
    const close = async () => {
      if (store instanceof EsdbEventStore) await store.close();
      await db.close();
    };
    try {
      await migrate(db, config.DATABASE_SCHEMA);
    } catch (e) {
      await close();
      throw e;
    }
    return {
      db,
      store,
      leaseFor: (name: string) => (config.DATABASE_URL ? new PgAdvisoryLease(config.DATABASE_URL, `${config.DATABASE_SCHEMA}:projection:${name}`) : new AlwaysLeader(name)),
      logger,
      close,
    };
  },
  process.stdout,
  process.stderr,
).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`projections: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
