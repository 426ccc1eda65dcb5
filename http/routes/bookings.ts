import { z } from 'zod';
import type { BookingCommands } from '../../commands/bookings';
import type { CommandContext } from '../../commands/handle';
import { newId } from '../../commands/ids';
import { currentCrmStage, type BookingState } from '../../domain/booking/booking';
import type { DepartureState } from '../../domain/booking/departure';
import { bookingCommandOut, bulkCrmRetryOut, departureOut, refundBookingOut } from './responses';
import { PROVIDER_PROBLEMS, route, type RouteSpec } from '../api';
import { Problem } from '../problem';
import { id, isoDate, positiveMoney } from './schemas';

/** Deposit now, balance later: `{ deposit: { amount } | { percent }, balanceDueDays | balanceDueDate }`. */
const schedule = z
  .object({
    deposit: z.union([
      z.object({ amount: positiveMoney.meta({ description: "A fixed deposit, in the booking's currency (integer minor units)" }) }).strict(),
      z.object({ percent: z.number().gt(0).lt(100).meta({ description: 'Percent of the price, rounded half up to the minor unit' }) }).strict(),
    ]),
    balanceDueDays: z.number().int().min(0).max(3650).optional().meta({ description: 'The balance is due this many days after the booking was requested' }),
    balanceDueDate: isoDate.optional().meta({ description: 'The balance is due by the end of this day (UTC)' }),
  })
  .strict()
  .refine((v) => (v.balanceDueDays === undefined) !== (v.balanceDueDate === undefined), { error: 'give exactly one of balanceDueDays and balanceDueDate', path: ['balanceDueDays'] })
  // the refinement, for the document: exactly one of the two
  .meta({ oneOf: [{ required: ['balanceDueDays'] }, { required: ['balanceDueDate'] }] });

export type ContextFor = (tenantId: string, req: import('express').Request, res: import('express').Response) => CommandContext;

function bookingView(bookingId: string, s: BookingState) {
  const r = s.request;
  if (!r) throw new Error(`invariant: booking ${bookingId} has no request after a command on it`);
  return {
    bookingId,
    status: s.status,
    departureId: r.departureId,
    contact: r.contact,
    guests: r.guests,
    price: r.price,
    paymentScheduleId: r.paymentScheduleId,
    schedule: r.schedule ?? null,
    payment: s.payment,
    payments: s.payments.map((p) => ({ provider: p.provider, providerPaymentId: p.providerPaymentId, providerChargeId: p.providerChargeId, amount: p.amount, kept: p.kept, refunded: { amount: p.refunded, currency: p.amount.currency } })),
    refunded: { amount: s.refunded, currency: r.price.currency },
    crm: {
      bookingId: s.crmBookingId,
      paymentAssociated: s.crmPaymentAssociated,
      stage: currentCrmStage(s),
      stages: s.stages,
    },
    needsAttention: s.needsAttention,
  };
}

function departureView(s: DepartureState) {
  return { departureId: s.departureId, name: s.name, paymentScheduleId: s.paymentScheduleId, schedule: s.schedule ?? null, capacity: s.capacity, seatsTaken: s.seatsTaken, inquireToBook: s.inquireToBook };
}

const contact = z
  .object({
    firstName: z.string().min(1).max(100),
    lastName: z.string().min(1).max(100),
    email: z.email(),
    phone: z.string().min(3).max(40),
  })
  .strict();
const guest = z.object({ firstName: z.string().min(1).max(100), lastName: z.string().min(1).max(100), email: z.email().optional() }).strict();

export interface BulkRetryDeps {
  /** Ids of the tenant's bookings that need attention (a failed CRM stage). */
  needingAttention(tenantId: string): Promise<string[]>;
  schedule(tenantId: string, bookingIds: readonly string[], correlationId: string, requestId: string): Promise<{ bookings: number; batches: number; lastBatchAt: string | null }>;
}

export function bookingRoutes(bookings: BookingCommands, ctxFor: ContextFor, bulk?: BulkRetryDeps): RouteSpec[] {
  const notFound = (what: string, idv: string) => new Problem(404, `${what}-not-found`, 'Not Found', `No ${what} ${idv}`);
  return [
    route({
      method: 'post',
      path: '/departures',
      operationId: 'createDeparture',
      summary: 'Define a scheduled departure (reference data: external id, payment schedule, capacity, inquire-to-book)',
      tag: 'departures',
      access: 'tenant',
      success: 201,
      response: departureOut,
      problems: { 409: ['refusal', 'concurrency-conflict'], 422: ['refusal'] },
      body: z
        .object({
          departureId: id.meta({ description: "The departure's external id" }),
          name: z.string().min(1).max(200),
          paymentScheduleId: z.string().min(1).max(100).nullable().default(null),
          capacity: z.number().int().min(0).max(100_000),
          inquireToBook: z.boolean().default(false),
          schedule: schedule.nullable().default(null),
        })
        .strict(),
      async handler({ body, req, res, tenantId }) {
        const r = await bookings.defineDeparture(body, ctxFor(tenantId, req, res));
        return { body: departureView(r.state), revision: r.revision, position: r.position };
      },
    }),
    route({
      method: 'patch',
      path: '/departures/:departureId',
      operationId: 'updateDeparture',
      summary: 'Change a departure (e.g. switch its call to action from book to inquire)',
      tag: 'departures',
      access: 'tenant',
      success: 200,
      response: departureOut,
      problems: { 404: ['departure-not-found'], 409: ['refusal', 'concurrency-conflict'], 422: ['refusal'] },
      body: z
        .object({
          name: z.string().min(1).max(200).optional(),
          paymentScheduleId: z.string().min(1).max(100).nullable().optional(),
          capacity: z.number().int().min(0).max(100_000).optional(),
          inquireToBook: z.boolean().optional(),
          schedule: schedule.nullable().optional(),
        })
        .strict(),
      async handler({ body, params, req, res, tenantId }) {
        if (!id.safeParse(params.departureId).success || !(await bookings.getDeparture(tenantId, params.departureId))) throw notFound('departure', params.departureId);
        const r = await bookings.updateDeparture(params.departureId, body, ctxFor(tenantId, req, res));
        return { body: departureView(r.state), revision: r.revision, position: r.position };
      },
    }),
    route({
      method: 'get',
      path: '/departures/:departureId',
      operationId: 'getDeparture',
      summary: 'A departure and its seats',
      tag: 'departures',
      access: 'tenant',
      success: 200,
      response: departureOut,
      problems: { 404: ['departure-not-found'] },
      async handler({ params, tenantId }) {
        const d = id.safeParse(params.departureId).success ? await bookings.getDeparture(tenantId, params.departureId) : null;
        if (!d) throw notFound('departure', params.departureId);
        return { body: departureView(d) };
      },
    }),
    route({
      method: 'post',
      path: '/bookings',
      operationId: 'requestBooking',
      summary: 'Request a booking for a departure: confirmed, waitlisted when full, or an inquiry when the departure asks for one',
      tag: 'bookings',
      access: 'tenant',
      success: 201,
      response: bookingCommandOut,
      problems: { 409: ['refusal', 'concurrency-conflict'], 422: ['departure-not-found', 'refusal'] },
      body: z
        .object({
          departureId: id,
          contact,
          guests: z.array(guest).min(1, 'at least one guest; the first is the client').max(50),
          price: positiveMoney,
          paymentScheduleId: z.string().min(1).max(100).nullable().default(null),
          schedule: schedule.nullable().default(null).meta({ description: "Overrides the departure's deposit / balance schedule" }),
        })
        .strict(),
      async handler({ body, req, res, tenantId }) {
        const ctx = ctxFor(tenantId, req, res);
        // With an Idempotency-Key the booking id is derived from it, so a retry after a lost response lands on the same booking.
        const bookingId = ctx.idSeed !== undefined ? `bk_${ctx.idSeed.slice(0, 24).replace(/[^A-Za-z0-9]/g, '')}` : `bk_${newId().replace(/-/g, '')}`;
        if (!(await bookings.getDeparture(tenantId, body.departureId))) {
          throw new Problem(422, 'departure-not-found', 'Unprocessable', `No departure ${body.departureId}`, [{ path: 'body.departureId', message: 'unknown departure' }]);
        }
        const r = await bookings.requestBooking({ bookingId, departureId: body.departureId, contact: body.contact, guests: body.guests, price: body.price, paymentScheduleId: body.paymentScheduleId, schedule: body.schedule }, ctx);
        res.setHeader('Location', `/v1/bookings/${bookingId}`);
        return { body: bookingView(bookingId, r.state), revision: r.revision, position: r.position };
      },
    }),
    route({
      method: 'post',
      path: '/bookings/:bookingId/cancel',
      operationId: 'cancelBooking',
      summary: 'Cancel a booking before payment (paid bookings are refunded instead); frees its seats',
      tag: 'bookings',
      access: 'tenant',
      success: 200,
      response: bookingCommandOut,
      problems: { 404: ['booking-not-found'], 409: ['refusal', 'concurrency-conflict'], 422: ['refusal'] },
      body: z.object({ reason: z.string().min(1).max(500) }).strict(),
      async handler({ body, params, req, res, tenantId }) {
        await mustHaveBooking(bookings, tenantId, params.bookingId);
        const r = await bookings.cancelBooking(params.bookingId, body.reason, ctxFor(tenantId, req, res));
        return { body: bookingView(params.bookingId, r.state), revision: r.revision, position: r.position };
      },
    }),
    route({
      method: 'post',
      path: '/bookings/:bookingId/refunds',
      operationId: 'refundBooking',
      summary: 'Refund a paid booking, partly or fully; never more than was paid',
      tag: 'bookings',
      access: 'tenant',
      success: 201,
      response: refundBookingOut,
      problems: PROVIDER_PROBLEMS({ 404: ['booking-not-found'] }),
      body: z.object({ amount: positiveMoney, reason: z.string().max(500).nullable().default(null) }).strict(),
      async handler({ body, params, req, res, tenantId }) {
        await mustHaveBooking(bookings, tenantId, params.bookingId);
        const ctx = ctxFor(tenantId, req, res);
        const refundId = ctx.idSeed ? `rf_${ctx.idSeed.slice(0, 24).replace(/[^A-Za-z0-9]/g, '')}` : `rf_${newId().replace(/-/g, '')}`;
        const r = await bookings.refundBooking(params.bookingId, { refundId, amount: body.amount, reason: body.reason }, ctx);
        return { body: { refundId: r.state.refundIds[r.state.refundIds.length - 1] ?? refundId, ...bookingView(params.bookingId, r.state) }, revision: r.revision, position: r.position };
      },
    }),
    route({
      method: 'post',
      path: '/bookings/crm-retry',
      operationId: 'retryBookingsCrmStages',
      summary: 'Bulk retry: resume the CRM pipeline of many bookings (default: every booking that needs attention), in staggered batches',
      tag: 'bookings',
      access: 'tenant',
      success: 202,
      response: bulkCrmRetryOut,
      problems: { 503: ['crm-not-configured'] },
      body: z.object({ bookingIds: z.array(id).min(1).max(10_000).optional(), requestedBy: z.string().min(1).max(200) }).strict(),
      async handler({ body, res, tenantId }) {
        if (!bulk) throw new Problem(503, 'crm-not-configured', 'CRM Not Configured', 'No CRM is configured (CRM_BASE_URL)');
        const ids = body.bookingIds ?? (await bulk.needingAttention(tenantId));
        const r = ids.length === 0 ? { bookings: 0, batches: 0, lastBatchAt: null } : await bulk.schedule(tenantId, ids, res.locals.correlationId as string, res.locals.requestId as string);
        return { body: { ...r, requestedBy: body.requestedBy } };
      },
    }),
    route({
      method: 'post',
      path: '/bookings/:bookingId/crm-retry',
      operationId: 'retryBookingCrmStage',
      summary: 'Manually retry the CRM pipeline from the stage that failed for good',
      tag: 'bookings',
      access: 'tenant',
      success: 202,
      response: bookingCommandOut,
      problems: { 404: ['booking-not-found'], 409: ['refusal', 'concurrency-conflict'], 422: ['refusal'] },
      body: z.object({ requestedBy: z.string().min(1).max(200) }).strict(),
      async handler({ body, params, req, res, tenantId }) {
        await mustHaveBooking(bookings, tenantId, params.bookingId);
        const r = await bookings.retryCrmStage(params.bookingId, body.requestedBy, ctxFor(tenantId, req, res));
        return { body: bookingView(params.bookingId, r.state), revision: r.revision, position: r.position };
      },
    }),
  ];
}

async function mustHaveBooking(bookings: BookingCommands, tenantId: string, bookingId: string): Promise<void> {
  if (!id.safeParse(bookingId).success || !(await bookings.getBooking(tenantId, bookingId))) throw new Problem(404, 'booking-not-found', 'Not Found', `No booking ${bookingId}`);
}
