import cliProgress from 'cli-progress';
import { formatSize } from '../sizes.js';
import type { WarmedBlob } from './blob-warmer.js';

/** Progress of a prefetch on stderr: a bar over the total bytes on a terminal, else one line per finished blob. */
export interface Progress {
  advance(bytes: number): void;
  finished(blob: WarmedBlob): void;
  stop(): void;
}

export function createProgress(totalBytes: number, totalBlobs: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  let done = 0;
  if (!stream.isTTY) {
    return {
      advance: () => undefined,
      finished: (blob) => {
        done += 1;
        const where = blob.sidecar ? ` on ${blob.sidecar}` : ' (edge, no sidecar warmed)';
        stream.write(`[${done}/${totalBlobs}] ${blob.digest.slice(0, 19)} ${formatSize(blob.bytes)} from ${blob.source}${where}\n`);
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: 'warming {bar} {percentage}% | {done} of {total_size} | {blobs}/{total_blobs} blobs',
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let bytes = 0;
  const payload = () => ({ done: formatSize(bytes), total_size: formatSize(totalBytes), blobs: done, total_blobs: totalBlobs });
  bar.start(Math.max(totalBytes, 1), 0, payload());
  return {
    advance: (count) => {
      bytes += count;
      bar.update(bytes, payload());
    },
    finished: () => {
      done += 1;
      bar.update(bytes, payload());
    },
    stop: () => bar.stop(),
  };
}
