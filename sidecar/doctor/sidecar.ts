import type { ClientInfo } from '../../workers/shared/oci/client-info.js';
import { fail, ok, warn, type Finding } from './findings.js';
import { probe } from './http.js';

// Does a sidecar answer on this host, and does the edge see this host's site as having live sidecars
// (without which every blob GET is served by the edge, not the LAN)?

export async function checkSidecar(sidecar: string, edge: string, info: ClientInfo | undefined, options: { timeoutMs: number }): Promise<Finding[]> {
  const findings: Finding[] = [];
  const health = await probe(`${sidecar}/healthz`, options);
  const local = health.status === 200;
  if (local) {
    let peerId: string | undefined;
    try {
      peerId = (JSON.parse(health.body ?? '{}') as { peerId?: string }).peerId;
    } catch {
      // answered, but not with the sidecar's JSON; the peer id is only for the message
    }
    findings.push(ok('sidecar.local', `a sidecar answers at ${sidecar} (peer ${peerId ?? 'unknown'})`));
  } else {
    findings.push(
      fail(
        'sidecar.local',
        `no sidecar answers at ${sidecar}/healthz (${health.error ?? `HTTP ${health.status}`})`,
        `Start it: systemctl enable --now fastreg-sidecar (deploy/systemd/fastreg-sidecar.service), or FASTREG_EDGE=${edge} FASTREG_ENROLL_TOKEN=… fastreg sidecar; or point doctor at it: --sidecar <url>`,
      ),
    );
  }
  if (!info) return findings;
  if (info.redirectPolicy === 'off') {
    findings.push(warn('sidecar.site', `the edge has REDIRECT_POLICY=off: it serves every blob itself, whatever sidecars run`, `Set REDIRECT_POLICY to rendezvous (the default) in wrangler.toml [vars] (or .dev.vars locally) and deploy.`));
  } else if (info.liveSidecars === 0) {
    findings.push(
      fail(
        'sidecar.site',
        `the edge sees no live sidecar in this host's site (${info.site}), so blobs come from the edge, not the LAN`,
        local
          ? `The local sidecar is not registered with ${edge}: run it with --edge ${edge} (FASTREG_EDGE) and FASTREG_ENROLL_TOKEN (the edge's SIDECAR_ENROLL_TOKEN), then check its log for the enrollment and registration.`
          : `Start a sidecar with --edge ${edge} (FASTREG_EDGE) and FASTREG_ENROLL_TOKEN on this host or another host of site ${info.site} (SITES in wrangler.toml groups addresses into sites).`,
      ),
    );
  } else if (info.reachableSidecars === 0) {
    findings.push(
      fail(
        'sidecar.site',
        `this host's site (${info.site}) has ${info.liveSidecars} live sidecar(s), but each bridge listens on loopback, so the edge cannot send this host to them`,
        `Run the sidecars' bridge on a LAN address: --http <lan-ip>:5050 (FASTREG_HTTP), or use REDIRECT_POLICY=local when every host runs one.`,
      ),
    );
  } else {
    findings.push(ok('sidecar.site', `the edge sees ${info.liveSidecars} live sidecar(s) in this host's site (${info.site}); blob pulls go to the LAN (${info.redirectPolicy})`));
  }
  return findings;
}
