// Which of a site's live sidecars gets a blob: the REDIRECT_POLICY choices.

export interface LiveSidecar {
  id: string;
  /** http(s) base URL of the sidecar's HTTP bridge, without a trailing slash. */
  endpoint: string;
  observedIp: string;
  /** The endpoint is a loopback or unspecified address (or localhost): only clients on loopback can reach it. */
  hostLocal: boolean;
  /** Epoch ms; the sidecar is live until then. */
  expiresAt: number;
  /** Its libp2p addresses, as it registered them (may be empty). */
  multiaddrs: string[];
}

/** Highest-random-weight: every edge isolate picks the same sidecar for a digest, so each blob has one home. */
export async function rendezvous(sidecars: readonly LiveSidecar[], digest: string): Promise<LiveSidecar | undefined> {
  let best: LiveSidecar | undefined;
  let bestWeight = -1;
  for (const sidecar of sidecars) {
    const weight = await weightOf(`${digest}\n${sidecar.id}`);
    if (weight > bestWeight || (weight === bestWeight && best !== undefined && sidecar.id < best.id)) {
      best = sidecar;
      bestWeight = weight;
    }
  }
  return best;
}

let turn = 0;

/** Round-robin across the site's sidecars (per isolate), so a hot blob is pulled by all of them. */
export function spread(sidecars: readonly LiveSidecar[]): LiveSidecar | undefined {
  if (sidecars.length === 0) return undefined;
  turn = (turn + 1) % 1_000_000;
  return sidecars[turn % sidecars.length];
}

async function weightOf(key: string): Promise<number> {
  const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
  // 48 bits stay exact in a double.
  return hash[0]! * 2 ** 40 + hash[1]! * 2 ** 32 + hash[2]! * 2 ** 24 + hash[3]! * 2 ** 16 + hash[4]! * 2 ** 8 + hash[5]!;
}
