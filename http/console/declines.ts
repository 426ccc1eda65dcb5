/**
 * A payment failure in plain words. Stripe's documented decline codes (docs.stripe.com/declines/codes)
 * and the common API error codes map to a sentence a support person can read out; anything not in
 * the table falls back to the provider's own message, then to the humanised code.
 */
const DECLINE_CODES: Readonly<Record<string, string>> = {
  approve_with_id: 'The payment could not be authorised; trying again may work.',
  authentication_required: 'The card needs authentication (3D Secure) that the customer did not complete.',
  call_issuer: 'The card was declined for an unknown reason; the customer should call their bank.',
  card_not_supported: 'The card does not support this type of purchase.',
  card_velocity_exceeded: 'The customer has exceeded the balance, credit limit or transaction amount allowed on the card.',
  currency_not_supported: 'The card does not support this currency.',
  do_not_honor: 'The card was declined for an unknown reason; the customer should contact their bank.',
  do_not_try_again: 'The card was declined; the bank asks not to try this card again.',
  duplicate_transaction: 'An identical payment was submitted very recently.',
  expired_card: 'The card has expired.',
  fraudulent: 'The payment was declined because the bank suspects fraud.',
  generic_decline: 'The card was declined for an unknown reason.',
  incorrect_cvc: 'The card security code (CVC) is incorrect.',
  incorrect_number: 'The card number is incorrect.',
  incorrect_pin: 'The PIN entered is incorrect.',
  incorrect_zip: 'The postal code is incorrect.',
  insufficient_funds: 'The card has insufficient funds.',
  invalid_account: 'The card, or the account it is connected to, is invalid.',
  invalid_amount: 'The amount is invalid or exceeds what the card allows.',
  invalid_cvc: 'The card security code (CVC) is invalid.',
  invalid_expiry_month: 'The expiry month is invalid.',
  invalid_expiry_year: 'The expiry year is invalid.',
  invalid_number: 'The card number is invalid.',
  issuer_not_available: 'The card issuer could not be reached; the payment can be tried again.',
  lost_card: 'The card was reported lost.',
  merchant_blacklist: 'The payment was declined because it matches a value on the block list.',
  new_account_information_available: 'The card or its account is invalid; the bank has newer account details.',
  no_action_taken: 'The card was declined for an unknown reason; the customer should contact their bank.',
  not_permitted: 'The payment is not permitted on this card.',
  offline_pin_required: 'The card needs its PIN entered in person.',
  online_or_offline_pin_required: 'The card needs its PIN.',
  pickup_card: 'The card cannot be used (it may be reported lost or stolen).',
  pin_try_exceeded: 'Too many incorrect PIN attempts.',
  processing_error: 'An error occurred while processing the card; the payment can be tried again.',
  reenter_transaction: 'The bank could not process the payment; it can be tried again.',
  restricted_card: 'The card cannot be used for this payment (it may be reported lost or stolen).',
  revocation_of_all_authorizations: 'The customer has revoked every authorisation on this card.',
  revocation_of_authorization: 'The customer has revoked this authorisation.',
  security_violation: 'The card was declined for a security reason.',
  service_not_allowed: 'The card was declined for an unknown reason; the customer should contact their bank.',
  stolen_card: 'The card was reported stolen.',
  stop_payment_order: 'The customer asked their bank to stop this payment.',
  testmode_decline: 'A Stripe test card number was used.',
  transaction_not_allowed: 'The card was declined for an unknown reason; the customer should contact their bank.',
  try_again_later: 'The card was declined for an unknown reason; trying again later may work.',
  withdrawal_count_limit_exceeded: 'The customer has exceeded the balance or credit limit on the card.',
  // PayPal capture declines (processor response / status reasons)
  INSTRUMENT_DECLINED: 'The payment method was declined by the bank or PayPal.',
  PAYER_ACTION_REQUIRED: 'The customer still needs to act at PayPal to complete the payment.',
  DECLINED_BY_RISK_FRAUD_CONTROLS: 'PayPal declined the payment on suspicion of fraud.',
};

const ERROR_CODES: Readonly<Record<string, string>> = {
  card_declined: 'The card was declined.',
  expired_card: 'The card has expired.',
  incorrect_cvc: 'The card security code (CVC) is incorrect.',
  incorrect_number: 'The card number is incorrect.',
  processing_error: 'An error occurred while processing the card; the payment can be tried again.',
  authentication_required: 'The card needs authentication (3D Secure) that the customer did not complete.',
  payment_intent_authentication_failure: 'The customer failed the card authentication (3D Secure).',
  payment_method_unactivated: 'The payment method is not activated for this account.',
  amount_too_small: 'The amount is below the minimum the provider accepts.',
  amount_too_large: 'The amount is above the maximum the provider accepts.',
  insufficient_funds: 'The account has insufficient funds.',
};

/** The failure in plain words. */
export function failureSentence(errorCode: string | null | undefined, declineCode: string | null | undefined, providerMessage: string | null | undefined): string | null {
  if (declineCode && DECLINE_CODES[declineCode]) return DECLINE_CODES[declineCode];
  if (errorCode && ERROR_CODES[errorCode]) return ERROR_CODES[errorCode];
  if (providerMessage && providerMessage.trim()) return providerMessage.trim();
  const code = declineCode ?? errorCode;
  if (!code) return null;
  const words = code.replace(/_/g, ' ').toLowerCase();
  return `The payment failed (${words}).`;
}

/**
 * Declines a payer may be told about as they are: what they can fix themselves (another card, the
 * right number or code, authentication) and no hint of a fraud or risk verdict.
 */
const PAYER_SAFE: Readonly<Record<string, string>> = {
  insufficient_funds: 'The card has insufficient funds. You can try another card.',
  expired_card: 'The card has expired. You can try another card.',
  incorrect_cvc: 'The card security code is incorrect.',
  invalid_cvc: 'The card security code is incorrect.',
  incorrect_number: 'The card number is incorrect.',
  invalid_number: 'The card number is incorrect.',
  invalid_expiry_month: 'The card expiry date is incorrect.',
  invalid_expiry_year: 'The card expiry date is incorrect.',
  incorrect_zip: 'The postal code does not match the card.',
  authentication_required: 'The payment needs you to confirm it with your bank (3D Secure).',
  payment_intent_authentication_failure: 'The card authentication (3D Secure) did not succeed.',
  processing_error: 'An error occurred while processing the card. You can try again.',
  try_again_later: 'The payment could not be completed. You can try again later.',
  currency_not_supported: 'The card does not support this currency. You can try another card.',
  card_not_supported: 'The card does not support this type of purchase. You can try another card.',
  PAYER_ACTION_REQUIRED: 'The payment still needs your approval at PayPal.',
};

/** What the payer page says about a failed payment: never a fraud, block-list or lost/stolen verdict. */
export const PAYER_GENERIC_DECLINE = 'The payment was declined. You can try another card or payment method, or contact your bank.';

/**
 * The failure for the payer (the signed payer page): an allow-listed sentence for what the payer
 * can act on, the generic decline for everything else (fraudulent, stolen_card, lost_card,
 * pickup_card, merchant_blacklist, risk controls, unknown codes) and never the provider's own
 * message. Staff in the console keep the detail (failureSentence).
 */
export function payerFailureSentence(errorCode: string | null | undefined, declineCode: string | null | undefined): string {
  if (declineCode) return PAYER_SAFE[declineCode] ?? PAYER_GENERIC_DECLINE;
  if (errorCode && PAYER_SAFE[errorCode]) return PAYER_SAFE[errorCode];
  return PAYER_GENERIC_DECLINE;
}

/** Whether asking the customer to pay again (same or another card) can help after this failure. */
export function retryMakesSense(declineCode: string | null | undefined): boolean {
  return !['fraudulent', 'merchant_blacklist', 'duplicate_transaction', 'stolen_card', 'lost_card', 'pickup_card'].includes(declineCode ?? '');
}
