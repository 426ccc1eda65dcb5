/**
 * Finance ledger, report and CSV on the embedded database (PGlite): the migration runs there too,
 * effects of every payment fact, exactly-once by message id, rejected and ignored messages,
 * tenant scoping, totals per currency, RFC 4180 CSV with string-arithmetic decimals, and the
 * in-process bus path (outbox -> relay -> consumer) over a random history.
 */
import { randomUUID } from 'node:crypto';
import type { Envelope, PaymentFact, PaymentMessageType } from '../../commands/messages';
import { TOPICS } from '../../domain/ports/messageBus';
import { SqlEventStore } from '../../infrastructure/eventstore/sqlEventStore';
import { InProcessBus } from '../../infrastructure/messaging/inProcessBus';
import { OutboxRelay } from '../../infrastructure/messaging/outboxRelay';
import type { SqlClient } from '../../domain/ports/sql';
import { AlwaysLeader } from '../../infrastructure/sql/leaderLease';
import { embeddedDatabase, type TestDatabase } from '../../test/support/databases';
import { generateHistories } from '../../test/support/histories';
import { MESSAGE_TYPES } from '../../commands/messageContracts';
import { effectOf, FinanceConsumer, FinanceLedger, PAYMENT_MESSAGE_TYPES } from './ledger';
import { CSV_HEADER, financeReport, invalidRange, toCsv, type FinanceRow } from './report';

function fact(type: PaymentMessageType, over: Partial<PaymentFact> & { tenantId?: string; id?: string } = {}): Envelope<PaymentFact> {
  const { tenantId = 'ten-a', id = randomUUID(), ...data } = over;
  return {
    id,
    type,
    version: 1,
    occurredAt: `${data.day ?? '2026-03-01'}T10:00:00.000Z`,
    tenantId,
    aggregate: { type: 'invoice', id: 'inv-1' },
    correlationId: 'corr',
    causationId: randomUUID(),
    data: {
      payable: { type: 'invoice', id: 'inv-1' },
      customerId: null,
      contactEmail: null,
      provider: 'stripe',
      providerPaymentId: 'pi_1',
      amount: { amount: 1000, currency: 'EUR' },
      applicationFee: null,
      errorCode: null,
      declineCode: null,
      day: '2026-03-01',
      ...data,
    },
  };
}

async function ledgerRows(db: SqlClient) {
  const { rows } = await db.query(
    `SELECT tenant_id, to_char(day, 'YYYY-MM-DD') AS day, currency, provider, gross_collected::text AS gross, refunds::text AS refunds, disputed::text AS disputed,
            dispute_losses::text AS losses, platform_fees::text AS fees, net::text AS net, succeeded_count::int AS ok, failed_count::int AS failed
       FROM finance_ledger ORDER BY 1, 2, 3, 4`,
  );
  return rows;
}

describe('finance effects (pure)', () => {
  test('the ledger reads exactly the message types the producer contract puts on settle.payments.v1', () => {
    const produced = Object.entries(MESSAGE_TYPES).filter(([, m]) => m.topic === TOPICS.payments).map(([type]) => type);
    expect([...PAYMENT_MESSAGE_TYPES].sort()).toEqual(produced.sort());
  });

  test('each payment fact moves the right columns; other types are not payment facts', () => {
    expect(effectOf(fact('payment.succeeded', { applicationFee: { amount: 30, currency: 'EUR' } }))).toMatchObject({ grossCollected: 1000n, platformFees: 30n, succeededCount: 1, failureCode: null });
    expect(effectOf(fact('payment.failed', { declineCode: 'expired_card', errorCode: 'card_declined' }))).toMatchObject({ failedCount: 1, failureCode: 'expired_card', grossCollected: 0n });
    expect(effectOf(fact('payment.failed', { errorCode: 'card_declined' }))!.failureCode).toBe('card_declined');
    expect(effectOf(fact('payment.failed'))!.failureCode).toBe('unknown');
    expect(effectOf(fact('payment.refunded'))).toMatchObject({ refunds: 1000n });
    expect(effectOf(fact('dispute.opened'))).toMatchObject({ disputed: 1000n });
    expect(effectOf(fact('dispute.closed', { errorCode: 'won' }))).toMatchObject({ disputed: -1000n, disputeLosses: 0n });
    expect(effectOf(fact('dispute.closed', { errorCode: 'lost' }))).toMatchObject({ disputed: -1000n, disputeLosses: 1000n });
    expect(effectOf({ ...fact('payment.succeeded'), type: 'booking.paid' })).toBeNull();
  });

  test('unreadable payment facts are refused, never guessed', () => {
    const bad: unknown[] = [
      { ...fact('payment.succeeded'), version: 2 },
      fact('payment.succeeded', { amount: { amount: 10.5, currency: 'EUR' } }),
      fact('payment.succeeded', { amount: { amount: -1, currency: 'EUR' } }),
      fact('payment.succeeded', { amount: { amount: 1, currency: 'EURO' } }),
      fact('payment.succeeded', { day: '2026-02-30' }),
      fact('payment.succeeded', { applicationFee: { amount: 1, currency: 'USD' } }),
      fact('dispute.closed', { errorCode: null }),
      { id: randomUUID() },
    ];
    for (const b of bad) expect(() => effectOf(b)).toThrow();
  });
});

describe('finance ledger and report (PGlite)', () => {
  let t: TestDatabase;
  const ledger = new FinanceLedger();
  const apply = (e: unknown) => t.db.transaction((tx) => ledger.apply(tx, e));

  beforeAll(async () => {
    t = await embeddedDatabase();
  });
  afterAll(async () => {
    await t?.drop();
  });

  test('applies each fact once: a redelivered message id changes nothing', async () => {
    const msgs = [
      fact('payment.succeeded', { amount: { amount: 10_000, currency: 'EUR' }, applicationFee: { amount: 250, currency: 'EUR' } }),
      fact('payment.succeeded', { amount: { amount: 5_000, currency: 'EUR' } }),
      fact('payment.failed', { amount: { amount: 5_000, currency: 'EUR' }, declineCode: 'insufficient_funds' }),
      fact('payment.failed', { amount: { amount: 5_000, currency: 'EUR' }, declineCode: 'insufficient_funds' }),
      fact('payment.refunded', { amount: { amount: 1_500, currency: 'EUR' } }),
      fact('dispute.opened', { amount: { amount: 2_000, currency: 'EUR' } }),
      fact('dispute.opened', { amount: { amount: 700, currency: 'EUR' } }),
      fact('dispute.closed', { amount: { amount: 2_000, currency: 'EUR' }, errorCode: 'lost', day: '2026-03-02' }),
      fact('payment.succeeded', { amount: { amount: 3_000, currency: 'JPY' }, provider: 'paypal' }),
      fact('payment.succeeded', { tenantId: 'ten-b', amount: { amount: 1_234, currency: 'EUR' } }),
    ];
    for (const m of msgs) expect(await apply(m)).toBe('applied');
    const before = await ledgerRows(t.db);
    for (const m of msgs) expect(await apply(m)).toBe('duplicate');
    expect(await ledgerRows(t.db)).toEqual(before);
    expect(before).toEqual([
      { tenant_id: 'ten-a', day: '2026-03-01', currency: 'EUR', provider: 'stripe', gross: '15000', refunds: '1500', disputed: '2700', losses: '0', fees: '250', net: '13250', ok: 2, failed: 2 },
      { tenant_id: 'ten-a', day: '2026-03-01', currency: 'JPY', provider: 'paypal', gross: '3000', refunds: '0', disputed: '0', losses: '0', fees: '0', net: '3000', ok: 1, failed: 0 },
      { tenant_id: 'ten-a', day: '2026-03-02', currency: 'EUR', provider: 'stripe', gross: '0', refunds: '0', disputed: '-2000', losses: '2000', fees: '0', net: '-2000', ok: 0, failed: 0 },
      { tenant_id: 'ten-b', day: '2026-03-01', currency: 'EUR', provider: 'stripe', gross: '1234', refunds: '0', disputed: '0', losses: '0', fees: '0', net: '1234', ok: 1, failed: 0 },
    ]);
    const { rows: failures } = await t.db.query<{ decline_code: string; count: unknown }>('SELECT decline_code, count FROM finance_failures');
    expect(failures.map((f) => [f.decline_code, Number(f.count)])).toEqual([['insufficient_funds', 2]]);
  });

  test('a malformed fact is recorded as rejected (once) instead of blocking; other types are ignored', async () => {
    const bad = { ...fact('payment.refunded', { amount: { amount: 1.5, currency: 'EUR' } }) };
    expect(await apply(bad)).toBe('rejected');
    expect(await apply(bad)).toBe('duplicate');
    const other = { ...fact('payment.succeeded'), type: 'booking.paid' };
    expect(await apply(other)).toBe('ignored');
    expect(await apply(other)).toBe('duplicate');
    const { rows } = await t.db.query<{ message_id: string; error: string }>('SELECT message_id::text AS message_id, error FROM finance_rejected');
    expect(rows).toEqual([{ message_id: bad.id, error: expect.stringContaining('data.amount.amount') }]);
    await expect(t.db.transaction((tx) => ledger.apply(tx, { type: 'payment.succeeded' }))).rejects.toThrow(/UUID id/);
  });

  test('report: rows per day, currency and provider; totals per currency; tenant scoping', async () => {
    const a = await financeReport(t.db, { tenantId: 'ten-a', from: '2026-03-01', to: '2026-03-31' });
    expect(a.rows.map((r) => [r.day, r.currency, r.provider, r.net])).toEqual([
      ['2026-03-01', 'EUR', 'stripe', 13_250],
      ['2026-03-01', 'JPY', 'paypal', 3_000],
      ['2026-03-02', 'EUR', 'stripe', -2_000],
    ]);
    expect(a.totals).toEqual([
      { currency: 'EUR', grossCollected: 15_000, refunds: 1_500, disputed: 700, disputeLosses: 2_000, platformFees: 250, net: 11_250, succeededCount: 2, failedCount: 2, openDisputesAtEnd: 700 },
      { currency: 'JPY', grossCollected: 3_000, refunds: 0, disputed: 0, disputeLosses: 0, platformFees: 0, net: 3_000, succeededCount: 1, failedCount: 0, openDisputesAtEnd: 0 },
    ]);
    expect(a.failures).toEqual([{ tenantId: 'ten-a', provider: 'stripe', declineCode: 'insufficient_funds', count: 2 }]);

    // A range after the dispute opened: no movement, but the dispute is still open at its end.
    const later = await financeReport(t.db, { tenantId: 'ten-a', from: '2026-03-02', to: '2026-03-02' });
    expect(later.totals.find((x) => x.currency === 'EUR')).toMatchObject({ disputed: -2_000, disputeLosses: 2_000, openDisputesAtEnd: 700 });

    const all = await financeReport(t.db, { tenantId: null, from: '2026-03-01', to: '2026-03-01' });
    expect(new Set(all.rows.map((r) => r.tenantId))).toEqual(new Set(['ten-a', 'ten-b']));
    expect(all.totals.find((x) => x.currency === 'EUR')!.grossCollected).toBe(16_234);
    const b = await financeReport(t.db, { tenantId: 'ten-b', from: '2026-03-01', to: '2026-03-31' });
    expect(b.rows).toHaveLength(1);
    expect((await financeReport(t.db, { tenantId: 'nobody', from: '2026-03-01', to: '2026-03-31' })).rows).toEqual([]);

    expect(invalidRange('2026-03-02', '2026-03-01')).toMatchObject({ field: 'to' });
    expect(invalidRange('2026-02-30', '2026-03-01')).toMatchObject({ field: 'from' });
    expect(invalidRange('2025-01-01', '2026-12-31')).toMatchObject({ field: 'to' });
    expect(invalidRange('2024-01-01', '2024-12-31')).toBeNull();
    await expect(financeReport(t.db, { tenantId: null, from: '2026-3-1', to: '2026-03-01' })).rejects.toThrow(RangeError);
  });
});

describe('CSV', () => {
  test('RFC 4180: header, CRLF, quoting of commas, quotes and line breaks; minor units and decimals', () => {
    const row: FinanceRow = {
      tenantId: 'ten-a',
      day: '2026-03-01',
      currency: 'EUR',
      provider: 'pay,"pal"\nx',
      grossCollected: 10_050,
      refunds: 50,
      disputed: -200,
      disputeLosses: 0,
      platformFees: 5,
      net: 9_995,
      succeededCount: 3,
      failedCount: 1,
    };
    const csv = toCsv([row, { ...row, currency: 'JPY', provider: 'stripe', grossCollected: 500, net: 445 }]);
    const lines = csv.split('\r\n');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('');
    expect(lines[0]).toBe(CSV_HEADER.join(','));
    expect(lines[0]).toBe(
      'tenant_id,day,currency,provider,gross_collected_minor,gross_collected_decimal,refunds_minor,refunds_decimal,disputed_minor,disputed_decimal,dispute_losses_minor,dispute_losses_decimal,platform_fees_minor,platform_fees_decimal,net_minor,net_decimal,succeeded_count,failed_count',
    );
    expect(lines[1]).toBe('ten-a,2026-03-01,EUR,"pay,""pal""\nx",10050,100.50,50,0.50,-200,-2.00,0,0.00,5,0.05,9995,99.95,3,1');
    expect(lines[2]).toBe('ten-a,2026-03-01,JPY,stripe,500,500,50,50,-200,-200,0,0,5,5,445,445,3,1');
    expect(toCsv([])).toBe(`${CSV_HEADER.join(',')}\r\n`);
  });
});

describe('in-process bus (embedded default): outbox -> relay -> finance consumer', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await embeddedDatabase();
  });
  afterAll(async () => {
    await t?.drop();
  });

  test('the ledger equals the payment messages of the outbox, also when every message is delivered twice', async () => {
    const store = new SqlEventStore(t.db);
    const bus = new InProcessBus();
    const consumer = new FinanceConsumer(t.db, bus);
    await consumer.start();
    const relay = new OutboxRelay(t.db, bus, new AlwaysLeader('relay'));
    await generateHistories(store, 11, { tenantId: 'ten-h', invoices: 8, bookings: 6, customers: 4 });
    await relay.drain();

    const { rows } = await t.db.query<{ message_id: string; value: Envelope<PaymentFact> }>(`SELECT message_id::text AS message_id, value FROM outbox WHERE topic = $1 ORDER BY id`, [TOPICS.payments]);
    expect(rows.length).toBeGreaterThan(20);
    const expected = new Map<string, bigint>();
    const add = (k: string, v: bigint) => expected.set(k, (expected.get(k) ?? 0n) + v);
    for (const { value: e } of rows) {
      const k = `${e.data.amount.currency}|${e.data.provider}`;
      const amount = BigInt(e.data.amount.amount);
      if (e.type === 'payment.succeeded') add(`${k}|net`, amount - BigInt(e.data.applicationFee?.amount ?? 0));
      if (e.type === 'payment.refunded') add(`${k}|net`, -amount);
      if (e.type === 'dispute.closed' && e.data.errorCode === 'lost') add(`${k}|net`, -amount);
      if (e.type === 'dispute.opened') add(`${k}|disputed`, amount);
      if (e.type === 'dispute.closed') add(`${k}|disputed`, -amount);
      if (e.type === 'payment.failed') add(`${k}|failed`, 1n);
    }
    const actual = async () => {
      const got = new Map<string, bigint>();
      const r = await t.db.query<{ currency: string; provider: string; net: unknown; disputed: unknown; failed: unknown }>(
        `SELECT currency, provider, sum(net)::bigint AS net, sum(disputed)::bigint AS disputed, sum(failed_count)::bigint AS failed FROM finance_ledger GROUP BY 1, 2`,
      );
      for (const x of r.rows) {
        for (const [col, v] of [['net', x.net], ['disputed', x.disputed], ['failed', x.failed]] as const) if (BigInt(String(v)) !== 0n) got.set(`${x.currency}|${x.provider}|${col}`, BigInt(String(v)));
      }
      return got;
    };
    for (const [k, v] of [...expected]) if (v === 0n) expected.delete(k);
    expect(await actual()).toEqual(expected);
    expect(consumer.status()).toMatchObject({ applied: rows.length, duplicates: 0, rejected: 0 });

    // at-least-once: everything again
    await t.db.query('UPDATE outbox SET published_at = NULL');
    await relay.drain();
    expect(await actual()).toEqual(expected);
    expect(consumer.status()).toMatchObject({ applied: rows.length, duplicates: rows.length });
    await consumer.stop();
  });
});

describe("a payment message whose tenant does not match its key (security issue #17, item 7)", () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await embeddedDatabase();
  });
  afterAll(async () => {
    await t?.drop();
  });

  const delivered = (value: Envelope<PaymentFact>, key: string, offset: number) => ({ id: value.id, topic: TOPICS.payments, key, value, headers: {}, partition: 0, offset: String(offset) });

  test('is dead-lettered (finance_rejected), counted and never reaches the ledger; a consistent one applies', async () => {
    const consumer = new FinanceConsumer(t.db, new InProcessBus());
    const honest = fact('payment.succeeded', { tenantId: 'ten-a', amount: { amount: 1000, currency: 'EUR' } });
    // a forged fact that credits ten-b but travels under ten-a's invoice stream key
    const forgedTenant = fact('payment.succeeded', { tenantId: 'ten-b', amount: { amount: 99_999, currency: 'EUR' } });
    // the right tenant and key, but the payable is another aggregate
    const forgedPayable = fact('payment.refunded', { tenantId: 'ten-a', payable: { type: 'invoice', id: 'inv-other' } });
    const unkeyed = fact('payment.succeeded', { tenantId: 'ten-a' });
    await consumer.handleBatch([
      delivered(honest, 'invoice-ten-a.inv-1', 0),
      delivered(forgedTenant, 'invoice-ten-a.inv-1', 1),
      delivered(forgedPayable, 'invoice-ten-a.inv-1', 2),
      delivered(unkeyed, '', 3),
    ]);
    expect(consumer.status()).toMatchObject({ applied: 1, rejected: 3 });
    const { rows: ledger } = await t.db.query<{ tenant_id: string; gross: string }>(`SELECT tenant_id, gross_collected::text AS gross FROM finance_ledger ORDER BY 1`);
    expect(ledger).toEqual([{ tenant_id: 'ten-a', gross: '1000' }]);
    const { rows: rejected } = await t.db.query<{ message_id: string; error: string }>(`SELECT message_id::text AS message_id, error FROM finance_rejected ORDER BY error`);
    expect(rejected.map((r) => r.message_id).sort()).toEqual([forgedTenant.id, forgedPayable.id, unkeyed.id].sort());
    expect(rejected.find((r) => r.message_id === forgedTenant.id)!.error).toMatch(/invoice-ten-b\.inv-1.*do not match its key \(invoice-ten-a\.inv-1\)/);
    expect(rejected.find((r) => r.message_id === forgedPayable.id)!.error).toMatch(/payable .*inv-other/);
  });
});
