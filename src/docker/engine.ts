/**
 * The only module that talks to the Docker Engine API (through dockerode).
 * Everything it returns is plain data in our own shapes, and every failure is a
 * ReceiverError whose code says what kind of trouble it is, so callers never
 * see dockerode's or Node's error shapes.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import Docker from 'dockerode';
import { ReceiverError, errorMessage } from '../errors.js';

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
  /** RFC 3339 with nanoseconds, as Docker reports them ("0001-01-01T00:00:00Z" when never). */
  startedAt: string;
  finishedAt: string;
  logDriver: string;
  logPath: string;
}

export interface LogStreamRequest {
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

interface DockerodeError {
  statusCode?: number;
  code?: string;
  message?: string;
  json?: unknown;
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

/** Turns dockerode/Node failures into our errors; `what` names the call for the message. */
export function engineError(err: unknown, what: string, endpoint: string): ReceiverError {
  if (err instanceof ReceiverError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as DockerodeError;
  const status = e.statusCode;
  const detail = dockerMessage(e) ?? errorMessage(err);
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

function dockerMessage(e: DockerodeError): string | undefined {
  const json = e.json;
  if (typeof json === 'object' && json !== null && 'message' in json) {
    const m = (json).message;
    if (typeof m === 'string') return m;
  }
  return e.message?.trim();
}

/**
 * tcp:// speaks TLS when certificates are configured (the docker CLI's
 * DOCKER_TLS_VERIFY convention), https:// always.
 */
export function dockerodeOptions(endpoint: string, apiVersion: string | null, tls?: EngineTls): Docker.DockerOptions {
  const options: Docker.DockerOptions = {};
  if (apiVersion !== null) options.version = `v${apiVersion}`;
  if (endpoint.startsWith('unix://')) {
    options.socketPath = endpoint.slice('unix://'.length);
    return options;
  }
  const url = new URL(endpoint.replace(/^tcp:\/\//, 'http://'));
  const withTls = tls !== undefined && (tls.ca_file !== null || tls.cert_file !== null || tls.insecure_skip_verify);
  options.protocol = url.protocol === 'https:' || withTls ? 'https' : 'http';
  options.host = url.hostname;
  options.port = url.port === '' ? (options.protocol === 'https' ? 2376 : 2375) : Number(url.port);
  if (tls !== undefined && options.protocol === 'https') {
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
    if (ca !== undefined) options.ca = ca;
    if (cert !== undefined) options.cert = cert;
    if (key !== undefined) options.key = key;
    if (tls.insecure_skip_verify) (options as Docker.DockerOptions & { checkServerIdentity?: () => undefined }).checkServerIdentity = () => undefined;
  }
  return options;
}

export class DockerEngine {
  readonly endpoint: string;
  private readonly docker: Docker;
  private readonly timeoutMs: number;

  constructor(options: EngineOptions) {
    this.endpoint = options.endpoint;
    this.timeoutMs = options.timeoutMs;
    this.docker = new Docker(dockerodeOptions(options.endpoint, options.apiVersion, options.tls));
  }

  async info(signal?: AbortSignal): Promise<EngineInfo> {
    // dockerode's typings omit the options argument of info() and version(), but both pass it through.
    type Call = (this: Docker, opts: { abortSignal: AbortSignal }) => Promise<Record<string, unknown>>;
    const info = await this.call<Record<string, unknown>>('engine info', (abortSignal) => (this.docker.info as unknown as Call).call(this.docker, { abortSignal }), signal);
    const version = await this.call<Record<string, unknown>>('engine version', (abortSignal) => (this.docker.version as unknown as Call).call(this.docker, { abortSignal }), signal);
    return {
      name: typeof info['Name'] === 'string' ? info['Name'] : '',
      serverVersion: typeof version['Version'] === 'string' ? version['Version'] : '',
      apiVersion: typeof version['ApiVersion'] === 'string' ? version['ApiVersion'] : '',
      systemTime: typeof info['SystemTime'] === 'string' ? info['SystemTime'] : '',
    };
  }

  async listContainers(all: boolean, signal?: AbortSignal): Promise<ContainerSummary[]> {
    const list = await this.call('list containers', (abortSignal) => this.docker.listContainers({ all, abortSignal }), signal);
    return list.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      state: c.State,
      created: c.Created,
      networkMode: c.HostConfig.NetworkMode,
    }));
  }

  async inspect(id: string, signal?: AbortSignal): Promise<ContainerDetails> {
    const c = await this.call(`inspect container ${id.slice(0, 12)}`, (abortSignal) => this.docker.getContainer(id).inspect({ abortSignal }), signal);
    return {
      id: c.Id,
      name: c.Name.replace(/^\//, ''),
      image: c.Config.Image,
      imageId: c.Image,
      labels: { ...(c.Config.Labels ?? {}) },
      tty: c.Config.Tty === true,
      running: c.State.Running === true,
      startedAt: c.State.StartedAt,
      finishedAt: c.State.FinishedAt,
      logDriver: c.HostConfig.LogConfig?.Type ?? '',
      logPath: c.LogPath ?? '',
    };
  }

  /**
   * Opens a follow stream of a container's logs with timestamps. The caller owns
   * the returned stream and must destroy it.
   */
  async openLogStream(id: string, request: LogStreamRequest): Promise<IncomingMessage> {
    const options: Docker.ContainerLogsOptions & { follow: true } = {
      follow: true,
      stdout: true,
      stderr: true,
      timestamps: true,
      // The typings say number, the API also takes "all".
      tail: request.tail as number,
      abortSignal: request.signal,
    };
    if (request.since !== undefined) options.since = request.since;
    try {
      // With follow: true dockerode resolves to the raw HTTP response.
      return (await this.docker.getContainer(id).logs(options)) as IncomingMessage;
    } catch (err) {
      throw engineError(err, `open log stream of ${id.slice(0, 12)}`, this.endpoint);
    }
  }

  /** Opens the events stream for container events. The caller owns and destroys it. */
  async openEventStream(signal: AbortSignal): Promise<IncomingMessage> {
    try {
      const options = { filters: { type: ['container'] }, abortSignal: signal };
      return (await this.docker.getEvents(options as Docker.GetEventsOptions)) as IncomingMessage;
    } catch (err) {
      throw engineError(err, 'open events stream', this.endpoint);
    }
  }

  private async call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = outer === undefined ? timeout : AbortSignal.any([outer, timeout]);
    try {
      return await fn(signal);
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
