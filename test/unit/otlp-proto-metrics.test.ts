/**
 * Our OTLP/protobuf encoding of the receiver's own metrics against the SDK's
 * serializer: for the same collection, both byte strings must decode, field by
 * field (with a schema-driven decoder of metrics/v1 written here), to the same
 * request. The collection comes from a real MeterProvider fed through
 * ReceiverMetrics (every kind of instrument we declare), plus hand-made
 * collections for what our instruments do not produce today (integer points,
 * delta temporality, histograms without min/max, schema URLs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValueType } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { ProtobufMetricsSerializer } from '@opentelemetry/otlp-transformer';
import { encodeMetricsRequest, decodeMetricsResponse, METRICS_EXPORTER_METRICS } from '../../src/telemetry/otlp-proto-metrics.js';
import { ReceiverMetrics } from '../../src/telemetry/metrics.js';
import { WireReader } from '../helpers/otlp-proto.js';

// ---------------------------------------------------------------------------
// A schema-driven decoder: every field of metrics/v1 by number, so that a field
// written under the wrong number or type shows up as a difference.
// ---------------------------------------------------------------------------

type Scalar = 'string' | 'varint' | 'sint32' | 'fixed64' | 'sfixed64' | 'double' | 'bytes';
interface FieldSpec {
  readonly name: string;
  readonly type: Scalar | (() => Schema);
  readonly repeated?: boolean;
  /** A field whose presence means something (oneof members, proto3 `optional`): kept even when it holds the default. */
  readonly presence?: boolean;
}
type Schema = Record<number, FieldSpec>;
type Decoded = Record<string, unknown>;

const ANY_VALUE: Schema = {
  1: { name: 'string', type: 'string', presence: true },
  2: { name: 'bool', type: 'varint', presence: true },
  3: { name: 'int', type: 'varint', presence: true },
  4: { name: 'double', type: 'double', presence: true },
  5: { name: 'array', type: () => ({ 1: { name: 'values', type: () => ANY_VALUE, repeated: true } }), presence: true },
  6: { name: 'kvlist', type: () => ({ 1: { name: 'values', type: () => KEY_VALUE, repeated: true } }), presence: true },
  7: { name: 'bytes', type: 'bytes', presence: true },
};
const KEY_VALUE: Schema = { 1: { name: 'key', type: 'string' }, 2: { name: 'value', type: () => ANY_VALUE } };
const ATTRIBUTES = { type: () => KEY_VALUE, repeated: true } as const;
const NUMBER_POINT: Schema = {
  7: { name: 'attributes', ...ATTRIBUTES },
  2: { name: 'startTimeUnixNano', type: 'fixed64' },
  3: { name: 'timeUnixNano', type: 'fixed64' },
  4: { name: 'asDouble', type: 'double', presence: true },
  6: { name: 'asInt', type: 'sfixed64', presence: true },
  5: { name: 'exemplars', type: 'bytes', repeated: true },
  8: { name: 'flags', type: 'varint' },
};
const HISTOGRAM_POINT: Schema = {
  9: { name: 'attributes', ...ATTRIBUTES },
  2: { name: 'startTimeUnixNano', type: 'fixed64' },
  3: { name: 'timeUnixNano', type: 'fixed64' },
  4: { name: 'count', type: 'fixed64' },
  5: { name: 'sum', type: 'double', presence: true },
  6: { name: 'bucketCounts', type: 'fixed64', repeated: true },
  7: { name: 'explicitBounds', type: 'double', repeated: true },
  8: { name: 'exemplars', type: 'bytes', repeated: true },
  10: { name: 'flags', type: 'varint' },
  11: { name: 'min', type: 'double', presence: true },
  12: { name: 'max', type: 'double', presence: true },
};
const BUCKETS: Schema = { 1: { name: 'offset', type: 'sint32' }, 2: { name: 'bucketCounts', type: 'varint', repeated: true } };
const EXPONENTIAL_POINT: Schema = {
  1: { name: 'attributes', ...ATTRIBUTES },
  2: { name: 'startTimeUnixNano', type: 'fixed64' },
  3: { name: 'timeUnixNano', type: 'fixed64' },
  4: { name: 'count', type: 'fixed64' },
  5: { name: 'sum', type: 'double', presence: true },
  6: { name: 'scale', type: 'sint32' },
  7: { name: 'zeroCount', type: 'fixed64' },
  8: { name: 'positive', type: () => BUCKETS },
  9: { name: 'negative', type: () => BUCKETS },
  10: { name: 'flags', type: 'varint' },
  11: { name: 'exemplars', type: 'bytes', repeated: true },
  12: { name: 'min', type: 'double', presence: true },
  13: { name: 'max', type: 'double', presence: true },
  14: { name: 'zeroThreshold', type: 'double' },
};
const METRIC: Schema = {
  1: { name: 'name', type: 'string' },
  2: { name: 'description', type: 'string' },
  3: { name: 'unit', type: 'string' },
  5: { name: 'gauge', type: () => ({ 1: { name: 'dataPoints', type: () => NUMBER_POINT, repeated: true } }), presence: true },
  7: {
    name: 'sum',
    type: () => ({ 1: { name: 'dataPoints', type: () => NUMBER_POINT, repeated: true }, 2: { name: 'aggregationTemporality', type: 'varint' }, 3: { name: 'isMonotonic', type: 'varint' } }),
    presence: true,
  },
  9: { name: 'histogram', type: () => ({ 1: { name: 'dataPoints', type: () => HISTOGRAM_POINT, repeated: true }, 2: { name: 'aggregationTemporality', type: 'varint' } }), presence: true },
  10: {
    name: 'exponentialHistogram',
    type: () => ({ 1: { name: 'dataPoints', type: () => EXPONENTIAL_POINT, repeated: true }, 2: { name: 'aggregationTemporality', type: 'varint' } }),
    presence: true,
  },
  11: { name: 'summary', type: 'bytes', presence: true },
  12: { name: 'metadata', ...ATTRIBUTES },
};
const REQUEST: Schema = {
  1: {
    name: 'resourceMetrics',
    repeated: true,
    type: () => ({
      1: { name: 'resource', type: () => ({ 1: { name: 'attributes', ...ATTRIBUTES }, 2: { name: 'droppedAttributesCount', type: 'varint' } }) },
      2: {
        name: 'scopeMetrics',
        repeated: true,
        type: () => ({
          1: { name: 'scope', type: () => ({ 1: { name: 'name', type: 'string' }, 2: { name: 'version', type: 'string' }, 3: { name: 'attributes', ...ATTRIBUTES }, 4: { name: 'dropped', type: 'varint' } }) },
          2: { name: 'metrics', type: () => METRIC, repeated: true },
          3: { name: 'schemaUrl', type: 'string' },
        }),
      },
      3: { name: 'schemaUrl', type: 'string' },
    }),
  },
};

const WIRE: Record<Scalar, number> = { string: 2, bytes: 2, varint: 0, sint32: 0, fixed64: 1, sfixed64: 1, double: 1 };

function readScalar(r: WireReader, type: Scalar): unknown {
  switch (type) {
    case 'string':
      return r.string();
    case 'bytes':
      return Buffer.from(r.bytes()).toString('hex');
    case 'varint':
      return r.uint64();
    case 'sint32': {
      const zigzag = r.uint64();
      return (zigzag >> 1n) ^ -(zigzag & 1n);
    }
    case 'fixed64':
      return r.fixed64();
    case 'sfixed64':
      return r.sfixed64();
    case 'double':
      return r.double();
  }
}

function isDefault(v: unknown): boolean {
  return v === '' || v === 0 || v === 0n || (Array.isArray(v) && v.length === 0);
}

function decode(r: WireReader, schema: Schema): Decoded {
  const out: Decoded = {};
  r.fields((field, wireType) => {
    const spec = schema[field];
    if (spec === undefined) {
      out[`unknown field ${field}`] = wireType;
      return;
    }
    const values: unknown[] = [];
    if (typeof spec.type === 'function') {
      assert.equal(wireType, 2, `${spec.name}: a message, wire type ${wireType}`);
      values.push(decode(r.message(), spec.type()));
    } else if (spec.repeated === true && wireType === 2 && WIRE[spec.type] !== 2) {
      const packed = r.message(); // packed scalars
      while (!packed.eof()) values.push(readScalar(packed, spec.type));
    } else {
      assert.equal(wireType, WIRE[spec.type], `${spec.name}: wire type ${wireType}`);
      values.push(readScalar(r, spec.type));
    }
    if (spec.repeated === true) out[spec.name] = [...((out[spec.name] as unknown[] | undefined) ?? []), ...values];
    else out[spec.name] = values[0];
  });
  for (const [field, spec] of Object.entries(schema)) {
    void field;
    if (spec.presence !== true && spec.name in out && isDefault(out[spec.name])) delete out[spec.name];
  }
  return out;
}

function decodeRequest(bytes: Uint8Array): Decoded {
  return decode(new WireReader(bytes), REQUEST);
}

function same(collection: ResourceMetrics): void {
  const sdk = ProtobufMetricsSerializer.serializeRequest(collection);
  assert.ok(sdk !== undefined);
  assert.deepEqual(decodeRequest(encodeMetricsRequest(collection)), decodeRequest(sdk));
}

class ManualReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

test('a real collection of every instrument we declare encodes like the SDK', async () => {
  const reader = new ManualReader();
  const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'docker-logs-receiver', 'service.version': '0.1.0', 'host.name': 'höst' }), readers: [reader] });
  try {
    const metrics = new ReceiverMetrics(provider.getMeter('docker_logs', '0.1.0'));
    metrics.add('docker_logs.stream.opened', 3, { reason: 'start', source: 'api' });
    metrics.add('docker_logs.stream.opened', 2 ** 40, { reason: 'rotation', source: 'files' });
    metrics.add('docker_logs.stream.active', 1);
    metrics.add('docker_logs.stream.active', -1);
    metrics.add('docker_logs.log_records.received', 1_000_001, { 'log.iostream': 'stderr' });
    for (const seconds of [0.2, 30, 30.001, 2000]) metrics.record('docker_logs.stream.duration', seconds, { reason: 'timeout' });
    metrics.record('docker_logs.stream.duration', 1.5, { reason: 'end' });
    metrics.observe('docker_logs.lag', () => [{ value: 0.125 }]);
    metrics.observe('otelcol_exporter_queue_size', () => [{ value: 0, attributes: { exporter: 'otlphttp' } }]);
    metrics.observe('docker_logs.containers.watched', () => [{ value: -3 }]);
    const { resourceMetrics, errors } = await reader.collect();
    assert.deepEqual(errors, []);
    const kinds = new Set(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics.map((m) => m.dataPointType)));
    assert.deepEqual(kinds, new Set([DataPointType.SUM, DataPointType.GAUGE, DataPointType.HISTOGRAM]));
    same(resourceMetrics);
    // The points of the collection also decode to what was recorded (the comparison alone would pass for two equal mistakes).
    const decoded = JSON.stringify(decodeRequest(encodeMetricsRequest(resourceMetrics)), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    for (const expected of ['"docker_logs.stream.opened"', '"asDouble":1099511627776', '"bucketCounts":["0","1","0","0","2","0","0","0","0","0","0","1","0","0","0","0"]', '"string":"höst"', '"isMonotonic":"1"', '"aggregationTemporality":"2"']) {
      assert.ok(decoded.includes(expected), `${expected} in ${decoded}`);
    }
    assert.equal(METRICS_EXPORTER_METRICS.countItems(resourceMetrics), resourceMetrics.scopeMetrics.reduce((n, s) => n + s.metrics.reduce((k, m) => k + m.dataPoints.length, 0), 0));
  } finally {
    await provider.shutdown();
  }
});

test('integer points, delta temporality, histograms without min/max or sum, exponential histograms, schema URLs', () => {
  const resource = resourceFromAttributes({ 'service.name': 'r', list: ['a', 'b'], n: 7, ok: true });
  const start: [number, number] = [1_795_888_789, 999_999_999];
  const end: [number, number] = [4_294_967_296, 1];
  const descriptor = (name: string, valueType: ValueType) => ({ name, description: 'd ✓', unit: '{x}', valueType });
  const collection: ResourceMetrics = {
    resource,
    scopeMetrics: [
      {
        scope: { name: 'a', version: '1', schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' },
        metrics: [
          {
            descriptor: descriptor('ints', ValueType.INT),
            aggregationTemporality: AggregationTemporality.DELTA,
            dataPointType: DataPointType.SUM,
            isMonotonic: false,
            dataPoints: [
              { startTime: start, endTime: end, attributes: { k: 'v' }, value: -5 },
              { startTime: start, endTime: end, attributes: {}, value: 2 ** 53 - 1 },
              { startTime: start, endTime: end, attributes: {}, value: 0 },
            ],
          },
          {
            descriptor: descriptor('gauge', ValueType.DOUBLE),
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.GAUGE,
            dataPoints: [{ startTime: [0, 0], endTime: end, attributes: { f: 1.5 }, value: 0 }],
          },
          {
            descriptor: descriptor('empty', ValueType.DOUBLE),
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.GAUGE,
            dataPoints: [],
          },
          {
            descriptor: descriptor('hist', ValueType.DOUBLE),
            aggregationTemporality: AggregationTemporality.DELTA,
            dataPointType: DataPointType.HISTOGRAM,
            dataPoints: [
              { startTime: start, endTime: end, attributes: {}, value: { buckets: { boundaries: [1, 2.5], counts: [0, 4, 2 ** 33] }, count: 2 ** 33 + 4, sum: undefined, min: undefined, max: undefined } },
              { startTime: start, endTime: end, attributes: {}, value: { buckets: { boundaries: [], counts: [1] }, count: 1, sum: 0, min: -1, max: -1 } },
            ],
          },
          {
            descriptor: descriptor('exponential', ValueType.DOUBLE),
            aggregationTemporality: AggregationTemporality.CUMULATIVE,
            dataPointType: DataPointType.EXPONENTIAL_HISTOGRAM,
            dataPoints: [
              {
                startTime: start,
                endTime: end,
                attributes: { k: 'v' },
                value: { count: 2 ** 40 + 9, sum: 12.5, scale: -2, zeroCount: 3, positive: { offset: -3, bucketCounts: [1, 2 ** 40, 0, 5] }, negative: { offset: 70_000, bucketCounts: [] }, min: -0.5, max: 1e300 },
              },
              { startTime: start, endTime: end, attributes: {}, value: { count: 0, sum: undefined, scale: 20, zeroCount: 0, positive: { offset: 0, bucketCounts: [] }, negative: { offset: -1, bucketCounts: [127, 128] }, min: undefined, max: undefined } },
            ],
          },
        ],
      },
      { scope: { name: 'b' }, metrics: [] },
    ],
  };
  same(collection);
  // The exponential points decode to what was recorded (the comparison alone would pass for two equal mistakes).
  const decoded = JSON.stringify(decodeRequest(encodeMetricsRequest(collection)), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  for (const expected of ['"scale":"-2"', '"positive":{"offset":"-3","bucketCounts":["1","1099511627776","0","5"]}', '"negative":{"offset":"70000"}', '"negative":{"offset":"-1","bucketCounts":["127","128"]}', '"scale":"20"', '"zeroCount":"3"']) {
    assert.ok(decoded.includes(expected), `${expected} in ${decoded}`);
  }
});

test('the metrics response: partial success as the SDK reports it', () => {
  assert.deepEqual(decodeMetricsResponse(new Uint8Array()), {});
  // partial_success { rejected_data_points: 3, error_message: "no" }
  assert.deepEqual(decodeMetricsResponse(Uint8Array.from([0x0a, 0x06, 0x08, 0x03, 0x12, 0x02, 0x6e, 0x6f])), { partialSuccess: { rejectedDataPoints: 3, errorMessage: 'no' } });
});
