/**
 * The benchmark's cases. Each one runs the reader (the receiver, or the
 * baseline) as a child process, measures it from /proc over a window, checks
 * the exact count at the end (every line written delivered once: the case
 * fails otherwise), and returns its figures.
 */
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

import type Docker from 'dockerode';

import { startBaselineChild, startReceiverChild } from './bench-children.js';
import type { ReceiverChild, ReceiverChildOptions, SinkProcess } from './bench-children.js';
import type { ContainerSet } from './bench-docker.js';
import { containerNames, foreignRunning, pacedWriterCmd, sleep, startContainers } from './bench-docker.js';
import { cpuSeconds, enginePids, RssSampler } from './bench-proc.js';
import type { SinkReport } from './bench-sink.js';
import type { EventLoopDelay, ReaderSource, ReadTraceSummary } from './bench-receiver-child.js';

export type Encoding = 'proto' | 'json';

/** receivers.docker_logs.read_from for a measured run: the Engine API, or the engine's json-file logs read directly. */
export type Source = 'api' | 'files';
export const SOURCES: readonly Source[] = ['api', 'files'];

export interface BenchContext {
  docker: Docker;
  containers: ContainerSet;
  sink: SinkProcess;
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
  /** exporters.otlphttp.sending_queue.queue_size, when not the default. */
  queueSize: number | null;
  /** processors.batch.send_batch_size; null for the product default. */
  batchSize: number | null;
  /** The receiver's own metrics pipeline, as in the product default (exported to the sink, which accepts and ignores them). */
  selfMetrics: boolean;
  /** Extra node options for the receiver process. */
  nodeArgs: string[];
  /** Backlog: trace how the receiver's paced streams read (bench-receiver-child --trace-reads). */
  traceReads: boolean;
  /**
   * A name glob for receivers.docker_logs.include.names matching only this run's
   * containers (all named dlrt-<runPrefix>-…), or null to read every container.
   */
  includeNames: string | null;
  /** The prefix given to uniqueName() for this run's containers (bench-<run id>). */
  runPrefix: string;
  /**
   * Backlog: how long dockerd's CPU is sampled just before each run's go (the
   * reader loaded and waiting), for its idle rate: dockerd CPU beyond idle is the
   * window's minus that rate × the window.
   */
  idleProbeMs: number;
}

interface Common {
  run: number;
  ok: boolean;
  failure?: string;
  /** Records of other containers the sink received during the case (other users of the shared engine). */
  foreignRecords: number;
  /** Running containers on the engine, not ours, when the case began. */
  foreignRunning: number;
  /** The machine's 1-minute load average when the case began (the machine is shared: a high one marks a disturbed run). */
  loadAverage1m: number;
}

/**
 * Which source the receiver's readers of this case's containers were found
 * using (service.status(), asked while they stream), by source; 'none' counts
 * readers with no stream open when asked.
 */
export type SourcesSeen = Partial<Record<Source | 'none', number>>;

export interface BacklogResult extends Common {
  case: 'backlog';
  reader: 'receiver' | 'baseline';
  /** read_from of the receiver; null for the baseline (one Engine API follow request). */
  source: Source | null;
  sourcesSeen: SourcesSeen | null;
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
  /** dockerd CPU seconds × 1e6 ÷ the backlog's lines. */
  dockerdMicrosPerLine: number;
  /** dockerd's CPU % over the probe just before go (its idle rate: other containers, housekeeping). */
  dockerdIdlePercent: number;
  /** dockerd CPU seconds in the window minus its idle rate × the window's length. */
  dockerdBeyondIdleCpuSeconds: number;
  dockerdMicrosPerLineBeyondIdle: number;
  containerdCpuSeconds: number;
  /**
   * CPU seconds of the sink's process over the window: decoding and counting
   * what the receiver sends (the baseline sends nothing: ~0). The machine has
   * few cores, so this competes with the receiver and dockerd for them.
   */
  sinkCpuSeconds: number;
  eventLoopDelay: EventLoopDelay | null;
  /** How the receiver's paced streams read (with --trace-reads). */
  readTrace?: ReadTraceSummary;
  profile?: string;
}

export interface LiveResult extends Common {
  case: 'live';
  source: Source;
  sourcesSeen: SourcesSeen | null;
  containers: number;
  ratePerContainer: number;
  seconds: number;
  lines: number;
  delivered: number;
  duplicates: number;
  /** Lines per second as written: the sum over writers of each one's rate (Docker's timestamps of its first and last line). */
  achievedLinesPerSecond: number;
  /**
   * 'steady': CPU % over the window while every writer runs (all started + 2 s ..
   * first started + duration − 1 s); when that window is shorter than 5 s (short
   * runs, slow container starts), 'after-start': from 1 s after the last writer
   * started to the last line delivered; 'overall' (go .. last line) only when
   * neither could be taken.
   */
  window: 'steady' | 'after-start' | 'overall';
  steadySeconds: number;
  /** How long starting the writers took. */
  startSeconds: number;
  cpuPercent: number;
  /**
   * CPU % at the nominal load (containers × rate): CPU per line delivered in the
   * window × nominal lines/s. The writers can fall short of the nominal rate on a
   * busy machine; this assumes the cost per line stays the same.
   */
  cpuPercentAtNominal: number;
  dockerdPercent: number;
  /**
   * dockerd CPU per line delivered within the CPU window, µs. It includes what
   * dockerd spends taking the writers' output and writing their json-files, which
   * does not depend on the reader: the difference between the sources is the
   * cost of serving the API streams.
   */
  dockerdMicrosPerLine: number;
  containerdPercent: number;
  /** From go to the last line delivered (start-up, container creation, drain included). */
  overallCpuPercent: number;
  /** Receiver CPU per line delivered within the CPU window. */
  cpuMicrosPerLine: number;
  /** Receiver CPU from go to the last line, per line (start-up and container creation included). */
  overallCpuMicrosPerLine: number;
  rssMaxMB: number;
  peakRssMB: number;
  latencyP50Ms: number;
  latencyP90Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  eventLoopDelay: EventLoopDelay | null;
  profile?: string;
}

export interface IdleResult extends Common {
  case: 'idle';
  /** Idle runs with the product default, read_from: auto. */
  source: 'auto';
  /** What auto chose for the sleeping containers (asked at the end of the window). */
  sourcesSeen: SourcesSeen | null;
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
const load1m = (): number => Math.round(loadavg()[0] * 100) / 100;
const round = (x: number, digits = 2): number => (Number.isFinite(x) ? Math.round(x * 10 ** digits) / 10 ** digits : x);

interface Snapshot {
  t: number;
  reader: number;
  /** Records of tracked containers the sink had received. */
  records: number;
  /** CPU seconds of the sink's process. */
  sink: number;
  dockerd: Map<number, number>;
  containerd: Map<number, number>;
}

function snapshot(ctx: BenchContext, readerPid: number): Snapshot {
  const pids = enginePids(ctx.socketPath);
  const read = (list: number[]): Map<number, number> => new Map(list.map((p) => [p, cpuSeconds(p) ?? 0]));
  return { t: Date.now(), reader: cpuSeconds(readerPid) ?? NaN, records: ctx.sink.trackedRecords, sink: ctx.sink.cpu(), dockerd: read(pids.dockerd), containerd: read(pids.containerd) };
}

/** CPU seconds used between a and b by processes of a group (a process new in b counts from 0). */
function groupDelta(a: Map<number, number>, b: Map<number, number>): number {
  let sum = 0;
  for (const [pid, v] of b) sum += v - (a.get(pid) ?? 0);
  return sum;
}

function deltas(a: Snapshot, b: Snapshot): { seconds: number; reader: number; records: number; sink: number; dockerd: number; containerd: number } {
  return {
    seconds: (b.t - a.t) / 1000,
    reader: b.reader - a.reader,
    records: b.records - a.records,
    sink: b.sink - a.sink,
    dockerd: groupDelta(a.dockerd, b.dockerd),
    containerd: groupDelta(a.containerd, b.containerd),
  };
}

/** readFrom null: the key is left out (the product default, auto). */
export function receiverConfigYaml(ctx: BenchContext, o: { startAt: 'beginning' | 'end'; encoding: Encoding; readFrom: Source | null }): string {
  return `# Written by bench/bench.ts: product defaults except start_at, read_from (${o.readFrom ?? 'not set: auto'}), the container filter (this run's containers), the sink, encoding and compression${ctx.batchSize === null ? '' : ', send_batch_size'}${ctx.selfMetrics ? '' : ', and no metrics pipeline'}.
receivers:
  docker_logs:
    endpoint: ${ctx.endpoint}
    start_at: ${o.startAt}
${o.readFrom === null ? '' : `    read_from: ${o.readFrom}\n`}${ctx.includeNames === null ? '' : `    include:\n      names: ["${ctx.includeNames}"]\n`}processors:
  batch:
    timeout: 200ms
${ctx.batchSize === null ? '' : `    send_batch_size: ${ctx.batchSize}\n`}exporters:
  otlphttp:
    endpoint: ${ctx.sink.url}
    encoding: ${o.encoding}
    compression: none
${ctx.queueSize === null ? '' : `    sending_queue:\n      queue_size: ${ctx.queueSize}\n`}service:
  pipelines:
    logs:
      receivers: [docker_logs]
      processors: [batch]
      exporters: [otlphttp]
${ctx.selfMetrics ? '    metrics:\n      receivers: [docker_logs]\n      exporters: [otlphttp]\n' : ''}  telemetry:
    logs:
      level: ${ctx.logLevel}
`;
}

function writeConfig(ctx: BenchContext, name: string, yaml: string): string {
  const file = join(ctx.tmpDir, `${name}.yaml`);
  writeFileSync(file, yaml);
  return file;
}

/** What a case asks of its receiver process beyond the run's settings. */
type ReceiverAsks = Pick<ReceiverChildOptions, 'eventLoopDelay' | 'cpuProfDir' | 'traceReads'>;

async function startReceiver(ctx: BenchContext, name: string, yaml: string, asks: ReceiverAsks): Promise<ReceiverChild> {
  const child = startReceiverChild(ctx.receiverScript, { root: ctx.root, tsx: ctx.tsx, nodeArgs: ctx.nodeArgs, configPath: writeConfig(ctx, name, yaml), ...asks });
  try {
    await child.waitFor('ready', 60_000);
  } catch (err) {
    await child.kill();
    throw err;
  }
  return child;
}

async function stopReceiver(child: ReceiverChild): Promise<{ eld: EventLoopDelay | null; reads: ReadTraceSummary | null }> {
  child.send({ type: 'stop' });
  const stopped = await child.waitFor('stopped', 30_000);
  const code = await Promise.race([child.exited, sleep(15_000).then(() => 'timeout' as const)]);
  if (code === 'timeout') {
    await child.kill();
    throw new Error('the receiver did not exit within 15 s of its shutdown');
  }
  if (code !== 0) throw new Error(`the receiver exited with code ${String(code)}; stderr: ${child.stderr()}`);
  return { eld: stopped.eld, reads: stopped.reads ?? null };
}

function exactness(report: SinkReport): { delivered: number; duplicates: number; problems: string[] } {
  const problems: string[] = [];
  let delivered = 0;
  let duplicates = 0;
  for (const c of report.counts) {
    delivered += c.count;
    duplicates += c.duplicates;
    if (c.count !== c.expected || c.duplicates > 0 || c.outOfRange > 0) {
      problems.push(`${c.id}: delivered ${c.count} of ${c.expected} written (duplicates ${c.duplicates}, out of range ${c.outOfRange})`);
    }
  }
  if (report.rejected > 0) problems.push(`the sink rejected ${report.rejected} request(s): ${report.errors.join('; ')}`);
  return { delivered, duplicates, problems };
}

/**
 * Which source the receiver's readers of `names` use, asked over IPC. A reader
 * between two streams has none: asked again (200 ms apart) while any has none.
 * null when the child does not answer (a build without the status request).
 */
async function sourcesOf(child: ReceiverChild, names: ReadonlySet<string>, attempts = 5): Promise<SourcesSeen | null> {
  let seen: SourcesSeen = {};
  for (let i = 0; i < attempts; i++) {
    let reply: { containers: ReaderSource[] };
    try {
      reply = await child.ask({ type: 'status' }, 'status', 5000);
    } catch {
      return null;
    }
    seen = {};
    for (const c of reply.containers) {
      if (!names.has(c.name)) continue;
      const k = c.source ?? 'none';
      seen[k] = (seen[k] ?? 0) + 1;
    }
    if ((seen.none ?? 0) === 0) break;
    await sleep(200);
  }
  return seen;
}

/** Why the readers did not use `want` (some read from the other source, or none of ours was listed), or null. */
function sourceProblem(seen: SourcesSeen | null, want: Source, expected: number): string | null {
  if (seen === null) return null; // could not be asked: reported as unknown
  const listed = (seen.api ?? 0) + (seen.files ?? 0) + (seen.none ?? 0);
  if (listed === 0) return `the receiver listed none of this case's ${expected} container(s) when asked which source it reads`;
  const other: Source = want === 'api' ? 'files' : 'api';
  if ((seen[other] ?? 0) > 0) return `read_from: ${want} was configured, but ${seen[other]} of ${listed} reader(s) read from ${other}`;
  return null;
}

/** One line: how many reads, how full the socket was after a pacing wait, how long the waits lasted, and GC. */
export function formatReadTrace(t: ReadTraceSummary): string {
  const w = t.afterWait;
  return (
    `${t.reads.toLocaleString('en-US')} reads (${t.bytesPerRead.toLocaleString('en-US')} B each, at most ${t.maxReadBytes.toLocaleString('en-US')}); ` +
    `${w.reads.toLocaleString('en-US')} after a wait: ${w.bytesP50.toLocaleString('en-US')} B at p50, ${w.bytesP90.toLocaleString('en-US')} at p90; ` +
    `waits ${w.waitMsP50} / ${w.waitMsP90} / ${w.waitMsP99} ms (p50 / p90 / p99), ${w.waitMsTotal} ms in all; ` +
    `other reads ${t.otherReads.reads.toLocaleString('en-US')}, ${t.otherReads.bytesP50.toLocaleString('en-US')} B at p50; GC ${t.gc.count} collections, ${t.gc.ms} ms`
  );
}

/** "files 50", "api 49, none 1"; "?" when unknown. */
export function formatSources(seen: SourcesSeen | null): string {
  if (seen === null) return '?';
  const parts = (['api', 'files', 'none'] as const).filter((k) => (seen[k] ?? 0) > 0).map((k) => `${k} ${seen[k]}`);
  return parts.length === 0 ? '–' : parts.join(', ');
}

type Deltas = ReturnType<typeof deltas>;

/** dockerd's figures for a backlog window `d` of `lines` lines, its idle rate taken from the probe just before. */
function dockerdFigures(probe: Deltas, d: Deltas, lines: number): Pick<BacklogResult, 'dockerdCpuSeconds' | 'dockerdMicrosPerLine' | 'dockerdIdlePercent' | 'dockerdBeyondIdleCpuSeconds' | 'dockerdMicrosPerLineBeyondIdle'> {
  const idleRate = probe.seconds > 0 ? probe.dockerd / probe.seconds : 0;
  const beyond = d.dockerd - idleRate * d.seconds;
  return {
    dockerdCpuSeconds: round(d.dockerd, 2),
    dockerdMicrosPerLine: round((d.dockerd * 1e6) / lines, 3),
    dockerdIdlePercent: round(idleRate * 100, 2),
    dockerdBeyondIdleCpuSeconds: round(beyond, 3),
    dockerdMicrosPerLineBeyondIdle: round((beyond * 1e6) / lines, 3),
  };
}

// ---------------------------------------------------------------------------
// Backlog drain
// ---------------------------------------------------------------------------

export interface BacklogTarget {
  id: string;
  name: string;
  lines: number;
}

function emptyBacklog(reader: 'receiver' | 'baseline', source: Source | null, encoding: Encoding | null, run: number, lines: number, foreign: number): BacklogResult {
  return {
    case: 'backlog', reader, source, sourcesSeen: null, encoding, run, ok: false, lines, delivered: 0, duplicates: 0, wallSeconds: NaN, linesPerSecond: NaN,
    cpuSeconds: NaN, cpuMicrosPerLine: NaN, peakRssMB: NaN, dockerdCpuSeconds: NaN, dockerdMicrosPerLine: NaN, dockerdIdlePercent: NaN, dockerdBeyondIdleCpuSeconds: NaN,
    dockerdMicrosPerLineBeyondIdle: NaN, containerdCpuSeconds: NaN, sinkCpuSeconds: NaN, eventLoopDelay: null, foreignRecords: 0, foreignRunning: foreign, loadAverage1m: load1m(),
  };
}

/**
 * The receiver (read_from: `source`) reads the backlog container from the
 * beginning. Once it is loaded (modules and config, nothing started), dockerd's
 * idle rate is sampled for ctx.idleProbeMs; then the clock starts when it is told
 * to start and stops when the sink holds every one of the container's lines.
 * The sink counts by container name, so records of other containers on the
 * shared engine are not counted (they are reported as foreign records: they
 * cost the receiver CPU). The reader must be found reading from `source`.
 */
export async function backlogReceiver(ctx: BenchContext, target: BacklogTarget, source: Source, encoding: Encoding, run: number, cpuProfDir?: string): Promise<BacklogResult> {
  const { sink } = ctx;
  await sink.track([[target.name, target.lines]]);
  const ours = new Set(ctx.containers.ids);
  const foreign = (await foreignRunning(ctx.docker, ours)).length;
  const result = emptyBacklog('receiver', source, encoding, run, target.lines, foreign);
  const child = await startReceiver(ctx, `backlog-${source}-${encoding}`, receiverConfigYaml(ctx, { startAt: 'beginning', encoding, readFrom: source }), {
    eventLoopDelay: true,
    cpuProfDir,
    traceReads: ctx.traceReads && source === 'api',
  });
  try {
    const probe = snapshot(ctx, child.pid);
    await sleep(ctx.idleProbeMs);
    const before = snapshot(ctx, child.pid);
    child.send({ type: 'go' });
    await sink.waitComplete(60_000 + target.lines * 2, `all ${target.lines} lines of ${target.name}`);
    const after = snapshot(ctx, child.pid);
    const foreignAtEnd = sink.foreignRecords;
    const mem = child.memory();
    // The container still runs (it sleeps): its reader still has its stream open.
    const seen = await sourcesOf(child, new Set([target.name]));
    await sleep(1000); // anything more (a duplicate) would show now
    const { eld, reads } = await stopReceiver(child);
    const d = deltas(before, after);
    const report = await sink.report();
    const exact = exactness(report);
    const wrongSource = sourceProblem(seen, source, 1);
    if (wrongSource !== null) exact.problems.push(wrongSource);
    Object.assign(result, {
      sourcesSeen: seen,
      delivered: exact.delivered,
      duplicates: exact.duplicates,
      wallSeconds: round(d.seconds, 3),
      linesPerSecond: Math.round(target.lines / d.seconds),
      cpuSeconds: round(d.reader, 2),
      cpuMicrosPerLine: round((d.reader * 1e6) / (target.lines + foreignAtEnd), 2),
      peakRssMB: round(mem.hwm / MB, 1),
      ...dockerdFigures(deltas(probe, before), d, target.lines),
      containerdCpuSeconds: round(d.containerd, 2),
      sinkCpuSeconds: round(d.sink, 2),
      eventLoopDelay: eld,
      ...(reads === null ? {} : { readTrace: reads }),
      foreignRecords: report.foreignRecords,
      ok: exact.problems.length === 0,
    });
    if (exact.problems.length > 0) result.failure = `${wrongSource !== null && exact.problems.length === 1 ? 'wrong source' : 'exact count failed'}: ${exact.problems.join('; ')}`;
  } catch (err) {
    result.failure = err instanceof Error ? err.message : String(err);
    await child.kill();
  }
  return result;
}

/**
 * The baseline follows the same container through the Engine API and counts
 * lines; the clock stops when it has counted them all. dockerd's idle rate is
 * sampled just before, as for the receiver.
 */
export async function backlogBaseline(ctx: BenchContext, target: BacklogTarget, run: number): Promise<BacklogResult> {
  const ours = new Set(ctx.containers.ids);
  const foreign = (await foreignRunning(ctx.docker, ours)).length;
  const result = emptyBacklog('baseline', null, null, run, target.lines, foreign);
  if (ctx.socketPath === null) throw new Error('the baseline reader needs a unix socket engine');
  const child = startBaselineChild(ctx.baselineScript, ctx.socketPath, ctx.apiVersion);
  try {
    await child.waitFor('ready', 30_000);
    const probe = snapshot(ctx, child.pid);
    await sleep(ctx.idleProbeMs);
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
      ...dockerdFigures(deltas(probe, before), d, target.lines),
      containerdCpuSeconds: round(d.containerd, 2),
      sinkCpuSeconds: round(d.sink, 2),
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
 * The receiver (read_from: `source`) runs first (start_at: end, so nothing
 * already on the engine is re-read); then the writers start and it reads each
 * of them from its first line. CPU % is taken over the window where every
 * writer is running; latency is arrival at the sink minus Docker's timestamp,
 * for every line. When the window opens, every reader of the writers must be
 * found reading from `source`.
 */
export async function live(ctx: BenchContext, o: LiveOptions, source: Source, run: number, cpuProfDir?: string): Promise<LiveResult> {
  const { sink } = ctx;
  const perContainer = Math.round(o.ratePerContainer * o.seconds);
  const names = containerNames(o.containers, `${ctx.runPrefix}-live`);
  await sink.track(names.map((n): [string, number] => [n, perContainer]));
  const ours = new Set(ctx.containers.ids);
  const foreign = (await foreignRunning(ctx.docker, ours)).length;
  const result: LiveResult = {
    case: 'live', source, sourcesSeen: null, run, ok: false, containers: o.containers, ratePerContainer: o.ratePerContainer, seconds: o.seconds, lines: perContainer * o.containers,
    delivered: 0, duplicates: 0, achievedLinesPerSecond: NaN, window: 'overall', steadySeconds: NaN, startSeconds: NaN, cpuPercent: NaN, cpuPercentAtNominal: NaN, dockerdPercent: NaN, dockerdMicrosPerLine: NaN, containerdPercent: NaN,
    overallCpuPercent: NaN, cpuMicrosPerLine: NaN, overallCpuMicrosPerLine: NaN, rssMaxMB: NaN, peakRssMB: NaN, latencyP50Ms: NaN, latencyP90Ms: NaN, latencyP99Ms: NaN, latencyMaxMs: NaN,
    eventLoopDelay: null, foreignRecords: 0, foreignRunning: foreign, loadAverage1m: load1m(),
  };
  const child = await startReceiver(ctx, `live-${source}`, receiverConfigYaml(ctx, { startAt: 'end', encoding: 'proto', readFrom: source }), { eventLoopDelay: true, cpuProfDir });
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
    const window: { start?: Snapshot; end?: Snapshot; afterStart?: Snapshot } = {};
    // Asked once the window opens (every writer running, so every reader streaming).
    let seen: Promise<SourcesSeen | null> | null = null;
    const nameSet = new Set(names);
    const windowOpens = (): void => {
      seen ??= sourcesOf(child, nameSet);
    };
    const startedAt = Date.now();
    const writers = await startContainers(ctx.docker, ctx.containers, names, cmd);
    result.startSeconds = round((writers.allStartedMs - startedAt) / 1000, 1);
    started = writers.ids;
    const steadyFrom = writers.allStartedMs + 2000;
    const steadyTo = writers.firstStartedMs + o.seconds * 1000 - 1000;
    if (steadyTo - steadyFrom >= 5000) {
      timers.push(
        setTimeout(() => {
          window.start = snapshot(ctx, child.pid);
          windowOpens();
        }, steadyFrom - Date.now()),
      );
      timers.push(setTimeout(() => (window.end = snapshot(ctx, child.pid)), steadyTo - Date.now()));
    } else {
      // Too short for a steady window (short runs, slow container starts): from 1 s after the last start to the end.
      timers.push(
        setTimeout(() => {
          window.afterStart = snapshot(ctx, child.pid);
          windowOpens();
        }, writers.allStartedMs + 1000 - Date.now()),
      );
    }
    await sink.waitComplete(o.seconds * 3000 + 120_000, `all ${result.lines} lines of ${o.containers} writers`);
    const done = snapshot(ctx, child.pid);
    rss.stop();
    const mem = child.memory();
    const sourcesSeen = seen === null ? null : await (seen as Promise<SourcesSeen | null>);
    await sleep(1000);
    const { eld } = await stopReceiver(child);
    let steady = deltas(go, done);
    result.window = 'overall';
    if (window.start !== undefined && window.end !== undefined) {
      steady = deltas(window.start, window.end);
      result.window = 'steady';
    } else if (window.afterStart !== undefined) {
      steady = deltas(window.afterStart, done);
      result.window = 'after-start';
    }
    const overall = deltas(go, done);
    const report = await sink.report();
    const exact = exactness(report);
    const wrongSource = sourceProblem(sourcesSeen, source, o.containers);
    if (wrongSource !== null) exact.problems.unshift(wrongSource);
    const lat = report.latency;
    Object.assign(result, {
      sourcesSeen,
      delivered: exact.delivered,
      duplicates: exact.duplicates,
      achievedLinesPerSecond: Math.round(report.writtenLinesPerSecond),
      steadySeconds: round(steady.seconds, 1),
      cpuPercent: round((steady.reader / steady.seconds) * 100, 2),
      cpuPercentAtNominal: round(((steady.reader / steady.records) * o.containers * o.ratePerContainer) * 100, 2),
      dockerdPercent: round((steady.dockerd / steady.seconds) * 100, 2),
      dockerdMicrosPerLine: round((steady.dockerd * 1e6) / steady.records, 2),
      containerdPercent: round((steady.containerd / steady.seconds) * 100, 2),
      overallCpuPercent: round((overall.reader / overall.seconds) * 100, 2),
      cpuMicrosPerLine: round((steady.reader * 1e6) / steady.records, 2),
      overallCpuMicrosPerLine: round((overall.reader * 1e6) / (result.lines + report.foreignRecords), 2),
      rssMaxMB: round(rss.maxRss / MB, 1),
      peakRssMB: round(mem.hwm / MB, 1),
      latencyP50Ms: lat.p50Ms,
      latencyP90Ms: lat.p90Ms,
      latencyP99Ms: lat.p99Ms,
      latencyMaxMs: lat.maxMs,
      eventLoopDelay: eld,
      foreignRecords: report.foreignRecords,
      ok: exact.problems.length === 0,
    });
    if (exact.problems.length > 0) result.failure = `${wrongSource !== null ? 'wrong source / ' : ''}exact count failed: ${exact.problems.slice(0, 5).join('; ')}${exact.problems.length > 5 ? ` (+${exact.problems.length - 5} more)` : ''}`;
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

/**
 * Quiet containers first, then the receiver with the product default
 * (read_from: auto); after a warm-up (every stream open), CPU and RSS over the
 * window; at its end, which source auto chose for each container.
 */
export async function idle(ctx: BenchContext, o: IdleOptions, run: number): Promise<IdleResult> {
  const { sink } = ctx;
  const names = containerNames(o.containers, `${ctx.runPrefix}-idle`);
  await sink.track(names.map((n): [string, number] => [n, 0]));
  const result: IdleResult = {
    case: 'idle', source: 'auto', sourcesSeen: null, run, ok: false, containers: o.containers, seconds: o.seconds, cpuPercent: NaN, dockerdPercent: NaN, containerdPercent: NaN,
    rssMB: NaN, rssMaxMB: NaN, peakRssMB: NaN, delivered: 0, foreignRecords: 0, foreignRunning: 0, loadAverage1m: load1m(),
  };
  let started: string[] = [];
  let child: ReceiverChild | null = null;
  try {
    started = (await startContainers(ctx.docker, ctx.containers, names, ['sleep', '86400'])).ids;
    result.foreignRunning = (await foreignRunning(ctx.docker, new Set(ctx.containers.ids))).length;
    child = await startReceiver(ctx, 'idle', receiverConfigYaml(ctx, { startAt: 'end', encoding: 'proto', readFrom: null }), { eventLoopDelay: false });
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
    result.sourcesSeen = await sourcesOf(child, new Set(names));
    await stopReceiver(child);
    const d = deltas(before, after);
    const report = await sink.report();
    const exact = exactness(report);
    Object.assign(result, {
      cpuPercent: round((d.reader / d.seconds) * 100, 3),
      dockerdPercent: round((d.dockerd / d.seconds) * 100, 2),
      containerdPercent: round((d.containerd / d.seconds) * 100, 2),
      rssMB: round(mem.rss / MB, 1),
      rssMaxMB: round(rss.maxRss / MB, 1),
      peakRssMB: round(mem.hwm / MB, 1),
      delivered: exact.delivered,
      foreignRecords: report.foreignRecords,
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
