/**
 * A framed line becomes a ReadableLogRecord: Docker's nanosecond timestamp as
 * an HrTime (a Date would lose the nanoseconds), the line as the body, and the
 * stream as log.iostream. Records are plain objects in the SDK's exporter shape,
 * so they go straight to the OTLP exporters without a Logger in between.
 */
import type { HrTime } from '@opentelemetry/api';
import type { AnyValue } from '@opentelemetry/api-logs';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { LogLine } from '../framing/log-framer.js';
import { toHrTime } from '../framing/timestamp.js';
import { VERSION } from '../version.js';
import type { JsonParseConfig, ParsedJsonLine } from './json-body.js';
import { parseJsonLine } from './json-body.js';

export const LOG_ATTRIBUTE_KEYS = {
  iostream: 'log.iostream',
  truncated: 'docker.log.truncated',
  originalSize: 'docker.log.original_size',
  dockerTime: 'docker.log.time',
} as const;

/** The fields of every record; the README table is generated from this. */
export const LOG_RECORD_DOCS: ReadonlyArray<readonly [string, string]> = [
  ['Timestamp', "Docker's timestamp of the line, to the nanosecond. With `parse: json`: the time in the line's `timestamp_field`, when it has a usable one."],
  ['ObservedTimestamp', 'When the receiver read the line.'],
  ['Body', 'The line as a string, without its newline (TTY containers: without the `\\r`s before it); partial 16 KiB messages reassembled; invalid UTF-8 replaced by U+FFFD.'],
  [`Attributes[${LOG_ATTRIBUTE_KEYS.iostream}]`, '`stdout` or `stderr` (always `stdout` for TTY containers).'],
  [`Attributes[${LOG_ATTRIBUTE_KEYS.truncated}]`, '`true` when the line was longer than `max_log_size` and was cut.'],
  [`Attributes[${LOG_ATTRIBUTE_KEYS.originalSize}]`, 'The full size in bytes of a cut line.'],
  ['SeverityNumber, SeverityText', 'With `parse: json`: the level in the first of `severity_fields` present (names, syslog codes 0-7, pino/bunyan levels), mapped per the OpenTelemetry log data model; the text as written.'],
  ['TraceId, SpanId, TraceFlags', 'With `parse: json`: from `trace_id`/`span_id`/`trace_flags` (or `traceId`/`spanId`/`traceFlags`, or ECS `trace.id`/`span.id`) when they are valid W3C ids.'],
  ['Attributes[*]', 'With `parse: json` and `body_field`: the other top-level fields of the object (the receiver\'s own attributes win over same-named fields).'],
  [`Attributes[${LOG_ATTRIBUTE_KEYS.dockerTime}]`, "With `parse: json`, when the line's own time became Timestamp and differs from Docker's: Docker's timestamp (RFC 3339, nanoseconds)."],
  ['InstrumentationScope', '`docker_logs` with the receiver version.'],
];

/**
 * The attributes of ordinary lines, shared by all records and frozen: no record
 * can change another's (an attempt throws), and a million records do not cost a
 * million objects.
 */
const STDOUT_ATTRIBUTES: Record<string, string> = Object.freeze({ [LOG_ATTRIBUTE_KEYS.iostream]: 'stdout' });
const STDERR_ATTRIBUTES: Record<string, string> = Object.freeze({ [LOG_ATTRIBUTE_KEYS.iostream]: 'stderr' });

export const INSTRUMENTATION_SCOPE = Object.freeze({ name: 'docker_logs', version: VERSION });

export interface LogRecordOptions {
  /** Per-container `parse: json`; undefined keeps every body a plain string. */
  readonly json?: JsonParseConfig;
}

export function toLogRecord(line: LogLine, resource: Resource, observed: HrTime, options?: LogRecordOptions): ReadableLogRecord {
  if (options?.json !== undefined) {
    const parsed = parseJsonLine(line.text, options.json);
    // Not a JSON object: the line goes out as a plain string, like any other.
    if (parsed !== null) return toStructuredRecord(line, parsed, resource, observed);
  }
  let attributes: Record<string, string | number | boolean>;
  if (line.truncated) {
    attributes = { [LOG_ATTRIBUTE_KEYS.iostream]: line.stream, [LOG_ATTRIBUTE_KEYS.truncated]: true, [LOG_ATTRIBUTE_KEYS.originalSize]: line.size };
  } else {
    attributes = line.stream === 'stdout' ? STDOUT_ATTRIBUTES : STDERR_ATTRIBUTES;
  }
  return {
    hrTime: line.time ?? toHrTime(line.timestamp),
    hrTimeObserved: observed,
    body: line.text,
    attributes,
    resource,
    instrumentationScope: INSTRUMENTATION_SCOPE,
    droppedAttributesCount: 0,
  };
}

/** A line that held a JSON object: body, time, severity and trace context taken from it. */
function toStructuredRecord(line: LogLine, parsed: ParsedJsonLine, resource: Resource, observed: HrTime): ReadableLogRecord {
  // parseJsonLine's attributes object is fresh; the receiver's keys are set last so they win.
  const attributes: Record<string, AnyValue> = parsed.attributes ?? {};
  attributes[LOG_ATTRIBUTE_KEYS.iostream] = line.stream;
  if (line.truncated) {
    attributes[LOG_ATTRIBUTE_KEYS.truncated] = true;
    attributes[LOG_ATTRIBUTE_KEYS.originalSize] = line.size;
  }
  let hrTime: HrTime = line.time ?? toHrTime(line.timestamp);
  if (parsed.hrTime !== undefined) {
    // Docker's time stays available (it orders lines and shows the delay to the daemon).
    if (parsed.hrTime[0] !== hrTime[0] || parsed.hrTime[1] !== hrTime[1]) attributes[LOG_ATTRIBUTE_KEYS.dockerTime] = line.timestamp;
    hrTime = parsed.hrTime;
  }
  return {
    hrTime,
    hrTimeObserved: observed,
    body: parsed.body,
    severityNumber: parsed.severityNumber,
    severityText: parsed.severityText,
    spanContext:
      parsed.traceId === undefined ? undefined : { traceId: parsed.traceId, spanId: parsed.spanId ?? '', traceFlags: parsed.traceFlags ?? 0 },
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
