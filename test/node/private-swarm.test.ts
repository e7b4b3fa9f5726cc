import { generateKeyPair } from '@libp2p/crypto/keys';
import { randomBytes } from 'node:crypto';
import { multiaddr } from '@multiformats/multiaddr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSidecarNode, type SidecarLibp2p } from '../../sidecar/node/create-node.js';
import { startTestEdge, type TestEdge } from '../helpers/edge.js';
import { enrollThrowaway } from '../helpers/enrollment.js';
import { makeTempDir, removeDir, startSidecar, stopAll, type SidecarProcess } from '../helpers/sidecar-cluster.js';

// The swarm is private by default (issue 12): a sidecar that enrolls with the edge gets the swarm key
// and joins the private network with it; an outside peer without the key cannot connect at all. The
// attack is shown first on an explicitly open swarm, where the same outside peer gets in.

let edge: TestEdge;
let privateSidecar: SidecarProcess;
let openSidecar: SidecarProcess;
const outsiders: SidecarLibp2p[] = [];

async function outsider(swarmKey?: Uint8Array): Promise<SidecarLibp2p> {
  const node = await createSidecarNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], ...(swarmKey && { swarmKey }) });
  outsiders.push(node);
  return node;
}

async function dials(node: SidecarLibp2p, addr: string): Promise<boolean> {
  try {
    await node.dial(multiaddr(addr), { signal: AbortSignal.timeout(5_000) });
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  edge = await startTestEdge();
  privateSidecar = await startSidecar({ name: 'swarm-private', args: ['--edge', edge.url] });
  openSidecar = await startSidecar({ name: 'swarm-open', args: ['--open-swarm'] });
}, 180_000);

afterAll(async () => {
  await Promise.all(outsiders.map((node) => node.stop()));
  await stopAll([privateSidecar, openSidecar]);
  await Promise.all([privateSidecar, openSidecar].map((node) => node && removeDir(node.dir)));
  await edge?.stop();
}, 60_000);

describe('private swarm by default', () => {
  it('an open swarm (the old default) lets any peer in, and says so at start', async () => {
    const stranger = await outsider();
    expect(await dials(stranger, openSidecar.addr)).toBe(true);
    expect(openSidecar.output()).toMatch(/WARNING: open swarm/);
    expect(openSidecar.output()).toMatch(/swarm:\s+open/);
  });

  it('an enrolled sidecar is in the private swarm: an outside peer without the key cannot dial it', async () => {
    expect(privateSidecar.output()).toMatch(/swarm:\s+private \(key from the edge\)/);
    expect(privateSidecar.output()).not.toMatch(/WARNING: open swarm/);
    const stranger = await outsider();
    expect(await dials(stranger, privateSidecar.addr)).toBe(false);
    expect(stranger.getConnections().length).toBe(0);
    // Nor can a peer of another private swarm: its key makes another handshake.
    const otherSwarm = await outsider(new Uint8Array(randomBytes(32)));
    expect(await dials(otherSwarm, privateSidecar.addr)).toBe(false);
    // A peer holding the edge's swarm key (as every enrolled sidecar does) gets in.
    const member = await outsider((await enrollThrowaway(edge.url)).swarmKey);
    expect(await dials(member, privateSidecar.addr)).toBe(true);
  });

  it('a sidecar with no edge, no --psk-file and no --open-swarm refuses to start', async () => {
    const dir = await makeTempDir('swarm-none');
    try {
      await expect(startSidecar({ name: 'swarm-none', dir, args: ['--edge', edge.url], env: { FASTREG_ENROLL_TOKEN: '' }, openSwarmUnlessKeyed: false })).rejects.toThrow(/the swarm is private by default/);
    } finally {
      await removeDir(dir);
    }
  });

  it('a wrong enrollment token fails the start at once (no admin token fallback)', async () => {
    const dir = await makeTempDir('swarm-badtoken');
    try {
      await expect(startSidecar({ name: 'swarm-badtoken', dir, args: ['--edge', edge.url], env: { FASTREG_ENROLL_TOKEN: 'not-the-enroll-token-000', FASTREG_TOKEN: edge.token } })).rejects.toThrow(/refused this sidecar's enrollment/);
    } finally {
      await removeDir(dir);
    }
  });
});
