import { Command, Option } from 'commander';
import { printJson } from './output.js';
import { CliError } from '../errors.js';
import { tokenOption } from './arguments.js';

const DEFAULT_SIDECAR = 'http://127.0.0.1:5050';

interface KvOptions {
  sidecar: string;
  token?: string;
  json?: boolean;
}

async function call(options: KvOptions, method: 'GET' | 'PUT', key: string, body?: string): Promise<{ key: string; value: string; seq: number }> {
  let url: URL;
  try {
    url = new URL(`/kv/${key.split('/').map(encodeURIComponent).join('/')}`, options.sidecar);
  } catch {
    throw new CliError(`invalid --sidecar URL "${options.sidecar}"`, 2);
  }
  const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8' };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new CliError(`cannot reach the sidecar at ${options.sidecar}: ${(err as Error).message}`);
  }
  const text = await response.text();
  if (!response.ok) {
    let message = text.slice(0, 300);
    try {
      const parsed = JSON.parse(text) as { errors?: { code: string; message: string }[] };
      if (parsed.errors?.[0]) message = `${parsed.errors[0].code}: ${parsed.errors[0].message}`;
    } catch {
      // not an OCI error body
    }
    throw new CliError(`${method} ${key}: ${response.status} ${message}`, response.status === 404 ? 3 : 1);
  }
  return JSON.parse(text) as { key: string; value: string; seq: number };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `fastreg kv put|get`: the DHT key/value space under /fastreg/, through a sidecar's HTTP bridge. */
export function kvCommand(): Command {
  const kv = new Command('kv')
    .description('Read and write DHT key/value records (/fastreg/<key>) through a sidecar')
    .addOption(new Option('--sidecar <url>', 'sidecar HTTP bridge').env('FASTREG_SIDECAR').default(DEFAULT_SIDECAR))
    .addOption(tokenOption('bearer token for writes'))
    .option('--json', 'print the full record as JSON');

  kv.command('put')
    .description('Store a value (use "-" to read it from stdin); the newest write wins on every node')
    .argument('<key>', 'key, e.g. team/build-cache')
    .argument('<value>', 'value (UTF-8, up to 16 KiB), or - for stdin')
    .action(async (key: string, value: string) => {
      const options = kv.opts<KvOptions>();
      if (!options.token) throw new CliError('kv put needs a token: set FASTREG_TOKEN or pass --token', 2);
      const record = await call(options, 'PUT', key, value === '-' ? await readStdin() : value);
      if (options.json) printJson(record);
      else process.stdout.write(`stored ${record.key} (seq ${record.seq})\n`);
    });

  kv.command('get')
    .description('Print the newest value of a key')
    .argument('<key>', 'key')
    .action(async (key: string) => {
      const options = kv.opts<KvOptions>();
      const record = await call(options, 'GET', key);
      if (options.json) printJson(record);
      else process.stdout.write(`${record.value}\n`);
    });
  return kv;
}
