/**
 * The applier's grouping (WebhookIngestor.applyBatch): rows that decide on a common stream are one
 * group, in arrival order, even when they share it only through a third row; rows that touch no
 * stream are groups of their own.
 */
import { groupByStream } from './ingest';
import type { Step, Translation } from './steps';

const invoice = (invoiceId: string): Step => ({ kind: 'invoice', role: 'payment', tenantId: 't', invoiceId, command: { type: 'RecordPaymentAttempt', data: {} } as never });
const subscription = (customerId: string): Step => ({ kind: 'subscription', role: 'renewal', tenantId: 't', customerId, command: { type: 'RecordRenewal', data: {} } as never });
const booking = (bookingId: string): Step => ({ kind: 'booking', role: 'payment', tenantId: 't', bookingId, command: { type: 'RecordPayment', data: {} } as never });
const steps = (...s: Step[]): { translation: Translation } => ({ translation: { outcome: 'steps', steps: s } });

describe('groupByStream', () => {
  test('rows of one stream are one group in arrival order; other streams are groups of their own', () => {
    expect(groupByStream([steps(invoice('a')), steps(booking('b')), steps(invoice('a')), steps(invoice('c'))])).toEqual([[0, 2], [1], [3]]);
  });

  test('rows sharing a stream only through another row (invoice a, invoice a + subscription s, subscription s) are one group', () => {
    expect(groupByStream([steps(subscription('s')), steps(booking('x')), steps(invoice('a')), steps(invoice('a'), subscription('s'))])).toEqual([[0, 2, 3], [1]]);
  });

  test('rows without a stream (unhandled, parked, refused, failed to translate, learn only) stand alone', () => {
    const learn: Step = { kind: 'learn', provider: 'stripe', ref: 'cus_1', tenantId: 't', targetType: 'customer', targetId: 'c' };
    expect(groupByStream([{ translation: { outcome: 'unhandled' } }, { translation: null }, steps(learn), steps(learn), { translation: { outcome: 'park', reason: 'r' } }])).toEqual([[0], [1], [2], [3], [4]]);
  });
});
