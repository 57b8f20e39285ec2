/**
 * Turning bytes into line text, shared by the two sources of lines (the API's
 * framer and the json-file parser): fast UTF-8 decoding, cutting at a
 * character boundary, and a bounded accumulator for a line built from pieces.
 */
import type { IoStream } from './log-framer.js';
import type { DockerTimestamp } from './timestamp.js';

const CR = 13;

/** Accumulator buffers larger than this are dropped after use rather than kept per stream. */
const KEEP_BUFFER_LIMIT = 64 * 1024;

/**
 * Buffer.prototype.utf8Slice / latin1Slice are what toString('utf8' | 'latin1', …)
 * end up calling after argument normalisation; calling them directly saves
 * ~15-25 ns per call, a tenth of the per-line budget. @types/node does not
 * declare them.
 */
interface DirectDecoders {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}

export function utf8(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as DirectDecoders).utf8Slice(start, end);
}

export function latin1(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as DirectDecoders).latin1Slice(start, end);
}

/**
 * The end to use when text is cut at `end`, so that no partial UTF-8 sequence is left at the end:
 * if the last character starting before `end` needs bytes at or after `end`, cut before it.
 * Invalid bytes are left alone (they decode to U+FFFD either way).
 */
export function utf8CutPoint(buf: Uint8Array, start: number, end: number): number {
  const floor = end - 4 > start ? end - 4 : start;
  let i = end - 1;
  while (i >= floor && (buf[i] & 0xc0) === 0x80) i--;
  if (i < floor) return end;
  const lead = buf[i];
  const length = lead < 0xc0 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : lead < 0xf8 ? 4 : 1;
  return i + length > end ? i : end;
}

/**
 * One logical line being assembled from pieces and/or chunk fragments. Keeps the
 * first maxLogSize bytes and counts the rest, so a 10 MB line costs at most
 * maxLogSize of memory.
 */
export class LineAccumulator {
  /** Timestamp of the line being built; null when idle. */
  ts: DockerTimestamp | null = null;
  /** Bytes kept (<= maxLogSize). */
  len = 0;
  /** Bytes seen, kept or not. */
  size = 0;
  pieces = 0;
  /** How many `\r` bytes end what was appended so far, kept or not: TTY mode strips them before `\n`. */
  private trailingCrs = 0;
  private buf: Buffer | null = null;

  constructor(
    readonly stream: IoStream,
    private readonly max: number,
    /** First allocation: small for short lines straddling two chunks, larger where pieces are the norm. */
    private readonly initialCapacity = 1024,
  ) {}

  start(ts: DockerTimestamp): void {
    this.ts = ts;
    this.len = 0;
    this.size = 0;
    this.pieces = 1;
    this.trailingCrs = 0;
  }

  append(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    this.size += n;
    let crs = 0;
    while (crs < n && src[end - 1 - crs] === CR) crs++;
    this.trailingCrs = crs === n ? this.trailingCrs + n : crs;
    const room = this.max - this.len;
    if (room <= 0) return;
    const take = n < room ? n : room;
    const needed = this.len + take;
    let buf = this.buf;
    if (buf === null || buf.length < needed) {
      // Grow geometrically, never beyond the limit: a 1 MiB buffer per stream per container would add up.
      let capacity = buf === null ? this.initialCapacity : buf.length * 2;
      while (capacity < needed) capacity *= 2;
      if (capacity > this.max) capacity = this.max;
      const grown = Buffer.allocUnsafe(capacity);
      if (buf !== null && this.len > 0) buf.copy(grown, 0, 0, this.len);
      this.buf = buf = grown;
    }
    src.copy(buf, this.len, start, start + take);
    this.len = needed;
  }

  /**
   * Drops the `\r`s before a TTY line's `\n`: the terminal turns every `\n` into
   * `\r\n`, so a program's own `\r\n` arrives as `\r\r\n`; neither is text.
   */
  dropTrailingCr(): void {
    if (this.trailingCrs === 0) return;
    this.size -= this.trailingCrs;
    if (this.len > this.size) this.len = this.size;
    this.trailingCrs = 0;
  }

  /** Whether the line grew beyond maxLogSize (and was cut). */
  get truncated(): boolean {
    return this.size > this.max;
  }

  /** The text as it will be emitted (cut at a character boundary when truncated). */
  decode(): string {
    const buf = this.buf;
    if (buf === null || this.len === 0) return '';
    return utf8(buf, 0, this.size > this.max ? utf8CutPoint(buf, 0, this.len) : this.len);
  }

  /** Back to idle, discarding any content. */
  clear(): void {
    this.ts = null;
    this.len = 0;
    this.size = 0;
    this.pieces = 0;
    this.trailingCrs = 0;
    if (this.buf !== null && this.buf.length > KEEP_BUFFER_LIMIT) this.buf = null;
  }

  /** Text bytes currently held. */
  get held(): number {
    return this.len;
  }
}
