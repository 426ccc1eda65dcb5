/**
 * The PayPal simulator's wire protocol, checked with plain fetch: the shapes PayPal documents
 * and the shared samples show, so the adapter tests rest on a faithful fake.
 */
import fs from 'node:fs';
import path from 'node:path';
import { startPayPalSimulator, type PayPalSimulator } from '.';

/* eslint-disable @typescript-eslint/no-explicit-any -- provider payloads, simulator state and API bodies here are untyped JSON, read by shape */
let sim: PayPalSimulator;
let token: string;

async function call(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${sim.url}${p}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Prefer: 'return=representation', ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

const basic = () => `Basic ${Buffer.from(`${sim.clientId}:${sim.clientSecret}`).toString('base64')}`;
const unit = (value: string, currency = 'EUR', more: object = {}) => ({ intent: 'CAPTURE', purchase_units: [{ amount: { currency_code: currency, value }, ...more }] });

beforeAll(async () => {
  sim = await startPayPalSimulator();
  const res = await fetch(`${sim.url}/v1/oauth2/token`, { method: 'POST', headers: { Authorization: basic(), 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
  token = ((await res.json()) as { access_token: string }).access_token;
});
afterAll(() => sim.close());

describe('OAuth', () => {
  it('issues client-credentials tokens in PayPal’s shape', async () => {
    const before = sim.tokensIssued;
    const res = await fetch(`${sim.url}/v1/oauth2/token`, { method: 'POST', headers: { Authorization: basic(), 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(200);
    expect(body).toEqual({ scope: expect.any(String), access_token: expect.stringMatching(/^A21AA/), token_type: 'Bearer', app_id: expect.stringMatching(/^APP-/), expires_in: 32400, nonce: expect.any(String) });
    expect(sim.tokensIssued).toBe(before + 1);
  });

  it('refuses bad client credentials and a missing grant type', async () => {
    const bad = await fetch(`${sim.url}/v1/oauth2/token`, { method: 'POST', headers: { Authorization: 'Basic eDp5', 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    expect([bad.status, await bad.json()]).toEqual([401, { error: 'invalid_client', error_description: 'Client Authentication failed' }]);
    const noGrant = await fetch(`${sim.url}/v1/oauth2/token`, { method: 'POST', headers: { Authorization: basic(), 'Content-Type': 'application/x-www-form-urlencoded' }, body: '' });
    expect([noGrant.status, ((await noGrant.json()) as { error: string }).error]).toEqual([400, 'unsupported_grant_type']);
  });

  it('no bearer: 401 AUTHENTICATION_FAILURE; unknown or revoked bearer: 401 invalid_token', async () => {
    const none = await fetch(`${sim.url}/v2/checkout/orders/X`);
    const body = (await none.json()) as Record<string, unknown>;
    expect(none.status).toBe(401);
    expect(body).toMatchObject({ name: 'AUTHENTICATION_FAILURE', message: expect.any(String), debug_id: expect.stringMatching(/^[0-9a-f]{13}$/) });
    expect(none.headers.get('paypal-debug-id')).toBe(body.debug_id);
    const unknown = await call('GET', '/v2/checkout/orders/X', undefined, { Authorization: 'Bearer nope' });
    expect([unknown.status, unknown.body.error]).toEqual([401, 'invalid_token']);
  });
});

describe('create order validation', () => {
  it.each([
    [{ purchase_units: [{ amount: { currency_code: 'EUR', value: '1.00' } }] }, 400, 'MISSING_REQUIRED_PARAMETER', '/intent'],
    [{ intent: 'SALE', purchase_units: [{ amount: { currency_code: 'EUR', value: '1.00' } }] }, 400, 'INVALID_PARAMETER_VALUE', '/intent'],
    [{ intent: 'CAPTURE' }, 400, 'MISSING_REQUIRED_PARAMETER', '/purchase_units'],
    [unit('abc'), 400, 'INVALID_PARAMETER_SYNTAX', '/purchase_units/0/amount/value'],
    [{ intent: 'CAPTURE', purchase_units: [{ amount: { currency_code: 'EUR', value: 10.5 } }] }, 400, 'INVALID_PARAMETER_SYNTAX', '/purchase_units/0/amount/value'],
    [unit('10.5', 'JPY'), 422, 'DECIMALS_NOT_SUPPORTED', '/purchase_units/0/amount/value'],
    [unit('1500.50', 'HUF'), 422, 'DECIMALS_NOT_SUPPORTED', '/purchase_units/0/amount/value'],
    [unit('10.555'), 422, 'DECIMAL_PRECISION', '/purchase_units/0/amount/value'],
    [unit('1.500', 'KWD'), 422, 'CURRENCY_NOT_SUPPORTED', '/purchase_units/0/amount/currency_code'],
    [unit('0.00'), 422, 'CANNOT_BE_ZERO_OR_NEGATIVE', '/purchase_units/0/amount/value'],
    [unit('-1.00'), 422, 'CANNOT_BE_ZERO_OR_NEGATIVE', '/purchase_units/0/amount/value'],
    [unit('1.00', 'EUR', { custom_id: 'x'.repeat(128) }), 400, 'INVALID_STRING_LENGTH', '/purchase_units/0/custom_id'],
  ])('%j -> %d %s', async (body, status, issue, field) => {
    const r = await call('POST', '/v2/checkout/orders', body);
    expect(r.status).toBe(status);
    expect(r.body).toMatchObject({ name: status === 400 ? 'INVALID_REQUEST' : 'UNPROCESSABLE_ENTITY', message: expect.any(String), debug_id: expect.any(String) });
    expect(r.body.details).toContainEqual(expect.objectContaining({ field, issue, description: expect.any(String) }));
  });

  it('malformed JSON and a non-JSON body', async () => {
    const r = await call('POST', '/v2/checkout/orders', '{"intent":');
    expect([r.status, r.body.details[0].issue]).toEqual([400, 'MALFORMED_REQUEST_JSON']);
    const t = await call('POST', '/v2/checkout/orders', 'intent=CAPTURE', { 'Content-Type': 'text/plain' });
    expect([t.status, t.body.name]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
  });

  it('minimal answers by default, full ones with Prefer: return=representation', async () => {
    const min = await call('POST', '/v2/checkout/orders', unit('25.04', 'USD'), { Prefer: 'return=minimal' });
    expect(min.status).toBe(201);
    expect(Object.keys(min.body).sort()).toEqual(['id', 'links', 'status']);
    expect(min.body.status).toBe('CREATED');
    expect(min.body.links.map((l: any) => l.rel)).toEqual(['self', 'approve', 'update', 'capture']);
    const full = await call('GET', `/v2/checkout/orders/${min.body.id}`);
    expect(full.body).toMatchObject({ id: min.body.id, intent: 'CAPTURE', status: 'CREATED', purchase_units: [{ reference_id: 'default', amount: { currency_code: 'USD', value: '25.04' } }] });
  });

  it('payment_source.paypal orders wait for the payer (PAYER_ACTION_REQUIRED, payer-action link)', async () => {
    const r = await call('POST', '/v2/checkout/orders', { ...unit('5.00'), payment_source: { paypal: { experience_context: { return_url: 'https://x.example/r', cancel_url: 'https://x.example/c' } } } });
    expect(r.body.status).toBe('PAYER_ACTION_REQUIRED');
    expect(r.body.links.find((l: any) => l.rel === 'payer-action').href).toBe(`${sim.url}/checkoutnow?token=${r.body.id}`);
  });

  it('PayPal-Request-Id: 108 characters are taken, 109 refused (Orders v2: 1 <= length <= 108), on create and capture', async () => {
    const ok = await call('POST', '/v2/checkout/orders', unit('1.00'), { 'PayPal-Request-Id': 'r'.repeat(108) });
    expect(ok.status).toBe(201);
    const long = await call('POST', '/v2/checkout/orders', unit('1.00'), { 'PayPal-Request-Id': 'r'.repeat(109) });
    expect(long.status).toBe(400);
    expect(long.body).toMatchObject({ name: 'INVALID_REQUEST', details: [{ field: 'PayPal-Request-Id', location: 'header', issue: 'INVALID_STRING_LENGTH' }] });
    sim.approveOrder(ok.body.id);
    const cap = await call('POST', `/v2/checkout/orders/${ok.body.id}/capture`, {}, { 'PayPal-Request-Id': 'c'.repeat(109) });
    expect([cap.status, cap.body.details?.[0]?.issue]).toEqual([400, 'INVALID_STRING_LENGTH']);
  });

  it('GET order, capture and refund: PayPal\'s records, 404 INVALID_RESOURCE_ID for an unknown id', async () => {
    const o = await call('POST', '/v2/checkout/orders', unit('30.00', 'EUR', { custom_id: 't|inv-r' }));
    sim.approveOrder(o.body.id);
    const done = await call('POST', `/v2/checkout/orders/${o.body.id}/capture`, {});
    const captureId = done.body.purchase_units[0].payments.captures[0].id as string;
    const rf = await call('POST', `/v2/payments/captures/${captureId}/refund`, { amount: { currency_code: 'EUR', value: '10.00' } });
    expect((await call('GET', `/v2/checkout/orders/${o.body.id}`)).body).toMatchObject({ id: o.body.id, status: 'COMPLETED', purchase_units: [{ custom_id: 't|inv-r' }] });
    expect((await call('GET', `/v2/payments/captures/${captureId}`)).body).toMatchObject({ id: captureId, status: 'PARTIALLY_REFUNDED', custom_id: 't|inv-r', amount: { value: '30.00' } });
    expect((await call('GET', `/v2/payments/refunds/${rf.body.id}`)).body).toMatchObject({ id: rf.body.id, status: 'COMPLETED', amount: { value: '10.00', currency_code: 'EUR' }, links: expect.arrayContaining([expect.objectContaining({ rel: 'up', href: expect.stringContaining(`/v2/payments/captures/${captureId}`) })]) });
    for (const p of ['/v2/checkout/orders/NOPE', '/v2/payments/captures/NOPE', '/v2/payments/refunds/NOPE']) {
      const r = await call('GET', p);
      expect([r.status, r.body.details?.[0]?.issue]).toEqual([404, 'INVALID_RESOURCE_ID']);
    }
  });

  it('the same PayPal-Request-Id answers the same order', async () => {
    const a = await call('POST', '/v2/checkout/orders', unit('1.00'), { 'PayPal-Request-Id': 'same-create' });
    const b = await call('POST', '/v2/checkout/orders', unit('2.00'), { 'PayPal-Request-Id': 'same-create' });
    expect(b.body.id).toBe(a.body.id);
    expect(b.body.purchase_units[0].amount.value).toBe('1.00');
  });
});

describe('capture', () => {
  async function created(value = '25.04'): Promise<string> {
    return (await call('POST', '/v2/checkout/orders', unit(value, 'USD', { custom_id: 't|i' }))).body.id as string;
  }

  it('not approved: 422 ORDER_NOT_APPROVED; twice: 422 ORDER_ALREADY_CAPTURED; unknown: 404', async () => {
    const id = await created();
    const early = await call('POST', `/v2/checkout/orders/${id}/capture`, {});
    expect(early.status).toBe(422);
    expect(early.body).toMatchObject({ name: 'UNPROCESSABLE_ENTITY', details: [{ issue: 'ORDER_NOT_APPROVED' }] });
    await call('POST', `/__sim/orders/${id}/approve`);
    expect((await call('POST', `/v2/checkout/orders/${id}/capture`, {})).status).toBe(201);
    const twice = await call('POST', `/v2/checkout/orders/${id}/capture`, {});
    expect([twice.status, twice.body.details[0].issue]).toEqual([422, 'ORDER_ALREADY_CAPTURED']);
    const missing = await call('POST', '/v2/checkout/orders/NOPE/capture', {});
    expect([missing.status, missing.body.name, missing.body.details[0].issue]).toEqual([404, 'RESOURCE_NOT_FOUND', 'INVALID_RESOURCE_ID']);
  });

  it('a declined capture has the shape of PayPal’s sandbox insufficient-funds answer', async () => {
    const sample = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../fixtures/paypal/orders/capture_order.card_declined_insufficient_funds.sandbox.response.json'), 'utf8'));
    const id = await created();
    sim.approveOrder(id);
    sim.declineNextCapture();
    const r = await call('POST', `/v2/checkout/orders/${id}/capture`, {}, { 'PayPal-Request-Id': 'decl-1' });
    expect(r.status).toBe(201);
    const ours = r.body.purchase_units[0].payments.captures[0];
    const theirs = sample.purchase_units[0].payments.captures[0];
    expect(r.body.status).toBe(sample.status);
    expect(ours.status).toBe(theirs.status);
    expect(ours.processor_response).toEqual(theirs.processor_response);
    expect(Object.keys(theirs).filter((k) => !(k in ours))).toEqual(['network_transaction_reference']);
    expect(ours.links.map((l: any) => l.rel)).toEqual(['self', 'up']);
  });

  it('a completed capture has the fields of the README sample, and GET capture names its order', async () => {
    const sample = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../fixtures/paypal/orders/capture_order.response.json'), 'utf8'));
    const id = await created('100.00');
    sim.approveOrder(id);
    const r = await call('POST', `/v2/checkout/orders/${id}/capture`, {}, { Prefer: 'return=minimal' });
    const theirs = sample.purchase_units[0].payments.captures[0];
    const ours = r.body.purchase_units[0].payments.captures[0];
    expect(Object.keys(theirs).filter((k) => !(k in ours))).toEqual([]);
    expect(ours.links.map((l: any) => l.rel)).toEqual(theirs.links.map((l: any) => l.rel));
    const got = await call('GET', `/v2/payments/captures/${ours.id}`);
    expect(got.body).toMatchObject({ id: ours.id, custom_id: 't|i', supplementary_data: { related_ids: { order_id: id } } });
  });

  it('injected failures: 503 before, hang released by close()', async () => {
    sim.failNext(1, { status: 503 });
    const r = await call('GET', '/v2/checkout/orders/ANY');
    expect([r.status, r.body.name]).toEqual([503, 'SERVICE_UNAVAILABLE']);
    const other = await startPayPalSimulator();
    other.failNext(1, { hang: true });
    const pending = fetch(`${other.url}/v2/checkout/orders/X`).then(
      () => 'answered',
      () => 'dropped',
    );
    await new Promise((res) => setTimeout(res, 50));
    await other.close();
    expect(await pending).toBe('dropped');
  });

  it('records requests with their headers', async () => {
    sim.clearRequests();
    await call('GET', '/v2/checkout/orders/ANY', undefined, { 'X-Probe': 'yes' });
    expect(sim.requests()).toEqual([expect.objectContaining({ method: 'GET', path: '/v2/checkout/orders/ANY', headers: expect.objectContaining({ 'x-probe': 'yes', authorization: `Bearer ${token}` }) })]);
  });
});
