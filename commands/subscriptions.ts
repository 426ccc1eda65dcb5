/**
 * Subscription and plan commands: checkout (two tabs, one session), plan changes applied only
 * once payment is captured, cancellation, and the provider-driven facts (activation, renewal,
 * failed renewal with dunning, end). Provider calls go through the BillingProvider port, each
 * with an idempotency key derived from the fact it serves, so a retried command cannot act twice
 * at the provider.
 */
import { systemClock, type Clock } from '../domain/ports/clock';
import { ProviderError, type BillingProvider } from '../domain/ports/billingProvider';
import type { EventStore } from '../domain/ports/eventStore';
import { DomainRefusal } from '../domain/shared/decider';
import type { Money } from '../domain/shared/money';
import { planDecider, type BillingInterval, type PlanCommand, type PlanState } from '../domain/subscription/plans';
import {
  checkoutStatus,
  subscriptionDecider,
  type SubscriptionCommand,
  type SubscriptionEvent,
  type SubscriptionState,
} from '../domain/subscription/subscription';
import { handle, load, type CommandContext, type Handled } from './handle';
import { newId } from './ids';
import { streams } from './streams';

type SubCmd<T extends SubscriptionCommand['type']> = Extract<SubscriptionCommand, { type: T }>;
const subCmd = <T extends SubscriptionCommand['type']>(type: T, data: SubCmd<T>['data'], ctx: CommandContext) => ({ type, data, metadata: { now: ctx.now } }) as SubCmd<T>;
const planCmd = <T extends PlanCommand['type']>(type: T, data: Extract<PlanCommand, { type: T }>['data'], ctx: CommandContext) =>
  ({ type, data, metadata: { now: ctx.now } }) as Extract<PlanCommand, { type: T }>;

export interface CheckoutResult {
  readonly sessionId: string;
  readonly url: string;
  readonly expiresAt: string;
  /** True when an existing pending session was returned instead of creating one. */
  readonly reused: boolean;
  readonly handled: Handled<SubscriptionState, SubscriptionEvent>;
}

export interface SubscriptionCommandsOptions {
  readonly sessionTtlSeconds: number;
  /** How long a request waits for another request's checkout session before answering 409. */
  readonly waitForSessionMs?: number;
  /** Business time of each claim attempt (default: the wall clock). */
  readonly clock?: Clock;
}

export class SubscriptionCommands {
  constructor(
    private readonly store: EventStore,
    private readonly provider: BillingProvider,
    private readonly opts: SubscriptionCommandsOptions,
  ) {}

  // ---- plans -------------------------------------------------------------------------------

  async getPlan(tenantId: string, planId: string): Promise<PlanState | null> {
    const p = await load(this.store, streams.plan(tenantId, planId), planDecider);
    return p.state.status === 'undefined' ? null : p.state;
  }

  private async activePlan(tenantId: string, planId: string): Promise<PlanState & { providerPriceId: string; interval: BillingInterval }> {
    const plan = await this.getPlan(tenantId, planId);
    if (!plan) throw new DomainRefusal('plan_not_found', `no plan ${planId}`, 'invalid', { field: 'planId' });
    if (plan.status !== 'active' || !plan.providerPriceId || !plan.interval) throw new DomainRefusal('plan_retired', `plan ${planId} is retired`, 'conflict');
    return plan as PlanState & { providerPriceId: string; interval: BillingInterval };
  }

  /** Creates the product and price at the provider, then records the plan. */
  async definePlan(input: { planId: string; name: string; amount: Money; interval: BillingInterval }, ctx: CommandContext): Promise<Handled<PlanState, unknown>> {
    const stream = streams.plan(ctx.tenantId, input.planId);
    const existing = await load(this.store, stream, planDecider);
    if (existing.state.status !== 'undefined') throw new DomainRefusal('plan_exists', `plan ${input.planId} already exists`);
    const key = `plan|${ctx.tenantId}|${input.planId}`;
    const product = await this.provider.createProduct({ idempotencyKey: `${key}|product`, tenantId: ctx.tenantId, name: input.name });
    const price = await this.provider.createPrice({
      idempotencyKey: `${key}|price|${input.amount.currency}${input.amount.amount}|${input.interval}`,
      productId: product.productId,
      amount: input.amount,
      interval: input.interval,
      metadata: { tenant_id: ctx.tenantId, plan_id: input.planId },
    });
    return handle(
      this.store,
      stream,
      planDecider,
      () => planCmd('DefinePlan', { planId: input.planId, tenantId: ctx.tenantId, name: input.name, amount: input.amount, interval: input.interval, providerProductId: product.productId, providerPriceId: price.priceId }, ctx),
      { ...ctx, idSeed: `${key}|define` },
    );
  }

  /** Provider prices are immutable: create the new price, record the change, archive the old one. */
  async changePlanPrice(planId: string, input: { amount: Money; interval?: BillingInterval }, ctx: CommandContext): Promise<Handled<PlanState, unknown>> {
    const plan = await this.activePlan(ctx.tenantId, planId);
    const interval = input.interval ?? plan.interval;
    if (plan.providerProductId === null) throw new Error(`plan ${planId} has no provider product to price`);
    const price = await this.provider.createPrice({
      idempotencyKey: `plan|${ctx.tenantId}|${planId}|price|${input.amount.currency}${input.amount.amount}|${interval}|after|${plan.providerPriceId}`,
      productId: plan.providerProductId,
      amount: input.amount,
      interval,
      metadata: { tenant_id: ctx.tenantId, plan_id: planId },
    });
    const r = await handle(this.store, streams.plan(ctx.tenantId, planId), planDecider, () => planCmd('ChangePlanPrice', { newAmount: input.amount, newInterval: input.interval, newProviderPriceId: price.priceId }, ctx), ctx);
    if (!r.unchanged) await this.provider.archivePrice({ idempotencyKey: `archive|${plan.providerPriceId}`, priceId: plan.providerPriceId });
    return r;
  }

  async retirePlan(planId: string, ctx: CommandContext): Promise<Handled<PlanState, unknown>> {
    if (!(await this.getPlan(ctx.tenantId, planId))) throw new DomainRefusal('plan_not_found', `no plan ${planId}`);
    const r = await handle(this.store, streams.plan(ctx.tenantId, planId), planDecider, () => planCmd('RetirePlan', {}, ctx), ctx);
    const retired = r.newEvents.find((e) => (e as { type: string }).type === 'PlanRetired') as { data: { providerPriceId: string | null } } | undefined;
    if (retired?.data.providerPriceId) await this.provider.archivePrice({ idempotencyKey: `archive|${retired.data.providerPriceId}`, priceId: retired.data.providerPriceId });
    return r;
  }

  // ---- subscriptions -----------------------------------------------------------------------

  async getSubscription(tenantId: string, customerId: string): Promise<{ state: SubscriptionState; revision: bigint | null } | null> {
    const s = await load(this.store, streams.subscription(tenantId, customerId), subscriptionDecider);
    return s.revision === null ? null : { state: s.state, revision: s.revision };
  }

  /**
   * Two tabs, one session: a request first claims the checkout on the customer's stream
   * (CheckoutRequested, appended with the expected revision, so one of N concurrent requests
   * wins). Only the winner calls the provider, with the claim id as idempotency key; the others
   * wait for its session and return that same session.
   */
  async startCheckout(customerId: string, planId: string, ctx: CommandContext): Promise<CheckoutResult> {
    const plan = await this.activePlan(ctx.tenantId, planId);
    const stream = streams.subscription(ctx.tenantId, customerId);
    const deadline = Date.now() + (this.opts.waitForSessionMs ?? 10_000);
    for (;;) {
      const now = (this.opts.clock ?? systemClock).now();
      const attemptId = ctx.idSeed ? ctx.idSeed.slice(0, 32) : newId();
      const claimed = await handle(
        this.store,
        stream,
        subscriptionDecider,
        () => subCmd('StartCheckout', { attemptId, customerId, tenantId: ctx.tenantId, planId, priceId: plan.providerPriceId, interval: plan.interval, sessionTtlSeconds: this.opts.sessionTtlSeconds }, { ...ctx, now }),
        // random event ids: a retry (same Idempotency-Key, same attempt id) after its claim expired claims again
        { ...ctx, idSeed: undefined, now },
      );
      const status = checkoutStatus(claimed.state, now);
      if (status.kind === 'session' && status.planId === planId && status.priceId === plan.providerPriceId) {
        return { sessionId: status.sessionId, url: status.url, expiresAt: status.expiresAt, reused: true, handled: claimed };
      }
      if (status.kind === 'session') {
        // another plan: a different session. Expire the pending one at the provider (so it can no
        // longer be paid), release it, and claim again for this plan.
        await this.expireSession(stream, status.sessionId, ctx);
        continue;
      }
      // our claim (made now, or by an earlier try of this same request): create the session
      if (status.kind === 'claimed' && status.attemptId === attemptId) return this.createSession(stream, attemptId, customerId, plan.providerPriceId, planId, ctx);
      if (Date.now() > deadline) {
        throw new DomainRefusal('checkout_in_progress', 'another request is creating the checkout session for this customer; retry shortly', 'conflict');
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async expireSession(stream: string, sessionId: string, ctx: CommandContext): Promise<void> {
    try {
      await this.provider.expireCheckoutSession({ idempotencyKey: `checkout-expire|${sessionId}`, sessionId });
    } catch (err) {
      // Stripe refuses to expire a session that is no longer open: it completed (the customer paid) or expired.
      if (err instanceof ProviderError && err.kind === 'invalid') {
        throw new DomainRefusal('checkout_session_not_open', `checkout session ${sessionId} can no longer be replaced (${err.message}); its subscription may be starting`, 'conflict', { sessionId });
      }
      throw err;
    }
    await handle(this.store, stream, subscriptionDecider, () => subCmd('RecordCheckoutSessionExpired', { sessionId }, ctx), { ...ctx, idSeed: undefined });
  }

  private async createSession(stream: string, attemptId: string, customerId: string, priceId: string, planId: string, ctx: CommandContext): Promise<CheckoutResult> {
    let session;
    try {
      session = await this.provider.createCheckoutSession({
        idempotencyKey: `checkout|${attemptId}`,
        tenantId: ctx.tenantId,
        customerId,
        priceId,
        metadata: { tenant_id: ctx.tenantId, customer_id: customerId, plan_id: planId, checkout_attempt_id: attemptId },
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      await handle(this.store, stream, subscriptionDecider, () => subCmd('RecordCheckoutRequestFailed', { attemptId, error: message }, ctx), ctx);
      throw err;
    }
    const recorded = await handle(
      this.store,
      stream,
      subscriptionDecider,
      () => subCmd('RecordCheckoutSessionCreated', { attemptId, sessionId: session.sessionId, url: session.url, expiresAt: session.expiresAt.toISOString() }, ctx),
      ctx,
    );
    return { sessionId: session.sessionId, url: session.url, expiresAt: session.expiresAt.toISOString(), reused: false, handled: recorded };
  }

  /**
   * Plan change: recorded as requested (one pending change at a time, so of two concurrent
   * changes one wins and the other is refused), sent to the provider with proration and, when
   * the interval changes, the billing cycle anchor reset to now; the local plan changes only when
   * the provider reports the payment captured. A retried request for the same target plan
   * resumes the pending change (same idempotency key at the provider).
   */
  async requestPlanChange(customerId: string, newPlanId: string, ctx: CommandContext): Promise<Handled<SubscriptionState, SubscriptionEvent> & { outcome: 'captured' | 'declined' | 'pending' }> {
    const plan = await this.activePlan(ctx.tenantId, newPlanId);
    const stream = streams.subscription(ctx.tenantId, customerId);
    const current = await load(this.store, stream, subscriptionDecider);
    const pending = current.state.pendingPlanChange;
    let changeId: string;
    if (pending && pending.toPlanId === newPlanId && pending.toPriceId === plan.providerPriceId) {
      changeId = pending.changeId;
    } else {
      changeId = ctx.idSeed ? `chg_${ctx.idSeed.slice(0, 24)}` : `chg_${newId().replace(/-/g, '')}`;
      await handle(this.store, stream, subscriptionDecider, () => subCmd('RequestPlanChange', { changeId, newPlanId, newPriceId: plan.providerPriceId, newInterval: plan.interval }, ctx), ctx);
    }
    const state = (await load(this.store, stream, subscriptionDecider)).state;
    const change = state.pendingPlanChange;
    if (!change || change.changeId !== changeId) throw new DomainRefusal('plan_change_pending', 'another plan change is pending');
    if (state.providerSubscriptionId === null) throw new Error('a pending plan change on a subscription with no provider subscription');
    let result;
    try {
      result = await this.provider.changeSubscriptionPlan({
        idempotencyKey: `plan-change|${changeId}`,
        providerSubscriptionId: state.providerSubscriptionId,
        priceId: change.toPriceId,
        prorationBehavior: 'always_invoice',
        paymentBehavior: 'pending_if_incomplete',
        billingCycleAnchor: change.billingCycleAnchor,
      });
    } catch (err) {
      // Refused as invalid (4xx): nothing changed at the provider and retrying cannot help, so the
      // change is recorded as refused and no longer pending. Unavailable or retryable failures
      // keep it pending: a retry resumes it with the same idempotency key.
      if (err instanceof ProviderError && err.kind === 'invalid') {
        await handle(this.store, stream, subscriptionDecider, () => subCmd('RecordPlanChangeRefused', { changeId, code: err.code, message: err.message }, ctx), { ...ctx, idSeed: `plan-change-refused|${changeId}` });
      }
      throw err;
    }
    if (result.outcome === 'pending') {
      const r = await load(this.store, stream, subscriptionDecider);
      return { state: r.state, newEvents: [], revision: r.revision, position: r.position, unchanged: true, outcome: 'pending' };
    }
    const settled =
      result.outcome === 'captured'
        ? await handle(this.store, stream, subscriptionDecider, () => subCmd('RecordPlanChangePaymentCaptured', { changeId, providerInvoiceId: result.providerInvoiceId ?? `unknown-${changeId}`, ...(result.period ? { periodStart: result.period.start, periodEnd: result.period.end } : {}) }, ctx), ctx)
        : await handle(this.store, stream, subscriptionDecider, () => subCmd('RecordPlanChangeDeclined', { changeId, declineCode: result.declineCode, message: result.message ?? 'payment declined' }, ctx), ctx);
    return { ...settled, outcome: result.outcome };
  }

  /** Cancel at period end or now: decided first, then the provider, then the fact. */
  async cancel(customerId: string, at: 'period_end' | 'now', ctx: CommandContext): Promise<Handled<SubscriptionState, SubscriptionEvent>> {
    const stream = streams.subscription(ctx.tenantId, customerId);
    const current = await load(this.store, stream, subscriptionDecider);
    const command = subCmd('CancelSubscription', { at }, ctx);
    const decided = subscriptionDecider.decide(command, current.state);
    if (decided.length > 0 && current.state.providerSubscriptionId) {
      await this.provider.cancelSubscription({ idempotencyKey: `cancel|${current.state.providerSubscriptionId}|${at}`, providerSubscriptionId: current.state.providerSubscriptionId, atPeriodEnd: at === 'period_end' });
    }
    return handle(this.store, stream, subscriptionDecider, () => command, ctx);
  }

  // ---- provider facts (from webhooks) ------------------------------------------------------

  activate(customerId: string, data: SubCmd<'ActivateSubscription'>['data'], ctx: CommandContext) {
    return handle(this.store, streams.subscription(ctx.tenantId, customerId), subscriptionDecider, () => subCmd('ActivateSubscription', data, ctx), ctx);
  }

  recordRenewalPaid(customerId: string, data: SubCmd<'RecordRenewalPaid'>['data'], ctx: CommandContext) {
    return handle(this.store, streams.subscription(ctx.tenantId, customerId), subscriptionDecider, () => subCmd('RecordRenewalPaid', data, ctx), ctx);
  }

  recordSubscriptionEnded(customerId: string, providerSubscriptionId: string, ctx: CommandContext) {
    return handle(this.store, streams.subscription(ctx.tenantId, customerId), subscriptionDecider, () => subCmd('RecordSubscriptionEnded', { providerSubscriptionId }, ctx), ctx);
  }

  /**
   * A failed renewal: while the provider still retries, past due with access kept; after the
   * final failure the subscription is suspended and the events request the provider
   * cancellation and the invoice void, which the provider-request reactor carries out once.
   */
  recordRenewalPaymentFailed(customerId: string, data: SubCmd<'RecordRenewalPaymentFailed'>['data'], ctx: CommandContext) {
    return handle(this.store, streams.subscription(ctx.tenantId, customerId), subscriptionDecider, () => subCmd('RecordRenewalPaymentFailed', data, ctx), ctx);
  }
}

export { ProviderError };
