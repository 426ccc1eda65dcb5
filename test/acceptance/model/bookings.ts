/**
 * The reference model of the booking pipeline: departures with seats, bookings with their party,
 * the waitlist, inquiries, cancellations, deposits and balances, the money Stripe moved for them
 * (payments, refunds, disputes), the CRM and the operator. From a sequence of steps (API commands
 * and provider facts, each settled before the next) it says what a user must then see. Written
 * from the providers' documentation and Settle's public documentation (README "API";
 * ARCHITECTURE.md "Money rules" and "CRM sync saga"; docs/problems.md; /openapi.json), never from
 * the product's domain code. Read it top to bottom.
 *
 * Stripe (API reference and docs):
 * - A succeeded PaymentIntent moved its `amount` from the payer, whatever the booking's state
 *   ("Payment Intents"); a failed one moved nothing and is still an attempt.
 * - Refunds belong to one charge, several partial ones allowed, never above the charge
 *   ("Refunds"); `charge.refunded` carries the CUMULATIVE `amount_refunded`.
 * - Disputes ("Disputes", "Dispute lifecycle"): `charge.dispute.created` (status
 *   needs_response), then `charge.dispute.funds_withdrawn` (the disputed amount leaves the
 *   balance); on a won dispute `charge.dispute.funds_reinstated` gives it back and
 *   `charge.dispute.closed` says `won`; a lost one closes `lost` and the funds stay withdrawn.
 *   A disputed charge cannot be refunded.
 *
 * Settle's documented rules for bookings:
 * - A request takes as many seats as its party has guests. On a departure that asks for
 *   inquiries (`inquireToBook`) it is an `inquiry` (no seat); otherwise `requested` when the party
 *   fits the free seats, else `waitlisted`.
 * - A cancellation (`POST /v1/bookings/{id}/cancel`) is for bookings without kept money
 *   (requested, waitlisted without a held payment, inquiry): paid, deposit-paid and money-holding
 *   waitlisted bookings answer 409 (`booking_paid`: refund instead); cancelling a cancelled
 *   booking again answers 200 and changes nothing.
 * - Freed seats (cancellation, a booking refunded in full, a capacity raise) promote waitlisted
 *   bookings oldest first while the oldest one's party fits; a booking that paid while waiting
 *   becomes `paid` and enters the CRM pipeline.
 * - A payment of the whole price pays a `requested` booking; with a schedule the first payment may
 *   be the deposit (`deposit_paid`) and then the exact rest pays it. Any other amount, a second
 *   payment, money for a cancelled, refunded or inquiry booking is kept by nobody: a row that
 *   needs a human until it is refunded in full. The full price for a waitlisted booking is held
 *   (waitlisted, needs attention, no seat, no CRM) until promotion.
 * - The booking is `refunded` once every kept payment is refunded in full (its seats are freed),
 *   or once the price it held while waitlisted is (it leaves the waitlist: docs/problems.md
 *   `booking_paid`, "refund instead" of cancelling a waitlisted booking holding a payment).
 * - A dispute of a booking payment needs a human while open or after it was lost.
 * - Balance overdue is decided at read time: a deposit-paid booking whose due instant passed shows
 *   `balance_overdue`.
 * - Stages (read model): `needs_attention` when anything needs a human, else the status; a paid
 *   booking shows `in_crm` once the CRM has it and `payment_associated` once every kept payment
 *   is associated.
 * - CRM: a booking that became paid (or deposit-paid) is created in the CRM once, then every kept
 *   payment is associated once. Each stage gets `CRM_MAX_ATTEMPTS` calls per round (a 4xx
 *   rejection ends the round at once); a round that fails needs a human; `crm-retry` (single: 202,
 *   or 409 `nothing_to_retry` when no stage failed; bulk: every booking needing attention, for any
 *   reason) starts the next round of a failed stage. The CRM deduplicates creates on the external
 *   reference and payments on their id, so a lost answer costs a call, not a second record.
 * - Finance and payments list: as model/invoices.ts (every succeeded payment in gross, refunds,
 *   open disputes in `disputed`, lost ones in `disputeLosses`, net = gross - refunds - losses).
 */
import type { FinanceTotals } from './invoices';

export type CrmPlan =
  | { readonly kind: 'ok' }
  /** the first `failures` create calls fail retryably (fewer than a round's budget) */
  | { readonly kind: 'flaky'; readonly failures: number; readonly failure: number | 'hang' }
  /** the first create call takes effect at the CRM but its answer is lost (503) */
  | { readonly kind: 'lostCreate' }
  /** the first association takes effect but its answer is lost */
  | { readonly kind: 'lostAssociate' }
  /** the CRM refuses this booking's create for `rounds` whole rounds (retryable failure), then takes it */
  | { readonly kind: 'down'; readonly rounds: number; readonly failure: number | 'hang' }
  /** the CRM rejects this booking's create (4xx, final at once) for `rounds` rounds, then takes it */
  | { readonly kind: 'reject'; readonly rounds: number; readonly failure: number };

export interface DepartureFact {
  readonly key: string;
  readonly capacity: number;
  readonly inquireToBook: boolean;
}

export interface BookingRequestFact {
  readonly key: string;
  readonly departure: string;
  readonly guests: number;
  readonly currency: string;
  readonly price: number;
  /** A deposit of this percent of the price, the balance due `dueDays` after the request. */
  readonly schedule: { readonly percent: number; readonly dueDays: number } | null;
  readonly crm: CrmPlan;
}

export type BookingStep =
  | { readonly kind: 'request'; readonly booking: BookingRequestFact }
  | { readonly kind: 'pay'; readonly booking: string; readonly pi: string; readonly ch: string; readonly amount: number; readonly succeeded: boolean }
  | { readonly kind: 'refund'; readonly booking: string; readonly pi: string; readonly ch: string; readonly re: string; readonly amount: number }
  | { readonly kind: 'dispute'; readonly booking: string; readonly pi: string; readonly ch: string; readonly dp: string; readonly amount: number; readonly outcome: 'open' | 'won' | 'lost' }
  | { readonly kind: 'cancel'; readonly booking: string }
  | { readonly kind: 'raiseCapacity'; readonly departure: string; readonly by: number }
  | { readonly kind: 'inquiriesOff'; readonly departure: string }
  | { readonly kind: 'crmRetry'; readonly booking: string }
  | { readonly kind: 'bulkCrmRetry' };

type Status = 'requested' | 'waitlisted' | 'inquiry' | 'deposit_paid' | 'paid' | 'cancelled' | 'refunded';

interface Payment {
  readonly pi: string;
  readonly ch: string;
  readonly amount: number;
  readonly succeeded: boolean;
  /** kept by the booking (its price, deposit or balance); false: nobody's money (needs a human until refunded) */
  kept: boolean;
  /** the full price received while waitlisted: kept on promotion */
  held: boolean;
  refunded: number;
  dispute: 'open' | 'won' | 'lost' | null;
  disputed: number;
}

interface Crm {
  created: boolean;
  associated: string[];
  /** a stage failed for good and no later round got through */
  failed: boolean;
  createCalls: number;
  /** the rounds the create stage still fails (down / reject plans) */
  failingRounds: number;
}

interface Booking {
  readonly fact: BookingRequestFact;
  readonly seq: number;
  status: Status;
  payments: Payment[];
  crm: Crm;
}

export interface ExpectedBooking {
  readonly key: string;
  readonly status: Status;
  readonly stage: string;
  readonly needsAttention: boolean;
  /** what the booking's own payments (kept, or held while waitlisted) gave back */
  readonly refunded: number;
  readonly currency: string;
  readonly guests: number;
  readonly crm: { readonly inCrm: boolean; readonly associated: readonly string[]; readonly createCalls: number };
}

export interface ExpectedBookingPayment {
  readonly booking: string;
  readonly pi: string;
  readonly status: 'failed' | 'succeeded' | 'refunded' | 'disputed';
  readonly amount: number;
  readonly currency: string;
  readonly refunded: number;
  readonly needsAttention: boolean;
}

export interface ExpectedPipeline {
  readonly bookings: ExpectedBooking[];
  /** departure key -> seats taken */
  readonly seats: Map<string, number>;
  readonly payments: ExpectedBookingPayment[];
  readonly finance: Map<string, FinanceTotals>;
  /** the bookings `GET /v1/bookings?stage=needs_attention` lists */
  readonly needingAttention: string[];
}

/** What an API command answers (the driver checks it at once). */
export type Answer = { readonly status: number; readonly bookings?: number } | null;

const HOLDS_SEAT: readonly Status[] = ['requested', 'deposit_paid', 'paid'];

/** Deposit of `percent` of `price`, rounded half up to the minor unit (ARCHITECTURE.md: deposits). */
export const depositOf = (price: number, percent: number): number => Math.floor((price * percent * 2 + 100) / 200);

export class PipelineModel {
  private readonly departures = new Map<string, { capacity: number; inquireToBook: boolean }>();
  private readonly bookings = new Map<string, Booking>();
  private seq = 0;

  constructor(
    departures: readonly DepartureFact[],
    /** `CRM_MAX_ATTEMPTS` */
    private readonly maxAttempts: number,
  ) {
    for (const d of departures) this.departures.set(d.key, { capacity: d.capacity, inquireToBook: d.inquireToBook });
  }

  private seatsTaken(dep: string): number {
    let n = 0;
    for (const b of this.bookings.values()) if (b.fact.departure === dep && HOLDS_SEAT.includes(b.status)) n += b.fact.guests;
    return n;
  }

  private free(dep: string): number {
    return this.departures.get(dep)!.capacity - this.seatsTaken(dep);
  }

  private attention(b: Booking): boolean {
    if (b.crm.failed) return true;
    return b.payments.some((p) => p.succeeded && ((!p.kept && p.refunded < p.amount) || p.dispute === 'open' || p.dispute === 'lost'));
  }

  /** Oldest waitlisted first, as long as the oldest one's party fits. */
  private promote(dep: string): void {
    for (;;) {
      const oldest = [...this.bookings.values()].filter((b) => b.fact.departure === dep && b.status === 'waitlisted').sort((a, b) => a.seq - b.seq)[0];
      if (!oldest || oldest.fact.guests > this.free(dep)) return;
      const held = oldest.payments.find((p) => p.held);
      if (held) {
        held.held = false;
        held.kept = true;
        oldest.status = 'paid';
        this.enterCrm(oldest);
      } else oldest.status = 'requested';
    }
  }

  /** One round of the create stage as the CRM plan says, then the associations. */
  private crmRound(b: Booking): void {
    const c = b.crm;
    const plan = b.fact.crm;
    if (!c.created) {
      if (c.failingRounds > 0) {
        c.failingRounds -= 1;
        c.createCalls += plan.kind === 'reject' ? 1 : this.maxAttempts;
        c.failed = true;
        return;
      }
      const firstCall = c.createCalls === 0;
      c.createCalls += 1 + (firstCall && plan.kind === 'flaky' ? plan.failures : 0) + (firstCall && plan.kind === 'lostCreate' ? 1 : 0);
      c.created = true;
      c.failed = false;
    }
    for (const p of b.payments) if (p.kept && !c.associated.includes(p.pi)) c.associated.push(p.pi);
  }

  private enterCrm(b: Booking): void {
    if (b.crm.failed) return; // waits for the operator's retry
    this.crmRound(b);
  }

  /** Applies one step; returns what the API answered for commands. */
  apply(step: BookingStep): Answer {
    switch (step.kind) {
      case 'request': {
        const f = step.booking;
        const d = this.departures.get(f.departure)!;
        const status: Status = d.inquireToBook ? 'inquiry' : f.guests <= this.free(f.departure) ? 'requested' : 'waitlisted';
        const failingRounds = f.crm.kind === 'down' || f.crm.kind === 'reject' ? f.crm.rounds : 0;
        this.bookings.set(f.key, { fact: f, seq: this.seq++, status, payments: [], crm: { created: false, associated: [], failed: false, createCalls: 0, failingRounds } });
        return { status: 201 };
      }
      case 'pay': {
        const b = this.bookings.get(step.booking)!;
        const p: Payment = { pi: step.pi, ch: step.ch, amount: step.amount, succeeded: step.succeeded, kept: false, held: false, refunded: 0, dispute: null, disputed: 0 };
        b.payments.push(p);
        if (!step.succeeded) return null;
        const { price, schedule } = b.fact;
        const deposit = schedule ? depositOf(price, schedule.percent) : null;
        const keptSoFar = b.payments.filter((x) => x.kept).length;
        if (b.status === 'requested' && keptSoFar === 0 && step.amount === price) {
          p.kept = true;
          b.status = 'paid';
          this.enterCrm(b);
        } else if (b.status === 'requested' && keptSoFar === 0 && deposit !== null && step.amount === deposit) {
          p.kept = true;
          b.status = 'deposit_paid';
          this.enterCrm(b);
        } else if (b.status === 'deposit_paid' && deposit !== null && step.amount === price - deposit) {
          p.kept = true;
          b.status = 'paid';
          this.enterCrm(b);
        } else if (b.status === 'waitlisted' && step.amount === price && !b.payments.some((x) => x.held)) {
          p.held = true;
        }
        return null;
      }
      case 'refund': {
        const b = this.bookings.get(step.booking)!;
        const p = b.payments.find((x) => x.pi === step.pi)!;
        p.refunded += step.amount;
        if (p.held && p.refunded >= p.amount) {
          // the held price given back in full: the way to end a money-holding waitlisted booking
          // (its cancellation is refused: "refund instead"); it leaves the waitlist
          p.held = false;
          p.kept = true;
          b.status = 'refunded';
          this.promote(b.fact.departure);
          return null;
        }
        const kept = b.payments.filter((x) => x.kept);
        if (p.kept && HOLDS_SEAT.includes(b.status) && b.status !== 'requested' && kept.every((x) => x.refunded >= x.amount)) {
          b.status = 'refunded';
          this.promote(b.fact.departure);
        }
        return null;
      }
      case 'dispute': {
        const b = this.bookings.get(step.booking)!;
        const p = b.payments.find((x) => x.pi === step.pi)!;
        p.dispute = step.outcome;
        p.disputed = step.amount;
        return null;
      }
      case 'cancel': {
        const b = this.bookings.get(step.booking)!;
        if (b.status === 'cancelled') return { status: 200 }; // a repeated cancellation changes nothing
        const cancellable = b.status === 'requested' || b.status === 'inquiry' || (b.status === 'waitlisted' && !b.payments.some((p) => p.held));
        if (!cancellable) return { status: 409 };
        const freed = b.status === 'requested';
        b.status = 'cancelled';
        if (freed) this.promote(b.fact.departure);
        return { status: 200 };
      }
      case 'raiseCapacity': {
        this.departures.get(step.departure)!.capacity += step.by;
        this.promote(step.departure);
        return { status: 200 };
      }
      case 'inquiriesOff': {
        this.departures.get(step.departure)!.inquireToBook = false;
        return { status: 200 };
      }
      case 'crmRetry': {
        const b = this.bookings.get(step.booking)!;
        if (!b.crm.failed) return { status: 409 };
        this.crmRound(b);
        return { status: 202 };
      }
      case 'bulkCrmRetry': {
        const needing = [...this.bookings.values()].filter((b) => this.attention(b));
        for (const b of needing) if (b.crm.failed) this.crmRound(b);
        return { status: 202, bookings: needing.length };
      }
    }
  }

  /** What a user must see now. `now` decides balance_overdue. */
  expected(now: number, requestedAt: (key: string) => number): ExpectedPipeline {
    const bookings: ExpectedBooking[] = [];
    const payments: ExpectedBookingPayment[] = [];
    const finance = new Map<string, FinanceTotals>();
    for (const b of this.bookings.values()) {
      const attention = this.attention(b);
      const kept = b.payments.filter((p) => p.kept);
      const allAssociated = b.crm.created && kept.every((p) => b.crm.associated.includes(p.pi));
      const overdue = b.fact.schedule !== null && now >= requestedAt(b.fact.key) + b.fact.schedule.dueDays * 86_400_000;
      const stage = attention
        ? 'needs_attention'
        : b.status === 'deposit_paid'
          ? overdue
            ? 'balance_overdue'
            : 'deposit_paid'
          : b.status === 'paid'
            ? allAssociated
              ? 'payment_associated'
              : b.crm.created
                ? 'in_crm'
                : 'paid'
            : b.status;
      bookings.push({
        key: b.fact.key,
        status: b.status,
        stage,
        needsAttention: attention,
        // what the booking's own money (kept, or held while waitlisted) gave back; refunds of money
        // nobody kept are that payment's alone
        refunded: b.payments.filter((p) => p.kept || p.held).reduce((a, p) => a + p.refunded, 0),
        currency: b.fact.currency,
        guests: b.fact.guests,
        crm: { inCrm: b.crm.created, associated: [...b.crm.associated], createCalls: b.crm.createCalls },
      });
      const t = finance.get(b.fact.currency) ?? { grossCollected: 0, refunds: 0, disputed: 0, disputeLosses: 0, net: 0, succeededCount: 0, failedCount: 0 };
      finance.set(b.fact.currency, t);
      for (const p of b.payments) {
        if (!p.succeeded) {
          t.failedCount += 1;
          payments.push({ booking: b.fact.key, pi: p.pi, status: 'failed', amount: p.amount, currency: b.fact.currency, refunded: 0, needsAttention: false });
          continue;
        }
        t.succeededCount += 1;
        t.grossCollected += p.amount;
        t.refunds += p.refunded;
        if (p.dispute === 'open') t.disputed += p.disputed;
        if (p.dispute === 'lost') t.disputeLosses += p.disputed;
        const status = p.dispute === 'open' || p.dispute === 'lost' ? 'disputed' : p.refunded >= p.amount ? 'refunded' : 'succeeded';
        payments.push({ booking: b.fact.key, pi: p.pi, status, amount: p.amount, currency: b.fact.currency, refunded: p.refunded, needsAttention: (p.held || !p.kept) && p.refunded < p.amount });
      }
    }
    for (const t of finance.values()) t.net = t.grossCollected - t.refunds - t.disputeLosses;
    for (const [cur, t] of finance) if (t.succeededCount === 0 && t.failedCount === 0) finance.delete(cur);
    const seats = new Map([...this.departures.keys()].map((d) => [d, this.seatsTaken(d)] as const));
    return { bookings, seats, payments, finance, needingAttention: bookings.filter((b) => b.needsAttention).map((b) => b.key) };
  }

  /** The history's view while generating: which payments can still be refunded or disputed. */
  booking(key: string): { readonly status: Status; readonly payments: readonly Readonly<Payment>[]; readonly fact: BookingRequestFact } | undefined {
    return this.bookings.get(key);
  }
}
