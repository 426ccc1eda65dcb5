import { z } from 'zod';
import { load } from '../../commands/handle';
import { streams } from '../../commands/streams';
import { invoiceDecider } from '../../domain/invoice/invoice';
import type { EventStore } from '../../domain/ports/eventStore';
import { payerLinkOut } from './responses';
import { route, type RouteSpec } from '../api';
import { payerLinkUrl } from '../payerLinks';
import { Problem } from '../problem';
import { id } from './schemas';

/**
 * `POST /v1/invoices/{id}/payer-link`: a signed link to the payer page of an open invoice
 * (http/payerLinks.ts). Nothing is stored: the link is its own proof until it expires.
 */
export function payerLinkRoutes(deps: { store: EventStore; secret: () => string | null; publicBaseUrl: string; defaultTtlSeconds: number }): RouteSpec[] {
  return [
    route({
      method: 'post',
      path: '/invoices/:invoiceId/payer-link',
      operationId: 'createPayerLink',
      summary: 'A signed link (HMAC over the invoice and an expiry) to the payer page of an open invoice, with its live payment status',
      tag: 'invoices',
      access: 'tenant',
      success: 201,
      response: payerLinkOut,
      problems: { 404: ['invoice-not-found'], 409: ['invoice-not-open'], 503: ['payer-links-unavailable'] },
      body: z.object({ ttlSeconds: z.number().int().min(60).max(90 * 86_400).optional() }).strict(),
      async handler({ body, params, tenantId }) {
        const invoiceId = params.invoiceId;
        if (!invoiceId || !id.safeParse(invoiceId).success) throw new Problem(404, 'invoice-not-found', 'Not Found', `No invoice ${invoiceId}`);
        const inv = (await load(deps.store, streams.invoice(tenantId, invoiceId), invoiceDecider)).state;
        if (inv.status === 'none') throw new Problem(404, 'invoice-not-found', 'Not Found', `No invoice ${invoiceId}`);
        if (inv.status !== 'open') throw new Problem(409, 'invoice-not-open', 'Conflict', `The invoice is ${inv.status}; only open invoices can be paid`);
        const secret = deps.secret();
        if (!secret) throw new Problem(503, 'payer-links-unavailable', 'Service Unavailable', 'Payer links need PAYER_LINK_SECRET');
        return { body: payerLinkUrl(deps.publicBaseUrl, secret, tenantId, invoiceId, body.ttlSeconds ?? deps.defaultTtlSeconds) };
      },
    }),
  ];
}
