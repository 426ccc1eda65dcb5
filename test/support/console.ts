/**
 * Test helpers for the admin console over plain HTTP: a cookie-keeping form client (sign-in with
 * the pre-session CSRF token, the session's CSRF token from pages) and a server-sent events reader.
 */
export class ConsoleClient {
  readonly cookies = new Map<string, string>();
  constructor(readonly baseUrl: string) {}

  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keep(r: Response): void {
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const k = pair!.slice(0, i);
      const v = pair!.slice(i + 1);
      if (/Max-Age=0/i.test(c) || v === '') this.cookies.delete(k);
      else this.cookies.set(k, v);
    }
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string; location: string | null; headers: Headers }> {
    const r = await fetch(`${this.baseUrl}${path}`, { headers: { cookie: this.cookieHeader(), ...headers }, redirect: 'manual' });
    this.keep(r);
    return { status: r.status, text: await r.text(), location: r.headers.get('location'), headers: r.headers };
  }

  async post(path: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; text: string; location: string | null; headers: Headers }> {
    const r = await fetch(`${this.baseUrl}${path}`, {
      method: 'POST',
      headers: { cookie: this.cookieHeader(), 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
      redirect: 'manual',
    });
    this.keep(r);
    return { status: r.status, text: await r.text(), location: r.headers.get('location'), headers: r.headers };
  }

  /** The CSRF token in a page's forms. */
  static csrfOf(page: string): string {
    const m = /name="_csrf" value="([^"]+)"/.exec(page);
    if (!m) throw new Error('no CSRF token on the page');
    return m[1]!;
  }

  async signIn(key: string): Promise<{ status: number; location: string | null; text: string; headers: Headers }> {
    const form = await this.get('/admin/sign-in');
    return this.post('/admin/sign-in', { _csrf: ConsoleClient.csrfOf(form.text), key, next: '/admin/payments' });
  }

  async csrf(): Promise<string> {
    return ConsoleClient.csrfOf((await this.get('/admin/payments')).text);
  }
}

export interface SseEvent {
  event: string | null;
  id: string | null;
  data: string;
  comment: boolean;
}

/** Reads a server-sent events stream; `next()` waits for the next event or comment. */
export async function openSse(url: string, headers: Record<string, string> = {}): Promise<{ status: number; next(timeoutMs?: number): Promise<SseEvent>; close(): void }> {
  const abort = new AbortController();
  const r = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const reader = r.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const queue: SseEvent[] = [];
  async function fill(deadline: number): Promise<void> {
    while (queue.length === 0) {
      const sep = buf.indexOf('\n\n');
      if (sep >= 0) {
        const block = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        const ev: SseEvent = { event: null, id: null, data: '', comment: false };
        let any = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) ev.comment = true;
          else if (line.startsWith('event: ')) {
            ev.event = line.slice(7);
            any = true;
          } else if (line.startsWith('id: ')) {
            ev.id = line.slice(4);
            any = true;
          } else if (line.startsWith('data: ')) {
            ev.data += line.slice(6);
            any = true;
          }
        }
        if (any || ev.comment) queue.push(ev);
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no server-sent event in time');
      let timer: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([reader.read(), new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('no server-sent event in time')), left)))]).finally(() => clearTimeout(timer));
      if (chunk.done) throw new Error('stream ended');
      buf += decoder.decode(chunk.value, { stream: true });
    }
  }
  return {
    status: r.status,
    async next(timeoutMs = 10_000) {
      await fill(Date.now() + timeoutMs);
      return queue.shift()!;
    },
    close: () => abort.abort(),
  };
}
