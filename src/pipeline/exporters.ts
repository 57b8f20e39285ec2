/**
 * Exporters turn a batch into one delivery attempt and say how it went as a
 * value (never an exception): delivered, or failed and whether retrying can help.
 * Retrying itself lives in retry.ts, so every exporter gets the same policy.
 * This and the debug exporter's stdout are the only places records leave us.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import type { ExportResult } from '@opentelemetry/core';
import { ExportResultCode } from '@opentelemetry/core';
import type { CompressionAlgorithm, OTLPExporterBase, OTLPExporterNodeConfigBase } from '@opentelemetry/otlp-exporter-base';
import type { DebugExporterConfig, OtlpHttpExporterConfig } from '../config/schema.js';
import { ReceiverError, errorMessage } from '../errors.js';
import { LOG_ATTRIBUTE_KEYS } from '../mapping/log-record.js';
import { RESOURCE_KEYS } from '../mapping/resource.js';
import type { EncodedLogs, EncodedSlice } from './otlp-proto-encoder.js';
import { OtlpProtoLogsEncoder, decodeLogsResponse, LOGS_EXPORTER_METRICS } from './otlp-proto-encoder.js';

export type ExportAttempt = { readonly ok: true } | { readonly ok: false; readonly retryable: boolean; readonly error: ReceiverError };

export interface LogExporter {
  readonly id: string;
  exportOnce(records: ReadableLogRecord[]): Promise<ExportAttempt>;
  /**
   * Present on exporters that send OTLP/protobuf: one attempt with records the pipeline encoded
   * as they arrived (see EncodedRun for why). A pipeline whose exporters all have it keeps no
   * records, only their bytes.
   */
  readonly exportEncoded?: (slices: readonly EncodedSlice[], records: number) => Promise<ExportAttempt>;
  shutdown(): Promise<void>;
}

/** The URL logs are posted to, as the collector builds it: endpoint + /v1/logs unless logs_endpoint is given. */
export function logsUrl(config: OtlpHttpExporterConfig): string | undefined {
  if (config.logs_endpoint !== null) return config.logs_endpoint;
  if (config.endpoint === null) return undefined; // the SDK then reads OTEL_EXPORTER_OTLP_(LOGS_)ENDPOINT
  return config.endpoint.replace(/\/+$/, '') + '/v1/logs';
}

/**
 * The SDK keeps its keep-alive agent (and so a socket) after shutdown; owning
 * the agent lets shutdown really close the connection.
 */
export class OwnedAgent {
  private agent: HttpAgent | null = null;
  readonly factory = (protocol: string): HttpAgent => (this.agent ??= protocol === 'https:' ? new HttpsAgent({ keepAlive: true }) : new HttpAgent({ keepAlive: true }));
  destroy(): void {
    this.agent?.destroy();
    this.agent = null;
  }
}

/** The HTTP status of a failed SDK export (its OTLPExporterError carries it as `code`). */
export function httpStatusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'number' ? err.code : undefined;
}

/** One delivery attempt by the SDK's transport; throws when the batch cannot be encoded. */
interface LogSender {
  send(records: ReadableLogRecord[]): Promise<ExportResult>;
  /** OTLP/protobuf only: a request assembled from encoded records. */
  sendEncoded?(slices: readonly EncodedSlice[], records: number): Promise<ExportResult>;
  shutdown(): Promise<void>;
}

export class OtlpHttpLogExporter implements LogExporter {
  readonly id: string;
  readonly exportEncoded?: (slices: readonly EncodedSlice[], records: number) => Promise<ExportAttempt>;
  private readonly config: OtlpHttpExporterConfig;
  /** Loaded on first use: only the encoding in use is imported (each SDK exporter costs memory). */
  private sdk: Promise<LogSender> | null = null;
  private readonly agent = new OwnedAgent();

  constructor(id: string, config: OtlpHttpExporterConfig) {
    this.id = id;
    this.config = config;
    if (config.encoding === 'proto') {
      this.exportEncoded = (slices, records) =>
        this.attempt((sender) => {
          if (sender.sendEncoded === undefined) throw new Error('this exporter takes records, not encoded ones');
          return sender.sendEncoded(slices, records);
        });
    }
  }

  private load(): Promise<LogSender> {
    this.sdk ??= (async () => {
      const config = this.config;
      const options: OTLPExporterNodeConfigBase = {
        url: logsUrl(config),
        headers: { ...config.headers },
        compression: config.compression as CompressionAlgorithm,
        timeoutMillis: config.timeout,
        // We send one batch at a time per exporter; the SDK's own limit only needs to allow that.
        concurrencyLimit: 2,
        httpAgentOptions: this.agent.factory,
      };
      if (config.encoding === 'json') {
        const { OTLPLogExporter } = await import('@opentelemetry/exporter-logs-otlp-http');
        const exporter: LogRecordExporter = new OTLPLogExporter(options);
        return { send: (records) => new Promise<ExportResult>((resolve) => exporter.export(records, resolve)), shutdown: () => exporter.shutdown() };
      }
      return protoLogSender(options);
    })();
    return this.sdk;
  }

  exportOnce(records: ReadableLogRecord[]): Promise<ExportAttempt> {
    return this.attempt((sender) => sender.send(records));
  }

  private async attempt(send: (sender: LogSender) => Promise<ExportResult>): Promise<ExportAttempt> {
    const sender = await this.load();
    let result: ExportResult;
    try {
      result = await send(sender);
    } catch (err) {
      return { ok: false, retryable: false, error: new ReceiverError('EXPORT_REJECTED', `${this.id}: could not encode the batch: ${errorMessage(err)}`, { cause: err }) };
    }
    return this.classify(result);
  }

  private classify(result: ExportResult): ExportAttempt {
    if (result.code === ExportResultCode.SUCCESS) return { ok: true };
    const err = result.error;
    const status = httpStatusOf(err);
    // 4xx other than 429 means the backend will never take this batch as it is.
    if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
      return { ok: false, retryable: false, error: new ReceiverError('EXPORT_REJECTED', `${this.id}: the backend rejected the batch with HTTP ${status}: ${errorMessage(err)}`, { cause: err }) };
    }
    const detail = err === undefined ? 'unknown error' : errorMessage(err);
    return { ok: false, retryable: true, error: new ReceiverError('EXPORT_FAILED', `${this.id}: export failed: ${detail}`, { cause: err, transient: true }) };
  }

  async shutdown(): Promise<void> {
    if (this.sdk !== null) await (await this.sdk).shutdown();
    this.agent.destroy();
  }
}

/**
 * The SDK's OTLP/HTTP protobuf log exporter (transport, retries, headers,
 * compression, the standard OTEL_EXPORTER_OTLP_* variables), assembled from its
 * parts as @opentelemetry/exporter-logs-otlp-proto does, with our encoder in
 * place of the generic serializer (see otlp-proto-encoder.ts for why).
 */
async function protoLogSender(options: OTLPExporterNodeConfigBase): Promise<LogSender> {
  const encoder = new OtlpProtoLogsEncoder();
  const exporter = await otlpProtoExporter<EncodedLogs>(options, {
    signal: 'LOGS',
    path: 'v1/logs',
    component: 'otlp_http_log_exporter',
    serialize: (encoded) => encoded.bytes,
    deserializeResponse: decodeLogsResponse,
    exporterMetrics: LOGS_EXPORTER_METRICS,
  });
  const send = (encoded: EncodedLogs): Promise<ExportResult> => new Promise((resolve) => exporter.export(encoded, resolve));
  return {
    send: (records) => send({ bytes: encoder.encode(records), records: records.length }),
    sendEncoded: (slices, records) => send({ bytes: encoder.assemble(slices), records }),
    shutdown: () => exporter.shutdown(),
  };
}

export interface OtlpProtoSignal<Request> {
  readonly signal: 'LOGS' | 'METRICS';
  /** Appended to OTEL_EXPORTER_OTLP_ENDPOINT when no URL is configured. */
  readonly path: string;
  /** The SDK's component type, for its own exporter metrics. */
  readonly component: string;
  serialize(request: Request): Uint8Array;
  deserializeResponse(data: Uint8Array): unknown;
  readonly exporterMetrics: { readonly name: 'log' | 'metric_data_point'; countItems(request: Request): number };
}

/**
 * The SDK's OTLP/HTTP transport with our own protobuf serializer, for any
 * signal: what the SDK's *-otlp-proto exporters are, without the generated
 * protobuf code of @opentelemetry/otlp-transformer that they load.
 */
export async function otlpProtoExporter<Request>(options: OTLPExporterNodeConfigBase, signal: OtlpProtoSignal<Request>): Promise<OTLPExporterBase<Request>> {
  const [{ OTLPExporterBase }, { createOtlpHttpExportDelegate, convertLegacyHttpOptions }] = await Promise.all([
    import('@opentelemetry/otlp-exporter-base'),
    import('@opentelemetry/otlp-exporter-base/node-http'),
  ]);
  const delegate = createOtlpHttpExportDelegate(
    convertLegacyHttpOptions(options, signal.signal, signal.path, { 'Content-Type': 'application/x-protobuf' }),
    { serializeRequest: (request: Request) => signal.serialize(request), deserializeResponse: (data: Uint8Array) => signal.deserializeResponse(data) },
    signal.component,
    signal.exporterMetrics,
    undefined,
  );
  return new OTLPExporterBase<Request>(delegate);
}

/** Prints records to stdout, like the collector's debug exporter. */
export class DebugLogExporter implements LogExporter {
  readonly id: string;
  private readonly verbosity: DebugExporterConfig['verbosity'];
  private readonly write: (text: string) => void;

  constructor(id: string, config: DebugExporterConfig, write: (text: string) => void = (t) => process.stdout.write(t)) {
    this.id = id;
    this.verbosity = config.verbosity;
    this.write = write;
  }

  exportOnce(records: ReadableLogRecord[]): Promise<ExportAttempt> {
    try {
      this.write(this.format(records));
    } catch (err) {
      return Promise.resolve({ ok: false, retryable: true, error: new ReceiverError('EXPORT_FAILED', `${this.id}: cannot write to stdout: ${errorMessage(err)}`, { cause: err }) });
    }
    return Promise.resolve({ ok: true });
  }

  private format(records: ReadableLogRecord[]): string {
    if (this.verbosity === 'basic') return `${new Date().toISOString()}\tinfo\t${this.id}\tLogs\t{"#records": ${records.length}}\n`;
    let out = '';
    for (const r of records) {
      const name = r.resource.attributes[RESOURCE_KEYS.containerName];
      const stream = r.attributes[LOG_ATTRIBUTE_KEYS.iostream];
      const ts = formatHrTime(r.hrTime);
      if (this.verbosity === 'normal') {
        out += `${ts} ${typeof name === 'string' ? name : ''} ${typeof stream === 'string' ? stream : ''}: ${typeof r.body === 'string' ? r.body : JSON.stringify(r.body)}\n`;
      } else {
        out += JSON.stringify({ timestamp: ts, observed: formatHrTime(r.hrTimeObserved), body: r.body, attributes: r.attributes, resource: r.resource.attributes }) + '\n';
      }
    }
    return out;
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

function formatHrTime([seconds, nanos]: readonly [number, number]): string {
  const iso = new Date(seconds * 1000).toISOString(); // ends in .000Z
  return `${iso.slice(0, 19)}.${String(nanos).padStart(9, '0')}Z`;
}
