/**
 * Throughput of JsonFileParser on one core: lines/s, CPU µs per line and RSS for json-file
 * content shaped like Docker's, pushed in 256 KiB chunks (what JsonFileTailer reads), against a
 * naive baseline (split on `\n` + JSON.parse per line) on the same bytes. Lines/s are given per
 * wall second and per CPU second (the latter does not depend on what else the machine runs).
 *
 *   node --import tsx bench/json-file-parser-bench.ts [--lines N] [--rounds R] [--case NAME]
 *   node --import tsx bench/json-file-parser-bench.ts --tailer [--lines N] [--rounds R]
 *
 * --tailer: JsonFileTailer reading a file of N json100 lines (written in the exact json-file
 * format to a temp dir) from the start to its last line, in a process that holds nothing else:
 * lines/s, CPU µs per line, peak RSS.
 *
 * Cases:
 *   json100   100-byte JSON lines (27 bytes of text), the receiver's reference line
 *   text100   100 bytes of ASCII text per line (~175-byte JSON lines)
 *   escaped   an application's JSON log line (`\"` escapes, ~200 bytes of text)
 *   unicode   100 bytes of mixed non-ASCII text
 *   attrs     json100 plus `--log-opt labels=…` attrs
 *   long      40 KiB lines (3 pieces each, merged)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

import { JsonFileParser } from '../src/files/json-file-parser.js';
import type { FileLine } from '../src/files/json-file-parser.js';
import { JsonFileTailer } from '../src/files/json-file-tailer.js';
import { fromHrTime } from '../src/framing/timestamp.js';

const CHUNK = 256 * 1024;

/** RFC3339Nano as Go writes it: trailing zeros of the fraction trimmed. */
function goTime(i: number): string {
  const fixed = fromHrTime([1_795_887_836 + Math.floor(i / 100_000), (i % 100_000) * 9_973 + 1]);
  return fixed.replace(/\.?0+Z$/, 'Z');
}

/** Go's encoder: JSON.stringify plus \u escapes for < > & (and U+2028/9, which JSON.stringify leaves alone). */
function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

function entry(text: string, stream: string, time: string, attrs = ''): string {
  return `{"log":${goString(text)},"stream":"${stream}",${attrs}"time":"${time}"}\n`;
}

interface Case {
  name: string;
  make(i: number): string;
}

const CASES: Case[] = [
  { name: 'json100', make: (i) => entry(`line ${String(i).padStart(9, '0')} abcdefghijkl\n`, 'stdout', goTime(i)) },
  { name: 'text100', make: (i) => entry(`line ${String(i).padStart(9, '0')} ${'x'.repeat(85)}\n`, i % 10 === 0 ? 'stderr' : 'stdout', goTime(i)) },
  {
    name: 'escaped',
    make: (i) =>
      entry(
        JSON.stringify({ level: 'info', ts: 1795887836.123, msg: 'request served', path: '/api/v1/items?id=' + i, status: 200, took_ms: 12.5, user: 'alice <a@b.c>' }) + '\n',
        'stdout',
        goTime(i),
      ),
  },
  { name: 'unicode', make: (i) => entry(`ligne ${i} été café naïve — 日本語のテキスト ✓ ${'é'.repeat(20)}\n`, 'stdout', goTime(i)) },
  { name: 'attrs', make: (i) => entry(`line ${String(i).padStart(9, '0')} abcdefghijkl\n`, 'stdout', goTime(i), '"attrs":{"app":"web","env":"prod"},') },
  {
    name: 'long',
    make: (i) => {
      const text = `long ${i} ` + 'y'.repeat(40_000) + '\n';
      const time = goTime(i);
      let out = '';
      for (let k = 0; k < text.length; k += 16384) out += entry(text.slice(k, k + 16384), 'stdout', time);
      return out;
    },
  },
];

function build(c: Case, lines: number): Buffer {
  const parts: Buffer[] = [];
  let batch = '';
  for (let i = 0; i < lines; i++) {
    batch += c.make(i);
    if (batch.length > 1 << 20) {
      parts.push(Buffer.from(batch, 'utf8'));
      batch = '';
    }
  }
  parts.push(Buffer.from(batch, 'utf8'));
  return Buffer.concat(parts);
}

interface Run {
  seconds: number;
  cpuMicros: number;
  lines: number;
}

function runParser(data: Buffer): Run {
  let lines = 0;
  let chars = 0;
  const parser = new JsonFileParser(
    { maxLogSize: 1024 * 1024, startOffset: 0 },
    {
      line: (l: FileLine) => {
        lines++;
        chars += l.text.length;
      },
      malformed: (offset, reason) => {
        throw new Error(`malformed at ${offset}: ${reason}`);
      },
    },
  );
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let p = 0; p < data.length; p += CHUNK) parser.push(data.subarray(p, p + CHUNK));
  parser.end();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  if (chars === 0) throw new Error('nothing parsed');
  return { seconds, cpuMicros: cpu.user + cpu.system, lines };
}

/** What a straightforward implementation does: split lines, JSON.parse each. */
function runBaseline(data: Buffer): Run {
  let lines = 0;
  let chars = 0;
  let carry = '';
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let p = 0; p < data.length; p += CHUNK) {
    const text = carry + data.toString('utf8', p, Math.min(data.length, p + CHUNK));
    const parts = text.split('\n');
    carry = parts.pop() ?? '';
    for (const part of parts) {
      const o = JSON.parse(part) as { log: string };
      chars += o.log.length;
      lines++;
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  if (chars === 0) throw new Error('nothing parsed');
  return { seconds, cpuMicros: cpu.user + cpu.system, lines };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Writes `lines` json100 lines to a new file without holding it (or big strings) in memory. */
function writeLogFile(file: string, lines: number): number {
  const fd = fs.openSync(file, 'w');
  const buf = Buffer.allocUnsafe(1 << 20);
  let used = 0;
  let bytes = 0;
  try {
    for (let i = 0; i < lines; i++) {
      const line = CASES[0].make(i);
      if (used + line.length * 3 > buf.length) {
        bytes += fs.writeSync(fd, buf, 0, used);
        used = 0;
      }
      used += buf.write(line, used);
    }
    bytes += fs.writeSync(fd, buf, 0, used);
  } finally {
    fs.closeSync(fd);
  }
  return bytes;
}

interface TailerRun extends Run {
  peakRss: number;
}

async function runTailer(logPath: string, lines: number): Promise<TailerRun> {
  let seen = 0;
  let chars = 0;
  let peakRss = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const tailer = new JsonFileTailer(
    { logPath, position: null, startAtEnd: false, maxLogSize: 1024 * 1024, readChunkBytes: CHUNK, pollIntervalMs: 1000 },
    {
      line: (l) => {
        seen++;
        chars += l.text.length;
      },
      batchEnd: () => {
        if ((seen & 0x3fff) < 3000) peakRss = Math.max(peakRss, process.memoryUsage.rss());
        if (seen >= lines) done();
      },
      lost: (info) => {
        throw new Error(`lost: ${info.detail}`);
      },
      error: (err) => {
        if (!err.message.includes('cannot watch')) throw err;
      },
    },
  );
  tailer.start();
  await finished;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await tailer.close();
  if (chars === 0) throw new Error('nothing read');
  return { seconds, cpuMicros: cpu.user + cpu.system, lines: seen, peakRss: Math.max(peakRss, process.memoryUsage.rss()) };
}

async function tailerBench(lines: number, rounds: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dlr-tailer-bench-'));
  try {
    const logPath = path.join(dir, 'bench-json.log');
    const bytes = writeLogFile(logPath, lines);
    console.log(`node ${process.version}, JsonFileTailer, ${lines} lines (${(bytes / 2 ** 20).toFixed(1)} MiB, ${(bytes / lines).toFixed(0)} B/line), ${CHUNK / 1024} KiB reads`);
    console.log(`RSS before the first round: ${(process.memoryUsage.rss() / 2 ** 20).toFixed(0)} MiB`);
    console.log('| round | lines/s (wall) | lines/s (per CPU s) | CPU µs/line | peak RSS MiB |');
    console.log('|---|---|---|---|---|');
    const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
    for (let r = 0; r < rounds; r++) {
      const run = await runTailer(logPath, lines);
      console.log(`| ${r + 1} | ${fmt(run.lines / run.seconds)} | ${fmt(run.lines / (run.cpuMicros / 1e6))} | ${(run.cpuMicros / run.lines).toFixed(3)} | ${(run.peakRss / 2 ** 20).toFixed(0)} |`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      lines: { type: 'string', default: '1000000' },
      rounds: { type: 'string', default: '5' },
      case: { type: 'string' },
      tailer: { type: 'boolean', default: false },
    },
  });
  const lines = Number(values.lines);
  const rounds = Number(values.rounds);
  if (values.tailer) {
    await tailerBench(lines, rounds);
    return;
  }
  const selected = values.case === undefined ? CASES : CASES.filter((c) => c.name === values.case);
  if (selected.length === 0) throw new Error(`unknown case ${values.case}; known: ${CASES.map((c) => c.name).join(', ')}`);
  console.log(`node ${process.version}, ${lines} lines per case, ${rounds} rounds, ${CHUNK / 1024} KiB chunks`);
  console.log('| case | json bytes/line | lines/s wall (median) | best | lines/s per CPU s | CPU µs/line | baseline lines/s per CPU s | speed-up | RSS MiB |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const c of selected) {
    const n = c.name === 'long' ? Math.max(1, Math.floor(lines / 100)) : lines;
    const data = build(c, n);
    const parser: Run[] = [];
    const baseline: Run[] = [];
    runParser(data); // warm-up
    for (let r = 0; r < rounds; r++) {
      parser.push(runParser(data));
      if (c.name !== 'long') baseline.push(runBaseline(data));
    }
    const rate = (r: Run): number => r.lines / r.seconds;
    const cpuRate = (r: Run): number => r.lines / (r.cpuMicros / 1e6);
    const med = median(parser.map(rate));
    const best = Math.max(...parser.map(rate));
    const perCpu = median(parser.map(cpuRate));
    const cpuPerLine = median(parser.map((r) => r.cpuMicros / r.lines));
    const base = baseline.length > 0 ? median(baseline.map(cpuRate)) : NaN;
    const rss = process.memoryUsage().rss / 2 ** 20;
    const fmt = (x: number): string => (Number.isNaN(x) ? '—' : Math.round(x).toLocaleString('en-US'));
    console.log(
      `| ${c.name} | ${(data.length / parser[0].lines).toFixed(0)} | ${fmt(med)} | ${fmt(best)} | ${fmt(perCpu)} | ${cpuPerLine.toFixed(3)} | ${fmt(base)} | ${Number.isNaN(base) ? '—' : (perCpu / base).toFixed(1) + '×'} | ${rss.toFixed(0)} |`,
    );
  }
}

await main();
