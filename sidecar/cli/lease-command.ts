import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Command, Option } from 'commander';
import { LEASE_CLIENT_DEFAULTS, LeaseClient, LeaseError, type RegisterEntry } from '../lease/index.js';
import { positiveInt, edgeOption, tokenOption, type EdgeOptions } from './arguments.js';
import { printJson, printTable } from './output.js';
import { CliError } from '../errors.js';

// `fastreg lease …`: the edge's batch lease API for external workers, through the package's LeaseClient.

interface LeaseOptions extends EdgeOptions {
  timeout: number;
  json?: boolean;
}

export function leaseCommand(): Command {
  const lease = new Command('lease')
    .description('Batch leases for external workers (block dedupe): can-offload, register, match-prefix, stats')
    .addOption(edgeOption())
    .addOption(tokenOption('bearer token (FASTREG_TOKEN); the lease API always needs it'))
    .addOption(new Option('--timeout <ms>', 'deadline of each request').env('FASTREG_LEASE_TIMEOUT').argParser(positiveInt).default(LEASE_CLIENT_DEFAULTS.timeoutMs))
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ export FASTREG_EDGE=http://127.0.0.1:8787 FASTREG_TOKEN=…
  $ fastreg lease can-offload block-a block-b --holder worker-1
  $ fastreg lease register block-a block-b block-c --chain        # each key's parent is the key before it
  $ fastreg lease register --file entries.json                      # [{"key":…,"parent"?:…,"value"?:…,"size"?:…}]
  $ fastreg lease match-prefix block-a block-b block-c
  $ fastreg lease stats --json

The same client is a library: import { LeaseClient } from 'fastreg/lease-client'.`,
    );

  lease
    .command('can-offload')
    .description('ask, per key: Granted (you fetch it), AlreadyStored, or Leased (someone else is fetching it)')
    .argument('<keys...>', 'keys, in order')
    .option('--holder <name>', 'who holds the granted leases', `${hostname()}-${process.pid}`)
    .action(async (keys: string[], options: { holder: string }, command: Command) => {
      const results = await run(command, (client) => client.canOffload(keys, options.holder));
      output(command, { results }, () =>
        printTable(['KEY', 'ANSWER', 'DETAIL'], results.map((r) => [r.key, r.kind, r.kind === 'AlreadyStored' ? (r.size === undefined ? '' : `size ${r.size}`) : `until ${new Date(r.expiresAt).toISOString()}`])),
      );
    });

  lease
    .command('register')
    .description('register keys as stored, in batches (parents before children)')
    .argument('[keys...]', 'keys to register')
    .option('-f, --file <path>', 'JSON array of entries {key, parent?, value?, size?, metadata?} ("-" for stdin)')
    .option('--chain', 'each key names the key before it as parent')
    .option('--value <value>', 'value stored with every key given as an argument')
    .addOption(new Option('--batch-size <n>', 'registrations per request').argParser(positiveInt).default(LEASE_CLIENT_DEFAULTS.batchSize))
    .addOption(new Option('--batch-timeout <ms>', 'how long a batch waits for more entries').argParser(positiveInt).default(LEASE_CLIENT_DEFAULTS.batchTimeoutMs))
    .action(async (keys: string[], options: { file?: string; chain?: boolean; value?: string; batchSize: number; batchTimeout: number }, command: Command) => {
      const entries = [...(options.file ? await readEntries(options.file) : [])];
      keys.forEach((key, i) => entries.push({ key, ...(options.chain && i > 0 && { parent: keys[i - 1] }), ...(options.value !== undefined && { value: options.value }) }));
      if (entries.length === 0) throw new CliError('nothing to register: give keys or --file', 2);
      const totals = await run(
        command,
        async (client) => {
          const acks = entries.map((entry) => client.register(entry));
          await client.flush();
          const settled = await Promise.all(acks);
          // Every entry of a batch carries that batch's ack; count each batch once.
          const batches = new Set(settled);
          const sum = { entries: entries.length, batches: batches.size, stored: 0, evicted: 0, skipped: 0 };
          for (const ack of batches) {
            sum.stored += ack.stored;
            sum.evicted += ack.evicted;
            sum.skipped += ack.skipped;
          }
          return sum;
        },
        { batchSize: options.batchSize, batchTimeoutMs: options.batchTimeout },
      );
      output(command, totals, () =>
        process.stdout.write(`registered ${totals.stored} of ${totals.entries} in ${totals.batches} batch(es); evicted ${totals.evicted}, skipped ${totals.skipped} (parent not registered)\n`),
      );
    });

  lease
    .command('match-prefix')
    .description('the longest registered prefix of a sequence of keys')
    .argument('<keys...>', 'the sequence, in order')
    .action(async (keys: string[], _options: unknown, command: Command) => {
      const match = await run(command, (client) => client.matchPrefix(keys));
      output(command, match, () => process.stdout.write(`${match.count} of ${keys.length}${match.lastKey === undefined ? '' : ` (last: ${match.lastKey}${match.lastValue === undefined ? '' : ` = ${match.lastValue}`})`}\n`));
    });

  lease
    .command('stats')
    .description('lease and registration counters over all shards')
    .action(async (_options: unknown, command: Command) => {
      const stats = await run(command, (client) => client.stats());
      output(command, stats, () => printTable(['FIELD', 'VALUE'], Object.entries(stats).filter(([key]) => key !== 'version').map(([key, value]) => [key, String(value)])));
    });

  return lease;
}

async function run<T>(command: Command, action: (client: LeaseClient) => Promise<T>, batching: { batchSize?: number; batchTimeoutMs?: number } = {}): Promise<T> {
  const options = command.optsWithGlobals<LeaseOptions>();
  if (!options.token) throw new CliError('the lease API needs a token: set FASTREG_TOKEN or pass --token', 2);
  let client: LeaseClient;
  try {
    client = new LeaseClient({ edge: options.edge, token: options.token, timeoutMs: options.timeout, ...batching });
  } catch (err) {
    throw new CliError((err as Error).message, 2);
  }
  try {
    return await action(client);
  } catch (err) {
    if (err instanceof LeaseError) throw new CliError(err.message, err.status === 404 ? 3 : 1);
    throw err;
  }
}

function output(command: Command, value: unknown, human: () => void): void {
  if (command.optsWithGlobals<LeaseOptions>().json) printJson(value);
  else human();
}

async function readEntries(file: string): Promise<RegisterEntry[]> {
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8').catch((err: Error) => {
    throw new CliError(`cannot read ${file}: ${err.message}`, 2);
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(`${file} is not JSON`, 2);
  }
  if (!Array.isArray(parsed) || !parsed.every((e) => typeof e === 'object' && e !== null && typeof (e as { key?: unknown }).key === 'string')) {
    throw new CliError(`${file} must be a JSON array of entries with a "key"`, 2);
  }
  return parsed as RegisterEntry[];
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 16 * 1024 * 1024) throw new CliError('stdin is larger than 16 MiB', 2);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
