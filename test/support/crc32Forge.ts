/**
 * CRC-32 forgery, for the tests that show why a PayPal webhook signature (which covers the body
 * only through its CRC-32) must not be trusted for the body's content.
 *
 * CRC-32 (zlib's: reflected, polynomial 0xEDB88320, init and final xor 0xFFFFFFFF) is linear, so
 * any 4 consecutive bytes of a message can be solved for to give the whole message any CRC:
 *   1. run the register forward over the bytes before the patch (r1);
 *   2. run it backwards from the wanted final value over the bytes after the patch (r2): one step
 *      back is unique because the table's top bytes are all different;
 *   3. four bytes x0..x3 processed from r1 act like four zero bytes processed from
 *      r1 ^ (x0 | x1<<8 | x2<<16 | x3<<24), so undo four zero-byte steps from r2 to get that
 *      register, and xor it with r1.
 * `forgeJsonWithCrc` retries a filler until the 4 solved bytes are printable ASCII other than
 * `"` and `\`, so they sit inside a JSON string and the forged body stays valid JSON.
 */
import zlib from 'node:zlib';

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
/** Table index by the top byte of its entry (unique for CRC-32). */
const BY_TOP = (() => {
  const m = new Uint8Array(256);
  for (let i = 0; i < 256; i++) m[TABLE[i]! >>> 24] = i;
  return m;
})();

const forward = (reg: number, byte: number) => (TABLE[(reg ^ byte) & 0xff]! ^ (reg >>> 8)) >>> 0;
/** The register before `byte` was processed, given the register after. */
function backward(after: number, byte: number): number {
  const idx = BY_TOP[after >>> 24]!;
  return (((after ^ TABLE[idx]!) << 8) | (idx ^ byte)) >>> 0;
}

export function crc32(bytes: Uint8Array): number {
  return zlib.crc32(bytes) >>> 0;
}

/** A copy of `message` with the 4 bytes at `at` replaced so that its CRC-32 is `target`. */
export function forgeCrc32(message: Uint8Array, at: number, target: number): Buffer {
  if (at < 0 || at + 4 > message.length) throw new RangeError('the 4 patched bytes must lie inside the message');
  let r1 = 0xffffffff;
  for (let i = 0; i < at; i++) r1 = forward(r1, message[i]!);
  let r2 = (target ^ 0xffffffff) >>> 0;
  for (let i = message.length - 1; i >= at + 4; i--) r2 = backward(r2, message[i]!);
  let s = r2;
  for (let k = 0; k < 4; k++) s = backward(s, 0);
  const x = (s ^ r1) >>> 0;
  const out = Buffer.from(message);
  out[at] = x & 0xff;
  out[at + 1] = (x >>> 8) & 0xff;
  out[at + 2] = (x >>> 16) & 0xff;
  out[at + 3] = (x >>> 24) & 0xff;
  return out;
}

const JSON_SAFE = (b: number) => b >= 0x20 && b <= 0x7e && b !== 0x22 && b !== 0x5c;

/**
 * A JSON body whose CRC-32 equals the genuine body's. `build(filler)` returns the forged JSON text
 * with the 4-character placeholder `marker` once, inside a string value; `filler` varies between
 * tries (put it in another string) until the solved bytes are printable.
 */
export function forgeJsonWithCrc(genuine: Uint8Array, build: (filler: string) => string, marker = '@@@@'): Buffer {
  const target = crc32(genuine);
  for (let i = 0; i < 100_000; i++) {
    const text = Buffer.from(build(i.toString(36)), 'utf8');
    const at = text.indexOf(marker);
    if (at < 0 || text.indexOf(marker, at + 1) >= 0) throw new Error(`the forged text must hold "${marker}" exactly once`);
    const forged = forgeCrc32(text, at, target);
    if ([0, 1, 2, 3].every((k) => JSON_SAFE(forged[at + k]!))) {
      JSON.parse(forged.toString('utf8'));
      return forged;
    }
  }
  throw new Error('no printable CRC patch found');
}
