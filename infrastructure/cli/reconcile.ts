/**
 * `npm run reconcile -- [--tenant <id>] [--since <date>] [--dry-run] [--json]` — compares the
 * providers' objects changed since a date with what Settle recorded, appends what is missing
 * through the webhook path, and prints the differences (what could not be repaired too). The
 * same run as POST /v1/admin/reconciliations, recorded in the same table. Without --tenant:
 * every tenant and every platform object. --since defaults to 7 days ago.
 *
 * With PostgreSQL it may run beside live instances (they relay and project what it appends).
 * With the embedded database, stop the service first (one process owns the data directory).
 * Exit code: 0 when nothing is left that needs a human, 1 when the run failed, 3 when some
 * differences cannot be repaired automatically, 2 for a usage error.
 */
import type { ReconciliationRequest, ReconciliationResult } from '../../domain/ports/reconciliationRuns';

/** What the command is handed by the composition root (main/reconcile.ts). */
export interface ReconcileService {
  tenantExists(tenantId: string): Promise<boolean>;
  run(req: ReconciliationRequest): Promise<{ runId: string; status: 'succeeded' | 'failed'; result: ReconciliationResult; error: Error | null }>;
}

export interface ReconcileArgs {
  readonly tenantId: string | null;
  readonly since: Date;
  readonly dryRun: boolean;
  readonly json: boolean;
}

const USAGE = 'usage: npm run reconcile -- [--tenant <id>] [--since <YYYY-MM-DD | ISO date-time>] [--dry-run] [--json]';

export function parseArgs(argv: readonly string[], now = new Date()): ReconcileArgs | string {
  let tenantId: string | null = null;
  let since = new Date(now.getTime() - 7 * 86_400_000);
  let dryRun = false;
  let json = false;
  for (let i = 0, a = argv[0]; a !== undefined; a = argv[++i]) {
    if (a === '--dry-run') dryRun = true;
    else if (a === '--json') json = true;
    else if (a === '--tenant' || a === '--since') {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) return `${a} needs a value\n${USAGE}`;
      if (a === '--tenant') {
        if (!/^[A-Za-z0-9_-]{1,100}$/.test(v)) return `--tenant: not a tenant id: ${v}`;
        tenantId = v;
      } else {
        const d = new Date(/^\d{4}-\d{2}-\d{2}$/.test(v) ? `${v}T00:00:00Z` : v);
        if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(v)) return `--since: not a date: ${v}`;
        if (d.getTime() > now.getTime()) return `--since: ${v} is in the future`;
        since = d;
      }
    } else return `unknown argument ${a}\n${USAGE}`;
  }
  return { tenantId, since, dryRun, json };
}

/** The command on a composed service: parses arguments, runs one reconciliation, prints it; resolves with the exit code. */
export async function reconcileCommand(argv: readonly string[], service: () => Promise<{ reconcile: ReconcileService; close(): Promise<void> }>, out: { write(s: string): unknown }, err: { write(s: string): unknown }): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    err.write(`${args}\n`);
    return 2;
  }
  const svc = await service();
  try {
    if (args.tenantId && !(await svc.reconcile.tenantExists(args.tenantId))) {
      err.write(`no tenant ${args.tenantId}\n`);
      return 2;
    }
    const run = await svc.reconcile.run({ tenantId: args.tenantId, since: args.since, dryRun: args.dryRun });
    const r = run.result;
    if (args.json) out.write(`${JSON.stringify({ runId: run.runId, status: run.status, error: run.error?.message ?? null, ...r }, null, 2)}\n`);
    else {
      out.write(`reconciliation ${run.runId} ${run.status}${args.dryRun ? ' (dry run: nothing written)' : ''}: examined ${r.examined}, found ${r.found}, repaired ${r.repaired}, unrepairable ${r.unrepairable}\n`);
      for (const d of r.differences) {
        out.write(`  ${d.outcome.padEnd(12)} ${d.kind.padEnd(14)} ${d.provider} ${d.object} ${d.objectId}${d.account ? ` on ${d.account}` : ''}${d.tenantId ? ` tenant ${d.tenantId}` : ''}${d.facts.length ? `: ${d.facts.join(', ')}` : ''}${d.detail ? ` (${d.detail})` : ''}\n`);
      }
      if (run.error) err.write(`failed: ${run.error.message}\n`);
    }
    return run.status === 'failed' ? 1 : r.unrepairable > 0 ? 3 : 0;
  } finally {
    await svc.close();
  }
}
