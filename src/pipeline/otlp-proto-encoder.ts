/**
 * An OTLP/protobuf encoder for our records, plugged into the OpenTelemetry
 * SDK's own OTLP/HTTP exporter (its transport, retries, headers, compression)
 * in place of the SDK's generic serializer.
 *
 * Why: encoding was a quarter of the receiver's CPU. The generic serializer
 * encodes each string twice (once to size it, once to write it) with a
 * JavaScript UTF-8 loop and re-encodes the container's Resource in every batch.
 * Here the Resource, the scope and the shared attribute objects are encoded once
 * and reused as bytes, and strings go through Node's native writers (a plain
 * latin1 copy for ASCII, the common case).
 *
 * The wire format is opentelemetry-proto's ExportLogsServiceRequest; a unit test
 * checks that the bytes decode to exactly what the SDK's serializer produces.
 */
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ExportResponse } from './otlp-proto-wire.js';
import { Writer, anyValueSize, decodeExportResponse, encodeKeyValues, encodeScope, fieldSize, secondsCache, varintSize, writeAnyValue } from './otlp-proto-wire.js';

/** Field tags: (field number << 3) | wire type (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32). */
const TAG = {
  requestResourceLogs: 0x0a,
  resourceLogsResource: 0x0a,
  resourceLogsScopeLogs: 0x12,
  resourceAttributes: 0x0a,
  resourceDropped: 0x10,
  scopeLogsScope: 0x0a,
  scopeLogsRecords: 0x12,
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
  /** AnyValue.string_value, for the usual string body written inline. */
  bodyString: 0x0a,
} as const;

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

const HEX = /^[0-9a-f]+$/i;

function idBytes(hex: string | undefined, length: number): Buffer | null {
  if (hex === undefined || hex.length !== length * 2 || !HEX.test(hex) || /^0+$/.test(hex)) return null;
  return Buffer.from(hex, 'hex');
}

type Scope = ReadableLogRecord['instrumentationScope'];

/** Bytes of each chunk runs are written into. */
const ARENA_CHUNK = 256 * 1024;
/**
 * Released chunks kept for reuse (4 MB at most); more are left to the garbage collector. Freeing
 * chunks and allocating new ones fragmented the allocator: with 4 kept, the files backlog drain
 * peaked at 108 to 123 MB of RSS; with 16, at 84.
 */
const ARENA_SPARE_CHUNKS = 16;

/** A buffer runs are written into, one after the other; reused once no run in it is held. */
interface ArenaChunk {
  readonly buf: Buffer;
  used: number;
  /** Runs written into it and not yet released. */
  holders: number;
}

/**
 * LogRecords of one Resource and scope, encoded: each one a ScopeLogs.log_records field (tag,
 * length, message), one after the other. The logs pipeline encodes records as they arrive and
 * queues only these bytes until they are exported. Why: a queue of records is thousands of
 * objects that survive the young generation, so every scavenge copied them (pauses of 2 to 9 ms
 * during which no log socket is read and dockerd's writes block), and encoding a whole batch at
 * export time kept the sockets unread for milliseconds more.
 */
export interface EncodedRun {
  readonly resource: Resource;
  readonly scope: Scope;
  /** Grows (with ends) only while no slice of the run was taken: see appendRuns. */
  bytes: Buffer;
  /** Where each record's field ends in `bytes` (a plain array: a typed array per handover costs a backing store and its tracking). */
  readonly ends: number[];
  /** Where `bytes` lives: release() gives it back for reuse. */
  readonly chunk: ArenaChunk;
}

/** Records [from, to) of a run. */
export interface EncodedSlice {
  readonly run: EncodedRun;
  readonly from: number;
  readonly to: number;
}

export class OtlpProtoLogsEncoder {
  /** Encoded bytes of things shared by many records, by object identity. */
  private readonly resources = new WeakMap<Resource, Buffer>();
  private readonly scopes = new WeakMap<object, Buffer>();
  private readonly sharedAttributes = new WeakMap<object, Buffer>();
  /** Per record of the run being encoded, filled by the sizing pass and read by the writing pass. */
  private bodyLengths: number[] = [];
  private attributeBytes: Array<Buffer | null> = [];
  private recordSizes: number[] = [];
  /**
   * Runs are written into chunks of ARENA_CHUNK bytes that are reused once every run in them
   * was released: a new buffer per handover was garbage outside the V8 heap until the next
   * collection, a few MB of resident memory more at 10 000 lines/s.
   */
  private chunk: ArenaChunk | null = null;
  private readonly spareChunks: ArenaChunk[] = [];
  /** The last second of each kind of time written (records of one batch mostly share them). */
  private readonly recordSeconds = secondsCache();
  private readonly observedSeconds = secondsCache();

  /** The ExportLogsServiceRequest of these records. */
  encode(records: readonly ReadableLogRecord[]): Uint8Array {
    const runs = this.encodeRuns(records);
    try {
      return this.assemble(runs.map((run) => ({ run, from: 0, to: run.ends.length })));
    } finally {
      this.release(runs);
    }
  }

  /** Encodes records; consecutive records of the same Resource and scope share a run. */
  encodeRuns(records: readonly ReadableLogRecord[]): EncodedRun[] {
    const runs: EncodedRun[] = [];
    let start = 0;
    try {
      for (let i = 1; i <= records.length; i++) {
        if (i < records.length && records[i].resource === records[start].resource && records[i].instrumentationScope === records[start].instrumentationScope) continue;
        runs.push(this.encodeRun(records, start, i));
        start = i;
      }
    } catch (err) {
      this.release(runs); // nobody will hold them
      throw err;
    }
    return runs;
  }

  private encodeRun(records: readonly ReadableLogRecord[], start: number, end: number): EncodedRun {
    const n = end - start;
    // The scratch arrays keep their size: shortening and regrowing them per run cost more than
    // encoding the few records a live stream hands over at a time.
    let total = 0;
    for (let k = 0; k < n; k++) {
      const size = this.sizeRecord(records[start + k], k);
      this.recordSizes[k] = size;
      total += fieldSize(size);
    }
    const chunk = this.chunkWithRoom(total);
    const at = chunk.used;
    const w = new Writer(total, chunk.buf, at);
    const ends = new Array<number>(n);
    for (let k = 0; k < n; k++) {
      w.byte(TAG.scopeLogsRecords);
      w.varint(this.recordSizes[k]);
      this.writeRecord(w, records[start + k], k);
      ends[k] = w.pos - at;
    }
    chunk.used = w.pos;
    chunk.holders++;
    for (let k = 0; k < n; k++) this.attributeBytes[k] = null;
    return { resource: records[start].resource, scope: records[start].instrumentationScope, bytes: chunk.buf.subarray(at, w.pos), ends, chunk };
  }

  /**
   * Appends `more` to `runs` (both the caller's, no slice of either taken yet). A run of `more`
   * that continues the last one of `runs` (same resource and scope, written right after it in the
   * same chunk) is joined to it, so a reader's records handed over one read at a time end up as one
   * run instead of thousands of small ones.
   */
  appendRuns(runs: EncodedRun[], more: readonly EncodedRun[]): void {
    for (const run of more) {
      const last = runs.length > 0 ? runs[runs.length - 1] : undefined;
      if (
        last !== undefined &&
        last.chunk === run.chunk &&
        last.resource === run.resource &&
        last.scope === run.scope &&
        last.bytes.byteOffset + last.bytes.length === run.bytes.byteOffset
      ) {
        const offset = last.bytes.length;
        for (const end of run.ends) last.ends.push(offset + end);
        const start = last.bytes.byteOffset - run.chunk.buf.byteOffset;
        last.bytes = run.chunk.buf.subarray(start, start + offset + run.bytes.length);
        run.chunk.holders--; // one run holds the chunk where two did
      } else {
        runs.push(run);
      }
    }
  }

  /** A chunk with `size` free bytes: the current one, a spare one, or a new one. */
  private chunkWithRoom(size: number): ArenaChunk {
    const current = this.chunk;
    if (current !== null && current.buf.length - current.used >= size) return current;
    if (current !== null && current.holders === 0) {
      current.used = 0;
      if (current.buf.length >= size) return current;
    }
    if (size > ARENA_CHUNK) return { buf: Buffer.allocUnsafeSlow(size), used: 0, holders: 0 }; // used once, never current
    const next = this.spareChunks.pop() ?? { buf: Buffer.allocUnsafeSlow(ARENA_CHUNK), used: 0, holders: 0 };
    next.used = 0;
    this.chunk = next;
    return next;
  }

  /**
   * The runs' bytes will not be read again (their records were acknowledged or given up on):
   * their chunks may be written over.
   */
  release(runs: readonly EncodedRun[]): void {
    for (const run of runs) {
      const chunk = run.chunk;
      chunk.holders--;
      if (chunk.holders === 0 && chunk !== this.chunk && chunk.buf.length === ARENA_CHUNK && this.spareChunks.length < ARENA_SPARE_CHUNKS) this.spareChunks.push(chunk);
    }
  }

  /**
   * The ExportLogsServiceRequest of these slices of encoded records, grouped by Resource, then by
   * scope (first-seen order), records in order: what encode() makes of the same records.
   */
  assemble(slices: readonly EncodedSlice[]): Uint8Array {
    const groups = new Map<Resource, Map<Scope, EncodedSlice[]>>();
    for (const slice of slices) {
      if (slice.to <= slice.from) continue;
      let scopes = groups.get(slice.run.resource);
      if (scopes === undefined) {
        scopes = new Map();
        groups.set(slice.run.resource, scopes);
      }
      let list = scopes.get(slice.run.scope);
      if (list === undefined) {
        list = [];
        scopes.set(slice.run.scope, list);
      }
      list.push(slice);
    }
    // Size every ResourceLogs, then write.
    let total = 0;
    const resourceLogsSizes: number[] = [];
    const scopeLogsSizes: number[][] = [];
    for (const [resource, scopes] of groups) {
      let rl = fieldSize(this.resourceBytes(resource).length);
      const sizes: number[] = [];
      for (const [scope, list] of scopes) {
        let sl = fieldSize(this.scopeBytes(scope).length);
        for (const slice of list) sl += sliceEnd(slice) - sliceStart(slice);
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
      for (const [scope, list] of scopes) {
        w.byte(TAG.resourceLogsScopeLogs);
        w.varint(scopeLogsSizes[g][s]);
        const scopeBytes = this.scopeBytes(scope);
        w.byte(TAG.scopeLogsScope);
        w.varint(scopeBytes.length);
        w.bytes(scopeBytes);
        for (const slice of list) w.bytes(slice.run.bytes.subarray(sliceStart(slice), sliceEnd(slice)));
        s++;
      }
      g++;
    }
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

  private scopeBytes(scope: Scope): Buffer {
    let bytes = this.scopes.get(scope);
    if (bytes === undefined) {
      bytes = encodeScope(scope);
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
      w.stringField(TAG.bodyString, body, bodyLength);
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

function sliceStart(slice: EncodedSlice): number {
  return slice.from === 0 ? 0 : slice.run.ends[slice.from - 1];
}

function sliceEnd(slice: EncodedSlice): number {
  return slice.run.ends[slice.to - 1];
}

/** ExportLogsServiceResponse: partial_success { rejected_log_records, error_message }. */
export function decodeLogsResponse(data: Uint8Array): ExportResponse<'rejectedLogRecords'> {
  return decodeExportResponse(data, 'rejectedLogRecords');
}

/**
 * What the SDK's exporter self-observability counts per request (log records): what
 * @opentelemetry/otlp-transformer's LogsExporterMetricsHelper is, written here so that the
 * package (its generated protobuf code) is not loaded.
 */
export const LOGS_EXPORTER_METRICS = { name: 'log', countItems: (request: EncodedLogs): number => request.records } as const;

/** A request already encoded, as the SDK's transport is handed it. */
export interface EncodedLogs {
  readonly bytes: Uint8Array;
  readonly records: number;
}
