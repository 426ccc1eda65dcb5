import { createHmac } from 'node:crypto';
import { payerLinkPath, signPayerLink, verifyPayerLink } from './payerLinks';

const SECRET = 'payer-link-secret-0123456789abcdef-xyz';
const now = 1_800_000_000;

function parts(path: string) {
  const u = new URL(path, 'http://x');
  const [, , , tenantId, invoiceId] = u.pathname.split('/');
  return { tenantId: decodeURIComponent(tenantId!), invoiceId: decodeURIComponent(invoiceId!), expires: u.searchParams.get('expires'), sig: u.searchParams.get('sig') };
}

describe('signed payer links', () => {
  const link = payerLinkPath(SECRET, { tenantId: 'acme', invoiceId: 'inv_1', expires: now + 60 });

  test('a valid link verifies', () => {
    expect(link).toMatch(/^\/pay\/invoices\/acme\/inv_1\?expires=1800000060&sig=[0-9a-f]{64}$/);
    expect(verifyPayerLink(SECRET, parts(link), now)).toEqual({ ok: true });
  });

  test('the signature is HMAC-SHA256 over "<tenant>/<invoice>.<expires>"', () => {
    expect(signPayerLink(SECRET, { tenantId: 'acme', invoiceId: 'inv_1', expires: 5 })).toBe(createHmac('sha256', SECRET).update('acme/inv_1.5').digest('hex'));
  });

  test('tampering with the invoice, the tenant, the expiry or the signature is refused', () => {
    const p = parts(link);
    expect(verifyPayerLink(SECRET, { ...p, invoiceId: 'inv_2' }, now)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyPayerLink(SECRET, { ...p, tenantId: 'other' }, now)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyPayerLink(SECRET, { ...p, expires: String(now + 999_999) }, now)).toEqual({ ok: false, reason: 'bad_signature' });
    const flipped = p.sig!.slice(0, -1) + (p.sig!.endsWith('0') ? '1' : '0');
    expect(verifyPayerLink(SECRET, { ...p, sig: flipped }, now)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyPayerLink('another-secret-0123456789abcdef-xyz', p, now)).toEqual({ ok: false, reason: 'bad_signature' });
  });

  test('an expired link is refused; a malformed one too', () => {
    const p = parts(link);
    expect(verifyPayerLink(SECRET, p, now + 60)).toEqual({ ok: false, reason: 'expired' });
    expect(verifyPayerLink(SECRET, { ...p, sig: 'zz' }, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyPayerLink(SECRET, { ...p, expires: '1e9' }, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyPayerLink(SECRET, { ...p, sig: undefined }, now)).toEqual({ ok: false, reason: 'malformed' });
  });
});
