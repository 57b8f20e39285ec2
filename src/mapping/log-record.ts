/**
 * A framed line becomes a ReadableLogRecord: Docker's nanosecond timestamp as
 * an HrTime (a Date would lose the nanoseconds), the line as the body, and the
 * stream as log.iostream. Records are plain objects in the SDK's exporter shape,
 * so they go straight to the OTLP exporters without a Logger in between.
 */
import type { HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { LogLine } from '../framing/log-framer.js';
import { toHrTime } from '../framing/timestamp.js';

export const LOG_ATTRIBUTE_KEYS = {
  iostream: 'log.iostream',
  truncated: 'docker.log.truncated',
  originalSize: 'docker.log.original_size',
} as const;

export const INSTRUMENTATION_SCOPE = Object.freeze({ name: 'docker_logs', version: '0.1.0' });

export function toLogRecord(line: LogLine, resource: Resource, observed: HrTime): ReadableLogRecord {
  // A fresh attributes object per record: a consumer changing one record must not change another.
  const attributes: Record<string, string | number | boolean> = { [LOG_ATTRIBUTE_KEYS.iostream]: line.stream };
  if (line.truncated) {
    attributes[LOG_ATTRIBUTE_KEYS.truncated] = true;
    attributes[LOG_ATTRIBUTE_KEYS.originalSize] = line.size;
  }
  return {
    hrTime: toHrTime(line.timestamp),
    hrTimeObserved: observed,
    body: line.text,
    attributes,
    resource,
    instrumentationScope: INSTRUMENTATION_SCOPE,
    droppedAttributesCount: 0,
  };
}

export function hrTimeNow(): HrTime {
  const ms = Date.now();
  return [Math.floor(ms / 1000), (ms % 1000) * 1_000_000];
}
