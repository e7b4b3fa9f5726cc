import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../../scripts/edge-launcher.js';

/** The `fastreg` command as a user runs it. */
export const FASTREG_BIN = path.join(REPO_ROOT, 'bin', 'fastreg.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** FASTREG_EDGE. */
  edge: string;
  /** FASTREG_TOKEN; `null` runs the command with no token at all. */
  token: string | null;
  timeoutMs?: number;
}

/** The environment `fastreg` runs in: this process's, with the edge and token set (or the token removed). */
export function cliEnv(options: Pick<CliOptions, 'edge' | 'token'>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FASTREG_EDGE: options.edge, NO_COLOR: '1' };
  if (options.token === null) delete env.FASTREG_TOKEN;
  else env.FASTREG_TOKEN = options.token;
  return env;
}

/** Runs `fastreg <args>` to its end (bounded by `timeoutMs`, default 30 s) and returns its exit code and output. */
export function runFastreg(args: string[], options: CliOptions): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FASTREG_BIN, ...args], { cwd: REPO_ROOT, env: cliEnv(options), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`fastreg ${args.join(' ')} did not exit within ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
