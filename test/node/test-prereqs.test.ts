import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../scripts/edge-launcher.js';
import { SYSTEM_TOOLS, findCommand } from '../../scripts/test-prereqs.js';

// The check `npm test` runs first, with a PATH that hides one tool.

const SCRIPT = path.join(REPO_ROOT, 'scripts', 'test-prereqs.ts');
let dir: string;

/** A folder of links to every system tool except `hidden`, to be the whole PATH. */
function fakePath(name: string, hidden: string[]): string {
  const bin = path.join(dir, name);
  mkdirSync(bin, { recursive: true });
  for (const tool of SYSTEM_TOOLS) {
    if (hidden.includes(tool.command)) continue;
    const real = findCommand(tool.command);
    if (!real) throw new Error(`${tool.command} is not installed on this machine, so the test cannot hide it selectively`);
    symlinkSync(real, path.join(bin, tool.command));
  }
  return bin;
}

function runCheck(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`test-prereqs did not exit within 30 s\n${stderr}`));
    }, 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ms: Date.now() - started });
    });
  });
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fastreg-prereqs-'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('npm test prerequisites (scripts/test-prereqs.ts)', () => {
  it('passes when every tool is on PATH', async () => {
    const result = await runCheck({ ...process.env, PATH: fakePath('all', []), FASTREG_TEST_PREREQS: 'check' });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('stops at once with the exact install line when a tool is hidden from PATH', async () => {
    const result = await runCheck({ ...process.env, PATH: fakePath('no-skopeo', ['skopeo']), FASTREG_TEST_PREREQS: 'check' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('skopeo (Debian package skopeo)');
    expect(result.stderr).toMatch(/^ {2}(sudo )?apt-get install -y --no-install-recommends skopeo$/m);
    // Only the hidden tool is named.
    expect(result.stderr).not.toContain('docker-registry');
    expect(result.ms).toBeLessThan(15_000);
  });

  it.skipIf(process.getuid?.() !== 0 || !existsSync('/etc/debian_version'))('on Debian as root installs the missing tool itself (apt-get faked)', async () => {
    const bin = fakePath('auto', ['skopeo']);
    const log = path.join(dir, 'apt.log');
    // The fake apt-get logs its arguments and "installs" skopeo by putting an executable into PATH.
    writeFileSync(
      path.join(bin, 'apt-get'),
      `#!/bin/sh\necho "$@" >> ${JSON.stringify(log)}\nif [ "$1" = install ]; then printf '#!/bin/sh\\n' > ${JSON.stringify(path.join(bin, 'skopeo'))}; /bin/chmod +x ${JSON.stringify(path.join(bin, 'skopeo'))}; fi\n`,
    );
    chmodSync(path.join(bin, 'apt-get'), 0o755);
    const result = await runCheck({ ...process.env, PATH: bin, FASTREG_TEST_PREREQS: 'auto' });
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual(['update -qq', 'install -y --no-install-recommends skopeo']);
  });
});
