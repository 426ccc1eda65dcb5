/** The one constant-time comparison: equal only when equal, whatever the lengths (never throws). */
import { constantTimeEqual } from './constantTime';

describe('constantTimeEqual', () => {
  test('equal strings are equal', () => {
    expect(constantTimeEqual('s3cret-token', 's3cret-token')).toBe(true);
    expect(constantTimeEqual('', '')).toBe(true);
  });

  test('any difference is a difference, in any position', () => {
    expect(constantTimeEqual('s3cret-token', 's3cret-tokeN')).toBe(false);
    expect(constantTimeEqual('s3cret-token', 'S3cret-token')).toBe(false);
  });

  test('different lengths are unequal and do not throw (timingSafeEqual alone would)', () => {
    expect(constantTimeEqual('abc', 'abcd')).toBe(false);
    expect(constantTimeEqual('', 'x')).toBe(false);
  });

  test('compares the UTF-8 text, not a lossy byte form', () => {
    expect(constantTimeEqual('café', 'cafe\u0301')).toBe(false);
    expect(constantTimeEqual('ключ', 'ключ')).toBe(true);
  });
});
