/**
 * The CLI end to end: `node --import tsx src/cli/main.ts ...` as a real child
 * process, against the real engine and a real OTLP/HTTP sink. Exit codes,
 * config errors (and that a bad config never touches Docker), the built-in
 * default config, graceful shutdown on SIGTERM/SIGINT with nothing lost of
 * what was read, an unreachable engine, and the health check extension.
 *
 * The receiver reads every container on the (shared) engine: assertions only
 * look at this file's containers, by name.
 */
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { OtlpSink } from '../helpers/otlp-sink.js';
import type { SinkLogRecord } from '../helpers/otlp-sink.js';
import { removeByPrefix, requireEngine, runContainer, seqWriterCmd, uniqueName } from '../helpers/docker.js';
import { freePort, killAllClis, runCli, spawnCli } from '../helpers/cli.js';
import type { CliProcess } from '../helpers/cli.js';

const packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let docker: Docker;
let dir: string;
const prefix = uniqueName('cli');
const sinks: OtlpSink[] = [];
const servers: Server[] = [];

before(async () => {
  docker = await requireEngine();
  // Short: unix socket paths are limited to 107 bytes.
  dir = await mkdtemp(path.join(tmpdir(), 'dlrt-cli-'));
});

after(async () => {
  await killAllClis();
  await Promise.allSettled(sinks.map((s) => s.stop()));
  await Promise.allSettled(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  if (docker !== undefined) await removeByPrefix(docker, prefix);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

async function writeConfig(name: string, yaml: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, yaml);
  return file;
}

async function startSink(): Promise<OtlpSink> {
  const sink = await OtlpSink.start();
  sinks.push(sink);
  return sink;
}

function of(sink: OtlpSink, name: string): SinkLogRecord[] {
  return sink.logs.filter((l) => l.resource['container.name'] === name);
}

function bodyText(l: SinkLogRecord): string {
  return typeof l.body === 'string' ? l.body : JSON.stringify(l.body);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function isRunning(id: string): Promise<boolean> {
  const info = await docker.getContainer(id).inspect();
  return info.State.Running;
}

/** A unix socket server that records every connection made to it (and closes it). */
async function recordingSocket(name: string): Promise<{ path: string; connections: () => number }> {
  const socketPath = path.join(dir, name);
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  servers.push(server);
  return { path: socketPath, connections: () => connections };
}

/** A run-mode config exporting to the sink (protobuf, no compression), reading from the beginning. */
function sinkConfig(sink: OtlpSink, extra: { batchTimeout?: string; yaml?: string; extensions?: string[] } = {}): string {
  // Only this file's containers: others on a shared engine would queue ahead of ours.
  return `receivers:
  docker_logs:
    start_at: beginning
    stream_timeout: 1s
    include:
      names: ['${prefix}-*']
processors:
  batch:
    timeout: ${extra.batchTimeout ?? '50ms'}
exporters:
  otlphttp:
    endpoint: ${sink.url}
    encoding: proto
    compression: none
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
${extra.yaml ?? ''}
service:
  extensions: [${(extra.extensions ?? []).join(', ')}]
  pipelines:
    logs:
      receivers: [docker_logs]
      processors: [batch]
      exporters: [otlphttp]
`;
}

async function getJson(url: string): Promise<{ status: number; contentType: string; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`GET ${url}: HTTP ${res.status}, body is not JSON: ${text}`);
  }
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body };
}

/** SIGTERM/SIGINT, then the exit: code 0, and how long it took. */
async function stopCli(cli: CliProcess, signal: NodeJS.Signals, deadlineMs: number): Promise<number> {
  const sentAt = Date.now();
  cli.kill(signal);
  const exit = await cli.waitForExit(deadlineMs + 10_000);
  const elapsed = exit.exitedAt - sentAt;
  assert.equal(exit.signal, null, `the CLI must exit by itself on ${signal}, not die of it\n${cli.describe()}`);
  assert.equal(exit.code, 0, `exit code after ${signal}\n${cli.describe()}`);
  return elapsed;
}

const BAD_CONFIG_PROBLEMS = [
  'receivers.docker_logs.stream_timeout: expected a duration like 30s, got "abc"',
  'receivers.docker_logs.start_at: expected one of end, beginning, got "middle"',
  'receivers.docker_logs.bogus_key: unknown key',
  'exporters.debug.verbosity: expected one of basic, normal, detailed, got "loud"',
  'service.pipelines.logs.exporters[0]: "otlphttp" is not defined under exporters',
];

function badConfig(endpoint: string): string {
  return `receivers:
  docker_logs:
    endpoint: ${endpoint}
    stream_timeout: abc
    start_at: middle
    bogus_key: 1
exporters:
  debug:
    verbosity: loud
service:
  pipelines:
    logs:
      receivers: [docker_logs]
      exporters: [otlphttp]
`;
}

/** The same config with every mistake fixed: the control for "no connection". */
function fixedConfig(endpoint: string): string {
  return `receivers:
  docker_logs:
    endpoint: ${endpoint}
    stream_timeout: 30s
    start_at: end
exporters:
  debug:
    verbosity: normal
service:
  pipelines:
    logs:
      receivers: [docker_logs]
      exporters: [debug]
`;
}

describe('commands, usage and config errors', { concurrency: true }, () => {
  test('validate: a valid file exits 0 and says valid; so does config/example.yaml', async () => {
    const file = await writeConfig('valid.yaml', fixedConfig('unix:///var/run/docker.sock'));
    const [mine, example] = await Promise.all([runCli(['validate', '--config', file]), runCli(['validate', '--config', 'config/example.yaml'])]);
    assert.equal(mine.code, 0, mine.cli.describe());
    assert.equal(mine.stdout.trim(), `${file}: valid`, mine.cli.describe());
    assert.equal(mine.stderr, '', mine.cli.describe());
    assert.equal(example.code, 0, example.cli.describe());
    assert.match(example.stdout, /config\/example\.yaml: valid/, example.cli.describe());
  });

  test('validate: a file with several mistakes exits 2 and names the file and every key path', async () => {
    const file = await writeConfig('bad-validate.yaml', badConfig('unix:///var/run/docker.sock'));
    const result = await runCli(['validate', '--config', file]);
    assert.equal(result.code, 2, result.cli.describe());
    assert.equal(result.stdout, '', result.cli.describe());
    assert.ok(result.stderr.includes(file), `stderr names ${file}\n${result.cli.describe()}`);
    for (const problem of BAD_CONFIG_PROBLEMS) {
      assert.ok(result.stderr.includes(problem), `stderr says: ${problem}\n${result.cli.describe()}`);
    }
    // A heading naming the file, then one line per problem, in the order they appear in the file.
    const lines = result.stderr.trimEnd().split('\n');
    assert.equal(lines[0], `invalid configuration in ${file}:`);
    assert.equal(lines.length, 1 + BAD_CONFIG_PROBLEMS.length, `one line per problem, nothing else\n${result.stderr}`);
    const at = BAD_CONFIG_PROBLEMS.map((p) => result.stderr.indexOf(p));
    assert.deepEqual(at, [...at].sort((a, b) => a - b), `problems in file order\n${result.stderr}`);
  });

  test('run: the same bad file exits 2 before touching the Docker engine', async () => {
    // Control first: with the mistakes fixed, the CLI does connect to this socket.
    const control = await recordingSocket('control.sock');
    const good = spawnCli(['--config', await writeConfig('fixed.yaml', fixedConfig(`unix://${control.path}`))]);
    await good.waitUntil(() => control.connections() > 0, 15_000, `a connection to ${control.path} (control)`);
    await stopCli(good, 'SIGTERM', 10_000);

    const recorder = await recordingSocket('records.sock');
    const file = await writeConfig('bad-run.yaml', badConfig(`unix://${recorder.path}`));
    const result = await runCli(['--config', file]);
    assert.equal(result.code, 2, result.cli.describe());
    assert.ok(result.stderr.includes(file), `stderr names ${file}\n${result.cli.describe()}`);
    for (const problem of BAD_CONFIG_PROBLEMS) {
      assert.ok(result.stderr.includes(problem), `stderr says: ${problem}\n${result.cli.describe()}`);
    }
    await sleep(200); // let a connection accepted just before the exit be counted
    assert.equal(recorder.connections(), 0, `no connection to the engine socket ${recorder.path}`);
  });

  test('a missing config file exits 2 and names the path', async () => {
    const missing = path.join(dir, 'does-not-exist.yaml');
    for (const args of [['validate', '--config', missing], ['--config', missing]]) {
      const result = await runCli(args);
      assert.equal(result.code, 2, result.cli.describe());
      assert.ok(result.stderr.includes(missing), `stderr names ${missing}\n${result.cli.describe()}`);
      assert.match(result.stderr, /cannot read config file .*: no such file/, result.cli.describe());
    }
  });

  test('--help exits 0 with the usage; an unknown command exits 2', async () => {
    const [help, version, unknown, badOption] = await Promise.all([
      runCli(['--help']),
      runCli(['--version']),
      runCli(['frobnicate']),
      runCli(['--no-such-option']),
    ]);
    assert.equal(help.code, 0, help.cli.describe());
    assert.match(help.stdout, /^usage:/, help.cli.describe());
    assert.match(help.stdout, /validate/, help.cli.describe());
    assert.equal(version.code, 0, version.cli.describe());
    assert.equal(version.stdout.trim(), packageVersion, version.cli.describe());
    assert.equal(unknown.code, 2, unknown.cli.describe());
    assert.match(unknown.stderr, /unknown command "frobnicate"/, unknown.cli.describe());
    assert.match(unknown.stderr, /usage:/, unknown.cli.describe());
    assert.equal(badOption.code, 2, badOption.cli.describe());
  });

  test('validate FILE without --config is refused rather than checking the built-in default', async () => {
    const result = await runCli(['validate', path.join(dir, 'whatever.yaml')]);
    assert.equal(result.code, 2, result.cli.describe());
    assert.match(result.stderr, /unexpected argument .*--config FILE/, result.cli.describe());
  });
});

describe('graceful shutdown while a container keeps writing', () => {
  const deadlineMs = 5000;

  async function shutdownKeepsEverythingRead(t: TestContext, signal: NodeJS.Signals): Promise<void> {
    const sink = await startSink();
    // Batches leave every 2 s: when the signal comes, lines that were read are still waiting in the pipeline.
    const file = await writeConfig(`seq-${signal}.yaml`, sinkConfig(sink, { batchTimeout: '2s' }));
    const cli = spawnCli(['--config', file, '--shutdown-timeout', String(deadlineMs)]);
    await cli.waitForLine('stderr', /connected to the Docker engine/, 20_000);
    // 200 lines/s for far longer than the test: it is still writing when the signal comes.
    const c = await runContainer(docker, { name: `${prefix}-${signal.toLowerCase()}`, cmd: seqWriterCmd({ count: 60_000, ratePerSec: 200, prefix: 'seq' }) });
    await sink.waitForLogs(() => of(sink, c.name).length >= 200, 30_000, `a first batch of ${c.name}`);
    await sleep(1000); // half a batch timeout: ~200 more lines read, not yet exported
    assert.ok(await isRunning(c.id), 'the container is still writing when the signal is sent');
    const arrivedBefore = of(sink, c.name).length;

    const elapsed = await stopCli(cli, signal, deadlineMs);
    assert.ok(elapsed <= deadlineMs, `exited ${elapsed} ms after ${signal}, deadline ${deadlineMs} ms\n${cli.describe()}`);
    assert.ok(await isRunning(c.id), 'the container was still writing during the shutdown');
    assert.match(cli.text('stderr'), new RegExp(`stopping: no more reading.*signal=${signal}`), cli.describe());
    assert.match(cli.text('stderr'), /\tstopped$/m, cli.describe());

    const bodies = of(sink, c.name).map(bodyText);
    const numbers = bodies.map((b) => {
      const m = /^seq-(\d+)$/.exec(b);
      assert.ok(m, `unexpected line ${JSON.stringify(b)}`);
      return Number(m[1]);
    });
    const n = numbers.length;
    // The lines read but still in the pipeline at the signal were flushed on the way out.
    assert.ok(n > arrivedBefore, `${n} lines after the stop, ${arrivedBefore} when the signal was sent: the flush delivered nothing`);
    assert.equal(new Set(numbers).size, n, `no duplicate (${n - new Set(numbers).size} duplicates)`);
    const sorted = [...numbers].sort((a, b) => a - b);
    const gaps = sorted.filter((v, i) => v !== i + 1).slice(0, 10);
    assert.deepEqual(gaps, [], `what arrived is exactly 1..${n} (first values out of place shown)`);
    assert.ok(sink.contentTypes.every((ct) => ct === 'application/x-protobuf'), `protobuf only: ${sink.contentTypes.join(',')}`);
    t.diagnostic(`${signal}: ${arrivedBefore} lines at the signal, 1..${n} delivered, exit 0 after ${elapsed} ms`);
  }

  test('SIGTERM: exit 0 within the deadline, what arrived is a gap-free prefix 1..N without duplicates', (t) =>
    shutdownKeepsEverythingRead(t, 'SIGTERM'));

  test('SIGINT: the same', (t) => shutdownKeepsEverythingRead(t, 'SIGINT'));

  test('a hung backend does not hold the exit past the shutdown deadline', async (t) => {
    const sink = await startSink();
    const file = await writeConfig('hung.yaml', sinkConfig(sink, { batchTimeout: '50ms' }));
    const cli = spawnCli(['--config', file, '--shutdown-timeout', '2000']);
    await cli.waitForLine('stderr', /connected to the Docker engine/, 20_000);
    const c = await runContainer(docker, { name: `${prefix}-hung`, cmd: seqWriterCmd({ count: 60_000, ratePerSec: 200, prefix: 'seq' }) });
    await sink.waitForLogs(() => of(sink, c.name).length >= 50, 30_000, `first lines of ${c.name}`);
    sink.setBehaviour({ kind: 'hang' });
    await sleep(1000);
    const elapsed = await stopCli(cli, 'SIGTERM', 2000);
    assert.ok(elapsed <= 3000, `exited ${elapsed} ms after SIGTERM with a 2 s deadline\n${cli.describe()}`);
    t.diagnostic(`exit ${elapsed} ms after SIGTERM with the backend hung`);
  });

  test("a backend's partial success (records it refused) is said once on stderr", async () => {
    const sink = await startSink();
    sink.setBehaviour({ kind: 'partial', rejected: 3, message: 'three records too old' });
    const file = await writeConfig('partial.yaml', sinkConfig(sink, { batchTimeout: '50ms' }));
    const cli = spawnCli(['--config', file]);
    await cli.waitForLine('stderr', /connected to the Docker engine/, 20_000);
    const c = await runContainer(docker, { name: `${prefix}-partial`, cmd: seqWriterCmd({ count: 500, ratePerSec: 100, prefix: 'seq' }) });
    await sink.waitForLogs(() => of(sink, c.name).length === 500, 30_000, `500 lines of ${c.name}`);
    const said = await cli.waitForLine('stderr', /Partial Success/, 10_000);
    assert.match(said, /\twarn\t/, said);
    assert.match(said, /rejectedLogRecords.*3.*three records too old/, said);
    assert.ok(sink.requests > 1, `several requests answered with a partial success (${sink.requests})`);
    assert.equal(cli.lines.stderr.filter((l) => l.includes('Partial Success')).length, 1, `said once\n${cli.describe()}`);
    await stopCli(cli, 'SIGTERM', 10_000);
  });
});

describe('the built-in default config (no --config)', () => {
  const DEBUG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (\S+) (stdout|stderr): (.*)$/;

  test('without OTEL_EXPORTER_OTLP_ENDPOINT, container lines are printed on stdout by the debug exporter', async () => {
    const cli = spawnCli([], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: undefined } });
    await cli.waitForLine('stderr', /connected to the Docker engine/, 20_000);
    assert.match(cli.text('stderr'), /\tstarted\t.*built-in default.*exporters=debug/, cli.describe());
    // start_at: end by default, so the container starts after the CLI is connected.
    const c = await runContainer(docker, { name: `${prefix}-default`, cmd: ['sh', '-c', 'echo "hello from default"; echo oops >&2; echo "second line"; sleep 60'] });
    const expected = [`${c.name} stdout: hello from default`, `${c.name} stderr: oops`, `${c.name} stdout: second line`];
    for (const text of expected) {
      const line = await cli.waitForLine('stdout', (l) => l.endsWith(` ${text}`), 15_000);
      const m = DEBUG_LINE.exec(line);
      assert.ok(m, `"<timestamp> <container name> <stream>: <line>": ${JSON.stringify(line)}`);
      assert.ok(Math.abs(Date.parse(line.slice(0, 23) + 'Z') - Date.now()) < 60_000, `a current timestamp: ${line}`);
    }
    const mine = cli.lines.stdout.filter((l) => l.includes(` ${c.name} `));
    assert.equal(mine.length, 3, `each line once:\n${mine.join('\n')}`);
    await stopCli(cli, 'SIGTERM', 10_000);
  });

  test('with OTEL_EXPORTER_OTLP_ENDPOINT, container lines go to that endpoint (protobuf, /v1/logs)', async () => {
    const sink = await startSink();
    const cli = spawnCli([], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.url } });
    await cli.waitForLine('stderr', /connected to the Docker engine/, 20_000);
    assert.match(cli.text('stderr'), /\tstarted\t.*built-in default.*exporters=otlphttp/, cli.describe());
    const c = await runContainer(docker, { name: `${prefix}-otlp`, cmd: ['sh', '-c', 'echo "to the sink"; echo "and more" >&2; sleep 60'] });
    await sink.waitForLogs(() => of(sink, c.name).length >= 2, 15_000, `2 lines of ${c.name}`);
    assert.deepEqual(of(sink, c.name).map((l) => [bodyText(l), l.attributes['log.iostream']]).sort(), [
      ['and more', 'stderr'],
      ['to the sink', 'stdout'],
    ]);
    // The sink only decodes logs posted to /v1/logs; it answers anything else 404.
    assert.deepEqual(sink.decodeErrors, []);
    assert.ok(sink.contentTypes.length > 0 && sink.contentTypes.every((ct) => ct === 'application/x-protobuf'), `protobuf: ${sink.contentTypes.join(',')}`);
    assert.ok(!cli.text('stdout').includes(c.name), `nothing of ${c.name} on stdout (debug is not in the pipeline)\n${cli.describe()}`);
    await stopCli(cli, 'SIGTERM', 10_000);
  });
});

describe('an unreachable engine', () => {
  test('no crash: says the engine is not reachable and that it retries, keeps running, health 503, SIGTERM exits 0', async () => {
    const port = await freePort();
    const socket = path.join(dir, 'nonexistent', 'docker.sock');
    const file = await writeConfig(
      'unreachable.yaml',
      `receivers:
  docker_logs:
    endpoint: unix://${socket}
    reconnect:
      initial_interval: 200ms
      max_interval: 1s
exporters:
  debug:
extensions:
  health_check:
    endpoint: 127.0.0.1:${port}
service:
  extensions: [health_check]
  pipelines:
    logs:
      receivers: [docker_logs]
      exporters: [debug]
`,
    );
    const cli = spawnCli(['--config', file]);
    const startedAt = Date.now();
    const line = await cli.waitForLine('stderr', /Docker engine is not reachable/, 5000);
    assert.match(line, /retrying/, `it says it keeps retrying: ${line}`);
    assert.ok(line.includes(socket), `it names the endpoint: ${line}`);

    const health = await getJson(`http://127.0.0.1:${port}/`);
    assert.equal(health.status, 503, JSON.stringify(health.body));
    assert.match(health.contentType, /application\/json/);
    const body = health.body as { status: string; receivers: Array<{ id: string; engine: { connected: boolean; endpoint: string } }> };
    assert.equal(body.status, 'unavailable');
    assert.equal(body.receivers[0]?.id, 'docker_logs');
    assert.equal(body.receivers[0]?.engine.connected, false);
    assert.equal(body.receivers[0]?.engine.endpoint, `unix://${socket}`);

    await sleep(Math.max(0, 5000 - (Date.now() - startedAt)));
    assert.ok(cli.running, `still running after 5 s\n${cli.describe()}`);
    assert.ok(!/fatal|unhandled|TypeError|at .*\.ts:\d+/i.test(cli.text('stderr')), `no crash output\n${cli.describe()}`);
    await stopCli(cli, 'SIGTERM', 10_000);
  });
});

describe('the health_check extension with the engine reachable', () => {
  test('GET answers 200 with JSON: status ok, the receiver, the containers followed with their lag', async () => {
    const sink = await startSink();
    const port = await freePort();
    const file = await writeConfig(
      'health.yaml',
      sinkConfig(sink, { yaml: `extensions:\n  health_check:\n    endpoint: 127.0.0.1:${port}\n    path: /health`, extensions: ['health_check'] }),
    );
    const cli = spawnCli(['--config', file]);
    await cli.waitForLine('stderr', new RegExp(`health check listening.*${escapeRegExp(`127.0.0.1:${port}/health`)}`), 20_000);
    await cli.waitForLine('stderr', /connected to the Docker engine/, 20_000);
    const c = await runContainer(docker, { name: `${prefix}-health`, cmd: ['sh', '-c', 'echo healthy; sleep 60'] });
    await sink.waitForLogs(() => of(sink, c.name).length >= 1, 15_000, `the line of ${c.name}`);

    type Body = {
      status: string;
      receivers: Array<{ id: string; engine: { connected: boolean }; containers: Array<{ id: string; name: string; lag_seconds: number | null }> }>;
    };
    let last: { status: number; body: Body } | undefined;
    // The position is committed once the sink's answer is back: poll briefly for the lag.
    const deadline = Date.now() + 5000;
    for (;;) {
      const res = await getJson(`http://127.0.0.1:${port}/health`);
      last = { status: res.status, body: res.body as Body };
      assert.match(res.contentType, /application\/json/);
      const entry = last.body.receivers[0]?.containers.find((x) => x.name === c.name);
      if ((entry !== undefined && entry.lag_seconds !== null) || Date.now() > deadline) break;
      await sleep(100);
    }
    assert.equal(last.status, 200, JSON.stringify(last.body));
    assert.equal(last.body.status, 'ok');
    assert.equal(last.body.receivers.length, 1);
    const receiver = last.body.receivers[0];
    assert.ok(receiver);
    assert.equal(receiver.id, 'docker_logs');
    assert.equal(receiver.engine.connected, true);
    const entry = receiver.containers.find((x) => x.name === c.name);
    assert.ok(entry, `${c.name} is among the containers followed: ${JSON.stringify(receiver.containers.map((x) => x.name))}`);
    assert.equal(entry.id, c.id);
    assert.equal(typeof entry.lag_seconds, 'number', JSON.stringify(entry));
    assert.ok((entry.lag_seconds as number) >= 0 && (entry.lag_seconds as number) < 60, `lag ${entry.lag_seconds}`);

    const other = await fetch(`http://127.0.0.1:${port}/elsewhere`, { signal: AbortSignal.timeout(5000) });
    assert.equal(other.status, 404);
    await other.text();
    await stopCli(cli, 'SIGTERM', 10_000);
  });
});
