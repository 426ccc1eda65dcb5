/**
 * The console's stylesheet and its one script (progressive enhancement: live status through
 * EventSource, and forms marked data-enhance posted without leaving the page). Pages work without
 * the script: every form is a plain POST that redirects back.
 */
export const CONSOLE_CSS = `
:root { color-scheme: light; --fg: #1a1a1a; --muted: #4a4a4a; --bg: #fff; --line: #c8c8c8; --accent: #0b4f9c; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #f0a800; outline-offset: 2px; }
.skip { position: absolute; left: -999px; top: 0; background: #fff; padding: .5em; }
.skip:focus { left: .5em; }
header.top { display: flex; flex-wrap: wrap; gap: 1em; align-items: center; padding: .6em 1.2em; background: #14213d; color: #fff; }
header.top a { color: #fff; }
header.top nav ul { display: flex; gap: 1em; list-style: none; margin: 0; padding: 0; }
header.top nav a[aria-current="page"] { font-weight: 700; text-decoration-thickness: 3px; }
header.top .who { margin-left: auto; display: flex; gap: .8em; align-items: center; }
main { padding: 1em 1.2em 3em; max-width: 1200px; }
h1 { font-size: 1.5em; margin: .3em 0 .6em; }
h2 { font-size: 1.15em; margin: 1.4em 0 .5em; }
table { border-collapse: collapse; width: 100%; margin: .5em 0; }
th, td { text-align: left; padding: .4em .5em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.badge { display: inline-block; padding: .05em .55em; border-radius: 1em; font-size: .85em; font-weight: 600; border: 1px solid; white-space: nowrap; }
.badge.succeeded, .badge.paid, .badge.active, .badge.payment_associated { color: #0a5c1f; background: #e6f4ea; border-color: #0a5c1f; }
.badge.failed, .badge.needs_attention, .badge.past_due, .badge.unpaid, .badge.suspended, .badge.disputed { color: #8a1010; background: #fdecea; border-color: #8a1010; }
.badge.pending, .badge.action_required, .badge.open, .badge.in_crm, .badge.requested, .badge.incomplete { color: #6b4a00; background: #fff4d6; border-color: #6b4a00; }
.badge.refunded, .badge.void, .badge.cancelled, .badge.canceled { color: #333; background: #eee; border-color: #555; }
form.filters { display: flex; flex-wrap: wrap; gap: .8em; align-items: flex-end; margin-bottom: 1em; }
form.filters label { display: flex; flex-direction: column; font-size: .9em; color: var(--muted); }
input, select, button { font: inherit; padding: .3em .5em; border: 1px solid #767676; border-radius: 4px; background: #fff; color: var(--fg); }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
button.secondary { background: #fff; color: var(--accent); }
.notice { padding: .6em .8em; border-left: 4px solid var(--accent); background: #eef4fb; margin: .6em 0; }
.error { padding: .6em .8em; border-left: 4px solid #8a1010; background: #fdecea; margin: .6em 0; }
.muted { color: var(--muted); }
ol.timeline { list-style: none; padding: 0; border-left: 3px solid var(--line); margin-left: .5em; }
ol.timeline li { margin: 0 0 1em; padding-left: 1em; position: relative; }
ol.timeline li::before { content: ""; position: absolute; left: -.5em; top: .45em; width: .7em; height: .7em; border-radius: 50%; background: var(--accent); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3em 1.2em; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
.pipeline { display: flex; flex-wrap: wrap; gap: .5em; list-style: none; padding: 0; }
.pipeline a { display: block; padding: .4em .8em; border: 1px solid var(--line); border-radius: 4px; text-decoration: none; }
.pipeline a[aria-current="true"] { border-color: var(--accent); font-weight: 700; }
code { font-size: .9em; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 1em 2em; }
.charts figure { margin: 0; }
.charts figcaption { font-weight: 600; margin: .2em 0; }
svg.chart { width: 100%; max-width: 640px; height: auto; font-size: 11px; }
svg.chart text { fill: var(--fg); }
svg.chart .tick { fill: var(--muted); }
svg.chart .axis { stroke: #767676; }
svg.chart .s0 { fill: #0b4f9c; }
svg.chart .s1 { fill: #b3261e; }
svg.chart .s2 { fill: #8a6d00; }
details.numbers summary { cursor: pointer; color: var(--accent); }
`;

export const CONSOLE_JS = `(function () {
  'use strict';
  function live(el) {
    if (!window.EventSource) return;
    var es = new EventSource(el.getAttribute('data-live'));
    es.addEventListener('status', function (ev) {
      var view = JSON.parse(ev.data);
      if (typeof view.html === 'string') el.innerHTML = view.html;
      el.setAttribute('data-live-updates', String(Number(el.getAttribute('data-live-updates') || '0') + 1));
    });
    // the server ended the stream (session over, key revoked, link expired): do not reconnect
    es.addEventListener('end', function () {
      es.close();
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll('[data-live]'), live);
  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form || !form.hasAttribute || !form.hasAttribute('data-enhance') || !window.fetch) return;
    e.preventDefault();
    var out = document.getElementById('action-result');
    var button = form.querySelector('button');
    if (button) button.disabled = true;
    fetch(form.action, { method: 'POST', body: new URLSearchParams(new FormData(form)), headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (r) { if (out) { out.className = r.ok ? 'notice' : 'error'; out.textContent = r.body.message || r.body.detail || (r.ok ? 'Done.' : 'Failed.'); } })
      .catch(function () { if (out) { out.className = 'error'; out.textContent = 'The request failed; reload the page.'; } })
      .then(function () { if (button) button.disabled = false; });
  });
})();
`;
