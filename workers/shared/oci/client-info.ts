// Wire type of GET /client-info (what the edge sees of the asking host), shared by the edge route and
// `fastreg doctor`.

export const CLIENT_INFO_VERSION = 1;

export interface ClientInfo {
  version: typeof CLIENT_INFO_VERSION;
  clientIp: string | null;
  /** The client's site: a SITES name, or `ip:<address>`. */
  site: string | null;
  liveSidecars: number;
  /** Live sidecars a blob GET from this client may be sent to (loopback-only bridges serve their own host). */
  reachableSidecars: number;
  redirectPolicy: string;
  /** UPSTREAMS names (as containerd's ?ns= gives them), not their URLs. */
  upstreams: string[];
  defaultRegistry: string;
}
