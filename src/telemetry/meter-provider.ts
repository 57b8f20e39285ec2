/**
 * The receiver's own metrics pipeline: an OpenTelemetry MeterProvider whose
 * readers are the exporters of service.pipelines.metrics (pushed every
 * collection_interval) and, when service.telemetry.metrics.address is set, a
 * Prometheus endpoint (pulled). Exporting metrics never blocks or fails logs.
 * The metrics SDK and its exporters are loaded only when metrics are configured.
 */
import { readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import type { MeterProvider as MeterProviderApi } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { IMetricReader, PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Config, DebugExporterConfig, OtlpHttpExporterConfig } from '../config/schema.js';
import { ReceiverError, errorMessage } from '../errors.js';
import type { Logger } from '../util/logger.js';
import { OwnedAgent, httpStatusOf, otlpProtoExporter } from '../pipeline/exporters.js';
import type { ReceiverMetrics } from './metrics.js';

export interface SelfTelemetry {
  readonly meterProvider: MeterProviderApi | undefined;
  /** host:port of the Prometheus endpoint, when serving one. */
  readonly prometheusAddress: string | null;
  /** Flushes and stops; gives up after timeoutMs (the service's shutdown deadline). */
  shutdown(timeoutMs?: number): Promise<void>;
}

export function metricsUrl(config: OtlpHttpExporterConfig): string | undefined {
  if (config.metrics_endpoint !== null) return config.metrics_endpoint;
  if (config.endpoint === null) return undefined;
  return config.endpoint.replace(/\/+$/, '') + '/v1/metrics';
}

export async function createSelfTelemetry(config: Config, version: string, logger: Logger): Promise<SelfTelemetry> {
  const { level, address } = config.service.telemetry.metrics;
  const pipeline = config.service.pipelines.metrics;
  if (level === 'none' || (pipeline === undefined && address === null)) {
    return { meterProvider: undefined, prometheusAddress: null, shutdown: () => Promise.resolve() };
  }
  const intervals = Object.values(config.receivers).map((r) => r.collection_interval);
  const interval = intervals.length > 0 ? Math.min(...intervals) : 10_000;
  const { MeterProvider, PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics');
  const readers: IMetricReader[] = [];
  const reporting: ReportingMetricExporter[] = [];
  const agent = new OwnedAgent();
  for (const id of pipeline?.exporters ?? []) {
    const exporterConfig = config.exporters[id];
    if (exporterConfig === undefined) continue;
    let exporter: PushMetricExporter;
    if (exporterConfig.type === 'otlphttp') {
      const otlp = new ReportingMetricExporter(id, await otlpMetricExporter(exporterConfig, agent), logger);
      reporting.push(otlp);
      exporter = otlp;
    } else {
      exporter = new DebugMetricExporter(id, exporterConfig, logger);
    }
    readers.push(new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: interval, exportTimeoutMillis: Math.min(interval, 30_000) }));
  }
  let prometheus: PrometheusExporter | null = null;
  if (address !== null) {
    const { host, port } = splitHostPort(address);
    prometheus = await startPrometheus(host, port);
    readers.push(prometheus);
    logger.info('serving metrics for Prometheus', { url: `http://${address}/metrics` });
  }
  const meterProvider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': 'docker-logs-receiver', 'service.version': version, 'host.name': hostname() }),
    readers,
  });
  return {
    meterProvider,
    prometheusAddress: address,
    async shutdown(timeoutMs?: number) {
      for (const exporter of reporting) exporter.stopping();
      try {
        await meterProvider.shutdown(timeoutMs === undefined ? undefined : { timeoutMillis: Math.max(1, timeoutMs) });
      } catch (err) {
        logger.warn('metrics shutdown failed', { error: errorMessage(err) });
      } finally {
        agent.destroy();
      }
    },
  };
}

async function otlpMetricExporter(config: OtlpHttpExporterConfig, agent: OwnedAgent): Promise<PushMetricExporter> {
  const options = {
    httpAgentOptions: agent.factory,
    url: metricsUrl(config),
    headers: { ...config.headers },
    compression: config.compression as CompressionAlgorithm,
    timeoutMillis: config.timeout,
  };
  if (config.encoding === 'json') {
    const [{ AggregationTemporality }, { OTLPMetricExporter }] = await Promise.all([import('@opentelemetry/sdk-metrics'), import('@opentelemetry/exporter-metrics-otlp-http')]);
    return new OTLPMetricExporter({ ...options, temporalityPreference: AggregationTemporality.CUMULATIVE });
  }
  // Our own encoding (see otlp-proto-metrics.ts). With no temporality selector
  // the periodic reader asks for cumulative points, as the JSON exporter is told to.
  const { encodeMetricsRequest, decodeMetricsResponse, METRICS_EXPORTER_METRICS } = await import('./otlp-proto-metrics.js');
  return otlpProtoExporter<ResourceMetrics>(options, {
    signal: 'METRICS',
    path: 'v1/metrics',
    component: 'otlp_http_metric_exporter',
    serialize: encodeMetricsRequest,
    deserializeResponse: decodeMetricsResponse,
    exporterMetrics: METRICS_EXPORTER_METRICS,
  });
}

async function startPrometheus(host: string, port: number): Promise<PrometheusExporter> {
  const { PrometheusExporter } = await import('@opentelemetry/exporter-prometheus');
  return new Promise((resolve, reject) => {
    const exporter: PrometheusExporter = new PrometheusExporter({ host, port, endpoint: '/metrics' }, (err) => {
      if (err) reject(new ReceiverError('CONFIG_INVALID', `service.telemetry.metrics: cannot serve Prometheus metrics on ${host}:${port}: ${errorMessage(err)}`, { cause: err }));
      else resolve(exporter);
    });
  });
}

export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/**
 * Says when exporting the receiver's own metrics starts and stops failing. The SDK's periodic
 * reader hands a failed export to OpenTelemetry's global error handler, which logs through
 * `diag` — silent unless the embedding program set a diag logger — so without this a metrics
 * backend that is down or refuses the requests would go unnoticed. Once per failure spell, at
 * warn; the next collection simply tries again (metrics are cumulative: nothing is lost).
 */
export class ReportingMetricExporter implements PushMetricExporter {
  private readonly onceKey: string;
  private failing = false;
  private stopRequested = false;
  /** Result callbacks of exports under way, each called once (by the export, or by giving it up at shutdown). */
  private readonly pending = new Set<(result: ExportResult) => void>();

  constructor(
    private readonly id: string,
    private readonly inner: PushMetricExporter,
    private readonly logger: Logger,
  ) {
    this.onceKey = `metrics-export-failed:${id}`;
  }

  /**
   * Called when the service stops, before the reader's last collection. When the backend failed
   * the last export, the stop does not wait for it: an export under way is given up, the last
   * one is not sent, and flushing and closing do not wait for requests still pending. Its retries
   * and timeouts would otherwise hold the stop for seconds, for one last cumulative point (what
   * the counters gained since the previous one). An export under way before any failure is known
   * is still waited for, within the exporter's timeout.
   */
  stopping(): void {
    this.stopRequested = true;
    if (!this.failing) return;
    const error = new ReceiverError('EXPORT_FAILED', `${this.id}: given up at shutdown: the metrics backend was failing`);
    for (const settle of [...this.pending]) settle({ code: ExportResultCode.FAILED, error });
  }

  private givingUp(): boolean {
    return this.stopRequested && this.failing;
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    if (this.givingUp()) {
      this.logger.info(`${this.id}: not sending the receiver's last metrics at shutdown: the backend failed the previous export`);
      resultCallback({ code: ExportResultCode.FAILED, error: new ReceiverError('EXPORT_FAILED', `${this.id}: skipped at shutdown: the metrics backend was failing`) });
      return;
    }
    const settle = (result: ExportResult): void => {
      if (!this.pending.delete(settle)) return;
      resultCallback(result);
    };
    this.pending.add(settle);
    this.inner.export(metrics, (result: ExportResult) => {
      if (result.code === ExportResultCode.SUCCESS) {
        if (this.failing) {
          this.failing = false;
          this.logger.clearOnce(this.onceKey);
          this.logger.info(`${this.id}: exporting the receiver's own metrics works again`);
        }
      } else {
        this.failing = true;
        const status = httpStatusOf(result.error);
        const detail = `${status === undefined ? '' : `HTTP ${status}: `}${result.error === undefined ? 'unknown error' : errorMessage(result.error)}`;
        this.logger.warnOnce(this.onceKey, `${this.id}: exporting the receiver's own metrics failed; tried again at every collection (said once until it works)`, { error: detail });
      }
      settle(result);
    });
  }

  forceFlush(): Promise<void> {
    return this.givingUp() ? Promise.resolve() : this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    if (!this.givingUp()) return this.inner.shutdown();
    // Its pending requests end when the service closes the exporters' sockets.
    this.inner.shutdown().catch(() => undefined);
    return Promise.resolve();
  }
}

/** The debug exporter in a metrics pipeline: a summary line per collection (basic) or one line per point. */
class DebugMetricExporter implements PushMetricExporter {
  private readonly id: string;
  private readonly verbosity: DebugExporterConfig['verbosity'];
  private readonly logger: Logger;

  constructor(id: string, config: DebugExporterConfig, logger: Logger) {
    this.id = id;
    this.verbosity = config.verbosity;
    this.logger = logger;
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    const all = metrics.scopeMetrics.flatMap((s) => s.metrics);
    if (this.verbosity === 'basic') {
      process.stdout.write(`${new Date().toISOString()}\tinfo\t${this.id}\tMetrics\t{"#metrics": ${all.length}}\n`);
    } else {
      let out = '';
      for (const m of all) {
        for (const p of m.dataPoints) {
          const value = typeof p.value === 'number' ? p.value : JSON.stringify(p.value);
          out += `${m.descriptor.name}${Object.keys(p.attributes).length > 0 ? JSON.stringify(p.attributes) : ''} ${value}\n`;
        }
      }
      process.stdout.write(out);
    }
    this.logger.debug('metrics printed', { metrics: all.length });
    resultCallback({ code: ExportResultCode.SUCCESS });
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Process figures, so that a leak shows as a slope on a dashboard. */
export function observeProcess(metrics: ReceiverMetrics): Array<() => void> {
  let fdsReadable = true;
  return [
    metrics.observe('otelcol_process_memory_rss', () => [{ value: process.memoryUsage.rss() }]),
    metrics.observe('otelcol_process_runtime_heap_alloc_bytes', () => [{ value: process.memoryUsage().heapUsed }]),
    metrics.observe('otelcol_process_cpu_seconds', () => {
      const u = process.cpuUsage();
      return [{ value: (u.user + u.system) / 1e6 }];
    }),
    metrics.observe('otelcol_process_uptime', () => [{ value: process.uptime() }]),
    metrics.observe('docker_logs.process.open_fds', () => {
      if (!fdsReadable) return [];
      try {
        return [{ value: readdirSync('/proc/self/fd').length }];
      } catch {
        fdsReadable = false;
        return [];
      }
    }),
    metrics.observe('docker_logs.process.active_handles', () => [{ value: process.getActiveResourcesInfo().length }]),
  ];
}
