import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { DEFAULT_SEVERITY_FIELDS, JSON_PARSE_DEFAULTS, parseJsonLine, severityFromText } from '../../src/mapping/json-body.js';
import type { JsonParseConfig, ParsedJsonLine } from '../../src/mapping/json-body.js';

function cfg(overrides: Partial<JsonParseConfig> = {}): JsonParseConfig {
  return { ...JSON_PARSE_DEFAULTS, ...overrides };
}

function parse(text: string, overrides: Partial<JsonParseConfig> = {}): ParsedJsonLine {
  const parsed = parseJsonLine(text, cfg(overrides));
  assert.ok(parsed !== null, `parsed: ${text}`);
  return parsed;
}

/** Seconds since the epoch of an ISO date, for readable expectations. */
function sec(iso: string): number {
  return Date.parse(iso) / 1000;
}

describe('logger formats', () => {
  test('pino: numeric level, epoch-millisecond time, msg as the body', () => {
    const line = '{"level":30,"time":1714564800123,"pid":7,"hostname":"web-1","msg":"request done","req":{"id":1}}';
    const p = parse(line, { timestamp_field: 'time', body_field: 'msg' });
    assert.equal(p.body, 'request done');
    assert.equal(p.severityNumber, SeverityNumber.INFO);
    assert.equal(p.severityText, '30');
    assert.deepEqual(p.hrTime, [sec('2024-05-01T12:00:00Z'), 123_000_000]);
    assert.deepEqual(p.attributes, { pid: 7, hostname: 'web-1', req: { id: 1 } }, 'level, time and msg live in the record fields');
  });

  test('bunyan: level 50, RFC 3339 time', () => {
    const line = '{"name":"app","hostname":"h","pid":1,"level":50,"msg":"boom","time":"2024-05-01T12:00:00.123Z","v":0}';
    const p = parse(line, { timestamp_field: 'time', body_field: 'msg' });
    assert.equal(p.severityNumber, SeverityNumber.ERROR);
    assert.deepEqual(p.hrTime, [sec('2024-05-01T12:00:00Z'), 123_000_000]);
    assert.deepEqual(p.attributes, { name: 'app', hostname: 'h', pid: 1, v: 0 });
  });

  test('logrus: "level":"warning", time with an offset', () => {
    const p = parse('{"level":"warning","msg":"disk low","time":"2024-05-01T14:00:00+02:00","free":"2%"}', { timestamp_field: 'time', body_field: 'msg' });
    assert.equal(p.severityNumber, SeverityNumber.WARN);
    assert.equal(p.severityText, 'warning');
    assert.deepEqual(p.hrTime, [sec('2024-05-01T12:00:00Z'), 0]);
    assert.deepEqual(p.attributes, { free: '2%' });
  });

  test('zap production: "level":"warn", float epoch seconds', () => {
    const p = parse('{"level":"warn","ts":1714564800.1234567,"caller":"main.go:10","msg":"slow","took":1.5}', { timestamp_field: 'ts', body_field: 'msg' });
    assert.equal(p.severityNumber, SeverityNumber.WARN);
    assert.equal(p.severityText, 'warn');
    assert.deepEqual(p.hrTime, [sec('2024-05-01T12:00:00Z'), 123_456_700]);
    assert.deepEqual(p.attributes, { caller: 'main.go:10', took: 1.5 });
  });

  test('zap ISO8601 encoder: offset without colon', () => {
    const p = parse('{"level":"error","ts":"2024-05-01T14:00:00.123+0200","msg":"x"}', { timestamp_field: 'ts' });
    assert.equal(p.severityNumber, SeverityNumber.ERROR);
    assert.deepEqual(p.hrTime, [sec('2024-05-01T12:00:00Z'), 123_000_000]);
  });

  test('ECS: flat "log.level" and "@timestamp"; nested {"log":{"level"}} also found', () => {
    const flat = parse('{"@timestamp":"2024-05-01T12:00:00.000Z","log.level":"info","message":"hi","ecs.version":"1.6.0"}', {
      timestamp_field: '@timestamp',
      body_field: 'message',
    });
    assert.equal(flat.severityNumber, SeverityNumber.INFO);
    assert.deepEqual(flat.attributes, { 'ecs.version': '1.6.0' });
    const nested = parse('{"log":{"level":"ERROR","logger":"x"},"message":"hi"}', { body_field: 'message' });
    assert.equal(nested.severityNumber, SeverityNumber.ERROR);
    assert.equal(nested.severityText, 'ERROR');
    assert.deepEqual(nested.attributes, { log: { level: 'ERROR', logger: 'x' } }, 'a nested field is not removed from its parent');
  });
});

describe('body', () => {
  test('without body_field the whole object is the body, nested values and numbers as they are', () => {
    const p = parse('{"a":1,"b":2.5,"c":[1,"x",{"d":null}],"e":{"f":true},"g":"s"}');
    assert.deepEqual(p.body, { a: 1, b: 2.5, c: [1, 'x', { d: null }], e: { f: true }, g: 's' });
    assert.equal(p.attributes, undefined);
  });

  test('in whole-object mode the lifted fields stay in the body', () => {
    const p = parse('{"level":"info","ts":1714564800,"msg":"m"}', { timestamp_field: 'ts' });
    assert.deepEqual(p.body, { level: 'info', ts: 1714564800, msg: 'm' });
    assert.equal(p.severityNumber, SeverityNumber.INFO);
  });

  test('body_field absent or not a string: the whole object is the body', () => {
    assert.deepEqual(parse('{"x":1}', { body_field: 'msg' }).body, { x: 1 });
    const p = parse('{"msg":{"k":"v"},"x":1}', { body_field: 'msg' });
    assert.deepEqual(p.body, { msg: { k: 'v' }, x: 1 });
    assert.equal(p.attributes, undefined);
  });

  test('body_field present: the string is the body, the rest are attributes (a fresh object)', () => {
    const p = parse('{"message":"hello","user":"u1","n":3}', { body_field: 'message' });
    assert.equal(p.body, 'hello');
    const attributes = p.attributes;
    assert.ok(attributes !== undefined);
    attributes['log.iostream'] = 'stdout';
    assert.deepEqual(attributes, { user: 'u1', n: 3, 'log.iostream': 'stdout' });
  });

  test('a field that could not be used stays an attribute', () => {
    const p = parse('{"msg":"m","ts":"yesterday","level":{"odd":1}}', { timestamp_field: 'ts', body_field: 'msg' });
    assert.equal(p.hrTime, undefined);
    assert.equal(p.severityNumber, undefined);
    assert.deepEqual(p.attributes, { ts: 'yesterday', level: { odd: 1 } });
  });

  test('a "__proto__" key is an ordinary attribute, not the prototype', () => {
    const p = parse('{"msg":"m","__proto__":{"polluted":true}}', { body_field: 'msg' });
    const attributes = p.attributes!;
    assert.equal(Object.getPrototypeOf(attributes), Object.prototype);
    assert.deepEqual(Object.keys(attributes), ['__proto__']);
    assert.deepEqual(Object.getOwnPropertyDescriptor(attributes, '__proto__')?.value, { polluted: true });
    assert.equal((attributes as Record<string, unknown>).polluted, undefined);
  });

  test('field names are own properties only ("constructor" is not found on the prototype)', () => {
    const p = parse('{"x":1}', { body_field: 'constructor', timestamp_field: 'toString' });
    assert.deepEqual(p.body, { x: 1 });
    assert.equal(p.hrTime, undefined);
  });

  test('integers beyond 2^53 stay numbers and lose their last digits (documented)', () => {
    const p = parse('{"id":12345678901234567890}');
    const id = (p.body as Record<string, unknown>).id;
    assert.equal(typeof id, 'number');
    assert.equal(id, 12345678901234567000);
  });
});

describe('not a JSON object → null (the caller keeps the plain string)', () => {
  const cases = [
    'plain text',
    '',
    '   ',
    '{',
    '{"a":',
    '{not json}',
    '{"a":1}{"b":2}',
    '{"a":1} trailing',
    'prefix {"a":1}',
    '[1,2]',
    '[{"a":1}]',
    '"a string"',
    '42',
    'null',
    'true',
    // A cut (truncated) JSON line.
    '{"msg":"a very long line that was cut at max_log_si',
  ];
  for (const text of cases) {
    test(JSON.stringify(text), () => {
      assert.equal(parseJsonLine(text, cfg()), null);
    });
  }

  test('whitespace around an object is fine', () => {
    assert.deepEqual(parse(' \t{"a":1}\r\n ').body, { a: 1 });
    assert.deepEqual(parse('{}').body, {});
  });
});

describe('timestamp_field', () => {
  const at = (value: string, expected: [number, number] | undefined): void => {
    assert.deepEqual(parse(`{"t":${value}}`, { timestamp_field: 't' }).hrTime, expected, value);
  };
  const noon = sec('2024-05-01T12:00:00Z');

  test('RFC 3339 with nanoseconds, trimmed fractions, offsets, a space for T', () => {
    at('"2024-05-01T12:00:00.123456789Z"', [noon, 123_456_789]);
    at('"2024-05-01T12:00:00Z"', [noon, 0]);
    at('"2024-05-01T12:00:00.5Z"', [noon, 500_000_000]);
    at('"2024-05-01T07:00:00.000001-05:00"', [noon, 1000]);
    at('"2024-05-01 12:00:00.25Z"', [noon, 250_000_000]);
    at('"2024-05-01t12:00:00z"', [noon, 0]);
  });

  test('epoch seconds, milliseconds, microseconds, nanoseconds, as numbers or numeric strings', () => {
    at('1714564800', [noon, 0]);
    at('1714564800.25', [noon, 250_000_000]);
    at('"1714564800"', [noon, 0]);
    at('1714564800123', [noon, 123_000_000]);
    at('"1714564800123.5"', [noon, 123_500_000]);
    at('1714564800123456', [noon, 123_456_000]);
    // Exact from a string. A number above 2^53 is a double: its shortest decimal form is used.
    at('"1714564800123456789"', [noon, 123_456_789]);
    at('1714564800123456789', [noon, 123_456_800]);
    at('0', [0, 0]);
  });

  test('unparseable or implausible values are ignored', () => {
    for (const v of ['"yesterday"', '"2024-05-01T12:00:00"', '"2024-05-01"', '"2024-13-01T12:00:00Z"', '-5', '"-5"', '1e300', 'true', 'null', '{"s":1}', '""', '"1714564800x"']) {
      at(v, undefined);
    }
  });

  test('absent field or no timestamp_field: no hrTime', () => {
    assert.equal(parse('{"x":1}', { timestamp_field: 't' }).hrTime, undefined);
    assert.equal(parse('{"t":1714564800}').hrTime, undefined);
  });
});

describe('severity', () => {
  test('the default fields, in order; the first holding a string or number decides', () => {
    assert.deepEqual(DEFAULT_SEVERITY_FIELDS, ['level', 'severity', 'lvl', 'log.level']);
    assert.equal(parse('{"severity":"ERROR","level":"info"}').severityNumber, SeverityNumber.INFO);
    assert.equal(parse('{"severity":"ERROR"}').severityNumber, SeverityNumber.ERROR);
    assert.equal(parse('{"lvl":"dbug"}').severityNumber, SeverityNumber.DEBUG);
    assert.equal(parse('{"level":{"x":1},"severity":"warn"}').severityNumber, SeverityNumber.WARN);
    assert.equal(parse('{"x":1}').severityNumber, undefined);
  });

  test('an unknown level keeps its text and leaves the number unspecified', () => {
    const p = parse('{"level":"chatty","msg":"m"}', { body_field: 'msg' });
    assert.equal(p.severityNumber, undefined);
    assert.equal(p.severityText, 'chatty');
    assert.deepEqual(p.attributes, {});
  });

  test('names, case-insensitively, per the data model appendix', () => {
    const expect: Array<[string, SeverityNumber]> = [
      ['trace', SeverityNumber.TRACE],
      ['TRACE', SeverityNumber.TRACE],
      ['debug', SeverityNumber.DEBUG],
      ['Debug', SeverityNumber.DEBUG],
      ['info', SeverityNumber.INFO],
      ['INFO', SeverityNumber.INFO],
      ['Information', SeverityNumber.INFO],
      ['notice', SeverityNumber.INFO2],
      ['warn', SeverityNumber.WARN],
      ['WARNING', SeverityNumber.WARN],
      ['error', SeverityNumber.ERROR],
      ['err', SeverityNumber.ERROR],
      ['crit', SeverityNumber.ERROR2],
      ['dpanic', SeverityNumber.ERROR2],
      ['alert', SeverityNumber.ERROR3],
      ['panic', SeverityNumber.ERROR3],
      ['critical', SeverityNumber.FATAL],
      ['CRITICAL', SeverityNumber.FATAL],
      ['fatal', SeverityNumber.FATAL],
      ['emerg', SeverityNumber.FATAL],
      ['EmErGeNcY', SeverityNumber.FATAL],
      ['WARN2', SeverityNumber.WARN2],
      ['info4', SeverityNumber.INFO4],
      ['Fatal3', SeverityNumber.FATAL3],
    ];
    for (const [text, number] of expect) assert.deepEqual(severityFromText(text), { number, text }, text);
    for (const text of ['', 'verbose2', 'warn5', 'inf', ' info', 'information!']) assert.equal(severityFromText(text), null, text);
  });

  test('numbers: syslog codes 0..7, bunyan/pino levels by tens; numeric strings too', () => {
    const syslog = [SeverityNumber.FATAL, SeverityNumber.ERROR3, SeverityNumber.ERROR2, SeverityNumber.ERROR, SeverityNumber.WARN, SeverityNumber.INFO2, SeverityNumber.INFO, SeverityNumber.DEBUG];
    syslog.forEach((number, code) => assert.deepEqual(severityFromText(code), { number, text: String(code) }));
    const pino: Array<[number, SeverityNumber]> = [
      [10, SeverityNumber.TRACE],
      [20, SeverityNumber.DEBUG],
      [30, SeverityNumber.INFO],
      [35, SeverityNumber.INFO],
      [40, SeverityNumber.WARN],
      [50, SeverityNumber.ERROR],
      [60, SeverityNumber.FATAL],
    ];
    for (const [level, number] of pino) assert.deepEqual(severityFromText(level), { number, text: String(level) });
    assert.deepEqual(severityFromText('30'), { number: SeverityNumber.INFO, text: '30' });
    assert.deepEqual(severityFromText('6'), { number: SeverityNumber.INFO, text: '6' });
    for (const n of [8, 9, 70, 100, -1, 2.5, NaN]) assert.equal(severityFromText(n), null, String(n));
    assert.equal(severityFromText('1000'), null);
  });
});

describe('trace context', () => {
  const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
  const SPAN = '00f067aa0ba902b7';

  test('trace_id / span_id / trace_flags (OpenTelemetry names)', () => {
    const p = parse(`{"trace_id":"${TRACE}","span_id":"${SPAN}","trace_flags":"01","msg":"m","x":1}`, { body_field: 'msg' });
    assert.equal(p.traceId, TRACE);
    assert.equal(p.spanId, SPAN);
    assert.equal(p.traceFlags, 1);
    assert.deepEqual(p.attributes, { x: 1 });
  });

  test('camelCase and ECS names, flat or nested; upper-case hex is lowercased', () => {
    const camel = parse(`{"traceId":"${TRACE.toUpperCase()}","spanId":"${SPAN}","traceFlags":1}`);
    assert.equal(camel.traceId, TRACE);
    assert.equal(camel.traceFlags, 1);
    const ecs = parse(`{"trace.id":"${TRACE}","span.id":"${SPAN}"}`);
    assert.equal(ecs.traceId, TRACE);
    assert.equal(ecs.spanId, SPAN);
    assert.equal(ecs.traceFlags, undefined);
    const nested = parse(`{"trace":{"id":"${TRACE}"},"span":{"id":"${SPAN}"}}`);
    assert.equal(nested.traceId, TRACE);
    assert.equal(nested.spanId, SPAN);
  });

  test('invalid ids are ignored: wrong length, not hex, all zeros; and stay attributes', () => {
    for (const bad of ['', TRACE.slice(1), `${TRACE}0`, `${TRACE.slice(1)}g`, '0'.repeat(32), 42]) {
      const p = parse(`{"trace_id":${JSON.stringify(bad)},"span_id":"${SPAN}","msg":"m"}`, { body_field: 'msg' });
      assert.equal(p.traceId, undefined, String(bad));
      assert.equal(p.spanId, undefined, 'a span id alone means nothing');
      assert.deepEqual(p.attributes, { trace_id: bad, span_id: SPAN });
    }
    const zeroSpan = parse(`{"trace_id":"${TRACE}","span_id":"${'0'.repeat(16)}"}`);
    assert.equal(zeroSpan.traceId, TRACE);
    assert.equal(zeroSpan.spanId, undefined);
  });

  test('trace flags: 0..255 or one or two hex digits', () => {
    const flags = (v: string): number | undefined => parse(`{"trace_id":"${TRACE}","trace_flags":${v}}`).traceFlags;
    assert.equal(flags('0'), 0);
    assert.equal(flags('255'), 255);
    assert.equal(flags('"ff"'), 255);
    assert.equal(flags('256'), undefined);
    assert.equal(flags('1.5'), undefined);
    assert.equal(flags('"0x1"'), undefined);
  });
});
