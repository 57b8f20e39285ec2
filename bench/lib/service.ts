/**
 * The real service for soaks and stress tests: YAML config as a user writes it,
 * an in-memory MeterProvider, and a way to know the receiver has made its first
 * listing (so that containers started afterwards are read from their beginning
 * even with start_at: end, which keeps other people's containers on a shared
 * engine out of the way).
 */
import type Docker from 'dockerode';
import { parseConfig } from '../../src/config/load.js';
import { Service } from '../../src/service.js';
import { createLogger } from '../../src/util/logger.js';
import type { LogLevel, Logger } from '../../src/util/logger.js';
import { TEST_IMAGE } from '../../test/helpers/docker.js';
import type { OtlpSink } from '../../test/helpers/otlp-sink.js';
import type { InMemoryMetrics } from './metrics.js';

export interface BenchServiceOptions {
  sink: OtlpSink;
  metrics: InMemoryMetrics;
  streamTimeout: string;
  jitter?: number;
  batchTimeout?: string;
  logLevel?: LogLevel;
  /** The service's logger (default: console on stderr at logLevel). */
  logger?: Logger;
  /** Extra receiver keys (YAML scalars). */
  receiver?: Record<string, string | number>;
}

export function benchConfigYaml(options: BenchServiceOptions): string {
  const receiver = {
    start_at: 'end',
    // Soaks and stress tests are about the API's short-lived streams (files have none).
    read_from: 'api',
    stream_timeout: options.streamTimeout,
    stream_timeout_jitter: options.jitter ?? 0.1,
    ...options.receiver,
  };
  return `receivers:
  docker_logs:
${Object.entries(receiver)
  .map(([k, v]) => `    ${k}: ${String(v)}`)
  .join('\n')}
processors:
  batch:
    timeout: ${options.batchTimeout ?? '100ms'}
exporters:
  otlphttp:
    endpoint: ${options.sink.url}
    encoding: proto
    compression: none
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
service:
  pipelines:
    logs:
      receivers: [docker_logs]
      processors: [batch]
      exporters: [otlphttp]
  telemetry:
    logs:
      level: ${options.logLevel ?? 'warn'}
`;
}

/**
 * Starts the service and resolves once its first listing of the engine is done:
 * a container created (not started) just before is then among those it follows.
 */
export async function startBenchService(docker: Docker, markerName: string, options: BenchServiceOptions, timeoutMs = 30_000): Promise<Service> {
  const marker = await docker.createContainer({ name: markerName, Image: TEST_IMAGE, Cmd: ['true'], HostConfig: { NetworkMode: 'none' } });
  const config = parseConfig(benchConfigYaml(options), '<bench>');
  const service = new Service(config, {
    logger: options.logger ?? createLogger({ level: config.service.telemetry.logs.level, encoding: 'console' }),
    meterProvider: options.metrics.meterProvider,
  });
  await service.start();
  const deadline = Date.now() + timeoutMs;
  while (!service.status().some((r) => r.containers.some((c) => c.name === markerName))) {
    if (Date.now() > deadline) {
      await service.shutdown(2000);
      throw new Error(`the receiver did not list the engine within ${timeoutMs} ms (marker container ${markerName} never followed)`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await marker.remove({ force: true }).catch(() => undefined);
  return service;
}

export interface OpenCounter {
  /** Pass as BenchServiceOptions.logger. */
  logger: Logger;
  /** Streams opened for containers whose name starts with the prefix, by reason. */
  byReason(): Record<string, number>;
  /** Streams opened for those containers in total. */
  total(): number;
  /** Warnings and errors about other containers, not printed. */
  foreignMessages(): number;
}

/**
 * Counts the streams the receiver opens for our own containers, from its debug
 * log ("log stream opened" from the container/<name> component): the metric
 * docker_logs.stream.opened counts every container on the engine, and a shared
 * engine has other people's containers too. Warnings and errors go to stderr,
 * except those about other people's containers (counted in foreignMessages).
 */
export function countOpensOf(namePrefix: string, level: LogLevel = 'warn'): OpenCounter {
  const counts: Record<string, number> = {};
  const marker = `/container/${namePrefix}`;
  let foreign = 0;
  const stderr = createLogger({ level, encoding: 'console' });
  const logger = createLogger({
    level: 'debug',
    encoding: 'json',
    write: (line) => {
      const entry = JSON.parse(line) as { level: LogLevel; component: string; msg: string; reason?: string };
      if (entry.msg === 'log stream opened' && entry.component.includes(marker)) {
        const reason = entry.reason ?? '';
        counts[reason] = (counts[reason] ?? 0) + 1;
      }
      if (entry.level === 'debug') return;
      if (entry.component.includes('/container/') && !entry.component.includes(marker)) {
        foreign++; // about someone else's container on the shared engine
        return;
      }
      stderr[entry.level](`${entry.component}: ${entry.msg}`, Object.fromEntries(Object.entries(entry).filter(([k]) => !['time', 'level', 'component', 'msg'].includes(k))));
    },
  });
  return {
    logger,
    byReason: () => ({ ...counts }),
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
    foreignMessages: () => foreign,
  };
}
