// The OTLP sink decodes what real OpenTelemetry exporters send (protobuf and
// JSON, with and without gzip), and its failure behaviours work.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';

import { SeverityNumber } from '@opentelemetry/api-logs';
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import { OTLPLogExporter as HttpJsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';

import { OtlpSink } from '../helpers/otlp-sink.js';
import type { SinkLogRecord } from '../helpers/otlp-sink.js';
import { WireReader, countLogsProto, decodeLogsRequestProto, decodeMetricsRequestJson } from '../helpers/otlp-proto.js';

type ExporterConfig = NonNullable<ConstructorParameters<typeof ProtoLogExporter>[0]>;
type Compression = 'gzip' | 'none';
type Encoding = 'proto' | 'json';

interface LogExporter {
  export(records: ReadableLogRecord[], cb: (r: ExportResult) => void): void;
  shutdown(): Promise<void>;
}

function makeExporter(encoding: Encoding, url: string, compression: Compression, timeoutMillis = 10_000): LogExporter {
  const config: ExporterConfig = {
    url,
    compression: compression as ExporterConfig['compression'],
    timeoutMillis,
  };
  return encoding === 'proto' ? new ProtoLogExporter(config) : new HttpJsonLogExporter(config);
}

function exportRecords(exporter: LogExporter, records: ReadableLogRecord[]): Promise<ExportResult> {
  return new Promise((resolve) => exporter.export(records, resolve));
}

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';

function sampleRecords(tag: string): ReadableLogRecord[] {
  const resource = resourceFromAttributes({
    'service.name': 'otlp-sink-test',
    'container.id': 'c0ffee',
    'host.cpu.count': 2,
  });
  const scope = { name: 'docker-logs-receiver', version: '0.1.0' };
  return [
    {
      // 2023-11-14T22:13:20.123456789Z: not representable as a double in ns.
      hrTime: [1_700_000_000, 123_456_789],
      hrTimeObserved: [1_700_000_001, 987_654_321],
      severityNumber: SeverityNumber.WARN,
      severityText: 'WARN',
      body: `${tag} hello wörld ✓`,
      resource,
      instrumentationScope: scope,
      attributes: {
        'log.iostream': 'stderr',
        'int.attr': 42,
        'neg.attr': -7,
        'double.attr': 1.5,
        'bool.attr': true,
        'list.attr': ['a', 'b'],
      },
      droppedAttributesCount: 0,
      spanContext: { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 },
      eventName: 'docker.log',
    },
    {
      hrTime: [1_700_000_002, 1],
      hrTimeObserved: [1_700_000_002, 999_999_999],
      severityNumber: SeverityNumber.INFO,
      severityText: 'INFO',
      body: { msg: `${tag} structured`, n: 3, nested: { deep: [1, 'x', false] }, raw: new Uint8Array([0, 1, 254, 255]) },
      resource,
      instrumentationScope: scope,
      attributes: {},
      droppedAttributesCount: 0,
    },
  ];
}

function assertDecoded(logs: SinkLogRecord[], tag: string): void {
  assert.equal(logs.length, 2);
  const [a, b] = logs;

  assert.equal(a.timeUnixNano, 1_700_000_000_123_456_789n);
  assert.equal(a.observedTimeUnixNano, 1_700_000_001_987_654_321n);
  assert.equal(a.severityNumber, SeverityNumber.WARN);
  assert.equal(a.severityText, 'WARN');
  assert.equal(a.body, `${tag} hello wörld ✓`);
  assert.deepEqual(a.attributes, {
    'log.iostream': 'stderr',
    'int.attr': 42n,
    'neg.attr': -7n,
    'double.attr': 1.5,
    'bool.attr': true,
    'list.attr': ['a', 'b'],
  });
  assert.deepEqual(a.resource, { 'service.name': 'otlp-sink-test', 'container.id': 'c0ffee', 'host.cpu.count': 2n });
  assert.deepEqual(a.scope, { name: 'docker-logs-receiver', version: '0.1.0' });
  assert.equal(a.traceId, TRACE_ID);
  assert.equal(a.spanId, SPAN_ID);
  assert.equal(a.eventName, 'docker.log');

  assert.equal(b.timeUnixNano, 1_700_000_002_000_000_001n);
  assert.equal(b.observedTimeUnixNano, 1_700_000_002_999_999_999n);
  assert.equal(b.severityNumber, SeverityNumber.INFO);
  assert.deepEqual(b.body, {
    msg: `${tag} structured`,
    n: 3n,
    nested: { deep: [1n, 'x', false] },
    raw: new Uint8Array([0, 1, 254, 255]),
  });
  assert.deepEqual(b.attributes, {});
  assert.equal(b.traceId, '');
  assert.equal(b.spanId, '');
  assert.equal(b.eventName, '');
}

describe('OtlpSink with real OTLP exporters', () => {
  let sink: OtlpSink;
  before(async () => {
    sink = await OtlpSink.start();
    assert.match(sink.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  });
  after(async () => {
    await sink.stop();
  });

  const cases: Array<{ encoding: Encoding; compression: Compression; contentType: string }> = [
    { encoding: 'proto', compression: 'none', contentType: 'application/x-protobuf' },
    { encoding: 'proto', compression: 'gzip', contentType: 'application/x-protobuf' },
    { encoding: 'json', compression: 'none', contentType: 'application/json' },
    { encoding: 'json', compression: 'gzip', contentType: 'application/json' },
  ];
  for (const c of cases) {
    it(`decodes ${c.encoding} (compression ${c.compression})`, async () => {
      const tag = `${c.encoding}-${c.compression}`;
      const before = { logs: sink.logs.length, requests: sink.requests };
      const exporter = makeExporter(c.encoding, `${sink.url}/v1/logs`, c.compression);
      try {
        const result = await exportRecords(exporter, sampleRecords(tag));
        assert.equal(result.code, ExportResultCode.SUCCESS, String(result.error));
      } finally {
        await exporter.shutdown();
      }
      assert.equal(sink.requests, before.requests + 1);
      assertDecoded(sink.logs.slice(before.logs), tag);
      assert.equal(sink.logCount, sink.logs.length);
      const i = sink.requests - 1;
      assert.equal(sink.contentTypes[i].split(';')[0], c.contentType);
      assert.equal(sink.contentEncodings[i], c.compression === 'gzip' ? 'gzip' : '');
      assert.equal(sink.headers[i]['content-encoding'], c.compression === 'gzip' ? 'gzip' : undefined);
      assert.match(String(sink.headers[i]['user-agent']), /OTel-OTLP-Exporter-JavaScript/);
      assert.deepEqual(sink.decodeErrors, []);
    });
  }

  it('waitForLogs resolves on arrival and explains a timeout', async () => {
    const exporter = makeExporter('proto', `${sink.url}/v1/logs`, 'none');
    try {
      const waiting = sink.waitForLogs(
        (logs) => logs.some((l) => l.body === 'waited hello wörld ✓'),
        5000,
        'the waited record',
      );
      const result = await exportRecords(exporter, sampleRecords('waited'));
      assert.equal(result.code, ExportResultCode.SUCCESS);
      await waiting;
      await sink.waitForLogCount(sink.logCount, 10);
      await assert.rejects(
        sink.waitForLogs(() => false, 50, 'something that never comes'),
        (err: Error) => {
          assert.match(err.message, /something that never comes/);
          assert.match(err.message, /requests=\d+/);
          assert.match(err.message, /waited structured/);
          return true;
        },
      );
    } finally {
      await exporter.shutdown();
    }
  });
});

describe('OtlpSink behaviours', () => {
  it('answers 503 with Retry-After, then ok: the exporter retries and the records arrive once', async () => {
    const sink = await OtlpSink.start();
    const exporter = makeExporter('proto', `${sink.url}/v1/logs`, 'gzip', 20_000);
    try {
      sink.setBehaviour({ kind: 'status', status: 503, retryAfterSeconds: 1 });
      const exported = exportRecords(exporter, sampleRecords('retry'));
      // Switch to ok once the first attempt has been refused.
      const deadline = Date.now() + 5000;
      while (sink.rejectedRequests < 1) {
        assert.ok(Date.now() < deadline, 'no request arrived');
        await new Promise((r) => setTimeout(r, 10));
      }
      sink.setBehaviour({ kind: 'ok' });
      const result = await exported;
      assert.equal(result.code, ExportResultCode.SUCCESS, String(result.error));
      assert.equal(sink.rejectedRequests, 1);
      assert.equal(sink.requests, 2);
      assertDecoded(sink.logs, 'retry');
    } finally {
      await exporter.shutdown();
      await sink.stop();
    }
  });

  it('a non-retryable status fails the export and records nothing', async () => {
    const sink = await OtlpSink.start();
    const exporter = makeExporter('json', `${sink.url}/v1/logs`, 'none');
    try {
      sink.setBehaviour({ kind: 'status', status: 400 });
      const result = await exportRecords(exporter, sampleRecords('bad'));
      assert.equal(result.code, ExportResultCode.FAILED);
      assert.equal(sink.requests, 1);
      assert.equal(sink.rejectedRequests, 1);
      assert.equal(sink.logCount, 0);
      assert.deepEqual(sink.logs, []);
    } finally {
      await exporter.shutdown();
      await sink.stop();
    }
  });

  it('hang: the exporter times out; stop() frees hung connections', async () => {
    const sink = await OtlpSink.start();
    const exporter = makeExporter('proto', `${sink.url}/v1/logs`, 'none', 400);
    try {
      sink.setBehaviour({ kind: 'hang' });
      const started = Date.now();
      const result = await exportRecords(exporter, sampleRecords('hang'));
      assert.equal(result.code, ExportResultCode.FAILED);
      assert.ok(Date.now() - started < 5000, 'export should fail by its own timeout');
      assert.ok(sink.requests >= 1);
      assert.equal(sink.logCount, 0);

      // Back to ok: the timed-out request is not recorded late, new ones are.
      sink.setBehaviour({ kind: 'ok' });
      assert.equal(sink.logCount, 0);
      const ok = await exportRecords(exporter, sampleRecords('after-hang'));
      assert.equal(ok.code, ExportResultCode.SUCCESS, String(ok.error));
      assertDecoded(sink.logs, 'after-hang');

      // A client without a timeout stays hung until stop().
      sink.setBehaviour({ kind: 'hang' });
      const hung = rawPost(sink.url, '/v1/logs', 'application/x-protobuf', Buffer.alloc(0));
      const deadline = Date.now() + 5000;
      while (sink.rejectedRequests < 2) {
        assert.ok(Date.now() < deadline, 'hung request did not arrive');
        await new Promise((r) => setTimeout(r, 10));
      }
      const stopStarted = Date.now();
      await sink.stop();
      assert.ok(Date.now() - stopStarted < 2000, 'stop() must not wait for hung requests');
      await assert.rejects(hung);
    } finally {
      await exporter.shutdown();
      await sink.stop();
    }
  });

  it('hung requests are answered when the behaviour changes while the client still waits', async () => {
    const sink = await OtlpSink.start();
    try {
      sink.setBehaviour({ kind: 'hang' });
      const body = gzipSync(encodeOneLogRequest('late'));
      const pending = rawPost(sink.url, '/v1/logs', 'application/x-protobuf', body, { 'content-encoding': 'gzip' });
      while (sink.requests < 1) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(sink.logCount, 0);
      sink.setBehaviour({ kind: 'ok' });
      const res = await pending;
      assert.equal(res.status, 200);
      assert.equal(res.contentType, 'application/x-protobuf');
      assert.equal(res.body.length, 0);
      assert.equal(sink.logCount, 1);
      assert.equal(sink.logs[0].body, 'late');
      assert.equal(sink.rejectedRequests, 0);
    } finally {
      await sink.stop();
    }
  });

  it('close: the connection is destroyed without an answer', async () => {
    const sink = await OtlpSink.start();
    try {
      sink.setBehaviour({ kind: 'close' });
      await assert.rejects(rawPost(sink.url, '/v1/logs', 'application/json', Buffer.from('{}')));
      assert.equal(sink.rejectedRequests, 1);
    } finally {
      await sink.stop();
    }
  });

  it('rejects unknown paths, content types and undecodable bodies with 4xx', async () => {
    const sink = await OtlpSink.start();
    try {
      assert.equal((await rawPost(sink.url, '/v1/traces', 'application/json', Buffer.from('{}'))).status, 404);
      assert.equal((await rawPost(sink.url, '/v1/logs', 'text/plain', Buffer.from('x'))).status, 415);
      assert.equal((await rawPost(sink.url, '/v1/logs', 'application/x-protobuf', Buffer.from([0x0a, 0x05]))).status, 400);
      assert.equal((await rawPost(sink.url, '/v1/logs', 'application/json', Buffer.from('{nope'))).status, 400);
      assert.equal(sink.rejectedRequests, 4);
      assert.equal(sink.decodeErrors.length, 4);
      const ok = await rawPost(sink.url, '/v1/logs', 'application/json; charset=utf-8', Buffer.from('{}'));
      assert.equal(ok.status, 200);
      assert.equal(ok.contentType, 'application/json');
      assert.equal(ok.body.toString(), '{}');
    } finally {
      await sink.stop();
    }
  });

  it('countOnly counts records without keeping them', async () => {
    const sink = await OtlpSink.start({ countOnly: true });
    const proto = makeExporter('proto', `${sink.url}/v1/logs`, 'gzip');
    const json = makeExporter('json', `${sink.url}/v1/logs`, 'none');
    try {
      assert.equal((await exportRecords(proto, sampleRecords('c1'))).code, ExportResultCode.SUCCESS);
      assert.equal((await exportRecords(json, sampleRecords('c2'))).code, ExportResultCode.SUCCESS);
      await sink.waitForLogCount(4, 1000);
      assert.equal(sink.logCount, 4);
      assert.deepEqual(sink.logs, []);
      assert.ok(sink.bytesReceived > 0);
    } finally {
      await proto.shutdown();
      await json.shutdown();
      await sink.stop();
    }
  });

  it('decodes metrics (OTLP/JSON) and waitForMetric returns the latest one', async () => {
    const sink = await OtlpSink.start();
    try {
      const request = (value: string): string =>
        JSON.stringify({
          resourceMetrics: [
            {
              resource: { attributes: [{ key: 'service.name', value: { stringValue: 'r' } }] },
              scopeMetrics: [
                {
                  scope: { name: 's' },
                  metrics: [
                    {
                      name: 'dlr.records',
                      unit: '{record}',
                      sum: {
                        aggregationTemporality: 2,
                        isMonotonic: true,
                        dataPoints: [
                          { attributes: [{ key: 'k', value: { stringValue: 'v' } }], timeUnixNano: '5', asInt: value },
                        ],
                      },
                    },
                    {
                      name: 'dlr.latency',
                      histogram: { dataPoints: [{ timeUnixNano: '6', count: '3', sum: 1.25 }] },
                    },
                  ],
                },
              ],
            },
          ],
        });
      const waiting = sink.waitForMetric('dlr.records', 2000);
      assert.equal((await rawPost(sink.url, '/v1/metrics', 'application/json', Buffer.from(request('7')))).status, 200);
      const first = await waiting;
      assert.deepEqual(first, {
        name: 'dlr.records',
        description: '',
        unit: '{record}',
        kind: 'sum',
        points: [{ attributes: { k: 'v' }, timeUnixNano: 5n, value: 7 }],
        resource: { 'service.name': 'r' },
      });
      assert.equal((await rawPost(sink.url, '/v1/metrics', 'application/json', Buffer.from(request('9')))).status, 200);
      assert.equal((await sink.waitForMetric('dlr.records', 100)).points[0].value, 9);
      const hist = await sink.waitForMetric('dlr.latency', 100);
      assert.equal(hist.kind, 'histogram');
      assert.deepEqual(hist.points, [{ attributes: {}, timeUnixNano: 6n, count: 3, sum: 1.25 }]);
      assert.deepEqual(decodeMetricsRequestJson('{}'), []);
      await assert.rejects(sink.waitForMetric('nope', 30), /metric "nope"/);
    } finally {
      await sink.stop();
    }
  });
});

describe('otlp-proto wire decoder', () => {
  it('reads varints, 64-bit values and negative int64', () => {
    // field 1 varint 300, field 2 fixed64 2^63+1, field 3 varint -1 (10 bytes)
    const buf = Uint8Array.from([
      0x08, 0xac, 0x02, 0x11, 0x01, 0, 0, 0, 0, 0, 0, 0x80, 0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
    const r = new WireReader(buf);
    const seen: Array<[number, bigint]> = [];
    r.fields((field) => {
      if (field === 1) seen.push([1, BigInt(r.uint())]);
      else if (field === 2) seen.push([2, r.fixed64()]);
      else if (field === 3) seen.push([3, r.int64()]);
    });
    assert.deepEqual(seen, [
      [1, 300n],
      [2, 2n ** 63n + 1n],
      [3, -1n],
    ]);
  });

  it('rejects truncated input and counts without decoding', () => {
    assert.throws(() => decodeLogsRequestProto(Uint8Array.from([0x0a, 0x05, 0x12])), /truncated/);
    const one = encodeOneLogRequest('x');
    assert.equal(countLogsProto(one), 1);
    assert.equal(decodeLogsRequestProto(one)[0].body, 'x');
  });
});

// --- helpers -------------------------------------------------------------------

/** ExportLogsServiceRequest with one record whose body is a string (hand-encoded). */
function encodeOneLogRequest(body: string): Buffer {
  const len = (b: Buffer): Buffer => Buffer.from([b.length]); // all < 128 here
  const field = (n: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([(n << 3) | 2]), len(payload), payload]);
  const anyValue = field(1, Buffer.from(body));
  const logRecord = field(5, anyValue);
  const scopeLogs = field(2, logRecord);
  const resourceLogs = field(2, scopeLogs);
  return field(1, resourceLogs);
}

function rawPost(
  baseUrl: string,
  path: string,
  contentType: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; contentType: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${baseUrl}${path}`,
      { method: 'POST', headers: { 'content-type': contentType, ...headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: String(res.headers['content-type'] ?? ''),
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
