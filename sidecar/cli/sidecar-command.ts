import { Command, Option } from 'commander';
import { DEFAULTS, loadSidecarConfig } from '../config.js';
import { ConfigError, CliError } from '../errors.js';
import type { SidecarHooks } from '../hooks.js';

function collect(value: string, previous: string[] | undefined): string[] {
  // Env vars carry several values comma-separated; flags repeat.
  return [...(previous ?? []), ...value.split(',').map((v) => v.trim()).filter(Boolean)];
}

/** `fastreg sidecar`: runs the node until SIGINT/SIGTERM. `hooks` exist for the test entry only. */
export function sidecarCommand(hooks?: SidecarHooks): Command {
  return new Command('sidecar')
    .description('Run the build-machine sidecar: libp2p DHT node, blob store, P2P blob transfer and HTTP bridge.')
    .addOption(new Option('--listen <multiaddr>', `libp2p listen address, repeatable (default ${DEFAULTS.listen.join(' ')}: all interfaces, so LAN peers can reach it)`).env('FASTREG_LISTEN').argParser(collect))
    .addOption(new Option('--bootstrap <multiaddr>', 'peer to join through, repeatable; paste a line a running sidecar printed').env('FASTREG_BOOTSTRAP').argParser(collect))
    .addOption(new Option('--service <tag>', 'service tag; sidecars with the same tag find each other through the DHT').env('FASTREG_SERVICE').default(DEFAULTS.service))
    .addOption(new Option('--storage-dir <dir>', 'where blobs (and by default the identity key) are kept').env('FASTREG_STORAGE_DIR').default(DEFAULTS.storageDir))
    .addOption(new Option('--http <host:port>', 'HTTP bridge address; loopback unless you say otherwise').env('FASTREG_HTTP').default(DEFAULTS.http))
    .addOption(new Option('--edge <url>', 'FastReg edge URL: last blob source, and where this sidecar registers').env('FASTREG_EDGE'))
    .addOption(new Option('--key-file <path>', 'persistent Ed25519 identity; created (mode 0600) if missing (default <storage-dir>/identity.key)').env('FASTREG_KEY_FILE'))
    .addOption(new Option('--psk-file <path>', 'libp2p swarm key: only nodes with the same key can connect').env('FASTREG_PSK_FILE'))
    .addOption(new Option('--new-psk <path>', 'write a new random swarm key to <path> and exit'))
    .addOption(new Option('--open-swarm', 'let any libp2p peer connect (no swarm key); without it the swarm key comes from the edge (FASTREG_ENROLL_TOKEN) or --psk-file. FASTREG_OPEN_SWARM enables it when set to any value, even 0').env('FASTREG_OPEN_SWARM'))
    .addOption(new Option('--mdns', 'also discover peers on the local network with mDNS; FASTREG_MDNS enables it when set to any value, even 0').env('FASTREG_MDNS'))
    .addOption(new Option('--capacity <size>', 'store capacity, e.g. 10GiB or 500MB; least recently used blobs are evicted').env('FASTREG_CAPACITY').default(DEFAULTS.capacity))
    .addOption(new Option('--discovery-interval <ms>', 'how often to look up service peers').env('FASTREG_DISCOVERY_INTERVAL').default(String(DEFAULTS.discoveryIntervalMs)))
    .addOption(new Option('--reprovide-interval <ms>', 'how often to re-announce held blobs').env('FASTREG_REPROVIDE_INTERVAL').default(String(DEFAULTS.reprovideIntervalMs)))
    .addOption(new Option('--heartbeat-interval <ms>', 'how often to heartbeat the edge service record (with --edge)').env('FASTREG_HEARTBEAT_INTERVAL').default(String(DEFAULTS.heartbeatIntervalMs)))
    .addOption(new Option('--peer-idle-timeout <ms>', 'cut a P2P transfer that moves no bytes for this long; a cut download resumes from another provider or the edge').env('FASTREG_PEER_IDLE_TIMEOUT').default(String(DEFAULTS.peerIdleTimeoutMs)))
    .addOption(new Option('--max-peer-streams <n>', 'peers one blob is streamed to at once; further peers are sent to peers already receiving it (a tree)').env('FASTREG_MAX_PEER_STREAMS').default(String(DEFAULTS.maxPeerStreams)))
    .addHelpText(
      'after',
      [
        '',
        'Environment:',
        '  FASTREG_ENROLL_TOKEN  the edge\'s SIDECAR_ENROLL_TOKEN: with --edge, the sidecar enrolls (proving its peer key), registers',
        '                        with its own short-lived credential and joins the edge\'s private swarm',
        '  FASTREG_TOKEN         guards the HTTP bridge\'s writes (PUT /blobs, PUT /kv); a host-local secret, never sent to the edge',
      ].join('\n'),
    )
    .action(async (options: Record<string, unknown>) => {
      if (typeof options.newPsk === 'string') {
        const { writeNewSwarmKey } = await import('../node/swarm-key.js');
        await writeNewSwarmKey(options.newPsk).catch((err: Error) => {
          throw new CliError(`cannot write swarm key: ${err.message}`);
        });
        process.stdout.write(`wrote swarm key ${options.newPsk}\n`);
        return;
      }
      let config;
      try {
        config = loadSidecarConfig({
          listen: options.listen as string[] | undefined,
          bootstrap: options.bootstrap as string[] | undefined,
          service: options.service as string,
          storageDir: options.storageDir as string,
          http: options.http as string,
          edge: options.edge as string | undefined,
          keyFile: options.keyFile as string | undefined,
          pskFile: options.pskFile as string | undefined,
          mdns: options.mdns === true,
          capacity: options.capacity as string,
          token: process.env.FASTREG_TOKEN || undefined,
          enrollToken: process.env.FASTREG_ENROLL_TOKEN || undefined,
          openSwarm: options.openSwarm === true,
          discoveryInterval: options.discoveryInterval as string,
          reprovideInterval: options.reprovideInterval as string,
          heartbeatInterval: options.heartbeatInterval as string,
          peerIdleTimeout: options.peerIdleTimeout as string,
          maxPeerStreams: options.maxPeerStreams as string,
        } as never);
      } catch (err) {
        if (err instanceof ConfigError) throw new CliError(err.message, 2);
        throw err;
      }
      // Loaded late so `--help` does not pay for libp2p.
      const { runSidecar } = await import('./run-sidecar.js');
      await runSidecar(config, hooks);
    });
}
