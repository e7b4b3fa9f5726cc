import type { PeerInfo } from '@libp2p/interface';
import { CID } from 'multiformats/cid';
import * as Multihash from 'multiformats/hashes/digest';
import { sha256 } from 'multiformats/hashes/sha2';
import { createHash } from 'node:crypto';
import type { Digest } from '../../workers/shared/oci/index.js';
import { DHT_QUERY_TIMEOUT_MS } from './constants.js';
import type { SidecarLibp2p } from './create-node.js';
import { decodeEnvelope, dhtKey, encodeEnvelope, isValidEnvelope, selectKvRecord, type KvEnvelope } from './kv-record.js';

const RAW_CODEC = 0x55;
const MULTIHASH_CODE = { sha256: 0x12, sha512: 0x13 } as const;

/** The CID a blob is provided under: raw codec over the digest's own hash, so any node derives the same one. */
function cidForDigest({ algorithm, hex }: Digest): CID {
  return CID.createV1(RAW_CODEC, Multihash.create(MULTIHASH_CODE[algorithm], Buffer.from(hex, 'hex')));
}

/** The CID every member of a service tag provides: sha256 of `/fastreg/service/<tag>`. */
function serviceCid(tag: string): CID {
  const bytes = createHash('sha256').update(`/fastreg/service/${tag}`).digest();
  return CID.createV1(RAW_CODEC, Multihash.create(sha256.code, bytes));
}

export interface FindOptions {
  limit?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Once a first provider is known, wait at most this long for more before returning. */
  settleMs?: number;
}

/**
 * The DHT seen as a router (spegel's lookup/advertise) plus the /fastreg/ key/value space. Callers
 * speak digests and service tags; the CIDs they map to stay in here.
 */
export class DhtRouter {
  constructor(private readonly node: SidecarLibp2p) {}

  private signalFor(signal: AbortSignal | undefined, timeoutMs = DHT_QUERY_TIMEOUT_MS): AbortSignal {
    const timeout = AbortSignal.timeout(timeoutMs);
    return signal ? AbortSignal.any([signal, timeout]) : timeout;
  }

  /** Announces that this node holds (or is filling) the blob. */
  provide(digest: Digest, signal?: AbortSignal): Promise<void> {
    return this.provideCid(cidForDigest(digest), signal);
  }

  /** Providers of the blob other than this node, in the order the DHT reports them. */
  findProviders(digest: Digest, options: FindOptions = {}): Promise<PeerInfo[]> {
    return this.findCid(cidForDigest(digest), options);
  }

  /** Announces membership of a service tag. */
  provideService(tag: string, signal?: AbortSignal): Promise<void> {
    return this.provideCid(serviceCid(tag), signal);
  }

  /** Other members of a service tag. */
  findServiceMembers(tag: string, options: FindOptions = {}): Promise<PeerInfo[]> {
    return this.findCid(serviceCid(tag), options);
  }

  private async provideCid(cid: CID, signal?: AbortSignal): Promise<void> {
    for await (const _event of this.node.services.dht.provide(cid, { signal: this.signalFor(signal) })) {
      // drain the query
    }
  }

  private async findCid(cid: CID, options: FindOptions): Promise<PeerInfo[]> {
    const limit = options.limit ?? 20;
    const found = new Map<string, PeerInfo>();
    const self = this.node.peerId.toString();
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, this.signalFor(options.signal, options.timeoutMs)]);
    let settle: NodeJS.Timeout | undefined;
    try {
      for await (const event of this.node.services.dht.findProviders(cid, { signal })) {
        if (event.name !== 'PROVIDER') continue;
        for (const provider of event.providers) {
          const id = provider.id.toString();
          if (id !== self && !found.has(id)) found.set(id, provider);
        }
        if (found.size >= limit) break;
        if (found.size > 0 && options.settleMs !== undefined && !settle) settle = setTimeout(() => controller.abort(), options.settleMs);
      }
    } catch (err) {
      // A timeout ends the search with what was found so far.
      if (!signal.aborted) throw err;
    } finally {
      clearTimeout(settle);
      controller.abort();
    }
    return [...found.values()];
  }

  async putValue(key: string, value: string, signal?: AbortSignal): Promise<KvEnvelope> {
    const bytes = encodeEnvelope(value);
    for await (const _event of this.node.services.dht.put(dhtKey(key), bytes, { signal: this.signalFor(signal) })) {
      // drain: the record is sent to the K closest peers
    }
    return decodeEnvelope(bytes);
  }

  async getValue(key: string, signal?: AbortSignal): Promise<KvEnvelope | undefined> {
    const values: Uint8Array[] = [];
    try {
      for await (const event of this.node.services.dht.get(dhtKey(key), { signal: this.signalFor(signal) })) {
        if (event.name === 'VALUE') values.push(event.value);
      }
    } catch (err) {
      if (values.length === 0 && !isNotFound(err)) throw err;
    }
    // Peers' answers are checked again here: a malformed or far-future record never wins.
    const valid = values.filter((value) => isValidEnvelope(value));
    if (valid.length === 0) return undefined;
    return decodeEnvelope(valid[selectKvRecord(new Uint8Array(), valid)] as Uint8Array);
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && (err.name === 'NotFoundError' || /not found/i.test(err.message));
}
