/**
 * The CRM sync saga: a paid booking becomes a contact booking in the CRM, then its payment is
 * associated with it. Driven by Kafka messages (consumer group `crm-sync`), never by an HTTP
 * request: the CRM is slow.
 *
 * - The booking stream is the saga's state: each stage's outcome (created with the CRM ids,
 *   associated, attempt failed, failed for good) is appended there, so the bookings read model
 *   always shows where the pipeline is, and a redelivered message just finds the stage done.
 * - The CRM deduplicates on Settle's booking id, so even a crash between the CRM's answer and the
 *   append cannot create a second CRM booking.
 * - A failed attempt schedules its retry through the outbox (exponential backoff with jitter,
 *   `available_at`), so the partition is never blocked waiting. After the last attempt the stage
 *   fails for good (needs attention) and operations get an email with every attempt's error and a
 *   retry link. An operator retry (API or bulk) resumes from the failed stage.
 */
import { attemptInFlight, bookingDecider, currentCrmStage, paymentToAssociate, type BookingCommand, type BookingState, type CrmStage } from '../../domain/booking/booking';
import { departureDecider } from '../../domain/booking/departure';
import { CrmError, type Crm, type Notifier } from '../../domain/ports/crm';
import { systemClock, type Clock } from '../../domain/ports/clock';
import type { EventStore, OutboxMessage, RecordedEvent } from '../../domain/ports/eventStore';
import { DomainRefusal } from '../../domain/shared/decider';
import { handle, load, type CommandContext } from '../handle';
import { deterministicUuid } from '../../domain/shared/ids';
import type { BookingPaid, CrmRetry, Envelope } from '../messages';
import { outboxMessage } from '../messageContracts';
import { streams } from '../streams';
import { backoffDelay } from '../../domain/shared/backoff';

export interface CrmSyncOptions {
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Base of the operator retry link in the email (the admin console / API). */
  readonly publicBaseUrl: string;
  readonly random?: () => number;
  /** Business time (default: the wall clock); the composition root passes its Clock. */
  readonly clock?: Clock;
}

export const CRM_SYNC_GROUP = 'crm-sync';

/** A saga message that names no booking: it can never be handled (the consumer parks it). */
export class MalformedSagaMessage extends Error {
  override readonly name = 'MalformedSagaMessage';
}

/**
 * The id of the scheduled retry after `attempt` failed in `round`: unique per round, so an
 * operator retry (a new round, attempts counted from 1 again) never reuses an earlier round's id.
 * Round 0 keeps the id scheme of releases before rounds existed.
 */
export function crmRetryMessageId(stream: string, stage: CrmStage, round: number, attempt: number): string {
  return deterministicUuid(round === 0 ? `crm-retry|${stream}|${stage}|${attempt}` : `crm-retry|${stream}|${stage}|round-${round}|${attempt}`);
}

export class CrmSyncSaga {
  constructor(
    private readonly store: EventStore,
    private readonly crm: Crm,
    private readonly notifier: Notifier | null,
    private readonly opts: CrmSyncOptions,
  ) {}

  private now(): Date {
    return (this.opts.clock ?? systemClock).now();
  }

  /** One message from `settle.bookings.v1` or the retry topic. */
  async handleMessage(message: Envelope): Promise<void> {
    const data = (message as { data?: unknown } | null)?.data as Partial<CrmRetry & BookingPaid> | null | undefined;
    const ids = (): readonly string[] => {
      const list = message.type === 'booking.paid' ? [data?.bookingId] : data?.bookingIds;
      if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string' && x.length > 0) || typeof message.tenantId !== 'string' || !message.id) {
        throw new MalformedSagaMessage(`${message.type} message ${message.id} names no booking`);
      }
      return list as string[];
    };
    switch (message.type) {
      case 'booking.paid':
        // a redelivery while a scheduled retry is pending must not start a second retry chain
        for (const id of ids()) await this.advance(message.tenantId, id, message, { fresh: true });
        return;
      case 'booking.crm-retry-requested':
        // an operator retry reopened the stage (a new round): it runs only while the round is fresh
        for (const id of ids()) await this.advance(message.tenantId, id, message, { fresh: true });
        return;
      case 'crm-sync.retry': {
        // a stale retry (its attempt already happened, or it belongs to an earlier round) is dropped
        for (const id of ids()) await this.advance(message.tenantId, id, message, { attempt: data?.attempt ?? 0, round: data?.round ?? 0 });
        return;
      }
      case 'crm-sync.bulk-retry':
        // an operator's bulk retry: reopen each failed stage (idempotent per message), then run it.
        // The batch names every booking that needs attention, for any reason (a dispute, money
        // nobody kept, ...): one with no failed stage is not this retry's to run (a booking
        // refunded while waitlisted would otherwise be sent to the CRM it never belonged in).
        for (const id of ids()) {
          if (await this.reopen(message.tenantId, id, message)) await this.advance(message.tenantId, id, message, { fresh: true });
        }
        return;
      default:
        return; // other booking messages are not the saga's
    }
  }

  private ctx(tenantId: string, cause: Envelope, seed?: string): CommandContext {
    return { tenantId, correlationId: cause.correlationId, causationId: cause.id, idSeed: seed, actor: { kind: 'system', id: 'crm-sync' }, now: this.now() };
  }

  /**
   * Reopens the booking's failed stage for a bulk retry message; true when the stage's round is
   * this message's (reopened now, or by an earlier delivery of it), false when nothing failed.
   */
  private async reopen(tenantId: string, bookingId: string, cause: Envelope): Promise<boolean> {
    const stream = streams.booking(tenantId, bookingId);
    const loaded = await load(this.store, stream, bookingDecider);
    const requestedBy = `bulk:${cause.id}`;
    if (loaded.events.some((e) => e.type === 'CrmStageRetryRequested' && (e.data as { requestedBy?: string }).requestedBy === requestedBy)) return true;
    if (!Object.values(loaded.state.stages).some((st) => st.failed)) return false;
    await handle(this.store, stream, bookingDecider, () => cmd('RetryCrmStage', { requestedBy }, this.now()), { ...this.ctx(tenantId, cause, `bulk|${cause.id}|${bookingId}`), batchRetry: true });
    return true;
  }

  /**
   * Runs the pipeline of one booking from where it is, until it is done, waits for a retry, or
   * fails. Every CRM call is preceded by a recorded attempt (CrmStageAttemptStarted, appended
   * with the expected revision), so `attempts` counts every call and CRM_MAX_ATTEMPTS bounds
   * each round; a redelivery of the message that started an attempt (a crash during the call)
   * resumes that recorded attempt instead of starting another.
   */
  async advance(tenantId: string, bookingId: string, cause: Envelope, only: { fresh?: boolean; attempt?: number; round?: number } = {}): Promise<void> {
    const stream = streams.booking(tenantId, bookingId);
    let first = true;
    for (;;) {
      const loaded = await load(this.store, stream, bookingDecider);
      const s = loaded.state;
      const stage = currentCrmStage(s);
      if (!stage) return; // done, or not paid
      const st = s.stages[stage];
      if (st.failed) {
        await this.notify(tenantId, bookingId, stage, s, loaded.events); // idempotent: a failed send is retried here
        return; // waiting for an operator
      }
      const resume = attemptInFlight(st) && st.startedBy === cause.id;
      if (first && !resume) {
        if (attemptInFlight(st)) return; // another delivery is making this attempt
        if (only.fresh && st.attempts > 0) return; // this round already runs (a retry is scheduled)
        if (only.attempt !== undefined && (only.round !== st.round || only.attempt !== st.attempts + 1)) return;
      }
      first = false;
      const attempt = resume ? st.attempts : st.attempts + 1;
      if (!resume) {
        if (attempt > this.opts.maxAttempts) {
          // the round's budget is spent (a redelivery after the last attempt): fail, never call again
          await this.failStage(tenantId, bookingId, stage, st.attempts, st.lastError ?? 'attempt budget exhausted', cause);
          return;
        }
        try {
          const started = await handle(
            this.store,
            stream,
            bookingDecider,
            () => cmd('StartCrmStageAttempt', { stage, attempt, maxAttempts: this.opts.maxAttempts, messageId: cause.id }, this.now()),
            this.ctx(tenantId, cause, `${cause.id}|${stage}|${st.round}|${attempt}|start`),
          );
          if (started.newEvents.length === 0) return; // another delivery started it first
        } catch (err) {
          if (err instanceof DomainRefusal) return; // the booking moved on under the saga
          throw err;
        }
      }
      try {
        if (stage === 'create_contact_booking') {
          const created = await this.crm.createContactBooking(await this.contactBooking(tenantId, bookingId, s));
          await handle(this.store, stream, bookingDecider, () => cmd('RecordCrmBookingCreated', { crmBookingId: created.crmBookingId, crmIds: created.ids }, this.now()), this.ctx(tenantId, cause));
        } else {
          // every kept payment (a deposit, then its balance) is associated once, oldest first; the
          // CRM deduplicates on the payment id, and the booking records each payment id once
          const p = paymentToAssociate(s);
          if (!p || s.crmBookingId === null) throw new Error(`booking ${bookingId}: associate_payment runs with no payment to associate or no CRM booking`);
          const associated = await this.crm.associatePayment({ crmBookingId: s.crmBookingId, externalReference: bookingId, paymentId: p.providerPaymentId, amount: p.amount });
          await handle(
            this.store,
            stream,
            bookingDecider,
            () => cmd('RecordCrmPaymentAssociated', { crmPaymentId: associated.crmPaymentId, providerPaymentId: p.providerPaymentId }, this.now()),
            this.ctx(tenantId, cause),
          );
        }
      } catch (err) {
        if (err instanceof DomainRefusal) {
          // the booking changed under the saga (e.g. refunded and cancelled): nothing left to do;
          // rethrowing would redeliver the message forever and block its partition
          return;
        }
        await this.attemptFailed(tenantId, bookingId, stage, st.round, attempt, err, cause);
        return;
      }
    }
  }

  private async contactBooking(tenantId: string, bookingId: string, s: BookingState) {
    const r = s.request;
    if (!r) throw new Error(`booking ${bookingId} has no request to send to the CRM`);
    // A booking without its own payment schedule (old queued jobs) uses the departure's.
    let schedule = r.paymentScheduleId;
    if (!schedule) schedule = (await load(this.store, streams.departure(tenantId, r.departureId), departureDecider)).state.paymentScheduleId;
    if (!schedule) throw new CrmError('rejected', `departure ${r.departureId} has no payment schedule`);
    return {
      externalReference: bookingId,
      departureId: r.departureId,
      paymentScheduleId: schedule,
      contact: r.contact,
      guests: r.guests,
      // the booking's price (a deposit is only its first payment)
      amount: r.schedule ? r.price : (s.payment?.amount ?? r.price),
      waitlisted: s.status === 'waitlisted',
    };
  }

  private backoffMs(attempt: number): number {
    // "equal jitter": between half and all of the backoff
    return backoffDelay(attempt, { baseMs: this.opts.baseDelayMs, maxMs: this.opts.maxDelayMs, jitter: 'equal' }, this.opts.random);
  }

  private async attemptFailed(tenantId: string, bookingId: string, stage: CrmStage, round: number, attempt: number, err: unknown, cause: Envelope): Promise<void> {
    const stream = streams.booking(tenantId, bookingId);
    const error = err instanceof CrmError ? `${err.kind}${err.status ? ` ${err.status}` : ''}: ${err.message}` : err instanceof Error ? err.message : String(err);
    const retryable = !(err instanceof CrmError && err.kind === 'rejected');
    const last = attempt >= this.opts.maxAttempts || !retryable;
    const id = crmRetryMessageId(stream, stage, round, attempt);
    const retry: OutboxMessage[] = last
      ? []
      : [
          outboxMessage(
            'crm-sync.retry',
            {
              id,
              occurredAt: this.now().toISOString(),
              tenantId,
              aggregate: { type: 'booking', id: bookingId },
              correlationId: cause.correlationId,
              causationId: cause.id,
              data: { bookingIds: [bookingId], attempt: attempt + 1, round },
            },
            stream,
            new Date(this.now().getTime() + this.backoffMs(attempt)).toISOString(),
          ),
        ];
    await handle(this.store, stream, bookingDecider, () => cmd('RecordCrmStageAttemptFailed', { stage, attempt, error }, this.now()), this.ctx(tenantId, cause, `${cause.id}|${stage}|${round}|${attempt}|failed`), {
      outbox: () => retry,
    });
    if (!last) return;
    await this.failStage(tenantId, bookingId, stage, attempt, error, cause);
  }

  /** The stage fails for good (needs attention) and operations are told, once per failure. */
  private async failStage(tenantId: string, bookingId: string, stage: CrmStage, attempts: number, lastError: string, cause: Envelope): Promise<void> {
    const stream = streams.booking(tenantId, bookingId);
    await handle(this.store, stream, bookingDecider, () => cmd('RecordCrmStageFailed', { stage, attempts, lastError }, this.now()), this.ctx(tenantId, cause, `${cause.id}|${stage}|${attempts}|final`));
    const after = await load(this.store, stream, bookingDecider);
    await this.notify(tenantId, bookingId, stage, after.state, after.events);
  }

  private async notify(tenantId: string, bookingId: string, stage: CrmStage, s: BookingState, events: readonly RecordedEvent[]): Promise<void> {
    if (!this.notifier) return;
    // the failure being reported: the last CrmStageFailed of this stage; its revision keys the notice
    const failedAt = events.map((e, i) => (e.type === 'CrmStageFailed' && (e.data as { stage: string }).stage === stage ? i : -1)).reduce((a, b) => Math.max(a, b), -1);
    if (failedAt < 0) return;
    // every attempt of this stage since it was last (re)opened
    const lastReopen = events.map((e, i) => (e.type === 'CrmStageRetryRequested' && (e.data as { stage: string }).stage === stage && i < failedAt ? i : -1)).reduce((a, b) => Math.max(a, b), -1);
    const attempts = events
      .slice(lastReopen + 1, failedAt)
      .filter((e) => e.type === 'CrmStageAttemptFailed' && (e.data as { stage: string }).stage === stage)
      .map((e) => e.data as { attempt: number; error: string; at: string });
    const r = s.request;
    const failed = events[failedAt];
    if (!r || !failed) return;
    await this.notifier.crmStageFailed({
      key: `crm-stage-failed|${tenantId}|${bookingId}|${stage}|${failed.revision}`,
      bookingId,
      tenantId,
      stage,
      attempts,
      retryUrl: `${this.opts.publicBaseUrl}/v1/bookings/${encodeURIComponent(bookingId)}/crm-retry`,
      booking: { clientName: `${r.contact.firstName} ${r.contact.lastName}`, departure: r.departureId, amount: s.payment?.amount ?? r.price, crmBookingId: s.crmBookingId },
    });
  }
}

function cmd<T extends BookingCommand['type']>(type: T, data: Extract<BookingCommand, { type: T }>['data'], now: Date): BookingCommand {
  return { type, data, metadata: { now } } as BookingCommand;
}
