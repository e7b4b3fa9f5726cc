import { run } from '../test/helpers/processes.js';

// GETs with curl (its own process, writing to /dev/null), so client CPU barely counts.

export interface Sample {
  seconds: number;
  bytes: number;
  mbPerSecond: number;
  /** Seconds from this client's start to its first body byte. */
  firstByteSeconds: number;
  /** When this client started, in performance.now() milliseconds of this process. */
  startedAtMs: number;
}

export async function curlGet(url: string, expectedBytes: number): Promise<Sample> {
  const startedAtMs = performance.now();
  const result = await run('curl', ['-sS', '--max-time', '600', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total} %{time_starttransfer}', url], { timeoutMs: 620_000 });
  const [status, size, total, firstByte] = result.stdout.trim().split(' ');
  if (result.code !== 0 || status !== '200' || Number(size) !== expectedBytes) {
    throw new Error(`GET ${url}: curl exit ${result.code}, HTTP ${status}, ${size}/${expectedBytes} bytes ${result.stderr}`);
  }
  const seconds = Number(total);
  return { seconds, bytes: expectedBytes, mbPerSecond: expectedBytes / 1e6 / seconds, firstByteSeconds: Number(firstByte), startedAtMs };
}

export interface BurstTimes {
  /** Wall time from the burst's start until the last client finished. */
  seconds: number;
  /** Each client's first body byte and completion, in seconds from the burst's start, sorted by first byte. */
  clients: { firstByte: number; done: number }[];
  /** Latest first byte minus earliest first byte. */
  firstByteSpreadSeconds: number;
}

/**
 * `clients` concurrent GETs of one URL, all from one curl process (`--parallel-immediate`), so every
 * transfer starts at the same moment: spawning 50 processes takes seconds on a busy 2-core machine.
 */
export async function concurrentGets(url: string, expectedBytes: number, clients: number): Promise<BurstTimes> {
  const started = performance.now();
  const transfers = Array.from({ length: clients }, () => ['-o', '/dev/null', url]).flat();
  const result = await run(
    'curl',
    ['-sS', '--parallel', '--parallel-immediate', '--parallel-max', String(clients), '--max-time', '600', '-w', '%{http_code} %{size_download} %{time_total} %{time_starttransfer}\\n', ...transfers],
    { timeoutMs: 620_000 },
  );
  const seconds = (performance.now() - started) / 1000;
  const lines = result.stdout.trim().split('\n');
  const bad = lines.filter((line) => {
    const [status, size] = line.split(' ');
    return status !== '200' || Number(size) !== expectedBytes;
  });
  if (result.code !== 0 || lines.length !== clients || bad.length > 0) {
    throw new Error(`${clients} parallel GETs of ${url}: curl exit ${result.code}, ${lines.length} transfers, bad: ${bad.slice(0, 3).join('; ')} ${result.stderr.slice(0, 300)}`);
  }
  const times = lines
    .map((line) => {
      const [, , total, firstByte] = line.split(' ').map(Number);
      return { firstByte: firstByte!, done: total! };
    })
    .sort((a, b) => a.firstByte - b.firstByte);
  return { seconds, clients: times, firstByteSpreadSeconds: times[times.length - 1]!.firstByte - times[0]!.firstByte };
}

/** When the burst's last client was done (s from its start). */
export const lastDone = (times: BurstTimes): number => Math.max(...times.clients.map((client) => client.done));
