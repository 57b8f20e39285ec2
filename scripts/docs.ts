/**
 * Keeps the README's reference sections generated from the code's single
 * sources: the config schema, the metrics table, the resource and record fields.
 *   node --import tsx scripts/docs.ts          rewrite README.md
 *   node --import tsx scripts/docs.ts --check  exit 1 when README.md is stale
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configReferenceMarkdown } from '../src/config/schema.js';
import { METRICS } from '../src/telemetry/metrics.js';
import { RESOURCE_ATTRIBUTE_DOCS } from '../src/mapping/resource.js';
import { LOG_RECORD_DOCS } from '../src/mapping/log-record.js';

export const README_PATH = fileURLToPath(new URL('../README.md', import.meta.url));

function table(header: string[], rows: string[][]): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

export function generatedSections(): Record<string, string> {
  return {
    config: configReferenceMarkdown().trim(),
    metrics: table(
      ['Metric', 'Kind', 'Unit', 'Attributes', 'Meaning'],
      METRICS.map((m) => [`\`${m.name}\``, m.kind, `\`${m.unit}\``, m.attributes.map((a) => `\`${a}\``).join(', '), m.description]),
    ),
    resource: table(['Resource attribute', 'Value'], RESOURCE_ATTRIBUTE_DOCS.map(([k, v]) => [`\`${k}\``, v])),
    record: table(['Log record field', 'Value'], LOG_RECORD_DOCS.map(([k, v]) => [`\`${k}\``, v])),
  };
}

export function renderReadme(text: string): string {
  let out = text;
  for (const [name, body] of Object.entries(generatedSections())) {
    const start = `<!-- generated:${name}:start -->`;
    const end = `<!-- generated:${name}:end -->`;
    const i = out.indexOf(start);
    const j = out.indexOf(end);
    if (i < 0 || j < i) throw new Error(`README.md lacks the markers ${start} … ${end}`);
    out = `${out.slice(0, i + start.length)}\n${body}\n${out.slice(j)}`;
  }
  return out;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const current = readFileSync(README_PATH, 'utf8');
  const next = renderReadme(current);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      process.stderr.write('README.md is out of date: run `node --import tsx scripts/docs.ts`\n');
      process.exit(1);
    }
  } else if (next !== current) {
    writeFileSync(README_PATH, next);
  }
}
