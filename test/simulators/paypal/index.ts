/** The local PayPal REST simulator: see simulator.ts for what it implements and README.md for use. */
export {
  startPayPalSimulator,
  type PayPalSimulator,
  type PayPalSimulatorOptions,
  type PayPalWebhookEvent,
  type RecordedRequest,
  type SimEvents,
  type SimFailure,
  type WebhookDelivery,
  type WebhookSendOptions,
  type WebhookSignOptions,
} from './simulator';
export { generate as generateSigningIdentity } from './certs';
export { PAYPAL_CURRENCIES } from './amounts';
