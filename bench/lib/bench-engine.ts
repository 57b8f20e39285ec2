/**
 * A private Docker engine for the benchmark (--private-engine): a second
 * dockerd, started by the harness and stopped at the end, with its own socket,
 * data root and exec root under /tmp/dlr-bench-engine and no networking
 * (--bridge=none --iptables=false --ip-forward=false). The receiver reads every
 * container of its engine; on the shared engine other people's test containers
 * are read too and cost it CPU, which a private engine avoids. The machine's
 * cores are still shared. The data root is kept between runs (the test image
 * is built once, by scripts/ensure-engine.sh with DOCKER_HOST set).
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';

import { REPO_ROOT } from './bench-children.js';

export const PRIVATE_ENGINE_DIR = '/tmp/dlr-bench-engine';

export interface PrivateEngine {
  socketPath: string;
  endpoint: string;
  pid: number;
  stop(): Promise<void>;
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

export async function startPrivateEngine(log: (message: string) => void): Promise<PrivateEngine> {
  const dir = PRIVATE_ENGINE_DIR;
  mkdirSync(dir, { recursive: true });
  const socketPath = join(dir, 'docker.sock');
  const endpoint = `unix://${socketPath}`;
  if (await ping(socketPath)) throw new Error(`an engine already answers at ${socketPath} (another benchmark run?); stop it first`);
  const logFile = join(dir, 'dockerd.log');
  const out = openSync(logFile, 'a');
  const args = [
    '--data-root', join(dir, 'root'),
    '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'dockerd.pid'),
    '-H', endpoint,
    '--bridge=none', '--iptables=false', '--ip-forward=false', '--ip-masq=false',
  ];
  const proc: ChildProcess = spawn('dockerd', args, { stdio: ['ignore', out, out] });
  closeSync(out);
  let exited = false;
  proc.once('exit', () => (exited = true));
  const deadline = Date.now() + 60_000;
  while (!(await ping(socketPath))) {
    if (exited) throw new Error(`the private dockerd exited at start; see ${logFile}`);
    if (Date.now() > deadline) {
      proc.kill('SIGTERM');
      throw new Error(`the private dockerd did not answer within 60 s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  log(`private engine up at ${endpoint} (dockerd pid ${proc.pid ?? '?'}, log ${logFile})`);
  execFileSync('sh', [join(REPO_ROOT, 'scripts', 'ensure-engine.sh')], { env: { ...process.env, DOCKER_HOST: endpoint }, stdio: ['ignore', 'inherit', 'inherit'] });
  return {
    socketPath,
    endpoint,
    pid: proc.pid ?? -1,
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
