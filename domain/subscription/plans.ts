/**
 * Plan catalog: one stream per plan. A plan points at one provider price at a time. Provider
 * prices are immutable (amount, currency and interval cannot be edited), so a price change
 * archives the current price and creates a new one, in that order, in one decision.
 */
import { DomainRefusal, assertNever, type Command, type Decider, type DomainEvent } from '../shared/decider';
import { isCurrency, isMinorUnits, type Money } from '../shared/money';

export type BillingInterval = 'month' | 'year';

/** Refuses (`invalid`, `invalid_money`) anything that is not integer minor units of a real ISO 4217 currency. */
export function assertMoney(value: unknown, field: string): asserts value is Money {
  const v = typeof value === 'object' && value !== null ? (value as Partial<Record<keyof Money, unknown>>) : null;
  const ok = v !== null && isMinorUnits(v.amount) && typeof v.currency === 'string' && isCurrency(v.currency);
  if (!ok) {
    throw new DomainRefusal('invalid_money', `${field} must be integer minor units of an ISO 4217 currency`, 'invalid', { field, value });
  }
}

// ---------------------------------------------------------------------------------------------
// Commands

export type DefinePlan = Command<
  'DefinePlan',
  {
    readonly planId: string;
    readonly tenantId: string;
    readonly name: string;
    readonly amount: Money;
    readonly interval: BillingInterval;
    readonly providerProductId: string;
    readonly providerPriceId: string;
  }
>;

export type ChangePlanPrice = Command<
  'ChangePlanPrice',
  {
    readonly newAmount: Money;
    /** Omitted: the interval stays what it is. */
    readonly newInterval?: BillingInterval;
    /** The provider price already created for the new amount/interval. */
    readonly newProviderPriceId: string;
  }
>;

export type RetirePlan = Command<'RetirePlan', Record<string, never>>;

export type PlanCommand = DefinePlan | ChangePlanPrice | RetirePlan;

// ---------------------------------------------------------------------------------------------
// Events

export type PlanDefined = DomainEvent<
  'PlanDefined',
  {
    readonly planId: string;
    readonly tenantId: string;
    readonly name: string;
    readonly amount: Money;
    readonly interval: BillingInterval;
    readonly providerProductId: string;
    readonly providerPriceId: string;
    readonly definedAt: string;
  }
>;

export type PlanPriceArchived = DomainEvent<
  'PlanPriceArchived',
  { readonly planId: string; readonly providerPriceId: string; readonly archivedAt: string }
>;

export type PlanPriceCreated = DomainEvent<
  'PlanPriceCreated',
  {
    readonly planId: string;
    readonly providerPriceId: string;
    readonly amount: Money;
    readonly interval: BillingInterval;
    readonly createdAt: string;
  }
>;

export type PlanRetired = DomainEvent<
  'PlanRetired',
  { readonly planId: string; readonly providerPriceId: string | null; readonly retiredAt: string }
>;

export type PlanEvent = PlanDefined | PlanPriceArchived | PlanPriceCreated | PlanRetired;

// ---------------------------------------------------------------------------------------------
// State

export type PlanStatus = 'undefined' | 'active' | 'retired';

export interface PlanState {
  readonly status: PlanStatus;
  readonly planId: string | null;
  readonly tenantId: string | null;
  readonly name: string | null;
  readonly amount: Money | null;
  readonly interval: BillingInterval | null;
  readonly providerProductId: string | null;
  /** The current (live) provider price; null once archived and not yet replaced. */
  readonly providerPriceId: string | null;
  readonly archivedProviderPriceIds: readonly string[];
}

export const initialPlanState: PlanState = {
  status: 'undefined',
  planId: null,
  tenantId: null,
  name: null,
  amount: null,
  interval: null,
  providerProductId: null,
  providerPriceId: null,
  archivedProviderPriceIds: [],
};

export function evolvePlan(state: PlanState, event: PlanEvent): PlanState {
  switch (event.type) {
    case 'PlanDefined': {
      const d = event.data;
      return {
        ...state,
        status: 'active',
        planId: d.planId,
        tenantId: d.tenantId,
        name: d.name,
        amount: d.amount,
        interval: d.interval,
        providerProductId: d.providerProductId,
        providerPriceId: d.providerPriceId,
      };
    }
    case 'PlanPriceArchived':
      return {
        ...state,
        providerPriceId: state.providerPriceId === event.data.providerPriceId ? null : state.providerPriceId,
        archivedProviderPriceIds: [...state.archivedProviderPriceIds, event.data.providerPriceId],
      };
    case 'PlanPriceCreated':
      return { ...state, providerPriceId: event.data.providerPriceId, amount: event.data.amount, interval: event.data.interval };
    case 'PlanRetired':
      return { ...state, status: 'retired' };
    default:
      return assertNever(event, 'plan event');
  }
}

// ---------------------------------------------------------------------------------------------
// Decisions

function requireDefined(state: PlanState): asserts state is PlanState & { planId: string } {
  if (state.status === 'undefined' || state.planId === null) {
    throw new DomainRefusal('plan_not_found', 'no plan is defined on this stream');
  }
}

export function definePlan(command: DefinePlan, state: PlanState): PlanEvent[] {
  if (state.status !== 'undefined') {
    throw new DomainRefusal('plan_exists', `plan ${state.planId} is already defined`, 'conflict', { planId: state.planId });
  }
  const d = command.data;
  assertMoney(d.amount, 'amount');
  return [
    {
      type: 'PlanDefined',
      data: {
        planId: d.planId,
        tenantId: d.tenantId,
        name: d.name,
        amount: { amount: d.amount.amount, currency: d.amount.currency },
        interval: d.interval,
        providerProductId: d.providerProductId,
        providerPriceId: d.providerPriceId,
        definedAt: command.metadata.now.toISOString(),
      },
    },
  ];
}

export function changePlanPrice(command: ChangePlanPrice, state: PlanState): PlanEvent[] {
  requireDefined(state);
  if (state.status === 'retired') {
    throw new DomainRefusal('plan_retired', `plan ${state.planId} is retired`, 'conflict', { planId: state.planId });
  }
  const d = command.data;
  assertMoney(d.newAmount, 'newAmount');
  const interval = d.newInterval ?? state.interval;
  const current = state.amount;
  if (interval === null || current === null || state.providerPriceId === null) {
    throw new Error(`plan ${state.planId} has no current price (corrupt stream)`);
  }
  if (current.amount === d.newAmount.amount && current.currency === d.newAmount.currency && interval === state.interval) {
    throw new DomainRefusal('same_price', 'the new price equals the current price', 'invalid', { planId: state.planId });
  }
  if (d.newProviderPriceId === state.providerPriceId || state.archivedProviderPriceIds.includes(d.newProviderPriceId)) {
    throw new DomainRefusal('price_id_reused', `provider price ${d.newProviderPriceId} was already used by this plan`, 'invalid', {
      providerPriceId: d.newProviderPriceId,
    });
  }
  const at = command.metadata.now.toISOString();
  return [
    { type: 'PlanPriceArchived', data: { planId: state.planId, providerPriceId: state.providerPriceId, archivedAt: at } },
    {
      type: 'PlanPriceCreated',
      data: {
        planId: state.planId,
        providerPriceId: d.newProviderPriceId,
        amount: { amount: d.newAmount.amount, currency: d.newAmount.currency },
        interval,
        createdAt: at,
      },
    },
  ];
}

export function retirePlan(command: RetirePlan, state: PlanState): PlanEvent[] {
  requireDefined(state);
  if (state.status === 'retired') return [];
  return [
    {
      type: 'PlanRetired',
      data: { planId: state.planId, providerPriceId: state.providerPriceId, retiredAt: command.metadata.now.toISOString() },
    },
  ];
}

export function decidePlan(command: PlanCommand, state: PlanState): PlanEvent[] {
  switch (command.type) {
    case 'DefinePlan':
      return definePlan(command, state);
    case 'ChangePlanPrice':
      return changePlanPrice(command, state);
    case 'RetirePlan':
      return retirePlan(command, state);
    default:
      return assertNever(command, 'plan command');
  }
}

export const planDecider: Decider<PlanCommand, PlanEvent, PlanState> = {
  initialState: initialPlanState,
  decide: decidePlan,
  evolve: evolvePlan,
};
