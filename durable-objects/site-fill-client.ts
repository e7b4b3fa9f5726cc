import { withLocalDeadline } from './blob-lease-client.js';
import type { SiteFill } from './site-fill.js';
import type { ClaimRequest, ClaimResult } from './site-fill-types.js';

/**
 * How long a claim lasts. It must outlive the fill of a large blob (a claim that lapses mid-fill
 * lets a second sidecar of the site fill from the edge); a filler that dies is replaced at once,
 * because only claims of live sidecars count, and a follower that cannot stream from the filler
 * takes the claim over.
 */
export const SITE_FILL_TTL_MS = 10 * 60_000;
/** A claim RPC that takes longer is given up: the edge then serves the blob itself. */
export const SITE_FILL_DEADLINE_MS = 1_000;

export function siteFillKey(site: string, digest: string): string {
  return `${site}\n${digest}`;
}

/** The caller's side of SiteFill: stub handling and a local deadline. */
export class SiteFillClient {
  constructor(private readonly namespace: DurableObjectNamespace<SiteFill>) {}

  claim(site: string, digest: string, request: Omit<ClaimRequest, 'ttlMs'> & { ttlMs?: number }): Promise<ClaimResult> {
    const stub = this.namespace.getByName(siteFillKey(site, digest));
    return withLocalDeadline((async (): Promise<ClaimResult> => stub.claim({ ttlMs: SITE_FILL_TTL_MS, ...request }))(), SITE_FILL_DEADLINE_MS);
  }
}
