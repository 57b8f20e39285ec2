/**
 * The service, as in the collector: builds the components a config names,
 * wires receivers → logs pipeline → exporters, and runs them. Start order is
 * exporters, then receivers; shutdown is the reverse, in a fixed order: stop
 * reading, flush what was read, commit positions, close exporters.
 */
import type { MeterProvider } from '@opentelemetry/api';
import type { Config, ExporterConfig, OtlpHttpExporterConfig, PipelineConfig } from './config/schema.js';
import { ReceiverError } from './errors.js';
import type { LogExporter } from './pipeline/exporters.js';
import { DebugLogExporter, OtlpHttpLogExporter } from './pipeline/exporters.js';
import type { PipelineExporter } from './pipeline/log-pipeline.js';
import { LogPipeline } from './pipeline/log-pipeline.js';
import { DockerLogsReceiver } from './receiver.js';
import type { ReceiverStatus } from './receiver.js';
import { ReceiverMetrics } from './telemetry/metrics.js';
import type { SelfTelemetry } from './telemetry/meter-provider.js';
import { createSelfTelemetry, observeProcess } from './telemetry/meter-provider.js';
import { HealthCheckServer } from './extensions/health-check.js';
import { VERSION } from './version.js';
import type { Logger } from './util/logger.js';
import { silentLogger } from './util/logger.js';

export interface ServiceSettings {
  logger?: Logger;
  meterProvider?: MeterProvider;
  /** Where the debug exporter writes (stdout by default). */
  debugWrite?: (text: string) => void;
}

/** Defaults for pipelines that list no batch processor. */
const DEFAULT_BATCH = { timeout: 200, send_batch_size: 8192, send_batch_max_size: 0 };
/** Bounds for pipelines whose exporters have no sending_queue (debug only). */
const DEFAULT_QUEUE = { queue_size: 32_768, queue_bytes: 64 * 1024 * 1024 };
const NO_RETRY = { enabled: false, initial_interval: 1000, max_interval: 1000, max_elapsed_time: 0, multiplier: 1, randomization_factor: 0 };

export class Service {
  private readonly config: Config;
  private readonly settings: ServiceSettings;
  private readonly logger: Logger;
  private telemetry: SelfTelemetry | null = null;
  private metrics: ReceiverMetrics | null = null;
  private pipeline: LogPipeline | null = null;
  private receivers: DockerLogsReceiver[] = [];
  private health: HealthCheckServer | null = null;
  private readonly unobserve: Array<() => void> = [];
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  private shutdownPromise: Promise<void> | null = null;

  constructor(config: Config, settings: ServiceSettings = {}) {
    if (config.service.pipelines.logs === undefined) throw new ReceiverError('CONFIG_INVALID', 'service.pipelines.logs: required');
    this.config = config;
    this.settings = settings;
    this.logger = settings.logger ?? silentLogger;
  }

  /** Builds and starts every component: self-telemetry, exporters and pipeline, receivers, extensions. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new ReceiverError('ENGINE_API_ERROR', 'the service was already started');
    this.state = 'starting';
    const logs = this.config.service.pipelines.logs as PipelineConfig;
    this.telemetry = this.settings.meterProvider === undefined ? await createSelfTelemetry(this.config, VERSION, this.logger) : null;
    const meterProvider = this.settings.meterProvider ?? this.telemetry?.meterProvider;
    const metrics = new ReceiverMetrics(meterProvider?.getMeter('docker-logs-receiver', VERSION));
    this.metrics = metrics;
    this.unobserve.push(...observeProcess(metrics));
    const pipeline = this.buildPipeline(logs, metrics);
    this.pipeline = pipeline;
    this.receivers = logs.receivers.flatMap((id) => {
      const receiverConfig = this.config.receivers[id];
      if (receiverConfig === undefined) throw new ReceiverError('CONFIG_INVALID', `service.pipelines.logs.receivers: ${id} is not defined`);
      if (receiverConfig.endpoints.length === 0) return [new DockerLogsReceiver(receiverConfig, { id, logger: this.logger, metrics }, pipeline)];
      // One reader per engine, each with its own positions file (named after its endpoint, so reordering the list is harmless).
      return receiverConfig.endpoints.map(
        (endpoint) => new DockerLogsReceiver({ ...receiverConfig, endpoint, endpoints: [] }, { id: `${id}@${endpoint}`, logger: this.logger, metrics }, pipeline),
      );
    });
    for (const receiver of this.receivers) await receiver.start();
    for (const id of this.config.service.extensions) {
      const extension = this.config.extensions[id];
      if (extension !== undefined && this.health === null) {
        this.health = await HealthCheckServer.start(
          extension,
          () => this.status(),
          () => this.receivers.map((r) => ({ receiver: r.id, containers: r.explain() })),
        );
        this.logger.info('health check listening', { url: `http://${this.health.address}${extension.path}` });
      }
    }
    if (this.state === 'starting') this.state = 'running';
  }

  /** Stops reading, flushes within deadlineMs, commits positions, closes exporters. Idempotent, safe before start. */
  shutdown(deadlineMs = 10_000): Promise<void> {
    this.shutdownPromise ??= this.stop(deadlineMs);
    return this.shutdownPromise;
  }

  status(): ReceiverStatus[] {
    return this.receivers.map((r) => r.status());
  }

  get logsPipeline(): LogPipeline | null {
    return this.pipeline;
  }

  get healthAddress(): string | null {
    return this.health?.address ?? null;
  }

  private async stop(deadlineMs: number): Promise<void> {
    const started = Date.now();
    this.state = 'stopped';
    await Promise.allSettled(this.receivers.map((r) => r.shutdown()));
    if (this.pipeline !== null) await this.pipeline.shutdown(Math.max(0, deadlineMs - (Date.now() - started)));
    await Promise.allSettled(this.receivers.map((r) => r.flushPositions()));
    await this.health?.close();
    for (const off of this.unobserve) off();
    await this.telemetry?.shutdown(Math.max(0, deadlineMs - (Date.now() - started)));
  }

  private buildPipeline(logs: PipelineConfig, metrics: ReceiverMetrics): LogPipeline {
    const exporters: PipelineExporter[] = logs.exporters.map((id) => {
      const config = this.config.exporters[id];
      if (config === undefined) throw new ReceiverError('CONFIG_INVALID', `service.pipelines.logs.exporters: ${id} is not defined`);
      return { exporter: createExporter(id, config, this.settings), retry: config.type === 'otlphttp' ? config.retry_on_failure : NO_RETRY };
    });
    const batchId = logs.processors.find((p) => p === 'batch' || p.startsWith('batch/'));
    const batch = (batchId === undefined ? undefined : this.config.processors[batchId]) ?? DEFAULT_BATCH;
    const queues = logs.exporters.map((id) => this.config.exporters[id]).filter((c): c is OtlpHttpExporterConfig => c?.type === 'otlphttp');
    const queueSize = queues.length === 0 ? DEFAULT_QUEUE.queue_size : Math.min(...queues.map((q) => q.sending_queue.queue_size));
    const queueBytes = queues.length === 0 ? DEFAULT_QUEUE.queue_bytes : Math.min(...queues.map((q) => q.sending_queue.queue_bytes));
    return new LogPipeline({ exporters, batch, queueSize, queueBytes, metrics, logger: this.logger.child('pipeline/logs') });
  }
}

function createExporter(id: string, config: ExporterConfig, settings: ServiceSettings): LogExporter {
  if (config.type === 'otlphttp') return new OtlpHttpLogExporter(id, config);
  return new DebugLogExporter(id, config, settings.debugWrite);
}
