import { fold } from '../shared/decider';
import type { Money } from '../shared/money';
import { spec } from '../../test/support/given';
import {
  invoiceDecider,
  type Actor,
  type AttemptData,
  type InvoiceCommand,
  type InvoiceEvent,
  type IssueInvoice,
  type RecordPaymentAttempt,
  type RecordProviderInvoice,
} from './invoice';

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

const NOW = new Date('2025-03-01T10:00:00.000Z');
const NOW_ISO = '2025-03-01T10:00:00.000Z';
const metadata = { now: NOW };

const coach: Actor = { kind: 'user', id: 'user_coach_1' };
const webhook: Actor = { kind: 'provider', id: 'evt_1' };
const system: Actor = { kind: 'system' };

const eur = (amount: number): Money => ({ amount, currency: 'EUR' });
const TOTAL = 3500; // 2 x 1500 + 1 x 500

const given = (events: InvoiceEvent[]) => spec(invoiceDecider).given(events);
const stateAfter = (events: InvoiceEvent[]) => fold(invoiceDecider, events);

function issue(overrides: Partial<IssueInvoice['data']> = {}): IssueInvoice {
  return {
    type: 'IssueInvoice',
    data: {
      invoiceId: 'inv_1',
      tenantId: 'coach_1',
      customerId: 'client_1',
      customer: { name: 'Ada Client', email: 'ada@example.com' },
      lineItems: [
        { description: 'Coaching session', quantity: 2, unitAmount: 1500 },
        { description: 'Workbook', quantity: 1, unitAmount: 500 },
      ],
      currency: 'EUR',
      dueDate: '2025-03-31',
      allowedPaymentMethods: ['stripe_connect', 'paypal'],
      actor: coach,
      ...overrides,
    },
    metadata,
  };
}

const issued: InvoiceEvent = {
  type: 'InvoiceIssued',
  data: {
    invoiceId: 'inv_1',
    tenantId: 'coach_1',
    customerId: 'client_1',
    customer: { name: 'Ada Client', email: 'ada@example.com' },
    number: null,
    lineItems: [
      { description: 'Coaching session', quantity: 2, unitAmount: 1500 },
      { description: 'Workbook', quantity: 1, unitAmount: 500 },
    ],
    currency: 'EUR',
    total: eur(TOTAL),
    dueDate: '2025-03-31',
    allowedPaymentMethods: ['stripe_connect', 'paypal'],
    provider: null,
    issuedAt: NOW_ISO,
    actor: coach,
  },
};

function recordProvider(overrides: Partial<RecordProviderInvoice['data']> = {}): RecordProviderInvoice {
  return {
    type: 'RecordProviderInvoice',
    data: {
      invoiceId: 'inv_sub_1',
      tenantId: 'platform',
      customerId: 'coach_1',
      providerInvoiceId: 'in_123',
      total: 4900,
      currency: 'USD',
      lineItems: [{ description: 'Pro plan (monthly)', quantity: 1, unitAmount: 4900 }],
      hostedInvoiceUrl: 'https://invoice.stripe.com/i/in_123',
      invoicePdf: 'https://pay.stripe.com/invoice/in_123/pdf',
      actor: webhook,
      ...overrides,
    },
    metadata,
  };
}

const providerRecorded: InvoiceEvent = {
  type: 'ProviderInvoiceRecorded',
  data: {
    invoiceId: 'inv_sub_1',
    tenantId: 'platform',
    customerId: 'coach_1',
    provider: 'stripe',
    providerInvoiceId: 'in_123',
    subscriptionId: null,
    lineItems: [{ description: 'Pro plan (monthly)', quantity: 1, unitAmount: 4900 }],
    currency: 'USD',
    total: { amount: 4900, currency: 'USD' },
    dueDate: null,
    hostedInvoiceUrl: 'https://invoice.stripe.com/i/in_123',
    invoicePdf: 'https://pay.stripe.com/invoice/in_123/pdf',
    recordedAt: NOW_ISO,
    actor: webhook,
  },
};

function attempt(overrides: Partial<RecordPaymentAttempt['data']> = {}): RecordPaymentAttempt {
  return {
    type: 'RecordPaymentAttempt',
    data: {
      attemptId: 'att_1',
      provider: 'stripe',
      providerPaymentId: 'pi_1',
      providerChargeId: 'ch_1',
      amount: eur(TOTAL),
      outcome: 'succeeded',
      occurredAt: '2025-03-02T09:00:00Z',
      actor: webhook,
      ...overrides,
    },
    metadata,
  };
}

function attemptData(overrides: Partial<AttemptData> = {}): AttemptData {
  return {
    attemptId: 'att_1',
    provider: 'stripe',
    providerPaymentId: 'pi_1',
    providerChargeId: 'ch_1',
    amount: eur(TOTAL),
    occurredAt: '2025-03-02T09:00:00Z',
    actor: webhook,
    ...overrides,
  };
}

/** The two events of a normal payment of the whole invoice (pi_1 / ch_1). */
function paid(overrides: Partial<AttemptData> = {}): InvoiceEvent[] {
  const d = attemptData(overrides);
  return [
    { type: 'PaymentSucceeded', data: d },
    { type: 'InvoicePaid', data: { paidAt: d.occurredAt, provider: d.provider, providerPaymentId: d.providerPaymentId, providerChargeId: d.providerChargeId, amount: d.amount, actor: d.actor } },
  ];
}

const voided: InvoiceEvent = { type: 'InvoiceVoided', data: { reason: 'issued by mistake', voidedAt: NOW_ISO, actor: coach } };

const refundRecorded = (refundId: string, amount: number, providerRefundId = `re_${refundId}`): InvoiceEvent => ({
  type: 'RefundRecorded',
  data: { refundId, providerRefundId, amount: eur(amount), reason: null, refundedAt: NOW_ISO, actor: coach },
});
const invoiceRefunded = (amount: number): InvoiceEvent => ({ type: 'InvoiceRefunded', data: { amountRefunded: eur(amount), refundedAt: NOW_ISO, actor: coach } });

const disputeOpened = (disputeId: string, amount: number, providerDisputeId = `dp_${disputeId}`): InvoiceEvent => ({
  type: 'DisputeOpened',
  data: { disputeId, providerDisputeId, amount: eur(amount), reason: 'fraudulent', openedAt: NOW_ISO, actor: webhook, providerPaymentId: 'pi_1' },
});
const disputeClosed = (type: 'DisputeWon' | 'DisputeLost', disputeId: string, amount: number): InvoiceEvent => ({
  type,
  data: { disputeId, providerDisputeId: `dp_${disputeId}`, amount: eur(amount), closedAt: NOW_ISO, actor: webhook, providerPaymentId: 'pi_1' },
});

const refund = (data: Partial<{ refundId: string; providerRefundId: string; amount: Money; reason: string | null }> = {}): InvoiceCommand => ({
  type: 'RecordRefund',
  data: { refundId: 'r1', providerRefundId: 're_r1', amount: eur(1000), actor: coach, ...data },
  metadata,
});
const openDispute = (data: Partial<{ disputeId: string; providerDisputeId: string; amount: Money; reason: string }> = {}): InvoiceCommand => ({
  type: 'OpenDispute',
  data: { disputeId: 'd1', providerDisputeId: 'dp_d1', amount: eur(TOTAL), reason: 'fraudulent', actor: webhook, ...data },
  metadata,
});
const closeDispute = (outcome: 'won' | 'lost', disputeId = 'd1'): InvoiceCommand => ({ type: 'CloseDispute', data: { disputeId, outcome, actor: webhook }, metadata });
const voidInvoice = (): InvoiceCommand => ({ type: 'VoidInvoice', data: { reason: 'issued by mistake', actor: coach }, metadata });
const updateLinks = (hostedInvoiceUrl: string | null, invoicePdf: string | null): InvoiceCommand => ({
  type: 'UpdateProviderInvoiceLinks',
  data: { hostedInvoiceUrl, invoicePdf, actor: webhook },
  metadata,
});

// ---------------------------------------------------------------------------------------------
// IssueInvoice
// ---------------------------------------------------------------------------------------------

describe('IssueInvoice', () => {
  it('issues an open invoice with the total computed from the line items', () => {
    given([]).when(issue()).then([issued]);
  });

  it('keeps the invoice number and provider when given', () => {
    given([])
      .when(issue({ number: 'INV-2025-001', provider: 'paypal' }))
      .thenMatches([{ type: 'InvoiceIssued', data: { number: 'INV-2025-001', provider: 'paypal' } }]);
  });

  it('accepts a free line item (zero unit amount)', () => {
    given([])
      .when(issue({ lineItems: [{ description: 'Intro call', quantity: 1, unitAmount: 0 }, { description: 'Session', quantity: 3, unitAmount: 700 }] }))
      .thenMatches([{ type: 'InvoiceIssued', data: { total: eur(2100) } }]);
  });

  it('lists each allowed payment method once', () => {
    given([])
      .when(issue({ allowedPaymentMethods: ['paypal', 'stripe_connect', 'paypal'] }))
      .thenMatches([{ type: 'InvoiceIssued', data: { allowedPaymentMethods: ['stripe_connect', 'paypal'] } }]);
  });

  it('opens the invoice in state', () => {
    const s = stateAfter([issued]);
    expect(s).toMatchObject({
      status: 'open',
      invoiceId: 'inv_1',
      tenantId: 'coach_1',
      customerId: 'client_1',
      total: eur(TOTAL),
      currency: 'EUR',
      dueDate: '2025-03-31',
      lineItems: [
        { description: 'Coaching session', quantity: 2, unitAmount: 1500 },
        { description: 'Workbook', quantity: 1, unitAmount: 500 },
      ],
      customer: { name: 'Ada Client', email: 'ada@example.com' },
      allowedPaymentMethods: ['stripe_connect', 'paypal'],
      provider: null,
      amountPaid: 0,
      collected: 0,
    });
  });

  it('refuses to issue the same invoice twice', () => {
    given([issued]).when(issue()).thenRefuses('invoice_exists', 'conflict');
  });

  it('refuses to issue over a recorded provider invoice', () => {
    given([providerRecorded]).when(issue()).thenRefuses('invoice_exists', 'conflict');
  });

  it('refuses an invoice without line items', () => {
    given([]).when(issue({ lineItems: [] })).thenRefuses('no_line_items', 'invalid');
  });

  it.each([
    ['a zero quantity', [{ description: 'x', quantity: 0, unitAmount: 100 }]],
    ['a fractional quantity', [{ description: 'x', quantity: 1.5, unitAmount: 100 }]],
    ['a float unit amount', [{ description: 'x', quantity: 1, unitAmount: 10.5 }]],
    ['a negative unit amount', [{ description: 'x', quantity: 1, unitAmount: -100 }]],
    ['a line amount out of range', [{ description: 'x', quantity: 2, unitAmount: 10 ** 15 }]],
    ['a total out of range', [{ description: 'x', quantity: 1, unitAmount: 10 ** 15 }, { description: 'y', quantity: 1, unitAmount: 1 }]],
  ])('refuses %s as invalid money', (_label, lineItems) => {
    given([]).when(issue({ lineItems })).thenRefuses('invalid_money', 'invalid');
  });

  it.each(['usd', 'ABC', 'XXX', ''])('refuses the currency %p', (currency) => {
    given([]).when(issue({ currency })).thenRefuses('invalid_currency', 'invalid');
  });

  it('refuses an invoice that allows no payment method', () => {
    given([]).when(issue({ allowedPaymentMethods: [] })).thenRefuses('no_payment_method', 'invalid');
  });

  it.each<[string, string[]]>([
    ['KWD', ['paypal']],
    ['KWD', ['stripe_connect', 'paypal']],
    ['IQD', ['stripe_connect']],
    ['LYD', ['stripe_connect']],
  ])('refuses an invoice in %s payable by %j: the method can never take that currency', (currency, allowedPaymentMethods) => {
    given([]).when(issue({ currency, allowedPaymentMethods: allowedPaymentMethods as never, lineItems: [{ description: 'x', quantity: 1, unitAmount: 1000 }] })).thenRefuses('currency_not_supported', 'invalid');
  });

  it.each([['KWD', 'stripe_connect'], ['JPY', 'paypal'], ['HUF', 'paypal'], ['ISK', 'stripe_connect']])('issues an invoice in %s payable by %s', (currency, method) => {
    given([]).when(issue({ currency, allowedPaymentMethods: [method as never], lineItems: [{ description: 'x', quantity: 1, unitAmount: 1000 }] })).thenMatches([{ type: 'InvoiceIssued' }]);
  });

  it('refuses an unknown payment method', () => {
    given([])
      .when(issue({ allowedPaymentMethods: ['paypal', 'card' as never] }))
      .thenRefuses('invalid_payment_method', 'invalid');
  });

  it.each(['2025-02-30', '31/03/2025', '2025-03-31T00:00:00Z', ''])('refuses the due date %p', (dueDate) => {
    given([]).when(issue({ dueDate })).thenRefuses('invalid_date', 'invalid');
  });
});

// ---------------------------------------------------------------------------------------------
// Actor: every command says who caused it, every event carries it
// ---------------------------------------------------------------------------------------------

describe('actor', () => {
  const commands: Array<[string, InvoiceEvent[], (actor: unknown) => InvoiceCommand]> = [
    ['IssueInvoice', [], (actor) => issue({ actor: actor as Actor })],
    ['RecordProviderInvoice', [], (actor) => recordProvider({ actor: actor as Actor })],
    ['UpdateProviderInvoiceLinks', [providerRecorded], (actor) => ({ type: 'UpdateProviderInvoiceLinks', data: { hostedInvoiceUrl: 'h2', invoicePdf: 'p2', actor: actor as Actor }, metadata })],
    ['RecordPaymentAttempt', [issued], (actor) => attempt({ actor: actor as Actor })],
    ['VoidInvoice', [issued], (actor) => ({ type: 'VoidInvoice', data: { reason: 'x', actor: actor as Actor }, metadata })],
    ['RecordRefund', [issued, ...paid()], (actor) => ({ type: 'RecordRefund', data: { refundId: 'r1', providerRefundId: 're_1', amount: eur(100), actor: actor as Actor }, metadata })],
    ['OpenDispute', [issued, ...paid()], (actor) => ({ type: 'OpenDispute', data: { disputeId: 'd1', providerDisputeId: 'dp_1', amount: eur(100), reason: 'r', actor: actor as Actor }, metadata })],
    ['CloseDispute', [issued, ...paid(), disputeOpened('d1', 100)], (actor) => ({ type: 'CloseDispute', data: { disputeId: 'd1', outcome: 'won', actor: actor as Actor }, metadata })],
  ];

  describe.each(commands)('%s', (_name, history, make) => {
    it.each([
      ['missing', undefined],
      ['a user without id', { kind: 'user' }],
      ['a provider with an empty id', { kind: 'provider', id: '' }],
      ['an unknown kind', { kind: 'robot', id: 'r2d2' }],
    ])('refuses an actor that is %s', (_label, actor) => {
      given(history).when(make(actor)).thenRefuses('invalid_actor', 'invalid');
    });

    it('stamps the actor on every event it decides', () => {
      const events = invoiceDecider.decide(make(system), stateAfter(history));
      expect(events.length).toBeGreaterThan(0);
      for (const e of events) expect((e.data as { actor: unknown }).actor).toEqual({ kind: 'system' });
    });
  });

  it('copies only the known actor fields', () => {
    given([])
      .when(issue({ actor: { kind: 'provider', id: 'evt_9', secret: 'x' } as unknown as Actor }))
      .thenMatches([{ type: 'InvoiceIssued', data: { actor: { kind: 'provider', id: 'evt_9' } } }]);
    const [event] = invoiceDecider.decide(issue({ actor: { kind: 'user', id: 'u', extra: 1 } as unknown as Actor }), invoiceDecider.initialState);
    expect((event?.data as { actor: unknown }).actor).toStrictEqual({ kind: 'user', id: 'u' });
    const [bySystem] = invoiceDecider.decide(issue({ actor: { kind: 'system', id: 'cron', note: 'x' } as unknown as Actor }), invoiceDecider.initialState);
    expect((bySystem?.data as { actor: unknown }).actor).toStrictEqual({ kind: 'system' });
  });
});

// ---------------------------------------------------------------------------------------------
// Provider (Stripe platform) invoices
// ---------------------------------------------------------------------------------------------

describe('RecordProviderInvoice', () => {
  it('records a Stripe invoice as an open invoice with provider stripe', () => {
    given([]).when(recordProvider()).then([providerRecorded]);
  });

  it('keeps the due date and the subscription id when given', () => {
    given([])
      .when(recordProvider({ dueDate: '2025-03-15', subscriptionId: 'sub_1' }))
      .thenMatches([{ type: 'ProviderInvoiceRecorded', data: { dueDate: '2025-03-15', subscriptionId: 'sub_1' } }]);
  });

  it('accepts proration credit lines and zero-quantity metered lines', () => {
    const lineItems = [
      { description: 'Unused time on Basic', quantity: 1, unitAmount: -1200 },
      { description: 'Remaining time on Pro', quantity: 1, unitAmount: 4900 },
      { description: 'SMS usage', quantity: 0, unitAmount: 5 },
    ];
    given([])
      .when(recordProvider({ lineItems, total: 3700 }))
      .thenMatches([{ type: 'ProviderInvoiceRecorded', data: { lineItems, total: { amount: 3700, currency: 'USD' } } }]);
  });

  it('exposes the provider refs and links in state', () => {
    expect(stateAfter([providerRecorded])).toMatchObject({
      status: 'open',
      provider: 'stripe',
      providerInvoiceId: 'in_123',
      subscriptionId: null,
      hostedInvoiceUrl: 'https://invoice.stripe.com/i/in_123',
      invoicePdf: 'https://pay.stripe.com/invoice/in_123/pdf',
      total: { amount: 4900, currency: 'USD' },
      tenantId: 'platform',
      customerId: 'coach_1',
    });
  });

  it('is a no-op when recorded again with the same data (webhook replay)', () => {
    given([providerRecorded]).when(recordProvider({ actor: { kind: 'provider', id: 'evt_2' } })).thenNothing();
  });

  it('is a no-op when recorded again after its event was read back from the store (jsonb reorders keys)', () => {
    const d = providerRecorded.data as { lineItems: Array<{ description: string; quantity: number; unitAmount: number }> };
    const stored = { ...providerRecorded, data: { ...d, lineItems: d.lineItems.map((l) => ({ quantity: l.quantity, unitAmount: l.unitAmount, description: l.description })) } } as InvoiceEvent;
    given([stored]).when(recordProvider({ actor: { kind: 'provider', id: 'evt_2' } })).thenNothing();
  });

  it('is still a no-op when replayed after the invoice was paid', () => {
    given([providerRecorded, ...paid({ amount: { amount: 4900, currency: 'USD' } })])
      .when(recordProvider())
      .thenNothing();
  });

  it('updates the links when recorded again with new links only', () => {
    given([providerRecorded])
      .when(recordProvider({ hostedInvoiceUrl: 'https://invoice.stripe.com/i/in_123_v2' }))
      .then([
        {
          type: 'ProviderInvoiceLinksUpdated',
          data: { hostedInvoiceUrl: 'https://invoice.stripe.com/i/in_123_v2', invoicePdf: 'https://pay.stripe.com/invoice/in_123/pdf', updatedAt: NOW_ISO, actor: webhook },
        },
      ]);
  });

  it.each<[string, Partial<RecordProviderInvoice['data']>]>([
    ['total', { total: 5000 }],
    ['currency', { currency: 'EUR' }],
    ['line items', { lineItems: [{ description: 'Pro plan (annual)', quantity: 1, unitAmount: 4900 }] }],
    ['due date', { dueDate: '2025-04-01' }],
    ['subscription', { subscriptionId: 'sub_other' }],
    ['customer', { customerId: 'coach_2' }],
    ['tenant', { tenantId: 'other' }],
    ['invoice id', { invoiceId: 'inv_other' }],
  ])('refuses the same provider invoice with a different %s', (_label, overrides) => {
    given([providerRecorded]).when(recordProvider(overrides)).thenRefuses('provider_invoice_mismatch', 'conflict');
  });

  it('refuses a different provider invoice on the same stream', () => {
    given([providerRecorded]).when(recordProvider({ providerInvoiceId: 'in_456' })).thenRefuses('invoice_exists', 'conflict');
  });

  it('refuses to record a provider invoice over an issued invoice', () => {
    given([issued]).when(recordProvider()).thenRefuses('invoice_exists', 'conflict');
  });

  it('refuses an unknown currency', () => {
    given([]).when(recordProvider({ currency: 'usd' })).thenRefuses('invalid_currency', 'invalid');
  });

  it.each<[string, Partial<RecordProviderInvoice['data']>]>([
    ['a negative total', { total: -1 }],
    ['a float total', { total: 49.9 }],
    ['a float line amount', { lineItems: [{ description: 'x', quantity: 1, unitAmount: 49.9 }] }],
    ['a negative quantity', { lineItems: [{ description: 'x', quantity: -1, unitAmount: 4900 }] }],
  ])('refuses %s as invalid money', (_label, overrides) => {
    given([]).when(recordProvider(overrides)).thenRefuses('invalid_money', 'invalid');
  });

  it('refuses a due date that is not an ISO date', () => {
    given([]).when(recordProvider({ dueDate: '2025-13-01' })).thenRefuses('invalid_date', 'invalid');
  });
});

describe('UpdateProviderInvoiceLinks', () => {
  it('updates the hosted invoice URL and the PDF', () => {
    given([providerRecorded])
      .when(updateLinks('https://h/2', 'https://p/2'))
      .then([{ type: 'ProviderInvoiceLinksUpdated', data: { hostedInvoiceUrl: 'https://h/2', invoicePdf: 'https://p/2', updatedAt: NOW_ISO, actor: webhook } }]);
  });

  it('shows the new links in state', () => {
    const s = stateAfter([providerRecorded, { type: 'ProviderInvoiceLinksUpdated', data: { hostedInvoiceUrl: 'https://h/2', invoicePdf: null, updatedAt: NOW_ISO, actor: webhook } }]);
    expect(s).toMatchObject({ hostedInvoiceUrl: 'https://h/2', invoicePdf: null });
  });

  it('is a no-op when the links did not change', () => {
    given([providerRecorded]).when(updateLinks('https://invoice.stripe.com/i/in_123', 'https://pay.stripe.com/invoice/in_123/pdf')).thenNothing();
  });

  it('refuses on an invoice issued through Settle', () => {
    given([issued]).when(updateLinks('https://h/2', 'https://p/2')).thenRefuses('not_provider_invoice', 'conflict');
  });

  it('refuses when there is no invoice', () => {
    given([]).when(updateLinks('https://h/2', 'https://p/2')).thenRefuses('invoice_not_found', 'conflict');
  });
});

// ---------------------------------------------------------------------------------------------
// Payment attempts
// ---------------------------------------------------------------------------------------------

describe('RecordPaymentAttempt: unsuccessful attempts', () => {
  const declined = { outcome: 'failed' as const, providerChargeId: 'ch_declined', errorCode: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' };

  it('records a failed attempt with its error fields', () => {
    given([issued])
      .when(attempt(declined))
      .then([
        {
          type: 'PaymentAttemptFailed',
          data: { ...attemptData({ providerChargeId: 'ch_declined' }), errorCode: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' },
        },
      ]);
  });

  it('records missing error fields as null', () => {
    given([issued])
      .when(attempt({ outcome: 'failed', providerChargeId: undefined }))
      .then([{ type: 'PaymentAttemptFailed', data: { ...attemptData({ providerChargeId: null }), errorCode: null, declineCode: null, message: null } }]);
  });

  it.each(['requires_action', 'processing'] as const)('records a %s attempt as pending', (outcome) => {
    given([issued])
      .when(attempt({ outcome, errorCode: 'authentication_required' }))
      .then([{ type: 'PaymentAttemptPending', data: { ...attemptData(), outcome, errorCode: 'authentication_required', declineCode: null, message: null } }]);
  });

  it('keeps the invoice open and lists the failed attempt in state', () => {
    const events = invoiceDecider.decide(attempt(declined), stateAfter([issued]));
    const s = stateAfter([issued, ...events]);
    expect(s.status).toBe('open');
    expect(s.amountPaid).toBe(0);
    expect(s.attempts).toEqual([
      expect.objectContaining({ attemptId: 'att_1', outcome: 'failed', result: 'failed', errorCode: 'card_declined', declineCode: 'insufficient_funds', message: 'Your card has insufficient funds.' }),
    ]);
    expect(s.processedProviderPaymentIds).toEqual([]);
  });

  it('lists a pending attempt with its outcome in state', () => {
    const events = invoiceDecider.decide(attempt({ outcome: 'requires_action' }), stateAfter([issued]));
    const s = stateAfter([issued, ...events]);
    expect(s.status).toBe('open');
    expect(s.attempts).toEqual([expect.objectContaining({ attemptId: 'att_1', outcome: 'requires_action', result: 'pending' })]);
  });

  it('is a no-op for the same attempt recorded twice', () => {
    const first = invoiceDecider.decide(attempt(declined), stateAfter([issued]));
    given([issued, ...first]).when(attempt(declined)).thenNothing();
  });

  it('lets a pending attempt move on to success under the same attempt id', () => {
    const pending = invoiceDecider.decide(attempt({ outcome: 'processing' }), stateAfter([issued]));
    given([issued, ...pending]).when(attempt()).then(paid());
  });

  it('still records a failed attempt on a paid invoice', () => {
    given([issued, ...paid()])
      .when(attempt({ ...declined, attemptId: 'att_late' }))
      .thenMatches([{ type: 'PaymentAttemptFailed', data: { attemptId: 'att_late' } }]);
  });

  it('records a failed attempt in another currency without refusing it', () => {
    given([issued])
      .when(attempt({ ...declined, amount: { amount: 10, currency: 'USD' } }))
      .thenMatches([{ type: 'PaymentAttemptFailed', data: { amount: { amount: 10, currency: 'USD' } } }]);
  });
});

describe('RecordPaymentAttempt: successful payments', () => {
  it('pays an open invoice when the amount and currency match the total', () => {
    given([issued]).when(attempt()).then(paid());
  });

  it('takes paidAt from when the provider saw the payment, not from the clock', () => {
    given([issued])
      .when(attempt({ occurredAt: '2025-02-28T23:59:59+01:00' }))
      .thenMatches([{ type: 'PaymentSucceeded' }, { type: 'InvoicePaid', data: { paidAt: '2025-02-28T23:59:59+01:00' } }]);
  });

  it('pays through PayPal (order id and capture id)', () => {
    given([issued])
      .when(attempt({ provider: 'paypal', providerPaymentId: '5O190127TN364715T', providerChargeId: '3C679366HH908993F' }))
      .then(paid({ provider: 'paypal', providerPaymentId: '5O190127TN364715T', providerChargeId: '3C679366HH908993F' }));
  });

  it('pays a provider invoice', () => {
    const usd = { amount: 4900, currency: 'USD' };
    given([providerRecorded]).when(attempt({ amount: usd })).then(paid({ amount: usd }));
  });

  it('shows the payment in state', () => {
    const s = stateAfter([issued, ...paid()]);
    expect(s).toMatchObject({
      status: 'paid',
      paidAt: '2025-03-02T09:00:00Z',
      payment: { provider: 'stripe', providerPaymentId: 'pi_1', providerChargeId: 'ch_1' },
      amountPaid: TOTAL,
      collected: TOTAL,
      processedProviderPaymentIds: ['pi_1'],
      processedProviderChargeIds: ['ch_1'],
    });
    expect(s.attempts).toEqual([expect.objectContaining({ attemptId: 'att_1', outcome: 'succeeded', result: 'paid', errorCode: null })]);
  });

  it.each<[string, Money]>([
    ['less than the total', eur(TOTAL - 1)],
    ['more than the total', eur(TOTAL + 1)],
    ['the total in another currency', { amount: TOTAL, currency: 'USD' }],
  ])('flags a success for %s as an amount mismatch and does not pay', (_label, amount) => {
    given([issued])
      .when(attempt({ amount }))
      .then([{ type: 'PaymentAmountMismatch', data: { ...attemptData({ amount }), expected: eur(TOTAL), needsAttention: true } }]);
  });

  it('keeps a mismatched invoice open and lists the mismatch in state', () => {
    const events = invoiceDecider.decide(attempt({ amount: eur(1000) }), stateAfter([issued]));
    const s = stateAfter([issued, ...events]);
    expect(s).toMatchObject({ status: 'open', amountPaid: 0, collected: 0, paidAt: null, processedProviderPaymentIds: ['pi_1'] });
    expect(s.amountMismatches).toEqual([expect.objectContaining({ attemptId: 'att_1', amount: eur(1000), result: 'amount_mismatch' })]);
  });

  it('pays after a mismatch when a matching payment arrives', () => {
    const mismatch = invoiceDecider.decide(attempt({ amount: eur(1000) }), stateAfter([issued]));
    given([issued, ...mismatch])
      .when(attempt({ attemptId: 'att_2', providerPaymentId: 'pi_2', providerChargeId: 'ch_2' }))
      .then(paid({ attemptId: 'att_2', providerPaymentId: 'pi_2', providerChargeId: 'ch_2' }));
  });

  it('is a no-op for a replayed mismatched payment under another attempt id', () => {
    const mismatch = invoiceDecider.decide(attempt({ amount: eur(1000) }), stateAfter([issued]));
    given([issued, ...mismatch])
      .when(attempt({ attemptId: 'att_2', amount: eur(1000) }))
      .thenNothing();
  });

  it('is a no-op for the same success recorded twice', () => {
    given([issued, ...paid()]).when(attempt()).thenNothing();
  });

  it('is a no-op for a duplicate success with the same provider payment id and another attempt id', () => {
    given([issued, ...paid()])
      .when(attempt({ attemptId: 'att_retry', providerChargeId: null }))
      .thenNothing();
  });

  it('is a no-op for a duplicate success with the same charge id and another attempt id', () => {
    given([issued, ...paid()])
      .when(attempt({ attemptId: 'att_retry', providerPaymentId: 'pi_other' }))
      .thenNothing();
  });

  it('records a second, different payment on a paid invoice as an overpayment to refund', () => {
    given([issued, ...paid()])
      .when(attempt({ attemptId: 'att_2', providerPaymentId: 'pi_2', providerChargeId: 'ch_2' }))
      .then([{ type: 'OverpaymentRecorded', data: { ...attemptData({ attemptId: 'att_2', providerPaymentId: 'pi_2', providerChargeId: 'ch_2' }), reason: 'already_paid', needsRefund: true } }]);
  });

  it('does not treat two payments without charge ids as duplicates', () => {
    given([issued, ...paid({ providerChargeId: null })])
      .when(attempt({ attemptId: 'att_2', providerPaymentId: 'pi_2', providerChargeId: null }))
      .thenMatches([{ type: 'OverpaymentRecorded', data: { providerPaymentId: 'pi_2', needsRefund: true } }]);
  });

  it('keeps the original payment when an overpayment is recorded', () => {
    const over = invoiceDecider.decide(attempt({ attemptId: 'att_2', providerPaymentId: 'pi_2', providerChargeId: 'ch_2' }), stateAfter([issued, ...paid()]));
    const s = stateAfter([issued, ...paid(), ...over]);
    expect(s).toMatchObject({ status: 'paid', amountPaid: TOTAL, collected: TOTAL, payment: { providerPaymentId: 'pi_1' } });
    expect(s.overpayments).toEqual([expect.objectContaining({ attemptId: 'att_2', providerPaymentId: 'pi_2', reason: 'already_paid', needsRefund: true })]);
    expect(s.processedProviderPaymentIds).toEqual(['pi_1', 'pi_2']);
  });

  it('is a no-op for a replayed overpayment', () => {
    const over = invoiceDecider.decide(attempt({ attemptId: 'att_2', providerPaymentId: 'pi_2', providerChargeId: 'ch_2' }), stateAfter([issued, ...paid()]));
    given([issued, ...paid(), ...over])
      .when(attempt({ attemptId: 'att_3', providerPaymentId: 'pi_2', providerChargeId: 'ch_2' }))
      .thenNothing();
  });

  it('records money arriving for a voided invoice as an overpayment to refund', () => {
    given([issued, voided])
      .when(attempt())
      .then([{ type: 'OverpaymentRecorded', data: { ...attemptData(), reason: 'invoice_void', needsRefund: true } }]);
  });

  it('keeps a voided invoice void when money arrives', () => {
    const over = invoiceDecider.decide(attempt(), stateAfter([issued, voided]));
    expect(stateAfter([issued, voided, ...over])).toMatchObject({ status: 'void', amountPaid: 0, paidAt: null });
  });

  it('records a new payment on a fully refunded invoice as an overpayment to refund', () => {
    given([issued, ...paid(), refundRecorded('r1', TOTAL), invoiceRefunded(TOTAL)])
      .when(attempt({ attemptId: 'att_2', providerPaymentId: 'pi_2', providerChargeId: 'ch_2' }))
      .thenMatches([{ type: 'OverpaymentRecorded', data: { providerPaymentId: 'pi_2', reason: 'invoice_refunded', needsRefund: true } }]);
  });
});

describe('RecordPaymentAttempt: refusals', () => {
  it('refuses when there is no invoice', () => {
    given([]).when(attempt()).thenRefuses('invoice_not_found', 'conflict');
  });

  it.each<[string, Money]>([
    ['a negative amount', eur(-1)],
    ['a float amount', eur(35.5)],
  ])('refuses %s', (_label, amount) => {
    given([issued]).when(attempt({ amount })).thenRefuses('invalid_money', 'invalid');
  });

  it('refuses an unknown currency', () => {
    given([issued])
      .when(attempt({ amount: { amount: TOTAL, currency: 'eur' } }))
      .thenRefuses('invalid_currency', 'invalid');
  });

  it.each(['yesterday', '2025-03-02', '2025-03-02T09:00:00', '2025-02-30T09:00:00Z', ''])('refuses occurredAt %p', (occurredAt) => {
    given([issued]).when(attempt({ occurredAt })).thenRefuses('invalid_date', 'invalid');
  });
});

// ---------------------------------------------------------------------------------------------
// VoidInvoice
// ---------------------------------------------------------------------------------------------

describe('VoidInvoice', () => {
  it('voids an open invoice', () => {
    given([issued]).when(voidInvoice()).then([voided]);
  });

  it('voids an open invoice that has failed and mismatched attempts', () => {
    const history = [issued, { type: 'PaymentAmountMismatch', data: { ...attemptData({ amount: eur(1) }), expected: eur(TOTAL), needsAttention: true } } as InvoiceEvent];
    given(history).when(voidInvoice()).then([voided]);
  });

  it('shows the void in state', () => {
    expect(stateAfter([issued, voided])).toMatchObject({ status: 'void', voidedAt: NOW_ISO, voidReason: 'issued by mistake' });
  });

  it('refuses to void a paid invoice', () => {
    given([issued, ...paid()]).when(voidInvoice()).thenRefuses('invoice_paid', 'conflict');
  });

  it('refuses to void a refunded invoice', () => {
    given([issued, ...paid(), refundRecorded('r1', TOTAL), invoiceRefunded(TOTAL)]).when(voidInvoice()).thenRefuses('invoice_paid', 'conflict');
  });

  it('refuses to void an invoice twice', () => {
    given([issued, voided]).when(voidInvoice()).thenRefuses('invoice_void', 'conflict');
  });

  it('refuses when there is no invoice', () => {
    given([]).when(voidInvoice()).thenRefuses('invoice_not_found', 'conflict');
  });
});

// ---------------------------------------------------------------------------------------------
// Refunds
// ---------------------------------------------------------------------------------------------

describe('RecordRefund', () => {
  const paidInvoice = [issued, ...paid()];

  it('records a partial refund and leaves the invoice paid', () => {
    given(paidInvoice).when(refund({ reason: 'requested_by_customer' })).then([
      { type: 'RefundRecorded', data: { refundId: 'r1', providerRefundId: 're_r1', amount: eur(1000), reason: 'requested_by_customer', refundedAt: NOW_ISO, actor: coach } },
    ]);
  });

  it('shows a partial refund in state', () => {
    const s = stateAfter([...paidInvoice, refundRecorded('r1', 1000)]);
    expect(s).toMatchObject({ status: 'paid', amountPaid: TOTAL, amountRefunded: 1000, collected: TOTAL - 1000 });
    expect(s.refunds).toEqual([{ refundId: 'r1', providerRefundId: 're_r1', amount: eur(1000), reason: null, refundedAt: NOW_ISO }]);
  });

  it('marks the invoice refunded on a full refund', () => {
    given(paidInvoice)
      .when(refund({ amount: eur(TOTAL) }))
      .then([{ ...refundRecorded('r1', TOTAL, 're_r1') }, invoiceRefunded(TOTAL)]);
  });

  it('marks the invoice refunded when partial refunds add up to the total', () => {
    given([...paidInvoice, refundRecorded('r1', 1000)])
      .when(refund({ refundId: 'r2', providerRefundId: 're_r2', amount: eur(TOTAL - 1000) }))
      .then([refundRecorded('r2', TOTAL - 1000, 're_r2'), invoiceRefunded(TOTAL)]);
  });

  it('shows a fully refunded invoice in state', () => {
    expect(stateAfter([...paidInvoice, refundRecorded('r1', TOTAL), invoiceRefunded(TOTAL)])).toMatchObject({ status: 'refunded', amountRefunded: TOTAL, collected: 0 });
  });

  it('refuses a refund larger than what was paid', () => {
    given(paidInvoice).when(refund({ amount: eur(TOTAL + 1) })).thenRefuses('refund_exceeds_paid', 'invalid');
  });

  it('refuses a refund larger than what is left after earlier refunds', () => {
    given([...paidInvoice, refundRecorded('r1', 1000)])
      .when(refund({ refundId: 'r2', providerRefundId: 're_r2', amount: eur(TOTAL - 999) }))
      .thenRefuses('refund_exceeds_paid', 'invalid');
  });

  it('refuses any further refund on a fully refunded invoice', () => {
    given([...paidInvoice, refundRecorded('r1', TOTAL), invoiceRefunded(TOTAL)])
      .when(refund({ refundId: 'r2', providerRefundId: 're_r2', amount: eur(1) }))
      .thenRefuses('refund_exceeds_paid', 'invalid');
  });

  it("refunds an overpayment on the overpayment (the charge the refund names), never on the invoice's own payment", () => {
    const over: InvoiceEvent = { type: 'OverpaymentRecorded', data: { ...attemptData({ attemptId: 'att_2', providerPaymentId: 'pi_2', providerChargeId: 'ch_2' }), reason: 'already_paid', needsRefund: true } };
    const named = refund({ amount: eur(TOTAL) });
    const byCharge = { ...named, data: { ...named.data, providerChargeId: 'ch_2', providerPaymentId: 'pi_2' } } as InvoiceCommand;
    given([...paidInvoice, over])
      .when(byCharge)
      .then([{ type: 'OverpaymentRefunded', data: { refundId: 'r1', providerRefundId: 're_r1', provider: 'stripe', providerPaymentId: 'pi_2', providerChargeId: 'ch_2', amount: eur(TOTAL), reason: null, refundedAt: NOW_ISO, actor: coach } }]);
    const s = stateAfter([...paidInvoice, over, ...invoiceDecider.decide(byCharge, stateAfter([...paidInvoice, over]))]);
    expect(s).toMatchObject({ status: 'paid', amountRefunded: 0, collected: TOTAL });
    expect(s.overpayments.filter((o) => o.needsRefund)).toEqual([]);
    // no more than the overpayment itself
    const again = { ...byCharge, data: { ...byCharge.data, refundId: 'r2', providerRefundId: 're_r2', amount: eur(1) } } as InvoiceCommand;
    given([...paidInvoice, over, ...invoiceDecider.decide(byCharge, stateAfter([...paidInvoice, over]))]).when(again).thenRefuses('refund_exceeds_paid', 'invalid');
  });

  it('refuses to refund money that is under an open dispute', () => {
    given([...paidInvoice, disputeOpened('d1', 3000)])
      .when(refund({ amount: eur(501) }))
      .thenRefuses('refund_exceeds_paid', 'invalid');
  });

  it('refunds what is not under dispute', () => {
    given([...paidInvoice, disputeOpened('d1', 3000)])
      .when(refund({ amount: eur(500) }))
      .thenMatches([{ type: 'RefundRecorded', data: { amount: eur(500) } }]);
  });

  it('refuses to refund money already lost in a dispute', () => {
    given([...paidInvoice, disputeOpened('d1', 1000), disputeClosed('DisputeLost', 'd1', 1000)])
      .when(refund({ amount: eur(TOTAL - 999) }))
      .thenRefuses('refund_exceeds_paid', 'invalid');
  });

  it('refunds again what a won dispute released', () => {
    given([...paidInvoice, disputeOpened('d1', TOTAL), disputeClosed('DisputeWon', 'd1', TOTAL)])
      .when(refund({ amount: eur(TOTAL) }))
      .thenMatches([{ type: 'RefundRecorded' }, { type: 'InvoiceRefunded' }]);
  });

  it('refuses a refund on an open invoice', () => {
    given([issued]).when(refund()).thenRefuses('invoice_not_paid', 'conflict');
  });

  it('refuses a refund on a voided invoice', () => {
    given([issued, voided]).when(refund()).thenRefuses('invoice_not_paid', 'conflict');
  });

  it('refuses when there is no invoice', () => {
    given([]).when(refund()).thenRefuses('invoice_not_found', 'conflict');
  });

  it('is a no-op for the same refund id twice', () => {
    given([...paidInvoice, refundRecorded('r1', 1000)])
      .when(refund({ providerRefundId: 're_other' }))
      .thenNothing();
  });

  it('is a no-op for the same provider refund id under another refund id', () => {
    given([...paidInvoice, refundRecorded('r1', 1000)])
      .when(refund({ refundId: 'r9' }))
      .thenNothing();
  });

  it('is a no-op for a replayed full refund on a refunded invoice', () => {
    given([...paidInvoice, refundRecorded('r1', TOTAL), invoiceRefunded(TOTAL)])
      .when(refund({ amount: eur(TOTAL) }))
      .thenNothing();
  });

  it.each<[string, Money]>([
    ['a zero amount', eur(0)],
    ['a negative amount', eur(-100)],
    ['a float amount', eur(10.5)],
  ])('refuses %s', (_label, amount) => {
    given(paidInvoice).when(refund({ amount })).thenRefuses('invalid_money', 'invalid');
  });

  it('refuses an unknown currency', () => {
    given(paidInvoice)
      .when(refund({ amount: { amount: 100, currency: 'EURO' } }))
      .thenRefuses('invalid_currency', 'invalid');
  });

  it('refuses a refund in another currency than the invoice', () => {
    given(paidInvoice)
      .when(refund({ amount: { amount: 100, currency: 'USD' } }))
      .thenRefuses('currency_mismatch', 'invalid');
  });
});

// ---------------------------------------------------------------------------------------------
// Disputes
// ---------------------------------------------------------------------------------------------

describe('OpenDispute', () => {
  const paidInvoice = [issued, ...paid()];

  it('opens a dispute on a paid invoice', () => {
    given(paidInvoice).when(openDispute()).then([disputeOpened('d1', TOTAL)]);
  });

  it('counts an open dispute as disputed, not yet as lost', () => {
    const s = stateAfter([...paidInvoice, disputeOpened('d1', TOTAL)]);
    expect(s).toMatchObject({ status: 'paid', amountDisputed: TOTAL, amountLost: 0, collected: TOTAL });
    expect(s.disputes).toEqual([{ disputeId: 'd1', providerDisputeId: 'dp_d1', amount: eur(TOTAL), reason: 'fraudulent', status: 'open', openedAt: NOW_ISO, closedAt: null }]);
  });

  it('opens a dispute on a partially refunded invoice for what is left', () => {
    given([...paidInvoice, refundRecorded('r1', 1000)])
      .when(openDispute({ amount: eur(TOTAL - 1000) }))
      .then([disputeOpened('d1', TOTAL - 1000)]);
  });

  it('refuses a dispute larger than what is left after refunds', () => {
    given([...paidInvoice, refundRecorded('r1', 1000)])
      .when(openDispute({ amount: eur(TOTAL - 999) }))
      .thenRefuses('dispute_exceeds_paid', 'invalid');
  });

  it('refuses a dispute larger than what was paid', () => {
    given(paidInvoice).when(openDispute({ amount: eur(TOTAL + 1) })).thenRefuses('dispute_exceeds_paid', 'invalid');
  });

  it('refuses a second dispute over money already under dispute', () => {
    given([...paidInvoice, disputeOpened('d1', 3000)])
      .when(openDispute({ disputeId: 'd2', providerDisputeId: 'dp_d2', amount: eur(501) }))
      .thenRefuses('dispute_exceeds_paid', 'invalid');
  });

  it('refuses a dispute on an open invoice', () => {
    given([issued]).when(openDispute()).thenRefuses('invoice_not_paid', 'conflict');
  });

  it('refuses a dispute on a voided invoice', () => {
    given([issued, voided]).when(openDispute()).thenRefuses('invoice_not_paid', 'conflict');
  });

  it('refuses when there is no invoice', () => {
    given([]).when(openDispute()).thenRefuses('invoice_not_found', 'conflict');
  });

  it('is a no-op for the same dispute id twice', () => {
    given([...paidInvoice, disputeOpened('d1', TOTAL)]).when(openDispute({ providerDisputeId: 'dp_other' })).thenNothing();
  });

  it('is a no-op for the same provider dispute id under another dispute id', () => {
    given([...paidInvoice, disputeOpened('d1', TOTAL)]).when(openDispute({ disputeId: 'd9' })).thenNothing();
  });

  it('refuses a zero amount', () => {
    given(paidInvoice).when(openDispute({ amount: eur(0) })).thenRefuses('invalid_money', 'invalid');
  });

  it('refuses an unknown currency', () => {
    given(paidInvoice)
      .when(openDispute({ amount: { amount: 100, currency: 'E' } }))
      .thenRefuses('invalid_currency', 'invalid');
  });

  it('refuses a dispute in another currency than the invoice', () => {
    given(paidInvoice)
      .when(openDispute({ amount: { amount: 100, currency: 'GBP' } }))
      .thenRefuses('currency_mismatch', 'invalid');
  });
});

describe('CloseDispute', () => {
  const disputed = [issued, ...paid(), disputeOpened('d1', TOTAL)];

  it('records a won dispute', () => {
    given(disputed).when(closeDispute('won')).then([disputeClosed('DisputeWon', 'd1', TOTAL)]);
  });

  it('records a lost dispute', () => {
    given(disputed).when(closeDispute('lost')).then([disputeClosed('DisputeLost', 'd1', TOTAL)]);
  });

  it('keeps the money collected when a dispute is won', () => {
    const s = stateAfter([...disputed, disputeClosed('DisputeWon', 'd1', TOTAL)]);
    expect(s).toMatchObject({ amountDisputed: 0, amountLost: 0, collected: TOTAL, status: 'paid' });
    expect(s.disputes[0]).toMatchObject({ status: 'won', closedAt: NOW_ISO });
  });

  it('takes a lost dispute off what was collected', () => {
    const s = stateAfter([...disputed, disputeClosed('DisputeLost', 'd1', TOTAL)]);
    expect(s).toMatchObject({ amountDisputed: 0, amountLost: TOTAL, collected: 0 });
    expect(s.disputes[0]).toMatchObject({ status: 'lost', closedAt: NOW_ISO });
  });

  it('computes collected as paid minus refunded minus lost', () => {
    const s = stateAfter([issued, ...paid(), refundRecorded('r1', 500), disputeOpened('d1', 1000), disputeOpened('d2', 700), disputeClosed('DisputeLost', 'd1', 1000)]);
    expect(s).toMatchObject({ amountPaid: TOTAL, amountRefunded: 500, amountLost: 1000, amountDisputed: 700, collected: TOTAL - 500 - 1000 });
  });

  it('is a no-op when closing a dispute twice with the same outcome', () => {
    given([...disputed, disputeClosed('DisputeLost', 'd1', TOTAL)]).when(closeDispute('lost')).thenNothing();
  });

  it('refuses to close a closed dispute with the other outcome', () => {
    given([...disputed, disputeClosed('DisputeWon', 'd1', TOTAL)]).when(closeDispute('lost')).thenRefuses('dispute_already_closed', 'conflict');
  });

  it('refuses an unknown dispute', () => {
    given(disputed).when(closeDispute('won', 'd404')).thenRefuses('unknown_dispute', 'conflict');
  });

  it('refuses when there is no invoice', () => {
    given([]).when(closeDispute('won')).thenRefuses('invoice_not_found', 'conflict');
  });
});

// ---------------------------------------------------------------------------------------------
// Events are JSON
// ---------------------------------------------------------------------------------------------

describe('event data', () => {
  it('survives a JSON round trip for every kind of event the decider emits', () => {
    let history: InvoiceEvent[] = [];
    const run = (cmd: InvoiceCommand) => {
      const events = invoiceDecider.decide(cmd, stateAfter(history));
      history = [...history, ...events];
      return events;
    };
    run(issue({ number: 'INV-1' }));
    run(attempt({ outcome: 'failed', attemptId: 'a0', providerChargeId: undefined, errorCode: 'card_declined' }));
    run(attempt({ outcome: 'processing', attemptId: 'a1' }));
    run(attempt({ attemptId: 'a2', providerPaymentId: 'pi_x', providerChargeId: 'ch_x', amount: eur(1) }));
    run(attempt());
    run(attempt({ attemptId: 'a3', providerPaymentId: 'pi_3', providerChargeId: 'ch_3' }));
    run(openDispute({ amount: eur(500) }));
    run(closeDispute('lost'));
    run(openDispute({ disputeId: 'd2', providerDisputeId: 'dp_d2', amount: eur(500) }));
    run(closeDispute('won', 'd2'));
    run(refund({ amount: eur(TOTAL - 500) }));

    let providerHistory: InvoiceEvent[] = [];
    for (const cmd of [recordProvider(), updateLinks('https://h/2', null)]) {
      providerHistory = [...providerHistory, ...invoiceDecider.decide(cmd, stateAfter(providerHistory))];
    }
    let voidHistory: InvoiceEvent[] = [issued];
    voidHistory = [...voidHistory, ...invoiceDecider.decide(voidInvoice(), stateAfter(voidHistory))];

    let refundHistory: InvoiceEvent[] = [issued, ...paid()];
    refundHistory = [...refundHistory, ...invoiceDecider.decide(refund({ amount: eur(TOTAL) }), stateAfter(refundHistory))];

    const all = [...history, ...providerHistory, ...voidHistory, ...refundHistory];
    expect(new Set(all.map((e) => e.type))).toEqual(
      new Set([
        'InvoiceIssued',
        'PaymentAttemptFailed',
        'PaymentAttemptPending',
        'PaymentAmountMismatch',
        'PaymentSucceeded',
        'InvoicePaid',
        'OverpaymentRecorded',
        'DisputeOpened',
        'DisputeLost',
        'DisputeWon',
        'RefundRecorded',
        'InvoiceRefunded',
        'ProviderInvoiceRecorded',
        'ProviderInvoiceLinksUpdated',
        'InvoiceVoided',
      ]),
    );
    // toStrictEqual also fails on `undefined` properties, which JSON would silently drop.
    expect(JSON.parse(JSON.stringify(all))).toStrictEqual(all);
  });

  it('does not share line item objects with the command', () => {
    const cmd = issue();
    const [event] = invoiceDecider.decide(cmd, invoiceDecider.initialState);
    (cmd.data.lineItems[0] as { unitAmount: number }).unitAmount = 1;
    expect((event as Extract<InvoiceEvent, { type: 'InvoiceIssued' }>).data.lineItems[0]?.unitAmount).toBe(1500);
  });
});

describe('RecordRefund of a payment the invoice did not take', () => {
  const overpaid = (): InvoiceEvent[] => {
    const over = invoiceDecider.decide(attempt({ attemptId: 'att_2', providerPaymentId: 'pi_2', providerChargeId: 'ch_2' }), stateAfter([issued, ...paid()]));
    return [issued, ...paid(), ...over];
  };
  const providerRefund = (refundId: string, amount: number, ids: { providerPaymentId?: string | null; providerChargeId?: string | null }): InvoiceCommand => ({
    type: 'RecordRefund',
    data: { refundId, providerRefundId: refundId, amount: eur(amount), reason: null, actor: webhook, ...ids },
    metadata,
  });

  it('returns the duplicate payment it names, not the one that paid the invoice', () => {
    given(overpaid())
      .when(providerRefund('re_dup', 1000, { providerChargeId: 'ch_2', providerPaymentId: 'pi_2' }))
      .thenMatches([{ type: 'OverpaymentRefunded', data: { refundId: 're_dup', providerPaymentId: 'pi_2', providerChargeId: 'ch_2', amount: eur(1000), provider: 'stripe' } }]);
  });

  it('keeps the invoice paid and un-refunded, and needs no one once the duplicate is refunded in full', () => {
    const events = overpaid();
    const first = invoiceDecider.decide(providerRefund('re_a', 1000, { providerChargeId: 'ch_2' }), stateAfter(events));
    const half = stateAfter([...events, ...first]);
    expect(half).toMatchObject({ status: 'paid', amountPaid: TOTAL, amountRefunded: 0, collected: TOTAL });
    expect(half.overpayments[0]).toMatchObject({ refunded: 1000, needsRefund: true });
    const rest = invoiceDecider.decide(providerRefund('re_b', TOTAL - 1000, { providerChargeId: 'ch_2' }), half);
    const done = stateAfter([...events, ...first, ...rest]);
    expect(done.overpayments[0]).toMatchObject({ refunded: TOTAL, needsRefund: false });
    expect(done).toMatchObject({ status: 'paid', amountRefunded: 0 });
    given([...events, ...first, ...rest]).when(providerRefund('re_b', TOTAL - 1000, { providerChargeId: 'ch_2' })).thenNothing();
  });

  it('refuses more than is left of the duplicate payment', () => {
    given(overpaid()).when(providerRefund('re_big', TOTAL + 1, { providerChargeId: 'ch_2' })).thenRefuses('refund_exceeds_paid', 'invalid');
  });

  it('waits (not yet) for a payment it names that the invoice has not recorded', () => {
    given([issued, ...paid()]).when(providerRefund('re_early', 1000, { providerChargeId: 'ch_9', providerPaymentId: 'pi_9' })).thenRefuses('unknown_payment', 'conflict');
  });

  it('applies a refund naming the paying payment to the invoice', () => {
    given([issued, ...paid()])
      .when(providerRefund('re_pay', 1000, { providerChargeId: 'ch_1', providerPaymentId: 'pi_1' }))
      .thenMatches([{ type: 'RefundRecorded', data: { refundId: 're_pay', amount: eur(1000) } }]);
  });
});
