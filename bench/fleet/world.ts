import type { FleetInputs } from './inputs.js';
import { Resource, type ResourceKind, type Use } from './sharing.js';
import { Sim } from './sim.js';

// The fleet's parts and what each kind of transfer uses of them. A host has a NIC (each direction),
// a disk, and a sidecar with one thread; a site has one WAN link (each direction); the edge has its
// egress. On the testbed, one machine's cores, the edge's thread and the bench's client process are
// shared by everything.

export interface Site {
  index: number;
  wanDown: Resource;
  wanUp: Resource;
  hosts: Host[];
  fromEdge: number;
  p2pIn: number;
  p2pOut: number;
}

export interface Host {
  index: number;
  site: Site;
  nicUp: Resource;
  nicDown: Resource;
  disk: Resource;
  cpu: Resource;
}

/** The least of the testbed's cores the model leaves to the burst, whatever else took them. */
const MIN_FREE_CORES = 0.1;

export class World {
  readonly sim: Sim;
  readonly sites: Site[];
  readonly hosts: Host[];
  readonly edgeEgress: Resource;
  readonly machine?: Resource;
  readonly edgeCpu?: Resource;
  readonly clientCpu?: Resource;
  upstreamBytes = 0;
  edgeBytes = 0;

  constructor(readonly inputs: FleetInputs, window: number) {
    const sim = (this.sim = new Sim(window));
    const make = (name: string, kind: ResourceKind, capacity: number) => sim.resource(new Resource(name, kind, capacity));
    this.edgeEgress = make('edge egress', 'edge-egress', inputs.edge.egressBytesPerSec);
    const t = inputs.testbed;
    if (t) {
      this.machine = make('the machine', 'machine-cpu', Math.max(MIN_FREE_CORES, t.cores - t.sidecarBackgroundCores - t.otherCores));
      this.edgeCpu = make('edge thread', 'edge-cpu', 1);
      this.clientCpu = make('client process', 'client-cpu', 1);
    }
    this.hosts = [];
    this.sites = inputs.sites.map((spec, s) => {
      const site: Site = {
        index: s,
        wanDown: make(`site ${s} WAN in`, 'site-wan', spec.wanBytesPerSec),
        wanUp: make(`site ${s} WAN out`, 'site-wan', spec.wanBytesPerSec),
        hosts: [],
        fromEdge: 0,
        p2pIn: 0,
        p2pOut: 0,
      };
      for (let h = 0; h < spec.hosts; h++) {
        const index = this.hosts.length;
        const host: Host = {
          index,
          site,
          nicUp: make(`host ${index} NIC out`, 'host-nic', inputs.hostNicBytesPerSec),
          nicDown: make(`host ${index} NIC in`, 'host-nic', inputs.hostNicBytesPerSec),
          disk: make(`host ${index} disk`, 'host-disk', inputs.hostDiskBytesPerSec),
          cpu: make(`host ${index} sidecar thread`, 'sidecar-cpu', 1),
        };
        site.hosts.push(host);
        this.hosts.push(host);
      }
      return site;
    });
  }

  /** The edge's upstream fetch into R2 (one per blob: the lease holder's), at the upstream's or R2's pace. */
  fillUses(layer: number): Use[] {
    const rate = Math.min(this.inputs.upstream.bytesPerSec, this.inputs.edge.r2PutBytesPerSec);
    const fill = this.sim.resource(new Resource(`layer ${layer} fill`, 'upstream', rate));
    const cost = this.inputs.testbed?.edgeFill ?? 0;
    return [...use(fill, 1), ...this.cpu(this.edgeCpu, cost), ...this.cpu(this.machine, cost)];
  }

  /** The edge serving one response to `host` (its sidecar, or with `client` its client). */
  edgeUses(host: Host, client: boolean): Use[] {
    const t = this.inputs.testbed;
    const receive = client ? (t?.clientReceive ?? 0) : this.inputs.sidecarCosts.edgeReceive;
    return [
      ...use(this.edgeEgress, 1),
      ...use(host.site.wanDown, 1),
      ...use(host.nicDown, 1),
      ...use(host.disk, 1),
      ...this.cpu(this.edgeCpu, t?.edgeServe ?? 0),
      ...(client ? this.cpu(this.clientCpu, receive) : use(host.cpu, receive)),
      ...this.cpu(this.machine, (t?.edgeServe ?? 0) + receive),
    ];
  }

  /** A sidecar streaming to another over P2P, across both sites' WAN links when they differ. */
  p2pUses(from: Host, to: Host): Use[] {
    const c = this.inputs.sidecarCosts;
    return [
      ...use(from.nicUp, 1),
      ...use(to.nicDown, 1),
      ...use(to.disk, 1),
      ...(from.site === to.site ? [] : [...use(from.site.wanUp, 1), ...use(to.site.wanDown, 1)]),
      ...use(from.cpu, c.p2pSend),
      ...use(to.cpu, c.p2pReceive),
      ...this.cpu(this.machine, c.p2pSend + c.p2pReceive),
    ];
  }

  /** A sidecar serving a client over HTTP (its own host's client: loopback, no NIC). */
  httpUses(from: Host, to: Host): Use[] {
    const serve = this.inputs.sidecarCosts.httpServe;
    const receive = this.inputs.testbed?.clientReceiveFromSidecar ?? 0;
    return [
      ...(from === to ? [] : [...use(from.nicUp, 1), ...use(to.nicDown, 1)]),
      ...(from.site === to.site ? [] : [...use(from.site.wanUp, 1), ...use(to.site.wanDown, 1)]),
      ...use(to.disk, 1),
      ...use(from.cpu, serve),
      ...this.cpu(this.clientCpu, receive),
      ...this.cpu(this.machine, serve + receive),
    ];
  }

  /** A client's own top rate (on the testbed, one in-process client's). */
  clientCap(): number {
    return this.inputs.testbed?.clientStreamBytesPerSec ?? Infinity;
  }

  private cpu(resource: Resource | undefined, weight: number): Use[] {
    return resource ? use(resource, weight) : [];
  }
}

/** A use of `resource`, none when it is unlimited or the weight is 0. */
function use(resource: Resource, weight: number): Use[] {
  return Number.isFinite(resource.capacity) && weight > 0 ? [{ resource, weight }] : [];
}
