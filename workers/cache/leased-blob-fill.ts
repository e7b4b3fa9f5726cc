import type { BlobLease } from '../../durable-objects/blob-lease.js';
import { BlobLeaseClient } from '../../durable-objects/blob-lease-client.js';
import type { EdgeConfig } from '../config.js';
import { leaseObserver } from '../metrics/leases.js';
import { type BlobFillOptions, fillBlobFromUpstream } from './blob-fill.js';
import { serveStoredBlob } from './blob-store.js';
import { blobKey } from './keys.js';

export interface LeasedBlobFillOptions extends BlobFillOptions {
  leases: DurableObjectNamespace<BlobLease>;
  config: Pick<EdgeConfig, 'LEASE_TTL_MS' | 'LEASE_MAX_HOLDERS'>;
  waitUntil: (promise: Promise<unknown>) => void;
}

/**
 * A blob miss under the blob's lease: however many requests miss at once, one fetches from the
 * upstream (streaming to its client and to R2) and the others wait for it, then read R2. A failed or
 * stalled fetch hands the lease to a waiter.
 */
export function fillBlobWithLease(options: LeasedBlobFillOptions): Promise<Response> {
  const { leases, config, waitUntil, bucket, digest, rangeHeader } = options;
  const client = new BlobLeaseClient(leases, { ttlMs: config.LEASE_TTL_MS, maxHolders: config.LEASE_MAX_HOLDERS });
  return client.coalesce<Response>({
    key: digest.value,
    fill: async ({ progress }) => {
      const fill = await fillBlobFromUpstream({ ...options, onProgress: progress });
      const stored = fill.stored.then((result) => {
        if (!result.stored) throw new Error(result.reason);
        return { size: result.size, location: blobKey(digest) };
      });
      return { value: fill.response, stored };
    },
    readStored: () => serveStoredBlob(bucket, digest, 'GET', rangeHeader),
    waitUntil,
    observe: leaseObserver('blob'),
  });
}
