/**
 * Turns the bytes of a json-file log (`/var/lib/docker/containers/<id>/<id>-json.log`, the
 * container's `LogPath`) into the same logical lines LogFramer makes of the Engine API's body.
 *
 * The json-file driver writes one JSON object per message, one per line, always in this shape
 * and key order (moby daemon/logger/jsonfilelog/jsonlog/jsonlogbytes.go):
 *
 *     {"log":"text\n","stream":"stdout","time":"2026-11-28T17:43:56.19619352Z"}
 *     {"log":"…","stream":"stderr","attrs":{"app":"x"},"time":"…"}      (with --log-opt labels/env)
 *
 * - `log` is written by a hand-rolled encoder: `"` `\` `\n` `\r` get short escapes, other
 *   control bytes and `<` `>` `&` become `\u00XX`, U+2028/U+2029 become `\u2028`/`\u2029`, and
 *   every byte that is not valid UTF-8 becomes `\ufffd` (so the file never holds invalid UTF-8);
 *   `log` is left out when the message is empty;
 * - `time` is Go's RFC3339Nano: trailing zeros of the fraction are trimmed (and the whole
 *   fraction when it is zero), always UTC;
 * - a line longer than 16 KiB arrives as several messages carrying the timestamp of the first
 *   piece; only the last one ends with `\n` (a rotation may fall between two pieces).
 *
 * The fast path recognises that exact shape byte by byte, without JSON.parse: the `log` string
 * is scanned for its closing quote and decoded straight out of the chunk unless it has escapes
 * other than the final `\n` (those are decoded by a small byte-level unescaper). Anything else
 * falls back to JSON.parse for that one line; lines that are not a log entry at all are reported
 * through `malformed` and skipped.
 *
 * Merging pieces and max_log_size follow LogFramer exactly (per stream: a message without a
 * trailing `\n` and with >= 16384 bytes of text expects a continuation with the same timestamp;
 * a shorter one is complete; text over maxLogSize is cut at a UTF-8 boundary, `truncated` set and
 * `size` the real size), so both sources give equal LogLines for the same output.
 *
 * Offsets: every line carries `endOffset` (just after the `\n` of the last JSON line that
 * completed it) and `resumeOffset`, where parsing must restart to lose nothing after it and see
 * nothing before it again. They differ in two cases:
 * - the other stream has a pending partial line (a 16 KiB piece waiting for its continuation)
 *   that began earlier: restarting at endOffset would drop that line's first pieces, so
 *   resumeOffset points at its start, and the lines of this stream in between will be seen again
 *   (the caller's per-stream timestamp cursors drop them); -1 when that line began in an earlier
 *   file (see nextFile);
 * - a merged line emitted late (its last piece was full-size, and only the next message of its
 *   stream, or end(), showed it was complete): lines after its end were delivered before it, so
 *   resumeOffset is where parsing had got to.
 */

import type { IoStream, LogLine } from '../framing/log-framer.js';
import { DOCKER_PARTIAL_SIZE } from '../framing/log-framer.js';
import type { DockerTimestamp } from '../framing/timestamp.js';
import { normalizeTimestamp } from '../framing/timestamp.js';
import { LineAccumulator, latin1, utf8, utf8CutPoint } from '../framing/line-text.js';

export interface FileLine extends LogLine {
  /** Offset in the file just after the `\n` of the last JSON line of this logical line. */
  endOffset: number;
  /**
   * Offset from which parsing must restart so that nothing after this line is lost (and nothing
   * before it comes again): how far the file had been parsed when the line was emitted (its
   * endOffset, or further for a merged line emitted late), or the start of the other stream's
   * pending partial line when there is one (-1: it began in an earlier file).
   */
  resumeOffset: number;
}

export interface JsonFileParserOptions {
  /** Longest line text kept, in bytes (>= 1024); longer lines are cut and flagged truncated. */
  maxLogSize: number;
  /** File offset of the first byte that will be pushed. */
  startOffset: number;
  /**
   * The container has a TTY (Config.Tty): lines end in `\r\n` (the terminal's), and the `\r`s
   * before a line's `\n` are dropped as LogFramer does in TTY mode. Default false: a `\r` before
   * the `\n` is what the program wrote, and is kept.
   */
  tty?: boolean;
}

export interface JsonFileParserSink {
  line(line: FileLine): void;
  /** A file line that is not a json-file log entry (skipped); `offset` is where it starts. */
  malformed(offset: number, reason: string): void;
}

/**
 * Longest JSON line accepted. A 16 KiB piece of control bytes escapes to 6 × 16 KiB, and attrs
 * add a little; anything longer is not something the driver writes, and carrying it would make
 * memory depend on the file's content.
 */
export const MAX_JSON_LINE = 1024 * 1024;

/** Carry/scratch buffers larger than this are dropped once used. */
const KEEP_BUFFER_LIMIT = 64 * 1024;

const LF = 10;
const CR = 13;
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const LBRACE = 123;
const RBRACE = 125;
const LBRACKET = 91;
const CH_0 = 48;
const CH_9 = 57;

/** Bytes that end a run of plain string content: `"`, `\\` and raw control bytes (invalid in JSON). */
const STRING_STOP = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STRING_STOP[c] = 1;
STRING_STOP[QUOTE] = 1;
STRING_STOP[BACKSLASH] = 1;

/** `{"log":"` */
const LOG_PREFIX = Buffer.from('{"log":"', 'latin1');
/** After the closing quote of `log`: `,"stream":"std` then `out"` or `err"`. */
const STREAM_KEY = Buffer.from(',"stream":"std', 'latin1');
/** `,"time":"` */
const TIME_KEY = Buffer.from(',"time":"', 'latin1');
/** `,"attrs":{` */
const ATTRS_KEY = Buffer.from(',"attrs":{', 'latin1');
/** `{"log":"","stream":"stdout","time":"2006-01-02T15:04:05Z"}\n` is the shortest fast-path line. */
const MIN_LINE = 8 + 1 + 14 + 4 + 9 + 20 + 3;

/** Whether buf[at, at + pattern.length) equals pattern; the caller checked the bounds. */
function matches(buf: Buffer, at: number, pattern: Buffer): boolean {
  for (let k = 0; k < pattern.length; k++) if (buf[at + k] !== pattern[k]) return false;
  return true;
}

function isDigit(c: number): boolean {
  return c >= CH_0 && c <= CH_9;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** Scratch space for building the fixed form of a trimmed timestamp. */
const TS_SCRATCH = Buffer.alloc(30);

/**
 * The fixed 30-character form of the RFC3339Nano UTC time in buf[start, end) (no quotes), or
 * null when it is not one (the caller then tries normalizeTimestamp, which also takes offsets).
 * Validates the same ranges as normalizeTimestamp so both paths agree.
 */
function fixedTimestampFrom(buf: Buffer, start: number, end: number): DockerTimestamp | null {
  const n = end - start;
  if (n < 20 || n > 30 || n === 21 || buf[end - 1] !== 90 /* Z */) return null;
  const o = start;
  if (buf[o + 4] !== 45 || buf[o + 7] !== 45 || buf[o + 10] !== 84 || buf[o + 13] !== COLON || buf[o + 16] !== COLON) return null;
  for (let i = 0; i < 19; i++) {
    if (i === 4 || i === 7 || i === 10 || i === 13 || i === 16) continue;
    if (!isDigit(buf[o + i])) return null;
  }
  if (n > 20) {
    if (buf[o + 19] !== 46 /* . */) return null;
    for (let i = o + 20; i < end - 1; i++) if (!isDigit(buf[i])) return null;
  }
  const month = (buf[o + 5] - CH_0) * 10 + (buf[o + 6] - CH_0);
  const day = (buf[o + 8] - CH_0) * 10 + (buf[o + 9] - CH_0);
  const hour = (buf[o + 11] - CH_0) * 10 + (buf[o + 12] - CH_0);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || buf[o + 14] > 0x35 || buf[o + 17] > 0x35) return null;
  if (day > 28) {
    const year = (buf[o] - CH_0) * 1000 + (buf[o + 1] - CH_0) * 100 + (buf[o + 2] - CH_0) * 10 + (buf[o + 3] - CH_0);
    if (day > daysInMonth(year, month)) return null;
  }
  if (n === 30) return latin1(buf, o, end);
  // Trimmed fraction: pad it back to nine digits.
  const s = TS_SCRATCH;
  const kept = n - 1; // without the Z
  for (let i = 0; i < kept; i++) s[i] = buf[o + i];
  let k = kept;
  if (k === 19) s[k++] = 46;
  while (k < 29) s[k++] = CH_0;
  s[29] = 90;
  return latin1(s, 0, 30);
}

function hexValue(c: number): number {
  if (c >= CH_0 && c <= CH_9) return c - CH_0;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

function hex4(buf: Buffer, at: number): number {
  const a = hexValue(buf[at]);
  const b = hexValue(buf[at + 1]);
  const c = hexValue(buf[at + 2]);
  const d = hexValue(buf[at + 3]);
  if ((a | b | c | d) < 0) return -1;
  return (a << 12) | (b << 8) | (c << 4) | d;
}

/** A logical line being assembled from pieces (see LineAccumulator), with where it lies in the file. */
class PendingLine extends LineAccumulator {
  /** File offset of the line's first JSON line (-1: in an earlier file). */
  startOffset = 0;
  /** File offset just after the JSON line of the last piece. */
  endOffset = 0;

  constructor(stream: IoStream, max: number) {
    // Pieces are the norm here (16 KiB each): start with room for two.
    super(stream, max, 32 * 1024);
  }

  startAt(ts: DockerTimestamp, startOffset: number): void {
    this.start(ts);
    this.startOffset = startOffset;
  }
}

/** Parsed fields of one JSON line, filled by the fast path or the fallback. */
interface Entry {
  stdout: boolean;
  ts: DockerTimestamp;
  /** The message text (after unescaping) is textBuf[textStart, textEnd), without a final `\n`. */
  textBuf: Buffer;
  textStart: number;
  textEnd: number;
  /** The message ended with `\n`. */
  newline: boolean;
  /** The text is known to be ASCII (it can be decoded as latin1, which is cheaper). */
  ascii: boolean;
}

export class JsonFileParser {
  private readonly sink: JsonFileParserSink;
  private readonly maxLogSize: number;
  private readonly tty: boolean;
  /** File offset of the first byte of the next chunk. */
  private offset: number;
  /** An incomplete JSON line carried over from the previous chunk. */
  private carry: Buffer | null = null;
  private carryLen = 0;
  private carryStart = 0;
  /** Skipping the rest of an over-long line up to its `\n`. */
  private skipping = false;
  private readonly stdout: PendingLine;
  private readonly stderr: PendingLine;
  /** Unescaped text of the current entry when it had escapes. */
  private scratch = Buffer.allocUnsafe(4096);
  /** Reused result of parsing one JSON line (the parser is not re-entrant). */
  private readonly entry: Entry = { stdout: true, ts: '', textBuf: Buffer.alloc(0), textStart: 0, textEnd: 0, newline: false, ascii: false };

  constructor(options: JsonFileParserOptions, sink: JsonFileParserSink) {
    const { maxLogSize, startOffset } = options;
    if (!Number.isInteger(maxLogSize) || maxLogSize < 1024) {
      throw new RangeError(`maxLogSize must be an integer >= 1024 (got ${maxLogSize})`);
    }
    if (!Number.isInteger(startOffset) || startOffset < 0) throw new RangeError(`startOffset must be an integer >= 0 (got ${startOffset})`);
    this.sink = sink;
    this.maxLogSize = maxLogSize;
    this.tty = options.tty ?? false;
    this.offset = startOffset;
    this.stdout = new PendingLine('stdout', maxLogSize);
    this.stderr = new PendingLine('stderr', maxLogSize);
  }

  /** File offset of the next byte expected. */
  get nextOffset(): number {
    return this.offset;
  }

  /** Bytes held between pushes: an incomplete JSON line plus pending partial lines' text. */
  get pendingBytes(): number {
    return this.carryLen + this.stdout.len + this.stderr.len;
  }

  /** Whether a partial line (a 16 KiB piece waiting for its continuation) is pending. */
  get hasPendingLine(): boolean {
    return this.stdout.ts !== null || this.stderr.ts !== null;
  }

  /**
   * Where parsing must restart so that no pending partial line loses its first pieces: the
   * start of the oldest pending line, -1 when it began in an earlier file, or the next offset
   * (the start of a carried incomplete JSON line, if any) when nothing is pending.
   */
  get resumeOffset(): number {
    let r = this.carryLen > 0 ? this.carryStart : this.offset;
    if (this.stdout.ts !== null && this.stdout.startOffset < r) r = this.stdout.startOffset;
    if (this.stderr.ts !== null && this.stderr.startOffset < r) r = this.stderr.startOffset;
    return r;
  }

  /** Feeds the next bytes of the file (any split); complete lines are emitted synchronously. */
  push(chunk: Buffer): void {
    const end = chunk.length;
    let p = 0;
    if (this.skipping) {
      const nl = chunk.indexOf(LF);
      if (nl < 0) {
        this.offset += end;
        return;
      }
      this.skipping = false;
      p = nl + 1;
    }
    if (this.carryLen > 0 && p < end) {
      const nl = chunk.indexOf(LF, p);
      const stop = nl < 0 ? end : nl + 1;
      if (this.carryLen + (stop - p) > MAX_JSON_LINE) {
        this.sink.malformed(this.carryStart, `line longer than ${MAX_JSON_LINE} bytes; skipped`);
        this.dropCarry();
        if (nl < 0) this.skipping = true;
        p = stop;
      } else {
        this.appendCarry(chunk, p, stop);
        p = stop;
        if (nl >= 0) {
          const carry = this.carry as Buffer;
          const length = this.carryLen;
          const start = this.carryStart;
          this.carryLen = 0;
          this.line(carry, 0, length, start);
          if (carry.length > KEEP_BUFFER_LIMIT) this.carry = null;
        }
      }
    }
    const base = this.offset;
    while (p < end) {
      const next = this.fastLine(chunk, p, end, base);
      if (next >= 0) {
        p = next;
        continue;
      }
      const nl = chunk.indexOf(LF, p);
      if (nl < 0) {
        if (end - p > MAX_JSON_LINE) {
          this.sink.malformed(base + p, `line longer than ${MAX_JSON_LINE} bytes; skipped`);
          this.skipping = true;
        } else {
          this.carryStart = base + p;
          this.appendCarry(chunk, p, end);
        }
        break;
      }
      this.slowLine(chunk, p, nl, base);
      p = nl + 1;
    }
    this.offset = base + end;
  }

  /**
   * The bytes that follow come from the next file (a rotation): offsets restart at 0. Pending
   * partial lines are kept (a rotation can fall between two pieces of one line) and their
   * start is now "in an earlier file" (-1). An incomplete JSON line at the end of the previous
   * file can never be completed: it is reported and dropped.
   */
  nextFile(): void {
    if (this.carryLen > 0) {
      this.sink.malformed(this.carryStart, 'the file ended inside a line; dropped');
      this.dropCarry();
    }
    this.skipping = false;
    this.offset = 0;
    if (this.stdout.ts !== null) this.stdout.startOffset = -1;
    if (this.stderr.ts !== null) this.stderr.startOffset = -1;
  }

  /**
   * No more bytes will come after these (the container stopped): pending partial lines are
   * complete and emitted (the older first); an incomplete JSON line is reported and dropped.
   */
  end(): void {
    // Everything up to here has been seen: a restart after these lines begins here.
    const progress = this.carryLen > 0 ? this.carryStart : this.offset;
    if (this.carryLen > 0) {
      this.sink.malformed(this.carryStart, 'the file ends inside a line; dropped');
      this.dropCarry();
    }
    const a = this.stdout;
    const b = this.stderr;
    if (a.ts !== null && b.ts !== null && b.ts < a.ts) {
      this.emitPending(b, progress);
      this.emitPending(a, progress);
    } else {
      this.emitPending(a, progress);
      this.emitPending(b, progress);
    }
  }

  /** Discards all state; the next byte pushed is at file offset `offset`. */
  reset(offset: number): void {
    this.dropCarry();
    this.skipping = false;
    this.offset = offset;
    this.stdout.clear();
    this.stderr.clear();
  }

  private dropCarry(): void {
    this.carryLen = 0;
    if (this.carry !== null && this.carry.length > KEEP_BUFFER_LIMIT) this.carry = null;
  }

  private appendCarry(src: Buffer, start: number, end: number): void {
    const needed = this.carryLen + (end - start);
    let carry = this.carry;
    if (carry === null || carry.length < needed) {
      let capacity = carry === null ? 4096 : carry.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = Buffer.allocUnsafe(capacity);
      if (carry !== null && this.carryLen > 0) carry.copy(grown, 0, 0, this.carryLen);
      this.carry = carry = grown;
    }
    src.copy(carry, this.carryLen, start, end);
    this.carryLen = needed;
  }

  /** One complete JSON line buf[p, end) (with its `\n`), starting at file offset `lineStart`. */
  private line(buf: Buffer, p: number, end: number, lineStart: number): void {
    if (this.fastLine(buf, p, end, lineStart - p) >= 0) return;
    this.slowLine(buf, p, end - 1, lineStart - p);
  }

  /**
   * The fast path: parses the JSON line starting at buf[p] if it has the driver's exact shape
   * and ends (with `\n`) before `end`, and handles it. Returns the index after its `\n`, or -1
   * (not that shape, or incomplete) without side effects. `base` is the file offset of buf[0].
   */
  private fastLine(buf: Buffer, p: number, end: number, base: number): number {
    if (end - p < MIN_LINE || !matches(buf, p, LOG_PREFIX)) return -1;
    const textStart = p + 8;
    let i = textStart;
    let bits = 0;
    let c = 0;
    while (i < end) {
      c = buf[i];
      if (STRING_STOP[c] !== 0) break;
      bits |= c;
      i++;
    }
    if (i >= end || c < 0x20) return -1;
    const entry = this.entry;
    if (c === BACKSLASH) {
      if (i + 2 < end && buf[i + 1] === 110 /* n */ && buf[i + 2] === QUOTE) {
        // The common case: the only escape is the final newline.
        entry.textBuf = buf;
        entry.textStart = textStart;
        entry.textEnd = i;
        entry.newline = true;
        entry.ascii = bits < 0x80;
        i += 2;
      } else {
        i = this.unescape(buf, textStart, i, end, bits);
        if (i < 0) return -1;
      }
    } else {
      entry.textBuf = buf;
      entry.textStart = textStart;
      entry.textEnd = i;
      entry.newline = false;
      entry.ascii = bits < 0x80;
    }
    // buf[i] is the closing quote of `log`.
    i++;
    if (i + 18 > end || !matches(buf, i, STREAM_KEY)) return -1;
    i += 14;
    const s0 = buf[i];
    if (s0 === 111 && buf[i + 1] === 117 && buf[i + 2] === 116) entry.stdout = true;
    else if (s0 === 101 && buf[i + 1] === 114 && buf[i + 2] === 114) entry.stdout = false;
    else return -1;
    if (buf[i + 3] !== QUOTE) return -1;
    i += 4;
    if (i + 10 > end) return -1;
    if (buf[i + 2] === 97 /* a */) {
      if (!matches(buf, i, ATTRS_KEY)) return -1;
      i = skipAttrs(buf, i + 10, end);
      if (i < 0 || i + 9 > end) return -1;
    }
    if (!matches(buf, i, TIME_KEY)) return -1;
    const tsStart = i + 9;
    let tsEnd = tsStart;
    const tsLimit = tsStart + 31 < end ? tsStart + 31 : end;
    while (tsEnd < tsLimit && buf[tsEnd] !== QUOTE) tsEnd++;
    if (tsEnd + 2 >= end || buf[tsEnd] !== QUOTE || buf[tsEnd + 1] !== RBRACE || buf[tsEnd + 2] !== LF) return -1;
    const ts = fixedTimestampFrom(buf, tsStart, tsEnd);
    if (ts === null) return -1;
    entry.ts = ts;
    const next = tsEnd + 3;
    this.handle(entry, base + p, base + next);
    return next;
  }

  /**
   * Decodes a `log` string that has escapes into the scratch buffer: buf[textStart, firstEscape)
   * is plain, buf[firstEscape] is a backslash. Returns the index of the closing quote, or -1
   * (invalid escape, or the string does not end before `end`). Fills `entry` on success.
   */
  private unescape(buf: Buffer, textStart: number, firstEscape: number, end: number, prefixBits: number): number {
    // Unescaping never lengthens (\uXXXX, 6 bytes, is at most 3; a surrogate pair, 12, is 4), so
    // the output fits in the scratch buffer as long as the input read does; a string that runs
    // longer is retried with a larger buffer (the string ends before the line's `\n` anyway: a
    // raw control byte stops the scan).
    if (this.scratch.length > KEEP_BUFFER_LIMIT && end - textStart <= KEEP_BUFFER_LIMIT) this.scratch = Buffer.allocUnsafe(4096);
    for (;;) {
      const limit = end - textStart <= this.scratch.length ? end : textStart + this.scratch.length;
      const r = this.unescapeInto(buf, textStart, firstEscape, limit, prefixBits);
      if (r !== -2) return r;
      if (this.scratch.length >= MAX_JSON_LINE) return -1;
      this.scratch = Buffer.allocUnsafe(this.scratch.length * 2);
    }
  }

  /** unescape() into the scratch buffer, reading at most up to `limit`; -2: ran out of room. */
  private unescapeInto(buf: Buffer, textStart: number, firstEscape: number, limit: number, prefixBits: number): number {
    const out = this.scratch;
    // Running out of input at `limit`: -2 when the scratch size set it (retry with more room).
    const ranOut = limit - textStart >= out.length ? -2 : -1;
    let n = firstEscape - textStart;
    if (n > 64) buf.copy(out, 0, textStart, firstEscape);
    else for (let k = 0; k < n; k++) out[k] = buf[textStart + k];
    let i = firstEscape;
    // OR of every byte written: < 0x80 means ASCII (decoded as latin1, which is cheaper).
    let bits = prefixBits;
    while (i < limit) {
      let c = buf[i];
      if (STRING_STOP[c] === 0) {
        // A run of plain bytes (the common case between escapes).
        do {
          out[n++] = c;
          bits |= c;
          c = buf[++i];
        } while (i < limit && STRING_STOP[c] === 0);
        continue;
      }
      if (c === QUOTE) break;
      if (c !== BACKSLASH) return -1; // a raw control byte: not valid JSON
      if (i + 1 >= limit) return ranOut;
      const e = buf[i + 1];
      i += 2;
      switch (e) {
        case 110: // n
          out[n++] = LF;
          continue;
        case QUOTE:
        case BACKSLASH:
        case 47: // /
          out[n++] = e;
          continue;
        case 114: // r
          out[n++] = 13;
          continue;
        case 116: // t
          out[n++] = 9;
          continue;
        case 98: // b
          out[n++] = 8;
          continue;
        case 102: // f
          out[n++] = 12;
          continue;
        case 117: {
          // u
          if (i + 4 > limit) return ranOut;
          let cp = hex4(buf, i);
          if (cp < 0) return -1;
          i += 4;
          if (cp >= 0xd800 && cp <= 0xdbff) {
            // A high surrogate: a pair when a low one follows, else U+FFFD (as JSON.parse then
            // UTF-8 encoding would give).
            if (i + 6 > limit && ranOut === -2) return -2;
            if (i + 6 <= limit && buf[i] === BACKSLASH && buf[i + 1] === 117) {
              const low = hex4(buf, i + 2);
              if (low >= 0xdc00 && low <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                i += 6;
              } else {
                cp = 0xfffd;
              }
            } else {
              cp = 0xfffd;
            }
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            cp = 0xfffd;
          }
          if (cp < 0x80) {
            out[n++] = cp;
          } else {
            bits = 0x80;
            if (cp < 0x800) {
              out[n++] = 0xc0 | (cp >> 6);
              out[n++] = 0x80 | (cp & 0x3f);
            } else if (cp < 0x10000) {
              out[n++] = 0xe0 | (cp >> 12);
              out[n++] = 0x80 | ((cp >> 6) & 0x3f);
              out[n++] = 0x80 | (cp & 0x3f);
            } else {
              out[n++] = 0xf0 | (cp >> 18);
              out[n++] = 0x80 | ((cp >> 12) & 0x3f);
              out[n++] = 0x80 | ((cp >> 6) & 0x3f);
              out[n++] = 0x80 | (cp & 0x3f);
            }
          }
          continue;
        }
        default:
          return -1;
      }
    }
    if (i >= limit) return ranOut;
    const entry = this.entry;
    entry.textBuf = out;
    entry.textStart = 0;
    entry.newline = n > 0 && out[n - 1] === LF;
    entry.textEnd = entry.newline ? n - 1 : n;
    entry.ascii = bits < 0x80;
    return i;
  }

  /** The fallback for one JSON line buf[p, nl) (nl is its `\n`): JSON.parse, then the same handling. */
  private slowLine(buf: Buffer, p: number, nl: number, base: number): void {
    const lineStart = base + p;
    if (nl === p) {
      this.sink.malformed(lineStart, 'empty line; skipped');
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(utf8(buf, p, nl));
    } catch (err) {
      this.sink.malformed(lineStart, `not JSON (${err instanceof Error ? err.message : String(err)}): ${preview(buf, p, nl)}; skipped`);
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.sink.malformed(lineStart, `not a JSON object: ${preview(buf, p, nl)}; skipped`);
      return;
    }
    const record = value as Record<string, unknown>;
    const log = record.log ?? '';
    const stream = record.stream;
    const time = record.time;
    if (typeof log !== 'string' || (stream !== 'stdout' && stream !== 'stderr') || typeof time !== 'string') {
      this.sink.malformed(lineStart, `not a json-file log entry (needs string "log", "stream" stdout|stderr and "time"): ${preview(buf, p, nl)}; skipped`);
      return;
    }
    const ts = normalizeTimestamp(time);
    if (ts === null) {
      this.sink.malformed(lineStart, `invalid "time" ${JSON.stringify(time.slice(0, 48))}; skipped`);
      return;
    }
    const bytes = Buffer.from(log, 'utf8');
    const newline = bytes.length > 0 && bytes[bytes.length - 1] === LF;
    const entry = this.entry;
    entry.stdout = stream === 'stdout';
    entry.ts = ts;
    entry.textBuf = bytes;
    entry.textStart = 0;
    entry.textEnd = newline ? bytes.length - 1 : bytes.length;
    entry.newline = newline;
    entry.ascii = false;
    this.handle(entry, lineStart, base + nl + 1);
  }

  /** Merges/emits one message (the same rules as LogFramer's finishMessage/beginMessage). */
  private handle(entry: Entry, lineStart: number, lineEnd: number): void {
    const acc = entry.stdout ? this.stdout : this.stderr;
    const length = entry.textEnd - entry.textStart;
    if (acc.ts !== null) {
      if (acc.ts === entry.ts) {
        acc.pieces++;
        acc.append(entry.textBuf, entry.textStart, entry.textEnd);
        acc.endOffset = lineEnd;
        if (entry.newline && this.tty) acc.dropTrailingCr();
        if (entry.newline || length < DOCKER_PARTIAL_SIZE) this.emitPending(acc, lineEnd);
        return;
      }
      // Another message: that full-size piece was the end of its line after all. Lines of the
      // other stream after it were delivered already: a restart after it begins at this message.
      this.emitPending(acc, lineStart);
    }
    if (entry.newline || length < DOCKER_PARTIAL_SIZE) {
      if (entry.newline && this.tty) {
        let end = entry.textEnd;
        while (end > entry.textStart && entry.textBuf[end - 1] === CR) end--;
        entry.textEnd = end;
      }
      this.emitDirect(entry, entry.textEnd - entry.textStart, lineEnd);
      return;
    }
    acc.startAt(entry.ts, lineStart);
    acc.append(entry.textBuf, entry.textStart, entry.textEnd);
    acc.endOffset = lineEnd;
  }

  private emitDirect(entry: Entry, size: number, lineEnd: number): void {
    const buf = entry.textBuf;
    const start = entry.textStart;
    let end = entry.textEnd;
    let truncated = false;
    if (size > this.maxLogSize) {
      truncated = true;
      end = utf8CutPoint(buf, start, start + this.maxLogSize);
    }
    const other = entry.stdout ? this.stderr : this.stdout;
    const resumeOffset = other.ts !== null && other.startOffset < lineEnd ? other.startOffset : lineEnd;
    this.sink.line({
      stream: entry.stdout ? 'stdout' : 'stderr',
      timestamp: entry.ts,
      text: entry.ascii ? latin1(buf, start, end) : utf8(buf, start, end),
      truncated,
      size,
      pieces: 1,
      endOffset: lineEnd,
      resumeOffset,
    });
  }

  /**
   * Emits a merged line. `progress` is how far the file has been parsed: every line that ends
   * before it has been emitted by now (except the other stream's pending one), so a restart after
   * this line begins there (or at that pending line's start), not at its own end, which a late
   * emission (end(), another message) leaves behind lines already delivered.
   */
  private emitPending(acc: PendingLine, progress: number): void {
    const ts = acc.ts;
    if (ts === null) return;
    const other = acc === this.stdout ? this.stderr : this.stdout;
    const endOffset = acc.endOffset;
    const line: FileLine = {
      stream: acc.stream,
      timestamp: ts,
      text: acc.decode(),
      truncated: acc.truncated,
      size: acc.size,
      pieces: acc.pieces,
      endOffset,
      resumeOffset: other.ts !== null && other.startOffset < progress ? other.startOffset : progress,
    };
    acc.clear();
    this.sink.line(line);
  }
}

/**
 * Skips the attrs object (a map of strings) starting after its `{`; returns the index after its
 * `}`, or -1 (anything but flat strings, or not complete before `end`: the fallback handles it).
 */
function skipAttrs(buf: Buffer, i: number, end: number): number {
  let inString = false;
  while (i < end) {
    const c = buf[i];
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      else if (c < 0x20) return -1;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === RBRACE) {
      return i + 1;
    } else if (c === LBRACE || c === LBRACKET || c === LF) {
      return -1;
    } else if (c !== COMMA && c !== COLON) {
      return -1;
    }
    i++;
  }
  return -1;
}

/** Short printable preview of a line for messages. */
function preview(buf: Buffer, start: number, end: number): string {
  const max = 64;
  const stop = end - start > max ? start + max : end;
  return JSON.stringify(buf.toString('utf8', start, stop)) + (stop < end ? '…' : '');
}
