/**
 * Finance reports from the ledger the `finance-reporting` consumer keeps (ledger.ts): one row per
 * tenant, day, currency and provider over a date range, totals per currency (amounts of
 * different currencies are never added), failures by decline code; and the CSV export.
 * Amounts are integer minor units; decimal strings are made with string arithmetic only.
 */
import { minorToDecimal } from '../../domain/shared/money';
import { toBigInt, type SqlExecutor } from '../../infrastructure/sql/client';

/** Longest range one report may cover (days, inclusive). */
export const MAX_REPORT_DAYS = 366;

export interface FinanceReportQuery {
  /** One tenant, or null for every tenant (admin). */
  readonly tenantId: string | null;
  /** First day, inclusive (YYYY-MM-DD, UTC). */
  readonly from: string;
  /** Last day, inclusive (YYYY-MM-DD, UTC). */
  readonly to: string;
}

export interface FinanceAmounts {
  readonly grossCollected: number;
  readonly refunds: number;
  /** Change of open dispute amounts (opened minus closed) in the row's day / the range. */
  readonly disputed: number;
  readonly disputeLosses: number;
  readonly platformFees: number;
  /** grossCollected - refunds - disputeLosses - platformFees */
  readonly net: number;
  readonly succeededCount: number;
  readonly failedCount: number;
}

export interface FinanceRow extends FinanceAmounts {
  readonly tenantId: string;
  readonly day: string;
  readonly currency: string;
  readonly provider: string;
}

export interface FinanceTotals extends FinanceAmounts {
  readonly currency: string;
  /** Amount still under dispute at the end of `to` (every day up to `to`, not only the range). */
  readonly openDisputesAtEnd: number;
}

export interface FinanceFailure {
  readonly tenantId: string;
  readonly provider: string;
  readonly declineCode: string;
  readonly count: number;
}

export interface FinanceReport {
  readonly tenantId: string | null;
  readonly from: string;
  readonly to: string;
  readonly rows: FinanceRow[];
  /** One entry per currency, sorted by currency. */
  readonly totals: FinanceTotals[];
  /** Failed payments over the range by tenant, provider and decline (or error) code. */
  readonly failures: FinanceFailure[];
}

function isDay(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00.000Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s && s >= '1970-01-01';
}

/** Why a range cannot be reported (null when it can): for validation messages. */
export function invalidRange(from: string, to: string): { field: 'from' | 'to'; message: string } | null {
  if (!isDay(from)) return { field: 'from', message: 'must be a date as YYYY-MM-DD' };
  if (!isDay(to)) return { field: 'to', message: 'must be a date as YYYY-MM-DD' };
  if (to < from) return { field: 'to', message: 'must not be before from' };
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000 + 1;
  if (days > MAX_REPORT_DAYS) return { field: 'to', message: `a report covers at most ${MAX_REPORT_DAYS} days` };
  return null;
}

function safe(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what} ${v} exceeds the safe integer range`);
  return Number(v);
}

interface LedgerRow {
  tenant_id: string;
  day: string;
  currency: string;
  provider: string;
  gross_collected: unknown;
  refunds: unknown;
  disputed: unknown;
  dispute_losses: unknown;
  platform_fees: unknown;
  net: unknown;
  succeeded_count: unknown;
  failed_count: unknown;
}

const AMOUNT_KEYS = ['grossCollected', 'refunds', 'disputed', 'disputeLosses', 'platformFees', 'net', 'succeededCount', 'failedCount'] as const;
type AmountKey = (typeof AMOUNT_KEYS)[number];

export async function financeReport(db: SqlExecutor, q: FinanceReportQuery): Promise<FinanceReport> {
  const bad = invalidRange(q.from, q.to);
  if (bad) throw new RangeError(`${bad.field} ${bad.message}`);
  const tenant = q.tenantId ?? null;
  const { rows } = await db.query<LedgerRow>(
    `SELECT tenant_id, to_char(day, 'YYYY-MM-DD') AS day, currency, provider, gross_collected, refunds, disputed,
            dispute_losses, platform_fees, net, succeeded_count, failed_count
       FROM finance_ledger
      WHERE day >= $1::date AND day <= $2::date AND ($3::text IS NULL OR tenant_id = $3::text)
      ORDER BY day, tenant_id, currency, provider`,
    [q.from, q.to, tenant],
  );
  const open = await db.query<{ currency: string; open: unknown }>(
    `SELECT currency, sum(disputed)::bigint AS open FROM finance_ledger
      WHERE day <= $1::date AND ($2::text IS NULL OR tenant_id = $2::text)
      GROUP BY currency`,
    [q.to, tenant],
  );
  const failures = await db.query<{ tenant_id: string; provider: string; decline_code: string; count: unknown }>(
    `SELECT tenant_id, provider, decline_code, sum(count)::bigint AS count FROM finance_failures
      WHERE day >= $1::date AND day <= $2::date AND ($3::text IS NULL OR tenant_id = $3::text)
      GROUP BY tenant_id, provider, decline_code
      ORDER BY tenant_id, provider, sum(count) DESC, decline_code`,
    [q.from, q.to, tenant],
  );

  const totals = new Map<string, Record<AmountKey | 'openDisputesAtEnd', bigint>>();
  const totalOf = (currency: string) => {
    let t = totals.get(currency);
    if (!t) {
      t = { grossCollected: 0n, refunds: 0n, disputed: 0n, disputeLosses: 0n, platformFees: 0n, net: 0n, succeededCount: 0n, failedCount: 0n, openDisputesAtEnd: 0n };
      totals.set(currency, t);
    }
    return t;
  };
  const out: FinanceRow[] = rows.map((r) => {
    const v: Record<AmountKey, bigint> = {
      grossCollected: toBigInt(r.gross_collected),
      refunds: toBigInt(r.refunds),
      disputed: toBigInt(r.disputed),
      disputeLosses: toBigInt(r.dispute_losses),
      platformFees: toBigInt(r.platform_fees),
      net: toBigInt(r.net),
      succeededCount: toBigInt(r.succeeded_count),
      failedCount: toBigInt(r.failed_count),
    };
    const t = totalOf(r.currency);
    for (const k of AMOUNT_KEYS) t[k] += v[k];
    return {
      tenantId: r.tenant_id,
      day: r.day,
      currency: r.currency,
      provider: r.provider,
      ...(Object.fromEntries(AMOUNT_KEYS.map((k) => [k, safe(v[k], k)])) as Record<AmountKey, number>),
    };
  });
  for (const r of open.rows) totalOf(r.currency).openDisputesAtEnd = toBigInt(r.open);

  return {
    tenantId: tenant,
    from: q.from,
    to: q.to,
    rows: out,
    totals: [...totals.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([currency, t]) => ({
        currency,
        ...(Object.fromEntries(AMOUNT_KEYS.map((k) => [k, safe(t[k], k)])) as Record<AmountKey, number>),
        openDisputesAtEnd: safe(t.openDisputesAtEnd, 'openDisputesAtEnd'),
      })),
    failures: failures.rows.map((r) => ({ tenantId: r.tenant_id, provider: r.provider, declineCode: r.decline_code, count: safe(toBigInt(r.count), 'count') })),
  };
}

const CSV_AMOUNTS: ReadonlyArray<readonly [string, 'grossCollected' | 'refunds' | 'disputed' | 'disputeLosses' | 'platformFees' | 'net']> = [
  ['gross_collected', 'grossCollected'],
  ['refunds', 'refunds'],
  ['disputed', 'disputed'],
  ['dispute_losses', 'disputeLosses'],
  ['platform_fees', 'platformFees'],
  ['net', 'net'],
];

export const CSV_HEADER: readonly string[] = [
  'tenant_id',
  'day',
  'currency',
  'provider',
  ...CSV_AMOUNTS.flatMap(([name]) => [`${name}_minor`, `${name}_decimal`]),
  'succeeded_count',
  'failed_count',
];

/** RFC 4180 field: quoted when it holds a comma, a double quote, CR or LF; quotes doubled. */
function field(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/**
 * RFC 4180 CSV of report rows: a header line, CRLF line ends (the last line too). Each amount
 * twice: integer minor units (`*_minor`) and the decimal in the major unit (`*_decimal`).
 */
export function toCsv(rows: readonly FinanceRow[]): string {
  const lines = [CSV_HEADER.map(field).join(',')];
  for (const r of rows) {
    lines.push(
      [
        r.tenantId,
        r.day,
        r.currency,
        r.provider,
        ...CSV_AMOUNTS.flatMap(([, k]) => [String(r[k]), minorToDecimal(r[k], r.currency)]),
        String(r.succeededCount),
        String(r.failedCount),
      ]
        .map(field)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}
