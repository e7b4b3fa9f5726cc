// Answers of the SiteFill actor's RPC methods. Plain data, so they cross the RPC boundary as-is.

export interface ClaimRequest {
  /** Peer ID of the sidecar asking the edge for the blob. */
  sidecar: string;
  /** Peer IDs of the site's live sidecars: a claim held by any other sidecar is void. */
  live: string[];
  /** The asker was sent to this filler and could not stream from it: it takes the claim over. */
  replacing?: string;
  ttlMs: number;
}

export type ClaimResult =
  /** The asker fills the blob for its site: the edge serves it. */
  | { kind: 'Granted'; expiresAt: number }
  /** Another live sidecar of the site fills it: send the asker there. */
  | { kind: 'Held'; filler: string; expiresAt: number };
