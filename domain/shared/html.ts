/**
 * The one HTML escaper: text for an HTML text node or a quoted attribute value, in every page and
 * mail Settle renders (the console's `html` template, the payer page's plain pages, the operator
 * e-mail). Names, messages and ids from providers or tenants can hold `<script>`: they never reach
 * markup unescaped.
 */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ENTITIES[c] ?? c);
}
