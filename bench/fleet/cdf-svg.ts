import { KRAKEN } from './comparison.js';

// A completion-time CDF: one line per variant, with Kraken's published p50/p99/p99.9 as dots.

export interface CdfLine {
  label: string;
  /** Sorted completion times (s). */
  seconds: number[];
}

const COLORS = ['#1f6fb2', '#d04437', '#2e9d4f', '#8a4fbf'];

export function cdfSvg(title: string, lines: CdfLine[]): string {
  const width = 640;
  const height = 360;
  const left = 60;
  const right = 20;
  const top = 40;
  const bottom = 50;
  const maxX = niceCeiling(Math.max(KRAKEN.p999, ...lines.flatMap((l) => l.seconds)));
  const x = (s: number) => left + (s / maxX) * (width - left - right);
  const y = (f: number) => top + (1 - f) * (height - top - bottom);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<line x1="${left}" y1="${y(0)}" x2="${width - right}" y2="${y(0)}" stroke="#000"/>`,
    `<line x1="${left}" y1="${y(0)}" x2="${left}" y2="${y(1)}" stroke="#000"/>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const f = i / 4;
    parts.push(`<text x="${left - 6}" y="${y(f) + 4}" text-anchor="end">${f.toFixed(2)}</text>`);
    const s = (maxX * i) / 4;
    parts.push(`<text x="${x(s)}" y="${y(0) + 16}" text-anchor="middle">${formatSeconds(s)}</text>`);
  }
  parts.push(`<text x="${(left + width - right) / 2}" y="${height - 12}" text-anchor="middle">seconds from a host's start to its last layer</text>`);
  lines.forEach((line, i) => {
    const n = line.seconds.length;
    const points = line.seconds.flatMap((s, k) => [`${x(s).toFixed(1)},${y(k / n).toFixed(1)}`, `${x(s).toFixed(1)},${y((k + 1) / n).toFixed(1)}`]);
    const color = COLORS[i % COLORS.length]!;
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`);
    parts.push(`<text x="${left + 10}" y="${top + 14 + i * 16}" fill="${color}">${esc(line.label)}</text>`);
  });
  for (const [s, f] of [[KRAKEN.p50, 0.5], [KRAKEN.p99, 0.99], [KRAKEN.p999, 0.999]] as const) parts.push(`<circle cx="${x(s)}" cy="${y(f)}" r="4" fill="#000"/>`);
  parts.push(`<text x="${left + 10}" y="${top + 14 + lines.length * 16}">● Kraken's published p50 / p99 / p99.9</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function niceCeiling(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((v) => v >= value) ?? value;
}

const formatSeconds = (s: number) => (s >= 100 ? s.toFixed(0) : s.toFixed(s >= 10 ? 0 : 1));
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
