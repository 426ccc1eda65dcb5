/**
 * Subscription: one stream per customer, so "at most one live subscription per customer" is a
 * property of the stream (appends carry the expected revision). Live = active, past_due or
 * cancellation_scheduled. The rules are in ./README.md.
 *
 * Checkout is two-step to beat the two-browser-tabs race: StartCheckout claims the slot
 * (CheckoutRequested, 60 s claim), the command layer creates the provider session with
 * idempotency key = attemptId and records the outcome. A second StartCheckout while a claim or a
 * session is open decides nothing; `checkoutStatus(state, now)` tells the command layer what to
 * answer instead.
 */
import { DomainRefusal, assertNever, type Command, type Decider, type DomainEvent } from '../shared/decider';
import type { Money } from '../shared/money';
import { assertMoney, type BillingInterval } from './plans';

/** How long a CheckoutRequested holds the slot while the provider session is being created. */
export const CHECKOUT_CLAIM_TTL_SECONDS = 60;

// ---------------------------------------------------------------------------------------------
// Commands

export type StartCheckout = Command<
  'StartCheckout',
  {
    readonly attemptId: string;
    readonly customerId: string;
    readonly tenantId: string;
    readonly planId: string;
    readonly priceId: string;
    readonly interval: BillingInterval;
    /** Lifetime the command layer asks the provider to give the checkout session. */
    readonly sessionTtlSeconds: number;
  }
>;

export type RecordCheckoutSessionCreated = Command<
  'RecordCheckoutSessionCreated',
  { readonly attemptId: string; readonly sessionId: string; readonly url: string; readonly expiresAt: string }
>;

export type RecordCheckoutRequestFailed = Command<'RecordCheckoutRequestFailed', { readonly attemptId: string; readonly error: string }>;

export type ActivateSubscription = Command<
  'ActivateSubscription',
  {
    readonly sessionId: string;
    readonly providerSubscriptionId: string;
    readonly planId: string;
    readonly priceId: string;
    readonly interval: BillingInterval;
    readonly currentPeriodStart: string;
    readonly currentPeriodEnd: string;
  }
>;

export type RecordRenewalPaid = Command<
  'RecordRenewalPaid',
  { readonly providerInvoiceId: string; readonly amount: Money; readonly periodStart: string; readonly periodEnd: string }
>;

export type RequestPlanChange = Command<
  'RequestPlanChange',
  { readonly changeId: string; readonly newPlanId: string; readonly newPriceId: string; readonly newInterval: BillingInterval }
>;

export type RecordPlanChangePaymentCaptured = Command<
  'RecordPlanChangePaymentCaptured',
  {
    readonly changeId: string;
    readonly providerInvoiceId: string;
    /** The period the provider set with the change (its subscription object, or the paid invoice's line of the new price); else computed here. */
    readonly periodStart?: string;
    readonly periodEnd?: string;
  }
>;

export type RecordPlanChangeDeclined = Command<
  'RecordPlanChangeDeclined',
  { readonly changeId: string; readonly declineCode: string | null; readonly message: string }
>;

export type RecordRenewalPaymentFailed = Command<
  'RecordRenewalPaymentFailed',
  {
    readonly providerInvoiceId: string;
    readonly amount: Money;
    /** ISO-8601 when the provider retries next; null when it has given up (final failure). */
    readonly nextPaymentAttempt: string | null;
    readonly errorCode: string | null;
    readonly declineCode: string | null;
    readonly message: string;
  }
>;

export type CancelSubscription = Command<'CancelSubscription', { readonly at: 'period_end' | 'now' }>;

export type RecordSubscriptionEnded = Command<'RecordSubscriptionEnded', { readonly providerSubscriptionId: string }>;

/**
 * The provider's subscription object as a webhook carried it (customer.subscription.*). Applied
 * by the provider's own order (`observedAt` = the event's `created`, then the period), so a
 * stale object delivered late never overwrites a newer one.
 */
export interface ProviderSubscriptionSnapshot {
  readonly providerSubscriptionId: string;
  /** The provider's status: active, trialing, past_due, unpaid, canceled, incomplete, ... */
  readonly providerStatus: string;
  /** The subscription item's price; null when the object carries none. */
  readonly priceId: string | null;
  /** The plan that price belongs to (current or archived price of a plan); null: a price Settle does not know. */
  readonly planId: string | null;
  readonly interval: BillingInterval | null;
  readonly currentPeriodStart: string;
  readonly currentPeriodEnd: string;
  readonly cancelAtPeriodEnd: boolean;
  readonly cancelAt: string | null;
  readonly canceledAt: string | null;
  /** ISO-8601 of the provider event's `created`. */
  readonly observedAt: string;
  /** The event type's place in a subscription's life (created 0, updated 1, deleted 2): the tie-break within one second. */
  readonly eventRank: number;
}

export type RecordProviderSubscription = Command<'RecordProviderSubscription', ProviderSubscriptionSnapshot>;

/** The provider refused the plan change request itself (e.g. 400 invalid request): nothing changed there. */
export type RecordPlanChangeRefused = Command<'RecordPlanChangeRefused', { readonly changeId: string; readonly code: string | null; readonly message: string }>;

/** The pending checkout session was expired at the provider (replaced by a checkout of another plan). */
export type RecordCheckoutSessionExpired = Command<'RecordCheckoutSessionExpired', { readonly sessionId: string }>;

export type SubscriptionCommand =
  | StartCheckout
  | RecordCheckoutSessionCreated
  | RecordCheckoutRequestFailed
  | ActivateSubscription
  | RecordRenewalPaid
  | RequestPlanChange
  | RecordPlanChangePaymentCaptured
  | RecordPlanChangeDeclined
  | RecordRenewalPaymentFailed
  | CancelSubscription
  | RecordSubscriptionEnded
  | RecordProviderSubscription
  | RecordPlanChangeRefused
  | RecordCheckoutSessionExpired;

// ---------------------------------------------------------------------------------------------
// Events (data is JSON: ISO-8601 strings for instants, Money as integer minor units)

export type CheckoutRequested = DomainEvent<
  'CheckoutRequested',
  {
    readonly attemptId: string;
    readonly customerId: string;
    readonly tenantId: string;
    readonly planId: string;
    readonly priceId: string;
    readonly interval: BillingInterval;
    readonly sessionTtlSeconds: number;
    readonly requestedAt: string;
    readonly claimExpiresAt: string;
  }
>;

export type CheckoutSessionCreated = DomainEvent<
  'CheckoutSessionCreated',
  { readonly attemptId: string; readonly sessionId: string; readonly url: string; readonly expiresAt: string }
>;

export type CheckoutRequestFailed = DomainEvent<'CheckoutRequestFailed', { readonly attemptId: string; readonly error: string }>;

export type SubscriptionActivated = DomainEvent<
  'SubscriptionActivated',
  {
    readonly sessionId: string;
    readonly providerSubscriptionId: string;
    readonly planId: string;
    readonly priceId: string;
    readonly interval: BillingInterval;
    readonly currentPeriodStart: string;
    readonly currentPeriodEnd: string;
    readonly activatedAt: string;
  }
>;

export type SubscriptionRenewed = DomainEvent<
  'SubscriptionRenewed',
  { readonly providerInvoiceId: string; readonly amount: Money; readonly periodStart: string; readonly periodEnd: string; readonly paidAt: string }
>;

export type BillingCycleAnchor = 'now' | 'unchanged';

export type PlanChangeRequested = DomainEvent<
  'PlanChangeRequested',
  {
    readonly changeId: string;
    readonly providerSubscriptionId: string;
    readonly fromPlanId: string;
    readonly fromPriceId: string;
    readonly toPlanId: string;
    readonly toPriceId: string;
    readonly fromInterval: BillingInterval;
    readonly toInterval: BillingInterval;
    readonly prorationBehavior: 'always_invoice';
    readonly paymentBehavior: 'pending_if_incomplete';
    readonly billingCycleAnchor: BillingCycleAnchor;
    readonly requestedAt: string;
  }
>;

export type PlanChanged = DomainEvent<
  'PlanChanged',
  {
    readonly changeId: string;
    /** The paid plan-change invoice; null when the provider's subscription object showed the new price. */
    readonly providerInvoiceId: string | null;
    readonly planId: string;
    readonly priceId: string;
    readonly interval: BillingInterval;
    readonly billingCycleAnchor: BillingCycleAnchor;
    /** The period after the change: restarted at `changedAt` when the anchor was reset, else unchanged. */
    readonly currentPeriodStart: string;
    readonly currentPeriodEnd: string;
    readonly changedAt: string;
  }
>;

export type PlanChangeDeclined = DomainEvent<
  'PlanChangeDeclined',
  { readonly changeId: string; readonly declineCode: string | null; readonly message: string; readonly declinedAt: string }
>;

export type SubscriptionPastDue = DomainEvent<
  'SubscriptionPastDue',
  {
    readonly providerInvoiceId: string;
    readonly amount: Money;
    readonly nextPaymentAttempt: string;
    readonly errorCode: string | null;
    readonly declineCode: string | null;
    readonly message: string;
    readonly failedAt: string;
  }
>;

export type PaymentWarningNoticeRequested = DomainEvent<
  'PaymentWarningNoticeRequested',
  {
    readonly customerId: string | null;
    readonly tenantId: string | null;
    readonly providerInvoiceId: string;
    readonly amount: Money;
    readonly nextPaymentAttempt: string;
  }
>;

export type SubscriptionSuspended = DomainEvent<
  'SubscriptionSuspended',
  {
    readonly providerInvoiceId: string;
    readonly reason: 'final_payment_failure';
    readonly amount: Money;
    readonly errorCode: string | null;
    readonly declineCode: string | null;
    readonly message: string;
    readonly suspendedAt: string;
  }
>;

export type ProviderSubscriptionCancellationRequested = DomainEvent<
  'ProviderSubscriptionCancellationRequested',
  { readonly providerSubscriptionId: string; readonly reason: 'final_payment_failure' }
>;

export type OpenInvoiceVoidRequested = DomainEvent<'OpenInvoiceVoidRequested', { readonly providerInvoiceId: string }>;

export type SuspensionNoticeRequested = DomainEvent<
  'SuspensionNoticeRequested',
  { readonly customerId: string | null; readonly tenantId: string | null; readonly providerInvoiceId: string; readonly amount: Money }
>;

export type SubscriptionCancellationScheduled = DomainEvent<
  'SubscriptionCancellationScheduled',
  { readonly providerSubscriptionId: string; readonly cancelAt: string; readonly requestedAt: string }
>;

export type CancellationReason = 'cancelled_now' | 'ended_at_period_end' | 'ended_by_provider';

export type SubscriptionCancelled = DomainEvent<
  'SubscriptionCancelled',
  { readonly providerSubscriptionId: string; readonly reason: CancellationReason; readonly cancelledAt: string }
>;

export type ProviderSubscriptionObserved = DomainEvent<'ProviderSubscriptionObserved', ProviderSubscriptionSnapshot>;

export type PlanChangeRefused = DomainEvent<'PlanChangeRefused', { readonly changeId: string; readonly code: string | null; readonly message: string; readonly refusedAt: string }>;

export type CheckoutSessionExpired = DomainEvent<'CheckoutSessionExpired', { readonly attemptId: string; readonly sessionId: string; readonly expiredAt: string }>;

/** A payment arrived after the suspension while the provider subscription is still alive: access is back. */
export type SubscriptionReinstated = DomainEvent<'SubscriptionReinstated', { readonly providerInvoiceId: string; readonly providerStatus: string; readonly reinstatedAt: string }>;

/** Money arrived for a subscription that has ended at the provider: a human refunds or reactivates. */
export type LatePaymentNeedsAttention = DomainEvent<
  'LatePaymentNeedsAttention',
  { readonly providerInvoiceId: string; readonly amount: Money; readonly providerStatus: string | null; readonly reason: string; readonly at: string }
>;

export type SubscriptionEvent =
  | ProviderSubscriptionObserved
  | PlanChangeRefused
  | CheckoutSessionExpired
  | SubscriptionReinstated
  | LatePaymentNeedsAttention
  | CheckoutRequested
  | CheckoutSessionCreated
  | CheckoutRequestFailed
  | SubscriptionActivated
  | SubscriptionRenewed
  | PlanChangeRequested
  | PlanChanged
  | PlanChangeDeclined
  | SubscriptionPastDue
  | PaymentWarningNoticeRequested
  | SubscriptionSuspended
  | ProviderSubscriptionCancellationRequested
  | OpenInvoiceVoidRequested
  | SuspensionNoticeRequested
  | SubscriptionCancellationScheduled
  | SubscriptionCancelled;

// ---------------------------------------------------------------------------------------------
// State

export type SubscriptionStatus = 'none' | 'checkout_pending' | 'active' | 'past_due' | 'cancellation_scheduled' | 'cancelled' | 'suspended';

/** The statuses in which nothing is live and a checkout may start. */
export type EndedStatus = 'none' | 'cancelled' | 'suspended';

export interface CheckoutSession {
  readonly sessionId: string;
  readonly url: string;
  readonly expiresAt: string;
}

export interface PendingCheckout {
  readonly attemptId: string;
  readonly planId: string;
  readonly priceId: string;
  readonly interval: BillingInterval;
  readonly requestedAt: string;
  readonly claimExpiresAt: string;
  /** Set once the provider session is recorded; the claim then no longer matters. */
  readonly session: CheckoutSession | null;
  /** The status to return to if the checkout request fails. */
  readonly statusBeforeCheckout: EndedStatus;
}

export interface PendingPlanChange {
  readonly changeId: string;
  readonly toPlanId: string;
  readonly toPriceId: string;
  readonly toInterval: BillingInterval;
  readonly billingCycleAnchor: BillingCycleAnchor;
  readonly requestedAt: string;
}

export interface SubscriptionState {
  readonly customerId: string | null;
  readonly tenantId: string | null;
  /** As of the last event; a claim or session that merely timed out is seen by `checkoutStatus`. */
  readonly status: SubscriptionStatus;
  readonly accessActive: boolean;
  readonly providerSubscriptionId: string | null;
  /** The current plan while live; the last plan after cancellation or suspension (see accessActive). */
  readonly planId: string | null;
  readonly priceId: string | null;
  readonly interval: BillingInterval | null;
  readonly currentPeriodStart: string | null;
  readonly currentPeriodEnd: string | null;
  readonly nextPaymentAttempt: string | null;
  readonly pendingCheckout: PendingCheckout | null;
  readonly pendingPlanChange: PendingPlanChange | null;
  /** Paid provider invoices (renewals and plan-change invoices). */
  readonly processedInvoiceIds: readonly string[];
  /** Failed attempts already recorded, keyed by invoice and the retry the provider announced. */
  readonly failedPaymentAttempts: ReadonlyArray<{ readonly providerInvoiceId: string; readonly nextPaymentAttempt: string | null }>;
  readonly settledPlanChangeIds: readonly string[];
  readonly activatedProviderSubscriptionIds: readonly string[];
  readonly recordedCheckoutSessions: ReadonlyArray<{ readonly attemptId: string; readonly sessionId: string }>;
  readonly failedCheckoutAttemptIds: readonly string[];
  /** The newest provider subscription object seen (by the provider's order); null before any. */
  readonly provider: ProviderSubscriptionSnapshot | null;
  /** The provider will end the subscription at the period end (set in Settle or at the provider). */
  readonly cancelAtPeriodEnd: boolean;
  /** When the provider will end it (period end or a chosen date), if scheduled. */
  readonly cancelAt: string | null;
  /** Facts a human must look at (a price Settle does not know, money for an ended subscription). */
  readonly needsAttention: ReadonlyArray<NeedsAttention>;
  /** When a local decision last set the status (cancel requested): older provider objects do not undo it. */
  readonly statusDecidedAt: string | null;
}

export interface NeedsAttention {
  readonly kind: 'unknown_price' | 'late_payment';
  readonly reason: string;
  readonly priceId: string | null;
  readonly providerInvoiceId: string | null;
  readonly amount: Money | null;
  readonly at: string;
}

export const initialSubscriptionState: SubscriptionState = {
  customerId: null,
  tenantId: null,
  status: 'none',
  accessActive: false,
  providerSubscriptionId: null,
  planId: null,
  priceId: null,
  interval: null,
  currentPeriodStart: null,
  currentPeriodEnd: null,
  nextPaymentAttempt: null,
  pendingCheckout: null,
  pendingPlanChange: null,
  processedInvoiceIds: [],
  failedPaymentAttempts: [],
  settledPlanChangeIds: [],
  activatedProviderSubscriptionIds: [],
  recordedCheckoutSessions: [],
  failedCheckoutAttemptIds: [],
  provider: null,
  cancelAtPeriodEnd: false,
  cancelAt: null,
  needsAttention: [],
  statusDecidedAt: null,
};

/** Provider statuses in which the provider subscription still bills and serves. */
export const PROVIDER_ALIVE_STATUSES: readonly string[] = ['active', 'past_due', 'trialing'];

const ms = (iso: string | null | undefined): number => (iso ? Date.parse(iso) : Number.NEGATIVE_INFINITY);

/** Periods follow one another: a period that starts later (then ends later) is the newer one. */
function isNewerPeriod(start: string, end: string, curStart: string | null, curEnd: string | null): boolean {
  if (curStart === null || curEnd === null) return true;
  const a = ms(start);
  const b = ms(curStart);
  return a !== b ? a > b : ms(end) > ms(curEnd);
}

/**
 * The provider's order of two subscription objects: event time (whole seconds), then period
 * start, then period end, then created < updated < deleted. Two updates within the same second
 * and period stay ambiguous (Stripe objects carry no sequence number): the first one applied wins.
 */
export function isNewerSnapshot(s: ProviderSubscriptionSnapshot, than: ProviderSubscriptionSnapshot | null): boolean {
  if (than === null || than.providerSubscriptionId !== s.providerSubscriptionId) return true;
  const keys = [ms(s.observedAt) - ms(than.observedAt), ms(s.currentPeriodStart) - ms(than.currentPeriodStart), ms(s.currentPeriodEnd) - ms(than.currentPeriodEnd), s.eventRank - than.eventRank];
  for (const k of keys) if (k !== 0) return k > 0;
  return false;
}

function withPeriod(state: SubscriptionState, start: string, end: string): Pick<SubscriptionState, 'currentPeriodStart' | 'currentPeriodEnd'> {
  return isNewerPeriod(start, end, state.currentPeriodStart, state.currentPeriodEnd)
    ? { currentPeriodStart: start, currentPeriodEnd: end }
    : { currentPeriodStart: state.currentPeriodStart, currentPeriodEnd: state.currentPeriodEnd };
}

/** Applies a (newer) provider subscription object: status, cancellation, plan, period. */
function observe(state: SubscriptionState, d: ProviderSubscriptionSnapshot): SubscriptionState {
  if (state.providerSubscriptionId !== d.providerSubscriptionId) return state;
  const next: SubscriptionState = { ...state, provider: d, ...withPeriod(state, d.currentPeriodStart, d.currentPeriodEnd) };
  if (!isLive(state.status)) return next; // ended here: only remember what the provider says
  const cancelScheduled = d.cancelAtPeriodEnd || d.cancelAt !== null;
  const local = state.statusDecidedAt !== null && ms(d.observedAt) < ms(state.statusDecidedAt);
  let status: SubscriptionStatus = state.status;
  if (!local) {
    if (cancelScheduled) status = 'cancellation_scheduled';
    else if (d.providerStatus === 'past_due' || d.providerStatus === 'unpaid') status = 'past_due';
    else if (d.providerStatus === 'active' || d.providerStatus === 'trialing') status = 'active';
  }
  let { planId, priceId, interval } = state;
  let needsAttention = state.needsAttention;
  if (d.priceId !== null && d.priceId !== state.priceId) {
    priceId = d.priceId;
    if (d.planId !== null) {
      planId = d.planId;
      interval = d.interval ?? interval;
    } else {
      interval = d.interval ?? interval;
      needsAttention = [
        ...needsAttention.filter((n) => !(n.kind === 'unknown_price' && n.priceId === d.priceId)),
        { kind: 'unknown_price', reason: `the provider subscription is on price ${d.priceId}, which no plan knows`, priceId: d.priceId, providerInvoiceId: null, amount: null, at: d.observedAt },
      ];
    }
  }
  if (d.planId !== null) needsAttention = needsAttention.filter((n) => n.kind !== 'unknown_price');
  return {
    ...next,
    status,
    // past_due keeps access while the provider retries; unpaid means it stopped retrying
    accessActive: local ? state.accessActive : d.providerStatus !== 'unpaid',
    nextPaymentAttempt: status === 'active' ? null : state.nextPaymentAttempt,
    cancelAtPeriodEnd: local ? state.cancelAtPeriodEnd : cancelScheduled,
    cancelAt: local ? state.cancelAt : d.cancelAt ?? (d.cancelAtPeriodEnd ? d.currentPeriodEnd : null),
    planId,
    priceId,
    interval,
    needsAttention,
  };
}

export function isLive(status: SubscriptionStatus): boolean {
  return status === 'active' || status === 'past_due' || status === 'cancellation_scheduled';
}

function endedStatusOf(state: SubscriptionState): EndedStatus {
  switch (state.status) {
    case 'none':
    case 'cancelled':
    case 'suspended':
      return state.status;
    case 'checkout_pending':
      return state.pendingCheckout?.statusBeforeCheckout ?? 'none';
    default:
      return 'none';
  }
}

export function evolve(state: SubscriptionState, event: SubscriptionEvent): SubscriptionState {
  switch (event.type) {
    case 'CheckoutRequested': {
      const d = event.data;
      return {
        ...state,
        customerId: d.customerId,
        tenantId: d.tenantId,
        status: 'checkout_pending',
        accessActive: false,
        pendingCheckout: {
          attemptId: d.attemptId,
          planId: d.planId,
          priceId: d.priceId,
          interval: d.interval,
          requestedAt: d.requestedAt,
          claimExpiresAt: d.claimExpiresAt,
          session: null,
          statusBeforeCheckout: endedStatusOf(state),
        },
      };
    }
    case 'CheckoutSessionCreated': {
      const { attemptId, sessionId, url, expiresAt } = event.data;
      const pending = state.pendingCheckout;
      return {
        ...state,
        pendingCheckout: pending && pending.attemptId === attemptId ? { ...pending, session: { sessionId, url, expiresAt } } : pending,
        recordedCheckoutSessions: [...state.recordedCheckoutSessions, { attemptId, sessionId }],
      };
    }
    case 'CheckoutRequestFailed': {
      const pending = state.pendingCheckout;
      const released = pending !== null && pending.attemptId === event.data.attemptId;
      return {
        ...state,
        status: released && state.status === 'checkout_pending' ? pending.statusBeforeCheckout : state.status,
        pendingCheckout: released ? null : pending,
        failedCheckoutAttemptIds: [...state.failedCheckoutAttemptIds, event.data.attemptId],
      };
    }
    case 'SubscriptionActivated': {
      const d = event.data;
      return {
        ...state,
        status: 'active',
        accessActive: true,
        providerSubscriptionId: d.providerSubscriptionId,
        planId: d.planId,
        priceId: d.priceId,
        interval: d.interval,
        currentPeriodStart: d.currentPeriodStart,
        currentPeriodEnd: d.currentPeriodEnd,
        nextPaymentAttempt: null,
        pendingCheckout: null,
        pendingPlanChange: null,
        activatedProviderSubscriptionIds: [...state.activatedProviderSubscriptionIds, d.providerSubscriptionId],
      };
    }
    case 'SubscriptionRenewed': {
      // A late invoice for an older period pays that period only: it neither moves the period back
      // nor ends the past_due (or unpaid) the provider shows for the current one.
      const current = state.currentPeriodEnd === null || ms(event.data.periodEnd) >= ms(state.currentPeriodEnd);
      const processedInvoiceIds = [...state.processedInvoiceIds, event.data.providerInvoiceId];
      // An older period's invoice ends the past_due when it was the one overdue: no failed invoice
      // left unpaid and the provider's newest object does not say past_due/unpaid (its failure
      // may have arrived after the provider's newer `active` object).
      const overdue = state.failedPaymentAttempts.some((f) => !processedInvoiceIds.includes(f.providerInvoiceId)) || state.provider?.providerStatus === 'past_due' || state.provider?.providerStatus === 'unpaid';
      const recovers = state.status === 'past_due' && (current || !overdue);
      return {
        ...state,
        status: recovers ? 'active' : state.status,
        // an earlier period's invoice recorded after a suspension gives no access back
        accessActive: (current || recovers) && isLive(state.status) ? true : state.accessActive,
        ...withPeriod(state, event.data.periodStart, event.data.periodEnd),
        nextPaymentAttempt: current || recovers ? null : state.nextPaymentAttempt,
        processedInvoiceIds,
      };
    }
    case 'PlanChangeRequested': {
      const d = event.data;
      return {
        ...state,
        pendingPlanChange: {
          changeId: d.changeId,
          toPlanId: d.toPlanId,
          toPriceId: d.toPriceId,
          toInterval: d.toInterval,
          billingCycleAnchor: d.billingCycleAnchor,
          requestedAt: d.requestedAt,
        },
      };
    }
    case 'PlanChanged': {
      const d = event.data;
      return {
        ...state,
        planId: d.planId,
        priceId: d.priceId,
        interval: d.interval,
        currentPeriodStart: d.currentPeriodStart,
        currentPeriodEnd: d.currentPeriodEnd,
        pendingPlanChange: null,
        settledPlanChangeIds: [...state.settledPlanChangeIds, d.changeId],
        processedInvoiceIds: d.providerInvoiceId === null ? state.processedInvoiceIds : [...state.processedInvoiceIds, d.providerInvoiceId],
      };
    }
    case 'PlanChangeDeclined':
      return {
        ...state,
        pendingPlanChange: state.pendingPlanChange?.changeId === event.data.changeId ? null : state.pendingPlanChange,
        settledPlanChangeIds: [...state.settledPlanChangeIds, event.data.changeId],
      };
    case 'SubscriptionPastDue':
      return {
        ...state,
        // A scheduled cancellation stays scheduled; nextPaymentAttempt shows it is also overdue.
        status: state.status === 'cancellation_scheduled' ? 'cancellation_scheduled' : 'past_due',
        nextPaymentAttempt: event.data.nextPaymentAttempt,
        failedPaymentAttempts: [
          ...state.failedPaymentAttempts,
          { providerInvoiceId: event.data.providerInvoiceId, nextPaymentAttempt: event.data.nextPaymentAttempt },
        ],
      };
    case 'SubscriptionSuspended':
      return {
        ...state,
        status: 'suspended',
        accessActive: false,
        nextPaymentAttempt: null,
        pendingPlanChange: null,
        failedPaymentAttempts: [...state.failedPaymentAttempts, { providerInvoiceId: event.data.providerInvoiceId, nextPaymentAttempt: null }],
      };
    case 'SubscriptionCancellationScheduled':
      return { ...state, status: 'cancellation_scheduled', cancelAtPeriodEnd: true, cancelAt: event.data.cancelAt, statusDecidedAt: event.data.requestedAt };
    case 'ProviderSubscriptionObserved':
      return observe(state, event.data);
    case 'PlanChangeRefused':
      return {
        ...state,
        pendingPlanChange: state.pendingPlanChange?.changeId === event.data.changeId ? null : state.pendingPlanChange,
        settledPlanChangeIds: [...state.settledPlanChangeIds, event.data.changeId],
      };
    case 'CheckoutSessionExpired': {
      const pending = state.pendingCheckout;
      const released = pending !== null && pending.session?.sessionId === event.data.sessionId;
      return {
        ...state,
        status: released && state.status === 'checkout_pending' ? pending.statusBeforeCheckout : state.status,
        pendingCheckout: released ? null : pending,
      };
    }
    case 'SubscriptionReinstated':
      return {
        ...state,
        status: state.cancelAtPeriodEnd ? 'cancellation_scheduled' : 'active',
        accessActive: true,
        nextPaymentAttempt: null,
      };
    case 'LatePaymentNeedsAttention': {
      const d = event.data;
      return {
        ...state,
        processedInvoiceIds: [...state.processedInvoiceIds, d.providerInvoiceId],
        needsAttention: [...state.needsAttention, { kind: 'late_payment', reason: d.reason, priceId: null, providerInvoiceId: d.providerInvoiceId, amount: d.amount, at: d.at }],
      };
    }
    case 'SubscriptionCancelled':
      return { ...state, status: 'cancelled', accessActive: false, nextPaymentAttempt: null, pendingPlanChange: null };
    // Requests for side effects: the command layer acts on them; they change nothing here.
    case 'PaymentWarningNoticeRequested':
    case 'ProviderSubscriptionCancellationRequested':
    case 'OpenInvoiceVoidRequested':
    case 'SuspensionNoticeRequested':
      return state;
    default:
      return assertNever(event, 'subscription event');
  }
}

// ---------------------------------------------------------------------------------------------
// Queries

export type CheckoutStatus =
  | { readonly kind: 'none' }
  | { readonly kind: 'claimed'; readonly attemptId: string; readonly claimExpiresAt: string }
  | { readonly kind: 'session'; readonly sessionId: string; readonly url: string; readonly expiresAt: string; readonly planId: string; readonly priceId: string }
  | { readonly kind: 'live' };

function isAfter(iso: string, now: Date): boolean {
  return Date.parse(iso) > now.getTime();
}

/**
 * What StartCheckout would find at `now`: a live subscription, an unexpired session (return it
 * again), an unexpired claim (wait for its session), or nothing (a new claim may be made).
 */
export function checkoutStatus(state: SubscriptionState, now: Date): CheckoutStatus {
  if (isLive(state.status)) return { kind: 'live' };
  const pending = state.pendingCheckout;
  if (pending === null) return { kind: 'none' };
  if (pending.session !== null) {
    const { sessionId, url, expiresAt } = pending.session;
    return isAfter(expiresAt, now) ? { kind: 'session', sessionId, url, expiresAt, planId: pending.planId, priceId: pending.priceId } : { kind: 'none' };
  }
  return isAfter(pending.claimExpiresAt, now) ? { kind: 'claimed', attemptId: pending.attemptId, claimExpiresAt: pending.claimExpiresAt } : { kind: 'none' };
}

// ---------------------------------------------------------------------------------------------
// Decisions

interface LiveSubscription {
  readonly providerSubscriptionId: string;
  readonly planId: string;
  readonly priceId: string;
  readonly interval: BillingInterval;
  readonly currentPeriodStart: string;
  readonly currentPeriodEnd: string;
}

function noLiveSubscription(state: SubscriptionState): DomainRefusal {
  return new DomainRefusal('no_live_subscription', `no live subscription (status ${state.status})`, 'conflict', { status: state.status });
}

function requireLive(state: SubscriptionState): LiveSubscription {
  if (!isLive(state.status)) throw noLiveSubscription(state);
  const { providerSubscriptionId, planId, priceId, interval, currentPeriodStart, currentPeriodEnd } = state;
  if (providerSubscriptionId === null || planId === null || priceId === null || interval === null || currentPeriodStart === null || currentPeriodEnd === null) {
    throw new Error(`live subscription without plan or period (corrupt stream, status ${state.status})`);
  }
  return { providerSubscriptionId, planId, priceId, interval, currentPeriodStart, currentPeriodEnd };
}

function assertPeriod(start: string, end: string): void {
  const s = Date.parse(start);
  const e = Date.parse(end);
  if (Number.isNaN(s) || Number.isNaN(e) || e <= s) {
    throw new DomainRefusal('invalid_period', 'the period must be two ISO-8601 instants, end after start', 'invalid', { start, end });
  }
}

/**
 * Adds one billing interval in UTC calendar terms, clamping to the end of a shorter month
 * (Jan 31 + 1 month = Feb 28/29; Feb 29 + 1 year = Feb 28), as providers do.
 */
export function addBillingInterval(from: Date, interval: BillingInterval): Date {
  const months = interval === 'month' ? 1 : 12;
  const y = from.getUTCFullYear();
  const m = from.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const day = Math.min(from.getUTCDate(), lastDay);
  return new Date(Date.UTC(y, m, day, from.getUTCHours(), from.getUTCMinutes(), from.getUTCSeconds(), from.getUTCMilliseconds()));
}

export function startCheckout(command: StartCheckout, state: SubscriptionState): SubscriptionEvent[] {
  const d = command.data;
  const now = command.metadata.now;
  if ((state.customerId !== null && state.customerId !== d.customerId) || (state.tenantId !== null && state.tenantId !== d.tenantId)) {
    throw new DomainRefusal('customer_mismatch', 'this stream belongs to another customer or tenant', 'invalid', {
      customerId: state.customerId,
      tenantId: state.tenantId,
    });
  }
  if (!Number.isSafeInteger(d.sessionTtlSeconds) || d.sessionTtlSeconds <= 0) {
    throw new DomainRefusal('invalid_session_ttl', 'sessionTtlSeconds must be a positive integer', 'invalid', { sessionTtlSeconds: d.sessionTtlSeconds });
  }
  const current = checkoutStatus(state, now);
  switch (current.kind) {
    case 'live':
      throw new DomainRefusal('live_subscription_exists', `a live subscription exists (status ${state.status})`, 'conflict', {
        providerSubscriptionId: state.providerSubscriptionId,
      });
    case 'claimed': // another request is creating the session: wait for it
    case 'session': // return the existing session, never a second one
      return [];
    case 'none':
      break;
    default:
      return assertNever(current, 'checkout status');
  }
  return [
    {
      type: 'CheckoutRequested',
      data: {
        attemptId: d.attemptId,
        customerId: d.customerId,
        tenantId: d.tenantId,
        planId: d.planId,
        priceId: d.priceId,
        interval: d.interval,
        sessionTtlSeconds: d.sessionTtlSeconds,
        requestedAt: now.toISOString(),
        claimExpiresAt: new Date(now.getTime() + CHECKOUT_CLAIM_TTL_SECONDS * 1000).toISOString(),
      },
    },
  ];
}

function unknownCheckoutAttempt(attemptId: string): DomainRefusal {
  return new DomainRefusal('unknown_checkout_attempt', `checkout attempt ${attemptId} is not the current claim`, 'conflict', { attemptId });
}

export function recordCheckoutSessionCreated(command: RecordCheckoutSessionCreated, state: SubscriptionState): SubscriptionEvent[] {
  const { attemptId, sessionId, url, expiresAt } = command.data;
  if (state.recordedCheckoutSessions.some((r) => r.attemptId === attemptId && r.sessionId === sessionId)) return [];
  const pending = state.pendingCheckout;
  if (pending === null || pending.attemptId !== attemptId) throw unknownCheckoutAttempt(attemptId);
  if (pending.session !== null) {
    throw new DomainRefusal('checkout_attempt_settled', `checkout attempt ${attemptId} already has session ${pending.session.sessionId}`, 'conflict', {
      attemptId,
      sessionId: pending.session.sessionId,
    });
  }
  return [{ type: 'CheckoutSessionCreated', data: { attemptId, sessionId, url, expiresAt } }];
}

export function recordCheckoutRequestFailed(command: RecordCheckoutRequestFailed, state: SubscriptionState): SubscriptionEvent[] {
  const { attemptId, error } = command.data;
  if (state.failedCheckoutAttemptIds.includes(attemptId)) return [];
  const pending = state.pendingCheckout;
  if (pending === null || pending.attemptId !== attemptId) throw unknownCheckoutAttempt(attemptId);
  if (pending.session !== null) {
    throw new DomainRefusal('checkout_attempt_settled', `checkout attempt ${attemptId} already has session ${pending.session.sessionId}`, 'conflict', {
      attemptId,
      sessionId: pending.session.sessionId,
    });
  }
  return [{ type: 'CheckoutRequestFailed', data: { attemptId, error } }];
}

export function activateSubscription(command: ActivateSubscription, state: SubscriptionState): SubscriptionEvent[] {
  const d = command.data;
  // A redelivered activation, even after that subscription ended, must not activate twice.
  if (state.activatedProviderSubscriptionIds.includes(d.providerSubscriptionId)) return [];
  if (isLive(state.status)) {
    throw new DomainRefusal('live_subscription_exists', `provider subscription ${state.providerSubscriptionId} is live`, 'conflict', {
      providerSubscriptionId: state.providerSubscriptionId,
    });
  }
  assertPeriod(d.currentPeriodStart, d.currentPeriodEnd);
  return [
    {
      type: 'SubscriptionActivated',
      data: {
        sessionId: d.sessionId,
        providerSubscriptionId: d.providerSubscriptionId,
        planId: d.planId,
        priceId: d.priceId,
        interval: d.interval,
        currentPeriodStart: d.currentPeriodStart,
        currentPeriodEnd: d.currentPeriodEnd,
        activatedAt: command.metadata.now.toISOString(),
      },
    },
  ];
}

export function recordRenewalPaid(command: RecordRenewalPaid, state: SubscriptionState): SubscriptionEvent[] {
  const d = command.data;
  if (state.processedInvoiceIds.includes(d.providerInvoiceId)) return [];
  // An earlier period's invoice delivered after the suspension (webhooks arrive in any order) was
  // paid before it: a renewal of that period, not money after the end. Only the invoice whose
  // final failure suspended the subscription can be paid late (Settle cancels the provider
  // subscription on suspension, so no later period is billed).
  const earlierRenewal = state.status === 'suspended' && !suspendedBy(state, d.providerInvoiceId);
  if (!earlierRenewal && (state.status === 'suspended' || (state.status === 'cancelled' && paysForPeriodAfterEnd(d.periodStart, state)))) return latePayment(command, state);
  if (!earlierRenewal) requireLive(state);
  assertMoney(d.amount, 'amount');
  assertPeriod(d.periodStart, d.periodEnd);
  return [
    {
      type: 'SubscriptionRenewed',
      data: {
        providerInvoiceId: d.providerInvoiceId,
        amount: { amount: d.amount.amount, currency: d.amount.currency },
        periodStart: d.periodStart,
        periodEnd: d.periodEnd,
        paidAt: command.metadata.now.toISOString(),
      },
    },
  ];
}

/** Whether this invoice's final failed payment (no retry left) suspended the subscription. */
function suspendedBy(state: SubscriptionState, providerInvoiceId: string): boolean {
  return state.failedPaymentAttempts.some((f) => f.providerInvoiceId === providerInvoiceId && f.nextPaymentAttempt === null);
}

/** A cancelled subscription's invoice for a period that starts at or after its last period's end: paid for nothing served. */
function paysForPeriodAfterEnd(periodStart: string, state: SubscriptionState): boolean {
  return state.currentPeriodEnd !== null && ms(periodStart) >= ms(state.currentPeriodEnd);
}

/**
 * A paid renewal after Settle ended access (suspension after the final failed retry, or a
 * cancellation): decided from the provider's state. A suspended subscription whose provider
 * subscription is still alive (latest customer.subscription.* object: active, past_due or
 * trialing) gets its access back; otherwise (canceled or unknown at the provider, or a cancelled
 * subscription billed for a period after its end) the money is recorded as needing a human:
 * refund or reactivate. (A cancelled subscription's late invoice for a period it served stays a
 * late renewal: refused, nothing to change.)
 */
function latePayment(command: RecordRenewalPaid, state: SubscriptionState): SubscriptionEvent[] {
  const d = command.data;
  assertMoney(d.amount, 'amount');
  const at = command.metadata.now.toISOString();
  const amount = { amount: d.amount.amount, currency: d.amount.currency };
  const p = state.provider !== null && state.provider.providerSubscriptionId === state.providerSubscriptionId ? state.provider : null;
  if (state.status === 'suspended' && p !== null && PROVIDER_ALIVE_STATUSES.includes(p.providerStatus)) {
    assertPeriod(d.periodStart, d.periodEnd);
    return [
      { type: 'SubscriptionReinstated', data: { providerInvoiceId: d.providerInvoiceId, providerStatus: p.providerStatus, reinstatedAt: at } },
      { type: 'SubscriptionRenewed', data: { providerInvoiceId: d.providerInvoiceId, amount, periodStart: d.periodStart, periodEnd: d.periodEnd, paidAt: at } },
    ];
  }
  const providerStatus = p?.providerStatus ?? null;
  return [
    {
      type: 'LatePaymentNeedsAttention',
      data: {
        providerInvoiceId: d.providerInvoiceId,
        amount,
        providerStatus,
        reason: `paid after the subscription ${state.status === 'suspended' ? 'was suspended' : 'was cancelled'} (provider status ${providerStatus ?? 'unknown'}): refund or reactivate`,
        at,
      },
    },
  ];
}

export function requestPlanChange(command: RequestPlanChange, state: SubscriptionState): SubscriptionEvent[] {
  const d = command.data;
  // A retried request (same changeId) decides nothing new.
  if (state.pendingPlanChange?.changeId === d.changeId || state.settledPlanChangeIds.includes(d.changeId)) return [];
  if (state.status !== 'active') {
    throw new DomainRefusal('no_live_subscription', `plan changes need an active subscription (status ${state.status})`, 'conflict', {
      status: state.status,
    });
  }
  const live = requireLive(state);
  if (state.pendingPlanChange !== null) {
    throw new DomainRefusal('plan_change_pending', `plan change ${state.pendingPlanChange.changeId} is still pending`, 'conflict', {
      changeId: state.pendingPlanChange.changeId,
    });
  }
  if (d.newPlanId === live.planId && d.newPriceId === live.priceId) {
    throw new DomainRefusal('same_plan', 'the new plan equals the current plan', 'invalid', { planId: live.planId, priceId: live.priceId });
  }
  return [
    {
      type: 'PlanChangeRequested',
      data: {
        changeId: d.changeId,
        providerSubscriptionId: live.providerSubscriptionId,
        fromPlanId: live.planId,
        fromPriceId: live.priceId,
        toPlanId: d.newPlanId,
        toPriceId: d.newPriceId,
        fromInterval: live.interval,
        toInterval: d.newInterval,
        prorationBehavior: 'always_invoice',
        paymentBehavior: 'pending_if_incomplete',
        // Without a reset, a month -> year change is prorated against the old monthly anchor.
        billingCycleAnchor: d.newInterval !== live.interval ? 'now' : 'unchanged',
        requestedAt: command.metadata.now.toISOString(),
      },
    },
  ];
}

function requirePendingChange(state: SubscriptionState, changeId: string): PendingPlanChange {
  const pending = state.pendingPlanChange;
  if (pending === null || pending.changeId !== changeId) {
    throw new DomainRefusal('unknown_plan_change', `plan change ${changeId} is not pending`, 'conflict', { changeId });
  }
  return pending;
}

export function recordPlanChangePaymentCaptured(command: RecordPlanChangePaymentCaptured, state: SubscriptionState): SubscriptionEvent[] {
  const { changeId, providerInvoiceId, periodStart, periodEnd } = command.data;
  if (state.settledPlanChangeIds.includes(changeId)) return [];
  const change = requirePendingChange(state, changeId);
  const now = command.metadata.now;
  const reset = change.billingCycleAnchor === 'now';
  // Stripe restarts the period at ITS time of the change (billing_cycle_anchor=now): the provider's
  // period when it told us; our own clock (later by the call's latency, or by a late webhook) only
  // when it did not, since a later provider object never moves a period back.
  const provider = reset && periodStart !== undefined && periodEnd !== undefined ? (assertPeriod(periodStart, periodEnd), { periodStart, periodEnd }) : null;
  const currentPeriodStart = provider ? provider.periodStart : reset ? now.toISOString() : state.currentPeriodStart;
  const currentPeriodEnd = provider ? provider.periodEnd : reset ? addBillingInterval(now, change.toInterval).toISOString() : state.currentPeriodEnd;
  if (currentPeriodStart === null || currentPeriodEnd === null) {
    throw new Error('pending plan change on a subscription without a period (corrupt stream)');
  }
  return [
    {
      type: 'PlanChanged',
      data: {
        changeId,
        providerInvoiceId,
        planId: change.toPlanId,
        priceId: change.toPriceId,
        interval: change.toInterval,
        billingCycleAnchor: change.billingCycleAnchor,
        currentPeriodStart,
        currentPeriodEnd,
        changedAt: now.toISOString(),
      },
    },
  ];
}

export function recordPlanChangeDeclined(command: RecordPlanChangeDeclined, state: SubscriptionState): SubscriptionEvent[] {
  const { changeId, declineCode, message } = command.data;
  if (state.settledPlanChangeIds.includes(changeId)) return [];
  requirePendingChange(state, changeId);
  return [{ type: 'PlanChangeDeclined', data: { changeId, declineCode, message, declinedAt: command.metadata.now.toISOString() } }];
}

export function recordRenewalPaymentFailed(command: RecordRenewalPaymentFailed, state: SubscriptionState): SubscriptionEvent[] {
  const d = command.data;
  const seen = state.failedPaymentAttempts.some((f) => f.providerInvoiceId === d.providerInvoiceId && f.nextPaymentAttempt === d.nextPaymentAttempt);
  // Same invoice and same announced retry: already recorded. An invoice already paid: a late failure.
  if (seen || state.processedInvoiceIds.includes(d.providerInvoiceId)) return [];
  if (d.nextPaymentAttempt === null && endedByProviderDunning(state)) return suspendAfterProviderEnd(command, state);
  const live = requireLive(state);
  assertMoney(d.amount, 'amount');
  const amount = { amount: d.amount.amount, currency: d.amount.currency };
  const at = command.metadata.now.toISOString();
  const { providerInvoiceId, errorCode, declineCode, message, nextPaymentAttempt } = d;
  if (nextPaymentAttempt !== null) {
    // The provider retries: keep access, warn the customer.
    return [
      { type: 'SubscriptionPastDue', data: { providerInvoiceId, amount, nextPaymentAttempt, errorCode, declineCode, message, failedAt: at } },
      {
        type: 'PaymentWarningNoticeRequested',
        data: { customerId: state.customerId, tenantId: state.tenantId, providerInvoiceId, amount, nextPaymentAttempt },
      },
    ];
  }
  // Final failure: no retry left. End access and ask the command layer to clean up at the provider.
  return [
    {
      type: 'SubscriptionSuspended',
      data: { providerInvoiceId, reason: 'final_payment_failure', amount, errorCode, declineCode, message, suspendedAt: at },
    },
    { type: 'ProviderSubscriptionCancellationRequested', data: { providerSubscriptionId: live.providerSubscriptionId, reason: 'final_payment_failure' } },
    { type: 'OpenInvoiceVoidRequested', data: { providerInvoiceId } },
    { type: 'SuspensionNoticeRequested', data: { customerId: state.customerId, tenantId: state.tenantId, providerInvoiceId, amount } },
  ];
}

/**
 * Stripe ended the subscription itself (its "cancel the subscription" setting after the final
 * retry; `customer.subscription.deleted` may arrive before that retry's `invoice.payment_failed`):
 * the subscription is cancelled here and the provider's latest object says `canceled`.
 */
function endedByProviderDunning(state: SubscriptionState): boolean {
  return state.status === 'cancelled' && state.provider !== null && state.provider.providerSubscriptionId === state.providerSubscriptionId && state.provider.providerStatus === 'canceled';
}

/**
 * The final failure of a subscription the provider already ended: it ended for non-payment, as
 * when the failure arrives first. Suspended (the failed row flagged, a later payment of the open
 * invoice needs a human), the open invoice voided and the customer told; nothing left to cancel.
 */
function suspendAfterProviderEnd(command: RecordRenewalPaymentFailed, state: SubscriptionState): SubscriptionEvent[] {
  const d = command.data;
  assertMoney(d.amount, 'amount');
  const amount = { amount: d.amount.amount, currency: d.amount.currency };
  const { providerInvoiceId, errorCode, declineCode, message } = d;
  return [
    { type: 'SubscriptionSuspended', data: { providerInvoiceId, reason: 'final_payment_failure', amount, errorCode, declineCode, message, suspendedAt: command.metadata.now.toISOString() } },
    { type: 'OpenInvoiceVoidRequested', data: { providerInvoiceId } },
    { type: 'SuspensionNoticeRequested', data: { customerId: state.customerId, tenantId: state.tenantId, providerInvoiceId, amount } },
  ];
}

export function cancelSubscription(command: CancelSubscription, state: SubscriptionState): SubscriptionEvent[] {
  const live = requireLive(state);
  const at = command.metadata.now.toISOString();
  if (command.data.at === 'now') {
    return [{ type: 'SubscriptionCancelled', data: { providerSubscriptionId: live.providerSubscriptionId, reason: 'cancelled_now', cancelledAt: at } }];
  }
  if (state.status === 'cancellation_scheduled') return [];
  return [
    {
      type: 'SubscriptionCancellationScheduled',
      data: { providerSubscriptionId: live.providerSubscriptionId, cancelAt: live.currentPeriodEnd, requestedAt: at },
    },
  ];
}

export function recordSubscriptionEnded(command: RecordSubscriptionEnded, state: SubscriptionState): SubscriptionEvent[] {
  const { providerSubscriptionId } = command.data;
  const known = state.activatedProviderSubscriptionIds.includes(providerSubscriptionId);
  // The provider confirming an end we already recorded (cancel now, suspension, an older subscription).
  if (known && !(isLive(state.status) && state.providerSubscriptionId === providerSubscriptionId)) return [];
  const live = requireLive(state);
  if (live.providerSubscriptionId !== providerSubscriptionId) {
    throw new DomainRefusal('provider_subscription_mismatch', `provider subscription ${providerSubscriptionId} is not this customer's live one`, 'conflict', {
      providerSubscriptionId,
      liveProviderSubscriptionId: live.providerSubscriptionId,
    });
  }
  return [
    {
      type: 'SubscriptionCancelled',
      data: {
        providerSubscriptionId,
        reason: state.status === 'cancellation_scheduled' ? 'ended_at_period_end' : 'ended_by_provider',
        cancelledAt: command.metadata.now.toISOString(),
      },
    },
  ];
}

export function recordProviderSubscription(command: RecordProviderSubscription, state: SubscriptionState): SubscriptionEvent[] {
  const d = command.data;
  // not activated yet (an incomplete checkout: activation comes with an alive object), or another
  // (older) provider subscription of this customer: nothing to follow
  if (state.providerSubscriptionId === null || state.providerSubscriptionId !== d.providerSubscriptionId) return [];
  assertPeriod(d.currentPeriodStart, d.currentPeriodEnd);
  if (Number.isNaN(Date.parse(d.observedAt))) throw new DomainRefusal('invalid_snapshot', 'observedAt must be an ISO-8601 instant', 'invalid', { observedAt: d.observedAt });
  // a stale object (delivered after a newer one) never overwrites it
  if (!isNewerSnapshot(d, state.provider)) return [];
  const snapshot: ProviderSubscriptionSnapshot = {
    providerSubscriptionId: d.providerSubscriptionId,
    providerStatus: d.providerStatus,
    priceId: d.priceId,
    planId: d.planId,
    interval: d.interval,
    currentPeriodStart: d.currentPeriodStart,
    currentPeriodEnd: d.currentPeriodEnd,
    cancelAtPeriodEnd: d.cancelAtPeriodEnd,
    cancelAt: d.cancelAt,
    canceledAt: d.canceledAt,
    observedAt: d.observedAt,
    eventRank: d.eventRank,
  };
  const events: SubscriptionEvent[] = [{ type: 'ProviderSubscriptionObserved', data: snapshot }];
  const change = state.pendingPlanChange;
  // the provider's subscription shows the requested price: the change took effect there
  if (change !== null && isLive(state.status) && d.priceId === change.toPriceId) {
    events.push({
      type: 'PlanChanged',
      data: {
        changeId: change.changeId,
        providerInvoiceId: null,
        planId: change.toPlanId,
        priceId: change.toPriceId,
        interval: change.toInterval,
        billingCycleAnchor: change.billingCycleAnchor,
        currentPeriodStart: d.currentPeriodStart,
        currentPeriodEnd: d.currentPeriodEnd,
        changedAt: command.metadata.now.toISOString(),
      },
    });
  }
  return events;
}

export function recordPlanChangeRefused(command: RecordPlanChangeRefused, state: SubscriptionState): SubscriptionEvent[] {
  const { changeId, code, message } = command.data;
  if (state.settledPlanChangeIds.includes(changeId)) return [];
  requirePendingChange(state, changeId);
  return [{ type: 'PlanChangeRefused', data: { changeId, code, message, refusedAt: command.metadata.now.toISOString() } }];
}

export function recordCheckoutSessionExpired(command: RecordCheckoutSessionExpired, state: SubscriptionState): SubscriptionEvent[] {
  const { sessionId } = command.data;
  const pending = state.pendingCheckout;
  if (pending === null || pending.session?.sessionId !== sessionId) return []; // already released or replaced
  return [{ type: 'CheckoutSessionExpired', data: { attemptId: pending.attemptId, sessionId, expiredAt: command.metadata.now.toISOString() } }];
}

export function decide(command: SubscriptionCommand, state: SubscriptionState): SubscriptionEvent[] {
  switch (command.type) {
    case 'StartCheckout':
      return startCheckout(command, state);
    case 'RecordCheckoutSessionCreated':
      return recordCheckoutSessionCreated(command, state);
    case 'RecordCheckoutRequestFailed':
      return recordCheckoutRequestFailed(command, state);
    case 'ActivateSubscription':
      return activateSubscription(command, state);
    case 'RecordRenewalPaid':
      return recordRenewalPaid(command, state);
    case 'RequestPlanChange':
      return requestPlanChange(command, state);
    case 'RecordPlanChangePaymentCaptured':
      return recordPlanChangePaymentCaptured(command, state);
    case 'RecordPlanChangeDeclined':
      return recordPlanChangeDeclined(command, state);
    case 'RecordRenewalPaymentFailed':
      return recordRenewalPaymentFailed(command, state);
    case 'CancelSubscription':
      return cancelSubscription(command, state);
    case 'RecordSubscriptionEnded':
      return recordSubscriptionEnded(command, state);
    case 'RecordProviderSubscription':
      return recordProviderSubscription(command, state);
    case 'RecordPlanChangeRefused':
      return recordPlanChangeRefused(command, state);
    case 'RecordCheckoutSessionExpired':
      return recordCheckoutSessionExpired(command, state);
    default:
      return assertNever(command, 'subscription command');
  }
}

export const subscriptionDecider: Decider<SubscriptionCommand, SubscriptionEvent, SubscriptionState> = {
  initialState: initialSubscriptionState,
  decide,
  evolve,
};
