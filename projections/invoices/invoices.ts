/**
 * Read models of invoices: `invoices` (one row per invoice: header, lines, totals, status,
 * provider references and hosted links, so billing pages never call the provider) and
 * `invoice_history` (every transition of every invoice, immutable, with its cause and actor).
 */
import type { DomainEventType } from '../../domain/events';
import { invoiceDecider, type InvoiceState } from '../../domain/invoice/invoice';
import { AGGREGATE_ROW_COLUMNS, applyAggregateRows, parseStream, type AggregateRowsSpec } from '../aggregateRows';
import type { ProjectionDefinition } from '../../domain/ports/projection';

export const INVOICE_EVENT_TYPES = new Set<DomainEventType>([
  'InvoiceIssued',
  'ProviderInvoiceRecorded',
  'ProviderInvoiceLinksUpdated',
  'PaymentAttemptFailed',
  'PaymentAttemptPending',
  'PaymentSucceeded',
  'InvoicePaid',
  'PaymentAmountMismatch',
  'OverpaymentRecorded',
  'InvoiceVoided',
  'RefundRecorded',
  'InvoiceRefunded',
  'OverpaymentRefunded',
  'DisputeOpened',
  'DisputeWon',
  'DisputeLost',
]);

const invoiceRows: AggregateRowsSpec<InvoiceState> = {
  category: 'invoice-',
  initialState: invoiceDecider.initialState,
  evolve: (s, e) => invoiceDecider.evolve(s, e as never),
  columns: (s, ctx) => ({
    invoice_id: ctx.id,
    customer_id: s.customerId,
    status: s.status,
    number: s.number,
    currency: s.currency,
    total: s.total?.amount ?? 0,
    amount_paid: s.amountPaid,
    amount_refunded: s.amountRefunded,
    amount_disputed: s.amountDisputed,
    amount_lost: s.amountLost,
    collected: s.collected,
    provider: s.provider,
    provider_invoice_id: s.providerInvoiceId,
    subscription_id: s.subscriptionId,
    hosted_invoice_url: s.hostedInvoiceUrl,
    invoice_pdf: s.invoicePdf,
    due_date: s.dueDate,
    paid_at: s.paidAt,
    needs_attention: s.overpayments.some((o) => o.needsRefund) || s.amountMismatches.some((m) => m.needsRefund),
    line_items: s.lineItems,
  }),
};

export const invoicesProjection: ProjectionDefinition<'invoices'> = {
  name: 'invoices',
  tables: ['invoices'],
  eventTypes: INVOICE_EVENT_TYPES,
  ddl: (t) => `
    CREATE TABLE ${t.invoices} (${AGGREGATE_ROW_COLUMNS},
      invoice_id          text    NOT NULL,
      customer_id         text,
      status              text    NOT NULL,
      number              text,
      currency            text,
      total               bigint  NOT NULL,
      amount_paid         bigint  NOT NULL,
      amount_refunded     bigint  NOT NULL,
      amount_disputed     bigint  NOT NULL,
      amount_lost         bigint  NOT NULL,
      collected           bigint  NOT NULL,
      provider            text,
      provider_invoice_id text,
      subscription_id     text,
      hosted_invoice_url  text,
      invoice_pdf         text,
      due_date            text,
      paid_at             timestamptz,
      needs_attention     boolean NOT NULL, -- an overpayment or mismatch not yet refunded in full
      line_items          jsonb   NOT NULL
    );
    CREATE UNIQUE INDEX ${t.invoices}_id ON ${t.invoices} (tenant_id, invoice_id);`,
  queryIndexes: (t) => `
    CREATE INDEX ${t.invoices}_list ON ${t.invoices} (tenant_id, created_at DESC, invoice_id DESC);
    CREATE INDEX ${t.invoices}_customer ON ${t.invoices} (tenant_id, customer_id);`,
  apply: (tx, events, t) => applyAggregateRows(tx, t.invoices, invoiceRows, events),
};

export const invoiceHistoryProjection: ProjectionDefinition<'invoice_history'> = {
  name: 'invoice_history',
  tables: ['invoice_history'],
  eventTypes: INVOICE_EVENT_TYPES,
  ddl: (t) => `
    CREATE TABLE ${t.invoice_history} (
      stream_id      text        NOT NULL,
      revision       bigint      NOT NULL,
      tenant_id      text        NOT NULL,
      invoice_id     text        NOT NULL,
      event_id       uuid        NOT NULL,
      event_type     text        NOT NULL,
      actor          jsonb,
      causation_id   text        NOT NULL,
      correlation_id text        NOT NULL,
      recorded_at    timestamptz NOT NULL,
      position       text        NOT NULL,
      data           jsonb       NOT NULL,
      PRIMARY KEY (stream_id, revision)
    );
    CREATE INDEX ${t.invoice_history}_invoice ON ${t.invoice_history} (tenant_id, invoice_id, revision);`,
  async apply(tx, events, t) {
    // one statement per batch: the rows travel as one jsonb array typed by the table's own row
    // type, so the batch's transaction holds its transaction id for one round trip, not one per
    // event (a long writer holds back what every reader of the log may see)
    const rows = events.flatMap((e) => {
      const p = parseStream('invoice-', e.streamId);
      if (!p) return [];
      return [
        {
          stream_id: e.streamId,
          revision: e.revision.toString(),
          tenant_id: p.tenantId,
          invoice_id: p.id,
          event_id: e.id,
          event_type: e.type,
          actor: (e.data as { actor?: unknown }).actor ?? e.metadata.actor ?? null,
          causation_id: e.metadata.causationId,
          correlation_id: e.metadata.correlationId,
          recorded_at: e.recordedAt,
          position: `${e.position.commit}/${e.position.prepare}`,
          data: e.data,
        },
      ];
    });
    if (rows.length === 0) return;
    const table = t.invoice_history;
    await tx.query(
      `INSERT INTO ${table} (stream_id, revision, tenant_id, invoice_id, event_id, event_type, actor, causation_id, correlation_id, recorded_at, position, data)
       SELECT stream_id, revision, tenant_id, invoice_id, event_id, event_type, coalesce(actor, 'null'::jsonb), causation_id, correlation_id, recorded_at, position,
              coalesce(data, 'null'::jsonb)
         FROM jsonb_populate_recordset(NULL::${table}, $1::jsonb)`,
      [JSON.stringify(rows)],
    );
  },
};
