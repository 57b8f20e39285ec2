/**
 * Which containers are collected, decided once per container (when it is first
 * seen, and again after a rename), never per line: every pattern is compiled
 * once, up front, and a bad one fails the config with its key path.
 *
 * The decision, in order (the first that applies wins):
 *   1. the receiver's own container is never collected (reading our own output
 *      would feed every line we log back into the pipeline);
 *   2. an operator `exclude` entry that matches: not collected;
 *   3. the container label io.opentelemetry.logs.enabled=false|0|no|off: not collected;
 *   4. io.opentelemetry.logs.enabled=true|1|yes|on: collected, whatever `include` says
 *      (a container may opt in, but cannot override the operator's exclude);
 *   5. no `include` entries at all: collected;
 *   6. an `include` entry that matches: collected; otherwise not.
 *
 * Entry syntax (every list): a glob, or a regular expression written /…/ or
 * /…/i (case-insensitive; no other flags). Globs are anchored (match the whole
 * value) and case-sensitive: `*` any run of characters (including `/` and `:`),
 * `?` one character, `[abc]`, `[a-z]`, `[!abc]` or `[^abc]` one of / none of,
 * `\x` a literal x (so `\/var/` is a glob, not a regex). Regular expressions
 * are not anchored: write ^…$ for a whole-value match.
 *   names:  the container name without Docker's leading '/' (a leading '/' in a
 *           glob entry is ignored, so `/web` and `web` are the same entry).
 *   ids:    12 to 64 hex digits match every id starting with them; anything
 *           else is a glob/regex on the full 64-digit id.
 *   images: see `imageSpellings`: a plain reference is normalised the way
 *           Docker does (`nginx` = `docker.io/library/nginx`, no tag = any tag);
 *           globs and regexes are tried on several spellings of the reference.
 *   labels: `key` (present, any value) or `key=value` (value a glob/regex,
 *           `key=` an empty value). Keys are literal.
 */
import { ReceiverError } from '../errors.js';

export interface ContainerMatchConfig {
  names: string[];
  ids: string[];
  images: string[];
  labels: string[];
}

export interface FilterConfig {
  include: ContainerMatchConfig;
  exclude: ContainerMatchConfig;
}

/** What the filter looks at: all of it comes with inspect (image = Config.Image, as written). */
export interface ContainerFacts {
  id: string;
  name: string;
  image: string;
  labels: Readonly<Record<string, string>>;
}

/** `rule` names what decided, for the explain endpoint and debug logs. */
export type FilterDecision = { collect: boolean; rule: string };

export interface ContainerFilter {
  decide(c: ContainerFacts): FilterDecision;
  /**
   * Whether any include/exclude entry is configured. decide() must still be
   * called for every container when false: the opt-out label and the
   * self-exclusion apply regardless (it then costs one label lookup).
   */
  readonly active: boolean;
  /** Whether a rename can change a decision (a `names` entry exists): the caller re-decides after a rename only then. */
  readonly usesNames: boolean;
}

export const CONTAINER_LABELS = {
  enabled: 'io.opentelemetry.logs.enabled',
  parse: 'io.opentelemetry.logs.parse',
  multilineStart: 'io.opentelemetry.logs.multiline.line_start_pattern',
  multilineEnd: 'io.opentelemetry.logs.multiline.line_end_pattern',
} as const;

const LABEL_PREFIX = 'io.opentelemetry.logs.';
const KNOWN_LABELS: ReadonlySet<string> = new Set(Object.values(CONTAINER_LABELS));

const LIST_KEYS = ['names', 'ids', 'images', 'labels'] as const;
type ListKey = (typeof LIST_KEYS)[number];
type SectionKey = keyof FilterConfig;

const DEFAULT_KEY_PATH = 'receivers.docker_logs';

// ---------------------------------------------------------------------------
// Patterns

/** RegExp satisfies this; so does an exact string, which needs no RegExp at all. */
interface StringMatcher {
  test(value: string): boolean;
}

class ExactMatcher implements StringMatcher {
  constructor(readonly text: string) {}
  test(value: string): boolean {
    return value === this.text;
  }
}

type Pattern = { kind: 'literal'; text: string; matcher: ExactMatcher } | { kind: 'pattern'; matcher: RegExp };
type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** A regular expression entry: `/…/` or `/…/i`. */
const REGEX_ENTRY = /^\/(.*)\/(i?)$/s;
/** Written like one, with any flags: other flags are an error, except in label values (which may be paths: `/var/log`). */
const REGEX_LIKE = /^\/.*\/[a-z]*$/s;
const REGEX_SPECIALS = /[\\^$.*+?()[\]{}|/]/;
const CLASS_SPECIALS = /[\\\]^[-]/;

function fail<T>(problem: string): Parsed<T> {
  return { ok: false, problem };
}

/** The part of a SyntaxError message after V8's "Invalid regular expression: /…/: ". */
function regexProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const colon = message.lastIndexOf(': ');
  return colon >= 0 ? message.slice(colon + 2) : message;
}

function parseRegexEntry(body: string, flags: string): Parsed<Pattern> {
  try {
    return { ok: true, value: { kind: 'pattern', matcher: new RegExp(body, flags) } };
  } catch (err) {
    return fail(`invalid regular expression /${body}/${flags}: ${regexProblem(err)}`);
  }
}

function escapeRegexChar(ch: string): string {
  return REGEX_SPECIALS.test(ch) ? `\\${ch}` : ch;
}

/**
 * Translates a glob to an anchored regex source, escaping everything that is
 * not a wildcard. Returns the literal text instead when there is no wildcard,
 * so plain entries are compared with ===.
 */
function translateGlob(glob: string): Parsed<{ source: string; literal: string | null }> {
  let source = '';
  let literal = '';
  let wild = false;
  let i = 0;
  while (i < glob.length) {
    const ch = glob[i];
    if (ch === '\\') {
      if (i + 1 >= glob.length) return fail('invalid glob: it ends with a lone "\\" (write "\\\\" for a backslash)');
      const next = glob[i + 1];
      source += escapeRegexChar(next);
      literal += next;
      i += 2;
    } else if (ch === '*') {
      // Runs of stars collapse: ".*.*" only adds backtracking.
      if (!source.endsWith('.*')) source += '.*';
      wild = true;
      i++;
    } else if (ch === '?') {
      source += '.';
      wild = true;
      i++;
    } else if (ch === '[') {
      const set = translateBracket(glob, i);
      if (!set.ok) return set;
      source += set.value.source;
      wild = true;
      i = set.value.end;
    } else {
      source += escapeRegexChar(ch);
      literal += ch;
      i++;
    }
  }
  return { ok: true, value: { source, literal: wild ? null : literal } };
}

function escapeClassChar(ch: string): string {
  return CLASS_SPECIALS.test(ch) ? `\\${ch}` : ch;
}

/** `[…]` starting at `start`: POSIX-style, `!` or `^` negates, a leading `]` is literal, `\x` escapes. */
function translateBracket(glob: string, start: number): Parsed<{ source: string; end: number }> {
  let i = start + 1;
  let out = '[';
  if (glob[i] === '!' || glob[i] === '^') {
    out += '^';
    i++;
  }
  let members = 0;
  while (i < glob.length && (glob[i] !== ']' || members === 0)) {
    let ch = glob[i];
    if (ch === '\\' && i + 1 < glob.length) {
      i++;
      ch = glob[i];
      out += escapeClassChar(ch);
    } else if (ch === '-' && members > 0 && i + 1 < glob.length && glob[i + 1] !== ']') {
      out += '-';
    } else {
      out += escapeClassChar(ch);
    }
    members++;
    i++;
  }
  if (i >= glob.length) return fail(`invalid glob: "[" at position ${start + 1} is never closed (write "\\[" for a literal bracket)`);
  return { ok: true, value: { source: `${out}]`, end: i + 1 } };
}

function parseGlob(glob: string): Parsed<Pattern> {
  const translated = translateGlob(glob);
  if (!translated.ok) return translated;
  const { source, literal } = translated.value;
  if (literal !== null) return { ok: true, value: { kind: 'literal', text: literal, matcher: new ExactMatcher(literal) } };
  try {
    // dotAll: `*` and `?` match newlines too (label values may hold them).
    return { ok: true, value: { kind: 'pattern', matcher: new RegExp(`^(?:${source})$`, 's') } };
  } catch (err) {
    return fail(`invalid glob: ${regexProblem(err)}`);
  }
}

/** `labelValue`: an empty entry is a value to match, and `/a/b` is a path, not a regex with flag b. */
function parsePattern(entry: string, labelValue: boolean): Parsed<Pattern> {
  if (entry === '' && !labelValue) return fail('empty entry (it would match only an empty value)');
  const regex = REGEX_ENTRY.exec(entry);
  if (regex !== null) return parseRegexEntry(regex[1], regex[2]);
  if (!labelValue && REGEX_LIKE.test(entry)) {
    return fail(`invalid regular expression ${entry}: flags "${entry.slice(entry.lastIndexOf('/') + 1)}" are not supported (only i)`);
  }
  return parseGlob(entry);
}

// ---------------------------------------------------------------------------
// Image references

/** A reference normalised as Docker does: `nginx` → name docker.io/library/nginx. */
interface ImageReference {
  /** Fully qualified repository, without tag or digest: docker.io/library/nginx, registry:5000/app. */
  name: string;
  /** The short form Docker shows: nginx, user/app, registry:5000/app. */
  familiar: string;
  tag: string | null;
  digest: string | null;
}

const IMAGE_ID = /^(?:sha256:)?[0-9a-f]{64}$/;

/**
 * Docker's normalisation (distribution/reference ParseNormalizedNamed): the
 * first path component is a registry only when it has a '.' or ':', is
 * `localhost`, or has upper-case letters; otherwise the registry is docker.io,
 * and a single-component name there lives under library/. index.docker.io is
 * docker.io. Returns null for image ids and for strings with an empty part.
 */
function normalizeImageReference(reference: string): ImageReference | null {
  if (IMAGE_ID.test(reference)) return null;
  let rest = reference;
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (digest === '') return null;
  }
  let tag: string | null = null;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === '') return null;
  }
  if (rest === '' || rest.startsWith('/') || rest.endsWith('/') || rest.includes('//')) return null;
  let domain = 'docker.io';
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first === 'index.docker.io' ? 'docker.io' : first;
      path = rest.slice(slash + 1);
    }
  }
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  const name = `${domain}/${path}`;
  let familiar = name;
  if (domain === 'docker.io') familiar = path.startsWith('library/') && path.indexOf('/', 8) < 0 ? path.slice(8) : path;
  return { name, familiar, tag, digest };
}

/** The tag a reference stands for: `latest` when it has neither tag nor digest (as Docker pulls it). */
function effectiveTag(ref: ImageReference): string | null {
  return ref.tag ?? (ref.digest === null ? 'latest' : null);
}

/**
 * The spellings a glob/regex image entry is tried on, for `nginx:1.25`:
 * as written, nginx, nginx:1.25, docker.io/library/nginx, docker.io/library/nginx:1.25.
 * So `nginx:1.*`, `docker.io/library/*` and `/^nginx$/` all match it, and an
 * entry without a tag matches every tag. A reference without a tag gets
 * `:latest` in the tagged spellings; a digest is kept as `@sha256:…`.
 */
export function imageSpellings(reference: string): string[] {
  const spellings = [reference];
  const ref = normalizeImageReference(reference);
  if (ref === null) return spellings;
  const tag = effectiveTag(ref);
  const suffix = (tag === null ? '' : `:${tag}`) + (ref.digest === null ? '' : `@${ref.digest}`);
  for (const spelling of [ref.familiar, ref.familiar + suffix, ref.name, ref.name + suffix]) {
    if (!spellings.includes(spelling)) spellings.push(spelling);
  }
  return spellings;
}

/** What decide() works out about a container's image, once, when an image rule needs it. */
interface ImageFacts {
  readonly raw: string;
  readonly ref: ImageReference | null;
  readonly spellings: readonly string[];
}

function imageFacts(raw: string): ImageFacts {
  return { raw, ref: normalizeImageReference(raw), spellings: imageSpellings(raw) };
}

// ---------------------------------------------------------------------------
// Rules

interface RuleContext {
  readonly name: string;
  readonly facts: ContainerFacts;
  image(): ImageFacts;
}

interface Rule {
  readonly decision: FilterDecision;
  matches(ctx: RuleContext): boolean;
}

function compileName(entry: string): Parsed<(ctx: RuleContext) => boolean> {
  const parsed = parsePattern(entry.startsWith('/') && !REGEX_LIKE.test(entry) ? entry.slice(1) : entry, false);
  if (!parsed.ok) return parsed;
  const matcher = parsed.value.matcher;
  return { ok: true, value: (ctx) => matcher.test(ctx.name) };
}

const HEX = /^[0-9a-fA-F]+$/;
const MIN_ID_PREFIX = 12;
const FULL_ID = 64;

function compileId(entry: string): Parsed<(ctx: RuleContext) => boolean> {
  if (HEX.test(entry)) {
    if (entry.length < MIN_ID_PREFIX) {
      return fail(`an id prefix needs at least ${MIN_ID_PREFIX} hex digits, got ${entry.length} (write "${entry}*" to match a shorter prefix on purpose)`);
    }
    if (entry.length > FULL_ID) return fail(`a container id has ${FULL_ID} hex digits, got ${entry.length}`);
    const prefix = entry.toLowerCase();
    return { ok: true, value: (ctx) => ctx.facts.id.startsWith(prefix) };
  }
  const parsed = parsePattern(entry, false);
  if (!parsed.ok) return parsed;
  if (parsed.value.kind === 'literal') return fail('neither a hex id (prefix) nor a glob or regex: it can never match a container id (is it a name?)');
  const matcher = parsed.value.matcher;
  return { ok: true, value: (ctx) => matcher.test(ctx.facts.id) };
}

function compileImage(entry: string): Parsed<(ctx: RuleContext) => boolean> {
  const parsed = parsePattern(entry, false);
  if (!parsed.ok) return parsed;
  if (parsed.value.kind === 'pattern') {
    const matcher = parsed.value.matcher;
    return { ok: true, value: (ctx) => ctx.image().spellings.some((s) => matcher.test(s)) };
  }
  const text = parsed.value.text;
  const wanted = normalizeImageReference(text);
  if (wanted === null) {
    if (!IMAGE_ID.test(text)) return fail('not an image reference (expected e.g. nginx, nginx:1.25, registry:5000/app:v1, or a glob/regex)');
    return { ok: true, value: (ctx) => ctx.image().raw === text };
  }
  return {
    ok: true,
    value: (ctx) => {
      const image = ctx.image();
      if (image.raw === text) return true;
      const ref = image.ref;
      if (ref === null || ref.name !== wanted.name) return false;
      if (wanted.tag !== null && wanted.tag !== effectiveTag(ref)) return false;
      return wanted.digest === null || wanted.digest === ref.digest;
    },
  };
}

function compileLabel(entry: string): Parsed<(ctx: RuleContext) => boolean> {
  const eq = entry.indexOf('=');
  const key = eq < 0 ? entry : entry.slice(0, eq);
  if (key === '') return fail('empty label key (expected key or key=value)');
  if (/[*?[\]]/.test(key)) return fail(`label keys are matched literally; "${key}" has glob characters (patterns go in the value: key=pattern)`);
  if (eq < 0) return { ok: true, value: (ctx) => Object.hasOwn(ctx.facts.labels, key) };
  const parsed = parsePattern(entry.slice(eq + 1), true);
  if (!parsed.ok) return parsed;
  const matcher = parsed.value.matcher;
  return {
    ok: true,
    // hasOwn: a label named "constructor" must not find Object.prototype's.
    value: (ctx) => Object.hasOwn(ctx.facts.labels, key) && matcher.test(ctx.facts.labels[key]),
  };
}

const COMPILERS: Record<ListKey, (entry: string) => Parsed<(ctx: RuleContext) => boolean>> = {
  names: compileName,
  ids: compileId,
  images: compileImage,
  labels: compileLabel,
};

export interface FilterConfigIssue {
  /** Relative to the receiver's key path: include.names[2]. */
  key: string;
  message: string;
}

interface CompiledSection {
  rules: Rule[];
  usesNames: boolean;
}

function compileSection(section: SectionKey, config: ContainerMatchConfig | undefined, issues: FilterConfigIssue[]): CompiledSection {
  return compileRules(`${section}.`, section === 'include', config, issues);
}

/** `keyPrefix` ('include.', or '' for a bare match config) starts every issue key and rule name. */
function compileRules(keyPrefix: string, collect: boolean, config: ContainerMatchConfig | undefined, issues: FilterConfigIssue[]): CompiledSection {
  const rules: Rule[] = [];
  let usesNames = false;
  for (const list of LIST_KEYS) {
    const entries: readonly unknown[] = config?.[list] ?? [];
    if (!Array.isArray(entries)) {
      issues.push({ key: `${keyPrefix}${list}`, message: 'expected a list of strings' });
      continue;
    }
    entries.forEach((entry, index) => {
      const key = `${keyPrefix}${list}[${index}]`;
      if (typeof entry !== 'string') {
        issues.push({ key, message: `expected a string, got ${entry === null ? 'null' : typeof entry}` });
        return;
      }
      const compiled = COMPILERS[list](entry);
      if (!compiled.ok) {
        issues.push({ key, message: compiled.problem });
        return;
      }
      if (list === 'names') usesNames = true;
      const decision: FilterDecision = Object.freeze({ collect, rule: `${key} ${JSON.stringify(entry)}` });
      rules.push({ decision, matches: compiled.value });
    });
  }
  return { rules, usesNames };
}

function joinKey(keyPath: string, key: string): string {
  return keyPath === '' ? key : `${keyPath}.${key}`;
}

/** Every bad entry, keyed relative to the receiver (for a schema `check` hook's report(key, message)). */
export function filterConfigIssues(config: FilterConfig): FilterConfigIssue[] {
  const issues: FilterConfigIssue[] = [];
  compileSection('include', config.include, issues);
  compileSection('exclude', config.exclude, issues);
  return issues;
}

/** The bad entries of one include/exclude section, keyed names[2] etc. (for a check hook on that section). */
export function matchConfigIssues(config: ContainerMatchConfig): FilterConfigIssue[] {
  const issues: FilterConfigIssue[] = [];
  compileRules('', false, config, issues);
  return issues;
}

/**
 * Every bad entry, as `<keyPath>.include.names[2]: <problem>`, for the config
 * loader (which reports all problems at once rather than the first).
 */
export function validateFilterConfig(config: FilterConfig, keyPath: string): string[] {
  return filterConfigIssues(config).map((issue) => `${joinKey(keyPath, issue.key)}: ${issue.message}`);
}

// ---------------------------------------------------------------------------
// The filter

/** The opt-in/opt-out label's value as a switch; null when it is absent or not understood. */
export function parseEnabledLabel(value: string | undefined): boolean | null {
  if (value === undefined) return null;
  switch (value.trim().toLowerCase()) {
    case 'true':
    case '1':
    case 'yes':
    case 'on':
      return true;
    case 'false':
    case '0':
    case 'no':
    case 'off':
      return false;
    default:
      return null;
  }
}

const SELF: FilterDecision = Object.freeze({ collect: false, rule: "the receiver's own container" });
const NO_INCLUDE_RULES: FilterDecision = Object.freeze({ collect: true, rule: 'no include rules: collected' });
const NO_INCLUDE_MATCH: FilterDecision = Object.freeze({ collect: false, rule: 'matched no include rule' });

class CompiledFilter implements ContainerFilter {
  readonly active: boolean;
  readonly usesNames: boolean;
  private readonly include: readonly Rule[];
  private readonly exclude: readonly Rule[];
  private readonly selfId: string | null;

  constructor(include: CompiledSection, exclude: CompiledSection, selfId: string | null) {
    this.include = include.rules;
    this.exclude = exclude.rules;
    this.selfId = selfId;
    this.active = include.rules.length > 0 || exclude.rules.length > 0;
    this.usesNames = include.usesNames || exclude.usesNames;
  }

  decide(c: ContainerFacts): FilterDecision {
    if (this.selfId !== null && c.id === this.selfId) return SELF;
    let image: ImageFacts | null = null;
    const ctx: RuleContext = {
      name: c.name.startsWith('/') ? c.name.slice(1) : c.name,
      facts: c,
      image: () => (image ??= imageFacts(c.image)),
    };
    for (const rule of this.exclude) if (rule.matches(ctx)) return rule.decision;
    const labelValue = Object.hasOwn(c.labels, CONTAINER_LABELS.enabled) ? c.labels[CONTAINER_LABELS.enabled] : undefined;
    const enabled = parseEnabledLabel(labelValue);
    if (enabled !== null) return { collect: enabled, rule: `label ${CONTAINER_LABELS.enabled}=${labelValue}` };
    if (this.include.length === 0) return NO_INCLUDE_RULES;
    for (const rule of this.include) if (rule.matches(ctx)) return rule.decision;
    return NO_INCLUDE_MATCH;
  }
}

/**
 * Compiles the filter once. `selfId` is the receiver's own full container id
 * (see self-container.ts), or null when it does not run in a container.
 * Throws ReceiverError CONFIG_INVALID naming every bad entry by key path.
 */
export function compileFilter(config: FilterConfig, selfId: string | null, keyPath: string = DEFAULT_KEY_PATH): ContainerFilter {
  const issues: FilterConfigIssue[] = [];
  const include = compileSection('include', config.include, issues);
  const exclude = compileSection('exclude', config.exclude, issues);
  if (issues.length > 0) {
    const lines = issues.map((issue) => `${joinKey(keyPath, issue.key)}: ${issue.message}`);
    const message = lines.length === 1 ? lines[0] : `${lines.length} invalid container filter entries:\n  ${lines.join('\n  ')}`;
    throw new ReceiverError('CONFIG_INVALID', message);
  }
  return new CompiledFilter(include, exclude, selfId === null ? null : selfId.toLowerCase());
}

// ---------------------------------------------------------------------------
// Per-container settings from labels

export interface ContainerLabelSettings {
  parse: 'json' | null;
  /** JavaScript regex sources, checked with `new RegExp(source)` (no flags). */
  multilineStartPattern: string | null;
  multilineEndPattern: string | null;
  /** One line per label that was not understood and is ignored; for a warning, never a reason to stop collecting. */
  problems: string[];
}

function labelPattern(labels: Readonly<Record<string, string>>, key: string, problems: string[]): string | null {
  if (!Object.hasOwn(labels, key)) return null;
  const value = labels[key];
  if (value === '') {
    problems.push(`label ${key}: empty pattern (it would match every line); ignored`);
    return null;
  }
  try {
    new RegExp(value);
    return value;
  } catch (err) {
    problems.push(`label ${key}=${JSON.stringify(value)}: invalid regular expression: ${regexProblem(err)}; ignored`);
    return null;
  }
}

/**
 * Reads the io.opentelemetry.logs.* labels of one container. Anything not
 * understood (an unknown parse value, a bad regex, a misspelt key under the
 * prefix) goes to `problems` and is ignored. Only one multiline pattern may be
 * set, as in the collector's multiline config: with both, the start pattern
 * is kept.
 */
export function labelSettings(labels: Readonly<Record<string, string>>): ContainerLabelSettings {
  const problems: string[] = [];
  let parse: 'json' | null = null;
  if (Object.hasOwn(labels, CONTAINER_LABELS.parse)) {
    const value = labels[CONTAINER_LABELS.parse];
    const normalized = value.trim().toLowerCase();
    if (normalized === 'json') parse = 'json';
    else if (normalized !== '' && normalized !== 'none') {
      problems.push(`label ${CONTAINER_LABELS.parse}=${JSON.stringify(value)}: unknown value (expected json or none); ignored`);
    }
  }
  const multilineStartPattern = labelPattern(labels, CONTAINER_LABELS.multilineStart, problems);
  let multilineEndPattern = labelPattern(labels, CONTAINER_LABELS.multilineEnd, problems);
  if (multilineStartPattern !== null && multilineEndPattern !== null) {
    problems.push(`labels ${CONTAINER_LABELS.multilineStart} and ${CONTAINER_LABELS.multilineEnd} are both set; only one may be: ${CONTAINER_LABELS.multilineEnd} ignored`);
    multilineEndPattern = null;
  }
  if (Object.hasOwn(labels, CONTAINER_LABELS.enabled) && parseEnabledLabel(labels[CONTAINER_LABELS.enabled]) === null) {
    problems.push(
      `label ${CONTAINER_LABELS.enabled}=${JSON.stringify(labels[CONTAINER_LABELS.enabled])}: not understood (expected true/false, 1/0, yes/no or on/off); ignored`,
    );
  }
  for (const key of Object.keys(labels)) {
    if (key.startsWith(LABEL_PREFIX) && !KNOWN_LABELS.has(key)) problems.push(`label ${key}: unknown setting (known: ${[...KNOWN_LABELS].join(', ')}); ignored`);
  }
  return { parse, multilineStartPattern, multilineEndPattern, problems };
}
