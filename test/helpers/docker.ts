// Helpers for integration tests that need a real Docker engine.
// The engine comes from DOCKER_HOST (unix:// or tcp://) or /var/run/docker.sock.
// Containers always run with NetworkMode 'none' from the local image
// dlr-busybox:latest (made by scripts/ensure-engine.sh; no registry needed).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';

import Docker from 'dockerode';

export const TEST_IMAGE = 'dlr-busybox:latest';

const HOWTO =
  'Run `sh scripts/ensure-engine.sh` (as root on Debian it installs docker.io + busybox-static, starts ' +
  '`dockerd --bridge=none --iptables=false --ip-forward=false` and builds the test image), ' +
  'or point DOCKER_HOST at a running engine.';

/** Where the engine is, for messages. */
export function engineAddress(): string {
  return process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
}

/** dockerode options for DOCKER_HOST or the default socket. */
export function dockerOptions(): Docker.DockerOptions {
  const host = process.env.DOCKER_HOST;
  if (!host) return { socketPath: '/var/run/docker.sock' };
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('tcp://') || host.startsWith('http://')) {
    const u = new URL(host.replace(/^tcp:/, 'http:'));
    return { host: u.hostname, port: Number(u.port || 2375), protocol: 'http' };
  }
  throw new Error(`unsupported DOCKER_HOST=${host} (use unix:// or tcp://)`);
}

export function createDocker(): Docker {
  return new Docker(dockerOptions());
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function statusCodeOf(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'statusCode' in err) {
    const code = err.statusCode;
    return typeof code === 'number' ? code : undefined;
  }
  return undefined;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A Docker client for an engine that answers and has TEST_IMAGE; throws an
 * Error explaining how to get one otherwise (tests must fail, not skip).
 */
export async function requireEngine(): Promise<Docker> {
  const docker = createDocker();
  try {
    await withTimeout(docker.ping(), 5000, `ping ${engineAddress()}`);
  } catch (err) {
    throw new Error(`No Docker engine answers at ${engineAddress()} (${messageOf(err)}). ${HOWTO}`);
  }
  try {
    await withTimeout(docker.getImage(TEST_IMAGE).inspect(), 10_000, `inspect ${TEST_IMAGE}`);
  } catch (err) {
    if (statusCodeOf(err) === 404) {
      throw new Error(`The Docker engine at ${engineAddress()} answers, but the test image ${TEST_IMAGE} is missing. ${HOWTO}`);
    }
    throw new Error(`Inspecting ${TEST_IMAGE} at ${engineAddress()} failed (${messageOf(err)}). ${HOWTO}`);
  }
  return docker;
}

/** A container name that is unique and easy to clean up: dlrt-<prefix>-<random>. */
export function uniqueName(prefix: string): string {
  const clean = prefix.replace(/[^a-zA-Z0-9_.-]/g, '-');
  return `dlrt-${clean}-${randomBytes(4).toString('hex')}`;
}

/** Exit codes of autoRemove containers, captured with a wait registered before start. */
const removedWaits = new Map<string, Promise<number>>();

export interface RunContainerOptions {
  name?: string;
  cmd: string[];
  tty?: boolean;
  labels?: Record<string, string>;
  autoRemove?: boolean;
  env?: string[];
  /** json-file log options, e.g. { 'max-size': '1m', 'max-file': '2' } */
  logOpts?: Record<string, string>;
}

/** Creates and starts a container from TEST_IMAGE with NetworkMode 'none'. */
export async function runContainer(
  docker: Docker,
  opts: RunContainerOptions,
): Promise<{ id: string; name: string }> {
  const name = opts.name ?? uniqueName('c');
  const hostConfig: Docker.HostConfig = {
    NetworkMode: 'none',
    AutoRemove: opts.autoRemove ?? false,
  };
  if (opts.logOpts) hostConfig.LogConfig = { Type: 'json-file', Config: opts.logOpts };
  const container = await docker.createContainer({
    name,
    Image: TEST_IMAGE,
    Cmd: opts.cmd,
    Tty: opts.tty ?? false,
    OpenStdin: false,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Labels: opts.labels ?? {},
    Env: opts.env ?? [],
    HostConfig: hostConfig,
  });
  if (opts.autoRemove) {
    // The container may be gone before anyone asks for its exit code: wait now.
    const exit = (container.wait({ condition: 'removed' }) as Promise<{ StatusCode: number }>).then(
      (r) => r.StatusCode,
    );
    exit.catch(() => undefined); // observed later by waitForExit (if at all)
    removedWaits.set(container.id, exit);
  }
  try {
    await container.start();
  } catch (err) {
    await removeContainer(docker, container.id).catch(() => undefined);
    throw new Error(`starting container ${name} (${opts.cmd.join(' ')}) failed: ${messageOf(err)}`);
  }
  return { id: container.id, name };
}

/** Waits until the container has exited and returns its exit code. */
export async function waitForExit(docker: Docker, id: string, timeoutMs: number): Promise<number> {
  const pending = removedWaits.get(id);
  if (pending) {
    const code = await withTimeout(pending, timeoutMs, `waiting for container ${id.slice(0, 12)} to exit`);
    removedWaits.delete(id);
    return code;
  }

  const ac = new AbortController();
  const container = docker.getContainer(id);
  try {
    const result = await withTimeout(
      container.wait({ condition: 'not-running', abortSignal: ac.signal }) as Promise<{ StatusCode: number }>,
      timeoutMs,
      `waiting for container ${id.slice(0, 12)} to exit`,
    );
    return result.StatusCode;
  } catch (err) {
    if (statusCodeOf(err) === 404) {
      throw new Error(`container ${id.slice(0, 12)} no longer exists; its exit code is unknown`);
    }
    throw err;
  } finally {
    ac.abort();
  }
}

/** Force-removes a container (with its anonymous volumes); a missing container is fine. */
export async function removeContainer(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: true });
  } catch (err) {
    const code = statusCodeOf(err);
    // 404: gone already; 409: removal already in progress (autoRemove).
    if (code === 404 || code === 409) return;
    throw err;
  }
}

/** Removes every container whose name starts with prefix (leftovers of earlier runs). */
export async function removeByPrefix(docker: Docker, prefix: string): Promise<void> {
  const all = await docker.listContainers({ all: true, filters: { name: [prefix] } });
  const matching = all.filter((c) => c.Names.some((n) => n.replace(/^\//, '').startsWith(prefix)));
  await Promise.all(matching.map((c) => removeContainer(docker, c.Id)));
}

/** The docker CLI: /usr/bin/docker (Debian's, matching the engine) if present. */
function dockerCli(): string {
  return existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
}

/**
 * `docker logs --timestamps ID` through the CLI, as lines of stdout and
 * stderr merged in timestamp order (each line starts with the RFC 3339
 * timestamp with 9 fraction digits, then a space, then the log text).
 */
export function dockerLogsWithTimestamps(id: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(
      dockerCli(),
      ['logs', '--timestamps', id],
      { maxBuffer: 512 * 1024 * 1024, timeout: 120_000, env: process.env },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`docker logs --timestamps ${id} failed: ${err.message}${stderr ? `\n${stderr}` : ''}`));
          return;
        }
        const lines = (s: string): string[] => (s === '' ? [] : s.replace(/\n$/, '').split('\n'));
        const all = [...lines(stdout), ...lines(stderr)];
        // Array.prototype.sort is stable: equal timestamps keep stdout first.
        resolve(all.map((line, i) => ({ line, i, ts: sortableTimestamp(line) })).sort(byTimestamp).map((x) => x.line));
      },
    );
  });
}

/** The leading RFC 3339 timestamp of a `docker logs --timestamps` line, fraction padded to 9 digits. */
function sortableTimestamp(line: string): string {
  const ts = line.slice(0, Math.max(0, line.indexOf(' ')));
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(ts);
  return m ? `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}${m[3]}` : ts;
}

function byTimestamp(a: { ts: string; i: number }, b: { ts: string; i: number }): number {
  return a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.i - b.i;
}

/**
 * A busybox sh command printing `PREFIX-<n>` for n = 1..count. With
 * ratePerSec it sleeps between batches to approximate that rate (busybox
 * `sleep` takes fractions; `usleep` may not exist). With stderrEvery = k,
 * every k-th line goes to stderr instead of stdout.
 */
export function seqWriterCmd(opts: { count: number; ratePerSec?: number; stderrEvery?: number; prefix?: string }): string[] {
  const count = Math.max(0, Math.floor(opts.count));
  const prefix = opts.prefix ?? 'line';
  if (!/^[A-Za-z0-9_.:=+-]*$/.test(prefix)) {
    throw new Error(`seqWriterCmd: prefix ${JSON.stringify(prefix)} must match [A-Za-z0-9_.:=+-]*`);
  }
  const every = opts.stderrEvery && opts.stderrEvery > 0 ? Math.floor(opts.stderrEvery) : 0;
  const rate = opts.ratePerSec && opts.ratePerSec > 0 ? opts.ratePerSec : 0;

  let batch = 0;
  let pause = '';
  if (rate > 0) {
    // Sleep ~50 ms (at least) per batch so the sleep granularity is fine.
    const sleepSec = rate >= 20 ? 0.05 : 1 / rate;
    batch = Math.max(1, Math.round(rate * sleepSec));
    pause = (batch / rate).toFixed(3);
  }

  const out = every > 0 ? `if [ $((i % ${every})) -eq 0 ]; then echo "${prefix}-$i" >&2; else echo "${prefix}-$i"; fi` : `echo "${prefix}-$i"`;
  const sleep = batch > 0 ? `if [ $((i % ${batch})) -eq 0 ]; then sleep ${pause}; fi; ` : '';
  const script = `i=1; while [ $i -le ${count} ]; do ${out}; ${sleep}i=$((i + 1)); done`;
  return ['sh', '-c', script];
}
