/**
 * The CRM-stage-failed email (pure) and the mailer through a real SMTP server
 * (test/support/smtp.ts): what operations receive is what was sent, HTML-escaped, with the
 * booking, the stage, every attempt's error and the retry link.
 */
import { parseMessage, startSmtpCapture, type SmtpCapture } from '../../test/support/smtp';
import { escapeHtml } from '../../domain/shared/html';
import { crmStageFailedEmail, Mailer, MailError, type CrmStageFailedEmailInput } from './mailer';

let smtp: SmtpCapture;
let mailer: Mailer;

const input = (over: Partial<CrmStageFailedEmailInput> = {}): CrmStageFailedEmailInput => ({
  bookingId: 'bk_7f3a',
  tenantId: 'tenant_acme',
  stage: 'create_contact_booking',
  attempts: [
    { attempt: 1, error: 'CRM createContactBooking timed out after 30000 ms', at: '2027-03-01T10:00:00.000Z' },
    { attempt: 2, error: 'CRM createContactBooking unavailable: HTTP 503 {"error":"unavailable"}', at: new Date('2027-03-01T10:05:00.000Z') },
    { attempt: 3, error: 'CRM createContactBooking rejected: HTTP 400 <b>bad</b> & "quoted"', at: '2027-03-01T10:30:00.000Z' },
  ],
  retryUrl: 'https://settle.example.com/ops/bookings/bk_7f3a/crm/retry?tenant=tenant_acme&stage=create_contact_booking',
  booking: { clientName: 'Ada Lovelace', departure: 'Iceland Northern Lights, 2027-03-14', amount: { amount: 123450, currency: 'EUR' } },
  ...over,
});

beforeAll(async () => {
  smtp = await startSmtpCapture();
  mailer = new Mailer({ smtpUrl: smtp.url, from: 'Settle <settle@example.com>', timeoutMs: 5000 });
});
afterAll(async () => {
  mailer.close();
  await smtp.close();
});
beforeEach(() => smtp.clear());

describe('crmStageFailedEmail', () => {
  it('names the booking, the stage, every attempt’s error and the retry link', () => {
    const mail = crmStageFailedEmail(input());
    expect(mail.subject).toBe('[Settle] CRM stage failed: Create the contact booking in the CRM (booking bk_7f3a)');
    expect(mail.text).toContain('The CRM stage "create_contact_booking" failed for booking bk_7f3a after 3 attempts.');
    expect(mail.text).toMatch(/^Tenant: +tenant_acme$/m);
    expect(mail.text).toMatch(/^Client: +Ada Lovelace$/m);
    expect(mail.text).toMatch(/^Departure: +Iceland Northern Lights, 2027-03-14$/m);
    expect(mail.text).toMatch(/^Amount: +€1,234\.50$/m);
    expect(mail.text).toContain('  #1  2027-03-01T10:00:00.000Z  CRM createContactBooking timed out after 30000 ms');
    expect(mail.text).toContain('  #2  2027-03-01T10:05:00.000Z  CRM createContactBooking unavailable: HTTP 503 {"error":"unavailable"}');
    expect(mail.text).toContain('  #3  2027-03-01T10:30:00.000Z  CRM createContactBooking rejected: HTTP 400 <b>bad</b> & "quoted"');
    expect(mail.text).toContain('Retry the stage once the cause is fixed: https://settle.example.com/ops/bookings/bk_7f3a/crm/retry?tenant=tenant_acme&stage=create_contact_booking');
    expect(mail.html).toContain('<a href="https://settle.example.com/ops/bookings/bk_7f3a/crm/retry?tenant=tenant_acme&amp;stage=create_contact_booking">Retry the stage</a>');
    expect(mail.html).toContain('CRM createContactBooking rejected: HTTP 400 &lt;b&gt;bad&lt;/b&gt; &amp; &quot;quoted&quot;');
    expect(mail.html).toContain('{&quot;error&quot;:&quot;unavailable&quot;}');
    expect(mail.html).not.toContain('<b>bad</b>');
  });

  it("links the booking's console page, never the POST-only API retry endpoint (a browser would get a 404)", () => {
    const id = `bk_${'x'.repeat(97)}`;
    const mail = crmStageFailedEmail(input({ bookingId: id, retryUrl: `https://settle.example.com/base/v1/bookings/${id}/crm-retry` }));
    expect(mail.html).toContain(`<a href="https://settle.example.com/base/admin/bookings/${id}">Retry the stage</a>`);
    expect(mail.html).not.toMatch(/href="[^"]*crm-retry/);
    expect(mail.text).toContain(`Retry the stage once the cause is fixed: https://settle.example.com/base/admin/bookings/${id}`);
    expect(mail.text).toContain(`POST https://settle.example.com/base/v1/bookings/${id}/crm-retry`);
  });

  it('describes the payment stage and shows the CRM booking id', () => {
    const mail = crmStageFailedEmail(input({ stage: 'associate_payment', attempts: [{ attempt: 1, error: 'x', at: '2027-01-01T00:00:00Z' }], booking: { ...input().booking, crmBookingId: 'crm-123' } }));
    expect(mail.subject).toContain('Associate the payment with the CRM booking');
    expect(mail.text).toContain('after 1 attempt.');
    expect(mail.text).toContain('the payment is not associated with it yet');
    expect(mail.text).toMatch(/^CRM booking: +crm-123$/m);
  });

  it.each([
    [{ amount: 50000, currency: 'JPY' }, '¥50,000'],
    [{ amount: 1500, currency: 'KWD' }, 'KWD'],
    [{ amount: 5, currency: 'USD' }, '$0.05'],
  ])('formats %j from minor units', (amount, shown) => {
    const mail = crmStageFailedEmail(input({ booking: { ...input().booking, amount } }));
    expect(mail.text).toContain(shown);
    if (amount.currency === 'KWD') expect(mail.text).toContain('1.500');
  });

  it('escapes everything it interpolates into HTML', () => {
    const evil = '<script>alert("x")</script>&\'`';
    const mail = crmStageFailedEmail(
      input({
        bookingId: evil,
        tenantId: evil,
        attempts: [{ attempt: 1, error: evil, at: evil }],
        booking: { clientName: evil, departure: evil, amount: { amount: 1, currency: 'EUR' }, crmBookingId: evil },
      }),
    );
    expect(mail.html).not.toMatch(/<script|alert\("x"\)|'|`/);
    expect(mail.html.split(escapeHtml(evil)).length - 1).toBeGreaterThanOrEqual(8);
    expect(escapeHtml(`<>&"'\``)).toBe('&lt;&gt;&amp;&quot;&#39;&#96;');
  });

  it('keeps the subject on one line and refuses a retry link that is not http(s)', () => {
    expect(crmStageFailedEmail(input({ bookingId: 'bk\r\nBcc: victim@example.com' })).subject).not.toMatch(/[\r\n]/);
    expect(() => crmStageFailedEmail(input({ retryUrl: 'javascript:alert(1)' }))).toThrow(RangeError);
    expect(() => crmStageFailedEmail(input({ retryUrl: '/relative' }))).toThrow(RangeError);
  });
});

describe('Mailer over SMTP', () => {
  it('delivers the CRM failure email to operations: to, subject, text and escaped HTML arrive intact', async () => {
    const email = crmStageFailedEmail(input({ booking: { ...input().booking, clientName: 'Zoë Ångström <vip>' } }));
    const { messageId } = await mailer.send({ to: 'ops@example.com', ...email });
    const got = await smtp.waitFor((m) => m.subject === email.subject);

    expect(got.from).toBe('settle@example.com');
    expect(got.to).toEqual(['ops@example.com']);
    expect(got.headers.from).toBe('Settle <settle@example.com>');
    expect(got.headers.to).toBe('ops@example.com');
    expect(got.headers['message-id']).toBe(messageId);
    expect(got.text).toBe(email.text);
    expect(got.html).toBe(email.html);
    expect(got.text).toContain('bk_7f3a');
    expect(got.text).toContain('create_contact_booking');
    for (const a of input().attempts) expect(got.text).toContain(a.error);
    expect(got.text).toContain(input().retryUrl);
    expect(got.text).toContain('Zoë Ångström <vip>');
    expect(got.html).toContain('Zoë Ångström &lt;vip&gt;');
    expect(got.text).toContain('€1,234.50');
  });

  it('sends to several recipients and text-only mail', async () => {
    await mailer.send({ to: ['ops@example.com', 'finance@example.com'], subject: 'Plain', text: 'Just text' });
    const got = await smtp.waitFor((m) => m.subject === 'Plain');
    expect(got.to).toEqual(['ops@example.com', 'finance@example.com']);
    expect([got.text, got.html]).toEqual(['Just text', null]);
  });

  it('a notification key gives the same Message-ID every time', async () => {
    const key = 'crm-stage-failed|bk_7f3a|create_contact_booking|evt-1';
    const a = await mailer.send({ to: 'ops@example.com', subject: 'Once', text: '1', key });
    const b = await mailer.send({ to: 'ops@example.com', subject: 'Once', text: '1', key });
    const c = await mailer.send({ to: 'ops@example.com', subject: 'Once', text: '1', key: `${key}-other` });
    expect(a.messageId).toBe(b.messageId);
    expect(c.messageId).not.toBe(a.messageId);
    expect(a.messageId).toMatch(/^<[0-9a-f]{40}@example\.com>$/);
    await smtp.waitFor(() => smtp.messages.length === 3);
    expect(smtp.messages.map((m) => m.headers['x-settle-notification-key'])).toEqual([key, key, `${key}-other`]);
  });

  it('no SMTP server: a retryable MailError', async () => {
    const down = await startSmtpCapture();
    await down.close();
    const m = new Mailer({ smtpUrl: down.url, from: 'settle@example.com', timeoutMs: 2000 });
    const err = await m.send({ to: 'ops@example.com', subject: 's', text: 't' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MailError);
    expect(err).toMatchObject({ retryable: true });
    await expect(m.verify()).rejects.toBeInstanceOf(MailError);
    m.close();
  });

  it('verify() succeeds against a live server', async () => {
    await expect(mailer.verify()).resolves.toBeUndefined();
  });

  it('checks its configuration', () => {
    expect(() => new Mailer({ smtpUrl: 'http://x', from: 'a@b.c' })).toThrow(/smtp/);
    expect(() => new Mailer({ smtpUrl: 'nope', from: 'a@b.c' })).toThrow(RangeError);
    expect(() => new Mailer({ smtpUrl: 'smtp://127.0.0.1:25', from: '' })).toThrow(/from/);
  });
});

describe('the SMTP capture’s parser', () => {
  it('unfolds headers, decodes encoded words, multipart, quoted-printable and base64', () => {
    const raw = [
      'From: a@example.com',
      'To: b@example.com',
      'Subject: =?UTF-8?Q?Caf=C3=A9?= =?UTF-8?B?IOKCrA==?=',
      '  folded',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      'preamble',
      '--outer',
      'Content-Type: multipart/alternative; boundary=inner',
      '',
      '--inner',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'caf=C3=A9 and a long line that is soft=',
      '-wrapped',
      '--inner',
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: base64',
      '',
      Buffer.from('<p>café</p>').toString('base64'),
      '--inner--',
      '--outer',
      'Content-Type: text/plain',
      'Content-Disposition: attachment; filename=x.txt',
      '',
      'not the body',
      '--outer--',
      'epilogue',
    ].join('\r\n');
    const m = parseMessage(raw, { from: 'a@example.com', to: ['b@example.com'] });
    expect(m.subject).toBe('Café € folded');
    expect(m.text).toBe('café and a long line that is soft-wrapped');
    expect(m.html).toBe('<p>café</p>');
    expect(m.headers.to).toBe('b@example.com');
  });

  it('waitFor times out with what it did receive', async () => {
    await expect(smtp.waitFor((m) => m.subject === 'never', 100)).rejects.toThrow(/no matching email within 100 ms/);
  });
});
