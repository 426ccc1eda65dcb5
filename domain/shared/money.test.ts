import { add, currencyExponent, formatMoney, isCurrency, isMinorUnits, money, parseDecimalAmount, subtract, toDecimalString } from './money';

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
  test('currencies are ISO 4217 codes', () => {
    expect(isCurrency('EUR')).toBe(true);
    expect(isCurrency('JPY')).toBe(true);
    expect(isCurrency('eur')).toBe(false);
    expect(isCurrency('EUX')).toBe(false);
    expect(isCurrency('XAU')).toBe(false);
  });
  test('the exponent follows ISO 4217', () => {
    expect(currencyExponent('EUR')).toBe(2);
    expect(currencyExponent('JPY')).toBe(0);
    expect(currencyExponent('KWD')).toBe(3);
    expect(currencyExponent('CLF')).toBe(4);
  });
  test('arithmetic refuses to mix currencies', () => {
    expect(add(money(100, 'EUR'), money(250, 'EUR'))).toEqual({ amount: 350, currency: 'EUR' });
    expect(subtract(money(100, 'EUR'), money(30, 'EUR'))).toEqual({ amount: 70, currency: 'EUR' });
    expect(() => add(money(100, 'EUR'), money(1, 'USD'))).toThrow(RangeError);
  });
  test('formatting places the decimal point by exponent without float division', () => {
    expect(formatMoney(money(250000, 'EUR'))).toBe('€2500.00');
    expect(formatMoney(money(5, 'USD'))).toBe('$0.05');
    expect(formatMoney(money(500, 'JPY'))).toBe('¥500');
    expect(formatMoney(money(1500, 'KWD'))).toMatch(/^(KWD ?1\.500|1\.500 KWD)$/);
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
