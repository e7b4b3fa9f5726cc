// The operator summary as /stats returns it: platform-neutral, so the CLI (Node) reads the same type.

export interface SidecarOnline {
  id: string;
  resource: string;
  endpoint?: string;
  /** Its site as the redirect sees it: a SITES name, or `ip:<address the edge saw on registration>`. */
  site?: string;
  expiresAt: string;
}

export interface UpstreamSummary {
  registry: string;
  requests: number;
  errors: number;
  bytes: number;
  ratelimitRemaining?: number;
  ratelimitLimit?: number;
  ratelimitUpdatedAt?: string;
}

export interface StatusSummary {
  since: string;
  generatedAt: string;
  /** Manifest and blob requests, by where the answer came from. */
  requests: { cached: number; upstream: number; total: number; hitRatio: number | null };
  bytes: { servedFromCache: number; servedFromUpstream: number; upstreamRead: number; upstreamAvoided: number };
  leases: { active: number; granted: number; waited: number; expired: number; takeover: number };
  digestFailures: number;
  upstreams: UpstreamSummary[];
  sidecars: { online: number; list: SidecarOnline[] };
  /** One entry per minute with traffic, oldest first. */
  history: { at: string; cached: number; upstream: number; hitRatio: number | null; bytesAvoided: number }[];
}

