import { formatMoney } from './format';
import { PAYER_GENERIC_DECLINE, failureSentence, payerFailureSentence, retryMakesSense } from './declines';
import { dashboardUrl, stripeConnectedAccountUrl } from './providerLinks';

describe('money formatting', () => {
  test('formatted with the exponent of the ISO 4217 table, without float rounding', () => {
    expect(formatMoney({ amount: 2500, currency: 'EUR' })).toBe('€25.00');
    expect(formatMoney({ amount: 2500, currency: 'JPY' })).toBe('¥2,500');
    expect(formatMoney({ amount: 1500, currency: 'KWD' })).toBe('KWD\u00a01.500');
    expect(formatMoney({ amount: 123456789, currency: 'USD' })).toBe('$1,234,567.89');
    expect(formatMoney({ amount: Number.MAX_SAFE_INTEGER, currency: 'USD' })).toBe('$90,071,992,547,409.91');
    expect(formatMoney(null)).toBe('—');
  });

  test("currencies where Intl's default digits differ from ISO 4217 show ISO's decimals", () => {
    // Intl (CLDR) gives all of these 0 digits; ISO 4217 gives IQD 3 and the others 2
    expect(formatMoney({ amount: 1234, currency: 'IQD' })).toBe('IQD\u00a01.234');
    expect(formatMoney({ amount: 1234, currency: 'HUF' })).toBe('HUF\u00a012.34');
    expect(formatMoney({ amount: 1234, currency: 'IDR' })).toBe('IDR\u00a012.34');
    expect(formatMoney({ amount: 1234, currency: 'LBP' })).toBe('LBP\u00a012.34');
    expect(formatMoney({ amount: 1234, currency: 'LAK' })).toBe('LAK\u00a012.34');
    expect(formatMoney({ amount: 1234, currency: 'MGA' })).toBe('MGA\u00a012.34');
    expect(formatMoney({ amount: 1234, currency: 'CLF' })).toBe('CLF\u00a00.1234');
  });
});

describe('failures in plain words', () => {
  test('decline codes map to sentences, not codes', () => {
    expect(failureSentence('card_declined', 'insufficient_funds', 'Your card has insufficient funds.')).toBe('The card has insufficient funds.');
    expect(failureSentence('card_declined', 'lost_card', null)).toBe('The card was reported lost.');
    expect(failureSentence('expired_card', null, null)).toBe('The card has expired.');
    expect(failureSentence(null, 'INSTRUMENT_DECLINED', null)).toBe('The payment method was declined by the bank or PayPal.');
  });

  test('an unknown code falls back to the provider message, then to the code in words', () => {
    expect(failureSentence('weird_error', 'brand_new_code', 'The bank said no.')).toBe('The bank said no.');
    expect(failureSentence(null, 'brand_new_code', null)).toBe('The payment failed (brand new code).');
    expect(failureSentence(null, null, null)).toBeNull();
  });

  test('no retry after fraud or a lost card; a retry after insufficient funds', () => {
    expect(retryMakesSense('insufficient_funds')).toBe(true);
    expect(retryMakesSense('fraudulent')).toBe(false);
    expect(retryMakesSense('stolen_card')).toBe(false);
  });
});

describe('provider dashboard links', () => {
  const base = { stripeLivemode: false, paypalSandbox: true, connectedAccount: null };
  test('Stripe test and live payments, Stripe Billing invoices', () => {
    expect(dashboardUrl({ provider: 'stripe', providerPaymentId: 'pi_123' }, base)).toBe('https://dashboard.stripe.com/test/payments/pi_123');
    expect(dashboardUrl({ provider: 'stripe', providerPaymentId: 'pi_123' }, { ...base, stripeLivemode: true })).toBe('https://dashboard.stripe.com/payments/pi_123');
    expect(dashboardUrl({ provider: 'stripe', providerPaymentId: 'in_9' }, base)).toBe('https://dashboard.stripe.com/test/invoices/in_9');
  });
  test("a Connect payment opens in the connected account's view", () => {
    expect(dashboardUrl({ provider: 'stripe', providerPaymentId: 'pi_1' }, { ...base, connectedAccount: 'acct_42' })).toBe('https://dashboard.stripe.com/acct_42/test/payments/pi_1');
    expect(stripeConnectedAccountUrl('acct_42', true)).toBe('https://dashboard.stripe.com/connect/accounts/acct_42');
  });
  test('PayPal sandbox and live activity; nothing without an id', () => {
    expect(dashboardUrl({ provider: 'paypal', providerPaymentId: 'ORDER1', providerChargeId: 'CAP1' }, base)).toBe('https://www.sandbox.paypal.com/activity/payment/CAP1');
    expect(dashboardUrl({ provider: 'paypal', providerPaymentId: 'ORDER1' }, { ...base, paypalSandbox: false })).toBe('https://www.paypal.com/activity/payment/ORDER1');
    expect(dashboardUrl({ provider: 'stripe', providerPaymentId: null }, base)).toBeNull();
  });
});

describe('payer-facing failure sentences (security issue #17, item 12)', () => {
  test.each(['fraudulent', 'stolen_card', 'lost_card', 'pickup_card', 'merchant_blacklist', 'restricted_card', 'security_violation', 'DECLINED_BY_RISK_FRAUD_CONTROLS', 'brand_new_code'])('%s is a generic decline for the payer', (code) => {
    expect(payerFailureSentence('card_declined', code)).toBe(PAYER_GENERIC_DECLINE);
    expect(failureSentence('card_declined', code, null)).not.toBe(PAYER_GENERIC_DECLINE); // staff keep the detail
  });
  test('what the payer can act on is said; unknown error codes are generic', () => {
    expect(payerFailureSentence('card_declined', 'insufficient_funds')).toMatch(/insufficient funds/);
    expect(payerFailureSentence('expired_card', null)).toMatch(/expired/);
    expect(payerFailureSentence('some_error', null)).toBe(PAYER_GENERIC_DECLINE);
    expect(payerFailureSentence(null, null)).toBe(PAYER_GENERIC_DECLINE);
  });
});
