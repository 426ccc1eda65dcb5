import { parsePayPalAmount, payPalDecimals, toPayPalValue } from './paypal';

describe('minor units -> PayPal value (toPayPalValue)', () => {
  it.each([
    [1050, 'EUR', '10.50'],
    [5, 'EUR', '0.05'],
    [100, 'EUR', '1.00'],
    [10 ** 15, 'EUR', '10000000000000.00'],
    [500, 'JPY', '500'],
    [1, 'JPY', '1'],
    [1500, 'KWD', '1.500'],
    [1, 'KWD', '0.001'],
    [1234567, 'KWD', '1234.567'],
    [150000, 'HUF', '1500'],
    [9900, 'TWD', '99'],
  ])('%d %s -> "%s"', (amount, currency, value) => {
    expect(toPayPalValue({ amount, currency })).toBe(value);
  });

  it('refuses a HUF/TWD fraction PayPal cannot take (PayPal: no decimals for these)', () => {
    expect(() => toPayPalValue({ amount: 150050, currency: 'HUF' })).toThrow(/whole HUF/);
    expect(() => toPayPalValue({ amount: 1, currency: 'TWD' })).toThrow(RangeError);
  });

  it.each([
    [10.5, 'EUR'],
    [-1, 'EUR'],
    [Number.NaN, 'EUR'],
    [10 ** 16, 'EUR'],
    [100, 'XXX'],
    [100, 'eur'],
  ])('refuses %p %s', (amount, currency) => {
    expect(() => toPayPalValue({ amount, currency })).toThrow(RangeError);
  });
});

describe('PayPal value -> minor units (parsePayPalAmount)', () => {
  it.each([
    ['10.50', 'EUR', 1050],
    ['10.5', 'EUR', 1050],
    ['10', 'EUR', 1000],
    ['0.01', 'EUR', 1],
    ['500', 'JPY', 500],
    ['1.500', 'KWD', 1500],
    ['1.5', 'KWD', 1500],
    ['0.001', 'KWD', 1],
    ['1500', 'HUF', 150000],
    ['2.51', 'USD', 251],
  ])('"%s" %s -> %d', (value, currency, amount) => {
    expect(parsePayPalAmount(value, currency)).toEqual({ amount, currency });
  });

  it.each([
    ['10.5', 'JPY'],
    ['10.0', 'JPY'],
    ['1.5000', 'KWD'],
    ['10.505', 'EUR'],
    ['-1.00', 'EUR'],
    ['1e3', 'EUR'],
    ['', 'EUR'],
    [' 10.00', 'EUR'],
    ['10.', 'EUR'],
    ['.5', 'EUR'],
    ['10.00', 'ZZZ'],
    ['99999999999999999', 'JPY'],
  ])('refuses "%s" %s', (value, currency) => {
    expect(() => parsePayPalAmount(value, currency)).toThrow(RangeError);
  });

  it('refuses non-strings (a float must never stand in for an amount)', () => {
    expect(() => parsePayPalAmount(10.5, 'EUR')).toThrow(/string/);
    expect(() => parsePayPalAmount('10.50', undefined)).toThrow(/string/);
  });

  it('round-trips every amount in a range for 0-, 2- and 3-decimal currencies', () => {
    for (const currency of ['JPY', 'EUR', 'KWD', 'USD']) {
      for (let amount = 1; amount < 5000; amount += 7) {
        expect(parsePayPalAmount(toPayPalValue({ amount, currency }), currency)).toEqual({ amount, currency });
      }
    }
  });

  it('knows PayPal decimals per currency', () => {
    expect([payPalDecimals('EUR'), payPalDecimals('JPY'), payPalDecimals('KWD'), payPalDecimals('HUF')]).toEqual([2, 0, 3, 0]);
  });
});
