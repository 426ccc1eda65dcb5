/**
 * Reconciliation with the providers (admin key): start a run, read one, list them. A run goes on
 * in the background; its record (counts and differences) is the answer. Orchestration:
 * commands/reconciliation.ts; records: infrastructure/sql/reconciliationRuns.ts.
 */
import { z } from 'zod';
import type { ReconciliationRequest } from '../../commands/reconciliation';
import type { ReconciliationRunRecord } from '../../domain/ports/reconciliationRuns';
import { reconciliationListOut, reconciliationOut, reconciliationStartedOut } from './responses';
import { route, type RouteSpec } from '../api';
import { Problem } from '../problem';
import { id } from './schemas';

export interface ReconciliationRouteDeps {
  start(req: ReconciliationRequest): Promise<string>;
  get(runId: string): Promise<ReconciliationRunRecord | null>;
  list(opts: { tenantId?: string; limit: number; before?: string }): Promise<ReconciliationRunRecord[]>;
  tenantExists(tenantId: string): Promise<boolean>;
}

const instant = z.iso.datetime({ offset: true }).or(z.iso.date());

export function adminReconciliationRoutes(deps: ReconciliationRouteDeps): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: '/admin/reconciliations',
      operationId: 'startReconciliation',
      summary:
        "Compare the providers' objects changed since a date (Stripe platform and the tenant's connected account, PayPal orders Settle knows of) with what Settle recorded, append what is missing through the webhook path and list what needs a human. Runs in the background: poll GET /v1/admin/reconciliations/{id}",
      tag: 'admin',
      access: 'admin',
      success: 202,
      response: reconciliationStartedOut,
      problems: { 404: ['tenant-not-found'] },
      body: z
        .object({
          tenantId: id.nullable().optional(),
          since: instant.meta({ description: 'ISO date or date-time: objects created (Stripe) or changed (PayPal) at or after it' }),
          dryRun: z.boolean().default(false),
        })
        .strict(),
      async handler({ body, res }) {
        const since = new Date(body.since);
        if (since.getTime() > Date.now()) throw new Problem(422, 'validation-error', 'Validation Failed', 'since must not be in the future', [{ path: 'body.since', message: 'in the future' }]);
        const tenantId = body.tenantId ?? null;
        if (tenantId !== null && !(await deps.tenantExists(tenantId))) throw new Problem(404, 'tenant-not-found', 'Not Found', `No tenant ${tenantId}`);
        const runId = await deps.start({ tenantId, since, dryRun: body.dryRun });
        res.setHeader('Location', `/v1/admin/reconciliations/${runId}`);
        return { body: { runId, status: 'running', tenantId, since: since.toISOString(), dryRun: body.dryRun } };
      },
    }),
    route({
      method: 'get',
      path: '/admin/reconciliations',
      operationId: 'listReconciliations',
      summary: 'Reconciliation runs, newest first (counts only; the differences are on each run)',
      tag: 'admin',
      access: 'admin',
      success: 200,
      response: reconciliationListOut,
      query: z
        .object({
          tenant_id: id.optional(),
          limit: z.coerce.number().int().min(1).max(100).default(20),
          cursor: z.uuid().optional(),
        })
        .strict(),
      async handler({ query }) {
        const q = query as { tenant_id?: string; limit: number; cursor?: string };
        const data = await deps.list({ tenantId: q.tenant_id, limit: q.limit, before: q.cursor });
        return { body: { data, nextCursor: data.length === q.limit ? (data.at(-1)?.runId ?? null) : null } };
      },
    }),
    route({
      method: 'get',
      path: '/admin/reconciliations/:runId',
      operationId: 'getReconciliation',
      summary: 'One reconciliation run: status, counts (examined, found, repaired, unrepairable) and every difference',
      tag: 'admin',
      access: 'admin',
      success: 200,
      response: reconciliationOut,
      problems: { 404: ['reconciliation-not-found'] },
      async handler({ params }) {
        const run = await deps.get(params.runId);
        if (!run) throw new Problem(404, 'reconciliation-not-found', 'Not Found', `No reconciliation run ${params.runId}`);
        return { body: run };
      },
    }),
  ];
}
