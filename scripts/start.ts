import { EdgeStartError, isLoopbackHost, startEdge } from './edge-launcher.js';
import { startLocalSidecar, type LocalSidecar } from './local-sidecar.js';
import { localSettingsBanner } from './local-vars.js';

// `npm start`: the edge on http://127.0.0.1:${FASTREG_PORT:-8787} through Miniflare's API, plus one
// sidecar registered with it (FASTREG_START_SIDECAR=0 to leave it out).
// Environment: FASTREG_PORT, FASTREG_HOST, FASTREG_STATE_DIR, FASTREG_UPSTREAM, FASTREG_TOKEN,
// FASTREG_TLS_GUARD (0: no TLS guard), and
// the sidecar's own FASTREG_* variables (`fastreg sidecar --help`).

async function main(): Promise<void> {
  const port = Number(process.env.FASTREG_PORT ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new EdgeStartError(`FASTREG_PORT must be a port number, got "${process.env.FASTREG_PORT}"`);
  }
  const host = process.env.FASTREG_HOST ?? '127.0.0.1';
  const tokenGiven = Boolean(process.env.FASTREG_TOKEN);
  const stateDir = process.env.FASTREG_STATE_DIR ?? '.fastreg';
  const edge = await startEdge({
    port,
    host,
    stateDir,
    upstream: process.env.FASTREG_UPSTREAM || undefined,
    token: process.env.FASTREG_TOKEN || undefined,
    // Clients that try TLS first (skopeo, podman, crane) fall back to HTTP at once instead of after 10 s.
    tlsGuard: process.env.FASTREG_TLS_GUARD !== '0' && isLoopbackHost(host),
  });

  const mirror = edge.url;
  const upstreams = JSON.parse(edge.vars.UPSTREAMS ?? '{}') as Record<string, string>;
  console.log(`
FastReg edge listening on ${mirror}
  state:     ${stateDir}
  upstreams: ${Object.entries(upstreams).map(([ns, url]) => `${ns} -> ${url}`).join(', ')}
  token:     ${tokenGiven ? '(from FASTREG_TOKEN)' : `${edge.token}   (generated; set FASTREG_TOKEN to choose one)`}
${localSettingsBanner(edge.varSources, edge.vars)}
Docker: /etc/docker/daemon.json
  { "registry-mirrors": ["${mirror}"] }

containerd: /etc/containerd/certs.d/docker.io/hosts.toml  (config_path = "/etc/containerd/certs.d")
  server = "https://registry-1.docker.io"
  [host."${mirror}"]
    capabilities = ["pull", "resolve"]

Ctrl-C stops.`);

  const sidecar: LocalSidecar | undefined =
    process.env.FASTREG_START_SIDECAR === '0' ? undefined : startLocalSidecar({ edgeUrl: mirror, enrollToken: edge.enrollToken, stateDir });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping…`);
    (sidecar?.stop() ?? Promise.resolve()).then(() => edge.stop()).then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  // wrangler's module installs SIGINT/SIGTERM handlers that exit at once; dispose first instead
  // (its cleanup also runs on 'exit').
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => stop(signal));
  }
}

main().catch((err: unknown) => {
  if (err instanceof EdgeStartError) {
    console.error(`fastreg: ${err.message}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
