/**
 * PayPal event -> steps, given PayPal's record (a fake PayPalPaymentsReader) and no database:
 * what is recorded is what PayPal's API says, never what the body says; an object PayPal does not
 * have, or whose record contradicts the body, records nothing; PayPal unreachable throws (the
 * inbox retries); no API credentials park.
 */
import { ProviderError } from '../../domain/ports/billingProvider';
import type { PayPalCaptureFacts, PayPalOrderFacts, PayPalPaymentsReader, PayPalRefundFacts } from '../../domain/ports/paypalPayments';
import { paypalEvent } from '../../test/support/paypalEvents';
import { customIdFor, translatePayPalEvent } from './paypal';
import type { RefResolver, Step, Translation } from './steps';

const EUR = (amount: number) => ({ amount, currency: 'EUR' });

const capture = (over: Partial<PayPalCaptureFacts> = {}): PayPalCaptureFacts => ({
  id: 'CAP1',
  status: 'COMPLETED',
  amount: EUR(1999),
  orderId: 'ORDER1',
  customId: 'acme|inv_1',
  processorResponseCode: null,
  statusReason: null,
  createTime: '2026-05-01T10:00:00Z',
  updateTime: '2026-05-01T10:00:01Z',
  ...over,
});
const order = (over: Partial<PayPalOrderFacts> = {}): PayPalOrderFacts => ({ id: 'ORDER1', status: 'APPROVED', customId: 'acme|inv_1', amount: EUR(1999), captures: [], ...over });
const refund = (over: Partial<PayPalRefundFacts> = {}): PayPalRefundFacts => ({ id: 'REF1', status: 'COMPLETED', amount: EUR(500), captureId: 'CAP1', customId: 'acme|inv_1', noteToPayer: 'sorry', createTime: null, ...over });

function reader(r: { orders?: PayPalOrderFacts[]; captures?: PayPalCaptureFacts[]; refunds?: PayPalRefundFacts[]; down?: boolean }): PayPalPaymentsReader & { calls: string[] } {
  const calls: string[] = [];
  const find = async <T extends { id: string }>(what: string, list: T[] | undefined, id: string) => {
    calls.push(`${what} ${id}`);
    if (r.down) throw new ProviderError('retryable', 'PayPal get failed with 503', 'SERVICE_UNAVAILABLE');
    return list?.find((x) => x.id === id) ?? null;
  };
  return { calls, lookupOrder: (id) => find('order', r.orders, id), lookupCapture: (id) => find('capture', r.captures, id), lookupRefund: (id) => find('refund', r.refunds, id) };
}

const refs = (known: Record<string, { tenantId: string; invoiceId: string }> = {}): RefResolver => ({
  lookup: async (_p, ref) => (known[ref] ? { tenantId: known[ref].tenantId, targetType: 'invoice', targetId: known[ref].invoiceId } : null),
});

const captureEvent = (type = 'PAYMENT.CAPTURE.COMPLETED', mutate: (r: Record<string, unknown>) => void = () => undefined) =>
  paypalEvent(type === 'PAYMENT.CAPTURE.DENIED' ? 'PAYMENT.CAPTURE.DENIED' : 'PAYMENT.CAPTURE.COMPLETED', (r, e) => {
    e.event_type = type;
    Object.assign(r, { id: 'CAP1', status: 'COMPLETED', amount: { currency_code: 'EUR', value: '19.99' }, custom_id: 'acme|inv_1', supplementary_data: { related_ids: { order_id: 'ORDER1' } } });
    mutate(r);
  });

function stepsOf(t: Translation): readonly Step[] {
  if (t.outcome !== 'steps') throw new Error(`expected steps, got ${t.outcome}${'reason' in t ? `: ${t.reason}` : ''}`);
  return t.steps;
}
const commandOf = (steps: readonly Step[]) => steps.find((s): s is Extract<Step, { kind: 'invoice' }> => s.kind === 'invoice')!;

describe('PAYMENT.CAPTURE.COMPLETED', () => {
  test("records PayPal's capture: amount, ids, time from the API", async () => {
    const t = await translatePayPalEvent(captureEvent(), refs(), reader({ captures: [capture()] }));
    expect(t.outcome).toBe('steps');
    const cmd = commandOf(stepsOf(t));
    expect(cmd).toMatchObject({ tenantId: 'acme', invoiceId: 'inv_1', command: { type: 'RecordPaymentAttempt', data: { attemptId: 'ORDER1', providerPaymentId: 'ORDER1', providerChargeId: 'CAP1', amount: EUR(1999), outcome: 'succeeded', occurredAt: '2026-05-01T10:00:01.000Z' } } });
  });

  test.each([
    ['another amount', (r: Record<string, unknown>) => (r.amount = { currency_code: 'EUR', value: '5000.00' }), /amount 500000 EUR is 1999 EUR at PayPal/],
    ['another currency', (r: Record<string, unknown>) => (r.amount = { currency_code: 'USD', value: '19.99' }), /amount 1999 USD is 1999 EUR/],
    ['no amount', (r: Record<string, unknown>) => delete r.amount, /amount none is 1999 EUR/],
    ['another custom_id (tenant and invoice)', (r: Record<string, unknown>) => (r.custom_id = 'victim|inv_9'), /custom_id "victim\|inv_9" is "acme\|inv_1"/],
    ['another order', (r: Record<string, unknown>) => (r.supplementary_data = { related_ids: { order_id: 'ORDER2' } }), /order ORDER2 is ORDER1/],
  ])('a body with %s than PayPal records nothing', async (_what, mutate, reason) => {
    const t = await translatePayPalEvent(captureEvent('PAYMENT.CAPTURE.COMPLETED', mutate), refs(), reader({ captures: [capture()] }));
    expect(t).toMatchObject({ outcome: 'refuse', code: 'mismatch', reason: expect.stringMatching(reason) });
    expect((t as { reason: string }).reason).toMatch(/no money recorded$/);
  });

  test('a capture PayPal does not have records nothing', async () => {
    expect(await translatePayPalEvent(captureEvent('PAYMENT.CAPTURE.COMPLETED', (r) => (r.id = 'GHOST')), refs(), reader({ captures: [capture()] }))).toMatchObject({ outcome: 'refuse', code: 'not_found' });
  });

  test.each([
    ['PAYMENT.CAPTURE.COMPLETED', 'PENDING', 'refuse'],
    ['PAYMENT.CAPTURE.COMPLETED', 'DECLINED', 'refuse'],
    ['PAYMENT.CAPTURE.COMPLETED', 'PARTIALLY_REFUNDED', 'steps'],
    ['PAYMENT.CAPTURE.DENIED', 'COMPLETED', 'refuse'],
    ['PAYMENT.CAPTURE.DENIED', 'DECLINED', 'steps'],
    ['PAYMENT.CAPTURE.REVERSED', 'PENDING', 'refuse'],
  ])('%s with the capture %s at PayPal: %s', async (type, status, outcome) => {
    const t = await translatePayPalEvent(captureEvent(type), refs(), reader({ captures: [capture({ status })] }));
    expect(t.outcome).toBe(outcome);
  });

  test('PayPal unreachable: the translation throws (the event stays in the inbox, retried)', async () => {
    await expect(translatePayPalEvent(captureEvent(), refs(), reader({ down: true }))).rejects.toMatchObject({ kind: 'retryable' });
  });

  test('no PayPal API credentials: parked, never recorded from the body', async () => {
    expect(await translatePayPalEvent(captureEvent(), refs(), null)).toMatchObject({ outcome: 'park', reason: expect.stringContaining('never recorded from a webhook body alone') });
  });

  test('a digest custom_id (long ids) finds its invoice through the order Settle created, and must name it', async () => {
    const tenant = 't'.repeat(100);
    const inv = `inv_${'9'.repeat(40)}`;
    const digest = customIdFor(tenant, inv);
    expect(digest).toMatch(/^~/);
    const ev = captureEvent('PAYMENT.CAPTURE.COMPLETED', (r) => (r.custom_id = digest));
    const ok = await translatePayPalEvent(ev, refs({ ORDER1: { tenantId: tenant, invoiceId: inv } }), reader({ captures: [capture({ customId: digest })] }));
    expect(commandOf(stepsOf(ok))).toMatchObject({ tenantId: tenant, invoiceId: inv });
    const wrong = await translatePayPalEvent(ev, refs({ ORDER1: { tenantId: tenant, invoiceId: 'inv_2' } }), reader({ captures: [capture({ customId: digest })] }));
    expect(wrong).toMatchObject({ outcome: 'refuse', code: 'mismatch' });
  });
});

describe('CHECKOUT.ORDER.APPROVED', () => {
  const approved = (customId = 'acme|inv_1') =>
    paypalEvent('CHECKOUT.ORDER.APPROVED', (r) => {
      r.id = 'ORDER1';
      r.purchase_units = [{ custom_id: customId, amount: { currency_code: 'EUR', value: '19.99' } }];
    });

  test("captures for the invoice PayPal's order names", async () => {
    const t = await translatePayPalEvent(approved(), refs(), reader({ orders: [order()] }));
    expect(t).toMatchObject({ outcome: 'steps', steps: [{ kind: 'learn', ref: 'ORDER1' }, { kind: 'paypal_capture', orderId: 'ORDER1', tenantId: 'acme', invoiceId: 'inv_1' }] });
  });

  test('another custom_id in the body, an order PayPal does not have or has not approved: nothing', async () => {
    expect(await translatePayPalEvent(approved('victim|inv_9'), refs(), reader({ orders: [order()] }))).toMatchObject({ outcome: 'refuse', code: 'mismatch' });
    expect(await translatePayPalEvent(approved(), refs(), reader({ orders: [] }))).toMatchObject({ outcome: 'refuse', code: 'not_found' });
    expect(await translatePayPalEvent(approved(), refs(), reader({ orders: [order({ status: 'PAYER_ACTION_REQUIRED' })] }))).toMatchObject({ outcome: 'refuse', code: 'status' });
  });
});

describe('PAYMENT.CAPTURE.REFUNDED', () => {
  const refunded = (mutate: (r: Record<string, unknown>) => void = () => undefined) =>
    paypalEvent('PAYMENT.CAPTURE.REFUNDED', (r) => {
      Object.assign(r, { id: 'REF1', amount: { currency_code: 'EUR', value: '5.00' }, custom_id: 'acme|inv_1', links: [{ rel: 'up', href: 'https://api.paypal.com/v2/payments/captures/CAP1' }] });
      mutate(r);
    });

  test("records PayPal's refund; without custom_id the invoice comes from its capture", async () => {
    const t = await translatePayPalEvent(refunded(), refs(), reader({ refunds: [refund()] }));
    expect(commandOf(stepsOf(t))).toMatchObject({ command: { type: 'RecordRefund', data: { refundId: 'REF1', amount: EUR(500), reason: 'sorry' } } });
    const bare = await translatePayPalEvent(refunded((r) => delete r.custom_id), refs(), reader({ refunds: [refund({ customId: null })], captures: [capture()] }));
    expect(commandOf(stepsOf(bare))).toMatchObject({ tenantId: 'acme', invoiceId: 'inv_1' });
  });

  test('another amount or capture than PayPal: nothing; a refund still PENDING: parked', async () => {
    expect(await translatePayPalEvent(refunded((r) => (r.amount = { currency_code: 'EUR', value: '500.00' })), refs(), reader({ refunds: [refund()] }))).toMatchObject({ outcome: 'refuse', code: 'mismatch' });
    expect(await translatePayPalEvent(refunded((r) => (r.links = [{ rel: 'up', href: 'https://api.paypal.com/v2/payments/captures/CAP9' }])), refs(), reader({ refunds: [refund()] }))).toMatchObject({ outcome: 'refuse', code: 'mismatch' });
    expect(await translatePayPalEvent(refunded(), refs(), reader({ refunds: [refund({ status: 'PENDING' })] }))).toMatchObject({ outcome: 'park' });
    expect(await translatePayPalEvent(refunded(), refs(), reader({ refunds: [refund({ status: 'FAILED' })] }))).toMatchObject({ outcome: 'refuse', code: 'status' });
  });
});
