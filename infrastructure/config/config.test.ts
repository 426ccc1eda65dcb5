import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from './config';

describe('configuration from the environment', () => {
  test('defaults run on the embedded database and the in-process bus', () => {
    const c = loadConfig({});
    expect(c.PORT).toBe(3000);
    expect(c.storage).toBe('embedded');
    expect(c.messaging).toBe('in-process');
    expect(c.dataDir.endsWith('/data')).toBe(true);
    expect(c.LOG_LEVEL).toBe('info');
  });

  test('HOST: unset listens on 127.0.0.1 on the embedded default and on 0.0.0.0 with a server database; set, it wins', () => {
    expect(loadConfig({}).HOST).toBe('127.0.0.1');
    expect(loadConfig({ DATABASE_URL: 'postgres://u@h:5432/db' }).HOST).toBe('0.0.0.0');
    expect(loadConfig({ HOST: '0.0.0.0' }).HOST).toBe('0.0.0.0');
    expect(loadConfig({ HOST: '::1', DATABASE_URL: 'postgres://u@h:5432/db' }).HOST).toBe('::1');
  });

  test('STRIPE_API_VERSION pins the Stripe API version (unset: the SDK pin)', () => {
    expect(loadConfig({}).STRIPE_API_VERSION).toBeUndefined();
    expect(loadConfig({ STRIPE_API_VERSION: '2026-08-26.dahlia' }).STRIPE_API_VERSION).toBe('2026-08-26.dahlia');
  });

  test('DATABASE_URL and KAFKA_BROKERS switch to the real services', () => {
    const c = loadConfig({ DATABASE_URL: 'postgres://u@h:5432/db', KAFKA_BROKERS: 'a:9092,b:9093', PORT: '8080' });
    expect(c.storage).toBe('postgres');
    expect(c.messaging).toBe('kafka');
    expect(c.PORT).toBe(8080);
  });

  test.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ KAFKA_BROKERS: 'localhost' }, 'KAFKA_BROKERS'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ EVENTSTORE_URL: 'http://x' }, 'EVENTSTORE_URL'],
    [{ DATABASE_SCHEMA: 'Robert"); DROP' }, 'DATABASE_SCHEMA'],
    [{ STRIPE_API_VERSION: 'latest' }, 'STRIPE_API_VERSION'],
  ])('a bad %j stops startup with a message naming %s', (env, name) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(`^invalid configuration:\\n  ${name}: `));
  });
});

describe('Kafka TLS and SASL settings (security issue #17, item 7)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'settle-kafka-pem-'));
  const pem = (name: string, kind: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, `-----BEGIN ${kind}-----\nMIIB\n-----END ${kind}-----\n`);
    return f;
  };
  const ca = pem('ca.pem', 'CERTIFICATE');
  const cert = pem('client.pem', 'CERTIFICATE');
  const key = pem('client.key', 'PRIVATE KEY');
  const notPem = path.join(dir, 'not.pem');
  fs.writeFileSync(notPem, 'hello');
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('off by default: no TLS, no SASL', () => {
    expect(loadConfig({ KAFKA_BROKERS: 'a:9092' }).kafkaSecurity).toEqual({ ssl: false, sasl: null });
  });

  test('TLS with a CA and a client certificate, SASL SCRAM: the PEM contents reach the client settings', () => {
    const c = loadConfig({ KAFKA_BROKERS: 'a:9093', KAFKA_SSL: 'on', KAFKA_SSL_CA: ca, KAFKA_SSL_CERT: cert, KAFKA_SSL_KEY: key, KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'settle', KAFKA_SASL_PASSWORD: 'pw' });
    expect(c.kafkaSecurity).toEqual({
      ssl: { rejectUnauthorized: true, ca: [fs.readFileSync(ca, 'utf8')], cert: fs.readFileSync(cert, 'utf8'), key: fs.readFileSync(key, 'utf8') },
      sasl: { mechanism: 'scram-sha-256', username: 'settle', password: 'pw' },
    });
    expect(loadConfig({ KAFKA_SSL: 'on', KAFKA_SSL_REJECT_UNAUTHORIZED: 'false' }).kafkaSecurity.ssl).toEqual({ rejectUnauthorized: false });
  });

  test.each([
    [{ KAFKA_SSL: 'yes' }, 'KAFKA_SSL'],
    [{ KAFKA_SSL: 'on', KAFKA_SSL_CA: '/nonexistent/ca.pem' }, 'KAFKA_SSL_CA'],
    [{ KAFKA_SSL: 'on', KAFKA_SSL_CA: notPem }, 'KAFKA_SSL_CA'],
    [{ KAFKA_SSL_CA: ca }, 'KAFKA_SSL_CA'], // set, but TLS off: refused rather than silently plaintext
    [{ KAFKA_SSL: 'on', KAFKA_SSL_CERT: cert }, 'KAFKA_SSL_KEY'],
    [{ KAFKA_SSL: 'on', KAFKA_SSL_KEY: key }, 'KAFKA_SSL_CERT'],
    [{ KAFKA_SASL_MECHANISM: 'gssapi' }, 'KAFKA_SASL_MECHANISM'],
    [{ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'pw' }, 'KAFKA_SASL_USERNAME'],
    [{ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'u' }, 'KAFKA_SASL_PASSWORD'],
    [{ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'pw' }, 'KAFKA_SASL_USERNAME'],
  ])('a bad %j stops startup naming %s', (env, name) => {
    expect(() => loadConfig(env)).toThrow(new RegExp(`^invalid configuration:\\n(  .*\\n)*  ${name}: `));
  });

  test('the password is never part of a validation message', () => {
    expect(() => loadConfig({ KAFKA_SASL_PASSWORD: 'hunter2-secret' })).toThrow(ConfigError);
    try {
      loadConfig({ KAFKA_SASL_PASSWORD: 'hunter2-secret' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2-secret');
    }
  });
});
