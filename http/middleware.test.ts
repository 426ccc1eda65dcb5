/** The request log (requestLogger): one line per request, what it holds, and no work when nothing is written. */
import http from 'node:http';
import { Writable } from 'node:stream';
import express from 'express';
import { createLogger, type Logger } from '../infrastructure/observability/logger';
import { runWithContext } from '../infrastructure/observability/context';
import { requestContext, requestLogger } from './middleware';

function capture(level: string): { lines: Array<Record<string, unknown>>; logger: Logger } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _e, cb) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      cb();
    },
  });
  return { lines, logger: createLogger(level, stream) };
}

async function serve(logger: Logger, fn: (url: string) => Promise<void>): Promise<void> {
  const app = express();
  app.use(requestContext(runWithContext));
  app.use(requestLogger(logger));
  app.get('/healthz', (_req, res) => void res.send('ok'));
  app.get('/pay/:id', (_req, res) => void res.send('page'));
  app.post('/webhooks/stripe', (req, res) => {
    req.log?.info({ step: 'inside' }, 'handler line');
    res.status(200).json({ received: true });
  });
  app.get('/missing', (_req, res) => void res.status(404).json({ title: 'Not Found' }));
  app.get('/boom', (_req, res) => void res.status(500).json({ title: 'Internal' }));
  const server = http.createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    await fn(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

// the line is written when the response ends, which can follow the client's read by a tick
const settle = () => new Promise((r) => setTimeout(r, 20));

describe('requestLogger', () => {
  test('one line per request: method, URL and allowlisted headers, status, response time; level by status; /healthz not logged', async () => {
    const { lines, logger } = capture('info');
    await serve(logger, async (url) => {
      await fetch(`${url}/webhooks/stripe`, { method: 'POST', headers: { 'stripe-signature': 't=1,v1=secret-signature', authorization: 'Bearer sk_secret', 'x-request-id': 'req-1' }, body: '{}' });
      await fetch(`${url}/pay/inv_1?sig=abc&expires=1`);
      await fetch(`${url}/missing`);
      await fetch(`${url}/boom`);
      await fetch(`${url}/healthz`);
      await settle();
    });
    const text = JSON.stringify(lines);
    expect(text).not.toContain('secret-signature');
    expect(text).not.toContain('sk_secret');
    const handler = lines.find((l) => l.msg === 'handler line');
    expect(handler).toMatchObject({ step: 'inside', requestId: 'req-1', req: { method: 'POST', url: '/webhooks/stripe' } });
    const done = lines.filter((l) => l.msg !== 'handler line');
    expect(done.map((l) => [l.level, l.msg, (l.req as { url: string }).url, (l.res as { statusCode: number }).statusCode])).toEqual([
      ['info', 'request completed', '/webhooks/stripe', 200],
      ['info', 'request completed', '/pay/inv_1?[redacted]', 200],
      ['warn', 'request completed', '/missing', 404],
      ['error', 'request errored', '/boom', 500],
    ]);
    expect(done[0]).toMatchObject({ requestId: 'req-1', req: { headers: { 'x-request-id': 'req-1' } }, res: { headers: { 'x-request-id': 'req-1' } } });
    expect(typeof done[0]!.responseTime).toBe('number');
    expect((done[0]!.req as { headers: Record<string, unknown> }).headers).not.toHaveProperty('stripe-signature');
    expect(done[3]).toMatchObject({ err: { message: 'failed with status code 500' } });
  });

  test('a request whose line is below the level costs no child logger and no serialization (only written lines do)', async () => {
    const { lines, logger } = capture('warn');
    const child = jest.spyOn(logger, 'child');
    await serve(logger, async (url) => {
      for (let i = 0; i < 20; i++) await fetch(`${url}/pay/inv_${i}`);
      await fetch(`${url}/missing`);
      await settle();
    });
    // one child, for the one line written (the 404); none for the twenty 200s
    expect(child).toHaveBeenCalledTimes(1);
    expect(lines.map((l) => [l.level, (l.req as { url: string }).url])).toEqual([['warn', '/missing']]);
  });
});
