/** Every read model Settle maintains. */
import { bookingsProjection } from './bookings/bookings';
import { invoiceHistoryProjection, invoicesProjection } from './invoices/invoices';
import { paymentHistoryProjection } from './payments/paymentHistory';
import type { ProjectionDefinition } from './runner';
import { subscriptionsProjection } from './subscriptions/subscriptions';

export const projections: readonly ProjectionDefinition[] = [invoicesProjection, invoiceHistoryProjection, paymentHistoryProjection, bookingsProjection, subscriptionsProjection];

export function projectionNamed(name: string): ProjectionDefinition | undefined {
  return projections.find((p) => p.name === name);
}
