/**
 * The subscriptions read model: per customer the plan, status, access, current period, next
 * payment attempt (dunning), pending plan change and pending checkout session.
 */
import type { DomainEventType } from '../../domain/events';
import { subscriptionDecider, type SubscriptionState } from '../../domain/subscription/subscription';
import { AGGREGATE_ROW_COLUMNS, applyAggregateRows, type AggregateRowsSpec } from '../aggregateRows';
import type { ProjectionDefinition } from '../../domain/ports/projection';

const rows: AggregateRowsSpec<SubscriptionState> = {
  category: 'subscription-',
  initialState: subscriptionDecider.initialState,
  evolve: (s, e) => subscriptionDecider.evolve(s, e as never),
  columns: (s, ctx) => ({
    customer_id: ctx.id,
    plan_id: s.planId,
    price_id: s.priceId,
    billing_interval: s.interval,
    status: s.status,
    access_active: s.accessActive,
    current_period_start: s.currentPeriodStart,
    current_period_end: s.currentPeriodEnd,
    next_payment_attempt: s.nextPaymentAttempt,
    provider_subscription_id: s.providerSubscriptionId,
    pending_plan_change: s.pendingPlanChange,
    pending_checkout: s.pendingCheckout,
  }),
};

export const subscriptionsProjection: ProjectionDefinition<'subscriptions'> = {
  name: 'subscriptions',
  tables: ['subscriptions'],
  eventTypes: new Set<DomainEventType>([
    'CheckoutRequested',
    'CheckoutSessionCreated',
    'CheckoutRequestFailed',
    'SubscriptionActivated',
    'SubscriptionRenewed',
    'PlanChangeRequested',
    'PlanChanged',
    'PlanChangeDeclined',
    'SubscriptionPastDue',
    'PaymentWarningNoticeRequested',
    'SubscriptionSuspended',
    'ProviderSubscriptionCancellationRequested',
    'OpenInvoiceVoidRequested',
    'SuspensionNoticeRequested',
    'SubscriptionCancellationScheduled',
    'SubscriptionCancelled',
    'ProviderSubscriptionObserved',
    'PlanChangeRefused',
    'CheckoutSessionExpired',
    'SubscriptionReinstated',
    'LatePaymentNeedsAttention',
  ]),
  ddl: (t) => `
    CREATE TABLE ${t.subscriptions} (${AGGREGATE_ROW_COLUMNS},
      customer_id              text    NOT NULL,
      plan_id                  text,
      price_id                 text,
      billing_interval         text,
      status                   text    NOT NULL,
      access_active            boolean NOT NULL,
      current_period_start     text,
      current_period_end       text,
      next_payment_attempt     text,
      provider_subscription_id text,
      pending_plan_change      jsonb,
      pending_checkout         jsonb
    );
    CREATE UNIQUE INDEX ${t.subscriptions}_id ON ${t.subscriptions} (tenant_id, customer_id);`,
  apply: (tx, events, t) => applyAggregateRows(tx, t.subscriptions, rows, events),
};
