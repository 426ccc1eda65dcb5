/**
 * Display formatting for the console and the payer page. Money goes through the one formatter,
 * `formatMoney` of domain/shared/money.ts, whose decimals come from the ISO 4217 table
 * (domain/shared/currencies.ts), never from `Intl`'s defaults.
 */
import { formatMoney as formatAmount } from '../../domain/shared/money';

/** €25.00, ¥2,500, IQD 1.234, or a dash when there is no amount. */
export function formatMoney(m: { amount: number; currency: string } | null | undefined): string {
  return m ? formatAmount(m) : '—';
}

/** 2026-11-25 16:03 UTC */
export function formatInstant(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 16)} UTC`;
}

/** snake_case status -> "Action required" */
export function humanize(code: string | null | undefined): string {
  if (!code) return '';
  const s = code.replace(/[_:]+/g, ' ').trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
}
