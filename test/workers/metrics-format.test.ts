import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { DURATION_BOUNDS } from '../../workers/shared/metrics-wire/catalog.js';
import { DeltaFlusher } from '../../workers/metrics/flush.js';
import { parsePrometheus, sumSamples } from '../../workers/shared/metrics-wire/parse.js';
import { formatPrometheus } from '../../workers/shared/metrics-wire/prometheus.js';
import type { DeltaBatch } from '../../workers/shared/metrics-wire/deltas.js';
import { MetricRecorder } from '../../workers/metrics/recorder.js';

describe('Prometheus formatter', () => {
  it('writes HELP/TYPE lines, sorted labels and escaped label values that parse back', () => {
    const text = formatPrometheus([
      {
        name: 'x_total',
        help: 'a help with \\ backslash\nand newline',
        type: 'counter',
        samples: [{ labels: { z: 'last', a: 'quote " back \\ nl \n end' }, value: 3 }],
      },
      { name: 'g', help: 'gauge', type: 'gauge', samples: [{ labels: {}, value: 1.5 }] },
    ]);
    expect(text).toContain('# HELP x_total a help with \\\\ backslash\\nand newline\n# TYPE x_total counter\n');
    expect(text).toContain('x_total{a="quote \\" back \\\\ nl \\n end",z="last"} 3\n');
    expect(text).toContain('# TYPE g gauge\ng 1.5\n');
    const parsed = parsePrometheus(text);
    expect(parsed).toEqual([
      { name: 'x_total', labels: { a: 'quote " back \\ nl \n end', z: 'last' }, value: 3 },
      { name: 'g', labels: {}, value: 1.5 },
    ]);
  });

  it('writes histograms as cumulative _bucket with +Inf, _sum and _count', () => {
    const text = formatPrometheus([
      { name: 'd_seconds', help: 'h', type: 'histogram', samples: [{ labels: { route: 'blob' }, bounds: [0.1, 1], counts: [2, 1, 4], sum: 12.5 }] },
    ]);
    expect(text).toBe(
      [
        '# HELP d_seconds h',
        '# TYPE d_seconds histogram',
        'd_seconds_bucket{le="0.1",route="blob"} 2',
        'd_seconds_bucket{le="1",route="blob"} 3',
        'd_seconds_bucket{le="+Inf",route="blob"} 7',
        'd_seconds_sum{route="blob"} 12.5',
        'd_seconds_count{route="blob"} 7',
        '',
      ].join('\n'),
    );
    expect(sumSamples(parsePrometheus(text), 'd_seconds_bucket', { le: '+Inf' })).toBe(7);
  });

  it('rejects invalid metric and label names; the parser rejects garbage', () => {
    expect(() => formatPrometheus([{ name: 'bad-name', help: '', type: 'gauge', samples: [] }])).toThrow(/invalid metric name/);
    expect(() => formatPrometheus([{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': 'x' }, value: 1 }] }])).toThrow(/invalid label name/);
    expect(() => parsePrometheus('not a metric line at all {')).toThrow();
    expect(() => parsePrometheus('m{a="unterminated} 1')).toThrow();
    expect(() => parsePrometheus('m 12abc')).toThrow(/bad value/);
  });

  it('reads NaN and Inf in any case, as prom-client prints them (a sidecar page with `Nan` parses)', () => {
    const samples = parsePrometheus(['lag_seconds Nan', 'a NaN', 'b +Inf', 'c -inf', 'd 1.5e3'].join('\n'));
    expect(samples.map((s) => s.value)).toEqual([NaN, NaN, Infinity, -Infinity, 1500]);
  });
});

describe('MetricRecorder', () => {
  it('sums counters per series, buckets durations, keeps the newest gauge, and restores failed batches', () => {
    const recorder = new MetricRecorder();
    recorder.add('fastreg_edge_requests_total', { route: 'blob', status: '200', source: 'r2' });
    recorder.add('fastreg_edge_requests_total', { source: 'r2', status: '200', route: 'blob' }, 2);
    recorder.observe('fastreg_edge_request_duration_seconds', { route: 'blob' }, 0.02);
    recorder.observe('fastreg_edge_request_duration_seconds', { route: 'blob' }, 100);
    recorder.setGauge('fastreg_upstream_ratelimit_remaining', { registry: 'docker.io' }, 5, 2000);
    expect(recorder.size).toBe(3);
    const batch = recorder.take();
    expect(recorder.size).toBe(0);
    expect(batch.counters).toEqual([{ name: 'fastreg_edge_requests_total', labels: { route: 'blob', status: '200', source: 'r2' }, value: 3 }]);
    const histogram = batch.histograms[0]!;
    expect(histogram.counts).toHaveLength(DURATION_BOUNDS.length + 1);
    expect(histogram.counts[DURATION_BOUNDS.indexOf(0.025)]).toBe(1);
    expect(histogram.counts[DURATION_BOUNDS.length]).toBe(1);
    recorder.setGauge('fastreg_upstream_ratelimit_remaining', { registry: 'docker.io' }, 9, 3000);
    recorder.restore(batch);
    const again = recorder.take();
    expect(again.counters[0]!.value).toBe(3);
    expect(again.gauges[0]!.value).toBe(9);
  });
});

describe('DeltaFlusher', () => {
  function setup(options: { fail?: boolean } = {}) {
    let now = 1_000_000;
    const batches: DeltaBatch[] = [];
    const recorder = new MetricRecorder();
    const flusher = new DeltaFlusher(recorder, () => undefined, { intervalMs: 5_000, maxSeries: 50, now: () => now });
    const sink = { ingest: async (batch: DeltaBatch) => { if (options.fail) throw new Error('down'); batches.push(batch); } };
    return { recorder, flusher, sink, batches, advance: (ms: number) => (now += ms) };
  }

  it('makes no RPC per request: 1,000 requests within the interval cause one flush', async () => {
    const { recorder, flusher, sink, batches, advance } = setup();
    for (let i = 0; i < 1_000; i++) {
      recorder.add('fastreg_edge_requests_total', { route: 'blob', status: '200', source: 'r2' });
      await flusher.maybeFlush(sink);
      advance(1);
    }
    expect(batches).toHaveLength(1);
    advance(5_000);
    recorder.add('fastreg_edge_requests_total', { route: 'blob', status: '200', source: 'r2' });
    await flusher.maybeFlush(sink);
    expect(batches).toHaveLength(2);
    const total = batches.flatMap((b) => b.counters).filter((c) => c.name === 'fastreg_edge_requests_total').reduce((n, c) => n + c.value, 0);
    expect(total).toBe(1_001);
  });

  it('flushes early when many distinct series are waiting', async () => {
    const { recorder, flusher, sink, batches } = setup();
    await flusher.maybeFlush(sink);
    for (let i = 0; i < 60; i++) recorder.add('fastreg_upstream_bytes_total', { registry: `r${i}.example` });
    await flusher.maybeFlush(sink);
    expect(batches.length).toBe(1);
    expect(batches[0]!.counters.length).toBeGreaterThanOrEqual(60);
  });

  it('keeps the counts of a failed delivery for the next flush', async () => {
    const { recorder, flusher, sink } = setup({ fail: true });
    recorder.add('fastreg_edge_requests_total', { route: 'blob', status: '200', source: 'r2' }, 7);
    await flusher.maybeFlush(sink);
    const kept = recorder.take();
    expect(kept.counters.find((c) => c.name === 'fastreg_edge_requests_total')?.value).toBe(7);
  });
});

describe('EdgeMetrics object', () => {
  it('sums counters across batches, keeps the newest gauge reading and a per-minute history', async () => {
    const stub = env.EDGE_METRICS.getByName(`test-${crypto.randomUUID()}`);
    const counter = (value: number, source: string) => ({ name: 'fastreg_edge_requests_total' as const, labels: { route: 'blob', status: '200', source }, value });
    await stub.ingest({ counters: [counter(3, 'r2'), counter(1, 'upstream')], histograms: [], gauges: [{ name: 'fastreg_upstream_ratelimit_remaining', labels: { registry: 'docker.io' }, value: 50, at: 2000 }] });
    await stub.ingest({
      counters: [counter(2, 'r2')],
      histograms: [{ name: 'fastreg_edge_request_duration_seconds', labels: { route: 'blob' }, counts: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], sum: 70 }],
      gauges: [{ name: 'fastreg_upstream_ratelimit_remaining', labels: { registry: 'docker.io' }, value: 99, at: 1000 }],
    });
    const snapshot = await stub.snapshot();
    expect(snapshot.counters.find((c) => c.labels.source === 'r2')?.value).toBe(5);
    expect(snapshot.gauges[0]?.value).toBe(50);
    expect(snapshot.histograms[0]?.counts.at(-1)).toBe(2);
    expect(snapshot.history).toHaveLength(1);
    expect(snapshot.history[0]).toMatchObject({ cached: 5, upstream: 1 });
  });
});
