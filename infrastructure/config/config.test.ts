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
