/**
 * The benchmark's OTLP/HTTP sink (127.0.0.1, ephemeral port). Unlike
 * test/helpers/otlp-sink.ts it does not build records: cheap walks over each
 * request (protobuf by flat loops over its bytes, or JSON.parse) count records per
 * container (the resource's container.name, known before the container is created,
 * so none of its records can come first), check each tracked container's sequence
 * numbers (the leading digits of the body: every number 1..expected exactly once),
 * and put the latency of every tracked record (arrival of its request minus Docker's
 * timestamp, the record's timeUnixNano) into a 1 ms histogram. Records of containers
 * that are not tracked (other users of the shared engine) are counted as foreign.
 *
 * A protobuf request is walked twice. On arrival, only down to its records: the
 * framing is checked (a malformed request gets 400) and records are counted, which
 * is what tells a case that everything has arrived. The walk into every record
 * (sequence number, timestamp, latency from the arrival time kept with the request)
 * is left until something asks for its results (settle): in a backlog drain that is
 * after the clock stopped, so the sink's work inside the timed window, on the two
 * cores the receiver and dockerd share with it, is counting. When every line
 * arrived exactly once, the counts reach `expected` exactly when the last sequence
 * number arrives; otherwise the case fails on the settled figures either way. The
 * price is memory: the requests are kept until then (about 150 MB for the backlog's
 * million lines, in the sink's own process).
 *
 * The benchmark runs it as a process of its own (serveAsChild below, started by
 * bench-children.ts), so that its CPU is measured apart from the harness's and
 * its collections scan a small heap: in the harness (tsx, TypeScript, dockerode
 * loaded) it spent about 1 µs per record, a third of it in the garbage collector.
 * Tests use it in process.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

const LEN = 2;
const I64 = 1;
/** Latency histogram: 1 ms buckets up to 10 minutes; later arrivals go to the last bucket. */
const HISTOGRAM_MS = 600_000;
const MAX_BODY_BYTES = 256 * 1024 * 1024;

export interface TrackedCount {
  id: string;
  expected: number;
  /** Records received (duplicates included). */
  count: number;
  /** Sequence numbers received more than once. */
  duplicates: number;
  /** Records whose body did not start with a number in 1..expected. */
  outOfRange: number;
}

interface Tracked extends TrackedCount {
  seen: Uint8Array;
  distinct: number;
  minTimestampMs: number;
  maxTimestampMs: number;
}

interface Waiter {
  check: () => boolean;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  what: string;
}

export interface LatencySummary {
  records: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Records whose Docker timestamp was later than their arrival (clock skew); counted as 0 ms. */
  negative: number;
}

export interface SinkReport {
  counts: TrackedCount[];
  latency: LatencySummary;
  writtenLinesPerSecond: number;
  trackedRecords: number;
  foreignRecords: number;
  distinct: number;
  requests: number;
  rejected: number;
  /** The last three. */
  errors: string[];
}

export class BenchSink {
  readonly url: string;
  requests = 0;
  rejected = 0;
  bytes = 0;
  /** Records of tracked containers (duplicates included). */
  trackedRecords = 0;
  /** Records of containers that are not tracked, by container.name (or '?' without one). */
  readonly foreign = new Map<string, number>();
  foreignRecords = 0;
  readonly errors: string[] = [];
  /** Smallest and largest Docker timestamp (ms) of tracked records (settled). */
  private minMs = Infinity;
  private maxMs = -Infinity;

  /** Called after every request (the child process reports its counts with it). */
  onProgress: (() => void) | null = null;

  private readonly tracked = new Map<string, Tracked>();
  private histogram = new Uint32Array(HISTOGRAM_MS + 1);
  private latencyCount = 0;
  private negativeLatency = 0;
  /** Protobuf requests holding tracked records, counted but not yet walked into (see settle). */
  private unsettled: Array<{ body: Buffer; arrivalMs: number }> = [];
  private readonly sockets = new Set<Socket>();
  private readonly waiters = new Set<Waiter>();
  private stopped = false;

  private constructor(private readonly server: Server) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  static async start(): Promise<BenchSink> {
    const server = createServer();
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const sink = new BenchSink(server);
    server.on('connection', (socket: Socket) => {
      sink.sockets.add(socket);
      socket.once('close', () => sink.sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => sink.onRequest(req, res));
    return sink;
  }

  /** Starts counting the records of the container named `id`, expecting sequence numbers 1..expected. */
  track(id: string, expected: number): void {
    this.tracked.set(id, { id, expected, count: 0, duplicates: 0, outOfRange: 0, distinct: 0, seen: new Uint8Array(expected + 1), minTimestampMs: Infinity, maxTimestampMs: -Infinity });
  }

  /** Forgets every tracked container, the foreign and rejected counts and the latency histogram (between cases). */
  reset(): void {
    this.tracked.clear();
    this.foreign.clear();
    this.foreignRecords = 0;
    this.trackedRecords = 0;
    this.rejected = 0;
    this.histogram = new Uint32Array(HISTOGRAM_MS + 1);
    this.latencyCount = 0;
    this.negativeLatency = 0;
    this.unsettled = [];
    this.minMs = Infinity;
    this.maxMs = -Infinity;
    this.errors.length = 0;
  }

  counts(): TrackedCount[] {
    this.settle();
    return [...this.tracked.values()].map(({ id, expected, count, duplicates, outOfRange }) => ({ id, expected, count, duplicates, outOfRange }));
  }

  /** Distinct sequence numbers received, summed over tracked containers. */
  get distinct(): number {
    this.settle();
    let n = 0;
    for (const t of this.tracked.values()) n += t.distinct;
    return n;
  }

  /** The rate at which the tracked containers wrote, from Docker's timestamps: the sum of each one's (lines − 1) ÷ (last − first). */
  writtenLinesPerSecond(): number {
    this.settle();
    let rate = 0;
    for (const t of this.tracked.values()) {
      const span = (t.maxTimestampMs - t.minTimestampMs) / 1000;
      if (t.count > 1 && span > 0) rate += (t.count - 1) / span;
    }
    return rate;
  }

  get minTimestampMs(): number {
    this.settle();
    return this.minMs;
  }

  get maxTimestampMs(): number {
    this.settle();
    return this.maxMs;
  }

  /** Every tracked container has all of 1..expected (duplicates are judged separately). */
  complete(): boolean {
    this.settle();
    for (const t of this.tracked.values()) if (t.distinct < t.expected) return false;
    return true;
  }

  /**
   * Every tracked container has received as many records as it expects, duplicates
   * included: the cheap test a case waits on (see the file comment), equal to
   * complete() when every line arrived exactly once.
   */
  arrived(): boolean {
    for (const t of this.tracked.values()) if (t.count < t.expected) return false;
    return true;
  }

  latency(): LatencySummary {
    this.settle();
    const n = this.latencyCount;
    const at = (q: number): number => {
      if (n === 0) return NaN;
      const rank = Math.max(1, Math.ceil(q * n));
      let seen = 0;
      for (let i = 0; i < this.histogram.length; i++) {
        seen += this.histogram[i];
        if (seen >= rank) return i;
      }
      return HISTOGRAM_MS;
    };
    return { records: n, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: at(1), negative: this.negativeLatency };
  }

  waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        check,
        resolve,
        reject,
        what,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.summary()}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  summary(): string {
    const counts = this.counts()
      .map((c) => `${c.id.slice(0, 12)}:${c.count}/${c.expected}${c.duplicates > 0 ? ` dup=${c.duplicates}` : ''}`)
      .slice(0, 6)
      .join(' ');
    return `requests=${this.requests} rejected=${this.rejected} tracked=${this.trackedRecords} distinct=${this.distinct} foreign=${this.foreignRecords} [${counts}]${this.errors.length > 0 ? ` errors=${JSON.stringify(this.errors.slice(-3))}` : ''}`;
  }

  /** Everything a bench case reads at its end. */
  report(): SinkReport {
    return {
      counts: this.counts(),
      latency: this.latency(),
      writtenLinesPerSecond: this.writtenLinesPerSecond(),
      trackedRecords: this.trackedRecords,
      foreignRecords: this.foreignRecords,
      distinct: this.distinct,
      requests: this.requests,
      rejected: this.rejected,
      errors: this.errors.slice(-3),
    };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    for (const w of [...this.waiters]) {
      clearTimeout(w.timer);
      w.reject(new Error(`sink stopped while waiting for ${w.what}`));
    }
    this.waiters.clear();
    await closed;
  }

  // ---------------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      const arrivalMs = Date.now();
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      this.requests++;
      this.bytes += body.length;
      const path = (req.url ?? '').split('?')[0];
      const mime = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
      const encoding = String(req.headers['content-encoding'] ?? '').trim().toLowerCase();
      const json = mime === 'application/json';
      if (req.method !== 'POST' || (encoding !== '' && encoding !== 'identity') || (!json && mime !== 'application/x-protobuf' && mime !== 'application/protobuf')) {
        this.fail(res, 415, `unsupported request ${req.method ?? '?'} ${path} ${mime} ${encoding}`);
        return;
      }
      if (path === '/v1/logs') {
        try {
          if (json) this.walkJson(body.toString('utf8'), arrivalMs);
          else this.countProto(body, arrivalMs);
        } catch (err) {
          this.fail(res, 400, `cannot decode logs: ${err instanceof Error ? err.message : String(err)}`);
          return;
        }
      }
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
      this.notify();
    });
  }

  private fail(res: ServerResponse, status: number, message: string): void {
    this.rejected++;
    this.errors.push(message);
    res.writeHead(status, { 'content-type': 'text/plain' }).end(message);
    this.notify();
  }

  private notify(): void {
    this.onProgress?.();
    for (const w of [...this.waiters]) {
      if (!w.check()) continue;
      this.waiters.delete(w);
      clearTimeout(w.timer);
      w.resolve();
    }
  }

  /** `n` records of container `id` (a tracked one or not) arrived. */
  private arrive(t: Tracked | undefined, id: string, n: number): void {
    if (t === undefined) {
      this.foreignRecords += n;
      this.foreign.set(id, (this.foreign.get(id) ?? 0) + n);
      return;
    }
    t.count += n;
    this.trackedRecords += n;
  }

  /** One record of tracked container `t`: its sequence number, timestamp and latency. */
  private check(t: Tracked, timestampMs: number, seq: number, arrivalMs: number): void {
    if (seq >= 1 && seq <= t.expected) {
      if (t.seen[seq] === 0) {
        t.seen[seq] = 1;
        t.distinct++;
      } else {
        t.duplicates++;
      }
    } else {
      t.outOfRange++;
    }
    if (timestampMs < this.minMs) this.minMs = timestampMs;
    if (timestampMs > this.maxMs) this.maxMs = timestampMs;
    if (timestampMs < t.minTimestampMs) t.minTimestampMs = timestampMs;
    if (timestampMs > t.maxTimestampMs) t.maxTimestampMs = timestampMs;
    let latency = Math.round(arrivalMs - timestampMs);
    if (latency < 0) {
      this.negativeLatency++;
      latency = 0;
    }
    this.histogram[Math.min(latency, HISTOGRAM_MS)]++;
    this.latencyCount++;
  }

  /** Walks into the records of every request counted but not yet checked. */
  private settle(): void {
    if (this.unsettled.length === 0) return;
    const unsettled = this.unsettled;
    this.unsettled = [];
    for (const { body, arrivalMs } of unsettled) {
      try {
        this.checkProto(body, arrivalMs);
      } catch (err) {
        // Answered 200 on arrival, but the case must fail: counted as rejected.
        this.rejected++;
        this.errors.push(`a record of an accepted request cannot be decoded: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  /**
   * ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1 }
   * ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2 }
   * ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2 }
   * On arrival: the framing down to the records is checked and records are counted
   * per container; a request with tracked records is kept for settle. Flat loops
   * over the bytes (no reader object or tuple per message): the sink shares the
   * receiver's two cores, so what it allocates is kept to nothing.
   */
  private countProto(buf: Buffer, arrivalMs: number): void {
    let tracked = false;
    forEachLen(buf, 0, buf.length, 1, (s, e) => {
      // The resource first (whatever its position), then the scopes' records.
      const id = resourceContainerName(buf, s, e);
      const t = this.tracked.get(id);
      recordCount = 0;
      forEachLen(buf, s, e, 2, (ss, se) => forEachLen(buf, ss, se, 2, countRecord));
      this.arrive(t, id, recordCount);
      if (t !== undefined && recordCount > 0) tracked = true;
    });
    if (tracked) this.unsettled.push({ body: buf, arrivalMs });
  }

  /** The second walk of a counted request: every tracked record's sequence number, timestamp and latency. */
  private checkProto(buf: Buffer, arrivalMs: number): void {
    forEachLen(buf, 0, buf.length, 1, (s, e) => {
      const t = this.tracked.get(resourceContainerName(buf, s, e));
      if (t === undefined) return;
      forEachLen(buf, s, e, 2, (ss, se) =>
        forEachLen(buf, ss, se, 2, (rs, re) => {
          readRecord(buf, rs, re);
          this.check(t, recordTimestampMs, recordSeq, arrivalMs);
        }),
      );
    });
  }

  private walkJson(text: string, arrivalMs: number): void {
    const root = JSON.parse(text) as JsonRequest;
    for (const rl of root.resourceLogs ?? []) {
      let id = '?';
      for (const kv of rl.resource?.attributes ?? []) if (kv.key === 'container.name' && typeof kv.value?.stringValue === 'string') id = kv.value.stringValue;
      const t = this.tracked.get(id);
      for (const sl of rl.scopeLogs ?? []) {
        const logRecords = sl.logRecords ?? [];
        this.arrive(t, id, logRecords.length);
        if (t === undefined) continue;
        for (const r of logRecords) {
          const body = r.body?.stringValue ?? '';
          const m = /^\d+/.exec(body);
          this.check(t, nanosToMs(r.timeUnixNano), m === null ? 0 : Number(m[0]), arrivalMs);
        }
      }
    }
  }
}

interface JsonRequest {
  resourceLogs?: Array<{
    resource?: { attributes?: Array<{ key: string; value?: { stringValue?: string } }> };
    scopeLogs?: Array<{ logRecords?: Array<{ timeUnixNano?: string | number; body?: { stringValue?: string } }> }>;
  }>;
}

function nanosToMs(v: string | number | undefined): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v / 1e6;
  if (v.length <= 6) return Number(v) / 1e6;
  return Number(v.slice(0, -6)) + Number(v.slice(-6)) / 1e6;
}

const CONTAINER_KEY = Buffer.from('container.name');

/** readContainerName's result: the last container.name attribute of the resource read. */
let containerName = '?';

/** The container.name of ResourceLogs buf[start, end) ('?' without one). */
function resourceContainerName(buf: Buffer, start: number, end: number): string {
  containerName = '?';
  forEachLen(buf, start, end, 1, (rs, re) => readContainerName(buf, rs, re));
  return containerName;
}

/** countRecord's count (a module variable: one function for every request, no closure). */
let recordCount = 0;
function countRecord(): void {
  recordCount++;
}

/**
 * Resource { repeated KeyValue attributes = 1 }; KeyValue { string key = 1; AnyValue value = 2 };
 * AnyValue { string string_value = 1 }: for one Resource message, sets containerName
 * to its container.name attribute's string value (left as it is without one).
 */
function readContainerName(buf: Buffer, start: number, end: number): void {
  forEachLen(buf, start, end, 1, (ks, ke) => {
    let isName = false;
    let pos = ks;
    while (pos < ke) {
      const tag = varint(buf, pos, ke);
      pos = varintEnd;
      if ((tag & 7) !== LEN) {
        pos = skipValue(buf, pos, ke, tag);
        continue;
      }
      const n = varint(buf, pos, ke);
      pos = varintEnd;
      if (pos + n > ke) throw new Error(`truncated field at offset ${pos}`);
      if (tag >>> 3 === 1) isName = n === CONTAINER_KEY.length && buf.compare(CONTAINER_KEY, 0, n, pos, pos + n) === 0;
      else if (tag >>> 3 === 2 && isName) forEachLen(buf, pos, pos + n, 1, (vs, ve) => (containerName = buf.toString('utf8', vs, ve)));
      pos += n;
    }
  });
}

/** Calls fn(start, end) for every length-delimited field `field` of the message buf[start, end); skips the others. */
function forEachLen(buf: Buffer, start: number, end: number, field: number, fn: (s: number, e: number) => void): void {
  const wanted = (field << 3) | LEN;
  let pos = start;
  while (pos < end) {
    const tag = varint(buf, pos, end);
    pos = varintEnd;
    if (tag !== wanted) {
      pos = skipValue(buf, pos, end, tag);
      continue;
    }
    const n = varint(buf, pos, end);
    pos = varintEnd;
    if (pos + n > end) throw new Error(`truncated field ${field} at offset ${pos}`);
    fn(pos, pos + n);
    pos += n;
  }
  if (pos !== end) throw new Error(`field overruns its message (${pos} > ${end})`);
}

/** The position after the value of a field with this tag at buf[pos]. */
function skipValue(buf: Buffer, pos: number, end: number, tag: number): number {
  if (tag >>> 3 === 0) throw new Error(`invalid field number 0 at offset ${pos}`);
  switch (tag & 7) {
    case 0:
      for (let i = 0; i < 10; i++) {
        if (pos >= end) break;
        if (buf[pos++] < 0x80) return pos;
      }
      throw new Error(`bad varint at offset ${pos}`);
    case I64:
      return pos + 8;
    case 5:
      return pos + 4;
    case LEN: {
      const n = varint(buf, pos, end);
      if (varintEnd + n > end) throw new Error(`truncated field ${tag >>> 3} at offset ${varintEnd}`);
      return varintEnd + n;
    }
    default:
      throw new Error(`unsupported wire type ${tag & 7} at offset ${pos}`);
  }
}

// readRecord's results (module variables: no object per record).
let recordTimestampMs = 0;
let recordSeq = 0;

/** A varint at buf[pos] (lengths and tags: below 2^31); its end in varintEnd. */
let varintEnd = 0;
function varint(buf: Buffer, pos: number, end: number): number {
  let result = 0;
  let shift = 0;
  for (;;) {
    if (pos >= end || shift > 28) throw new Error(`bad varint at offset ${pos}`);
    const b = buf[pos++];
    result |= (b & 0x7f) << shift;
    if (b < 0x80) break;
    shift += 7;
  }
  varintEnd = pos;
  return result >>> 0;
}

/**
 * LogRecord { fixed64 time_unix_nano = 1; AnyValue body = 5 { string string_value = 1 } … }:
 * its time (ms) and the number at the start of its string body; other fields are skipped.
 */
function readRecord(buf: Buffer, pos: number, end: number): void {
  recordTimestampMs = 0;
  recordSeq = 0;
  while (pos < end) {
    const tag = varint(buf, pos, end);
    pos = varintEnd;
    if (tag === ((1 << 3) | I64)) {
      if (pos + 8 > end) throw new Error(`truncated time_unix_nano at offset ${pos}`);
      recordTimestampMs = buf.readUInt32LE(pos + 4) * 4294.967296 + buf.readUInt32LE(pos) / 1e6;
      pos += 8;
    } else if (tag === ((5 << 3) | LEN)) {
      const n = varint(buf, pos, end);
      pos = varintEnd;
      if (pos + n > end) throw new Error(`truncated body at offset ${pos}`);
      if (n > 0) {
        // AnyValue: a string_value (field 1) is the body; other kinds carry no sequence number.
        const t = varint(buf, pos, pos + n);
        if (t === ((1 << 3) | LEN)) {
          const len = varint(buf, varintEnd, pos + n);
          recordSeq = leadingNumber(buf, varintEnd, Math.min(varintEnd + len, pos + n));
        }
      }
      pos += n;
    } else {
      pos = skipValue(buf, pos, end, tag);
    }
  }
  if (pos !== end) throw new Error(`field overruns its record (${pos} > ${end})`);
}

/** The decimal number at the start of buf[start, end), or 0. */
function leadingNumber(buf: Buffer, start: number, end: number): number {
  let n = 0;
  let i = start;
  for (; i < end; i++) {
    const c = buf[i];
    if (c < 48 || c > 57) break;
    n = n * 10 + (c - 48);
  }
  return i === start ? 0 : n;
}

// ---------------------------------------------------------------------------
// The sink as a process of its own, spoken to over IPC (bench-children.ts).

export type SinkParentMessage =
  /** Forget every count, then track these containers: [container.name, lines expected]. */
  | { type: 'track'; caseId: number; entries: Array<[string, number]> }
  /** Answer 'waited' once every tracked container has received as many records as it expects (arrived()), or when timeoutMs has passed. */
  | { type: 'wait'; timeoutMs: number; what: string }
  | { type: 'report' }
  | { type: 'stop' };

export type SinkChildMessage =
  | { type: 'ready'; url: string }
  | { type: 'tracked' }
  /** The counts since the track message of caseId. */
  | { type: 'progress'; caseId: number; trackedRecords: number; foreignRecords: number }
  | { type: 'waited'; ok: boolean; message: string }
  | { type: 'report'; report: SinkReport }
  | { type: 'stopped' }
  | { type: 'error'; message: string };

async function serveAsChild(): Promise<void> {
  const send = (m: SinkChildMessage): void => {
    if (process.connected) process.send?.(m);
  };
  const sink = await BenchSink.start();
  let caseId = 0;
  sink.onProgress = () => send({ type: 'progress', caseId, trackedRecords: sink.trackedRecords, foreignRecords: sink.foreignRecords });
  process.on('message', (m: SinkParentMessage) => {
    if (m.type === 'track') {
      sink.reset();
      caseId = m.caseId;
      for (const [id, expected] of m.entries) sink.track(id, expected);
      send({ type: 'tracked' });
    } else if (m.type === 'wait') {
      sink.waitFor(() => sink.arrived(), m.timeoutMs, m.what).then(
        () => send({ type: 'waited', ok: true, message: '' }),
        (err: unknown) => send({ type: 'waited', ok: false, message: err instanceof Error ? err.message : String(err) }),
      );
    } else if (m.type === 'report') {
      send({ type: 'report', report: sink.report() });
    } else if (m.type === 'stop') {
      void sink.stop().then(() => {
        send({ type: 'stopped' });
        setTimeout(() => process.exit(0), 50);
      });
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', url: sink.url });
}

if (process.argv.includes('--bench-sink-child') && process.send !== undefined) {
  serveAsChild().catch((err: unknown) => {
    process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  });
}
