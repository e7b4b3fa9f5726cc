import { Command, InvalidArgumentError, Option } from 'commander';
import { isOciError } from '../../workers/shared/oci/index.js';
import { EdgeClient } from '../edge/edge-client.js';
import { EdgeHttpError, EdgeUnreachableError, CliError } from '../errors.js';
import { parseImageReference, type ImageReference } from '../prefetch/image-reference.js';
import { hostPlatform, parsePlatform, type Platform } from '../prefetch/platform.js';
import { prefetch, type PrefetchReport } from '../prefetch/prefetch.js';
import { createProgress } from '../prefetch/progress.js';
import { formatSize } from '../sizes.js';
import { printJson, printTable } from './output.js';
import { positiveInt, edgeOption, tokenOption, type EdgeOptions } from './arguments.js';

interface PrefetchCliOptions extends EdgeOptions {
  platform?: Platform;
  allPlatforms?: boolean;
  sidecar?: string[];
  concurrency: number;
  timeout: number;
  json?: boolean;
}

/** `fastreg prefetch <image>`: resolve an image through the edge and warm the site's sidecars with its blobs. */
export function prefetchCommand(): Command {
  return new Command('prefetch')
    .description("Resolve an image through the edge and warm this site's sidecars with every blob it needs")
    .argument('<image>', 'image reference: [registry/]name[:tag|@sha256:…], Docker rules (no registry: the edge\'s default)', imageArgument)
    .addOption(edgeOption())
    .addOption(tokenOption('bearer token for the edge, needed when it has PULL_ACCESS=token'))
    .addOption(new Option('--platform <os/arch[/variant]>', "platform to pick from a multi-platform image (default: this host's, as Docker does)").argParser(platformArgument).conflicts('allPlatforms'))
    .option('--all-platforms', 'warm the blobs of every platform of a multi-platform image')
    .addOption(
      new Option('--sidecar <url>', 'warm this sidecar directly instead of the one the edge picks (repeatable; the env var takes a comma-separated list)')
        .env('FASTREG_SIDECAR')
        .argParser(collectSidecars),
    )
    .addOption(new Option('--concurrency <n>', 'blobs fetched at a time').argParser(positiveInt).default(3))
    .addOption(new Option('--timeout <seconds>', 'deadline of one blob').argParser(positiveInt).default(1800))
    .option('--json', 'print the summary as JSON')
    .addHelpText(
      'after',
      `
Manifests come from the edge. Each blob is asked of the edge; a client whose site has live sidecars
gets a 307 to one of them, which fetches the blob (from its store, a LAN peer, or the edge), keeps it
and serves it. Every blob is read through sha256 and a size check and then discarded. When the edge
serves a blob itself (no sidecar for this site), the summary says no sidecar was warmed with it.

Progress goes to stderr (a bar on a terminal, else a line per blob), the summary to stdout. Errors:
one line on stderr and exit code 1 (unknown image, digest mismatch, edge unreachable); 130 on Ctrl-C.

Examples:
  $ fastreg prefetch redis:7 --edge http://mirror.example:8787
  $ fastreg prefetch ghcr.io/org/app@sha256:… --platform linux/arm64 --json
  $ fastreg prefetch node:22 --all-platforms --sidecar http://10.0.0.5:5050 --sidecar http://10.0.0.6:5050`,
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .action(async (image: ImageReference, options: PrefetchCliOptions) => {
      const report = await run(image, options);
      if (options.json) printJson(report);
      else printReport(report);
    });
}

async function run(image: ImageReference, options: PrefetchCliOptions): Promise<PrefetchReport> {
  let base: string;
  try {
    base = new EdgeClient({ baseUrl: options.edge }).baseUrl;
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  const controller = new AbortController();
  const onSigint = () => controller.abort(new CliError('interrupted', 130));
  process.once('SIGINT', onSigint);
  try {
    return await prefetch({
      edge: { role: 'the edge', base, ...(options.token && { token: options.token }), ...(image.registry && { ns: image.registry }) },
      image,
      platform: options.allPlatforms ? { kind: 'all' } : { kind: 'one', platform: options.platform ?? hostPlatform() },
      sidecars: options.sidecar ?? [],
      concurrency: options.concurrency,
      blobTimeoutMs: options.timeout * 1000,
      signal: controller.signal,
      progress: (bytes, blobs) => createProgress(bytes, blobs),
    });
  } catch (err) {
    if (controller.signal.aborted) throw controller.signal.reason;
    if (err instanceof EdgeHttpError || err instanceof EdgeUnreachableError) throw new CliError(err.message);
    if (isOciError(err)) throw new CliError(`${err.code}: ${err.message}`);
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

function printReport(report: PrefetchReport): void {
  const platforms = report.platforms.length > 0 ? ` (${report.platforms.join(', ')})` : '';
  process.stdout.write(`${report.image}${report.ns ? ` via ns=${report.ns}` : ''}: ${report.manifest.digest}${platforms}\n`);
  printTable(
    ['source', 'blobs', 'bytes'],
    [
      ...Object.entries(report.sources).map(([source, tally]) => [source, tally.blobs, formatSize(tally.bytes)]),
      ['total', report.blobs, `${formatSize(report.bytes)} (${report.bytes} bytes)`],
    ],
  );
  const sidecars = Object.entries(report.sidecars);
  if (sidecars.length > 0) printTable(['sidecar warmed', 'blobs', 'bytes'], sidecars.map(([url, tally]) => [url, tally.blobs, formatSize(tally.bytes)]));
  if (report.notWarmed.blobs > 0) {
    process.stdout.write(`${report.notWarmed.blobs} blobs (${formatSize(report.notWarmed.bytes)}) came from the edge itself: no sidecar of this site was warmed with them\n`);
  }
  process.stdout.write(`${formatSize(report.bytes)} in ${(report.elapsedMs / 1000).toFixed(1)} s (${report.mbPerSecond.toFixed(1)} MB/s)\n`);
}

function imageArgument(value: string): ImageReference {
  try {
    return parseImageReference(value);
  } catch (err) {
    throw new InvalidArgumentError(isOciError(err) ? err.message : String(err));
  }
}

function platformArgument(value: string): Platform {
  const platform = parsePlatform(value);
  if (!platform) throw new InvalidArgumentError('expected os/arch[/variant], e.g. linux/amd64 or linux/arm/v7');
  return platform;
}

function collectSidecars(value: string, previous: string[] | undefined): string[] {
  const urls = value.split(',').map((part) => part.trim()).filter(Boolean);
  for (const [i, url] of urls.entries()) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new InvalidArgumentError(`"${url}" is not a URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new InvalidArgumentError(`"${url}" must be http(s)`);
    urls[i] = parsed.origin + parsed.pathname.replace(/\/+$/, '');
  }
  return [...(previous ?? []), ...urls];
}

