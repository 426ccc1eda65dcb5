/**
 * Versioned schema migrations, applied in order at startup by migrate(). Append new versions;
 * never edit an applied one (its checksum is recorded and checked). The SQL must run on both
 * PostgreSQL 15 (server) and PGlite (embedded, newer PostgreSQL), so it sticks to what both accept.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * Finance reporting tables, fed from the `settle.payments.v1` Kafka topic by the
 * `finance-reporting` consumer group (projections/finance/ledger.ts; it lived in projections/finance/schema.ts: the migration list must not import a layer above it). Add as a new migration
 * version (never edit it once applied). Runs on PostgreSQL 15 and PGlite.
 *
 * Amounts are bigint integer minor units of the row's currency (no floats anywhere). Each row is
 * a per-day movement: a report over a date range sums rows. `disputed` is the change of open
 * dispute amounts that day (opened minus closed), so summing it over every day up to D gives the
 * amount still under dispute at the end of D.
 */
const FINANCE_MIGRATION_SQL = `
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

const eventStore = `
CREATE TABLE streams (
  stream_id  text   PRIMARY KEY,
  -- revision of the last event; -1 while a first append holds the row but has not written yet
  revision   bigint NOT NULL
);

CREATE TABLE events (
  -- 'prepare' half of the global position: taken from a sequence before commit
  global_position bigserial PRIMARY KEY,
  -- 'commit' half: the writing transaction's id. Readers only return rows whose transaction id is
  -- below the oldest running transaction, so a slow transaction can never be skipped.
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  stream_id       text        NOT NULL,
  stream_revision bigint      NOT NULL,
  event_id        uuid        NOT NULL,
  event_type      text        NOT NULL,
  data            jsonb       NOT NULL,
  metadata        jsonb       NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT events_stream_revision_unique UNIQUE (stream_id, stream_revision),
  CONSTRAINT events_stream_event_id_unique UNIQUE (stream_id, event_id)
);
CREATE INDEX events_global_order ON events (transaction_id, global_position);

CREATE TABLE outbox (
  id           bigserial   PRIMARY KEY,
  message_id   uuid        NOT NULL UNIQUE,
  topic        text        NOT NULL,
  message_key  text        NOT NULL,
  value        jsonb       NOT NULL,
  headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE checkpoints (
  name             text        PRIMARY KEY,
  position_commit  bigint      NOT NULL,
  position_prepare bigint      NOT NULL,
  updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- One round trip per append: lock the stream row, deduplicate by event id, check the expected
-- revision, write events and outbox rows. Returns a status instead of raising, so a caller can
-- group several appends in one transaction without one refusal aborting the others.
CREATE FUNCTION append_to_stream(p_stream text, p_expected_kind text, p_expected bigint, p_events jsonb, p_outbox jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  v_revision bigint;
  v_created  boolean := false;
  v_ids      uuid[];
  v_count    int;
  v_existing uuid[];
  v_rows     jsonb;
  v_inserted int;
BEGIN
  SELECT array_agg((e->>'id')::uuid ORDER BY o) INTO v_ids
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS t(e, o);
  v_count := coalesce(array_length(v_ids, 1), 0);
  IF v_count = 0 THEN
    RAISE EXCEPTION 'append needs at least one event';
  END IF;

  SELECT revision INTO v_revision FROM streams WHERE stream_id = p_stream FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO streams (stream_id, revision) VALUES (p_stream, -1) ON CONFLICT (stream_id) DO NOTHING;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;
    IF v_inserted = 1 THEN
      v_revision := -1;
      v_created := true;
    ELSE
      -- a concurrent first append committed the row while we waited on it
      SELECT revision INTO v_revision FROM streams WHERE stream_id = p_stream FOR UPDATE;
    END IF;
  END IF;

  SELECT array_agg(event_id) INTO v_existing FROM events WHERE stream_id = p_stream AND event_id = ANY (v_ids);
  IF v_existing IS NOT NULL THEN
    IF v_created THEN DELETE FROM streams WHERE stream_id = p_stream; END IF;
    IF array_length(v_existing, 1) = v_count THEN
      SELECT jsonb_agg(jsonb_build_object('id', ev.event_id, 'revision', ev.stream_revision,
                                          'commit', ev.transaction_id::text, 'prepare', ev.global_position)
                       ORDER BY ev.stream_revision)
        INTO v_rows FROM events ev WHERE ev.stream_id = p_stream AND ev.event_id = ANY (v_ids);
      RETURN jsonb_build_object('status', 'duplicate', 'revision', v_revision, 'events', v_rows);
    END IF;
    RETURN jsonb_build_object('status', 'mixed_duplicates', 'revision', v_revision,
                              'existing', to_jsonb(v_existing));
  END IF;

  IF (p_expected_kind = 'no_stream' AND v_revision <> -1)
     OR (p_expected_kind = 'stream_exists' AND v_revision = -1)
     OR (p_expected_kind = 'exact' AND v_revision <> p_expected) THEN
    IF v_created THEN DELETE FROM streams WHERE stream_id = p_stream; END IF;
    RETURN jsonb_build_object('status', 'wrong_expected_revision', 'revision', v_revision);
  END IF;

  WITH ins AS (
    INSERT INTO events (stream_id, stream_revision, event_id, event_type, data, metadata)
    SELECT p_stream, v_revision + t.o, (t.e->>'id')::uuid, t.e->>'type', t.e->'data', t.e->'metadata'
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS t(e, o)
     ORDER BY t.o
    RETURNING event_id, stream_revision, transaction_id, global_position
  )
  SELECT jsonb_agg(jsonb_build_object('id', event_id, 'revision', stream_revision,
                                      'commit', transaction_id::text, 'prepare', global_position)
                   ORDER BY stream_revision)
    INTO v_rows FROM ins;

  UPDATE streams SET revision = v_revision + v_count WHERE stream_id = p_stream;

  IF p_outbox IS NOT NULL AND jsonb_array_length(p_outbox) > 0 THEN
    INSERT INTO outbox (message_id, topic, message_key, value, headers)
    SELECT (m->>'id')::uuid, m->>'topic', m->>'key', m->'value', coalesce(m->'headers', '{}'::jsonb)
      FROM jsonb_array_elements(p_outbox) WITH ORDINALITY AS t(m, o)
     ORDER BY t.o;
  END IF;

  RETURN jsonb_build_object('status', 'appended', 'revision', v_revision + v_count, 'events', v_rows);
END
$fn$;
`;

const apiAccess = `
CREATE TABLE tenants (
  tenant_id  text        PRIMARY KEY,
  name       text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- API keys are stored as SHA-256 hashes; the key itself is shown once, at creation.
CREATE TABLE api_keys (
  key_id     uuid        PRIMARY KEY,
  tenant_id  text        NOT NULL REFERENCES tenants (tenant_id),
  prefix     text        NOT NULL,
  key_hash   text        NOT NULL UNIQUE,
  label      text,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  revoked_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Idempotency-Key records (Stripe semantics): one per (scope, key); kept at least 24 hours.
CREATE TABLE idempotency_keys (
  scope           text        NOT NULL,
  idempotency_key text        NOT NULL,
  method          text        NOT NULL,
  path            text        NOT NULL,
  body_hash       text        NOT NULL,
  state           text        NOT NULL CHECK (state IN ('in_progress', 'done')),
  response_status int,
  response_body   jsonb,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  locked_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
`;

const projections = `
-- One row per projection: which generation of its tables the views point at, and operator flags.
CREATE TABLE projection_state (
  name                  text        PRIMARY KEY,
  active_generation     int         NOT NULL,
  rebuild_requested_at  timestamptz,
  halted_at             timestamptz,
  halted_reason         text,
  updated_at            timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Events a projection could not apply, with the error and where they are in the log.
CREATE TABLE projection_dead_letters (
  id               bigserial   PRIMARY KEY,
  projection       text        NOT NULL,
  generation       int         NOT NULL,
  event_id         uuid        NOT NULL,
  event_type       text        NOT NULL,
  stream_id        text        NOT NULL,
  position_commit  bigint      NOT NULL,
  position_prepare bigint      NOT NULL,
  error            text        NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (projection, generation, event_id)
);
`;

const webhooks = `
-- Every verified provider event, stored before it is acted on (and before the 2xx). Its status
-- says what happened: processed, parked (target not there yet; retried), ignored (unhandled type).
CREATE TABLE webhook_inbox (
  endpoint        text        NOT NULL,
  event_id        text        NOT NULL,
  event_type      text        NOT NULL,
  account_id      text,
  payload         jsonb       NOT NULL,
  status          text        NOT NULL CHECK (status IN ('received', 'processed', 'parked', 'ignored')),
  attempts        int         NOT NULL DEFAULT 0,
  last_error      text,
  received_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  processed_at    timestamptz,
  next_attempt_at timestamptz,
  PRIMARY KEY (endpoint, event_id)
);
CREATE INDEX webhook_inbox_pending ON webhook_inbox (next_attempt_at) WHERE status IN ('received', 'parked');

-- What provider objects belong to: learned from metadata Settle put on them, so later events
-- that carry no metadata (invoices, disputes, refunds) still find their aggregate.
CREATE TABLE provider_refs (
  provider     text        NOT NULL,
  ref          text        NOT NULL,
  tenant_id    text        NOT NULL,
  target_type  text        NOT NULL CHECK (target_type IN ('customer', 'subscription', 'invoice', 'booking')),
  target_id    text        NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (provider, ref)
);

-- Stripe Connect accounts of tenants, as last reported by account.updated.
CREATE TABLE connected_accounts (
  account_id        text        PRIMARY KEY,
  tenant_id         text,
  charges_enabled   boolean     NOT NULL,
  payouts_enabled   boolean     NOT NULL,
  details_submitted boolean     NOT NULL,
  updated_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
`;

const scheduledMessages = `
-- Outbox messages may be scheduled: the relay publishes a row only once available_at has come
-- (delayed retries without blocking a Kafka partition).
ALTER TABLE outbox ADD COLUMN available_at timestamptz NOT NULL DEFAULT clock_timestamp();

-- Notifications sent to humans, keyed so a redelivered trigger does not send twice.
CREATE TABLE notifications_sent (
  notification_key text        PRIMARY KEY,
  recipient        text        NOT NULL,
  subject          text        NOT NULL,
  sent_at          timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE OR REPLACE FUNCTION append_to_stream(p_stream text, p_expected_kind text, p_expected bigint, p_events jsonb, p_outbox jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  v_revision bigint;
  v_created  boolean := false;
  v_ids      uuid[];
  v_count    int;
  v_existing uuid[];
  v_rows     jsonb;
  v_inserted int;
BEGIN
  SELECT array_agg((e->>'id')::uuid ORDER BY o) INTO v_ids
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS t(e, o);
  v_count := coalesce(array_length(v_ids, 1), 0);
  IF v_count = 0 THEN
    RAISE EXCEPTION 'append needs at least one event';
  END IF;

  SELECT revision INTO v_revision FROM streams WHERE stream_id = p_stream FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO streams (stream_id, revision) VALUES (p_stream, -1) ON CONFLICT (stream_id) DO NOTHING;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;
    IF v_inserted = 1 THEN
      v_revision := -1;
      v_created := true;
    ELSE
      SELECT revision INTO v_revision FROM streams WHERE stream_id = p_stream FOR UPDATE;
    END IF;
  END IF;

  SELECT array_agg(event_id) INTO v_existing FROM events WHERE stream_id = p_stream AND event_id = ANY (v_ids);
  IF v_existing IS NOT NULL THEN
    IF v_created THEN DELETE FROM streams WHERE stream_id = p_stream; END IF;
    IF array_length(v_existing, 1) = v_count THEN
      SELECT jsonb_agg(jsonb_build_object('id', ev.event_id, 'revision', ev.stream_revision,
                                          'commit', ev.transaction_id::text, 'prepare', ev.global_position)
                       ORDER BY ev.stream_revision)
        INTO v_rows FROM events ev WHERE ev.stream_id = p_stream AND ev.event_id = ANY (v_ids);
      RETURN jsonb_build_object('status', 'duplicate', 'revision', v_revision, 'events', v_rows);
    END IF;
    RETURN jsonb_build_object('status', 'mixed_duplicates', 'revision', v_revision,
                              'existing', to_jsonb(v_existing));
  END IF;

  IF (p_expected_kind = 'no_stream' AND v_revision <> -1)
     OR (p_expected_kind = 'stream_exists' AND v_revision = -1)
     OR (p_expected_kind = 'exact' AND v_revision <> p_expected) THEN
    IF v_created THEN DELETE FROM streams WHERE stream_id = p_stream; END IF;
    RETURN jsonb_build_object('status', 'wrong_expected_revision', 'revision', v_revision);
  END IF;

  WITH ins AS (
    INSERT INTO events (stream_id, stream_revision, event_id, event_type, data, metadata)
    SELECT p_stream, v_revision + t.o, (t.e->>'id')::uuid, t.e->>'type', t.e->'data', t.e->'metadata'
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS t(e, o)
     ORDER BY t.o
    RETURNING event_id, stream_revision, transaction_id, global_position
  )
  SELECT jsonb_agg(jsonb_build_object('id', event_id, 'revision', stream_revision,
                                      'commit', transaction_id::text, 'prepare', global_position)
                   ORDER BY stream_revision)
    INTO v_rows FROM ins;

  UPDATE streams SET revision = v_revision + v_count WHERE stream_id = p_stream;

  IF p_outbox IS NOT NULL AND jsonb_array_length(p_outbox) > 0 THEN
    INSERT INTO outbox (message_id, topic, message_key, value, headers, available_at)
    SELECT (m->>'id')::uuid, m->>'topic', m->>'key', m->'value', coalesce(m->'headers', '{}'::jsonb),
           coalesce((m->>'availableAt')::timestamptz, clock_timestamp())
      FROM jsonb_array_elements(p_outbox) WITH ORDINALITY AS t(m, o)
     ORDER BY t.o;
  END IF;

  RETURN jsonb_build_object('status', 'appended', 'revision', v_revision + v_count, 'events', v_rows);
END
$fn$;
`;

// Group commit: several appends in one call (one round trip, one transaction, one WAL flush),
// applied in the given order by append_to_stream; each element gets its own status, so a refusal
// (wrong expected revision, mixed duplicates) leaves its neighbours untouched.
const groupCommit = `
CREATE FUNCTION append_many(p_appends jsonb)
RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
  v_out jsonb := '[]'::jsonb;
  v_a   jsonb;
BEGIN
  FOR v_a IN SELECT a FROM jsonb_array_elements(p_appends) WITH ORDINALITY AS t(a, o) ORDER BY o LOOP
    v_out := v_out || jsonb_build_array(append_to_stream(v_a->>'stream', v_a->>'kind', (v_a->>'expected')::bigint,
                                                          v_a->'events', v_a->'outbox'));
  END LOOP;
  RETURN v_out;
END
$fn$;
`;

// Group commit, set-based: the same decisions as append_to_stream for every append of a batch, in
// a handful of statements for the whole batch instead of five or six per append (append_many's
// loop). The result is append_many's: one append_to_stream-shaped status per append, in order.
//
// Locks: one INSERT ... ON CONFLICT DO UPDATE ... WHERE false visits the batch's streams one at a
// time, in the order they first appear in p_appends (the caller passes the batch round by round,
// so its first round names every stream once, in stream-id order: batchOrder), and either
// creates a stream's row (revision -1, "no stream") or locks the existing one (the WHERE false
// locks without writing). A row another transaction is still inserting is waited for at its turn.
// So, like append_to_stream and append_many, a batch acquires its streams one by one in stream
// order and never holds a later stream while waiting for an earlier one: no deadlock with them or
// with another batch. Every later statement runs on a snapshot taken after the locks were held
// (READ COMMITTED, as append_to_stream also assumes), so it sees each stream's last commit.
//
// Rounds: round r holds the r-th append to each stream, so a round never names a stream twice
// and sees the writes of the rounds before it (dedup and expected revision): appends to one stream
// behave as if run one after another in batch order. A batch of distinct streams is one round.
// Within a round, events and outbox rows are inserted in batch order (ORDER BY in the INSERT), so
// sequence numbers follow it; the caller passes the batch round by round (batchOrder in
// sqlEventStore.ts), so they follow the whole batch's order.
//
// A row created here for appends that were all refused still has revision -1 at the end and is
// deleted, as append_to_stream deletes it.
const groupCommitSetBased = `
CREATE FUNCTION append_batch(p_appends jsonb)
RETURNS jsonb LANGUAGE plpgsql
-- A custom plan per call (the default for parameterised statements) costs as much planning as
-- the batch's execution; the plans below are index lookups and small sorts whatever the input.
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
  v_count   int := jsonb_array_length(p_appends);
  v_rounds  bigint;
  v_created text[];
  v_round   jsonb;
  v_results jsonb := '{}'::jsonb;
BEGIN
  IF v_count = 0 THEN
    RETURN '[]'::jsonb;
  END IF;
  IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_appends) AS t(a) WHERE coalesce(jsonb_array_length(t.a->'events'), 0) = 0) THEN
    RAISE EXCEPTION 'append needs at least one event';
  END IF;

  WITH s AS (
    SELECT t.a->>'stream' AS stream, min(t.o) AS first, count(*) AS appends
      FROM jsonb_array_elements(p_appends) WITH ORDINALITY AS t(a, o)
     GROUP BY 1
  ), ensured AS (
    INSERT INTO streams AS cur (stream_id, revision)
    SELECT s.stream, -1 FROM s ORDER BY s.first
    ON CONFLICT (stream_id) DO UPDATE SET revision = cur.revision WHERE false
    RETURNING cur.stream_id
  )
  SELECT (SELECT array_agg(stream_id) FROM ensured), (SELECT max(appends) FROM s) INTO v_created, v_rounds;

  FOR v_r IN 1..v_rounds LOOP
    WITH a AS (
      SELECT x.o, x.stream, x.kind, x.expected, x.events, x.outbox,
             (SELECT cur.revision FROM streams cur WHERE cur.stream_id = x.stream) AS revision
        FROM (SELECT t.o, t.a->>'stream' AS stream, t.a->>'kind' AS kind, (t.a->>'expected')::bigint AS expected,
                     t.a->'events' AS events, t.a->'outbox' AS outbox,
                     row_number() OVER (PARTITION BY t.a->>'stream' ORDER BY t.o) AS r
                FROM jsonb_array_elements(p_appends) WITH ORDINALITY AS t(a, o)) AS x
       WHERE x.r = v_r
    ), e AS (
      -- Each event with its stored twin, if its stream already holds its id. Scalar subqueries run
      -- per row, i.e. as index lookups: a join here could be planned as a scan of all events.
      SELECT a.o, a.stream, x.k, (x.e->>'id')::uuid AS id, x.e,
             (SELECT jsonb_build_object('id', ev.event_id, 'revision', ev.stream_revision,
                                        'commit', ev.transaction_id::text, 'prepare', ev.global_position)
                FROM events ev WHERE ev.stream_id = a.stream AND ev.event_id = (x.e->>'id')::uuid) AS stored
        FROM a, jsonb_array_elements(a.events) WITH ORDINALITY AS x(e, k)
    ), found AS (
      -- an id named twice in one append counts once, as in append_to_stream
      SELECT e.o, count(DISTINCT e.id) AS n, array_agg(DISTINCT e.id) AS ids,
             jsonb_agg(e.stored ORDER BY (e.stored->>'revision')::bigint) AS events
        FROM e WHERE e.stored IS NOT NULL GROUP BY e.o
    ), st AS (
      SELECT a.o, a.stream, a.outbox, a.revision, jsonb_array_length(a.events) AS n, f.ids, f.events AS found_events,
             CASE
               WHEN f.n = jsonb_array_length(a.events) THEN 'duplicate'
               WHEN f.n > 0 THEN 'mixed_duplicates'
               WHEN (a.kind = 'no_stream' AND a.revision <> -1)
                 OR (a.kind = 'stream_exists' AND a.revision = -1)
                 OR (a.kind = 'exact' AND a.revision <> a.expected) THEN 'wrong_expected_revision'
               ELSE 'appended'
             END AS status
        FROM a LEFT JOIN found f ON f.o = a.o
    ), ins AS (
      INSERT INTO events (stream_id, stream_revision, event_id, event_type, data, metadata)
      SELECT e.stream, st.revision + e.k, e.id, e.e->>'type', e.e->'data', e.e->'metadata'
        FROM st JOIN e ON e.o = st.o
       WHERE st.status = 'appended'
       ORDER BY e.o, e.k
      RETURNING stream_id, event_id, stream_revision, transaction_id, global_position
    ), written AS MATERIALIZED (
      SELECT ins.stream_id,
             jsonb_agg(jsonb_build_object('id', ins.event_id, 'revision', ins.stream_revision,
                                          'commit', ins.transaction_id::text, 'prepare', ins.global_position)
                       ORDER BY ins.stream_revision) AS events
        FROM ins GROUP BY ins.stream_id
    ), upd AS (
      UPDATE streams cur SET revision = st.revision + st.n
        FROM st
       WHERE st.status = 'appended' AND cur.stream_id = st.stream
    ), box AS (
      INSERT INTO outbox (message_id, topic, message_key, value, headers, available_at)
      SELECT (m.m->>'id')::uuid, m.m->>'topic', m.m->>'key', m.m->'value', coalesce(m.m->'headers', '{}'::jsonb),
             coalesce((m.m->>'availableAt')::timestamptz, clock_timestamp())
        FROM st, jsonb_array_elements(coalesce(st.outbox, '[]'::jsonb)) WITH ORDINALITY AS m(m, k)
       WHERE st.status = 'appended'
       ORDER BY st.o, m.k
    )
    SELECT jsonb_object_agg(st.o::text, CASE st.status
             WHEN 'appended' THEN jsonb_build_object('status', 'appended', 'revision', st.revision + st.n, 'events', w.events)
             WHEN 'duplicate' THEN jsonb_build_object('status', 'duplicate', 'revision', st.revision, 'events', st.found_events)
             WHEN 'mixed_duplicates' THEN jsonb_build_object('status', 'mixed_duplicates', 'revision', st.revision, 'existing', to_jsonb(st.ids))
             ELSE jsonb_build_object('status', 'wrong_expected_revision', 'revision', st.revision)
           END)
      INTO v_round
      FROM st LEFT JOIN written w ON w.stream_id = st.stream;
    v_results := v_results || v_round;
  END LOOP;

  IF v_created IS NOT NULL THEN
    DELETE FROM streams WHERE stream_id = ANY (v_created) AND revision = -1;
  END IF;

  RETURN (SELECT jsonb_agg(v_results -> (o::text) ORDER BY o) FROM generate_series(1, v_count) AS o);
END
$fn$;
`;

// Messaging isolation: an outbox message id written twice is written once when the content is the
// same and refused loudly (SQLSTATE SO409) when it is not; keys whose head message cannot be
// published (relay) or handled (consumer groups) are held, retried with backoff and then parked,
// without holding up other keys; skipped messages are kept with the operator's reason.
const messagingIsolation = `
CREATE FUNCTION outbox_write_once() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  v_old outbox%ROWTYPE;
BEGIN
  SELECT * INTO v_old FROM outbox WHERE message_id = NEW.message_id;
  IF NOT FOUND THEN
    RETURN NEW;
  END IF;
  IF v_old.topic = NEW.topic AND v_old.message_key = NEW.message_key AND v_old.value = NEW.value AND v_old.headers = NEW.headers THEN
    RETURN NULL; -- the same message again: it is already there, nothing is written twice
  END IF;
  RAISE EXCEPTION 'outbox message % already exists with other content (topic %, key %)', NEW.message_id, v_old.topic, v_old.message_key
    USING ERRCODE = 'SO409';
END
$fn$;
CREATE TRIGGER outbox_write_once BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_write_once();
-- a held key's waiting messages, found without scanning the published history
CREATE INDEX outbox_unpublished_key ON outbox (message_key, id) WHERE published_at IS NULL;

-- relay: a key whose head message could not be published; its later messages wait behind it
CREATE TABLE outbox_holds (
  message_key     text        PRIMARY KEY,
  message_id      uuid        NOT NULL,
  topic           text        NOT NULL,
  attempts        int         NOT NULL,
  last_error      text        NOT NULL,
  since           timestamptz NOT NULL DEFAULT clock_timestamp(),
  next_attempt_at timestamptz NOT NULL,
  -- set once the attempts are spent: no automatic retry, an operator releases or skips it
  parked_at       timestamptz
);

-- consumer groups: a message of a key the group could not handle (the head, lowest id of its
-- group and key) and the messages of that key delivered after it, in order
CREATE TABLE consumer_parked (
  id              bigserial   PRIMARY KEY,
  group_id        text        NOT NULL,
  message_key     text        NOT NULL,
  message_id      text        NOT NULL,
  topic           text        NOT NULL,
  value           jsonb,
  headers         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  msg_partition   int,
  msg_offset      text,
  attempts        int         NOT NULL DEFAULT 0,
  last_error      text,
  since           timestamptz NOT NULL DEFAULT clock_timestamp(),
  next_attempt_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  parked_at       timestamptz,
  UNIQUE (group_id, message_id)
);
CREATE INDEX consumer_parked_key ON consumer_parked (group_id, message_key, id);

-- messages an operator skipped, with the reason
CREATE TABLE parked_skips (
  id          bigserial   PRIMARY KEY,
  stage       text        NOT NULL,
  message_key text        NOT NULL,
  message_id  text        NOT NULL,
  topic       text        NOT NULL,
  error       text,
  reason      text        NOT NULL,
  skipped_by  text        NOT NULL,
  value       jsonb,
  skipped_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
`;

const billingConvergence = `
-- Connect linking is an operator act: exactly one current account per tenant; re-linking keeps
-- the old one as previous (its events are recorded and flagged, never applied); an account that
-- only sent events (account.updated) is unlinked, whatever its metadata says.
ALTER TABLE connected_accounts ADD COLUMN link_status text NOT NULL DEFAULT 'unlinked' CHECK (link_status IN ('current', 'previous', 'unlinked'));
ALTER TABLE connected_accounts ADD COLUMN linked_at timestamptz;
ALTER TABLE connected_accounts ADD COLUMN unlinked_at timestamptz;
UPDATE connected_accounts c
   SET link_status = CASE WHEN c.account_id = (SELECT x.account_id FROM connected_accounts x WHERE x.tenant_id = c.tenant_id
                                                ORDER BY x.updated_at DESC, x.account_id LIMIT 1) THEN 'current' ELSE 'previous' END,
       linked_at = c.updated_at
 WHERE c.tenant_id IS NOT NULL;
CREATE UNIQUE INDEX connected_accounts_one_current ON connected_accounts (tenant_id) WHERE link_status = 'current';

-- Reconciliation runs (POST /v1/admin/reconciliations, npm run reconcile): what was compared
-- with the providers, what differed, what was repaired and what needs a human.
CREATE TABLE reconciliation_runs (
  run_id       uuid        PRIMARY KEY,
  tenant_id    text,
  since        timestamptz NOT NULL,
  dry_run      boolean     NOT NULL,
  status       text        NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
  started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at  timestamptz,
  examined     int         NOT NULL DEFAULT 0,
  found        int         NOT NULL DEFAULT 0,
  repaired     int         NOT NULL DEFAULT 0,
  unrepairable int         NOT NULL DEFAULT 0,
  differences  jsonb       NOT NULL DEFAULT '[]',
  error        text
);
CREATE INDEX reconciliation_runs_started ON reconciliation_runs (started_at DESC, run_id DESC);
`;

export const migrations: readonly Migration[] = [
  { version: 1, name: 'event_store', sql: eventStore },
  { version: 2, name: 'api_access', sql: apiAccess },
  { version: 3, name: 'projections', sql: projections },
  { version: 4, name: 'webhooks', sql: webhooks },
  { version: 5, name: 'scheduled_messages', sql: scheduledMessages },
  { version: 6, name: 'finance_reporting', sql: FINANCE_MIGRATION_SQL },
  {
    version: 7,
    name: 'projection_definition_hash',
    sql: `-- the hash of a projection's table definitions: when the code's differs, the projection rebuilds
ALTER TABLE projection_state ADD COLUMN definition_hash text;`,
  },
  {
    version: 8,
    name: 'console_sessions',
    sql: `-- admin console sessions: the cookie holds a random token, only its hash is stored; a tenant
-- session names the API key it was opened with (revoking the key ends it), an admin session the
-- hash of the admin key (rotating ADMIN_API_KEY ends it)
CREATE TABLE console_sessions (
  session_hash   text        PRIMARY KEY,
  principal_kind text        NOT NULL CHECK (principal_kind IN ('admin', 'tenant')),
  key_id         uuid        REFERENCES api_keys (key_id) ON DELETE CASCADE,
  admin_key_hash text,
  tenant_id      text        REFERENCES tenants (tenant_id),
  csrf_token     text        NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at     timestamptz NOT NULL,
  CHECK ((principal_kind = 'tenant' AND key_id IS NOT NULL AND tenant_id IS NOT NULL) OR (principal_kind = 'admin' AND admin_key_hash IS NOT NULL))
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);`,
  },
  { version: 9, name: 'group_commit', sql: groupCommit },
  { version: 10, name: 'group_commit_set_based', sql: groupCommitSetBased },
  {
    version: 11,
    name: 'paypal_transmissions',
    sql: `-- PayPal webhook transmissions seen (PAYPAL-TRANSMISSION-ID, signed) with the SHA-256 of their
-- body: the same transmission again is a replay, the same id with another body is refused (a body
-- forged to match the CRC32 of a genuine one). Kept for the transmission-time window, then pruned.
CREATE TABLE paypal_transmissions (
  transmission_id text        PRIMARY KEY,
  body_sha256     text        NOT NULL,
  event_id        text,
  received_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX paypal_transmissions_received ON paypal_transmissions (received_at);`,
  },
  { version: 12, name: 'messaging_isolation', sql: messagingIsolation },
  { version: 13, name: 'billing_convergence', sql: billingConvergence },
];

export const latestMigration = Math.max(...migrations.map((m) => m.version));
