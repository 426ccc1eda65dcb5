/**
 * Memory of PayPal webhook transmissions (table paypal_transmissions, shared by every instance).
 * PayPal signs `transmission id | transmission time | webhook id | crc32(body)`: the transmission
 * id is covered by the signature, the body only through its CRC32, which a forger can match with
 * another body. So a transmission id is remembered with the SHA-256 of its body:
 *   - first time: `new`;
 *   - the same id and the same body (a retry, a replayed capture): `replay`, recognised and
 *     handled like any redelivery (the inbox deduplicates on the event id; nothing is applied twice);
 *   - the same id with another body: `conflict`, refused.
 * A delivery that recorded nothing (ignored: refused, or a type Settle does not act on) is
 * forgotten again, so a forged body that arrives first cannot lock out the genuine one.
 * Rows older than the transmission-time window can no longer verify (their time is outside it)
 * and are pruned.
 */
import type { SqlClient } from '../../domain/ports/sql';

export type TransmissionSighting = 'new' | 'replay' | 'conflict';

export class PayPalTransmissions {
  constructor(private readonly db: SqlClient) {}

  async remember(transmissionId: string, bodySha256: string, eventId: string | null): Promise<TransmissionSighting> {
    const { rows } = await this.db.query<{ transmission_id: string }>(
      `INSERT INTO paypal_transmissions (transmission_id, body_sha256, event_id) VALUES ($1, $2, $3)
       ON CONFLICT (transmission_id) DO NOTHING RETURNING transmission_id`,
      [transmissionId, bodySha256, eventId],
    );
    if (rows.length > 0) return 'new';
    // a concurrent first sighting has committed by now (ON CONFLICT waited for it): a new statement sees it
    const { rows: seen } = await this.db.query<{ body_sha256: string }>('SELECT body_sha256 FROM paypal_transmissions WHERE transmission_id = $1', [transmissionId]);
    return seen[0]?.body_sha256 === bodySha256 ? 'replay' : 'conflict';
  }

  /**
   * Forgets one sighting (the same id and body): a delivery that recorded nothing (refused because
   * PayPal's record contradicts it, or of a type Settle ignores) does not keep its transmission id
   * from the genuine body, which may still come.
   */
  async forget(transmissionId: string, bodySha256: string): Promise<void> {
    await this.db.query('DELETE FROM paypal_transmissions WHERE transmission_id = $1 AND body_sha256 = $2', [transmissionId, bodySha256]);
  }

  /** Forgets the sightings of one event (its delivery recorded nothing: refused or ignored). */
  async forgetEvent(eventId: string): Promise<void> {
    await this.db.query('DELETE FROM paypal_transmissions WHERE event_id = $1', [eventId]);
  }

  /** Forgets transmissions received more than `olderThanSeconds` ago; returns how many. */
  async prune(olderThanSeconds: number): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(
      `WITH d AS (DELETE FROM paypal_transmissions WHERE received_at < clock_timestamp() - make_interval(secs => $1) RETURNING 1) SELECT count(*) AS n FROM d`,
      [olderThanSeconds],
    );
    return Number(rows[0]?.n ?? 0);
  }
}
