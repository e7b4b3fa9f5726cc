import { Command, Option } from 'commander';
import { parsePrometheus, sumSamples, type ParsedSample } from '../../workers/shared/metrics-wire/parse.js';
import type { StatusSummary } from '../../workers/shared/metrics-wire/summary-types.js';
import { EdgeClient } from '../edge/edge-client.js';
import { EdgeHttpError, EdgeUnreachableError, CliError } from '../errors.js';
import { formatSize } from '../sizes.js';
import { printJson, printTable } from './output.js';
import { edgeOption, tokenOption, type EdgeOptions } from './arguments.js';

interface StatusOptions extends EdgeOptions {
  sidecar?: string;
  json?: boolean;
}

export interface SidecarFigures {
  url: string;
  peers: number;
  storeBytes: number;
  storeBlobs: number;
  evictions: number;
  p2pBytesIn: number;
  p2pBytesOut: number;
  digestFailures: number;
  /** HTTP bridge blob requests by source (local, p2p, edge). */
  requestsBySource: Record<string, number>;
}

/** `fastreg status`: the status page's summary in the terminal. */
export function statusCommand(): Command {
  return new Command('status')
    .description("Show the mirror's summary: hit ratio, bytes saved, leases, sidecars online, upstream quota left")
    .addOption(edgeOption())
    .addOption(new Option('--sidecar <url>', "also show this sidecar's figures (its HTTP bridge URL)").env('FASTREG_SIDECAR'))
    .addOption(tokenOption('bearer token, needed when the edge has PULL_ACCESS=token'))
    .option('--json', 'print JSON instead of tables')
    .action(async (options: StatusOptions) => {
      const summary = await fetchSummary(options);
      const sidecar = options.sidecar ? await fetchSidecar(options.sidecar) : undefined;
      if (options.json) printJson({ edge: options.edge, summary, ...(sidecar && { sidecar }) });
      else printSummary(summary, sidecar);
    });
}

async function fetchSummary(options: StatusOptions): Promise<StatusSummary> {
  let client: EdgeClient;
  try {
    client = new EdgeClient({ baseUrl: options.edge, token: options.token, timeoutMs: 10_000, userAgent: 'fastreg-status' });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  try {
    const body = await client.json<{ summary?: StatusSummary }>('GET', '/stats');
    if (!body?.summary) throw new CliError(`edge at ${client.baseUrl} answered /stats without a summary (an older edge?)`);
    return body.summary;
  } catch (err) {
    if (err instanceof EdgeUnreachableError) throw new CliError(err.message);
    if (err instanceof EdgeHttpError) throw new CliError(`edge answered GET /stats with ${err.status} ${err.code}: ${err.message}`);
    throw err;
  }
}

async function fetchSidecar(url: string): Promise<SidecarFigures> {
  let samples: ParsedSample[];
  const base = url.replace(/\/+$/, '');
  try {
    const response = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new CliError(`sidecar at ${base} answered GET /metrics with ${response.status}`);
    samples = parsePrometheus(await response.text());
  } catch (err) {
    if (err instanceof CliError) throw err;
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new CliError(`cannot reach the sidecar at ${base}: ${cause ?? (err as Error).message}`);
  }
  const value = (name: string) => sumSamples(samples, name);
  const requestsBySource: Record<string, number> = {};
  for (const s of samples) {
    if (s.name === 'fastreg_sidecar_http_requests_total' && s.labels.source && s.labels.source !== 'none') {
      requestsBySource[s.labels.source] = (requestsBySource[s.labels.source] ?? 0) + s.value;
    }
  }
  return {
    url: base,
    peers: value('fastreg_sidecar_dht_peers'),
    storeBytes: value('fastreg_sidecar_store_bytes'),
    storeBlobs: value('fastreg_sidecar_store_blobs'),
    evictions: value('fastreg_sidecar_store_evictions_total'),
    p2pBytesIn: value('fastreg_sidecar_p2p_bytes_in_total'),
    p2pBytesOut: value('fastreg_sidecar_p2p_bytes_out_total'),
    digestFailures: value('fastreg_sidecar_digest_failures_total'),
    requestsBySource,
  };
}

const pct = (ratio: number | null) => (ratio === null ? '–' : `${(ratio * 100).toFixed(1)}%`);

function printSummary(s: StatusSummary, sidecar: SidecarFigures | undefined): void {
  printTable(
    ['edge', 'value'],
    [
      ['hit ratio', `${pct(s.requests.hitRatio)} (${s.requests.cached} cached of ${s.requests.total} manifest + blob requests)`],
      ['upstream bytes saved', `${formatSize(s.bytes.upstreamAvoided)} (${s.bytes.upstreamAvoided} bytes)`],
      ['bytes read from upstream', formatSize(s.bytes.upstreamRead)],
      ['active leases', s.leases.active],
      ['leases granted / waited / expired / taken over', `${s.leases.granted} / ${s.leases.waited} / ${s.leases.expired} / ${s.leases.takeover}`],
      ['digest failures', s.digestFailures],
      ['sidecars online', s.sidecars.online],
      ['counting since', s.since],
    ],
  );
  if (s.upstreams.length > 0) {
    printTable(
      ['upstream', 'quota left', 'limit', 'requests', 'errors', 'bytes read'],
      s.upstreams.map((u) => [u.registry, u.ratelimitRemaining ?? 'not reported', u.ratelimitLimit ?? '–', u.requests, u.errors, formatSize(u.bytes)]),
    );
  }
  if (s.sidecars.list.length > 0) {
    printTable(
      ['sidecar', 'resource', 'site', 'endpoint'],
      s.sidecars.list.map((x) => [x.id, x.resource, x.site ?? 'unknown', x.endpoint ?? '–']),
    );
  }
  if (sidecar) {
    printTable(
      [`sidecar ${sidecar.url}`, 'value'],
      [
        ['peers', sidecar.peers],
        ['store', `${formatSize(sidecar.storeBytes)} in ${sidecar.storeBlobs} blobs, ${sidecar.evictions} evicted`],
        ['P2P in / out', `${formatSize(sidecar.p2pBytesIn)} / ${formatSize(sidecar.p2pBytesOut)}`],
        ['digest failures', sidecar.digestFailures],
        ['blob requests by source', Object.entries(sidecar.requestsBySource).map(([k, v]) => `${k} ${v}`).join(', ') || '–'],
      ],
    );
  }
}
