/**
 * The integration messages' contract, in one place: a zod schema per message type (envelope and
 * data) and the topic it goes to. The producers build every message through `outboxMessage`,
 * which checks it against its schema (a message that breaks its contract is a bug: the append
 * fails, nothing is published); the same schemas are the JSON Schemas of the AsyncAPI document
 * (docs/asyncapi.yaml, served at /asyncapi.json, built by http/asyncapi.ts). Topics, keys and
 * compatibility rules: docs/messages.md.
 */
import { z } from 'zod';
import type { OutboxMessage } from '../domain/ports/eventStore';
import { TOPICS } from '../domain/ports/messageBus';

const money = z.strictObject({ amount: z.number().int().min(0), currency: z.string().regex(/^[A-Z]{3}$/) }).meta({ description: 'Integer minor units and an ISO 4217 currency' });
const contact = z.strictObject({ firstName: z.string(), lastName: z.string(), email: z.string(), phone: z.string() });
const aggregateType = z.enum(['booking', 'invoice', 'subscription']);

/** booking.paid: everything the CRM's contact booking needs. */
export const bookingPaid = z.strictObject({
  bookingId: z.string(),
  departureId: z.string().meta({ description: "The departure's external id" }),
  contact,
  guests: z.array(z.strictObject({ firstName: z.string(), lastName: z.string(), email: z.string().optional(), isClient: z.boolean() })),
  paymentScheduleId: z.string().nullable().meta({ description: "Null when the booking had none: the saga then uses the departure's own schedule" }),
  amount: money.meta({ description: "This payment's amount (a deposit, a balance or the full price)" }),
  provider: z.enum(['stripe', 'paypal']),
  providerPaymentId: z.string(),
});

/** booking.promoted-from-waitlist: a waitlisted booking got a seat (notify the customer). */
export const bookingPromoted = z.strictObject({
  bookingId: z.string(),
  departureId: z.string().nullable(),
  paid: z.boolean().meta({ description: 'It was paid while it waited: it now goes through the CRM pipeline as a confirmed booking' }),
  contact: contact.nullable(),
});

/** booking.crm-retry-requested / crm-sync.retry / crm-sync.bulk-retry: resume the pipeline of one or many bookings. */
export const crmRetry = z.strictObject({
  bookingIds: z.array(z.string()).min(1),
  attempt: z.number().int().min(0).meta({ description: 'The stage attempt number this retry is for (scheduled retries); 0 for operator retries' }),
  round: z.number().int().min(0).optional().meta({ description: 'Scheduled retries: the round (operator retries so far) the attempt belongs to; absent means 0' }),
});

/** payment.* and dispute.*: what finance counts. Amounts are integer minor units. */
export const paymentFact = z.strictObject({
  payable: z.strictObject({ type: aggregateType, id: z.string() }),
  customerId: z.string().nullable().meta({ description: "The payable's customer id: an invoice's customerId, a subscription's customer; null for bookings (they have a contact, not a customer id)" }),
  contactEmail: z.string().nullable().meta({ description: "Bookings: the booking contact's email; null for invoices and subscriptions" }),
  provider: z.enum(['stripe', 'paypal']),
  providerPaymentId: z.string().nullable(),
  amount: money,
  applicationFee: money.nullable().meta({ description: 'Platform fee on Connect payments, when known' }),
  errorCode: z.string().nullable().meta({ description: 'payment.failed: the provider error code; dispute.closed: "won" or "lost"' }),
  declineCode: z.string().nullable(),
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).meta({ description: 'The day (UTC, YYYY-MM-DD) the fact belongs to in the ledger', format: 'date' }),
});

/** Every message type: its topic, its data and what it says. */
export const MESSAGE_TYPES = {
  'booking.paid': { topic: TOPICS.bookings, data: bookingPaid, summary: 'A booking holding a seat was paid (one per payment: deposit, balance or full price)' },
  'booking.promoted-from-waitlist': { topic: TOPICS.bookings, data: bookingPromoted, summary: 'A waitlisted booking got a seat' },
  'booking.crm-retry-requested': { topic: TOPICS.bookings, data: crmRetry, summary: "An operator asked to resume one booking's CRM pipeline" },
  'crm-sync.bulk-retry': { topic: TOPICS.bookings, data: crmRetry, summary: "An operator's batch of bookings whose CRM pipeline resumes (staggered)" },
  'crm-sync.retry': { topic: TOPICS.crmSyncRetry, data: crmRetry, summary: 'A scheduled retry of one CRM stage (published when due)' },
  'payment.succeeded': { topic: TOPICS.payments, data: paymentFact, summary: 'Money was collected (kept or not: a duplicate or an overpayment is still collected)' },
  'payment.failed': { topic: TOPICS.payments, data: paymentFact, summary: 'A payment attempt failed' },
  'payment.refunded': { topic: TOPICS.payments, data: paymentFact, summary: 'Money went back (the amount this refund adds)' },
  'dispute.opened': { topic: TOPICS.payments, data: paymentFact, summary: 'A payment was disputed' },
  'dispute.closed': { topic: TOPICS.payments, data: paymentFact, summary: 'A dispute was won or lost (errorCode)' },
} as const;

export type MessageType = keyof typeof MESSAGE_TYPES;
export type PaymentMessageType = { [K in MessageType]: (typeof MESSAGE_TYPES)[K]['topic'] extends typeof TOPICS.payments ? K : never }[MessageType];
export type DataOf<T extends MessageType> = z.infer<(typeof MESSAGE_TYPES)[T]['data']>;

/** The envelope (version 1) of a message type, with its data. */
export function envelopeSchema<T extends MessageType>(type: T) {
  return z.strictObject({
    id: z.uuid().meta({ description: 'Stable across redeliveries: consumers deduplicate on it' }),
    type: z.literal(type),
    version: z.literal(1),
    occurredAt: z.iso.datetime(),
    tenantId: z.string(),
    aggregate: z.strictObject({ type: aggregateType, id: z.string() }),
    correlationId: z.string().meta({ description: 'The request or provider event that started the flow' }),
    causationId: z.string().meta({ description: 'The event (or request) that directly caused this message' }),
    data: MESSAGE_TYPES[type].data,
  });
}

export type Envelope<T = unknown> = {
  readonly id: string;
  readonly type: string;
  readonly version: 1;
  readonly occurredAt: string;
  readonly tenantId: string;
  readonly aggregate: { readonly type: 'booking' | 'invoice' | 'subscription'; readonly id: string };
  readonly correlationId: string;
  readonly causationId: string;
  readonly data: T;
};
export type BookingPaid = z.infer<typeof bookingPaid>;
export type BookingPromoted = z.infer<typeof bookingPromoted>;
export type CrmRetry = z.infer<typeof crmRetry>;
export type PaymentFact = z.infer<typeof paymentFact>;

const schemas = new Map<MessageType, z.ZodType>();

/**
 * The outbox row of a message: checked against its type's schema (throws on a message that breaks
 * the contract), sent to the type's topic with the Kafka headers consumers route on.
 */
export function outboxMessage<T extends MessageType>(type: T, envelope: Omit<Envelope<DataOf<T>>, 'type' | 'version'>, key: string, availableAt?: string): OutboxMessage {
  let schema = schemas.get(type);
  if (!schema) schemas.set(type, (schema = envelopeSchema(type)));
  const value = schema.parse({ ...envelope, type, version: 1 }) as Envelope<DataOf<T>>;
  return { id: value.id, topic: MESSAGE_TYPES[type].topic, key, value, headers: { 'message-type': type, 'message-version': '1' }, ...(availableAt ? { availableAt } : {}) };
}
