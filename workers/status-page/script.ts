// Runs in the browser: plain ES2020, no imports. Renders /stats into the elements marked data-field.
export const STATUS_PAGE_SCRIPT = `
(() => {
  const REFRESH_MS = __REFRESH_MS__;
  const $ = (name) => document.querySelector('[data-field="' + name + '"]');
  const set = (name, text) => { const el = $(name); if (el) el.textContent = text; };
  const fmtInt = (n) => Math.round(n).toLocaleString('en-US');
  const fmtPct = (r) => (r === null || r === undefined ? '–' : (r * 100).toFixed(1) + '%');
  const fmtBytes = (n) => {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + ' ' + units[i];
  };
  const cell = (text) => { const td = document.createElement('td'); td.textContent = text; return td; };
  const rows = (name, items, columns, empty) => {
    const body = $(name);
    body.replaceChildren();
    if (items.length === 0) {
      const tr = document.createElement('tr');
      const td = cell(empty); td.colSpan = columns; td.className = 'note';
      tr.append(td); body.append(tr); return;
    }
    for (const values of items) { const tr = document.createElement('tr'); tr.append(...values.map(cell)); body.append(tr); }
  };
  const sparkline = (history) => {
    const svg = $('sparkline');
    const ns = 'http://www.w3.org/2000/svg';
    svg.replaceChildren();
    const points = history.filter((m) => m.hitRatio !== null);
    const grid = document.createElementNS(ns, 'path');
    grid.setAttribute('d', 'M0 10 H600 M0 60 H600 M0 110 H600');
    grid.setAttribute('stroke', 'currentColor'); grid.setAttribute('stroke-opacity', '0.15'); grid.setAttribute('fill', 'none');
    svg.append(grid);
    if (points.length === 0) return;
    const first = Date.parse(points[0].at);
    const span = Math.max(60000, Date.parse(points[points.length - 1].at) - first);
    const xy = points.map((m) => [points.length === 1 ? 300 : ((Date.parse(m.at) - first) / span) * 590 + 5, 110 - m.hitRatio * 100]);
    // The viewBox is stretched to the panel's width: non-scaling strokes keep lines and dots round.
    const stroke = (el, width) => {
      el.setAttribute('fill', 'none'); el.setAttribute('stroke', 'var(--accent)'); el.setAttribute('stroke-width', width);
      el.setAttribute('stroke-linecap', 'round'); el.setAttribute('stroke-linejoin', 'round'); el.setAttribute('vector-effect', 'non-scaling-stroke');
      svg.append(el);
    };
    if (xy.length > 1) {
      const line = document.createElementNS(ns, 'polyline');
      line.setAttribute('points', xy.map((p) => p[0].toFixed(1) + ',' + p[1].toFixed(1)).join(' '));
      stroke(line, '2.5');
    }
    const dots = document.createElementNS(ns, 'path');
    dots.setAttribute('d', xy.map((p) => 'M' + p[0].toFixed(1) + ' ' + p[1].toFixed(1) + ' h0').join(' '));
    stroke(dots, '8');
    const last = points[points.length - 1];
    set('spark-range', new Date(points[0].at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) + ' – ' +
      new Date(last.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) + ' · last minute ' + fmtPct(last.hitRatio) +
      ' (' + fmtInt(last.cached) + ' of ' + fmtInt(last.cached + last.upstream) + ')');
    svg.dataset.points = String(points.length);
  };
  const render = (stats) => {
    const s = stats.summary;
    set('since', new Date(s.since).toLocaleString());
    set('hit-ratio', fmtPct(s.requests.hitRatio));
    set('cached', fmtInt(s.requests.cached));
    set('total', fmtInt(s.requests.total));
    set('bytes-saved', fmtBytes(s.bytes.upstreamAvoided));
    set('bytes-saved-exact', fmtInt(s.bytes.upstreamAvoided) + ' bytes served from the edge cache');
    set('active-leases', fmtInt(s.leases.active));
    set('leases-granted', fmtInt(s.leases.granted));
    set('leases-waited', fmtInt(s.leases.waited));
    set('leases-takeover', fmtInt(s.leases.takeover));
    set('sidecars-online', fmtInt(s.sidecars.online));
    set('digest-failures', fmtInt(s.digestFailures));
    rows('upstreams', s.upstreams.map((u) => [
      u.registry,
      u.ratelimitRemaining === undefined ? 'not reported' : fmtInt(u.ratelimitRemaining),
      u.ratelimitLimit === undefined ? '–' : fmtInt(u.ratelimitLimit),
      fmtInt(u.requests), fmtInt(u.errors), fmtBytes(u.bytes),
      u.ratelimitUpdatedAt ? new Date(u.ratelimitUpdatedAt).toLocaleTimeString() : '–',
    ]), 7, 'no upstream requests yet');
    rows('sidecars', s.sidecars.list.map((x) => [x.id, x.resource, x.site || 'unknown', x.endpoint || '–', new Date(x.expiresAt).toLocaleTimeString()]), 5, 'no sidecars registered');
    sparkline(s.history);
  };
  const refresh = async () => {
    try {
      const res = await fetch('/stats', { cache: 'no-store' });
      if (!res.ok) throw new Error('GET /stats: ' + res.status);
      render(await res.json());
      set('state', 'updated ' + new Date().toLocaleTimeString());
      $('state').className = '';
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    } catch (err) {
      set('state', 'cannot reach /stats (' + err.message + ')');
      $('state').className = 'stale';
    }
  };
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
`;
