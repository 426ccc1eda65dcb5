/**
 * `npm run reconcile -- [--tenant <id>] [--since <date>] [--dry-run] [--json]` (node
 * dist/main/reconcile.js): one reconciliation run on a composition of its own; the arguments,
 * output and exit codes are infrastructure/cli/reconcile.ts's.
 */
import { reconcileCommand } from '../infrastructure/cli/reconcile';
import { loadConfig } from '../infrastructure/config/config';
import { createLogger } from '../infrastructure/observability/logger';
import { Settle } from './compose';

/** Resolves with the exit code; the service is composed only once the arguments are valid. */
export function reconcileCli(argv: readonly string[], env: NodeJS.ProcessEnv, out: { write(s: string): unknown }, err: { write(s: string): unknown }): Promise<number> {
  return reconcileCommand(
    argv,
    async () => {
      const config = loadConfig(env);
      const settle = await Settle.create(config, createLogger(config.LOG_LEVEL));
      return {
        reconcile: { tenantExists: async (tenantId) => (await settle.tenants.getTenant(tenantId)) !== null, run: (req) => settle.reconciler.run(req) },
        close: () => settle.stop(),
      };
    },
    out,
    err,
  );
}

if (require.main === module) {
  reconcileCli(process.argv.slice(2), process.env, process.stdout, process.stderr).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`reconcile: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
