import { CURRENCY_CODES, ISO_4217 } from './currencies';
import { add, currencyExponent, formatMoney, hasKnownExponent, isCurrency, isMinorUnits, minorToDecimal, money, parseDecimalAmount, subtract, toDecimalString } from './money';

describe('money', () => {
  test('amounts are non-negative safe integers of minor units', () => {
    expect(isMinorUnits(0)).toBe(true);
    expect(isMinorUnits(1999)).toBe(true);
    expect(isMinorUnits(19.99)).toBe(false);
    expect(isMinorUnits(-1)).toBe(false);
    expect(isMinorUnits(Number.MAX_SAFE_INTEGER)).toBe(false);
    expect(isMinorUnits('100')).toBe(false);
    expect(() => money(10.5, 'EUR')).toThrow(RangeError);
  });
  test('currencies are the active ISO 4217 codes of the table', () => {
    expect(isCurrency('EUR')).toBe(true);
    expect(isCurrency('JPY')).toBe(true);
    expect(isCurrency('XAD')).toBe(true); // added to List One in 2025, unknown to Node's Intl
    expect(isCurrency('eur')).toBe(false);
    expect(isCurrency('EUX')).toBe(false);
    expect(isCurrency('XAU')).toBe(false); // gold: minor unit N.A., not money
    expect(isCurrency('XTS')).toBe(false);
    expect(isCurrency('toString')).toBe(false);
    expect(isCurrency('HRK')).toBe(false); // withdrawn 2023
    expect(hasKnownExponent('HRK')).toBe(true); // but amounts stored in it still display
    expect(CURRENCY_CODES).toHaveLength(165);
    expect(CURRENCY_CODES.every((c) => /^[A-Z]{3}$/.test(c) && /^\d{3}$/.test(ISO_4217[c].numeric))).toBe(true);
    expect(new Set(CURRENCY_CODES.map((c) => ISO_4217[c].numeric)).size).toBe(165);
  });
  test('the exponent follows ISO 4217, not Intl', () => {
    expect(currencyExponent('EUR')).toBe(2);
    expect(currencyExponent('JPY')).toBe(0);
    expect(currencyExponent('KWD')).toBe(3);
    expect(currencyExponent('CLF')).toBe(4);
    expect(currencyExponent('IQD')).toBe(3);
    for (const c of ['HUF', 'IDR', 'LBP', 'LAK', 'MGA', 'COP', 'PKR']) expect(currencyExponent(c)).toBe(2);
    expect(currencyExponent('ISK')).toBe(0);
    expect(() => currencyExponent('EUX')).toThrow(RangeError);
  });
  test('arithmetic refuses to mix currencies', () => {
    expect(add(money(100, 'EUR'), money(250, 'EUR'))).toEqual({ amount: 350, currency: 'EUR' });
    expect(subtract(money(100, 'EUR'), money(30, 'EUR'))).toEqual({ amount: 70, currency: 'EUR' });
    expect(() => add(money(100, 'EUR'), money(1, 'USD'))).toThrow(RangeError);
  });
  test('formatting places the decimal point by exponent without float division', () => {
    expect(formatMoney(money(250000, 'EUR'))).toBe('€2,500.00');
    expect(formatMoney(money(5, 'USD'))).toBe('$0.05');
    expect(formatMoney(money(500, 'JPY'))).toBe('¥500');
    expect(formatMoney(money(1500, 'KWD'))).toBe('KWD\u00a01.500');
    expect(formatMoney(money(1234, 'IQD'))).toBe('IQD\u00a01.234');
    expect(formatMoney({ amount: 1234, currency: 'HRK' })).toBe('HRK\u00a012.34');
  });
  test('decimal strings from minor units, signed and of any size', () => {
    expect(minorToDecimal(-5, 'EUR')).toBe('-0.05');
    expect(minorToDecimal(0, 'EUR')).toBe('0.00');
    expect(minorToDecimal(1500, 'KWD')).toBe('1.500');
    expect(minorToDecimal(500, 'JPY')).toBe('500');
    expect(minorToDecimal(7, 'CLF')).toBe('0.0007');
    expect(minorToDecimal(12345678901234567890n, 'EUR')).toBe('123456789012345678.90');
    expect(minorToDecimal(Number.MAX_SAFE_INTEGER, 'USD')).toBe('90071992547409.91');
  });
  test('provider decimal strings convert to minor units by exponent, exactly', () => {
    expect(parseDecimalAmount('10.50', 'EUR')).toEqual({ amount: 1050, currency: 'EUR' });
    expect(parseDecimalAmount('10.5', 'EUR')).toEqual({ amount: 1050, currency: 'EUR' });
    expect(parseDecimalAmount('0.07', 'USD')).toEqual({ amount: 7, currency: 'USD' });
    expect(parseDecimalAmount('500', 'JPY')).toEqual({ amount: 500, currency: 'JPY' });
    expect(parseDecimalAmount('1.500', 'KWD')).toEqual({ amount: 1500, currency: 'KWD' });
    expect(parseDecimalAmount('19.99', 'USD').amount).toBe(1999); // 19.99 * 100 is 1998.9999999999998 in floats
    expect(() => parseDecimalAmount('10.5', 'JPY')).toThrow(RangeError);
    expect(() => parseDecimalAmount('1.001', 'EUR')).toThrow(RangeError);
    expect(() => parseDecimalAmount('-1.00', 'EUR')).toThrow(RangeError);
    expect(() => parseDecimalAmount('1e3', 'EUR')).toThrow(RangeError);
    expect(toDecimalString({ amount: 1050, currency: 'EUR' })).toBe('10.50');
    expect(toDecimalString({ amount: 7, currency: 'USD' })).toBe('0.07');
    expect(toDecimalString({ amount: 500, currency: 'JPY' })).toBe('500');
    expect(toDecimalString({ amount: 1500, currency: 'KWD' })).toBe('1.500');
  });
});
