#!/usr/bin/env node
// Test runner: `npm test` or `npm test -- [files/dirs...] [--node-test-flags]`.
//
// 1. test/unit/**/*.test.ts            (default concurrency)
// 2. test/integration/**/*.test.ts and test/e2e/**/*.test.ts
//    (--test-concurrency=1: they share one Docker engine), after checking that
//    the engine answers (a missing engine is a failure, never a skip).
//
// Node 20's --test does not glob .ts files, so the files are listed here.
// Arguments starting with "-" are passed on to node (e.g.
// --test-name-pattern=foo); other arguments select files or directories.
// Exits non-zero if any run fails.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TEST_IMAGE = 'dlr-busybox:latest';
const TEST_TIMEOUT_MS = 300_000;
const TEST_FILE = /\.test\.(ts|mts|js|mjs)$/;
const HOWTO =
  'Start one with `sh scripts/ensure-engine.sh` (as root on Debian it installs docker.io and busybox-static, ' +
  'starts `dockerd --bridge=none --iptables=false --ip-forward=false` and builds the test image), ' +
  'or point DOCKER_HOST at a running engine.';

/** @param {string} dir @returns {string[]} test files below dir, sorted */
function findTests(dir) {
  /** @type {string[]} */
  const out = [];
  if (!existsSync(dir)) return out;
  const walk = (/** @type {string} */ d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile() && TEST_FILE.test(entry.name)) out.push(p);
    }
  };
  if (statSync(dir).isDirectory()) walk(dir);
  else out.push(dir);
  return out.sort();
}

/** @param {string} file */
function isUnit(file) {
  const rel = path.relative(ROOT, path.resolve(file)).split(path.sep);
  return rel[0] === 'test' && rel[1] === 'unit';
}

/** @param {string} file */
function rel(file) {
  return path.relative(ROOT, file) || file;
}

/**
 * GET path on the engine (DOCKER_HOST unix:// or tcp://, else /var/run/docker.sock).
 * @param {string} urlPath
 * @returns {Promise<{ status: number; body: string }>}
 */
function engineGet(urlPath) {
  /** @type {http.RequestOptions} */
  const options = { method: 'GET', path: urlPath, timeout: 5000, headers: { host: 'docker' } };
  const dockerHost = process.env.DOCKER_HOST;
  let where;
  if (!dockerHost) {
    options.socketPath = '/var/run/docker.sock';
    where = 'unix:///var/run/docker.sock';
  } else if (dockerHost.startsWith('unix://')) {
    options.socketPath = dockerHost.slice('unix://'.length);
    where = dockerHost;
  } else if (dockerHost.startsWith('tcp://') || dockerHost.startsWith('http://')) {
    const u = new URL(dockerHost.replace(/^tcp:/, 'http:'));
    options.host = u.hostname;
    options.port = Number(u.port || 2375);
    where = dockerHost;
  } else {
    return Promise.reject(new Error(`unsupported DOCKER_HOST=${dockerHost} (use unix:// or tcp://)`));
  }
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${where} within 5s`)));
    req.on('error', (err) => reject(new Error(`${where}: ${err.message}`)));
    req.end();
  });
}

/** @returns {Promise<string | null>} null when the engine answers and the image exists, else a message */
async function checkEngine() {
  const where = process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
  try {
    const ping = await engineGet('/_ping');
    if (ping.status !== 200) return `the Docker engine at ${where} answered /_ping with HTTP ${ping.status}.`;
  } catch (err) {
    return `no Docker engine answers at ${where} (${err instanceof Error ? err.message : String(err)}).`;
  }
  try {
    const image = await engineGet(`/images/${encodeURIComponent(TEST_IMAGE)}/json`);
    if (image.status === 404) return `the Docker engine at ${where} answers, but the test image ${TEST_IMAGE} is missing.`;
    if (image.status !== 200) return `inspecting ${TEST_IMAGE} at ${where} failed with HTTP ${image.status}.`;
  } catch (err) {
    return `inspecting ${TEST_IMAGE} at ${where} failed (${err instanceof Error ? err.message : String(err)}).`;
  }
  return null;
}

/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set();
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.on(sig, () => {
    for (const child of children) child.kill(sig);
    process.exitCode = 130;
  });
}

/**
 * @param {string} label
 * @param {string[]} files
 * @param {string[]} extra node flags
 * @returns {Promise<boolean>} success
 */
function runNodeTest(label, files, extra) {
  const args = [
    '--import',
    'tsx',
    '--test',
    '--test-reporter=spec',
    `--test-timeout=${TEST_TIMEOUT_MS}`,
    ...extra,
    ...files.map(rel),
  ];
  console.log(`\n# ${label}: ${files.length} file(s)\n# node ${args.join(' ')}\n`);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit', env: process.env });
    children.add(child);
    child.on('error', (err) => {
      children.delete(child);
      console.error(`# ${label}: could not start node: ${err.message}`);
      resolve(false);
    });
    child.on('exit', (code, signal) => {
      children.delete(child);
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const ok = code === 0;
      console.log(`\n# ${label}: ${ok ? 'passed' : `FAILED (${signal ?? `exit ${code}`})`} in ${secs}s`);
      resolve(ok);
    });
  });
}

async function main() {
  const argv = process.argv.slice(2);
  const flags = argv.filter((a) => a.startsWith('-'));
  const selected = argv.filter((a) => !a.startsWith('-'));

  /** @type {string[]} */
  let unit;
  /** @type {string[]} */
  let shared;
  if (selected.length > 0) {
    const files = [];
    for (const s of selected) {
      const p = path.resolve(s);
      if (!existsSync(p)) {
        console.error(`run-tests: no such file or directory: ${s}`);
        return 2;
      }
      files.push(...findTests(p));
    }
    const unique = [...new Set(files)];
    if (unique.length === 0) {
      console.error(`run-tests: no test files (*.test.ts) in: ${selected.join(' ')}`);
      return 2;
    }
    unit = unique.filter(isUnit);
    shared = unique.filter((f) => !isUnit(f));
  } else {
    unit = findTests(path.join(ROOT, 'test', 'unit'));
    shared = [...findTests(path.join(ROOT, 'test', 'integration')), ...findTests(path.join(ROOT, 'test', 'e2e'))];
    if (unit.length + shared.length === 0) {
      console.error('run-tests: no test files found under test/unit, test/integration, test/e2e');
      return 1;
    }
  }

  /** @type {string[]} */
  const failures = [];
  if (unit.length > 0 && !(await runNodeTest('unit tests', unit, flags))) failures.push('unit tests');

  if (shared.length > 0) {
    const problem = await checkEngine();
    if (problem) {
      console.error(`\nrun-tests: cannot run integration/e2e tests: ${problem}\n${HOWTO}\n`);
      failures.push('integration/e2e tests (no Docker engine)');
    } else if (
      !(await runNodeTest('integration + e2e tests', shared, ['--test-concurrency=1', ...flags]))
    ) {
      failures.push('integration + e2e tests');
    }
  }

  if (failures.length > 0) {
    console.error(`\nrun-tests: FAILED: ${failures.join(', ')}`);
    return 1;
  }
  console.log('\nrun-tests: all passed');
  return 0;
}

main().then(
  (code) => {
    process.exitCode = process.exitCode || code;
  },
  (err) => {
    console.error(err);
    process.exitCode = 1;
  },
);
