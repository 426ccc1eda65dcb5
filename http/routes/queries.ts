import { z } from 'zod';
import { InvalidCursor, type ReadModels } from '../../projections/queries';
import { BOOKING_STAGES } from '../../projections/bookings/bookings';
import { bookingListOut, bookingOut, invoiceHistoryOut, invoiceListOut, invoiceOut, paymentListOut, paymentOut, subscriptionOut } from './responses';
import { route, type RouteSpec } from '../api';
import { Problem } from '../problem';
import { id, instant } from './schemas';

/**
 * The read-model query API: invoices, invoice history, payments, bookings and subscriptions,
 * tenant-scoped like the commands. Every route accepts `min_position` (read-your-writes) and
 * answers with an ETag.
 */
const limit = z.coerce.number().int().min(1).max(200).default(50);
const cursor = z.string().max(500).optional();

function notFound(what: string, value: string | undefined): Problem {
  return new Problem(404, `${what}-not-found`, 'Not Found', `No ${what} ${value ?? ''}`);
}

async function page<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof InvalidCursor) throw new Problem(422, 'validation-error', 'Validation Failed', err.message, [{ path: 'query.cursor', message: err.message }]);
    throw err;
  }
}

export function queryRoutes(reads: ReadModels): RouteSpec[] {
  return [
    route({
      method: 'get',
      path: '/invoices',
      operationId: 'listInvoices',
      summary: 'Invoices, newest first; filter by customer, status, provider and creation range',
      tag: 'invoices',
      access: 'tenant',
      success: 200,
      response: invoiceListOut,
      reads: ['invoices'],
      query: z
        .object({
          customer_id: id.optional(),
          status: z.enum(['open', 'paid', 'void', 'refunded']).optional(),
          provider: z.enum(['stripe', 'paypal', 'settle']).optional(),
          created_from: instant.optional(),
          created_to: instant.optional(),
          limit,
          cursor,
        })
        .strict(),
      async handler({ query, tenantId }) {
        const q = query as { customer_id?: string; status?: string; provider?: string; created_from?: string; created_to?: string; limit: number; cursor?: string };
        const r = await page(() => reads.invoices(tenantId, { customerId: q.customer_id, status: q.status, provider: q.provider, createdFrom: q.created_from, createdTo: q.created_to, limit: q.limit, cursor: q.cursor }));
        return { body: { data: r.items, nextCursor: r.nextCursor } };
      },
    }),
    route({
      method: 'get',
      path: '/invoices/:invoiceId',
      operationId: 'getInvoice',
      summary: 'One invoice: lines, totals, paid/refunded/disputed amounts, status, provider links',
      tag: 'invoices',
      access: 'tenant',
      success: 200,
      response: invoiceOut,
      problems: { 404: ['invoice-not-found'] },
      reads: ['invoices'],
      query: z.object({}).strict(),
      async handler({ params, tenantId }) {
        const inv = id.safeParse(params.invoiceId).success ? await reads.invoice(tenantId, params.invoiceId) : null;
        if (!inv) throw notFound('invoice', params.invoiceId);
        return { body: inv };
      },
    }),
    route({
      method: 'get',
      path: '/invoices/:invoiceId/history',
      operationId: 'getInvoiceHistory',
      summary: "The invoice's immutable audit trail: every transition, when, by whom and caused by which provider event or command",
      tag: 'invoices',
      access: 'tenant',
      success: 200,
      response: invoiceHistoryOut,
      problems: { 404: ['invoice-not-found'] },
      reads: ['invoice_history'],
      query: z.object({}).strict(),
      async handler({ params, tenantId }) {
        const entries = id.safeParse(params.invoiceId).success ? await reads.invoiceHistory(tenantId, params.invoiceId) : [];
        if (entries.length === 0) throw notFound('invoice', params.invoiceId);
        return { body: { invoiceId: params.invoiceId, entries } };
      },
    }),
    route({
      method: 'get',
      path: '/payments',
      operationId: 'listPayments',
      summary: 'Every payment attempt, failed ones included, newest first',
      tag: 'payments',
      access: 'tenant',
      success: 200,
      response: paymentListOut,
      reads: ['payment_history'],
      query: z
        .object({
          customer_id: z.string().max(320).optional(),
          payable_type: z.enum(['invoice', 'booking', 'subscription']).optional(),
          payable_id: id.optional(),
          status: z.enum(['succeeded', 'failed', 'pending', 'action_required', 'refunded', 'disputed']).optional(),
          provider: z.enum(['stripe', 'paypal']).optional(),
          from: instant.optional(),
          to: instant.optional(),
          limit,
          cursor,
        })
        .strict(),
      async handler({ query, tenantId }) {
        const q = query as { customer_id?: string; payable_type?: string; payable_id?: string; status?: string; provider?: string; from?: string; to?: string; limit: number; cursor?: string };
        const r = await page(() =>
          reads.payments(tenantId, { customerId: q.customer_id, payableType: q.payable_type, payableId: q.payable_id, status: q.status, provider: q.provider, from: q.from, to: q.to, limit: q.limit, cursor: q.cursor }),
        );
        return { body: { data: r.items, nextCursor: r.nextCursor } };
      },
    }),
    route({
      method: 'get',
      path: '/payments/:attemptId',
      operationId: 'getPayment',
      summary: 'One payment attempt',
      tag: 'payments',
      access: 'tenant',
      success: 200,
      response: paymentOut,
      problems: { 404: ['payment-not-found'] },
      reads: ['payment_history'],
      query: z.object({}).strict(),
      async handler({ params, tenantId }) {
        const p = await reads.payment(tenantId, params.attemptId);
        if (!p) throw notFound('payment', params.attemptId);
        return { body: p };
      },
    }),
    route({
      method: 'get',
      path: '/bookings',
      operationId: 'listBookings',
      summary: 'Bookings by pipeline stage; bookings that need attention come first',
      tag: 'bookings',
      access: 'tenant',
      success: 200,
      response: bookingListOut,
      reads: ['bookings'],
      query: z
        .object({
          stage: z.enum(BOOKING_STAGES).optional(),
          needs_attention: z.enum(['true', 'false']).optional(),
          limit,
          cursor,
        })
        .strict(),
      async handler({ query, tenantId }) {
        const q = query as { stage?: string; needs_attention?: 'true' | 'false'; limit: number; cursor?: string };
        const r = await page(() => reads.bookings(tenantId, { stage: q.stage, needsAttention: q.needs_attention === undefined ? undefined : q.needs_attention === 'true', limit: q.limit, cursor: q.cursor }));
        return { body: { data: r.items, nextCursor: r.nextCursor } };
      },
    }),
    route({
      method: 'get',
      path: '/bookings/:bookingId',
      operationId: 'getBooking',
      summary: 'A booking with its payment and CRM pipeline state',
      tag: 'bookings',
      access: 'tenant',
      success: 200,
      response: bookingOut,
      problems: { 404: ['booking-not-found'] },
      reads: ['bookings'],
      query: z.object({}).strict(),
      async handler({ params, tenantId }) {
        const b = id.safeParse(params.bookingId).success ? await reads.booking(tenantId, params.bookingId) : null;
        if (!b) throw notFound('booking', params.bookingId);
        return { body: b };
      },
    }),
    route({
      method: 'get',
      path: '/customers/:customerId/subscription',
      operationId: 'getSubscription',
      summary: "A customer's subscription and access: plan, status, period, dunning, pending change and checkout",
      tag: 'subscriptions',
      access: 'tenant',
      success: 200,
      response: subscriptionOut,
      problems: { 404: ['subscription-not-found'] },
      reads: ['subscriptions'],
      query: z.object({}).strict(),
      async handler({ params, tenantId }) {
        const s = id.safeParse(params.customerId).success ? await reads.subscription(tenantId, params.customerId) : null;
        if (!s) throw notFound('subscription', params.customerId);
        return { body: s };
      },
    }),
  ];
}
