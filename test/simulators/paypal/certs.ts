/**
 * The simulator's webhook signing identity: an RSA-2048 key and a self-signed X.509 cert with
 * PayPal's subject name, made with the `openssl` CLI in a temporary directory (Node's crypto can
 * parse certificates but not issue them). Made once per process and reused by every simulator.
 */
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SigningIdentity {
  readonly privateKey: KeyObject;
  readonly certPem: string;
  readonly cert: X509Certificate;
}

let identity: Promise<SigningIdentity> | null = null;

export function signingIdentity(): Promise<SigningIdentity> {
  identity ??= generate().catch((err: unknown) => {
    identity = null;
    throw err;
  });
  return identity;
}

/** A fresh identity (another key), e.g. to sign with a key the served cert does not match. */
export async function generate(): Promise<SigningIdentity> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'paypal-sim-'));
  try {
    const key = path.join(dir, 'key.pem');
    const crt = path.join(dir, 'cert.pem');
    await run('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '30',
      '-keyout', key, '-out', crt,
      '-subj', '/C=US/ST=California/L=San Jose/O=PayPal, Inc./OU=Simulator/CN=messageverificationcerts.sandbox.paypal.com',
    ]);
    const certPem = await fs.readFile(crt, 'utf8');
    return { privateKey: createPrivateKey(await fs.readFile(key, 'utf8')), certPem, cert: new X509Certificate(certPem) };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}
