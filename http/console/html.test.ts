import { escapeHtml } from '../../domain/shared/html';
import { html, raw, safeUrl } from './html';
import { badge, paymentsPage, type Payment } from './pages';

describe('HTML escaping', () => {
  test('escapes the five HTML metacharacters and the backtick', () => {
    expect(escapeHtml(`<a href="x" title='y'>&\`</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&#96;&lt;/a&gt;');
  });

  test('interpolations are escaped, nested templates and raw markup are not, arrays join, nullish renders nothing', () => {
    const name = '<script>alert(1)</script>';
    const out = html`<p title="${name}">${name}${html`<b>${'&'}</b>`}${raw('<i>ok</i>')}${[1, '<', null, undefined, false]}</p>`.value;
    expect(out).toBe('<p title="&lt;script&gt;alert(1)&lt;/script&gt;">&lt;script&gt;alert(1)&lt;/script&gt;<b>&amp;</b><i>ok</i>1&lt;</p>');
  });

  test('an attribute value cannot break out of its quotes', () => {
    const out = html`<input value="${'" onfocus="alert(1)'}">`.value;
    expect(out).toBe('<input value="&quot; onfocus=&quot;alert(1)">');
  });

  test('hrefs: javascript: and protocol-relative URLs become #; http(s) and site paths pass', () => {
    expect(safeUrl('javascript:alert(1)')).toBe('#');
    expect(safeUrl('//evil.example/x')).toBe('#');
    expect(safeUrl('data:text/html,x')).toBe('#');
    expect(safeUrl('https://pay.stripe.com/receipts/x')).toBe('https://pay.stripe.com/receipts/x');
    expect(safeUrl('/admin/payments')).toBe('/admin/payments');
    expect(safeUrl(null)).toBe('#');
  });

  test('a rendered page never contains provider or tenant text unescaped', () => {
    const evil = '<img src=x onerror=alert(1)>';
    const p = {
      attemptId: '00000000-0000-0000-0000-000000000001',
      customerId: evil,
      payable: { type: 'invoice', id: 'inv_1' },
      provider: 'stripe',
      providerPaymentId: 'pi_1',
      providerChargeId: null,
      amount: { amount: 1050, currency: 'EUR' },
      refunded: { amount: 0, currency: 'EUR' },
      status: 'failed',
      errorCode: 'card_declined',
      declineCode: 'unknown_code_x',
      message: evil,
      docsUrl: null,
      receiptUrl: 'javascript:alert(1)',
      card: null,
      needsAttention: null,
      occurredAt: '2026-11-25T10:00:00.000Z',
    } as unknown as Payment;
    const page = paymentsPage({ title: 'Payments' }, { customer: evil }, [{ p, links: { dashboard: null, receipt: p.receiptUrl as string, docs: null } }], null);
    expect(page).not.toContain('<img src=x');
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page).not.toContain('javascript:');
    expect(page).toContain('The card was declined.');
  });

  test('a status badge says the status in words', () => {
    expect(badge('action_required').value).toBe('<span class="badge action_required">Action required</span>');
    expect(badge('"><script>').value).not.toContain('<script>');
  });
});
