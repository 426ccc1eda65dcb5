/**
 * Invoice commands: issue, void, refund, and the provider facts that feed an invoice (payment
 * attempts, provider invoices, disputes). The invoice stream is its own audit trail: every event
 * names its actor, and its metadata carries the causing request or provider event.
 */
import type { BillingProvider } from '../domain/ports/billingProvider';
import type { EventStore } from '../domain/ports/eventStore';
import { DomainRefusal } from '../domain/shared/decider';
import type { Money } from '../domain/shared/money';
import { invoiceDecider, type Actor, type InvoiceCommand, type InvoiceEvent, type InvoiceState } from '../domain/invoice/invoice';
import { handle, load, type CommandContext, type Handled } from './handle';
import { streams } from './streams';

type InvCmd<T extends InvoiceCommand['type']> = Extract<InvoiceCommand, { type: T }>;
const invCmd = <T extends InvoiceCommand['type']>(type: T, data: InvCmd<T>['data'], ctx: CommandContext) => ({ type, data, metadata: { now: ctx.now } }) as InvCmd<T>;

export function actorOf(ctx: CommandContext): Actor {
  if (!ctx.actor || ctx.actor.kind === 'system') return { kind: 'system' };
  if (ctx.actor.kind === 'provider') return { kind: 'provider', id: ctx.actor.id };
  return { kind: 'user', id: `${ctx.actor.kind}:${ctx.actor.id}` };
}

export class InvoiceCommands {
  constructor(
    private readonly store: EventStore,
    private readonly provider: BillingProvider,
    /** The tenant's Stripe connected account: its invoices are paid there, so refunds go there. */
    private readonly accounts: { accountFor(tenantId: string): Promise<string | null> } = { accountFor: () => Promise.resolve(null) },
  ) {}

  async get(tenantId: string, invoiceId: string): Promise<{ state: InvoiceState; revision: bigint | null } | null> {
    const r = await load(this.store, streams.invoice(tenantId, invoiceId), invoiceDecider);
    return r.state.status === 'none' ? null : { state: r.state, revision: r.revision };
  }

  /** The invoice's own stream: every transition, with what caused it (the audit trail). */
  async history(tenantId: string, invoiceId: string) {
    return this.store.readStream(streams.invoice(tenantId, invoiceId));
  }

  issue(data: Omit<InvCmd<'IssueInvoice'>['data'], 'tenantId' | 'actor'>, ctx: CommandContext): Promise<Handled<InvoiceState, InvoiceEvent>> {
    return handle(this.store, streams.invoice(ctx.tenantId, data.invoiceId), invoiceDecider, () => invCmd('IssueInvoice', { ...data, tenantId: ctx.tenantId, actor: actorOf(ctx) }, ctx), ctx);
  }

  /** Void: only while unpaid; a Stripe-hosted invoice is voided at Stripe first. */
  async void(invoiceId: string, reason: string, ctx: CommandContext): Promise<Handled<InvoiceState, InvoiceEvent>> {
    const stream = streams.invoice(ctx.tenantId, invoiceId);
    const current = await load(this.store, stream, invoiceDecider);
    const command = invCmd('VoidInvoice', { reason, actor: actorOf(ctx) }, ctx);
    const decided = invoiceDecider.decide(command, current.state);
    if (decided.length > 0 && current.state.providerInvoiceId) {
      await this.provider.voidInvoice({ idempotencyKey: `void|${current.state.providerInvoiceId}`, providerInvoiceId: current.state.providerInvoiceId });
    }
    return handle(this.store, stream, invoiceDecider, () => command, ctx);
  }

  /**
   * Refund: checked against what was collected before any money moves, sent to the provider
   * with the refund id as idempotency key, then recorded.
   */
  async refund(invoiceId: string, input: { refundId: string; amount: Money; reason: string | null }, ctx: CommandContext): Promise<Handled<InvoiceState, InvoiceEvent>> {
    const stream = streams.invoice(ctx.tenantId, invoiceId);
    const current = await load(this.store, stream, invoiceDecider);
    const probe = invCmd('RecordRefund', { refundId: input.refundId, providerRefundId: 'pending', amount: input.amount, reason: input.reason, actor: actorOf(ctx) }, ctx);
    const decided = invoiceDecider.decide(probe, current.state);
    if (decided.length === 0) return handle(this.store, stream, invoiceDecider, () => probe, ctx);
    const payment = current.state.payment;
    if (!payment) throw new DomainRefusal('invoice_not_paid', 'only a paid invoice can be refunded');
    const { providerRefundId } = await this.provider.refund({
      idempotencyKey: `invoice-refund|${ctx.tenantId}|${input.refundId}`,
      provider: payment.provider,
      providerPaymentId: payment.providerPaymentId,
      providerChargeId: payment.providerChargeId,
      amount: input.amount,
      // A tenant's own invoice paid by Stripe was paid on its connected account (Connect); a
      // platform subscription invoice (provider invoice id) was paid on the platform.
      accountId: payment.provider === 'stripe' && !current.state.providerInvoiceId ? await this.accounts.accountFor(ctx.tenantId) : null,
    });
    return handle(this.store, stream, invoiceDecider, () => invCmd('RecordRefund', { ...probe.data, providerRefundId }, ctx), { ...ctx, idSeed: `refund|${input.refundId}` });
  }

  recordPaymentAttempt(invoiceId: string, data: Omit<InvCmd<'RecordPaymentAttempt'>['data'], 'actor'>, ctx: CommandContext) {
    return handle(this.store, streams.invoice(ctx.tenantId, invoiceId), invoiceDecider, () => invCmd('RecordPaymentAttempt', { ...data, actor: actorOf(ctx) }, ctx), ctx);
  }
}
