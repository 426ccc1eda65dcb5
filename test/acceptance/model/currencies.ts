/**
 * The model's own currency table: written from ISO 4217 and Stripe's documentation, not taken
 * from the product (so a wrong exponent in the product shows up as a disagreement).
 *
 * - ISO 4217 exponents: JPY 0, ISK 0, EUR/USD/HUF 2, KWD/BHD 3.
 * - Stripe, "Supported currencies" / "Zero-decimal currencies" / "Three-decimal currencies":
 *   - ISK is zero-decimal in ISO but Stripe keeps it two-decimal for backwards compatibility:
 *     amounts are krónur x 100 and must be divisible by 100.
 *   - HUF: two-decimal at Stripe as in ISO (payouts must be whole forints; charges are not).
 *   - Three-decimal currencies (BHD, JOD, KWD, OMR, TND): the last digit must be 0 (amount
 *     divisible by 10).
 *   - Amount limit: the amount field supports up to eight digits (99,999,999 of the smallest
 *     unit Stripe counts in).
 * - PayPal, REST API reference "Currency codes": PayPal takes EUR, USD, JPY and HUF (of these),
 *   not ISK, KWD or BHD; HUF, JPY and TWD take no decimals at PayPal ("This currency does not
 *   support decimals"), so a HUF amount must be whole forints (ISO minor units divisible by 100).
 *   Amounts are decimal strings in `value` (Orders v2 `amount`, Payments v2 refund `amount`).
 */
export interface CurrencyRule {
  readonly code: string;
  /** ISO 4217 minor-unit exponent: what Settle's API speaks. */
  readonly isoExponent: number;
  /** Stripe amount = ISO minor units x this factor. */
  readonly stripeFactor: number;
  /** ISO amounts must be a multiple of this for Stripe to charge them. */
  readonly isoStep: number;
  /** Decimals PayPal takes in this currency, or null when PayPal does not take it. */
  readonly paypalDecimals: number | null;
}

export const CURRENCIES: readonly CurrencyRule[] = [
  { code: 'JPY', isoExponent: 0, stripeFactor: 1, isoStep: 1, paypalDecimals: 0 },
  { code: 'ISK', isoExponent: 0, stripeFactor: 100, isoStep: 1, paypalDecimals: null },
  { code: 'EUR', isoExponent: 2, stripeFactor: 1, isoStep: 1, paypalDecimals: 2 },
  { code: 'USD', isoExponent: 2, stripeFactor: 1, isoStep: 1, paypalDecimals: 2 },
  { code: 'HUF', isoExponent: 2, stripeFactor: 1, isoStep: 1, paypalDecimals: 0 },
  { code: 'KWD', isoExponent: 3, stripeFactor: 1, isoStep: 10, paypalDecimals: null },
  { code: 'BHD', isoExponent: 3, stripeFactor: 1, isoStep: 10, paypalDecimals: null },
];

/** Stripe's eight-digit limit, in ISO minor units of the currency. */
export function maxIsoAmount(c: CurrencyRule): number {
  const maxStripe = 99_999_999;
  return Math.floor(maxStripe / c.stripeFactor / c.isoStep) * c.isoStep;
}

export function currency(code: string): CurrencyRule {
  const c = CURRENCIES.find((x) => x.code === code);
  if (!c) throw new Error(`no currency ${code} in the model`);
  return c;
}

/** ISO minor units -> the integer Stripe puts in `amount`. */
export function toStripeAmount(isoAmount: number, code: string): number {
  return isoAmount * currency(code).stripeFactor;
}

/** The currencies PayPal takes (model's table). */
export const PAYPAL_CURRENCIES: readonly CurrencyRule[] = CURRENCIES.filter((c) => c.paypalDecimals !== null);

/** ISO amounts must be a multiple of this for PayPal to take them (100 for HUF: whole forints). */
export function paypalIsoStep(c: CurrencyRule): number {
  if (c.paypalDecimals === null) throw new Error(`PayPal does not take ${c.code}`);
  return 10 ** Math.max(0, c.isoExponent - c.paypalDecimals);
}

/** ISO minor units -> PayPal's decimal `value` string (1050 EUR -> "10.50", 150000 HUF -> "1500"). */
export function toPayPalValue(isoAmount: number, code: string): string {
  const c = currency(code);
  const units = isoAmount / paypalIsoStep(c);
  if (!Number.isInteger(units)) throw new Error(`${isoAmount} ${code} is not an amount PayPal takes`);
  const d = c.paypalDecimals!;
  if (d === 0) return String(units);
  const s = String(units).padStart(d + 1, '0');
  return `${s.slice(0, -d)}.${s.slice(-d)}`;
}
