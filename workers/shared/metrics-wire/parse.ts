// A small reader of the Prometheus text format, for the CLI and tests: one entry per sample line.

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

export function parsePrometheus(text: string): ParsedSample[] {
  const samples: ParsedSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line.slice(0, 200)}`);
    const labels: Record<string, string> = {};
    const body = match[3] ?? '';
    LABEL_PAIR.lastIndex = 0;
    let consumed = 0;
    for (let pair = LABEL_PAIR.exec(body); pair; pair = LABEL_PAIR.exec(body)) {
      labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      consumed = LABEL_PAIR.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`bad labels in: ${line.slice(0, 200)}`);
    const valueText = match[4]!;
    const value = parseSampleValue(valueText);
    if (value === undefined) throw new Error(`bad value in: ${line.slice(0, 200)}`);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include every pair in `where`. */
export function sumSamples(samples: readonly ParsedSample[], name: string, where: Record<string, string | RegExp> = {}): number {
  let total = 0;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    const matches = Object.entries(where).every(([key, want]) => {
      const have = sample.labels[key] ?? '';
      return typeof want === 'string' ? have === want : want.test(have);
    });
    if (matches) total += sample.value;
  }
  return total;
}

/** A float as Prometheus (Go's ParseFloat) reads it: NaN and Inf in any case, as prom-client prints `Nan`. */
function parseSampleValue(text: string): number | undefined {
  const special = text.toLowerCase();
  if (special === 'nan') return NaN;
  if (special === '+inf' || special === 'inf') return Infinity;
  if (special === '-inf') return -Infinity;
  const value = Number(text);
  return Number.isNaN(value) ? undefined : value;
}
