/**
 * Amount rules of PayPal's REST APIs, independent of Settle's own money code (so a bug there is
 * not mirrored here). Values are decimal strings; arithmetic is BigInt in the currency's PayPal
 * minor units.
 *
 * Currencies and decimals: PayPal "Currency codes" (developer.paypal.com/api/rest/reference/currency-codes):
 * HUF, JPY and TWD take no decimals, the others two. KWD, BHD and other ISO 3-decimal currencies
 * are not PayPal currencies (422 CURRENCY_NOT_SUPPORTED).
 */
export const PAYPAL_CURRENCIES: Readonly<Record<string, number>> = {
  AUD: 2, BRL: 2, CAD: 2, CNY: 2, CZK: 2, DKK: 2, EUR: 2, HKD: 2, HUF: 0, ILS: 2, JPY: 0, MYR: 2,
  MXN: 2, TWD: 0, NZD: 2, NOK: 2, PHP: 2, PLN: 2, GBP: 2, SGD: 2, SEK: 2, CHF: 2, THB: 2, USD: 2,
};

/** The Orders v2 schema pattern for `value` (maxLength 32). */
const VALUE_PATTERN = /^((-?[0-9]+)|(-?([0-9]+)?[.][0-9]+))$/;

export interface Issue {
  readonly status: 400 | 422;
  readonly field: string;
  readonly issue: string;
  readonly description: string;
  readonly value?: string;
}

/** An issue's `value`: the offending input, a string as sent, anything else as its JSON. */
export function issueValue(x: unknown): string {
  return typeof x === 'string' ? x : JSON.stringify(x);
}

export interface Amount {
  readonly currency_code: string;
  readonly value: string;
}

/** Validates an `amount` object; returns its minor units or the issues PayPal would report. */
export function checkAmount(amount: unknown, field: string): { minor: bigint; currency: string } | { issues: Issue[] } {
  if (amount === undefined || amount === null) return { issues: [{ status: 400, field, issue: 'MISSING_REQUIRED_PARAMETER', description: 'A required field / parameter is missing.' }] };
  if (typeof amount !== 'object' || Array.isArray(amount)) return { issues: [{ status: 400, field, issue: 'INVALID_PARAMETER_SYNTAX', description: 'The value of a field does not conform to the expected format.' }] };
  const a = amount as Record<string, unknown>;
  const issues: Issue[] = [];
  const cc = a.currency_code;
  const v = a.value;
  if (cc === undefined) issues.push({ status: 400, field: `${field}/currency_code`, issue: 'MISSING_REQUIRED_PARAMETER', description: 'A required field / parameter is missing.' });
  else if (typeof cc !== 'string' || !/^[A-Z]{3}$/.test(cc)) issues.push({ status: 400, field: `${field}/currency_code`, issue: 'INVALID_PARAMETER_SYNTAX', description: 'The value of a field does not conform to the expected format.', value: issueValue(cc) });
  if (v === undefined) issues.push({ status: 400, field: `${field}/value`, issue: 'MISSING_REQUIRED_PARAMETER', description: 'A required field / parameter is missing.' });
  else if (typeof v !== 'string' || v.length > 32 || !VALUE_PATTERN.test(v)) issues.push({ status: 400, field: `${field}/value`, issue: 'INVALID_PARAMETER_SYNTAX', description: 'The value of a field does not conform to the expected format.', value: issueValue(v) });
  if (issues.length) return { issues };
  const currency = cc as string;
  const value = v as string;
  const decimals = PAYPAL_CURRENCIES[currency];
  if (decimals === undefined) return { issues: [{ status: 422, field: `${field}/currency_code`, issue: 'CURRENCY_NOT_SUPPORTED', description: 'Currency code is not currently supported. Please refer https://developer.paypal.com/api/rest/reference/currency-codes/ for list of supported currency codes.', value: currency }] };
  const negative = value.startsWith('-');
  const [whole = '', fraction = ''] = (negative ? value.slice(1) : value).split('.');
  if (fraction.length > 0 && decimals === 0) return { issues: [{ status: 422, field: `${field}/value`, issue: 'DECIMALS_NOT_SUPPORTED', description: 'Currency does not support decimals.', value }] };
  if (fraction.length > decimals) return { issues: [{ status: 422, field: `${field}/value`, issue: 'DECIMAL_PRECISION', description: 'If the currency supports decimals, only two decimal place precision is supported.', value }] };
  const minor = BigInt(`${whole || '0'}${fraction.padEnd(decimals, '0')}`) * (negative ? -1n : 1n);
  if (minor <= 0n) return { issues: [{ status: 422, field: `${field}/value`, issue: 'CANNOT_BE_ZERO_OR_NEGATIVE', description: 'Must be greater than zero. If the currency supports decimals, only two decimal place precision is supported.', value }] };
  return { minor, currency };
}

/** Minor units back to PayPal's value string. */
export function formatAmount(minor: bigint, currency: string): Amount {
  const decimals = PAYPAL_CURRENCIES[currency] ?? 2;
  const s = minor.toString().padStart(decimals + 1, '0');
  return { currency_code: currency, value: decimals === 0 ? s : `${s.slice(0, -decimals)}.${s.slice(-decimals)}` };
}
