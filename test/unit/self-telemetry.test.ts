/**
 * The receiver's own metrics pipeline against a real OTLP/HTTP endpoint on
 * loopback: a backend that refuses the requests is said once (not at every
 * collection), and its recovery is said too. The SDK alone would report
 * neither (its error handler logs through `diag`, silent by default).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../src/config/load.js';
import type { SelfTelemetry } from '../../src/telemetry/meter-provider.js';
import { createSelfTelemetry } from '../../src/telemetry/meter-provider.js';
import { createLogger } from '../../src/util/logger.js';
import { until } from '../helpers/until.js';

const WAIT_MS = 10_000;

/**
 * The receiver's own metrics pipeline exporting to a real OTLP/HTTP endpoint on loopback,
 * served by `handle`; `lines` collects the receiver's log.
 */
async function selfTelemetryAgainst(
  handle: http.RequestListener,
  exporter: { interval: string; timeout?: string },
): Promise<{ telemetry: SelfTelemetry; lines: string[]; close: () => Promise<void> }> {
  const server = http.createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const lines: string[] = [];
  const logger = createLogger({ level: 'info', encoding: 'console', write: (line) => lines.push(line) });
  const config = parseConfig(
    [
      'receivers:',
      '  docker_logs:',
      `    collection_interval: ${exporter.interval}`,
      'exporters:',
      '  otlphttp/metrics:',
      `    endpoint: http://127.0.0.1:${port}`,
      ...(exporter.timeout === undefined ? [] : [`    timeout: ${exporter.timeout}`]),
      'service:',
      '  pipelines:',
      '    logs:',
      '      receivers: [docker_logs]',
      '      exporters: [otlphttp/metrics]',
      '    metrics:',
      '      receivers: [docker_logs]',
      '      exporters: [otlphttp/metrics]',
    ].join('\n'),
    '<test>',
    {},
  );
  const telemetry = await createSelfTelemetry(config, '0.0.0-test', logger);
  assert.ok(telemetry.meterProvider !== undefined);
  telemetry.meterProvider.getMeter('test').createObservableGauge('test.value').addCallback((r) => r.observe(1));
  return {
    telemetry,
    lines,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

test('a metrics backend that refuses is said once, and its recovery too', async () => {
  let status = 400;
  let requests = 0;
  const { telemetry, lines, close } = await selfTelemetryAgainst(
    (req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        res.writeHead(status, { 'content-type': 'application/x-protobuf' });
        res.end();
      });
    },
    { interval: '100ms' },
  );
  try {
    await until('three refused collections', () => requests >= 3, WAIT_MS);
    const failed = lines.filter((l) => l.includes("exporting the receiver's own metrics failed"));
    assert.equal(failed.length, 1, `said once:\n${lines.join('\n')}`);
    assert.match(failed[0], /otlphttp\/metrics/);
    assert.match(failed[0], /400/);
    status = 200;
    await until('the recovery', () => lines.some((l) => l.includes("exporting the receiver's own metrics works again")), WAIT_MS);
    // A new failure spell is said again.
    status = 400;
    await until('the second failure', () => lines.filter((l) => l.includes("exporting the receiver's own metrics failed")).length === 2, WAIT_MS);
  } finally {
    await telemetry.shutdown(2_000);
    await close();
  }
});

test('at shutdown, a metrics backend that failed the last export is not waited for again', async () => {
  // A backend that takes requests and never answers: every export lasts the exporter's timeout.
  let requests = 0;
  const { telemetry, lines, close } = await selfTelemetryAgainst(
    (req) => {
      requests++;
      req.resume();
    },
    { interval: '2s', timeout: '1s' },
  );
  let stopped = false;
  try {
    // The first collection (at 2 s) times out at 3 s; the second starts at 4 s and is under way
    // when the stop begins: it is given up, and the last one is not sent.
    await until('the first export to fail and the second to start', () => requests >= 2 && lines.some((l) => l.includes("exporting the receiver's own metrics failed")), WAIT_MS);
    const before = requests;
    const started = Date.now();
    await telemetry.shutdown(10_000);
    stopped = true;
    const took = Date.now() - started;
    assert.ok(took < 500, `shutdown took ${took} ms; the export under way should have been given up and the last one skipped\n${lines.join('\n')}`);
    assert.equal(requests, before, 'no request after the shutdown began');
    assert.ok(lines.some((l) => l.includes("not sending the receiver's last metrics at shutdown")), lines.join('\n'));
  } finally {
    if (!stopped) await telemetry.shutdown(2_000);
    await close();
  }
});

test('at shutdown, a metrics backend that works gets the last metrics', async () => {
  let requests = 0;
  const { telemetry, close } = await selfTelemetryAgainst(
    (req, res) => {
      req.resume();
      req.on('end', () => {
        requests++;
        res.writeHead(200, { 'content-type': 'application/x-protobuf' });
        res.end();
      });
    },
    { interval: '10s' },
  );
  try {
    await telemetry.shutdown(10_000);
    assert.equal(requests, 1, 'the last collection was sent');
  } finally {
    await close();
  }
});
