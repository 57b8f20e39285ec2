/** The public API. Nothing else is exported. */
export { createDefaultConfig, resolveReceiverConfig } from './config/schema.js';
export type {
  Config,
  DockerLogsReceiverConfig,
  OtlpHttpExporterConfig,
  DebugExporterConfig,
  ExporterConfig,
  BatchProcessorConfig,
  PipelineConfig,
  ServiceConfig,
} from './config/schema.js';
export { parseConfig, loadConfigFile, loadDefaultConfig } from './config/load.js';
export { DockerLogsReceiver, createLogsReceiver } from './receiver.js';
export type { ReceiverSettings, ReceiverStatus } from './receiver.js';
export { Service } from './service.js';
export type { ServiceSettings } from './service.js';
export { consumerFromFunction } from './pipeline/consumer.js';
export type { LogsConsumer, DeliveryOutcome } from './pipeline/consumer.js';
export type { ContainerPosition, StreamCursor } from './docker/position.js';
export { ReceiverError, ConfigError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { METRICS } from './telemetry/metrics.js';
export type { MetricDefinition } from './telemetry/metrics.js';
export { RESOURCE_KEYS } from './mapping/resource.js';
export { LOG_ATTRIBUTE_KEYS } from './mapping/log-record.js';
export { createLogger } from './util/logger.js';
export type { Logger, LogLevel } from './util/logger.js';
