/**
 * The benchmark's cases. Each one runs the reader (the receiver, or the
 * baseline) as a child process, measures it from /proc over a window, checks
 * the exact count at the end (every line written delivered once: the case
 * fails otherwise), and returns its figures.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type Docker from 'dockerode';

import { startBaselineChild, startReceiverChild } from './bench-children.js';
import type { ReceiverChild } from './bench-children.js';
import type { ContainerSet } from './bench-docker.js';
import { containerNames, foreignRunning, pacedWriterCmd, sleep, startContainers } from './bench-docker.js';
import { cpuSeconds, enginePids, RssSampler } from './bench-proc.js';
import type { BenchSink } from './bench-sink.js';
import type { EventLoopDelay } from './bench-receiver-child.js';

export type Encoding = 'proto' | 'json';

export interface BenchContext {
  docker: Docker;
  containers: ContainerSet;
  sink: BenchSink;
  receiverScript: string;
  baselineScript: string;
  /** file: URL of dist/ (or src/ with tsx). */
  root: string;
  tsx: boolean;
  /** The engine endpoint for the receiver, and the socket for the baseline. */
  endpoint: string;
  /** null for a tcp:// engine (no baseline then, and every dockerd on the machine is counted). */
  socketPath: string | null;
  apiVersion: string;
  tmpDir: string;
  logLevel: string;
}

interface Common {
  run: number;
  ok: boolean;
  failure?: string;
  /** Records of other containers the sink received during the case (other users of the shared engine). */
  foreignRecords: number;
  /** Running containers on the engine, not ours, when the case began. */
  foreignRunning: number;
}

export interface BacklogResult extends Common {
  case: 'backlog';
  reader: 'receiver' | 'baseline';
  encoding: Encoding | null;
  lines: number;
  delivered: number;
  duplicates: number;
  wallSeconds: number;
  linesPerSecond: number;
  cpuSeconds: number;
  /** Reader CPU per delivered line (the backlog's lines plus any foreign records), µs. */
  cpuMicrosPerLine: number;
  peakRssMB: number;
  dockerdCpuSeconds: number;
  containerdCpuSeconds: number;
  eventLoopDelay: EventLoopDelay | null;
  profile?: string;
}

export interface LiveResult extends Common {
  case: 'live';
  containers: number;
  ratePerContainer: number;
  seconds: number;
  lines: number;
  delivered: number;
  duplicates: number;
  /** Lines per second as written, from Docker's timestamps of the first and last line. */
  achievedLinesPerSecond: number;
  /** Window while every writer runs (all started + 2 s .. first started + duration − 1 s). */
  steadySeconds: number;
  cpuPercent: number;
  dockerdPercent: number;
  containerdPercent: number;
  /** From go to the last line delivered (start-up, container creation, drain included). */
  overallCpuPercent: number;
  cpuMicrosPerLine: number;
  rssMaxMB: number;
  peakRssMB: number;
  latencyP50Ms: number;
  latencyP90Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  eventLoopDelay: EventLoopDelay | null;
}

export interface IdleResult extends Common {
  case: 'idle';
  containers: number;
  seconds: number;
  cpuPercent: number;
  dockerdPercent: number;
  containerdPercent: number;
  rssMB: number;
  rssMaxMB: number;
  peakRssMB: number;
  delivered: number;
}

export type CaseResult = BacklogResult | LiveResult | IdleResult;

const MB = 1024 * 1024;
const round = (x: number, digits = 2): number => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);

interface Snapshot {
  t: number;
  reader: number;
  dockerd: Map<number, number>;
  containerd: Map<number, number>;
}

function snapshot(ctx: BenchContext, readerPid: number): Snapshot {
  const pids = enginePids(ctx.socketPath);
  const read = (list: number[]): Map<number, number> => new Map(list.map((p) => [p, cpuSeconds(p) ?? 0]));
  return { t: Date.now(), reader: cpuSeconds(readerPid) ?? NaN, dockerd: read(pids.dockerd), containerd: read(pids.containerd) };
}

/** CPU seconds used between a and b by processes of a group (a process new in b counts from 0). */
function groupDelta(a: Map<number, number>, b: Map<number, number>): number {
  let sum = 0;
  for (const [pid, v] of b) sum += v - (a.get(pid) ?? 0);
  return sum;
}

function deltas(a: Snapshot, b: Snapshot): { seconds: number; reader: number; dockerd: number; containerd: number } {
  return { seconds: (b.t - a.t) / 1000, reader: b.reader - a.reader, dockerd: groupDelta(a.dockerd, b.dockerd), containerd: groupDelta(a.containerd, b.containerd) };
}

export function receiverConfigYaml(ctx: BenchContext, o: { startAt: 'beginning' | 'end'; encoding: Encoding }): string {
  return `# Written by bench/bench.ts: product defaults except start_at, the sink, encoding and compression.
receivers:
  docker_logs:
    endpoint: ${ctx.endpoint}
    start_at: ${o.startAt}
processors:
  batch:
    timeout: 200ms
    send_batch_size: 8192
exporters:
  otlphttp:
    endpoint: ${ctx.sink.url}
    encoding: ${o.encoding}
    compression: none
service:
  pipelines:
    logs:
      receivers: [docker_logs]
      processors: [batch]
      exporters: [otlphttp]
  telemetry:
    logs:
      level: ${ctx.logLevel}
`;
}

function writeConfig(ctx: BenchContext, name: string, yaml: string): string {
  const file = join(ctx.tmpDir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

async function startReceiver(ctx: BenchContext, name: string, yaml: string, eld: boolean, cpuProfDir?: string): Promise<ReceiverChild> {
  const child = startReceiverChild(ctx.receiverScript, { root: ctx.root, tsx: ctx.tsx, configPath: writeConfig(ctx, name, yaml), eventLoopDelay: eld, cpuProfDir });
  try {
    await child.waitFor('ready', 60_000);
  } catch (err) {
    await child.kill();
    throw err;
  }
  return child;
}

async function stopReceiver(child: ReceiverChild): Promise<{ eld: EventLoopDelay | null }> {
  child.send({ type: 'stop' });
  const stopped = await child.waitFor('stopped', 30_000);
  const code = await Promise.race([child.exited, sleep(15_000).then(() => 'timeout' as const)]);
  if (code === 'timeout') {
    await child.kill();
    throw new Error('the receiver did not exit within 15 s of its shutdown');
  }
  if (code !== 0) throw new Error(`the receiver exited with code ${String(code)}; stderr: ${child.stderr()}`);
  return { eld: stopped.eld };
}

function exactness(ctx: BenchContext): { delivered: number; duplicates: number; problems: string[] } {
  const problems: string[] = [];
  let delivered = 0;
  let duplicates = 0;
  for (const c of ctx.sink.counts()) {
    delivered += c.count;
    duplicates += c.duplicates;
    if (c.count !== c.expected || c.duplicates > 0 || c.outOfRange > 0) {
      problems.push(`${c.id}: delivered ${c.count} of ${c.expected} written (duplicates ${c.duplicates}, out of range ${c.outOfRange})`);
    }
  }
  if (ctx.sink.rejected > 0) problems.push(`the sink rejected ${ctx.sink.rejected} request(s): ${ctx.sink.errors.slice(-3).join('; ')}`);
  return { delivered, duplicates, problems };
}

// ---------------------------------------------------------------------------
// Backlog drain
// ---------------------------------------------------------------------------

export interface BacklogTarget {
  id: string;
  name: string;
  lines: number;
}

/**
 * The receiver reads the backlog container from the beginning. The clock
 * starts when it is told to start (modules and config already loaded) and stops
 * when the sink holds every one of the container's lines. The sink counts by
 * container name, so records of other containers on the shared engine are not
 * counted (they are reported as foreign records: they cost the receiver CPU).
 */
export async function backlogReceiver(ctx: BenchContext, target: BacklogTarget, encoding: Encoding, run: number, cpuProfDir?: string): Promise<BacklogResult> {
  const { sink } = ctx;
  sink.reset();
  sink.track(target.name, target.lines);
  const ours = new Set(ctx.containers.ids);
  const foreign = (await foreignRunning(ctx.docker, ours)).length;
  const result: BacklogResult = {
    case: 'backlog', reader: 'receiver', encoding, run, ok: false, lines: target.lines, delivered: 0, duplicates: 0, wallSeconds: NaN, linesPerSecond: NaN,
    cpuSeconds: NaN, cpuMicrosPerLine: NaN, peakRssMB: NaN, dockerdCpuSeconds: NaN, containerdCpuSeconds: NaN, eventLoopDelay: null,
    foreignRecords: 0, foreignRunning: foreign,
  };
  const child = await startReceiver(ctx, `backlog-${encoding}`, receiverConfigYaml(ctx, { startAt: 'beginning', encoding }), true, cpuProfDir);
  try {
    const before = snapshot(ctx, child.pid);
    child.send({ type: 'go' });
    await sink.waitFor(() => sink.complete(), 60_000 + target.lines * 2, `all ${target.lines} lines of ${target.name}`);
    const after = snapshot(ctx, child.pid);
    const foreignAtEnd = sink.foreignRecords;
    const mem = child.memory();
    await sleep(1000); // anything more (a duplicate) would show now
    const { eld } = await stopReceiver(child);
    const d = deltas(before, after);
    const exact = exactness(ctx);
    Object.assign(result, {
      delivered: exact.delivered,
      duplicates: exact.duplicates,
      wallSeconds: round(d.seconds, 3),
      linesPerSecond: Math.round(target.lines / d.seconds),
      cpuSeconds: round(d.reader, 2),
      cpuMicrosPerLine: round((d.reader * 1e6) / (target.lines + foreignAtEnd), 2),
      peakRssMB: round(mem.hwm / MB, 1),
      dockerdCpuSeconds: round(d.dockerd, 2),
      containerdCpuSeconds: round(d.containerd, 2),
      eventLoopDelay: eld,
      foreignRecords: sink.foreignRecords,
      ok: exact.problems.length === 0,
    });
    if (exact.problems.length > 0) result.failure = `exact count failed: ${exact.problems.join('; ')}`;
  } catch (err) {
    result.failure = err instanceof Error ? err.message : String(err);
    await child.kill();
  }
  return result;
}

/** The baseline follows the same container and counts lines; the clock stops when it has counted them all. */
export async function backlogBaseline(ctx: BenchContext, target: BacklogTarget, run: number): Promise<BacklogResult> {
  const ours = new Set(ctx.containers.ids);
  const foreign = (await foreignRunning(ctx.docker, ours)).length;
  const result: BacklogResult = {
    case: 'backlog', reader: 'baseline', encoding: null, run, ok: false, lines: target.lines, delivered: 0, duplicates: 0, wallSeconds: NaN, linesPerSecond: NaN,
    cpuSeconds: NaN, cpuMicrosPerLine: NaN, peakRssMB: NaN, dockerdCpuSeconds: NaN, containerdCpuSeconds: NaN, eventLoopDelay: null,
    foreignRecords: 0, foreignRunning: foreign,
  };
  if (ctx.socketPath === null) throw new Error('the baseline reader needs a unix socket engine');
  const child = startBaselineChild(ctx.baselineScript, ctx.socketPath, ctx.apiVersion);
  try {
    await child.waitFor('ready', 30_000);
    const before = snapshot(ctx, child.pid);
    child.send({ type: 'go', ids: [target.id], until: target.lines });
    await child.waitFor('reached', 60_000 + target.lines * 2);
    const after = snapshot(ctx, child.pid);
    const mem = child.memory();
    await sleep(1000);
    child.send({ type: 'stop' });
    const stopped = await child.waitFor('stopped', 10_000);
    await child.exited;
    const d = deltas(before, after);
    Object.assign(result, {
      delivered: stopped.count,
      wallSeconds: round(d.seconds, 3),
      linesPerSecond: Math.round(target.lines / d.seconds),
      cpuSeconds: round(d.reader, 2),
      cpuMicrosPerLine: round((d.reader * 1e6) / target.lines, 2),
      peakRssMB: round(mem.hwm / MB, 1),
      dockerdCpuSeconds: round(d.dockerd, 2),
      containerdCpuSeconds: round(d.containerd, 2),
      ok: stopped.count === target.lines,
    });
    if (stopped.count !== target.lines) result.failure = `exact count failed: the baseline counted ${stopped.count} lines of ${target.lines}`;
  } catch (err) {
    result.failure = err instanceof Error ? err.message : String(err);
    await child.kill();
  }
  return result;
}

// ---------------------------------------------------------------------------
// Live load
// ---------------------------------------------------------------------------

export interface LiveOptions {
  containers: number;
  ratePerContainer: number;
  seconds: number;
}

/**
 * The receiver runs first (start_at: end, so nothing already on the engine is
 * re-read); then the writers start and it reads each of them from its first
 * line. CPU % is taken over the window where every writer is running; latency
 * is arrival at the sink minus Docker's timestamp, for every line.
 */
export async function live(ctx: BenchContext, o: LiveOptions, run: number): Promise<LiveResult> {
  const { sink } = ctx;
  sink.reset();
  const perContainer = Math.round(o.ratePerContainer * o.seconds);
  const names = containerNames(o.containers, 'bench-live');
  for (const n of names) sink.track(n, perContainer);
  const ours = new Set(ctx.containers.ids);
  const foreign = (await foreignRunning(ctx.docker, ours)).length;
  const result: LiveResult = {
    case: 'live', run, ok: false, containers: o.containers, ratePerContainer: o.ratePerContainer, seconds: o.seconds, lines: perContainer * o.containers,
    delivered: 0, duplicates: 0, achievedLinesPerSecond: NaN, steadySeconds: NaN, cpuPercent: NaN, dockerdPercent: NaN, containerdPercent: NaN,
    overallCpuPercent: NaN, cpuMicrosPerLine: NaN, rssMaxMB: NaN, peakRssMB: NaN, latencyP50Ms: NaN, latencyP90Ms: NaN, latencyP99Ms: NaN, latencyMaxMs: NaN,
    eventLoopDelay: null, foreignRecords: 0, foreignRunning: foreign,
  };
  const child = await startReceiver(ctx, 'live', receiverConfigYaml(ctx, { startAt: 'end', encoding: 'proto' }), true);
  const rss = new RssSampler(child.pid);
  const timers: NodeJS.Timeout[] = [];
  let started: string[] = [];
  try {
    const go = snapshot(ctx, child.pid);
    child.send({ type: 'go' });
    await child.waitFor('started', 30_000);
    await sleep(2000); // the first listing: what already runs is followed from its end
    rss.start();
    const cmd = pacedWriterCmd(perContainer, o.ratePerContainer);
    const window: { start?: Snapshot; end?: Snapshot } = {};
    const writers = await startContainers(ctx.docker, ctx.containers, names, cmd);
    started = writers.ids;
    const steadyFrom = writers.allStartedMs + 2000;
    const steadyTo = writers.firstStartedMs + o.seconds * 1000 - 1000;
    if (steadyTo - steadyFrom >= 5000) {
      timers.push(setTimeout(() => (window.start = snapshot(ctx, child.pid)), steadyFrom - Date.now()));
      timers.push(setTimeout(() => (window.end = snapshot(ctx, child.pid)), steadyTo - Date.now()));
    }
    await sink.waitFor(() => sink.complete(), o.seconds * 3000 + 120_000, `all ${result.lines} lines of ${o.containers} writers`);
    const done = snapshot(ctx, child.pid);
    rss.stop();
    const mem = child.memory();
    await sleep(1000);
    const { eld } = await stopReceiver(child);
    const steady = window.start !== undefined && window.end !== undefined ? deltas(window.start, window.end) : deltas(go, done);
    const overall = deltas(go, done);
    const exact = exactness(ctx);
    const lat = sink.latency();
    Object.assign(result, {
      delivered: exact.delivered,
      duplicates: exact.duplicates,
      achievedLinesPerSecond: Math.round(result.lines / ((sink.maxTimestampMs - sink.minTimestampMs) / 1000)),
      steadySeconds: round(steady.seconds, 1),
      cpuPercent: round((steady.reader / steady.seconds) * 100, 2),
      dockerdPercent: round((steady.dockerd / steady.seconds) * 100, 2),
      containerdPercent: round((steady.containerd / steady.seconds) * 100, 2),
      overallCpuPercent: round((overall.reader / overall.seconds) * 100, 2),
      cpuMicrosPerLine: round((overall.reader * 1e6) / (result.lines + sink.foreignRecords), 2),
      rssMaxMB: round(rss.maxRss / MB, 1),
      peakRssMB: round(mem.hwm / MB, 1),
      latencyP50Ms: lat.p50Ms,
      latencyP90Ms: lat.p90Ms,
      latencyP99Ms: lat.p99Ms,
      latencyMaxMs: lat.maxMs,
      eventLoopDelay: eld,
      foreignRecords: sink.foreignRecords,
      ok: exact.problems.length === 0,
    });
    if (exact.problems.length > 0) result.failure = `exact count failed: ${exact.problems.slice(0, 5).join('; ')}${exact.problems.length > 5 ? ` (+${exact.problems.length - 5} more)` : ''}`;
  } catch (err) {
    result.failure = err instanceof Error ? err.message : String(err);
    await child.kill();
  } finally {
    for (const t of timers) clearTimeout(t);
    rss.stop();
    await ctx.containers.remove(started);
  }
  return result;
}

// ---------------------------------------------------------------------------
// Idle
// ---------------------------------------------------------------------------

export interface IdleOptions {
  containers: number;
  seconds: number;
  warmupSeconds: number;
}

/** Quiet containers first, then the receiver; after a warm-up (every stream open), CPU and RSS over the window. */
export async function idle(ctx: BenchContext, o: IdleOptions, run: number): Promise<IdleResult> {
  const { sink } = ctx;
  sink.reset();
  const names = containerNames(o.containers, 'bench-idle');
  for (const n of names) sink.track(n, 0);
  const result: IdleResult = {
    case: 'idle', run, ok: false, containers: o.containers, seconds: o.seconds, cpuPercent: NaN, dockerdPercent: NaN, containerdPercent: NaN,
    rssMB: NaN, rssMaxMB: NaN, peakRssMB: NaN, delivered: 0, foreignRecords: 0, foreignRunning: 0,
  };
  let started: string[] = [];
  let child: ReceiverChild | null = null;
  try {
    started = (await startContainers(ctx.docker, ctx.containers, names, ['sleep', '86400'])).ids;
    result.foreignRunning = (await foreignRunning(ctx.docker, new Set(ctx.containers.ids))).length;
    child = await startReceiver(ctx, 'idle', receiverConfigYaml(ctx, { startAt: 'end', encoding: 'proto' }), false);
    child.send({ type: 'go' });
    await child.waitFor('started', 30_000);
    await sleep(o.warmupSeconds * 1000);
    const rss = new RssSampler(child.pid);
    rss.start();
    const before = snapshot(ctx, child.pid);
    await sleep(o.seconds * 1000);
    const after = snapshot(ctx, child.pid);
    rss.stop();
    const mem = child.memory();
    await stopReceiver(child);
    const d = deltas(before, after);
    const exact = exactness(ctx);
    Object.assign(result, {
      cpuPercent: round((d.reader / d.seconds) * 100, 3),
      dockerdPercent: round((d.dockerd / d.seconds) * 100, 2),
      containerdPercent: round((d.containerd / d.seconds) * 100, 2),
      rssMB: round(mem.rss / MB, 1),
      rssMaxMB: round(rss.maxRss / MB, 1),
      peakRssMB: round(mem.hwm / MB, 1),
      delivered: exact.delivered,
      foreignRecords: sink.foreignRecords,
      ok: exact.problems.length === 0,
    });
    if (exact.problems.length > 0) result.failure = `exact count failed: ${exact.problems.slice(0, 5).join('; ')}`;
  } catch (err) {
    result.failure = err instanceof Error ? err.message : String(err);
    await child?.kill();
  } finally {
    await ctx.containers.remove(started);
  }
  return result;
}
