/**
 * Environment variable references in config values, as in the OpenTelemetry Collector:
 *
 *   ${env:NAME}            the value of NAME ("" when unset)
 *   ${env:NAME:-default}   the value of NAME, or `default` when NAME is unset or empty
 *   ${NAME}, ${NAME:-d}    the collector's older form, same meaning
 *   $$                     a literal `$`
 *
 * A `$` followed by anything else is kept as is. Other collector config sources
 * (`${file:...}`, `${http:...}`) are not supported and reported as problems.
 *
 * Expansion runs on the parsed tree, only on string values (never on map keys), so a
 * variable's value is always text inside one scalar: it cannot add keys, lists or
 * documents however it is written.
 */
import type { PathSegment } from './schema.js';

const NAME = '[A-Za-z_][A-Za-z0-9_]*';
const ENV_REFERENCE = new RegExp(`^env:(${NAME})(?::-([\\s\\S]*))?$`);
const LEGACY_REFERENCE = new RegExp(`^(${NAME})(?::-([\\s\\S]*))?$`);
const OTHER_SOURCE = /^([A-Za-z][A-Za-z0-9+.-]*):/;

/** A malformed reference inside a string value. */
export class EnvReferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvReferenceError';
  }
}

interface Expansion {
  value: string;
  /** Whether at least one variable reference was replaced (`$$` alone does not count). */
  substituted: boolean;
}

/** Expands the references in one string; throws EnvReferenceError when one is malformed. */
export function expandEnvString(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return expand(text, env).value;
}

function expand(text: string, env: NodeJS.ProcessEnv): Expansion {
  if (!text.includes('$')) return { value: text, substituted: false };
  let value = '';
  let substituted = false;
  let pos = 0;
  while (pos < text.length) {
    const dollar = text.indexOf('$', pos);
    if (dollar === -1) {
      value += text.slice(pos);
      break;
    }
    value += text.slice(pos, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      value += '$';
      pos = dollar + 2;
    } else if (next === '{') {
      const close = text.indexOf('}', dollar + 2);
      if (close === -1) throw new EnvReferenceError('unterminated "${" (write $$ for a literal $)');
      value += resolveReference(text.slice(dollar + 2, close), env);
      substituted = true;
      pos = close + 1;
    } else {
      value += '$';
      pos = dollar + 1;
    }
  }
  return { value, substituted };
}

function resolveReference(body: string, env: NodeJS.ProcessEnv): string {
  const match = ENV_REFERENCE.exec(body) ?? LEGACY_REFERENCE.exec(body);
  if (match !== null) return lookup(env, match[1] ?? '', match[2]);
  const source = OTHER_SOURCE.exec(body)?.[1];
  if (source === 'env') {
    throw new EnvReferenceError(`invalid environment variable name in "\${${body}}"`);
  }
  if (source !== undefined) {
    throw new EnvReferenceError(`unsupported config source "${source}" in "\${${body}}": only \${env:NAME} is supported`);
  }
  throw new EnvReferenceError(`invalid reference "\${${body}}": expected \${env:NAME} or \${env:NAME:-default}`);
}

/**
 * `:-` uses the default for an empty variable too (as in a shell or docker compose),
 * because an exported-but-empty variable almost always means "not configured".
 */
function lookup(env: NodeJS.ProcessEnv, name: string, fallback: string | undefined): string {
  const value = env[name];
  if (value === undefined || value === '') return fallback ?? '';
  return value;
}

export interface EnvTreeProblem {
  path: PathSegment[];
  message: string;
}

export interface EnvTreeExpansion {
  value: unknown;
  /** Paths of the string values in which a variable was substituted. */
  substitutedPaths: PathSegment[][];
  problems: EnvTreeProblem[];
}

/**
 * Expands references in every string value of a parsed YAML tree (maps, lists,
 * scalars). Returns a new tree; the input is not modified. A malformed reference is
 * reported as a problem at its path and the value is left unexpanded.
 */
export function expandEnvTree(tree: unknown, env: NodeJS.ProcessEnv = process.env): EnvTreeExpansion {
  const result: EnvTreeExpansion = { value: undefined, substitutedPaths: [], problems: [] };
  result.value = expandNode(tree, [], env, result);
  return result;
}

function expandNode(node: unknown, path: PathSegment[], env: NodeJS.ProcessEnv, out: EnvTreeExpansion): unknown {
  if (typeof node === 'string') return expandLeaf(node, path, env, out);
  if (Array.isArray(node)) return node.map((item: unknown, i) => expandNode(item, [...path, i], env, out));
  if (typeof node === 'object' && node !== null) {
    return Object.fromEntries(
      Object.entries(node).map(([key, value]) => [key, expandNode(value, [...path, key], env, out)]),
    );
  }
  return node;
}

function expandLeaf(text: string, path: PathSegment[], env: NodeJS.ProcessEnv, out: EnvTreeExpansion): string {
  try {
    const { value, substituted } = expand(text, env);
    if (substituted) out.substitutedPaths.push(path);
    return value;
  } catch (err) {
    if (!(err instanceof EnvReferenceError)) throw err;
    out.problems.push({ path, message: err.message });
    return text;
  }
}
