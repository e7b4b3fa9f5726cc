export const STATUS_PAGE_STYLE = `
:root { color-scheme: light dark; --bg: #f6f7f9; --fg: #1d2330; --muted: #667085; --card: #fff; --line: #d9dde4; --accent: #2563eb; }
@media (prefers-color-scheme: dark) { :root { --bg: #11151c; --fg: #e6e9ef; --muted: #98a2b3; --card: #1a202a; --line: #2c3442; --accent: #60a5fa; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
header, main, footer { max-width: 1040px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 20px; }
h1 { margin: 0; font-size: 24px; }
h2 { margin: 0 0 8px; font-size: 14px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.sub, .note { color: var(--muted); font-size: 13px; margin: 4px 0 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 14px; margin: 18px 0; }
.card, .panel { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
.panel { margin-bottom: 14px; }
.big { font-size: 32px; font-weight: 650; margin: 0; font-variant-numeric: tabular-nums; }
.spark { display: flex; gap: 8px; }
.axis { display: flex; flex-direction: column; justify-content: space-between; padding: 2px 0; font-size: 11px; color: var(--muted); text-align: right; min-width: 34px; }
svg { flex: 1; width: 100%; height: 120px; display: block; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); font-size: 13px; }
th { color: var(--muted); font-weight: 600; }
footer { padding-bottom: 24px; }
a { color: var(--accent); }
.stale { color: #b42318; }
.warn { margin-top: 18px; border-color: #b42318; }
.warn ul { margin: 0; padding-left: 20px; }
`;
