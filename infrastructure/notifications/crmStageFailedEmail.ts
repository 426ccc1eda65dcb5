/**
 * The internal email sent to operations when a CRM stage of a booking has failed for good
 * (after the saga's retries): which booking, which stage, every attempt's error, and the link to
 * retry the stage. Pure: no I/O, no clock. Every interpolated value is HTML-escaped in the HTML
 * part, and header-unsafe characters are removed from the subject.
 */
import type { CrmStage } from '../../domain/booking/booking';
import { escapeHtml } from '../../domain/shared/html';
import { formatMoney, type Money } from '../../domain/shared/money';

export interface CrmStageFailedEmailInput {
  readonly bookingId: string;
  readonly tenantId: string;
  readonly stage: CrmStage;
  /** Every failed attempt, oldest first. */
  readonly attempts: ReadonlyArray<{ readonly attempt: number; readonly error: string; readonly at: string | Date }>;
  /**
   * Where an operator retries the stage (http or https). The API's retry endpoint
   * (`…/v1/bookings/{id}/crm-retry`) is POST-only: a browser following it from an email gets a
   * 404, so the email links the booking's console page (which has the retry button) instead and
   * names the API call in words.
   */
  readonly retryUrl: string;
  readonly booking: {
    readonly clientName: string;
    /** The departure as people know it (name, date, or the CRM departure id). */
    readonly departure: string;
    readonly amount: Money;
    /** Known once the contact booking exists (associate_payment stage). */
    readonly crmBookingId?: string | null;
  };
}

export interface Email {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

const STAGE_LABELS: Readonly<Record<CrmStage, { title: string; consequence: string }>> = {
  create_contact_booking: {
    title: 'Create the contact booking in the CRM',
    consequence: 'The booking is paid and recorded in Settle, but the CRM has no contact booking for it yet.',
  },
  associate_payment: {
    title: 'Associate the payment with the CRM booking',
    consequence: 'The contact booking exists in the CRM, but the payment is not associated with it yet.',
  },
};

/** One line, no control characters: safe for a header. */
function headerSafe(value: string): string {
   
  return value.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').trim();
}

function iso(at: string | Date): string {
  return at instanceof Date ? at.toISOString() : at;
}

/** `…/v1/bookings/{id}/crm-retry` (POST) -> the booking's console page on the same base URL. */
export function retryLinks(retryUrl: URL): { page: string; apiPost: string | null } {
  const m = /^(.*)\/v1\/bookings\/([^/]+)\/crm-retry\/?$/.exec(retryUrl.pathname);
  if (!m) return { page: retryUrl.toString(), apiPost: null };
  return { page: `${retryUrl.origin}${m[1]}/admin/bookings/${m[2]}`, apiPost: retryUrl.toString() };
}

export function crmStageFailedEmail(input: CrmStageFailedEmailInput): Email {
  let url: URL;
  try {
    url = new URL(input.retryUrl);
  } catch {
    throw new RangeError(`retryUrl "${input.retryUrl}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`retryUrl must be http(s), got ${url.protocol}`);
  const { page: retryUrl, apiPost } = retryLinks(url);
  const stage = STAGE_LABELS[input.stage];
  const amount = formatMoney(input.booking.amount);
  const n = input.attempts.length;
  const attemptsWord = `${n} attempt${n === 1 ? '' : 's'}`;

  const subject = headerSafe(`[Settle] CRM stage failed: ${stage.title} (booking ${input.bookingId})`);

  const facts: Array<[string, string]> = [
    ['Booking', input.bookingId],
    ['Tenant', input.tenantId],
    ['Stage', `${input.stage} (${stage.title})`],
    ['Client', input.booking.clientName],
    ['Departure', input.booking.departure],
    ['Amount', amount],
    ...(input.booking.crmBookingId ? ([['CRM booking', input.booking.crmBookingId]] as Array<[string, string]>) : []),
  ];
  const width = Math.max(...facts.map(([k]) => k.length)) + 2;

  const text = [
    `The CRM stage "${input.stage}" failed for booking ${input.bookingId} after ${attemptsWord}.`,
    stage.consequence,
    '',
    ...facts.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`),
    '',
    'Attempts:',
    ...(n === 0
      ? ['  (none recorded)']
      : input.attempts.map((a) => {
          const [first = '', ...more] = a.error.split(/\r?\n/);
          return [`  #${a.attempt}  ${iso(a.at)}  ${first}`, ...more.map((l) => `      ${l}`)].join('\n');
        })),
    '',
    `Retry the stage once the cause is fixed: ${retryUrl}`,
    ...(apiPost ? [`(or through the API: POST ${apiPost} with a tenant API key)`] : []),
    '',
  ].join('\n');

  const row = ([k, v]: [string, string]) => `<tr><th align="left" style="padding:2px 12px 2px 0">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`;
  const attemptRows =
    n === 0
      ? '<tr><td colspan="3">(none recorded)</td></tr>'
      : input.attempts
          .map((a) => `<tr><td valign="top">#${escapeHtml(String(a.attempt))}</td><td valign="top" style="white-space:nowrap">${escapeHtml(iso(a.at))}</td><td><pre style="margin:0;white-space:pre-wrap">${escapeHtml(a.error)}</pre></td></tr>`)
          .join('\n');
  const html = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head><body style="font-family:sans-serif">`,
    `<p>The CRM stage <strong>${escapeHtml(input.stage)}</strong> failed for booking <strong>${escapeHtml(input.bookingId)}</strong> after ${escapeHtml(attemptsWord)}.</p>`,
    `<p>${escapeHtml(stage.consequence)}</p>`,
    `<table>${facts.map(row).join('')}</table>`,
    '<h3>Attempts</h3>',
    `<table cellpadding="4"><tr><th align="left">Attempt</th><th align="left">At</th><th align="left">Error</th></tr>\n${attemptRows}\n</table>`,
    `<p><a href="${escapeHtml(retryUrl)}">Retry the stage</a> once the cause is fixed.</p>`,
    ...(apiPost ? [`<p>Or through the API: <code>POST ${escapeHtml(apiPost)}</code> with a tenant API key.</p>`] : []),
    '</body></html>',
    '',
  ].join('\n');

  return { subject, text, html };
}
