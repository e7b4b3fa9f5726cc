// README.md's "Code layout" section, written from the dependency-cruiser config that npm test checks
// imports against, so the two cannot drift. `tsx scripts/code-layout.ts --write` rewrites README.md;
// without --write it prints the section. test/node/code-layout.test.ts fails when they differ.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const REPO_ROOT = resolve(import.meta.dirname, '..');
export const LAYOUT_CONFIG = resolve(REPO_ROOT, '.dependency-cruiser.cjs');
export const BEGIN = '<!-- code-layout:begin (written by scripts/code-layout.ts from .dependency-cruiser.cjs) -->';
export const END = '<!-- code-layout:end -->';

type PathPattern = string | string[];
interface Rule {
  name?: string;
  comment?: string;
  from: { path?: PathPattern; pathNot?: PathPattern };
  to: { path?: PathPattern };
}
export interface LayoutConfig {
  allowed: Rule[];
  forbidden: Rule[];
}

export function loadLayoutConfig(file = LAYOUT_CONFIG): LayoutConfig {
  const require = createRequire(import.meta.url);
  delete require.cache[file];
  return require(file) as LayoutConfig;
}

const list = (pattern: PathPattern | undefined): string[] => (pattern === undefined ? [] : Array.isArray(pattern) ? pattern : [pattern]);

/** `^workers/(?!shared/)` reads "workers/ (but not workers/shared/)". */
function folderOf(pattern: string): string {
  const negative = /^\^(.*)\(\?!(.*)\)$/.exec(pattern);
  if (negative) return `\`${negative[1]}\` (but not \`${negative[1]}${negative[2]}\`)`;
  return `\`${pattern.replace(/^\^/, '').replace(/\\\./g, '.').replace(/\$$/, '')}\``;
}

function splitComment(rule: Rule): { name: string; text: string } {
  const comment = rule.comment ?? '';
  const colon = comment.indexOf(': ');
  return colon < 0 ? { name: rule.name ?? '', text: comment } : { name: comment.slice(0, colon), text: comment.slice(colon + 2) };
}

/**
 * A module rule allows its own folder first, then the folders of the modules it may import; every
 * other allowed rule (packages, runtime modules) and every forbidden rule is listed below the table.
 */
export function renderLayout(config: LayoutConfig): string {
  const modules = config.allowed.filter((rule) => list(rule.from.path).length === 1 && list(rule.to.path)[0] === list(rule.from.path)[0]);
  const nameOf = new Map(modules.map((rule) => [list(rule.from.path)[0]!, splitComment(rule).name]));
  const rows = modules.map((rule) => {
    const { name, text } = splitComment(rule);
    const [own, ...others] = list(rule.to.path);
    const arrows = others.map((path) => nameOf.get(path) ?? folderOf(path));
    return `| ${name} | ${folderOf(own!)} | ${text} | ${arrows.length > 0 ? arrows.join(', ') : 'nothing outside itself'} |`;
  });
  const otherAllowed = config.allowed.filter((rule) => !modules.includes(rule)).map((rule) => splitComment(rule));
  const forbidden = config.forbidden.map((rule) => ({ name: rule.name ?? '', text: rule.comment ?? '' }));
  return [
    BEGIN,
    '| module | folder | its job | may import |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    'Besides:',
    ...otherAllowed.map(({ name, text }) => `- ${name}: ${text}`),
    ...forbidden.map(({ name, text }) => `- \`${name}\`: ${text}`),
    END,
  ].join('\n');
}

/** The section as README.md has it now (markers included), or undefined when it has none. */
export function readmeLayout(readme: string): string | undefined {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  return begin < 0 || end < begin ? undefined : readme.slice(begin, end + END.length);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const section = renderLayout(loadLayoutConfig());
  if (process.argv[2] === '--write') {
    const readmePath = resolve(REPO_ROOT, 'README.md');
    const readme = readFileSync(readmePath, 'utf8');
    const current = readmeLayout(readme);
    if (current === undefined) throw new Error(`README.md has no ${BEGIN} … ${END} section`);
    writeFileSync(readmePath, readme.replace(current, section));
  } else {
    process.stdout.write(`${section}\n`);
  }
}
