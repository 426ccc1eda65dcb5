import { createHash } from 'node:crypto';

/** Settle's UUID v5 namespace (random, fixed forever: changing it changes every derived id). */
const NAMESPACE = 'b3f1c2a4-6d2e-4f7a-9c1b-5e8d7a6f4c3b';

/** RFC 4122 version-5 UUID of `name` in Settle's namespace: the same name always gives the same id. */
export function deterministicUuid(name: string, namespace = NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest();
  hash.writeUInt8((hash.readUInt8(6) & 0x0f) | 0x50, 6);
  hash.writeUInt8((hash.readUInt8(8) & 0x3f) | 0x80, 8);
  const h = hash.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
