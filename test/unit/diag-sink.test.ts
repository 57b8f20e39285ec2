/**
 * The bridge from the OpenTelemetry SDK's `diag` into our log: each distinct
 * message once at warn, the default error handler's exception JSON reduced to
 * its message, and failed metrics exports (said by the metrics pipeline itself)
 * kept out of warn.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, diagSinkFor } from '../../src/util/logger.js';

function capture(): { lines: string[]; sink: ReturnType<typeof diagSinkFor> } {
  const lines: string[] = [];
  const logger = createLogger({ level: 'warn', encoding: 'console', write: (line) => lines.push(line) });
  return { lines, sink: diagSinkFor(logger) };
}

test("a backend's partial success is said once, with its detail", () => {
  const { lines, sink } = capture();
  sink.warn('Received Partial Success response:', JSON.stringify({ rejectedLogRecords: 3, errorMessage: 'too old' }));
  sink.warn('Received Partial Success response:', JSON.stringify({ rejectedLogRecords: 5, errorMessage: 'too old' }));
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], /\twarn\tdocker-logs-receiver\/otel-sdk\tReceived Partial Success response: \{"rejectedLogRecords":3,"errorMessage":"too old"\}$/);
});

test("the default error handler's exception JSON is reduced to its message; failed metrics exports stay out of warn", () => {
  const { lines, sink } = capture();
  const exceptionJson = (message: string): string => JSON.stringify({ stack: `Error: ${message}\n    at somewhere (file.js:1:1)`, message, name: 'Error' });
  sink.error(exceptionJson('PeriodicExportingMetricReader: metrics export failed (error Error: connect ECONNREFUSED 127.0.0.1:9)'));
  assert.deepEqual(lines, []);
  sink.error(exceptionJson('something else broke'));
  sink.error(exceptionJson('something else broke'));
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], /\/otel-sdk\tsomething else broke$/);
  sink.error('{not json');
  assert.match(lines[1], /\/otel-sdk\t\{not json$/);
  sink.info('chatter');
  sink.debug('chatter');
  sink.verbose('chatter');
  assert.equal(lines.length, 2);
});
