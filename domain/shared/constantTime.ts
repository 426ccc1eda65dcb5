import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The one constant-time comparison of secrets (API keys, the admin and metrics tokens, CSRF
 * tokens, payer-link signatures). Both sides are hashed first (SHA-256), so the time taken tells
 * neither where they differ nor, since the digests always have the same length, how long the
 * secret is; `timingSafeEqual` of unequal lengths would throw instead.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}
