/**
 * Finance reporting tables, fed from the `settle.payments.v1` Kafka topic by the
 * `finance-reporting` consumer group (projections/finance/ledger.ts). Add as a new migration
 * version (never edit it once applied). Runs on PostgreSQL 15 and PGlite.
 *
 * Amounts are bigint integer minor units of the row's currency (no floats anywhere). Each row is
 * a per-day movement: a report over a date range sums rows. `disputed` is the change of open
 * dispute amounts that day (opened minus closed), so summing it over every day up to D gives the
 * amount still under dispute at the end of D.
 */
export const FINANCE_MIGRATION_SQL = `
CREATE TABLE finance_ledger (
  tenant_id       text        NOT NULL,
  -- the UTC day the payment fact belongs to (PaymentFact.day)
  day             date        NOT NULL,
  currency        text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  provider        text        NOT NULL,
  gross_collected bigint      NOT NULL DEFAULT 0,
  refunds         bigint      NOT NULL DEFAULT 0,
  -- open disputes: + amount on dispute.opened, - amount on dispute.closed (won or lost)
  disputed        bigint      NOT NULL DEFAULT 0,
  dispute_losses  bigint      NOT NULL DEFAULT 0,
  platform_fees   bigint      NOT NULL DEFAULT 0,
  net             bigint      GENERATED ALWAYS AS (gross_collected - refunds - dispute_losses - platform_fees) STORED,
  succeeded_count bigint      NOT NULL DEFAULT 0,
  failed_count    bigint      NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, day, currency, provider)
);
-- admin reports over every tenant select by day range
CREATE INDEX finance_ledger_day ON finance_ledger (day);

-- Failed payments by reason: the decline code, else the error code, else 'unknown'.
CREATE TABLE finance_failures (
  tenant_id    text   NOT NULL,
  day          date   NOT NULL,
  provider     text   NOT NULL,
  decline_code text   NOT NULL,
  count        bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, day, provider, decline_code)
);

-- Every message the consumer group has taken into account, written in the same transaction as
-- its ledger effect: a redelivered message (Kafka is at-least-once) finds its id and changes
-- nothing.
CREATE TABLE finance_consumed (
  message_id   uuid        PRIMARY KEY,
  message_type text        NOT NULL,
  outcome      text        NOT NULL CHECK (outcome IN ('applied', 'ignored', 'rejected')),
  consumed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Messages that can never be applied (malformed, unknown version): kept with the reason instead
-- of blocking their partition forever. Operators fix and re-apply them by hand.
CREATE TABLE finance_rejected (
  message_id   uuid        PRIMARY KEY,
  topic        text        NOT NULL,
  message_type text        NOT NULL,
  error        text        NOT NULL,
  envelope     jsonb       NOT NULL,
  rejected_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
`;

/** Every table the migration creates (tests, operators). */
export const FINANCE_TABLES = ['finance_ledger', 'finance_failures', 'finance_consumed', 'finance_rejected'] as const;
