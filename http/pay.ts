/**
 * Payer-facing endpoints (no API key: the payer's browser lands here).
 *   GET  /pay/invoices/<tenant>/<invoice>?expires&sig       — the invoice and its live payment status,
 *     reached by a signed link (payerLinks.ts); tampered or expired: 403 problem.
 *   GET  /pay/invoices/<tenant>/<invoice>/live?expires&sig  — its live status (server-sent events).
 *   POST /pay/invoices/<tenant>/<invoice>?expires&sig       — start paying (method=stripe_connect|paypal):
 *     303 to the provider's payment page.
 *   GET /pay/paypal/return?token=<order id>  — after approval at PayPal: capture the order once
 *     and record it; the same return twice, concurrently, or racing the webhook pays once.
 *   GET /pay/stripe/return                   — back from Stripe Checkout when payer links are off (no
 *     invoice data); with payer links the success URL is the signed payer page itself.
 *   GET /pay/cancel                          — the payer gave up.
 */
import express, { Router, type Request, type Response } from 'express';
import type { AppServices } from './app';
import { ProviderError } from '../domain/ports/billingProvider';
import { DomainRefusal } from '../domain/shared/decider';
import { invoiceLive, payerPage } from './console/pages';
import { CONSOLE_CSP } from './console/routes';
import type { LiveStatusHub } from './live';
import { verifyPayerLink } from './payerLinks';
import { escapeHtml } from '../domain/shared/html';
import { Problem } from './problem';
import { toProblem } from './api';

const ORDER_ID = /^[A-Z0-9]{5,40}$/;

function page(title: string, text: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><main><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></main></body></html>`;
}

const SAFE_ID = /^[A-Za-z0-9_-]{1,100}$/;

export function payRoutes(rt: Pick<AppServices, 'clock' | 'readModels' | 'commands' | 'payerLinkSecret' | 'paymentMethods'>, hub: LiveStatusHub): Router {
  const r = Router();
  const models = rt.readModels;
  const payments = rt.commands.invoicePayments;

  /** The invoice a signed link names, or a 403 (tampered, expired) / 404 problem. */
  async function signedInvoice(req: Request) {
    const tenantId = String(req.params.tenantId);
    const invoiceId = String(req.params.invoiceId);
    const secret = rt.payerLinkSecret;
    if (!secret) throw new Problem(503, 'payer-links-unavailable', 'Service Unavailable', 'Payer links are not configured (PAYER_LINK_SECRET)');
    const check = SAFE_ID.test(tenantId) && SAFE_ID.test(invoiceId) ? verifyPayerLink(secret, { tenantId, invoiceId, expires: req.query.expires, sig: req.query.sig }, Math.floor(Date.now() / 1000)) : ({ ok: false, reason: 'malformed' } as const);
    if (!check.ok) {
      const detail = check.reason === 'expired' ? 'This payment link has expired; ask for a new one.' : 'This payment link is not valid.';
      throw new Problem(403, 'payer-link-refused', 'Forbidden', detail, [], { reason: check.reason });
    }
    const inv = await models.invoice(tenantId, invoiceId);
    if (!inv) throw new Problem(404, 'not-found', 'Not Found', 'No such invoice');
    return { tenantId, invoiceId, inv };
  }
  async function liveView(tenantId: string, invoiceId: string) {
    const inv = await models.invoice(tenantId, invoiceId);
    if (!inv) return null;
    const latest = (await models.payments(tenantId, { payableType: 'invoice', payableId: invoiceId, limit: 1 })).items[0] ?? null;
    // the payer sees status and amounts, never provider ids or internal codes
    return { state: { status: inv.status, amountPaid: inv.amountPaid, latestPayment: latest ? { status: latest.status, amount: latest.amount } : null }, html: invoiceLive(inv, latest, 'payer').value, inv, latest };
  }
  // after signedInvoice both are the strings the signature covered; a query value can be anything before
  const queryText = (v: unknown) => (typeof v === 'string' ? v : '');
  const signedQuery = (req: Request) => `expires=${encodeURIComponent(queryText(req.query.expires))}&sig=${encodeURIComponent(queryText(req.query.sig))}`;

  r.get('/pay/invoices/:tenantId/:invoiceId', async (req: Request, res: Response) => {
    const { tenantId, invoiceId } = await signedInvoice(req);
    const v = await liveView(tenantId, invoiceId);
    if (!v) throw new Problem(404, 'not-found', 'Not Found', 'No such invoice');
    const base = `/pay/invoices/${encodeURIComponent(tenantId)}/${encodeURIComponent(invoiceId)}`;
    const allowed: unknown = v.inv.allowedPaymentMethods; // from the invoice's JSON state
    const methods = (Array.isArray(allowed) ? (allowed as unknown[]) : []).filter((m): m is string => typeof m === 'string' && rt.paymentMethods.includes(m));
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('Cache-Control', 'no-store');
    // back from Stripe Checkout (the success URL carries session_id): say the payment is being confirmed
    const returned = typeof req.query.session_id === 'string' && v.inv.status === 'open' ? 'Thank you. Your payment is being confirmed; this page updates by itself.' : undefined;
    res.type('html').send(payerPage(v.inv, invoiceLive(v.inv, v.latest, 'payer'), `${base}/live?${signedQuery(req)}`, methods.length > 0 ? { methods, action: `${base}?${signedQuery(req)}` } : null, returned));
  });
  r.get('/pay/invoices/:tenantId/:invoiceId/live', async (req: Request, res: Response) => {
    const { tenantId, invoiceId } = await signedInvoice(req);
    const link = { tenantId, invoiceId, expires: req.query.expires, sig: req.query.sig };
    await hub.serve(
      req,
      res,
      { kind: 'invoice', key: `pay:invoice:${tenantId}:${invoiceId}`, read: () => liveView(tenantId, invoiceId) },
      (v) => ({ state: v.state, html: v.html }),
      // the link itself is the credential: the stream ends when it expires
      { principal: `link:${tenantId}/${invoiceId}`, stillAllowed: () => Promise.resolve(rt.payerLinkSecret !== null && verifyPayerLink(rt.payerLinkSecret, link, Math.floor(Date.now() / 1000)).ok) },
    );
  });
  r.post('/pay/invoices/:tenantId/:invoiceId', express.urlencoded({ extended: false, limit: '2kb' }), async (req: Request, res: Response) => {
    const { tenantId, invoiceId } = await signedInvoice(req);
    const submitted = (req.body as Record<string, unknown> | undefined)?.method; // a form field: text, or anything a client sends
    const method = typeof submitted === 'string' ? submitted : '';
    if (method !== 'stripe_connect' && method !== 'paypal') throw new Problem(422, 'validation-error', 'Validation Failed', 'method must be stripe_connect or paypal', [{ path: 'body.method', message: 'invalid' }]);
    try {
      const start = await payments.start(invoiceId, method, { tenantId, correlationId: String(res.locals.correlationId), causationId: String(res.locals.requestId), now: rt.clock.now() });
      res.redirect(303, start.url);
    } catch (err) {
      if (err instanceof DomainRefusal) throw new Problem(409, 'invoice-not-payable', 'Conflict', err.message);
      // only a transient failure is worth trying again; a refusal (invalid request, credentials) is said as such
      if (err instanceof ProviderError && (err.kind === 'retryable' || err.kind === 'unavailable')) throw new Problem(503, 'provider-unavailable', 'Provider Unavailable', 'The payment provider could not be reached; try again.');
      if (err instanceof ProviderError) throw toProblem(err) ?? err; // toProblem maps every ProviderError
      throw err;
    }
  });

  r.get('/pay/paypal/return', async (req, res) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    if (!ORDER_ID.test(token)) throw new Problem(400, 'validation-error', 'Validation Failed', 'token must be a PayPal order id', [{ path: 'query.token', message: 'invalid' }]);
    const payPalReturn = rt.commands.payPalReturn;
    if (!payPalReturn) throw new Problem(503, 'provider-unavailable', 'Provider Unavailable', 'PayPal is not configured');
    try {
      const done = await payPalReturn.complete(token, String(res.locals.requestId));
      const ok = done.outcome === 'completed';
      const title = ok ? 'Payment received' : done.outcome === 'pending' ? 'Payment pending' : 'Payment declined';
      const text = ok ? `Thank you: invoice ${done.invoiceId} is paid.` : done.outcome === 'pending' ? 'PayPal is still processing the payment; this page will not change it.' : 'PayPal declined the payment. You can try again from the invoice link.';
      if (req.accepts(['html', 'json']) === 'json') res.status(ok ? 200 : 402).json({ orderId: token, invoiceId: done.invoiceId, outcome: done.outcome });
      else res.status(ok ? 200 : 402).type('html').send(page(title, text));
    } catch (err) {
      if (err instanceof ProviderError && (err.kind === 'retryable' || err.kind === 'unavailable')) {
        throw new Problem(503, 'provider-unavailable', 'Provider Unavailable', 'PayPal could not be reached; reload this page to retry (it will not charge twice).');
      }
      if (err instanceof ProviderError) throw new Problem(422, 'provider-rejected', 'Rejected By Provider', err.message);
      throw err;
    }
  });
  // Stripe Checkout's success URL when payer links are off (no key to sign the payer page with):
  // thanks the payer and shows nothing of the invoice (a session id is no proof of holding a link)
  r.get('/pay/stripe/return', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.type('html').send(page('Thank you', 'Your payment was submitted and is being confirmed. You will get a receipt once it is complete; the payment link you used shows its status.'));
  });
  r.get('/pay/cancel', (_req, res) => {
    res.type('html').send(page('Payment cancelled', 'Nothing was charged. You can pay later from the invoice link.'));
  });
  return r;
}
