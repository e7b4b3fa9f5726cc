import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { resolve } from 'node:path';

// The raw loopback ceilings the throughput figures are held against: a bare sender child
// (bench/p2p-sender.ts) streams N bytes over plain TCP or noise+yamux to whoever connects.

const ROOT = resolve(import.meta.dirname, '..');

export async function spawnSender(mode: 'tcp' | 'libp2p', size: number): Promise<{ child: ChildProcess; info: { port?: number; addr?: string } }> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'bench/p2p-sender.ts'), mode, String(size)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, info: JSON.parse(line.toString().split('\n')[0]!) };
}

/** Seconds to receive `size` bytes over one loopback TCP connection (sender in its own process). */
export async function rawTcpSeconds(size: number): Promise<number> {
  const { child, info } = await spawnSender('tcp', size);
  try {
    const started = performance.now();
    let received = 0;
    const socket = net.connect(info.port!, '127.0.0.1');
    socket.on('data', (chunk: Buffer) => (received += chunk.length));
    await once(socket, 'end');
    if (received !== size) throw new Error(`raw tcp got ${received} of ${size}`);
    return (performance.now() - started) / 1000;
  } finally {
    child.kill('SIGTERM');
  }
}
