/**
 * Turns the body of `GET /containers/{id}/logs?timestamps=1&stdout=1&stderr=1` into logical log
 * lines.
 *
 * Two wire formats (see test/unit/log-framer.test.ts for byte-level examples):
 *
 * - Non-TTY containers: frames of `[stream, 0, 0, 0, uint32 BE length]` + payload. Each frame's
 *   payload is ONE log message `TS␠bytes`. Docker's log copier splits lines longer than 16 KiB
 *   into messages of exactly 16384 bytes which all carry the timestamp of the first piece; only
 *   the last piece ends with `\n`. Pieces of stdout and stderr interleave freely.
 * - TTY containers: no framing at all, just the concatenation of `TS␠bytes` messages. Lines end
 *   in `\r\n` (the terminal's line discipline) and continuation pieces start with the same
 *   timestamp at payload offset 16384, in the middle of the logical line.
 *
 * Design constraints:
 * - bytes arrive in arbitrary chunks (a header or timestamp may be split anywhere);
 * - memory is bounded: at most `maxLogSize` bytes of text per stream plus a tiny carry-over, even
 *   when a frame header announces gigabytes;
 * - the common case (a whole short line inside one chunk) is decoded straight out of the chunk,
 *   with no copy, closure or regular expression.
 */

import type { HrTime } from '@opentelemetry/api';
import type { DockerTimestamp } from './timestamp.js';
import { FIXED_TIMESTAMP_LENGTH, FixedTimestampReader, isFixedTimestampAt, normalizeTimestamp, nowTimestamp } from './timestamp.js';
import { LineAccumulator, latin1, utf8, utf8CutPoint } from './line-text.js';

export type IoStream = 'stdout' | 'stderr';

export interface LogLine {
  stream: IoStream;
  timestamp: DockerTimestamp;
  /**
   * The logical line, UTF-8 decoded (invalid bytes become U+FFFD), without its trailing `\n`. In
   * TTY mode a trailing `\r\n` is removed as a whole (the terminal added the `\r`); in non-TTY
   * mode a `\r` before the `\n` is what the program wrote, and is kept.
   */
  text: string;
  /** The line was longer than maxLogSize bytes and `text` holds only its beginning. */
  truncated: boolean;
  /** Size in bytes of the whole logical line (without the line terminator), even when truncated. */
  size: number;
  /** Number of Docker partial messages merged into this line (1 for an ordinary line). */
  pieces: number;
  /**
   * `timestamp` as [seconds, nanoseconds], when the framer read it from the bytes (its fast
   * path); otherwise the record converts `timestamp` (toHrTime gives the same value).
   */
  time?: HrTime;
}

export interface FramerSink {
  line(line: LogLine): void;
  /** A stream-3 (systemerr) frame from the engine, or a description of malformed input. */
  daemonError(message: string): void;
}

export interface FramerOptions {
  /** The container was created with a TTY (Config.Tty): the body is raw, not multiplexed. */
  tty: boolean;
  /** Longest line text kept, in bytes (>= 1024); longer lines are cut and flagged truncated. */
  maxLogSize: number;
}

/** Docker's log copier emits a line in messages of at most this many bytes. */
export const DOCKER_PARTIAL_SIZE = 16384;

const HEADER_LENGTH = 8;
/** `TS␠`: the fixed-form timestamp and its separator. */
const TS_FIELD_LENGTH = FIXED_TIMESTAMP_LENGTH + 1;
/** Longest timestamp text accepted before the space (`…:05.999999999+07:00` is 35). */
const MAX_TS_TEXT = 40;
/** Lost-sync scan pattern: a frame header followed by a fixed timestamp. */
const RESYNC_PATTERN_LENGTH = HEADER_LENGTH + TS_FIELD_LENGTH;
/** Longest stream-3 message kept (they are one-line daemon errors). */
const MAX_DAEMON_MESSAGE = 8192;
/** Accumulator buffers larger than this are dropped once their line is emitted. */

const EMPTY = Buffer.alloc(0);

const LF = 10;
const CR = 13;

/** End of a TTY line's text: before the `\r`s of its `\r\n` (see dropTrailingCr). */
function trimCr(buf: Buffer, start: number, end: number): number {
  while (end > start && buf[end - 1] === CR) end--;
  return end;
}
const SP = 32;

const STREAM_STDIN = 0;
const STREAM_STDOUT = 1;
const STREAM_STDERR = 2;
const STREAM_SYSTEMERR = 3;

/** The engine's own error text in a TTY body, where it cannot use a stream-3 frame. */
const DAEMON_ERROR_PREFIX = 'Error grabbing logs: ';

/** Shape of a fixed timestamp + space, for incremental matching ('d' = digit). */
const TS_SHAPE = 'dddd-dd-ddTdd:dd:dd.dddddddddZ ';
const SHAPE_DIGIT = 100; // 'd'

/** Whether buf[start, end) (at most 31 bytes) can be the beginning of `TS␠`. */
function isTimestampPrefix(buf: Uint8Array, start: number, end: number): boolean {
  for (let k = 0; start + k < end; k++) {
    const c = buf[start + k];
    const want = TS_SHAPE.charCodeAt(k);
    if (want === SHAPE_DIGIT ? c < 48 || c > 57 : c !== want) return false;
  }
  return true;
}

/** Short printable preview of raw bytes for error messages. */
function preview(buf: Uint8Array, start: number, end: number): string {
  const max = 48;
  const stop = end - start > max ? start + max : end;
  let s = JSON.stringify(Buffer.from(buf.buffer, buf.byteOffset + start, stop - start).toString('latin1'));
  if (stop < end) s += '…';
  return s;
}

function hexBytes(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += (i > start ? ' ' : '') + buf[i].toString(16).padStart(2, '0');
  return s;
}

/** Emits lines, applying the size limit; shared by both parsers. */
class LineEmitter {
  constructor(
    readonly sink: FramerSink,
    readonly maxLogSize: number,
  ) {}

  /** A whole line straight out of a chunk (the fast path: no copy), its timestamp read by `time`. */
  direct(stream: IoStream, timestamp: DockerTimestamp, time: FixedTimestampReader, buf: Buffer, start: number, end: number): void {
    const size = end - start;
    let truncated = false;
    if (size > this.maxLogSize) {
      truncated = true;
      end = utf8CutPoint(buf, start, start + this.maxLogSize);
    }
    this.sink.line({ stream, timestamp, text: utf8(buf, start, end), truncated, size, pieces: 1, time: [time.seconds, time.nanos] });
  }
}

/** Emits an accumulated line and returns the accumulator to idle. */
function emitAccumulated(acc: LineAccumulator, emitter: LineEmitter): void {
  const ts = acc.ts;
  if (ts === null) return;
  const line: LogLine = { stream: acc.stream, timestamp: ts, text: acc.decode(), truncated: acc.truncated, size: acc.size, pieces: acc.pieces };
  acc.clear();
  emitter.sink.line(line);
}

interface Parser {
  push(buf: Buffer): void;
  end(): void;
  reset(): void;
  readonly pendingBytes: number;
}

// ---------------------------------------------------------------------------------------------
// Non-TTY: multiplexed frames
// ---------------------------------------------------------------------------------------------

/** Waiting for (the rest of) an 8-byte frame header. */
const M_HEADER = 0;
/** Inside a stdout/stderr frame, reading its timestamp. */
const M_TS = 1;
/** Inside a stdout/stderr frame, reading its message bytes. */
const M_MSG = 2;
/** Discarding the rest of a frame (malformed or of an unexpected stream). */
const M_SKIP = 3;
/** Inside a systemerr frame. */
const M_SYSERR = 4;
/** Frame boundaries lost: scanning for something that looks like a header + timestamp. */
const M_LOST = 5;

class MuxParser implements Parser {
  private phase = M_HEADER;
  /** Carry-over of a header split across chunks. */
  private readonly header = Buffer.alloc(HEADER_LENGTH);
  private headerLen = 0;
  /** Carry-over of a timestamp split across chunks (or not in fixed form). */
  private readonly tsText = Buffer.alloc(MAX_TS_TEXT);
  private tsLen = 0;
  /** Payload bytes of the current frame not consumed yet. */
  private frameRemaining = 0;
  /** Stream byte and payload length of the current frame (for error messages). */
  private frameStream = 0;
  private frameLength = 0;
  /** Absolute stream offset of the current frame's header. */
  private frameOffset = 0;
  /** Message bytes of the current frame read so far (after the timestamp). */
  private msgLen = 0;
  private readonly stdout: LineAccumulator;
  private readonly stderr: LineAccumulator;
  private acc: LineAccumulator;
  private readonly sysErr = Buffer.alloc(MAX_DAEMON_MESSAGE);
  private sysErrLen = 0;
  /** Lost-sync scan carry-over (a possible header + timestamp cut by the chunk end). */
  private readonly scan = Buffer.alloc(RESYNC_PATTERN_LENGTH);
  private scanLen = 0;
  /** Absolute stream offset of buf[0] for the buffer being processed (error messages only). */
  private base = 0;
  /** A run of consecutive malformed frames is reported once. */
  private inMalformedRun = false;
  /** The fast path's timestamps. */
  private readonly time = new FixedTimestampReader();

  constructor(private readonly emitter: LineEmitter) {
    this.stdout = new LineAccumulator('stdout', emitter.maxLogSize);
    this.stderr = new LineAccumulator('stderr', emitter.maxLogSize);
    this.acc = this.stdout;
  }

  get pendingBytes(): number {
    return this.stdout.held + this.stderr.held + this.headerLen + this.tsLen + this.sysErrLen + this.scanLen;
  }

  push(buf: Buffer): void {
    this.process(buf, 0, buf.length);
    this.base += buf.length;
  }

  private process(buf: Buffer, p: number, end: number): void {
    const emitter = this.emitter;
    while (p < end) {
      switch (this.phase) {
        case M_HEADER: {
          if (this.headerLen === 0 && end - p >= HEADER_LENGTH) {
            const stream = buf[p];
            const padding = buf[p + 1] | buf[p + 2] | buf[p + 3];
            const length = buf.readUInt32BE(p + 4);
            const ps = p + HEADER_LENGTH;
            const pe = ps + length;
            // Fast path: a complete frame in this chunk holding a complete line of a stream that
            // has no pending partial: decode it in place.
            if (
              padding === 0 &&
              (stream === STREAM_STDOUT || stream === STREAM_STDERR) &&
              pe <= end &&
              length >= TS_FIELD_LENGTH &&
              this.time.read(buf, ps)
            ) {
              const acc = stream === STREAM_STDOUT ? this.stdout : this.stderr;
              if (acc.ts === null) {
                const ms = ps + TS_FIELD_LENGTH;
                if (buf[pe - 1] === LF && pe > ms) {
                  emitter.direct(acc.stream, latin1(buf, ps, ps + FIXED_TIMESTAMP_LENGTH), this.time, buf, ms, pe - 1);
                  this.inMalformedRun = false;
                  p = pe;
                  continue;
                }
                if (pe - ms < DOCKER_PARTIAL_SIZE) {
                  emitter.direct(acc.stream, latin1(buf, ps, ps + FIXED_TIMESTAMP_LENGTH), this.time, buf, ms, pe);
                  this.inMalformedRun = false;
                  p = pe;
                  continue;
                }
              }
            }
            this.frameOffset = this.base + p;
            p += HEADER_LENGTH;
            this.beginFrame(stream, padding, length, buf, p - HEADER_LENGTH);
            continue;
          }
          const take = Math.min(HEADER_LENGTH - this.headerLen, end - p);
          if (this.headerLen === 0) this.frameOffset = this.base + p;
          buf.copy(this.header, this.headerLen, p, p + take);
          this.headerLen += take;
          p += take;
          if (this.headerLen === HEADER_LENGTH) {
            this.headerLen = 0;
            const h = this.header;
            this.beginFrame(h[0], h[1] | h[2] | h[3], h.readUInt32BE(4), h, 0);
          }
          continue;
        }

        case M_TS: {
          if (this.tsLen === 0 && this.frameRemaining >= TS_FIELD_LENGTH && end - p >= TS_FIELD_LENGTH && isFixedTimestampAt(buf, p)) {
            const ts = latin1(buf, p, p + FIXED_TIMESTAMP_LENGTH);
            p += TS_FIELD_LENGTH;
            this.frameRemaining -= TS_FIELD_LENGTH;
            this.beginMessage(ts);
            continue;
          }
          // Slow path: the timestamp is split across chunks, or not in the fixed form (older
          // engines trim the fraction): collect it up to the first space.
          const frameEnd = p + this.frameRemaining;
          let limit = end < frameEnd ? end : frameEnd;
          if (limit - p > MAX_TS_TEXT - this.tsLen) limit = p + (MAX_TS_TEXT - this.tsLen);
          let i = p;
          while (i < limit && buf[i] !== SP) i++;
          buf.copy(this.tsText, this.tsLen, p, i);
          this.tsLen += i - p;
          this.frameRemaining -= i - p;
          p = i;
          if (i < limit) {
            // Found the space.
            p++;
            this.frameRemaining--;
            const text = this.tsText.toString('latin1', 0, this.tsLen);
            const ts = normalizeTimestamp(text);
            if (ts === null) {
              this.malformedFrame(`does not start with a timestamp (${JSON.stringify(text)})`);
            } else {
              this.tsLen = 0;
              this.beginMessage(ts);
            }
          } else if (this.tsLen >= MAX_TS_TEXT || this.frameRemaining === 0) {
            this.malformedFrame(`does not start with a timestamp (${preview(this.tsText, 0, this.tsLen)})`);
          }
          continue;
        }

        case M_MSG: {
          const acc = this.acc;
          const avail = end - p;
          if (avail < this.frameRemaining) {
            acc.append(buf, p, end);
            this.msgLen += avail;
            this.frameRemaining -= avail;
            p = end;
            continue;
          }
          const pe = p + this.frameRemaining;
          this.finishMessage(buf, p, pe);
          p = pe;
          continue;
        }

        case M_SKIP: {
          const n = Math.min(end - p, this.frameRemaining);
          p += n;
          this.frameRemaining -= n;
          if (this.frameRemaining === 0) this.phase = M_HEADER;
          continue;
        }

        case M_SYSERR: {
          const n = Math.min(end - p, this.frameRemaining);
          const keep = Math.min(n, MAX_DAEMON_MESSAGE - this.sysErrLen);
          if (keep > 0) buf.copy(this.sysErr, this.sysErrLen, p, p + keep);
          this.sysErrLen += keep;
          p += n;
          this.frameRemaining -= n;
          if (this.frameRemaining === 0) this.finishSysErr(false);
          continue;
        }

        case M_LOST: {
          p = this.resync(buf, p, end);
          continue;
        }
      }
    }
  }

  /** Dispatches on a frame header; `hb[ho..ho+8)` holds its bytes (for error messages). */
  private beginFrame(stream: number, padding: number, length: number, hb: Buffer, ho: number): void {
    this.frameStream = stream;
    this.frameLength = length;
    this.frameRemaining = length;
    this.msgLen = 0;
    if (padding !== 0) {
      // Not a header at all: the frame boundaries are lost (a TTY body read as multiplexed, or a
      // corrupted stream). The length cannot be trusted, so scan for the next plausible frame.
      this.report(
        `invalid frame header at byte ${this.frameOffset} (${hexBytes(hb, ho, ho + HEADER_LENGTH)}); ` +
          'the stream is not a multiplexed log stream at this point (was the container created with a TTY?); ' +
          'skipping to the next recognisable frame',
      );
      this.phase = M_LOST;
      this.scanLen = 0;
      return;
    }
    if (length === 0) {
      this.phase = M_HEADER;
      return;
    }
    switch (stream) {
      case STREAM_STDOUT:
      case STREAM_STDERR:
        this.acc = stream === STREAM_STDOUT ? this.stdout : this.stderr;
        this.tsLen = 0;
        this.phase = M_TS;
        return;
      case STREAM_SYSTEMERR:
        this.sysErrLen = 0;
        this.phase = M_SYSERR;
        return;
      default:
        this.malformedFrame(stream === STREAM_STDIN ? 'is a stdin frame' : `has an unknown stream type ${stream}`);
    }
  }

  /** A stdout/stderr message with timestamp `ts` starts; frameRemaining is its byte count. */
  private beginMessage(ts: DockerTimestamp): void {
    this.inMalformedRun = false;
    const acc = this.acc;
    if (acc.ts !== null) {
      // The stream's previous message was a full 16 KiB piece. The same timestamp marks its
      // continuation; any other one means that piece was the end of its line after all.
      if (acc.ts === ts) acc.pieces++;
      else {
        emitAccumulated(acc, this.emitter);
        acc.start(ts);
      }
    } else {
      acc.start(ts);
    }
    this.msgLen = 0;
    this.phase = M_MSG;
    if (this.frameRemaining === 0) this.finishMessage(EMPTY, 0, 0);
  }

  /** buf[p, pe) are the last bytes of the current message. */
  private finishMessage(buf: Buffer, p: number, pe: number): void {
    const acc = this.acc;
    this.phase = M_HEADER;
    if (pe > p && buf[pe - 1] === LF) {
      acc.append(buf, p, pe - 1);
      emitAccumulated(acc, this.emitter);
      return;
    }
    acc.append(buf, p, pe);
    // A full-size piece without newline expects a continuation (kept in the accumulator);
    // anything shorter is the last output of its line (a final line without newline).
    if (this.msgLen + (pe - p) < DOCKER_PARTIAL_SIZE) emitAccumulated(acc, this.emitter);
  }

  private finishSysErr(cut: boolean): void {
    let n = this.sysErrLen;
    const full = n === MAX_DAEMON_MESSAGE && this.frameLength > MAX_DAEMON_MESSAGE;
    if (n > 0 && this.sysErr[n - 1] === LF) n--;
    if (n > 0 && this.sysErr[n - 1] === CR) n--;
    let text = this.sysErr.toString('utf8', 0, full ? utf8CutPoint(this.sysErr, 0, n) : n);
    if (full) text += '… (truncated)';
    if (cut) text += ' (the stream ended inside this message)';
    this.sysErrLen = 0;
    this.phase = M_HEADER;
    this.emitter.sink.daemonError(text);
  }

  /** Reports a bad frame (once per run of bad frames) and skips the rest of it. */
  private malformedFrame(what: string): void {
    this.tsLen = 0;
    if (!this.inMalformedRun) {
      this.inMalformedRun = true;
      this.report(`frame at byte ${this.frameOffset} (stream ${this.frameStream}, ${this.frameLength} bytes) ${what}; skipped`);
    }
    this.phase = this.frameRemaining > 0 ? M_SKIP : M_HEADER;
  }

  /**
   * Lost-sync scan: looks for `[1|2] 0 0 0 len` + fixed timestamp, the only thing that can be
   * recognised with confidence. Returns the position to continue from.
   */
  private resync(buf: Buffer, p: number, end: number): number {
    if (this.scanLen > 0) {
      // Candidates starting in the carry-over need the next bytes of this chunk to be checked.
      const carried = this.scanLen;
      const joined = Buffer.concat([this.scan.subarray(0, carried), buf.subarray(p, Math.min(end, p + RESYNC_PATTERN_LENGTH))]);
      this.scanLen = 0;
      for (let i = 0; i < carried; i++) {
        const r = matchFrameStart(joined, i, joined.length);
        if (r === 0) continue;
        if (r < 0) {
          // Still undecided: this chunk is tiny. Keep everything from i.
          joined.copy(this.scan, 0, i);
          this.scanLen = joined.length - i;
          return end;
        }
        // Found inside the carry-over: replay its tail, then continue with the chunk.
        this.phase = M_HEADER;
        const tail = Buffer.from(joined.subarray(i, carried));
        const savedBase = this.base;
        this.base = this.base + p - (carried - i);
        this.process(tail, 0, tail.length);
        this.base = savedBase;
        return p;
      }
    }
    for (let i = p; i < end; i++) {
      const r = matchFrameStart(buf, i, end);
      if (r === 0) continue;
      if (r < 0) {
        buf.copy(this.scan, 0, i, end);
        this.scanLen = end - i;
        return end;
      }
      this.phase = M_HEADER;
      return i;
    }
    return end;
  }

  end(): void {
    switch (this.phase) {
      case M_HEADER:
        if (this.headerLen > 0) this.report(`the stream ended inside a frame header (${this.headerLen} of 8 bytes)`);
        break;
      case M_TS:
        this.report(`the stream ended inside the timestamp of the frame at byte ${this.frameOffset}; message dropped`);
        break;
      case M_MSG:
        // Keep what arrived: it is real output, and the caller will not re-read it.
        this.report(
          `the stream ended inside the frame at byte ${this.frameOffset} (${this.frameRemaining} of ${this.frameLength} bytes missing); ` +
            'emitting the incomplete message',
        );
        break;
      case M_SYSERR:
        this.finishSysErr(true);
        break;
    }
    // Pending pieces are complete lines now; emit the older one first.
    const a = this.stdout;
    const b = this.stderr;
    if (a.ts !== null && b.ts !== null && b.ts < a.ts) {
      emitAccumulated(b, this.emitter);
      emitAccumulated(a, this.emitter);
    } else {
      emitAccumulated(a, this.emitter);
      emitAccumulated(b, this.emitter);
    }
    this.reset();
  }

  reset(): void {
    this.phase = M_HEADER;
    this.base = 0; // offsets in messages are relative to the body being read
    this.headerLen = 0;
    this.tsLen = 0;
    this.frameRemaining = 0;
    this.msgLen = 0;
    this.sysErrLen = 0;
    this.scanLen = 0;
    this.inMalformedRun = false;
    this.stdout.clear();
    this.stderr.clear();
    this.acc = this.stdout;
  }

  private report(message: string): void {
    this.emitter.sink.daemonError(message);
  }
}

/**
 * Whether buf[i, end) starts with a stdout/stderr frame header followed by a fixed timestamp:
 * 1 yes, 0 no, -1 undecided (matches so far but runs out of bytes).
 */
function matchFrameStart(buf: Uint8Array, i: number, end: number): number {
  const s = buf[i];
  if (s !== STREAM_STDOUT && s !== STREAM_STDERR) return 0;
  for (let k = 1; k < 4; k++) {
    if (i + k >= end) return -1;
    if (buf[i + k] !== 0) return 0;
  }
  if (i + HEADER_LENGTH > end) return -1;
  // Too short to hold a timestamp: not a frame Docker writes.
  if ((buf[i + 4] | buf[i + 5] | buf[i + 6]) === 0 && buf[i + 7] < TS_FIELD_LENGTH) return 0;
  const ts = i + HEADER_LENGTH;
  const available = end - ts < TS_FIELD_LENGTH ? end - ts : TS_FIELD_LENGTH;
  if (!isTimestampPrefix(buf, ts, ts + available)) return 0;
  return available === TS_FIELD_LENGTH ? 1 : -1;
}

// ---------------------------------------------------------------------------------------------
// TTY: raw `TS␠message` concatenation
// ---------------------------------------------------------------------------------------------

/** At the start of a message: expecting a timestamp. */
const T_TS = 0;
/** Inside a message, reading up to `\n` or to the next offset where a continuation may start. */
const T_MSG = 1;
/** At a possible piece boundary: looking at the next 31 bytes for a continuation timestamp. */
const T_CONT = 2;

const REPLACEMENT_0 = 0xef;
const REPLACEMENT_1 = 0xbf;
const REPLACEMENT_2 = 0xbd;

/**
 * Memoised Buffer.indexOf for one byte value over one buffer: indexOf has no end bound, so
 * bounded searches that repeatedly stop short (16 KiB pieces of a line in a huge chunk) would
 * otherwise rescan the tail of the chunk every time.
 */
class ByteFinder {
  private buf: Buffer | null = null;
  private from = 0;
  /** First occurrence at or after `from` in `buf` (-1: none). */
  private at = -1;

  constructor(private readonly byte: number) {}

  /** First occurrence in buf[start, limit), or -1. */
  find(buf: Buffer, start: number, limit: number): number {
    let at = this.at;
    if (buf !== this.buf || start < this.from || (at >= 0 && start > at)) {
      at = buf.indexOf(this.byte, start);
      this.buf = buf;
      this.from = start;
      this.at = at;
    }
    return at >= 0 && at < limit ? at : -1;
  }

  /** Drops the reference to the chunk. */
  forget(): void {
    this.buf = null;
  }
}

/**
 * Where continuation timestamps can be, and why it is not simply "at 16384":
 *
 * Docker cuts a long line every 16384 bytes of what the program wrote, but the json-file driver
 * then stores each piece as a JSON string, which replaces every byte that is not valid UTF-8
 * with U+FFFD (3 bytes: EF BF BD). A multibyte character cut by the 16 KiB boundary thus
 * becomes 2-3 replacement characters and the piece grows: 16383 × "a" + "é" yields a first
 * piece of 16386 bytes. A piece that had k invalid bytes is 16384 + 2k bytes long and contains
 * at least k replacement sequences, so a continuation can start at offset 16384 + 2j for any j
 * up to the number of EF BF BD sequences read so far in the piece. Each such offset is checked
 * for `TS␠` equal to the line's timestamp (a false match would need the program to print its own
 * log timestamp, to the nanosecond, at exactly such an offset).
 */
class TtyParser implements Parser {
  private phase = T_TS;
  private readonly acc: LineAccumulator;
  /** Carry-over for a timestamp (T_TS) or the 31-byte continuation look-ahead (T_CONT). */
  private readonly carry = Buffer.alloc(MAX_TS_TEXT);
  private carryLen = 0;
  /** Bytes of the current piece read so far. */
  private pieceBytes = 0;
  /** Next piece offset at which a continuation timestamp may start. */
  private checkAt = DOCKER_PARTIAL_SIZE;
  /** False when no continuation is possible any more in this line. */
  private checkContinuation = true;
  /** Complete EF BF BD sequences in the current piece, and how much of one ends the last segment. */
  private replacements = 0;
  private replacementTail = 0;
  /** The current line did not start with a timestamp. */
  private malformed = false;
  /** A run of consecutive malformed lines is reported once. */
  private inMalformedRun = false;
  private lastGoodTs: DockerTimestamp | null = null;
  private readonly lfFinder = new ByteFinder(LF);
  private readonly replacementFinder = new ByteFinder(REPLACEMENT_0);
  /** The fast path's timestamps. */
  private readonly time = new FixedTimestampReader();

  constructor(private readonly emitter: LineEmitter) {
    this.acc = new LineAccumulator('stdout', emitter.maxLogSize);
  }

  get pendingBytes(): number {
    return this.acc.held + this.carryLen;
  }

  push(buf: Buffer): void {
    this.process(buf, 0, buf.length);
    this.lfFinder.forget();
    this.replacementFinder.forget();
  }

  private process(buf: Buffer, p: number, end: number): void {
    const acc = this.acc;
    while (p < end) {
      switch (this.phase) {
        case T_TS: {
          if (this.carryLen === 0 && end - p >= TS_FIELD_LENGTH && this.time.read(buf, p)) {
            const ts = latin1(buf, p, p + FIXED_TIMESTAMP_LENGTH);
            this.lastGoodTs = ts;
            this.inMalformedRun = false;
            const ms = p + TS_FIELD_LENGTH;
            // Fast path: the whole line (within its first piece) is in this chunk.
            const nl = this.lfFinder.find(buf, ms, end - ms > DOCKER_PARTIAL_SIZE ? ms + DOCKER_PARTIAL_SIZE : end);
            if (nl >= 0) {
              this.emitter.direct('stdout', ts, this.time, buf, ms, trimCr(buf, ms, nl));
              p = nl + 1;
              continue;
            }
            this.startLine(ts);
            p = ms;
            continue;
          }
          p = this.gatherTimestamp(buf, p, end);
          continue;
        }

        case T_MSG: {
          const check = this.checkContinuation;
          const room = this.checkAt - this.pieceBytes;
          const limit = check && end - p > room ? p + room : end;
          const nl = this.lfFinder.find(buf, p, limit);
          if (nl >= 0) {
            acc.append(buf, p, nl);
            p = nl + 1;
            this.finishLine(true);
            continue;
          }
          acc.append(buf, p, limit);
          if (check) {
            this.countReplacements(buf, p, limit);
            this.pieceBytes += limit - p;
            if (this.pieceBytes === this.checkAt) {
              // Past 16384, offset 16384 + 2j needs j replacement sequences (see above); the
              // count grows by at most one per 3 bytes, so once short it never catches up.
              if ((this.checkAt - DOCKER_PARTIAL_SIZE) / 2 <= this.replacements) this.phase = T_CONT;
              else this.checkContinuation = false;
            }
          }
          p = limit;
          continue;
        }

        case T_CONT: {
          let src: Buffer;
          let at: number;
          if (this.carryLen === 0 && end - p >= TS_FIELD_LENGTH) {
            src = buf;
            at = p;
          } else {
            const take = Math.min(TS_FIELD_LENGTH - this.carryLen, end - p);
            buf.copy(this.carry, this.carryLen, p, p + take);
            this.carryLen += take;
            p += take;
            if (this.carryLen < TS_FIELD_LENGTH) {
              // Wait for more bytes only while they can still be a timestamp: a `\n` here ends
              // the line now, not when the next message arrives.
              if (isTimestampPrefix(this.carry, 0, this.carryLen)) continue;
              this.notAContinuation();
              continue;
            }
            src = this.carry;
            at = 0;
          }
          if (isFixedTimestampAt(src, at)) {
            if (sameTimestamp(src, at, acc.ts)) {
              acc.pieces++;
              this.startPiece();
            } else {
              // Another message: the piece before it was the end of its line (a final line
              // without newline whose size happened to be a multiple of 16 KiB).
              const ts = latin1(src, at, at + FIXED_TIMESTAMP_LENGTH);
              emitAccumulated(acc, this.emitter);
              this.lastGoodTs = ts;
              this.startLine(ts);
            }
            this.phase = T_MSG;
            if (src === this.carry) this.carryLen = 0;
            else p += TS_FIELD_LENGTH;
            continue;
          }
          if (src === this.carry) this.notAContinuation();
          else {
            this.checkAt += 2;
            this.phase = T_MSG;
          }
          continue;
        }
      }
    }
  }

  /** Counts EF BF BD sequences in buf[start, end), continuing a match cut by the last segment. */
  private countReplacements(buf: Buffer, start: number, end: number): void {
    let i = start;
    while (this.replacementTail > 0 && i < end) {
      if (buf[i] !== (this.replacementTail === 1 ? REPLACEMENT_1 : REPLACEMENT_2)) {
        this.replacementTail = 0; // buf[i] itself may start a sequence: look at it below
        break;
      }
      i++;
      if (this.replacementTail === 2) {
        this.replacements++;
        this.replacementTail = 0;
      } else {
        this.replacementTail = 2;
      }
    }
    if (this.replacementTail > 0) return;
    for (;;) {
      const at = this.replacementFinder.find(buf, i, end);
      if (at < 0) return;
      if (at + 2 < end) {
        if (buf[at + 1] === REPLACEMENT_1 && buf[at + 2] === REPLACEMENT_2) {
          this.replacements++;
          i = at + 3;
        } else {
          i = at + 1;
        }
      } else if (at + 1 === end) {
        this.replacementTail = 1;
        return;
      } else if (buf[at + 1] === REPLACEMENT_1) {
        this.replacementTail = 2;
        return;
      } else {
        i = at + 1;
      }
    }
  }

  /**
   * Slow T_TS path: collects the timestamp up to its space across chunks (also accepting a
   * trimmed fraction), or detects that the bytes are not a timestamp. Returns the new position.
   */
  private gatherTimestamp(buf: Buffer, p: number, end: number): number {
    let limit = end;
    if (limit - p > MAX_TS_TEXT - this.carryLen) limit = p + (MAX_TS_TEXT - this.carryLen);
    let i = p;
    while (i < limit && buf[i] !== SP && buf[i] !== LF) i++;
    buf.copy(this.carry, this.carryLen, p, i);
    this.carryLen += i - p;
    if (i < limit && buf[i] === SP) {
      const ts = normalizeTimestamp(this.carry.toString('latin1', 0, this.carryLen));
      if (ts !== null) {
        this.carryLen = 0;
        this.lastGoodTs = ts;
        this.inMalformedRun = false;
        this.startLine(ts);
        return i + 1;
      }
    } else if (i === limit && this.carryLen < MAX_TS_TEXT) {
      return i; // ran out of bytes: wait for the next chunk
    }
    // Not a timestamp: the bytes up to the next newline form a line of their own. The collected
    // bytes are part of it; the byte at i (space or newline) is processed next.
    this.startMalformedLine();
    this.replayCarry();
    return i;
  }

  private startLine(ts: DockerTimestamp): void {
    this.acc.start(ts);
    this.startPiece();
    this.checkContinuation = true;
    this.malformed = false;
    this.phase = T_MSG;
  }

  private startPiece(): void {
    this.pieceBytes = 0;
    this.checkAt = DOCKER_PARTIAL_SIZE;
    this.replacements = 0;
    this.replacementTail = 0;
  }

  /** A line that does not start with a timestamp: it runs to the next `\n`, no pieces. */
  private startMalformedLine(): void {
    this.startLine(this.lastGoodTs ?? nowTimestamp());
    this.malformed = true;
    this.checkContinuation = false;
  }

  /** The look-ahead in the carry is payload: read it as such, then try the next offset. */
  private notAContinuation(): void {
    this.checkAt += 2;
    this.phase = T_MSG;
    this.replayCarry();
  }

  /** Processes the carried bytes again (in the current phase). */
  private replayCarry(): void {
    const bytes = Buffer.from(this.carry.subarray(0, this.carryLen));
    this.carryLen = 0;
    this.process(bytes, 0, bytes.length);
  }

  private finishLine(sawNewline: boolean): void {
    this.phase = T_TS;
    const acc = this.acc;
    if (sawNewline) acc.dropTrailingCr();
    if (this.malformed) {
      this.malformed = false;
      const text = acc.decode();
      // The engine writes its own errors into a TTY body as plain text (there is no stream 3).
      if (text.startsWith(DAEMON_ERROR_PREFIX)) {
        acc.clear();
        this.emitter.sink.daemonError(text);
        return;
      }
      if (!this.inMalformedRun) {
        this.inMalformedRun = true;
        const looksMultiplexed = text.charCodeAt(0) <= STREAM_STDERR && text.charCodeAt(1) === 0;
        this.emitter.sink.daemonError(
          `TTY log data without a timestamp: ${JSON.stringify(text.length > 48 ? text.slice(0, 48) + '…' : text)}` +
            (looksMultiplexed ? ' (this looks like a multiplexed stream: was the container created without a TTY?)' : '') +
            '; emitted as a line with the previous timestamp',
        );
      }
    }
    emitAccumulated(acc, this.emitter);
  }

  end(): void {
    // Carried bytes are final now. Replaying them can finish a line and leave another fragment
    // in the carry, hence the loop (each round consumes at least one carried byte).
    while (this.carryLen > 0) {
      if (this.phase === T_CONT) {
        // Fewer than 31 bytes after a possible boundary: payload (possibly holding `\n`).
        this.checkContinuation = false;
        this.notAContinuation();
      } else {
        // T_TS: a fragment that never became a timestamp.
        this.startMalformedLine();
        this.replayCarry();
      }
    }
    if (this.acc.ts !== null) this.finishLine(false);
    this.reset();
  }

  reset(): void {
    this.phase = T_TS;
    this.carryLen = 0;
    this.startPiece();
    this.checkContinuation = true;
    this.malformed = false;
    this.inMalformedRun = false;
    this.lastGoodTs = null;
    this.acc.clear();
    this.lfFinder.forget();
    this.replacementFinder.forget();
  }
}

/** Whether src[at, at+30) spells the timestamp `ts`. */
function sameTimestamp(src: Buffer, at: number, ts: DockerTimestamp | null): boolean {
  if (ts === null) return false;
  // Compare from the end: nanoseconds differ first.
  for (let k = FIXED_TIMESTAMP_LENGTH - 1; k >= 0; k--) {
    if (src[at + k] !== ts.charCodeAt(k)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------

export class LogFramer {
  private readonly parser: Parser;

  constructor(options: FramerOptions, sink: FramerSink) {
    const { maxLogSize } = options;
    if (!Number.isInteger(maxLogSize) || maxLogSize < 1024) {
      throw new RangeError(`maxLogSize must be an integer >= 1024 (got ${maxLogSize})`);
    }
    const emitter = new LineEmitter(sink, maxLogSize);
    this.parser = options.tty ? new TtyParser(emitter) : new MuxParser(emitter);
  }

  /** Feeds the next bytes of the body (any split); complete lines are emitted synchronously. */
  push(chunk: Buffer): void {
    if (chunk.length > 0) this.parser.push(chunk);
  }

  /** The body ended normally: pending partial lines are emitted as they are. */
  end(): void {
    this.parser.end();
  }

  /** The body was aborted: pending partial state is discarded (the caller re-reads). */
  reset(): void {
    this.parser.reset();
  }

  /** Bytes currently held between pushes (line text plus carry-overs). */
  get pendingBytes(): number {
    return this.parser.pendingBytes;
  }
}
