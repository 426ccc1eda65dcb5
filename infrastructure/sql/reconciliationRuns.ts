/**
 * SQL side of reconciliation: the run records (reconciliation_runs), and what the reconciler
 * needs to know about tenants and PayPal orders.
 */
import type { Difference, ReconciliationRequest, ReconciliationResult, ReconciliationRunRecord, ReconciliationRuns } from '../../domain/ports/reconciliationRuns';
import type { SqlClient } from '../../domain/ports/sql';

interface Row {
  run_id: string;
  tenant_id: string | null;
  since: Date;
  dry_run: boolean;
  status: ReconciliationRunRecord['status'];
  started_at: Date;
  finished_at: Date | null;
  examined: number;
  found: number;
  repaired: number;
  unrepairable: number;
  error: string | null;
  differences?: unknown;
}

function iso(d: Date | string): string;
function iso(d: Date | string | null): string | null;
function iso(d: Date | string | null): string | null {
  return d === null ? null : new Date(d).toISOString();
}

function record(r: Row): ReconciliationRunRecord {
  return {
    runId: r.run_id,
    tenantId: r.tenant_id,
    since: iso(r.since),
    dryRun: r.dry_run,
    status: r.status,
    startedAt: iso(r.started_at),
    finishedAt: iso(r.finished_at),
    examined: r.examined,
    found: r.found,
    repaired: r.repaired,
    unrepairable: r.unrepairable,
    error: r.error,
    ...(r.differences !== undefined ? { differences: (typeof r.differences === 'string' ? JSON.parse(r.differences) : r.differences) as Difference[] } : {}),
  };
}

const COLUMNS = 'run_id, tenant_id, since, dry_run, status, started_at, finished_at, examined, found, repaired, unrepairable, error';

export class SqlReconciliationRuns implements ReconciliationRuns {
  constructor(private readonly db: SqlClient) {}

  async create(runId: string, req: ReconciliationRequest): Promise<void> {
    await this.db.query(`INSERT INTO reconciliation_runs (run_id, tenant_id, since, dry_run, status) VALUES ($1, $2, $3, $4, 'running')`, [runId, req.tenantId, req.since.toISOString(), req.dryRun]);
  }

  async finish(runId: string, outcome: { status: 'succeeded'; result: ReconciliationResult } | { status: 'failed'; error: string; result: ReconciliationResult }): Promise<void> {
    const r = outcome.result;
    await this.db.query(
      `UPDATE reconciliation_runs SET status = $2, finished_at = clock_timestamp(), examined = $3, found = $4, repaired = $5, unrepairable = $6, differences = $7::jsonb, error = $8 WHERE run_id = $1`,
      [runId, outcome.status, r.examined, r.found, r.repaired, r.unrepairable, JSON.stringify(r.differences), outcome.status === 'failed' ? outcome.error : null],
    );
  }

  async get(runId: string): Promise<ReconciliationRunRecord | null> {
    if (!/^[0-9a-f-]{36}$/i.test(runId)) return null;
    const { rows } = await this.db.query<Row>(`SELECT ${COLUMNS}, differences FROM reconciliation_runs WHERE run_id = $1`, [runId]);
    return rows[0] ? record(rows[0]) : null;
  }

  /** Newest first; `before`: the run id the previous page ended with. */
  async list(opts: { tenantId?: string; limit: number; before?: string }): Promise<ReconciliationRunRecord[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT ${COLUMNS} FROM reconciliation_runs r
        WHERE ($1::text IS NULL OR r.tenant_id = $1)
          AND ($2::uuid IS NULL OR (r.started_at, r.run_id) < (SELECT started_at, run_id FROM reconciliation_runs WHERE run_id = $2::uuid))
        ORDER BY r.started_at DESC, r.run_id DESC LIMIT $3`,
      [opts.tenantId ?? null, opts.before ?? null, opts.limit],
    );
    return rows.map(record);
  }

  async tenantIds(): Promise<string[]> {
    const { rows } = await this.db.query<{ tenant_id: string }>('SELECT tenant_id FROM tenants ORDER BY tenant_id');
    return rows.map((r) => r.tenant_id);
  }

  /**
   * PayPal orders Settle knows of: created through Settle or learned from events (provider_refs),
   * or recorded as the payment of an attempt (payment history); ids known to be captures are left
   * out (provider_refs holds both, and PayPal answers 404 for a capture id read as an order).
   */
  async knownPayPalOrders(tenantId: string | null): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT id FROM (
         SELECT ref AS id FROM provider_refs WHERE provider = 'paypal' AND ($1::text IS NULL OR tenant_id = $1)
         UNION
         SELECT provider_payment_id FROM payment_history WHERE provider = 'paypal' AND provider_payment_id IS NOT NULL AND ($1::text IS NULL OR tenant_id = $1)
         EXCEPT
         SELECT provider_charge_id FROM payment_history WHERE provider = 'paypal' AND provider_charge_id IS NOT NULL
       ) known ORDER BY id`,
      [tenantId],
    );
    return rows.map((r) => r.id);
  }
}
