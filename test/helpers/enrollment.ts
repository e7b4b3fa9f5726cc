// Enrolls a throwaway libp2p identity at an edge, as a sidecar would: for tests that need what the
// edge hands its sidecars (the redirect key, the swarm key) without running a sidecar.
import { generateKeyPair } from '@libp2p/crypto/keys';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { enroll, type Enrollment } from '../../sidecar/edge/enrollment.js';
import { formatSwarmKey } from '../../workers/shared/sidecars/swarm-key.js';
import { TEST_ENROLL_TOKEN } from './sidecar-cluster.js';

export async function enrollThrowaway(edgeUrl: string, enrollToken = TEST_ENROLL_TOKEN): Promise<Enrollment> {
  return enroll({ edgeUrl, enrollToken, privateKey: await generateKeyPair('Ed25519') });
}

/** Writes the edge's swarm key to `<dir>/swarm.key` for a sidecar that joins with --psk-file. */
export async function swarmKeyFile(edgeUrl: string, dir: string): Promise<string> {
  const file = join(dir, 'swarm.key');
  writeFileSync(file, formatSwarmKey((await enrollThrowaway(edgeUrl)).swarmKey), { mode: 0o600 });
  return file;
}
