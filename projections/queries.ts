/**
 * Reads of the read models, always scoped to a tenant. Lists use keyset (cursor) pagination:
 * the cursor is the sort key of the last row returned, opaque to clients.
 */
import { systemClock, type Clock } from '../domain/ports/clock';
import type { SqlClient } from '../domain/ports/sql';
import type { SubscriptionState } from '../domain/subscription/subscription';
import { CRM_STAGES } from '../domain/booking/booking';

export interface Page<T> {
  readonly items: T[];
  readonly nextCursor: string | null;
}

export function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ID = /^[A-Za-z0-9_-]{1,100}$/;

/** Cursor element kinds, checked so a crafted cursor is a 422, never a database error. */
export type CursorShape = ReadonlyArray<'instant' | 'uuid' | 'id' | 'flag'>;

export function decodeCursor(cursor: string | undefined, shape: CursorShape): unknown[] | null {
  if (!cursor) return null;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    const ok =
      Array.isArray(v) &&
      v.length === shape.length &&
      shape.every((kind, i) => {
        const x: unknown = v[i];
        if (kind === 'flag') return x === 0 || x === 1;
        if (typeof x !== 'string') return false;
        return kind === 'instant' ? ISO_INSTANT.test(x) : kind === 'uuid' ? UUID.test(x) : ID.test(x);
      });
    if (ok) return v as unknown[];
  } catch {
    /* fall through */
  }
  throw new InvalidCursor();
}

export class InvalidCursor extends Error {
  override readonly name = 'InvalidCursor';
  constructor() {
    super('the cursor is not one this API returned');
  }
}

type Row = Record<string, unknown>;

function iso(v: unknown): string | null {
  if (v instanceof Date) return v.toISOString();
  return typeof v === 'string' || typeof v === 'number' ? new Date(v).toISOString() : null;
}

function money(amount: unknown, currency: unknown) {
  return amount === null || amount === undefined || typeof currency !== 'string' || !currency ? null : { amount: Number(amount), currency };
}

export function invoiceOut(r: Row) {
  const currency = r.currency as string | null;
  const state = (typeof r.state === 'string' ? JSON.parse(r.state) : r.state) as Record<string, unknown>;
  return {
    invoiceId: r.invoice_id,
    status: r.status,
    number: r.number,
    customerId: r.customer_id,
    customer: state.customer ?? null,
    lineItems: r.line_items,
    currency,
    total: money(r.total, currency),
    amountPaid: money(r.amount_paid, currency),
    amountRefunded: money(r.amount_refunded, currency),
    amountDisputed: money(r.amount_disputed, currency),
    collected: money(r.collected, currency),
    dueDate: r.due_date,
    paidAt: r.paid_at ? iso(r.paid_at) : null,
    provider: r.provider,
    providerInvoiceId: r.provider_invoice_id,
    subscriptionId: r.subscription_id,
    hostedInvoiceUrl: r.hosted_invoice_url,
    invoicePdf: r.invoice_pdf,
    needsAttention: r.needs_attention,
    allowedPaymentMethods: state.allowedPaymentMethods ?? [],
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    revision: String(r.revision),
  };
}

export function paymentOut(r: Row) {
  return {
    attemptId: r.attempt_id,
    customerId: r.customer_id,
    payable: { type: r.payable_type, id: r.payable_id },
    // a subscription invoice's payment: listed once, under the invoice, linked to the subscription
    subscription: r.subscription_id ? { providerSubscriptionId: r.subscription_id, customerId: r.customer_id } : null,
    provider: r.provider,
    providerPaymentId: r.provider_payment_id,
    providerChargeId: r.provider_charge_id,
    amount: money(r.amount, r.currency),
    refunded: money(r.refunded_amount, r.currency),
    status: r.status,
    errorCode: r.error_code,
    declineCode: r.decline_code,
    message: r.message,
    docsUrl: r.docs_url,
    receiptUrl: r.receipt_url,
    card: r.card_last4 ? { brand: r.card_brand, last4: r.card_last4 } : null,
    needsAttention: r.needs_attention,
    occurredAt: iso(r.occurred_at),
  };
}

export function bookingOut(r: Row, now: Date) {
  const state = (typeof r.state === 'string' ? JSON.parse(r.state) : r.state) as Record<string, unknown>;
  const request = (state.request ?? null) as Record<string, unknown> | null;
  const schedule = (request?.schedule ?? null) as { deposit: { amount: number; currency: string }; balanceDueAt: string } | null;
  const paid = ((state.payments ?? []) as Array<{ kept?: boolean; amount: { amount: number } }>).filter((p) => p.kept).reduce((a, p) => a + p.amount.amount, 0);
  // decided at read time: a deposit_paid booking past its balance due instant is overdue
  const overdue = r.stage === 'deposit_paid' && !!schedule && Date.parse(schedule.balanceDueAt) < now.getTime();
  return {
    bookingId: r.booking_id,
    stage: overdue ? 'balance_overdue' : r.stage,
    status: r.status,
    needsAttention: r.needs_attention,
    attention: r.attention,
    departureId: r.departure_id,
    contact: request?.contact ?? null,
    guests: request?.guests ?? [],
    price: money(r.amount, r.currency),
    paymentScheduleId: request?.paymentScheduleId ?? null,
    /** Deposit and balance: what is still due and by when (null: the full price at once). */
    schedule: schedule
      ? {
          deposit: schedule.deposit,
          balance: money(Number(r.amount) - schedule.deposit.amount, r.currency),
          balanceDueAt: schedule.balanceDueAt,
          outstanding: money(Math.max(0, Number(r.amount) - paid), r.currency),
          overdue,
        }
      : null,
    payment: state.payment ?? null,
    refunded: money(state.refunded, r.currency),
    /** Every payment received (kept, duplicates, mismatches), each with what was refunded of it. */
    payments: ((state.payments ?? []) as Array<Record<string, unknown>>).map((p) => ({
      provider: p.provider,
      providerPaymentId: p.providerPaymentId,
      providerChargeId: p.providerChargeId,
      amount: p.amount,
      kept: p.kept,
      refunded: { amount: p.refunded, currency: (p.amount as { currency: string }).currency },
    })),
    disputes: state.disputes ?? [],
    waitlist: { promotedAt: state.promotedAt ?? null },
    crm: { bookingId: r.crm_booking_id, paymentAssociated: r.crm_payment_associated, stages: r.crm_stages },
    failedPaymentAttempts: r.failed_payment_attempts,
    createdAt: iso(r.created_at),
    updatedAt: iso(r.updated_at),
    revision: String(r.revision),
  };
}

/** What the provider says about the subscription, and what needs a human (from the folded state). */
export function subscriptionProviderView(s: Partial<SubscriptionState> | null) {
  return {
    cancelAtPeriodEnd: s?.cancelAtPeriodEnd ?? false,
    cancelAt: s?.cancelAt ?? null,
    providerStatus: s?.provider?.providerStatus ?? null,
    needsAttention: s?.needsAttention ?? [],
  };
}

export function subscriptionOut(r: Row, now: Date) {
  const checkout = r.pending_checkout as { session?: { sessionId: string; url: string; expiresAt: string } | null } | null;
  const session = checkout?.session && Date.parse(checkout.session.expiresAt) > now.getTime() ? checkout.session : null;
  return {
    customerId: r.customer_id,
    planId: r.plan_id,
    priceId: r.price_id,
    interval: r.billing_interval,
    status: r.status,
    accessActive: r.access_active,
    currentPeriodStart: r.current_period_start,
    currentPeriodEnd: r.current_period_end,
    nextPaymentAttempt: r.next_payment_attempt,
    providerSubscriptionId: r.provider_subscription_id,
    pendingPlanChange: r.pending_plan_change,
    ...subscriptionProviderView((typeof r.state === 'string' ? JSON.parse(r.state) : r.state) as Partial<SubscriptionState> | null),
    pendingCheckout: session,
    updatedAt: iso(r.updated_at),
    revision: String(r.revision),
  };
}

export class ReadModels {
  constructor(
    private readonly db: SqlClient,
    /** What "now" is for read-time decisions (balance overdue, checkout session expired). */
    private readonly clock: Clock = systemClock,
  ) {}

  async invoice(tenantId: string, invoiceId: string) {
    const { rows } = await this.db.query<Row>('SELECT * FROM invoices WHERE tenant_id = $1 AND invoice_id = $2', [tenantId, invoiceId]);
    return rows[0] ? invoiceOut(rows[0]) : null;
  }

  async invoices(tenantId: string, f: { customerId?: string; status?: string; provider?: string; createdFrom?: string; createdTo?: string; limit: number; cursor?: string }): Promise<Page<ReturnType<typeof invoiceOut>>> {
    const where = ['tenant_id = $1'];
    const args: unknown[] = [tenantId];
    const add = (sql: string, v: unknown) => {
      args.push(v);
      where.push(sql.replace('?', `$${args.length}`));
    };
    if (f.customerId) add('customer_id = ?', f.customerId);
    if (f.status) add('status = ?', f.status);
    if (f.provider) add("coalesce(provider, 'settle') = ?", f.provider);
    if (f.createdFrom) add('created_at >= ?', f.createdFrom);
    if (f.createdTo) add('created_at < ?', f.createdTo);
    const c = decodeCursor(f.cursor, ['instant', 'id']);
    if (c) {
      args.push(c[0], c[1]);
      where.push(`(created_at, invoice_id) < ($${args.length - 1}::timestamptz, $${args.length})`);
    }
    args.push(f.limit + 1);
    const { rows } = await this.db.query<Row>(`SELECT * FROM invoices WHERE ${where.join(' AND ')} ORDER BY created_at DESC, invoice_id DESC LIMIT $${args.length}`, args);
    const more = rows.length > f.limit;
    const page = rows.slice(0, f.limit);
    const last = page[page.length - 1];
    return { items: page.map(invoiceOut), nextCursor: more && last ? encodeCursor([iso(last.created_at), last.invoice_id]) : null };
  }

  async invoiceHistory(tenantId: string, invoiceId: string) {
    const { rows } = await this.db.query<Row>('SELECT * FROM invoice_history WHERE tenant_id = $1 AND invoice_id = $2 ORDER BY revision', [tenantId, invoiceId]);
    return rows.map((r) => ({
      revision: String(r.revision),
      position: r.position,
      eventId: r.event_id,
      type: r.event_type,
      recordedAt: iso(r.recorded_at),
      actor: r.actor,
      causationId: r.causation_id,
      correlationId: r.correlation_id,
      data: r.data,
    }));
  }

  async payment(tenantId: string, attemptId: string) {
    if (!/^[0-9a-f-]{36}$/i.test(attemptId)) return null;
    const { rows } = await this.db.query<Row>('SELECT * FROM payment_history WHERE tenant_id = $1 AND attempt_id = $2', [tenantId, attemptId]);
    return rows[0] ? paymentOut(rows[0]) : null;
  }

  async payments(
    tenantId: string,
    f: { customerId?: string; payableType?: string; payableId?: string; status?: string; provider?: string; from?: string; to?: string; limit: number; cursor?: string },
  ): Promise<Page<ReturnType<typeof paymentOut>>> {
    const where = ['tenant_id = $1'];
    const args: unknown[] = [tenantId];
    const add = (sql: string, v: unknown) => {
      args.push(v);
      where.push(sql.replace('?', `$${args.length}`));
    };
    if (f.customerId) add('customer_id = ?', f.customerId);
    if (f.payableType) add('payable_type = ?', f.payableType);
    if (f.payableId) add('payable_id = ?', f.payableId);
    if (f.status) add('status = ?', f.status);
    if (f.provider) add('provider = ?', f.provider);
    if (f.from) add('occurred_at >= ?', f.from);
    if (f.to) add('occurred_at < ?', f.to);
    const c = decodeCursor(f.cursor, ['instant', 'uuid']);
    if (c) {
      args.push(c[0], c[1]);
      where.push(`(occurred_at, attempt_id) < ($${args.length - 1}::timestamptz, $${args.length}::uuid)`);
    }
    args.push(f.limit + 1);
    const { rows } = await this.db.query<Row>(`SELECT * FROM payment_history WHERE ${where.join(' AND ')} ORDER BY occurred_at DESC, attempt_id DESC LIMIT $${args.length}`, args);
    const more = rows.length > f.limit;
    const page = rows.slice(0, f.limit);
    const last = page[page.length - 1];
    return { items: page.map(paymentOut), nextCursor: more && last ? encodeCursor([iso(last.occurred_at), last.attempt_id]) : null };
  }

  async booking(tenantId: string, bookingId: string) {
    const { rows } = await this.db.query<Row>('SELECT * FROM bookings WHERE tenant_id = $1 AND booking_id = $2', [tenantId, bookingId]);
    return rows[0] ? bookingOut(rows[0], this.clock.now()) : null;
  }

  /** Bookings that need attention first, then most recently changed. */
  async bookings(tenantId: string, f: { stage?: string; needsAttention?: boolean; limit: number; cursor?: string }): Promise<Page<ReturnType<typeof bookingOut>>> {
    const now = this.clock.now();
    const where = ['tenant_id = $1'];
    const args: unknown[] = [tenantId];
    const overdue = `(state->'request'->'schedule'->>'balanceDueAt')::timestamptz`;
    if (f.stage === 'needs_attention') {
      // everything that needs attention, whatever its stage (a cancelled booking that received money)
      where.push('needs_attention');
    } else if (f.stage === 'balance_overdue' || f.stage === 'deposit_paid') {
      // decided now, from the due instant (no timer moves a booking to overdue)
      args.push(now.toISOString());
      where.push(`stage = 'deposit_paid' AND ${f.stage === 'balance_overdue' ? `${overdue} < $${args.length}::timestamptz` : `(${overdue} IS NULL OR ${overdue} >= $${args.length}::timestamptz)`}`);
    } else if (f.stage) {
      args.push(f.stage);
      where.push(`stage = $${args.length}`);
    }
    if (f.needsAttention !== undefined) {
      args.push(f.needsAttention);
      where.push(`needs_attention = $${args.length}`);
    }
    const c = decodeCursor(f.cursor, ['flag', 'instant', 'id']);
    if (c) {
      args.push(c[0], c[1], c[2]);
      const n = args.length;
      where.push(`(needs_attention::int, updated_at, booking_id) < ($${n - 2}::int, $${n - 1}::timestamptz, $${n})`);
    }
    args.push(f.limit + 1);
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM bookings WHERE ${where.join(' AND ')} ORDER BY needs_attention::int DESC, updated_at DESC, booking_id DESC LIMIT $${args.length}`,
      args,
    );
    const more = rows.length > f.limit;
    const page = rows.slice(0, f.limit);
    const last = page[page.length - 1];
    return { items: page.map((row) => bookingOut(row, now)), nextCursor: more && last ? encodeCursor([last.needs_attention ? 1 : 0, iso(last.updated_at), last.booking_id]) : null };
  }

  /** Bookings per pipeline stage. */
  async bookingStageCounts(tenantId: string): Promise<Record<string, number>> {
    // balance_overdue is decided now: a deposit_paid booking past its balance due instant
    const { rows } = await this.db.query<{ stage: string; n: string }>(
      `SELECT CASE WHEN stage = 'deposit_paid' AND (state->'request'->'schedule'->>'balanceDueAt')::timestamptz < $2::timestamptz THEN 'balance_overdue' ELSE stage END AS stage, count(*) AS n
         FROM bookings WHERE tenant_id = $1 GROUP BY 1`,
      [tenantId, this.clock.now().toISOString()],
    );
    return Object.fromEntries(rows.map((r) => [r.stage, Number(r.n)]));
  }

  /** Subscriptions, most recently changed first. */
  async subscriptions(tenantId: string, f: { status?: string; limit: number; cursor?: string }): Promise<Page<ReturnType<typeof subscriptionOut>>> {
    const where = ['tenant_id = $1'];
    const args: unknown[] = [tenantId];
    if (f.status) {
      args.push(f.status);
      where.push(`status = $${args.length}`);
    }
    const c = decodeCursor(f.cursor, ['instant', 'id']);
    if (c) {
      args.push(c[0], c[1]);
      where.push(`(updated_at, customer_id) < ($${args.length - 1}::timestamptz, $${args.length})`);
    }
    args.push(f.limit + 1);
    const { rows } = await this.db.query<Row>(`SELECT * FROM subscriptions WHERE ${where.join(' AND ')} ORDER BY updated_at DESC, customer_id DESC LIMIT $${args.length}`, args);
    const more = rows.length > f.limit;
    const page = rows.slice(0, f.limit);
    const last = page[page.length - 1];
    return { items: page.map((row) => subscriptionOut(row, this.clock.now())), nextCursor: more && last ? encodeCursor([iso(last.updated_at), last.customer_id]) : null };
  }

  async subscription(tenantId: string, customerId: string) {
    const { rows } = await this.db.query<Row>('SELECT * FROM subscriptions WHERE tenant_id = $1 AND customer_id = $2', [tenantId, customerId]);
    return rows[0] ? subscriptionOut(rows[0], this.clock.now()) : null;
  }

  // ------------------------------------------------------------------ overview (console charts)

  /**
   * The overview's figures over a range of UTC days (inclusive), for one tenant or (null) every
   * tenant. Payments from the payment read model (succeeded: the attempt went through, even if
   * later refunded or disputed; failed: declined or errored), collected / refunded / disputed from
   * the finance ledger (the same rows GET /v1/reports/finance sums), bookings and invoices as they
   * stand now, and what needs a human.
   */
  async overview(tenantId: string | null, from: string, to: string): Promise<Overview> {
    const start = `${from}T00:00:00Z`;
    const end = new Date(Date.parse(`${to}T00:00:00Z`) + 86_400_000).toISOString();
    const scope = (col = 'tenant_id') => (tenantId === null ? 'true' : `${col} = $3`);
    const args = tenantId === null ? [start, end] : [start, end, tenantId];
    const num = (v: unknown) => Number(v ?? 0);
    const [perDay, amounts, declines, invoices, bookings, finance, attention] = await Promise.all([
      this.db.query<{ day: string; succeeded: string; failed: string }>(
        `SELECT to_char((occurred_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day,
                count(*) FILTER (WHERE status IN ('succeeded', 'refunded', 'disputed')) AS succeeded,
                count(*) FILTER (WHERE status = 'failed') AS failed
           FROM payment_history WHERE occurred_at >= $1::timestamptz AND occurred_at < $2::timestamptz AND ${scope()} GROUP BY 1 ORDER BY 1`,
        args,
      ),
      this.db.query<{ day: string; currency: string; amount: string }>(
        `SELECT to_char((occurred_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD') AS day, currency, sum(amount) AS amount
           FROM payment_history WHERE status IN ('succeeded', 'refunded', 'disputed') AND currency IS NOT NULL
            AND occurred_at >= $1::timestamptz AND occurred_at < $2::timestamptz AND ${scope()} GROUP BY 1, 2 ORDER BY 2, 1`,
        args,
      ),
      this.db.query<{ error_code: string | null; decline_code: string | null; n: string }>(
        `SELECT error_code, decline_code, count(*) AS n FROM payment_history
          WHERE status = 'failed' AND occurred_at >= $1::timestamptz AND occurred_at < $2::timestamptz AND ${scope()}
          GROUP BY 1, 2 ORDER BY 3 DESC, 2 NULLS LAST, 1 NULLS LAST LIMIT 8`,
        args,
      ),
      this.db.query<{ status: string; n: string }>(`SELECT status, count(*) AS n FROM invoices WHERE ${tenantId === null ? 'true' : 'tenant_id = $1'} GROUP BY 1 ORDER BY 1`, tenantId === null ? [] : [tenantId]),
      this.bookingStageCountsOf(tenantId),
      this.db.query<{ day: string; currency: string; collected: string; refunded: string; disputed: string }>(
        `SELECT to_char(day, 'YYYY-MM-DD') AS day, currency, sum(gross_collected) AS collected, sum(refunds) AS refunded, sum(disputed) AS disputed
           FROM finance_ledger WHERE day >= $1::date AND day < $2::date AND ${scope()} GROUP BY 1, 2 ORDER BY 2, 1`,
        [from, end.slice(0, 10), ...(tenantId === null ? [] : [tenantId])],
      ),
      this.attention(tenantId),
    ]);
    return {
      from,
      to,
      paymentsPerDay: perDay.rows.map((r) => ({ day: r.day, succeeded: num(r.succeeded), failed: num(r.failed) })),
      amountsPerDay: amounts.rows.map((r) => ({ day: r.day, currency: r.currency, amount: num(r.amount) })),
      declineReasons: declines.rows.map((r) => ({ errorCode: r.error_code, declineCode: r.decline_code, count: num(r.n) })),
      invoicesByStatus: Object.fromEntries(invoices.rows.map((r) => [r.status, num(r.n)])),
      bookingsByStage: bookings,
      financePerDay: finance.rows.map((r) => ({ day: r.day, currency: r.currency, collected: num(r.collected), refunded: num(r.refunded), disputed: num(r.disputed) })),
      attention,
    };
  }

  /** Bookings per pipeline stage of one tenant, or (null) of every tenant. */
  private async bookingStageCountsOf(tenantId: string | null): Promise<Record<string, number>> {
    if (tenantId !== null) return this.bookingStageCounts(tenantId);
    const { rows } = await this.db.query<{ stage: string; n: string }>(
      `SELECT CASE WHEN stage = 'deposit_paid' AND (state->'request'->'schedule'->>'balanceDueAt')::timestamptz < $1::timestamptz THEN 'balance_overdue' ELSE stage END AS stage, count(*) AS n
         FROM bookings GROUP BY 1`,
      [new Date().toISOString()],
    );
    return Object.fromEntries(rows.map((r) => [r.stage, Number(r.n)]));
  }

  /** What needs a human: bookings, invoices and payments flagged by their read models (oldest first, 20 of each). */
  async attention(tenantId: string | null): Promise<AttentionItem[]> {
    const where = tenantId === null ? 'needs_attention' : 'needs_attention AND tenant_id = $1';
    const args = tenantId === null ? [] : [tenantId];
    const [b, i, p] = await Promise.all([
      this.db.query<Row>(`SELECT tenant_id, booking_id, attention, updated_at FROM bookings WHERE ${where} ORDER BY updated_at LIMIT 20`, args),
      this.db.query<Row>(`SELECT tenant_id, invoice_id, status, updated_at FROM invoices WHERE ${where} ORDER BY updated_at LIMIT 20`, args),
      // a payment's needs_attention is the reason itself (text), null when none
      this.db.query<Row>(`SELECT tenant_id, attempt_id, needs_attention, occurred_at FROM payment_history WHERE needs_attention IS NOT NULL${tenantId === null ? '' : ' AND tenant_id = $1'} ORDER BY occurred_at LIMIT 20`, args),
    ]);
    return [
      ...b.rows.map((r) => ({ tenantId: String(r.tenant_id), kind: 'booking' as const, id: String(r.booking_id), reasons: (r.attention as string[] | null) ?? [], since: iso(r.updated_at) })),
      ...i.rows.map((r) => ({ tenantId: String(r.tenant_id), kind: 'invoice' as const, id: String(r.invoice_id), reasons: [String(r.status)], since: iso(r.updated_at) })),
      ...p.rows.map((r) => ({ tenantId: String(r.tenant_id), kind: 'payment' as const, id: String(r.attempt_id), reasons: [String(r.needs_attention)], since: iso(r.occurred_at) })),
    ];
  }

  // ------------------------------------------------------------------ operations (every tenant; metrics)

  /** Bookings of every tenant whose CRM stage failed for good (waiting for an operator), per stage. */
  async crmStagesFailed(): Promise<Record<string, number>> {
    const { rows } = await this.db.query<{ key: string; n: string }>(
      `SELECT a AS key, count(*) AS n FROM bookings, jsonb_array_elements_text(attention) AS a WHERE needs_attention AND a LIKE 'crm:%' GROUP BY 1`,
    );
    const out: Record<string, number> = Object.fromEntries(CRM_STAGES.map((s) => [s, 0]));
    for (const r of rows) out[r.key.slice('crm:'.length)] = Number(r.n);
    return out;
  }

  /** Payment attempts of every tenant by status. */
  async paymentAttemptsByStatus(): Promise<Record<string, number>> {
    const { rows } = await this.db.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM payment_history GROUP BY 1');
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
  }
}

export interface AttentionItem {
  readonly tenantId: string;
  readonly kind: 'booking' | 'invoice' | 'payment';
  readonly id: string;
  /** Attention keys (`crm:associate_payment`, `dispute:dp_1`) or the object's status. */
  readonly reasons: readonly string[];
  readonly since: string | null;
}

export interface Overview {
  /** First and last UTC day of the range (YYYY-MM-DD, inclusive). */
  readonly from: string;
  readonly to: string;
  /** Days with at least one attempt. */
  readonly paymentsPerDay: ReadonlyArray<{ day: string; succeeded: number; failed: number }>;
  /** Succeeded amounts per day and currency (minor units). */
  readonly amountsPerDay: ReadonlyArray<{ day: string; currency: string; amount: number }>;
  /** Top failure codes (at most 8) with counts. */
  readonly declineReasons: ReadonlyArray<{ errorCode: string | null; declineCode: string | null; count: number }>;
  readonly invoicesByStatus: Readonly<Record<string, number>>;
  readonly bookingsByStage: Readonly<Record<string, number>>;
  /** Finance ledger per day and currency, summed over providers (minor units). */
  readonly financePerDay: ReadonlyArray<{ day: string; currency: string; collected: number; refunded: number; disputed: number }>;
  readonly attention: readonly AttentionItem[];
}
