// Markdown tables for the bench report.

const cell = (value: unknown) => String(value).replace(/\|/g, '\\|').replace(/\n/g, ' ');

export const table = (head: string[], body: unknown[][]) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((r) => `| ${r.map(cell).join(' | ')} |`)].join('\n');
