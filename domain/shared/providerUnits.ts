/**
 * How Stripe counts minor units where it differs from ISO 4217: ISK has no minor unit in ISO but
 * two decimals at Stripe (amounts are whole krónur times 100), MGA has two in ISO but none at
 * Stripe; of the three-decimal currencies Stripe charges only BHD, JOD, KWD, OMR and TND. Pure
 * data and arithmetic, shared by the Stripe adapter (outbound requests) and the Stripe webhook
 * mapping (inbound objects), so both directions use one table.
 */
import { currencyExponent, hasKnownExponent } from './money';

const STRIPE_EXPONENT_OVERRIDES: Readonly<Record<string, number>> = { ISK: 2, MGA: 0 };
const STRIPE_THREE_DECIMAL = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

/** Stripe's decimal places for an ISO 4217 code (upper case), or null when Stripe does not charge in it. */
export function stripeExponent(code: string): number | null {
  if (!hasKnownExponent(code)) return null;
  const iso = currencyExponent(code);
  if ((iso === 3 && !STRIPE_THREE_DECIMAL.has(code)) || iso > 3) return null;
  return STRIPE_EXPONENT_OVERRIDES[code] ?? iso;
}

/**
 * An amount as Stripe counts it -> ISO minor units, exactly; NaN when it cannot be expressed
 * (an ISK amount that is not whole krónur, a currency Stripe does not charge in, not a safe
 * integer), which the domain refuses like any other invalid amount.
 */
export function fromStripeAmount(amount: number, code: string): number {
  if (!Number.isSafeInteger(amount)) return Number.NaN;
  const stripe = stripeExponent(code);
  if (stripe === null) return Number.NaN;
  const iso = currencyExponent(code);
  if (stripe === iso) return amount;
  if (stripe < iso) {
    const r = amount * 10 ** (iso - stripe);
    return Number.isSafeInteger(r) ? r : Number.NaN;
  }
  const step = 10 ** (stripe - iso);
  return amount % step === 0 ? amount / step : Number.NaN;
}

/**
 * The currencies PayPal takes payments in (PayPal REST API reference, "Currency codes": AUD, BRL,
 * CAD, CNY, CZK, DKK, EUR, HKD, HUF, ILS, JPY, MYR, MXN, TWD, NZD, NOK, PHP, PLN, GBP, SGD, SEK,
 * CHF, THB, USD). HUF, JPY and TWD take no decimals there.
 */
const PAYPAL_CURRENCIES = new Set(['AUD', 'BRL', 'CAD', 'CNY', 'CZK', 'DKK', 'EUR', 'HKD', 'HUF', 'ILS', 'JPY', 'MYR', 'MXN', 'TWD', 'NZD', 'NOK', 'PHP', 'PLN', 'GBP', 'SGD', 'SEK', 'CHF', 'THB', 'USD']);

export function paypalSupports(code: string): boolean {
  return PAYPAL_CURRENCIES.has(code);
}

/** True when Stripe charges in this ISO 4217 code. */
export function stripeSupports(code: string): boolean {
  return stripeExponent(code) !== null;
}
