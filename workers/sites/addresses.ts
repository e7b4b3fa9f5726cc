import ipaddr from 'ipaddr.js';

// Client and sidecar addresses, and the configured CIDR sites they may fall in.

export type Address = ipaddr.IPv4 | ipaddr.IPv6;
export type SiteCidrs = Readonly<Record<string, readonly string[]>>;

/** A parsed address in canonical form (IPv4-mapped IPv6 becomes IPv4), or undefined if it is not one. */
export function parseAddress(text: string | undefined): Address | undefined {
  if (!text || !ipaddr.isValid(text.trim())) return undefined;
  return ipaddr.process(text.trim());
}

/**
 * The site an address belongs to: the first configured CIDR site that contains it, else a site of
 * its own (`ip:<address>`), so a sidecar and the clients behind the same NAT address share a site.
 */
export class SiteMap {
  private readonly ranges: { site: string; range: [Address, number] }[] = [];

  constructor(cidrs: SiteCidrs) {
    for (const [site, list] of Object.entries(cidrs)) {
      for (const cidr of list) this.ranges.push({ site, range: ipaddr.parseCIDR(cidr) });
    }
  }

  siteOf(address: Address): string {
    for (const { site, range } of this.ranges) {
      if (address.kind() === range[0].kind() && address.match(range)) return site;
    }
    return `ip:${address.toString()}`;
  }
}

/**
 * True when an endpoint URL only works from the sidecar's own machine (loopback, 0.0.0.0, localhost):
 * a sidecar on its default loopback bridge must not be handed to other hosts of its site.
 */
export function isHostLocalEndpoint(endpoint: string): boolean {
  const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  const address = parseAddress(host);
  return address !== undefined && ['loopback', 'unspecified'].includes(address.range());
}

export function isLoopback(address: Address): boolean {
  return address.range() === 'loopback';
}
