import { DurableObject } from 'cloudflare:workers';
import type { CounterDelta, DeltaBatch, GaugeReading, HistogramDelta } from '../workers/shared/metrics-wire/deltas.js';

/** One minute of history for the status page's "hit ratio over time". */
export interface MinuteSample {
  /** Start of the minute, ms since epoch. */
  at: number;
  /** Registry requests answered from the edge cache (R2). */
  cached: number;
  /** Registry requests answered by streaming from the upstream. */
  upstream: number;
  bytesAvoided: number;
}

export interface EdgeMetricsSnapshot {
  since: string;
  counters: CounterDelta[];
  histograms: HistogramDelta[];
  gauges: GaugeReading[];
  history: MinuteSample[];
}

/** Minutes of history kept. */
export const HISTORY_MINUTES = 60;
const MINUTE_MS = 60_000;

/**
 * The edge's metrics, summed across isolates: one instance (`getByName('global')`), SQLite-backed.
 * Isolates send batches of deltas every few seconds (workers/metrics/flush.ts), never one RPC per
 * request; /metrics and /stats read the totals.
 */
export class EdgeMetrics extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
      this.sql.exec(`CREATE TABLE IF NOT EXISTS counters (name TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (name, labels))`);
      this.sql.exec(`CREATE TABLE IF NOT EXISTS histograms (name TEXT NOT NULL, labels TEXT NOT NULL, counts TEXT NOT NULL, sum REAL NOT NULL, PRIMARY KEY (name, labels))`);
      this.sql.exec(`CREATE TABLE IF NOT EXISTS gauges (name TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (name, labels))`);
      this.sql.exec(`CREATE TABLE IF NOT EXISTS history (at INTEGER PRIMARY KEY, cached INTEGER NOT NULL, upstream INTEGER NOT NULL, bytes_avoided REAL NOT NULL)`);
      this.sql.exec(`INSERT OR IGNORE INTO meta (key, value) VALUES ('since', ?)`, new Date().toISOString());
    });
  }

  /** Merges one isolate's deltas. */
  ingest(batch: DeltaBatch): { series: number } {
    let cached = 0;
    let upstream = 0;
    let bytesAvoided = 0;
    for (const c of batch.counters) {
      this.sql.exec(
        `INSERT INTO counters (name, labels, value) VALUES (?, ?, ?) ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value`,
        c.name,
        labelsKey(c.labels),
        c.value,
      );
      if (c.name === 'fastreg_edge_requests_total' && c.labels.route !== undefined && REGISTRY_ROUTES.has(c.labels.route)) {
        if (c.labels.source === 'r2') cached += c.value;
        else if (c.labels.source === 'upstream') upstream += c.value;
      }
      if (c.name === 'fastreg_upstream_bytes_avoided_total') bytesAvoided += c.value;
    }
    for (const h of batch.histograms) {
      const key = labelsKey(h.labels);
      const row = this.sql.exec<{ counts: string; sum: number }>(`SELECT counts, sum FROM histograms WHERE name = ? AND labels = ?`, h.name, key).toArray()[0];
      const counts = row ? (JSON.parse(row.counts) as number[]) : new Array<number>(h.counts.length).fill(0);
      h.counts.forEach((n, i) => (counts[i] = (counts[i] ?? 0) + n));
      this.sql.exec(`INSERT OR REPLACE INTO histograms (name, labels, counts, sum) VALUES (?, ?, ?, ?)`, h.name, key, JSON.stringify(counts), (row?.sum ?? 0) + h.sum);
    }
    for (const g of batch.gauges) {
      this.sql.exec(
        `INSERT INTO gauges (name, labels, value, at) VALUES (?, ?, ?, ?) ON CONFLICT (name, labels) DO UPDATE SET value = excluded.value, at = excluded.at WHERE excluded.at >= gauges.at`,
        g.name,
        labelsKey(g.labels),
        g.value,
        g.at,
      );
    }
    if (cached || upstream || bytesAvoided) {
      const minute = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS;
      this.sql.exec(
        `INSERT INTO history (at, cached, upstream, bytes_avoided) VALUES (?, ?, ?, ?)
         ON CONFLICT (at) DO UPDATE SET cached = cached + excluded.cached, upstream = upstream + excluded.upstream, bytes_avoided = bytes_avoided + excluded.bytes_avoided`,
        minute,
        cached,
        upstream,
        bytesAvoided,
      );
      this.sql.exec(`DELETE FROM history WHERE at <= ?`, minute - HISTORY_MINUTES * MINUTE_MS);
    }
    return { series: batch.counters.length + batch.histograms.length + batch.gauges.length };
  }

  snapshot(): EdgeMetricsSnapshot {
    const since = this.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = 'since'`).one().value;
    const counters = this.sql
      .exec<{ name: string; labels: string; value: number }>(`SELECT name, labels, value FROM counters ORDER BY name, labels`)
      .toArray()
      .map((r) => ({ name: r.name, labels: JSON.parse(r.labels), value: r.value }) as CounterDelta);
    const histograms = this.sql
      .exec<{ name: string; labels: string; counts: string; sum: number }>(`SELECT name, labels, counts, sum FROM histograms ORDER BY name, labels`)
      .toArray()
      .map((r) => ({ name: r.name, labels: JSON.parse(r.labels), counts: JSON.parse(r.counts), sum: r.sum }) as HistogramDelta);
    const gauges = this.sql
      .exec<{ name: string; labels: string; value: number; at: number }>(`SELECT name, labels, value, at FROM gauges ORDER BY name, labels`)
      .toArray()
      .map((r) => ({ name: r.name, labels: JSON.parse(r.labels), value: r.value, at: r.at }) as GaugeReading);
    const history = this.sql
      .exec<{ at: number; cached: number; upstream: number; bytes_avoided: number }>(`SELECT at, cached, upstream, bytes_avoided FROM history ORDER BY at`)
      .toArray()
      .map((r) => ({ at: r.at, cached: r.cached, upstream: r.upstream, bytesAvoided: r.bytes_avoided }));
    return { since, counters, histograms, gauges, history };
  }
}

/** Routes whose answers count towards the cache hit ratio. */
export const REGISTRY_ROUTES = new Set(['manifest', 'blob']);

function labelsKey(labels: Record<string, string>): string {
  return JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))));
}
