/**
 * Response bodies of the /v1 API, as zod schemas: each route names the one it answers with
 * (`response` in its RouteSpec), mount() checks every answer against it (http/api.ts), and the
 * same schema is the response body of /openapi.json. Nested provider and domain records that
 * grow over time (attempts, stages, disputes) are documented as open objects with their known
 * fields; everything else is closed, so a field added to a view without its schema is caught by
 * the contract test (http/openapi.schemathesis.postgres.test.ts).
 */
import { z } from 'zod';

const moneyOut = z.object({ amount: z.number().int(), currency: z.string() }).meta({ description: 'Integer minor units and an ISO 4217 currency' });
const instantOut = z.string().meta({ description: 'An RFC 3339 instant' });
const provider = z.enum(['stripe', 'paypal']);
const contact = z.object({ firstName: z.string(), lastName: z.string(), email: z.string(), phone: z.string() });
const guest = z.object({ firstName: z.string(), lastName: z.string(), email: z.string().optional(), isClient: z.boolean() });
const receivedPayment = z.object({ provider, providerPaymentId: z.string(), providerChargeId: z.string().nullable(), amount: moneyOut, kept: z.boolean(), refunded: moneyOut });
const bookingPayment = z.looseObject({ provider, providerPaymentId: z.string(), providerChargeId: z.string().nullable(), amount: moneyOut }).nullable();
const stage = z.looseObject({ attempts: z.number().int(), lastError: z.string().nullable(), failed: z.boolean() });
const paymentScheduleOut = z
  .object({
    deposit: z.union([z.object({ amount: moneyOut }), z.object({ percent: z.number() })]),
    balanceDueDays: z.number().int().optional(),
    balanceDueDate: z.string().optional(),
  })
  .nullable();
const bookingStatus = z.enum(['none', 'requested', 'waitlisted', 'inquiry', 'deposit_paid', 'paid', 'cancelled', 'refunded']);
const list = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), nextCursor: z.string().nullable() });

export const departureOut = z.object({
  departureId: z.string(),
  name: z.string(),
  paymentScheduleId: z.string().nullable(),
  schedule: paymentScheduleOut,
  capacity: z.number().int(),
  seatsTaken: z.number().int(),
  inquireToBook: z.boolean(),
});

/** A booking as its command answers it (the decided state). */
export const bookingCommandOut = z.object({
  bookingId: z.string(),
  status: bookingStatus,
  departureId: z.string(),
  contact,
  guests: z.array(guest),
  price: moneyOut,
  paymentScheduleId: z.string().nullable(),
  schedule: z.object({ source: z.enum(['booking', 'departure']), deposit: moneyOut, balanceDueAt: instantOut }).nullable(),
  payment: bookingPayment,
  payments: z.array(receivedPayment),
  refunded: moneyOut,
  crm: z.object({
    bookingId: z.string().nullable(),
    paymentAssociated: z.boolean(),
    stage: z.enum(['create_contact_booking', 'associate_payment']).nullable(),
    stages: z.record(z.string(), stage),
  }),
  needsAttention: z.array(z.string()),
});

export const refundBookingOut = bookingCommandOut.extend({ refundId: z.string() });

/** A booking as the bookings read model answers it. */
export const bookingOut = z.object({
  bookingId: z.string(),
  stage: z.string(),
  status: z.string(),
  needsAttention: z.boolean(),
  attention: z.string().nullable(),
  departureId: z.string(),
  contact: contact.nullable(),
  guests: z.array(guest),
  price: moneyOut.nullable(),
  paymentScheduleId: z.string().nullable(),
  schedule: z.object({ deposit: moneyOut, balance: moneyOut.nullable(), balanceDueAt: instantOut, outstanding: moneyOut.nullable(), overdue: z.boolean() }).nullable(),
  payment: bookingPayment,
  refunded: moneyOut.nullable(),
  payments: z.array(receivedPayment),
  disputes: z.array(z.looseObject({ disputeId: z.string(), providerPaymentId: z.string(), amount: moneyOut, status: z.enum(['open', 'won', 'lost']) })),
  waitlist: z.object({ promotedAt: z.string().nullable() }),
  crm: z.object({ bookingId: z.string().nullable(), paymentAssociated: z.boolean(), stages: z.record(z.string(), stage).nullable() }),
  failedPaymentAttempts: z.number().int(),
  createdAt: instantOut.nullable(),
  updatedAt: instantOut.nullable(),
  revision: z.string(),
});

export const bulkCrmRetryOut = z.object({ bookings: z.number().int(), batches: z.number().int(), lastBatchAt: instantOut.nullable(), requestedBy: z.string() });

export const planOut = z.object({
  planId: z.string().nullable(),
  name: z.string().nullable(),
  status: z.enum(['undefined', 'active', 'retired']),
  amount: moneyOut.nullable(),
  interval: z.enum(['month', 'year']).nullable(),
  providerProductId: z.string().nullable(),
  providerPriceId: z.string().nullable(),
  archivedProviderPriceIds: z.array(z.string()),
});

export const checkoutOut = z.object({ customerId: z.string(), sessionId: z.string(), url: z.string(), expiresAt: instantOut, reused: z.boolean() });

const subscriptionStatus = z.enum(['none', 'checkout_pending', 'active', 'past_due', 'cancellation_scheduled', 'cancelled', 'suspended']);
const subscriptionCommon = {
  customerId: z.string(),
  planId: z.string().nullable(),
  interval: z.enum(['month', 'year']).nullable(),
  accessActive: z.boolean(),
  currentPeriodStart: z.string().nullable(),
  currentPeriodEnd: z.string().nullable(),
  nextPaymentAttempt: z.string().nullable(),
  providerSubscriptionId: z.string().nullable(),
  pendingPlanChange: z.looseObject({}).nullable(),
  cancelAtPeriodEnd: z.boolean(),
  cancelAt: z.string().nullable(),
  providerStatus: z.string().nullable(),
  needsAttention: z.array(z.looseObject({ kind: z.string(), reason: z.string() })),
  pendingCheckout: z.object({ sessionId: z.string(), url: z.string(), expiresAt: instantOut }).nullable(),
};

/** A subscription as its commands answer it. */
export const subscriptionCommandOut = z.object({ ...subscriptionCommon, status: subscriptionStatus });
export const planChangeOut = subscriptionCommandOut.extend({ outcome: z.string() });

/** A subscription as the subscriptions read model answers it. */
export const subscriptionOut = z.object({ ...subscriptionCommon, status: z.string(), priceId: z.string().nullable(), updatedAt: instantOut.nullable(), revision: z.string() });

const lineItem = z.object({ description: z.string(), quantity: z.number().int(), unitAmount: z.number().int() });
const customer = z.object({ name: z.string(), email: z.string() });
const paymentMethods = z.array(z.enum(['stripe_connect', 'paypal']));

/** An invoice as its commands answer it (the decided state). */
export const invoiceCommandOut = z.object({
  invoiceId: z.string().nullable(),
  status: z.enum(['none', 'open', 'paid', 'void', 'refunded']),
  number: z.string().nullable(),
  customerId: z.string().nullable(),
  customer: customer.nullable(),
  lineItems: z.array(lineItem),
  total: moneyOut.nullable(),
  currency: z.string().nullable(),
  dueDate: z.string().nullable(),
  allowedPaymentMethods: paymentMethods,
  provider: provider.nullable(),
  providerInvoiceId: z.string().nullable(),
  hostedInvoiceUrl: z.string().nullable(),
  invoicePdf: z.string().nullable(),
  paidAt: z.string().nullable(),
  amountPaid: z.number().int(),
  amountRefunded: z.number().int(),
  amountDisputed: z.number().int(),
  collected: z.number().int(),
  attempts: z.array(z.looseObject({})),
  refunds: z.array(z.looseObject({})),
  overpayments: z.array(z.looseObject({})),
});
export const refundInvoiceOut = invoiceCommandOut.extend({ refundId: z.string() });

/** An invoice as the invoices read model answers it. */
export const invoiceOut = z.object({
  invoiceId: z.string(),
  status: z.string(),
  number: z.string().nullable(),
  customerId: z.string().nullable(),
  customer: customer.nullable(),
  lineItems: z.array(lineItem).nullable(),
  currency: z.string().nullable(),
  total: moneyOut.nullable(),
  amountPaid: moneyOut.nullable(),
  amountRefunded: moneyOut.nullable(),
  amountDisputed: moneyOut.nullable(),
  collected: moneyOut.nullable(),
  dueDate: z.string().nullable(),
  paidAt: instantOut.nullable(),
  provider: z.string().nullable(),
  providerInvoiceId: z.string().nullable(),
  subscriptionId: z.string().nullable(),
  hostedInvoiceUrl: z.string().nullable(),
  invoicePdf: z.string().nullable(),
  needsAttention: z.boolean(),
  allowedPaymentMethods: paymentMethods,
  createdAt: instantOut.nullable(),
  updatedAt: instantOut.nullable(),
  revision: z.string(),
});

export const invoiceHistoryOut = z.object({
  invoiceId: z.string(),
  entries: z.array(
    z.object({
      revision: z.string(),
      position: z.string().nullable(),
      eventId: z.string(),
      type: z.string(),
      recordedAt: instantOut.nullable(),
      actor: z.looseObject({}).nullable(),
      causationId: z.string().nullable(),
      correlationId: z.string().nullable(),
      data: z.looseObject({}),
    }),
  ),
});

export const paymentSessionOut = z.object({ invoiceId: z.string(), method: paymentMethods.element, provider, reference: z.string(), url: z.string() });
export const payerLinkOut = z.object({ url: z.string(), expiresAt: instantOut });

/** One payment attempt of the payment history read model. */
export const paymentOut = z.object({
  attemptId: z.string(),
  customerId: z.string().nullable(),
  payable: z.object({ type: z.string(), id: z.string() }),
  subscription: z.object({ providerSubscriptionId: z.string(), customerId: z.string().nullable() }).nullable(),
  provider: z.string(),
  providerPaymentId: z.string().nullable(),
  providerChargeId: z.string().nullable(),
  amount: moneyOut.nullable(),
  refunded: moneyOut.nullable(),
  status: z.string(),
  errorCode: z.string().nullable(),
  declineCode: z.string().nullable(),
  message: z.string().nullable(),
  docsUrl: z.string().nullable(),
  receiptUrl: z.string().nullable(),
  card: z.object({ brand: z.string().nullable(), last4: z.string() }).nullable(),
  needsAttention: z.boolean(),
  occurredAt: instantOut.nullable(),
});

export const invoiceListOut = list(invoiceOut);
export const paymentListOut = list(paymentOut);
export const bookingListOut = list(bookingOut);

const financeAmounts = {
  grossCollected: z.number().int(),
  refunds: z.number().int(),
  disputed: z.number().int(),
  disputeLosses: z.number().int(),
  platformFees: z.number().int(),
  net: z.number().int(),
  succeededCount: z.number().int(),
  failedCount: z.number().int(),
};
export const financeReportOut = z.object({
  tenantId: z.string().nullable(),
  from: z.string(),
  to: z.string(),
  rows: z.array(z.object({ ...financeAmounts, tenantId: z.string(), day: z.string(), currency: z.string(), provider: z.string() })),
  totals: z.array(z.object({ ...financeAmounts, currency: z.string(), openDisputesAtEnd: z.number().int() })),
  failures: z.array(z.object({ tenantId: z.string(), provider: z.string(), declineCode: z.string(), count: z.number().int() })),
});
/** The CSV representation of the finance report (Accept: text/csv or format=csv). */
export const financeReportCsv = z.string().meta({ description: 'RFC 4180 CSV: one row per day, tenant, currency and provider; amounts in minor units and as decimals' });

// ---- admin
export const tenantOut = z.object({ tenantId: z.string(), name: z.string(), createdAt: instantOut });
export const apiKeyOut = z.object({ keyId: z.string(), tenantId: z.string(), prefix: z.string(), label: z.string().nullable(), apiKey: z.string().meta({ description: 'Shown once; a replay says "[shown once; not replayed]"' }), createdAt: instantOut });
export const stripeAccountLinkOut = z.object({ tenantId: z.string(), accountId: z.string(), previousAccountId: z.string().nullable() });
export const stripeAccountsOut = z.object({
  data: z.array(z.object({ accountId: z.string(), status: z.enum(['current', 'previous']), chargesEnabled: z.boolean(), payoutsEnabled: z.boolean(), detailsSubmitted: z.boolean(), linkedAt: instantOut.nullable(), replacedAt: instantOut.nullable() })),
});
export const parkedKeysOut = z.object({
  data: z.array(
    z.object({
      key: z.string(),
      stage: z.string(),
      state: z.enum(['parked', 'retrying']),
      messageId: z.string(),
      topic: z.string(),
      error: z.string().nullable(),
      attempts: z.number().int(),
      since: instantOut,
      nextAttemptAt: instantOut.nullable(),
      waiting: z.number().int(),
    }),
  ),
});
export const releasedOut = z.object({ key: z.string(), released: z.array(z.string()) });
export const skippedOut = z.object({ key: z.string(), reason: z.string(), skipped: z.array(z.object({ stage: z.string(), messageId: z.string(), topic: z.string() })) });
export const projectionsOut = z.object({
  data: z.array(
    z.object({
      name: z.string(),
      generation: z.number().int(),
      position: z.string().nullable(),
      leaderHere: z.boolean(),
      caughtUp: z.boolean(),
      lagSeconds: z.number(),
      rebuilding: z.boolean(),
      halted: z.string().nullable(),
      deadLetters: z.number().int(),
      onError: z.string(),
    }),
  ),
});
export const rebuildOut = z.object({ name: z.string(), rebuildRequested: z.literal(true) });
export const resumeOut = z.object({ name: z.string(), resumed: z.literal(true), skipped: z.boolean() });
export const deadLettersOut = z.object({
  data: z.array(z.object({ generation: z.number().int(), eventId: z.string(), eventType: z.string(), streamId: z.string(), position: z.string(), error: z.string(), at: instantOut })),
});
const reconciliationRun = z.object({
  runId: z.string(),
  tenantId: z.string().nullable(),
  since: instantOut,
  dryRun: z.boolean(),
  status: z.enum(['running', 'succeeded', 'failed']),
  startedAt: instantOut,
  finishedAt: instantOut.nullable(),
  examined: z.number().int(),
  found: z.number().int(),
  repaired: z.number().int(),
  unrepairable: z.number().int(),
  error: z.string().nullable(),
  differences: z.array(z.looseObject({ provider, object: z.string(), objectId: z.string(), kind: z.string() })).optional(),
});
export const reconciliationStartedOut = z.object({ runId: z.string(), status: z.literal('running'), tenantId: z.string().nullable(), since: instantOut, dryRun: z.boolean() });
export const reconciliationOut = reconciliationRun;
export const reconciliationListOut = z.object({ data: z.array(reconciliationRun), nextCursor: z.string().nullable() });
