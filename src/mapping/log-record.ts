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
import { VERSION } from '../version.js';

export const LOG_ATTRIBUTE_KEYS = {
  iostream: 'log.iostream',
  truncated: 'docker.log.truncated',
  originalSize: 'docker.log.original_size',
} as const;

/** The fields of every record; the README table is generated from this. */
export const LOG_RECORD_DOCS: ReadonlyArray<readonly [string, string]> = [
  ['Timestamp', "Docker's timestamp of the line, to the nanosecond."],
  ['ObservedTimestamp', 'When the receiver read the line.'],
  ['Body', 'The line as a string, without its newline (TTY containers: without the `\\r`s before it); partial 16 KiB messages reassembled; invalid UTF-8 replaced by U+FFFD.'],
  [`Attributes[${LOG_ATTRIBUTE_KEYS.iostream}]`, '`stdout` or `stderr` (always `stdout` for TTY containers).'],
  [`Attributes[${LOG_ATTRIBUTE_KEYS.truncated}]`, '`true` when the line was longer than `max_log_size` and was cut.'],
  [`Attributes[${LOG_ATTRIBUTE_KEYS.originalSize}]`, 'The full size in bytes of a cut line.'],
  ['InstrumentationScope', '`docker_logs` with the receiver version.'],
];

export const INSTRUMENTATION_SCOPE = Object.freeze({ name: 'docker_logs', version: VERSION });

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
