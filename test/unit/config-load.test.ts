import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ConfigError, ReceiverError } from '../../src/errors.js';
import { EnvReferenceError, expandEnvString, expandEnvTree } from '../../src/config/env.js';
import {
  DEFAULT_CONFIG_PATH,
  loadConfigFile,
  loadDefaultConfig,
  parseConfig,
} from '../../src/config/load.js';
import {
  configKeyPaths,
  configReferenceMarkdown,
  createDefaultConfig,
  resolveReceiverConfig,
  type Config,
  type OtlpHttpExporterConfig,
} from '../../src/config/schema.js';

const EXAMPLE_PATH = new URL('../../config/example.yaml', import.meta.url);

/** The smallest valid config, with extra YAML appended under the given sections. */
const MINIMAL = `
receivers:
  docker_logs:
exporters:
  debug:
service:
  pipelines:
    logs:
      receivers: [docker_logs]
      exporters: [debug]
`;

function parse(text: string, env: NodeJS.ProcessEnv = {}): Config {
  return parseConfig(text, 'test.yaml', env);
}

/** The issues of the ConfigError parsing `text` throws. */
function issuesOf(text: string, env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    parseConfig(text, 'test.yaml', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.issues;
  }
  assert.fail('expected parseConfig to throw');
}

/** A valid config whose docker_logs receiver has the given (indented) settings. */
function withReceiver(settings: string): string {
  return `
receivers:
  docker_logs:
${settings.replace(/^/gm, '    ')}
exporters:
  debug:
service:
  pipelines:
    logs:
      receivers: [docker_logs]
      exporters: [debug]
`;
}

/** A valid config with more exporters (indented YAML) defined next to debug. */
function withExporters(exporters: string): string {
  return `
receivers:
  docker_logs:
exporters:
  debug:
${exporters.replace(/^/gm, '  ')}
service:
  pipelines:
    logs:
      receivers: [docker_logs]
      exporters: [debug]
`;
}

function otlp(config: Config, id: string): OtlpHttpExporterConfig {
  const exporter = config.exporters[id];
  assert.ok(exporter !== undefined && exporter.type === 'otlphttp', `${id} is an otlphttp exporter`);
  return exporter;
}

// --- environment variable expansion -------------------------------------------------

test('expandEnvString: set, unset, defaults, legacy form and $$', () => {
  const env = { HOST: 'collector', EMPTY: '' };
  assert.equal(expandEnvString('http://${env:HOST}:4318', env), 'http://collector:4318');
  assert.equal(expandEnvString('${HOST}', env), 'collector');
  assert.equal(expandEnvString('[${env:MISSING}]', env), '[]');
  assert.equal(expandEnvString('${env:MISSING:-fallback}', env), 'fallback');
  assert.equal(expandEnvString('${env:EMPTY:-fallback}', env), 'fallback');
  assert.equal(expandEnvString('${env:HOST:-fallback}', env), 'collector');
  assert.equal(expandEnvString('${env:MISSING:-a:b/c}', env), 'a:b/c');
  assert.equal(expandEnvString('${MISSING:-legacy}', env), 'legacy');
  assert.equal(expandEnvString('cost: $$5', env), 'cost: $5');
  assert.equal(expandEnvString('$${env:HOST}', env), '${env:HOST}');
  assert.equal(expandEnvString('$$$${HOST}', env), '$${HOST}');
  assert.equal(expandEnvString('$HOST and $ alone', env), '$HOST and $ alone');
});

test('expandEnvString rejects malformed references and other config sources', () => {
  assert.throws(() => expandEnvString('${env:HOST', {}), EnvReferenceError);
  assert.throws(() => expandEnvString('${env:bad-name}', {}), /invalid environment variable name/);
  assert.throws(() => expandEnvString('${file:/etc/passwd}', {}), /unsupported config source "file"/);
  assert.throws(() => expandEnvString('${not valid}', {}), /invalid reference/);
});

test('expandEnvTree expands strings nested in lists and maps, never keys', () => {
  const tree = { a: ['${env:X}', { '${env:X}': '${X}-2' }], n: 5, b: true, z: null };
  const result = expandEnvTree(tree, { X: 'x' });
  assert.deepEqual(result.value, { a: ['x', { '${env:X}': 'x-2' }], n: 5, b: true, z: null });
  assert.deepEqual(result.substitutedPaths, [['a', 0], ['a', 1, '${env:X}']]);
  assert.deepEqual(result.problems, []);
  assert.deepEqual(tree.a[0], '${env:X}', 'input is not modified');
});

test('env expansion in a config file: maps, lists, numbers and booleans by declared type', () => {
  const config = parse(
    `
receivers:
  docker_logs:
    endpoint: \${env:DOCKER_ENDPOINT}
    stream_timeout: \${env:STREAM_TIMEOUT:-45s}
    max_concurrent_opens: \${env:OPENS}
processors:
  batch:
    send_batch_size: \${env:BATCH}
exporters:
  otlphttp:
    endpoint: https://\${OTLP_HOST}:4318
    headers:
      authorization: Bearer \${env:TOKEN}
      x-tenant: \${env:TENANT}
    retry_on_failure:
      enabled: \${env:RETRY}
service:
  pipelines:
    logs:
      receivers:
        - \${env:RECEIVER}
      processors: [batch]
      exporters: [otlphttp]
`,
    {
      DOCKER_ENDPOINT: 'tcp://docker:2375',
      OPENS: '3',
      BATCH: '100',
      OTLP_HOST: 'otel.example.com',
      TOKEN: 's3cr3t',
      TENANT: '12345',
      RETRY: 'false',
      RECEIVER: 'docker_logs',
    },
  );
  const receiver = config.receivers.docker_logs;
  assert.equal(receiver?.endpoint, 'tcp://docker:2375');
  assert.equal(receiver?.stream_timeout, 45_000);
  assert.equal(receiver?.max_concurrent_opens, 3);
  assert.equal(config.processors.batch?.send_batch_size, 100);
  const exporter = otlp(config, 'otlphttp');
  assert.equal(exporter.endpoint, 'https://otel.example.com:4318');
  // A numeric-looking variable stays text where the schema wants text.
  assert.deepEqual(exporter.headers, { authorization: 'Bearer s3cr3t', 'x-tenant': '12345' });
  assert.equal(exporter.retry_on_failure.enabled, false);
  assert.deepEqual(config.service.pipelines.logs?.receivers, ['docker_logs']);
});

test('env values cannot inject YAML structure', () => {
  const injected = 'x\nservice: {}\n  - evil: [1, 2]\n"quoted": {a: b}';
  const config = parse(withExporters('otlphttp:\n  headers:\n    x-value: ${env:INJECTED}'), { INJECTED: injected });
  assert.deepEqual(otlp(config, 'otlphttp').headers, { 'x-value': injected });
  assert.deepEqual(config.service.pipelines.logs?.exporters, ['debug']);
});

test('a string that is not from a variable is not taken as a number', () => {
  const issues = issuesOf(`${MINIMAL}
processors:
  batch:
    send_batch_size: "100"
`);
  assert.deepEqual(issues, ['processors.batch.send_batch_size: expected an integer >= 1, got "100"']);
});

test('an otlphttp endpoint expanding to an empty string means null (SDK env defaults)', () => {
  const config = parse(withExporters('otlphttp:\n  endpoint: ${env:OTEL_EXPORTER_OTLP_ENDPOINT}'), {});
  assert.equal(otlp(config, 'otlphttp').endpoint, null);
});

test('malformed references are reported at their key path', () => {
  const issues = issuesOf(withExporters('otlphttp:\n  endpoint: ${file:/tmp/url}'));
  assert.deepEqual(issues, [
    'exporters.otlphttp.endpoint: unsupported config source "file" in "${file:/tmp/url}": only ${env:NAME} is supported',
  ]);
});

test('include/exclude patterns and multiline regexes are checked, with key paths', () => {
  assert.throws(
    () =>
      parse(`receivers:
  docker_logs:
    include:
      names: ['web-*', '/([a-z/']
      labels: ['=x', 'team=/[/']
    multiline:
      line_start_pattern: '('
      line_end_pattern: 'x'
exporters:
  debug:
service:
  pipelines:
    logs:
      receivers: [docker_logs]
      exporters: [debug]
`),
    (err: unknown) => {
      const issues = (err as { issues: string[] }).issues;
      assert.match(issues.join('\n'), /receivers\.docker_logs\.include\.names\[1\]: invalid regular expression/);
      assert.match(issues.join('\n'), /receivers\.docker_logs\.include\.labels\[0\]: empty label key/);
      assert.match(issues.join('\n'), /receivers\.docker_logs\.include\.labels\[1\]: invalid regular expression/);
      assert.match(issues.join('\n'), /receivers\.docker_logs\.multiline\.line_end_pattern: set either/);
      return true;
    },
  );
});

test('a receiver written with an empty value gets every default', () => {
  const config = parse(MINIMAL);
  assert.deepEqual(config.receivers.docker_logs, createDefaultConfig({}));
  assert.deepEqual(config.receivers.docker_logs, {
    endpoint: 'unix:///var/run/docker.sock',
    endpoints: [],
    tls: { ca_file: null, cert_file: null, key_file: null, insecure_skip_verify: false },
    api_version: null,
    timeout: 10_000,
    start_at: 'end',
    read_from: 'auto',
    stream_timeout: 30_000,
    stream_timeout_jitter: 0.1,
    max_concurrent_opens: 8,
    max_log_size: 1_048_576,
    collection_interval: 10_000,
    storage: { directory: null },
    include: { names: [], ids: [], images: [], labels: [] },
    exclude: { names: [], ids: [], images: [], labels: [] },
    parse: 'none',
    json: { timestamp_field: null, severity_fields: ['level', 'severity', 'lvl', 'log.level'], body_field: null },
    multiline: { line_start_pattern: null, line_end_pattern: null, flush_timeout: 500, max_lines: 500, max_bytes: 1_048_576 },
    events: false,
    reconnect: { initial_interval: 1000, max_interval: 30_000 },
  });
  assert.deepEqual(config.exporters.debug, { type: 'debug', verbosity: 'basic' });
  assert.deepEqual(config.processors, {});
  assert.deepEqual(config.extensions, {});
  assert.deepEqual(config.service.extensions, []);
  assert.deepEqual(config.service.pipelines, {
    logs: { receivers: ['docker_logs'], processors: [], exporters: ['debug'] },
  });
  assert.deepEqual(config.service.telemetry, {
    logs: { level: 'info', encoding: 'console' },
    metrics: { level: 'basic', address: null },
  });
});

test('given settings are merged over the defaults, section by section', () => {
  const config = parse(
    withReceiver(`start_at: beginning
max_log_size: 256KiB
storage:
  directory: /var/lib/dlr
reconnect:
  max_interval: 1m`),
  );
  const receiver = config.receivers.docker_logs;
  assert.equal(receiver?.start_at, 'beginning');
  assert.equal(receiver?.max_log_size, 262_144);
  assert.equal(receiver?.stream_timeout, 30_000);
  assert.deepEqual(receiver?.storage, { directory: '/var/lib/dlr' });
  assert.deepEqual(receiver?.reconnect, { initial_interval: 1000, max_interval: 60_000 });
});

test('otlphttp defaults and named components of the same type', () => {
  const config = parse(`
receivers:
  docker_logs:
  docker_logs/remote:
    endpoint: tcp://remote:2375
exporters:
  otlphttp:
  otlphttp/backup:
    endpoint: https://backup.example.com
    encoding: json
    sending_queue:
      queue_bytes: 1GiB
service:
  pipelines:
    logs:
      receivers: [docker_logs, docker_logs/remote]
      exporters: [otlphttp, otlphttp/backup]
`);
  assert.deepEqual(otlp(config, 'otlphttp'), {
    type: 'otlphttp',
    endpoint: null,
    logs_endpoint: null,
    metrics_endpoint: null,
    encoding: 'proto',
    compression: 'gzip',
    headers: {},
    timeout: 10_000,
    retry_on_failure: {
      enabled: true,
      initial_interval: 5000,
      max_interval: 30_000,
      max_elapsed_time: 0,
      multiplier: 1.5,
      randomization_factor: 0.5,
    },
    sending_queue: { queue_size: 16_384, queue_bytes: 67_108_864 },
  });
  const backup = otlp(config, 'otlphttp/backup');
  assert.equal(backup.endpoint, 'https://backup.example.com');
  assert.equal(backup.encoding, 'json');
  assert.equal(backup.sending_queue.queue_bytes, 1024 ** 3);
  assert.equal(config.receivers['docker_logs/remote']?.endpoint, 'tcp://remote:2375');
  assert.deepEqual(Object.keys(config.receivers), ['docker_logs', 'docker_logs/remote']);
});

test('durations accept compound forms and a bare 0, sizes accept bytes as numbers', () => {
  const config = parse(
    withReceiver(`timeout: 1m30s
stream_timeout: 1.5s
collection_interval: 500ms
max_log_size: 2048`),
  );
  const receiver = config.receivers.docker_logs;
  assert.equal(receiver?.timeout, 90_000);
  assert.equal(receiver?.stream_timeout, 1500);
  assert.equal(receiver?.collection_interval, 500);
  assert.equal(receiver?.max_log_size, 2048);
  const withZero = parse(`${MINIMAL}
processors:
  batch:
    timeout: 0
`);
  assert.equal(withZero.processors.batch?.timeout, 0);
});

test('DOCKER_HOST is the endpoint default, and an explicit endpoint wins over it', () => {
  const env = { DOCKER_HOST: 'tcp://docker.internal:2376' };
  assert.equal(parse(MINIMAL, env).receivers.docker_logs?.endpoint, 'tcp://docker.internal:2376');
  const explicit = parse(withReceiver('endpoint: unix:///run/user/1000/docker.sock'), env);
  assert.equal(explicit.receivers.docker_logs?.endpoint, 'unix:///run/user/1000/docker.sock');
  assert.equal(parse(MINIMAL, { DOCKER_HOST: '' }).receivers.docker_logs?.endpoint, 'unix:///var/run/docker.sock');
  assert.deepEqual(issuesOf(MINIMAL, { DOCKER_HOST: 'npipe:////./pipe/docker_engine' }), [
    'receivers.docker_logs.endpoint: expected unix:///path or tcp://host:port, got "npipe:////./pipe/docker_engine" (from DOCKER_HOST)',
  ]);
});

test('the collector readers form of service.telemetry.metrics resolves to address', () => {
  const config = parse(`${MINIMAL}
  telemetry:
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 0.0.0.0
                port: 8888
`);
  assert.deepEqual(config.service.telemetry.metrics, { level: 'detailed', address: '0.0.0.0:8888' });
  const ipv6 = parse(`${MINIMAL}
  telemetry:
    metrics:
      readers: [{ pull: { exporter: { prometheus: { host: "::1", port: 9464 } } } }]
`);
  assert.equal(ipv6.service.telemetry.metrics.address, '[::1]:9464');
});

test('anything else inside telemetry readers is an error naming the key', () => {
  const issues = issuesOf(`${MINIMAL}
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: { host: localhost, port: 8888, without_units: true }
        - periodic:
            exporter: { otlp: {} }
`);
  assert.deepEqual(issues, [
    'service.telemetry.metrics.readers[0].pull.exporter.prometheus.without_units: unknown key (expected one of: host, port)',
    'service.telemetry.metrics.readers[1]: only one pull/prometheus reader is supported',
  ]);
  assert.deepEqual(
    issuesOf(`${MINIMAL}
  telemetry:
    metrics:
      readers:
        - periodic: {}
`),
    ['service.telemetry.metrics.readers[0]: expected a map with pull (only one pull/prometheus reader is supported), got a map'],
  );
});

// --- error messages -----------------------------------------------------------------

test('unknown keys are errors, with the closest known key suggested', () => {
  assert.deepEqual(issuesOf(withReceiver('strem_timeout: 30s')), [
    'receivers.docker_logs.strem_timeout: unknown key (did you mean stream_timeout?)',
  ]);
  assert.deepEqual(issuesOf(withReceiver('streamTimeout: 30s')), [
    'receivers.docker_logs.streamTimeout: unknown key (did you mean stream_timeout?)',
  ]);
  assert.deepEqual(issuesOf(withReceiver('storage:\n  dir: /x')), [
    'receivers.docker_logs.storage.dir: unknown key (expected one of: directory)',
  ]);
  assert.deepEqual(issuesOf(`${MINIMAL}connectors: {}\n`), [
    'connectors: unknown key (expected one of: receivers, processors, exporters, extensions, service)',
  ]);
});

test('type errors name the key, what was expected and what was got', () => {
  const cases: Array<[string, string]> = [
    ['stream_timeout: abc', 'receivers.docker_logs.stream_timeout: expected a duration like 30s, got "abc"'],
    ['stream_timeout: 30', 'receivers.docker_logs.stream_timeout: expected a duration like 30s, got 30 (add a unit, e.g. 30s)'],
    ['stream_timeout: 50ms', 'receivers.docker_logs.stream_timeout: expected a duration >= 100ms, got "50ms"'],
    ['max_log_size: lots', 'receivers.docker_logs.max_log_size: expected a size like 1MiB, got "lots"'],
    ['max_log_size: 100', 'receivers.docker_logs.max_log_size: expected a size between 1KiB and 64MiB, got 100'],
    ['max_log_size: 1GiB', 'receivers.docker_logs.max_log_size: expected a size between 1KiB and 64MiB, got "1GiB"'],
    ['start_at: middle', 'receivers.docker_logs.start_at: expected one of end, beginning, got "middle"'],
    ['max_concurrent_opens: 0', 'receivers.docker_logs.max_concurrent_opens: expected an integer >= 1, got 0'],
    ['max_concurrent_opens: 2.5', 'receivers.docker_logs.max_concurrent_opens: expected an integer >= 1, got 2.5'],
    ['stream_timeout_jitter: 0.7', 'receivers.docker_logs.stream_timeout_jitter: expected a number between 0 and 0.5, got 0.7'],
    ['endpoint: ssh://me@host', 'receivers.docker_logs.endpoint: expected unix:///path or tcp://host:port, got "ssh://me@host"'],
    ['endpoint: tcp://host', 'receivers.docker_logs.endpoint: expected unix:///path or tcp://host:port, got "tcp://host"'],
    ['api_version: "v1"', 'receivers.docker_logs.api_version: expected an API version like "1.41", got "v1"'],
    [
      'api_version: 1.41',
      'receivers.docker_logs.api_version: expected an API version like "1.41", got 1.41 (quote the value to make it a string)',
    ],
    ['storage: /tmp', 'receivers.docker_logs.storage: expected a map, got "/tmp"'],
    [
      'reconnect:\n  initial_interval: 10s\n  max_interval: 5s',
      'receivers.docker_logs.reconnect.max_interval: must be >= initial_interval (10s), got 5s',
    ],
  ];
  for (const [settings, expected] of cases) assert.deepEqual(issuesOf(withReceiver(settings)), [expected], settings);
});

test('exporter, processor and extension settings are checked the same way', () => {
  const issues = issuesOf(`
receivers:
  docker_logs:
processors:
  batch:
    send_batch_size: 100
    send_batch_max_size: 50
exporters:
  otlphttp:
    endpoint: localhost:4318
    compression: zstd
    headers:
      x-number: 5
      x-flag: true
    retry_on_failure:
      enabled: "yes"
      multiplier: 0.5
  debug:
    verbosity: loud
extensions:
  health_check:
    endpoint: localhost
    path: health
service:
  extensions: [health_check]
  pipelines:
    logs:
      receivers: [docker_logs]
      processors: [batch]
      exporters: [otlphttp, debug]
`);
  assert.deepEqual(issues, [
    'processors.batch.send_batch_max_size: must be 0 or >= send_batch_size (100), got 50',
    'exporters.otlphttp.endpoint: expected an http:// or https:// URL, got "localhost:4318"',
    'exporters.otlphttp.compression: expected one of none, gzip, got "zstd"',
    'exporters.otlphttp.headers.x-number: expected a string, got 5 (quote the value to make it a string)',
    'exporters.otlphttp.headers.x-flag: expected a string, got true (quote the value to make it a string)',
    'exporters.otlphttp.retry_on_failure.enabled: expected true or false, got "yes"',
    'exporters.otlphttp.retry_on_failure.multiplier: expected a number >= 1, got 0.5',
    'exporters.debug.verbosity: expected one of basic, normal, detailed, got "loud"',
    'extensions.health_check.endpoint: expected host:port, e.g. 127.0.0.1:13133, got "localhost"',
    'extensions.health_check.path: expected a path starting with /, got "health"',
  ]);
});

test('an unknown component type names the key and lists the known types', () => {
  const issues = issuesOf(withExporters('otlp:\n  endpoint: http://x:4317\nkafka/out:'));
  assert.deepEqual(issues, [
    'exporters.otlp: unknown exporter type "otlp" (known types: otlphttp, debug)',
    'exporters.kafka/out: unknown exporter type "kafka" (known types: otlphttp, debug)',
  ]);
  assert.deepEqual(issuesOf(MINIMAL.replace('  docker_logs:\nexporters', '  docker_logs:\n  dockerlogs:\nexporters')), [
    'receivers.dockerlogs: unknown receiver type "dockerlogs" (did you mean docker_logs? known types: docker_logs)',
  ]);
  assert.deepEqual(issuesOf(MINIMAL.replace('  debug:\nservice', '  debug:\n  debug/:\nservice')), [
    'exporters.debug/: invalid id: the name after "debug/" must be non-empty and contain no spaces',
  ]);
});

test('pipelines must reference defined components, by list index', () => {
  const issues = issuesOf(`
receivers:
  docker_logs:
exporters:
  otlphttp:
  debug:
service:
  extensions: [health_check]
  pipelines:
    logs:
      receivers: [docker_logs]
      processors: [batch]
      exporters: [otlphttp, otlp, otlphttp]
`);
  assert.deepEqual(issues, [
    'service.extensions[0]: "health_check" is not defined under extensions (defined: none)',
    'service.pipelines.logs.processors[0]: "batch" is not defined under processors (defined: none)',
    'service.pipelines.logs.exporters[1]: "otlp" is not defined under exporters (defined: otlphttp, debug)',
    'service.pipelines.logs.exporters[2]: "otlphttp" is listed more than once',
  ]);
});

test('the logs pipeline is required and every pipeline needs a receiver and an exporter', () => {
  const required = 'service.pipelines.logs: required: a logs pipeline with at least one receiver and one exporter';
  assert.deepEqual(issuesOf('receivers:\n  docker_logs:\n'), [required]);
  assert.deepEqual(issuesOf(''), [required]);
  assert.deepEqual(issuesOf('# only a comment\n'), [required]);
  assert.deepEqual(
    issuesOf(`${MINIMAL}
    metrics:
      processors: []
`),
    [
      'service.pipelines.metrics.receivers: a pipeline needs at least one receiver',
      'service.pipelines.metrics.exporters: a pipeline needs at least one exporter',
    ],
  );
  assert.deepEqual(issuesOf(MINIMAL.replace('      receivers: [docker_logs]\n', '')), [
    'service.pipelines.logs.receivers: a pipeline needs at least one receiver',
  ]);
});

test('a component that is defined but unused is fine', () => {
  const config = parse(MINIMAL.replace('  debug:\nservice', '  debug:\n  otlphttp/unused:\nservice'));
  assert.ok(config.exporters['otlphttp/unused'] !== undefined);
});

test('all issues are reported at once, in document order', () => {
  const issues = issuesOf(`
service:
  pipelines:
    logs:
      receivers: [docker_logs]
      exporters: [otlp]
receivers:
  docker_logs:
    strem_timeout: 30s
    start_at: middle
`);
  assert.deepEqual(issues, [
    'service.pipelines.logs.exporters[0]: "otlp" is not defined under exporters (defined: none)',
    'receivers.docker_logs.strem_timeout: unknown key (did you mean stream_timeout?)',
    'receivers.docker_logs.start_at: expected one of end, beginning, got "middle"',
  ]);
});

test('the ConfigError names the source and lists every issue', () => {
  try {
    parseConfig('receivers: 5\n', 'my.yaml', {});
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.ok(err instanceof ReceiverError);
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.deepEqual(err.issues, [
      'receivers: expected a map of receiver ids to settings, got 5',
      'service.pipelines.logs: required: a logs pipeline with at least one receiver and one exporter',
    ]);
    assert.match(err.message, /^invalid configuration in my\.yaml:\n {2}receivers: /);
  }
});

test('YAML syntax errors are reported as LINE:COL: message', () => {
  const issues = issuesOf('receivers:\n  docker_logs: [\nservice: x: y\n');
  assert.ok(issues.length >= 1);
  for (const issue of issues) assert.match(issue, /^\d+:\d+: \S/);
  const duplicate = issuesOf('receivers:\n  docker_logs:\nreceivers:\n');
  assert.equal(duplicate.length, 1);
  assert.match(duplicate[0] ?? '', /^\d+:\d+: Map keys must be unique$/);
  assert.match(issuesOf('- a\n- b\n')[0] ?? '', /^expected a map with receivers, processors, exporters, extensions, service, got a list$/);
});

// --- files ----------------------------------------------------------------------------

test('loadConfigFile reads a file and names it in errors', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'config-load-'));
  try {
    const path = join(dir, 'config.yaml');
    await writeFile(path, MINIMAL);
    assert.deepEqual((await loadConfigFile(path, {})).service.pipelines.logs?.exporters, ['debug']);
    await writeFile(path, withReceiver('start_at: middle'));
    await assert.rejects(loadConfigFile(path, {}), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(err.message.startsWith(`invalid configuration in ${path}:`));
      return true;
    });
    const missing = join(dir, 'missing.yaml');
    await assert.rejects(loadConfigFile(missing, {}), (err: unknown) => {
      assert.ok(err instanceof ReceiverError && !(err instanceof ConfigError));
      assert.equal(err.code, 'CONFIG_READ_FAILED');
      assert.equal(err.message, `cannot read config file ${missing}: no such file`);
      return true;
    });
    await assert.rejects(loadConfigFile(dir, {}), /cannot read config file .*: it is a directory/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('DEFAULT_CONFIG_PATH is the absolute path of config/default.yaml', () => {
  assert.ok(isAbsolute(DEFAULT_CONFIG_PATH));
  assert.ok(DEFAULT_CONFIG_PATH.endsWith(join('config', 'default.yaml')));
  assert.ok(existsSync(DEFAULT_CONFIG_PATH));
});

test('the built-in default without OTEL_EXPORTER_OTLP_ENDPOINT logs to debug only', async () => {
  for (const env of [{}, { OTEL_EXPORTER_OTLP_ENDPOINT: '' }]) {
    const config = await loadDefaultConfig(env);
    assert.deepEqual(Object.keys(config.exporters), ['debug']);
    assert.deepEqual(config.service.pipelines.logs, {
      receivers: ['docker_logs'],
      processors: ['batch'],
      exporters: ['debug'],
    });
    assert.equal(config.service.pipelines.metrics, undefined);
    assert.deepEqual(config.receivers.docker_logs, createDefaultConfig({}));
  }
});

test('the built-in default with OTEL_EXPORTER_OTLP_ENDPOINT exports logs and metrics over OTLP', async () => {
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', DOCKER_HOST: 'tcp://docker:2375' };
  const config = await loadDefaultConfig(env);
  assert.equal(otlp(config, 'otlphttp').endpoint, 'http://collector:4318');
  assert.ok(config.exporters.debug !== undefined);
  assert.deepEqual(config.service.pipelines.logs?.exporters, ['otlphttp']);
  assert.deepEqual(config.service.pipelines.metrics, {
    receivers: ['docker_logs'],
    processors: [],
    exporters: ['otlphttp'],
  });
  assert.equal(config.receivers.docker_logs?.endpoint, 'tcp://docker:2375');
});

test('config/example.yaml parses and covers every key of the schema', async () => {
  const text = await readFile(EXAMPLE_PATH, 'utf8');
  const config = parseConfig(text, 'example.yaml', {});
  assert.ok(config.exporters['otlphttp/backup'] !== undefined);
  const raw: unknown = parseYaml(text);
  const missing = configKeyPaths().filter((path) => !hasPath(raw, path.split('.')));
  assert.deepEqual(missing, [], 'keys missing from config/example.yaml');
});

function hasPath(tree: unknown, keys: string[]): boolean {
  let node = tree;
  for (const key of keys) {
    if (typeof node !== 'object' || node === null || !(key in node)) return false;
    node = (node as Record<string, unknown>)[key];
  }
  return true;
}

test('the reference table has a row for every key', () => {
  const markdown = configReferenceMarkdown();
  const lines = markdown.trimEnd().split('\n');
  assert.equal(lines[0], '| Key | Type | Default | Description |');
  const paths = configKeyPaths();
  assert.equal(lines.length, paths.length + 2);
  for (const path of paths) assert.ok(markdown.includes(`| \`${path}\` |`), path);
  assert.ok(markdown.includes('| `receivers.docker_logs.stream_timeout` | duration (>= 100ms) | `30s` |'));
  assert.ok(markdown.includes('| `receivers.docker_logs.start_at` | end \\| beginning | `end` |'));
});

// --- resolveReceiverConfig ------------------------------------------------------------

test('resolveReceiverConfig takes durations as milliseconds or strings, sizes as bytes or strings', () => {
  const fromNumbers = resolveReceiverConfig({ stream_timeout: 5000, max_log_size: 2048, reconnect: { max_interval: 60_000 } }, {});
  const fromStrings = resolveReceiverConfig({ stream_timeout: '5s', max_log_size: '2KiB', reconnect: { max_interval: '1m' } }, {});
  assert.deepEqual(fromNumbers, fromStrings);
  assert.equal(fromNumbers.stream_timeout, 5000);
  assert.equal(fromNumbers.max_log_size, 2048);
  assert.deepEqual(fromNumbers.reconnect, { initial_interval: 1000, max_interval: 60_000 });
  assert.deepEqual(resolveReceiverConfig(undefined, {}), createDefaultConfig({}));
  assert.deepEqual(resolveReceiverConfig(null, {}), createDefaultConfig({}));
  assert.equal(resolveReceiverConfig({}, { DOCKER_HOST: 'unix:///tmp/d.sock' }).endpoint, 'unix:///tmp/d.sock');
  assert.equal(createDefaultConfig({ DOCKER_HOST: 'https://docker:2376' }).endpoint, 'https://docker:2376');
});

test('resolveReceiverConfig errors use the <inline> source and receiver-relative paths', () => {
  assert.throws(
    () => resolveReceiverConfig({ stream_timeout: -1, max_log_size: '1GiB', start_at: 'middle', endpont: 'tcp://x:1' }, {}),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^invalid configuration in <inline>:/);
      assert.deepEqual(err.issues, [
        'endpont: unknown key (did you mean endpoint?)',
        'start_at: expected one of end, beginning, got "middle"',
        'stream_timeout: expected a duration like 30s, got -1',
        'max_log_size: expected a size between 1KiB and 64MiB, got "1GiB"',
      ]);
      return true;
    },
  );
  assert.throws(() => resolveReceiverConfig('tcp://x:1', {}), /expected a map, got "tcp:\/\/x:1"/);
});
