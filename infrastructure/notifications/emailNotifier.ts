import type { CrmStageFailedNotice, Notifier } from '../../domain/ports/crm';
import type { SqlClient } from '../../domain/ports/sql';
import { crmStageFailedEmail } from './crmStageFailedEmail';
import type { Mailer } from './mailer';

/**
 * The Notifier port by email to the operations address(es). Each notice has a key: it is
 * recorded in `notifications_sent` before the send and removed again if the send fails, so a
 * redelivered trigger does not mail twice and a failed send is retried with the trigger.
 */
export class EmailNotifier implements Notifier {
  constructor(
    private readonly db: SqlClient,
    private readonly mailer: Mailer,
    private readonly to: readonly string[],
  ) {}

  async crmStageFailed(notice: CrmStageFailedNotice): Promise<void> {
    const email = crmStageFailedEmail({ ...notice, booking: { ...notice.booking } });
    const { rows } = await this.db.query(
      `INSERT INTO notifications_sent (notification_key, recipient, subject) VALUES ($1, $2, $3) ON CONFLICT (notification_key) DO NOTHING RETURNING 1`,
      [notice.key, this.to.join(', '), email.subject],
    );
    if (rows.length === 0) return; // sent before
    try {
      await this.mailer.send({ to: this.to.join(', '), subject: email.subject, text: email.text, html: email.html, key: notice.key });
    } catch (err) {
      await this.db.query('DELETE FROM notifications_sent WHERE notification_key = $1', [notice.key]).catch(() => undefined);
      throw err;
    }
  }
}
