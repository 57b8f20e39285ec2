/**
 * The service, as in the collector: builds the components a config names,
 * wires receivers → logs pipeline → exporters, and runs them. Start order is
 * exporters, then receivers; shutdown is the reverse, in a fixed order: stop
 * reading, flush what was read, commit positions, close exporters.
 */
import type { MeterProvider } from '@opentelemetry/api';
import type { Config, DebugExporterConfig, ExporterConfig, OtlpHttpExporterConfig, PipelineConfig } from './config/schema.js';
import { ReceiverError } from './errors.js';
import type { LogExporter } from './pipeline/exporters.js';
import { DebugLogExporter, OtlpHttpLogExporter } from './pipeline/exporters.js';
import type { PipelineExporter } from './pipeline/log-pipeline.js';
import { LogPipeline } from './pipeline/log-pipeline.js';
import { DockerLogsReceiver } from './receiver.js';
import type { ReceiverStatus } from './receiver.js';
import { ReceiverMetrics } from './telemetry/metrics.js';
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
const DEFAULT_QUEUE = { queue_size: 10_000, queue_bytes: 64 * 1024 * 1024 };
const NO_RETRY = { enabled: false, initial_interval: 1000, max_interval: 1000, max_elapsed_time: 0, multiplier: 1, randomization_factor: 0 };

export class Service {
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly metrics: ReceiverMetrics;
  private readonly pipeline: LogPipeline;
  private readonly receivers: DockerLogsReceiver[];
  private state: 'new' | 'running' | 'stopped' = 'new';
  private shutdownPromise: Promise<void> | null = null;

  constructor(config: Config, settings: ServiceSettings = {}) {
    this.config = config;
    this.logger = settings.logger ?? silentLogger;
    this.metrics = new ReceiverMetrics(settings.meterProvider?.getMeter('docker-logs-receiver'));
    const logs = config.service.pipelines.logs;
    if (logs === undefined) throw new ReceiverError('CONFIG_INVALID', 'service.pipelines.logs: required');
    this.pipeline = this.buildPipeline(logs, settings);
    this.receivers = logs.receivers.map((id) => {
      const receiverConfig = config.receivers[id];
      if (receiverConfig === undefined) throw new ReceiverError('CONFIG_INVALID', `service.pipelines.logs.receivers: ${id} is not defined`);
      return new DockerLogsReceiver(receiverConfig, { id, logger: this.logger, metrics: this.metrics }, this.pipeline);
    });
  }

  async start(): Promise<void> {
    if (this.state !== 'new') throw new ReceiverError('ENGINE_API_ERROR', 'the service was already started');
    this.state = 'running';
    for (const receiver of this.receivers) await receiver.start();
  }

  /** Stops reading, flushes within deadlineMs, commits positions, closes exporters. Idempotent. */
  shutdown(deadlineMs = 10_000): Promise<void> {
    this.shutdownPromise ??= this.stop(deadlineMs);
    return this.shutdownPromise;
  }

  status(): ReceiverStatus[] {
    return this.receivers.map((r) => r.status());
  }

  get logsPipeline(): LogPipeline {
    return this.pipeline;
  }

  private async stop(deadlineMs: number): Promise<void> {
    const started = Date.now();
    this.state = 'stopped';
    await Promise.allSettled(this.receivers.map((r) => r.shutdown()));
    await this.pipeline.shutdown(Math.max(0, deadlineMs - (Date.now() - started)));
    await Promise.allSettled(this.receivers.map((r) => r.flushPositions()));
  }

  private buildPipeline(logs: PipelineConfig, settings: ServiceSettings): LogPipeline {
    const exporters: PipelineExporter[] = logs.exporters.map((id) => {
      const config = this.config.exporters[id];
      if (config === undefined) throw new ReceiverError('CONFIG_INVALID', `service.pipelines.logs.exporters: ${id} is not defined`);
      return { exporter: createExporter(id, config, settings), retry: config.type === 'otlphttp' ? config.retry_on_failure : NO_RETRY };
    });
    const batchId = logs.processors.find((p) => p === 'batch' || p.startsWith('batch/'));
    const batch = (batchId === undefined ? undefined : this.config.processors[batchId]) ?? DEFAULT_BATCH;
    const queues = logs.exporters.map((id) => this.config.exporters[id]).filter((c): c is OtlpHttpExporterConfig => c?.type === 'otlphttp');
    const queueSize = queues.length === 0 ? DEFAULT_QUEUE.queue_size : Math.min(...queues.map((q) => q.sending_queue.queue_size));
    const queueBytes = queues.length === 0 ? DEFAULT_QUEUE.queue_bytes : Math.min(...queues.map((q) => q.sending_queue.queue_bytes));
    return new LogPipeline({ exporters, batch, queueSize, queueBytes, metrics: this.metrics, logger: this.logger.child('pipeline/logs') });
  }
}

function createExporter(id: string, config: ExporterConfig, settings: ServiceSettings): LogExporter {
  if (config.type === 'otlphttp') return new OtlpHttpLogExporter(id, config);
  return new DebugLogExporter(id, config as DebugExporterConfig, settings.debugWrite);
}
