/**
 * Joins several log lines into one record, so that a Java or Python stack trace arrives as one
 * log record instead of forty.
 *
 * The semantics follow the OpenTelemetry Collector's stanza `multiline` settings
 * (pkg/stanza/split: `line_start_pattern` / `line_end_pattern`) and its `recombine` operator
 * (`max_batch_size`, `max_log_size`, `force_flush_period`), adapted to input that is already
 * split into lines:
 *
 * - `line_start_pattern`: a line in which the pattern matches starts a new record; any other
 *   line is appended to the pending one. Lines seen before the first match (the reader started
 *   in the middle of a trace) form a record of their own, as stanza returns the bytes before its
 *   first match as a token so that nothing is lost.
 * - `line_end_pattern`: a line in which the pattern matches ends the pending record (and is part
 *   of it); a matching line with nothing pending is a record of one line, emitted at once.
 *
 * Where this differs from stanza, and why:
 * - stanza runs the pattern over the byte stream with `(?m)`, so a match in the middle of a line
 *   starts (or ends) a token there and splits that line. Here the pattern is tested against each
 *   whole line (one `RegExp.test` per line) and a record always consists of whole lines; anchor
 *   the pattern with `^` (or `$`) to say "at the start (end) of the line". A pattern cannot look
 *   across lines.
 * - Patterns are JavaScript regular expressions, not Go RE2. A leading `(?i)`, `(?s)`, `(?m)`
 *   group (or a combination such as `(?is)`), common in collector configs, is turned into the
 *   matching RegExp flag; other RE2-only syntax (`[[:alpha:]]`, `\z`) is not translated.
 * - stanza trims leading and trailing whitespace from tokens by default; here line texts are
 *   kept exactly (a Python traceback's indentation is information).
 * - `omit_pattern` is not supported.
 * - `flush_timeout` is an idle timeout per stream, like filelog's `force_flush_period` ("no new
 *   data for this long"): a trace that is still being written is not cut just because it
 *   started long ago (recombine measures from the first entry instead). `max_lines` and
 *   `max_bytes` bound what a never-ending record can hold.
 * - `max_lines` / `max_bytes` split a record, like recombine's `max_batch_size` /
 *   `max_log_size`: the record is emitted and the following lines start the next one. A line
 *   that would take the record past `max_bytes` is not cut: the pending record is emitted first
 *   and the line starts the next record. Only a single line longer than `max_bytes` is cut (and
 *   flagged `truncated`), so no record text is ever longer than `max_bytes` and no line text is
 *   dropped except beyond `max_bytes` of one line. Sizes are taken from `LogLine.size`, so for
 *   lines holding invalid UTF-8 (decoded to 3-byte U+FFFD) the bound is approximate.
 *
 * stdout and stderr aggregate independently (like recombine's `source_identifier`): a program
 * writing its trace to stderr while logging requests to stdout gets both right.
 *
 * The aggregator owns no timer: `nextDeadline()` says when `flushDue()` should run, and the
 * caller schedules it. So nothing here keeps the process alive or fires after the caller has
 * stopped, and the caller may hold flushes back while its socket is paused for backpressure (the
 * rest of the record is then waiting in Docker's log, not missing).
 *
 * Cost per line: one `RegExp.test`, one clock read while a record stays pending (inject a cached
 * clock through `options.now` to save it), and no string building: the texts of a record are
 * collected and joined once, when it is emitted. A record of one line is emitted as the very
 * LogLine object that was pushed.
 */
import { ReceiverError, errorMessage } from '../errors.js';
import type { IoStream, LogLine } from './log-framer.js';

export interface MultilineConfig {
  /** A line in which this regular expression matches starts a new record. */
  line_start_pattern: string | null;
  /** A line in which this regular expression matches ends the current record. Exactly one of the two is set. */
  line_end_pattern: string | null;
  /** Milliseconds: a pending record is emitted when its stream gave no line for this long. */
  flush_timeout: number;
  /** A record is emitted when it has this many lines. */
  max_lines: number;
  /** A record is emitted when its text reaches this many bytes; a longer single line is cut. */
  max_bytes: number;
}

export const MULTILINE_DEFAULTS = Object.freeze({
  flush_timeout: 500,
  max_lines: 500,
  max_bytes: 1024 * 1024,
});

export interface CompiledMultiline {
  readonly mode: 'line_start' | 'line_end';
  /** The pattern as configured (for logs and status). */
  readonly source: string;
  /** Never global or sticky: `test` must not carry `lastIndex` from one line to the next. */
  readonly pattern: RegExp;
  readonly flushTimeoutMs: number;
  readonly maxLines: number;
  readonly maxBytes: number;
}

/** Go/RE2-style leading flag group, e.g. `(?i)` or `(?is)`. */
const LEADING_FLAGS_RE = /^\(\?([ims]+)\)/;

/**
 * Validates and compiles a multiline setting. `path` names the setting in error messages (for a
 * container label, pass e.g. `label io.opentelemetry.logs.multiline`). Throws a ReceiverError
 * with code CONFIG_INVALID.
 */
export function compileMultiline(config: MultilineConfig, path = 'multiline'): CompiledMultiline {
  const start = config.line_start_pattern;
  const end = config.line_end_pattern;
  if ((start === null) === (end === null)) {
    throw new ReceiverError(
      'CONFIG_INVALID',
      `${path}: set exactly one of line_start_pattern (a line matching it starts a record) and line_end_pattern (a line matching it ends one)`,
    );
  }
  const mode = start !== null ? 'line_start' : 'line_end';
  const source = (start ?? end) as string;
  const key = `${path}.${mode}_pattern`;
  if (source === '') throw new ReceiverError('CONFIG_INVALID', `${key}: must not be empty`);
  positive(config.flush_timeout, `${path}.flush_timeout`, false);
  positive(config.max_lines, `${path}.max_lines`, true);
  positive(config.max_bytes, `${path}.max_bytes`, true);
  return Object.freeze({
    mode,
    source,
    pattern: compilePattern(source, key),
    flushTimeoutMs: config.flush_timeout,
    maxLines: config.max_lines,
    maxBytes: config.max_bytes,
  });
}

function positive(value: number, key: string, integer: boolean): void {
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new ReceiverError('CONFIG_INVALID', `${key}: expected a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`);
  }
}

/** The RegExp for a configured pattern: a leading `(?i)`-style group becomes flags. Throws SyntaxError. */
function toRegExp(source: string): RegExp {
  const leading = LEADING_FLAGS_RE.exec(source);
  if (leading === null) return new RegExp(source);
  return new RegExp(source.slice(leading[0].length), [...new Set(leading[1])].join(''));
}

/** V8 says "Invalid regular expression: /(/: Unterminated group"; keep only the reason. */
function syntaxReason(err: unknown): string {
  const message = errorMessage(err);
  return message.slice(message.lastIndexOf(': ') + 2) || message;
}

/**
 * Why `source` cannot be a line_start_pattern / line_end_pattern, or null when it can: for the
 * config schema's check, so that config load and compileMultiline accept the same patterns.
 */
export function linePatternProblem(source: string): string | null {
  if (source === '') return 'must not be empty';
  try {
    toRegExp(source);
    return null;
  } catch (err) {
    return `invalid regular expression ${JSON.stringify(source)}: ${syntaxReason(err)}`;
  }
}

function compilePattern(source: string, key: string): RegExp {
  try {
    return toRegExp(source);
  } catch (err) {
    throw new ReceiverError('CONFIG_INVALID', `${key}: invalid regular expression ${JSON.stringify(source)}: ${syntaxReason(err)}`, { cause: err });
  }
}

export interface MultilineOptions {
  /** Milliseconds clock; Date.now by default. A cached per-chunk clock saves a call per line. */
  now?: () => number;
}

/** The record being collected on one stream. Reused: one per stream for the aggregator's life. */
class PendingRecord<P> {
  readonly stream: IoStream;
  /** The first line (as pushed, or cut to max_bytes); null when nothing is pending. */
  first: LogLine | null = null;
  /** Texts of all lines, filled only from the second line on (a one-line record needs no join). */
  readonly parts: string[] = [];
  lines = 0;
  /** Bytes of the text kept, separators included (max_bytes once a line was cut). */
  bytes = 0;
  size = 0;
  pieces = 0;
  truncated = false;
  /** Position of the last line. */
  last: P | undefined = undefined;
  /** When to emit if no further line comes (ms, the aggregator's clock). */
  deadline = 0;
  /** Push number of the first line: orders the two streams' pending records. */
  firstSeq = 0;
  /** Position of the line pushed (on any stream) just before the first line, if any. */
  before: P | undefined = undefined;
  beforeKnown = false;

  constructor(stream: IoStream) {
    this.stream = stream;
  }

  clear(): void {
    this.first = null;
    this.parts.length = 0;
    this.lines = 0;
    this.bytes = 0;
    this.size = 0;
    this.pieces = 0;
    this.truncated = false;
    this.last = undefined;
    this.before = undefined;
    this.beforeKnown = false;
  }
}

/**
 * Aggregates the lines of one container log stream (both of its output streams) into records.
 *
 * `P` is the caller's position type (opaque here; it must not include `undefined`). Each pushed
 * line carries the position reached once that line is taken; an emitted record carries the
 * position of its last line. Because the two output streams aggregate separately, records are
 * not emitted in position order, and a record's position may lie beyond lines still pending on
 * the other stream: commit `settledPosition()`, not the position of the last emitted record.
 *
 * `emit` runs synchronously inside push/flushDue/flushAll and must not call back into the
 * aggregator (collect the record and return).
 */
export class MultilineAggregator<P> {
  private readonly startMode: boolean;
  private readonly pattern: RegExp;
  private readonly flushTimeoutMs: number;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private readonly emitRecord: (line: LogLine, position: P) => void;
  private readonly now: () => number;
  private readonly stdout = new PendingRecord<P>('stdout');
  private readonly stderr = new PendingRecord<P>('stderr');
  private seq = 0;
  private lastPosition: P | undefined = undefined;
  private hasLast = false;

  constructor(compiled: CompiledMultiline, emit: (line: LogLine, position: P) => void, options: MultilineOptions = {}) {
    this.startMode = compiled.mode === 'line_start';
    this.pattern = compiled.pattern;
    this.flushTimeoutMs = compiled.flushTimeoutMs;
    this.maxLines = compiled.maxLines;
    this.maxBytes = compiled.maxBytes;
    this.emitRecord = emit;
    this.now = options.now ?? Date.now;
  }

  /** Lines held back, over both streams. */
  get pendingLines(): number {
    return this.stdout.lines + this.stderr.lines;
  }

  push(line: LogLine, position: P): void {
    const seq = ++this.seq;
    const before = this.lastPosition;
    const beforeKnown = this.hasLast;
    this.lastPosition = position;
    this.hasLast = true;

    const record = line.stream === 'stdout' ? this.stdout : this.stderr;
    const matches = this.pattern.test(line.text);
    const lineBytes = line.truncated ? Buffer.byteLength(line.text, 'utf8') : line.size;

    if (record.lines > 0 && ((this.startMode && matches) || record.bytes + 1 + lineBytes > this.maxBytes)) {
      this.emit(record);
    }
    if (record.lines === 0) {
      const first = lineBytes > this.maxBytes ? cutLine(line, this.maxBytes) : line;
      record.first = first;
      record.lines = 1;
      // A cut line fills its record: it is emitted at once.
      record.bytes = first === line ? lineBytes : this.maxBytes;
      record.size = line.size;
      record.pieces = line.pieces;
      record.truncated = first.truncated;
      record.firstSeq = seq;
      record.before = before;
      record.beforeKnown = beforeKnown;
    } else {
      if (record.lines === 1) record.parts.push((record.first as LogLine).text);
      record.parts.push(line.text);
      record.lines++;
      record.bytes += 1 + lineBytes;
      record.size += 1 + line.size;
      record.pieces += line.pieces;
      if (line.truncated) record.truncated = true;
    }
    record.last = position;

    if ((!this.startMode && matches) || record.lines >= this.maxLines || record.bytes >= this.maxBytes) {
      this.emit(record);
    } else {
      record.deadline = this.now() + this.flushTimeoutMs;
    }
  }

  /** Emits the records whose stream has been idle for flush_timeout. */
  flushDue(now: number = this.now()): void {
    const a = this.stdout.lines > 0 && this.stdout.deadline <= now ? this.stdout : null;
    const b = this.stderr.lines > 0 && this.stderr.deadline <= now ? this.stderr : null;
    this.emitInOrder(a, b);
  }

  /** When flushDue should run next (the aggregator's clock, ms); null when nothing is pending. */
  nextDeadline(): number | null {
    const a = this.stdout.lines > 0 ? this.stdout.deadline : Infinity;
    const b = this.stderr.lines > 0 ? this.stderr.deadline : Infinity;
    const next = a < b ? a : b;
    return next === Infinity ? null : next;
  }

  /** The stream ended: what is pending is complete as far as anyone will know. */
  flushAll(): void {
    this.emitInOrder(this.stdout.lines > 0 ? this.stdout : null, this.stderr.lines > 0 ? this.stderr : null);
  }

  /**
   * The stream was abandoned and will be read again from the caller's position: drop what is
   * pending (emitting it would cut a record in two) and forget the positions seen.
   */
  reset(): void {
    this.stdout.clear();
    this.stderr.clear();
    this.lastPosition = undefined;
    this.hasLast = false;
  }

  /**
   * The position up to which every pushed line has been emitted: the position of the line pushed
   * just before the oldest pending record began, or of the last line pushed when nothing is
   * pending. `undefined` means nothing is settled since construction or reset(): the caller's
   * position from before the first push still holds. This is the position to commit: a restart
   * from it re-reads the pending lines (which were never emitted) and loses nothing.
   */
  settledPosition(): P | undefined {
    const out = this.stdout.lines > 0 ? this.stdout : null;
    const err = this.stderr.lines > 0 ? this.stderr : null;
    const oldest = out !== null && (err === null || out.firstSeq < err.firstSeq) ? out : err;
    if (oldest === null) return this.hasLast ? this.lastPosition : undefined;
    return oldest.beforeKnown ? oldest.before : undefined;
  }

  /** Emits up to two records, the one that began first first (log order, as far as it goes). */
  private emitInOrder(a: PendingRecord<P> | null, b: PendingRecord<P> | null): void {
    if (a !== null && b !== null && b.firstSeq < a.firstSeq) {
      const t = a;
      a = b;
      b = t;
    }
    if (a !== null) this.emit(a);
    if (b !== null) this.emit(b);
  }

  private emit(record: PendingRecord<P>): void {
    const first = record.first as LogLine;
    const position = record.last as P;
    let line: LogLine;
    if (record.lines === 1) {
      line = first;
    } else {
      line = {
        stream: record.stream,
        timestamp: first.timestamp,
        text: record.parts.join('\n'),
        truncated: record.truncated,
        size: record.size,
        pieces: record.pieces,
      };
    }
    record.clear();
    this.emitRecord(line, position);
  }
}

/** `line` with its text cut to at most `maxBytes` UTF-8 bytes, never inside a character. */
function cutLine(line: LogLine, maxBytes: number): LogLine {
  const bytes = Buffer.from(line.text, 'utf8');
  if (bytes.length <= maxBytes) return line;
  let end = maxBytes;
  // Step back over continuation bytes to the start of the character that does not fit.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return { ...line, text: bytes.toString('utf8', 0, end), truncated: true };
}
