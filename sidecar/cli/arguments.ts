import { InvalidArgumentError, Option } from 'commander';

// Option-value parsers shared by the subcommands; commander reports their errors with the flag name.

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

/** Where the edge-facing commands look by default: `npm start`'s local edge. */
export const DEFAULT_EDGE = 'http://127.0.0.1:8787';

/** The two options every command that talks to the edge takes. */
export interface EdgeOptions {
  edge: string;
  token?: string;
}

/** `--edge <url>` (FASTREG_EDGE), the edge's base URL. */
export function edgeOption(): Option {
  return new Option('--edge <url>', 'edge base URL').env('FASTREG_EDGE').default(DEFAULT_EDGE);
}

/** `--token <token>` (FASTREG_TOKEN); `help` says what this command needs it for. */
export function tokenOption(help: string): Option {
  return new Option('--token <token>', help).env('FASTREG_TOKEN');
}
