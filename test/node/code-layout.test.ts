import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadLayoutConfig, readmeLayout, renderLayout, REPO_ROOT } from '../../scripts/code-layout.js';

// README.md's "Code layout" section is the dependency-cruiser config the layout check uses, rendered.

describe('README code layout', () => {
  const config = loadLayoutConfig();

  it('is the layout config, rendered (npx tsx scripts/code-layout.ts --write after changing it)', () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    expect(readmeLayout(readme)).toBe(renderLayout(config));
  });

  it('names each module with the modules it may import, as the config allows them', () => {
    const section = renderLayout(config);
    expect(section).toContain('| sidecar | `sidecar/` |');
    expect(section).toMatch(/\| sidecar \|[^\n]*\| shared \|\n/);
    expect(section).toMatch(/\| workers \|[^\n]*\| durable-objects, shared \|\n/);
    expect(section).toMatch(/\| shared \|[^\n]*\| nothing outside itself \|\n/);
    const fewer = { ...config, allowed: config.allowed.map((rule) => (rule.comment?.startsWith('sidecar: ') ? { ...rule, to: { path: [rule.from.path as string] } } : rule)) };
    expect(renderLayout(fewer)).toMatch(/\| sidecar \|[^\n]*\| nothing outside itself \|\n/);
  });
});

describe('comments', () => {
  it('cite nothing outside the repository (no design document sections)', () => {
    const files = execFileSync('git', ['ls-files', '*.ts', '*.js', '*.cjs', '*.mjs', '*.md'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
    expect(files.length).toBeGreaterThan(100);
    const citing = files.filter((file) => /DESIGN(\.md)? ?§/.test(readFileSync(path.join(REPO_ROOT, file), 'utf8')));
    expect(citing).toEqual([]);
  });
});
