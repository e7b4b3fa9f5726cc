import { formatPlatform } from './platform.js';
import { warmBlob, type WarmVia, type WarmedBlob } from './blob-warmer.js';
import { formatImageReference, type ImageReference } from './image-reference.js';
import { resolveImage, type BlobDescriptor, type EdgeTarget, type PlatformChoice } from './manifest-walk.js';
import type { Progress } from './progress.js';
import { runLimited } from './run-limited.js';
import { summarize, type PrefetchSummary } from './summary.js';

export interface PrefetchOptions {
  edge: EdgeTarget;
  image: ImageReference;
  platform: PlatformChoice;
  /** Sidecars to warm directly; empty: the ones the edge redirects this client to. */
  sidecars: string[];
  concurrency: number;
  blobTimeoutMs: number;
  signal: AbortSignal;
  progress(totalBytes: number, totalBlobs: number): Progress;
}

export interface PrefetchReport extends PrefetchSummary {
  image: string;
  ns?: string;
  manifest: { digest: string; mediaType: string };
  /** Platforms picked from an index; empty for a single manifest. */
  platforms: string[];
  /** What was asked for: every platform, or one. */
  platformChoice: string;
  warmed: WarmedBlob[];
}

/** Resolves the image through the edge, then warms every blob it needs on the sidecars. */
export async function prefetch(options: PrefetchOptions): Promise<PrefetchReport> {
  const started = performance.now();
  const resolved = await resolveImage(options.edge, options.image, options.platform, options.signal);
  const vias: WarmVia[] =
    options.sidecars.length > 0
      ? options.sidecars.map((base) => ({ kind: 'sidecar', sidecar: { role: 'the sidecar', base } }))
      : [{ kind: 'edge', edge: options.edge }];
  const jobs = vias.flatMap((via) => resolved.blobs.map((blob) => ({ via, blob })));
  const progress = options.progress(
    jobs.reduce((sum, job) => sum + job.blob.size, 0),
    jobs.length,
  );
  let warmed: WarmedBlob[];
  try {
    warmed = await runLimited(jobs, options.concurrency, options.signal, async ({ via, blob }: { via: WarmVia; blob: BlobDescriptor }, signal) => {
      const result = await warmBlob(via, blob, {
        name: options.image.name,
        ...(options.edge.ns && { ns: options.edge.ns }),
        signal,
        timeoutMs: options.blobTimeoutMs,
        onBytes: (count) => progress.advance(count),
      });
      progress.finished(result);
      return result;
    });
  } finally {
    progress.stop();
  }
  return {
    image: formatImageReference(options.image),
    ...(options.edge.ns && { ns: options.edge.ns }),
    manifest: { digest: resolved.digest, mediaType: resolved.mediaType },
    platforms: resolved.platforms,
    platformChoice: options.platform.kind === 'all' ? 'all' : formatPlatform(options.platform.platform),
    ...summarize(warmed, performance.now() - started),
    warmed,
  };
}
