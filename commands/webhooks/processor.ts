/**
 * Executes the steps of a verified provider event. Each command step runs through the command
 * loop with event ids seeded by `<provider event id>#<role>`, so however often an event is
 * delivered or retried, its facts are appended once. A refusal that means "the target is not
 * there yet" parks the event (it is retried later, when the target may exist); any other refusal
 * is recorded on the inbox row and the event counts as processed.
 */
import { bookingDecider } from '../../domain/booking/booking';
import { invoiceDecider } from '../../domain/invoice/invoice';
import { systemClock, type Clock } from '../../domain/ports/clock';
import type { EventStore } from '../../domain/ports/eventStore';
import { DomainRefusal, type Command } from '../../domain/shared/decider';
import { planDecider } from '../../domain/subscription/plans';
import { subscriptionDecider, type SubscriptionCommand } from '../../domain/subscription/subscription';
import { handle, load, type CommandContext } from '../handle';
import { ID_PATTERN, streams } from '../streams';
import type { Step, Translation } from './steps';
import type { AccountLink, ProviderRefs } from '../../domain/ports/providerRefs';

/** Refusals that mean the event arrived before the fact it builds on. */
const NOT_YET = new Set(['invoice_not_found', 'booking_not_found', 'no_live_subscription', 'unknown_dispute', 'unknown_payment', 'invoice_not_paid', 'booking_not_paid', 'crm_booking_missing', 'payment_not_recorded']);

/** Why an event from a connected account was recorded but not applied (counted, noted on the inbox row). */
export type AccountFlag = 'never_linked' | 'previous_account';

/** Provider actions a webhook can trigger (PayPal's capture after approval). */
export interface WebhookActions {
  capturePayPalOrder(step: Extract<Step, { kind: 'paypal_capture' }>, ctx: CommandContext): Promise<Step[]>;
}

export type ProcessOutcome =
  | { status: 'processed'; note: string | null; flag?: AccountFlag }
  | { status: 'parked'; reason: string; flag?: AccountFlag }
  | { status: 'ignored'; refused?: { code: string; reason: string } };

/** The connected account a Connect event came from, and how it is linked (null: never heard of). */
export interface AccountScope {
  readonly accountId: string;
  readonly link: AccountLink | null;
}

export class WebhookProcessor {
  constructor(
    private readonly store: EventStore,
    private readonly refs: ProviderRefs,
    private readonly actions: WebhookActions | null = null,
    private readonly clock: Clock = systemClock,
  ) {}

  /**
   * `scope`: the connected account a Connect event came from. Only the tenant whose *current*
   * account it is may be touched; a step for any other tenant is refused, so one tenant's Stripe
   * account can never write to another tenant's invoices or bookings, whatever metadata it puts
   * on its objects. Events of a replaced (previous) account are recorded and flagged, never
   * applied; those of an account nobody linked wait (parked, flagged) until an operator links it.
   */
  async execute(eventId: string, translation: Translation, scope?: AccountScope): Promise<ProcessOutcome> {
    if (translation.outcome === 'unhandled') return { status: 'ignored' };
    const link = scope?.link ?? null;
    const current = link?.status === 'current' ? link.tenantId : null;
    if (translation.outcome === 'park') return scope && !current ? { status: 'parked', reason: translation.reason, flag: link?.status === 'previous' ? 'previous_account' : 'never_linked' } : { status: 'parked', reason: translation.reason };
    if (translation.outcome === 'refuse') return { status: 'ignored', refused: { code: translation.code, reason: translation.reason } };
    const notes: string[] = [];
    let queue = [...translation.steps];
    let flag: AccountFlag | undefined;
    if (scope) {
      const own = queue.filter((st) => st.kind !== 'connected_account' || st.accountId === scope.accountId);
      for (const st of queue.filter((x) => !own.includes(x))) notes.push(`${st.kind}: refused: account ${(st as { accountId: string }).accountId} is not the sending account ${scope.accountId}`);
      queue = own;
      if (current === null && queue.some((st) => 'tenantId' in st)) {
        if (link?.status === 'previous') {
          // recorded (the inbox row) and flagged; only the capabilities of the account itself may still change
          flag = 'previous_account';
          notes.push(`needs attention: account ${scope.accountId} is no longer the connected account of tenant ${link.tenantId} (re-linked); its facts were recorded, not applied`);
          queue = queue.filter((st) => st.kind === 'connected_account');
        } else {
          return { status: 'parked', reason: `needs attention: connected account ${scope.accountId} is not linked to a tenant (link it with POST /v1/tenants/{id}/stripe-account)`, flag: 'never_linked' };
        }
      }
      const foreign = queue.filter((st) => 'tenantId' in st && st.tenantId !== current);
      for (const st of foreign) notes.push(`${'role' in st ? st.role : st.kind}: refused: tenant ${(st as { tenantId: string }).tenantId} is not the tenant of account ${scope.accountId}`);
      queue = queue.filter((st) => !foreign.includes(st));
    }
    for (let step = queue.shift(); step !== undefined; step = queue.shift()) {
      const ctx = (tenantId: string, role: string): CommandContext => ({
        tenantId,
        correlationId: eventId,
        causationId: eventId,
        idSeed: `webhook|${role}`,
        actor: { kind: 'provider', id: eventId },
        now: this.clock.now(),
      });
      try {
        switch (step.kind) {
          case 'learn':
            await this.refs.learn(step.provider, step.ref, step.tenantId, step.targetType, step.targetId);
            break;
          case 'connected_account': {
            const now = await this.refs.connectedAccount(step);
            if (now.status === 'unlinked') {
              flag = 'never_linked';
              notes.push(`needs attention: account ${step.accountId} is not linked to a tenant: its capabilities were recorded, its metadata links nothing (link it with POST /v1/tenants/{id}/stripe-account)`);
            }
            break;
          }
          case 'invoice':
            await handle(this.store, streams.invoice(step.tenantId, step.invoiceId), invoiceDecider, (): never => command(step.command, this.clock.now()) as never, ctx(step.tenantId, step.role));
            break;
          case 'booking':
            await handle(this.store, streams.booking(step.tenantId, step.bookingId), bookingDecider, (): never => command(step.command, this.clock.now()) as never, ctx(step.tenantId, step.role));
            break;
          case 'subscription':
            await handle(this.store, streams.subscription(step.tenantId, step.customerId), subscriptionDecider, (): never => command(step.command, this.clock.now()) as never, ctx(step.tenantId, step.role));
            break;
          case 'plan_change_outcome': {
            const stream = streams.subscription(step.tenantId, step.customerId);
            const s = await load(this.store, stream, subscriptionDecider);
            const change = s.state.pendingPlanChange;
            if (!change) {
              notes.push(`${step.role}: no pending plan change (already settled)`);
              break;
            }
            // only the invoice of THAT change settles it: its lines carry the requested price
            if (!step.linePriceIds.includes(change.toPriceId)) {
              notes.push(`${step.role}: invoice lines (${step.linePriceIds.join(', ') || 'no price'}) do not carry pending change ${change.changeId}'s price ${change.toPriceId}`);
              break;
            }
            const c: SubscriptionCommand =
              step.outcome === 'captured'
                ? {
                      type: 'RecordPlanChangePaymentCaptured',
                      data: { changeId: change.changeId, providerInvoiceId: step.providerInvoiceId, ...periodOf(step.linePeriods?.[change.toPriceId]) },
                      metadata: { now: this.clock.now() },
                    }
                : { type: 'RecordPlanChangeDeclined', data: { changeId: change.changeId, declineCode: step.declineCode, message: step.message ?? 'declined' }, metadata: { now: this.clock.now() } };
            await handle(this.store, stream, subscriptionDecider, () => c, ctx(step.tenantId, step.role));
            break;
          }
          case 'subscription_snapshot': {
            const planId = await planOfPrice(this.store, step.tenantId, step.snapshot.priceId, [...step.planHints, ...(await planHintsOf(this.store, step.tenantId, step.customerId))]);
            const c: SubscriptionCommand = { type: 'RecordProviderSubscription', data: { ...step.snapshot, planId }, metadata: { now: this.clock.now() } };
            await handle(this.store, streams.subscription(step.tenantId, step.customerId), subscriptionDecider, () => c, ctx(step.tenantId, step.role));
            break;
          }
          case 'paypal_capture': {
            if (!this.actions) throw new Error('PayPal is not configured: cannot capture an approved order');
            queue.unshift(...(await this.actions.capturePayPalOrder(step, ctx(step.tenantId, step.role))));
            break;
          }
        }
      } catch (err) {
        if (err instanceof DomainRefusal) {
          if (notYet(err)) return { status: 'parked', reason: `${'role' in step ? step.role : step.kind}: ${err.code} (${err.message})` };
          notes.push(`${'role' in step ? step.role : step.kind}: refused ${err.code}: ${err.message}`);
          continue;
        }
        throw err;
      }
    }
    return { status: 'processed', note: notes.length ? notes.join('; ') : null, ...(flag ? { flag } : {}) };
  }
}

/** The plan whose current or archived provider price is `priceId`, among the candidate plans; null when none. */
export async function planOfPrice(store: EventStore, tenantId: string, priceId: string | null, candidates: readonly string[]): Promise<string | null> {
  if (priceId === null) return null;
  for (const planId of new Set(candidates)) {
    if (!ID_PATTERN.test(planId)) continue;
    const p = (await load(store, streams.plan(tenantId, planId), planDecider)).state;
    if (p.providerPriceId === priceId || p.archivedProviderPriceIds.includes(priceId)) return planId;
  }
  return null;
}

/** The plans the customer's subscription is on or moving to. */
export async function planHintsOf(store: EventStore, tenantId: string, customerId: string): Promise<string[]> {
  const s = (await load(store, streams.subscription(tenantId, customerId), subscriptionDecider)).state;
  return [s.planId, s.pendingPlanChange?.toPlanId, s.pendingCheckout?.planId].filter((x): x is string => typeof x === 'string');
}

/** The new price's line period on a plan change's invoice, as the command's provider period. */
function periodOf(p: { start: string; end: string } | undefined): { periodStart?: string; periodEnd?: string } {
  return p ? { periodStart: p.start, periodEnd: p.end } : {};
}

/** True when the refusal says the event is early (its target will exist), false when it is late or wrong. */
export function notYet(err: DomainRefusal): boolean {
  if (err.code === 'no_live_subscription') {
    // before activation: early; after cancellation or suspension: too late, nothing to apply
    const status = err.details.status;
    return status === undefined || status === 'none' || status === 'checkout_pending';
  }
  return NOT_YET.has(err.code);
}

function command(c: { type: string; data: unknown }, now: Date): Command {
  return { type: c.type, data: c.data, metadata: { now } };
}
