// A real OTLP/HTTP server for tests and benchmarks (127.0.0.1, ephemeral port).
//
//   const sink = await OtlpSink.start();
//   ... point the exporter at `${sink.url}/v1/logs` ...
//   await sink.waitForLogCount(10, 5000);
//   await sink.stop();
//
// Accepts POST /v1/logs and /v1/metrics as application/x-protobuf or
// application/json, optionally Content-Encoding: gzip. Payloads are decoded
// by the hand-written decoder in otlp-proto.ts (not the SDK's). Answers 200
// with an empty Export*ServiceResponse in the request's content type, unless
// setBehaviour() says otherwise. Only requests that are answered 2xx are
// recorded in `logs` / `metrics` / `logCount`.
//
// Decoded values: int_value arrives as bigint (42n), double_value as number,
// bytes as Uint8Array, timestamps as bigint nanoseconds, trace/span ids as
// hex strings; see otlp-proto.ts.
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { promisify } from 'node:util';
import { gunzip as gunzipCb } from 'node:zlib';

import {
  countLogsJson,
  countLogsProto,
  decodeLogsRequestJson,
  decodeLogsRequestProto,
  decodeMetricsRequestJson,
  decodeMetricsRequestProto,
  encodeStatusProto,
} from './otlp-proto.js';
import type { AnyValue, SinkLogRecord, SinkMetric } from './otlp-proto.js';

export type { AnyValue, SinkLogRecord, SinkMetric, SinkMetricPoint } from './otlp-proto.js';

export type SinkBehaviour =
  | { kind: 'ok' }
  /** With `times`, only that many requests get the status; then the sink behaves as 'ok'. */
  | { kind: 'status'; status: number; retryAfterSeconds?: number; times?: number }
  | { kind: 'hang' }
  | { kind: 'close' }
  /** Records the request, then answers 200 with partial_success: `rejected` items refused, and why. */
  | { kind: 'partial'; rejected: number; message: string };

const gunzip = promisify(gunzipCb);
const MAX_BODY_BYTES = 64 * 1024 * 1024;
/** With countOnly (benchmarks, soaks), per-request info is kept for the first requests only. */
const COUNT_ONLY_MAX_REQUEST_INFO = 1000;

type Signal = 'logs' | 'metrics';
type Format = 'proto' | 'json';

interface Pending {
  signal: Signal;
  format: Format;
  body: Buffer; // already gunzipped
  res: ServerResponse;
}

interface Waiter {
  check: () => boolean;
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  what: string;
}

export class OtlpSink {
  readonly url: string;
  readonly logs: SinkLogRecord[] = [];
  readonly metrics: SinkMetric[] = [];
  logCount = 0;
  requests = 0;
  rejectedRequests = 0;
  bytesReceived = 0;
  /** Per request, in arrival order (with countOnly: the first 1000 requests only). */
  readonly contentTypes: string[] = [];
  readonly contentEncodings: string[] = [];
  readonly headers: Array<Record<string, string | string[] | undefined>> = [];
  /** Requests that could not be decoded (answered 400 / 415), with the reason. */
  readonly decodeErrors: string[] = [];

  private behaviour: SinkBehaviour = { kind: 'ok' };
  private readonly sockets = new Set<Socket>();
  private readonly hung: Pending[] = [];
  private readonly waiters = new Set<Waiter>();
  /** Requests are recorded in the order they started, even if their bodies finish out of order. */
  private tail: Promise<void> = Promise.resolve();
  private stopped = false;

  private constructor(
    private readonly server: Server,
    private readonly countOnly: boolean,
  ) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(options: { port?: number; countOnly?: boolean } = {}): Promise<OtlpSink> {
    const server = createServer();
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const sink = new OtlpSink(server, options.countOnly ?? false);
    server.on('connection', (socket: Socket) => {
      sink.sockets.add(socket);
      socket.once('close', () => sink.sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      sink.onRequest(req, res);
    });
    return sink;
  }

  /**
   * How to answer the next requests (both /v1/logs and /v1/metrics).
   * 'hang' leaves requests unanswered until the behaviour changes (then they
   * are answered per the new behaviour, if the client is still waiting) or
   * the sink stops; 'close' destroys the connection without an answer.
   */
  setBehaviour(b: SinkBehaviour): void {
    this.behaviour = b;
    if (b.kind === 'hang') return;
    const parked = this.hung.splice(0);
    if (parked.length === 0) return;
    // Answer them a little later, so that clients which gave up just before
    // (e.g. an exporter timeout) have been noticed and are skipped; those
    // stay counted as rejected and their records are not recorded.
    setTimeout(() => {
      for (const p of parked) {
        if (this.stopped || p.res.destroyed || p.res.writableEnded || p.res.socket?.destroyed !== false) continue;
        this.rejectedRequests--;
        this.respond(p);
      }
    }, 20);
  }

  /**
   * Resolves when predicate(logs) holds (checked now and on every accepted
   * request). Rejects after timeoutMs with a message naming `what` and
   * summarising what did arrive. (With countOnly, `logs` stays empty.)
   */
  waitForLogs(predicate: (logs: SinkLogRecord[]) => boolean, timeoutMs: number, what = 'matching logs'): Promise<void> {
    return this.waitFor(() => predicate(this.logs), timeoutMs, what);
  }

  waitForLogCount(n: number, timeoutMs: number): Promise<void> {
    return this.waitFor(() => this.logCount >= n, timeoutMs, `at least ${n} log record(s)`);
  }

  /** Resolves with the most recently received metric named `name`. */
  async waitForMetric(name: string, timeoutMs: number): Promise<SinkMetric> {
    const find = (): SinkMetric | undefined => {
      for (let i = this.metrics.length - 1; i >= 0; i--) if (this.metrics[i].name === name) return this.metrics[i];
      return undefined;
    };
    await this.waitFor(() => find() !== undefined, timeoutMs, `metric ${JSON.stringify(name)}`);
    const m = find();
    if (!m) throw new Error(`metric ${name} vanished`);
    return m;
  }

  /** Closes the server and every connection (including hung requests); pending waits reject. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.hung.length = 0;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      clearTimeout(w.timer);
      w.reject(new Error(`OtlpSink stopped while waiting for ${w.what}; ${this.summary()}`));
    }
    await closed;
  }

  /** A one-paragraph description of what arrived, for failure messages. */
  summary(): string {
    const parts = [
      `requests=${this.requests}`,
      `rejected=${this.rejectedRequests}`,
      `logCount=${this.logCount}`,
      `metrics=${this.metrics.length}`,
      `bytes=${this.bytesReceived}`,
    ];
    const types = [...new Set(this.contentTypes)];
    if (types.length > 0) parts.push(`contentTypes=${types.join(',')}`);
    if (this.decodeErrors.length > 0) parts.push(`decodeErrors=${JSON.stringify(this.decodeErrors.slice(-3))}`);
    let text = `received: ${parts.join(' ')}`;
    if (this.logs.length > 0) {
      const shown = this.logs.slice(-5).map((l) => describeRecord(l));
      text += `; last ${shown.length} of ${this.logs.length} log(s): ${shown.join(' | ')}`;
    }
    if (this.metrics.length > 0) {
      text += `; metric names: ${[...new Set(this.metrics.map((m) => m.name))].slice(0, 20).join(', ')}`;
    }
    return text;
  }

  // -------------------------------------------------------------------------

  private waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    if (this.stopped) return Promise.reject(new Error(`OtlpSink is stopped; waiting for ${what}; ${this.summary()}`));
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

  private notify(): void {
    for (const w of [...this.waiters]) {
      let done: boolean;
      try {
        done = w.check();
      } catch (err) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.reject(err instanceof Error ? err : new Error(String(err)));
        continue;
      }
      if (done) {
        this.waiters.delete(w);
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    this.handle(req, res, prev).then(release, (err: unknown) => {
      release();
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
      }
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse, prev: Promise<void>): Promise<void> {
    const path = (req.url ?? '').split('?')[0];
    const signal: Signal | undefined = path === '/v1/logs' ? 'logs' : path === '/v1/metrics' ? 'metrics' : undefined;
    const contentType = String(req.headers['content-type'] ?? '');
    const encoding = String(req.headers['content-encoding'] ?? '').trim().toLowerCase();

    this.requests++;
    if (!this.countOnly || this.headers.length < COUNT_ONLY_MAX_REQUEST_INFO) {
      this.contentTypes.push(contentType);
      this.contentEncodings.push(encoding);
      this.headers.push({ ...req.headers });
    }

    let raw: Buffer;
    try {
      raw = await readBody(req);
    } catch (err) {
      await prev;
      this.rejectedRequests++;
      if (!res.destroyed) res.destroy(err instanceof Error ? err : undefined);
      return;
    }
    this.bytesReceived += raw.length;

    const mime = contentType.split(';')[0].trim().toLowerCase();
    const format: Format | undefined =
      mime === 'application/x-protobuf' || mime === 'application/protobuf'
        ? 'proto'
        : mime === 'application/json'
          ? 'json'
          : undefined;

    const fail = async (status: number, message: string): Promise<void> => {
      await prev;
      this.rejectedRequests++;
      this.decodeErrors.push(`${req.method ?? '?'} ${path}: ${message}`);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(message);
      this.notify();
    };

    if (req.method !== 'POST') return fail(405, `method ${req.method ?? '?'} not allowed`);
    if (!signal) return fail(404, `unknown path ${path} (expected /v1/logs or /v1/metrics)`);
    if (!format) return fail(415, `unsupported content-type ${JSON.stringify(contentType)}`);

    let body: Buffer;
    if (encoding === 'gzip') {
      try {
        body = await gunzip(raw);
      } catch (err) {
        return fail(400, `gunzip failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    } else if (encoding === '' || encoding === 'identity') {
      body = raw;
    } else {
      return fail(415, `unsupported content-encoding ${JSON.stringify(encoding)}`);
    }

    await prev;
    this.respond({ signal, format, body, res });
  }

  /** Answers one fully read request according to the current behaviour. */
  private respond(p: Pending): void {
    const { res, format } = p;
    const b = this.behaviour;
    const ctype = format === 'proto' ? 'application/x-protobuf' : 'application/json';
    if (b.kind === 'hang') {
      this.rejectedRequests++;
      this.hung.push(p);
      return;
    }
    if (b.kind === 'close') {
      this.rejectedRequests++;
      res.socket?.destroy();
      res.destroy();
      return;
    }
    if (b.kind === 'status' && b.times !== undefined && --b.times <= 0) this.behaviour = { kind: 'ok' };
    if (b.kind === 'status' && (b.status < 200 || b.status >= 300)) {
      this.rejectedRequests++;
      const headers: Record<string, string> = { 'content-type': ctype };
      if (b.retryAfterSeconds !== undefined) headers['retry-after'] = String(b.retryAfterSeconds);
      const message = `OtlpSink answers ${b.status} (test behaviour)`;
      const grpcCode = b.status === 429 || b.status === 503 ? 14 : 2; // UNAVAILABLE / UNKNOWN
      const body =
        format === 'proto' ? encodeStatusProto(grpcCode, message) : JSON.stringify({ code: grpcCode, message });
      res.writeHead(b.status, headers).end(body);
      this.notify();
      return;
    }

    // ok (or a 2xx status): decode, record, answer an empty Export*ServiceResponse.
    try {
      if (p.signal === 'logs') {
        if (this.countOnly) {
          this.logCount += format === 'proto' ? countLogsProto(p.body) : countLogsJson(p.body.toString('utf8'));
        } else {
          const records = format === 'proto' ? decodeLogsRequestProto(p.body) : decodeLogsRequestJson(p.body.toString('utf8'));
          for (const r of records) this.logs.push(r);
          this.logCount += records.length;
        }
      } else {
        const metrics =
          format === 'proto' ? decodeMetricsRequestProto(p.body) : decodeMetricsRequestJson(p.body.toString('utf8'));
        for (const m of metrics) this.metrics.push(m);
      }
    } catch (err) {
      const message = `cannot decode ${format} ${p.signal} request: ${err instanceof Error ? err.message : String(err)}`;
      this.rejectedRequests++;
      this.decodeErrors.push(message);
      res.writeHead(400, { 'content-type': 'text/plain' }).end(message);
      this.notify();
      return;
    }
    const status = b.kind === 'status' ? b.status : 200;
    res.writeHead(status, { 'content-type': ctype }).end(b.kind === 'partial' ? partialSuccessBody(p.signal, format, b.rejected, b.message) : format === 'proto' ? '' : '{}');
    this.notify();
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`request body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.complete) reject(new Error('connection closed before the body was complete'));
    });
  });
}

function describeValue(v: AnyValue): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (typeof v === 'string') return JSON.stringify(v.length > 120 ? `${v.slice(0, 120)}…` : v);
  if (v === null || typeof v !== 'object') return String(v);
  const s = JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
  return s.length > 160 ? `${s.slice(0, 160)}…` : s;
}

function describeRecord(l: SinkLogRecord): string {
  const attrs = Object.entries(l.attributes)
    .slice(0, 8)
    .map(([k, v]) => `${k}=${describeValue(v)}`)
    .join(' ');
  return `body=${describeValue(l.body)} t=${l.timeUnixNano}${attrs ? ` ${attrs}` : ''}`;
}

/** Export*ServiceResponse { partial_success = 1 { rejected_… = 1; error_message = 2 } } in either encoding. */
function partialSuccessBody(signal: Signal, format: Format, rejected: number, message: string): string | Buffer {
  if (format === 'json') {
    return JSON.stringify({ partialSuccess: { [signal === 'logs' ? 'rejectedLogRecords' : 'rejectedDataPoints']: String(rejected), errorMessage: message } });
  }
  const text = Buffer.from(message);
  const varint = (n: number): number[] => {
    const out: number[] = [];
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    return out;
  };
  const inner = [0x08, ...varint(rejected), 0x12, ...varint(text.length), ...text];
  return Buffer.from([0x0a, ...varint(inner.length), ...inner]);
}
