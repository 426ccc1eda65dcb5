/**
 * Display formatting for the console and the payer page. Amounts stay integers of minor units
 * until the last step: the decimal string is built from the integer's digits (no float division),
 * then Intl formats that exact decimal string for the currency.
 */
const digitsCache = new Map<string, number>();

/** Minor-unit digits of an ISO 4217 currency (EUR 2, JPY 0, KWD 3). */
export function currencyDigits(currency: string): number {
  const c = currency.toUpperCase();
  let d = digitsCache.get(c);
  if (d === undefined) {
    d = new Intl.NumberFormat('en', { style: 'currency', currency: c }).resolvedOptions().maximumFractionDigits ?? 2;
    digitsCache.set(c, d);
  }
  return d;
}

/** "123456" minor units, 2 digits -> "1234.56"; exact for any safe integer. */
export function minorToDecimalString(amount: number | bigint, digits: number): string {
  const n = BigInt(amount);
  const neg = n < 0n;
  const s = (neg ? -n : n).toString().padStart(digits + 1, '0');
  const out = digits === 0 ? s : `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`;
  return neg ? `-${out}` : out;
}

/** €25.00, ¥2,500, KWD 1.500: the amount formatted for its currency. */
export function formatMoney(m: { amount: number; currency: string } | null | undefined): string {
  if (!m) return '—';
  const digits = currencyDigits(m.currency);
  const decimal = minorToDecimalString(m.amount, digits);
  // Intl.NumberFormat formats decimal strings exactly (no conversion to a double)
  return new Intl.NumberFormat('en', { style: 'currency', currency: m.currency.toUpperCase(), minimumFractionDigits: digits, maximumFractionDigits: digits }).format(
    decimal as unknown as number,
  );
}

/** 2026-11-25 16:03 UTC */
export function formatInstant(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 16)} UTC`;
}

/** snake_case status -> "Action required" */
export function humanize(code: string | null | undefined): string {
  if (!code) return '';
  const s = code.replace(/[_:]+/g, ' ').trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
}
