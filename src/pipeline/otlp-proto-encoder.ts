/**
 * An OTLP/protobuf encoder for our records, plugged into the OpenTelemetry
 * SDK's own OTLP/HTTP exporter (its transport, retries, headers, compression)
 * in place of the SDK's generic serializer.
 *
 * Why: encoding was a quarter of the receiver's CPU. The generic serializer
 * encodes each string twice (once to size it, once to write it) with a
 * JavaScript UTF-8 loop and re-encodes the container's Resource in every batch.
 * Here the Resource, the scope and the shared attribute objects are encoded once
 * and reused as bytes, and strings go through Node's native UTF-8 writer.
 *
 * The wire format is opentelemetry-proto's ExportLogsServiceRequest; a unit test
 * checks that the bytes decode to exactly what the SDK's serializer produces.
 */
import type { HrTime } from '@opentelemetry/api';
import type { AnyValue, AnyValueMap } from '@opentelemetry/api-logs';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';

/** Field tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32). */
const TAG = {
  requestResourceLogs: 0x0a,
  resourceLogsResource: 0x0a,
  resourceLogsScopeLogs: 0x12,
  resourceAttributes: 0x0a,
  resourceDropped: 0x10,
  scopeLogsScope: 0x0a,
  scopeLogsRecords: 0x12,
  scopeName: 0x0a,
  scopeVersion: 0x12,
  recordTime: 0x09,
  recordSeverityNumber: 0x10,
  recordSeverityText: 0x1a,
  recordBody: 0x2a,
  recordAttributes: 0x32,
  recordDropped: 0x38,
  recordFlags: 0x45,
  recordTraceId: 0x4a,
  recordSpanId: 0x52,
  recordObservedTime: 0x59,
  recordEventName: 0x62,
  keyValueKey: 0x0a,
  keyValueValue: 0x12,
  anyString: 0x0a,
  anyBool: 0x10,
  anyInt: 0x18,
  anyDouble: 0x21,
  anyArray: 0x2a,
  anyKvlist: 0x32,
  anyBytes: 0x3a,
  listValues: 0x0a,
} as const;

function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  return 5;
}

/** Bytes of a length-delimited field: tag + length + body. */
function fieldSize(bodyLength: number): number {
  return 1 + varintSize(bodyLength) + bodyLength;
}

/** Buffer.prototype.utf8Write: what buf.write(…, 'utf8') calls after normalising its arguments (not declared by @types/node). */
interface DirectEncoder {
  utf8Write(text: string, offset: number, length: number): number;
}

/**
 * A growable byte writer. The encoder sizes each message before writing it, so
 * lengths are written once, in front, with no copying back.
 */
class Writer {
  buf: Buffer;
  pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }

  /** A signed 64-bit integer as protobuf int64 (two's complement, ten bytes when negative). */
  int64(n: number): void {
    if (n >= 0 && n < 0x80000000) {
      this.varint(n);
      return;
    }
    let v = BigInt.asUintN(64, BigInt(Math.trunc(n)));
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  bytes(src: Uint8Array): void {
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  utf8(text: string, length: number): void {
    this.pos += (this.buf as unknown as DirectEncoder).utf8Write(text, this.pos, length);
  }

  /** A length-delimited string field; `length` is its UTF-8 size when the caller knows it already. */
  stringField(tag: number, text: string, length = Buffer.byteLength(text)): void {
    this.byte(tag);
    this.varint(length);
    this.utf8(text, length);
  }

  fixed32(n: number): void {
    this.buf.writeUInt32LE(n >>> 0, this.pos);
    this.pos += 4;
  }

  double(n: number): void {
    this.buf.writeDoubleLE(n, this.pos);
    this.pos += 8;
  }

  /**
   * Nanoseconds since the epoch of an HrTime as fixed64, exactly (the value exceeds 2^53).
   * Hot path (twice per record): `seconds × 1e9` is kept in `cache` as two 32-bit halves,
   * since consecutive records almost always share their second.
   */
  hrTime(time: HrTime, cache: SecondsCache): void {
    const seconds = time[0];
    const nanos = time[1];
    if (!(nanos >= 0 && nanos < 1e9 && seconds >= 0)) {
      this.unusualHrTime(seconds, nanos);
      return;
    }
    if (seconds !== cache.seconds) {
      splitNanos(seconds, 0, cache);
      cache.seconds = seconds;
    }
    let lo = cache.lo + nanos;
    let hi = cache.hi;
    if (lo >= 4294967296) {
      lo -= 4294967296;
      hi++;
    }
    this.fixed64(lo, hi);
  }

  /** Nanoseconds not in 0..999999999 carry into the seconds; a time before the epoch is written as 0 (unknown). */
  private unusualHrTime(seconds: number, nanos: number): void {
    const carry = Math.floor(nanos / 1e9);
    const total = secondsCache();
    if (seconds + carry >= 0) splitNanos(seconds + carry, nanos - carry * 1e9, total);
    this.fixed64(total.lo, total.hi);
  }

  /** Two 32-bit halves, little-endian. */
  private fixed64(lo: number, hi: number): void {
    const b = this.buf;
    let p = this.pos;
    b[p++] = lo;
    b[p++] = lo >>> 8;
    b[p++] = lo >>> 16;
    b[p++] = lo >>> 24;
    b[p++] = hi;
    b[p++] = hi >>> 8;
    b[p++] = hi >>> 16;
    b[p++] = hi >>> 24;
    this.pos = p;
  }
}

/** `seconds × 1e9` of the last HrTime written, as the two 32-bit halves of a uint64. */
interface SecondsCache {
  seconds: number;
  lo: number;
  hi: number;
}

function secondsCache(): SecondsCache {
  return { seconds: NaN, lo: 0, hi: 0 };
}

/** seconds × 1e9 + nanos as two 32-bit halves, exactly: every intermediate stays below 2^53. */
function splitNanos(seconds: number, nanos: number, out: SecondsCache): void {
  const sLo = seconds % 65536;
  const sHi = (seconds - sLo) / 65536;
  const a = sLo * 1e9 + nanos;
  const b = sHi * 1e9;
  const bLo = b % 65536;
  const bHi = (b - bLo) / 65536;
  const t = bLo * 65536 + a;
  const lo = t % 4294967296;
  out.lo = lo;
  out.hi = bHi + (t - lo) / 4294967296;
}

// ---------------------------------------------------------------------------
// AnyValue and KeyValue (attributes, structured bodies): sized, then written
// ---------------------------------------------------------------------------

function anyValueSize(value: AnyValue): number {
  switch (typeof value) {
    case 'string': {
      const n = Buffer.byteLength(value);
      return fieldSize(n);
    }
    case 'boolean':
      return 2;
    case 'number':
      return Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63 ? 1 + int64Size(value) : 9;
    default:
      break;
  }
  if (value === null || value === undefined) return 0;
  if (value instanceof Uint8Array) return fieldSize(value.length);
  if (Array.isArray(value)) {
    let inner = 0;
    for (const v of value) inner += fieldSize(anyValueSize(v));
    return fieldSize(inner);
  }
  return fieldSize(keyValuesSize(value));
}

function int64Size(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeAnyValue(w: Writer, value: AnyValue): void {
  switch (typeof value) {
    case 'string':
      w.stringField(TAG.anyString, value);
      return;
    case 'boolean':
      w.byte(TAG.anyBool);
      w.byte(value ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63) {
        w.byte(TAG.anyInt);
        w.int64(value);
      } else {
        w.byte(TAG.anyDouble);
        w.double(value);
      }
      return;
    default:
      break;
  }
  if (value === null || value === undefined) return;
  if (value instanceof Uint8Array) {
    w.byte(TAG.anyBytes);
    w.varint(value.length);
    w.bytes(value);
    return;
  }
  if (Array.isArray(value)) {
    let inner = 0;
    for (const v of value) inner += fieldSize(anyValueSize(v));
    w.byte(TAG.anyArray);
    w.varint(inner);
    for (const v of value) {
      w.byte(TAG.listValues);
      w.varint(anyValueSize(v));
      writeAnyValue(w, v);
    }
    return;
  }
  const map = value;
  w.byte(TAG.anyKvlist);
  w.varint(keyValuesSize(map));
  writeKeyValues(w, map, TAG.listValues);
}

function keyValueSize(key: string, value: AnyValue): number {
  const valueSize = anyValueSize(value);
  return fieldSize(Buffer.byteLength(key)) + fieldSize(valueSize);
}

/** The bytes of the KeyValue fields of a map (each with its own tag). */
function keyValuesSize(map: AnyValueMap): number {
  let size = 0;
  for (const key of Object.keys(map)) {
    const v = map[key];
    if (v === undefined) continue;
    size += fieldSize(keyValueSize(key, v));
  }
  return size;
}

function writeKeyValues(w: Writer, map: AnyValueMap, tag: number): void {
  for (const key of Object.keys(map)) {
    const v = map[key];
    if (v === undefined) continue;
    const keyBytes = Buffer.byteLength(key);
    const valueSize = anyValueSize(v);
    w.byte(tag);
    w.varint(fieldSize(keyBytes) + fieldSize(valueSize));
    w.stringField(TAG.keyValueKey, key, keyBytes);
    w.byte(TAG.keyValueValue);
    w.varint(valueSize);
    writeAnyValue(w, v);
  }
}

function encodeKeyValues(map: AnyValueMap, tag: number): Buffer {
  const w = new Writer(keyValuesSize(map));
  writeKeyValues(w, map, tag);
  return w.buf.subarray(0, w.pos);
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

const HEX = /^[0-9a-f]+$/i;

function idBytes(hex: string | undefined, length: number): Buffer | null {
  if (hex === undefined || hex.length !== length * 2 || !HEX.test(hex) || /^0+$/.test(hex)) return null;
  return Buffer.from(hex, 'hex');
}

export class OtlpProtoLogsEncoder {
  /** Encoded bytes of things shared by many records, by object identity. */
  private readonly resources = new WeakMap<Resource, Buffer>();
  private readonly scopes = new WeakMap<object, Buffer>();
  private readonly sharedAttributes = new WeakMap<object, Buffer>();
  /** Per record, filled by the sizing pass and read by the writing pass. */
  private bodyLengths: number[] = [];
  private attributeBytes: Array<Buffer | null> = [];
  private recordSizes: number[] = [];
  /** The last second of each kind of time written (records of one batch mostly share them). */
  private readonly recordSeconds = secondsCache();
  private readonly observedSeconds = secondsCache();

  encode(records: readonly ReadableLogRecord[]): Uint8Array {
    // Group by Resource object, then by scope object, keeping first-seen order.
    const groups = new Map<Resource, Map<object, number[]>>();
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      let scopes = groups.get(r.resource);
      if (scopes === undefined) {
        scopes = new Map();
        groups.set(r.resource, scopes);
      }
      let list = scopes.get(r.instrumentationScope);
      if (list === undefined) {
        list = [];
        scopes.set(r.instrumentationScope, list);
      }
      list.push(i);
    }
    this.bodyLengths = new Array<number>(records.length);
    this.attributeBytes = new Array<Buffer | null>(records.length);
    this.recordSizes = new Array<number>(records.length);
    for (let i = 0; i < records.length; i++) this.recordSizes[i] = this.sizeRecord(records[i], i);

    // Size every ResourceLogs, then write.
    let total = 0;
    const resourceLogsSizes: number[] = [];
    const scopeLogsSizes: number[][] = [];
    for (const [resource, scopes] of groups) {
      let rl = fieldSize(this.resourceBytes(resource).length);
      const sizes: number[] = [];
      for (const [scope, indexes] of scopes) {
        let sl = fieldSize(this.scopeBytes(scope as ReadableLogRecord['instrumentationScope']).length);
        for (const i of indexes) sl += fieldSize(this.recordSizes[i]);
        sizes.push(sl);
        rl += fieldSize(sl);
      }
      scopeLogsSizes.push(sizes);
      resourceLogsSizes.push(rl);
      total += fieldSize(rl);
    }
    const w = new Writer(total);
    let g = 0;
    for (const [resource, scopes] of groups) {
      w.byte(TAG.requestResourceLogs);
      w.varint(resourceLogsSizes[g]);
      const resourceBytes = this.resourceBytes(resource);
      w.byte(TAG.resourceLogsResource);
      w.varint(resourceBytes.length);
      w.bytes(resourceBytes);
      let s = 0;
      for (const [scope, indexes] of scopes) {
        w.byte(TAG.resourceLogsScopeLogs);
        w.varint((scopeLogsSizes[g])[s]);
        const scopeBytes = this.scopeBytes(scope as ReadableLogRecord['instrumentationScope']);
        w.byte(TAG.scopeLogsScope);
        w.varint(scopeBytes.length);
        w.bytes(scopeBytes);
        for (const i of indexes) {
          w.byte(TAG.scopeLogsRecords);
          w.varint(this.recordSizes[i]);
          this.writeRecord(w, records[i], i);
        }
        s++;
      }
      g++;
    }
    this.bodyLengths = [];
    this.attributeBytes = [];
    this.recordSizes = [];
    return w.buf.subarray(0, w.pos);
  }

  private resourceBytes(resource: Resource): Buffer {
    let bytes = this.resources.get(resource);
    if (bytes === undefined) {
      bytes = encodeKeyValues(resource.attributes, TAG.resourceAttributes);
      this.resources.set(resource, bytes);
    }
    return bytes;
  }

  private scopeBytes(scope: ReadableLogRecord['instrumentationScope']): Buffer {
    let bytes = this.scopes.get(scope);
    if (bytes === undefined) {
      const name = scope.name;
      const version = scope.version ?? '';
      const nameBytes = Buffer.byteLength(name);
      const versionBytes = Buffer.byteLength(version);
      const w = new Writer(fieldSize(nameBytes) + (versionBytes > 0 ? fieldSize(versionBytes) : 0));
      w.stringField(TAG.scopeName, name, nameBytes);
      if (versionBytes > 0) w.stringField(TAG.scopeVersion, version, versionBytes);
      bytes = w.buf.subarray(0, w.pos);
      this.scopes.set(scope, bytes);
    }
    return bytes;
  }

  /** The record's attributes as bytes; frozen (shared) attribute objects are encoded once. */
  private attributes(record: ReadableLogRecord): Buffer | null {
    const attrs = record.attributes;
    const shared = Object.isFrozen(attrs);
    if (shared) {
      const cached = this.sharedAttributes.get(attrs);
      if (cached !== undefined) return cached;
    }
    let any = false;
    for (const key in attrs) {
      if (attrs[key] !== undefined) {
        any = true;
        break;
      }
    }
    if (!any) return null;
    const bytes = encodeKeyValues(attrs, TAG.recordAttributes);
    if (shared) this.sharedAttributes.set(attrs, bytes);
    return bytes;
  }

  private sizeRecord(r: ReadableLogRecord, i: number): number {
    let size = 9 + 9; // time, observed time
    if (r.severityNumber !== undefined && (r.severityNumber as number) !== 0) size += 1 + varintSize(r.severityNumber);
    if (r.severityText !== undefined && r.severityText !== '') size += fieldSize(Buffer.byteLength(r.severityText));
    const body = r.body;
    if (typeof body === 'string') {
      const n = Buffer.byteLength(body);
      this.bodyLengths[i] = n;
      size += fieldSize(fieldSize(n));
    } else if (body !== undefined && body !== null) {
      const n = anyValueSize(body);
      this.bodyLengths[i] = n;
      size += fieldSize(n);
    } else {
      this.bodyLengths[i] = -1;
    }
    const attributes = this.attributes(r);
    this.attributeBytes[i] = attributes;
    if (attributes !== null) size += attributes.length;
    if (r.droppedAttributesCount > 0) size += 1 + varintSize(r.droppedAttributesCount);
    const span = r.spanContext;
    if (span !== undefined) {
      if (idBytes(span.traceId, 16) !== null) size += 2 + 16;
      if (idBytes(span.spanId, 8) !== null) size += 2 + 8;
      size += 5; // flags
    }
    if (r.eventName !== undefined && r.eventName !== '') size += fieldSize(Buffer.byteLength(r.eventName));
    return size;
  }

  private writeRecord(w: Writer, r: ReadableLogRecord, i: number): void {
    w.byte(TAG.recordTime);
    w.hrTime(r.hrTime, this.recordSeconds);
    if (r.severityNumber !== undefined && (r.severityNumber as number) !== 0) {
      w.byte(TAG.recordSeverityNumber);
      w.varint(r.severityNumber);
    }
    if (r.severityText !== undefined && r.severityText !== '') w.stringField(TAG.recordSeverityText, r.severityText);
    const bodyLength = this.bodyLengths[i];
    const body = r.body;
    if (typeof body === 'string') {
      w.byte(TAG.recordBody);
      w.varint(fieldSize(bodyLength));
      w.stringField(TAG.anyString, body, bodyLength);
    } else if (bodyLength >= 0 && body !== undefined) {
      w.byte(TAG.recordBody);
      w.varint(bodyLength);
      writeAnyValue(w, body);
    }
    const attributes = this.attributeBytes[i];
    if (attributes !== null && attributes !== undefined) w.bytes(attributes);
    if (r.droppedAttributesCount > 0) {
      w.byte(TAG.recordDropped);
      w.varint(r.droppedAttributesCount);
    }
    const span = r.spanContext;
    if (span !== undefined) {
      w.byte(TAG.recordFlags);
      w.fixed32(span.traceFlags);
      const trace = idBytes(span.traceId, 16);
      if (trace !== null) {
        w.byte(TAG.recordTraceId);
        w.byte(16);
        w.bytes(trace);
      }
      const spanId = idBytes(span.spanId, 8);
      if (spanId !== null) {
        w.byte(TAG.recordSpanId);
        w.byte(8);
        w.bytes(spanId);
      }
    }
    w.byte(TAG.recordObservedTime);
    w.hrTime(r.hrTimeObserved, this.observedSeconds);
    if (r.eventName !== undefined && r.eventName !== '') w.stringField(TAG.recordEventName, r.eventName);
  }
}

/** ExportLogsServiceResponse: partial_success { rejected_log_records, error_message }. */
export function decodeLogsResponse(data: Uint8Array): { partialSuccess?: { rejectedLogRecords?: number; errorMessage?: string } } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = buf[pos++];
      if (b === undefined) throw new RangeError('truncated varint');
      result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result;
      shift += 7;
    }
  };
  const skip = (wire: number): void => {
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 2) pos += varint();
    else if (wire === 5) pos += 4;
    else throw new RangeError(`unknown wire type ${wire}`);
  };
  let partial: { rejectedLogRecords?: number; errorMessage?: string } | undefined;
  while (pos < buf.length) {
    const tag = varint();
    if (tag !== 0x0a) {
      skip(tag & 7);
      continue;
    }
    const end = pos + varint();
    partial = {};
    while (pos < end) {
      const t = varint();
      if (t === 0x08) partial.rejectedLogRecords = varint();
      else if (t === 0x12) {
        const n = varint();
        partial.errorMessage = buf.toString('utf8', pos, pos + n);
        pos += n;
      } else skip(t & 7);
    }
  }
  return partial === undefined ? {} : { partialSuccess: partial };
}
