// A small, hand-written decoder for OTLP requests (protobuf wire format and
// OTLP/JSON), independent of the OpenTelemetry SDK's encoder, so tests check
// what was really put on the wire.
//
// Field numbers follow opentelemetry-proto (collector/logs/v1, logs/v1,
// collector/metrics/v1, metrics/v1, common/v1, resource/v1).
//
// Value mapping (both encodings):
//   string_value -> string, bool_value -> boolean,
//   int_value    -> bigint (always, so ints and doubles stay distinguishable),
//   double_value -> number, bytes_value -> Uint8Array,
//   array_value  -> AnyValue[], kvlist_value -> plain object, unset -> null.
//   trace_id / span_id -> lowercase hex ('' when absent).

export type AnyValue =
  | string
  | boolean
  | number
  | bigint
  | Uint8Array
  | AnyValue[]
  | { [k: string]: AnyValue }
  | null;

export interface SinkLogRecord {
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  body: AnyValue;
  attributes: Record<string, AnyValue>;
  resource: Record<string, AnyValue>;
  scope: { name: string; version: string };
  traceId: string;
  spanId: string;
  eventName: string;
}

export interface SinkMetricPoint {
  attributes: Record<string, AnyValue>;
  value?: number;
  count?: number;
  sum?: number;
  timeUnixNano: bigint;
}

export interface SinkMetric {
  name: string;
  description: string;
  unit: string;
  kind: 'sum' | 'gauge' | 'histogram';
  points: SinkMetricPoint[];
  resource: Record<string, AnyValue>;
}

// Wire types.
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

export class ProtoDecodeError extends Error {
  override name = 'ProtoDecodeError';
}

/** Cursor over one protobuf message (a window [pos, end) of buf). */
export class WireReader {
  pos: number;
  readonly end: number;
  private view: DataView | undefined;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  eof(): boolean {
    return this.pos >= this.end;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) {
      throw new ProtoDecodeError(`truncated message: need ${n} byte(s) at offset ${this.pos}, message ends at ${this.end}`);
    }
  }

  private dv(): DataView {
    this.view ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    return this.view;
  }

  /** Varint as a number (exact up to 2^53; use for tags, lengths, enums, bools). */
  uint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      this.need(1);
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new ProtoDecodeError(`varint longer than 10 bytes at offset ${this.pos}`);
  }

  /** Varint as an unsigned 64-bit bigint. */
  uint64(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      this.need(1);
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (b < 0x80) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    throw new ProtoDecodeError(`varint longer than 10 bytes at offset ${this.pos}`);
  }

  /** int64 (two's complement varint). */
  int64(): bigint {
    return BigInt.asIntN(64, this.uint64());
  }

  fixed64(): bigint {
    this.need(8);
    const v = this.dv().getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  sfixed64(): bigint {
    this.need(8);
    const v = this.dv().getBigInt64(this.pos, true);
    this.pos += 8;
    return v;
  }

  double(): number {
    this.need(8);
    const v = this.dv().getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  fixed32(): number {
    this.need(4);
    const v = this.dv().getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** Reads a length prefix and returns [start, end) of the payload, advancing past it. */
  lenRange(): [number, number] {
    const len = this.uint();
    this.need(len);
    const start = this.pos;
    this.pos += len;
    return [start, this.pos];
  }

  bytes(): Uint8Array {
    const [s, e] = this.lenRange();
    return this.buf.subarray(s, e);
  }

  string(): string {
    const [s, e] = this.lenRange();
    return textDecoder.decode(this.buf.subarray(s, e));
  }

  /** A reader over an embedded (length-delimited) message. */
  message(): WireReader {
    const [s, e] = this.lenRange();
    return new WireReader(this.buf, s, e);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case VARINT:
        this.uint64();
        return;
      case I64:
        this.need(8);
        this.pos += 8;
        return;
      case LEN:
        this.lenRange();
        return;
      case I32:
        this.need(4);
        this.pos += 4;
        return;
      default:
        throw new ProtoDecodeError(`unsupported wire type ${wireType} at offset ${this.pos}`);
    }
  }

  /** Calls fn(field, wireType) for every field; fn must consume the value (or call skip). */
  fields(fn: (field: number, wireType: number) => void): void {
    while (this.pos < this.end) {
      const tag = this.uint();
      const field = Math.floor(tag / 8);
      const wireType = tag & 7;
      if (field === 0) throw new ProtoDecodeError(`invalid field number 0 at offset ${this.pos}`);
      const before = this.pos;
      fn(field, wireType);
      if (this.pos === before) this.skip(wireType);
    }
    if (this.pos !== this.end) throw new ProtoDecodeError(`field overruns message end (${this.pos} > ${this.end})`);
  }
}

const textDecoder = new TextDecoder('utf-8');

function expectWire(actual: number, expected: number, what: string): void {
  if (actual !== expected) {
    throw new ProtoDecodeError(`${what}: wire type ${actual}, expected ${expected}`);
  }
}

/** Sets obj[key] = value, also for keys like "__proto__". */
function setKey(obj: Record<string, AnyValue>, key: string, value: AnyValue): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

// ---------------------------------------------------------------------------
// Protobuf: common
// ---------------------------------------------------------------------------

function decodeAnyValue(r: WireReader): AnyValue {
  let value: AnyValue = null;
  r.fields((field, wt) => {
    switch (field) {
      case 1: // string_value
        expectWire(wt, LEN, 'AnyValue.string_value');
        value = r.string();
        break;
      case 2: // bool_value
        expectWire(wt, VARINT, 'AnyValue.bool_value');
        value = r.uint() !== 0;
        break;
      case 3: // int_value
        expectWire(wt, VARINT, 'AnyValue.int_value');
        value = r.int64();
        break;
      case 4: // double_value
        expectWire(wt, I64, 'AnyValue.double_value');
        value = r.double();
        break;
      case 5: {
        // array_value: ArrayValue { repeated AnyValue values = 1 }
        expectWire(wt, LEN, 'AnyValue.array_value');
        const arr: AnyValue[] = [];
        const ar = r.message();
        ar.fields((f, w) => {
          if (f === 1) {
            expectWire(w, LEN, 'ArrayValue.values');
            arr.push(decodeAnyValue(ar.message()));
          }
        });
        value = arr;
        break;
      }
      case 6: // kvlist_value: KeyValueList { repeated KeyValue values = 1 }
        expectWire(wt, LEN, 'AnyValue.kvlist_value');
        value = decodeKeyValueList(r.message(), 1);
        break;
      case 7: // bytes_value
        expectWire(wt, LEN, 'AnyValue.bytes_value');
        value = Uint8Array.from(r.bytes());
        break;
    }
  });
  return value;
}

/** Decodes one KeyValue message into obj. */
function decodeKeyValueInto(r: WireReader, obj: Record<string, AnyValue>): void {
  let key = '';
  let value: AnyValue = null;
  r.fields((field, wt) => {
    if (field === 1) {
      expectWire(wt, LEN, 'KeyValue.key');
      key = r.string();
    } else if (field === 2) {
      expectWire(wt, LEN, 'KeyValue.value');
      value = decodeAnyValue(r.message());
    }
  });
  setKey(obj, key, value);
}

/** Decodes the repeated KeyValue field `field` of the message r into a plain object. */
function decodeKeyValueList(r: WireReader, field: number): Record<string, AnyValue> {
  const obj: Record<string, AnyValue> = {};
  r.fields((f, wt) => {
    if (f === field) {
      expectWire(wt, LEN, 'KeyValue');
      decodeKeyValueInto(r.message(), obj);
    }
  });
  return obj;
}

/** Resource { repeated KeyValue attributes = 1; } */
function decodeResource(r: WireReader): Record<string, AnyValue> {
  return decodeKeyValueList(r, 1);
}

/** InstrumentationScope { string name = 1; string version = 2; } */
function decodeScope(r: WireReader): { name: string; version: string } {
  const scope = { name: '', version: '' };
  r.fields((field, wt) => {
    if (field === 1) {
      expectWire(wt, LEN, 'InstrumentationScope.name');
      scope.name = r.string();
    } else if (field === 2) {
      expectWire(wt, LEN, 'InstrumentationScope.version');
      scope.version = r.string();
    }
  });
  return scope;
}

// ---------------------------------------------------------------------------
// Protobuf: logs
// ---------------------------------------------------------------------------

function decodeLogRecord(
  r: WireReader,
  resource: Record<string, AnyValue>,
  scope: { name: string; version: string },
): SinkLogRecord {
  const rec: SinkLogRecord = {
    timeUnixNano: 0n,
    observedTimeUnixNano: 0n,
    severityNumber: 0,
    severityText: '',
    body: null,
    attributes: {},
    resource,
    scope,
    traceId: '',
    spanId: '',
    eventName: '',
  };
  r.fields((field, wt) => {
    switch (field) {
      case 1: // time_unix_nano fixed64
        expectWire(wt, I64, 'LogRecord.time_unix_nano');
        rec.timeUnixNano = r.fixed64();
        break;
      case 2: // severity_number enum
        expectWire(wt, VARINT, 'LogRecord.severity_number');
        rec.severityNumber = Number(r.int64());
        break;
      case 3:
        expectWire(wt, LEN, 'LogRecord.severity_text');
        rec.severityText = r.string();
        break;
      case 5:
        expectWire(wt, LEN, 'LogRecord.body');
        rec.body = decodeAnyValue(r.message());
        break;
      case 6:
        expectWire(wt, LEN, 'LogRecord.attributes');
        decodeKeyValueInto(r.message(), rec.attributes);
        break;
      case 9:
        expectWire(wt, LEN, 'LogRecord.trace_id');
        rec.traceId = toHex(r.bytes());
        break;
      case 10:
        expectWire(wt, LEN, 'LogRecord.span_id');
        rec.spanId = toHex(r.bytes());
        break;
      case 11: // observed_time_unix_nano fixed64
        expectWire(wt, I64, 'LogRecord.observed_time_unix_nano');
        rec.observedTimeUnixNano = r.fixed64();
        break;
      case 12:
        expectWire(wt, LEN, 'LogRecord.event_name');
        rec.eventName = r.string();
        break;
      // 7 dropped_attributes_count (varint), 8 flags (fixed32): skipped.
    }
  });
  return rec;
}

/**
 * ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
 * ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; }
 * ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; }
 */
export function decodeLogsRequestProto(buf: Uint8Array): SinkLogRecord[] {
  const out: SinkLogRecord[] = [];
  const top = new WireReader(buf);
  top.fields((field, wt) => {
    if (field !== 1) return;
    expectWire(wt, LEN, 'ExportLogsServiceRequest.resource_logs');
    const rl = top.message();
    // The resource may come after the scope logs on the wire: collect first.
    let resource: Record<string, AnyValue> = {};
    const scopeLogs: WireReader[] = [];
    rl.fields((f, w) => {
      if (f === 1) {
        expectWire(w, LEN, 'ResourceLogs.resource');
        resource = decodeResource(rl.message());
      } else if (f === 2) {
        expectWire(w, LEN, 'ResourceLogs.scope_logs');
        scopeLogs.push(rl.message());
      }
    });
    for (const sl of scopeLogs) {
      let scope = { name: '', version: '' };
      const records: WireReader[] = [];
      sl.fields((f, w) => {
        if (f === 1) {
          expectWire(w, LEN, 'ScopeLogs.scope');
          scope = decodeScope(sl.message());
        } else if (f === 2) {
          expectWire(w, LEN, 'ScopeLogs.log_records');
          records.push(sl.message());
        }
      });
      for (const lr of records) out.push(decodeLogRecord(lr, resource, scope));
    }
  });
  return out;
}

/** Counts the log records of an ExportLogsServiceRequest without decoding them. */
export function countLogsProto(buf: Uint8Array): number {
  let n = 0;
  const top = new WireReader(buf);
  top.fields((field, wt) => {
    if (field !== 1 || wt !== LEN) return;
    const rl = top.message();
    rl.fields((f, w) => {
      if (f !== 2 || w !== LEN) return;
      const sl = rl.message();
      sl.fields((f2, w2) => {
        if (f2 === 2 && w2 === LEN) {
          sl.lenRange();
          n++;
        }
      });
    });
  });
  return n;
}

// ---------------------------------------------------------------------------
// Protobuf: metrics
// ---------------------------------------------------------------------------

/** NumberDataPoint { time_unix_nano = 3 (fixed64); as_double = 4; as_int = 6 (sfixed64); attributes = 7 } */
function decodeNumberDataPoint(r: WireReader): SinkMetricPoint {
  const p: SinkMetricPoint = { attributes: {}, timeUnixNano: 0n };
  r.fields((field, wt) => {
    switch (field) {
      case 3:
        expectWire(wt, I64, 'NumberDataPoint.time_unix_nano');
        p.timeUnixNano = r.fixed64();
        break;
      case 4:
        expectWire(wt, I64, 'NumberDataPoint.as_double');
        p.value = r.double();
        break;
      case 6:
        expectWire(wt, I64, 'NumberDataPoint.as_int');
        p.value = Number(r.sfixed64());
        break;
      case 7:
        expectWire(wt, LEN, 'NumberDataPoint.attributes');
        decodeKeyValueInto(r.message(), p.attributes);
        break;
    }
  });
  return p;
}

/** HistogramDataPoint { time_unix_nano = 3; count = 4 (fixed64); sum = 5 (double); attributes = 9 } */
function decodeHistogramDataPoint(r: WireReader): SinkMetricPoint {
  const p: SinkMetricPoint = { attributes: {}, timeUnixNano: 0n };
  r.fields((field, wt) => {
    switch (field) {
      case 3:
        expectWire(wt, I64, 'HistogramDataPoint.time_unix_nano');
        p.timeUnixNano = r.fixed64();
        break;
      case 4:
        expectWire(wt, I64, 'HistogramDataPoint.count');
        p.count = Number(r.fixed64());
        break;
      case 5:
        expectWire(wt, I64, 'HistogramDataPoint.sum');
        p.sum = r.double();
        break;
      case 9:
        expectWire(wt, LEN, 'HistogramDataPoint.attributes');
        decodeKeyValueInto(r.message(), p.attributes);
        break;
    }
  });
  return p;
}

/** Gauge / Sum / Histogram { repeated data_points = 1; } */
function decodeDataPoints(r: WireReader, decodePoint: (r: WireReader) => SinkMetricPoint): SinkMetricPoint[] {
  const points: SinkMetricPoint[] = [];
  r.fields((field, wt) => {
    if (field === 1) {
      expectWire(wt, LEN, 'data_points');
      points.push(decodePoint(r.message()));
    }
  });
  return points;
}

/** Metric { name = 1; description = 2; unit = 3; gauge = 5; sum = 7; histogram = 9; } (null for other kinds) */
function decodeMetric(r: WireReader, resource: Record<string, AnyValue>): SinkMetric | null {
  const m: SinkMetric = { name: '', description: '', unit: '', kind: 'gauge', points: [], resource };
  let known = false;
  r.fields((field, wt) => {
    switch (field) {
      case 1:
        expectWire(wt, LEN, 'Metric.name');
        m.name = r.string();
        break;
      case 2:
        expectWire(wt, LEN, 'Metric.description');
        m.description = r.string();
        break;
      case 3:
        expectWire(wt, LEN, 'Metric.unit');
        m.unit = r.string();
        break;
      case 5:
        expectWire(wt, LEN, 'Metric.gauge');
        m.kind = 'gauge';
        m.points = decodeDataPoints(r.message(), decodeNumberDataPoint);
        known = true;
        break;
      case 7:
        expectWire(wt, LEN, 'Metric.sum');
        m.kind = 'sum';
        m.points = decodeDataPoints(r.message(), decodeNumberDataPoint);
        known = true;
        break;
      case 9:
        expectWire(wt, LEN, 'Metric.histogram');
        m.kind = 'histogram';
        m.points = decodeDataPoints(r.message(), decodeHistogramDataPoint);
        known = true;
        break;
    }
  });
  return known ? m : null;
}

/**
 * ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
 * ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
 * ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; }
 * Exponential histograms and summaries are left out.
 */
export function decodeMetricsRequestProto(buf: Uint8Array): SinkMetric[] {
  const out: SinkMetric[] = [];
  const top = new WireReader(buf);
  top.fields((field, wt) => {
    if (field !== 1) return;
    expectWire(wt, LEN, 'ExportMetricsServiceRequest.resource_metrics');
    const rm = top.message();
    let resource: Record<string, AnyValue> = {};
    const scopeMetrics: WireReader[] = [];
    rm.fields((f, w) => {
      if (f === 1) {
        expectWire(w, LEN, 'ResourceMetrics.resource');
        resource = decodeResource(rm.message());
      } else if (f === 2) {
        expectWire(w, LEN, 'ResourceMetrics.scope_metrics');
        scopeMetrics.push(rm.message());
      }
    });
    for (const sm of scopeMetrics) {
      sm.fields((f, w) => {
        if (f === 2) {
          expectWire(w, LEN, 'ScopeMetrics.metrics');
          const m = decodeMetric(sm.message(), resource);
          if (m) out.push(m);
        }
      });
    }
  });
  return out;
}

// ---------------------------------------------------------------------------
// OTLP/JSON (proto3 JSON mapping: lowerCamelCase keys, 64-bit ints as strings
// (numbers accepted), bytes_value as base64, trace/span ids as hex)
// ---------------------------------------------------------------------------

type Json = unknown;

function isObj(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function arr(v: Json, what: string): Json[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ProtoDecodeError(`${what}: expected an array`);
  return v;
}

function obj(v: Json, what: string): Record<string, Json> {
  if (v === undefined || v === null) return {};
  if (!isObj(v)) throw new ProtoDecodeError(`${what}: expected an object`);
  return v;
}

function str(v: Json, what: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new ProtoDecodeError(`${what}: expected a string, got ${typeof v}`);
  return v;
}

function int64(v: Json, what: string): bigint {
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  throw new ProtoDecodeError(`${what}: expected an int64 (string or integer), got ${JSON.stringify(v)}`);
}

function dbl(v: Json, what: string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  throw new ProtoDecodeError(`${what}: expected a double, got ${JSON.stringify(v)}`);
}

function jsonAnyValue(v: Json, what: string): AnyValue {
  if (v === undefined || v === null) return null;
  const o = obj(v, what);
  if ('stringValue' in o) return str(o.stringValue, `${what}.stringValue`);
  if ('boolValue' in o) {
    if (typeof o.boolValue !== 'boolean') throw new ProtoDecodeError(`${what}.boolValue: expected a boolean`);
    return o.boolValue;
  }
  if ('intValue' in o) return int64(o.intValue, `${what}.intValue`);
  if ('doubleValue' in o) return dbl(o.doubleValue, `${what}.doubleValue`);
  if ('arrayValue' in o) {
    return arr(obj(o.arrayValue, `${what}.arrayValue`).values, `${what}.arrayValue.values`).map((x, i) =>
      jsonAnyValue(x, `${what}.arrayValue.values[${i}]`),
    );
  }
  if ('kvlistValue' in o) {
    return jsonKeyValues(obj(o.kvlistValue, `${what}.kvlistValue`).values, `${what}.kvlistValue.values`);
  }
  if ('bytesValue' in o) return Uint8Array.from(Buffer.from(str(o.bytesValue, `${what}.bytesValue`), 'base64'));
  return null;
}

function jsonKeyValues(v: Json, what: string): Record<string, AnyValue> {
  const out: Record<string, AnyValue> = {};
  arr(v, what).forEach((kv, i) => {
    const o = obj(kv, `${what}[${i}]`);
    setKey(out, str(o.key, `${what}[${i}].key`), jsonAnyValue(o.value, `${what}[${i}].value`));
  });
  return out;
}

function jsonHexId(v: Json, what: string): string {
  const s = str(v, what);
  if (s !== '' && !/^[0-9a-fA-F]*$/.test(s)) throw new ProtoDecodeError(`${what}: expected hex, got ${JSON.stringify(s)}`);
  return s.toLowerCase();
}

function jsonInt(v: Json, what: string): number {
  return v === undefined || v === null ? 0 : Number(int64(v, what));
}

export function decodeLogsRequestJson(text: string): SinkLogRecord[] {
  const out: SinkLogRecord[] = [];
  const root = obj(JSON.parse(text) as Json, 'ExportLogsServiceRequest');
  arr(root.resourceLogs, 'resourceLogs').forEach((rlv, i) => {
    const rl = obj(rlv, `resourceLogs[${i}]`);
    const resource = jsonKeyValues(obj(rl.resource, 'resource').attributes, `resourceLogs[${i}].resource.attributes`);
    arr(rl.scopeLogs, `resourceLogs[${i}].scopeLogs`).forEach((slv, j) => {
      const where = `resourceLogs[${i}].scopeLogs[${j}]`;
      const sl = obj(slv, where);
      const so = obj(sl.scope, `${where}.scope`);
      const scope = { name: str(so.name, `${where}.scope.name`), version: str(so.version, `${where}.scope.version`) };
      arr(sl.logRecords, `${where}.logRecords`).forEach((lrv, k) => {
        const w = `${where}.logRecords[${k}]`;
        const lr = obj(lrv, w);
        out.push({
          timeUnixNano: BigInt.asUintN(64, int64(lr.timeUnixNano, `${w}.timeUnixNano`)),
          observedTimeUnixNano: BigInt.asUintN(64, int64(lr.observedTimeUnixNano, `${w}.observedTimeUnixNano`)),
          severityNumber: jsonInt(lr.severityNumber, `${w}.severityNumber`),
          severityText: str(lr.severityText, `${w}.severityText`),
          body: jsonAnyValue(lr.body, `${w}.body`),
          attributes: jsonKeyValues(lr.attributes, `${w}.attributes`),
          resource,
          scope,
          traceId: jsonHexId(lr.traceId, `${w}.traceId`),
          spanId: jsonHexId(lr.spanId, `${w}.spanId`),
          eventName: str(lr.eventName, `${w}.eventName`),
        });
      });
    });
  });
  return out;
}

export function countLogsJson(text: string): number {
  let n = 0;
  const root = obj(JSON.parse(text) as Json, 'ExportLogsServiceRequest');
  for (const rl of arr(root.resourceLogs, 'resourceLogs')) {
    for (const sl of arr(obj(rl, 'resourceLogs[]').scopeLogs, 'scopeLogs')) {
      n += arr(obj(sl, 'scopeLogs[]').logRecords, 'logRecords').length;
    }
  }
  return n;
}

function jsonNumberPoint(v: Json, what: string): SinkMetricPoint {
  const o = obj(v, what);
  const p: SinkMetricPoint = {
    attributes: jsonKeyValues(o.attributes, `${what}.attributes`),
    timeUnixNano: BigInt.asUintN(64, int64(o.timeUnixNano, `${what}.timeUnixNano`)),
  };
  if (o.asDouble !== undefined) p.value = dbl(o.asDouble, `${what}.asDouble`);
  else if (o.asInt !== undefined) p.value = Number(int64(o.asInt, `${what}.asInt`));
  return p;
}

function jsonHistogramPoint(v: Json, what: string): SinkMetricPoint {
  const o = obj(v, what);
  const p: SinkMetricPoint = {
    attributes: jsonKeyValues(o.attributes, `${what}.attributes`),
    timeUnixNano: BigInt.asUintN(64, int64(o.timeUnixNano, `${what}.timeUnixNano`)),
    count: Number(int64(o.count, `${what}.count`)),
  };
  if (o.sum !== undefined) p.sum = dbl(o.sum, `${what}.sum`);
  return p;
}

export function decodeMetricsRequestJson(text: string): SinkMetric[] {
  const out: SinkMetric[] = [];
  const root = obj(JSON.parse(text) as Json, 'ExportMetricsServiceRequest');
  arr(root.resourceMetrics, 'resourceMetrics').forEach((rmv, i) => {
    const rm = obj(rmv, `resourceMetrics[${i}]`);
    const resource = jsonKeyValues(obj(rm.resource, 'resource').attributes, `resourceMetrics[${i}].resource.attributes`);
    arr(rm.scopeMetrics, `resourceMetrics[${i}].scopeMetrics`).forEach((smv, j) => {
      const where = `resourceMetrics[${i}].scopeMetrics[${j}]`;
      arr(obj(smv, where).metrics, `${where}.metrics`).forEach((mv, k) => {
        const w = `${where}.metrics[${k}]`;
        const m = obj(mv, w);
        const base = {
          name: str(m.name, `${w}.name`),
          description: str(m.description, `${w}.description`),
          unit: str(m.unit, `${w}.unit`),
          resource,
        };
        if (m.gauge !== undefined) {
          const pts = arr(obj(m.gauge, `${w}.gauge`).dataPoints, `${w}.gauge.dataPoints`);
          out.push({ ...base, kind: 'gauge', points: pts.map((p, x) => jsonNumberPoint(p, `${w}.gauge.dataPoints[${x}]`)) });
        } else if (m.sum !== undefined) {
          const pts = arr(obj(m.sum, `${w}.sum`).dataPoints, `${w}.sum.dataPoints`);
          out.push({ ...base, kind: 'sum', points: pts.map((p, x) => jsonNumberPoint(p, `${w}.sum.dataPoints[${x}]`)) });
        } else if (m.histogram !== undefined) {
          const pts = arr(obj(m.histogram, `${w}.histogram`).dataPoints, `${w}.histogram.dataPoints`);
          out.push({
            ...base,
            kind: 'histogram',
            points: pts.map((p, x) => jsonHistogramPoint(p, `${w}.histogram.dataPoints[${x}]`)),
          });
        }
      });
    });
  });
  return out;
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

/** google.rpc.Status { int32 code = 1; string message = 2; } as protobuf bytes. */
export function encodeStatusProto(code: number, message: string): Uint8Array {
  const msg = new TextEncoder().encode(message);
  const out: number[] = [];
  const varint = (n: number): void => {
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
  };
  out.push((1 << 3) | VARINT);
  varint(code);
  out.push((2 << 3) | LEN);
  varint(msg.length);
  return Uint8Array.from([...out, ...msg]);
}
