/**
 * `parse: json`: a log line that is a JSON object becomes a structured record: the object (or one
 * of its fields) as the body, and its time, level and trace context lifted into the record's own
 * Timestamp, SeverityNumber/SeverityText and TraceId/SpanId/TraceFlags.
 *
 * Anything else (plain text, a JSON array or string, invalid or truncated JSON) gives null and the
 * caller keeps the line as a plain string body: a line is never dropped for not being JSON.
 *
 * Cost: a line whose first and last non-blank characters are not `{` and `}` is rejected without
 * calling JSON.parse (an exception costs microseconds). The parsed object is used as the body as
 * is: JSON values already are OTLP AnyValues (objects → kvlist, arrays → array, numbers → int or
 * double, null → empty), so nothing is copied.
 *
 * Numbers: JSON.parse gives doubles, so integers beyond 2^53 lose their last digits (a 64-bit id
 * 1234567890123456789 arrives as 1234567890123456800). Detecting them needs JSON.parse's source
 * text access (a reviver with `context.source`, V8 11.4+, i.e. Node 21+; not in Node 20, and a
 * reviver makes parsing 2-3x slower), so they are not kept as strings. Loggers that care write
 * such ids as strings.
 */
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { AnyValue, AnyValueMap } from '@opentelemetry/api-logs';
import { normalizeTimestamp, toHrTime } from '../framing/timestamp.js';

export interface JsonParseConfig {
  /**
   * Field holding the event time (e.g. `ts`, `time`, `@timestamp`). When present and parseable it
   * becomes the record's Timestamp. Accepted: RFC 3339 with any fraction and `Z` or an offset
   * (`+01:00`, also zap's `+0100`, and a space instead of `T`), or epoch time as a number or a
   * numeric string; the unit is told from the magnitude (below 1e11 seconds, below 1e14
   * milliseconds, below 1e17 microseconds, else nanoseconds), fractions allowed. Times without a
   * zone are rejected (whose local time?).
   */
  timestamp_field: string | null;
  /** Fields tried in order for the level; the first one holding a string or a number is used. */
  severity_fields: readonly string[];
  /**
   * Field holding the message (e.g. `msg`, `message`). When it is present and a string it becomes
   * the body and the other fields become attributes; otherwise the whole object is the body.
   */
  body_field: string | null;
}

export const DEFAULT_SEVERITY_FIELDS: readonly string[] = Object.freeze(['level', 'severity', 'lvl', 'log.level']);

export const JSON_PARSE_DEFAULTS: Readonly<JsonParseConfig> = Object.freeze({
  timestamp_field: null,
  severity_fields: DEFAULT_SEVERITY_FIELDS,
  body_field: null,
});

export interface ParsedJsonLine {
  /** The whole object, or the body field's string when body_field took the body. */
  body: AnyValueMap | string;
  /**
   * Present only when body_field took the body: the other top-level fields, except those lifted
   * into the record (the body, the time, the level and the trace context fields that were used;
   * their values live in the record's own fields, so keeping them would send them twice). A field
   * that could not be used (an unparseable time) stays, and so does the parent object of a field
   * found by a dotted path (`{"log":{"level":…}}` keeps `log`). A fresh object the caller may
   * extend.
   */
  attributes?: Record<string, AnyValue>;
  severityNumber?: SeverityNumber;
  /** The level as the source wrote it (`warn`, `WARNING`, `30`). */
  severityText?: string;
  hrTime?: [number, number];
  /** 32 lowercase hex digits, not all zero. */
  traceId?: string;
  /** 16 lowercase hex digits, not all zero. */
  spanId?: string;
  /** W3C trace flags, 0..255. */
  traceFlags?: number;
}

/** OpenTelemetry's own field names (OTel log bridges, logback/log4j JSON layouts) first, then camelCase, then ECS. */
const TRACE_ID_FIELDS = ['trace_id', 'traceId', 'trace.id'] as const;
const SPAN_ID_FIELDS = ['span_id', 'spanId', 'span.id'] as const;
const TRACE_FLAGS_FIELDS = ['trace_flags', 'traceFlags', 'trace.flags'] as const;

const CH_SPACE = 32;
const CH_TAB = 9;
const CH_LF = 10;
const CH_CR = 13;
const CH_OPEN = 123; // {
const CH_CLOSE = 125; // }

function isJsonSpace(c: number): boolean {
  return c === CH_SPACE || c === CH_TAB || c === CH_LF || c === CH_CR;
}

/** True when `text` could be a JSON object: `{` … `}` around optional whitespace. */
function looksLikeObject(text: string): boolean {
  let i = 0;
  let j = text.length - 1;
  while (i <= j && isJsonSpace(text.charCodeAt(i))) i++;
  if (i > j || text.charCodeAt(i) !== CH_OPEN) return false;
  while (j > i && isJsonSpace(text.charCodeAt(j))) j--;
  return j > i && text.charCodeAt(j) === CH_CLOSE;
}

type JsonObject = Record<string, unknown>;

const hasOwn = Object.hasOwn;

/** Dotted names split once, for the nested lookup of `log.level`, `trace.id`, .... */
const pathCache = new Map<string, string[]>();

/**
 * The value of field `name`: the top-level key of that exact name (ECS writes `"log.level"` as a
 * flat key) or, for a dotted name, the nested path (`{"log":{"level":…}}`). Own properties only,
 * so `constructor` and friends are not found on the prototype.
 */
function lookup(obj: JsonObject, name: string): unknown {
  if (hasOwn(obj, name)) return obj[name];
  if (name.indexOf('.') < 0) return undefined;
  let path = pathCache.get(name);
  if (path === undefined) {
    path = name.split('.');
    if (pathCache.size < 1024) pathCache.set(name, path);
  }
  let current: unknown = obj;
  for (const key of path) {
    if (typeof current !== 'object' || current === null || Array.isArray(current) || !hasOwn(current, key)) return undefined;
    current = (current as JsonObject)[key];
  }
  return current;
}

/**
 * Parses one log line as a JSON object. Returns null when it is not one (the caller keeps the
 * plain string body).
 */
export function parseJsonLine(text: string, config: JsonParseConfig): ParsedJsonLine | null {
  if (!looksLikeObject(text)) return null;
  let obj: JsonObject;
  try {
    // `{`…`}` that parses is always a plain object.
    obj = JSON.parse(text) as JsonObject;
  } catch {
    return null;
  }

  // Every field set up front: one object shape for all results.
  const result: ParsedJsonLine = {
    body: obj as AnyValueMap,
    attributes: undefined,
    severityNumber: undefined,
    severityText: undefined,
    hrTime: undefined,
    traceId: undefined,
    spanId: undefined,
    traceFlags: undefined,
  };
  // Keys lifted into the record's fields; only tracked when the other fields become attributes.
  const bodyValue = config.body_field === null ? undefined : lookup(obj, config.body_field);
  const splitBody = typeof bodyValue === 'string';
  const lifted: string[] | null = splitBody ? [config.body_field as string] : null;

  if (config.timestamp_field !== null) {
    const value = lookup(obj, config.timestamp_field);
    if (value !== undefined) {
      const time = parseTimeValue(value);
      if (time !== null) {
        result.hrTime = time;
        lifted?.push(config.timestamp_field);
      }
    }
  }

  const levels = config.severity_fields;
  for (let i = 0; i < levels.length; i++) {
    const value = lookup(obj, levels[i]);
    if (typeof value !== 'string' && typeof value !== 'number') continue;
    const severity = severityFromText(value);
    if (severity !== null) {
      result.severityNumber = severity.number;
      result.severityText = severity.text;
    } else {
      // An unknown level still says something: keep its text, leave the number unspecified.
      result.severityText = String(value);
    }
    lifted?.push(levels[i]);
    break;
  }

  const traceId = firstId(obj, TRACE_ID_FIELDS, 32, lifted);
  if (traceId !== undefined) {
    result.traceId = traceId;
    const spanId = firstId(obj, SPAN_ID_FIELDS, 16, lifted);
    if (spanId !== undefined) result.spanId = spanId;
    for (const name of TRACE_FLAGS_FIELDS) {
      const flags = traceFlagsOf(lookup(obj, name));
      if (flags !== undefined) {
        result.traceFlags = flags;
        lifted?.push(name);
        break;
      }
    }
  }

  if (lifted !== null) {
    result.body = bodyValue as string;
    result.attributes = attributesWithout(obj, lifted);
  }
  return result;
}

function firstId(obj: JsonObject, names: readonly string[], length: number, lifted: string[] | null): string | undefined {
  for (const name of names) {
    const value = lookup(obj, name);
    if (value === undefined) continue;
    const id = hexId(value, length);
    if (id !== undefined) {
      lifted?.push(name);
      return id;
    }
  }
  return undefined;
}

/** `value` as a W3C id: `length` hex digits, not all zero (the invalid id); lowercased. */
function hexId(value: unknown, length: number): string | undefined {
  if (typeof value !== 'string' || value.length !== length) return undefined;
  let nonZero = false;
  let upper = false;
  for (let i = 0; i < length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (c !== 48) nonZero = true;
    } else if (c >= 97 && c <= 102) {
      nonZero = true;
    } else if (c >= 65 && c <= 70) {
      nonZero = true;
      upper = true;
    } else {
      return undefined;
    }
  }
  if (!nonZero) return undefined;
  return upper ? value.toLowerCase() : value;
}

/** A number 0..255, or one or two hex digits (`"01"`, as in traceparent). */
function traceFlagsOf(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value <= 255 ? value : undefined;
  if (typeof value === 'string' && /^[0-9a-fA-F]{1,2}$/.test(value)) return parseInt(value, 16);
  return undefined;
}

function attributesWithout(obj: JsonObject, lifted: readonly string[]): Record<string, AnyValue> {
  const attributes: Record<string, AnyValue> = {};
  for (const key of Object.keys(obj)) {
    if (lifted.includes(key)) continue;
    const value = obj[key] as AnyValue;
    // A plain assignment to `__proto__` would set the object's prototype instead of a key.
    if (key === '__proto__') Object.defineProperty(attributes, key, { value, enumerable: true, writable: true, configurable: true });
    else attributes[key] = value;
  }
  return attributes;
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/** Latest second a Docker timestamp can hold (9999-12-31T23:59:59Z). */
const MAX_EPOCH_SECONDS = 253_402_300_799;
const EPOCH_RE = /^(\d+)(?:\.(\d+))?$/;
/** A trailing numeric zone without colon (`+0100`, zap's ISO8601 encoder, Java's `Z` pattern). */
const COMPACT_OFFSET_RE = /[+-]\d{4}$/;

function parseTimeValue(value: unknown): [number, number] | null {
  if (typeof value === 'number') {
    if (value < 0) return null;
    // Integer seconds, milliseconds (pino, bunyan's numeric form) or microseconds: exact in a
    // double, no text needed.
    if (Number.isSafeInteger(value)) {
      if (value < 1e11) return [value, 0];
      if (value < 1e14) {
        const seconds = Math.floor(value / 1e3);
        return [seconds, (value - seconds * 1e3) * 1e6];
      }
      if (value < 1e17) {
        const seconds = Math.floor(value / 1e6);
        return [seconds, (value - seconds * 1e6) * 1e3];
      }
    }
    // String(n) is the shortest text that reads back as n: the digits the producer wrote, as far
    // as a double holds them. Exponent forms (< 1e-6, >= 1e21) are no plausible epoch times.
    return Number.isFinite(value) ? parseEpoch(String(value)) : null;
  }
  if (typeof value !== 'string' || value.length === 0) return null;
  const c = value.charCodeAt(0);
  if (c < 48 || c > 57) return null;
  if (value.length >= 20 && value.charCodeAt(4) === 45 /* - */) return parseRfc3339(value);
  return parseEpoch(value);
}

function parseRfc3339(value: string): [number, number] | null {
  let text = value;
  // RFC 3339 (section 5.6, note) allows a space between date and time.
  if (text.charCodeAt(10) === CH_SPACE) text = `${text.slice(0, 10)}T${text.slice(11)}`;
  if (COMPACT_OFFSET_RE.test(text)) text = `${text.slice(0, -2)}:${text.slice(-2)}`;
  const fixed = normalizeTimestamp(text);
  return fixed === null ? null : toHrTime(fixed);
}

/** Epoch time from decimal text, exactly (no float arithmetic), unit told from the magnitude. */
function parseEpoch(text: string): [number, number] | null {
  const m = EPOCH_RE.exec(text);
  if (m === null) return null;
  const whole = m[1].replace(/^0+(?=\d)/, '');
  const fraction = m[2] ?? '';
  // Digits of the whole part: ≤ 11 → seconds (< 1e11, up to year 5138), then ms, µs, ns.
  const scale = whole.length <= 11 ? 9 : whole.length <= 14 ? 6 : whole.length <= 17 ? 3 : 0;
  // The value in nanoseconds as a decimal string (extra fraction digits are below 1 ns: dropped).
  const nanosText = whole + fraction.padEnd(scale, '0').slice(0, scale);
  const seconds = nanosText.length > 9 ? Number(nanosText.slice(0, -9)) : 0;
  const nanos = Number(nanosText.length > 9 ? nanosText.slice(-9) : nanosText);
  if (seconds > MAX_EPOCH_SECONDS) return null;
  return [seconds, nanos];
}

// ---------------------------------------------------------------------------------------------
// Severity
// ---------------------------------------------------------------------------------------------

/**
 * Level names → SeverityNumber, after the OpenTelemetry log data model's Appendix B
 * (SeverityNumber example mappings) where it has a row, and the frameworks' own order elsewhere:
 *
 * | names                                         | SeverityNumber | from                                   |
 * |-----------------------------------------------|----------------|----------------------------------------|
 * | trace, trce, finest                           | TRACE (1)      | Log4j, .NET, j.u.l.                     |
 * | debug, dbug, verbose, finer                   | DEBUG (5)      | syslog Debug, WinEvtLog Verbose         |
 * | fine / config                                 | DEBUG2 / DEBUG3| j.u.l.                                  |
 * | info, information, informational             | INFO (9)       |                                         |
 * | notice                                        | INFO2 (10)     | syslog Notice                           |
 * | warn, warning                                 | WARN (13)      |                                         |
 * | error, err, fail, severe                      | ERROR (17)     | syslog `err`, .NET `fail`, j.u.l. SEVERE|
 * | crit, dpanic                                  | ERROR2 (18)    | syslog Critical (its keyword is `crit`), zap DPanic |
 * | alert, panic                                  | ERROR3 (19)    | syslog Alert, zap Panic                 |
 * | fatal, critical, emerg, emergency             | FATAL (21)     | Log4j FATAL, .NET/ETW Critical, syslog Emergency |
 * | trace2 … fatal4                               | as named       | the data model's short names            |
 *
 * `critical` is FATAL and `crit` ERROR2 on purpose: the spelled-out word comes from application
 * loggers where it is the top level (.NET LogLevel.Critical and ETW CRITICAL map to FATAL in the
 * appendix; Python's CRITICAL is its FATAL), while `crit` is the syslog keyword, which the
 * appendix maps to ERROR2. `panic` follows zap's row (ERROR3); in logrus and zerolog `panic` is
 * above `fatal`, a disagreement the appendix does not settle.
 */
const SEVERITY_NAMES: ReadonlyArray<readonly [string, SeverityNumber]> = [
  ['trace', SeverityNumber.TRACE],
  ['trce', SeverityNumber.TRACE],
  ['finest', SeverityNumber.TRACE],
  ['debug', SeverityNumber.DEBUG],
  ['dbug', SeverityNumber.DEBUG],
  ['verbose', SeverityNumber.DEBUG],
  ['finer', SeverityNumber.DEBUG],
  ['fine', SeverityNumber.DEBUG2],
  ['config', SeverityNumber.DEBUG3],
  ['info', SeverityNumber.INFO],
  ['information', SeverityNumber.INFO],
  ['informational', SeverityNumber.INFO],
  ['notice', SeverityNumber.INFO2],
  ['warn', SeverityNumber.WARN],
  ['warning', SeverityNumber.WARN],
  ['error', SeverityNumber.ERROR],
  ['err', SeverityNumber.ERROR],
  ['fail', SeverityNumber.ERROR],
  ['severe', SeverityNumber.ERROR],
  ['crit', SeverityNumber.ERROR2],
  ['dpanic', SeverityNumber.ERROR2],
  ['alert', SeverityNumber.ERROR3],
  ['panic', SeverityNumber.ERROR3],
  ['fatal', SeverityNumber.FATAL],
  ['critical', SeverityNumber.FATAL],
  ['emerg', SeverityNumber.FATAL],
  ['emergency', SeverityNumber.FATAL],
];

/** Syslog severity codes 0..7 (RFC 5424), per the appendix's syslog column. */
const SYSLOG_CODES: readonly SeverityNumber[] = [
  SeverityNumber.FATAL, // 0 Emergency
  SeverityNumber.ERROR3, // 1 Alert
  SeverityNumber.ERROR2, // 2 Critical
  SeverityNumber.ERROR, // 3 Error
  SeverityNumber.WARN, // 4 Warning
  SeverityNumber.INFO2, // 5 Notice
  SeverityNumber.INFO, // 6 Informational
  SeverityNumber.DEBUG, // 7 Debug
];

/** bunyan/pino levels by tens: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal. */
const BUNYAN_DECADES: readonly SeverityNumber[] = [
  SeverityNumber.TRACE,
  SeverityNumber.DEBUG,
  SeverityNumber.INFO,
  SeverityNumber.WARN,
  SeverityNumber.ERROR,
  SeverityNumber.FATAL,
];

/** Exact-text lookup in the spellings found in the wild (info, INFO, Info), so most lines need no toLowerCase. */
const SEVERITY_BY_NAME: ReadonlyMap<string, SeverityNumber> = (() => {
  const map = new Map<string, SeverityNumber>();
  const add = (name: string, n: SeverityNumber): void => {
    map.set(name, n);
    map.set(name.toUpperCase(), n);
    map.set(name[0].toUpperCase() + name.slice(1), n);
  };
  for (const [name, n] of SEVERITY_NAMES) add(name, n);
  // The data model's short names with a step: TRACE2 … FATAL4.
  for (const [name, base] of [
    ['trace', SeverityNumber.TRACE],
    ['debug', SeverityNumber.DEBUG],
    ['info', SeverityNumber.INFO],
    ['warn', SeverityNumber.WARN],
    ['error', SeverityNumber.ERROR],
    ['fatal', SeverityNumber.FATAL],
  ] as const) {
    for (let step = 2; step <= 4; step++) add(`${name}${step}`, base + step - 1);
  }
  return map;
})();

function severityFromNumber(n: number): SeverityNumber | null {
  if (!Number.isInteger(n) || n < 0) return null;
  if (n <= 7) return SYSLOG_CODES[n];
  if (n >= 10 && n < 70) return BUNYAN_DECADES[Math.floor(n / 10) - 1];
  return null;
}

/**
 * The SeverityNumber of a level as a logger wrote it: a name (case-insensitive, see the table
 * above), a syslog code 0..7, or a bunyan/pino level 10..69 (by tens), as a number or a string of
 * digits. `text` is the level as written (numbers as their decimal text). Null when unknown.
 */
export function severityFromText(level: string | number): { number: SeverityNumber; text: string } | null {
  if (typeof level === 'number') {
    const n = severityFromNumber(level);
    return n === null ? null : { number: n, text: String(level) };
  }
  const known = SEVERITY_BY_NAME.get(level) ?? SEVERITY_BY_NAME.get(level.toLowerCase());
  if (known !== undefined) return { number: known, text: level };
  if (level.length > 0 && level.length <= 3 && /^\d+$/.test(level)) {
    const n = severityFromNumber(Number(level));
    if (n !== null) return { number: n, text: level };
  }
  return null;
}
