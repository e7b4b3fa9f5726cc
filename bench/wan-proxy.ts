import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';

// A WAN-shaped path to the upstream on loopback: each request waits `delayMs` before it is forwarded,
// and every response body shares one link of `mbPerSecond` (a token bucket), so a pull from it
// looks like one from a remote registry rather than from the next process.

export interface WanProxyOptions {
  target: string;
  mbPerSecond: number;
  delayMs: number;
}

export interface WanProxy {
  url: string;
  stop(): Promise<void>;
}

export async function startWanProxy(options: WanProxyOptions): Promise<WanProxy> {
  const target = new URL(options.target);
  const bytesPerMs = (options.mbPerSecond * 1e6) / 1000;
  // The time at which the shared link is free again.
  let linkFreeAt = 0;
  const reserve = (bytes: number): number => {
    const start = Math.max(performance.now(), linkFreeAt);
    linkFreeAt = start + bytes / bytesPerMs;
    return linkFreeAt - performance.now();
  };

  const server = http.createServer((req, res) => {
    setTimeout(() => {
      const upstream = http.request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } },
        async (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          try {
            for await (const chunk of answer as AsyncIterable<Buffer>) {
              // Sleep only once the debt is worth a timer: a timer per 64 KiB chunk would overshoot the pace.
              const wait = reserve(chunk.length);
              if (wait > 20) await new Promise((resolve) => setTimeout(resolve, wait));
              if (!res.write(chunk)) await once(res, 'drain');
            }
            res.end();
          } catch {
            res.destroy();
          }
        },
      );
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      req.pipe(upstream);
    }, options.delayMs);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
