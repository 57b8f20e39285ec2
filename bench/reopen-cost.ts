/**
 * What one stream reopen costs the Docker daemon, and whether that depends on
 * how much log the container has retained.
 *
 *   node --import tsx bench/reopen-cost.ts [--lines 1000000] [--reopens 100] [--cycles 10]
 *                                          [--since-reopens 2] [--since-cycles 3] [--idle 1s]
 *
 * Idle containers: one whose log holds --lines lines, one whose log holds a
 * single line (an "empty" log: just the anchor a reader needs to resume), and
 * one with as many lines as the reader's first tail window. Each reopen is done
 * the way the receiver does it: DockerEngine.openLogStream with the since/tail
 * plan of planOpen() for a real position (taken from the log's last line), read
 * through LogFramer and PositionTracker until the replayed anchor line arrives,
 * then the stream is destroyed. dockerd's utime+stime (/proc/<pid>/stat) is
 * read around each batch of reopens.
 *
 * The engine is shared, so other people's work lands in the same counters. The
 * variants are interleaved in cycles, each cycle starting with an idle window;
 * a variant's cost is (its ticks - mean idle rate x its wall time) / its reopens
 * over all cycles, with a standard error from the spread between cycles.
 * For comparison: a plain `since` reopen (tail=all, the reader's last-resort
 * window) and a 10-line first window, both on the big log.
 *
 * Prints a markdown table and writes JSON to bench/results/reopen-cost-<date>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import { DockerEngine } from '../src/docker/engine.js';
import type { ContainerPosition, OpenPlan } from '../src/docker/position.js';
import { PositionTracker, planOpen } from '../src/docker/position.js';
import { FIRST_WINDOW_MIN } from '../src/docker/container-reader.js';
import { LogFramer } from '../src/framing/log-framer.js';
import type { LogLine } from '../src/framing/log-framer.js';
import { requireEngine, runContainer, uniqueName } from '../test/helpers/docker.js';
import { Flags } from './lib/args.js';
import { clockTicks, cpuTicks, dockerdPid } from './lib/dockerd.js';
import { fileStamp, markdownTable, median } from './lib/stats.js';
import { removeWriters } from './lib/writers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The first tail window the reader tries for an idle container (container-reader.ts firstWindow()). */
const FIRST_WINDOW = FIRST_WINDOW_MIN;

const flags = new Flags();
const LINES = flags.int('lines', 1_000_000, 1);
const REOPENS = flags.int('reopens', 100, 1);
const CYCLES = flags.int('cycles', 10, 1);
const SINCE_REOPENS = flags.int('since-reopens', 2, 1);
const SINCE_CYCLES = flags.int('since-cycles', 3, 0);
const IDLE_MS = flags.duration('idle', '1s');
flags.rejectUnknown();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Target {
  label: string;
  id: string;
  name: string;
  position: ContainerPosition;
  /** Lines the container's log holds. */
  retained: number;
}

interface Variant {
  key: string;
  label: string;
  target: Target;
  window: number | 'all';
  reopens: number;
}

interface Batch {
  variant: string;
  cycle: number;
  reopens: number;
  ticks: number;
  wallMs: number;
  /** Lines each reopen replayed before the anchor (inclusive), on average. */
  replayed: number;
  latencyMs: number[];
}

/** The last lines of a container's log, with their timestamps. */
async function lastLines(docker: Docker, id: string, tail = 10): Promise<LogLine[]> {
  const body = await docker.getContainer(id).logs({ follow: false, stdout: true, stderr: true, timestamps: true, tail });
  const lines: LogLine[] = [];
  const framer = new LogFramer({ tty: false, maxLogSize: 64 * 1024 }, { line: (l) => lines.push(l), daemonError: () => undefined });
  framer.push(body);
  framer.end();
  return lines;
}

/**
 * A real resume position: the reader's position right after it took the line
 * whose text is `text` (the last such line among the log's last lines), with the
 * count of lines sharing its timestamp on its stream.
 */
async function positionAfter(docker: Docker, id: string, text: string): Promise<ContainerPosition> {
  const lines = await lastLines(docker, id);
  const at = lines.map((l) => l.text).lastIndexOf(text);
  if (at < 0) throw new Error(`container ${id.slice(0, 12)}: no line ${JSON.stringify(text)} among its last lines`);
  const anchor = lines[at];
  const count = lines.slice(0, at + 1).filter((l) => l.stream === anchor.stream && l.timestamp === anchor.timestamp).length;
  const cursor = { ts: anchor.timestamp, count };
  return { floor: '', stdout: anchor.stream === 'stdout' ? cursor : null, stderr: anchor.stream === 'stderr' ? cursor : null, last: anchor.stream };
}

/**
 * One reopen as the reader does it: open with the plan, judge every replayed line,
 * destroy the stream once the anchor line went by. Returns the lines replayed.
 */
async function reopen(engine: DockerEngine, target: Target, window: number | 'all'): Promise<number> {
  const plan: OpenPlan = planOpen(target.position, window, null);
  const tracker = new PositionTracker(target.position, plan, false);
  const anchorStream = target.position.last;
  const anchor = anchorStream === null ? null : target.position[anchorStream];
  if (anchor === null || anchorStream === null) throw new Error('no anchor');
  const abort = new AbortController();
  const response = await engine.openLogStream(target.id, { follow: true, since: plan.since, tail: plan.tail, signal: abort.signal });
  return new Promise<number>((resolve, reject) => {
    let replayed = 0;
    let atAnchor = 0;
    let done = false;
    const timer = setTimeout(() => finish(new Error(`the anchor of ${target.name} did not arrive within 120 s (${replayed} lines replayed)`)), 120_000);
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      response.removeAllListeners('data');
      response.on('error', () => undefined);
      const closed = response.closed ? Promise.resolve() : new Promise<void>((r) => response.once('close', () => r()));
      response.destroy();
      void closed.then(() => (err === undefined ? resolve(replayed) : reject(err)));
    };
    const framer = new LogFramer(
      { tty: false, maxLogSize: 1024 * 1024 },
      {
        line: (line) => {
          if (done) return;
          replayed++;
          const verdict = tracker.judge(line);
          if (verdict === 'widen') return finish(new Error(`the ${String(window)}-line window of ${target.name} did not reach the anchor`));
          if (plan.verifyAnchor) {
            if (!tracker.verifying) finish();
          } else if (line.stream === anchorStream && line.timestamp === anchor.ts && ++atAnchor === anchor.count) {
            finish();
          }
        },
        daemonError: (message) => finish(new Error(`daemon error in the stream: ${message}`)),
      },
    );
    response.on('data', (chunk: Buffer) => framer.push(chunk));
    response.once('end', () => finish(new Error(`the stream of ${target.name} ended before the anchor (${replayed} lines)`)));
    response.once('error', (err) => finish(err));
  });
}

/** dockerd's CPU while we do nothing: ticks and wall milliseconds. */
async function idleWindow(pid: number): Promise<{ ticks: number; wallMs: number }> {
  const t0 = cpuTicks(pid);
  const w0 = performance.now();
  await sleep(IDLE_MS);
  return { ticks: cpuTicks(pid) - t0, wallMs: performance.now() - w0 };
}

async function runBatch(engine: DockerEngine, pid: number, variant: Variant, cycle: number, reopens: number): Promise<Batch> {
  await reopen(engine, variant.target, variant.window); // warm-up, not counted
  const latencyMs: number[] = [];
  let replayed = 0;
  const t0 = cpuTicks(pid);
  const w0 = performance.now();
  for (let i = 0; i < reopens; i++) {
    const s = performance.now();
    replayed += await reopen(engine, variant.target, variant.window);
    latencyMs.push(performance.now() - s);
  }
  const wallMs = performance.now() - w0;
  const ticks = cpuTicks(pid) - t0;
  return { variant: variant.key, cycle, reopens, ticks, wallMs, replayed: replayed / reopens, latencyMs };
}

async function waitForLine(docker: Docker, id: string, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = await lastLines(docker, id, 1).catch(() => []);
    if (lines.at(-1)?.text === text) return;
    if (Date.now() > deadline) throw new Error(`container ${id.slice(0, 12)} did not write ${JSON.stringify(text)} within ${timeoutMs} ms`);
    await sleep(500);
  }
}

async function main(): Promise<void> {
  const docker = await requireEngine();
  const prefix = uniqueName('reopen');
  let cleaning = false;
  const cleanup = async (): Promise<void> => {
    if (cleaning) return;
    cleaning = true;
    await removeWriters(docker, prefix);
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: removing containers ${prefix}*\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    const pid = dockerdPid();
    const hz = clockTicks();
    const engine = new DockerEngine({ endpoint: 'unix:///var/run/docker.sock', apiVersion: null, timeoutMs: 30_000 });
    process.stderr.write(`dockerd pid ${pid}, ${hz} ticks/s; writing ${LINES} lines into ${prefix}-big ...\n`);
    // The big log ends with a burst (its last 1 000 lines within a few milliseconds)
    // and then, after a pause longer than the reorder margin, one last line.
    const big = await runContainer(docker, { name: `${prefix}-big`, cmd: ['sh', '-c', `seq 1 ${LINES}; sleep 3; echo end; sleep 86400`] });
    const small = await runContainer(docker, { name: `${prefix}-small`, cmd: ['sh', '-c', 'echo end; sleep 86400'] });
    const win = await runContainer(docker, { name: `${prefix}-window`, cmd: ['sh', '-c', `seq 1 ${FIRST_WINDOW - 1}; sleep 3; echo end; sleep 86400`] });
    const writeStart = Date.now();
    await waitForLine(docker, big.id, 'end', 900_000);
    await waitForLine(docker, small.id, 'end', 30_000);
    await waitForLine(docker, win.id, 'end', 30_000);
    process.stderr.write(`logged in ${((Date.now() - writeStart) / 1000).toFixed(1)} s; all containers idle now\n`);
    await sleep(2000);

    const smallTarget: Target = { label: '1 line', id: small.id, name: small.name, retained: 1, position: await positionAfter(docker, small.id, 'end') };
    const winTarget: Target = { label: `${FIRST_WINDOW} lines`, id: win.id, name: win.name, retained: FIRST_WINDOW, position: await positionAfter(docker, win.id, 'end') };
    const bigQuiet: Target = { label: `${LINES + 1} lines`, id: big.id, name: big.name, retained: LINES + 1, position: await positionAfter(docker, big.id, 'end') };
    const bigBurst: Target = { label: `${LINES + 1} lines, at the burst`, id: big.id, name: big.name, retained: LINES + 1, position: await positionAfter(docker, big.id, String(LINES)) };
    const variants: Variant[] = [
      { key: 'empty', label: `bounded (tail ${FIRST_WINDOW} + since), 1-line log`, target: smallTarget, window: FIRST_WINDOW, reopens: REOPENS },
      { key: 'big', label: `bounded (tail ${FIRST_WINDOW} + since), ${LINES}-line log`, target: bigQuiet, window: FIRST_WINDOW, reopens: REOPENS },
      { key: 'window', label: `bounded (tail ${FIRST_WINDOW} + since), ${FIRST_WINDOW}-line log`, target: winTarget, window: FIRST_WINDOW, reopens: REOPENS },
      { key: 'big-burst', label: `bounded (tail ${FIRST_WINDOW} + since), ${LINES}-line log, anchor = last line of a burst`, target: bigBurst, window: FIRST_WINDOW, reopens: REOPENS },
      { key: 'big-tail10', label: `bounded (tail 10 + since), ${LINES}-line log`, target: bigQuiet, window: 10, reopens: REOPENS },
      { key: 'big-since', label: `plain since (tail all), ${LINES}-line log`, target: bigQuiet, window: 'all', reopens: SINCE_REOPENS },
    ];
    for (const v of variants) {
      const plan = planOpen(v.target.position, v.window, null);
      process.stderr.write(`${v.key}: since=${plan.since ?? '-'} tail=${String(plan.tail)} verifyAnchor=${plan.verifyAnchor}\n`);
    }

    const batches: Batch[] = [];
    const idle: Array<{ ticks: number; wallMs: number }> = [];
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      idle.push(await idleWindow(pid));
      for (const v of variants) {
        if (v.window === 'all' && cycle > SINCE_CYCLES) continue;
        const b = await runBatch(engine, pid, v, cycle, v.reopens);
        batches.push(b);
        process.stderr.write(`cycle ${cycle} ${v.key}: ${b.reopens} reopens, ${b.ticks} ticks in ${b.wallMs.toFixed(0)} ms, ${b.replayed.toFixed(0)} lines sent before the anchor\n`);
      }
    }
    const idleTicks = idle.reduce((a, w) => a + w.ticks, 0);
    const idleWallMs = idle.reduce((a, w) => a + w.wallMs, 0);
    /** Other people's load on the daemon, in ticks per millisecond. */
    const idleRate = idleTicks / idleWallMs;
    const msPerTick = 1000 / hz;

    const summary = variants.map((v) => {
      const mine = batches.filter((b) => b.variant === v.key);
      const reopens = mine.reduce((a, b) => a + b.reopens, 0);
      const ticks = mine.reduce((a, b) => a + b.ticks, 0);
      const wallMs = mine.reduce((a, b) => a + b.wallMs, 0);
      const perCycle = mine.map((b) => ((b.ticks - idleRate * b.wallMs) * msPerTick) / b.reopens);
      const mean = perCycle.reduce((a, x) => a + x, 0) / Math.max(1, perCycle.length);
      const sd = perCycle.length > 1 ? Math.sqrt(perCycle.reduce((a, x) => a + (x - mean) ** 2, 0) / (perCycle.length - 1)) : NaN;
      return {
        key: v.key,
        label: v.label,
        since: planOpen(v.target.position, v.window, null).since ?? null,
        tail: v.window,
        retainedLines: v.target.retained,
        reopens,
        batches: mine.length,
        /** (ticks - idle rate x wall) / reopens, over all batches. */
        cpuMsPerReopen: ((ticks - idleRate * wallMs) * msPerTick) / reopens,
        stdErrMs: sd / Math.sqrt(perCycle.length),
        rawCpuMsPerReopen: (ticks * msPerTick) / reopens,
        perBatchMs: perCycle,
        wallMsPerReopen: wallMs / reopens,
        medianLatencyMs: median(mine.flatMap((b) => b.latencyMs)),
        linesSentPerReopen: median(mine.map((b) => b.replayed)),
      };
    });
    const byKey = (k: string): (typeof summary)[number] => summary.find((s) => s.key === k) as (typeof summary)[number];
    const empty = byKey('empty').cpuMsPerReopen;
    const ratio = byKey('big').cpuMsPerReopen / empty;
    const ratioVsWindow = byKey('big').cpuMsPerReopen / byKey('window').cpuMsPerReopen;
    const burstRatio = byKey('big-burst').cpuMsPerReopen / empty;
    const tail10Ratio = byKey('big-tail10').cpuMsPerReopen / empty;
    const sinceVsBounded = byKey('big-since').cpuMsPerReopen / byKey('big').cpuMsPerReopen;
    const sinceVsEmpty = byKey('big-since').cpuMsPerReopen / empty;

    const table = markdownTable(
      ['reopen', 'lines sent before the anchor', 'dockerd CPU ms/reopen', '± std err', 'raw (idle not subtracted)', 'wall ms/reopen', 'x 1-line log'],
      summary.map((s) => [
        s.label,
        s.linesSentPerReopen.toFixed(0),
        s.cpuMsPerReopen.toFixed(2),
        Number.isFinite(s.stdErrMs) ? s.stdErrMs.toFixed(2) : '-',
        s.rawCpuMsPerReopen.toFixed(2),
        s.wallMsPerReopen.toFixed(1),
        (s.cpuMsPerReopen / empty).toFixed(1),
      ]),
    );
    const verdict = ratio < 2 ? 'PASS' : 'FAIL';
    const text = `${table}

- bounded reopen, ${LINES}-line log vs 1-line log: **${ratio.toFixed(2)}x** (goal < 2): ${verdict}
- bounded reopen, ${LINES}-line log vs ${FIRST_WINDOW}-line log (as much log as the window): ${ratioVsWindow.toFixed(2)}x
- anchored on the last line of a burst (the whole window is within the 1 s reorder margin and is sent): ${burstRatio.toFixed(2)}x the 1-line log
- with a 10-line first window on the ${LINES}-line log: ${tail10Ratio.toFixed(2)}x the 1-line log
- plain \`since\` reopen (tail=all) on the ${LINES}-line log: **${sinceVsBounded.toFixed(1)}x** the bounded reopen on the same container, ${sinceVsEmpty.toFixed(1)}x the 1-line one
- dockerd ${pid}, ${hz} ticks/s (${msPerTick} ms); ${CYCLES} cycles; other load on the shared daemon (idle windows): ${(idleRate * 1000).toFixed(1)} ticks/s, subtracted in proportion to each batch's wall time
`;
    process.stdout.write(`\n${text}`);
    const out = path.join(ROOT, 'bench', 'results', `reopen-cost-${fileStamp()}.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    const result = {
      tool: 'bench/reopen-cost.ts',
      date: new Date().toISOString(),
      dockerdPid: pid,
      clockTicksPerSecond: hz,
      lines: LINES,
      cycles: CYCLES,
      reopensPerBatch: REOPENS,
      idleTicksPerSecond: idleRate * 1000,
      firstWindow: FIRST_WINDOW,
      summary,
      ratioBigVsEmpty: ratio,
      ratioBigVsWindow: ratioVsWindow,
      ratioBurstVsEmpty: burstRatio,
      ratioTail10VsEmpty: tail10Ratio,
      sinceVsBounded,
      sinceVsEmpty,
      goal: 'ratio < 2',
      verdict,
      idleWindows: idle,
      batches,
    };
    writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write(`JSON: ${path.relative(ROOT, out)}\n`);
    if (verdict !== 'PASS') process.exitCode = 1;
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
