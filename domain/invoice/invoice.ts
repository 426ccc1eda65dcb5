/**
 * Invoice aggregate: one stream per invoice, provider-agnostic.
 *
 * Two ways in: an invoice issued through Settle (a coach bills a client, payable via Stripe
 * Connect or PayPal) or a provider invoice recorded from Stripe (platform subscription billing).
 * From then on every payment attempt, refund and dispute is recorded on the same stream, which
 * is the invoice's immutable audit trail: every event carries the `actor` that caused it.
 *
 * Money: integer minor units. Totals in events are `Money` ({amount, currency}); line-item
 * `unitAmount` and the `amount*` counters in state are integers in the invoice's currency.
 * Time: `command.metadata.now` (issuedAt, voidedAt, refundedAt, ...) or the provider's
 * `occurredAt` for payment attempts. Dates in events are ISO-8601 strings.
 */
import { assertNever, DomainRefusal, type Command, type Decider, type DomainEvent } from '../shared/decider';
import { isCurrency, isMinorUnits, type Money } from '../shared/money';
import { paypalSupports, stripeSupports } from '../shared/providerUnits';

// ---------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------

/** Who caused a command: a provider webhook (id = provider event id), a user, or Settle itself. */
export type Actor = { readonly kind: 'provider'; readonly id: string } | { readonly kind: 'user'; readonly id: string } | { readonly kind: 'system' };

export type PaymentMethod = 'stripe_connect' | 'paypal';
export type PaymentProvider = 'stripe' | 'paypal';
export type AttemptOutcome = 'succeeded' | 'failed' | 'requires_action' | 'processing';
export type InvoiceStatus = 'none' | 'open' | 'paid' | 'void' | 'refunded';

export interface LineItem {
  readonly description: string;
  readonly quantity: number;
  /** Integer minor units of the invoice currency. */
  readonly unitAmount: number;
}

export interface Customer {
  readonly name: string;
  readonly email: string;
}

const PAYMENT_METHODS: readonly PaymentMethod[] = ['stripe_connect', 'paypal'];

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

export type IssueInvoice = Command<
  'IssueInvoice',
  {
    invoiceId: string;
    /** The issuer (e.g. a coach). */
    tenantId: string;
    customerId: string;
    customer: Customer;
    lineItems: LineItem[];
    currency: string;
    /** ISO date, YYYY-MM-DD. */
    dueDate: string;
    allowedPaymentMethods: PaymentMethod[];
    provider?: PaymentProvider | null;
    number?: string | null;
    actor: Actor;
  }
>;

export type RecordProviderInvoice = Command<
  'RecordProviderInvoice',
  {
    invoiceId: string;
    tenantId: string;
    customerId: string;
    providerInvoiceId: string;
    /** Integer minor units, as the provider computed it (taxes and discounts included). */
    total: number;
    currency: string;
    /** Informational; provider lines may be credits (negative unitAmount) or zero quantity. */
    lineItems: LineItem[];
    hostedInvoiceUrl: string | null;
    invoicePdf: string | null;
    dueDate?: string | null;
    subscriptionId?: string | null;
    actor: Actor;
  }
>;

export type UpdateProviderInvoiceLinks = Command<'UpdateProviderInvoiceLinks', { hostedInvoiceUrl: string | null; invoicePdf: string | null; actor: Actor }>;

export type RecordPaymentAttempt = Command<
  'RecordPaymentAttempt',
  {
    attemptId: string;
    provider: PaymentProvider;
    /** Stripe PaymentIntent id (pi_...) or PayPal order id. */
    providerPaymentId: string;
    /** Stripe charge id (ch_...) or PayPal capture id. */
    providerChargeId?: string | null;
    amount: Money;
    outcome: AttemptOutcome;
    errorCode?: string | null;
    declineCode?: string | null;
    message?: string | null;
    /** ISO-8601 date-time at which the provider saw the attempt. */
    occurredAt: string;
    actor: Actor;
    receiptUrl?: string | null;
    card?: { brand?: unknown; last4?: unknown } | null;
    /** Integer minor units of the payment's currency. */
    applicationFeeAmount?: number | null;
  }
>;

export type VoidInvoice = Command<'VoidInvoice', { reason: string; actor: Actor }>;

/**
 * A refund. `providerPaymentId` / `providerChargeId` name the payment it returns money from (a
 * provider refund always belongs to one charge); absent: the payment that paid the invoice.
 */
export type RecordRefund = Command<
  'RecordRefund',
  { refundId: string; providerRefundId: string; amount: Money; reason?: string | null; actor: Actor; providerPaymentId?: string | null; providerChargeId?: string | null }
>;

export type OpenDispute = Command<'OpenDispute', { disputeId: string; providerDisputeId: string; amount: Money; reason: string; actor: Actor }>;

export type CloseDispute = Command<'CloseDispute', { disputeId: string; outcome: 'won' | 'lost'; actor: Actor }>;

export type InvoiceCommand =
  | IssueInvoice
  | RecordProviderInvoice
  | UpdateProviderInvoiceLinks
  | RecordPaymentAttempt
  | VoidInvoice
  | RecordRefund
  | OpenDispute
  | CloseDispute;

// ---------------------------------------------------------------------------------------------
// Events (data is JSON: no undefined, no Date, money as {amount, currency})
// ---------------------------------------------------------------------------------------------

/** The provider-side identity and outcome of one payment attempt, shared by the attempt events. */
export interface AttemptData {
  readonly attemptId: string;
  readonly provider: PaymentProvider;
  readonly providerPaymentId: string;
  readonly providerChargeId: string | null;
  readonly amount: Money;
  readonly occurredAt: string;
  readonly actor: Actor;
  /** The provider's receipt, when it gives one. */
  readonly receiptUrl?: string;
  /** Card brand and last four digits only: never more card data. */
  readonly card?: CardSummary;
  /** The platform's fee on a Connect payment, in the payment's currency. */
  readonly applicationFee?: Money;
}

export interface CardSummary {
  readonly brand: string;
  readonly last4: string;
}

/** Keeps brand and last4 only, and only when they look like what they are. */
export function cardSummary(card: { brand?: unknown; last4?: unknown } | null | undefined): CardSummary | null {
  if (!card || typeof card.brand !== 'string' || typeof card.last4 !== 'string') return null;
  if (!/^[a-z_ ]{2,30}$/i.test(card.brand) || !/^\d{4}$/.test(card.last4)) return null;
  return { brand: card.brand.toLowerCase(), last4: card.last4 };
}

export type InvoiceIssued = DomainEvent<
  'InvoiceIssued',
  {
    invoiceId: string;
    tenantId: string;
    customerId: string;
    customer: Customer;
    number: string | null;
    lineItems: LineItem[];
    currency: string;
    total: Money;
    dueDate: string;
    allowedPaymentMethods: PaymentMethod[];
    provider: PaymentProvider | null;
    issuedAt: string;
    actor: Actor;
  }
>;

export type ProviderInvoiceRecorded = DomainEvent<
  'ProviderInvoiceRecorded',
  {
    invoiceId: string;
    tenantId: string;
    customerId: string;
    provider: 'stripe';
    providerInvoiceId: string;
    subscriptionId: string | null;
    lineItems: LineItem[];
    currency: string;
    total: Money;
    dueDate: string | null;
    hostedInvoiceUrl: string | null;
    invoicePdf: string | null;
    recordedAt: string;
    actor: Actor;
  }
>;

export type ProviderInvoiceLinksUpdated = DomainEvent<'ProviderInvoiceLinksUpdated', { hostedInvoiceUrl: string | null; invoicePdf: string | null; updatedAt: string; actor: Actor }>;

export type PaymentAttemptFailed = DomainEvent<'PaymentAttemptFailed', AttemptData & { errorCode: string | null; declineCode: string | null; message: string | null }>;

export type PaymentAttemptPending = DomainEvent<
  'PaymentAttemptPending',
  AttemptData & { outcome: 'requires_action' | 'processing'; errorCode: string | null; declineCode: string | null; message: string | null }
>;

export type PaymentSucceeded = DomainEvent<'PaymentSucceeded', AttemptData>;

export type InvoicePaid = DomainEvent<
  'InvoicePaid',
  { paidAt: string; provider: PaymentProvider; providerPaymentId: string; providerChargeId: string | null; amount: Money; actor: Actor }
>;

/** Money arrived for an open invoice but not the expected amount/currency: needs attention, invoice stays open. */
export type PaymentAmountMismatch = DomainEvent<'PaymentAmountMismatch', AttemptData & { expected: Money; needsAttention: true }>;

/** Money arrived that the invoice does not need (already paid, refunded or void): must be refunded. */
export type OverpaymentRecorded = DomainEvent<
  'OverpaymentRecorded',
  AttemptData & { reason: 'already_paid' | 'invoice_refunded' | 'invoice_void'; needsRefund: true }
>;

export type InvoiceVoided = DomainEvent<'InvoiceVoided', { reason: string; voidedAt: string; actor: Actor }>;

export type RefundRecorded = DomainEvent<
  'RefundRecorded',
  {
    refundId: string;
    providerRefundId: string;
    amount: Money;
    reason: string | null;
    refundedAt: string;
    actor: Actor;
  }
>;

export type InvoiceRefunded = DomainEvent<'InvoiceRefunded', { amountRefunded: Money; refundedAt: string; actor: Actor }>;

/**
 * Money returned from a payment the invoice did not take (an overpayment or a payment of the
 * wrong amount): the invoice's own paid and refunded amounts do not change; the payment needs no
 * human once it is refunded in full.
 */
export type OverpaymentRefunded = DomainEvent<
  'OverpaymentRefunded',
  { refundId: string; providerRefundId: string; provider: PaymentProvider; providerPaymentId: string; providerChargeId: string | null; amount: Money; reason: string | null; refundedAt: string; actor: Actor }
>;

/** `providerPaymentId`: the payment under dispute (the one that paid the invoice); absent in events recorded before it was kept. */
export type DisputeOpened = DomainEvent<'DisputeOpened', { disputeId: string; providerDisputeId: string; amount: Money; reason: string; openedAt: string; actor: Actor; providerPaymentId?: string | null }>;

export type DisputeWon = DomainEvent<'DisputeWon', { disputeId: string; providerDisputeId: string; amount: Money; closedAt: string; actor: Actor; providerPaymentId?: string | null }>;

export type DisputeLost = DomainEvent<'DisputeLost', { disputeId: string; providerDisputeId: string; amount: Money; closedAt: string; actor: Actor; providerPaymentId?: string | null }>;

export type InvoiceEvent =
  | InvoiceIssued
  | ProviderInvoiceRecorded
  | ProviderInvoiceLinksUpdated
  | PaymentAttemptFailed
  | PaymentAttemptPending
  | PaymentSucceeded
  | InvoicePaid
  | PaymentAmountMismatch
  | OverpaymentRecorded
  | InvoiceVoided
  | RefundRecorded
  | InvoiceRefunded
  | OverpaymentRefunded
  | DisputeOpened
  | DisputeWon
  | DisputeLost;

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

export interface AttemptRecord {
  readonly attemptId: string;
  readonly provider: PaymentProvider;
  readonly providerPaymentId: string;
  readonly providerChargeId: string | null;
  readonly amount: Money;
  readonly outcome: AttemptOutcome;
  /** What Settle made of it: a normal attempt, the paying one, a mismatch or an overpayment. */
  readonly result: 'failed' | 'pending' | 'paid' | 'amount_mismatch' | 'overpayment';
  readonly errorCode: string | null;
  readonly declineCode: string | null;
  readonly message: string | null;
  readonly occurredAt: string;
}

export interface RefundRecord {
  readonly refundId: string;
  readonly providerRefundId: string;
  readonly amount: Money;
  readonly reason: string | null;
  readonly refundedAt: string;
}

export interface DisputeRecord {
  readonly disputeId: string;
  readonly providerDisputeId: string;
  readonly amount: Money;
  readonly reason: string;
  readonly status: 'open' | 'won' | 'lost';
  readonly openedAt: string;
  readonly closedAt: string | null;
}

export interface ProviderPaymentRef {
  readonly provider: PaymentProvider;
  readonly providerPaymentId: string;
  readonly providerChargeId: string | null;
}

export interface InvoiceState {
  readonly status: InvoiceStatus;
  readonly invoiceId: string | null;
  readonly tenantId: string | null;
  readonly customerId: string | null;
  readonly customer: Customer | null;
  readonly number: string | null;
  readonly lineItems: readonly LineItem[];
  readonly currency: string | null;
  readonly total: Money | null;
  readonly dueDate: string | null;
  readonly allowedPaymentMethods: readonly PaymentMethod[];
  /** Provider refs: where the invoice lives (null: Settle's own invoice) and Stripe ids. */
  readonly provider: PaymentProvider | null;
  readonly providerInvoiceId: string | null;
  readonly subscriptionId: string | null;
  readonly hostedInvoiceUrl: string | null;
  readonly invoicePdf: string | null;
  readonly issuedAt: string | null;
  readonly paidAt: string | null;
  /** The payment that paid the invoice. */
  readonly payment: ProviderPaymentRef | null;
  readonly voidedAt: string | null;
  readonly voidReason: string | null;
  /** Every attempt, successful or not, in order. */
  readonly attempts: readonly AttemptRecord[];
  /** Provider payment / charge ids whose success has been recorded in any form (dedup). */
  readonly processedProviderPaymentIds: readonly string[];
  readonly processedProviderChargeIds: readonly string[];
  /** Money the invoice did not take: a wrong amount, or more than it needed. `refunded` of it so far; `needsRefund` until all of it went back. */
  readonly amountMismatches: readonly (AttemptRecord & { refunded: number; needsRefund: boolean })[];
  readonly overpayments: readonly (AttemptRecord & { reason: OverpaymentRecorded['data']['reason']; refunded: number; needsRefund: boolean })[];
  readonly refunds: readonly RefundRecord[];
  readonly disputes: readonly DisputeRecord[];
  /** Counters in integer minor units of `currency`. collected = paid - refunded - lost. */
  readonly amountPaid: number;
  readonly amountRefunded: number;
  /** Sum of disputes still open. */
  readonly amountDisputed: number;
  /** Sum of disputes lost. */
  readonly amountLost: number;
  readonly collected: number;
}

const initialState: InvoiceState = {
  status: 'none',
  invoiceId: null,
  tenantId: null,
  customerId: null,
  customer: null,
  number: null,
  lineItems: [],
  currency: null,
  total: null,
  dueDate: null,
  allowedPaymentMethods: [],
  provider: null,
  providerInvoiceId: null,
  subscriptionId: null,
  hostedInvoiceUrl: null,
  invoicePdf: null,
  issuedAt: null,
  paidAt: null,
  payment: null,
  voidedAt: null,
  voidReason: null,
  attempts: [],
  processedProviderPaymentIds: [],
  processedProviderChargeIds: [],
  amountMismatches: [],
  overpayments: [],
  refunds: [],
  disputes: [],
  amountPaid: 0,
  amountRefunded: 0,
  amountDisputed: 0,
  amountLost: 0,
  collected: 0,
};

// ---------------------------------------------------------------------------------------------
// Validation helpers (refusals)
// ---------------------------------------------------------------------------------------------

function refuseInvalid(code: string, message: string, details: Record<string, unknown> = {}): never {
  throw new DomainRefusal(code, message, 'invalid', details);
}

function refuseConflict(code: string, message: string, details: Record<string, unknown> = {}): never {
  throw new DomainRefusal(code, message, 'conflict', details);
}

const nonEmpty = (s: unknown): s is string => typeof s === 'string' && s.length > 0;

/** Copies the actor to the event (only known fields), refusing a missing or malformed one. */
function checkActor(actor: unknown): Actor {
  const a = actor as { kind?: unknown; id?: unknown } | null | undefined;
  if (a && a.kind === 'system') return { kind: 'system' };
  if (a && (a.kind === 'provider' || a.kind === 'user') && nonEmpty(a.id)) return { kind: a.kind, id: a.id };
  return refuseInvalid('invalid_actor', 'every command must say who caused it: actor {kind: provider|user, id} or {kind: system}');
}

/** YYYY-MM-DD naming a real calendar day. */
function isIsoDate(s: unknown): s is string {
  if (typeof s !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const [y, m, d] = s.split('-').map(Number) as [number, number, number];
  const t = new Date(Date.UTC(y, m - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

/** ISO-8601 date-time with an explicit offset (Z or ±hh:mm). */
function isIsoDateTime(s: unknown): s is string {
  return (
    typeof s === 'string' &&
    /^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s) &&
    isIsoDate(s.slice(0, 10)) &&
    !Number.isNaN(Date.parse(s))
  );
}

function checkMoney(m: Money | undefined | null, what: string, opts: { positive?: boolean } = {}): Money {
  if (!m || !isMinorUnits(m.amount) || (opts.positive && m.amount === 0)) {
    return refuseInvalid('invalid_money', `${what} must be ${opts.positive ? 'a positive' : 'a non-negative'} integer of minor units`, { amount: m?.amount });
  }
  if (!isCurrency(m.currency)) return refuseInvalid('invalid_currency', `unknown ISO 4217 currency "${m.currency}"`, { currency: m.currency });
  return { amount: m.amount, currency: m.currency };
}

function requireInvoice(state: InvoiceState): void {
  if (state.status === 'none') refuseConflict('invoice_not_found', 'no invoice has been issued or recorded on this stream');
}

function copyLineItems(items: readonly LineItem[]): LineItem[] {
  return items.map((i) => ({ description: i.description, quantity: i.quantity, unitAmount: i.unitAmount }));
}

const nowIso = (command: InvoiceCommand): string => command.metadata.now.toISOString();

// ---------------------------------------------------------------------------------------------
// Decide: one function per command
// ---------------------------------------------------------------------------------------------

function issueInvoice(command: IssueInvoice, state: InvoiceState): InvoiceEvent[] {
  const d = command.data;
  const actor = checkActor(d.actor);
  if (state.status !== 'none') return refuseConflict('invoice_exists', 'this invoice has already been issued', { invoiceId: state.invoiceId });
  if (!Array.isArray(d.lineItems) || d.lineItems.length === 0) return refuseInvalid('no_line_items', 'an invoice needs at least one line item');
  if (!isCurrency(d.currency)) return refuseInvalid('invalid_currency', `unknown ISO 4217 currency "${d.currency}"`, { currency: d.currency });
  let total = 0;
  d.lineItems.forEach((item, index) => {
    const ok = Number.isSafeInteger(item.quantity) && item.quantity > 0 && isMinorUnits(item.unitAmount) && isMinorUnits(item.quantity * item.unitAmount);
    if (!ok) refuseInvalid('invalid_money', 'line items need a positive integer quantity and a unit amount in integer minor units', { index });
    total += item.quantity * item.unitAmount;
    if (!isMinorUnits(total)) refuseInvalid('invalid_money', 'the invoice total is out of range', { index });
  });
  if (!Array.isArray(d.allowedPaymentMethods) || d.allowedPaymentMethods.length === 0) {
    return refuseInvalid('no_payment_method', 'an invoice must allow at least one payment method');
  }
  const unknown = d.allowedPaymentMethods.filter((m) => !PAYMENT_METHODS.includes(m));
  if (unknown.length > 0) return refuseInvalid('invalid_payment_method', `payment methods must be among ${PAYMENT_METHODS.join(', ')}`, { unknown });
  // a method that can never take this currency would leave the payer with an invoice nobody can pay
  const cannot = d.allowedPaymentMethods.filter((m) => (m === 'paypal' ? !paypalSupports(d.currency) : !stripeSupports(d.currency)));
  if (cannot.length > 0) return refuseInvalid('currency_not_supported', `${cannot.join(' and ')} cannot take payments in ${d.currency}`, { currency: d.currency, methods: cannot });
  if (!isIsoDate(d.dueDate)) return refuseInvalid('invalid_date', 'dueDate must be an ISO date (YYYY-MM-DD)', { field: 'dueDate', value: d.dueDate });
  return [
    {
      type: 'InvoiceIssued',
      data: {
        invoiceId: d.invoiceId,
        tenantId: d.tenantId,
        customerId: d.customerId,
        customer: { name: d.customer.name, email: d.customer.email },
        number: d.number ?? null,
        lineItems: copyLineItems(d.lineItems),
        currency: d.currency,
        total: { amount: total, currency: d.currency },
        dueDate: d.dueDate,
        allowedPaymentMethods: PAYMENT_METHODS.filter((m) => d.allowedPaymentMethods.includes(m)),
        provider: d.provider ?? null,
        issuedAt: nowIso(command),
        actor,
      },
    },
  ];
}

function recordProviderInvoice(command: RecordProviderInvoice, state: InvoiceState): InvoiceEvent[] {
  const d = command.data;
  const actor = checkActor(d.actor);
  if (!isCurrency(d.currency)) return refuseInvalid('invalid_currency', `unknown ISO 4217 currency "${d.currency}"`, { currency: d.currency });
  if (!isMinorUnits(d.total)) return refuseInvalid('invalid_money', 'total must be a non-negative integer of minor units', { total: d.total });
  if (!Array.isArray(d.lineItems)) return refuseInvalid('invalid_money', 'lineItems must be a list');
  d.lineItems.forEach((item, index) => {
    // Provider lines are facts: proration credits are negative, metered lines may have quantity 0.
    if (!(Number.isSafeInteger(item.quantity) && item.quantity >= 0 && Number.isSafeInteger(item.unitAmount) && Math.abs(item.unitAmount) <= 10 ** 15)) {
      refuseInvalid('invalid_money', 'provider line items need an integer quantity and an integer unit amount in minor units', { index });
    }
  });
  const dueDate = d.dueDate ?? null;
  if (dueDate !== null && !isIsoDate(dueDate)) return refuseInvalid('invalid_date', 'dueDate must be an ISO date (YYYY-MM-DD)', { field: 'dueDate', value: dueDate });

  const recorded: ProviderInvoiceRecorded['data'] = {
    invoiceId: d.invoiceId,
    tenantId: d.tenantId,
    customerId: d.customerId,
    provider: 'stripe',
    providerInvoiceId: d.providerInvoiceId,
    subscriptionId: d.subscriptionId ?? null,
    lineItems: copyLineItems(d.lineItems),
    currency: d.currency,
    total: { amount: d.total, currency: d.currency },
    dueDate,
    hostedInvoiceUrl: d.hostedInvoiceUrl ?? null,
    invoicePdf: d.invoicePdf ?? null,
    recordedAt: nowIso(command),
    actor,
  };
  if (state.status === 'none') return [{ type: 'ProviderInvoiceRecorded', data: recorded }];

  if (state.providerInvoiceId === null || state.providerInvoiceId !== d.providerInvoiceId) {
    return refuseConflict('invoice_exists', 'this stream already holds another invoice', { invoiceId: state.invoiceId, providerInvoiceId: state.providerInvoiceId });
  }
  const sameFacts =
    state.invoiceId === recorded.invoiceId &&
    state.tenantId === recorded.tenantId &&
    state.customerId === recorded.customerId &&
    state.subscriptionId === recorded.subscriptionId &&
    state.currency === recorded.currency &&
    state.total?.amount === recorded.total.amount &&
    state.dueDate === recorded.dueDate &&
    // by value: an event read back from the store has its keys in jsonb's order, not the decider's
    JSON.stringify(copyLineItems(state.lineItems)) === JSON.stringify(recorded.lineItems);
  if (!sameFacts) {
    return refuseConflict('provider_invoice_mismatch', 'this provider invoice was already recorded with different data', { providerInvoiceId: d.providerInvoiceId });
  }
  // A replay: nothing new, unless the provider has since issued new links.
  return linksUpdate(state, recorded.hostedInvoiceUrl, recorded.invoicePdf, command, actor);
}

function linksUpdate(state: InvoiceState, hostedInvoiceUrl: string | null, invoicePdf: string | null, command: InvoiceCommand, actor: Actor): InvoiceEvent[] {
  if (state.hostedInvoiceUrl === hostedInvoiceUrl && state.invoicePdf === invoicePdf) return [];
  return [{ type: 'ProviderInvoiceLinksUpdated', data: { hostedInvoiceUrl, invoicePdf, updatedAt: nowIso(command), actor } }];
}

function updateProviderInvoiceLinks(command: UpdateProviderInvoiceLinks, state: InvoiceState): InvoiceEvent[] {
  const actor = checkActor(command.data.actor);
  requireInvoice(state);
  if (state.providerInvoiceId === null) return refuseConflict('not_provider_invoice', 'only a provider invoice has provider links');
  return linksUpdate(state, command.data.hostedInvoiceUrl ?? null, command.data.invoicePdf ?? null, command, actor);
}

function recordPaymentAttempt(command: RecordPaymentAttempt, state: InvoiceState): InvoiceEvent[] {
  const d = command.data;
  const actor = checkActor(d.actor);
  requireInvoice(state);
  const amount = checkMoney(d.amount, 'amount');
  if (!isIsoDateTime(d.occurredAt)) return refuseInvalid('invalid_date', 'occurredAt must be an ISO-8601 date-time with offset', { field: 'occurredAt', value: d.occurredAt });

  // A replay of the same attempt with the same outcome. (A pending attempt may still move on.)
  if (state.attempts.some((a) => a.attemptId === d.attemptId && a.outcome === d.outcome)) return [];

  const card = cardSummary(d.card);
  const attempt: AttemptData = {
    attemptId: d.attemptId,
    provider: d.provider,
    providerPaymentId: d.providerPaymentId,
    providerChargeId: d.providerChargeId ?? null,
    amount,
    occurredAt: d.occurredAt,
    actor,
    ...(typeof d.receiptUrl === 'string' && /^https:\/\//.test(d.receiptUrl) ? { receiptUrl: d.receiptUrl } : {}),
    ...(card ? { card } : {}),
    ...(typeof d.applicationFeeAmount === 'number' && isMinorUnits(d.applicationFeeAmount) && d.applicationFeeAmount > 0 && d.applicationFeeAmount <= amount.amount
      ? { applicationFee: { amount: d.applicationFeeAmount, currency: amount.currency } }
      : {}),
  };
  const errors = { errorCode: d.errorCode ?? null, declineCode: d.declineCode ?? null, message: d.message ?? null };

  switch (d.outcome) {
    case 'failed':
      return [{ type: 'PaymentAttemptFailed', data: { ...attempt, ...errors } }];
    case 'requires_action':
    case 'processing':
      return [{ type: 'PaymentAttemptPending', data: { ...attempt, outcome: d.outcome, ...errors } }];
    case 'succeeded':
      return paymentSucceeded(attempt, state);
    default:
      return assertNever(d.outcome, 'payment attempt outcome');
  }
}

function paymentSucceeded(attempt: AttemptData, state: InvoiceState): InvoiceEvent[] {
  const duplicate =
    state.processedProviderPaymentIds.includes(attempt.providerPaymentId) ||
    (attempt.providerChargeId !== null && state.processedProviderChargeIds.includes(attempt.providerChargeId));
  if (duplicate) return [];

  switch (state.status) {
    case 'open': {
      const total = state.total as Money;
      if (attempt.amount.amount !== total.amount || attempt.amount.currency !== total.currency) {
        return [{ type: 'PaymentAmountMismatch', data: { ...attempt, expected: { amount: total.amount, currency: total.currency }, needsAttention: true } }];
      }
      return [
        { type: 'PaymentSucceeded', data: attempt },
        {
          type: 'InvoicePaid',
          data: {
            paidAt: attempt.occurredAt,
            provider: attempt.provider,
            providerPaymentId: attempt.providerPaymentId,
            providerChargeId: attempt.providerChargeId,
            amount: attempt.amount,
            actor: attempt.actor,
          },
        },
      ];
    }
    case 'paid':
      return [{ type: 'OverpaymentRecorded', data: { ...attempt, reason: 'already_paid', needsRefund: true } }];
    case 'refunded':
      return [{ type: 'OverpaymentRecorded', data: { ...attempt, reason: 'invoice_refunded', needsRefund: true } }];
    case 'void':
      return [{ type: 'OverpaymentRecorded', data: { ...attempt, reason: 'invoice_void', needsRefund: true } }];
    case 'none':
      return refuseConflict('invoice_not_found', 'no invoice has been issued or recorded on this stream');
    default:
      return assertNever(state.status, 'invoice status');
  }
}

function voidInvoice(command: VoidInvoice, state: InvoiceState): InvoiceEvent[] {
  const actor = checkActor(command.data.actor);
  requireInvoice(state);
  if (state.status === 'paid' || state.status === 'refunded') return refuseConflict('invoice_paid', 'a paid invoice cannot be voided; refund it instead');
  if (state.status === 'void') return refuseConflict('invoice_void', 'the invoice is already void');
  return [{ type: 'InvoiceVoided', data: { reason: command.data.reason, voidedAt: nowIso(command), actor } }];
}

/** What can still leave the invoice: paid minus refunded, lost and currently disputed. */
function refundable(state: InvoiceState): number {
  return state.amountPaid - state.amountRefunded - state.amountLost - state.amountDisputed;
}

function checkInvoiceCurrency(state: InvoiceState, m: Money): void {
  if (m.currency !== state.currency) refuseInvalid('currency_mismatch', `amount must be in the invoice currency ${state.currency}`, { currency: m.currency, expected: state.currency });
}

function recordRefund(command: RecordRefund, state: InvoiceState): InvoiceEvent[] {
  const d = command.data;
  const actor = checkActor(d.actor);
  requireInvoice(state);
  const amount = checkMoney(d.amount, 'refund amount', { positive: true });
  if (state.refunds.some((r) => r.refundId === d.refundId || r.providerRefundId === d.providerRefundId)) return [];
  const extra = extraPayment(state, d.providerPaymentId ?? null, d.providerChargeId ?? null);
  if (extra) return refundExtraPayment(extra, d, amount, command, actor);
  if (!namesPayingPayment(state, d.providerPaymentId ?? null, d.providerChargeId ?? null)) {
    // a provider refund of a payment this invoice has not recorded yet (its success is still on its way)
    return refuseConflict('unknown_payment', 'the refund names a payment this invoice has not recorded', { providerPaymentId: d.providerPaymentId ?? null, providerChargeId: d.providerChargeId ?? null });
  }
  if (state.status !== 'paid' && state.status !== 'refunded') return refuseConflict('invoice_not_paid', 'only a paid invoice can be refunded', { status: state.status });
  checkInvoiceCurrency(state, amount);
  const available = refundable(state);
  if (amount.amount > available) {
    return refuseInvalid('refund_exceeds_paid', 'a refund cannot exceed what was paid minus what was refunded, lost or is under dispute', {
      requested: amount.amount,
      refundable: available,
    });
  }
  const refundedAt = nowIso(command);
  const events: InvoiceEvent[] = [{ type: 'RefundRecorded', data: { refundId: d.refundId, providerRefundId: d.providerRefundId, amount, reason: d.reason ?? null, refundedAt, actor } }];
  const refundedTotal = state.amountRefunded + amount.amount;
  if (refundedTotal === state.amountPaid) {
    events.push({ type: 'InvoiceRefunded', data: { amountRefunded: { amount: refundedTotal, currency: amount.currency }, refundedAt, actor } });
  }
  return events;
}

/** True when the refund names no payment (a refund asked of Settle: the paying one) or names the paying one. */
function namesPayingPayment(state: InvoiceState, providerPaymentId: string | null, providerChargeId: string | null): boolean {
  if (!providerPaymentId && !providerChargeId) return true;
  const p = state.payment;
  return p !== null && ((providerChargeId !== null && p.providerChargeId === providerChargeId) || (providerPaymentId !== null && p.providerPaymentId === providerPaymentId));
}

/** The overpayment or wrong-amount payment a refund names, if it names one. */
function extraPayment(state: InvoiceState, providerPaymentId: string | null, providerChargeId: string | null): (AttemptRecord & { refunded: number }) | null {
  if (!providerPaymentId && !providerChargeId) return null;
  const names = (a: AttemptRecord) => (providerChargeId !== null && a.providerChargeId === providerChargeId) || (providerPaymentId !== null && a.providerPaymentId === providerPaymentId);
  if (namesPayingPayment(state, providerPaymentId, providerChargeId)) return null;
  return [...state.overpayments, ...state.amountMismatches].find(names) ?? null;
}

function refundExtraPayment(extra: AttemptRecord & { refunded: number }, d: RecordRefund['data'], amount: Money, command: RecordRefund, actor: Actor): InvoiceEvent[] {
  if (amount.currency !== extra.amount.currency) refuseInvalid('currency_mismatch', `amount must be in the payment's currency ${extra.amount.currency}`, { currency: amount.currency, expected: extra.amount.currency });
  const left = extra.amount.amount - extra.refunded;
  if (amount.amount > left) return refuseInvalid('refund_exceeds_paid', 'a refund cannot exceed what is left of the payment it returns', { requested: amount.amount, refundable: left });
  return [
    {
      type: 'OverpaymentRefunded',
      data: { refundId: d.refundId, providerRefundId: d.providerRefundId, provider: extra.provider, providerPaymentId: extra.providerPaymentId, providerChargeId: extra.providerChargeId, amount, reason: d.reason ?? null, refundedAt: nowIso(command), actor },
    },
  ];
}

function openDispute(command: OpenDispute, state: InvoiceState): InvoiceEvent[] {
  const d = command.data;
  const actor = checkActor(d.actor);
  requireInvoice(state);
  const amount = checkMoney(d.amount, 'disputed amount', { positive: true });
  if (state.disputes.some((x) => x.disputeId === d.disputeId || x.providerDisputeId === d.providerDisputeId)) return [];
  if (state.status !== 'paid' && state.status !== 'refunded') return refuseConflict('invoice_not_paid', 'only a paid invoice can be disputed', { status: state.status });
  checkInvoiceCurrency(state, amount);
  const available = refundable(state);
  if (amount.amount > available) {
    return refuseInvalid('dispute_exceeds_paid', 'a dispute cannot exceed what was paid minus what was refunded, lost or is already under dispute', {
      requested: amount.amount,
      disputable: available,
    });
  }
  return [{ type: 'DisputeOpened', data: { disputeId: d.disputeId, providerDisputeId: d.providerDisputeId, amount, reason: d.reason, openedAt: nowIso(command), actor, providerPaymentId: state.payment?.providerPaymentId ?? null } }];
}

function closeDispute(command: CloseDispute, state: InvoiceState): InvoiceEvent[] {
  const d = command.data;
  const actor = checkActor(d.actor);
  requireInvoice(state);
  const dispute = state.disputes.find((x) => x.disputeId === d.disputeId);
  if (!dispute) return refuseConflict('unknown_dispute', `no dispute ${d.disputeId} on this invoice`, { disputeId: d.disputeId });
  if (dispute.status !== 'open') {
    if (dispute.status === d.outcome) return [];
    return refuseConflict('dispute_already_closed', `dispute ${d.disputeId} was already closed as ${dispute.status}`, { disputeId: d.disputeId, status: dispute.status });
  }
  const data = { disputeId: dispute.disputeId, providerDisputeId: dispute.providerDisputeId, amount: dispute.amount, closedAt: nowIso(command), actor, providerPaymentId: state.payment?.providerPaymentId ?? null };
  switch (d.outcome) {
    case 'won':
      return [{ type: 'DisputeWon', data }];
    case 'lost':
      return [{ type: 'DisputeLost', data }];
    default:
      return assertNever(d.outcome, 'dispute outcome');
  }
}

function decide(command: InvoiceCommand, state: InvoiceState): InvoiceEvent[] {
  switch (command.type) {
    case 'IssueInvoice':
      return issueInvoice(command, state);
    case 'RecordProviderInvoice':
      return recordProviderInvoice(command, state);
    case 'UpdateProviderInvoiceLinks':
      return updateProviderInvoiceLinks(command, state);
    case 'RecordPaymentAttempt':
      return recordPaymentAttempt(command, state);
    case 'VoidInvoice':
      return voidInvoice(command, state);
    case 'RecordRefund':
      return recordRefund(command, state);
    case 'OpenDispute':
      return openDispute(command, state);
    case 'CloseDispute':
      return closeDispute(command, state);
    default:
      return assertNever(command, 'invoice command');
  }
}

// ---------------------------------------------------------------------------------------------
// Evolve
// ---------------------------------------------------------------------------------------------

function attemptRecord(d: AttemptData, outcome: AttemptOutcome, result: AttemptRecord['result'], errors?: { errorCode: string | null; declineCode: string | null; message: string | null }): AttemptRecord {
  return {
    attemptId: d.attemptId,
    provider: d.provider,
    providerPaymentId: d.providerPaymentId,
    providerChargeId: d.providerChargeId,
    amount: d.amount,
    outcome,
    result,
    errorCode: errors?.errorCode ?? null,
    declineCode: errors?.declineCode ?? null,
    message: errors?.message ?? null,
    occurredAt: d.occurredAt,
  };
}

/** A recorded success (whatever Settle made of it) marks its payment and charge ids as processed. */
function markProcessed(state: InvoiceState, d: AttemptData): Pick<InvoiceState, 'processedProviderPaymentIds' | 'processedProviderChargeIds'> {
  return {
    processedProviderPaymentIds: [...state.processedProviderPaymentIds, d.providerPaymentId],
    processedProviderChargeIds: d.providerChargeId === null ? state.processedProviderChargeIds : [...state.processedProviderChargeIds, d.providerChargeId],
  };
}

function withCollected(state: InvoiceState): InvoiceState {
  return { ...state, collected: state.amountPaid - state.amountRefunded - state.amountLost };
}

function evolve(state: InvoiceState, event: InvoiceEvent): InvoiceState {
  switch (event.type) {
    case 'InvoiceIssued': {
      const d = event.data;
      return {
        ...state,
        status: 'open',
        invoiceId: d.invoiceId,
        tenantId: d.tenantId,
        customerId: d.customerId,
        customer: d.customer,
        number: d.number,
        lineItems: d.lineItems,
        currency: d.currency,
        total: d.total,
        dueDate: d.dueDate,
        allowedPaymentMethods: d.allowedPaymentMethods,
        provider: d.provider,
        issuedAt: d.issuedAt,
      };
    }
    case 'ProviderInvoiceRecorded': {
      const d = event.data;
      return {
        ...state,
        status: 'open',
        invoiceId: d.invoiceId,
        tenantId: d.tenantId,
        customerId: d.customerId,
        lineItems: d.lineItems,
        currency: d.currency,
        total: d.total,
        dueDate: d.dueDate,
        provider: d.provider,
        providerInvoiceId: d.providerInvoiceId,
        subscriptionId: d.subscriptionId,
        hostedInvoiceUrl: d.hostedInvoiceUrl,
        invoicePdf: d.invoicePdf,
        issuedAt: d.recordedAt,
      };
    }
    case 'ProviderInvoiceLinksUpdated':
      return { ...state, hostedInvoiceUrl: event.data.hostedInvoiceUrl, invoicePdf: event.data.invoicePdf };
    case 'PaymentAttemptFailed':
      return { ...state, attempts: [...state.attempts, attemptRecord(event.data, 'failed', 'failed', event.data)] };
    case 'PaymentAttemptPending':
      return { ...state, attempts: [...state.attempts, attemptRecord(event.data, event.data.outcome, 'pending', event.data)] };
    case 'PaymentSucceeded':
      return { ...state, attempts: [...state.attempts, attemptRecord(event.data, 'succeeded', 'paid')], ...markProcessed(state, event.data) };
    case 'InvoicePaid': {
      const d = event.data;
      return withCollected({
        ...state,
        status: 'paid',
        paidAt: d.paidAt,
        payment: { provider: d.provider, providerPaymentId: d.providerPaymentId, providerChargeId: d.providerChargeId },
        amountPaid: d.amount.amount,
      });
    }
    case 'PaymentAmountMismatch': {
      const record = attemptRecord(event.data, 'succeeded', 'amount_mismatch');
      return { ...state, attempts: [...state.attempts, record], amountMismatches: [...state.amountMismatches, { ...record, refunded: 0, needsRefund: true }], ...markProcessed(state, event.data) };
    }
    case 'OverpaymentRecorded': {
      const record = attemptRecord(event.data, 'succeeded', 'overpayment');
      return {
        ...state,
        attempts: [...state.attempts, record],
        overpayments: [...state.overpayments, { ...record, reason: event.data.reason, refunded: 0, needsRefund: true }],
        ...markProcessed(state, event.data),
      };
    }
    case 'InvoiceVoided':
      return { ...state, status: 'void', voidedAt: event.data.voidedAt, voidReason: event.data.reason };
    case 'RefundRecorded': {
      const d = event.data;
      return withCollected({
        ...state,
        refunds: [...state.refunds, { refundId: d.refundId, providerRefundId: d.providerRefundId, amount: d.amount, reason: d.reason, refundedAt: d.refundedAt }],
        amountRefunded: state.amountRefunded + d.amount.amount,
      });
    }
    case 'InvoiceRefunded':
      return { ...state, status: 'refunded' };
    case 'OverpaymentRefunded': {
      const d = event.data;
      const back = <T extends AttemptRecord & { refunded: number; needsRefund: boolean }>(x: T): T =>
        x.providerPaymentId === d.providerPaymentId ? { ...x, refunded: x.refunded + d.amount.amount, needsRefund: x.refunded + d.amount.amount < x.amount.amount } : x;
      return {
        ...state,
        refunds: [...state.refunds, { refundId: d.refundId, providerRefundId: d.providerRefundId, amount: d.amount, reason: d.reason, refundedAt: d.refundedAt }],
        overpayments: state.overpayments.map(back),
        amountMismatches: state.amountMismatches.map(back),
      };
    }
    case 'DisputeOpened': {
      const d = event.data;
      return {
        ...state,
        disputes: [...state.disputes, { disputeId: d.disputeId, providerDisputeId: d.providerDisputeId, amount: d.amount, reason: d.reason, status: 'open', openedAt: d.openedAt, closedAt: null }],
        amountDisputed: state.amountDisputed + d.amount.amount,
      };
    }
    case 'DisputeWon':
    case 'DisputeLost': {
      const d = event.data;
      const outcome = event.type === 'DisputeWon' ? 'won' : 'lost';
      return withCollected({
        ...state,
        disputes: state.disputes.map((x) => (x.disputeId === d.disputeId ? { ...x, status: outcome, closedAt: d.closedAt } : x)),
        amountDisputed: state.amountDisputed - d.amount.amount,
        amountLost: outcome === 'lost' ? state.amountLost + d.amount.amount : state.amountLost,
      });
    }
    default:
      return assertNever(event, 'invoice event');
  }
}

export const invoiceDecider: Decider<InvoiceCommand, InvoiceEvent, InvoiceState> = { initialState, decide, evolve };
