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
 * Trust rests on where the cert comes from: only https URLs on the configured hosts (PayPal's API
 * hosts plus, for the simulator, the configured API base's host; plain http only for loopback),
 * no redirects. The certificate chain is not validated against a CA (PayPal's Java SDK does);
 * the TLS connection to a PayPal host is what authenticates the cert. Validity dates are checked
 * against `now()` (injectable; PayPal's only published test vector has a cert that expired in
 * 2019). Certs are cached per URL; a failed download is not cached.
 *
 * PayPal defines no replay window (it retries a failed delivery for 3 days with the same event
 * id), so none is imposed here: deduplicate on the event id.
 */
import { X509Certificate, verify as cryptoVerify, type KeyObject } from 'node:crypto';

export const PAYPAL_CERT_HOSTS: readonly string[] = ['api.paypal.com', 'api-m.paypal.com', 'api.sandbox.paypal.com', 'api-m.sandbox.paypal.com'];

/** PayPal's hosts plus the configured API base's host (the simulator in tests). */
export function payPalTrustedCertHosts(apiBase?: string): string[] {
  const hosts = new Set(PAYPAL_CERT_HOSTS);
  if (apiBase) hosts.add(new URL(apiBase).host.toLowerCase());
  return [...hosts];
}

export const PAYPAL_HEADERS = {
  transmissionId: 'PAYPAL-TRANSMISSION-ID',
  transmissionTime: 'PAYPAL-TRANSMISSION-TIME',
  transmissionSig: 'PAYPAL-TRANSMISSION-SIG',
  certUrl: 'PAYPAL-CERT-URL',
  authAlgo: 'PAYPAL-AUTH-ALGO',
} as const;

export type VerifyFailure =
  | 'missing_header'
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
  /** Certs kept in memory (by URL). */
  readonly maxCachedCerts?: number;
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
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
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
    const value = Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : (v as string | undefined);
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
  private readonly certs = new Map<string, Promise<CachedCert>>();

  constructor(readonly options: PayPalWebhookVerifierOptions) {
    if (!options.webhookId) throw new RangeError('a PayPal webhook id is required');
    this.trusted = new Set(options.trustedCertHosts.map((h) => h.toLowerCase()));
    this.fetchCert = options.fetchCert ?? defaultFetchCert;
    this.now = options.now ?? (() => new Date());
    this.maxCached = options.maxCachedCerts ?? 16;
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
    if (u.protocol === 'https:') return null;
    if (u.protocol === 'http:' && LOOPBACK.has(u.hostname.toLowerCase())) return null;
    return `cert URL scheme "${u.protocol}" is not https`;
  }

  private cert(url: string): Promise<CachedCert> {
    let p = this.certs.get(url);
    if (!p) {
      p = this.load(url);
      this.certs.set(url, p);
      p.catch(() => this.certs.delete(url));
      while (this.certs.size > this.maxCached) this.certs.delete(this.certs.keys().next().value as string);
    }
    return p;
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
      throw Object.assign(new Error(`the cert at ${url} is unusable: ${(err as Error).message}`), { reason: 'cert_invalid' as VerifyFailure });
    }
  }
}

function fail(reason: VerifyFailure, detail: string): VerifyResult {
  return { ok: false, reason, detail };
}
