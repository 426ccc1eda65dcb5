/**
 * The PayPal adapter (official SDK, custom base URL) against the local PayPal simulator.
 */
import { providerIdempotencyKey } from './idempotencyKeys';
import net from 'node:net';
import { ProviderError, type ProviderErrorKind } from '../../domain/ports/billingProvider';
import type { Money } from '../../domain/shared/money';
import { startPayPalSimulator, type PayPalSimulator } from '../../test/simulators/paypal';
import { declinedCaptureError, PayPalClient, type CaptureResult, type PayPalOrder } from './paypal';

let sim: PayPalSimulator;
let client: PayPalClient;
let seq = 0;
const rid = (prefix: string) => `${prefix}-${process.pid}-${++seq}`;
const EUR = (amount: number): Money => ({ amount, currency: 'EUR' });

function newClient(overrides: Partial<ConstructorParameters<typeof PayPalClient>[0]> = {}, s: PayPalSimulator = sim): PayPalClient {
  return new PayPalClient({ apiBase: s.url, clientId: s.clientId, clientSecret: s.clientSecret, timeoutMs: 3000, ...overrides });
}

async function providerError(p: Promise<unknown>, kind: ProviderErrorKind, code?: string): Promise<ProviderError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ProviderError);
  const e = caught as ProviderError;
  expect({ kind: e.kind, code: code === undefined ? undefined : e.code }).toEqual({ kind, code });
  return e;
}

async function order(c: PayPalClient = client, amount: Money = EUR(1050), invoiceId = `inv-${++seq}`): Promise<PayPalOrder> {
  return c.createOrder({ requestId: rid('create'), tenantId: 'tenant-a', invoiceId, amount, returnUrl: 'https://settle.example/paypal/return', cancelUrl: 'https://settle.example/paypal/cancel' });
}

async function approvedOrder(c: PayPalClient = client, amount: Money = EUR(1050), invoiceId?: string): Promise<PayPalOrder> {
  const o = await order(c, amount, invoiceId);
  sim.approveOrder(o.id);
  return o;
}

async function captured(amount: Money = EUR(1050)): Promise<Extract<CaptureResult, { outcome: 'completed' }>> {
  const o = await approvedOrder(client, amount);
  const r = await client.captureOrder({ orderId: o.id, requestId: rid('capture') });
  if (r.outcome !== 'completed') throw new Error(`expected a completed capture, got ${r.outcome}`);
  return r;
}

beforeAll(async () => {
  sim = await startPayPalSimulator();
  client = newClient();
});
afterAll(async () => {
  await sim.close();
});

describe('OAuth token', () => {
  it('is fetched once and reused for every call until it expires', async () => {
    const c = newClient();
    const before = sim.tokensIssued;
    const o = await order(c);
    await c.getOrder(o.id);
    await c.getOrder(o.id);
    expect(sim.tokensIssued - before).toBe(1);
    const tokenCalls = sim.requests({ method: 'POST', path: '/v1/oauth2/token' });
    expect(tokenCalls.at(-1)?.body).toBe('grant_type=client_credentials');
    expect(tokenCalls.at(-1)?.headers.authorization).toBe(`Basic ${Buffer.from(`${sim.clientId}:${sim.clientSecret}`).toString('base64')}`);
  });

  it('is fetched once for concurrent first calls', async () => {
    const o = await order();
    const c = newClient();
    const before = sim.tokensIssued;
    await Promise.all(Array.from({ length: 6 }, () => c.getOrder(o.id)));
    expect(sim.tokensIssued - before).toBe(1);
  });

  it('is cached per client, not process-wide per client id as the SDK does', async () => {
    const o = await order();
    const before = sim.tokensIssued;
    await newClient().getOrder(o.id);
    await newClient().getOrder(o.id);
    expect(sim.tokensIssued - before).toBe(2);
  });

  it('is fetched again once it expires (expires_in honoured)', async () => {
    const short = await startPayPalSimulator({ tokenTtlSeconds: 1 });
    try {
      const c = newClient({}, short);
      const o = await c.createOrder({ requestId: rid('create'), tenantId: 't', invoiceId: 'i', amount: EUR(100), returnUrl: 'https://x.example/r', cancelUrl: 'https://x.example/c' });
      await c.getOrder(o.id);
      expect(short.tokensIssued).toBe(1);
      await new Promise((r) => setTimeout(r, 700)); // the SDK treats a token as expired 500 ms early
      await c.getOrder(o.id);
      expect(short.tokensIssued).toBe(2);
    } finally {
      await short.close();
    }
  });

  it('is refreshed when PayPal rejects it (401 invalid_token) and the call still succeeds', async () => {
    const c = newClient();
    const o = await order(c);
    const before = sim.tokensIssued;
    sim.expireTokens();
    expect((await c.getOrder(o.id)).id).toBe(o.id);
    expect(sim.tokensIssued - before).toBe(1);
    client = newClient(); // the shared client's token is gone too
  });

  it('wrong credentials are an auth failure', async () => {
    const e = await providerError(newClient({ clientSecret: 'wrong' }).getOrder('5O190127TN364715T'), 'auth', 'invalid_client');
    expect(e.message).toMatch(/401/);
  });
});

describe('orders: create, get, approve, capture', () => {
  it('creates an order with the amount as a decimal string, invoice references and a request id', async () => {
    const requestId = rid('create');
    const o = await client.createOrder({ requestId, tenantId: 'tenant-a', invoiceId: 'inv-42', amount: EUR(1050), returnUrl: 'https://settle.example/r', cancelUrl: 'https://settle.example/c', description: 'Session' });
    expect(o).toMatchObject({ status: 'PAYER_ACTION_REQUIRED', intent: 'CAPTURE', amount: EUR(1050), referenceId: 'inv-42', customId: 'tenant-a|inv-42', invoiceId: 'tenant-a|inv-42', captures: [] });
    expect(o.approveUrl).toBe(`${sim.url}/checkoutnow?token=${o.id}`);
    const sent = sim.requests({ method: 'POST', path: '/v2/checkout/orders' }).at(-1)!;
    expect(sent.headers['paypal-request-id']).toBe(providerIdempotencyKey(requestId));
    expect(sent.headers.prefer).toBe('return=representation');
    expect(JSON.parse(sent.body).purchase_units[0]).toEqual({ reference_id: 'inv-42', custom_id: 'tenant-a|inv-42', invoice_id: 'tenant-a|inv-42', amount: { currency_code: 'EUR', value: '10.50' }, description: 'Session' });
    expect((await client.getOrder(o.id)).status).toBe('PAYER_ACTION_REQUIRED');
  });

  it('sends JPY without decimals and HUF as whole forints', async () => {
    const jpy = await order(client, { amount: 500, currency: 'JPY' });
    expect(jpy.amount).toEqual({ amount: 500, currency: 'JPY' });
    expect(JSON.parse(sim.requests({ path: '/v2/checkout/orders' }).at(-1)!.body).purchase_units[0].amount).toEqual({ currency_code: 'JPY', value: '500' });
    const huf = await order(client, { amount: 150000, currency: 'HUF' });
    expect(huf.amount).toEqual({ amount: 150000, currency: 'HUF' });
    expect(JSON.parse(sim.requests({ path: '/v2/checkout/orders' }).at(-1)!.body).purchase_units[0].amount.value).toBe('1500');
  });

  it('refuses amounts PayPal cannot take before calling it', async () => {
    const before = sim.requests({ path: '/v2/checkout/orders' }).length;
    await providerError(order(client, { amount: 150050, currency: 'HUF' }), 'invalid', 'INVALID_AMOUNT');
    await providerError(order(client, EUR(0)), 'invalid', 'INVALID_AMOUNT');
    await providerError(order(client, EUR(10.5)), 'invalid', 'INVALID_AMOUNT');
    await providerError(client.createOrder({ requestId: '', tenantId: 't', invoiceId: 'i', amount: EUR(1), returnUrl: 'https://x.example', cancelUrl: 'https://x.example' }), 'invalid', 'INVALID_REQUEST_ID');
    expect(sim.requests({ path: '/v2/checkout/orders' }).length).toBe(before);
  });

  it('a currency PayPal does not support (KWD) is refused by PayPal: invalid', async () => {
    await providerError(order(client, { amount: 1500, currency: 'KWD' }), 'invalid', 'CURRENCY_NOT_SUPPORTED');
  });

  it('the same PayPal-Request-Id creates one order', async () => {
    const req = { requestId: rid('create'), tenantId: 'tenant-a', invoiceId: 'inv-idem', amount: EUR(2000), returnUrl: 'https://settle.example/r', cancelUrl: 'https://settle.example/c' };
    const a = await client.createOrder(req);
    const b = await client.createOrder(req);
    expect(b.id).toBe(a.id);
  });

  it('the buyer approves through the payer-action link and is sent back with token and PayerID', async () => {
    const o = await order();
    const res = await fetch(o.approveUrl!, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const back = new URL(res.headers.get('location')!);
    expect(`${back.origin}${back.pathname}`).toBe('https://settle.example/paypal/return');
    expect(back.searchParams.get('token')).toBe(o.id);
    expect(back.searchParams.get('PayerID')).toMatch(/^[0-9A-Z]{13}$/);
    const approved = await client.getOrder(o.id);
    expect(approved.status).toBe('APPROVED');
    expect(approved.approveUrl).toBeNull();
  });

  it('captures an approved order', async () => {
    const o = await approvedOrder();
    const r = await client.captureOrder({ orderId: o.id, requestId: rid('capture') });
    expect(r.outcome).toBe('completed');
    expect(r.alreadyCaptured).toBe(false);
    expect(r.order.status).toBe('COMPLETED');
    expect(r.capture).toMatchObject({ status: 'COMPLETED', amount: EUR(1050), orderId: o.id, customId: o.customId, invoiceId: o.invoiceId, processorResponseCode: null });
    expect((await client.getOrder(o.id)).captures.map((c) => c.id)).toEqual([r.capture.id]);
    expect(await client.getCapture(r.capture.id)).toMatchObject({ id: r.capture.id, status: 'COMPLETED', amount: EUR(1050), orderId: o.id, customId: `tenant-a|${String(o.referenceId)}` });
  });

  it('capturing before the buyer approved needs the buyer: needs_action', async () => {
    const o = await order();
    await providerError(client.captureOrder({ orderId: o.id, requestId: rid('capture') }), 'needs_action', 'ORDER_NOT_APPROVED');
  });

  it('an unknown order is invalid (404 INVALID_RESOURCE_ID)', async () => {
    await providerError(client.getOrder('0000000000000000X'), 'invalid', 'INVALID_RESOURCE_ID');
    await providerError(client.captureOrder({ orderId: '0000000000000000X', requestId: rid('capture') }), 'invalid', 'INVALID_RESOURCE_ID');
  });
});

describe('capture idempotency: a retried callback never captures twice', () => {
  it('the same PayPal-Request-Id returns the same capture', async () => {
    const o = await approvedOrder();
    const requestId = rid('capture');
    const before = sim.captureCount;
    const first = await client.captureOrder({ orderId: o.id, requestId });
    const again = await client.captureOrder({ orderId: o.id, requestId });
    expect(again.capture.id).toBe(first.capture.id);
    expect(again).toMatchObject({ outcome: 'completed', alreadyCaptured: false });
    expect(sim.captureCount - before).toBe(1);
  });

  it('a capture whose answer was lost (timeout) is retried with the same id and captured once', async () => {
    const o = await approvedOrder();
    const requestId = rid('capture');
    const impatient = newClient({ timeoutMs: 300 });
    await impatient.getOrder(o.id); // token first, so the failure hits the capture
    const before = sim.captureCount;
    sim.failNext(1, { hang: true, when: 'after' }, (r) => r.path.endsWith('/capture'));
    await providerError(impatient.captureOrder({ orderId: o.id, requestId }), 'retryable', 'TIMEOUT');
    expect(sim.captureCount - before).toBe(1); // PayPal did capture
    const retried = await impatient.captureOrder({ orderId: o.id, requestId });
    expect(retried).toMatchObject({ outcome: 'completed', alreadyCaptured: false }); // replayed by request id
    expect(sim.captureCount - before).toBe(1);
    expect(retried.capture.id).toBe((await client.getOrder(o.id)).captures[0]!.id);
  });

  it('a capture answered 503 after it happened is retried with the same id and captured once', async () => {
    const o = await approvedOrder();
    const requestId = rid('capture');
    const before = sim.captureCount;
    sim.failNext(1, { status: 503, when: 'after' }, (r) => r.path.endsWith('/capture'));
    await providerError(client.captureOrder({ orderId: o.id, requestId }), 'retryable', 'SERVICE_UNAVAILABLE');
    const retried = await client.captureOrder({ orderId: o.id, requestId });
    expect(retried).toMatchObject({ outcome: 'completed', alreadyCaptured: false });
    expect(sim.captureCount - before).toBe(1);
  });

  it('the buyer return and the webhook racing with different request ids see one capture', async () => {
    const o = await approvedOrder();
    const before = sim.captureCount;
    const fromReturn = await client.captureOrder({ orderId: o.id, requestId: rid('return') });
    const fromWebhook = await client.captureOrder({ orderId: o.id, requestId: rid('webhook') });
    expect(fromWebhook).toMatchObject({ outcome: 'completed', alreadyCaptured: true });
    expect(fromWebhook.capture.id).toBe(fromReturn.capture.id);
    expect(sim.captureCount - before).toBe(1);
  });

  it('many concurrent retries of one callback capture once', async () => {
    const o = await approvedOrder();
    const requestId = rid('capture');
    const before = sim.captureCount;
    const results = await Promise.all(Array.from({ length: 10 }, () => client.captureOrder({ orderId: o.id, requestId })));
    expect(new Set(results.map((r) => r.capture.id)).size).toBe(1);
    expect(results.every((r) => !r.alreadyCaptured)).toBe(true);
    expect(sim.captureCount - before).toBe(1);
  });
});

describe('declines', () => {
  it('a DECLINED capture inside a COMPLETED order is a declined result with the processor code', async () => {
    const o = await approvedOrder();
    sim.declineNextCapture();
    const r = await client.captureOrder({ orderId: o.id, requestId: rid('capture') });
    expect(r.outcome).toBe('declined');
    if (r.outcome !== 'declined') return;
    expect(r.order.status).toBe('COMPLETED');
    expect(r.capture.status).toBe('DECLINED');
    expect(r.declineCode).toBe('5120');
    expect(r.capture.processorResponseCode).toBe('5120');
    const e = declinedCaptureError(r);
    expect(e).toMatchObject({ kind: 'declined', code: 'CAPTURE_DECLINED', declineCode: '5120' });
    // the order stays completed-with-a-declined-capture: a second attempt reads the same decline
    const again = await client.captureOrder({ orderId: o.id, requestId: rid('capture') });
    expect(again).toMatchObject({ outcome: 'declined', alreadyCaptured: true });
    expect(again.capture.id).toBe(r.capture.id);
  });

  it('422 INSTRUMENT_DECLINED is declined; the order can be captured after the buyer fixes it', async () => {
    const o = await approvedOrder();
    sim.declineNextCapture({ instrumentDeclined: true });
    const e = await providerError(client.captureOrder({ orderId: o.id, requestId: rid('capture') }), 'declined', 'INSTRUMENT_DECLINED');
    expect(e.declineCode).toBe('INSTRUMENT_DECLINED');
    expect((await client.captureOrder({ orderId: o.id, requestId: rid('capture') })).outcome).toBe('completed');
  });

  it('a PENDING capture is pending with its reason', async () => {
    const o = await approvedOrder();
    sim.pendNextCapture('PENDING_REVIEW');
    const r = await client.captureOrder({ orderId: o.id, requestId: rid('capture') });
    expect(r).toMatchObject({ outcome: 'pending', reason: 'PENDING_REVIEW' });
  });

  it('a second order for an invoice already paid is refused at capture (DUPLICATE_INVOICE_ID)', async () => {
    const first = await approvedOrder(client, EUR(1050), 'inv-twice');
    const second = await approvedOrder(client, EUR(1050), 'inv-twice'); // another tab
    expect((await client.captureOrder({ orderId: first.id, requestId: rid('capture') })).outcome).toBe('completed');
    await providerError(client.captureOrder({ orderId: second.id, requestId: rid('capture') }), 'invalid', 'DUPLICATE_INVOICE_ID');
  });
});

describe("reading PayPal's record back (PayPalPaymentsReader: what webhooks record)", () => {
  it('order, capture and refund as PayPal has them; null for an id PayPal does not have; PayPal down throws retryable', async () => {
    const { order: o, capture } = await captured(EUR(1050));
    const refund = await client.refundCapture({ captureId: capture.id, requestId: rid('refund'), amount: EUR(300), noteToPayer: 'partly' });
    expect(await client.lookupOrder(o.id)).toMatchObject({ id: o.id, status: 'COMPLETED', customId: o.customId, captures: [expect.objectContaining({ id: capture.id })] });
    expect(await client.lookupCapture(capture.id)).toMatchObject({ id: capture.id, status: 'PARTIALLY_REFUNDED', amount: EUR(1050), orderId: o.id, customId: o.customId, updateTime: expect.any(String) });
    expect(await client.lookupRefund(refund.id)).toMatchObject({ id: refund.id, status: 'COMPLETED', amount: EUR(300), captureId: capture.id, customId: o.customId, noteToPayer: 'partly' });
    expect(sim.requests({ method: 'GET', path: `/v2/payments/refunds/${refund.id}` })).toHaveLength(1);
    for (const unknown of ['0000000000000000X', 'not/an id']) {
      expect(await client.lookupOrder(unknown)).toBeNull();
      expect(await client.lookupCapture(unknown)).toBeNull();
      expect(await client.lookupRefund(unknown)).toBeNull();
    }
    sim.failNext(1, { status: 503 }, (r) => r.method === 'GET');
    await providerError(client.lookupCapture(capture.id), 'retryable');
  });
});

describe('refunds', () => {
  it('partial, then the rest (no amount = full remaining), then nothing is left', async () => {
    const { capture } = await captured(EUR(1050));
    const partial = await client.refundCapture({ captureId: capture.id, requestId: rid('refund'), amount: EUR(300), noteToPayer: 'sorry' });
    expect(partial).toMatchObject({ status: 'COMPLETED', amount: EUR(300), captureId: capture.id });
    expect((await client.getCapture(capture.id)).status).toBe('PARTIALLY_REFUNDED');
    expect(JSON.parse(sim.requests({ path: `/v2/payments/captures/${capture.id}/refund` }).at(-1)!.body)).toEqual({ amount: { currency_code: 'EUR', value: '3.00' }, note_to_payer: 'sorry' });
    const rest = await client.refundCapture({ captureId: capture.id, requestId: rid('refund') });
    expect(rest.amount).toEqual(EUR(750));
    expect(JSON.parse(sim.requests({ path: `/v2/payments/captures/${capture.id}/refund` }).at(-1)!.body)).toEqual({});
    expect((await client.getCapture(capture.id)).status).toBe('REFUNDED');
    await providerError(client.refundCapture({ captureId: capture.id, requestId: rid('refund'), amount: EUR(1) }), 'invalid', 'CAPTURE_FULLY_REFUNDED');
  });

  it('never more than what remains: over-refund refused, nothing refunded', async () => {
    const { capture } = await captured(EUR(1050));
    await providerError(client.refundCapture({ captureId: capture.id, requestId: rid('refund'), amount: EUR(1051) }), 'invalid', 'REFUND_AMOUNT_EXCEEDED');
    expect((await client.getCapture(capture.id)).status).toBe('COMPLETED');
    await client.refundCapture({ captureId: capture.id, requestId: rid('refund'), amount: EUR(1000) });
    await providerError(client.refundCapture({ captureId: capture.id, requestId: rid('refund'), amount: EUR(51) }), 'invalid', 'REFUND_AMOUNT_EXCEEDED');
    expect((await client.refundCapture({ captureId: capture.id, requestId: rid('refund'), amount: EUR(50) })).amount).toEqual(EUR(50));
  });

  it('the same PayPal-Request-Id refunds once', async () => {
    const { capture } = await captured(EUR(1050));
    const requestId = rid('refund');
    const a = await client.refundCapture({ captureId: capture.id, requestId, amount: EUR(400) });
    const b = await client.refundCapture({ captureId: capture.id, requestId, amount: EUR(400) });
    expect(b.id).toBe(a.id);
    expect(sim.capture(capture.id)).toMatchObject({ status: 'PARTIALLY_REFUNDED' });
    const third = await client.refundCapture({ captureId: capture.id, requestId: rid('refund') });
    expect(third.amount).toEqual(EUR(650));
  });

  it('JPY refunds go out without decimals', async () => {
    const { capture } = await captured({ amount: 500, currency: 'JPY' });
    const r = await client.refundCapture({ captureId: capture.id, requestId: rid('refund'), amount: { amount: 200, currency: 'JPY' } });
    expect(r.amount).toEqual({ amount: 200, currency: 'JPY' });
    expect(JSON.parse(sim.requests({ path: `/v2/payments/captures/${capture.id}/refund` }).at(-1)!.body).amount).toEqual({ currency_code: 'JPY', value: '200' });
  });

  it('another currency than the capture, or a declined capture, cannot be refunded', async () => {
    const { capture } = await captured(EUR(1050));
    await providerError(client.refundCapture({ captureId: capture.id, requestId: rid('refund'), amount: { amount: 100, currency: 'USD' } }), 'invalid', 'REFUND_CAPTURE_CURRENCY_MISMATCH');
    const o = await approvedOrder();
    sim.declineNextCapture();
    const declined = await client.captureOrder({ orderId: o.id, requestId: rid('capture') });
    await providerError(client.refundCapture({ captureId: declined.capture.id, requestId: rid('refund') }), 'invalid', 'REFUND_NOT_ALLOWED');
  });

  it('serves BillingProvider.refund for PayPal payments (charge id = capture id)', async () => {
    const { order: o, capture } = await captured(EUR(1050));
    const r = await client.refund({ idempotencyKey: rid('refund'), provider: 'paypal', providerPaymentId: o.id, providerChargeId: capture.id, amount: EUR(250), accountId: null });
    expect(sim.refund(r.providerRefundId)).toMatchObject({ amount: { currency_code: 'EUR', value: '2.50' }, custom_id: o.customId });
  });
});

describe('error mapping', () => {
  it('500, 503 and 429 are retryable', async () => {
    const o = await order();
    for (const status of [500, 503, 429]) {
      sim.failNext(1, { status }, (r) => r.path.startsWith('/v2/'));
      const e = await providerError(client.getOrder(o.id), 'retryable');
      expect(e.message).toContain(String(status));
    }
    expect((await client.getOrder(o.id)).id).toBe(o.id);
  });

  it('a request PayPal never answers times out: retryable', async () => {
    const o = await order();
    const impatient = newClient({ timeoutMs: 250 });
    await impatient.getOrder(o.id);
    sim.failNext(1, { hang: true }, (r) => r.path.startsWith('/v2/'));
    await providerError(impatient.getOrder(o.id), 'retryable', 'TIMEOUT');
  });

  it('a refused connection is retryable', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const offline = new PayPalClient({ apiBase: `http://127.0.0.1:${port}`, clientId: 'x', clientSecret: 'y', timeoutMs: 1000 });
    await providerError(offline.getOrder('5O190127TN364715T'), 'retryable', 'ECONNREFUSED');
  });

  it('a request PayPal rejects as malformed is invalid (400 INVALID_PARAMETER_SYNTAX)', async () => {
    const e = await providerError(
      client.createOrder({ requestId: rid('create'), tenantId: 't', invoiceId: 'i', amount: EUR(100), returnUrl: 'not a url', cancelUrl: 'https://x.example/c' }),
      'invalid',
      'INVALID_PARAMETER_SYNTAX',
    );
    expect(e.message).toMatch(/400 INVALID_REQUEST/);
    expect(e.message).toMatch(/debug_id [0-9a-f]+/);
  });

  it('an API base with a path is refused (the SDK would silently drop it)', () => {
    expect(() => new PayPalClient({ apiBase: `${sim.url}/paypal`, clientId: 'x', clientSecret: 'y' })).toThrow(/no path/);
  });

  it('every write carried a PayPal-Request-Id', () => {
    const writes = sim.requests({ method: 'POST' }).filter((r) => r.path.startsWith('/v2/'));
    expect(writes.length).toBeGreaterThan(20);
    for (const w of writes) expect(w.headers['paypal-request-id']).toEqual(expect.stringMatching(/.+/));
  });
});
