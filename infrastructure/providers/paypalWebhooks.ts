/**
 * PayPal webhook signature verification, offline ("self" verification), as PayPal's own SDKs did
 * it (shared/providers/SIGNATURES.md §2):
 *
 *   signed = PAYPAL-TRANSMISSION-ID | PAYPAL-TRANSMISSION-TIME | <our webhook id> | crc32(raw body)
 *   RSASSA-PKCS1-v1_5 / SHA-256 (PAYPAL-AUTH-ALGO "SHA256withRSA") of `signed`, base64 in
 *   PAYPAL-TRANSMISSION-SIG, checked with the public key of the X.509 cert at PAYPAL-CERT-URL.
 *
 * The CRC32 is the zlib one over the raw bytes, as an unsigned decimal. The webhook id is ours
 * (PAYPAL_WEBHOOK_ID), not the event's WH-... id, so an event signed for another listener fails.
 *
 * Trust rests on where the cert comes from: only https URLs on PayPal's cert hosts of the
 * configured mode (live hosts in live mode, sandbox hosts in sandbox mode; plus, outside live mode,
 * the configured API base's host for the simulator, plain http only for loopback), only PayPal's
 * certificate path `/v1/notifications/certs/<id>` (no query), no redirects. The certificate chain
 * is not validated against a CA (PayPal's Java SDK does); the TLS connection to a PayPal host is
 * what authenticates the cert. Validity dates are checked against `now()` (injectable; PayPal's
 * only published test vector has a cert that expired in 2019). Certs are cached per URL, at most
 * `maxCachedCerts` (16) for `certTtlMs` (24 h); a failed download is not cached.
 *
 * The signature covers the body only through its CRC32, which anyone can match with another body
 * (CRC32 is linear). Verification therefore proves "PayPal sent a body with this CRC32 at this
 * time", no more: callers never record money from the body (commands/webhooks/paypal.ts reads the
 * object back from PayPal's API) and remember transmission ids (the same id with another body is
 * refused: infrastructure/webhooks/paypalTransmissions.ts). PayPal defines no replay window; it
 * retries a failed delivery for up to 3 days. A transmission time older than
 * `transmissionToleranceSeconds` (PAYPAL_WEBHOOK_TOLERANCE_SECONDS, 3 days + 5 minutes) or more
 * than 5 minutes ahead is refused (`transmission_expired`), so a captured delivery stops being
 * usable then, not when the cert expires.
 */
import { X509Certificate, verify as cryptoVerify, type KeyObject } from 'node:crypto';

export const PAYPAL_LIVE_CERT_HOSTS: readonly string[] = ['api.paypal.com', 'api-m.paypal.com'];
export const PAYPAL_SANDBOX_CERT_HOSTS: readonly string[] = ['api.sandbox.paypal.com', 'api-m.sandbox.paypal.com'];

export type PayPalMode = 'live' | 'sandbox';

/** Live when PAYPAL_API_BASE is PayPal's live API; anything else (the sandbox, a simulator) is sandbox. */
export function payPalMode(apiBase: string): PayPalMode {
  return PAYPAL_LIVE_CERT_HOSTS.includes(new URL(apiBase).hostname.toLowerCase()) ? 'live' : 'sandbox';
}

/**
 * The cert hosts for the mode of `apiBase`: live mode trusts PayPal's live hosts only; sandbox
 * mode PayPal's sandbox hosts and the API base's own host (the simulator in tests and the demo).
 */
export function payPalTrustedCertHosts(apiBase: string): string[] {
  if (payPalMode(apiBase) === 'live') return [...PAYPAL_LIVE_CERT_HOSTS];
  return [...new Set([...PAYPAL_SANDBOX_CERT_HOSTS, new URL(apiBase).host.toLowerCase()])];
}

/** PayPal's certificate path: `/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77`. */
const CERT_PATH = /^\/v1\/notifications\/certs\/[A-Za-z0-9._-]{1,128}$/;
/** RFC 3339 date-time, as PayPal sends PAYPAL-TRANSMISSION-TIME (`2017-03-30T20:04:05Z`). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;
/** How far ahead of our clock a transmission time may be (clock skew). */
const MAX_FUTURE_SKEW_MS = 5 * 60_000;
export const DEFAULT_TRANSMISSION_TOLERANCE_SECONDS = 3 * 86_400 + 300;

export const PAYPAL_HEADERS = {
  transmissionId: 'PAYPAL-TRANSMISSION-ID',
  transmissionTime: 'PAYPAL-TRANSMISSION-TIME',
  transmissionSig: 'PAYPAL-TRANSMISSION-SIG',
  certUrl: 'PAYPAL-CERT-URL',
  authAlgo: 'PAYPAL-AUTH-ALGO',
} as const;

export type VerifyFailure =
  | 'missing_header'
  | 'transmission_expired'
  | 'unsupported_algorithm'
  | 'untrusted_cert_url'
  | 'cert_unavailable'
  | 'cert_invalid'
  | 'cert_expired'
  | 'bad_signature_encoding'
  | 'signature_mismatch';

export type VerifyResult = { readonly ok: true } | { readonly ok: false; readonly reason: VerifyFailure; readonly detail: string };

export interface PayPalWebhookVerifierOptions {
  /** PAYPAL_WEBHOOK_ID: the id of our webhook in the PayPal dashboard. */
  readonly webhookId: string;
  /** Hosts certs may be downloaded from: "api.paypal.com", or "127.0.0.1:4010" with a port. */
  readonly trustedCertHosts: readonly string[];
  /** Downloads a cert PEM; default: fetch with a 10 s timeout, no redirects. */
  readonly fetchCert?: (url: string) => Promise<string>;
  /** The clock validity dates are checked against. */
  readonly now?: () => Date;
  /** Certs kept in memory (by URL); default 16. */
  readonly maxCachedCerts?: number;
  /** How long a downloaded cert is reused before it is fetched again; default 24 h. */
  readonly certTtlMs?: number;
  /** PAYPAL_WEBHOOK_TOLERANCE_SECONDS: the oldest PAYPAL-TRANSMISSION-TIME accepted; default 3 days + 5 min. */
  readonly transmissionToleranceSeconds?: number;
}

type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

// ---- CRC-32 (IEEE 802.3, reflected, as zlib and java.util.zip.CRC32)

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of the bytes as an unsigned 32-bit integer. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = (CRC_TABLE[(c ^ byte) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The string PayPal signs: "<transmission id>|<transmission time>|<webhook id>|<crc32 decimal>". */
export function payPalSignedString(transmissionId: string, transmissionTime: string, webhookId: string, rawBody: Uint8Array): string {
  return `${transmissionId}|${transmissionTime}|${webhookId}|${crc32(rawBody)}`;
}

function header(headers: Headers, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== wanted) continue;
    const value: unknown = Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v;
    return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
  }
  return undefined;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

async function defaultFetchCert(url: string): Promise<string> {
  const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}`);
  const text = await res.text();
  if (text.length > 64 * 1024) throw new Error(`GET ${url} answered more than 64 KiB`);
  return text;
}

interface CachedCert {
  readonly cert: X509Certificate;
  readonly key: KeyObject;
}

export class PayPalWebhookVerifier {
  private readonly trusted: Set<string>;
  private readonly fetchCert: (url: string) => Promise<string>;
  private readonly now: () => Date;
  private readonly maxCached: number;
  private readonly certTtlMs: number;
  private readonly toleranceMs: number;
  private readonly certs = new Map<string, { readonly cert: Promise<CachedCert>; readonly expiresAt: number }>();

  constructor(readonly options: PayPalWebhookVerifierOptions) {
    if (!options.webhookId) throw new RangeError('a PayPal webhook id is required');
    this.trusted = new Set(options.trustedCertHosts.map((h) => h.toLowerCase()));
    this.fetchCert = options.fetchCert ?? defaultFetchCert;
    this.now = options.now ?? (() => new Date());
    this.maxCached = Math.max(1, options.maxCachedCerts ?? 16);
    this.certTtlMs = options.certTtlMs ?? 24 * 3600_000;
    this.toleranceMs = (options.transmissionToleranceSeconds ?? DEFAULT_TRANSMISSION_TOLERANCE_SECONDS) * 1000;
  }

  /** Certs held in memory now (for tests and diagnostics). */
  get cachedCerts(): number {
    return this.certs.size;
  }

  async verify(headers: Headers, rawBody: Buffer): Promise<VerifyResult> {
    const values: Partial<Record<keyof typeof PAYPAL_HEADERS, string>> = {};
    for (const [key, name] of Object.entries(PAYPAL_HEADERS) as Array<[keyof typeof PAYPAL_HEADERS, string]>) {
      const v = header(headers, name);
      if (v === undefined) return fail('missing_header', `${name} is missing (or given more than once)`);
      values[key] = v;
    }
    const { transmissionId, transmissionTime, transmissionSig, certUrl, authAlgo } = values as Required<typeof values>;
    if (authAlgo !== 'SHA256withRSA') return fail('unsupported_algorithm', `PAYPAL-AUTH-ALGO "${authAlgo}" is not SHA256withRSA`);
    if (transmissionSig.length % 4 !== 0 || !BASE64.test(transmissionSig)) return fail('bad_signature_encoding', 'PAYPAL-TRANSMISSION-SIG is not base64');
    const signature = Buffer.from(transmissionSig, 'base64');
    const sentAt = RFC3339.test(transmissionTime) ? Date.parse(transmissionTime) : NaN;
    if (Number.isNaN(sentAt)) return fail('transmission_expired', `PAYPAL-TRANSMISSION-TIME "${transmissionTime}" is not an RFC 3339 date-time`);
    const age = this.now().getTime() - sentAt;
    if (age > this.toleranceMs || age < -MAX_FUTURE_SKEW_MS) {
      return fail('transmission_expired', `PAYPAL-TRANSMISSION-TIME ${transmissionTime} is outside the accepted window (${Math.round(this.toleranceMs / 1000)} s old, 300 s ahead)`);
    }

    const trust = this.checkCertUrl(certUrl);
    if (trust) return fail('untrusted_cert_url', trust);

    let cached: CachedCert;
    try {
      cached = await this.cert(certUrl);
    } catch (err) {
      const e = err as Error & { reason?: VerifyFailure };
      return fail(e.reason ?? 'cert_unavailable', e.message);
    }
    const now = this.now().getTime();
    if (now < Date.parse(cached.cert.validFrom) || now > Date.parse(cached.cert.validTo)) {
      return fail('cert_expired', `the cert at ${certUrl} is valid from ${cached.cert.validFrom} to ${cached.cert.validTo}`);
    }

    const signed = payPalSignedString(transmissionId, transmissionTime, this.options.webhookId, rawBody);
    const ok = cryptoVerify('sha256', Buffer.from(signed, 'utf8'), cached.key, signature);
    return ok ? { ok: true } : fail('signature_mismatch', 'the signature does not match this body, transmission and webhook id');
  }

  /** Null when the URL may be fetched, else why not. */
  private checkCertUrl(certUrl: string): string | null {
    let u: URL;
    try {
      u = new URL(certUrl);
    } catch {
      return `PAYPAL-CERT-URL "${certUrl}" is not a URL`;
    }
    if (u.username || u.password) return 'PAYPAL-CERT-URL carries credentials';
    const host = u.host.toLowerCase();
    const hostTrusted = this.trusted.has(host) || (u.port === '' && this.trusted.has(u.hostname.toLowerCase()));
    if (!hostTrusted) return `cert host "${host}" is not trusted`;
    if (!CERT_PATH.test(u.pathname) || u.search || u.hash) return `cert URL path "${u.pathname}${u.search}" is not PayPal's /v1/notifications/certs/<id>`;
    if (u.protocol === 'https:') return null;
    if (u.protocol === 'http:' && LOOPBACK.has(u.hostname.toLowerCase())) return null;
    return `cert URL scheme "${u.protocol}" is not https`;
  }

  /** The cert at `url`: cached for certTtlMs, at most maxCached of them (least recently used goes first). */
  private cert(url: string): Promise<CachedCert> {
    const now = this.now().getTime();
    for (const [k, v] of this.certs) if (v.expiresAt <= now) this.certs.delete(k);
    const hit = this.certs.get(url);
    if (hit) {
      this.certs.delete(url); // most recently used last
      this.certs.set(url, hit);
      return hit.cert;
    }
    const entry = { cert: this.load(url), expiresAt: now + this.certTtlMs };
    this.certs.set(url, entry);
    entry.cert.catch(() => {
      if (this.certs.get(url) === entry) this.certs.delete(url);
    });
    while (this.certs.size > this.maxCached) this.certs.delete(this.certs.keys().next().value as string);
    return entry.cert;
  }

  private async load(url: string): Promise<CachedCert> {
    const pem = await this.fetchCert(url);
    // PayPal serves the leaf first, possibly followed by its chain
    const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
    try {
      if (!leaf) throw new Error('no PEM certificate in the answer');
      const cert = new X509Certificate(leaf);
      if (cert.publicKey.asymmetricKeyType !== 'rsa') throw new Error(`the cert key is ${String(cert.publicKey.asymmetricKeyType)}, not RSA`);
      return { cert, key: cert.publicKey };
    } catch (err) {
      throw Object.assign(new Error(`the cert at ${url} is unusable: ${(err as Error).message}`), { reason: 'cert_invalid' });
    }
  }
}

function fail(reason: VerifyFailure, detail: string): VerifyResult {
  return { ok: false, reason, detail };
}
