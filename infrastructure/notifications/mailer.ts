/**
 * Internal email over SMTP (nodemailer). `EmailNotifier` (emailNotifier.ts) puts the saga's
 * `Notifier` port (domain/ports/crm.ts) on it: stages that failed for good reach operations.
 *
 *
 * Configuration (infrastructure/config/config.ts): SMTP_URL (smtp://host:port,
 * smtp://user:pass@host:587 with STARTTLS when the server offers it, smtps://host:465 for
 * implicit TLS), MAIL_FROM (sender address), OPS_EMAIL (where operational notices go; a
 * comma-separated list is fine).
 *
 * A notification `key` (e.g. `crm-stage-failed|<bookingId>|<stage>|<failure event id>`) becomes
 * a deterministic Message-ID, so a notice sent twice after a crash is recognisably the same
 * message (mail clients and most servers collapse duplicates by Message-ID).
 */
import { createHash } from 'node:crypto';
import { createTransport } from 'nodemailer';

export { crmStageFailedEmail, type CrmStageFailedEmailInput, type Email } from './crmStageFailedEmail';

export interface MailerConfig {
  /** SMTP_URL, e.g. smtp://127.0.0.1:2525 */
  readonly smtpUrl: string;
  /** MAIL_FROM, e.g. "Settle <settle@example.com>" */
  readonly from: string;
  /** Connection, greeting and socket timeouts. Default 30000. */
  readonly timeoutMs?: number;
}

export interface MailMessage {
  readonly to: string | readonly string[];
  readonly subject: string;
  readonly text: string;
  readonly html?: string;
  /** Idempotency key of the notification: makes the Message-ID deterministic. */
  readonly key?: string;
}

/** Sending failed. `retryable`: a connection problem or a temporary (4xx) SMTP answer. */
export class MailError extends Error {
  override readonly name = 'MailError';
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly code: string | null,
    readonly responseCode: number | null,
  ) {
    super(message);
  }
}

function toMailError(err: unknown): MailError {
  const e = err as { message?: string; code?: string; responseCode?: number };
  const responseCode = typeof e.responseCode === 'number' ? e.responseCode : null;
  const code = typeof e.code === 'string' ? e.code : null;
  const permanent = (responseCode !== null && responseCode >= 500) || (responseCode === null && (code === 'EENVELOPE' || code === 'EMESSAGE' || code === 'EAUTH' || code === 'ENOAUTH'));
  return new MailError(`email not sent: ${e.message ?? String(err)}`, !permanent, code, responseCode);
}

function domainOf(address: string): string {
  const m = /@([^>\s]+)>?\s*$/.exec(address);
  return m?.[1] ?? 'settle.invalid';
}

export class Mailer {
  private readonly transport: ReturnType<typeof createTransport>;
  private readonly from: string;

  constructor(config: MailerConfig) {
    let url: URL;
    try {
      url = new URL(config.smtpUrl);
    } catch {
      throw new RangeError('SMTP URL is not a URL');
    }
    if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') throw new RangeError(`SMTP URL must be smtp:// or smtps://, got ${url.protocol}`);
    if (!config.from) throw new RangeError('a from address is required');
    const timeout = config.timeoutMs ?? 30_000;
    this.from = config.from;
    this.transport = createTransport({ url: config.smtpUrl, connectionTimeout: timeout, greetingTimeout: timeout, socketTimeout: timeout });
  }

  async send(message: MailMessage): Promise<{ messageId: string }> {
    const to = typeof message.to === 'string' ? message.to : message.to.join(', ');
    if (!to.trim()) throw new MailError('email not sent: no recipient', false, 'EENVELOPE', null);
    try {
      const info: unknown = await this.transport.sendMail({
        from: this.from,
        to,
        subject: message.subject,
        text: message.text,
        ...(message.html !== undefined ? { html: message.html } : {}),
        ...(message.key !== undefined
          ? {
              messageId: `<${createHash('sha256').update(message.key).digest('hex').slice(0, 40)}@${domainOf(this.from)}>`,
              headers: { 'X-Settle-Notification-Key': message.key.replace(/[\r\n]+/g, ' ') },
            }
          : {}),
      });
      const messageId = typeof info === 'object' && info !== null && 'messageId' in info ? info.messageId : undefined;
      return { messageId: typeof messageId === 'string' ? messageId : '' };
    } catch (err) {
      throw toMailError(err);
    }
  }

  /** Connects and says hello: for a readiness check or a startup smoke test. */
  async verify(): Promise<void> {
    try {
      await this.transport.verify();
    } catch (err) {
      throw toMailError(err);
    }
  }

  close(): void {
    this.transport.close();
  }
}
