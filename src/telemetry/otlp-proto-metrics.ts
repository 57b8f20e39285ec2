/**
 * OTLP/protobuf encoding of the receiver's own metrics (an
 * ExportMetricsServiceRequest), plugged into the SDK's OTLP/HTTP transport as
 * the logs encoder is. Why not the SDK's metrics exporter: it loads
 * @opentelemetry/otlp-transformer's generated protobuf code and the JSON
 * exporter it extends, about 4 MB of resident memory for a request sent every
 * few seconds — most of the headroom the idle and live memory goals have.
 *
 * Speed does not matter here (a few dozen points per collection), so each
 * message is built as a list of parts and measured as it goes. A unit test
 * checks that the bytes decode to exactly what the SDK's serializer writes.
 */
import type { HrTime } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { DataPoint, ExponentialHistogram, Histogram, MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ExportResponse } from '../pipeline/otlp-proto-wire.js';
import { Writer, decodeExportResponse, encodeKeyValues, encodeScope, int64Size, secondsCache, varintSize } from '../pipeline/otlp-proto-wire.js';

/** Field tags of metrics/v1: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited). */
const TAG = {
  requestResourceMetrics: 0x0a,
  resourceMetricsResource: 0x0a,
  resourceMetricsScopeMetrics: 0x12,
  resourceMetricsSchemaUrl: 0x1a,
  resourceAttributes: 0x0a,
  scopeMetricsScope: 0x0a,
  scopeMetricsMetrics: 0x12,
  scopeMetricsSchemaUrl: 0x1a,
  metricName: 0x0a,
  metricDescription: 0x12,
  metricUnit: 0x1a,
  metricGauge: 0x2a,
  metricSum: 0x3a,
  metricHistogram: 0x4a,
  dataPoints: 0x0a,
  aggregationTemporality: 0x10,
  isMonotonic: 0x18,
  pointStartTime: 0x11,
  pointTime: 0x19,
  numberAsDouble: 0x21,
  numberAsInt: 0x31,
  numberAttributes: 0x3a,
  histogramCount: 0x21,
  histogramSum: 0x29,
  histogramBucketCounts: 0x32,
  histogramExplicitBounds: 0x3a,
  histogramAttributes: 0x4a,
  histogramMin: 0x59,
  histogramMax: 0x61,
  metricExponentialHistogram: 0x52,
  exponentialAttributes: 0x0a,
  exponentialCount: 0x21,
  exponentialSum: 0x29,
  exponentialScale: 0x30,
  exponentialZeroCount: 0x39,
  exponentialPositive: 0x42,
  exponentialNegative: 0x4a,
  exponentialMin: 0x61,
  exponentialMax: 0x69,
  bucketsOffset: 0x08,
  bucketsCounts: 0x12,
} as const;

/** opentelemetry-proto's AggregationTemporality numbers. */
const TEMPORALITY = { [AggregationTemporality.DELTA]: 1, [AggregationTemporality.CUMULATIVE]: 2 } as const;

/** api ValueType.INT: such points are written as as_int, the others as as_double. */
const VALUE_TYPE_INT = 0;

/** One message under construction: its fields as byte parts, and their total size. */
class Message {
  private readonly parts: Uint8Array[] = [];
  size = 0;
  private readonly seconds = secondsCache();

  private scalar(bytes: number, write: (w: Writer) => void): this {
    const w = new Writer(bytes);
    write(w);
    return this.raw(w.buf.subarray(0, w.pos));
  }

  /** Fields already encoded, with their tags (attributes). */
  raw(bytes: Uint8Array): this {
    this.parts.push(bytes);
    this.size += bytes.length;
    return this;
  }

  embed(tag: number, message: Message | Uint8Array): this {
    const size = message instanceof Message ? message.size : message.length;
    this.scalar(1 + varintSize(size), (w) => {
      w.byte(tag);
      w.varint(size);
    });
    if (message instanceof Message) {
      for (const part of message.parts) this.raw(part);
    } else {
      this.raw(message);
    }
    return this;
  }

  string(tag: number, text: string | undefined): this {
    if (text === undefined || text === '') return this;
    const length = Buffer.byteLength(text);
    return this.scalar(1 + varintSize(length) + length, (w) => w.stringField(tag, text, length));
  }

  varint(tag: number, n: number): this {
    return this.scalar(1 + int64Size(n), (w) => {
      w.byte(tag);
      w.int64(n);
    });
  }

  /** A small signed integer as sint32 (zigzag varint); 0, the default, is left out as the SDK does. */
  sint32(tag: number, n: number): this {
    if (n === 0) return this;
    return this.varint(tag, n >= 0 ? n * 2 : -n * 2 - 1);
  }

  /** A packed repeated uint64 of counts (integers below 2^53), as varints. */
  packedUvarint(tag: number, values: readonly number[]): this {
    if (values.length === 0) return this;
    let body = 0;
    for (const n of values) body += int64Size(n);
    return this.scalar(1 + varintSize(body) + body, (w) => {
      w.byte(tag);
      w.varint(body);
      for (const n of values) w.int64(n);
    });
  }

  time(tag: number, time: HrTime): this {
    return this.scalar(9, (w) => {
      w.byte(tag);
      w.hrTime(time, this.seconds);
    });
  }

  double(tag: number, n: number | undefined): this {
    if (n === undefined) return this;
    return this.scalar(9, (w) => {
      w.byte(tag);
      w.double(n);
    });
  }

  /** A count (an integer below 2^53) as fixed64. */
  fixed64(tag: number, n: number): this {
    return this.scalar(9, (w) => {
      w.byte(tag);
      writeUint64(w, n);
    });
  }

  /** An integer as sfixed64 (two's complement). */
  sfixed64(tag: number, n: number): this {
    return this.scalar(9, (w) => {
      w.byte(tag);
      const v = BigInt.asUintN(64, BigInt(Math.trunc(n)));
      w.fixed64(Number(v & 0xffffffffn), Number(v >> 32n));
    });
  }

  /** A packed repeated field of 8-byte values (fixed64 counts, doubles). */
  private packed8(tag: number, values: readonly number[], write: (w: Writer, n: number) => void): this {
    if (values.length === 0) return this;
    const body = values.length * 8;
    return this.scalar(1 + varintSize(body) + body, (w) => {
      w.byte(tag);
      w.varint(body);
      for (const n of values) write(w, n);
    });
  }

  packedFixed64(tag: number, values: readonly number[]): this {
    return this.packed8(tag, values, writeUint64);
  }

  packedDouble(tag: number, values: readonly number[]): this {
    return this.packed8(tag, values, (w, n) => w.double(n));
  }

  bytes(): Uint8Array {
    return Buffer.concat(this.parts, this.size);
  }
}

function writeUint64(w: Writer, n: number): void {
  const lo = n % 4294967296;
  w.fixed64(lo, (n - lo) / 4294967296);
}

function numberPoint(point: DataPoint<number>, valueType: number): Message {
  const m = new Message().time(TAG.pointStartTime, point.startTime).time(TAG.pointTime, point.endTime);
  if (valueType === VALUE_TYPE_INT) m.sfixed64(TAG.numberAsInt, point.value);
  else m.double(TAG.numberAsDouble, point.value);
  return m.raw(encodeKeyValues(point.attributes, TAG.numberAttributes));
}

function histogramPoint(point: DataPoint<Histogram>): Message {
  const h = point.value;
  return new Message()
    .time(TAG.pointStartTime, point.startTime)
    .time(TAG.pointTime, point.endTime)
    .fixed64(TAG.histogramCount, h.count)
    .double(TAG.histogramSum, h.sum)
    .packedFixed64(TAG.histogramBucketCounts, h.buckets.counts)
    .packedDouble(TAG.histogramExplicitBounds, h.buckets.boundaries)
    .raw(encodeKeyValues(point.attributes, TAG.histogramAttributes))
    .double(TAG.histogramMin, h.min)
    .double(TAG.histogramMax, h.max);
}

function exponentialBuckets(buckets: ExponentialHistogram['positive']): Message {
  return new Message().sint32(TAG.bucketsOffset, buckets.offset).packedUvarint(TAG.bucketsCounts, buckets.bucketCounts);
}

/** Exponential histograms: none of our instruments makes one, but an SDK view could. */
function exponentialHistogramPoint(point: DataPoint<ExponentialHistogram>): Message {
  const h = point.value;
  return new Message()
    .raw(encodeKeyValues(point.attributes, TAG.exponentialAttributes))
    .time(TAG.pointStartTime, point.startTime)
    .time(TAG.pointTime, point.endTime)
    .fixed64(TAG.exponentialCount, h.count)
    .double(TAG.exponentialSum, h.sum)
    .sint32(TAG.exponentialScale, h.scale)
    .fixed64(TAG.exponentialZeroCount, h.zeroCount)
    .embed(TAG.exponentialPositive, exponentialBuckets(h.positive))
    .embed(TAG.exponentialNegative, exponentialBuckets(h.negative))
    .double(TAG.exponentialMin, h.min)
    .double(TAG.exponentialMax, h.max);
}

/** One Metric of the request, or null for a kind of point this encoder does not know (added to the SDK since). */
function metric(data: MetricData): Message | null {
  const m = new Message().string(TAG.metricName, data.descriptor.name).string(TAG.metricDescription, data.descriptor.description).string(TAG.metricUnit, data.descriptor.unit);
  const temporality = TEMPORALITY[data.aggregationTemporality];
  switch (data.dataPointType) {
    case DataPointType.GAUGE: {
      const gauge = new Message();
      for (const p of data.dataPoints) gauge.embed(TAG.dataPoints, numberPoint(p, data.descriptor.valueType));
      return m.embed(TAG.metricGauge, gauge);
    }
    case DataPointType.SUM: {
      const sum = new Message();
      for (const p of data.dataPoints) sum.embed(TAG.dataPoints, numberPoint(p, data.descriptor.valueType));
      sum.varint(TAG.aggregationTemporality, temporality).varint(TAG.isMonotonic, data.isMonotonic ? 1 : 0);
      return m.embed(TAG.metricSum, sum);
    }
    case DataPointType.HISTOGRAM: {
      const histogram = new Message();
      for (const p of data.dataPoints) histogram.embed(TAG.dataPoints, histogramPoint(p));
      histogram.varint(TAG.aggregationTemporality, temporality);
      return m.embed(TAG.metricHistogram, histogram);
    }
    case DataPointType.EXPONENTIAL_HISTOGRAM: {
      const histogram = new Message();
      for (const p of data.dataPoints) histogram.embed(TAG.dataPoints, exponentialHistogramPoint(p));
      histogram.varint(TAG.aggregationTemporality, temporality);
      return m.embed(TAG.metricExponentialHistogram, histogram);
    }
    default:
      return null;
  }
}

/** The ExportMetricsServiceRequest of one collection. */
export function encodeMetricsRequest(resourceMetrics: ResourceMetrics): Uint8Array {
  const rm = new Message().embed(TAG.resourceMetricsResource, encodeKeyValues(resourceMetrics.resource.attributes, TAG.resourceAttributes));
  for (const scopeMetrics of resourceMetrics.scopeMetrics) {
    const sm = new Message().embed(TAG.scopeMetricsScope, encodeScope(scopeMetrics.scope));
    for (const data of scopeMetrics.metrics) {
      const m = metric(data);
      if (m !== null) sm.embed(TAG.scopeMetricsMetrics, m);
    }
    sm.string(TAG.scopeMetricsSchemaUrl, scopeMetrics.scope.schemaUrl);
    rm.embed(TAG.resourceMetricsScopeMetrics, sm);
  }
  rm.string(TAG.resourceMetricsSchemaUrl, resourceMetrics.resource.schemaUrl);
  return new Message().embed(TAG.requestResourceMetrics, rm).bytes();
}

/** What the SDK's exporter self-observability counts per request (data points), as otlp-transformer's MetricsExporterMetricsHelper. */
export const METRICS_EXPORTER_METRICS = {
  name: 'metric_data_point',
  countItems(request: ResourceMetrics): number {
    let count = 0;
    for (const scopeMetrics of request.scopeMetrics) for (const m of scopeMetrics.metrics) count += m.dataPoints.length;
    return count;
  },
} as const;

/** ExportMetricsServiceResponse: partial_success { rejected_data_points, error_message }. */
export function decodeMetricsResponse(data: Uint8Array): ExportResponse<'rejectedDataPoints'> {
  return decodeExportResponse(data, 'rejectedDataPoints');
}
