/**
 * `npm run demo`: runs the demo against the service `npm start` runs and prints what to look at.
 * `--json` prints the summary as one JSON object instead (the integration test reads it).
 * Environment: SETTLE_URL (default http://localhost:3000), DATA_DIR (default ./data, as the
 * service), DEMO_WAIT_SECONDS (default 60), and any of the service's variables the dev defaults
 * file provides (ADMIN_API_KEY, STRIPE_WEBHOOK_SECRET, PAYPAL_WEBHOOK_ID, PAYPAL_API_BASE,
 * CRM_BASE_URL, CRM_API_KEY) to override it, exactly as for the service.
 */
import { DemoError, demoSettings, runDemo, type DemoSummary } from './demo';

function report(s: DemoSummary): string {
  return [
    '',
    'Settle demo done. Open the console:',
    '',
    `  ${s.consoleUrl}`,
    '',
    `  Sign in with the demo tenant's API key:  ${s.tenantApiKey}`,
    `  (or with the admin key in ${s.devDefaultsFile ?? 'ADMIN_API_KEY'}, which sees every tenant)`,
    '',
    `Tenant ${s.tenantId}, departure ${s.departureId}. Look at:`,
    `  - a succeeded payment:   booking ${s.succeeded.bookingId}, Stripe ${s.succeeded.providerPaymentId}, in the CRM as ${s.succeeded.crmBookingId}`,
    `  - a declined payment:    booking ${s.declined.bookingId}, Stripe ${s.declined.providerPaymentId}: ${s.declined.errorCode} / ${s.declined.declineCode}`,
    `  - a CRM retry:           booking ${s.crmRetried.bookingId}: ${s.crmRetried.failedAttempts} failed CRM attempt (${s.crmRetried.lastError.split(' {')[0]}), then synced as ${s.crmRetried.crmBookingId}`,
    `  - a PayPal payment:      invoice ${s.paypal.invoiceId}, PayPal order ${s.paypal.orderId}, capture ${s.paypal.captureId}`,
    '',
    'The same through the API:',
    `  curl -s ${s.consoleUrl.replace(/\/admin$/, '')}/v1/payments -H 'authorization: Bearer ${s.tenantApiKey}'`,
    `  curl -s ${s.consoleUrl.replace(/\/admin$/, '')}/v1/bookings/${s.crmRetried.bookingId} -H 'authorization: Bearer ${s.tenantApiKey}'`,
    '',
    'The CRM and PayPal simulators stopped with the demo: bookings paid from now on wait for a CRM',
    '(the service retries, then flags them) until the next `npm run demo`.',
    '',
  ].join('\n');
}

async function main(): Promise<number> {
  const json = process.argv.includes('--json');
  const say = json ? () => undefined : (line: string) => process.stdout.write(`demo: ${line}\n`);
  try {
    const settings = demoSettings(process.env);
    say(`driving ${settings.baseUrl}${settings.devDefaultsFile ? ` with the dev defaults in ${settings.devDefaultsFile}` : ''}`);
    const summary = await runDemo(settings, say);
    process.stdout.write(json ? `${JSON.stringify(summary)}\n` : report(summary));
    return 0;
  } catch (err) {
    if (err instanceof DemoError) {
      process.stderr.write(`demo: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`demo: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

// exit once stdout is flushed (pipes are asynchronous on some platforms); the simulators are closed already
main().then(
  (code) => process.stdout.write('', () => process.exit(code)),
  (err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
