/**
 * Money is an integer number of minor units plus an ISO 4217 currency code. No floats: amounts
 * are checked to be safe integers, and the currency's exponent decides what a minor unit is
 * (JPY has none, so 500 means ¥500; KWD has three, so 1500 means 1.500 KWD).
 */
import { ISO_4217, WITHDRAWN_ISO_4217, type CurrencyCode } from './currencies';

export interface Money {
  readonly amount: number;
  readonly currency: string;
}

/** An active ISO 4217 code (upper case) from the one table, `currencies.ts`: accepted for new amounts. */
export function isCurrency(code: string): code is CurrencyCode {
  return Object.hasOwn(ISO_4217, code);
}

/** Active, or withdrawn but once accepted: amounts stored in it still convert and display. */
export function hasKnownExponent(code: string): boolean {
  return isCurrency(code) || Object.hasOwn(WITHDRAWN_ISO_4217, code);
}

/**
 * Number of decimal places of one major unit, from the ISO 4217 table (never `Intl`). A code the
 * table does not know is a RangeError: there is no default exponent to guess with.
 */
export function currencyExponent(code: string): number {
  if (isCurrency(code)) return ISO_4217[code].exponent;
  const withdrawn = Object.hasOwn(WITHDRAWN_ISO_4217, code) ? WITHDRAWN_ISO_4217[code] : undefined;
  if (withdrawn) return withdrawn.exponent;
  throw new RangeError(`unknown ISO 4217 currency "${code}"`);
}

/** Largest amount Settle accepts in minor units: well inside Number.MAX_SAFE_INTEGER. */
export const MAX_MINOR_UNITS = 10 ** 15;

export function isMinorUnits(amount: unknown): amount is number {
  return typeof amount === 'number' && Number.isSafeInteger(amount) && amount >= 0 && amount <= MAX_MINOR_UNITS;
}

export function money(amount: number, currency: string): Money {
  if (!isMinorUnits(amount)) throw new RangeError(`amount must be a non-negative integer of minor units, got ${String(amount)}`);
  if (!isCurrency(currency)) throw new RangeError(`unknown ISO 4217 currency "${currency}"`);
  return { amount, currency };
}

export function sameCurrency(a: Money, b: Money): boolean {
  return a.currency === b.currency;
}

export function add(a: Money, b: Money): Money {
  if (a.currency !== b.currency) throw new RangeError(`cannot add ${a.currency} to ${b.currency}`);
  return { amount: a.amount + b.amount, currency: a.currency };
}

export function subtract(a: Money, b: Money): Money {
  if (a.currency !== b.currency) throw new RangeError(`cannot subtract ${b.currency} from ${a.currency}`);
  return { amount: a.amount - b.amount, currency: a.currency };
}

export function equals(a: Money, b: Money): boolean {
  return a.amount === b.amount && a.currency === b.currency;
}

const formatters = new Map<string, Intl.NumberFormat>();

/**
 * The one display formatter (console, payer page, e-mails): €25.00, ¥2,500, IQD 1.234. The
 * decimal string is built from the integer by the table's exponent (`minorToDecimal`); `Intl`
 * only adds the symbol and digit grouping, told to show exactly that many decimals, and formats
 * the decimal *string* exactly (no conversion to a double).
 */
export function formatMoney(m: { readonly amount: number | bigint; readonly currency: string }): string {
  const exp = currencyExponent(m.currency);
  const key = `${m.currency}:${exp}`;
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.NumberFormat('en', { style: 'currency', currency: m.currency, minimumFractionDigits: exp, maximumFractionDigits: exp });
    formatters.set(key, f);
  }
  return f.format(minorToDecimal(m.amount, m.currency) as unknown as number);
}

/**
 * Integer minor units (signed, any size) as a decimal string in the major unit, by string
 * arithmetic with the table's exponent: 1050 EUR -> "10.50", -5 EUR -> "-0.05", 500 JPY -> "500",
 * 1234 IQD -> "1.234".
 */
export function minorToDecimal(minorUnits: number | bigint, currency: string): string {
  const exp = currencyExponent(currency);
  const v = BigInt(minorUnits);
  const sign = v < 0n ? '-' : '';
  const digits = (v < 0n ? -v : v).toString();
  if (exp === 0) return `${sign}${digits}`;
  const s = digits.padStart(exp + 1, '0');
  return `${sign}${s.slice(0, -exp)}.${s.slice(-exp)}`;
}

/**
 * A provider's decimal string ("10.50") as integer minor units, checked against the currency's
 * exponent: "10.5" EUR is 1050, "10.5" JPY is refused (JPY has no minor unit), "1.500" KWD is
 * 1500. String arithmetic only: no float ever touches the amount.
 */
export function parseDecimalAmount(value: string, currency: string): Money {
  if (!isCurrency(currency)) throw new RangeError(`unknown ISO 4217 currency "${currency}"`);
  const m = /^(\d{1,16})(?:\.(\d+))?$/.exec(value);
  if (!m) throw new RangeError(`"${value}" is not a non-negative decimal amount`);
  const exp = currencyExponent(currency);
  const frac = m[2] ?? '';
  if (frac.length > exp) throw new RangeError(`"${value}" has more decimals than ${currency} allows (${exp})`);
  const amount = Number(`${m[1]}${frac.padEnd(exp, '0')}`);
  return money(amount, currency);
}

/** Integer minor units as a provider's decimal string: 1050 EUR -> "10.50", 500 JPY -> "500". */
export function toDecimalString(m: Money): string {
  return minorToDecimal(m.amount, m.currency);
}

/**
 * `percent` % of `m`, rounded half up to the currency's minor unit (the integer `amount`).
 * Percent has at most two decimals (basis points); BigInt arithmetic, so no float and no
 * overflow even at MAX_MINOR_UNITS.
 */
export function percentOf(m: Money, percent: number): Money {
  const bp = Math.round(percent * 100);
  if (!Number.isFinite(percent) || percent < 0 || percent > 100 || Math.abs(bp - percent * 100) > 1e-6) throw new RangeError(`percent must be from 0 to 100 with at most two decimals, got ${percent}`);
  const amount = (BigInt(m.amount) * BigInt(bp) * 2n + 10_000n) / 20_000n; // (x + 1/2) floored: half up
  return { amount: Number(amount), currency: m.currency };
}
