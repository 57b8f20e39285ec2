/**
 * The configuration schema: the one place where every key, its type, default,
 * constraints and documentation are declared. Defaults, validation, the reference
 * documentation (configReferenceMarkdown) and the list of keys example.yaml must
 * cover are all derived from it; the exported interfaces are checked against it at
 * compile time (SchemaTypeChecks), so the two cannot drift apart.
 */
import { ConfigError } from '../errors.js';
import { formatDuration, formatSize, parseDuration, parseSize } from './units.js';
import { matchConfigIssues } from '../docker/container-filter.js';
import { linePatternProblem } from '../framing/multiline.js';

// ---------------------------------------------------------------------------
// Resolved configuration types
// ---------------------------------------------------------------------------

export interface DockerLogsReceiverConfig {
  /** Engine API address: unix:///path, tcp://host:port, http://host:port or https://host:port. */
  endpoint: string;
  /** Several engines; when non-empty, endpoint is ignored. */
  endpoints: string[];
  tls: { ca_file: string | null; cert_file: string | null; key_file: string | null; insecure_skip_verify: boolean };
  /** Engine API version, e.g. "1.41"; null negotiates with the engine. */
  api_version: string | null;
  /** Milliseconds; timeout of Engine API calls other than log and event streams. */
  timeout: number;
  /** Where to start reading a container that has no saved position. */
  start_at: 'end' | 'beginning';
  /** Where container logs are read: the engine's json-file, the API, or files when possible. */
  read_from: 'auto' | 'api' | 'files';
  /** Milliseconds; the longest one log stream lives before it is closed and reopened. */
  stream_timeout: number;
  /** 0..0.5; each stream's deadline is shortened by a random share up to this. */
  stream_timeout_jitter: number;
  /** Log streams being opened at once. */
  max_concurrent_opens: number;
  /** Bytes; longest logical line kept, longer ones are cut and flagged. */
  max_log_size: number;
  /** Milliseconds; how often the receiver's own metrics are exported. */
  collection_interval: number;
  storage: { directory: string | null };
  include: ContainerMatchConfig;
  exclude: ContainerMatchConfig;
  parse: 'none' | 'json';
  json: { timestamp_field: string | null; severity_fields: string[]; body_field: string | null };
  multiline: MultilineSettings;
  events: boolean;
  /** Milliseconds; backoff for the engine connection and streams. */
  reconnect: { initial_interval: number; max_interval: number };
}

/** Container match rules: globs or /regex/ (labels: key or key=pattern). */
export interface ContainerMatchConfig {
  names: string[];
  ids: string[];
  images: string[];
  labels: string[];
}

export interface MultilineSettings {
  line_start_pattern: string | null;
  line_end_pattern: string | null;
  /** Milliseconds. */
  flush_timeout: number;
  max_lines: number;
  /** Bytes. */
  max_bytes: number;
}

export interface RetryOnFailureConfig {
  enabled: boolean;
  initial_interval: number;
  max_interval: number;
  /** Milliseconds; 0 = never give up while running. */
  max_elapsed_time: number;
  multiplier: number;
  randomization_factor: number;
}

export interface SendingQueueConfig {
  /** Records. */
  queue_size: number;
  /** Bytes. */
  queue_bytes: number;
}

export interface OtlpHttpExporterConfig {
  type: 'otlphttp';
  /** null = the OTLP SDK's OTEL_EXPORTER_OTLP_* environment defaults. */
  endpoint: string | null;
  logs_endpoint: string | null;
  metrics_endpoint: string | null;
  encoding: 'proto' | 'json';
  compression: 'none' | 'gzip';
  headers: Record<string, string>;
  timeout: number;
  retry_on_failure: RetryOnFailureConfig;
  sending_queue: SendingQueueConfig;
}

export interface DebugExporterConfig {
  type: 'debug';
  verbosity: 'basic' | 'normal' | 'detailed';
}

export type ExporterConfig = OtlpHttpExporterConfig | DebugExporterConfig;

export interface BatchProcessorConfig {
  timeout: number;
  send_batch_size: number;
  /** 0 = same as send_batch_size. */
  send_batch_max_size: number;
}

export interface HealthCheckConfig {
  endpoint: string;
  path: string;
}

export interface PipelineConfig {
  receivers: string[];
  processors: string[];
  exporters: string[];
}

export interface TelemetryConfig {
  logs: { level: 'debug' | 'info' | 'warn' | 'error'; encoding: 'console' | 'json' };
  metrics: { level: 'none' | 'basic' | 'normal' | 'detailed'; address: string | null };
}

export interface ServiceConfig {
  extensions: string[];
  pipelines: { logs?: PipelineConfig; metrics?: PipelineConfig };
  telemetry: TelemetryConfig;
}

export interface Config {
  receivers: Record<string, DockerLogsReceiverConfig>;
  processors: Record<string, BatchProcessorConfig>;
  exporters: Record<string, ExporterConfig>;
  extensions: Record<string, HealthCheckConfig>;
  service: ServiceConfig;
}

// ---------------------------------------------------------------------------
// Schema node types
// ---------------------------------------------------------------------------

/** A key path as segments: map keys and list indexes. Rendered by formatPath. */
export type PathSegment = string | number;

/** One validation problem, before it is rendered as `path: message`. */
export interface Issue {
  path: PathSegment[];
  message: string;
}

interface Limits<T> {
  readonly min?: T;
  readonly max?: T;
}

export interface DurationSpec extends Limits<string> {
  readonly type: 'duration';
  readonly default: string;
  readonly doc: string;
}

export interface SizeSpec extends Limits<string> {
  readonly type: 'size';
  readonly default: string;
  readonly doc: string;
}

export interface IntegerSpec extends Limits<number> {
  readonly type: 'integer';
  readonly default: number;
  readonly doc: string;
}

export interface NumberSpec extends Limits<number> {
  readonly type: 'number';
  readonly default: number;
  readonly doc: string;
}

export interface BooleanSpec {
  readonly type: 'boolean';
  readonly default: boolean;
  readonly doc: string;
}

export interface EnumSpec<V extends string = string> {
  readonly type: 'enum';
  readonly values: readonly V[];
  readonly default: V;
  readonly doc: string;
}

/** Formats a string value can be required to have; see STRING_FORMATS. */
export type StringFormat = 'docker_endpoint' | 'api_version' | 'http_url' | 'host_port' | 'url_path';

export interface StringSpec<Nullable extends boolean = boolean> {
  readonly type: 'string';
  /** Nullable strings default to null, and an empty string also means null. */
  readonly nullable: Nullable;
  readonly default: Nullable extends true ? null : string;
  readonly format?: StringFormat;
  /** An environment variable whose non-empty value replaces the default. */
  readonly defaultFromEnv?: string;
  readonly doc: string;
}

/** A list of component ids (pipelines, service.extensions). */
export interface IdListSpec {
  readonly type: 'id_list';
  readonly doc: string;
}

/** How each entry of a string list is checked. */
export type ListItemFormat = 'regex' | StringFormat;

/** A list of strings (container match rules, field names). */
export interface StringListSpec {
  readonly type: 'string_list';
  readonly default: readonly string[];
  readonly item?: ListItemFormat;
  readonly doc: string;
}

/** A map of string to string (HTTP headers). */
export interface StringMapSpec {
  readonly type: 'string_map';
  readonly doc: string;
}

export type LeafSpec =
  | DurationSpec
  | SizeSpec
  | IntegerSpec
  | NumberSpec
  | BooleanSpec
  | EnumSpec
  | StringSpec
  | IdListSpec
  | StringListSpec
  | StringMapSpec;

export type SchemaNode = LeafSpec | SectionSpec | ComponentsSpec;

export interface Fields {
  readonly [key: string]: SchemaNode;
}

type Report = (key: string, message: string) => void;

export interface SectionSpec<F extends Fields = Fields, Optional extends boolean = boolean> {
  readonly type: 'section';
  readonly doc: string;
  readonly fields: F;
  /** An optional section is left out of the result when absent (pipelines). */
  readonly optional: Optional;
  /** Rewrites an alternative input form into the declared fields before validation. */
  normalize?(raw: Record<string, unknown>, path: PathSegment[], ctx: ResolveContext): Record<string, unknown>;
  /** Checks between fields; only called when every field of the section is valid. */
  check?(value: InferFields<F>, report: Report): void;
}

/** A map of component id (`type` or `type/name`) to the settings of that type. */
export interface ComponentsSpec<
  Kinds extends Record<string, SectionSpec> = Record<string, SectionSpec>,
  Tagged extends boolean = boolean,
> {
  readonly type: 'components';
  readonly doc: string;
  /** Singular, for messages: "unknown exporter type". */
  readonly label: string;
  readonly kinds: Kinds;
  /** Whether resolved entries carry `type` (needed when a section has several kinds). */
  readonly tagged: Tagged;
}

// ---------------------------------------------------------------------------
// Type inference from the schema (used to check the interfaces above)
// ---------------------------------------------------------------------------

export type Infer<N> =
  N extends EnumSpec<infer V>
    ? V
    : N extends StringSpec<infer Nullable>
      ? Nullable extends true
        ? string | null
        : string
      : N extends BooleanSpec
        ? boolean
        : N extends IdListSpec | StringListSpec
          ? string[]
          : N extends StringMapSpec
            ? Record<string, string>
            : N extends SectionSpec<infer F>
              ? InferFields<F>
              : N extends ComponentsSpec<infer Kinds, infer Tagged>
                ? Record<string, InferComponent<Kinds, Tagged>>
                : number;

type OptionalKeys<F> = { [K in keyof F]: F[K] extends { optional: true } ? K : never }[keyof F];

export type InferFields<F> = { -readonly [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & {
  -readonly [K in OptionalKeys<F>]?: Infer<F[K]>;
};

type InferComponent<Kinds, Tagged> = {
  [T in keyof Kinds]: Tagged extends true ? Infer<Kinds[T]> & { type: T } : Infer<Kinds[T]>;
}[keyof Kinds];

// ---------------------------------------------------------------------------
// Schema builders (they only add literal types; the schema itself is plain data)
// ---------------------------------------------------------------------------

function duration(def: string, doc: string, limits: Limits<string> = {}): DurationSpec {
  return { type: 'duration', default: def, doc, ...limits };
}

function size(def: string, doc: string, limits: Limits<string> = {}): SizeSpec {
  return { type: 'size', default: def, doc, ...limits };
}

function integer(def: number, doc: string, limits: Limits<number> = {}): IntegerSpec {
  return { type: 'integer', default: def, doc, ...limits };
}

function decimal(def: number, doc: string, limits: Limits<number> = {}): NumberSpec {
  return { type: 'number', default: def, doc, ...limits };
}

function flag(def: boolean, doc: string): BooleanSpec {
  return { type: 'boolean', default: def, doc };
}

function oneOf<const V extends string>(values: readonly V[], def: NoInfer<V>, doc: string): EnumSpec<V> {
  return { type: 'enum', values, default: def, doc };
}

function text(
  def: string,
  doc: string,
  options: { format?: StringFormat; defaultFromEnv?: string } = {},
): StringSpec<false> {
  return { type: 'string', nullable: false, default: def, doc, ...options };
}

function optionalText(doc: string, format?: StringFormat): StringSpec<true> {
  return format === undefined
    ? { type: 'string', nullable: true, default: null, doc }
    : { type: 'string', nullable: true, default: null, doc, format };
}

function idList(doc: string): IdListSpec {
  return { type: 'id_list', doc };
}

function stringList(def: readonly string[], doc: string, item?: ListItemFormat): StringListSpec {
  return item === undefined ? { type: 'string_list', default: def, doc } : { type: 'string_list', default: def, doc, item };
}

function stringMap(doc: string): StringMapSpec {
  return { type: 'string_map', doc };
}

type SectionHooks<F extends Fields> = Pick<SectionSpec<F>, 'normalize' | 'check'>;

function section<F extends Fields>(doc: string, fields: F, hooks: SectionHooks<F> = {}): SectionSpec<F, false> {
  return { type: 'section', doc, fields, optional: false, ...hooks };
}

function optionalSection<F extends Fields>(doc: string, fields: F): SectionSpec<F, true> {
  return { type: 'section', doc, fields, optional: true };
}

function components<Kinds extends Record<string, SectionSpec>, Tagged extends boolean>(
  doc: string,
  label: string,
  kinds: Kinds,
  tagged: Tagged,
): ComponentsSpec<Kinds, Tagged> {
  return { type: 'components', doc, label, kinds, tagged };
}

// ---------------------------------------------------------------------------
// The schema
// ---------------------------------------------------------------------------

/** Checks that a backoff never starts above its own ceiling. */
function checkBackoff(value: { initial_interval: number; max_interval: number }, report: Report): void {
  if (value.max_interval < value.initial_interval) {
    report(
      'max_interval',
      `must be >= initial_interval (${formatDuration(value.initial_interval)}), got ${formatDuration(value.max_interval)}`,
    );
  }
}

function containerMatchSchema(doc: string) {
  return section(
    doc,
    {
      names: stringList([], 'Container names (without the leading /): globs, or /regex/ or /regex/i.'),
      ids: stringList([], 'Container ids: 12+ hex digits match by prefix; else a glob or /regex/.'),
      images: stringList([], 'Image references (nginx = any tag, docker.io/library/nginx:1.25, registry:5000/app:v1): globs or /regex/.'),
      labels: stringList([], 'Labels: key (present) or key=value, the value a glob or /regex/; keys are literal.'),
    },
    {
      // One rule set: the filter's own validator.
      check(value, report) {
        for (const issue of matchConfigIssues(value)) report(issue.key, issue.message);
      },
    },
  );
}

function checkMultiline(value: { line_start_pattern: string | null; line_end_pattern: string | null }, report: Report): void {
  if (value.line_start_pattern !== null && value.line_end_pattern !== null) {
    report('line_end_pattern', 'set either line_start_pattern or line_end_pattern, not both');
  }
  for (const key of ['line_start_pattern', 'line_end_pattern'] as const) {
    const source = value[key];
    if (source === null) continue;
    const problem = linePatternProblem(source);
    if (problem !== null) report(key, problem);
  }
}

export const dockerLogsReceiverSchema = section('Reads container logs from a Docker Engine.', {
  endpoint: text(
    'unix:///var/run/docker.sock',
    'Docker Engine API address: unix:///path, tcp://host:port, http://host:port or https://host:port.',
    { format: 'docker_endpoint', defaultFromEnv: 'DOCKER_HOST' },
  ),
  endpoints: stringList(
    [],
    'Several engines read by this receiver (each unix:///path or tcp://host:port, with its own positions); when set, endpoint is ignored. Records carry the host the container lives on (host.name).',
    'docker_endpoint',
  ),
  tls: section('TLS for tcp:// engines (as DOCKER_TLS_VERIFY / DOCKER_CERT_PATH do for the docker CLI).', {
    ca_file: optionalText('CA certificate that signed the engine certificate; null = the system CAs.'),
    cert_file: optionalText('Client certificate.'),
    key_file: optionalText('Client key.'),
    insecure_skip_verify: flag(false, 'Do not verify the engine certificate (for testing only).'),
  }),
  api_version: optionalText('Engine API version to use, e.g. "1.41" (quote it); null negotiates with the engine.', 'api_version'),
  timeout: duration('10s', 'Timeout of Engine API calls other than log and event streams.', { min: '1ms' }),
  start_at: oneOf(['end', 'beginning'], 'end', 'Where to start reading a container that has no saved position.'),
  read_from: oneOf(
    ['auto', 'api', 'files'],
    'auto',
    "Where container logs are read: files reads the engine's json-file logs directly (LogPath, e.g. a read-only mount of /var/lib/docker/containers), api through the Engine API; auto: files when the container uses json-file and its log is readable here, else the API.",
  ),
  stream_timeout: duration('30s', 'How long one log stream lives before it is closed and reopened. A reopened stream that is still replaying lines taken already when it is due gets another stream_timeout, as long as it read lines in the last one.', {
    min: '100ms',
  }),
  stream_timeout_jitter: decimal(
    0.1,
    'Each stream deadline is shortened by a random share up to this fraction, so streams do not reopen together.',
    { min: 0, max: 0.5 },
  ),
  max_concurrent_opens: integer(8, 'How many log streams may be being opened at once.', { min: 1 }),
  max_log_size: size('1MiB', 'Longest logical log line kept; longer lines are cut and flagged.', {
    min: '1KiB',
    max: '64MiB',
  }),
  collection_interval: duration('10s', "How often the receiver's own metrics are exported.", { min: '100ms' }),
  storage: section('Where read positions (checkpoints) are kept.', {
    directory: optionalText('Directory for saved positions; null keeps them in memory only (lost on restart).'),
  }),
  include: containerMatchSchema('Containers to collect; when every list is empty, all containers are.'),
  exclude: containerMatchSchema('Containers not to collect, even when included (exclude wins).'),
  parse: oneOf(['none', 'json'], 'none', 'json: a line that is a JSON object becomes a structured body (severity, timestamp and trace context taken from it); other lines stay strings. Per container: label io.opentelemetry.logs.parse=json.'),
  json: section('How parse: json reads an object.', {
    timestamp_field: optionalText('Field holding the record time (RFC 3339, or epoch seconds/ms/ns); null keeps Docker\'s timestamp.'),
    severity_fields: stringList(['level', 'severity', 'lvl', 'log.level'], 'Fields holding the severity, tried in order.'),
    body_field: optionalText('Field that becomes the body (the other fields become attributes); null makes the whole object the body.'),
  }),
  multiline: section(
    'Joins several lines into one record (stack traces). Off unless a pattern is set; per container: label io.opentelemetry.logs.multiline.line_start_pattern.',
    {
      line_start_pattern: optionalText('Regular expression matching the first line of a record.'),
      line_end_pattern: optionalText('Regular expression matching the last line of a record (instead of line_start_pattern).'),
      flush_timeout: duration('500ms', 'A pending record is sent when no line came for this long.', { min: '1ms' }),
      max_lines: integer(500, 'Most lines in one record.', { min: 1 }),
      max_bytes: size('1MiB', 'Most bytes in one record; more is cut and flagged.', { min: '1KiB', max: '64MiB' }),
    },
    { check: checkMultiline },
  ),
  events: flag(false, 'Also emit container lifecycle events (start, die with exit code, oom, health_status, rename) as log records with event.name.'),
  reconnect: section(
    'Backoff for reconnecting to the engine and reopening streams.',
    {
      initial_interval: duration('1s', 'First wait after a failure.', { min: '1ms' }),
      max_interval: duration('30s', 'Longest wait between attempts.', { min: '1ms' }),
    },
    { check: checkBackoff },
  ),
});

const retryOnFailureSchema = section(
  'Retries of failed exports, with exponential backoff.',
  {
    enabled: flag(true, 'Whether failed exports are retried.'),
    initial_interval: duration('5s', 'First wait after a failed export.', { min: '1ms' }),
    max_interval: duration('30s', 'Longest wait between retries.', { min: '1ms' }),
    max_elapsed_time: duration('0s', 'Give up on a batch after this long; 0 = never give up while running.'),
    multiplier: decimal(1.5, 'Factor by which the wait grows after each retry.', { min: 1 }),
    randomization_factor: decimal(0.5, 'Random share (+/-) applied to each wait.', { min: 0, max: 1 }),
  },
  { check: checkBackoff },
);

export const otlpHttpExporterSchema = section('Exports over OTLP/HTTP.', {
  endpoint: optionalText(
    'Base URL (http:// or https://); /v1/logs and /v1/metrics are appended. null (or empty) = the OTLP SDK defaults: OTEL_EXPORTER_OTLP_* variables, else http://localhost:4318.',
    'http_url',
  ),
  logs_endpoint: optionalText('Full URL for logs; overrides endpoint + /v1/logs.', 'http_url'),
  metrics_endpoint: optionalText('Full URL for metrics; overrides endpoint + /v1/metrics.', 'http_url'),
  encoding: oneOf(['proto', 'json'], 'proto', 'Body encoding.'),
  compression: oneOf(['none', 'gzip'], 'gzip', 'Body compression.'),
  headers: stringMap('HTTP headers sent with every request; values must be strings.'),
  timeout: duration('10s', 'Timeout of one export request.', { min: '1ms' }),
  retry_on_failure: retryOnFailureSchema,
  sending_queue: section('Buffer between the pipeline and the exporter.', {
    queue_size: integer(16384, 'Most log records held in memory (in flight included: keep it a few times send_batch_size); when reached, reading from Docker pauses until exports make room (nothing is dropped).', {
      min: 1,
    }),
    queue_bytes: size('64MiB', 'Most bytes of log records held in memory; when reached, reading pauses as for queue_size.', {
      min: '1KiB',
    }),
  }),
});

export const debugExporterSchema = section('Prints records on stdout, for trying things out.', {
  verbosity: oneOf(
    ['basic', 'normal', 'detailed'],
    'basic',
    'basic: a summary per batch; normal: one line per record; detailed: every field.',
  ),
});

export const batchProcessorSchema = section(
  'Groups records into batches before export.',
  {
    timeout: duration('200ms', 'Longest a batch waits for more records before it is sent.'),
    send_batch_size: integer(8192, 'A batch is sent as soon as it has this many records.', { min: 1 }),
    send_batch_max_size: integer(0, 'Largest batch sent; bigger ones are split. 0 = same as send_batch_size.', {
      min: 0,
    }),
  },
  {
    check(value, report) {
      if (value.send_batch_max_size !== 0 && value.send_batch_max_size < value.send_batch_size) {
        report(
          'send_batch_max_size',
          `must be 0 or >= send_batch_size (${value.send_batch_size}), got ${value.send_batch_max_size}`,
        );
      }
    },
  },
);

export const healthCheckExtensionSchema = section('Serves an HTTP health check.', {
  endpoint: text('127.0.0.1:13133', 'host:port to listen on.', { format: 'host_port' }),
  path: text('/', 'URL path of the health check.', { format: 'url_path' }),
});

const pipelineFields = {
  receivers: idList('Receiver ids feeding this pipeline (at least one).'),
  processors: idList('Processor ids, applied in order.'),
  exporters: idList('Exporter ids receiving the output (at least one).'),
};

const metricsTelemetrySchema = section(
  "The receiver's own metrics.",
  {
    level: oneOf(['none', 'basic', 'normal', 'detailed'], 'basic', 'How many internal metrics are recorded.'),
    address: optionalText(
      'host:port of a Prometheus /metrics endpoint; null = none. The collector form readers: [{pull: {exporter: {prometheus: {host, port}}}}] is also accepted.',
      'host_port',
    ),
  },
  { normalize: normalizeMetricReaders },
);

export const configSchema = section('', {
  receivers: components('Receivers, by id (type or type/name).', 'receiver', { docker_logs: dockerLogsReceiverSchema }, false),
  processors: components('Processors, by id.', 'processor', { batch: batchProcessorSchema }, false),
  exporters: components(
    'Exporters, by id.',
    'exporter',
    { otlphttp: otlpHttpExporterSchema, debug: debugExporterSchema },
    true,
  ),
  extensions: components('Extensions, by id.', 'extension', { health_check: healthCheckExtensionSchema }, false),
  service: section('What runs: pipelines, extensions and own telemetry.', {
    extensions: idList('Extension ids to start.'),
    pipelines: section('Pipelines by signal; logs is required.', {
      logs: optionalSection('The logs pipeline (required).', pipelineFields),
      metrics: optionalSection("Pipeline for the receiver's own metrics (optional).", pipelineFields),
    }),
    telemetry: section("The receiver's own logs and metrics.", {
      logs: section("The receiver's own logs.", {
        level: oneOf(['debug', 'info', 'warn', 'error'], 'info', 'Lowest level logged.'),
        encoding: oneOf(['console', 'json'], 'console', 'Log line format.'),
      }),
      metrics: metricsTelemetrySchema,
    }),
  }),
});

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;

/** Compile-time proof that the exported interfaces are exactly what the schema produces. */
export type SchemaTypeChecks = [
  Assert<Same<DockerLogsReceiverConfig, Infer<typeof dockerLogsReceiverSchema>>>,
  Assert<Same<OtlpHttpExporterConfig, Infer<typeof otlpHttpExporterSchema> & { type: 'otlphttp' }>>,
  Assert<Same<DebugExporterConfig, Infer<typeof debugExporterSchema> & { type: 'debug' }>>,
  Assert<Same<BatchProcessorConfig, Infer<typeof batchProcessorSchema>>>,
  Assert<Same<HealthCheckConfig, Infer<typeof healthCheckExtensionSchema>>>,
  Assert<Same<Config, Infer<typeof configSchema>>>,
];

// ---------------------------------------------------------------------------
// Paths and value descriptions
// ---------------------------------------------------------------------------

/** Renders `['service', 'pipelines', 'logs', 'exporters', 1]` as `service.pipelines.logs.exporters[1]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? segment : `.${segment}`;
  }
  return out;
}

export function formatIssue(issue: Issue): string {
  return issue.path.length === 0 ? issue.message : `${formatPath(issue.path)}: ${issue.message}`;
}

const MAX_SHOWN_STRING = 80;

/** How a bad value is shown after "got": strings quoted, collections by kind. */
function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    const shown = value.length > MAX_SHOWN_STRING ? `${value.slice(0, MAX_SHOWN_STRING)}...` : value;
    return JSON.stringify(shown);
  }
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return typeof value === 'object' ? 'a map' : `a ${typeof value}`;
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------
// Resolution: merge over defaults and validate, collecting every issue
// ---------------------------------------------------------------------------

export interface ResolveContext {
  readonly env: NodeJS.ProcessEnv;
  /** Code (resolveReceiverConfig) may give durations as numbers of milliseconds; YAML may not. */
  readonly numericDurations: boolean;
  /**
   * Whether the string at this path had an environment variable substituted. Such
   * strings may stand for numbers and booleans (`send_batch_size: ${env:BATCH}`),
   * converted by the field's declared type, never by the variable's content.
   */
  readonly fromEnv: (path: readonly PathSegment[]) => boolean;
  readonly issues: Issue[];
}

function report(ctx: ResolveContext, path: PathSegment[], message: string): void {
  ctx.issues.push({ path, message });
}

function resolveNode(node: SchemaNode, raw: unknown, path: PathSegment[], ctx: ResolveContext): unknown {
  switch (node.type) {
    case 'section':
      return resolveSection(node, raw, path, ctx);
    case 'components':
      return resolveComponents(node, raw, path, ctx);
    default:
      return resolveLeaf(node, raw, path, ctx);
  }
}

function resolveSection(spec: SectionSpec, raw: unknown, path: PathSegment[], ctx: ResolveContext): Record<string, unknown> {
  let input: Record<string, unknown> = {};
  if (isPlainMap(raw)) input = raw;
  else if (raw !== null && raw !== undefined) report(ctx, path, `expected a map, got ${describeValue(raw)}`);
  if (spec.normalize !== undefined) input = spec.normalize(input, path, ctx);

  reportUnknownKeys(input, Object.keys(spec.fields), path, ctx);
  const issuesBefore = ctx.issues.length;
  const value: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(spec.fields)) {
    const fieldRaw = input[key];
    if (field.type === 'section' && field.optional && fieldRaw === undefined) continue;
    value[key] = resolveNode(field, fieldRaw, [...path, key], ctx);
  }
  // Cross-field checks on defaults substituted for invalid fields would only mislead.
  if (spec.check !== undefined && ctx.issues.length === issuesBefore) {
    // The loop above built every declared field, which is what InferFields describes.
    spec.check(value as InferFields<Fields>, (key, message) => report(ctx, [...path, key], message));
  }
  return value;
}

function reportUnknownKeys(input: Record<string, unknown>, known: string[], path: PathSegment[], ctx: ResolveContext): void {
  for (const key of Object.keys(input)) {
    if (known.includes(key)) continue;
    const suggestion = closestMatch(key, known);
    const hint = suggestion === undefined ? `expected one of: ${known.join(', ')}` : `did you mean ${suggestion}?`;
    report(ctx, [...path, key], `unknown key (${hint})`);
  }
}

function resolveComponents(
  spec: ComponentsSpec,
  raw: unknown,
  path: PathSegment[],
  ctx: ResolveContext,
): Record<string, unknown> {
  if (raw === null || raw === undefined) return {};
  if (!isPlainMap(raw)) {
    report(ctx, path, `expected a map of ${spec.label} ids to settings, got ${describeValue(raw)}`);
    return {};
  }
  const resolved: Record<string, unknown> = {};
  for (const [id, settings] of Object.entries(raw)) {
    const kind = componentKind(spec, id, [...path, id], ctx);
    if (kind === undefined) continue;
    const value = resolveSection(spec.kinds[kind], settings, [...path, id], ctx);
    resolved[id] = spec.tagged ? { type: kind, ...value } : value;
  }
  return resolved;
}

/** The component type of an id (`otlphttp/backup` -> `otlphttp`), or undefined after reporting why not. */
function componentKind(spec: ComponentsSpec, id: string, path: PathSegment[], ctx: ResolveContext): string | undefined {
  const type = componentType(id);
  const known = Object.keys(spec.kinds);
  if (!known.includes(type)) {
    const suggestion = closestMatch(type, known);
    const hint = suggestion === undefined ? '' : `did you mean ${suggestion}? `;
    report(ctx, path, `unknown ${spec.label} type ${JSON.stringify(type)} (${hint}known types: ${known.join(', ')})`);
    return undefined;
  }
  if (id !== type && !/^\S+$/.test(id.slice(type.length + 1))) {
    report(ctx, path, `invalid id: the name after "${type}/" must be non-empty and contain no spaces`);
    return undefined;
  }
  return type;
}

/** The type part of a component id: `otlphttp/backup` -> `otlphttp`. */
export function componentType(id: string): string {
  const slash = id.indexOf('/');
  return slash === -1 ? id : id.slice(0, slash);
}

function resolveLeaf(spec: LeafSpec, raw: unknown, path: PathSegment[], ctx: ResolveContext): unknown {
  switch (spec.type) {
    case 'duration':
      return resolveDuration(spec, raw, path, ctx);
    case 'size':
      return resolveSize(spec, raw, path, ctx);
    case 'integer':
    case 'number':
      return resolveNumber(spec, raw, path, ctx);
    case 'boolean':
      return resolveBoolean(spec, raw, path, ctx);
    case 'enum':
      return resolveEnum(spec, raw, path, ctx);
    case 'string':
      return resolveString(spec, raw, path, ctx);
    case 'id_list':
      return resolveIdList(raw, path, ctx);
    case 'string_list':
      return resolveStringList(spec, raw, path, ctx);
    case 'string_map':
      return resolveStringMap(raw, path, ctx);
  }
}

function isAbsent(raw: unknown): raw is null | undefined {
  return raw === null || raw === undefined;
}

const UNIT_HINT = 'add a unit, e.g. 30s';

function resolveDuration(spec: DurationSpec, raw: unknown, path: PathSegment[], ctx: ResolveContext): number {
  const fallback = parseDuration(spec.default);
  if (isAbsent(raw)) return fallback;
  const ms = durationValue(raw, ctx);
  if (ms === undefined) {
    const example = fallback > 0 ? spec.default : '30s';
    const bareNumber = typeof raw === 'number' || (typeof raw === 'string' && /^\d+(\.\d+)?$/.test(raw));
    const hint = bareNumber && !ctx.numericDurations ? ` (${UNIT_HINT})` : '';
    report(ctx, path, `expected a duration like ${example}, got ${describeValue(raw)}${hint}`);
    return fallback;
  }
  const min = spec.min === undefined ? undefined : parseDuration(spec.min);
  const max = spec.max === undefined ? undefined : parseDuration(spec.max);
  if (!withinLimits(ms, min, max)) {
    report(ctx, path, `expected a duration ${describeLimits(spec.min, spec.max)}, got ${describeValue(raw)}`);
    return fallback;
  }
  return ms;
}

function durationValue(raw: unknown, ctx: ResolveContext): number | undefined {
  if (typeof raw === 'number') {
    const allowed = raw === 0 || ctx.numericDurations;
    return allowed && Number.isFinite(raw) && raw >= 0 ? raw : undefined;
  }
  if (typeof raw !== 'string') return undefined;
  try {
    return parseDuration(raw);
  } catch {
    return undefined;
  }
}

function resolveSize(spec: SizeSpec, raw: unknown, path: PathSegment[], ctx: ResolveContext): number {
  const fallback = parseSize(spec.default);
  if (isAbsent(raw)) return fallback;
  const bytes = sizeValue(raw);
  if (bytes === undefined) {
    report(ctx, path, `expected a size like ${spec.default}, got ${describeValue(raw)}`);
    return fallback;
  }
  const min = spec.min === undefined ? undefined : parseSize(spec.min);
  const max = spec.max === undefined ? undefined : parseSize(spec.max);
  if (!withinLimits(bytes, min, max)) {
    report(ctx, path, `expected a size ${describeLimits(spec.min, spec.max)}, got ${describeValue(raw)}`);
    return fallback;
  }
  return bytes;
}

function sizeValue(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw >= 0 ? raw : undefined;
  if (typeof raw !== 'string') return undefined;
  try {
    return parseSize(raw);
  } catch {
    return undefined;
  }
}

function resolveNumber(spec: IntegerSpec | NumberSpec, raw: unknown, path: PathSegment[], ctx: ResolveContext): number {
  if (isAbsent(raw)) return spec.default;
  const value = numericValue(raw, path, ctx);
  const valid =
    value !== undefined &&
    Number.isFinite(value) &&
    (spec.type === 'number' || Number.isInteger(value)) &&
    withinLimits(value, spec.min, spec.max);
  if (!valid) {
    const noun = spec.type === 'integer' ? 'an integer' : 'a number';
    const limits = describeLimits(spec.min, spec.max);
    report(ctx, path, `expected ${noun}${limits === '' ? '' : ` ${limits}`}, got ${describeValue(raw)}`);
    return spec.default;
  }
  return value;
}

const NUMERIC_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function numericValue(raw: unknown, path: PathSegment[], ctx: ResolveContext): number | undefined {
  if (typeof raw === 'number') return raw;
  if (typeof raw === 'string' && ctx.fromEnv(path) && NUMERIC_TEXT.test(raw.trim())) return Number(raw.trim());
  return undefined;
}

function resolveBoolean(spec: BooleanSpec, raw: unknown, path: PathSegment[], ctx: ResolveContext): boolean {
  if (isAbsent(raw)) return spec.default;
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string' && ctx.fromEnv(path)) {
    const lower = raw.trim().toLowerCase();
    if (lower === 'true' || lower === 'false') return lower === 'true';
  }
  report(ctx, path, `expected true or false, got ${describeValue(raw)}`);
  return spec.default;
}

function resolveEnum(spec: EnumSpec, raw: unknown, path: PathSegment[], ctx: ResolveContext): string {
  if (isAbsent(raw)) return spec.default;
  if (typeof raw === 'string' && spec.values.includes(raw)) return raw;
  report(ctx, path, `expected one of ${spec.values.join(', ')}, got ${describeValue(raw)}`);
  return spec.default;
}

interface FormatRule {
  /** What the message says was expected. */
  expected: string;
  /** The type column of the reference table. */
  label: string;
  test(value: string): boolean;
}

const STRING_FORMATS: Readonly<Record<StringFormat, FormatRule>> = {
  docker_endpoint: { expected: 'unix:///path or tcp://host:port', label: 'endpoint URL', test: isDockerEndpoint },
  api_version: { expected: 'an API version like "1.41"', label: 'version string', test: (v) => /^\d+\.\d+$/.test(v) },
  http_url: { expected: 'an http:// or https:// URL', label: 'URL', test: isHttpUrl },
  host_port: { expected: 'host:port, e.g. 127.0.0.1:13133', label: 'host:port', test: isHostPort },
  url_path: { expected: 'a path starting with /', label: 'URL path', test: (v) => /^\/\S*$/.test(v) },
};

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function isDockerEndpoint(value: string): boolean {
  if (value.startsWith('unix://')) return value.length > 'unix:///'.length && value[7] === '/';
  const url = parseUrl(value);
  if (url === undefined || !['tcp:', 'http:', 'https:'].includes(url.protocol)) return false;
  const bareAuthority = (url.pathname === '' || url.pathname === '/') && url.search === '' && url.hash === '';
  return url.hostname !== '' && url.port !== '' && bareAuthority && url.username === '';
}

function isHttpUrl(value: string): boolean {
  const url = parseUrl(value);
  return url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
}

function isHostPort(value: string): boolean {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]]*):(\d{1,5})$/.exec(value);
  return match !== null && Number(match[2]) <= 65535;
}

function resolveString(spec: StringSpec, raw: unknown, path: PathSegment[], ctx: ResolveContext): string | null {
  let value = raw;
  let origin = '';
  if (isAbsent(value) && spec.defaultFromEnv !== undefined) {
    const fromEnv = ctx.env[spec.defaultFromEnv];
    if (fromEnv !== undefined && fromEnv !== '') {
      value = fromEnv;
      origin = ` (from ${spec.defaultFromEnv})`;
    }
  }
  if (isAbsent(value) || (spec.nullable && value === '')) return spec.default;
  const rule = spec.format === undefined ? undefined : STRING_FORMATS[spec.format];
  if (typeof value !== 'string') {
    const expected = rule?.expected ?? 'a string';
    report(ctx, path, `expected ${expected}, got ${describeValue(value)}${quoteHint(value)}`);
    return spec.default;
  }
  if (rule !== undefined && !rule.test(value)) {
    report(ctx, path, `expected ${rule.expected}, got ${describeValue(value)}${origin}`);
    return spec.default;
  }
  return value;
}

/** YAML reads `1.41` or `true` as non-strings; quoting keeps them as text. */
function quoteHint(value: unknown): string {
  return typeof value === 'number' || typeof value === 'boolean' ? ' (quote the value to make it a string)' : '';
}

function resolveIdList(raw: unknown, path: PathSegment[], ctx: ResolveContext): string[] {
  if (isAbsent(raw)) return [];
  if (!Array.isArray(raw)) {
    report(ctx, path, `expected a list of component ids, got ${describeValue(raw)}`);
    return [];
  }
  const ids: string[] = [];
  raw.forEach((item: unknown, i) => {
    if (typeof item === 'string' && item !== '') ids.push(item);
    else report(ctx, [...path, i], `expected a component id, got ${describeValue(item)}`);
  });
  return ids;
}

/**
 * A match pattern is a glob (*, ?, [abc]) or, written /…/ (flags allowed after
 * the last slash), a regular expression; a label pattern is `key` or
 * `key=pattern`; a regex is a bare regular expression source.
 */
/** An entry of a string list: a regular expression source that must compile, or a string format. */
function listItemProblem(item: string, format: ListItemFormat): string | null {
  if (format !== 'regex') {
    const rule = STRING_FORMATS[format];
    return rule.test(item) ? null : `expected ${rule.expected}, got ${describeValue(item)}`;
  }
  try {
    new RegExp(item);
    return null;
  } catch (err) {
    return `invalid regular expression ${JSON.stringify(item)}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function resolveStringList(spec: StringListSpec, raw: unknown, path: PathSegment[], ctx: ResolveContext): string[] {
  if (isAbsent(raw)) return [...spec.default];
  if (!Array.isArray(raw)) {
    report(ctx, path, `expected a list of strings, got ${describeValue(raw)}`);
    return [...spec.default];
  }
  const out: string[] = [];
  raw.forEach((item: unknown, i) => {
    if (typeof item !== 'string' || item === '') {
      report(ctx, [...path, i], `expected a non-empty string, got ${describeValue(item)}${quoteHint(item)}`);
      return;
    }
    const problem = spec.item === undefined ? null : listItemProblem(item, spec.item);
    if (problem !== null) report(ctx, [...path, i], problem);
    else out.push(item);
  });
  return out;
}

function resolveStringMap(raw: unknown, path: PathSegment[], ctx: ResolveContext): Record<string, string> {
  if (isAbsent(raw)) return {};
  if (!isPlainMap(raw)) {
    report(ctx, path, `expected a map of strings, got ${describeValue(raw)}`);
    return {};
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value === 'string') out[key] = value;
    else report(ctx, [...path, key], `expected a string, got ${describeValue(value)}${quoteHint(value)}`);
  }
  return out;
}

function withinLimits(value: number, min: number | undefined, max: number | undefined): boolean {
  return (min === undefined || value >= min) && (max === undefined || value <= max);
}

function describeLimits(min: string | number | undefined, max: string | number | undefined): string {
  if (min !== undefined && max !== undefined) return `between ${min} and ${max}`;
  if (min !== undefined) return `>= ${min}`;
  if (max !== undefined) return `<= ${max}`;
  return '';
}

// ---------------------------------------------------------------------------
// service.telemetry.metrics.readers (the collector's current form)
// ---------------------------------------------------------------------------

const READERS_HINT = 'only one pull/prometheus reader is supported';

/**
 * Turns `readers: [{pull: {exporter: {prometheus: {host, port}}}}]` into `address`.
 * Anything else inside readers is reported at its own key.
 */
function normalizeMetricReaders(
  raw: Record<string, unknown>,
  path: PathSegment[],
  ctx: ResolveContext,
): Record<string, unknown> {
  if (!('readers' in raw)) return raw;
  const { readers, ...rest } = raw;
  const readersPath = [...path, 'readers'];
  if (rest.address !== undefined && rest.address !== null) {
    report(ctx, readersPath, 'cannot be combined with address; use one or the other');
    return rest;
  }
  if (isAbsent(readers)) return rest;
  if (!Array.isArray(readers)) {
    report(ctx, readersPath, `expected a list of readers, got ${describeValue(readers)}`);
    return rest;
  }
  readers.slice(1).forEach((_reader: unknown, i) => report(ctx, [...readersPath, i + 1], READERS_HINT));
  if (readers.length === 0) return rest;
  const address = prometheusAddress(readers[0], [...readersPath, 0], ctx);
  return address === undefined ? rest : { ...rest, address };
}

function prometheusAddress(reader: unknown, path: PathSegment[], ctx: ResolveContext): string | undefined {
  const pull = onlyKey(reader, 'pull', path, ctx);
  const exporter = onlyKey(pull, 'exporter', [...path, 'pull'], ctx);
  const prometheus = onlyKey(exporter, 'prometheus', [...path, 'pull', 'exporter'], ctx);
  if (prometheus === undefined) return undefined;
  const promPath = [...path, 'pull', 'exporter', 'prometheus'];
  if (!isPlainMap(prometheus)) {
    report(ctx, promPath, `expected a map with host and port, got ${describeValue(prometheus)}`);
    return undefined;
  }
  reportUnknownKeys(prometheus, ['host', 'port'], promPath, ctx);
  const host = prometheus.host;
  const port = numericValue(prometheus.port, [...promPath, 'port'], ctx);
  let valid = true;
  if (typeof host !== 'string') {
    report(ctx, [...promPath, 'host'], `expected a host name or IP address, got ${describeValue(host)}`);
    valid = false;
  }
  if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    report(ctx, [...promPath, 'port'], `expected an integer between 1 and 65535, got ${describeValue(prometheus.port)}`);
    valid = false;
  }
  if (!valid || typeof host !== 'string') return undefined;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The value under `key` when `value` is a map with exactly that key; otherwise reports and returns undefined. */
function onlyKey(value: unknown, key: string, path: PathSegment[], ctx: ResolveContext): unknown {
  if (value === undefined) return undefined;
  if (!isPlainMap(value) || !(key in value)) {
    report(ctx, path, `expected a map with ${key} (${READERS_HINT}), got ${describeValue(value)}`);
    return undefined;
  }
  for (const other of Object.keys(value)) {
    if (other !== key) report(ctx, [...path, other], `not supported (${READERS_HINT})`);
  }
  return value[key];
}

// ---------------------------------------------------------------------------
// Cross references between service and the component sections
// ---------------------------------------------------------------------------

type ComponentSection = 'receivers' | 'processors' | 'exporters' | 'extensions';
type PipelineRole = 'receivers' | 'processors' | 'exporters';
type PipelineName = keyof ServiceConfig['pipelines'];

/** Component types each pipeline accepts, per role. */
const PIPELINE_TYPES: Readonly<Record<PipelineName, Readonly<Record<PipelineRole, readonly string[]>>>> = {
  logs: { receivers: ['docker_logs'], processors: ['batch'], exporters: ['otlphttp', 'debug'] },
  metrics: { receivers: ['docker_logs'], processors: ['batch'], exporters: ['otlphttp', 'debug'] },
};

/** Ids written under each component section, including ones whose settings were invalid. */
export type DeclaredIds = Readonly<Record<ComponentSection, readonly string[]>>;

function checkReferences(service: ServiceConfig, declared: DeclaredIds, ctx: ResolveContext): void {
  const pipelinesPath = ['service', 'pipelines'];
  if (service.pipelines.logs === undefined) {
    report(ctx, [...pipelinesPath, 'logs'], 'required: a logs pipeline with at least one receiver and one exporter');
  }
  for (const name of ['logs', 'metrics'] as const) {
    const pipeline = service.pipelines[name];
    if (pipeline === undefined) continue;
    for (const role of ['receivers', 'processors', 'exporters'] as const) {
      const path = [...pipelinesPath, name, role];
      checkIds(pipeline[role], { section: role, path, allowedTypes: PIPELINE_TYPES[name][role], pipeline: name }, declared, ctx);
    }
    if (pipeline.receivers.length === 0) {
      report(ctx, [...pipelinesPath, name, 'receivers'], 'a pipeline needs at least one receiver');
    }
    if (pipeline.exporters.length === 0) {
      report(ctx, [...pipelinesPath, name, 'exporters'], 'a pipeline needs at least one exporter');
    }
  }
  checkIds(service.extensions, { section: 'extensions', path: ['service', 'extensions'] }, declared, ctx);
}

interface IdListPlace {
  /** The section the ids must be defined in. */
  section: ComponentSection;
  path: PathSegment[];
  /** For pipelines: the component types that pipeline accepts. */
  allowedTypes?: readonly string[];
  pipeline?: PipelineName;
}

/** Each id must be defined, listed once, and of a type the place accepts. */
function checkIds(ids: readonly string[], place: IdListPlace, declared: DeclaredIds, ctx: ResolveContext): void {
  const defined = declared[place.section];
  ids.forEach((id, i) => {
    const itemPath = [...place.path, i];
    const quoted = JSON.stringify(id);
    if (ids.indexOf(id) !== i) {
      report(ctx, itemPath, `${quoted} is listed more than once`);
    } else if (!defined.includes(id)) {
      const list = defined.length === 0 ? 'none' : defined.join(', ');
      report(ctx, itemPath, `${quoted} is not defined under ${place.section} (defined: ${list})`);
    } else if (place.allowedTypes !== undefined && !place.allowedTypes.includes(componentType(id))) {
      const allowed = place.allowedTypes.join(', ');
      report(ctx, itemPath, `${quoted} cannot be used in the ${place.pipeline} pipeline (allowed types: ${allowed})`);
    }
  });
}

function declaredIds(raw: unknown): DeclaredIds {
  const root = isPlainMap(raw) ? raw : {};
  const idsOf = (section: ComponentSection): string[] => {
    const value = root[section];
    return isPlainMap(value) ? Object.keys(value) : [];
  };
  return {
    receivers: idsOf('receivers'),
    processors: idsOf('processors'),
    exporters: idsOf('exporters'),
    extensions: idsOf('extensions'),
  };
}

// ---------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------

export interface ResolveOptions {
  env?: NodeJS.ProcessEnv;
  /** Paths whose string had an environment variable substituted (see ResolveContext.fromEnv). */
  fromEnv?: (path: readonly PathSegment[]) => boolean;
}

/**
 * Merges a parsed (and env-expanded) YAML tree over the defaults and validates it,
 * including references between sections. Returns the config and every issue found;
 * the config is only meaningful when there are no issues.
 */
export function resolveConfig(raw: unknown, options: ResolveOptions = {}): { config: Config; issues: Issue[] } {
  const ctx: ResolveContext = {
    env: options.env ?? process.env,
    numericDurations: false,
    fromEnv: options.fromEnv ?? (() => false),
    issues: [],
  };
  const isEmptyDocument = raw === null || raw === undefined;
  if (!isEmptyDocument && !isPlainMap(raw)) {
    report(ctx, [], `expected a map with ${Object.keys(configSchema.fields).join(', ')}, got ${describeValue(raw)}`);
  }
  // Safe: resolveSection builds exactly the shape Infer<typeof configSchema> describes (see SchemaTypeChecks).
  const config = resolveSection(configSchema, isPlainMap(raw) ? raw : {}, [], ctx) as unknown as Config;
  checkReferences(config.service, declaredIds(raw), ctx);
  return { config, issues: ctx.issues };
}

/** The receiver defaults; the endpoint comes from DOCKER_HOST when it is set. */
export function createDefaultConfig(env: NodeJS.ProcessEnv = process.env): DockerLogsReceiverConfig {
  return resolveReceiverConfig(undefined, env);
}

/**
 * For library users: receiver settings in YAML shape (durations as strings like "30s"
 * or numbers of milliseconds, sizes as numbers of bytes or strings like "1MiB"),
 * merged over the defaults and validated. Throws ConfigError (source "<inline>") with
 * key paths relative to the receiver.
 */
export function resolveReceiverConfig(input: unknown, env: NodeJS.ProcessEnv = process.env): DockerLogsReceiverConfig {
  const ctx: ResolveContext = { env, numericDurations: true, fromEnv: () => false, issues: [] };
  const value = resolveSection(dockerLogsReceiverSchema, input, [], ctx);
  if (ctx.issues.length > 0) throw new ConfigError('<inline>', ctx.issues.map(formatIssue));
  // Safe: see SchemaTypeChecks.
  return value as unknown as DockerLogsReceiverConfig;
}

// ---------------------------------------------------------------------------
// Documentation
// ---------------------------------------------------------------------------

/** One documented key: a leaf of the schema. */
export interface KeyDoc {
  path: string;
  type: string;
  default: string;
  description: string;
}

/** Every leaf key of the schema, components under their type id (`exporters.otlphttp.endpoint`). */
export function configKeyDocs(): KeyDoc[] {
  const rows: KeyDoc[] = [];
  walkLeaves(configSchema, [], (leaf, path) => {
    rows.push({ path: formatPath(path), type: describeType(leaf), default: describeDefault(leaf), description: leaf.doc });
  });
  return rows;
}

/** The key paths configKeyDocs documents, e.g. for checking example.yaml covers them all. */
export function configKeyPaths(): string[] {
  return configKeyDocs().map((row) => row.path);
}

function walkLeaves(node: SchemaNode, path: PathSegment[], visit: (leaf: LeafSpec, path: PathSegment[]) => void): void {
  if (node.type === 'section') {
    for (const [key, field] of Object.entries(node.fields)) walkLeaves(field, [...path, key], visit);
  } else if (node.type === 'components') {
    for (const [kind, spec] of Object.entries(node.kinds)) walkLeaves(spec, [...path, kind], visit);
  } else {
    visit(node, path);
  }
}

function describeType(leaf: LeafSpec): string {
  const limits =
    leaf.type === 'duration' || leaf.type === 'size' || leaf.type === 'integer' || leaf.type === 'number'
      ? describeLimits(leaf.min, leaf.max)
      : '';
  const suffix = limits === '' ? '' : ` (${limits})`;
  switch (leaf.type) {
    case 'enum':
      return leaf.values.join(' \\| ');
    case 'string': {
      const label = leaf.format === undefined ? 'string' : STRING_FORMATS[leaf.format].label;
      return leaf.nullable ? `${label} or null` : label;
    }
    case 'id_list':
      return 'list of ids';
    case 'string_list':
      return leaf.item !== undefined && leaf.item !== 'regex' ? `list of ${STRING_FORMATS[leaf.item].label}s` : 'list of strings';
    case 'string_map':
      return 'map of strings';
    default:
      return `${leaf.type}${suffix}`;
  }
}

function describeDefault(leaf: LeafSpec): string {
  switch (leaf.type) {
    case 'string':
      if (leaf.default === null) return '`null`';
      return leaf.defaultFromEnv === undefined
        ? `\`${leaf.default}\``
        : `\`$${leaf.defaultFromEnv}\` if set, else \`${leaf.default}\``;
    case 'id_list':
      return '`[]`';
    case 'string_list':
      return `\`[${leaf.default.join(', ')}]\``;
    case 'string_map':
      return '`{}`';
    case 'duration':
      return `\`${formatDuration(parseDuration(leaf.default))}\``;
    case 'size':
      return `\`${formatSize(parseSize(leaf.default))}\``;
    default:
      return `\`${String(leaf.default)}\``;
  }
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The configuration reference as a markdown table: key path | type | default | description. */
export function configReferenceMarkdown(): string {
  const lines = ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |'];
  for (const row of configKeyDocs()) {
    // The type column is escaped at the source (enum separators), the rest here.
    lines.push(`| \`${row.path}\` | ${row.type} | ${row.default} | ${escapeCell(row.description)} |`);
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------
// Suggestions
// ---------------------------------------------------------------------------

/** The known word closest to `word` when it is probably a typo of it, else undefined. */
function closestMatch(word: string, known: readonly string[]): string | undefined {
  const normalized = normalizeKey(word);
  const sameWhenNormalized = known.find((candidate) => normalizeKey(candidate) === normalized);
  if (sameWhenNormalized !== undefined) return sameWhenNormalized; // streamTimeout, Stream-Timeout
  const allowed = word.length <= 4 ? 1 : word.length <= 10 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const candidate of known) {
    const distance = editDistance(word.toLowerCase(), candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_]/g, '');
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
