/**
 * A real SMTP server for tests (`smtp-server`, 127.0.0.1 on a free port, no AUTH, no STARTTLS)
 * that captures every message. Mail goes through the real SMTP conversation and MIME encoding of
 * the sender (nodemailer), so tests see what a mail server would.
 *
 *   const smtp = await startSmtpCapture();
 *   const mailer = new Mailer({ smtpUrl: smtp.url, from: 'settle@example.test' });
 *   await mailer.send({ to: 'ops@example.test', subject: 'Hi', text: 'Hello' });
 *   const mail = await smtp.waitFor((m) => m.subject === 'Hi');
 *   await smtp.close();
 *
 * `mailparser` is not a dependency: messages are parsed here, minimally but correctly for what
 * nodemailer produces: unfolded headers, RFC 2047 encoded words, multipart (nested), and
 * quoted-printable / base64 / 7bit / 8bit bodies in UTF-8 (or any charset TextDecoder knows).
 */
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';

export interface CapturedMail {
  /** Envelope sender (MAIL FROM). */
  readonly from: string;
  /** Envelope recipients (RCPT TO), in order. */
  readonly to: string[];
  /** The decoded Subject header. */
  readonly subject: string;
  /**
   * The text/plain body, decoded, with LF line ends ('' when there is none). Of a single-part
   * message, without the final line break (the sender adds one: "x" and "x\n" arrive alike).
   */
  readonly text: string;
  /** The text/html body, decoded, or null. */
  readonly html: string | null;
  /** Decoded header values by lower-cased name (the first of repeated headers). */
  readonly headers: Readonly<Record<string, string>>;
  /** The whole message as received (after SMTP dot-unstuffing). */
  readonly raw: string;
  readonly receivedAt: Date;
}

export interface SmtpCapture {
  /** smtp://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** Every message received so far, oldest first (live array). */
  readonly messages: CapturedMail[];
  /** The first message (already received or still to come) matching; rejects after timeoutMs (default 5000). */
  waitFor(predicate?: (m: CapturedMail) => boolean, timeoutMs?: number): Promise<CapturedMail>;
  clear(): void;
  close(): Promise<void>;
}

// ------------------------------------------------------------------------------ MIME parsing

interface Entity {
  readonly headers: Record<string, string>;
  readonly body: string;
}

function decodeBytes(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset || 'utf-8').decode(bytes);
  } catch {
    return bytes.toString('utf8');
  }
}

/** RFC 2047 encoded words (`=?UTF-8?Q?...?=`, `=?UTF-8?B?...?=`); whitespace between two of them is dropped. */
export function decodeEncodedWords(value: string): string {
  const word = /=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=/g;
  return value.replace(/(=\?[^?\s]+\?[QqBb]\?[^?\s]*\?=)\s+(?==\?[^?\s]+\?[QqBb]\?[^?\s]*\?=)/g, '$1').replace(word, (_m, charset: string, enc: string, text: string) => {
    const cs = charset.split('*')[0]!; // RFC 2231 language suffix
    if (enc.toUpperCase() === 'B') return decodeBytes(Buffer.from(text, 'base64'), cs);
    return decodeBytes(qpBytes(text.replace(/_/g, ' ')), cs);
  });
}

function qpBytes(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      out.push(c.charCodeAt(0) & 0xff); // bodies are binary strings: one char per byte
    }
  }
  return Buffer.from(out);
}

export function decodeQuotedPrintable(s: string, charset = 'utf-8'): string {
  return decodeBytes(qpBytes(s.replace(/=\r?\n/g, '')), charset);
}

function splitEntity(raw: string): Entity {
  const m = /^\r?\n/.exec(raw) ?? /\r?\n\r?\n/.exec(raw); // no headers: the body starts at once
  const head = m ? raw.slice(0, m.index) : raw;
  const body = m ? raw.slice(m.index + m[0].length) : '';
  const headers: Record<string, string> = {};
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    if (!(name in headers)) headers[name] = line.slice(i + 1).trim();
  }
  return { headers, body };
}

/** `text/plain; charset=utf-8; boundary="x"` -> { type: 'text/plain', params: { charset, boundary } } */
function contentType(value: string | undefined): { type: string; params: Record<string, string> } {
  const [type = 'text/plain', ...rest] = (value ?? 'text/plain').split(';');
  const params: Record<string, string> = {};
  for (const p of rest) {
    const i = p.indexOf('=');
    if (i < 0) continue;
    params[p.slice(0, i).trim().toLowerCase()] = p.slice(i + 1).trim().replace(/^"(.*)"$/, '$1');
  }
  return { type: type.trim().toLowerCase(), params };
}

function decodeBody(e: Entity, charset: string): string {
  const cte = (e.headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  if (cte === 'quoted-printable') return decodeQuotedPrintable(e.body, charset);
  if (cte === 'base64') return decodeBytes(Buffer.from(e.body.replace(/\s+/g, ''), 'base64'), charset);
  return decodeBytes(Buffer.from(e.body, 'latin1'), charset);
}

/** The text/plain and text/html leaves of a message (the first of each, attachments skipped). */
function bodies(e: Entity, found: { text: string | null; html: string | null }): void {
  const ct = contentType(e.headers['content-type']);
  if (ct.type.startsWith('multipart/') && ct.params.boundary) {
    const delimiter = `--${ct.params.boundary}`;
    let current: string[] | null = null; // lines of the part being read; null outside parts
    for (const line of e.body.split(/\r?\n/)) {
      const t = line.trimEnd();
      if (t === delimiter || t === `${delimiter}--`) {
        if (current) bodies(splitEntity(current.join('\r\n')), found);
        if (t !== delimiter) return; // closing delimiter: the rest is the epilogue
        current = [];
      } else if (current) current.push(line);
    }
    if (current) bodies(splitEntity(current.join('\r\n')), found); // no closing delimiter
    return;
  }
  if (/^attachment/i.test(e.headers['content-disposition'] ?? '')) return;
  if (ct.type === 'text/plain' && found.text === null) found.text = decodeBody(e, ct.params.charset ?? 'utf-8');
  else if (ct.type === 'text/html' && found.html === null) found.html = decodeBody(e, ct.params.charset ?? 'utf-8');
}

/** Parse a raw RFC 5322 message (as received over SMTP; a string is taken as UTF-8). */
export function parseMessage(message: Buffer | string, envelope: { from: string; to: string[] } = { from: '', to: [] }): CapturedMail {
  const bytes = typeof message === 'string' ? Buffer.from(message, 'utf8') : message;
  const raw = bytes.toString('utf8');
  // parse a binary string (one char per byte) so each part decodes with its own charset
  const top = splitEntity(bytes.toString('latin1'));
  const headers = Object.fromEntries(Object.entries(top.headers).map(([k, v]) => [k, decodeEncodedWords(Buffer.from(v, 'latin1').toString('utf8'))]));
  const found = { text: null as string | null, html: null as string | null };
  // a single-part message ends with the line break that precedes SMTP's terminating "."; in a
  // multipart message the part delimiter takes that line break
  bodies(contentType(top.headers['content-type']).type.startsWith('multipart/') ? top : { ...top, body: top.body.replace(/\r?\n$/, '') }, found);
  return {
    from: envelope.from,
    to: envelope.to,
    subject: headers.subject ?? '',
    text: (found.text ?? '').replace(/\r\n/g, '\n'),
    html: found.html === null ? null : found.html.replace(/\r\n/g, '\n'),
    headers,
    raw,
    receivedAt: new Date(),
  };
}

// ------------------------------------------------------------------------------ server

export async function startSmtpCapture(): Promise<SmtpCapture> {
  const messages: CapturedMail[] = [];
  const waiters = new Set<{ predicate: (m: CapturedMail) => boolean; resolve: (m: CapturedMail) => void }>();

  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    closeTimeout: 200,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('error', callback);
      stream.on('end', () => {
        const mail = parseMessage(Buffer.concat(chunks), { from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) });
        messages.push(mail);
        for (const w of [...waiters]) {
          if (w.predicate(mail)) {
            waiters.delete(w);
            w.resolve(mail);
          }
        }
        callback(null, 'Message captured');
      });
    },
  });
  server.on('error', () => undefined); // a client dropping mid-session is not a test failure

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.server.address() as AddressInfo;

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    waitFor(predicate = () => true, timeoutMs = 5000) {
      const already = messages.find(predicate);
      if (already) return Promise.resolve(already);
      return new Promise<CapturedMail>((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (m: CapturedMail) => {
            clearTimeout(timer);
            resolve(m);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          const got = messages.map((m) => JSON.stringify(m.subject)).join(', ') || 'none';
          reject(new Error(`no matching email within ${timeoutMs} ms (received: ${got})`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    clear() {
      messages.length = 0;
    },
    close() {
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
