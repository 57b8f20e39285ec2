/**
 * The protobuf wire primitives our OTLP encoders share (logs in
 * otlp-proto-encoder.ts, the receiver's own metrics in
 * telemetry/otlp-proto-metrics.ts): a writer that is sized before it is
 * written, opentelemetry-proto's common messages (AnyValue, KeyValue,
 * InstrumentationScope) and the partial-success part of the export responses.
 */
import type { HrTime } from '@opentelemetry/api';
import type { AnyValue, AnyValueMap } from '@opentelemetry/api-logs';

/** Tags of common/v1 (field number << 3 | wire type: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32). */
const COMMON_TAG = {
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
  scopeName: 0x0a,
  scopeVersion: 0x12,
} as const;

export function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  return 5;
}

/** Bytes of a length-delimited field: tag + length + body. */
export function fieldSize(bodyLength: number): number {
  return 1 + varintSize(bodyLength) + bodyLength;
}

/** Buffer.prototype.utf8Write / latin1Write: what buf.write(…, 'utf8' | 'latin1') call after normalising their arguments (not declared by @types/node). */
interface DirectEncoder {
  utf8Write(text: string, offset: number, length: number): number;
  latin1Write(text: string, offset: number, length: number): number;
}

/**
 * A byte writer over a buffer of the exact size. The encoder sizes each message
 * before writing it, so lengths are written once, in front, with no copying back.
 */
export class Writer {
  buf: Buffer;
  pos = 0;

  /** A new buffer of `size` bytes, or `size` bytes of `into` from `at` (the caller checked they exist). */
  constructor(size: number, into?: Buffer, at = 0) {
    this.buf = into ?? Buffer.allocUnsafe(size);
    this.pos = at;
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

  /**
   * `length` is the UTF-8 size. When it equals the string's length every character is ASCII,
   * and latin1Write (a plain copy) gives the same bytes about 40 ns sooner than utf8Write
   * (measured on 100-character lines), which matters once per record body.
   */
  utf8(text: string, length: number): void {
    const b = this.buf as unknown as DirectEncoder;
    this.pos += length === text.length ? b.latin1Write(text, this.pos, length) : b.utf8Write(text, this.pos, length);
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

  /** A fixed64 from its two 32-bit halves, little-endian. */
  fixed64(lo: number, hi: number): void {
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
export interface SecondsCache {
  seconds: number;
  lo: number;
  hi: number;
}

export function secondsCache(): SecondsCache {
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

export function anyValueSize(value: AnyValue): number {
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

/** Bytes of Writer.int64(n): exact for every integer (a non-negative one below 2^53 is a plain varint). */
export function int64Size(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

export function writeAnyValue(w: Writer, value: AnyValue): void {
  switch (typeof value) {
    case 'string':
      w.stringField(COMMON_TAG.anyString, value);
      return;
    case 'boolean':
      w.byte(COMMON_TAG.anyBool);
      w.byte(value ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63) {
        w.byte(COMMON_TAG.anyInt);
        w.int64(value);
      } else {
        w.byte(COMMON_TAG.anyDouble);
        w.double(value);
      }
      return;
    default:
      break;
  }
  if (value === null || value === undefined) return;
  if (value instanceof Uint8Array) {
    w.byte(COMMON_TAG.anyBytes);
    w.varint(value.length);
    w.bytes(value);
    return;
  }
  if (Array.isArray(value)) {
    let inner = 0;
    for (const v of value) inner += fieldSize(anyValueSize(v));
    w.byte(COMMON_TAG.anyArray);
    w.varint(inner);
    for (const v of value) {
      w.byte(COMMON_TAG.listValues);
      w.varint(anyValueSize(v));
      writeAnyValue(w, v);
    }
    return;
  }
  const map = value;
  w.byte(COMMON_TAG.anyKvlist);
  w.varint(keyValuesSize(map));
  writeKeyValues(w, map, COMMON_TAG.listValues);
}

function keyValueSize(key: string, value: AnyValue): number {
  const valueSize = anyValueSize(value);
  return fieldSize(Buffer.byteLength(key)) + fieldSize(valueSize);
}

/** The bytes of the KeyValue fields of a map (each with its own tag). */
export function keyValuesSize(map: AnyValueMap): number {
  let size = 0;
  for (const key of Object.keys(map)) {
    const v = map[key];
    if (v === undefined) continue;
    size += fieldSize(keyValueSize(key, v));
  }
  return size;
}

export function writeKeyValues(w: Writer, map: AnyValueMap, tag: number): void {
  for (const key of Object.keys(map)) {
    const v = map[key];
    if (v === undefined) continue;
    const keyBytes = Buffer.byteLength(key);
    const valueSize = anyValueSize(v);
    w.byte(tag);
    w.varint(fieldSize(keyBytes) + fieldSize(valueSize));
    w.stringField(COMMON_TAG.keyValueKey, key, keyBytes);
    w.byte(COMMON_TAG.keyValueValue);
    w.varint(valueSize);
    writeAnyValue(w, v);
  }
}

export function encodeKeyValues(map: AnyValueMap, tag: number): Buffer {
  const w = new Writer(keyValuesSize(map));
  writeKeyValues(w, map, tag);
  return w.buf.subarray(0, w.pos);
}

/** InstrumentationScope { name = 1; version = 2; } */
export function encodeScope(scope: { readonly name: string; readonly version?: string }): Buffer {
  const name = scope.name;
  const version = scope.version ?? '';
  const nameBytes = Buffer.byteLength(name);
  const versionBytes = Buffer.byteLength(version);
  const w = new Writer(fieldSize(nameBytes) + (versionBytes > 0 ? fieldSize(versionBytes) : 0));
  w.stringField(COMMON_TAG.scopeName, name, nameBytes);
  if (versionBytes > 0) w.stringField(COMMON_TAG.scopeVersion, version, versionBytes);
  return w.buf.subarray(0, w.pos);
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

/** partial_success as the SDK's response handler logs it; `Rejected` names field 1 (rejectedLogRecords, rejectedDataPoints). */
export type ExportResponse<Rejected extends string> = { partialSuccess?: { [K in Rejected]?: number } & { errorMessage?: string } };

/** Export*ServiceResponse: partial_success = 1 { int64 rejected_… = 1; string error_message = 2; } */
export function decodeExportResponse<Rejected extends string>(data: Uint8Array, rejectedName: Rejected): ExportResponse<Rejected> {
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
  let partial: Record<string, number | string> | undefined;
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
      if (t === 0x08) partial[rejectedName] = varint();
      else if (t === 0x12) {
        const n = varint();
        partial.errorMessage = buf.toString('utf8', pos, pos + n);
        pos += n;
      } else skip(t & 7);
    }
  }
  return (partial === undefined ? {} : { partialSuccess: partial }) as ExportResponse<Rejected>;
}
