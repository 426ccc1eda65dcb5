/**
 * Payer-facing return endpoints (no API key: the payer's browser lands here).
 *   GET /pay/paypal/return?token=<order id>  — after approval at PayPal: capture the order once
 *     and record it; the same return twice, concurrently, or racing the webhook pays once.
 *   GET /pay/cancel                          — the payer gave up.
 */
import { Router } from 'express';
import type { Runtime } from '../infrastructure/runtime';
import { ProviderError } from '../domain/ports/billingProvider';
import { Problem } from './problem';

const ORDER_ID = /^[A-Z0-9]{5,40}$/;

function page(title: string, text: string): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><main><h1>${esc(title)}</h1><p>${esc(text)}</p></main></body></html>`;
}

export function payRoutes(rt: Runtime): Router {
  const r = Router();
  r.get('/pay/paypal/return', async (req, res) => {
    const token = typeof req.query.token === 'string' ? req.query.token : '';
    if (!ORDER_ID.test(token)) throw new Problem(400, 'validation-error', 'Validation Failed', 'token must be a PayPal order id', [{ path: 'query.token', message: 'invalid' }]);
    if (!rt.paypal) throw new Problem(503, 'provider-unavailable', 'Provider Unavailable', 'PayPal is not configured');
    try {
      const done = await rt.completePayPalReturn(token, String(res.locals.requestId));
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
  r.get('/pay/cancel', (_req, res) => {
    res.type('html').send(page('Payment cancelled', 'Nothing was charged. You can pay later from the invoice link.'));
  });
  return r;
}
