import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import fc from 'fast-check';
import { DOCKER_PARTIAL_SIZE, LogFramer } from '../../src/framing/log-framer.js';
import type { FramerOptions, IoStream, LogLine } from '../../src/framing/log-framer.js';
import { fromHrTime, toHrTime } from '../../src/framing/timestamp.js';

// ---------------------------------------------------------------------------------------------
// Helpers: encode bytes exactly as the Engine does
// ---------------------------------------------------------------------------------------------

const PIECE = DOCKER_PARTIAL_SIZE;
const FIXED_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/;

/** Distinct, increasing timestamps. */
function ts(i: number): string {
  return fromHrTime([1_795_887_836 + Math.floor(i / 3), 196_193_520 + (i % 3) * 100_000_000]);
}

const STREAM_BYTE: Record<IoStream, number> = { stdout: 1, stderr: 2 };

function bytes(b: Buffer | string): Buffer {
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
}

/** A multiplexed frame. */
function frame(stream: number, payload: Buffer | string): Buffer {
  const p = bytes(payload);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(p.length, 4);
  return Buffer.concat([h, p]);
}

/** One message: `TS␠payload`. */
function msg(t: string, payload: Buffer | string): Buffer {
  return Buffer.concat([Buffer.from(t + ' ', 'latin1'), bytes(payload)]);
}

/** Splits what a program wrote for one line (content + terminator) the way Docker's copier does. */
function dockerPieces(written: Buffer): Buffer[] {
  const pieces: Buffer[] = [];
  for (let i = 0; i < written.length; i += PIECE) pieces.push(written.subarray(i, i + PIECE));
  return pieces;
}

/**
 * What the json-file driver stores for a piece: Go's JSON encoder replaces every byte that does
 * not start a valid UTF-8 sequence with U+FFFD, one per byte.
 */
function goSanitize(b: Buffer): Buffer {
  const out: number[] = [];
  let i = 0;
  while (i < b.length) {
    const n = validSequenceLength(b, i);
    if (n === 0) {
      out.push(0xef, 0xbf, 0xbd);
      i++;
    } else {
      for (let k = 0; k < n; k++) out.push(b[i + k]);
      i += n;
    }
  }
  return Buffer.from(out);
}

/** Length of the valid UTF-8 sequence at b[i] (RFC 3629 table), 0 when invalid. */
function validSequenceLength(b: Buffer, i: number): number {
  const c = b[i];
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

interface Written {
  stream: IoStream;
  /** Line content as the program wrote it (no newline). */
  content: Buffer;
  /** Whether it was followed by a newline (only a stream's last output may lack one). */
  newline: boolean;
}

interface Message {
  stream: IoStream;
  ts: string;
  payload: Buffer;
}

/**
 * The messages Docker stores for a sequence of written lines, and the logical lines a framer
 * must give back. `sanitize` models the json-file driver (the default); without it, the `local`
 * driver.
 */
function dockerMessages(lines: readonly Written[], tty: boolean, sanitize: boolean): { perLine: Message[][]; expected: LogLine[] } {
  const perLine: Message[][] = [];
  const expected: LogLine[] = [];
  lines.forEach((line, i) => {
    const t = ts(i);
    const terminator = tty ? '\r\n' : '\n';
    const written = line.newline ? Buffer.concat([line.content, Buffer.from(terminator)]) : line.content;
    const pieces = dockerPieces(written).map((p) => (sanitize ? goSanitize(p) : p));
    perLine.push(pieces.map((payload) => ({ stream: line.stream, ts: t, payload })));
    const all = Buffer.concat(pieces);
    let end = line.newline ? all.length - terminator.length : all.length;
    // TTY: a program's own \r before the terminal's \r\n is part of the line ending too.
    while (tty && line.newline && end > 0 && all[end - 1] === 13) end--;
    const content = all.subarray(0, end);
    expected.push({ stream: line.stream, timestamp: t, text: content.toString('utf8'), truncated: false, size: content.length, pieces: pieces.length });
  });
  return { perLine, expected };
}

function encodeMux(messages: readonly Message[]): Buffer {
  return Buffer.concat(messages.map((m) => frame(STREAM_BYTE[m.stream], msg(m.ts, m.payload))));
}

function encodeTty(messages: readonly Message[]): Buffer {
  return Buffer.concat(messages.map((m) => msg(m.ts, m.payload)));
}

interface Run {
  lines: LogLine[];
  errors: string[];
  maxPending: number;
}

/** What a run produced, without the memory figure (which depends on the chunking). */
function output(r: Run): { lines: LogLine[]; errors: string[] } {
  return { lines: r.lines, errors: r.errors };
}

/**
 * The line without `time`, after checking it: the fast path reads the time from the bytes, the
 * record converts the text otherwise, and the two must agree.
 */
function checked(l: LogLine): LogLine {
  if (l.time === undefined) return l;
  assert.deepEqual(l.time, toHrTime(l.timestamp), `time read from the bytes of ${l.timestamp}`);
  const { time: _time, ...rest } = l;
  return rest;
}

/** Feeds `chunks` to a new framer (then end() unless told otherwise) and records everything. */
function run(options: FramerOptions, chunks: Iterable<Buffer>, opts: { end?: boolean } = {}): Run {
  const result: Run = { lines: [], errors: [], maxPending: 0 };
  const framer = new LogFramer(options, {
    line: (l) => result.lines.push(checked(l)),
    daemonError: (m) => result.errors.push(m),
  });
  for (const c of chunks) {
    framer.push(c);
    result.maxPending = Math.max(result.maxPending, framer.pendingBytes);
  }
  if (opts.end !== false) framer.end();
  return result;
}

function* chunksOf(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

/** Cuts `buf` with the sizes in `sizes`, cycling. */
function* chunksBy(buf: Buffer, sizes: readonly number[]): Generator<Buffer> {
  let k = 0;
  for (let i = 0; i < buf.length; ) {
    const n = sizes[k++ % sizes.length];
    yield buf.subarray(i, i + n);
    i += n;
  }
}

function line(stream: IoStream, timestamp: string, text: string, extra: Partial<LogLine> = {}): LogLine {
  return { stream, timestamp, text, truncated: false, size: Buffer.byteLength(text), pieces: 1, ...extra };
}

const NON_TTY: FramerOptions = { tty: false, maxLogSize: 1024 * 1024 };
const TTY: FramerOptions = { tty: true, maxLogSize: 1024 * 1024 };

// ---------------------------------------------------------------------------------------------
// Non-TTY
// ---------------------------------------------------------------------------------------------

test('non-TTY: interleaved stdout and stderr lines, in every chunking', () => {
  const body = Buffer.concat([
    frame(1, msg(ts(0), 'hello\n')),
    frame(2, msg(ts(1), 'oops\n')),
    frame(1, msg(ts(2), '\n')),
    frame(2, msg(ts(3), 'tab\there\n')),
    frame(1, msg(ts(4), 'bye\n')),
  ]);
  const expected = [
    line('stdout', ts(0), 'hello'),
    line('stderr', ts(1), 'oops'),
    line('stdout', ts(2), ''),
    line('stderr', ts(3), 'tab\there'),
    line('stdout', ts(4), 'bye'),
  ];
  for (const size of [1, 2, 3, 7, 8, 9, 30, 31, 32, 39, 40, 64, body.length]) {
    const r = run(NON_TTY, chunksOf(body, size));
    assert.deepEqual(r.lines, expected, `chunk size ${size}`);
    assert.deepEqual(r.errors, []);
  }
});

test('non-TTY: stream 3 frames are daemon errors, not lines', () => {
  const body = Buffer.concat([
    frame(1, msg(ts(0), 'a\n')),
    frame(3, 'Error grabbing logs: log message is too large (1234 > 1000)\n'),
    frame(1, msg(ts(1), 'b\n')),
  ]);
  for (const size of [1, 5, body.length]) {
    const r = run(NON_TTY, chunksOf(body, size));
    assert.deepEqual(r.lines, [line('stdout', ts(0), 'a'), line('stdout', ts(1), 'b')]);
    assert.deepEqual(r.errors, ['Error grabbing logs: log message is too large (1234 > 1000)']);
  }
  // A huge stream-3 frame is reported cut, without holding it all.
  const big = run(NON_TTY, chunksOf(frame(3, 'e'.repeat(100_000)), 4096));
  assert.equal(big.errors.length, 1);
  assert.ok(big.errors[0].startsWith('eeee') && big.errors[0].endsWith('(truncated)'));
  assert.ok(big.maxPending <= 8192);
});

test('non-TTY: a 40 000-byte line arrives as 3 frames with one timestamp and is merged', () => {
  const content = Buffer.from('x'.repeat(39_999) + 'y');
  const t = ts(0);
  const body = Buffer.concat([
    frame(1, msg(t, content.subarray(0, PIECE))),
    frame(1, msg(t, content.subarray(PIECE, 2 * PIECE))),
    frame(1, Buffer.concat([msg(t, content.subarray(2 * PIECE)), Buffer.from('\n')])),
    frame(1, msg(ts(1), 'next\n')),
  ]);
  for (const size of [1, 100, 16_000, 65_536, body.length]) {
    const r = run(NON_TTY, chunksOf(body, size), { end: false });
    assert.deepEqual(r.lines, [line('stdout', t, content.toString(), { pieces: 3 }), line('stdout', ts(1), 'next')], `chunk size ${size}`);
  }
});

test('non-TTY: stderr frames interleaved inside a stdout partial sequence do not break it', () => {
  const out = 'o'.repeat(40_000);
  const err = 'e'.repeat(20_000);
  const to = ts(0);
  const te = ts(1);
  const body = Buffer.concat([
    frame(1, msg(to, out.slice(0, PIECE))),
    frame(2, msg(te, err.slice(0, PIECE))),
    frame(2, msg(ts(2), 'should not be glued to stderr\n')), // different timestamp: the stderr piece was final
    frame(1, msg(to, out.slice(PIECE, 2 * PIECE))),
    frame(2, msg(ts(3), 'plain stderr\n')),
    frame(1, msg(to, out.slice(2 * PIECE) + '\n')),
  ]);
  const r = run(NON_TTY, chunksOf(body, 1000));
  assert.deepEqual(r.lines, [
    line('stderr', te, err.slice(0, PIECE)),
    line('stderr', ts(2), 'should not be glued to stderr'),
    line('stderr', ts(3), 'plain stderr'),
    line('stdout', to, out, { pieces: 3 }),
  ]);
  assert.deepEqual(r.errors, []);
});

test('non-TTY: a last line without newline', () => {
  // Short: complete as soon as its frame is.
  const short = run(NON_TTY, [Buffer.concat([frame(1, msg(ts(0), 'a\n')), frame(1, msg(ts(1), 'last'))])], { end: false });
  assert.deepEqual(short.lines, [line('stdout', ts(0), 'a'), line('stdout', ts(1), 'last')]);
  // Exactly 16384 bytes: indistinguishable from a first piece until the stream ends.
  const exact = 'z'.repeat(PIECE);
  const body = frame(1, msg(ts(2), exact));
  const framer = new LogFramer(NON_TTY, {
    line: (l) => lines.push(checked(l)),
    daemonError: (m) => assert.fail(m),
  });
  const lines: LogLine[] = [];
  framer.push(body);
  assert.deepEqual(lines, []);
  assert.equal(framer.pendingBytes, PIECE);
  framer.end();
  assert.deepEqual(lines, [line('stdout', ts(2), exact)]);
  assert.equal(framer.pendingBytes, 0);
  // ...or until the next message of that stream shows another timestamp.
  const r = run(NON_TTY, [frame(1, msg(ts(2), exact)), frame(1, msg(ts(3), 'next\n'))], { end: false });
  assert.deepEqual(r.lines, [line('stdout', ts(2), exact), line('stdout', ts(3), 'next')]);
  // A short no-newline piece completes a pending sequence of the same timestamp.
  const r2 = run(NON_TTY, [frame(1, msg(ts(4), exact)), frame(1, msg(ts(4), 'end'))], { end: false });
  assert.deepEqual(r2.lines, [line('stdout', ts(4), exact + 'end', { pieces: 2 })]);
});

test('non-TTY: a \\r before \\n is kept (the program wrote it)', () => {
  const r = run(NON_TTY, [frame(1, msg(ts(0), 'dos\r\n')), frame(1, msg(ts(1), '\r\n')), frame(1, msg(ts(2), 'mid\rdle\n'))]);
  assert.deepEqual(r.lines, [line('stdout', ts(0), 'dos\r'), line('stdout', ts(1), '\r'), line('stdout', ts(2), 'mid\rdle')]);
});

test('invalid UTF-8 becomes U+FFFD, and characters split across pieces and chunks are rebuilt', () => {
  const r = run(NON_TTY, [frame(1, msg(ts(0), Buffer.from([0x61, 0xff, 0x62, 0xe2, 0x82, 0x0a])))]);
  assert.deepEqual(r.lines, [{ stream: 'stdout', timestamp: ts(0), text: 'a\uFFFDb\uFFFD', truncated: false, size: 5, pieces: 1 }]);
  // '€' (E2 82 AC) cut by the 16 KiB piece boundary, as the local driver stores it.
  const content = Buffer.concat([Buffer.from('a'.repeat(PIECE - 1)), Buffer.from('€ end')]);
  const body = Buffer.concat([frame(1, msg(ts(1), content.subarray(0, PIECE))), frame(1, Buffer.concat([msg(ts(1), content.subarray(PIECE)), Buffer.from('\n')]))]);
  for (const size of [1, 16_420, body.length]) {
    assert.deepEqual(run(NON_TTY, chunksOf(body, size)).lines, [line('stdout', ts(1), content.toString(), { pieces: 2 })]);
  }
});

test('json-file replaces the halves of a character cut at 16 KiB: the piece is longer than 16384 (real engine behaviour)', () => {
  const written = Buffer.concat([Buffer.from('a'.repeat(PIECE - 1)), Buffer.from('é end\n')]);
  const pieces = dockerPieces(written).map(goSanitize);
  assert.equal(pieces[0].length, PIECE + 2);
  const t = ts(0);
  const expected = [line('stdout', t, 'a'.repeat(PIECE - 1) + '\uFFFD\uFFFD end', { pieces: 2 })];
  const mux = Buffer.concat(pieces.map((p) => frame(1, msg(t, p))));
  const tty = Buffer.concat(pieces.map((p, i) => msg(t, i === pieces.length - 1 ? Buffer.from(p.toString('latin1').replace(/\n$/, '\r\n'), 'latin1') : p)));
  for (const size of [1, 997, 1 << 20]) {
    assert.deepEqual(run(NON_TTY, chunksOf(mux, size)).lines, expected);
    assert.deepEqual(run(TTY, chunksOf(tty, size)).lines, expected);
  }
});

test('non-TTY: timestamps with a trimmed fraction or an offset are normalised', () => {
  const body = Buffer.concat([
    frame(1, '2026-11-28T17:43:56.1961935Z trimmed\n'),
    frame(2, '2026-11-28T17:43:57Z no fraction\n'),
    frame(1, '2026-11-28T18:43:58.5+01:00 offset\n'),
  ]);
  for (const size of [1, 13, body.length]) {
    const r = run(NON_TTY, chunksOf(body, size));
    assert.deepEqual(r.lines, [
      line('stdout', '2026-11-28T17:43:56.196193500Z', 'trimmed'),
      line('stderr', '2026-11-28T17:43:57.000000000Z', 'no fraction'),
      line('stdout', '2026-11-28T17:43:58.500000000Z', 'offset'),
    ]);
    assert.deepEqual(r.errors, []);
  }
});

test('non-TTY: malformed frames are reported and skipped', () => {
  const body = Buffer.concat([
    frame(1, msg(ts(0), 'ok\n')),
    frame(7, msg(ts(1), 'unknown stream\n')),
    frame(1, msg(ts(2), 'ok2\n')),
    frame(1, 'no timestamp here\n'),
    frame(2, 'neither here\n'), // same run of bad frames: reported once
    frame(1, '2026-11-28T17:43:56.196193520Z'), // timestamp without space, then frame end
    frame(1, msg(ts(3), 'ok3\n')),
    frame(0, 'stdin?\n'),
    frame(1, ''), // empty frame: ignored
    frame(1, msg(ts(4), 'ok4\n')),
  ]);
  for (const size of [1, 6, body.length]) {
    const r = run(NON_TTY, chunksOf(body, size));
    assert.deepEqual(
      r.lines.map((l) => l.text),
      ['ok', 'ok2', 'ok3', 'ok4'],
    );
    assert.equal(r.errors.length, 3, r.errors.join('\n'));
    assert.match(r.errors[0], /unknown stream type 7/);
    assert.match(r.errors[1], /does not start with a timestamp \("no"\)/);
    assert.match(r.errors[2], /stdin/);
  }
});

test('non-TTY: garbage where a header should be: report once, resynchronise on the next frame', () => {
  const body = Buffer.concat([
    frame(1, msg(ts(0), 'before\n')),
    Buffer.from('this is not a frame header at all, and it goes on for a while\n'),
    frame(2, msg(ts(1), 'after\n')),
    frame(1, msg(ts(2), 'after2\n')),
  ]);
  for (const size of [1, 3, 10, 40, body.length]) {
    const r = run(NON_TTY, chunksOf(body, size));
    assert.deepEqual(
      r.lines.map((l) => `${l.stream}:${l.text}`),
      ['stdout:before', 'stderr:after', 'stdout:after2'],
      `chunk size ${size}`,
    );
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0], /invalid frame header at byte 46 \(74 68 69 73 20 69 73 20\)/);
  }
  // A TTY body read as multiplexed: one report, no lines, no throw.
  const r = run(NON_TTY, [encodeTty([{ stream: 'stdout', ts: ts(0), payload: Buffer.from('hi\r\n') }])]);
  assert.deepEqual(r.lines, []);
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0], /TTY/);
});

test('non-TTY: the stream ending inside a frame is reported; what arrived is emitted', () => {
  const body = frame(1, msg(ts(0), 'complete line\n'));
  const cut = run(NON_TTY, [body.subarray(0, body.length - 5)]);
  assert.deepEqual(cut.lines, [{ ...line('stdout', ts(0), 'complete '), size: 9 }]);
  assert.equal(cut.errors.length, 1);
  assert.match(cut.errors[0], /ended inside the frame at byte 0 \(5 of 45 bytes missing\)/);
  const inHeader = run(NON_TTY, [Buffer.concat([body, body.subarray(0, 3)])]);
  assert.equal(inHeader.lines.length, 1);
  assert.match(inHeader.errors[0], /inside a frame header \(3 of 8 bytes\)/);
});

// ---------------------------------------------------------------------------------------------
// TTY
// ---------------------------------------------------------------------------------------------

test('TTY: the \\r\\n line end (and a program\'s own \\r before it) is stripped; only stdout lines', () => {
  const body = Buffer.from(`${ts(0)} hello\r\n${ts(1)} \r\n${ts(2)} bare lf\n${ts(3)} wrote crlf\r\r\n${ts(4)} mid\rdle\r\n`);
  for (const size of [1, 2, 30, 31, 32, body.length]) {
    const r = run(TTY, chunksOf(body, size));
    assert.deepEqual(r.lines, [
      line('stdout', ts(0), 'hello'),
      line('stdout', ts(1), ''),
      line('stdout', ts(2), 'bare lf'),
      line('stdout', ts(3), 'wrote crlf'),
      line('stdout', ts(4), 'mid\rdle'),
    ]);
    assert.deepEqual(r.errors, []);
  }
});

test('TTY: a 40 000-byte line has continuation timestamps at 16415 and 32830', () => {
  const content = 'x'.repeat(39_999) + 'y';
  const t = ts(0);
  const written = Buffer.from(content + '\r\n');
  const body = Buffer.concat([...dockerPieces(written).map((p) => msg(t, p)), msg(ts(1), 'next\r\n')]);
  assert.equal(body.toString('latin1', 16415, 16415 + 30), t);
  assert.equal(body.toString('latin1', 32830, 32830 + 30), t);
  for (const size of [1, 31, 1000, 16_415, 16_416, 65_536, body.length]) {
    const r = run(TTY, chunksOf(body, size));
    assert.deepEqual(r.lines, [line('stdout', t, content, { pieces: 3 }), line('stdout', ts(1), 'next')], `chunk size ${size}`);
  }
});

test('TTY: the \\r of \\r\\n can end one piece and the \\n start the next', () => {
  const t = ts(0);
  const content = 'q'.repeat(PIECE - 1);
  const body = Buffer.concat([msg(t, content + '\r'), msg(t, '\n'), msg(ts(1), 'after\r\n')]);
  for (const size of [1, 100, body.length]) {
    assert.deepEqual(run(TTY, chunksOf(body, size)).lines, [line('stdout', t, content, { pieces: 2 }), line('stdout', ts(1), 'after')]);
  }
});

test('TTY: last line without newline, including one of exactly 16384 bytes', () => {
  const r = run(TTY, [Buffer.from(`${ts(0)} a\r\n${ts(1)} last`)], { end: false });
  assert.deepEqual(r.lines, [line('stdout', ts(0), 'a')], 'unknown until the stream ends');
  const r2 = run(TTY, [Buffer.from(`${ts(0)} a\r\n${ts(1)} last`)]);
  assert.deepEqual(r2.lines, [line('stdout', ts(0), 'a'), line('stdout', ts(1), 'last')]);
  const exact = 'z'.repeat(PIECE);
  // Followed by nothing, by fewer than 31 bytes, or by another message (a restarted container).
  assert.deepEqual(run(TTY, [msg(ts(2), exact)]).lines, [line('stdout', ts(2), exact)]);
  assert.deepEqual(run(TTY, [msg(ts(2), exact + 'tail')]).lines, [line('stdout', ts(2), exact + 'tail')]);
  assert.deepEqual(run(TTY, chunksOf(Buffer.concat([msg(ts(2), exact), msg(ts(3), 'new\r\n')]), 7)).lines, [
    line('stdout', ts(2), exact),
    line('stdout', ts(3), 'new'),
  ]);
});

test('TTY: bytes after 16384 that are not the same timestamp are payload', () => {
  const t = ts(0);
  const tail = 'not a timestamp, just text that continues the line';
  const body = Buffer.from(`${t} ${'p'.repeat(PIECE)}${tail}\r\n`);
  for (const size of [1, 16_400, body.length]) {
    assert.deepEqual(run(TTY, chunksOf(body, size)).lines, [line('stdout', t, 'p'.repeat(PIECE) + tail)]);
  }
});

test('TTY: a timestamp at the start of a message may have a trimmed fraction', () => {
  const r = run(TTY, chunksOf(Buffer.from('2026-11-28T17:43:56.19Z short\r\n2026-11-28T17:43:57Z none\r\n'), 5));
  assert.deepEqual(r.lines, [line('stdout', '2026-11-28T17:43:56.190000000Z', 'short'), line('stdout', '2026-11-28T17:43:57.000000000Z', 'none')]);
});

test('TTY: data without timestamp is reported once and kept as a line with the previous timestamp', () => {
  const body = Buffer.from(`${ts(0)} good\r\ngarbage one\r\ngarbage two\r\n${ts(1)} good again\r\nmore garbage\n`);
  for (const size of [1, 4, body.length]) {
    const r = run(TTY, chunksOf(body, size));
    assert.deepEqual(r.lines, [
      line('stdout', ts(0), 'good'),
      line('stdout', ts(0), 'garbage one'),
      line('stdout', ts(0), 'garbage two'),
      line('stdout', ts(1), 'good again'),
      line('stdout', ts(1), 'more garbage'),
    ]);
    assert.equal(r.errors.length, 2, r.errors.join('\n'));
    assert.match(r.errors[0], /without a timestamp: "garbage one"/);
    assert.match(r.errors[1], /"more garbage"/);
  }
  // The engine's own error text in a TTY body is a daemon error, not a line.
  const e = run(TTY, [Buffer.from(`${ts(0)} good\r\nError grabbing logs: unexpected EOF\n${ts(1)} ok\r\n`)]);
  assert.deepEqual(
    e.lines.map((l) => l.text),
    ['good', 'ok'],
  );
  assert.deepEqual(e.errors, ['Error grabbing logs: unexpected EOF']);
  // A multiplexed body read as TTY: reported with a hint, never thrown.
  const m = run(TTY, [frame(1, msg(ts(0), 'x\n'))]);
  assert.match(m.errors[0], /multiplexed/);
});

// ---------------------------------------------------------------------------------------------
// Size limit and memory
// ---------------------------------------------------------------------------------------------

test('a line longer than maxLogSize is cut at a character boundary; size is the real size', () => {
  const options: FramerOptions = { tty: false, maxLogSize: 1024 };
  const text = '€'.repeat(400); // 1200 bytes; 1024 is in the middle of a character
  for (const size of [1, 50, 1 << 16]) {
    const r = run(options, chunksOf(frame(1, msg(ts(0), text + '\n')), size));
    assert.equal(r.lines.length, 1);
    assert.equal(r.lines[0].text, '€'.repeat(341));
    assert.equal(r.lines[0].truncated, true);
    assert.equal(r.lines[0].size, 1200);
  }
  const exact = run(options, [frame(1, msg(ts(0), 'a'.repeat(1024) + '\n'))]).lines[0];
  assert.equal(exact.truncated, false);
  assert.equal(exact.text.length, 1024);
  const tty = run({ tty: true, maxLogSize: 1024 }, [Buffer.from(`${ts(0)} ${text}\r\n`)]).lines[0];
  assert.deepEqual(tty, { stream: 'stdout', timestamp: ts(0), text: '€'.repeat(341), truncated: true, size: 1200, pieces: 1 });
});

test('maxLogSize must be at least 1024', () => {
  assert.throws(() => new LogFramer({ tty: false, maxLogSize: 1023 }, { line: () => undefined, daemonError: () => undefined }), RangeError);
});

const TEN_MB = 10_000_000;
const MAX = 100_001; // odd: the cut falls inside a 3-byte character
/** 10 MB of 3-byte characters (raw: piece boundaries cut characters, as the local driver stores them). */
function tenMegabytes(): Buffer {
  return Buffer.from('€'.repeat(Math.ceil(TEN_MB / 3))).subarray(0, TEN_MB);
}

function assertTenMbLine(r: Run, stream: IoStream, t: string, pieces: number): void {
  assert.equal(r.lines.length, 1);
  const l = r.lines[0];
  assert.equal(l.stream, stream);
  assert.equal(l.timestamp, t);
  assert.equal(l.truncated, true);
  assert.equal(l.size, TEN_MB);
  assert.equal(l.pieces, pieces);
  assert.equal(l.text, '€'.repeat(Math.floor(MAX / 3)));
  assert.ok(r.maxPending <= MAX + 64, `held ${r.maxPending} bytes`);
}

test('a 10 MB line in 16 KiB pieces: one truncated line, bounded memory (non-TTY)', () => {
  const content = tenMegabytes();
  const t = ts(0);
  const body = Buffer.concat(dockerPieces(content).map((p) => frame(2, msg(t, p))));
  // The last piece is shorter than 16 KiB: the line completes without end().
  const r = run({ tty: false, maxLogSize: MAX }, chunksOf(body, 65_536), { end: false });
  assertTenMbLine(r, 'stderr', t, Math.ceil(TEN_MB / PIECE));
});

test('a 10 MB line in one giant frame: processed as it arrives, bounded memory', () => {
  const t = ts(0);
  const body = frame(1, msg(t, tenMegabytes()));
  const r = run({ tty: false, maxLogSize: MAX }, chunksOf(body, 65_536));
  assertTenMbLine(r, 'stdout', t, 1);
});

test('a 10 MB line without newline in TTY mode, in 64 KiB chunks and in a single chunk', () => {
  const t = ts(0);
  const body = Buffer.concat(dockerPieces(tenMegabytes()).map((p) => msg(t, p)));
  assertTenMbLine(run({ tty: true, maxLogSize: MAX }, chunksOf(body, 65_536)), 'stdout', t, Math.ceil(TEN_MB / PIECE));
  const started = process.hrtime.bigint();
  assertTenMbLine(run({ tty: true, maxLogSize: MAX }, [body]), 'stdout', t, Math.ceil(TEN_MB / PIECE));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.ok(ms < 2000, `single 10 MB chunk took ${ms} ms (quadratic newline search?)`);
});

test('pendingBytes counts held bytes and drops to 0 after complete lines', () => {
  const framer = new LogFramer(NON_TTY, { line: () => undefined, daemonError: () => undefined });
  const body = frame(1, msg(ts(0), 'hello world\n'));
  framer.push(body.subarray(0, 3));
  assert.equal(framer.pendingBytes, 3);
  framer.push(body.subarray(3, 45));
  assert.equal(framer.pendingBytes, 6, 'the 6 message bytes of this chunk');
  framer.push(body.subarray(45));
  assert.equal(framer.pendingBytes, 0);
});

test('reset() discards partial state; the next bytes start a fresh stream', () => {
  for (const options of [NON_TTY, TTY]) {
    const lines: LogLine[] = [];
    const errors: string[] = [];
    const framer = new LogFramer(options, { line: (l) => lines.push(checked(l)), daemonError: (m) => errors.push(m) });
    const encode = options.tty ? encodeTty : encodeMux;
    const t = ts(0);
    // A pending first piece, then an aborted stream in the middle of the next frame.
    const partial = encode([
      { stream: 'stdout', ts: t, payload: Buffer.from('a'.repeat(PIECE)) },
      { stream: 'stdout', ts: t, payload: Buffer.from('bbbb') },
    ]);
    framer.push(partial.subarray(0, partial.length - 2));
    assert.ok(framer.pendingBytes > 0);
    framer.reset();
    assert.equal(framer.pendingBytes, 0);
    // The caller re-reads from the start of that line.
    const terminator = options.tty ? '\r\n' : '\n';
    const again = encode([
      { stream: 'stdout', ts: t, payload: Buffer.from('a'.repeat(PIECE)) },
      { stream: 'stdout', ts: t, payload: Buffer.from('bbbb' + terminator) },
    ]);
    framer.push(again);
    framer.end();
    assert.deepEqual(lines, [line('stdout', t, 'a'.repeat(PIECE) + 'bbbb', { pieces: 2 })]);
    assert.deepEqual(errors, []);
    // A header split by the abort is forgotten too.
    if (!options.tty) {
      lines.length = 0;
      framer.push(frame(1, msg(ts(1), 'x\n')).subarray(0, 5));
      framer.reset();
      framer.push(frame(1, msg(ts(2), 'y\n')));
      assert.deepEqual(lines, [line('stdout', ts(2), 'y')]);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

// node:test does not print an error's `cause`: put the failing assertion in fast-check's report.
fc.configureGlobal({ includeErrorInReport: true });

/** Line content: short text (any unicode), raw bytes (often invalid UTF-8), or long lines near piece sizes. */
const contentArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }).map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) },
  {
    weight: 1,
    arbitrary: fc
      .record({
        unit: fc.oneof(
          fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }).map((s) => Buffer.from(s)),
          fc.uint8Array({ minLength: 1, maxLength: 4 }).map((a) => Buffer.from(a)),
        ),
        lead: fc.nat({ max: 3 }),
        length: fc.oneof(fc.constantFrom(PIECE - 2, PIECE - 1, PIECE, PIECE + 1, 2 * PIECE - 1, 2 * PIECE, 2 * PIECE + 1), fc.integer({ min: 1, max: 45_000 })),
      })
      .map(({ unit, lead, length }) => {
        const out = Buffer.alloc(length, 0x61);
        for (let i = lead; i < length; i += unit.length) unit.copy(out, i, 0, Math.min(unit.length, length - i));
        return out;
      }),
  },
).map((b) => {
  // A newline would end the line: the program wrote lines, not arbitrary bytes.
  for (let i = 0; i < b.length; i++) if (b[i] === 0x0a) b[i] = 0x20;
  return b;
});

/** Lines as written; only each stream's last line may lack a newline (and must then be non-empty). */
function writtenArb(tty: boolean): fc.Arbitrary<Written[]> {
  return fc
    .array(fc.record({ stream: tty ? fc.constant<IoStream>('stdout') : fc.constantFrom<IoStream>('stdout', 'stderr'), content: contentArb, newline: fc.boolean() }), { maxLength: 25 })
    .map((lines) => {
      const last = new Map<IoStream, number>();
      lines.forEach((l, i) => last.set(l.stream, i));
      return lines.map((l, i) => ({ ...l, newline: l.newline || last.get(l.stream) !== i || l.content.length === 0 }));
    });
}

/** Docker interleaves the pieces of stdout and stderr lines; each stream keeps its order. */
function interleave(perLine: Message[][], schedule: readonly boolean[]): Message[] {
  const queues: Record<IoStream, Message[]> = { stdout: [], stderr: [] };
  for (const pieces of perLine) for (const m of pieces) queues[m.stream].push(m);
  const out: Message[] = [];
  let k = 0;
  while (queues.stdout.length > 0 || queues.stderr.length > 0) {
    const pick: IoStream = queues.stderr.length === 0 ? 'stdout' : queues.stdout.length === 0 ? 'stderr' : schedule[k++ % schedule.length] ? 'stdout' : 'stderr';
    out.push(queues[pick].shift() as Message);
  }
  return out;
}

const chunkSizesArb = fc.array(fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 70_000 })), { minLength: 1, maxLength: 40 });

function byStream(lines: readonly LogLine[], stream: IoStream): LogLine[] {
  return lines.filter((l) => l.stream === stream);
}

for (const tty of [false, true]) {
  const mode = tty ? 'TTY' : 'non-TTY';
  test(`property (${mode}): every chunking yields the expected logical lines`, () => {
    fc.assert(
      fc.property(writtenArb(tty), fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }), fc.boolean(), fc.array(chunkSizesArb, { minLength: 1, maxLength: 3 }), (written, schedule, sanitize, chunkings) => {
        const { perLine, expected } = dockerMessages(written, tty, sanitize);
        const messages = tty ? perLine.flat() : interleave(perLine, schedule);
        const body = tty ? encodeTty(messages) : encodeMux(messages);
        const options: FramerOptions = { tty, maxLogSize: 1024 * 1024 };
        const whole = run(options, [body]);
        assert.deepEqual(whole.errors, []);
        if (tty) assert.deepEqual(whole.lines, expected);
        else for (const s of ['stdout', 'stderr'] as const) assert.deepEqual(byStream(whole.lines, s), byStream(expected, s));
        for (const sizes of chunkings) {
          const r = run(options, chunksBy(body, sizes));
          assert.deepEqual(r.lines, whole.lines);
          assert.deepEqual(r.errors, []);
          assert.ok(r.maxPending <= 2 * options.maxLogSize + 64);
        }
      }),
      { numRuns: 150 },
    );
  });

  test(`property (${mode}): 1-byte chunks give the same lines as the whole buffer`, () => {
    fc.assert(
      fc.property(writtenArb(tty), fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }), (written, schedule) => {
        const { perLine } = dockerMessages(written, tty, true);
        const messages = tty ? perLine.flat() : interleave(perLine, schedule);
        const body = tty ? encodeTty(messages) : encodeMux(messages);
        assert.deepEqual(output(run(tty ? TTY : NON_TTY, chunksOf(body, 1))), output(run(tty ? TTY : NON_TTY, [body])));
      }),
      { numRuns: 40 },
    );
  });

  test(`property (${mode}): truncation keeps a character-aligned prefix within maxLogSize`, () => {
    fc.assert(
      fc.property(writtenArb(tty), fc.integer({ min: 1024, max: 40_000 }), chunkSizesArb, (written, maxLogSize, sizes) => {
        const { perLine, expected } = dockerMessages(written, tty, true); // sanitized: valid UTF-8
        const messages = perLine.flat();
        const body = tty ? encodeTty(messages) : encodeMux(messages);
        const r = run({ tty, maxLogSize }, chunksBy(body, sizes));
        // A stream's final full-size piece waits for end(): compare stream by stream.
        for (const stream of ['stdout', 'stderr'] as const) {
          const got = byStream(r.lines, stream);
          const want = byStream(expected, stream).map((w) => {
            const full = Buffer.from(w.text);
            let cut = full.length;
            if (full.length > maxLogSize) {
              cut = maxLogSize;
              while (cut > 0 && (full[cut] & 0xc0) === 0x80) cut--;
            }
            return { ...w, text: full.subarray(0, cut).toString(), truncated: w.size > maxLogSize };
          });
          assert.deepEqual(got, want);
        }
        assert.ok(r.maxPending <= 2 * maxLogSize + 64);
      }),
      { numRuns: 100 },
    );
  });

  test(`property (${mode}): arbitrary or corrupted bytes never throw and memory stays bounded`, () => {
    const corrupted = fc
      .record({ written: writtenArb(tty), flips: fc.array(fc.record({ at: fc.nat(), value: fc.nat({ max: 255 }) }), { maxLength: 8 }) })
      .map(({ written, flips }) => {
        const body = Buffer.from(tty ? encodeTty(dockerMessages(written, tty, true).perLine.flat()) : encodeMux(dockerMessages(written, tty, true).perLine.flat()));
        for (const f of flips) if (body.length > 0) body[f.at % body.length] = f.value;
        return body;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)), corrupted), chunkSizesArb, (body, sizes) => {
        const options: FramerOptions = { tty, maxLogSize: 1024 };
        const r = run(options, chunksBy(body, sizes));
        assert.ok(r.maxPending <= 2 * 1024 + 64 + 8192);
        for (const l of r.lines) {
          assert.match(l.timestamp, FIXED_RE);
          assert.ok(l.pieces >= 1);
          assert.equal(l.truncated, l.size > 1024);
        }
        // Chunking never changes the outcome, even for garbage. (Garbage before any timestamp
        // gets the wall-clock time, which may tick between two runs: mask it.)
        const text = body.toString('latin1');
        const masked = (x: Run): { lines: LogLine[]; errors: string[] } => ({
          lines: x.lines.map((l) => (text.includes(l.timestamp) ? l : { ...l, timestamp: 'now' })),
          errors: x.errors,
        });
        assert.deepEqual(masked(run(options, [body])), masked(r));
      }),
      { numRuns: 300 },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// Real engine
// ---------------------------------------------------------------------------------------------

const SOCKET = process.env.DOCKER_HOST?.startsWith('unix://') ? process.env.DOCKER_HOST.slice('unix://'.length) : '/var/run/docker.sock';
const containers: string[] = [];

after(() => {
  for (const id of containers) {
    try {
      execFileSync('docker', ['rm', '-f', id], { stdio: 'ignore' });
    } catch {
      // Already gone, or no engine: nothing to clean.
    }
  }
});

function engineGet(path: string): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: SOCKET, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(chunks) : reject(new Error(`GET ${path}: HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString()}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.end();
  });
}

async function requireEngine(): Promise<void> {
  try {
    await engineGet('/_ping');
  } catch (err) {
    assert.fail(`no Docker engine answers on ${SOCKET} (${(err as Error).message}); start one with \`sh scripts/ensure-engine.sh\``);
  }
}

/** stdout and stderr, \r\n, a 40 000-byte line, é cut at 16 KiB, and a last line without newline. */
const SCRIPT = [
  'echo first',
  'echo oops >&2',
  "printf 'crlf\\r\\n'",
  "head -c 40000 /dev/zero | tr '\\0' x; echo",
  "printf 'caf\\303\\251\\n'",
  "head -c 16383 /dev/zero | tr '\\0' a; printf '\\303\\251 end\\n'",
  "printf 'tail'",
].join('; ');

async function engineLines(tty: boolean): Promise<{ chunked: Run; whole: Run }> {
  const name = `dlr-framer-test-${process.pid}-${tty ? 'tty' : 'plain'}`;
  const args = ['run', '-d', '--network', 'none', '--name', name, ...(tty ? ['-t'] : []), 'dlr-busybox', 'sh', '-c', SCRIPT];
  containers.push(name);
  execFileSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
  execFileSync('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  execFileSync('docker', ['wait', name], { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks = await engineGet(`/containers/${name}/logs?stdout=1&stderr=1&timestamps=1`);
  const options: FramerOptions = { tty, maxLogSize: 1024 * 1024 };
  return { chunked: run(options, chunks), whole: run(options, [Buffer.concat(chunks)]) };
}

const ENGINE_STDOUT = ['first', 'crlf\r', 'x'.repeat(40_000), 'café', 'a'.repeat(PIECE - 1) + '\uFFFD\uFFFD end', 'tail'];

test('engine: a non-TTY container', async () => {
  await requireEngine();
  const { chunked, whole } = await engineLines(false);
  assert.deepEqual(output(chunked), output(whole));
  assert.deepEqual(chunked.errors, []);
  const out = byStream(chunked.lines, 'stdout');
  assert.deepEqual(
    out.map((l) => l.text),
    ENGINE_STDOUT,
  );
  assert.deepEqual(
    out.map((l) => l.pieces),
    [1, 1, 3, 1, 2, 1],
  );
  assert.equal(out[2].size, 40_000);
  assert.deepEqual(
    byStream(chunked.lines, 'stderr').map((l) => l.text),
    ['oops'],
  );
  for (const l of chunked.lines) assert.match(l.timestamp, FIXED_RE);
  // Timestamps increase within a stream.
  for (let i = 1; i < out.length; i++) assert.ok(out[i - 1].timestamp < out[i].timestamp);
});

test('engine: a TTY container', async () => {
  await requireEngine();
  const { chunked, whole } = await engineLines(true);
  assert.deepEqual(output(chunked), output(whole));
  assert.deepEqual(chunked.errors, []);
  assert.ok(chunked.lines.every((l) => l.stream === 'stdout'));
  // A TTY serialises both streams in write order.
  assert.deepEqual(
    chunked.lines.map((l) => l.text),
    // The program's own \r before the terminal's \r\n goes with the line ending.
    ['first', 'oops', 'crlf', ...ENGINE_STDOUT.slice(2)],
  );
  assert.deepEqual(
    chunked.lines.map((l) => l.pieces),
    [1, 1, 1, 3, 1, 2, 1],
  );
});
