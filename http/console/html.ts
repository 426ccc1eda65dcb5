/**
 * HTML built from template literals with escaping by default. Every interpolated value is
 * escaped unless it is already `Html` (the result of another `html` template or of `raw` for
 * trusted constant markup); arrays are joined; null, undefined and false render nothing.
 * Names, messages and ids from providers or tenants can hold `<script>`: they never reach the
 * page unescaped.
 */
import { escapeHtml } from '../../domain/shared/html';

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}


export type Interpolation = Html | string | number | bigint | boolean | null | undefined | readonly Interpolation[];

function render(v: Interpolation): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  // a tagged template has one more string than values: each value follows the string before it
  return new Html(strings.map((s, i) => (i === 0 ? s : render(values[i - 1]) + s)).join(''));
}

/** Trusted markup (constants only, never data). */
export function raw(markup: string): Html {
  return new Html(markup);
}

/** A URL for an href: only http(s) and site-relative URLs pass; anything else (javascript:) becomes '#'. */
export function safeUrl(url: string | null | undefined): string {
  if (!url) return '#';
  if (url.startsWith('/') && !url.startsWith('//')) return url;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : '#';
  } catch {
    return '#';
  }
}
