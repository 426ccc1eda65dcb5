/**
 * The CRM sync saga's bulk retry, on the in-memory event store with a recording CRM (no broker,
 * no database): given a booking's events, when a `crm-sync.bulk-retry` message names it, then
 * the CRM calls and the events appended.
 */
import { MemoryEventStore } from '../../infrastructure/eventstore/memoryEventStore';
import { bookingDecider, type BookingCommand } from '../../domain/booking/booking';
import { CrmError, type Crm } from '../../domain/ports/crm';
import { handle, load } from '../handle';
import type { Envelope } from '../messages';
import { streams } from '../streams';
import { CrmSyncSaga } from './crmSync';

const tenantId = 'atlas';
const now = new Date('2026-12-07T10:00:00.000Z');
const price = { amount: 99_971_300, currency: 'ISK' };

function setUp(crmFails = false) {
  const store = new MemoryEventStore();
  const calls: string[] = [];
  const crm: Crm = {
    createContactBooking: async (b) => {
      calls.push(`create ${b.externalReference}`);
      if (crmFails) throw new CrmError('unavailable', 'down', 503);
      return { crmBookingId: `crm-${b.externalReference}`, ids: {} };
    },
    associatePayment: async (p) => {
      calls.push(`associate ${p.paymentId}`);
      return { crmPaymentId: `crmp-${p.paymentId}` };
    },
  };
  const saga = new CrmSyncSaga(store, crm, null, { maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 20, publicBaseUrl: 'http://settle.test', clock: { now: () => now } });
  const run = (bookingId: string, c: Omit<BookingCommand, 'metadata'>) =>
    handle(store, streams.booking(tenantId, bookingId), bookingDecider, () => ({ ...c, metadata: { now } }) as BookingCommand, { tenantId, correlationId: `c-${bookingId}`, causationId: `${bookingId}-${c.type}-${calls.length}`, now, actor: { kind: 'system', id: 'test' } });
  const request = (bookingId: string, placement: 'confirmed' | 'waitlisted') =>
    run(bookingId, {
      type: 'RequestBooking',
      data: {
        bookingId,
        tenantId,
        departure: { departureId: 'd1', externalId: 'DEP-1', paymentScheduleId: 'sched-1' },
        placement,
        contact: { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: '+44 20 7946 0000' },
        guests: [{ firstName: 'Ada', lastName: 'Lovelace' }, { firstName: 'Mary', lastName: 'Somerville' }],
        price,
        paymentScheduleId: 'sched-1',
      },
    });
  const pay = (bookingId: string, pi: string) => run(bookingId, { type: 'RecordPaymentCompleted', data: { provider: 'stripe', providerPaymentId: pi, providerChargeId: `ch_${pi}`, amount: price } });
  const bulk = (ids: string[], id = 'bulk-1'): Envelope => ({ type: 'crm-sync.bulk-retry', id, occurredAt: now.toISOString(), tenantId, aggregate: { type: 'booking', id: ids[0]! }, correlationId: 'corr-bulk', causationId: 'req-bulk', data: { bookingIds: ids, attempt: 0 } }) as unknown as Envelope;
  const types = async (bookingId: string) => (await load(store, streams.booking(tenantId, bookingId), bookingDecider)).events.map((e) => e.type);
  return { store, calls, saga, run, request, pay, bulk, types };
}

describe('CRM sync saga: bulk retry', () => {
  test('a booking refunded while waitlisted (needs nothing from the CRM) is not sent to the CRM by a bulk retry', async () => {
    const t = setUp();
    await t.request('bk-wait', 'waitlisted');
    await t.pay('bk-wait', 'pi_held'); // held: the booking is waitlisted
    await t.run('bk-wait', { type: 'RecordProviderRefunds', data: { provider: 'stripe', providerPaymentId: 'pi_held', providerChargeId: 'ch_pi_held', currency: 'ISK', refunds: [{ refundId: 're_1', amount: price.amount }], refundedTotal: price.amount, reason: null } });
    await t.pay('bk-wait', 'pi_late'); // money nobody keeps: the booking needs attention, so the bulk retry names it
    const before = await t.types('bk-wait');

    await t.saga.handleMessage(t.bulk(['bk-wait']));

    expect(t.calls).toEqual([]);
    expect(await t.types('bk-wait')).toEqual(before);
  });

  test('a booking whose CRM stage failed for good is reopened and run by the bulk retry; its redelivery calls nothing more', async () => {
    const t = setUp(true);
    await t.request('bk-failed', 'confirmed');
    await t.pay('bk-failed', 'pi_paid');
    await t.saga.advance(tenantId, 'bk-failed', { type: 'booking.paid', id: 'paid-1', tenantId, correlationId: 'corr-paid', data: { bookingId: 'bk-failed' } } as unknown as Envelope, { fresh: true });
    expect(await t.types('bk-failed')).toContain('CrmStageFailed');
    t.calls.length = 0;
    // the CRM is back: the same store, a CRM that takes it
    const saga = new CrmSyncSaga(t.store, { createContactBooking: async (b) => (t.calls.push(`create ${b.externalReference}`), { crmBookingId: 'crm-1', ids: {} }), associatePayment: async (p) => (t.calls.push(`associate ${p.paymentId}`), { crmPaymentId: 'crmp-1' }) }, null, { maxAttempts: 1, baseDelayMs: 10, maxDelayMs: 20, publicBaseUrl: 'http://settle.test', clock: { now: () => now } });

    await saga.handleMessage(t.bulk(['bk-failed']));
    await saga.handleMessage(t.bulk(['bk-failed'])); // redelivered

    expect(t.calls).toEqual(['create bk-failed', 'associate pi_paid']);
    expect((await t.types('bk-failed')).filter((x) => x === 'CrmStageRetryRequested')).toHaveLength(1);
  });
});
