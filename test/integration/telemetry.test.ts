/**
 * The receiver's own metrics, as a backend and Prometheus see them, and the
 * health endpoint, against a real engine.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type Docker from 'dockerode';
import { OtlpSink } from '../helpers/otlp-sink.js';
import { removeByPrefix, requireEngine, runContainer, uniqueName, waitForExit } from '../helpers/docker.js';
import { startService } from '../helpers/receiver.js';
import type { Service } from '../../src/service.js';
import { METRICS } from '../../src/telemetry/metrics.js';

let docker: Docker;
let sink: OtlpSink;
let service: Service;
let promPort: number;
let healthPort: number;
const prefix = uniqueName('tel');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

before(async () => {
  docker = await requireEngine();
  sink = await OtlpSink.start();
  promPort = await freePort();
  healthPort = await freePort();
  service = await startService({
    sink,
    receiver: { collection_interval: '500ms', stream_timeout: '1s', read_from: 'api' },
    extraYaml: `extensions:
  health_check:
    endpoint: 127.0.0.1:${healthPort}
`,
    serviceYaml: `  extensions: [health_check]
  telemetry:
    metrics:
      address: 127.0.0.1:${promPort}
`,
    metricsPipeline: true,
  });
});

after(async () => {
  await service?.shutdown(5000);
  await sink?.stop();
  await removeByPrefix(docker, prefix);
});

test('stream lifecycle and flow metrics arrive at the backend over OTLP', async () => {
  const c = await runContainer(docker, { name: `${prefix}-m`, cmd: ['sh', '-c', 'for i in 1 2 3 4 5; do echo m$i; echo e$i >&2; sleep 0.5; done'] });
  await waitForExit(docker, c.id, 20_000);
  await sink.waitForLogs((logs) => logs.filter((l) => l.resource['container.id'] === c.id).length >= 10, 15_000, '10 lines');
  const opened = await sink.waitForMetric('docker_logs.stream.opened', 10_000);
  const reasons = new Set(opened.points.map((p) => p.attributes['reason']));
  assert.ok(reasons.has('start'), `opened reasons: ${JSON.stringify([...reasons])}`);
  assert.ok(reasons.has('rotation'), 'streams were rotated at stream_timeout 1s');
  const accepted = await sink.waitForMetric('otelcol_receiver_accepted_log_records', 10_000);
  assert.ok((accepted.points[0]?.value ?? 0) >= 10);
  const received = await sink.waitForMetric('docker_logs.log_records.received', 10_000);
  assert.deepEqual(new Set(received.points.map((p) => p.attributes['log.iostream'])), new Set(['stdout', 'stderr']));
  const unreleased = await sink.waitForMetric('docker_logs.stream.unreleased', 10_000);
  assert.equal(unreleased.points[0]?.value, 0);
  await sink.waitForMetric('otelcol_exporter_sent_log_records', 10_000);
  await sink.waitForMetric('docker_logs.process.open_fds', 10_000);
  assert.equal(sink.metrics[0]?.resource['service.name'], 'docker-logs-receiver');
});

test('the same metrics on the Prometheus endpoint, every one of the table', async () => {
  const text = await (await fetch(`http://127.0.0.1:${promPort}/metrics`)).text();
  assert.match(text, /docker_logs_stream_opened_total\{[^}]*reason="start"/);
  assert.match(text, /otelcol_receiver_accepted_log_records_total/);
  for (const m of METRICS) {
    // Histograms and counters with no data yet may be absent; every gauge and the main counters must be there.
    if (m.kind !== 'gauge') continue;
    if (m.name === 'docker_logs.lag') continue; // present only once something was acknowledged
    assert.ok(text.includes(m.name.replace(/\./g, '_')), `${m.name} on /metrics`);
  }
});

test('health: 200 with the followed containers and their lag', async () => {
  const c = await runContainer(docker, { name: `${prefix}-h`, cmd: ['sh', '-c', 'echo healthy; sleep 30'] });
  await sink.waitForLogs((logs) => logs.some((l) => l.resource['container.id'] === c.id), 15_000, 'line of the health container');
  await new Promise((r) => setTimeout(r, 300));
  const res = await fetch(`http://127.0.0.1:${healthPort}/`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { status: string; receivers: Array<{ engine: { connected: boolean }; containers: Array<{ id: string; name: string; state: string; lag_seconds: number | null }> }> };
  assert.equal(body.status, 'ok');
  const mine = body.receivers[0]?.containers.find((x) => x.id === c.id);
  assert.ok(mine, 'the container is listed');
  assert.equal(mine.name, c.name);
  assert.ok(['streaming', 'opening'].includes(mine.state), `state ${mine.state}`); // streams rotate every second here
  assert.equal(typeof mine.lag_seconds, 'number');
  assert.equal((await fetch(`http://127.0.0.1:${healthPort}/nope`)).status, 404);
});
