import { Writable } from 'node:stream';
import { runWithContext } from './context';
import { createLogger } from './logger';

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _e, cb) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: createLogger('info', stream) };
}

describe('logger', () => {
  test('redacts secrets, card data and personal data by path', () => {
    const { lines, logger } = capture();
    logger.info(
      {
        config: { DATABASE_URL: 'postgres://u:pw@h/db' },
        payment: { card: { number: '4242424242424242', cvc: '123', exp_month: 12, exp_year: 2030, last4: '4242' }, amount: 1000 },
        contact: { email: 'ann@example.com', phone: '+3312345678', firstName: 'Ann' },
        webhook: { secret: 'whsec_abc', apiKey: 'sk_test_x' },
      },
      'x',
    );
    const text = JSON.stringify(lines[0]);
    for (const s of ['pw@h', '4242424242424242', '"123"', 'ann@example.com', '+3312345678', 'whsec_abc', 'sk_test_x']) expect(text).not.toContain(s);
    expect(text).toContain('"last4":"4242"');
    expect(text).toContain('"amount":1000');
  });

  test('lines written inside a request context carry its ids', () => {
    const { lines, logger } = capture();
    runWithContext({ requestId: 'r1', correlationId: 'c1' }, () => logger.info('inside'));
    logger.info('outside');
    expect(lines[0]).toMatchObject({ requestId: 'r1', correlationId: 'c1', msg: 'inside' });
    expect(lines[1]).not.toHaveProperty('requestId');
  });
});
