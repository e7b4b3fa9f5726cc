// Issue 11's memory figure: a sidecar's RSS while it streams one blob that is still filling (from a
// paced edge) to 5 peers over P2P and to 5 HTTP clients at once. The "edge" is a plain HTTP server in
// this process that serves the blob file; the root sidecar is allowed 5 peer streams so that all 5
// peers attach to it (the worst case for one sidecar). Bounded in time; every body is counted, and a
// complete body means the sidecar verified the digest (the last bytes wait for it).
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeBlobFile, makeTempDir, removeDir, startSidecar, stopAll, waitFor, type SidecarProcess } from '../test/helpers/sidecar-cluster.js';

const MB = 1024 * 1024;
const NAME = 'bench/fanout';

export interface FillFanOutFigures {
  sizeBytes: number;
  peers: number;
  clients: number;
  /** Time until the last of the peers' and clients' bodies ended. */
  seconds: number;
  rootIdleRssMB: number;
  rootPeakRssMB: number;
  peerPeakRssMB: number;
}

export async function fillFanOut(options: { sizeBytes: number; edgeMBps: number; bundle: string; log: (line: string) => void; peers?: number; clients?: number; timeoutMs?: number }): Promise<FillFanOutFigures> {
  const peers = options.peers ?? 5;
  const clients = options.clients ?? 5;
  const work = await makeTempDir('bench-fanout');
  const nodes: SidecarProcess[] = [];
  let edge: http.Server | undefined;
  try {
    const blob = await makeBlobFile(work, options.sizeBytes);
    edge = http.createServer((req, res) => {
      if (req.url !== `/v2/${NAME}/blobs/${blob.digest}`) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      // Paced like a WAN link feeding the site, so the blob is still filling while everyone reads.
      void (async () => {
        const started = performance.now();
        let sent = 0;
        for await (const chunk of createReadStream(blob.path, { highWaterMark: 256 * 1024 })) {
          if (res.destroyed) return;
          if (!res.write(chunk)) await once(res, 'drain');
          sent += (chunk as Buffer).length;
          const wait = started + (sent / (options.edgeMBps * MB)) * 1000 - performance.now();
          if (wait > 5) await sleep(wait);
        }
        res.end();
      })().catch(() => res.destroy());
    });
    await new Promise<void>((resolve) => edge!.listen(0, '127.0.0.1', resolve));
    const edgeUrl = `http://127.0.0.1:${(edge.address() as AddressInfo).port}`;
    const entry = options.bundle as `${string}.mjs`;
    const root = await startSidecar({ name: 'fanout-root', entry, args: ['--edge', edgeUrl, '--max-peer-streams', String(peers), '--capacity', '100GiB'], env: { FASTREG_ENROLL_TOKEN: '' } });
    nodes.push(root);
    nodes.push(...(await Promise.all(Array.from({ length: peers }, (_, i) => startSidecar({ name: `fanout-peer${i}`, entry, bootstrap: [root.addr], args: ['--capacity', '100GiB'] })))));
    await waitFor(async () => ((await (await fetch(`${root.url}/healthz`)).json()) as { peers: number }).peers >= peers, { timeoutMs: 30_000, what: 'peers connected to the root' });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const rootIdle = root.rssBytes();
    const peak = { root: rootIdle, peer: 0 };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak.root = Math.max(peak.root, root.rssBytes());
        for (const node of nodes.slice(1)) peak.peer = Math.max(peak.peer, node.rssBytes());
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const read = async (url: string): Promise<number> => {
      const response = await fetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 600_000) });
      if (response.status !== 200) throw new Error(`${url}: HTTP ${response.status}`);
      let bytes = 0;
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
      if (bytes !== blob.size) throw new Error(`${url}: ${bytes} of ${blob.size} bytes`);
      return bytes;
    };
    const t0 = performance.now();
    options.log(`filling ${Math.round(blob.size / MB)} MiB at ${options.edgeMBps} MB/s into one sidecar, read by ${clients} HTTP clients and ${peers} peers`);
    const fromRoot = Array.from({ length: clients }, () => read(`${root.url}/v2/${NAME}/blobs/${blob.digest}`));
    // The root provides the blob when its fill starts; the peers find it and follow it over P2P.
    await waitFor(
      async () => {
        for (const node of nodes.slice(1)) {
          const body = (await (await fetch(`${node.url}/providers/${blob.digest}`)).json()) as { providers: { peerId: string }[] };
          if (!body.providers.some((p) => p.peerId === root.peerId)) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'the filling root found by every peer' },
    );
    const fromPeers = nodes.slice(1).map((node) => read(`${node.url}/v2/${NAME}/blobs/${blob.digest}`));
    await Promise.all([...fromRoot, ...fromPeers]).finally(() => (sampling = false));
    await sampler;
    return {
      sizeBytes: blob.size,
      peers,
      clients,
      seconds: Math.round(((performance.now() - t0) / 1000) * 100) / 100,
      rootIdleRssMB: Math.round(rootIdle / MB),
      rootPeakRssMB: Math.round(peak.root / MB),
      peerPeakRssMB: Math.round(peak.peer / MB),
    };
  } finally {
    await stopAll(nodes);
    edge?.closeAllConnections();
    edge?.close();
    await Promise.all([removeDir(work), ...nodes.map((node) => removeDir(node.dir))]);
  }
}
