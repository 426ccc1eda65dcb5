/** Every event type of Settle's aggregates, from their event unions (projections declare what they read with it). */
import type { BookingEvent } from './booking/booking';
import type { DepartureEvent } from './booking/departure';
import type { InvoiceEvent } from './invoice/invoice';
import type { PlanEvent } from './subscription/plans';
import type { SubscriptionEvent } from './subscription/subscription';

export type DomainEvent = BookingEvent | DepartureEvent | InvoiceEvent | PlanEvent | SubscriptionEvent;
export type DomainEventType = DomainEvent['type'];
