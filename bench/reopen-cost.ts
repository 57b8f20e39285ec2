/**
 * What one stream reopen costs the Docker daemon, and whether that depends on
 * how much log the container has retained.
 *
 *   node --import tsx bench/reopen-cost.ts [--lines 1000000] [--reopens 100] [--since-reopens 10] [--rounds 3]
 *
 * Two idle containers: one whose log holds --lines lines, one whose log holds a
 * single line (an "empty" log: just the anchor a reader needs to resume). Each
 * reopen is done the way the receiver does it: DockerEngine.openLogStream with
 * the since/tail plan of planOpen() for a real position (the last line of the
 * log), read through LogFramer and PositionTracker until the replayed anchor
 * line arrives, then the stream is destroyed. dockerd's utime+stime
 * (/proc/<pid>/stat) is read before and after each batch of reopens; the
 * daemon's idle CPU rate, measured between batches, is subtracted (the engine
 * is shared). For comparison, the plain `since` reopen (tail=all, the reader's
 * last-resort window) on the big container. Rounds are interleaved, and the
 * median over rounds is reported.
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
import { LogFramer } from '../src/framing/log-framer.js';
import type { LogLine } from '../src/framing/log-framer.js';
import { requireEngine, runContainer, uniqueName } from '../test/helpers/docker.js';
import { Flags } from './lib/args.js';
import { clockTicks, cpuTicks, dockerdPid } from './lib/dockerd.js';
import { fileStamp, markdownTable, median } from './lib/stats.js';
import { removeWriters } from './lib/writers.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
/** The first tail window the reader tries (container-reader.ts TAIL_WINDOWS[0]). */
const FIRST_WINDOW = 1000;

const flags = new Flags();
const LINES = flags.int('lines', 1_000_000, 1);
const REOPENS = flags.int('reopens', 100, 1);
const SINCE_REOPENS = flags.int('since-reopens', 10, 1);
const ROUNDS = flags.int('rounds', 3, 1);
const IDLE_MS = flags.duration('idle', '3s');
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
  round: number;
  reopens: number;
  ticks: number;
  wallMs: number;
  idleTicksPerSec: number;
  /** Lines each reopen replayed before the anchor (inclusive), on average. */
  replayed: number;
  latencyMs: number[];
}

/** The log's last line and how many lines share its timestamp on its stream: a real resume position. */
async function positionAtEnd(docker: Docker, id: string): Promise<{ position: ContainerPosition; last: LogLine }> {
  const body = (await docker.getContainer(id).logs({ follow: false, stdout: true, stderr: true, timestamps: true, tail: 10 })) as unknown as Buffer;
  const lines: LogLine[] = [];
  const framer = new LogFramer({ tty: false, maxLogSize: 64 * 1024 }, { line: (l) => lines.push(l), daemonError: () => undefined });
  framer.push(body);
  framer.end();
  const last = lines.at(-1);
  if (last === undefined) throw new Error(`container ${id.slice(0, 12)} has no log line to anchor on`);
  const count = lines.filter((l) => l.stream === last.stream && l.timestamp === last.timestamp).length;
  const cursor = { ts: last.timestamp, count };
  const position: ContainerPosition = { floor: '', stdout: last.stream === 'stdout' ? cursor : null, stderr: last.stream === 'stderr' ? cursor : null, last: last.stream };
  return { position, last };
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
  const response = await engine.openLogStream(target.id, { since: plan.since, tail: plan.tail, signal: abort.signal });
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

async function idleRate(pid: number): Promise<number> {
  const t0 = cpuTicks(pid);
  const w0 = Date.now();
  await sleep(IDLE_MS);
  return (cpuTicks(pid) - t0) / ((Date.now() - w0) / 1000);
}

async function runBatch(engine: DockerEngine, pid: number, variant: Variant, round: number): Promise<Batch> {
  const idleTicksPerSec = await idleRate(pid);
  await reopen(engine, variant.target, variant.window); // warm-up, not counted
  const latencyMs: number[] = [];
  let replayed = 0;
  const t0 = cpuTicks(pid);
  const w0 = performance.now();
  for (let i = 0; i < variant.reopens; i++) {
    const s = performance.now();
    replayed += await reopen(engine, variant.target, variant.window);
    latencyMs.push(performance.now() - s);
  }
  const wallMs = performance.now() - w0;
  const ticks = cpuTicks(pid) - t0;
  return { variant: variant.key, round, reopens: variant.reopens, ticks, wallMs, idleTicksPerSec, replayed: replayed / variant.reopens, latencyMs };
}

async function waitForLine(docker: Docker, id: string, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { last } = await positionAtEnd(docker, id).catch(() => ({ last: null }));
    if (last?.text === text) return;
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
    const big = await runContainer(docker, { name: `${prefix}-big`, cmd: ['sh', '-c', `seq 1 ${LINES}; sleep 86400`] });
    const small = await runContainer(docker, { name: `${prefix}-small`, cmd: ['sh', '-c', 'echo ready; sleep 86400'] });
    const writeStart = Date.now();
    await waitForLine(docker, big.id, String(LINES), 600_000);
    await waitForLine(docker, small.id, 'ready', 30_000);
    process.stderr.write(`logged in ${((Date.now() - writeStart) / 1000).toFixed(1)} s; both containers idle now\n`);
    await sleep(2000);

    const bigTarget: Target = { label: `${LINES} lines`, id: big.id, name: big.name, retained: LINES, ...(await positionAtEnd(docker, big.id)) };
    const smallTarget: Target = { label: '1 line', id: small.id, name: small.name, retained: 1, ...(await positionAtEnd(docker, small.id)) };
    const variants: Variant[] = [
      { key: 'empty', label: `bounded (tail ${FIRST_WINDOW} + since), log of 1 line`, target: smallTarget, window: FIRST_WINDOW, reopens: REOPENS },
      { key: 'big', label: `bounded (tail ${FIRST_WINDOW} + since), log of ${LINES} lines`, target: bigTarget, window: FIRST_WINDOW, reopens: REOPENS },
      { key: 'big-since', label: `plain since (tail all), log of ${LINES} lines`, target: bigTarget, window: 'all', reopens: SINCE_REOPENS },
    ];
    for (const v of variants) {
      const plan = planOpen(v.target.position, v.window, null);
      process.stderr.write(`${v.key}: since=${plan.since ?? '-'} tail=${String(plan.tail)} verifyAnchor=${plan.verifyAnchor}\n`);
    }

    const batches: Batch[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const v of variants) {
        const b = await runBatch(engine, pid, v, round);
        batches.push(b);
        const net = b.ticks - b.idleTicksPerSec * (b.wallMs / 1000);
        process.stderr.write(
          `round ${round} ${v.key}: ${b.reopens} reopens, ${b.ticks} ticks (idle ${b.idleTicksPerSec.toFixed(2)}/s), ${((net / hz) * 1000 / b.reopens).toFixed(2)} ms CPU/reopen, ${(b.wallMs / b.reopens).toFixed(1)} ms wall/reopen, ${b.replayed.toFixed(0)} lines replayed\n`,
        );
      }
    }

    const summary = variants.map((v) => {
      const mine = batches.filter((b) => b.variant === v.key);
      const perReopen = mine.map((b) => ((Math.max(0, b.ticks - b.idleTicksPerSec * (b.wallMs / 1000)) / hz) * 1000) / b.reopens);
      const raw = mine.map((b) => ((b.ticks / hz) * 1000) / b.reopens);
      return {
        key: v.key,
        label: v.label,
        since: planOpen(v.target.position, v.window, null).since ?? null,
        tail: v.window,
        retainedLines: v.target.retained,
        reopensPerRound: v.reopens,
        rounds: mine.length,
        cpuMsPerReopen: median(perReopen),
        cpuMsPerReopenRounds: perReopen,
        rawCpuMsPerReopen: median(raw),
        wallMsPerReopen: median(mine.map((b) => b.wallMs / b.reopens)),
        medianLatencyMs: median(mine.flatMap((b) => b.latencyMs)),
        linesReplayedPerReopen: median(mine.map((b) => b.replayed)),
        /** One clock tick spread over a batch: the measurement's resolution. */
        resolutionMs: (1000 / hz) / v.reopens,
      };
    });
    const byKey = (k: string): (typeof summary)[number] => summary.find((s) => s.key === k) as (typeof summary)[number];
    const ratio = byKey('big').cpuMsPerReopen / byKey('empty').cpuMsPerReopen;
    const sinceVsBounded = byKey('big-since').cpuMsPerReopen / byKey('big').cpuMsPerReopen;
    const sinceVsEmpty = byKey('big-since').cpuMsPerReopen / byKey('empty').cpuMsPerReopen;

    const table = markdownTable(
      ['reopen', 'since', 'tail', 'lines replayed', 'dockerd CPU ms/reopen (median of rounds)', 'per round', 'raw (no idle subtracted)', 'wall ms/reopen', 'resolution ms'],
      summary.map((s) => [
        s.label,
        s.since ?? '-',
        String(s.tail),
        s.linesReplayedPerReopen.toFixed(0),
        s.cpuMsPerReopen.toFixed(2),
        s.cpuMsPerReopenRounds.map((x) => x.toFixed(2)).join(' / '),
        s.rawCpuMsPerReopen.toFixed(2),
        s.wallMsPerReopen.toFixed(1),
        s.resolutionMs.toFixed(2),
      ]),
    );
    const verdict = ratio < 2 ? 'PASS' : 'FAIL';
    const text = `${table}

- ratio bounded reopen, ${LINES}-line log vs 1-line log: **${ratio.toFixed(2)}x** (goal < 2): ${verdict}
- plain \`since\` reopen (tail=all) on the ${LINES}-line log: **${sinceVsBounded.toFixed(1)}x** the bounded reopen on the same container, ${sinceVsEmpty.toFixed(1)}x the 1-line one
- dockerd ${pid}, ${hz} ticks/s, idle CPU subtracted per batch (measured for ${IDLE_MS / 1000} s before it); ${ROUNDS} rounds, interleaved
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
      rounds: ROUNDS,
      firstWindow: FIRST_WINDOW,
      summary,
      ratioBigVsEmpty: ratio,
      sinceVsBounded,
      sinceVsEmpty,
      goal: 'ratio < 2',
      verdict,
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
