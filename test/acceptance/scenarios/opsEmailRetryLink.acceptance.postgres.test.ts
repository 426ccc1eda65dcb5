/**
 * Named regression (issue #15, defect 7): the operations email for a CRM stage that failed for good
 * linked to POST /v1/bookings/{id}/crm-retry, an API endpoint: following it in a browser answered
 * 404. Now the link is the booking's page in the admin console ({PUBLIC_BASE_URL}/admin/bookings/{id}):
 * opened without a session it sends the operator to sign in (not a 404), and once signed in with
 * the admin key (tenant picked) it answers 200 with the booking and its retry button. Black box:
 * the built service on PostgreSQL (DATABASE_URL) with in-process messaging, the CRM simulator
 * refusing the booking, a real SMTP capture. Values at their limits: 100-character tenant and
 * departure ids, JPY (no minor unit).
 */
import { startCrmSimulator, type CrmSimulator } from '../../simulators/crm';
import { ConsoleClient } from '../../support/console';
import { startSmtpCapture, type SmtpCapture } from '../../support/smtp';
import { BookingMoney, newBooking, newDeparture } from '../driver/bookings';
import { ADMIN_KEY, startSettle, until, type Settle } from '../driver/service';
import { idOfLength, newTenant } from '../driver/tenant';

 
const PUBLIC_BASE_URL = 'https://settle.example.test';

describe("the ops email's retry link opens the booking's console page (PostgreSQL, in-process messaging, CRM simulator, SMTP)", () => {
  let settle: Settle;
  let crm: CrmSimulator;
  let smtp: SmtpCapture;
  beforeAll(async () => {
    crm = await startCrmSimulator();
    smtp = await startSmtpCapture();
    settle = await startSettle({
      storage: 'postgres',
      messaging: 'in-process',
      env: { CRM_BASE_URL: crm.url, CRM_API_KEY: crm.apiKey, CRM_MAX_ATTEMPTS: '2', CRM_RETRY_BASE_MS: '50', CRM_RETRY_MAX_MS: '100', SMTP_URL: smtp.url, OPS_EMAIL: 'ops@example.test', PUBLIC_BASE_URL },
    });
  }, 90_000);
  afterAll(async () => {
    await settle?.stop();
    await crm?.close();
    await smtp?.close();
  });

  test('the link is the console booking page; without a session it asks for sign-in; signed in as admin it answers 200', async () => {
    const tenant = await newTenant(settle, idOfLength('Tmail'));
    const departureId = await newDeparture(tenant, 'mail', 10);
    const price = { amount: 98_000, currency: 'JPY' };
    const { bookingId } = await newBooking(tenant, departureId, price);
    crm.failNext(100, 503, { operation: 'createContactBooking', externalReference: bookingId });
    await new BookingMoney(settle, tenant, bookingId).pay(price, 'mail');
    // queue first: the payment's 200 means stored; the booking's read model shows it once applied (404 until the booking itself is projected)
    await until(async () => (await tenant.api.get<{ needsAttention?: boolean }>(`/v1/bookings/${bookingId}`)).body, (b) => b.needsAttention === true, 30_000);
    const mail = await smtp.waitFor((m) => m.text.includes(bookingId), 15_000);

    const pageUrl = `${PUBLIC_BASE_URL}/admin/bookings/${bookingId}`;
    const links = [...mail.text.matchAll(/https?:\/\/\S+/g)].map((m) => m[0].replace(/[).,>]+$/, ''));
    const retry = /Retry the stage[^:]*:\s*(\S+)/.exec(mail.text)?.[1];
    expect(retry).toBe(pageUrl);
    expect(links).toContain(pageUrl);
    if (mail.html) expect(mail.html).toContain(`href="${pageUrl}"`);

    // the service behind PUBLIC_BASE_URL: the same path on the running service
    const path = new URL(pageUrl).pathname;
    const anonymous = await fetch(`${settle.url}${path}`, { redirect: 'manual' });
    expect(anonymous.status).not.toBe(404);
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe(`/admin/sign-in?next=${encodeURIComponent(path)}`);

    const operator = new ConsoleClient(settle.url);
    const signedIn = await operator.signIn(ADMIN_KEY);
    expect(signedIn.status).toBe(303);
    // the admin key acts for one tenant at a time: pick the booking's tenant
    const picker = await operator.get('/admin/tenants');
    expect(picker.status).toBe(200);
    expect((await operator.post('/admin/tenants', { _csrf: ConsoleClient.csrfOf(picker.text), tenantId: tenant.id })).status).toBe(303);
    const page = await operator.get(path);
    expect(page.status).toBe(200);
    expect(page.text).toContain(bookingId);
    expect(page.text).toContain(`/admin/bookings/${bookingId}/crm-retry`);
  }, 90_000);
});
