/**
 * Money is an integer number of minor units plus an ISO 4217 currency code. No floats: amounts
 * are checked to be safe integers, and the currency's exponent decides what a minor unit is
 * (JPY has none, so 500 means ¥500; KWD has three, so 1500 means 1.500 KWD).
 */
export interface Money {
  readonly amount: number;
  readonly currency: string;
}

// ISO 4217 minor-unit exponents that differ from 2 (active codes).
const EXPONENT_0 = new Set(['BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG', 'RWF', 'UGX', 'UYI', 'VND', 'VUV', 'XAF', 'XOF', 'XPF']);
const EXPONENT_3 = new Set(['BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND']);
const EXPONENT_4 = new Set(['CLF', 'UYW']);
// Codes that are not money (precious metals, testing, "no currency").
const NOT_MONEY = new Set(['XAG', 'XAU', 'XBA', 'XBB', 'XBC', 'XBD', 'XDR', 'XPD', 'XPT', 'XSU', 'XTS', 'XUA', 'XXX']);

let known: Set<string> | null = null;
function knownCurrencies(): Set<string> {
  if (!known) {
    const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
    known = new Set((intl.supportedValuesOf?.('currency') ?? []).filter((c) => !NOT_MONEY.has(c)));
    for (const c of [...EXPONENT_0, ...EXPONENT_3, ...EXPONENT_4]) known.add(c);
  }
  return known;
}

export function isCurrency(code: string): boolean {
  return /^[A-Z]{3}$/.test(code) && knownCurrencies().has(code);
}

/** Number of decimal places of one major unit (ISO 4217). */
export function currencyExponent(code: string): number {
  if (EXPONENT_0.has(code)) return 0;
  if (EXPONENT_3.has(code)) return 3;
  if (EXPONENT_4.has(code)) return 4;
  return 2;
}

/** Largest amount Settle accepts in minor units: well inside Number.MAX_SAFE_INTEGER. */
export const MAX_MINOR_UNITS = 10 ** 15;

export function isMinorUnits(amount: unknown): amount is number {
  return typeof amount === 'number' && Number.isSafeInteger(amount) && amount >= 0 && amount <= MAX_MINOR_UNITS;
}

export function money(amount: number, currency: string): Money {
  if (!isMinorUnits(amount)) throw new RangeError(`amount must be a non-negative integer of minor units, got ${amount}`);
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

/** Human formatting from integer minor units (string arithmetic, no float division). */
export function formatMoney(m: Money, locale = 'en'): string {
  const exp = currencyExponent(m.currency);
  const s = m.amount.toString().padStart(exp + 1, '0');
  const major = exp === 0 ? s : `${s.slice(0, -exp)}.${s.slice(-exp)}`;
  const parts = new Intl.NumberFormat(locale, { style: 'currency', currency: m.currency, minimumFractionDigits: exp, maximumFractionDigits: exp }).formatToParts(0);
  const symbol = parts.find((p) => p.type === 'currency')?.value ?? m.currency;
  const symbolFirst = parts.findIndex((p) => p.type === 'currency') < parts.findIndex((p) => p.type === 'integer');
  return symbolFirst ? `${symbol}${major}` : `${major} ${symbol}`;
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
  const exp = currencyExponent(m.currency);
  if (exp === 0) return String(m.amount);
  const s = String(m.amount).padStart(exp + 1, '0');
  return `${s.slice(0, -exp)}.${s.slice(-exp)}`;
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
