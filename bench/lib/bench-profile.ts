/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time and total
 * (inclusive) time per function (name + file + line), and self time per
 * file/package, largest first.
 *
 *   node --import tsx bench/lib/bench-profile.ts FILE.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  function: string;
  location: string;
  selfMs: number;
  selfPct: number;
  totalMs: number;
  totalPct: number;
}

export interface ProfileSummary {
  file: string;
  durationMs: number;
  sampledMs: number;
  samples: number;
  /** (idle) excluded: the share of busy time each function takes. */
  busyMs: number;
  functions: ProfileRow[];
  files: Array<{ location: string; selfMs: number; selfPct: number }>;
  /** The receiver's own functions (src/ or dist/) by inclusive time. */
  ownInclusive: Array<{ function: string; location: string; totalMs: number; totalPct: number }>;
}

/** A short location: the path inside the repository or inside node_modules, or node:… for Node internals. */
export function shortLocation(url: string, line: number): string {
  if (url === '') return '';
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) u = u.slice(nm + '/node_modules/'.length);
  else {
    for (const marker of ['/src/', '/dist/', '/bench/', '/test/', '/.tmp/']) {
      const i = u.lastIndexOf(marker);
      if (i >= 0) {
        u = u.slice(i + 1);
        break;
      }
    }
  }
  return line >= 0 ? `${u}:${line + 1}` : u;
}

function fileOf(url: string): string {
  const loc = shortLocation(url, -1);
  if (loc === '') return '(native/vm)';
  // Group node_modules by package.
  const m = /^(@[^/]+\/[^/]+|[^/]+)\/(?!.*\/src\/)/.exec(loc);
  if (m !== null && !loc.startsWith('src/') && !loc.startsWith('dist/') && !loc.startsWith('bench/') && !loc.startsWith('test/') && !loc.startsWith('node:')) return `${m[1]} (package)`;
  return loc;
}

export function summarizeProfile(file: string, top = 30): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) byId.set(n.id, n);
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const keyOf = (n: ProfileNode): string => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'}\t${shortLocation(f.url, f.url === '' ? -1 : f.lineNumber)}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const files = new Map<string, number>();
  let sampled = 0;
  let idle = 0;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the time before sample i; the time after it (until the next sample) is what it stands for.
    const us = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : (timeDeltas[i] ?? 0);
    const ms = Math.max(0, us) / 1000;
    const node = byId.get(samples[i]);
    if (node === undefined) continue;
    sampled += ms;
    const key = keyOf(node);
    if (node.callFrame.functionName === '(idle)') {
      idle += ms;
      continue;
    }
    self.set(key, (self.get(key) ?? 0) + ms);
    const fileKey = node.callFrame.functionName.startsWith('(') ? node.callFrame.functionName : fileOf(node.callFrame.url);
    files.set(fileKey, (files.get(fileKey) ?? 0) + ms);
    // Inclusive: every distinct function on the stack (recursion counted once).
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id);
      if (n === undefined) break;
      const k = keyOf(n);
      if (k.startsWith('(root)') || seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + ms);
    }
  }
  const busy = sampled - idle;
  const pct = (ms: number): number => Math.round((ms / busy) * 1000) / 10;
  const round = (ms: number): number => Math.round(ms * 10) / 10;
  const functions = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, ms]) => {
      const [fn, location] = key.split('\t');
      const t = total.get(key) ?? ms;
      return { function: fn, location, selfMs: round(ms), selfPct: pct(ms), totalMs: round(t), totalPct: pct(t) };
    });
  return {
    file,
    durationMs: round((profile.endTime - profile.startTime) / 1000),
    sampledMs: round(sampled),
    samples: samples.length,
    busyMs: round(busy),
    functions,
    files: [...files.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([location, ms]) => ({ location, selfMs: round(ms), selfPct: pct(ms) })),
    ownInclusive: [...total.entries()]
      .filter(([key]) => /\t(src|dist)\//.test(key))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, ms]) => {
        const [fn, location] = key.split('\t');
        return { function: fn, location, totalMs: round(ms), totalPct: pct(ms) };
      }),
  };
}

export function formatProfile(s: ProfileSummary): string {
  const own = s.ownInclusive;
  const lines: string[] = [];
  lines.push(`Profile ${s.file}: ${s.samples} samples over ${(s.durationMs / 1000).toFixed(1)} s, busy ${(s.busyMs / 1000).toFixed(2)} s (idle excluded; % are of busy time)`);
  lines.push('');
  lines.push('| # | self ms | self % | total % | function | location |');
  lines.push('|---:|---:|---:|---:|---|---|');
  s.functions.forEach((f, i) => lines.push(`| ${i + 1} | ${f.selfMs.toFixed(0)} | ${f.selfPct.toFixed(1)} | ${f.totalPct.toFixed(1)} | ${f.function} | ${f.location} |`));
  lines.push('');
  lines.push('Self time by file / package:');
  lines.push('');
  lines.push('| self ms | self % | file or package |');
  lines.push('|---:|---:|---|');
  for (const f of s.files) lines.push(`| ${f.selfMs.toFixed(0)} | ${f.selfPct.toFixed(1)} | ${f.location} |`);
  if (own.length > 0) {
    lines.push('');
    lines.push("The receiver's own functions by inclusive (total) time:");
    lines.push('');
    lines.push('| total ms | total % | function | location |');
    lines.push('|---:|---:|---|---|');
    for (const f of own) lines.push(`| ${f.totalMs.toFixed(0)} | ${f.totalPct.toFixed(1)} | ${f.function} | ${f.location} |`);
  }
  return lines.join('\n');
}

function cli(): void {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string' } } });
  const top = Number(values.top ?? '30');
  if (positionals.length === 0) {
    process.stderr.write('usage: node --import tsx bench/lib/bench-profile.ts FILE.cpuprofile [--top N]\n');
    process.exitCode = 2;
    return;
  }
  for (const file of positionals) process.stdout.write(`${formatProfile(summarizeProfile(file, top))}\n\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) cli();
