/** Stripe's minor units where they differ from ISO 4217, inbound direction (the outbound one is pinned in infrastructure/providers). */
import { fromStripeAmount, stripeExponent } from './providerUnits';

describe('Stripe minor units -> ISO minor units', () => {
  test('most currencies count alike', () => {
    expect(fromStripeAmount(2550, 'EUR')).toBe(2550);
    expect(fromStripeAmount(500, 'JPY')).toBe(500);
    expect(fromStripeAmount(1500, 'KWD')).toBe(1500);
  });
  test('ISK: Stripe counts hundredths of a króna, ISO whole krónur', () => {
    expect(stripeExponent('ISK')).toBe(2);
    expect(fromStripeAmount(150000, 'ISK')).toBe(1500);
    expect(fromStripeAmount(150050, 'ISK')).toBeNaN(); // not whole krónur: refused, never rounded
  });
  test('MGA: Stripe counts whole ariary, ISO hundredths', () => {
    expect(stripeExponent('MGA')).toBe(0);
    expect(fromStripeAmount(5000, 'MGA')).toBe(500000);
  });
  test('currencies Stripe does not charge in, and non-integers, are not amounts', () => {
    expect(stripeExponent('IQD')).toBeNull(); // three decimals, not charged by Stripe
    expect(fromStripeAmount(1000, 'IQD')).toBeNaN();
    expect(fromStripeAmount(10.5, 'EUR')).toBeNaN();
    expect(fromStripeAmount(Number.MAX_SAFE_INTEGER, 'MGA')).toBeNaN(); // would overflow exact integers
  });
});
