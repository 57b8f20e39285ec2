/**
 * Loading a config file: YAML -> env expansion -> defaults + validation -> Config.
 * Every problem is collected and thrown together as one ConfigError, in the order the
 * offending keys appear in the file.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { ConfigError, errorMessage, ReceiverError } from '../errors.js';
import { expandEnvTree } from './env.js';
import { formatIssue, formatPath, resolveConfig, type Config, type Issue, type PathSegment } from './schema.js';

/**
 * <package root>/config/default.yaml. Both src/config/load.ts (run through tsx) and
 * dist/config/load.js (after tsc) sit two levels below the package root.
 */
export const DEFAULT_CONFIG_PATH: string = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));

/** Parses and validates config text; `source` names it in errors. Throws ConfigError. */
export function parseConfig(text: string, source: string, env: NodeJS.ProcessEnv = process.env): Config {
  const { tree, positions } = parseYaml(text, source);
  const expansion = expandEnvTree(tree, env);
  const substituted = new Set(expansion.substitutedPaths.map(formatPath));
  const { config, issues } = resolveConfig(expansion.value, {
    env,
    fromEnv: (path) => substituted.has(formatPath(path)),
  });
  // A value with a malformed reference was left unexpanded; its own type error would be noise.
  const unexpanded = new Set(expansion.problems.map((problem) => formatPath(problem.path)));
  const all = [...expansion.problems, ...issues.filter((issue) => !unexpanded.has(formatPath(issue.path)))];
  if (all.length > 0) throw new ConfigError(source, inDocumentOrder(all, positions).map(formatIssue));
  return config;
}

/** Reads and parses a config file. Throws ReceiverError CONFIG_READ_FAILED or ConfigError. */
export async function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ReceiverError('CONFIG_READ_FAILED', `cannot read config file ${path}: ${readFailureReason(err)}`, {
      cause: err,
    });
  }
  return parseConfig(text, path, env);
}

/**
 * The built-in config (config/default.yaml) used when no --config is given. When
 * OTEL_EXPORTER_OTLP_ENDPOINT is unset or empty there is nowhere to send data, so the
 * otlphttp exporter and the metrics pipeline are dropped and logs go to the debug
 * exporter: a first run shows logs on stdout instead of failing exports to localhost.
 */
export async function loadDefaultConfig(env: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const config = await loadConfigFile(DEFAULT_CONFIG_PATH, env);
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '';
  return endpoint.trim() === '' ? withoutOtlpExport(config) : config;
}

function withoutOtlpExport(config: Config): Config {
  const exporters = Object.fromEntries(Object.entries(config.exporters).filter(([id]) => id !== 'otlphttp'));
  const pipelines = { ...config.service.pipelines };
  delete pipelines.metrics;
  if (pipelines.logs !== undefined) pipelines.logs = { ...pipelines.logs, exporters: ['debug'] };
  return { ...config, exporters, service: { ...config.service, pipelines } };
}

const READ_FAILURE_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
};

function readFailureReason(err: unknown): string {
  const code = err instanceof Error && 'code' in err ? String(err.code) : undefined;
  return (code === undefined ? undefined : READ_FAILURE_REASONS[code]) ?? errorMessage(err);
}

interface ParsedYaml {
  tree: unknown;
  /** Offset in the text of each key path (map keys and list items), for ordering issues. */
  positions: Map<string, number>;
}

/**
 * Parses YAML 1.2 (so `on`/`yes` stay strings) with `<<` merge keys, as the collector
 * accepts. Syntax errors are thrown at once: validating a half-parsed tree would only
 * add noise.
 */
function parseYaml(text: string, source: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((err) => {
      const { line, col } = lineCounter.linePos(err.pos[0]);
      return `${line}:${col}: ${err.message}`;
    });
    throw new ConfigError(source, issues);
  }
  const positions = new Map<string, number>();
  collectPositions(doc.contents, [], positions);
  try {
    return { tree: doc.toJS(), positions };
  } catch (err) {
    // toJS fails on excessive alias expansion ("billion laughs") and similar abuse.
    throw new ConfigError(source, [errorMessage(err)]);
  }
}

function collectPositions(node: unknown, path: PathSegment[], out: Map<string, number>): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const keyPath = [...path, key];
      if (isNode(pair.key) && pair.key.range) out.set(formatPath(keyPath), pair.key.range[0]);
      collectPositions(pair.value, keyPath, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const itemPath = [...path, i];
      if (isNode(item) && item.range) out.set(formatPath(itemPath), item.range[0]);
      collectPositions(item, itemPath, out);
    });
  }
}

/**
 * Sorts issues by where their key (or its closest written ancestor, for keys that are
 * missing) appears in the file; issues at the same place keep their order.
 */
function inDocumentOrder(issues: Issue[], positions: Map<string, number>): Issue[] {
  const offsetOf = (issue: Issue): number => {
    for (let length = issue.path.length; length > 0; length--) {
      const offset = positions.get(formatPath(issue.path.slice(0, length)));
      if (offset !== undefined) return offset;
    }
    return Number.MAX_SAFE_INTEGER; // nothing of it was written: a missing key, reported last
  };
  return issues
    .map((issue, index) => ({ issue, index, offset: offsetOf(issue) }))
    .sort((a, b) => a.offset - b.offset || a.index - b.index)
    .map(({ issue }) => issue);
}
