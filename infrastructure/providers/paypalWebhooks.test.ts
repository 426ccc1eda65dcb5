/**
 * PayPal webhook self-verification: PayPal's published Java SDK vector (expired cert, pinned
 * clock), events signed and delivered by the PayPal simulator, and the refusals.
 */
import express from 'express';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { generateSigningIdentity, startPayPalSimulator, type PayPalSimulator } from '../../test/simulators/paypal';
import { forgeJsonWithCrc } from '../../test/support/crc32Forge';
import { crc32, PAYPAL_HEADERS, PAYPAL_LIVE_CERT_HOSTS, PAYPAL_SANDBOX_CERT_HOSTS, PayPalWebhookVerifier, payPalMode, payPalSignedString, payPalTrustedCertHosts, type VerifyResult } from './paypalWebhooks';

const VECTORS = path.resolve(__dirname, '../../test/fixtures/paypal/signature_vectors');
const java = {
  dir: path.join(VECTORS, 'java-sdk-BILLING.PLAN.CREATED'),
  get body() {
    return fs.readFileSync(path.join(this.dir, 'body.json'));
  },
  /** The vector's headers; its CERT-URL (`/v1/notifications/test`, the SDK test's stub) moved to PayPal's cert path (not signed). */
  get headers(): Record<string, string> {
    const h = JSON.parse(fs.readFileSync(path.join(this.dir, 'headers.json'), 'utf8')) as Record<string, string>;
    return { ...h, 'PAYPAL-CERT-URL': JAVA_CERT_URL };
  },
  get originalHeaders() {
    return JSON.parse(fs.readFileSync(path.join(this.dir, 'headers.json'), 'utf8')) as Record<string, string>;
  },
  get webhookId() {
    return fs.readFileSync(path.join(this.dir, 'webhook_id.txt'), 'utf8').trim();
  },
  get certPem() {
    return fs.readFileSync(path.join(this.dir, 'cert.pem'), 'utf8');
  },
  get signedString() {
    return fs.readFileSync(path.join(this.dir, 'expected_signed_string.txt'), 'utf8').trim();
  },
};
const SIGNED_AT = new Date('2017-03-30T20:04:05Z');
const JAVA_CERT_URL = 'https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77';

function javaVerifier(over: { webhookId?: string; now?: () => Date; fetched?: string[]; toleranceSeconds?: number } = {}): PayPalWebhookVerifier {
  return new PayPalWebhookVerifier({
    webhookId: over.webhookId ?? java.webhookId,
    trustedCertHosts: PAYPAL_SANDBOX_CERT_HOSTS,
    ...(over.toleranceSeconds ? { transmissionToleranceSeconds: over.toleranceSeconds } : {}),
    fetchCert: async (url) => {
      over.fetched?.push(url);
      return java.certPem; // the vector's CERT-URL is the SDK test's stub: serve its cert for it
    },
    now: over.now ?? (() => SIGNED_AT),
  });
}

const refused = (r: VerifyResult) => (r.ok ? 'ok' : r.reason);

describe('signed string', () => {
  it('CRC32 is the unsigned zlib CRC of the raw bytes (vector: 3494065244)', () => {
    expect(crc32(java.body)).toBe(3494065244);
    for (let i = 0; i < 50; i++) {
      const b = Buffer.from(Array.from({ length: i * 13 }, (_, j) => (j * 31 + i) & 0xff));
      expect(crc32(b)).toBe(zlib.crc32(b) >>> 0);
    }
  });

  it('is transmission id | time | our webhook id | crc', () => {
    const h = java.headers;
    expect(payPalSignedString(h['PAYPAL-TRANSMISSION-ID']!, h['PAYPAL-TRANSMISSION-TIME']!, java.webhookId, java.body)).toBe(java.signedString);
  });
});

describe("PayPal's Java SDK vector", () => {
  it('verifies with the clock pinned inside the cert validity', async () => {
    const fetched: string[] = [];
    const v = javaVerifier({ fetched });
    expect(await v.verify(java.headers, java.body)).toEqual({ ok: true });
    expect(fetched).toEqual([JAVA_CERT_URL]);
    // lower-case header names (as Node delivers them) and a second verification from the cache
    const lower = Object.fromEntries(Object.entries(java.headers).map(([k, val]) => [k.toLowerCase(), val]));
    expect(await v.verify(lower, java.body)).toEqual({ ok: true });
    expect(fetched).toHaveLength(1);
  });

  it('the cert expired in 2019: refused on today’s clock', async () => {
    const r = await javaVerifier({ now: () => new Date(), toleranceSeconds: 50 * 365 * 86_400 }).verify(java.headers, java.body);
    expect(r).toMatchObject({ ok: false, reason: 'cert_expired' });
    // and with the default window, its 2017 transmission time is long outside it
    expect(await javaVerifier({ now: () => new Date() }).verify(java.headers, java.body)).toMatchObject({ ok: false, reason: 'transmission_expired' });
  });

  it('another webhook id fails', async () => {
    expect(refused(await javaVerifier({ webhookId: '96605875FF6516634' }).verify(java.headers, java.body))).toBe('signature_mismatch');
  });

  it('a tampered body fails (one byte, or re-serialised JSON)', async () => {
    const tampered = Buffer.from(java.body);
    tampered[tampered.length - 3] = tampered[tampered.length - 3]! ^ 1;
    expect(refused(await javaVerifier().verify(java.headers, tampered))).toBe('signature_mismatch');
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(java.body.toString('utf8')), null, 1));
    expect(refused(await javaVerifier().verify(java.headers, reserialised))).toBe('signature_mismatch');
  });

  it("the Node SDK sample's signature does not verify with this cert", async () => {
    const dir = path.join(VECTORS, 'node-sdk-PAYMENT.SALE.COMPLETED');
    const headers = { ...(JSON.parse(fs.readFileSync(path.join(dir, 'headers.json'), 'utf8')) as Record<string, string>), 'PAYPAL-CERT-URL': JAVA_CERT_URL };
    const v = javaVerifier({ webhookId: fs.readFileSync(path.join(dir, 'webhook_id.txt'), 'utf8').trim(), toleranceSeconds: 50 * 365 * 86_400 });
    expect(refused(await v.verify(headers, fs.readFileSync(path.join(dir, 'body.json'))))).toBe('signature_mismatch');
  });
});

describe('refusals before any cert is fetched', () => {
  const fetched: string[] = [];
  const v = javaVerifier({ fetched });
  beforeEach(() => {
    fetched.length = 0;
  });

  it.each(Object.values(PAYPAL_HEADERS))('missing %s', async (name) => {
    const h: Record<string, string | undefined> = Object.fromEntries(Object.entries(java.headers).filter(([k]) => k !== name));
    expect(await v.verify(h, java.body)).toMatchObject({ ok: false, reason: 'missing_header', detail: expect.stringContaining(name) });
    expect(await v.verify({ ...java.headers, [name]: '' }, java.body)).toMatchObject({ ok: false, reason: 'missing_header' });
    expect(fetched).toEqual([]);
  });

  it('a header given twice', async () => {
    const h = { ...java.headers, 'PAYPAL-TRANSMISSION-ID': [java.headers['PAYPAL-TRANSMISSION-ID']!, 'other'] };
    expect(refused(await v.verify(h, java.body))).toBe('missing_header');
  });

  it.each(['SHA1withRSA', 'sha256withrsa', 'SHA256withECDSA', 'none'])('algorithm %s', async (algo) => {
    expect(refused(await v.verify({ ...java.headers, 'PAYPAL-AUTH-ALGO': algo }, java.body))).toBe('unsupported_algorithm');
  });

  it.each(['not*base64!', 'abc', '====', 'aBjgm5/xljRY u3G64Q0a'])('bad base64 signature %p', async (sig) => {
    expect(refused(await v.verify({ ...java.headers, 'PAYPAL-TRANSMISSION-SIG': sig }, java.body))).toBe('bad_signature_encoding');
    expect(fetched).toEqual([]);
  });

  it.each([
    'https://evil.example.com/v1/notifications/certs/CERT-1',
    'https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1',
    'https://api.paypal.com@evil.example/v1/notifications/certs/CERT-1',
    'https://evil.example/?https://api.paypal.com/',
    'http://api.paypal.com/v1/notifications/certs/CERT-1',
    'https://api.paypal.com:8443/v1/notifications/certs/CERT-1',
    'file:///etc/passwd',
    'not a url',
    // a trusted host, but not PayPal's certificate path (item 15: any path was fetched)
    'https://api.sandbox.paypal.com/v1/notifications/test',
    'https://api.sandbox.paypal.com/v1/oauth2/token',
    'https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1?redirect=https://evil.example',
    'https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1/../../../v2/checkout/orders',
    'https://api.sandbox.paypal.com/v1/notifications/certs/a/b',
    'https://api.sandbox.paypal.com/v1/notifications/certs/',
    'https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1#x',
    // a live host in sandbox mode
    'https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77',
  ])('untrusted cert URL %s', async (url) => {
    expect(refused(await v.verify({ ...java.headers, 'PAYPAL-CERT-URL': url }, java.body))).toBe('untrusted_cert_url');
    expect(fetched).toEqual([]);
  });

  it("the vector's own cert URL (/v1/notifications/test) is not PayPal's cert path", async () => {
    expect(refused(await v.verify(java.originalHeaders, java.body))).toBe('untrusted_cert_url');
  });

  it.each([
    ['3 days and 6 minutes old', -(3 * 86_400 + 360) * 1000],
    ['6 minutes ahead', 360 * 1000],
  ])('a transmission time %s is outside the window', async (_what, offsetMs) => {
    const time = new Date(SIGNED_AT.getTime() + offsetMs).toISOString();
    expect(await javaVerifier({ fetched }).verify({ ...java.headers, 'PAYPAL-TRANSMISSION-TIME': time }, java.body)).toMatchObject({ ok: false, reason: 'transmission_expired' });
    expect(fetched).toEqual([]);
  });

  it.each(['yesterday', '2017-03-30 20:04:05', '1490904245', '2017-13-45T99:00:00Z'])('a transmission time %p that is not RFC 3339', async (time) => {
    expect(refused(await v.verify({ ...java.headers, 'PAYPAL-TRANSMISSION-TIME': time }, java.body))).toBe('transmission_expired');
  });

  it('inside the window (3 days old, 4 minutes ahead) the time is accepted (the signature then decides)', async () => {
    for (const offsetMs of [-3 * 86_400_000, 240_000]) {
      const now = () => new Date(SIGNED_AT.getTime() - offsetMs);
      expect(await javaVerifier({ now }).verify(java.headers, java.body)).toEqual({ ok: true });
    }
  });
});

describe('cert hosts by mode, and the cert cache', () => {
  it('live mode trusts only live hosts; sandbox mode only sandbox hosts and the configured base', () => {
    expect(payPalMode('https://api-m.paypal.com')).toBe('live');
    expect(payPalTrustedCertHosts('https://api-m.paypal.com').sort()).toEqual([...PAYPAL_LIVE_CERT_HOSTS].sort());
    expect(payPalMode('https://api-m.sandbox.paypal.com')).toBe('sandbox');
    expect(payPalTrustedCertHosts('https://api-m.sandbox.paypal.com').sort()).toEqual([...PAYPAL_SANDBOX_CERT_HOSTS].sort());
    expect(payPalTrustedCertHosts('http://127.0.0.1:3011').sort()).toEqual([...PAYPAL_SANDBOX_CERT_HOSTS, '127.0.0.1:3011'].sort());
  });

  it('in live mode a sandbox cert URL is refused before any fetch', async () => {
    const fetched: string[] = [];
    const v = new PayPalWebhookVerifier({ webhookId: java.webhookId, trustedCertHosts: payPalTrustedCertHosts('https://api-m.paypal.com'), fetchCert: async (u) => (fetched.push(u), java.certPem), now: () => SIGNED_AT });
    expect(refused(await v.verify(java.headers, java.body))).toBe('untrusted_cert_url');
    expect(fetched).toEqual([]);
    // the same cert on the live host's cert path is fetched
    expect(await v.verify({ ...java.headers, 'PAYPAL-CERT-URL': 'https://api.paypal.com/v1/notifications/certs/CERT-1' }, java.body)).toEqual({ ok: true });
    expect(fetched).toEqual(['https://api.paypal.com/v1/notifications/certs/CERT-1']);
  });

  it('the cache holds at most maxCachedCerts certs, each for certTtlMs', async () => {
    const fetched: string[] = [];
    let now = SIGNED_AT.getTime();
    const v = new PayPalWebhookVerifier({ webhookId: java.webhookId, trustedCertHosts: PAYPAL_SANDBOX_CERT_HOSTS, fetchCert: async (u) => (fetched.push(u), java.certPem), now: () => new Date(now), maxCachedCerts: 2, certTtlMs: 60_000 });
    const at = (id: string) => ({ ...java.headers, 'PAYPAL-CERT-URL': `https://api.sandbox.paypal.com/v1/notifications/certs/CERT-${id}` });
    for (const id of ['a', 'b', 'c', 'd', 'a']) expect(await v.verify(at(id), java.body)).toEqual({ ok: true });
    expect(v.cachedCerts).toBe(2);
    expect(fetched.map((u) => u.slice(-1))).toEqual(['a', 'b', 'c', 'd', 'a']); // a was evicted by c and d
    await v.verify(at('a'), java.body);
    expect(fetched).toHaveLength(5); // cached
    now += 61_000;
    await v.verify(at('a'), java.body);
    expect(fetched).toHaveLength(6); // expired: fetched again
  });
});

describe('events signed by the PayPal simulator', () => {
  let sim: PayPalSimulator;
  let receiver: import('node:http').Server;
  let receiverUrl: string;
  const outcomes: VerifyResult[] = [];
  let verifier: PayPalWebhookVerifier;

  beforeAll(async () => {
    sim = await startPayPalSimulator();
    verifier = new PayPalWebhookVerifier({ webhookId: sim.webhookId, trustedCertHosts: payPalTrustedCertHosts(sim.url) });
    const app = express();
    app.post('/webhooks/paypal', express.raw({ type: () => true }), async (req, res) => {
      const r = await verifier.verify(req.headers, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
      outcomes.push(r);
      res.status(r.ok ? 200 : 400).json(r);
    });
    receiver = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks/paypal`;
  });
  afterAll(async () => {
    await new Promise((r) => receiver.close(r));
    await sim.close();
  });

  async function capturedOrder(): Promise<{ orderId: string; captureId: string }> {
    const token = await fetch(`${sim.url}/v1/oauth2/token`, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from(`${sim.clientId}:${sim.clientSecret}`).toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    const auth = { Authorization: `Bearer ${token.access_token}`, 'Content-Type': 'application/json', Prefer: 'return=representation' };
    const order = (await (
      await fetch(`${sim.url}/v2/checkout/orders`, { method: 'POST', headers: auth, body: JSON.stringify({ intent: 'CAPTURE', purchase_units: [{ custom_id: 't1|inv-1', amount: { currency_code: 'EUR', value: '12.00' } }] }) })
    ).json()) as { id: string };
    sim.approveOrder(order.id);
    const done = (await (await fetch(`${sim.url}/v2/checkout/orders/${order.id}/capture`, { method: 'POST', headers: { ...auth, 'PayPal-Request-Id': 'cap-1' }, body: '{}' })).json()) as {
      purchase_units: Array<{ payments: { captures: Array<{ id: string }> } }>;
    };
    return { orderId: order.id, captureId: done.purchase_units[0]!.payments.captures[0]!.id };
  }

  it('delivered over HTTP: verified with the cert downloaded from the simulator, once', async () => {
    const { orderId, captureId } = await capturedOrder();
    const certFetches = () => sim.requests({ method: 'GET', path: /^\/v1\/notifications\/certs\// }).length;
    const before = certFetches();
    for (const event of [sim.events.orderApproved(orderId), sim.events.captureCompleted(captureId), sim.events.orderCompleted(orderId)]) {
      const d = await sim.sendWebhook(receiverUrl, event);
      expect({ status: d.status, body: JSON.parse(d.body) }).toEqual({ status: 200, body: { ok: true } });
    }
    expect(certFetches() - before).toBe(1);
    const capture = sim.events.captureCompleted(captureId);
    expect(capture.resource).toMatchObject({ id: captureId, status: 'COMPLETED', custom_id: 't1|inv-1', amount: { currency_code: 'EUR', value: '12.00' }, supplementary_data: { related_ids: { order_id: orderId } } });
  });

  it('a shared fixture body signed by the simulator verifies byte for byte', async () => {
    const body = fs.readFileSync(path.resolve(__dirname, '../../test/fixtures/paypal/webhooks/PAYMENT.CAPTURE.DENIED.json'));
    expect(await verifier.verify(sim.signWebhook(body), body)).toEqual({ ok: true });
  });

  it('tampered body in transit', async () => {
    const event = JSON.stringify(sim.events.envelope('PAYMENT.CAPTURE.COMPLETED', 'capture', { id: 'X', amount: { currency_code: 'EUR', value: '1.00' } }));
    const headers = sim.signWebhook(event);
    const d = await sim.sendWebhook(receiverUrl, event.replace('"1.00"', '"100.00"'), { headers });
    expect(d.status).toBe(400);
    expect(outcomes.at(-1)).toMatchObject({ ok: false, reason: 'signature_mismatch' });
  });

  it('a body forged to the CRC32 of a genuine one verifies: the signature does not protect the content', async () => {
    const { captureId } = await capturedOrder();
    const genuine = Buffer.from(JSON.stringify(sim.events.captureCompleted(captureId)), 'utf8');
    const headers = sim.signWebhook(genuine);
    expect(await verifier.verify(headers, genuine)).toEqual({ ok: true });
    const forged = forgeJsonWithCrc(genuine, (filler) => {
      const e = JSON.parse(genuine.toString('utf8')) as { summary: string; resource: Record<string, unknown> };
      e.resource.custom_id = 'victim|inv-999';
      e.resource.amount = { currency_code: 'EUR', value: '9999.00' };
      e.summary = `Payment completed ${filler} @@@@`;
      return JSON.stringify(e);
    });
    expect(forged.equals(genuine)).toBe(false);
    expect(crc32(forged)).toBe(crc32(genuine));
    expect(JSON.parse(forged.toString('utf8'))).toMatchObject({ resource: { id: captureId, custom_id: 'victim|inv-999', amount: { value: '9999.00' } } });
    expect(await verifier.verify(headers, forged)).toEqual({ ok: true });
  });

  it('signed for another webhook id', async () => {
    const d = await sim.sendWebhook(receiverUrl, sim.events.envelope('X.Y', 'x', {}), { webhookId: 'SOMEONE-ELSES' });
    expect(d.status).toBe(400);
    expect(outcomes.at(-1)).toMatchObject({ reason: 'signature_mismatch' });
  });

  it('signed with a key the served cert does not hold', async () => {
    const other = await generateSigningIdentity();
    const body = Buffer.from('{"id":"WH-1","event_type":"PAYMENT.CAPTURE.COMPLETED"}');
    expect(refused(await verifier.verify(sim.signWebhook(body, { privateKey: other.privateKey }), body))).toBe('signature_mismatch');
  });

  it('a cert URL on an untrusted host is never fetched', async () => {
    const body = Buffer.from('{}');
    const before = sim.requests().length;
    const r = await verifier.verify(sim.signWebhook(body, { certUrl: 'https://certs.evil.example/v1/notifications/certs/CERT-1' }), body);
    expect(r).toMatchObject({ ok: false, reason: 'untrusted_cert_url' });
    expect(sim.requests().length).toBe(before);
  });

  it('a cert URL the trusted host does not serve: cert_unavailable, not cached', async () => {
    const body = Buffer.from('{}');
    const certUrl = `${sim.url}/v1/notifications/certs/CERT-unknown`;
    expect(refused(await verifier.verify(sim.signWebhook(body, { certUrl }), body))).toBe('cert_unavailable');
    expect(refused(await verifier.verify(sim.signWebhook(body, { certUrl }), body))).toBe('cert_unavailable');
    expect(sim.requests({ path: '/v1/notifications/certs/CERT-unknown' })).toHaveLength(2);
  });

  it('a cert URL that answers something else than a certificate: cert_invalid', async () => {
    const v = new PayPalWebhookVerifier({ webhookId: sim.webhookId, trustedCertHosts: PAYPAL_LIVE_CERT_HOSTS, fetchCert: async () => '<html>hello</html>' });
    const body = Buffer.from('{}');
    expect(refused(await v.verify(sim.signWebhook(body, { certUrl: 'https://api.paypal.com/v1/notifications/certs/CERT-x' }), body))).toBe('cert_invalid');
  });

  it('postback verification (POST /v1/notifications/verify-webhook-signature)', async () => {
    const token = (await (
      await fetch(`${sim.url}/v1/oauth2/token`, { method: 'POST', headers: { Authorization: `Basic ${Buffer.from(`${sim.clientId}:${sim.clientSecret}`).toString('base64')}`, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' })
    ).json()) as { access_token: string };
    const event = sim.events.envelope('CHECKOUT.ORDER.APPROVED', 'checkout-order', { id: 'ORDER1' });
    const h = sim.signWebhook(JSON.stringify(event));
    const ask = async (over: Record<string, unknown>) => {
      const res = await fetch(`${sim.url}/v1/notifications/verify-webhook-signature`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token.access_token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          auth_algo: h['PAYPAL-AUTH-ALGO'],
          cert_url: h['PAYPAL-CERT-URL'],
          transmission_id: h['PAYPAL-TRANSMISSION-ID'],
          transmission_sig: h['PAYPAL-TRANSMISSION-SIG'],
          transmission_time: h['PAYPAL-TRANSMISSION-TIME'],
          webhook_id: sim.webhookId,
          webhook_event: event,
          ...over,
        }),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(await ask({})).toEqual({ status: 200, body: { verification_status: 'SUCCESS' } });
    expect(await ask({ webhook_id: 'OTHER' })).toEqual({ status: 200, body: { verification_status: 'FAILURE' } });
    expect(await ask({ webhook_event: { ...event, summary: 'changed' } })).toEqual({ status: 200, body: { verification_status: 'FAILURE' } });
    const missing = await ask({ transmission_sig: undefined });
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ name: 'INVALID_REQUEST', details: [{ field: '/transmission_sig', issue: 'MISSING_REQUIRED_PARAMETER' }] });
  });
});
