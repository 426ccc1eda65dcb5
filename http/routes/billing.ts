import { z } from 'zod';
import type { InvoiceCommands } from '../../commands/invoices';
import type { InvoicePaymentCommands } from '../../commands/invoicePayments';
import { newId } from '../../commands/ids';
import type { SubscriptionCommands } from '../../commands/subscriptions';
import type { InvoiceState } from '../../domain/invoice/invoice';
import type { PlanState } from '../../domain/subscription/plans';
import type { SubscriptionState } from '../../domain/subscription/subscription';
import { checkoutStatus } from '../../domain/subscription/subscription';
import { subscriptionProviderView } from '../../projections/queries';
import { checkoutOut, invoiceCommandOut, paymentSessionOut, planChangeOut, planOut, refundInvoiceOut, subscriptionCommandOut } from './responses';
import { PROVIDER_PROBLEMS, route, type RouteSpec } from '../api';
import { Problem } from '../problem';
import type { ContextFor } from './bookings';
import { currency, id, isoDate, minorUnits, positiveMoney } from './schemas';

const interval = z.enum(['month', 'year']);

function planView(p: PlanState) {
  return { planId: p.planId, name: p.name, status: p.status, amount: p.amount, interval: p.interval, providerProductId: p.providerProductId, providerPriceId: p.providerPriceId, archivedProviderPriceIds: p.archivedProviderPriceIds };
}

function subscriptionView(customerId: string, s: SubscriptionState) {
  const checkout = checkoutStatus(s, new Date());
  return {
    customerId,
    status: s.status,
    accessActive: s.accessActive,
    planId: s.planId,
    interval: s.interval,
    currentPeriodStart: s.currentPeriodStart,
    currentPeriodEnd: s.currentPeriodEnd,
    nextPaymentAttempt: s.nextPaymentAttempt,
    providerSubscriptionId: s.providerSubscriptionId,
    pendingPlanChange: s.pendingPlanChange,
    ...subscriptionProviderView(s),
    pendingCheckout: checkout.kind === 'session' ? { sessionId: checkout.sessionId, url: checkout.url, expiresAt: checkout.expiresAt } : null,
  };
}

function invoiceView(s: InvoiceState) {
  return {
    invoiceId: s.invoiceId,
    status: s.status,
    number: s.number,
    customerId: s.customerId,
    customer: s.customer,
    lineItems: s.lineItems,
    total: s.total,
    currency: s.currency,
    dueDate: s.dueDate,
    allowedPaymentMethods: s.allowedPaymentMethods,
    provider: s.provider,
    providerInvoiceId: s.providerInvoiceId,
    hostedInvoiceUrl: s.hostedInvoiceUrl,
    invoicePdf: s.invoicePdf,
    paidAt: s.paidAt,
    amountPaid: s.amountPaid,
    amountRefunded: s.amountRefunded,
    amountDisputed: s.amountDisputed,
    collected: s.collected,
    attempts: s.attempts,
    refunds: s.refunds,
    overpayments: s.overpayments,
  };
}

export function billingRoutes(subs: SubscriptionCommands, invoices: InvoiceCommands, payments: InvoicePaymentCommands, ctxFor: ContextFor): RouteSpec[] {
  const idOr404 = (value: string | undefined, what: string) => {
    if (!value || !id.safeParse(value).success) throw new Problem(404, `${what}-not-found`, 'Not Found', `No ${what} ${value ?? ''}`);
    return value;
  };
  return [
    // ---- plans
    route({
      method: 'post',
      path: '/plans',
      operationId: 'createPlan',
      summary: 'Define a plan: creates the provider product and price',
      tag: 'plans',
      access: 'tenant',
      success: 201,
      response: planOut,
      problems: PROVIDER_PROBLEMS({}),
      body: z.object({ planId: id, name: z.string().min(1).max(200), amount: positiveMoney, interval }).strict(),
      async handler({ body, req, res, tenantId }) {
        const r = await subs.definePlan(body, ctxFor(tenantId, req, res));
        return { body: planView(r.state), revision: r.revision, position: r.position };
      },
    }),
    route({
      method: 'get',
      path: '/plans/:planId',
      operationId: 'getPlan',
      summary: 'A plan and its current and archived provider prices',
      tag: 'plans',
      access: 'tenant',
      success: 200,
      response: planOut,
      problems: { 404: ['plan-not-found'] },
      async handler({ params, tenantId }) {
        const p = await subs.getPlan(tenantId, idOr404(params.planId, 'plan'));
        if (!p) throw new Problem(404, 'plan-not-found', 'Not Found', `No plan ${params.planId}`);
        return { body: planView(p) };
      },
    }),
    route({
      method: 'post',
      path: '/plans/:planId/price',
      operationId: 'changePlanPrice',
      summary: 'Change the price of a plan: provider prices are immutable, so the old one is archived and a new one created',
      tag: 'plans',
      access: 'tenant',
      success: 200,
      response: planOut,
      problems: PROVIDER_PROBLEMS({ 404: ['plan-not-found'] }),
      body: z.object({ amount: positiveMoney, interval: interval.optional() }).strict(),
      async handler({ body, params, req, res, tenantId }) {
        const planId = idOr404(params.planId, 'plan');
        if (!(await subs.getPlan(tenantId, planId))) throw new Problem(404, 'plan-not-found', 'Not Found', `No plan ${planId}`);
        const r = await subs.changePlanPrice(planId, body, ctxFor(tenantId, req, res));
        return { body: planView(r.state), revision: r.revision, position: r.position };
      },
    }),
    route({
      method: 'post',
      path: '/plans/:planId/retire',
      operationId: 'retirePlan',
      summary: 'Retire a plan (its price is archived; no new checkouts)',
      tag: 'plans',
      access: 'tenant',
      success: 200,
      response: planOut,
      problems: PROVIDER_PROBLEMS({ 404: ['plan-not-found'] }),
      body: z.object({}).strict(),
      async handler({ params, req, res, tenantId }) {
        const planId = idOr404(params.planId, 'plan');
        if (!(await subs.getPlan(tenantId, planId))) throw new Problem(404, 'plan-not-found', 'Not Found', `No plan ${planId}`);
        const r = await subs.retirePlan(planId, ctxFor(tenantId, req, res));
        return { body: planView(r.state), revision: r.revision, position: r.position };
      },
    }),
    // ---- subscriptions
    route({
      method: 'post',
      path: '/customers/:customerId/checkout',
      operationId: 'startCheckout',
      summary: 'Start (or resume) the checkout of a plan: a live subscription is refused; an open session of the same plan is returned again, never a second one; one of another plan is expired at the provider and replaced',
      tag: 'subscriptions',
      access: 'tenant',
      success: 201,
      response: checkoutOut,
      alsoSuccess: [200],
      problems: PROVIDER_PROBLEMS({ 404: ['customer-not-found'] }),
      body: z.object({ planId: id }).strict(),
      async handler({ body, params, req, res, tenantId }) {
        const customerId = idOr404(params.customerId, 'customer');
        const r = await subs.startCheckout(customerId, body.planId, ctxFor(tenantId, req, res));
        return {
          status: r.reused ? 200 : 201,
          body: { customerId, sessionId: r.sessionId, url: r.url, expiresAt: r.expiresAt, reused: r.reused },
          revision: r.handled.revision,
          position: r.handled.position,
        };
      },
    }),
    route({
      method: 'post',
      path: '/customers/:customerId/subscription/plan-change',
      operationId: 'changeSubscriptionPlan',
      summary: 'Change plan with proration; an interval change resets the billing cycle anchor; the plan changes locally only once the payment is captured',
      tag: 'subscriptions',
      access: 'tenant',
      success: 200,
      response: planChangeOut,
      alsoSuccess: [202],
      problems: PROVIDER_PROBLEMS({ 404: ['customer-not-found', 'subscription-not-found'] }),
      body: z.object({ planId: id }).strict(),
      async handler({ body, params, req, res, tenantId }) {
        const customerId = idOr404(params.customerId, 'customer');
        if (!(await subs.getSubscription(tenantId, customerId))) throw new Problem(404, 'subscription-not-found', 'Not Found', `No subscription for customer ${customerId}`);
        const r = await subs.requestPlanChange(customerId, body.planId, ctxFor(tenantId, req, res));
        return { status: r.outcome === 'pending' ? 202 : 200, body: { outcome: r.outcome, ...subscriptionView(customerId, r.state) }, revision: r.revision, position: r.position };
      },
    }),
    route({
      method: 'post',
      path: '/customers/:customerId/subscription/cancel',
      operationId: 'cancelSubscription',
      summary: 'Cancel at the end of the period (access until then) or now',
      tag: 'subscriptions',
      access: 'tenant',
      success: 200,
      response: subscriptionCommandOut,
      problems: PROVIDER_PROBLEMS({ 404: ['customer-not-found', 'subscription-not-found'] }),
      body: z.object({ at: z.enum(['period_end', 'now']).default('period_end') }).strict(),
      async handler({ body, params, req, res, tenantId }) {
        const customerId = idOr404(params.customerId, 'customer');
        if (!(await subs.getSubscription(tenantId, customerId))) throw new Problem(404, 'subscription-not-found', 'Not Found', `No subscription for customer ${customerId}`);
        const r = await subs.cancel(customerId, body.at, ctxFor(tenantId, req, res));
        return { body: subscriptionView(customerId, r.state), revision: r.revision, position: r.position };
      },
    }),
    // ---- invoices
    route({
      method: 'post',
      path: '/invoices',
      operationId: 'issueInvoice',
      summary: 'Issue an invoice to a client (line items in minor units; paid through the allowed methods)',
      tag: 'invoices',
      access: 'tenant',
      success: 201,
      response: invoiceCommandOut,
      problems: { 409: ['refusal', 'concurrency-conflict'], 422: ['refusal'] },
      body: z
        .object({
          customerId: id,
          customer: z.object({ name: z.string().min(1).max(200), email: z.email() }).strict(),
          number: z.string().min(1).max(64).nullable().default(null),
          currency,
          lineItems: z
            .array(z.object({ description: z.string().min(1).max(500), quantity: z.number().int().min(1).max(1_000_000), unitAmount: minorUnits }).strict())
            .min(1)
            .max(200),
          dueDate: isoDate,
          allowedPaymentMethods: z.array(z.enum(['stripe_connect', 'paypal'])).min(1),
        })
        .strict(),
      async handler({ body, req, res, tenantId }) {
        const ctx = ctxFor(tenantId, req, res);
        const invoiceId = ctx.idSeed ? `inv_${ctx.idSeed.slice(0, 24)}` : `inv_${newId().replace(/-/g, '')}`;
        const r = await invoices.issue({ invoiceId, ...body }, ctx);
        res.setHeader('Location', `/v1/invoices/${invoiceId}`);
        return { body: invoiceView(r.state), revision: r.revision, position: r.position };
      },
    }),
    route({
      method: 'post',
      path: '/invoices/:invoiceId/payment-sessions',
      operationId: 'startInvoicePayment',
      summary: "Start paying an invoice: a Stripe Checkout Session on the tenant's connected account (with the platform fee), or a PayPal order",
      tag: 'invoices',
      access: 'tenant',
      success: 201,
      response: paymentSessionOut,
      problems: PROVIDER_PROBLEMS({ 404: ['invoice-not-found'] }),
      body: z.object({ method: z.enum(['stripe_connect', 'paypal']) }).strict(),
      async handler({ body, params, req, res, tenantId }) {
        const invoiceId = idOr404(params.invoiceId, 'invoice');
        if (!(await invoices.get(tenantId, invoiceId))) throw new Problem(404, 'invoice-not-found', 'Not Found', `No invoice ${invoiceId}`);
        const started = await payments.start(invoiceId, body.method, ctxFor(tenantId, req, res));
        return { body: { invoiceId, method: body.method, provider: started.provider, reference: started.reference, url: started.url } };
      },
    }),
    route({
      method: 'post',
      path: '/invoices/:invoiceId/void',
      operationId: 'voidInvoice',
      summary: 'Void an unpaid invoice',
      tag: 'invoices',
      access: 'tenant',
      success: 200,
      response: invoiceCommandOut,
      problems: { 404: ['invoice-not-found'], 409: ['refusal', 'concurrency-conflict'], 422: ['refusal'] },
      body: z.object({ reason: z.string().min(1).max(500) }).strict(),
      async handler({ body, params, req, res, tenantId }) {
        const invoiceId = idOr404(params.invoiceId, 'invoice');
        if (!(await invoices.get(tenantId, invoiceId))) throw new Problem(404, 'invoice-not-found', 'Not Found', `No invoice ${invoiceId}`);
        const r = await invoices.void(invoiceId, body.reason, ctxFor(tenantId, req, res));
        return { body: invoiceView(r.state), revision: r.revision, position: r.position };
      },
    }),
    route({
      method: 'post',
      path: '/invoices/:invoiceId/refunds',
      operationId: 'refundInvoice',
      summary: 'Refund a paid invoice, partly or fully; never more than was collected',
      tag: 'invoices',
      access: 'tenant',
      success: 201,
      response: refundInvoiceOut,
      problems: PROVIDER_PROBLEMS({ 404: ['invoice-not-found'] }),
      body: z.object({ amount: positiveMoney, reason: z.string().max(500).nullable().default(null) }).strict(),
      async handler({ body, params, req, res, tenantId }) {
        const invoiceId = idOr404(params.invoiceId, 'invoice');
        if (!(await invoices.get(tenantId, invoiceId))) throw new Problem(404, 'invoice-not-found', 'Not Found', `No invoice ${invoiceId}`);
        const ctx = ctxFor(tenantId, req, res);
        const refundId = ctx.idSeed ? `rf_${ctx.idSeed.slice(0, 24)}` : `rf_${newId().replace(/-/g, '')}`;
        const r = await invoices.refund(invoiceId, { refundId, amount: body.amount, reason: body.reason }, ctx);
        return { body: { refundId, ...invoiceView(r.state) }, revision: r.revision, position: r.position };
      },
    }),
  ];
}
