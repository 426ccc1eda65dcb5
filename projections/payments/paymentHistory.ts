/**
 * The payment history read model: every payment attempt, successful or failed, against whatever
 * it paid for (invoice, booking, subscription) with its customer and tenant: amount, currency,
 * status, provider ids, error code, decline code, message, docs and receipt links, time.
 * Refunds and disputes update the status of the payment they concern.
 *
 * Owns `payment_history` and `payment_payables` (who the customer of each payable is, learned
 * from the payable's first event, so attempts can name their customer without reading another
 * projection).
 */
import type { DomainEventType } from '../../domain/events';
import type { RecordedEvent } from '../../domain/ports/eventStore';
import type { Money } from '../../domain/shared/money';
import { parseStream } from '../aggregateRows';
import type { ProjectionDefinition } from '../../domain/ports/projection';

export type PaymentStatus = 'succeeded' | 'failed' | 'pending' | 'action_required' | 'refunded' | 'disputed';
export type PayableType = 'invoice' | 'booking' | 'subscription';

interface Attempt {
  attemptKey: string;
  payableType: PayableType;
  payableId: string;
  tenantId: string;
  provider: string | null;
  providerPaymentId: string | null;
  providerChargeId: string | null;
  amount: Money | null;
  status: PaymentStatus;
  errorCode: string | null;
  declineCode: string | null;
  message: string | null;
  receiptUrl: string | null;
  card: { brand: string; last4: string } | null;
  needsAttention: string | null;
  occurredAt: string;
}

/** Where a non-technical reader learns what an error means. */
export function docsUrl(provider: string | null, errorCode: string | null, declineCode: string | null): string | null {
  if (provider === 'paypal' && (errorCode || declineCode)) return 'https://developer.paypal.com/api/rest/reference/orders/v2/errors/';
  if (declineCode) return `https://docs.stripe.com/declines/codes#${declineCode}`;
  if (errorCode) return `https://docs.stripe.com/error-codes/${errorCode.replace(/_/g, '-')}`;
  return null;
}

const PAYABLE: Record<string, PayableType> = { 'invoice-': 'invoice', 'booking-': 'booking', 'subscription-': 'subscription' };

function payableOf(streamId: string): { type: PayableType; tenantId: string; id: string } | null {
  for (const [prefix, type] of Object.entries(PAYABLE)) {
    const p = parseStream(prefix, streamId);
    if (p) return { type, ...p };
  }
  return null;
}

type D = Record<string, unknown>;
/** Values per buffered payment_history row (see apply): one unnest array each. */
const HISTORY_COLUMNS = 22;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** Rows -> one array per column (the parameters of an unnest insert). */
function columnsOf(rows: readonly unknown[][], width: number): unknown[][] {
  const cols: unknown[][] = Array.from({ length: width }, () => new Array<unknown>(rows.length));
  rows.forEach((row, r) => {
    if (row.length !== width) throw new Error(`payment_history: row of ${row.length} values, expected ${width}`);
    cols.forEach((col, c) => {
      col[r] = row[c] ?? null;
    });
  });
  return cols;
}

/** The needs-attention note of money received for a booking still on the waitlist. */
const HELD_WHILE_WAITLISTED = 'paid while waitlisted: held until the booking gets a seat (or refund it)';

/** Maps one event to an attempt row, if it is one. */
function attemptOf(e: RecordedEvent, payable: { type: PayableType; tenantId: string; id: string }): Attempt | null {
  const d = e.data as D;
  const base = {
    attemptKey: e.id,
    payableType: payable.type,
    payableId: payable.id,
    tenantId: payable.tenantId,
    provider: str(d.provider),
    providerPaymentId: str(d.providerPaymentId),
    providerChargeId: str(d.providerChargeId),
    amount: (d.amount as Money | undefined) ?? null,
    errorCode: str(d.errorCode),
    declineCode: str(d.declineCode),
    message: str(d.message),
    receiptUrl: str(d.receiptUrl),
    card: d.card && typeof (d.card as D).brand === 'string' && typeof (d.card as D).last4 === 'string' ? { brand: String((d.card as D).brand), last4: String((d.card as D).last4) } : null,
    needsAttention: null as string | null,
    occurredAt: str(d.occurredAt) ?? str(d.at) ?? e.recordedAt.toISOString(),
  };
  switch (e.type) {
    case 'PaymentSucceeded':
    case 'BookingPaymentCompleted':
      return { ...base, status: 'succeeded' };
    case 'PaymentAttemptFailed':
    case 'BookingPaymentFailed':
      return { ...base, status: 'failed' };
    case 'PaymentAttemptPending':
      return { ...base, status: d.outcome === 'requires_action' ? 'action_required' : 'pending' };
    case 'PaymentAmountMismatch':
    case 'BookingPaymentMismatch':
      return { ...base, status: 'succeeded', needsAttention: `amount mismatch: expected ${(d.expected as Money).amount} ${(d.expected as Money).currency}` };
    case 'OverpaymentRecorded':
      return { ...base, status: 'succeeded', needsAttention: `overpayment (${String(d.reason)}): needs a refund` };
    case 'BookingPaymentHeld':
      return { ...base, status: 'succeeded', needsAttention: HELD_WHILE_WAITLISTED };
    // SubscriptionRenewed, SubscriptionPastDue, PlanChanged and
    // PlanChangeDeclined are not attempts of their own: the provider payment behind each is the
    // subscription invoice's attempt (recorded on the invoice from the same webhook), listed once
    // under the invoice with the subscription as its link.
    case 'SubscriptionSuspended':
      return { ...base, provider: 'stripe', providerPaymentId: str(d.providerInvoiceId), status: 'failed', needsAttention: 'final payment failure: subscription suspended', occurredAt: str(d.suspendedAt) ?? base.occurredAt };
    default:
      return null;
  }
}

export const paymentHistoryProjection: ProjectionDefinition<'payment_history' | 'payment_payables'> = {
  name: 'payment_history',
  tables: ['payment_history', 'payment_payables'],
  eventTypes: new Set<DomainEventType>([
    'InvoiceIssued',
    'ProviderInvoiceRecorded',
    'BookingRequested',
    'BookingWaitlisted',
    'BookingInquiryReceived',
    'PaymentSucceeded',
    'BookingPaymentCompleted',
    'PaymentAttemptFailed',
    'BookingPaymentFailed',
    'PaymentAttemptPending',
    'PaymentAmountMismatch',
    'BookingPaymentMismatch',
    'OverpaymentRecorded',
    'OverpaymentRefunded',
    'BookingPaymentHeld',
    'BookingPromotedFromWaitlist',
    'SubscriptionSuspended',
    'LatePaymentNeedsAttention',
    'RefundRecorded',
    'BookingRefunded',
    'DisputeOpened',
    'DisputeWon',
    'DisputeLost',
    'BookingDisputeOpened',
    'BookingDisputeWon',
    'BookingDisputeLost',
  ]),
  ddl: (t) => `
    CREATE TABLE ${t.payment_payables} (
      tenant_id    text NOT NULL,
      payable_type text NOT NULL,
      payable_id   text NOT NULL,
      customer_id  text,
      -- a subscription invoice's provider subscription: its payments link to the subscription
      subscription_id text,
      PRIMARY KEY (tenant_id, payable_type, payable_id)
    );
    CREATE TABLE ${t.payment_history} (
      attempt_id          uuid        PRIMARY KEY,
      tenant_id           text        NOT NULL,
      customer_id         text,
      payable_type        text        NOT NULL,
      payable_id          text        NOT NULL,
      provider            text,
      provider_payment_id text,
      provider_charge_id  text,
      amount              bigint,
      currency            text,
      status              text        NOT NULL,
      refunded_amount     bigint      NOT NULL DEFAULT 0,
      error_code          text,
      decline_code        text,
      message             text,
      docs_url            text,
      receipt_url         text,
      card_brand          text,
      card_last4          text,
      needs_attention     text,
      occurred_at         timestamptz NOT NULL,
      recorded_at         timestamptz NOT NULL,
      updated_at          timestamptz NOT NULL,
      position            text        NOT NULL,
      -- one provider payment is one row: a subscription's payment is its invoice's, linked here
      subscription_id     text
    );
    -- apply finds a payable's attempts (refunds, disputes, settling a pending attempt) through this one
    CREATE INDEX ${t.payment_history}_payable ON ${t.payment_history} (tenant_id, payable_type, payable_id);`,
  queryIndexes: (t) => `
    CREATE INDEX ${t.payment_history}_list ON ${t.payment_history} (tenant_id, occurred_at DESC, attempt_id DESC);
    CREATE INDEX ${t.payment_history}_customer ON ${t.payment_history} (tenant_id, customer_id);`,
  async apply(tx, events, t) {
    // Row inserts are buffered and written in multi-row statements; anything that reads or
    // updates rows (refunds, disputes, settling a pending attempt) first flushes the buffers, so
    // every statement sees exactly the rows it would have seen applying one event at a time.
    const payableRows: unknown[][] = [];
    const historyRows: unknown[][] = [];
    const bufferedPayables = new Set<string>(); // payables with buffered history rows
    // Each flush is one statement per table over column arrays (unnest): its plan does not grow
    // with the row count, where a multi-row VALUES list of 1,000 rows x 22 parameters cost more to
    // bind and plan than to execute.
    const flush = async () => {
      if (payableRows.length > 0) {
        const [tenants, types, ids, customers, subscriptions] = columnsOf(payableRows, 5);
        await tx.query(
          `INSERT INTO ${t.payment_payables} (tenant_id, payable_type, payable_id, customer_id, subscription_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) ON CONFLICT DO NOTHING`,
          [tenants, types, ids, customers, subscriptions],
        );
        payableRows.length = 0;
      }
      if (historyRows.length > 0) {
        await tx.query(
          `INSERT INTO ${t.payment_history} (attempt_id, tenant_id, customer_id, payable_type, payable_id, provider, provider_payment_id, provider_charge_id,
             amount, currency, status, error_code, decline_code, message, docs_url, receipt_url, needs_attention, occurred_at, recorded_at, updated_at, position, card_brand, card_last4,
             subscription_id)
           SELECT x.attempt_id, x.tenant_id,
                  coalesce(x.customer_id, (SELECT p.customer_id FROM ${t.payment_payables} p WHERE p.tenant_id = x.tenant_id AND p.payable_type = x.payable_type AND p.payable_id = x.payable_id)),
                  x.payable_type, x.payable_id, x.provider, x.provider_payment_id, x.provider_charge_id, x.amount, x.currency, x.status, x.error_code, x.decline_code,
                  x.message, x.docs_url, x.receipt_url, x.needs_attention, x.occurred_at, x.recorded_at, x.recorded_at, x.position, x.card_brand, x.card_last4,
                  (SELECT p.subscription_id FROM ${t.payment_payables} p WHERE p.tenant_id = x.tenant_id AND p.payable_type = x.payable_type AND p.payable_id = x.payable_id)
             FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[],
                         $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::timestamptz[], $19::timestamptz[], $20::text[], $21::text[], $22::text[])
               AS x(attempt_id, tenant_id, customer_id, payable_type, payable_id, provider, provider_payment_id, provider_charge_id, amount, currency, status,
                    error_code, decline_code, message, docs_url, receipt_url, needs_attention, occurred_at, recorded_at, position, card_brand, card_last4)`,
          columnsOf(historyRows, HISTORY_COLUMNS),
        );
        historyRows.length = 0;
      }
      bufferedPayables.clear();
    };
    // Attempts still pending at the start of the batch (or made pending within it) that a later
    // event may settle: only those need the UPDATE, everything else is a plain insert.
    const settleable = new Set<string>();
    const pendingKey = (tenantId: string, type: string, id: string, providerPaymentId: string) => `${tenantId}|${type}|${id}|${providerPaymentId}`;
    const candidates = new Map<string, [string, string, string]>();
    for (const e of events) {
      const payable = typeof (e.data as D).providerPaymentId === 'string' ? payableOf(e.streamId) : null;
      if (payable) candidates.set(`${payable.tenantId}|${payable.type}|${payable.id}`, [payable.tenantId, payable.type, payable.id]);
    }
    if (candidates.size > 0) {
      const keys = [...candidates.values()];
      // through the (tenant_id, payable_type, payable_id) index, as the per-event UPDATE would
      const { rows } = await tx.query<{ tenant_id: string; payable_type: string; payable_id: string; provider_payment_id: string }>(
        `SELECT h.tenant_id, h.payable_type, h.payable_id, h.provider_payment_id
           FROM unnest($1::text[], $2::text[], $3::text[]) AS k(tenant_id, payable_type, payable_id)
           JOIN ${t.payment_history} h ON h.tenant_id = k.tenant_id AND h.payable_type = k.payable_type AND h.payable_id = k.payable_id
          WHERE h.status IN ('pending', 'action_required') AND h.provider_payment_id IS NOT NULL`,
        [keys.map((k) => k[0]), keys.map((k) => k[1]), keys.map((k) => k[2])],
      );
      for (const r of rows) settleable.add(pendingKey(r.tenant_id, r.payable_type, r.payable_id, r.provider_payment_id));
    }

    for (const e of events) {
      const payable = payableOf(e.streamId);
      if (!payable) continue;
      const d = e.data as D;
      const key = [payable.tenantId, payable.type, payable.id];
      switch (e.type) {
        case 'InvoiceIssued':
        case 'ProviderInvoiceRecorded':
        case 'BookingRequested':
        case 'BookingWaitlisted':
        case 'BookingInquiryReceived': {
          const customer = str(d.customerId) ?? (d.contact ? str((d.contact as D).email) : null);
          // a history row buffered for this payable must not see a customer it did not see before
          if (bufferedPayables.has(key.join('|'))) await flush();
          payableRows.push([...key, customer, str(d.subscriptionId)]);
          continue;
        }
        case 'BookingPromotedFromWaitlist': {
          // the held payment now pays a booking with a seat: nothing to look at any more
          await flush();
          await tx.query(
            `UPDATE ${t.payment_history} SET needs_attention = NULL, updated_at = $4
              WHERE tenant_id = $1 AND payable_type = $2 AND payable_id = $3 AND needs_attention = $5`,
            [...key, e.recordedAt, HELD_WHILE_WAITLISTED],
          );
          continue;
        }
        case 'BookingRefunded':
        case 'BookingDisputeOpened':
        case 'BookingDisputeWon':
        case 'BookingDisputeLost': {
          // (an invoice's refunds of money it did not keep are OverpaymentRefunded, below)
          const paymentId = d.providerPaymentId;
          if (typeof paymentId !== 'string') break; // a refund recorded before refunds named their payment: below
          // applied to the payment it names (a duplicate's refund never touches the kept payment)
          await flush();
          const named = [...key, paymentId, e.recordedAt];
          const row = `tenant_id = $1 AND payable_type = $2 AND payable_id = $3 AND provider_payment_id = $4 AND status IN ('succeeded', 'refunded', 'disputed')`;
          if (e.type === 'BookingRefunded') {
            const part = (d.amount as Money).amount;
            await tx.query(
              `UPDATE ${t.payment_history} SET refunded_amount = least(amount, refunded_amount + $6),
                      status = CASE WHEN refunded_amount + $6 >= amount AND status <> 'disputed' THEN 'refunded' ELSE status END,
                      needs_attention = CASE WHEN refunded_amount + $6 >= amount THEN NULL ELSE needs_attention END, updated_at = $5
                WHERE ${row}`,
              [...named, part],
            );
          } else {
            const to = e.type === 'BookingDisputeWon' ? `CASE WHEN refunded_amount >= amount THEN 'refunded' ELSE 'succeeded' END` : `'disputed'`;
            await tx.query(`UPDATE ${t.payment_history} SET status = ${to}, updated_at = $5 WHERE ${row}`, named);
          }
          continue;
        }
        default:
          break;
      }
      switch (e.type) {
        case 'RefundRecorded':
        case 'BookingRefunded': {
          await flush();
          // the refund applies to the payable's successful payments, oldest first, each up to what
          // it has left (a refund covering a deposit and a balance spans both rows)
          let remaining = (d.amount as Money).amount;
          const { rows: paid } = await tx.query<{ attempt_id: string; amount: string; refunded_amount: string }>(
            `SELECT attempt_id::text, amount, refunded_amount FROM ${t.payment_history}
              WHERE tenant_id = $1 AND payable_type = $2 AND payable_id = $3 AND status IN ('succeeded', 'disputed') AND needs_attention IS NULL
                AND refunded_amount < amount
              ORDER BY occurred_at, attempt_id`,
            key,
          );
          for (const row of paid) {
            if (remaining <= 0) break;
            const part = Math.min(remaining, Number(row.amount) - Number(row.refunded_amount));
            remaining -= part;
            await tx.query(
              `UPDATE ${t.payment_history} SET refunded_amount = refunded_amount + $2,
                      status = CASE WHEN refunded_amount + $2 >= amount THEN 'refunded' ELSE status END, updated_at = $3
                WHERE attempt_id = $1`,
              [row.attempt_id, part, e.recordedAt],
            );
          }
          continue;
        }
        case 'OverpaymentRefunded': {
          await flush();
          // the payment it names (an overpayment or a wrong amount): refunded in full, it needs no one any more
          await tx.query(
            `UPDATE ${t.payment_history} SET refunded_amount = refunded_amount + $5,
                    status = CASE WHEN refunded_amount + $5 >= amount THEN 'refunded' ELSE status END,
                    needs_attention = CASE WHEN refunded_amount + $5 >= amount THEN NULL ELSE needs_attention END, updated_at = $6
              WHERE tenant_id = $1 AND payable_type = $2 AND payable_id = $3 AND provider_payment_id = $4 AND status IN ('succeeded', 'refunded')`,
            [...key, str(d.providerPaymentId), (d.amount as Money).amount, e.recordedAt],
          );
          continue;
        }
        case 'SubscriptionSuspended': {
          // the failed payment is the provider invoice's row: flag its latest failure; a row of its
          // own only when the invoice recorded none (a suspension recorded without the invoice)
          await flush();
          const { rows: flagged } = await tx.query(
            `UPDATE ${t.payment_history} SET needs_attention = $3, updated_at = $4
              WHERE attempt_id = (SELECT attempt_id FROM ${t.payment_history}
                                   WHERE tenant_id = $1 AND payable_type = 'invoice' AND payable_id = $2 AND status = 'failed'
                                   ORDER BY occurred_at DESC, attempt_id DESC LIMIT 1)
              RETURNING 1`,
            [payable.tenantId, str(d.providerInvoiceId), 'final payment failure: subscription suspended', e.recordedAt],
          );
          if (flagged.length > 0) continue;
          break;
        }
        case 'LatePaymentNeedsAttention': {
          // the payment is the provider invoice's row (one payment, one row): flag it there
          await flush();
          await tx.query(
            `UPDATE ${t.payment_history} SET needs_attention = $3, updated_at = $4
              WHERE tenant_id = $1 AND payable_type = 'invoice' AND payable_id = $2 AND status = 'succeeded' AND needs_attention IS NULL`,
            [payable.tenantId, str(d.providerInvoiceId), str(d.reason), e.recordedAt],
          );
          continue;
        }
        case 'DisputeOpened':
        case 'DisputeWon':
        case 'DisputeLost': {
          await flush();
          const to = e.type === 'DisputeWon' ? `CASE WHEN refunded_amount >= amount THEN 'refunded' ELSE 'succeeded' END` : `'disputed'`;
          // the disputed payment when the event names it (a refunded duplicate is not under dispute)
          const pid = str(d.providerPaymentId);
          await tx.query(
            `UPDATE ${t.payment_history} SET status = ${to}, updated_at = $4
              WHERE tenant_id = $1 AND payable_type = $2 AND payable_id = $3 AND status IN ('succeeded', 'refunded', 'disputed') AND needs_attention IS NULL
                AND ($5::text IS NULL OR provider_payment_id = $5)`,
            [...key, e.recordedAt, pid],
          );
          continue;
        }
        default:
          break;
      }
      const a = attemptOf(e, payable);
      if (!a) continue;
      const customer = payable.type === 'subscription' ? payable.id : null;
      const position = `${e.position.commit}/${e.position.prepare}`;
      const pk = a.providerPaymentId ? pendingKey(a.tenantId, a.payableType, a.payableId, a.providerPaymentId) : null;
      // A pending attempt that settles later is the same attempt: update it rather than add a row.
      if (a.status !== 'pending' && a.status !== 'action_required' && pk && settleable.has(pk)) {
        await flush();
        settleable.delete(pk);
        const { rows } = await tx.query(
          `UPDATE ${t.payment_history} SET status = $5, amount = $6, currency = $7, provider_charge_id = coalesce($8, provider_charge_id),
                  error_code = $9, decline_code = $10, message = $11, docs_url = $12, needs_attention = $13, occurred_at = $14, updated_at = $15, position = $16,
                  receipt_url = coalesce($17, receipt_url), card_brand = coalesce($18, card_brand), card_last4 = coalesce($19, card_last4)
            WHERE tenant_id = $1 AND payable_type = $2 AND payable_id = $3 AND provider_payment_id = $4 AND status IN ('pending', 'action_required')
            RETURNING 1`,
          [
            a.tenantId,
            a.payableType,
            a.payableId,
            a.providerPaymentId,
            a.status,
            a.amount?.amount ?? null,
            a.amount?.currency ?? null,
            a.providerChargeId,
            a.errorCode,
            a.declineCode,
            a.message,
            docsUrl(a.provider, a.errorCode, a.declineCode),
            a.needsAttention,
            a.occurredAt,
            e.recordedAt,
            position,
            a.receiptUrl,
            a.card?.brand ?? null,
            a.card?.last4 ?? null,
          ],
        );
        if (rows.length > 0) continue;
      }
      if ((a.status === 'pending' || a.status === 'action_required') && pk) settleable.add(pk);
      bufferedPayables.add(key.join('|'));
      historyRows.push([
        a.attemptKey,
        a.tenantId,
        customer,
        a.payableType,
        a.payableId,
        a.provider,
        a.providerPaymentId,
        a.providerChargeId,
        a.amount?.amount ?? null,
        a.amount?.currency ?? null,
        a.status,
        a.errorCode,
        a.declineCode,
        a.message,
        docsUrl(a.provider, a.errorCode, a.declineCode),
        a.receiptUrl,
        a.needsAttention,
        a.occurredAt,
        e.recordedAt,
        position,
        a.card?.brand ?? null,
        a.card?.last4 ?? null,
      ]);
    }
    await flush();
  },
};
