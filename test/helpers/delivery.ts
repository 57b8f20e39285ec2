/**
 * Helpers for the delivery-guarantee tests: counting what a sequence-numbered
 * writer (seqWriterCmd) got through to the sink (lost, duplicated), the config
 * those tests run with, peak memory of the receiver (in-process or a CLI child
 * process), the receiver's own metrics as the sink received them, and a
 * private Docker engine that a test may stop and restart without touching the
 * shared one.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import Docker from 'dockerode';

import { parseConfig } from '../../src/config/load.js';
import { configKeyPaths } from '../../src/config/schema.js';
import { Service } from '../../src/service.js';
import { createLogger } from '../../src/util/logger.js';
import type { AnyValue, OtlpSink, SinkLogRecord } from './otlp-sink.js';

/** The repository root (for running the CLI from source). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every `everyMs` until it holds; throws after timeoutMs with `what` and `detail()`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, detail: () => string = () => '', everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) {
      const more = detail();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${more ? `; ${more}` : ''}`);
    }
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------
// Counting sequence numbers
// ---------------------------------------------------------------------------

export function bodyText(l: SinkLogRecord): string {
  return typeof l.body === 'string' ? l.body : JSON.stringify(l.body, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
}

/** The records of one container (by id: names can change, ids cannot). */
export function recordsOf(sink: OtlpSink, containerId: string): SinkLogRecord[] {
  return sink.logs.filter((l) => l.resource['container.id'] === containerId);
}

export interface Tally {
  /** Lines the writer wrote (1..written). */
  written: number;
  /** Records that arrived for this container (duplicates included). */
  delivered: number;
  /** Distinct sequence numbers that arrived. */
  distinct: number;
  lost: number;
  duplicated: number;
  /** Records whose body is not PREFIX-<n> with 1 <= n <= written. */
  foreign: number;
  /** The first missing numbers, for messages. */
  missingSample: number[];
  /** The first duplicated numbers, for messages. */
  duplicateSample: number[];
}

/** Counts lines PREFIX-1 .. PREFIX-written among records. */
export function tally(records: readonly SinkLogRecord[], prefix: string, written: number): Tally {
  const seen = new Map<number, number>();
  let foreign = 0;
  const head = `${prefix}-`;
  for (const r of records) {
    const text = bodyText(r);
    const n = text.startsWith(head) ? Number(text.slice(head.length)) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > written) {
      foreign++;
      continue;
    }
    seen.set(n, (seen.get(n) ?? 0) + 1);
  }
  const missingSample: number[] = [];
  let lost = 0;
  for (let i = 1; i <= written; i++) {
    if (!seen.has(i)) {
      lost++;
      if (missingSample.length < 20) missingSample.push(i);
    }
  }
  let duplicated = 0;
  const duplicateSample: number[] = [];
  for (const [n, c] of [...seen.entries()].sort((a, b) => a[0] - b[0])) {
    if (c > 1) {
      duplicated += c - 1;
      if (duplicateSample.length < 20) duplicateSample.push(n);
    }
  }
  return { written, delivered: records.length, distinct: seen.size, lost, duplicated, foreign, missingSample, duplicateSample };
}

/**
 * Waits until every number 1..count of PREFIX-<n> from one container has
 * arrived at the sinks. The receiver reads every container of a shared engine,
 * so how fast ours arrive depends on what else runs there: instead of one fixed
 * timeout, this fails when no new number arrived for stallMs (or after capMs
 * in all). Records are scanned incrementally (the sinks may hold many).
 */
export async function waitForSequence(
  sinks: OtlpSink[] | (() => OtlpSink[]),
  containerId: string,
  prefix: string,
  count: number,
  options: { stallMs?: number; capMs?: number } = {},
): Promise<void> {
  const stallMs = options.stallMs ?? 30_000;
  const capMs = options.capMs ?? 240_000;
  const list = typeof sinks === 'function' ? sinks : () => sinks;
  const seen = new Set<number>();
  const scanned = new Map<OtlpSink, number>();
  const head = `${prefix}-`;
  const started = Date.now();
  let lastProgress = started;
  for (;;) {
    const before = seen.size;
    for (const sink of list()) {
      let i = scanned.get(sink) ?? 0;
      for (; i < sink.logs.length; i++) {
        const r = sink.logs[i];
        if (r.resource['container.id'] !== containerId) continue;
        const text = bodyText(r);
        const n = text.startsWith(head) ? Number(text.slice(head.length)) : NaN;
        if (Number.isInteger(n) && n >= 1 && n <= count) seen.add(n);
      }
      scanned.set(sink, i);
    }
    if (seen.size >= count) return;
    const now = Date.now();
    if (seen.size > before) lastProgress = now;
    if (now - lastProgress > stallMs || now - started > capMs) {
      const all = list().flatMap((sink) => recordsOf(sink, containerId));
      const why = now - started > capMs ? `not done after ${capMs} ms` : `no new ${prefix}-* line for ${stallMs} ms`;
      throw new Error(`waiting for all ${count} ${prefix}-* lines: ${why}; ${describeTally(tally(all, prefix, count))}`);
    }
    await sleep(100);
  }
}

export function describeTally(t: Tally): string {
  let s = `written=${t.written} delivered=${t.delivered} distinct=${t.distinct} lost=${t.lost} duplicated=${t.duplicated}`;
  if (t.foreign > 0) s += ` foreign=${t.foreign}`;
  if (t.missingSample.length > 0) s += ` missing(first)=${t.missingSample.join(',')}`;
  if (t.duplicateSample.length > 0) s += ` duplicated(first)=${t.duplicateSample.join(',')}`;
  return s;
}

/** One line for the test report: `label: written=… delivered=… lost=… duplicated=… peakRss=…MiB …`. */
export function reportLine(label: string, t: Tally, peakRssBytes: number | null, extra: Record<string, string | number | boolean> = {}): string {
  const parts = [`written=${t.written}`, `delivered=${t.delivered}`, `lost=${t.lost}`, `duplicated=${t.duplicated}`];
  parts.push(`peakRss=${peakRssBytes === null ? 'n/a' : `${mib(peakRssBytes)}MiB`}`);
  for (const [k, v] of Object.entries(extra)) parts.push(`${k}=${String(v)}`);
  return `${label}: ${parts.join(' ')}`;
}

export function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

/** Peak RSS of this process (the in-process receiver), sampled every intervalMs. */
export class RssSampler {
  private peakBytes = 0;
  private readonly timer: NodeJS.Timeout;
  readonly baseline: number;

  constructor(intervalMs = 100) {
    this.baseline = process.memoryUsage.rss();
    this.peakBytes = this.baseline;
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  sample(): void {
    const rss = process.memoryUsage.rss();
    if (rss > this.peakBytes) this.peakBytes = rss;
  }

  get peak(): number {
    return this.peakBytes;
  }

  /** Stops sampling; returns the peak. */
  stop(): number {
    this.sample();
    clearInterval(this.timer);
    return this.peakBytes;
  }
}

/** VmHWM (peak resident set) of a process from /proc/PID/status, in bytes; null when it cannot be read. */
export function readVmHwm(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Config and the in-process service
// ---------------------------------------------------------------------------

export type ReadMode = 'files' | 'api';

/**
 * The ways the receiver can read logs, when it has a choice (read_from: the
 * engine's json-file logs directly, or the Engine API); [undefined] (the
 * default only) for a receiver without that setting.
 */
export function readModes(): Array<ReadMode | undefined> {
  return configKeyPaths().includes('receivers.docker_logs.read_from') ? ['files', 'api'] : [undefined];
}

export interface DeliveryConfigOptions {
  /** Base URL of the sink (it need not be listening yet). */
  sinkUrl: string;
  /** Docker endpoint; default: the receiver's own default (DOCKER_HOST or the default socket). */
  dockerEndpoint?: string;
  startAt?: 'beginning' | 'end';
  streamTimeout?: string;
  storageDirectory?: string | null;
  maxLogSize?: string;
  collectionInterval?: string;
  reconnectInitial?: string;
  reconnectMax?: string;
  exporterTimeout?: string;
  retryInitial?: string;
  retryMax?: string;
  /** Absent: the default, 0 = retry for ever. */
  maxElapsedTime?: string;
  queueSize?: number;
  batchTimeout?: string;
  batchSize?: number;
  /** receivers.docker_logs.read_from; absent: the default. */
  readFrom?: ReadMode;
  /** Also export the receiver's own metrics to the sink (a metrics pipeline). */
  metrics?: boolean;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** A whole config as a user would write it, with the knobs the delivery tests turn. */
export function deliveryConfigYaml(o: DeliveryConfigOptions): string {
  const receiver: Array<[string, string | number]> = [
    ['start_at', o.startAt ?? 'beginning'],
    ['stream_timeout', o.streamTimeout ?? '30s'],
    ['max_log_size', o.maxLogSize ?? '1MiB'],
    ['collection_interval', o.collectionInterval ?? '1s'],
  ];
  if (o.dockerEndpoint !== undefined) receiver.unshift(['endpoint', o.dockerEndpoint]);
  if (o.readFrom !== undefined) receiver.push(['read_from', o.readFrom]);
  const lines = [
    'receivers:',
    '  docker_logs:',
    ...receiver.map(([k, v]) => `    ${k}: ${String(v)}`),
    '    storage:',
    `      directory: ${o.storageDirectory === undefined || o.storageDirectory === null ? 'null' : JSON.stringify(o.storageDirectory)}`,
    '    reconnect:',
    `      initial_interval: ${o.reconnectInitial ?? '200ms'}`,
    `      max_interval: ${o.reconnectMax ?? '1s'}`,
    'processors:',
    '  batch:',
    `    timeout: ${o.batchTimeout ?? '50ms'}`,
    `    send_batch_size: ${o.batchSize ?? 8192}`,
    'exporters:',
    '  otlphttp:',
    `    endpoint: ${o.sinkUrl}`,
    '    encoding: proto',
    '    compression: none',
    `    timeout: ${o.exporterTimeout ?? '5s'}`,
    '    retry_on_failure:',
    '      enabled: true',
    `      initial_interval: ${o.retryInitial ?? '100ms'}`,
    `      max_interval: ${o.retryMax ?? '1s'}`,
    // Left out unless given: the default (0 = retry for ever) is what is under test.
    ...(o.maxElapsedTime === undefined ? [] : [`      max_elapsed_time: ${o.maxElapsedTime}`]),
    '    sending_queue:',
    `      queue_size: ${o.queueSize ?? 10000}`,
    'service:',
    '  pipelines:',
    '    logs:',
    '      receivers: [docker_logs]',
    '      processors: [batch]',
    '      exporters: [otlphttp]',
  ];
  if (o.metrics === true) {
    lines.push('    metrics:', '      receivers: [docker_logs]', '      exporters: [otlphttp]');
  }
  lines.push(
    '  telemetry:',
    '    logs:',
    `      level: ${o.logLevel ?? (process.env['DLR_TEST_LOG_LEVEL'] ?? 'error')}`,
    '    metrics:',
    `      level: ${o.metrics === true ? 'basic' : 'none'}`,
  );
  return `${lines.join('\n')}\n`;
}

/** Starts the real service in this process with deliveryConfigYaml(options). */
export async function startDeliveryService(options: DeliveryConfigOptions): Promise<Service> {
  const config = parseConfig(deliveryConfigYaml(options), '<delivery-test>');
  const level = config.service.telemetry.logs.level;
  const service = new Service(config, { logger: createLogger({ level, encoding: 'console' }) });
  await service.start();
  return service;
}

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `${prefix}-`));
}

/** A TCP port on 127.0.0.1 that was free a moment ago (for a sink started later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

// ---------------------------------------------------------------------------
// The receiver's own metrics, as the sink received them
// ---------------------------------------------------------------------------

function matches(attributes: Record<string, AnyValue>, wanted: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => attributes[k] === v);
}

/**
 * The latest value the sink received for a cumulative counter (summed over the
 * points whose attributes match), or 0 when it never arrived (an OTel counter
 * that was never incremented exports no point).
 */
export function latestCounter(sink: OtlpSink, name: string, attributes: Record<string, string> = {}): number {
  for (let i = sink.metrics.length - 1; i >= 0; i--) {
    const m = sink.metrics[i];
    if (m.name !== name) continue;
    return m.points.filter((p) => matches(p.attributes, attributes)).reduce((sum, p) => sum + (p.value ?? p.sum ?? 0), 0);
  }
  return 0;
}

/** The latest values of a counter, per value of one attribute (e.g. reason), as the sink received them. */
export function latestCounterBy(sink: OtlpSink, name: string, key: string): Record<string, number> {
  for (let i = sink.metrics.length - 1; i >= 0; i--) {
    const m = sink.metrics[i];
    if (m.name !== name) continue;
    const out: Record<string, number> = {};
    for (const p of m.points) {
      const v = p.attributes[key];
      const k = typeof v === 'string' ? v : JSON.stringify(v ?? null, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x));
      out[k] = (out[k] ?? 0) + (p.value ?? p.sum ?? 0);
    }
    return out;
  }
  return {};
}

// ---------------------------------------------------------------------------
// The CLI as a child process
// ---------------------------------------------------------------------------

/** The positions file the receiver keeps in storage.directory. */
export interface PositionsFile {
  version: number;
  containers: Record<string, { floor: string; stdout: { ts: string; count: number } | null; stderr: { ts: string; count: number } | null; last: string | null }>;
}

export async function readPositions(directory: string, receiverId = 'docker_logs'): Promise<PositionsFile | null> {
  try {
    return JSON.parse(await readFile(join(directory, `${receiverId}.positions.json`), 'utf8')) as PositionsFile;
  } catch {
    return null;
  }
}

/** Docker's "2026-11-28T17:43:56.196193520Z" as nanoseconds since the epoch. */
export function dockerTsToNanos(ts: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(ts);
  if (!m) throw new Error(`not a Docker timestamp: ${ts}`);
  const seconds = BigInt(Date.parse(`${m[1]}Z`) / 1000);
  return seconds * 1_000_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/**
 * `node --import tsx src/cli/main.ts --config FILE`, with its output kept (the
 * last lines) and its peak RSS (VmHWM) sampled every 100 ms while it lives.
 */
export class CliReceiver {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly output: string[] = [];
  private peak = 0;
  private readonly sampler: NodeJS.Timeout;

  private constructor(child: ChildProcess) {
    this.child = child;
    if (child.pid === undefined) throw new Error('the CLI did not start');
    this.pid = child.pid;
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') this.output.push(line);
      if (this.output.length > 400) this.output.splice(0, this.output.length - 400);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.sampler = setInterval(() => this.sample(), 100);
    this.sampler.unref();
    this.exited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        clearInterval(this.sampler);
        resolveExit({ code, signal });
      });
    });
  }

  static start(configPath: string, env: NodeJS.ProcessEnv = process.env): CliReceiver {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--config', configPath], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new CliReceiver(child);
  }

  private sample(): void {
    const hwm = readVmHwm(this.pid);
    if (hwm !== null && hwm > this.peak) this.peak = hwm;
  }

  /** Peak RSS seen so far (VmHWM), in bytes. */
  get peakRss(): number {
    this.sample();
    return this.peak;
  }

  get log(): string {
    return this.output.join('\n');
  }

  /** Resolves when a line of its output matches. */
  async waitForOutput(pattern: RegExp, timeoutMs: number): Promise<void> {
    let exited = false;
    void this.exited.then(() => (exited = true));
    await waitUntil(
      () => {
        if (this.output.some((l) => pattern.test(l))) return true;
        if (exited) throw new Error(`the CLI exited before printing ${String(pattern)}; output:\n${this.log}`);
        return false;
      },
      timeoutMs,
      `CLI output ${String(pattern)}`,
      () => `output:\n${this.log}`,
    );
  }

  /** Sends a signal and waits for the exit (SIGKILL after timeoutMs). */
  async stop(signal: NodeJS.Signals, timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.sample();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

// ---------------------------------------------------------------------------
// A private Docker engine
// ---------------------------------------------------------------------------

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      fail(e);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) ok(out);
      else fail(new Error(`${cmd} ${args.join(' ')} exited ${String(code)}: ${err.trim()}`));
    });
  });
}

/** Mount points at or below dir, deepest first (from /proc/self/mountinfo). */
function mountsBelow(dir: string): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const points = text
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    .map((p) => p.replace(/\\040/g, ' '));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

function dockerCli(): string {
  return existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
}

function dockerdPath(): string {
  for (const p of ['/usr/sbin/dockerd', '/usr/bin/dockerd', '/usr/local/bin/dockerd']) if (existsSync(p)) return p;
  return 'dockerd';
}

/**
 * A second dockerd, all of its own: data root, exec root (hence its own managed
 * containerd and socket), pid file, API socket and containerd namespaces, no
 * networking (--bridge=none --iptables=false --ip-forward=false), and
 * --live-restore so its containers keep running while it restarts. Never the
 * shared engine.
 */
export class PrivateDockerd {
  readonly dir: string;
  readonly socketPath: string;
  readonly endpoint: string;
  readonly docker: Docker;
  private readonly namespace: string;
  private process: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  /** Every dockerd start, with how long the engine took to answer. */
  readonly starts: number[] = [];

  private constructor(dir: string) {
    this.dir = dir;
    this.socketPath = join(dir, 'docker.sock');
    this.endpoint = `unix://${this.socketPath}`;
    this.docker = new Docker({ socketPath: this.socketPath });
    this.namespace = `dlrt-${randomBytes(3).toString('hex')}`;
  }

  static async create(): Promise<PrivateDockerd> {
    // Short: the API socket path must fit in sun_path (108 bytes).
    const dir = await mkdtemp('/tmp/dlrt-dockerd-');
    await writeFile(join(dir, 'daemon.json'), '{}\n');
    return new PrivateDockerd(dir);
  }

  get pid(): number | null {
    return this.process?.pid ?? null;
  }

  get running(): boolean {
    return this.process !== null;
  }

  get logPath(): string {
    return join(this.dir, 'dockerd.log');
  }

  /** The last lines of the daemon's log, for messages. */
  logTail(lines = 30): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no dockerd log)';
    }
  }

  /** Starts dockerd and waits until it answers /_ping. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.process !== null) throw new Error('the private dockerd is already running');
    const args = [
      '--config-file', join(this.dir, 'daemon.json'),
      '--data-root', join(this.dir, 'data'),
      '--exec-root', join(this.dir, 'exec'),
      '--pidfile', join(this.dir, 'docker.pid'),
      '-H', this.endpoint,
      '--bridge=none', '--iptables=false', '--ip-forward=false', '--ip-masq=false',
      '--live-restore',
      '--containerd-namespace', this.namespace,
      '--containerd-plugins-namespace', `${this.namespace}-plugins`,
    ];
    const log = openSync(this.logPath, 'a');
    const started = Date.now();
    let child: ChildProcess;
    try {
      child = spawn(dockerdPath(), args, { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    this.process = child;
    // If this process dies without running `after`, the daemon must not outlive it.
    const killOnExit = (): void => {
      child.kill('SIGTERM');
    };
    process.once('exit', killOnExit);
    let gone = false;
    const failure: { error: Error | null } = { error: null };
    child.once('error', (e) => (failure.error = e));
    this.exited = new Promise((ok) => {
      child.once('exit', () => {
        process.off('exit', killOnExit);
        gone = true;
        if (this.process === child) this.process = null;
        ok();
      });
    });
    await waitUntil(
      async () => {
        if (failure.error !== null) throw new Error(`cannot run dockerd: ${failure.error.message}`);
        if (gone) throw new Error(`the private dockerd exited during start-up; its log:\n${this.logTail()}`);
        try {
          await this.docker.ping();
          return true;
        } catch {
          return false;
        }
      },
      timeoutMs,
      `the private dockerd at ${this.endpoint} to answer`,
      () => `log:\n${this.logTail()}`,
      200,
    );
    this.starts.push(Date.now() - started);
  }

  /** SIGTERM, and waits for the daemon to exit (SIGKILL after timeoutMs). With --live-restore, containers keep running. */
  async stop(timeoutMs = 30_000): Promise<void> {
    const child = this.process;
    if (child === null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Copies an image from the shared engine: `docker save IMAGE | docker -H <private> load` (reads the shared engine only). */
  async loadImageFromSharedEngine(image: string): Promise<void> {
    const tar = join(this.dir, 'image.tar');
    await run(dockerCli(), ['save', '-o', tar, image]);
    await run(dockerCli(), ['-H', this.endpoint, 'load', '-i', tar]);
    await rm(tar, { force: true });
  }

  /** Force-removes every container of this engine. */
  async removeContainers(): Promise<void> {
    const all = await this.docker.listContainers({ all: true });
    await Promise.all(all.map((c) => this.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  }

  /** Removes its containers, stops it, unmounts what it left mounted below its directory, and deletes the directory. */
  async destroy(): Promise<void> {
    if (this.process === null && existsSync(join(this.dir, 'data'))) {
      // Stopped mid-test: its live-restored containers still run; start it again to remove them.
      await this.start(30_000).catch(() => undefined);
    }
    if (this.process !== null) {
      // The daemon may be unusable; stopping it below is what matters.
      await this.removeContainers().catch(() => undefined);
    }
    await this.stop();
    for (const point of mountsBelow(this.dir)) {
      await run('umount', [point]).catch(() => run('umount', ['-l', point]).catch(() => undefined));
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
