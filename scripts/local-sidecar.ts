import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './edge-launcher.js';

// The sidecar `npm start` runs beside the local edge: the real `fastreg sidecar` command as a child
// process, enrolled and registered with the edge, state under the edge's state dir, libp2p on loopback.

export interface LocalSidecar {
  child: ChildProcess;
  stop(): Promise<void>;
}

export function startLocalSidecar(options: { edgeUrl: string; enrollToken: string; stateDir: string }): LocalSidecar {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FASTREG_EDGE: options.edgeUrl,
    // The sidecar enrolls for its own credential and the swarm key; the admin token stays with the edge.
    FASTREG_ENROLL_TOKEN: options.enrollToken,
    FASTREG_STORAGE_DIR: process.env.FASTREG_STORAGE_DIR ?? path.join(options.stateDir, 'sidecar'),
    // Local defaults: a free libp2p port on loopback; set FASTREG_LISTEN to join a real LAN.
    FASTREG_LISTEN: process.env.FASTREG_LISTEN ?? '/ip4/127.0.0.1/tcp/0',
  };
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/fastreg.js'), 'sidecar'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = (stream: NodeJS.WritableStream) => (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line) stream.write(`[sidecar] ${line}\n`);
  };
  child.stdout?.on('data', prefix(process.stdout));
  child.stderr?.on('data', prefix(process.stderr));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    if (!stopping) console.error(`[sidecar] exited (${signal ?? `code ${code}`}); the edge keeps running without it`);
  });
  let stopping = false;
  return {
    child,
    async stop() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
