// A libp2p peer that speaks the sidecars' protocols but keeps none of their rules: it accepts any
// DHT record (so it can put ones a sidecar would refuse) and answers blob requests however a test
// says. Used to play an attacker inside the swarm against a real sidecar on loopback.
import '../../sidecar/polyfills.js';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { Stream } from '@libp2p/interface';
import type { KadDHT } from '@libp2p/kad-dht';
import { tcp } from '@libp2p/tcp';
import { createLibp2p, type Libp2p } from 'libp2p';
import { BLOB_PROTOCOL } from '../../sidecar/node/constants.js';
import { dhtKey } from '../../sidecar/node/kv-record.js';
import { DhtRouter } from '../../sidecar/node/routing.js';
import { sidecarServices, type SidecarLibp2p } from '../../sidecar/node/create-node.js';
import { swarmPrologue } from '../../sidecar/node/swarm-key.js';
import type { SwarmKey } from '../../workers/shared/sidecars/swarm-key.js';
import { StreamReader, writeChunk } from '../../sidecar/p2p/stream-io.js';
import { BlobRequest, encodeFrame, readFrame } from '../../sidecar/p2p/wire.js';
import { parseDigest } from '../../workers/shared/oci/index.js';

export type RogueAnswer = (request: BlobRequest, stream: Stream) => Promise<void>;

export interface RoguePeer {
  node: Libp2p<{ dht: KadDHT; ping: unknown; identify: unknown }>;
  /** Its full multiaddr, to pass as --bootstrap. */
  addr: string;
  peerId: string;
  /** Blob requests received, by digest. */
  requests: Map<string, number>;
  /** Answers requests for `digest` with `answer`, and announces the blob on the DHT. */
  offer(digest: string, answer: RogueAnswer): Promise<void>;
  /** Puts raw record bytes under /fastreg/<key>, skipping every check a sidecar makes. */
  putRaw(key: string, value: Uint8Array): Promise<void>;
  stop(): Promise<void>;
}

export async function startRoguePeer(options: { swarmKey?: SwarmKey } = {}): Promise<RoguePeer> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise(options.swarmKey ? { prologueBytes: swarmPrologue(options.swarmKey) } : {})],
    streamMuxers: [yamux()],
    // A rogue keeps every record it is sent.
    services: sidecarServices({ validate: async () => undefined, select: () => 0 }),
  });
  const answers = new Map<string, RogueAnswer>();
  const requests = new Map<string, number>();
  await node.handle(BLOB_PROTOCOL, async (stream) => {
    const reader = new StreamReader(stream);
    try {
      const request = await readFrame(reader, BlobRequest, AbortSignal.timeout(5_000));
      requests.set(request.digest.value, (requests.get(request.digest.value) ?? 0) + 1);
      const answer = answers.get(request.digest.value);
      if (answer) await answer(request, stream);
      else await writeChunk(stream, encodeFrame({ v: 1, status: 'not_found' }));
    } catch (err) {
      stream.abort(err instanceof Error ? err : new Error(String(err)));
    } finally {
      reader.dispose();
    }
  });
  const router = new DhtRouter(node as unknown as SidecarLibp2p);
  return {
    node,
    addr: node.getMultiaddrs().map(String).find((addr) => addr.startsWith('/ip4/127.0.0.1/')) as string,
    peerId: node.peerId.toString(),
    requests,
    async offer(digest, answer) {
      answers.set(digest, answer);
      await router.provide(parseDigest(digest));
    },
    async putRaw(key, value) {
      try {
        for await (const _event of node.services.dht.put(dhtKey(key), value, { signal: AbortSignal.timeout(10_000) })) {
          // drain: sent to the closest peers, who may refuse it
        }
      } catch {
        // peers that refuse the record make the put fail; what they kept is what the test checks
      }
    },
    stop: async () => {
      await node.stop();
    },
  };
}
