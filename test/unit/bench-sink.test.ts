/**
 * The benchmark's sink decides whether a bench case delivered every line exactly
 * once, so its cheap protobuf walk is checked here against records whose counts,
 * sequence numbers and timestamps are known (and against JSON, its other path).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { JsonLogsSerializer } from '@opentelemetry/otlp-transformer';
import { OtlpProtoLogsEncoder } from '../../src/pipeline/otlp-proto-encoder.js';
import { BenchSink } from '../../bench/lib/bench-sink.js';
import { SinkProcess } from '../../bench/lib/bench-children.js';
import { until } from '../helpers/until.js';

const sinks: BenchSink[] = [];
after(async () => {
  for (const s of sinks) await s.stop();
});

const tracked = resourceFromAttributes({ 'container.id': 'a'.repeat(64), 'container.name': 'tracked', 'docker.container.tty': false });
const other = resourceFromAttributes({ 'container.name': 'someone-else' });
const scope = Object.freeze({ name: 'docker_logs', version: '0.1.0' });

function record(resource: typeof tracked, body: ReadableLogRecord['body'], seconds: number, extra: Partial<ReadableLogRecord> = {}): ReadableLogRecord {
  return {
    hrTime: [seconds, 250_000_000],
    hrTimeObserved: [seconds + 1, 0],
    body,
    attributes: Object.freeze({ 'log.iostream': 'stdout' }),
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    ...extra,
  };
}

async function post(sink: { url: string }, body: Uint8Array | string, type: string): Promise<number> {
  const res = await fetch(`${sink.url}/v1/logs`, { method: 'POST', headers: { 'content-type': type }, body });
  await res.arrayBuffer();
  return res.status;
}

const now = Math.floor(Date.now() / 1000);
const records = [
  record(tracked, '0000001 first', now - 2, { severityNumber: 9, severityText: 'INFO', spanContext: { traceId: '1'.repeat(32), spanId: '2'.repeat(16), traceFlags: 1 } }),
  record(tracked, '0000002 second', now - 2),
  record(tracked, '0000002 second again', now - 1),
  record(tracked, '0000004 beyond what was expected', now),
  record(tracked, { structured: 'no sequence number' }, now),
  record(other, '0000001 foreign', now),
];

for (const [name, encode, type] of [
  ['protobuf', (r: ReadableLogRecord[]) => new OtlpProtoLogsEncoder().encode(r), 'application/x-protobuf'],
  ['JSON', (r: ReadableLogRecord[]) => new TextDecoder().decode(JsonLogsSerializer.serializeRequest(r)), 'application/json'],
] as const) {
  test(`bench sink (${name}): counts, duplicates, out-of-range numbers, foreign records and timestamps`, async () => {
    const sink = await BenchSink.start();
    sinks.push(sink);
    sink.track('tracked', 3);
    assert.equal(await post(sink, encode(records), type), 200);
    assert.deepEqual(sink.counts(), [{ id: 'tracked', expected: 3, count: 5, duplicates: 1, outOfRange: 2 }]);
    assert.equal(sink.distinct, 2);
    assert.equal(sink.complete(), false);
    // As many records as expected have arrived (what a case waits on); complete() says they are not the right ones.
    assert.equal(sink.arrived(), true);
    assert.equal(sink.foreignRecords, 1);
    assert.deepEqual([...sink.foreign], [['someone-else', 1]]);
    assert.equal(Math.round(sink.minTimestampMs), (now - 2) * 1000 + 250);
    assert.equal(Math.round(sink.maxTimestampMs), now * 1000 + 250);
    assert.equal(sink.latency().records, 5);
    assert.equal(await post(sink, encode([record(tracked, '0000003 last', now)]), type), 200);
    assert.equal(sink.complete(), true);
  });
}

test('bench sink: a truncated protobuf request is rejected (400, counted in rejected: the bench case then fails) and does not complete the count', async () => {
  const sink = await BenchSink.start();
  sinks.push(sink);
  sink.track('tracked', 1);
  const bytes = new OtlpProtoLogsEncoder().encode([record(tracked, '0000001 x', now)]);
  assert.equal(await post(sink, bytes.subarray(0, bytes.length - 3), 'application/x-protobuf'), 400);
  assert.equal(sink.rejected, 1);
  assert.equal(sink.complete(), false);
});

test('bench sink: a record that cannot be decoded, in a request whose framing holds, is accepted on arrival and counted in rejected when the records are checked', async () => {
  const sink = await BenchSink.start();
  sinks.push(sink);
  sink.track('tracked', 1);
  const bytes = Buffer.from(new OtlpProtoLogsEncoder().encode([record(tracked, '0000001 x', now)]));
  // time_unix_nano (field 1, fixed64: tag 0x09) followed by the record's 8 bytes; wire type 7 does not exist.
  const time = Buffer.alloc(8);
  time.writeBigUInt64LE(BigInt(now) * 1_000_000_000n + 250_000_000n);
  const at = bytes.indexOf(time) - 1;
  assert.equal(bytes[at], 0x09);
  bytes[at] = 0x0f;
  assert.equal(await post(sink, bytes, 'application/x-protobuf'), 200);
  assert.equal(sink.arrived(), true);
  assert.equal(sink.rejected, 0);
  assert.equal(sink.complete(), false);
  assert.equal(sink.rejected, 1);
  assert.match(sink.report().errors[0], /a record of an accepted request cannot be decoded: unsupported wire type 7/);
});

test('bench sink as its own process (as the benchmark runs it): progress with every request, waiting, the report, a clean stop', async () => {
  const sink = await SinkProcess.start();
  try {
    await sink.track([['tracked', 2]]);
    const waiting = sink.waitComplete(10_000, 'both lines');
    waiting.catch(() => undefined); // awaited below; a failed assertion before must not leave it unhandled
    const encoder = new OtlpProtoLogsEncoder();
    assert.equal(await post(sink, encoder.encode([record(tracked, '0000001 a', now), record(other, '0000009 x', now)]), 'application/x-protobuf'), 200);
    // The counts come over IPC after the response.
    await until('the first request\'s progress', () => sink.trackedRecords === 1, 5000);
    assert.equal(sink.foreignRecords, 1);
    assert.equal(await post(sink, encoder.encode([record(tracked, '0000002 b', now)]), 'application/x-protobuf'), 200);
    await waiting;
    const report = await sink.report();
    assert.deepEqual(report.counts, [{ id: 'tracked', expected: 2, count: 2, duplicates: 0, outOfRange: 0 }]);
    assert.equal(report.latency.records, 2);
    assert.equal(report.rejected, 0);
    // A new case forgets the last one's counts.
    await sink.track([['tracked', 1]]);
    assert.equal(sink.trackedRecords, 0);
    await assert.rejects(sink.waitComplete(200, 'a line that never comes'), /timed out after 200 ms waiting for a line that never comes/);
    assert.ok(sink.cpu() > 0);
  } finally {
    await sink.stop();
  }
});
