import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { EdgeClient } from '../edge/edge-client.js';
import { EdgeHttpError, EdgeUnreachableError, CliError } from '../errors.js';
import type { ServiceInfo, ServiceRecord, ServiceRecordInput } from '../edge/services-client.js';
import { ServicesClient } from '../edge/services-client.js';
import { infoRows } from './info-rows.js';
import { printJson, printTable } from './output.js';
import { positiveInt, positiveNumber, edgeOption, tokenOption, type EdgeOptions } from './arguments.js';
import { readBounded } from '../../workers/shared/http/read-bounded.js';

// `fastreg services …`: service records on the edge (add, get, list, delete, search, watch, heartbeat).

interface GlobalOptions extends EdgeOptions {
  json?: boolean;
}

const NUMERIC_INFO = new Set(['rttSoftMs', 'rttHardMs', 'cpu', 'memoryMb']);
const STRING_INFO = new Set(['contentHash', 'dockerImageHash']);

export function servicesCommand(): Command {
  const services = new Command('services')
    .description('Manage service records on the edge: which services and sidecars exist, where, and with what capacity.')
    .addOption(edgeOption())
    .addOption(tokenOption('bearer token: FASTREG_TOKEN (admin) or an owner token; needed for writes'))
    .option('--json', 'print JSON instead of a table (watch prints one JSON event per line)')
    .addHelpText(
      'after',
      `
Records live in a resource (for example one per site or service tag). A record expires after its TTL
unless it gets a heartbeat; the owner of a record is the token that created it.

Examples:
  $ export FASTREG_EDGE=http://127.0.0.1:8787 FASTREG_TOKEN=…
  $ fastreg services add lab builder-1 --endpoint http://10.0.0.5:5050 --tag ci --tag amd64 --ttl 120
  $ fastreg services add lab builder-2 --file record.json
  $ fastreg services list lab --limit 50
  $ fastreg services search lab "builder" --tag amd64 --category sidecar
  $ fastreg services watch lab --json
  $ fastreg services delete lab builder-1`,
    );

  services
    .command('add')
    .alias('put')
    .description('add a record, or replace it if it exists (only its owner or the admin may replace it)')
    .argument('<resource>', 'resource name, e.g. "lab"')
    .argument('<id>', 'service id, e.g. a hostname or a libp2p peer ID')
    .option('-f, --file <path>', 'read the record from a JSON file ("-" for stdin); flags override its fields')
    .option('--name <name>', 'service name (default: the id)')
    .option('--service-version <version>', 'service version')
    .option('--description <text>', 'free text, matched by search')
    .option('--endpoint <url>', 'http(s) URL where the service is reached')
    .option('--peer-id <id>', 'libp2p peer ID')
    .option('--multiaddr <addr>', 'libp2p multiaddr (repeatable)', collect)
    .option('--tag <tag>', 'tag (repeatable)', collect)
    .option('--category <category>', 'category, matched exactly by search')
    .option('--ttl <seconds>', 'seconds the record lives without a heartbeat (default 60)', positiveInt)
    .option(
      '--info <key=value>',
      'info field (repeatable): contentHash, dockerImageHash, rttSoftMs, rttHardMs, cpu, memoryMb; other keys go to info.extra',
      collect,
    )
    .addHelpText(
      'after',
      `
Examples:
  $ fastreg services add lab builder-1 --endpoint http://10.0.0.5:5050 --tag ci --info cpu=8 --info memoryMb=16384
  $ fastreg services add lab builder-1 --file record.json --ttl 300
  record.json: {"name":"builder","endpoint":"http://10.0.0.5:5050","tags":["ci"],"info":{"rttHardMs":20}}`,
    )
    .action(async (resource: string, id: string, options: AddOptions, command: Command) => {
      const record = await recordFromOptions(id, options);
      const stored = await run(command, (client) => client.put(resource, id, record));
      output(command, stored, () => printRecord(stored));
    });

  services
    .command('get')
    .description('show one record')
    .argument('<resource>', 'resource name')
    .argument('<id>', 'service id')
    .action(async (resource: string, id: string, _options: unknown, command: Command) => {
      const record = await run(command, (client) => client.get(resource, id));
      output(command, record, () => printRecord(record));
    });

  services
    .command('list')
    .alias('ls')
    .description('list the live records of a resource, in id order')
    .argument('<resource>', 'resource name')
    .option('--limit <n>', 'records per page (1-500)', positiveInt, 100)
    .option('--cursor <cursor>', 'continue after a previous page (its nextCursor)')
    .option('--all', 'follow cursors and print every record')
    .action(async (resource: string, options: { limit: number; cursor?: string; all?: boolean }, command: Command) => {
      const records: ServiceRecord[] = [];
      let cursor = options.cursor;
      let nextCursor: string | undefined;
      for (let page = 0; page < 10_000; page++) {
        const answer = await run(command, (client) => client.list(resource, { limit: options.limit, ...(cursor && { cursor }) }));
        records.push(...answer.records);
        nextCursor = answer.nextCursor;
        if (!options.all || !nextCursor) break;
        cursor = nextCursor;
      }
      output(command, { records, ...(!options.all && nextCursor && { nextCursor }) }, () => {
        printRecords(records);
        if (!options.all && nextCursor) process.stderr.write(`more: --cursor ${nextCursor}\n`);
      });
    });

  services
    .command('delete')
    .alias('rm')
    .description('delete a record (only its owner or the admin may)')
    .argument('<resource>', 'resource name')
    .argument('<id>', 'service id')
    .action(async (resource: string, id: string, _options: unknown, command: Command) => {
      const deleted = await run(command, (client) => client.delete(resource, id));
      output(command, { deleted }, () => process.stdout.write(`deleted ${resource}/${id}\n`));
    });

  services
    .command('heartbeat')
    .description('keep a record alive for another TTL')
    .argument('<resource>', 'resource name')
    .argument('<id>', 'service id')
    .action(async (resource: string, id: string, _options: unknown, command: Command) => {
      const record = await run(command, (client) => client.heartbeat(resource, id));
      output(command, record, () => process.stdout.write(`${resource}/${id} expires at ${record.expiresAt}\n`));
    });

  services
    .command('search')
    .description('search a resource by text, tags (all must match) and category; best score first')
    .argument('<resource>', 'resource name')
    .argument('[query...]', 'words matched against id, name, tags and description')
    .option('--tag <tag>', 'required tag (repeatable)', collect)
    .option('--category <category>', 'exact category')
    .option('--limit <n>', 'at most this many hits (1-200)', positiveInt, 20)
    .addHelpText('after', `
Scoring: per word, an exact id/name match weighs 10, a prefix 6, a substring 4, an exact tag 5, part of a
tag 2, the description/category/version 1. Every word must match.

Example:
  $ fastreg services search lab builder --tag amd64 --limit 5`)
    .action(async (resource: string, query: string[], options: { tag?: string[]; category?: string; limit: number }, command: Command) => {
      const { hits } = await run(command, (client) =>
        client.search(resource, {
          q: query.join(' '),
          tags: options.tag,
          limit: options.limit,
          ...(options.category && { category: options.category }),
        }),
      );
      output(command, { hits }, () =>
        printTable(
          ['SCORE', 'ID', 'NAME', 'ENDPOINT', 'TAGS', 'CATEGORY'],
          hits.map(({ score, record }) => [score, record.id, record.name, record.endpoint ?? '', record.tags.join(','), record.category ?? '']),
        ),
      );
    });

  services
    .command('watch')
    .description('print add, update, delete and expire events of a resource as they happen, until Ctrl-C')
    .argument('<resource>', 'resource name')
    .option('--count <n>', 'stop after this many events', positiveInt)
    .option('--timeout <seconds>', 'stop after this many seconds (an error if --count was not reached)', positiveNumber)
    .addHelpText('after', `
"watching <resource>" is written to stderr once the subscription is live.

Examples:
  $ fastreg services watch lab
  $ fastreg services watch lab --json --count 1 --timeout 30`)
    .action(async (resource: string, options: { count?: number; timeout?: number }, command: Command) => {
      await watch(command, resource, options);
    });

  for (const sub of services.commands) sub.showHelpAfterError('(run with --help for usage)').exitOverride();
  return services.exitOverride();
}

interface AddOptions {
  file?: string;
  name?: string;
  serviceVersion?: string;
  description?: string;
  endpoint?: string;
  peerId?: string;
  multiaddr?: string[];
  tag?: string[];
  category?: string;
  ttl?: number;
  info?: string[];
}

async function recordFromOptions(id: string, options: AddOptions): Promise<ServiceRecordInput> {
  let base: Partial<ServiceRecordInput> = {};
  if (options.file) {
    let text: string;
    try {
      text = options.file === '-' ? await readStdin() : await readFile(options.file, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read ${options.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      base = JSON.parse(text) as Partial<ServiceRecordInput>;
    } catch {
      throw new CliError(`${options.file} is not valid JSON`);
    }
    if (typeof base !== 'object' || base === null || Array.isArray(base)) throw new CliError(`${options.file} must hold a JSON object`);
  }
  const info: ServiceInfo = { ...base.info };
  for (const pair of options.info ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CliError(`--info "${pair}" must be key=value`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (NUMERIC_INFO.has(key)) {
      const number = Number(value);
      if (value === '' || !Number.isFinite(number)) throw new CliError(`--info ${key} must be a number`);
      (info as Record<string, number>)[key] = number;
    } else if (STRING_INFO.has(key)) {
      (info as Record<string, string>)[key] = value;
    } else {
      info.extra = { ...info.extra, [key]: value };
    }
  }
  const record: ServiceRecordInput = { ...base, name: options.name ?? base.name ?? id };
  if (options.serviceVersion !== undefined) record.version = options.serviceVersion;
  if (options.description !== undefined) record.description = options.description;
  if (options.endpoint !== undefined) record.endpoint = options.endpoint;
  if (options.peerId !== undefined) record.peerId = options.peerId;
  if (options.multiaddr) record.multiaddrs = options.multiaddr;
  if (options.tag) record.tags = options.tag;
  if (options.category !== undefined) record.category = options.category;
  if (options.ttl !== undefined) record.ttlSeconds = options.ttl;
  if (Object.keys(info).length > 0) record.info = info;
  return record;
}

async function watch(command: Command, resource: string, options: { count?: number; timeout?: number }): Promise<void> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  const controller = new AbortController();
  const onSigint = () => controller.abort(new Error('interrupted'));
  process.once('SIGINT', onSigint);
  let timedOut = false;
  const timer = options.timeout === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    controller.abort(new Error('timeout'));
  }, options.timeout * 1000);
  let seen = 0;
  try {
    await run(command, async (client) => {
      for await (const event of client.watch(resource, controller.signal)) {
        if (event.type === 'ready') {
          process.stderr.write(`watching ${resource}\n`);
          continue;
        }
        seen++;
        if (globals.json) process.stdout.write(`${JSON.stringify(event)}\n`);
        else process.stdout.write(`${event.at}  ${event.type.padEnd(6)}  ${event.id}  ${event.record.name}${event.record.endpoint ? `  ${event.record.endpoint}` : ''}\n`);
        if (options.count !== undefined && seen >= options.count) break;
      }
    });
  } finally {
    clearTimeout(timer);
    process.off('SIGINT', onSigint);
    controller.abort();
  }
  if (timedOut && options.count !== undefined && seen < options.count) {
    throw new CliError(`timed out after ${options.timeout}s with ${seen} of ${options.count} events`);
  }
  if (!controller.signal.aborted && options.count === undefined) throw new CliError('the edge closed the watch stream');
}

/** Runs an API call, turning HTTP and network failures into one-line CliErrors. */
async function run<T>(command: Command, call: (client: ServicesClient) => Promise<T>): Promise<T> {
  const globals = command.optsWithGlobals<GlobalOptions>();
  let edge: EdgeClient;
  try {
    edge = new EdgeClient({ baseUrl: globals.edge, ...(globals.token && { token: globals.token }) });
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  try {
    return await call(new ServicesClient(edge));
  } catch (err) {
    if (err instanceof EdgeHttpError) {
      const hint = err.status === 401 && !globals.token ? ' (set --token or FASTREG_TOKEN)' : '';
      throw new CliError(`${err.status} ${err.code}: ${err.message}${hint}`);
    }
    if (err instanceof EdgeUnreachableError) throw new CliError(err.message);
    throw err;
  }
}

function output(command: Command, value: unknown, table: () => void): void {
  if (command.optsWithGlobals<GlobalOptions>().json) printJson(value);
  else table();
}

function printRecords(records: ServiceRecord[]): void {
  printTable(
    ['ID', 'NAME', 'VERSION', 'ENDPOINT', 'TAGS', 'OWNER', 'EXPIRES IN'],
    records.map((r) => [r.id, r.name, r.version ?? '', r.endpoint ?? '', r.tags.join(','), r.owner, expiresIn(r.expiresAt)]),
  );
}

function printRecord(record: ServiceRecord): void {
  const rows: [string, string][] = [
    ['resource', record.resource],
    ['id', record.id],
    ['name', record.name],
    ['version', record.version ?? ''],
    ['description', record.description ?? ''],
    ['endpoint', record.endpoint ?? ''],
    ['peer id', record.peerId ?? ''],
    ['multiaddrs', record.multiaddrs.join('\n')],
    ['tags', record.tags.join(', ')],
    ['category', record.category ?? ''],
    ...infoRows(record.info),
    ['owner', record.owner],
    ['seen from', record.observedIp ?? ''],
    ['ttl', `${record.ttlSeconds}s`],
    ['updated', record.updatedAt],
    ['expires in', expiresIn(record.expiresAt)],
  ];
  printTable(['FIELD', 'VALUE'], rows.filter(([, value]) => value !== ''));
}

function expiresIn(iso: string): string {
  const seconds = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 1000));
  return `${seconds}s`;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

async function readStdin(): Promise<string> {
  const bytes = await readBounded(process.stdin as AsyncIterable<Buffer>, 1024 * 1024, { tooLarge: () => new CliError('stdin record is larger than 1 MiB') });
  return new TextDecoder().decode(bytes);
}
