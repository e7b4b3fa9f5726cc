// Two sidecars with --mdns and no bootstrap find and dial each other on loopback.
import { afterAll, expect, it } from 'vitest';
import { removeDir, startSidecar, stopAll, waitFor, type SidecarProcess } from '../helpers/sidecar-cluster.js';

const nodes: SidecarProcess[] = [];
afterAll(async () => {
  await stopAll(nodes);
  await Promise.all(nodes.map((n) => removeDir(n.dir)));
});

it('--mdns: peers without a bootstrap list find each other', async () => {
  const service = `mdns-${process.pid}`;
  nodes.push(...(await Promise.all([0, 1].map((i) => startSidecar({ name: `mdns${i}`, args: ['--mdns', '--service', service] })))));
  const [a, b] = nodes as [SidecarProcess, SidecarProcess];
  await waitFor(async () => {
    const peers = ((await (await fetch(`${a.url}/peers`)).json()) as { peers: { peerId: string }[] }).peers.map((p) => p.peerId);
    return peers.includes(b.peerId);
  }, { timeoutMs: 30_000, intervalMs: 500, what: 'mDNS discovery' });
});
