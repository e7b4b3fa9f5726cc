// The status page at `/`: static HTML with an inline script that reads /stats every few seconds,
// headed by the configuration's warnings if any. No external assets (the page works offline and
// under a strict CSP); every figure has a data-field attribute so tests can read it.

import { html } from 'hono/html';
import { STATUS_PAGE_SCRIPT } from './script.js';
import { STATUS_PAGE_STYLE } from './style.js';

export const REFRESH_MS = 3_000;

const WARNINGS_MARK = '<!--warnings-->';

/** The page, with a panel listing `warnings` (the edge config's) when there are any. */
export function statusPageHtml(warnings: readonly string[]): string {
  if (warnings.length === 0) return STATUS_PAGE_HTML;
  const panel = String(html`<section class="panel warn" data-field="warnings"><h2>Configuration warnings</h2><ul>${warnings.map((warning) => html`<li>${warning}</li>`)}</ul></section>`);
  return STATUS_PAGE_HTML.replace(WARNINGS_MARK, () => panel);
}

const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>FastReg status</title>
<style>${STATUS_PAGE_STYLE}</style>
</head>
<body>
<header>
  <h1>FastReg</h1>
  <p class="sub">pull-through mirror &middot; <span data-field="state">loading…</span> &middot; counting since <span data-field="since">–</span></p>
</header>
<main>
  ${WARNINGS_MARK}
  <section class="cards">
    <div class="card"><h2>Hit ratio</h2><p class="big" data-field="hit-ratio">–</p><p class="note"><span data-field="cached">–</span> cached / <span data-field="total">–</span> manifest + blob requests</p></div>
    <div class="card"><h2>Upstream bytes saved</h2><p class="big" data-field="bytes-saved">–</p><p class="note" data-field="bytes-saved-exact">–</p></div>
    <div class="card"><h2>Active leases</h2><p class="big" data-field="active-leases">–</p><p class="note">granted <span data-field="leases-granted">–</span> &middot; waited <span data-field="leases-waited">–</span> &middot; taken over <span data-field="leases-takeover">–</span></p></div>
    <div class="card"><h2>Sidecars online</h2><p class="big" data-field="sidecars-online">–</p><p class="note">digest failures <span data-field="digest-failures">–</span></p></div>
  </section>
  <section class="panel">
    <h2>Hit ratio over time <span class="note">(per minute, last hour)</span></h2>
    <div class="spark">
      <div class="axis"><span>100%</span><span>50%</span><span>0%</span></div>
      <svg data-field="sparkline" viewBox="0 0 600 120" preserveAspectRatio="none" role="img" aria-label="hit ratio per minute"></svg>
    </div>
    <p class="note" data-field="spark-range">no manifest or blob requests yet</p>
  </section>
  <section class="panel">
    <h2>Upstream quota left</h2>
    <table><thead><tr><th>registry</th><th>ratelimit remaining</th><th>limit</th><th>requests</th><th>errors</th><th>bytes read</th><th>reported</th></tr></thead>
    <tbody data-field="upstreams"><tr><td colspan="7" class="note">no upstream requests yet</td></tr></tbody></table>
  </section>
  <section class="panel">
    <h2>Sidecars</h2>
    <table><thead><tr><th>id</th><th>resource</th><th>site</th><th>endpoint</th><th>record expires</th></tr></thead>
    <tbody data-field="sidecars"><tr><td colspan="5" class="note">no sidecars registered</td></tr></tbody></table>
  </section>
</main>
<footer><p class="note">Refreshes every ${REFRESH_MS / 1000} s from <a href="/stats">/stats</a> &middot; Prometheus: <a href="/metrics">/metrics</a></p></footer>
<script>${STATUS_PAGE_SCRIPT.replace('__REFRESH_MS__', String(REFRESH_MS))}</script>
</body>
</html>
`;
