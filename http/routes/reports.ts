import type { Response } from 'express';
import { z } from 'zod';
import type { SqlExecutor } from '../../infrastructure/sql/client';
import { financeReport, invalidRange, MAX_REPORT_DAYS, toCsv, type FinanceReport } from '../../projections/finance/report';
import { financeReportCsv, financeReportOut } from './responses';
import { route, type HandlerContext, type Reply, type RouteSpec } from '../api';
import type { Principal } from '../auth';
import { Problem } from '../problem';
import { id, isoDate } from './schemas';

/**
 * Finance reports (projections/finance): gross collected, refunds, disputes, platform fees and
 * net per day, currency and provider, with totals per currency. JSON by default; CSV (RFC 4180,
 * minor units and decimals) with `Accept: text/csv` or `format=csv`.
 *
 * - GET /v1/reports/finance: the calling tenant (or the tenant an admin names in Settle-Tenant).
 * - GET /v1/admin/reports/finance: admin key; every tenant, or one with `tenant_id`.
 */
export interface ReportDeps {
  readonly db: SqlExecutor;
}

const format = z.enum(['json', 'csv']).optional().meta({ description: 'csv, json; default from the Accept header (text/csv or JSON)' });

type ReportQuery = { from: string; to: string; format?: 'json' | 'csv'; tenant_id?: string };

function checkRange(q: ReportQuery): void {
  const bad = invalidRange(q.from, q.to);
  if (bad) throw new Problem(422, 'validation-error', 'Validation Failed', `The request query is invalid: query.${bad.field}: ${bad.message}`, [{ path: `query.${bad.field}`, message: bad.message }]);
}

function wantsCsv(ctx: HandlerContext<unknown>, explicit: 'json' | 'csv' | undefined): boolean {
  if (explicit) return explicit === 'csv';
  return ctx.req.accepts(['application/json', 'text/csv']) === 'text/csv';
}

/**
 * The report as JSON, or as CSV. mount() (http/api.ts) always answers with `res.json(payload)`
 * after computing the ETag; for a CSV answer this one response's `json` writes the CSV instead,
 * and the payload handed to mount() holds the CSV so the ETag is the CSV's own.
 */
function represent(ctx: HandlerContext<unknown>, report: FinanceReport, explicit: 'json' | 'csv' | undefined): Reply {
  const res = ctx.res;
  res.vary('Accept');
  if (!wantsCsv(ctx, explicit)) return { body: report };
  const csv = toCsv(report.rows);
  res.setHeader('Content-Disposition', `attachment; filename="finance-${report.tenantId ?? 'all-tenants'}-${report.from}-${report.to}.csv"`);
  res.json = ((_payload: unknown) => res.type('text/csv; charset=utf-8').send(csv)) as Response['json'];
  return { body: { representation: 'text/csv', csv } };
}

/**
 * The tenants a call may see: its own tenant (tenant keys, or the admin acting for one tenant
 * through Settle-Tenant); every tenant (null) only for the admin key naming none.
 */
function scopeOf(ctx: HandlerContext<unknown>): string | null {
  if (ctx.tenantId) return ctx.tenantId;
  if ((ctx.res.locals.principal as Principal | undefined)?.kind === 'admin') return null;
  throw new Problem(400, 'tenant-required', 'Tenant Required', 'Name the tenant to act for in the Settle-Tenant header');
}

export function reportRoutes(deps: ReportDeps): RouteSpec[] {
  const range = { from: isoDate.meta({ description: 'First day, inclusive (UTC)' }), to: isoDate.meta({ description: `Last day, inclusive (UTC); at most ${MAX_REPORT_DAYS} days after from` }), format };
  return [
    route({
      method: 'get',
      path: '/reports/finance',
      operationId: 'getFinanceReport',
      summary: 'Finance ledger per day, currency and provider (gross, refunds, disputes, fees, net, counts) with totals per currency; CSV with Accept: text/csv',
      tag: 'reports',
      access: 'tenant',
      success: 200,
      response: financeReportOut,
      csv: financeReportCsv,
      query: z.object(range).strict(),
      async handler(ctx) {
        const q = ctx.query as ReportQuery;
        checkRange(q);
        const report = await financeReport(deps.db, { tenantId: scopeOf(ctx), from: q.from, to: q.to });
        return represent(ctx, report, q.format);
      },
    }),
    route({
      method: 'get',
      path: '/admin/reports/finance',
      operationId: 'getFinanceReportAllTenants',
      summary: 'Finance ledger of every tenant (or one, with tenant_id): admin key only; CSV with Accept: text/csv',
      tag: 'reports',
      access: 'admin',
      success: 200,
      response: financeReportOut,
      csv: financeReportCsv,
      query: z.object({ ...range, tenant_id: id.optional() }).strict(),
      async handler(ctx) {
        const q = ctx.query as ReportQuery;
        checkRange(q);
        const tenantId = q.tenant_id ?? (ctx.tenantId || null);
        const report = await financeReport(deps.db, { tenantId, from: q.from, to: q.to });
        return represent(ctx, report, q.format);
      },
    }),
  ];
}
