import pino, { type Logger } from 'pino';
import { currentContext } from './context';

/**
 * pino JSON logs. Secrets, card data and personal data are removed by configured redaction paths
 * (never by string edits at call sites). Request and correlation ids are bound per request by
 * http/middleware.ts, so every line written while handling a request carries both.
 */
export const REDACT_PATHS = [
  // credentials
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["stripe-signature"]',
  'req.headers["paypal-transmission-sig"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.secret',
  '*.apiKey',
  '*.api_key',
  '*.token',
  '*.client_secret',
  '*.webhookSecret',
  'config.DATABASE_URL',
  'config.KAFKA_SASL_PASSWORD',
  'config.kafkaSecurity.sasl.password',
  'config.kafkaSecurity.ssl.key',
  '*.sasl.password',
  // card data
  '*.card.number',
  '*.card.cvc',
  '*.card.exp_month',
  '*.card.exp_year',
  '*.number',
  '*.cvc',
  // personal data
  '*.email',
  '*.phone',
  '*.receipt_email',
  '*.billing_details',
  '*.contact.email',
  '*.contact.phone',
  '*.customer_email',
  '*.payer.email_address',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'settle' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      // every line written while a request or message is handled names it
      mixin() {
        const ctx = currentContext();
        return ctx ? { requestId: ctx.requestId, correlationId: ctx.correlationId } : {};
      },
    },
    destination,
  );
}

export type { Logger };
