/**
 * `npm run projections:rebuild -- <name>|all` — rebuilds read models from position zero into
 * fresh tables and switches over atomically. When a Settle instance is running (it holds the
 * projection's lease) the request is handed to it and this command waits for the switch; when
 * none is, this command does the rebuild itself. With the embedded database, stop the service
 * first (one process owns the data directory) or use POST /v1/admin/projections/<name>/rebuild.
 * The process entry point (configuration, database, event store) is main/projections.ts.
 */
import type { EventStore } from '../domain/ports/eventStore';
import type { Logger } from '../domain/ports/logger';
import type { SqlClient } from '../domain/ports/sql';
import type { LeaderLease } from '../domain/ports/leaderLease';
import { projections, projectionNamed } from '../projections/index';
import { ProjectionRunner, requestRebuild } from '../infrastructure/projections/runner';

/** What the command is handed: the database (migrated), the event log, leases, a logger. */
export interface RebuildDeps {
  readonly db: SqlClient;
  readonly store: EventStore;
  readonly leaseFor: (projection: string) => LeaderLease;
  readonly logger: Logger;
  readonly close: () => Promise<void>;
}

async function generation(db: SqlClient, name: string): Promise<number> {
  const { rows } = await db.query<{ g: number }>('SELECT active_generation AS g FROM projection_state WHERE name = $1', [name]);
  return rows[0]?.g ?? 0;
}

/** Resolves with the exit code; `open` is called only once the arguments are valid. */
export async function rebuildCommand(argv: readonly string[], open: () => Promise<RebuildDeps>, out: { write(s: string): unknown }, err: { write(s: string): unknown }): Promise<number> {
  const [command, target] = argv;
  if (command !== 'rebuild' || !target) {
    err.write(`usage: npm run projections:rebuild -- <${projections.map((p) => p.name).join('|')}|all>\n`);
    return 2;
  }
  const defs = target === 'all' ? projections : [projectionNamed(target)].filter((d) => d !== undefined);
  if (defs.length === 0) {
    err.write(`unknown projection "${target}"; known: ${projections.map((p) => p.name).join(', ')}\n`);
    return 2;
  }
  const { db, store, leaseFor, logger, close } = await open();
  try {
    for (const def of defs) {
      const lease = leaseFor(def.name);
      const runner = new ProjectionRunner(db, store, def, lease, { logger, leaseRetryMs: 500 });
      const before = await runner.install();
      await requestRebuild(db, def.name);
      const started = Date.now();
      const ownsIt = await lease.tryAcquire();
      if (ownsIt) runner.start();
      out.write(`${def.name}: rebuilding generation ${before + 1} ${ownsIt ? 'here' : 'on the running instance that holds it'}...\n`);
      while ((await generation(db, def.name)) === before) await new Promise((r) => setTimeout(r, 200));
      if (ownsIt) await runner.stop();
      await lease.release();
      out.write(`${def.name}: switched to generation ${before + 1} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    }
    return 0;
  } finally {
    await close();
  }
}
