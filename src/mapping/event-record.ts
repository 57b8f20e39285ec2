/**
 * Container lifecycle events as log records (`events: true`), on the
 * container's own Resource so they sit next to its logs in a backend.
 */
import type { HrTime } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { EngineEvent } from '../docker/engine.js';
import { INSTRUMENTATION_SCOPE } from './log-record.js';

export const EVENT_ATTRIBUTE_KEYS = {
  name: 'event.name',
  exitCode: 'container.exit_code',
  healthStatus: 'container.health_status',
  previousName: 'container.previous_name',
} as const;

interface EventShape {
  body: string;
  severity: SeverityNumber;
  attributes: Record<string, string | number>;
}

function describe(event: EngineEvent): { action: string; shape: EventShape } | null {
  const action = event.action.split(':')[0]?.trim() ?? '';
  const a = event.attributes;
  switch (action) {
    case 'start':
      return { action, shape: { body: 'container started', severity: SeverityNumber.INFO, attributes: {} } };
    case 'die': {
      const code = Number(a['exitCode'] ?? 'NaN');
      const known = Number.isInteger(code);
      return {
        action,
        shape: {
          body: known ? `container exited with code ${code}` : 'container exited',
          severity: known && code === 0 ? SeverityNumber.INFO : SeverityNumber.WARN,
          attributes: known ? { [EVENT_ATTRIBUTE_KEYS.exitCode]: code } : {},
        },
      };
    }
    case 'oom':
      return { action, shape: { body: 'container ran out of memory', severity: SeverityNumber.ERROR, attributes: {} } };
    case 'health_status': {
      const status = event.action.slice(event.action.indexOf(':') + 1).trim();
      return {
        action,
        shape: { body: `health status: ${status}`, severity: status === 'unhealthy' ? SeverityNumber.WARN : SeverityNumber.INFO, attributes: { [EVENT_ATTRIBUTE_KEYS.healthStatus]: status } },
      };
    }
    case 'rename': {
      const previous = (a['oldName'] ?? '').replace(/^\//, '');
      return {
        action,
        shape: { body: `container renamed from ${previous} to ${a['name'] ?? ''}`, severity: SeverityNumber.INFO, attributes: { [EVENT_ATTRIBUTE_KEYS.previousName]: previous } },
      };
    }
    default:
      return null;
  }
}

/** The record for an event we report, or null for events we do not. */
export function eventRecord(event: EngineEvent, resource: Resource, observed: HrTime): ReadableLogRecord | null {
  const described = describe(event);
  if (described === null) return null;
  const eventName = `container.${described.action}`;
  const seconds = event.timeNano / 1_000_000_000n;
  const time: HrTime = event.timeNano > 0n ? [Number(seconds), Number(event.timeNano - seconds * 1_000_000_000n)] : observed;
  return {
    hrTime: time,
    hrTimeObserved: observed,
    body: described.shape.body,
    eventName,
    severityNumber: described.shape.severity,
    severityText: SeverityNumber[described.shape.severity],
    attributes: { [EVENT_ATTRIBUTE_KEYS.name]: eventName, ...described.shape.attributes },
    resource,
    instrumentationScope: INSTRUMENTATION_SCOPE,
    droppedAttributesCount: 0,
  };
}
