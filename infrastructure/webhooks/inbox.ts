/**
 * SQL side of webhook ingestion: the inbox of verified provider events (stored before they are
 * acted on), the provider references learned from them, connected-account status.
 */
import type { AccountLink, ConnectedAccountRow, ConnectedAccounts, ProviderRefs } from '../../domain/ports/providerRefs';
import type { InboxRow, InboxStatus, StoredEvent, VerifiedEvent, WebhookInbox } from '../../domain/ports/webhookInbox';
import { UNSTORABLE_TEXT, type SqlClient } from '../../domain/ports/sql';
import { Coalescer } from '../sql/coalescer';

export type { InboxRow, InboxStatus } from '../../domain/ports/webhookInbox';

export class SqlProviderRefs implements ProviderRefs {
  constructor(private readonly db: SqlClient) {}

  async lookup(provider: string, ref: string) {
    const { rows } = await this.db.query<{ tenant_id: string; target_type: string; target_id: string }>(
      'SELECT tenant_id, target_type, target_id FROM provider_refs WHERE provider = $1 AND ref = $2',
      [provider, ref],
    );
    const r = rows[0];
    return r ? { tenantId: r.tenant_id, targetType: r.target_type, targetId: r.target_id } : null;
  }

  async accountLink(accountId: string): Promise<AccountLink | null> {
    const { rows } = await this.db.query<{ tenant_id: string | null; link_status: string }>('SELECT tenant_id, link_status FROM connected_accounts WHERE account_id = $1', [accountId]);
    return rows[0] ? toLink(rows[0]) : null;
  }

  /**
   * Concurrent webhooks learn their references in one statement (ON CONFLICT DO NOTHING: a
   * reference, once learned, never changes).
   */
  private readonly learning = new Coalescer<{ provider: string; ref: string; tenantId: string; targetType: string; targetId: string }, void>(
    async (items) => {
      await this.db.query(
        `INSERT INTO provider_refs (provider, ref, tenant_id, target_type, target_id)
         SELECT provider, ref, tenant_id, target_type, target_id
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS t(provider, ref, tenant_id, target_type, target_id, k)
          ORDER BY k
         ON CONFLICT (provider, ref) DO NOTHING`,
        [items.map((i) => i.provider), items.map((i) => i.ref), items.map((i) => i.tenantId), items.map((i) => i.targetType), items.map((i) => i.targetId)],
      );
      return items.map(() => undefined);
    },
    { keyOf: (i) => `${i.provider}\u0000${i.ref}` },
  );

  learn(provider: string, ref: string, tenantId: string, targetType: string, targetId: string): Promise<void> {
    return this.learning.call({ provider, ref, tenantId, targetType, targetId });
  }

  /** account.updated: capabilities only. An account nobody linked is kept as `unlinked` (no tenant), never linked by its own metadata. */
  async connectedAccount(a: { accountId: string; chargesEnabled: boolean; payoutsEnabled: boolean; detailsSubmitted: boolean }): Promise<AccountLink> {
    const { rows } = await this.db.query<{ tenant_id: string | null; link_status: string }>(
      `INSERT INTO connected_accounts (account_id, tenant_id, charges_enabled, payouts_enabled, details_submitted, link_status) VALUES ($1, NULL, $2, $3, $4, 'unlinked')
       ON CONFLICT (account_id) DO UPDATE SET charges_enabled = EXCLUDED.charges_enabled,
         payouts_enabled = EXCLUDED.payouts_enabled, details_submitted = EXCLUDED.details_submitted, updated_at = clock_timestamp()
       RETURNING tenant_id, link_status`,
      [a.accountId, a.chargesEnabled, a.payoutsEnabled, a.detailsSubmitted],
    );
    const row = rows[0];
    if (!row) throw new Error(`the upsert of connected account ${a.accountId} returned no row`);
    return toLink(row);
  }
}

function toLink(r: { tenant_id: string | null; link_status: string }): AccountLink {
  return r.tenant_id !== null && (r.link_status === 'current' || r.link_status === 'previous') ? { status: r.link_status, tenantId: r.tenant_id } : { status: 'unlinked', tenantId: null };
}

/**
 * Which Stripe connected account takes a tenant's Connect payments: exactly one `current`
 * account per tenant (a unique index), set only by an operator (link). Re-linking makes the old
 * account `previous`: its webhooks are recorded and flagged, never applied.
 */
export class SqlConnectedAccounts implements ConnectedAccounts {
  constructor(private readonly db: SqlClient) {}

  async accountFor(tenantId: string): Promise<string | null> {
    const { rows } = await this.db.query<{ account_id: string }>(
      `SELECT account_id FROM connected_accounts WHERE tenant_id = $1 AND link_status = 'current' AND charges_enabled`,
      [tenantId],
    );
    return rows[0]?.account_id ?? null;
  }

  /** The tenant's current account whatever its capabilities (reconciliation reads it), or null. */
  async currentAccount(tenantId: string): Promise<string | null> {
    const { rows } = await this.db.query<{ account_id: string }>(`SELECT account_id FROM connected_accounts WHERE tenant_id = $1 AND link_status = 'current'`, [tenantId]);
    return rows[0]?.account_id ?? null;
  }

  /** The tenant's current account and the ones it replaced, newest first. */
  async list(tenantId: string): Promise<ConnectedAccountRow[]> {
    const { rows } = await this.db.query<{ account_id: string; link_status: 'current' | 'previous'; charges_enabled: boolean; payouts_enabled: boolean; details_submitted: boolean; linked_at: Date | null; unlinked_at: Date | null }>(
      `SELECT account_id, link_status, charges_enabled, payouts_enabled, details_submitted, linked_at, unlinked_at FROM connected_accounts
        WHERE tenant_id = $1 AND link_status IN ('current', 'previous') ORDER BY link_status = 'current' DESC, linked_at DESC NULLS LAST, account_id`,
      [tenantId],
    );
    const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null);
    return rows.map((r) => ({ accountId: r.account_id, status: r.link_status, chargesEnabled: r.charges_enabled, payoutsEnabled: r.payouts_enabled, detailsSubmitted: r.details_submitted, linkedAt: iso(r.linked_at), replacedAt: iso(r.unlinked_at) }));
  }

  /**
   * Links an account to a tenant as its current one; the tenant's previous current account (if
   * another) becomes `previous`. It takes charges once Stripe reports it can (account.updated;
   * capabilities already reported while it was unlinked are kept). An account linked to another
   * tenant (now or before) is refused: `linked_elsewhere`.
   */
  async link(tenantId: string, accountId: string): Promise<{ linked: true; previousAccountId: string | null } | { linked: false; reason: 'linked_elsewhere'; tenantId: string }> {
    return this.db.transaction(async (tx) => {
      // one link change per tenant at a time (the unique index would refuse the loser otherwise)
      await tx.query('SELECT tenant_id FROM tenants WHERE tenant_id = $1 FOR UPDATE', [tenantId]);
      const { rows: existing } = await tx.query<{ tenant_id: string | null }>('SELECT tenant_id FROM connected_accounts WHERE account_id = $1 FOR UPDATE', [accountId]);
      const owner = existing[0]?.tenant_id ?? null;
      if (owner !== null && owner !== tenantId) return { linked: false as const, reason: 'linked_elsewhere' as const, tenantId: owner };
      const { rows: replaced } = await tx.query<{ account_id: string }>(
        `UPDATE connected_accounts SET link_status = 'previous', unlinked_at = clock_timestamp()
          WHERE tenant_id = $1 AND link_status = 'current' AND account_id <> $2 RETURNING account_id`,
        [tenantId, accountId],
      );
      await tx.query(
        `INSERT INTO connected_accounts (account_id, tenant_id, charges_enabled, payouts_enabled, details_submitted, link_status, linked_at) VALUES ($1, $2, false, false, false, 'current', clock_timestamp())
         ON CONFLICT (account_id) DO UPDATE SET tenant_id = EXCLUDED.tenant_id, link_status = 'current',
           linked_at = CASE WHEN connected_accounts.link_status = 'current' THEN connected_accounts.linked_at ELSE clock_timestamp() END, unlinked_at = NULL`,
        [accountId, tenantId],
      );
      return { linked: true as const, previousAccountId: replaced[0]?.account_id ?? null };
    });
  }
}

interface Received {
  endpoint: string;
  eventId: string;
  eventType: string;
  accountId: string | null;
  /** The event as JSON text. */
  payloadJson: string;
}

const inboxKey = (endpoint: string, eventId: string) => `${endpoint}\u0000${eventId}`;

export class SqlWebhookInbox implements WebhookInbox {
  constructor(private readonly db: SqlClient) {}

  /**
   * PostgreSQL cannot store NUL in text or jsonb, and lone surrogates are not Unicode: a verified
   * event is never refused for its text; those characters become U+FFFD. JSON text can only
   * carry them as \u escapes, so a body without such escapes is stored as it came.
   * (a leading byte-order mark is not JSON to PostgreSQL: such a body is re-serialised too)
   */
  async store(e: VerifiedEvent): Promise<StoredEvent> {
    const clean = e.verifiedJson !== undefined && e.verifiedJson.charCodeAt(0) !== 0xfeff && !MAY_ESCAPE_UNSTORABLE.test(e.verifiedJson);
    const payload = clean ? e.payload : storable(e.payload);
    const payloadJson = clean ? e.verifiedJson : JSON.stringify(payload);
    const eventId = storable(e.eventId) as string;
    const eventType = storable(e.eventType) as string;
    const stored = await this.receive(e.endpoint, eventId, eventType, e.accountId, payloadJson);
    return { ...stored, eventId, eventType, payload };
  }

  /**
   * Concurrent webhooks are stored by one INSERT (one round trip, one commit for all of them);
   * deliveries of one event never share a batch, so exactly one of them is `fresh`.
   */
  private readonly receiving = new Coalescer<Received, { fresh: boolean; status: InboxStatus }>(
    async (items) => {
      const { rows } = await this.db.query<{ endpoint: string; event_id: string; status: InboxStatus }>(
        `INSERT INTO webhook_inbox (endpoint, event_id, event_type, account_id, payload, status, next_attempt_at)
         SELECT t.endpoint, t.event_id, t.event_type, t.account_id, p.payload, 'received', clock_timestamp() + interval '30 seconds'
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS t(endpoint, event_id, event_type, account_id, k)
           JOIN jsonb_array_elements($5::jsonb) WITH ORDINALITY AS p(payload, k) USING (k)
          ORDER BY k
         ON CONFLICT (endpoint, event_id) DO NOTHING RETURNING endpoint, event_id, status`,
        // the payloads travel as one JSON array built from their texts: no re-serialising, and
        // none of the quoting a text[] literal of JSON documents would need
        [items.map((i) => i.endpoint), items.map((i) => i.eventId), items.map((i) => i.eventType), items.map((i) => i.accountId), `[${items.map((i) => i.payloadJson).join(',')}]`],
      );
      const fresh = new Map(rows.map((r) => [inboxKey(r.endpoint, r.event_id), r.status]));
      const seen = items.filter((i) => !fresh.has(inboxKey(i.endpoint, i.eventId)));
      const existing = new Map<string, InboxStatus>();
      if (seen.length > 0) {
        const { rows: old } = await this.db.query<{ endpoint: string; event_id: string; status: InboxStatus }>(
          `SELECT w.endpoint, w.event_id, w.status FROM webhook_inbox w
             JOIN unnest($1::text[], $2::text[]) AS t(endpoint, event_id) ON w.endpoint = t.endpoint AND w.event_id = t.event_id`,
          [seen.map((i) => i.endpoint), seen.map((i) => i.eventId)],
        );
        for (const r of old) existing.set(inboxKey(r.endpoint, r.event_id), r.status);
      }
      return items.map((i) => {
        const k = inboxKey(i.endpoint, i.eventId);
        const status = fresh.get(k);
        return status ? { fresh: true, status } : { fresh: false, status: existing.get(k) ?? 'received' };
      });
    },
    // bodies may be up to 1 MB each: a batch holds at most ~4 MB of them
    { keyOf: (i) => inboxKey(i.endpoint, i.eventId), sizeOf: (i) => i.payloadJson.length, maxBatchBytes: 4 * 1024 * 1024 },
  );

  /** Stores a verified event (`payloadJson`: its JSON text); returns the existing row when this event was seen before. */
  receive(endpoint: string, eventId: string, eventType: string, accountId: string | null, payloadJson: string): Promise<{ fresh: boolean; status: InboxStatus }> {
    return this.receiving.call({ endpoint, eventId, eventType, accountId, payloadJson });
  }

  /** Outcomes of concurrent webhooks are recorded by one UPDATE; one event's marks stay in order. */
  private readonly marking = new Coalescer<{ endpoint: string; eventId: string; status: InboxStatus; note: string | null }, void>(
    async (items) => {
      await this.markMany(items);
      return items.map(() => undefined);
    },
    { keyOf: (i) => inboxKey(i.endpoint, i.eventId) },
  );

  /** One UPDATE for many outcomes (an event appears at most once). */
  async markMany(items: ReadonlyArray<{ endpoint: string; eventId: string; status: InboxStatus; note: string | null }>): Promise<void> {
    if (items.length === 0) return;
    await this.db.query(
        `UPDATE webhook_inbox w SET
                -- an event parked for a week (e.g. a payment Settle did not create on a tenant's account) is given up
                status = CASE WHEN u.status = 'parked' AND w.received_at < clock_timestamp() - interval '7 days' THEN 'ignored' ELSE u.status END,
                last_error = CASE WHEN u.status = 'parked' AND w.received_at < clock_timestamp() - interval '7 days' THEN 'gave up after 7 days parked: ' || coalesce(u.note, '') ELSE u.note END,
                attempts = w.attempts + 1,
                processed_at = CASE WHEN u.status IN ('processed', 'ignored') THEN clock_timestamp() ELSE w.processed_at END,
                next_attempt_at = CASE WHEN u.status IN ('parked', 'received')
                                       THEN clock_timestamp() + make_interval(secs => least(3600, power(2, least(w.attempts, 12)))::int)
                                       ELSE NULL END
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(endpoint, event_id, status, note)
          WHERE w.endpoint = u.endpoint AND w.event_id = u.event_id AND w.status NOT IN ('processed', 'ignored')`,
        [items.map((i) => i.endpoint), items.map((i) => i.eventId), items.map((i) => i.status), items.map((i) => i.note)],
      );
  }

  mark(endpoint: string, eventId: string, status: InboxStatus, note: string | null): Promise<void> {
    return this.marking.call({ endpoint, eventId, status, note });
  }

  /**
   * Stored events never tried yet, oldest first (the partial index webhook_inbox_pending holds only
   * unfinished rows). A row whose apply failed has an attempt: the retrier takes it, with backoff.
   */
  async unapplied(limit: number): Promise<InboxRow[]> {
    const { rows } = await this.db.query<{ endpoint: string; event_id: string; event_type: string; account_id: string | null; payload: unknown; status: InboxStatus; attempts: number; received_at: Date }>(
      `SELECT endpoint, event_id, event_type, account_id, payload, status, attempts, received_at FROM webhook_inbox
        WHERE status = 'received' AND attempts = 0 ORDER BY received_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => ({ endpoint: r.endpoint, eventId: r.event_id, eventType: r.event_type, accountId: r.account_id, payload: typeof r.payload === 'string' ? (JSON.parse(r.payload) as unknown) : r.payload, status: r.status, attempts: r.attempts, receivedAt: new Date(r.received_at) }));
  }

  async retryNow(endpoint: string, eventId: string): Promise<void> {
    await this.db.query(`UPDATE webhook_inbox SET next_attempt_at = clock_timestamp() WHERE endpoint = $1 AND event_id = $2 AND status = 'parked'`, [endpoint, eventId]);
  }

  /** The applier's queue (rows never tried): its length, the oldest row's key and age; one statement on the pending index. */
  async queue(): Promise<{ backlog: number; oldest: string | null; oldestAgeSeconds: number }> {
    const { rows } = await this.db.query<{ unapplied: string | number; head: string | null; age: string | number | null }>(
      `SELECT (SELECT count(*) FROM webhook_inbox WHERE status = 'received' AND attempts = 0) AS unapplied,
              h.endpoint || ':' || h.event_id AS head, extract(epoch FROM clock_timestamp() - h.received_at)::float8 AS age
         FROM (SELECT 1) one
         LEFT JOIN LATERAL (SELECT endpoint, event_id, received_at FROM webhook_inbox WHERE status = 'received' AND attempts = 0 ORDER BY received_at LIMIT 1) h ON true`,
    );
    const r = rows[0];
    return { backlog: Number(r?.unapplied ?? 0), oldest: r?.head ?? null, oldestAgeSeconds: Math.max(0, Number(r?.age ?? 0)) };
  }

  /** Events to (re)process now: parked ones whose retry time came, received ones never finished. */
  async due(limit: number, wakeAll = false): Promise<InboxRow[]> {
    const { rows } = await this.db.query<{ endpoint: string; event_id: string; event_type: string; account_id: string | null; payload: unknown; status: InboxStatus; attempts: number; received_at: Date }>(
      `SELECT endpoint, event_id, event_type, account_id, payload, status, attempts, received_at FROM webhook_inbox
        WHERE status IN ('received', 'parked') AND ($2 OR next_attempt_at <= clock_timestamp())
        ORDER BY received_at LIMIT $1`,
      [limit, wakeAll],
    );
    return rows.map((r) => ({ endpoint: r.endpoint, eventId: r.event_id, eventType: r.event_type, accountId: r.account_id, payload: typeof r.payload === 'string' ? (JSON.parse(r.payload) as unknown) : r.payload, status: r.status, attempts: r.attempts, receivedAt: new Date(r.received_at) }));
  }

  async counts(): Promise<Record<InboxStatus, number>> {
    const { rows } = await this.db.query<{ status: InboxStatus; n: string }>('SELECT status, count(*) AS n FROM webhook_inbox GROUP BY status');
    const out: Record<InboxStatus, number> = { received: 0, processed: 0, parked: 0, ignored: 0 };
    for (const r of rows) out[r.status] = Number(r.n);
    return out;
  }
}

const UNSTORABLE_TEXT_ALL = new RegExp(UNSTORABLE_TEXT.source, 'g');
/**
 * JSON text that may decode to NUL or a lone surrogate: a \u0000 or \uD800-\uDFFF escape, or
 * such a character itself (JSON.parse refuses a raw NUL, but the text may have one). Pairs of
 * surrogate escapes (valid) also match; they then take the slow path, which keeps them.
 */
const MAY_ESCAPE_UNSTORABLE = /\\u(?:0000|[dD][89a-fA-F])|\u0000|[\ud800-\udfff]/;

export function storable(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(UNSTORABLE_TEXT_ALL, '\ufffd');
  if (Array.isArray(value)) return value.map(storable);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k) as string, storable(v)]));
  return value;
}
