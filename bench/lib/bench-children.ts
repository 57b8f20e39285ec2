/**
 * Child processes of the benchmark: the receiver (bench-receiver-child.ts), the
 * baseline reader (bench-baseline-child.ts) and the sink (bench-sink.ts). Each
 * is transpiled once to plain .mjs under .tmp/bench/ (TypeScript's
 * transpileModule: they import only node: modules), so the measured processes
 * carry no TypeScript loader: their CPU and memory are theirs alone.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

import { cpuSeconds, memory } from './bench-proc.js';
import type { SinkChildMessage, SinkParentMessage, SinkReport } from './bench-sink.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = join(HERE, '..', '..');
const OUT_DIR = join(REPO_ROOT, '.tmp', 'bench');

/** Transpiles a child script to .tmp/bench/NAME.mjs and returns its path. */
export function childScript(name: 'bench-receiver-child' | 'bench-baseline-child' | 'bench-sink'): string {
  const source = readFileSync(join(HERE, `${name}.ts`), 'utf8');
  const out = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    fileName: `${name}.ts`,
  });
  mkdirSync(OUT_DIR, { recursive: true });
  const file = join(OUT_DIR, `${name}.mjs`);
  writeFileSync(file, out.outputText);
  return file;
}

interface Waiting {
  type: string;
  resolve: (message: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** A forked child speaking the {type: …} IPC protocol, with its stderr kept (last 64 KiB) for failure messages. */
export class Child<In extends { type: string }, Out extends { type: string }> {
  readonly pid: number;
  readonly exited: Promise<number | null>;
  private readonly messages: Out[] = [];
  /** Messages of these types go to their listener and are not kept. */
  private readonly listeners = new Map<string, (m: Out) => void>();
  private readonly waiting = new Set<Waiting>();
  private stderrTail = '';
  private exitCode: number | null | undefined = undefined;

  constructor(
    readonly name: string,
    private readonly proc: ChildProcess,
  ) {
    if (proc.pid === undefined) throw new Error(`${name}: could not start`);
    this.pid = proc.pid;
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (s: string) => {
      this.stderrTail = (this.stderrTail + s).slice(-65536);
    });
    proc.stdout?.resume();
    proc.on('message', (m: Out) => {
      const listener = this.listeners.get(m.type);
      if (listener !== undefined) {
        listener(m);
        return;
      }
      this.messages.push(m);
      for (const w of [...this.waiting]) {
        if (w.type === m.type || m.type === 'error') {
          this.waiting.delete(w);
          clearTimeout(w.timer);
          if (m.type === 'error' && w.type !== 'error') w.reject(new Error(`${this.name}: ${(m as unknown as { message: string }).message}; stderr: ${this.stderr()}`));
          else w.resolve(m);
        }
      }
    });
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code) => {
        this.exitCode = code;
        for (const w of [...this.waiting]) {
          this.waiting.delete(w);
          clearTimeout(w.timer);
          w.reject(new Error(`${this.name} exited (code ${String(code)}) while waiting for '${w.type}'; stderr: ${this.stderr()}`));
        }
        resolve(code);
      });
    });
  }

  /** Every message of this type goes to fn (instead of being kept for waitFor). */
  listen<T extends Out['type']>(type: T, fn: (m: Extract<Out, { type: T }>) => void): void {
    this.listeners.set(type, fn as (m: Out) => void);
  }

  stderr(): string {
    const s = this.stderrTail.trim();
    return s === '' ? '(empty)' : s.slice(-4000);
  }

  send(message: In): void {
    if (this.proc.connected) this.proc.send(message);
  }

  /** The first message of this type (one that came already, or the next). */
  waitFor<T extends Out['type']>(type: T, timeoutMs: number): Promise<Extract<Out, { type: T }>> {
    const have = this.messages.find((m) => m.type === type);
    if (have !== undefined) return Promise.resolve(have as Extract<Out, { type: T }>);
    if (this.exitCode !== undefined) return Promise.reject(new Error(`${this.name} has exited (code ${String(this.exitCode)}); stderr: ${this.stderr()}`));
    return new Promise((resolve, reject) => {
      const w: Waiting = {
        type,
        resolve: resolve as (m: unknown) => void,
        reject,
        timer: setTimeout(() => {
          this.waiting.delete(w);
          reject(new Error(`${this.name}: no '${type}' within ${timeoutMs} ms; stderr: ${this.stderr()}`));
        }, timeoutMs),
      };
      this.waiting.add(w);
    });
  }

  /**
   * Sends a request and waits for its reply of type `type`. Replies of that type
   * received earlier are dropped first, so the same request can be made again.
   */
  ask<T extends Out['type']>(message: In, type: T, timeoutMs: number): Promise<Extract<Out, { type: T }>> {
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i].type === type) this.messages.splice(i, 1);
    const reply = this.waitFor(type, timeoutMs);
    this.send(message);
    return reply;
  }

  cpu(): number {
    return cpuSeconds(this.pid) ?? NaN;
  }

  memory(): { rss: number; hwm: number } {
    return memory(this.pid) ?? { rss: NaN, hwm: NaN };
  }

  /** Kills the child if it is still there (SIGKILL after a grace period). */
  async kill(graceMs = 3000): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface ReceiverChildOptions {
  /** file: URL of the directory holding service.js etc. (dist/ or src/). */
  root: string;
  configPath: string;
  eventLoopDelay: boolean;
  /** Where --cpu-prof writes the profile; none when absent. */
  cpuProfDir?: string;
  /** The root is src/: run under tsx (adds the loader's cost to the child). */
  tsx: boolean;
  /** Extra node options for the receiver (e.g. --max-semi-space-size=32). */
  nodeArgs: string[];
  /** Trace how its paced streams read (--trace-reads). */
  traceReads?: boolean;
}

export type ReceiverChild = Child<import('./bench-receiver-child.js').ReceiverParentMessage, import('./bench-receiver-child.js').ReceiverChildMessage>;
export type BaselineChild = Child<import('./bench-baseline-child.js').BaselineParentMessage, import('./bench-baseline-child.js').BaselineChildMessage>;

/** Forks a transpiled child script with an IPC channel and no inherited NODE_OPTIONS (no loader in the measured process). */
function forkChild(script: string, args: string[], execArgv: string[] = []): ChildProcess {
  return fork(script, args, { execArgv, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], cwd: REPO_ROOT, env: { ...process.env, NODE_OPTIONS: '' } });
}

export function startReceiverChild(script: string, options: ReceiverChildOptions): ReceiverChild {
  const execArgv: string[] = [...options.nodeArgs];
  if (options.tsx) execArgv.push('--import', 'tsx');
  if (options.cpuProfDir !== undefined) execArgv.push('--cpu-prof', '--cpu-prof-dir', options.cpuProfDir);
  const args = ['--root', options.root, '--config', options.configPath];
  if (options.eventLoopDelay) args.push('--eld');
  if (options.traceReads === true) args.push('--trace-reads');
  return new Child('receiver', forkChild(script, args, execArgv));
}

export function startBaselineChild(script: string, socketPath: string, apiVersion: string): BaselineChild {
  return new Child('baseline', forkChild(script, ['--socket', socketPath, '--api', apiVersion]));
}

/**
 * The sink (bench-sink.ts) in a process of its own. Its running counts come with
 * every request it answers (so snapshots read them without a round trip); the
 * full report is asked for at the end of a case.
 */
export class SinkProcess {
  /** Records of tracked containers received since the last track(), as of the last request. */
  trackedRecords = 0;
  foreignRecords = 0;
  /** Progress of an earlier case (sent before its track message was handled) is ignored. */
  private caseId = 0;

  private constructor(
    private readonly child: Child<SinkParentMessage, SinkChildMessage>,
    readonly url: string,
  ) {
    child.listen('progress', (m) => {
      if (m.caseId !== this.caseId) return;
      this.trackedRecords = m.trackedRecords;
      this.foreignRecords = m.foreignRecords;
    });
  }

  static async start(): Promise<SinkProcess> {
    const child = new Child<SinkParentMessage, SinkChildMessage>('sink', forkChild(childScript('bench-sink'), ['--bench-sink-child']));
    const ready = await child.waitFor('ready', 30_000);
    return new SinkProcess(child, ready.url);
  }

  get pid(): number {
    return this.child.pid;
  }

  cpu(): number {
    return this.child.cpu();
  }

  /** Forgets every count and tracks these containers ([container.name, lines expected]). */
  async track(entries: Array<[string, number]>): Promise<void> {
    this.caseId++;
    this.trackedRecords = 0;
    this.foreignRecords = 0;
    await this.child.ask({ type: 'track', caseId: this.caseId, entries }, 'tracked', 10_000);
  }

  /**
   * Resolves once every tracked container has received as many records as it expects (the
   * report then says whether each line came exactly once); rejects after timeoutMs with the
   * sink's summary.
   */
  async waitComplete(timeoutMs: number, what: string): Promise<void> {
    const reply = await this.child.ask({ type: 'wait', timeoutMs, what }, 'waited', timeoutMs + 30_000);
    if (!reply.ok) throw new Error(reply.message);
  }

  async report(): Promise<SinkReport> {
    return (await this.child.ask({ type: 'report' }, 'report', 10_000)).report;
  }

  async stop(): Promise<void> {
    this.child.send({ type: 'stop' });
    const stopped = await Promise.race([this.child.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000))]);
    if (!stopped) await this.child.kill();
  }
}
