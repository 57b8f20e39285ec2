/**
 * Runs the CLI (src/cli/main.ts) as a real child process, through tsx so no
 * build is needed: `node --import tsx src/cli/main.ts ...` with the repository
 * root as cwd.
 *
 *   const cli = spawnCli(['--config', file]);
 *   await cli.waitForLine('stderr', /connected to the Docker engine/, 15_000);
 *   cli.kill('SIGTERM');
 *   const { code } = await cli.waitForExit(10_000);
 *
 * stdout and stderr are captured as lines. Every wait has a timeout; when it
 * expires the child is killed (SIGKILL) and the wait fails with what the child
 * printed. Call killAllClis() in `after` so no child outlives the test file.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI_ENTRY = path.join('src', 'cli', 'main.ts');

export type StreamName = 'stdout' | 'stderr';

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds from spawn to exit. */
  durationMs: number;
  /** Date.now() when the exit was seen. */
  exitedAt: number;
}

export interface SpawnCliOptions {
  /** Variables set (string) or removed (undefined) on top of the cleaned environment. */
  env?: Record<string, string | undefined>;
  /** The child is killed (SIGKILL) when it lives longer than this; default 60 s. */
  lifetimeMs?: number;
  /** A checkout to run the CLI from (default: this repository), e.g. to try a patched copy. */
  root?: string;
}

/** How much of each stream failure messages show (the end of it). */
const SHOWN_CHARS = 6000;

/** Children not yet exited, for killAllClis. */
const live = new Set<CliProcess>();

export class CliProcess {
  readonly args: readonly string[];
  readonly child: ChildProcess;
  readonly startedAt = Date.now();
  readonly lines: Record<StreamName, string[]> = { stdout: [], stderr: [] };
  /** Set when the exit was seen. */
  exit: CliExit | null = null;
  /** Why the helper killed the child, if it did. */
  killedBecause: string | null = null;

  private readonly partial: Record<StreamName, string> = { stdout: '', stderr: '' };
  private readonly listeners = new Set<() => void>();
  private readonly exited: Promise<CliExit>;
  private readonly lifetime: NodeJS.Timeout;

  constructor(args: readonly string[], options: SpawnCliOptions = {}) {
    this.args = args;
    this.child = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], {
      cwd: options.root ?? REPO_ROOT,
      env: cliEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of ['stdout', 'stderr'] as const) {
      const pipe = this.child[stream];
      pipe?.setEncoding('utf8');
      pipe?.on('data', (chunk: string) => this.onData(stream, chunk));
    }
    this.exited = new Promise<CliExit>((resolve) => {
      let spawnError: Error | null = null;
      this.child.once('error', (err) => {
        spawnError = err;
        this.partial.stderr += `\n[helper] spawn error: ${err.message}`;
      });
      // 'close' comes after both pipes ended: every line printed has been captured.
      this.child.once('close', (code, signal) => {
        this.flushPartial();
        const now = Date.now();
        this.exit = { code: spawnError === null ? code : -1, signal, durationMs: now - this.startedAt, exitedAt: now };
        live.delete(this);
        clearTimeout(this.lifetime);
        this.notify();
        resolve(this.exit);
      });
    });
    const lifetimeMs = options.lifetimeMs ?? 60_000;
    this.lifetime = setTimeout(() => this.killHard(`it outlived its ${lifetimeMs} ms lifetime`), lifetimeMs);
    this.lifetime.unref();
    live.add(this);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === null;
  }

  text(stream: StreamName): string {
    const done = this.lines[stream].join('\n');
    const rest = this.partial[stream];
    return rest === '' ? done : done === '' ? rest : `${done}\n${rest}`;
  }

  /** Sends a signal (no-op once exited). */
  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** Waits for the exit; on timeout kills the child and fails with its output. */
  async waitForExit(timeoutMs: number): Promise<CliExit> {
    await this.waitUntil(() => this.exit !== null, timeoutMs, 'the CLI to exit');
    return this.exit as unknown as CliExit;
  }

  /** Waits for a line of `stream` matching `pattern`; returns it. On timeout kills the child and fails. */
  async waitForLine(stream: StreamName, pattern: RegExp | ((line: string) => boolean), timeoutMs: number): Promise<string> {
    const test = typeof pattern === 'function' ? pattern : (line: string) => pattern.test(line);
    let scanned = 0;
    let found: string | undefined;
    const check = (): boolean => {
      const lines = this.lines[stream];
      for (; scanned < lines.length && found === undefined; scanned++) if (test(lines[scanned])) found = lines[scanned];
      return found !== undefined;
    };
    await this.waitUntil(check, timeoutMs, `a line on ${stream} matching ${String(pattern)}`, true);
    return found as string;
  }

  /**
   * Waits until check() holds, re-evaluated on output, exit and every 50 ms.
   * Fails (and kills the child) on timeout, or when the child exited first and
   * failIfExited is set.
   */
  async waitUntil(check: () => boolean, timeoutMs: number, what: string, failIfExited = false): Promise<void> {
    if (check()) return;
    await new Promise<void>((resolve, reject) => {
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        clearInterval(poll);
        this.listeners.delete(listener);
        if (err === undefined) resolve();
        else reject(err);
      };
      const listener = (): void => {
        let ok: boolean;
        try {
          ok = check();
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (ok) finish();
        else if (failIfExited && this.exit !== null) finish(new Error(`the CLI exited before ${what}\n${this.describe()}`));
      };
      const timer = setTimeout(() => {
        this.killHard(`waiting for ${what} timed out after ${timeoutMs} ms`);
        finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`));
      }, timeoutMs);
      const poll = setInterval(listener, 50);
      this.listeners.add(listener);
      listener();
    });
  }

  /** The command, how it ended and the end of both streams, for failure messages. */
  describe(): string {
    const tail = (s: string): string => (s.length > SHOWN_CHARS ? `…${s.slice(-SHOWN_CHARS)}` : s);
    const status =
      this.exit === null
        ? `still running (pid ${this.pid ?? '?'})`
        : `exited code=${String(this.exit.code)} signal=${String(this.exit.signal)} after ${this.exit.durationMs} ms`;
    const killed = this.killedBecause === null ? '' : `; killed by the helper because ${this.killedBecause}`;
    return [
      `$ node --import tsx ${CLI_ENTRY} ${this.args.join(' ')}`,
      `${status}${killed}`,
      `--- stderr ---\n${tail(this.text('stderr'))}`,
      `--- stdout ---\n${tail(this.text('stdout'))}`,
    ].join('\n');
  }

  /** SIGKILL, recording why (shown by describe()). */
  killHard(reason: string): void {
    if (!this.running) return;
    this.killedBecause ??= reason;
    this.child.kill('SIGKILL');
  }

  /** Resolves when the child has exited (however it ended). */
  whenExited(): Promise<CliExit> {
    return this.exited;
  }

  private onData(stream: StreamName, chunk: string): void {
    const text = this.partial[stream] + chunk;
    const parts = text.split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const line of parts) this.lines[stream].push(line);
    if (parts.length > 0) this.notify();
  }

  private flushPartial(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream] !== '') this.lines[stream].push(this.partial[stream]);
      this.partial[stream] = '';
    }
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/**
 * The parent's environment without OTEL_* (the tests say which they want) and
 * without the test runner's own variables, plus `overrides`.
 */
function cliEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('OTEL_') || key === 'NODE_TEST_CONTEXT') continue;
    env[key] = value;
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export function spawnCli(args: readonly string[], options: SpawnCliOptions = {}): CliProcess {
  return new CliProcess(args, options);
}

export interface CliResult extends CliExit {
  stdout: string;
  stderr: string;
  cli: CliProcess;
}

/** Runs the CLI to completion (killed and failed after timeoutMs). */
export async function runCli(args: readonly string[], timeoutMs = 30_000, options: SpawnCliOptions = {}): Promise<CliResult> {
  const cli = spawnCli(args, options);
  const exit = await cli.waitForExit(timeoutMs);
  return { ...exit, stdout: cli.text('stdout'), stderr: cli.text('stderr'), cli };
}

/** Kills every child this helper started that is still running, and waits for them (bounded). */
export async function killAllClis(): Promise<void> {
  const running = [...live];
  for (const cli of running) cli.killHard('the test file ended (killAllClis)');
  await Promise.race([
    Promise.all(running.map((cli) => cli.whenExited())),
    new Promise((resolve) => setTimeout(resolve, 5000).unref()),
  ]);
}

// Last resort if the test process ends without calling killAllClis (the kill is synchronous).
process.once('exit', () => {
  for (const cli of live) if (cli.running) cli.child.kill('SIGKILL');
});

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
