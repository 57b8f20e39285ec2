/**
 * The only module that talks to the Docker Engine API. Everything it returns is
 * plain data in our own shapes, and every failure is a ReceiverError whose code
 * says what kind of trouble it is.
 *
 * It speaks HTTP/1.1 itself (node:http over the unix socket or TCP, TLS for
 * tcp:// with certificates) for the six calls the receiver makes. dockerode was
 * used first; loading it costs about 30 MB of resident memory (it pulls in gRPC,
 * protobufjs, ssh2 and tar-fs for features we do not use), which alone broke the
 * receiver's idle memory budget, and its log streams are the raw responses anyway.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { ReceiverError, errorMessage } from '../errors.js';
import { RawHttpStatusError, openRawStream } from './raw-stream.js';
import type { RawStreamTarget } from './raw-stream.js';

export interface EngineTls {
  ca_file: string | null;
  cert_file: string | null;
  key_file: string | null;
  insecure_skip_verify: boolean;
}

export interface EngineOptions {
  /** unix:///path, tcp://host:port, http(s)://host:port */
  endpoint: string;
  tls?: EngineTls;
  apiVersion: string | null;
  /** Timeout for request/response calls (not for log and event streams). */
  timeoutMs: number;
}

export interface EngineInfo {
  /** The engine host's name: where the containers live. */
  name: string;
  serverVersion: string;
  apiVersion: string;
  /** The engine's clock when it answered, as Docker writes it. */
  systemTime: string;
  /** Where the engine keeps its data (containers' json-file logs are below it). */
  rootDir: string;
}

export interface ContainerSummary {
  id: string;
  name: string;
  state: string;
  /** Seconds since the epoch, engine clock. */
  created: number;
  /** HostConfig.NetworkMode; `container:<full id>` when it joins another container's network. */
  networkMode: string;
}

export interface ContainerDetails {
  id: string;
  /** Without the leading slash Docker puts there. */
  name: string;
  image: string;
  imageId: string;
  labels: Readonly<Record<string, string>>;
  tty: boolean;
  running: boolean;
  /** Being removed (State.Status "removing") or dead: its log file is going or gone. */
  removing: boolean;
  /** RFC 3339 with nanoseconds, as Docker reports them ("0001-01-01T00:00:00Z" when never). */
  startedAt: string;
  finishedAt: string;
  logDriver: string;
  logPath: string;
}

export interface LogStreamRequest {
  /** False for a container known to have stopped: read what is there and end (a follow can hang there). */
  follow: boolean;
  /** "seconds.nanoseconds"; inclusive. */
  since?: string;
  /** Number of lines from the end, or 'all'. */
  tail: number | 'all';
  signal: AbortSignal;
}

export interface EngineEvent {
  type: string;
  action: string;
  id: string;
  attributes: Readonly<Record<string, string>>;
  /** Nanoseconds since the epoch, as Docker reports in timeNano. */
  timeNano: bigint;
}

/** What a failed call carries: an HTTP status with Docker's message, or a Node error code. */
interface CallFailure {
  statusCode?: number;
  code?: string;
  message?: string;
}

const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'EACCES',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
  'ABORT_ERR',
]);

/** Turns HTTP and Node failures into our errors; `what` names the call for the message. */
export function engineError(err: unknown, what: string, endpoint: string): ReceiverError {
  if (err instanceof ReceiverError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as CallFailure;
  const status = e.statusCode;
  const detail = e.message?.trim() || errorMessage(err);
  if (status === 404) {
    return new ReceiverError('CONTAINER_NOT_FOUND', `${what}: not found (${detail})`, { cause: err });
  }
  if (status === 409) {
    return new ReceiverError('CONTAINER_CONFLICT', `${what}: conflict (${detail})`, { cause: err });
  }
  if (status === 501) {
    return new ReceiverError(
      'LOG_DRIVER_UNSUPPORTED',
      `${what}: the container's logging driver cannot be read through the API (${detail}); use the json-file, local or journald driver, or dual logging`,
      { cause: err },
    );
  }
  if (status !== undefined) {
    return new ReceiverError('ENGINE_API_ERROR', `${what}: the engine answered ${status} (${detail})`, {
      cause: err,
      transient: status >= 500,
    });
  }
  if (e.code !== undefined && CONNECTION_ERROR_CODES.has(e.code)) {
    return new ReceiverError(
      'ENGINE_UNREACHABLE',
      `${what}: cannot reach the Docker engine at ${endpoint} (${e.code}); is dockerd running and is the socket readable?`,
      { cause: err, transient: true },
    );
  }
  return new ReceiverError('ENGINE_API_ERROR', `${what}: ${detail}`, { cause: err, transient: true });
}

/** How to reach the engine: a unix socket, or host and port with or without TLS. */
export type EngineAddress = RawStreamTarget;

/**
 * tcp:// speaks TLS when certificates are configured (the docker CLI's
 * DOCKER_TLS_VERIFY convention), https:// always.
 */
export function engineAddress(endpoint: string, tls?: EngineTls): EngineAddress {
  if (endpoint.startsWith('unix://')) return { socketPath: endpoint.slice('unix://'.length), tls: false, rejectUnauthorized: true };
  const url = new URL(endpoint.replace(/^tcp:\/\//, 'http://'));
  const withTls = url.protocol === 'https:' || (tls !== undefined && (tls.ca_file !== null || tls.cert_file !== null || tls.insecure_skip_verify));
  const address: EngineAddress = {
    host: url.hostname,
    port: url.port === '' ? (withTls ? 2376 : 2375) : Number(url.port),
    tls: withTls,
    rejectUnauthorized: !(tls?.insecure_skip_verify ?? false),
  };
  if (withTls && tls !== undefined) {
    const read = (file: string | null, key: string): Buffer | undefined => {
      if (file === null) return undefined;
      try {
        return readFileSync(file);
      } catch (err) {
        throw new ReceiverError('CONFIG_INVALID', `tls.${key}: cannot read ${file}: ${errorMessage(err)}`, { cause: err });
      }
    };
    const ca = read(tls.ca_file, 'ca_file');
    const cert = read(tls.cert_file, 'cert_file');
    const key = read(tls.key_file, 'key_file');
    if (ca !== undefined) address.ca = ca;
    if (cert !== undefined) address.cert = cert;
    if (key !== undefined) address.key = key;
  }
  return address;
}

type Query = Record<string, string | number | boolean | undefined>;

/** How long a keep-alive socket of the short calls may stay idle. */
const IDLE_SOCKET_MS = 5000;

export class DockerEngine {
  readonly endpoint: string;
  private readonly address: EngineAddress;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  /** Keep-alive for the short calls; log and event streams get a socket of their own. */
  private readonly agent: HttpAgent;

  constructor(options: EngineOptions) {
    this.endpoint = options.endpoint;
    this.timeoutMs = options.timeoutMs;
    this.address = engineAddress(options.endpoint, options.tls);
    this.prefix = options.apiVersion === null ? '' : `/v${options.apiVersion}`;
    // Idle keep-alive sockets close after a few seconds: a burst of inspects (start-up, many
    // containers starting) must not leave sockets open for as long as the engine tolerates them.
    const pool = { keepAlive: true, maxSockets: 8, timeout: IDLE_SOCKET_MS };
    this.agent = this.address.tls ? new HttpsAgent(pool) : new HttpAgent(pool);
  }

  async info(signal?: AbortSignal): Promise<EngineInfo> {
    const info = await this.json('engine info', '/info', {}, signal);
    const version = await this.json('engine version', '/version', {}, signal);
    return {
      name: text(info['Name']),
      serverVersion: text(version['Version']),
      apiVersion: text(version['ApiVersion']),
      systemTime: text(info['SystemTime']),
      rootDir: text(info['DockerRootDir']),
    };
  }

  async listContainers(all: boolean, signal?: AbortSignal): Promise<ContainerSummary[]> {
    const list = await this.json('list containers', '/containers/json', { all }, signal);
    if (!Array.isArray(list)) throw new ReceiverError('ENGINE_API_ERROR', 'list containers: the engine did not answer with a list', { transient: true });
    return (list as Array<Record<string, unknown>>).map((c) => {
      const names = Array.isArray(c['Names']) ? (c['Names'] as unknown[]) : [];
      const hostConfig = record(c['HostConfig']);
      return {
        id: text(c['Id']),
        name: text(names[0]).replace(/^\//, ''),
        state: text(c['State']),
        created: typeof c['Created'] === 'number' ? c['Created'] : 0,
        networkMode: text(hostConfig['NetworkMode']),
      };
    });
  }

  async inspect(id: string, signal?: AbortSignal): Promise<ContainerDetails> {
    const c = await this.json(`inspect container ${id.slice(0, 12)}`, `/containers/${encodeURIComponent(id)}/json`, {}, signal);
    const config = record(c['Config']);
    const state = record(c['State']);
    const logConfig = record(record(c['HostConfig'])['LogConfig']);
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(record(config['Labels']))) if (typeof v === 'string') labels[k] = v;
    return {
      id: text(c['Id']),
      name: text(c['Name']).replace(/^\//, ''),
      image: text(config['Image']),
      imageId: text(c['Image']),
      labels,
      tty: config['Tty'] === true,
      running: state['Running'] === true,
      removing: state['Status'] === 'removing' || state['Dead'] === true,
      startedAt: text(state['StartedAt']),
      finishedAt: text(state['FinishedAt']),
      logDriver: text(logConfig['Type']),
      logPath: text(c['LogPath']),
    };
  }

  /**
   * Opens a follow stream of a container's logs with timestamps. The caller owns
   * the returned stream and must destroy it. Each 'data' chunk is lent: it is
   * valid only during its event (a view of the read buffer every log stream
   * shares), so frame it at once and copy what must be kept, as LogFramer does.
   */
  async openLogStream(id: string, request: LogStreamRequest): Promise<Readable> {
    const query: Query = { follow: request.follow, stdout: true, stderr: true, timestamps: true, tail: request.tail, since: request.since };
    const path = `${this.prefix}/containers/${encodeURIComponent(id)}/logs${queryString(query)}`;
    try {
      // Our own response reader: dockerd sends one HTTP chunk per log message (see raw-stream.ts).
      // The answer must begin within the call timeout; the stream itself may then be quiet for ever.
      return await openRawStream(this.address, path, request.signal, { headTimeoutMs: this.timeoutMs, borrowChunks: true });
    } catch (err) {
      const failure = err instanceof RawHttpStatusError ? Object.assign(new Error(dockerErrorMessage(err.message, err.statusCode)), { statusCode: err.statusCode }) : err;
      throw engineError(failure, `open log stream of ${id.slice(0, 12)}`, this.endpoint);
    }
  }

  /** Opens the events stream for container events. The caller owns and destroys it. */
  async openEventStream(signal: AbortSignal): Promise<IncomingMessage> {
    try {
      return await this.open('/events', { filters: JSON.stringify({ type: ['container'] }) }, signal);
    } catch (err) {
      throw engineError(err, 'open events stream', this.endpoint);
    }
  }

  /** Closes idle keep-alive sockets (at shutdown). */
  close(): void {
    this.agent.destroy();
  }

  /** A request/response call with a JSON answer, within the call timeout. */
  private async json(what: string, path: string, query: Query, outer?: AbortSignal): Promise<Record<string, unknown>> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = outer === undefined ? timeout : AbortSignal.any([outer, timeout]);
    try {
      const response = await this.send(path, query, signal, true);
      const body = await readBody(response, signal);
      return JSON.parse(body) as Record<string, unknown>;
    } catch (err) {
      if (timeout.aborted) {
        throw new ReceiverError('ENGINE_UNREACHABLE', `${what}: the Docker engine at ${this.endpoint} did not answer within ${this.timeoutMs} ms`, {
          cause: err,
          transient: true,
        });
      }
      throw engineError(err, what, this.endpoint);
    }
  }

  /** A streaming call: resolves with the response once its status is known to be 200. */
  private open(path: string, query: Query, signal: AbortSignal): Promise<IncomingMessage> {
    return this.send(path, query, signal, false);
  }

  private send(path: string, query: Query, signal: AbortSignal, pooled: boolean): Promise<IncomingMessage> {
    const a = this.address;
    const options: RequestOptions = {
      method: 'GET',
      path: `${this.prefix}${path}${queryString(query)}`,
      headers: { host: 'docker' },
      signal,
      // Streams live long: a pooled socket would count against the pool and be reused after we destroy it.
      agent: pooled ? this.agent : false,
    };
    if (a.socketPath !== undefined) options.socketPath = a.socketPath;
    else {
      options.host = a.host;
      options.port = a.port;
    }
    if (a.tls) Object.assign(options, { ca: a.ca, cert: a.cert, key: a.key, rejectUnauthorized: a.rejectUnauthorized });
    return new Promise((resolve, reject) => {
      const req = (a.tls ? httpsRequest : httpRequest)(options, (res) => {
        if (res.statusCode === 200) {
          resolve(res);
          return;
        }
        readBody(res, signal).then(
          (body) => reject(Object.assign(new Error(dockerErrorMessage(body, res.statusCode)), { statusCode: res.statusCode })),
          reject,
        );
      });
      req.once('error', reject);
      req.end();
    });
  }
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}

function queryString(query: Query): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) if (v !== undefined) parts.push(`${k}=${encodeURIComponent(typeof v === 'boolean' ? (v ? '1' : '0') : String(v))}`);
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

/** Docker answers errors with {"message": "..."}. */
function dockerErrorMessage(body: string, status: number | undefined): string {
  try {
    const parsed = JSON.parse(body) as unknown;
    const message = record(parsed)['message'];
    if (typeof message === 'string') return message;
  } catch {
    // not JSON: use the text
  }
  return body.trim() === '' ? `HTTP ${status ?? '?'}` : body.trim().slice(0, 500);
}

const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

function readBody(res: IncomingMessage, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onAbort = (): void => {
      res.destroy();
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ANSWER_BYTES) {
        res.destroy(new Error(`the engine's answer exceeded ${MAX_ANSWER_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.once('end', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    res.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
  });
}

/** Parses one line of the events stream; null for anything we do not use. */
export function parseEngineEvent(line: string): EngineEvent | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  const actor = (typeof r['Actor'] === 'object' && r['Actor'] !== null ? r['Actor'] : {}) as Record<string, unknown>;
  const type = typeof r['Type'] === 'string' ? r['Type'] : '';
  const action = typeof r['Action'] === 'string' ? r['Action'] : typeof r['status'] === 'string' ? r['status'] : '';
  const id = typeof actor['ID'] === 'string' ? actor['ID'] : typeof r['id'] === 'string' ? r['id'] : '';
  const attrsRaw = (typeof actor['Attributes'] === 'object' && actor['Attributes'] !== null ? actor['Attributes'] : {}) as Record<string, unknown>;
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrsRaw)) if (typeof v === 'string') attributes[k] = v;
  // timeNano exceeds 2^53: read its digits from the text, not from the parsed number.
  const nanos = /"timeNano"\s*:\s*(\d+)/.exec(line);
  const timeNano = nanos?.[1] !== undefined ? BigInt(nanos[1]) : 0n;
  if (id === '' || action === '') return null;
  return { type, action, id, attributes, timeNano };
}
