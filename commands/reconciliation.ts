/**
 * Reconciliation ("resync"): Settle converges to the providers' truth when webhooks were lost.
 *
 * For one tenant (or all), list what the providers hold since a date (Stripe: subscriptions,
 * invoices, payment intents, charges, refunds and disputes, on the platform and on the tenant's
 * current connected account; PayPal: the captures and refunds of the orders Settle knows of),
 * turn each object into the webhook event that would have reported its current state
 * (commands/webhooks/synthesize.ts), translate it with the webhook translators, and decide its
 * steps against the aggregates *in memory* to see which facts Settle lacks. Only an object with
 * missing facts is applied, and then through the webhook inbox and processor (`apply`), so
 * deduplication, parking and projections behave exactly as for a delivered webhook. A dry run
 * stops before `apply`: it reports and writes nothing (but its own run record).
 *
 * What cannot be repaired automatically is listed: money on an object Settle cannot attribute to
 * an invoice or booking, facts the aggregate refuses (a dispute Settle closed as won that Stripe
 * says was lost), objects on a tenant's account that name another tenant.
 *
 * Provider reads are paged (pageSize) and staggered (pageDelayMs between pages); a rate limit is
 * waited out as the provider's Retry-After asks (capped), other retryable failures back off.
 */
import { systemClock, type Clock } from '../domain/ports/clock';
import { bookingDecider } from '../domain/booking/booking';
import { invoiceDecider } from '../domain/invoice/invoice';
import { ProviderError } from '../domain/ports/billingProvider';
import type { EventStore } from '../domain/ports/eventStore';
import type { PayPalPaymentsReader } from '../domain/ports/paypalPayments';
import { ProviderRateLimited, type PayPalLedger, type StripeLedger, type StripeLedgerKind } from '../domain/ports/providerLedger';
import { DomainRefusal, type Command, type Decider, type DomainEvent } from '../domain/shared/decider';
import { subscriptionDecider } from '../domain/subscription/subscription';
import { load } from './handle';
import type { Difference, DifferenceOutcome, ReconciliationEndpoint, ReconciliationRequest, ReconciliationResult, ReconciliationRuns } from '../domain/ports/reconciliationRuns';
import { newId } from './ids';
import { streams } from './streams';
import { translatePayPalEvent } from './webhooks/paypal';
import { notYet, planHintsOf, planOfPrice } from './webhooks/processor';
import type { RefResolver, Step, Translation } from './webhooks/steps';
import { translateStripeEvent, type StripeEventEnvelope } from './webhooks/stripe';
import { payPalEnvelopes, stripeEnvelopes, stripeMoneyMoved, type PayPalEnvelope } from './webhooks/synthesize';
import { backoffDelay } from '../domain/shared/backoff';

export type { Difference, DifferenceKind, DifferenceOutcome, ReconciliationEndpoint, ReconciliationRequest, ReconciliationResult, ReconciliationRuns } from '../domain/ports/reconciliationRuns';

export interface ReconciliationObserver {
  page(p: { runId: string; provider: 'stripe' | 'paypal'; object: string; account: string | null; page: number; count: number; hasMore: boolean }): void;
  rateLimited(p: { runId: string; provider: 'stripe' | 'paypal'; waitMs: number; attempt: number; reason: string }): void;
  difference(runId: string, d: Difference): void;
  finished(runId: string, req: ReconciliationRequest, status: 'succeeded' | 'failed', result: ReconciliationResult | null, error: Error | null): void;
}

export interface ReconciliationDeps {
  readonly store: EventStore;
  /** Business time of the in-memory decisions and of synthesised events without a date (default: the wall clock). */
  readonly clock?: Clock;
  readonly refs: RefResolver;
  readonly stripe: StripeLedger | null;
  readonly paypal: PayPalLedger | null;
  /** PayPal's records of captures, orders and refunds: a PayPal event is translated from what the API says, as a delivered webhook is. */
  readonly paypalReader: PayPalPaymentsReader | null;
  /** The tenant's current Stripe connected account (whatever its capabilities), or null. */
  currentAccount(tenantId: string): Promise<string | null>;
  /** The accounts the tenant was re-linked away from: their money is listed, never applied. */
  previousAccounts(tenantId: string): Promise<string[]>;
  /** Every tenant id. */
  tenantIds(): Promise<string[]>;
  /** PayPal orders Settle knows of (created, or learned from events), for one tenant or all. */
  knownPayPalOrders(tenantId: string | null): Promise<string[]>;
  /** Stores and processes a synthesised event exactly as a delivered webhook (the inbox). */
  apply(endpoint: ReconciliationEndpoint, eventId: string, eventType: string, accountId: string | null, envelope: unknown): Promise<{ status: string; duplicate: boolean }>;
  readonly runs: ReconciliationRuns;
  readonly observer?: ReconciliationObserver;
  /** Objects per provider page (Stripe: 1..100) and orders per PayPal batch. */
  readonly pageSize: number;
  /** Pause between two pages (or batches) of one listing. */
  readonly pageDelayMs: number;
  /** Attempts per provider read beyond the first (rate limits and retryable failures). */
  readonly maxRetries: number;
  /** Longest wait for one Retry-After. */
  readonly maxRetryAfterMs: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Listing order: what later objects are found through comes first (customers, invoices, then payments). */
export const STRIPE_KINDS: readonly StripeLedgerKind[] = ['subscription', 'invoice', 'payment_intent', 'charge', 'refund', 'dispute'];

interface Source {
  readonly provider: 'stripe' | 'paypal';
  readonly endpoint: ReconciliationEndpoint;
  readonly account: string | null;
  /** Connected account: the only tenant its objects may touch. */
  readonly accountTenant: string | null;
  /** A previous account of accountTenant: report its money, apply nothing. */
  readonly previous?: boolean;
}

/** What is listed on a previous account: only objects that carry money. */
const PREVIOUS_ACCOUNT_KINDS: readonly StripeLedgerKind[] = ['payment_intent', 'charge', 'refund', 'dispute'];

type AnyDecider = Decider<Command, DomainEvent, unknown>;

/**
 * What applying steps would append, decided in memory against the aggregates (and what earlier
 * objects of the same run would have appended or taught: a dry run sees its own would-be repairs).
 */
class Simulation {
  private readonly states = new Map<string, unknown>();
  private readonly learned = new Map<string, { tenantId: string; targetType: string; targetId: string }>();

  constructor(
    private readonly store: EventStore,
    private readonly refs: RefResolver,
    private readonly clock: Clock,
  ) {}

  readonly resolver: RefResolver = {
    lookup: async (provider, ref) => this.learned.get(`${provider}\u0000${ref}`) ?? this.refs.lookup(provider, ref),
  };

  /** After a real application: read these streams from the store again. */
  forget(names: readonly string[]): void {
    for (const n of names) this.states.delete(n);
  }

  private async state(stream: string, decider: AnyDecider): Promise<unknown> {
    if (!this.states.has(stream)) this.states.set(stream, (await load(this.store, stream, decider)).state);
    return this.states.get(stream);
  }

  async decide(steps: readonly Step[]): Promise<{ facts: string[]; streams: string[]; waits: string | null; refusals: string[] }> {
    const facts: string[] = [];
    const touched = new Set<string>();
    const refusals: string[] = [];
    for (const step of steps) {
      if (step.kind === 'learn') {
        this.learned.set(`${step.provider}\u0000${step.ref}`, { tenantId: step.tenantId, targetType: step.targetType, targetId: step.targetId });
        continue;
      }
      if (step.kind === 'connected_account' || step.kind === 'paypal_capture') continue; // never synthesised
      if (step.kind === 'plan_change_outcome') {
        const stream = streams.subscription(step.tenantId, step.customerId);
        const s = (await this.state(stream, subscriptionDecider)) as { pendingPlanChange: unknown };
        if (s.pendingPlanChange) {
          facts.push(step.outcome === 'captured' ? 'PlanChangePaymentCaptured' : 'PlanChangeDeclined');
          touched.add(stream);
        }
        continue;
      }
      let stream: string;
      let decider: unknown;
      let command: { type: string; data: unknown };
      if (step.kind === 'subscription_snapshot') {
        // as the processor: the provider's subscription object, its plan found from its price
        const planId = await planOfPrice(this.store, step.tenantId, step.snapshot.priceId, [...step.planHints, ...(await planHintsOf(this.store, step.tenantId, step.customerId))]);
        [stream, decider, command] = [streams.subscription(step.tenantId, step.customerId), subscriptionDecider, { type: 'RecordProviderSubscription', data: { ...step.snapshot, planId } }];
      } else {
        command = step.command;
        [stream, decider] =
          step.kind === 'invoice'
            ? [streams.invoice(step.tenantId, step.invoiceId), invoiceDecider]
            : step.kind === 'booking'
              ? [streams.booking(step.tenantId, step.bookingId), bookingDecider]
              : [streams.subscription(step.tenantId, step.customerId), subscriptionDecider];
      }
      const d = decider as AnyDecider;
      const before = await this.state(stream, d);
      try {
        const events = d.decide({ type: command.type, data: command.data, metadata: { now: this.clock.now() } }, before);
        if (events.length > 0) {
          this.states.set(stream, events.reduce((s, e) => d.evolve(s, e), before));
          facts.push(...events.map((e) => e.type));
          touched.add(stream);
        }
      } catch (err) {
        if (!(err instanceof DomainRefusal)) throw err;
        // as the processor: "not yet" parks the event (the rest waits with it); anything else is noted and skipped
        if (notYet(err)) return { facts, streams: [...touched, stream], waits: `${step.role}: ${err.code} (${err.message})`, refusals };
        refusals.push(`${step.role}: ${err.code}: ${err.message}`);
      }
    }
    return { facts, streams: [...touched], waits: null, refusals };
  }
}

export class Reconciler {
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly deps: ReconciliationDeps) {
    if (!Number.isSafeInteger(deps.pageSize) || deps.pageSize < 1 || deps.pageSize > 100) throw new RangeError(`reconciliation page size must be 1..100, got ${deps.pageSize}`);
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** Records the run and returns its id at once; the run goes on in the background (see the run record). */
  async start(req: ReconciliationRequest): Promise<string> {
    this.requireProvider();
    const runId = newId();
    await this.deps.runs.create(runId, req);
    void this.execute(runId, req).catch(() => undefined);
    return runId;
  }

  /** Records the run, runs it and resolves when it is finished (the CLI). */
  async run(req: ReconciliationRequest): Promise<{ runId: string; status: 'succeeded' | 'failed'; result: ReconciliationResult; error: Error | null }> {
    this.requireProvider();
    const runId = newId();
    await this.deps.runs.create(runId, req);
    return { runId, ...(await this.execute(runId, req)) };
  }

  /** Nothing to compare with is an error, not an empty success an operator could mistake for "all is well". */
  private requireProvider(): void {
    if (!this.deps.stripe && !this.deps.paypal) throw new ProviderError('unavailable', 'no payment provider is configured (STRIPE_SECRET_KEY, PAYPAL_CLIENT_ID): nothing to reconcile with', 'no_provider');
  }

  private async execute(runId: string, req: ReconciliationRequest): Promise<{ status: 'succeeded' | 'failed'; result: ReconciliationResult; error: Error | null }> {
    const run = new Run(runId, req, this.deps, this.sleep);
    try {
      await run.stripe();
      await run.payPal();
      const result = run.result();
      await this.deps.runs.finish(runId, { status: 'succeeded', result });
      this.deps.observer?.finished(runId, req, 'succeeded', result, null);
      return { status: 'succeeded', result, error: null };
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      const result = run.result();
      await this.deps.runs.finish(runId, { status: 'failed', error: error.message, result }).catch(() => undefined);
      this.deps.observer?.finished(runId, req, 'failed', result, error);
      return { status: 'failed', result, error };
    }
  }
}

/** One run's state: the simulation, the counts and the differences found so far. */
class Run {
  private examined = 0;
  private readonly differences: Difference[] = [];
  private readonly sim: Simulation;

  constructor(
    private readonly id: string,
    private readonly req: ReconciliationRequest,
    private readonly deps: ReconciliationDeps,
    private readonly sleep: (ms: number) => Promise<void>,
  ) {
    this.sim = new Simulation(deps.store, deps.refs, deps.clock ?? systemClock);
  }

  result(): ReconciliationResult {
    const ds = [...this.differences];
    return {
      examined: this.examined,
      found: ds.length,
      repaired: ds.filter((d) => d.outcome === 'repaired').length,
      unrepairable: ds.filter((d) => d.outcome === 'unrepairable').length,
      differences: ds,
    };
  }

  async stripe(): Promise<void> {
    const ledger = this.deps.stripe;
    if (!ledger) return;
    const sources: Source[] = [{ provider: 'stripe', endpoint: 'stripe', account: null, accountTenant: null }];
    const tenants = this.req.tenantId ? [this.req.tenantId] : await this.deps.tenantIds();
    for (const t of tenants) {
      const account = await this.deps.currentAccount(t);
      if (account) sources.push({ provider: 'stripe', endpoint: 'stripe_connect', account, accountTenant: t });
      for (const old of await this.deps.previousAccounts(t)) sources.push({ provider: 'stripe', endpoint: 'stripe_connect', account: old, accountTenant: t, previous: true });
    }
    for (const source of sources) {
      for (const kind of source.previous ? PREVIOUS_ACCOUNT_KINDS : STRIPE_KINDS) {
        let after: string | null = null;
        for (let page = 1; ; page++) {
          const got = await this.withRetries('stripe', () => ledger.list(kind, { accountId: source.account, since: this.req.since, limit: this.deps.pageSize, startingAfter: after }));
          this.deps.observer?.page({ runId: this.id, provider: 'stripe', object: kind, account: source.account, page, count: got.objects.length, hasMore: got.hasMore });
          this.examined += got.objects.length;
          // Stripe lists newest first: apply oldest first, as the webhooks would have come
          for (const o of [...got.objects].reverse()) {
            for (const env of stripeEnvelopes(kind, o, source.account, (this.deps.clock ?? systemClock).now())) {
              await this.reconcile(source, kind, String(o.id), env.id, env.type, env, () => translateStripeEvent(env, this.sim.resolver), stripeMoneyMoved(kind, o));
            }
          }
          const last = got.objects[got.objects.length - 1];
          if (!got.hasMore || !last) break;
          after = String(last.id);
          await this.sleep(this.deps.pageDelayMs);
        }
      }
    }
  }

  async payPal(): Promise<void> {
    const ledger = this.deps.paypal;
    if (!ledger) return;
    const orders = await this.deps.knownPayPalOrders(this.req.tenantId);
    const source: Source = { provider: 'paypal', endpoint: 'paypal', account: null, accountTenant: null };
    for (let i = 0, page = 1; i < orders.length; i += this.deps.pageSize, page++) {
      if (i > 0) await this.sleep(this.deps.pageDelayMs);
      const batch = orders.slice(i, i + this.deps.pageSize);
      let read = 0;
      for (const orderId of batch) {
        const order = await this.withRetries('paypal', () => ledger.readOrder(orderId));
        if (!order) continue; // not an order (a capture id learned from an event), or unknown to PayPal
        read++;
        for (const env of payPalEnvelopes(order, this.req.since)) {
          await this.reconcile(source, 'paypal_order', orderId, env.id, env.event_type, env, () => translatePayPalEvent(env, this.sim.resolver, this.deps.paypalReader), env.event_type !== 'PAYMENT.CAPTURE.DENIED');
        }
      }
      this.examined += read;
      this.deps.observer?.page({ runId: this.id, provider: 'paypal', object: 'paypal_order', account: null, page, count: read, hasMore: i + this.deps.pageSize < orders.length });
    }
  }

  private async reconcile(source: Source, object: string, objectId: string, eventId: string, eventType: string, envelope: StripeEventEnvelope | PayPalEnvelope, translate: () => Promise<Translation>, moneyMoved: boolean): Promise<void> {
    const base = { provider: source.provider, account: source.account, object, objectId, eventId, eventType };
    if (source.previous) {
      // as its webhooks: recorded for a human, never used to settle the tenant's invoices
      if (moneyMoved) this.add({ ...base, kind: 'previous_account', tenantId: source.accountTenant, streams: [], facts: [], outcome: 'unrepairable', detail: `money on ${source.account}, which tenant ${source.accountTenant} was re-linked away from` });
      return;
    }
    const translation = await translate();
    if (translation.outcome === 'unhandled') return;
    if (translation.outcome === 'park') {
      // nobody can tell whose it is; on a tenant's own account it is that tenant's money
      const concerns = source.accountTenant !== null || this.req.tenantId === null;
      if (moneyMoved && concerns) {
        this.add({ ...base, kind: 'unattributable', tenantId: source.accountTenant, streams: [], facts: [], outcome: 'unrepairable', detail: `money Settle cannot attribute to an invoice or booking: ${translation.reason}` });
      }
      return;
    }
    if (translation.outcome === 'refuse') {
      // the provider's own record contradicts the synthesised event: nothing to repair from it
      this.add({ ...base, kind: 'conflict', tenantId: source.accountTenant, streams: [], facts: [], outcome: 'unrepairable', detail: `${translation.code}: ${translation.reason}` });
      return;
    }
    let steps = translation.steps;
    const tenantsOf = (ss: readonly Step[]) => [...new Set(ss.flatMap((s) => ('tenantId' in s ? [s.tenantId] : [])))];
    if (source.accountTenant !== null) {
      const foreign = steps.filter((s) => 'tenantId' in s && s.tenantId !== source.accountTenant);
      if (foreign.length > 0) {
        this.add({ ...base, kind: 'foreign_tenant', tenantId: source.accountTenant, streams: [], facts: [], outcome: 'unrepairable', detail: `on ${source.account} (tenant ${source.accountTenant}) but names tenant ${tenantsOf(foreign).join(', ')}` });
        steps = steps.filter((s) => !foreign.includes(s));
      }
    } else if (this.req.tenantId !== null && !tenantsOf(steps).includes(this.req.tenantId)) {
      return; // another tenant's platform object
    }
    const decided = await this.sim.decide(steps);
    const tenantId = tenantsOf(steps)[0] ?? source.accountTenant;
    if (decided.facts.length === 0 && decided.waits === null) {
      if (decided.refusals.length > 0) this.add({ ...base, kind: 'conflict', tenantId, streams: decided.streams, facts: [], outcome: 'unrepairable', detail: decided.refusals.join('; ') });
      return; // Settle has it all
    }
    const detail = [decided.waits ? `waits for its target: ${decided.waits}` : null, ...decided.refusals].filter(Boolean).join('; ') || null;
    if (this.req.dryRun) {
      this.add({ ...base, kind: 'missing', tenantId, streams: decided.streams, facts: decided.facts, outcome: 'would_repair', detail });
      return;
    }
    const applied = await this.deps.apply(source.endpoint, eventId, eventType, source.account, envelope);
    this.sim.forget(decided.streams);
    const outcome: DifferenceOutcome =
      applied.duplicate && applied.status === 'processed' ? 'unrepairable' : applied.status === 'processed' ? 'repaired' : applied.status === 'ignored' ? 'unrepairable' : 'parked';
    const why = outcome === 'unrepairable' ? `${eventId} was already applied once (inbox ${applied.status}), yet the aggregate still lacks these facts` : outcome === 'parked' ? `stored in the inbox as ${applied.status}: applied once its target exists` : null;
    this.add({ ...base, kind: 'missing', tenantId, streams: decided.streams, facts: decided.facts, outcome, detail: [detail, why].filter(Boolean).join('; ') || null });
  }

  private add(d: Difference): void {
    this.differences.push(d);
    this.deps.observer?.difference(this.id, d);
  }

  /** A provider read, retried on rate limits (the provider's Retry-After, capped) and retryable failures (backoff). */
  private async withRetries<T>(provider: 'stripe' | 'paypal', read: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await read();
      } catch (err) {
        const limited = err instanceof ProviderRateLimited;
        const retryable = limited || (err instanceof ProviderError && err.kind === 'retryable');
        if (!retryable || attempt > this.deps.maxRetries) throw err;
        // the provider's Retry-After when it gave one, else the backoff; either capped
        const backoff = backoffDelay(attempt, { baseMs: Math.max(this.deps.pageDelayMs, 250), maxMs: this.deps.maxRetryAfterMs });
        const waitMs = Math.min(limited && err.retryAfterMs !== null ? err.retryAfterMs : backoff, this.deps.maxRetryAfterMs);
        this.deps.observer?.rateLimited({ runId: this.id, provider, waitMs, attempt, reason: (err as Error).message });
        await this.sleep(waitMs);
      }
    }
  }
}
