import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAYOUT_CONFIG, REPO_ROOT } from '../../scripts/code-layout.js';

// The layout check of npm test (npm run check:layout): the real tree passes it, and a tree with
// forbidden imports planted in it fails it, rule by rule. The planted tree is a throwaway folder
// laid out like the repository (same folder names), checked with the repository's own config, so
// nothing is ever planted in the repository itself.

const DEPCRUISE = path.join(REPO_ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

/** The arguments `npm run check:layout` gives depcruise, with the config named by its absolute path. */
function checkArguments(): string[] {
  const script = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['check:layout'];
  const words = script?.split(/\s+/) ?? [];
  expect(words[0]).toBe('depcruise');
  return words.slice(1).map((word) => (word === '.dependency-cruiser.cjs' ? LAYOUT_CONFIG : word));
}

interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}

/** The check as npm test runs it: its exit status and what it prints. */
function check(cwd: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [DEPCRUISE, ...checkArguments()], { cwd, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The same check's violations, as JSON. */
function violations(cwd: string): string[] {
  const result = spawnSync(process.execPath, [DEPCRUISE, ...checkArguments(), '--output-type', 'json'], { cwd, encoding: 'utf8', timeout: 60_000 });
  expect(result.stderr).toBe('');
  const output = JSON.parse(result.stdout) as { summary: { violations: Violation[] } };
  return output.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
}

const PLANTED: Record<string, string> = {
  'workers/shared/oci/index.ts': 'export const digest = 1;\n',
  'workers/shared/edge-config.ts': 'export const config = 1;\n',
  'workers/shared/uses-node.ts': "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n",
  'workers/app.ts': "import { digest } from './shared/oci/index.js';\nexport const app = digest;\n",
  'workers/uses-bench.ts': "import { bench } from '../bench/run.js';\nexport const x = bench;\n",
  'workers/metrics/sidecars.ts': "import { site } from '../sites/addresses.js';\nexport const count = site;\n",
  'workers/sites/addresses.ts': 'export const site = 1;\n',
  'workers/sites/redirect.ts': "import { count } from '../metrics/sidecars.js';\nexport const redirect = count;\n",
  'durable-objects/lease.ts': "import { digest } from '../workers/shared/oci/index.js';\nexport const lease = digest;\n",
  'durable-objects/uses-workers.ts': "import { app } from '../workers/app.js';\nexport const y = app;\n",
  'sidecar/store.ts': "import { digest } from '../workers/shared/oci/index.js';\nexport const store = digest;\n",
  'sidecar/uses-workers.ts': "import { app } from '../workers/app.js';\nexport const z = app;\n",
  'sidecar/uses-edge-config.ts': "import { config } from '../workers/shared/edge-config.js';\nexport const c = config;\n",
  'sidecar/uses-scripts.ts': "import { script } from '../scripts/tool.js';\nexport const s = script;\n",
  'sidecar/cycle-a.ts': "import { b } from './cycle-b.js';\nexport const a = () => b;\n",
  'sidecar/cycle-b.ts': "import { a } from './cycle-a.js';\nexport const b = () => a;\n",
  'sidecar/types-a.ts': "import type { B } from './types-b.js';\nexport interface A { b?: B }\n",
  'sidecar/types-b.ts': "import type { A } from './types-a.js';\nexport interface B { a?: A }\n",
  'scripts/tool.ts': "import { store } from '../sidecar/store.js';\nexport const script = store;\n",
  'bin/fastreg.js': "import '../sidecar/store.js';\n",
  'test/helpers/harness.ts': "import { script } from '../../scripts/tool.js';\nexport const harness = script;\n",
  'test/node/some.test.ts': "import { harness } from '../helpers/harness.js';\nexport const t = harness;\n",
  'bench/run.ts': "import { harness } from '../test/helpers/harness.js';\nexport const bench = harness;\n",
  'bench/uses-tests.ts': "import { t } from '../test/node/some.test.js';\nexport const u = t;\n",
};

describe('layout check', () => {
  it('passes on the repository', () => {
    const result = check(REPO_ROOT);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('no dependency violations found');
    expect(result.status).toBe(0);
  });

  describe('on a tree with forbidden imports planted', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'fastreg-layout-'));
      for (const [file, text] of Object.entries(PLANTED)) {
        mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        writeFileSync(path.join(dir, file), text);
      }
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('fails, naming every forbidden import and nothing else (a cycle once; a type-only cycle is no cycle)', () => {
      expect(violations(dir)).toEqual(
        [
          'no-circular: sidecar/cycle-a.ts -> sidecar/cycle-b.ts',
          'not-in-allowed: bench/uses-tests.ts -> test/node/some.test.ts',
          'not-in-allowed: durable-objects/uses-workers.ts -> workers/app.ts',
          'not-in-allowed: sidecar/uses-scripts.ts -> scripts/tool.ts',
          'not-in-allowed: sidecar/uses-workers.ts -> workers/app.ts',
          'not-in-allowed: workers/shared/uses-node.ts -> fs',
          'not-in-allowed: workers/uses-bench.ts -> bench/run.ts',
          'sidecar-no-edge-config: sidecar/uses-edge-config.ts -> workers/shared/edge-config.ts',
          'sites-not-metrics: workers/sites/redirect.ts -> workers/metrics/sidecars.ts',
        ].sort(),
      );
    });

    it('makes npm test fail', () => {
      const result = check(dir);
      expect(result.stdout).toContain('error not-in-allowed: sidecar/uses-workers.ts → workers/app.ts');
      expect(result.stdout).toContain('9 dependency violations (9 errors');
      expect(result.status).not.toBe(0);
    });
  });
});
