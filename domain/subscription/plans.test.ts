import { fold } from '../shared/decider';
import { spec } from '../../test/support/given';
import { planDecider, type PlanCommand, type PlanEvent } from './plans';

const NOW = new Date('2024-03-10T12:00:00.000Z');
const AT = NOW.toISOString();

type Cmd<T extends PlanCommand['type']> = Extract<PlanCommand, { type: T }>;
function cmd<T extends PlanCommand['type']>(type: T, data: Cmd<T>['data']): Cmd<T> {
  return { type, data, metadata: { now: NOW } } as Cmd<T>;
}

const plan = spec(planDecider);
const eur = (amount: number) => ({ amount, currency: 'EUR' });

const defineData = {
  planId: 'pro',
  tenantId: 'ten-1',
  name: 'Pro',
  amount: eur(1900),
  interval: 'month' as const,
  providerProductId: 'prod_pro',
  providerPriceId: 'price_1',
};

const defined: PlanEvent = { type: 'PlanDefined', data: { ...defineData, definedAt: AT } };
const archived = (providerPriceId: string): PlanEvent => ({ type: 'PlanPriceArchived', data: { planId: 'pro', providerPriceId, archivedAt: AT } });
const created = (providerPriceId: string, amount = eur(2900), interval: 'month' | 'year' = 'month'): PlanEvent => ({
  type: 'PlanPriceCreated',
  data: { planId: 'pro', providerPriceId, amount, interval, createdAt: AT },
});
const retired: PlanEvent = { type: 'PlanRetired', data: { planId: 'pro', providerPriceId: 'price_1', retiredAt: AT } };

const changePrice = (newAmount = eur(2900), newProviderPriceId = 'price_2', newInterval?: 'month' | 'year') =>
  cmd('ChangePlanPrice', newInterval === undefined ? { newAmount, newProviderPriceId } : { newAmount, newProviderPriceId, newInterval });

describe('DefinePlan', () => {
  it('defines the plan with its provider product and price', () => {
    plan.given([]).when(cmd('DefinePlan', defineData)).then([defined]);
  });

  it('is refused when the plan is already defined', () => {
    plan.given([defined]).when(cmd('DefinePlan', defineData)).thenRefuses('plan_exists', 'conflict');
  });

  it('is refused when the plan was defined and retired', () => {
    plan.given([defined, retired]).when(cmd('DefinePlan', defineData)).thenRefuses('plan_exists', 'conflict');
  });

  it.each([
    ['a fractional amount', { amount: 19.9, currency: 'EUR' }],
    ['a negative amount', { amount: -100, currency: 'EUR' }],
    ['an amount beyond the safe range', { amount: 2 ** 60, currency: 'EUR' }],
    ['an unknown currency', { amount: 1900, currency: 'ABC' }],
    ['a lower-case currency', { amount: 1900, currency: 'eur' }],
    ['a non-money ISO code', { amount: 1900, currency: 'XAU' }],
  ])('refuses %s', (_label, amount) => {
    plan.given([]).when(cmd('DefinePlan', { ...defineData, amount })).thenRefuses('invalid_money', 'invalid');
  });

  it('accepts a zero-exponent currency in its minor units', () => {
    plan
      .given([])
      .when(cmd('DefinePlan', { ...defineData, amount: { amount: 2500, currency: 'JPY' } }))
      .thenMatches([{ type: 'PlanDefined', data: { amount: { amount: 2500, currency: 'JPY' } } }]);
  });

  it('exposes the plan in state', () => {
    expect(fold(planDecider, [defined])).toMatchObject({ status: 'active', planId: 'pro', tenantId: 'ten-1', amount: eur(1900), interval: 'month', providerPriceId: 'price_1' });
  });
});

describe('ChangePlanPrice', () => {
  it('archives the old provider price, then creates the new one', () => {
    plan.given([defined]).when(changePrice()).then([archived('price_1'), created('price_2')]);
  });

  it('changes the interval when asked', () => {
    plan.given([defined]).when(changePrice(eur(19000), 'price_2', 'year')).then([archived('price_1'), created('price_2', eur(19000), 'year')]);
  });

  it('allows the same amount on another interval', () => {
    plan.given([defined]).when(changePrice(eur(1900), 'price_2', 'year')).then([archived('price_1'), created('price_2', eur(1900), 'year')]);
  });

  it('allows the same number in another currency', () => {
    plan
      .given([defined])
      .when(changePrice({ amount: 1900, currency: 'USD' }, 'price_2'))
      .then([archived('price_1'), created('price_2', { amount: 1900, currency: 'USD' })]);
  });

  it('archives the latest price on a second change', () => {
    plan.given([defined, archived('price_1'), created('price_2')]).when(changePrice(eur(3900), 'price_3')).then([archived('price_2'), created('price_3', eur(3900))]);
  });

  it('leaves the new price current, with the old one archived', () => {
    expect(fold(planDecider, [defined, archived('price_1'), created('price_2', eur(2900), 'year')])).toMatchObject({
      providerPriceId: 'price_2',
      amount: eur(2900),
      interval: 'year',
      archivedProviderPriceIds: ['price_1'],
    });
  });

  it('is refused when amount and interval are unchanged', () => {
    plan.given([defined]).when(changePrice(eur(1900), 'price_2')).thenRefuses('same_price', 'invalid');
  });

  it('is refused when amount and an explicitly repeated interval are unchanged', () => {
    plan.given([defined]).when(changePrice(eur(1900), 'price_2', 'month')).thenRefuses('same_price', 'invalid');
  });

  it('is refused when the new provider price id is the current one (prices are immutable)', () => {
    plan.given([defined]).when(changePrice(eur(2900), 'price_1')).thenRefuses('price_id_reused', 'invalid');
  });

  it('is refused when the new provider price id was archived before', () => {
    plan.given([defined, archived('price_1'), created('price_2')]).when(changePrice(eur(3900), 'price_1')).thenRefuses('price_id_reused', 'invalid');
  });

  it.each([
    ['a fractional amount', { amount: 29.99, currency: 'EUR' }],
    ['an unknown currency', { amount: 2900, currency: 'EURO' }],
  ])('refuses %s', (_label, amount) => {
    plan.given([defined]).when(changePrice(amount)).thenRefuses('invalid_money', 'invalid');
  });

  it('is refused for a retired plan', () => {
    plan.given([defined, retired]).when(changePrice()).thenRefuses('plan_retired', 'conflict');
  });

  it('is refused for a plan that was never defined', () => {
    plan.given([]).when(changePrice()).thenRefuses('plan_not_found', 'conflict');
  });
});

describe('RetirePlan', () => {
  it('retires the plan', () => {
    plan.given([defined]).when(cmd('RetirePlan', {})).then([retired]);
  });

  it('names the current price after a price change', () => {
    plan
      .given([defined, archived('price_1'), created('price_2')])
      .when(cmd('RetirePlan', {}))
      .thenMatches([{ type: 'PlanRetired', data: { providerPriceId: 'price_2' } }]);
  });

  it('marks the plan retired in state', () => {
    expect(fold(planDecider, [defined, retired]).status).toBe('retired');
  });

  it('is a no-op for a plan already retired', () => {
    plan.given([defined, retired]).when(cmd('RetirePlan', {})).thenNothing();
  });

  it('is refused for a plan that was never defined', () => {
    plan.given([]).when(cmd('RetirePlan', {})).thenRefuses('plan_not_found', 'conflict');
  });
});

describe('the plan decider as a whole', () => {
  it('produces JSON-serialisable events', () => {
    const events = [defined, ...planDecider.decide(changePrice(eur(19000), 'price_2', 'year'), fold(planDecider, [defined]))];
    expect(JSON.parse(JSON.stringify(events))).toEqual(events);
  });

  it('throws on a command type it does not know', () => {
    const bogus = { type: 'Bogus', data: {}, metadata: { now: NOW } } as unknown as PlanCommand;
    expect(() => planDecider.decide(bogus, fold(planDecider, []))).toThrow('unhandled plan command');
  });
});
