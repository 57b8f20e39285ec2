/**
 * Runs the real service (receiver → pipeline → OTLP/HTTP exporter) against the
 * real engine and a sink inside the test, with a config written as YAML the
 * way a user would write it.
 */
import YAML from 'yaml';
import { parseConfig } from '../../src/config/load.js';
import { Service } from '../../src/service.js';
import { createLogger } from '../../src/util/logger.js';
import type { OtlpSink } from './otlp-sink.js';

export interface TestServiceOptions {
  /** Where the exporter sends: an OtlpSink, or the benchmark's BenchSink for many lines. */
  sink: Pick<OtlpSink, 'url'>;
  /** Extra keys under receivers.docker_logs, as YAML lines (indented by the helper). */
  receiver?: Record<string, string | number>;
  encoding?: 'proto' | 'json';
  compression?: 'none' | 'gzip';
  batchTimeout?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Top-level YAML sections appended to the config. */
  extraYaml?: string;
  /** YAML lines appended under `service:` (indented by two spaces). */
  serviceYaml?: string;
  /** Also export the receiver's own metrics to the sink. */
  metricsPipeline?: boolean;
}

/**
 * The receiver keys as YAML: `a.b` keys nest, and each value is itself read as
 * YAML (so `"['x', 'y']"` is a list), as a user would have written it.
 */
function receiverYaml(entries: Record<string, string | number>): string {
  const tree: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entries)) {
    const parts = key.split('.');
    let node = tree;
    for (const part of parts.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[parts[parts.length - 1]] = typeof value === 'number' ? value : YAML.parse(value);
  }
  return YAML.stringify(tree)
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

export function testConfigYaml(options: TestServiceOptions): string {
  const receiverLines = receiverYaml({ start_at: 'beginning', stream_timeout: '30s', ...options.receiver });
  return `receivers:
  docker_logs:
${receiverLines}
processors:
  batch:
    timeout: ${options.batchTimeout ?? '50ms'}
exporters:
  otlphttp:
    endpoint: ${options.sink.url}
    encoding: ${options.encoding ?? 'proto'}
    compression: ${options.compression ?? 'none'}
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
service:
  pipelines:
    logs:
      receivers: [docker_logs]
      processors: [batch]
      exporters: [otlphttp]
${options.metricsPipeline === true ? '    metrics:\n      receivers: [docker_logs]\n      exporters: [otlphttp]\n' : ''}${options.serviceYaml ?? ''}${options.serviceYaml?.includes('telemetry:') === true ? '' : '  telemetry:\n'}    logs:
      level: ${options.logLevel ?? (process.env['DLR_TEST_LOG_LEVEL'] ?? 'error')}
${options.extraYaml ?? ''}`;
}

export async function startService(options: TestServiceOptions): Promise<Service> {
  const config = parseConfig(testConfigYaml(options), '<test>');
  const level = config.service.telemetry.logs.level;
  const service = new Service(config, { logger: createLogger({ level, encoding: 'console' }) });
  await service.start();
  return service;
}
