/**
 * Random but valid event histories, produced by sending random commands through the real
 * deciders and command loop (refusals are part of the randomness and simply skipped). Used by
 * projection tests (rebuild equality, failover, exactly-once) and benchmarks.
 */
import { handle, type CommandContext } from '../../commands/handle';
import { streams } from '../../commands/streams';
import { bookingDecider, type BookingCommand } from '../../domain/booking/booking';
import { invoiceDecider, type InvoiceCommand } from '../../domain/invoice/invoice';
import type { EventStore } from '../../domain/ports/eventStore';
import { DomainRefusal, type Command } from '../../domain/shared/decider';
import { subscriptionDecider, type SubscriptionCommand } from '../../domain/subscription/subscription';
import { rng } from './random';

export { rng };

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

function cmd<C extends Command>(type: C['type'], data: C['data'], now: Date): C {
  return { type, data, metadata: { now } } as C;
}

async function attempt(fn: () => Promise<unknown>): Promise<boolean> {
  try {
    await fn();
    return true;
  } catch (err) {
    if (err instanceof DomainRefusal) return false;
    throw err;
  }
}

export interface HistoryOptions {
  readonly tenantId?: string;
  readonly invoices?: number;
  readonly bookings?: number;
  readonly customers?: number;
  readonly stepsPerStream?: number;
  /** Prefix for ids, so several histories can share one store. */
  readonly prefix?: string;
}

/** Appends random histories; returns the number of commands that produced events. */
export async function generateHistories(store: EventStore, seed: number, opts: HistoryOptions = {}): Promise<number> {
  const r = rng(seed);
  const tenantId = opts.tenantId ?? 'tenant-h';
  const prefix = opts.prefix ?? `h${seed}`;
  const steps = opts.stepsPerStream ?? 8;
  let t0 = Date.UTC(2026, 0, 1);
  const now = () => new Date((t0 += 60_000));
  const ctx = (id: string): CommandContext => ({ tenantId, correlationId: `corr-${id}`, causationId: `cause-${id}`, now: now(), actor: { kind: 'system', id: 'history' } });
  let applied = 0;
  const currency = pick(r, ['EUR', 'USD', 'JPY']);

  for (let i = 0; i < (opts.invoices ?? 6); i++) {
    const invoiceId = `${prefix}-inv-${i}`;
    const stream = streams.invoice(tenantId, invoiceId);
    const qty = 1 + Math.floor(r() * 3);
    const unit = 1000 + Math.floor(r() * 9000);
    const total = qty * unit;
    const run = (c: InvoiceCommand) => attempt(() => handle(store, stream, invoiceDecider, () => c, ctx(`${invoiceId}-${applied}`))).then((ok) => (ok ? applied++ : 0));
    const actor = { kind: 'system' as const };
    await run(
      cmd<InvoiceCommand>(
        'IssueInvoice',
        { invoiceId, tenantId, customerId: `${prefix}-cus-${i % 3}`, customer: { name: `Client ${i}`, email: `c${i}@example.com` }, lineItems: [{ description: 'Session', quantity: qty, unitAmount: unit }], currency, dueDate: '2026-12-31', allowedPaymentMethods: ['stripe_connect', 'paypal'], actor },
        now(),
      ),
    );
    for (let s = 0; s < steps; s++) {
      const pi = `pi_${prefix}_${i}_${Math.floor(r() * 3)}`;
      const choice = r();
      const occurredAt = now().toISOString();
      if (choice < 0.3) {
        await run(cmd<InvoiceCommand>('RecordPaymentAttempt', { attemptId: `${pi}-f${s}`, provider: 'stripe', providerPaymentId: `${pi}-f${s}`, providerChargeId: null, amount: { amount: total, currency }, outcome: 'failed', errorCode: 'card_declined', declineCode: pick(r, ['insufficient_funds', 'expired_card', 'do_not_honor']), message: 'Your card was declined.', occurredAt, actor }, now()));
      } else if (choice < 0.55) {
        const amount = r() < 0.85 ? total : total - 1;
        await run(cmd<InvoiceCommand>('RecordPaymentAttempt', { attemptId: pi, provider: pick(r, ['stripe', 'paypal'] as const), providerPaymentId: pi, providerChargeId: pi.replace('pi_', 'ch_'), amount: { amount, currency }, outcome: 'succeeded', occurredAt, actor }, now()));
      } else if (choice < 0.65) {
        await run(cmd<InvoiceCommand>('RecordPaymentAttempt', { attemptId: `${pi}-p`, provider: 'stripe', providerPaymentId: `${pi}-p`, providerChargeId: null, amount: { amount: total, currency }, outcome: 'requires_action', occurredAt, actor }, now()));
      } else if (choice < 0.8) {
        const amount = 1 + Math.floor(r() * total);
        await run(cmd<InvoiceCommand>('RecordRefund', { refundId: `${invoiceId}-rf${s}`, providerRefundId: `re_${invoiceId}_${s}`, amount: { amount, currency }, reason: null, actor }, now()));
      } else if (choice < 0.88) {
        await run(cmd<InvoiceCommand>('OpenDispute', { disputeId: `${invoiceId}-dp`, providerDisputeId: `dp_${invoiceId}`, amount: { amount: Math.max(1, Math.floor(total / 2)), currency }, reason: 'fraudulent', actor }, now()));
      } else if (choice < 0.94) {
        await run(cmd<InvoiceCommand>('CloseDispute', { disputeId: `${invoiceId}-dp`, outcome: pick(r, ['won', 'lost'] as const), actor }, now()));
      } else {
        await run(cmd<InvoiceCommand>('VoidInvoice', { reason: 'random', actor }, now()));
      }
    }
  }

  for (let i = 0; i < (opts.bookings ?? 6); i++) {
    const bookingId = `${prefix}-bk-${i}`;
    const stream = streams.booking(tenantId, bookingId);
    const price = { amount: 50000 + Math.floor(r() * 1000) * 100, currency };
    const run = (c: BookingCommand) => attempt(() => handle(store, stream, bookingDecider, () => c, ctx(`${bookingId}-${applied}`))).then((ok) => (ok ? applied++ : 0));
    await run(
      cmd<BookingCommand>(
        'RequestBooking',
        {
          bookingId,
          tenantId,
          departure: { departureId: 'd1', externalId: `DEP-${i % 2}`, paymentScheduleId: 'sched' },
          placement: pick(r, ['confirmed', 'confirmed', 'confirmed', 'waitlisted', 'inquiry'] as const),
          contact: { firstName: 'Ada', lastName: `L${i}`, email: `ada${i}@example.com`, phone: '+1 555 0100' },
          guests: [{ firstName: 'Ada', lastName: `L${i}` }],
          price,
          paymentScheduleId: null,
        },
        now(),
      ),
    );
    for (let s = 0; s < steps; s++) {
      const c = r();
      if (c < 0.25) await run(cmd<BookingCommand>('RecordPaymentCompleted', { provider: 'stripe', providerPaymentId: `pi_${bookingId}_${Math.floor(r() * 2)}`, providerChargeId: null, amount: r() < 0.9 ? price : { ...price, amount: price.amount + 1 } }, now()));
      else if (c < 0.35) await run(cmd<BookingCommand>('RecordPaymentFailed', { attemptId: `${bookingId}-f${s}`, provider: 'stripe', providerPaymentId: `pi_${bookingId}_f${s}`, amount: price, errorCode: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' }, now()));
      else if (c < 0.5) await run(cmd<BookingCommand>('RecordCrmBookingCreated', { crmBookingId: `crm-${bookingId}`, crmIds: { booking: `crm-${bookingId}` } }, now()));
      else if (c < 0.6) await run(cmd<BookingCommand>('RecordCrmPaymentAssociated', { crmPaymentId: `crmpay-${bookingId}` }, now()));
      else if (c < 0.7) await run(cmd<BookingCommand>('RecordCrmStageAttemptFailed', { stage: pick(r, ['create_contact_booking', 'associate_payment'] as const), attempt: 1 + s, error: 'ETIMEDOUT' }, now()));
      else if (c < 0.77) await run(cmd<BookingCommand>('RecordCrmStageFailed', { stage: pick(r, ['create_contact_booking', 'associate_payment'] as const), attempts: 5, lastError: 'ETIMEDOUT' }, now()));
      else if (c < 0.82) await run(cmd<BookingCommand>('RetryCrmStage', { requestedBy: 'ops' }, now()));
      else if (c < 0.9) await run(cmd<BookingCommand>('RefundBooking', { refundId: `${bookingId}-rf${s}`, amount: { ...price, amount: 1 + Math.floor(r() * price.amount) }, reason: null }, now()));
      else await run(cmd<BookingCommand>('CancelBooking', { reason: 'random' }, now()));
    }
  }

  for (let i = 0; i < (opts.customers ?? 4); i++) {
    const customerId = `${prefix}-cus-${i}`;
    const stream = streams.subscription(tenantId, customerId);
    const run = (c: SubscriptionCommand) => attempt(() => handle(store, stream, subscriptionDecider, () => c, ctx(`${customerId}-${applied}`))).then((ok) => (ok ? applied++ : 0));
    await run(cmd<SubscriptionCommand>('StartCheckout', { attemptId: `${customerId}-a1`, customerId, tenantId, planId: 'pro', priceId: 'price_pro', interval: 'month', sessionTtlSeconds: 1800 }, now()));
    await run(cmd<SubscriptionCommand>('RecordCheckoutSessionCreated', { attemptId: `${customerId}-a1`, sessionId: `cs_${customerId}`, url: `https://checkout.example/${customerId}`, expiresAt: '2030-01-01T00:00:00.000Z' }, now()));
    if (r() < 0.8) {
      await run(cmd<SubscriptionCommand>('ActivateSubscription', { sessionId: `cs_${customerId}`, providerSubscriptionId: `sub_${customerId}`, planId: 'pro', priceId: 'price_pro', interval: 'month', currentPeriodStart: '2026-01-01T00:00:00.000Z', currentPeriodEnd: '2026-02-01T00:00:00.000Z' }, now()));
    }
    for (let s = 0; s < steps; s++) {
      const c = r();
      const month = 2 + s;
      if (c < 0.35) await run(cmd<SubscriptionCommand>('RecordRenewalPaid', { providerInvoiceId: `in_${customerId}_${s}`, amount: { amount: 2900, currency }, periodStart: `2026-${String(Math.min(month, 12)).padStart(2, '0')}-01T00:00:00.000Z`, periodEnd: `2027-${String(Math.min(month, 12)).padStart(2, '0')}-01T00:00:00.000Z` }, now()));
      else if (c < 0.55) await run(cmd<SubscriptionCommand>('RecordRenewalPaymentFailed', { providerInvoiceId: `in_${customerId}_f${s}`, amount: { amount: 2900, currency }, nextPaymentAttempt: r() < 0.7 ? '2030-01-01T00:00:00.000Z' : null, errorCode: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' }, now()));
      else if (c < 0.7) await run(cmd<SubscriptionCommand>('RequestPlanChange', { changeId: `${customerId}-chg${s}`, newPlanId: 'pro-annual', newPriceId: 'price_pro_annual', newInterval: 'year' }, now()));
      else if (c < 0.8) await run(cmd<SubscriptionCommand>('RecordPlanChangePaymentCaptured', { changeId: `${customerId}-chg${s - 1}`, providerInvoiceId: `in_${customerId}_chg${s}` }, now()));
      else if (c < 0.88) await run(cmd<SubscriptionCommand>('RecordPlanChangeDeclined', { changeId: `${customerId}-chg${s - 1}`, declineCode: 'insufficient_funds', message: 'declined' }, now()));
      else await run(cmd<SubscriptionCommand>('CancelSubscription', { at: pick(r, ['period_end', 'now'] as const) }, now()));
    }
  }
  return applied;
}
