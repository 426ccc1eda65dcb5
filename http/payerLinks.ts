import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '../domain/shared/constantTime';

/**
 * Signed payer links for an invoice: `/pay/invoices/<tenant>/<invoice>?expires=<unix s>&sig=<hex>`
 * with sig = HMAC-SHA256(secret, "<tenant>/<invoice>" + "." + expires). The invoice id is qualified
 * by its tenant (invoice ids are per tenant). Verification is constant-time; a tampered or
 * expired link is refused.
 */
export interface PayerLink {
  readonly tenantId: string;
  readonly invoiceId: string;
  readonly expires: number;
}

function signature(secret: string, l: PayerLink): Buffer {
  return createHmac('sha256', secret).update(`${l.tenantId}/${l.invoiceId}.${l.expires}`, 'utf8').digest();
}

export function signPayerLink(secret: string, l: PayerLink): string {
  return signature(secret, l).toString('hex');
}

export function payerLinkPath(secret: string, l: PayerLink): string {
  return `/pay/invoices/${encodeURIComponent(l.tenantId)}/${encodeURIComponent(l.invoiceId)}?expires=${l.expires}&sig=${signPayerLink(secret, l)}`;
}

export type PayerLinkCheck = { ok: true } | { ok: false; reason: 'malformed' | 'bad_signature' | 'expired' };

export function verifyPayerLink(secret: string, l: { tenantId: string; invoiceId: string; expires: unknown; sig: unknown }, nowSeconds: number): PayerLinkCheck {
  if (typeof l.expires !== 'string' || !/^\d{1,12}$/.test(l.expires) || typeof l.sig !== 'string' || !/^[0-9a-f]{64}$/.test(l.sig)) return { ok: false, reason: 'malformed' };
  const expires = Number(l.expires);
  const expected = signature(secret, { tenantId: l.tenantId, invoiceId: l.invoiceId, expires });
  // constant time over the full MAC; checked before the expiry so a forged link learns nothing from timing
  if (!constantTimeEqual(expected.toString('hex'), l.sig)) return { ok: false, reason: 'bad_signature' };
  if (expires <= nowSeconds) return { ok: false, reason: 'expired' };
  return { ok: true };
}

/** The absolute payer link of an invoice, valid for ttlSeconds from now. */
export function payerLinkUrl(publicBaseUrl: string, secret: string, tenantId: string, invoiceId: string, ttlSeconds: number, nowMs = Date.now()): { url: string; expiresAt: string } {
  const expires = Math.floor(nowMs / 1000) + ttlSeconds;
  return { url: `${publicBaseUrl.replace(/\/$/, '')}${payerLinkPath(secret, { tenantId, invoiceId, expires })}`, expiresAt: new Date(expires * 1000).toISOString() };
}

/**
 * Where a payer comes back to from Stripe Checkout: a fresh signed link to the invoice's payer page
 * (its live status), or null when payer links are off (no key), see InvoicePaymentCommands.
 */
export function payerReturnPage(publicBaseUrl: string, secret: () => string | null, ttlSeconds: number, now = () => Date.now()): (tenantId: string, invoiceId: string) => string | null {
  return (tenantId, invoiceId) => {
    const key = secret();
    if (!key) return null;
    // the expiry is rounded up to a UTC day boundary, so a retried start (same provider idempotency
    // key) asks the provider for the same success URL within a day
    const expires = Math.ceil((Math.floor(now() / 1000) + ttlSeconds) / 86_400) * 86_400;
    return `${publicBaseUrl.replace(/\/$/, '')}${payerLinkPath(key, { tenantId, invoiceId, expires })}`;
  };
}
