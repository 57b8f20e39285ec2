import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';

import { JsonFileParser, MAX_JSON_LINE } from '../../src/files/json-file-parser.js';
import type { FileLine } from '../../src/files/json-file-parser.js';
import { DOCKER_PARTIAL_SIZE, LogFramer } from '../../src/framing/log-framer.js';
import type { IoStream, LogLine } from '../../src/framing/log-framer.js';
import { fromHrTime } from '../../src/framing/timestamp.js';

// ---------------------------------------------------------------------------------------------
// Helpers: write bytes exactly as the json-file driver does
// ---------------------------------------------------------------------------------------------

const PIECE = DOCKER_PARTIAL_SIZE;
const BIG = 1024 * 1024;

/** Distinct, increasing fixed timestamps; some have trailing zeros in the fraction (trimmed in the file). */
function ts(i: number): string {
  const nanos = [196_193_520, 100_000_000, 0, 5, 123_456_789, 120_000_000][i % 6];
  return fromHrTime([1_795_887_836 + i, nanos]);
}

/** Go's RFC3339Nano: the fraction's trailing zeros are trimmed, and the dot with them. */
function goTime(fixed: string): string {
  return fixed.replace(/\.?0+Z$/, 'Z');
}

/** The brief's model of Go's encoder: JSON.stringify plus \u escapes for < > & (and U+2028/U+2029). */
function stringifyLikeGo(text: string): string {
  return JSON.stringify(text).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

/**
 * A byte-exact port of moby's ffjsonWriteJSONBytesAsString (jsonlogbytes.go): short escapes only
 * for `"` `\` `\n` `\r`; `\u00XX` for other control bytes and < > &; `\ufffd` per invalid byte;
 * `\u2028`/`\u2029`; valid multibyte UTF-8 as is.
 */
function ffjsonString(bytes: Buffer): string {
  const hex = '0123456789abcdef';
  let out = '"';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i];
    if (b < 0x80) {
      if (b >= 0x20 && b !== 0x5c && b !== 0x22 && b !== 0x3c && b !== 0x3e && b !== 0x26) out += String.fromCharCode(b);
      else if (b === 0x5c || b === 0x22) out += '\\' + String.fromCharCode(b);
      else if (b === 0x0a) out += '\\n';
      else if (b === 0x0d) out += '\\r';
      else out += '\\u00' + hex[b >> 4] + hex[b & 0xf];
      i++;
      continue;
    }
    const n = validSequenceLength(bytes, i);
    if (n === 0) {
      out += '\\ufffd';
      i++;
      continue;
    }
    const ch = bytes.toString('utf8', i, i + n);
    out += ch === '\u2028' ? '\\u2028' : ch === '\u2029' ? '\\u2029' : ch;
    i += n;
  }
  return out + '"';
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

/** What the driver stores for one piece: every invalid byte becomes U+FFFD. */
function goSanitize(b: Buffer): Buffer {
  const parts: Buffer[] = [];
  let i = 0;
  let start = 0;
  while (i < b.length) {
    const n = validSequenceLength(b, i);
    if (n === 0) {
      parts.push(b.subarray(start, i), Buffer.from([0xef, 0xbf, 0xbd]));
      i++;
      start = i;
    } else {
      i += n;
    }
  }
  parts.push(b.subarray(start));
  return Buffer.concat(parts);
}

type Encoder = 'stringify' | 'ffjson';

/** One json-file line for one message (a piece of what the program wrote). */
function jsonLine(stream: IoStream, fixedTs: string, piece: Buffer, encoder: Encoder = 'stringify', attrs = ''): string {
  const log = encoder === 'ffjson' ? ffjsonString(piece) : stringifyLikeGo(goSanitize(piece).toString('utf8'));
  const head = piece.length === 0 ? '{' : `{"log":${log},`;
  return `${head}"stream":"${stream}",${attrs}"time":"${goTime(fixedTs)}"}\n`;
}

interface Written {
  stream: IoStream;
  /** What the program wrote for this line, without the newline. */
  content: Buffer;
  newline: boolean;
}

interface Message {
  stream: IoStream;
  ts: string;
  /** Raw bytes of the piece (before the driver's sanitising). */
  raw: Buffer;
}

/** Docker's copier: a line longer than 16 KiB becomes 16 KiB messages sharing the first one's timestamp. */
function messagesOf(lines: readonly Written[]): Message[][] {
  return lines.map((l, i) => {
    const written = l.newline ? Buffer.concat([l.content, Buffer.from('\n')]) : l.content;
    const out: Message[] = [];
    for (let k = 0; k < written.length; k += PIECE) out.push({ stream: l.stream, ts: ts(i), raw: written.subarray(k, k + PIECE) });
    if (out.length === 0) out.push({ stream: l.stream, ts: ts(i), raw: Buffer.alloc(0) });
    return out;
  });
}

/** Stdout and stderr pieces interleave freely; each stream keeps its order. */
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

function fileOf(messages: readonly Message[], encoder: Encoder = 'stringify', attrs = ''): Buffer {
  return Buffer.from(messages.map((m) => jsonLine(m.stream, m.ts, m.raw, encoder, attrs)).join(''), 'utf8');
}

/** The same messages as the Engine API body (non-TTY multiplexed frames) that LogFramer reads. */
/** The Engine API body of a TTY container: `TS␠payload` messages, concatenated. */
function apiTtyBodyOf(messages: readonly Message[]): Buffer {
  return Buffer.concat(messages.map((m) => Buffer.concat([Buffer.from(m.ts + ' ', 'latin1'), goSanitize(m.raw)])));
}

function apiBodyOf(messages: readonly Message[]): Buffer {
  return Buffer.concat(
    messages.map((m) => {
      const payload = Buffer.concat([Buffer.from(m.ts + ' ', 'latin1'), goSanitize(m.raw)]);
      const header = Buffer.alloc(8);
      header[0] = m.stream === 'stdout' ? 1 : 2;
      header.writeUInt32BE(payload.length, 4);
      return Buffer.concat([header, payload]);
    }),
  );
}

interface Run {
  lines: FileLine[];
  malformed: Array<[number, string]>;
  maxPending: number;
}

function parse(chunks: Iterable<Buffer>, opts: { maxLogSize?: number; startOffset?: number; end?: boolean; tty?: boolean } = {}): Run {
  const r: Run = { lines: [], malformed: [], maxPending: 0 };
  const parser = new JsonFileParser(
    { maxLogSize: opts.maxLogSize ?? BIG, startOffset: opts.startOffset ?? 0, tty: opts.tty },
    { line: (l) => r.lines.push(l), malformed: (offset, reason) => r.malformed.push([offset, reason]) },
  );
  for (const c of chunks) {
    parser.push(c);
    r.maxPending = Math.max(r.maxPending, parser.pendingBytes);
  }
  if (opts.end !== false) parser.end();
  return r;
}

function framerLines(body: Buffer, maxLogSize = BIG, tty = false): LogLine[] {
  const lines: LogLine[] = [];
  // Without `time`: the parser leaves the conversion to the record (log-framer.test checks the framer's).
  const framer = new LogFramer({ tty, maxLogSize }, { line: ({ time: _time, ...l }) => lines.push(l), daemonError: (m) => assert.fail(m) });
  framer.push(body);
  framer.end();
  return lines;
}

/** The LogLine part (what LogFramer gives too). */
function plain(l: FileLine): LogLine {
  return { stream: l.stream, timestamp: l.timestamp, text: l.text, truncated: l.truncated, size: l.size, pieces: l.pieces };
}

function* chunksOf(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

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

/** Runs fn with JSON.parse counted (the parser's fallback); fn gets the count so far. */
function withJsonParseCount<T>(fn: (count: () => number) => T): T {
  const original = JSON.parse;
  let calls = 0;
  JSON.parse = ((text: string, reviver?: (this: unknown, key: string, value: unknown) => unknown) => {
    calls++;
    return original(text, reviver) as unknown;
  }) as typeof JSON.parse;
  try {
    return fn(() => calls);
  } finally {
    JSON.parse = original;
  }
}

// ---------------------------------------------------------------------------------------------
// Examples (the first ones are verbatim from a real Docker 20.10 json-file log)
// ---------------------------------------------------------------------------------------------

test('real json-file lines: escapes, \\ufffd, trimmed times, attrs, a final line without newline', () => {
  const file = [
    '{"log":"4999\\n","stream":"stdout","time":"2026-11-28T18:20:09.523438336Z"}\n',
    '{"log":"tab\\u0009here \\u003c\\u003e\\u0026 \\"q\\" \\\\ \\u0001 \\u2028 x\\n","stream":"stdout","time":"2026-11-28T18:20:09.52344141Z"}\n',
    '{"log":"\\ufffd\\ufffdbad\\n","stream":"stdout","time":"2026-11-28T18:20:09.523444325Z"}\n',
    '{"log":"err\\n","stream":"stderr","time":"2026-11-28T18:20:09.6Z"}\n',
    '{"log":"nonl","stream":"stdout","time":"2026-11-28T18:20:09.707353792Z"}\n',
    '{"log":"hi\\n","stream":"stdout","attrs":{"FOO":"b\\"r","app":"x"},"time":"2026-11-28T18:20:16Z"}\n',
    '{"stream":"stderr","time":"2026-11-28T18:20:17.000000001Z"}\n',
  ].join('');
  const expected = [
    line('stdout', '2026-11-28T18:20:09.523438336Z', '4999'),
    line('stdout', '2026-11-28T18:20:09.523441410Z', 'tab\there <>& "q" \\ \u0001 \u2028 x'),
    line('stdout', '2026-11-28T18:20:09.523444325Z', '\ufffd\ufffdbad'),
    line('stderr', '2026-11-28T18:20:09.600000000Z', 'err'),
    line('stdout', '2026-11-28T18:20:09.707353792Z', 'nonl'),
    line('stdout', '2026-11-28T18:20:16.000000000Z', 'hi'),
    line('stderr', '2026-11-28T18:20:17.000000001Z', ''),
  ];
  const buf = Buffer.from(file);
  for (const size of [1, 2, 3, 7, 8, 9, 30, 64, 100, buf.length]) {
    // Only the entry without "log" (an empty message) is not in the fast path's shape.
    const r = withJsonParseCount((count) => {
      const result = parse(chunksOf(buf, size));
      assert.equal(count(), 1);
      return result;
    });
    assert.deepEqual(r.lines.map(plain), expected, `chunk size ${size}`);
    assert.deepEqual(r.malformed, []);
  }
});

test('endOffset is just after each line; parsing again from it gives exactly the rest', () => {
  const messages: Message[] = [0, 1, 2, 3, 4].map((i) => ({ stream: i % 2 === 0 ? 'stdout' : 'stderr', ts: ts(i), raw: Buffer.from(`line ${i} é\n`) }));
  const file = fileOf(messages);
  const whole = parse([file]).lines;
  let at = 0;
  for (const l of whole) {
    at = file.indexOf(0x0a, at) + 1;
    assert.equal(l.endOffset, at);
    assert.equal(l.resumeOffset, at);
  }
  for (let k = 0; k < whole.length; k++) {
    const from = whole[k].endOffset;
    const rest = parse([file.subarray(from)], { startOffset: from }).lines;
    assert.deepEqual(rest, whole.slice(k + 1));
  }
});

test('a long line split like Docker does is merged, with pieces counted and offsets at its last piece', () => {
  const content = Buffer.from('x'.repeat(40_000));
  const perLine = messagesOf([
    { stream: 'stdout', content, newline: true },
    { stream: 'stderr', content: Buffer.from('between'), newline: true },
  ]);
  // stderr's line lands between the first and second stdout pieces.
  const messages = [perLine[0][0], perLine[1][0], perLine[0][1], perLine[0][2]];
  const file = fileOf(messages);
  const offsets: number[] = [];
  for (let at = 0; at < file.length; at = file.indexOf(0x0a, at) + 1) offsets.push(at);
  const r = parse([file]);
  assert.deepEqual(r.lines.map(plain), [line('stderr', ts(1), 'between'), line('stdout', ts(0), content.toString(), { pieces: 3 })]);
  // stderr's line came while stdout's line was pending from offset 0: resuming there loses nothing.
  assert.equal(r.lines[0].endOffset, offsets[2]);
  assert.equal(r.lines[0].resumeOffset, 0);
  assert.equal(r.lines[1].endOffset, file.length);
  assert.equal(r.lines[1].resumeOffset, file.length);
  assert.deepEqual(framerLines(apiBodyOf(messages)), r.lines.map(plain));
});

test('a full-size final piece without newline is emitted when another message of its stream comes (or at end)', () => {
  const a = Buffer.from('a'.repeat(PIECE));
  const file = Buffer.from(jsonLine('stdout', ts(0), a) + jsonLine('stdout', ts(1), Buffer.from('next\n')));
  const r = parse([file], { end: false });
  assert.deepEqual(r.lines.map(plain), [line('stdout', ts(0), a.toString()), line('stdout', ts(1), 'next')]);
  assert.equal(r.lines[0].endOffset, file.indexOf(0x0a) + 1);
  const pending = parse([file.subarray(0, file.indexOf(0x0a) + 1)], { end: false });
  assert.deepEqual(pending.lines, []);
  assert.equal(pending.maxPending, PIECE);
  const ended = parse([file.subarray(0, file.indexOf(0x0a) + 1)]);
  assert.deepEqual(ended.lines.map(plain), [line('stdout', ts(0), a.toString())]);
});

test('max_log_size: cut at a UTF-8 boundary, truncated set, size is the real size, memory bounded', () => {
  const content = Buffer.from('é'.repeat(30_000)); // 60 000 bytes, 4 pieces, some cut mid-character
  const messages = messagesOf([{ stream: 'stdout', content, newline: true }]).flat();
  const file = fileOf(messages);
  for (const maxLogSize of [1024, 1025, 16_385, 50_001]) {
    const r = parse(chunksOf(file, 4096), { maxLogSize });
    const want = framerLines(apiBodyOf(messages), maxLogSize);
    assert.deepEqual(r.lines.map(plain), want);
    const l = r.lines[0];
    assert.equal(l.truncated, true);
    assert.ok(Buffer.byteLength(l.text) <= maxLogSize);
    assert.equal(l.size, content.length);
    assert.ok(r.maxPending <= maxLogSize + 100_000);
  }
  // Short lines are cut too.
  const short = parse([Buffer.from(jsonLine('stderr', ts(0), Buffer.from('ü'.repeat(600) + '\n')))], { maxLogSize: 1024 });
  assert.deepEqual(short.lines.map(plain), [line('stderr', ts(0), 'ü'.repeat(512), { truncated: true, size: 1200 })]);
});

test('malformed lines are reported with their offset and skipped; parsing goes on', () => {
  const good = jsonLine('stdout', ts(0), Buffer.from('ok\n'));
  const bad = [
    'garbage\n',
    '\n',
    '{"log":"x\\n","stream":"stdin","time":"2026-11-28T18:20:09Z"}\n',
    '{"log":"x\\n","stream":"stdout","time":"2026-13-28T18:20:09Z"}\n',
    '{"log":"x\\n","stream":"stdout","time":"2026-11-28T18:20:09."}\n',
    '{"log":"x\\q","stream":"stdout","time":"2026-11-28T18:20:09Z"}\n',
    '{"log":"x\n',
    '[1,2]\n',
    '{"log":"a\u0001b\\n","stream":"stdout","time":"2026-11-28T18:20:09Z"}\n',
  ];
  const file = Buffer.from(bad.map((b) => b + good).join(''));
  for (const size of [1, 5, 64, file.length]) {
    const r = parse(chunksOf(file, size));
    // The raw control byte (last case) is invalid JSON: JSON.parse rejects it, so the fast path must too.
    assert.equal(r.lines.length, bad.length, `chunk size ${size}`);
    for (const l of r.lines) assert.deepEqual(plain(l), line('stdout', ts(0), 'ok'));
    let at = 0;
    const starts = bad.map((b) => {
      const s = at;
      at += Buffer.byteLength(b + good);
      return s;
    });
    assert.deepEqual(
      r.malformed.map(([o]) => o),
      starts,
    );
  }
});

test('escaped text longer than the unescape buffer, with a surrogate pair at every position around its edge', () => {
  for (let k = 2030; k < 2052; k++) {
    // Each \\" is 2 input bytes: the pair's escapes start around input byte 4060..4104.
    const log = '\\"'.repeat(k) + '\\ud83d\\ude00' + 'x'.repeat(k % 5) + '\\n';
    const file = Buffer.from(`{"log":"${log}","stream":"stdout","time":"2026-11-28T18:20:09Z"}\n`);
    const want = [line('stdout', '2026-11-28T18:20:09.000000000Z', '"'.repeat(k) + '😀' + 'x'.repeat(k % 5))];
    assert.deepEqual(parse([file]).lines.map(plain), want, `k=${k}`);
    assert.deepEqual(parse(chunksOf(file, 4099)).lines.map(plain), want, `k=${k}, chunked`);
  }
  const big = '\\"'.repeat(50_000);
  const file = Buffer.from(`{"log":"${big}\\n","stream":"stderr","time":"2026-11-28T18:20:09Z"}\n`);
  assert.deepEqual(parse(chunksOf(file, 7000)).lines.map(plain), [line('stderr', '2026-11-28T18:20:09.000000000Z', '"'.repeat(50_000))]);
});

test('TTY containers: the terminal\'s \\r\\n (and a program\'s own \\r before it) is dropped, as LogFramer does', () => {
  const file = Buffer.from(
    jsonLine('stdout', ts(0), Buffer.from('plain\r\n')) + jsonLine('stdout', ts(1), Buffer.from('own\r\r\n')) + jsonLine('stdout', ts(2), Buffer.from('mid\rdle\r\n')),
  );
  const want = [line('stdout', ts(0), 'plain'), line('stdout', ts(1), 'own'), line('stdout', ts(2), 'mid\rdle')];
  assert.deepEqual(parse([file], { tty: true }).lines.map(plain), want);
  // Without tty the \r is the program's and is kept.
  assert.equal(parse([file]).lines[0].text, 'plain\r');
  // A \r\n cut by the 16 KiB boundary: the \r ends one piece, the \n is the next.
  const content = Buffer.from('t'.repeat(PIECE - 1) + '\r\n');
  const messages: Message[] = [
    { stream: 'stdout', ts: ts(3), raw: content.subarray(0, PIECE) },
    { stream: 'stdout', ts: ts(3), raw: content.subarray(PIECE) },
  ];
  const r = parse([fileOf(messages)], { tty: true });
  assert.deepEqual(r.lines.map(plain), [line('stdout', ts(3), 't'.repeat(PIECE - 1), { pieces: 2 })]);
  assert.deepEqual(r.lines.map(plain), framerLines(apiTtyBodyOf(messages), BIG, true));
});

test('offsets in +hh:mm and other RFC 3339 forms go through normalizeTimestamp', () => {
  const file = Buffer.from('{"log":"x\\n","stream":"stdout","time":"2026-11-28T19:20:09.5+01:00"}\n');
  assert.deepEqual(parse([file]).lines.map(plain), [line('stdout', '2026-11-28T18:20:09.500000000Z', 'x')]);
});

test('a line longer than MAX_JSON_LINE is skipped without holding it, in any chunking', () => {
  const huge = Buffer.alloc(MAX_JSON_LINE + 10, 0x61);
  huge[huge.length - 1] = 0x0a;
  const good = Buffer.from(jsonLine('stdout', ts(0), Buffer.from('after\n')));
  const file = Buffer.concat([good, huge, good]);
  for (const size of [100_000, 256 * 1024, file.length]) {
    const r = parse(chunksOf(file, size));
    assert.equal(r.lines.length, 2);
    assert.deepEqual(r.malformed.map(([o]) => o), [good.length]);
    assert.ok(r.maxPending <= MAX_JSON_LINE);
    assert.equal(r.lines[1].endOffset, file.length);
  }
});

test('nextFile: a pending piece continues in the next file (resumeOffset -1); an unfinished JSON line is reported', () => {
  const content = Buffer.from('z'.repeat(PIECE + 10));
  const [[p1, p2]] = messagesOf([{ stream: 'stdout', content, newline: true }]);
  const first = fileOf([p1]);
  const second = Buffer.concat([fileOf([{ stream: 'stderr', ts: ts(5), raw: Buffer.from('e\n') }]), fileOf([p2])]);
  const lines: FileLine[] = [];
  const malformed: number[] = [];
  const parser = new JsonFileParser({ maxLogSize: BIG, startOffset: 0 }, { line: (l) => lines.push(l), malformed: (o) => malformed.push(o) });
  parser.push(first);
  parser.push(Buffer.from('{"log":"cut'));
  assert.equal(parser.resumeOffset, 0);
  parser.nextFile();
  assert.deepEqual(malformed, [first.length]);
  assert.equal(parser.resumeOffset, -1);
  parser.push(second);
  assert.deepEqual(lines.map(plain), [line('stderr', ts(5), 'e'), line('stdout', ts(0), content.toString(), { pieces: 2 })]);
  assert.equal(lines[0].resumeOffset, -1);
  assert.equal(lines[1].endOffset, second.length);
  assert.equal(lines[1].resumeOffset, second.length);
  assert.equal(parser.nextOffset, second.length);
});

test('reset discards pending state', () => {
  const piece = fileOf([{ stream: 'stdout', ts: ts(0), raw: Buffer.alloc(PIECE, 0x61) }]);
  const lines: FileLine[] = [];
  const parser = new JsonFileParser({ maxLogSize: BIG, startOffset: 0 }, { line: (l) => lines.push(l), malformed: () => assert.fail() });
  parser.push(piece);
  parser.push(Buffer.from('{"log":'));
  assert.ok(parser.pendingBytes > PIECE);
  parser.reset(1000);
  assert.equal(parser.pendingBytes, 0);
  const next = Buffer.from(jsonLine('stderr', ts(1), Buffer.from('x\n')));
  parser.push(next);
  parser.end();
  assert.deepEqual(lines.map(plain), [line('stderr', ts(1), 'x')]);
  assert.equal(lines[0].endOffset, 1000 + next.length);
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

fc.configureGlobal({ includeErrorInReport: true });

/** Text with everything an encoder must escape, plus unicode and raw (often invalid) bytes. */
const contentArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 5, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }).map((s) => Buffer.from(s)) },
  {
    weight: 3,
    arbitrary: fc
      .array(fc.constantFrom('"', '\\', '\\"', '\\\\n', '<', '>', '&', '\u0000', '\u0001', '\t', '\r', '\u001f', '\u007f', '\u2028', '\u2029', '/', 'é', '日本', '😀', 'a', ' ', '\\u0041'), { maxLength: 30 })
      .map((parts) => Buffer.from(parts.join(''))),
  },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)) },
  {
    weight: 1,
    arbitrary: fc
      .record({
        unit: fc.oneof(
          fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }).map((s) => Buffer.from(s)),
          fc.uint8Array({ minLength: 1, maxLength: 4 }).map((a) => Buffer.from(a)),
          fc.constantFrom(Buffer.from('"'), Buffer.from('\\'), Buffer.from('\u0001')),
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
  // A newline ends the line: programs write lines, not arbitrary bytes.
  for (let i = 0; i < b.length; i++) if (b[i] === 0x0a) b[i] = 0x20;
  return b;
});

/** Lines as written; only a stream's last line may lack its newline (and is then non-empty). */
const writtenArb: fc.Arbitrary<Written[]> = fc
  .array(fc.record({ stream: fc.constantFrom<IoStream>('stdout', 'stderr'), content: contentArb, newline: fc.boolean() }), { maxLength: 25 })
  .map((lines) => {
    const last = new Map<IoStream, number>();
    lines.forEach((l, i) => last.set(l.stream, i));
    return lines.map((l, i) => ({ ...l, newline: l.newline || last.get(l.stream) !== i || l.content.length === 0 }));
  });

const chunkSizesArb = fc.array(fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 70_000 })), { minLength: 1, maxLength: 40 });

const encoderArb = fc.constantFrom<Encoder>('stringify', 'ffjson');
const attrsArb = fc.constantFrom('', '"attrs":{"app":"x"},', '"attrs":{"FOO":"b\\"r}{","k\\\\":""},');

test('property: any chunking gives the same lines (and offsets) as parsing whole, and LogFramer\'s lines', () => {
  fc.assert(
    fc.property(writtenArb, fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }), encoderArb, attrsArb, fc.array(chunkSizesArb, { minLength: 1, maxLength: 3 }), (written, schedule, encoder, attrs, chunkings) => {
      const messages = interleave(messagesOf(written), schedule);
      const file = fileOf(messages, encoder, attrs);
      const whole = withJsonParseCount((count) => {
        const r = parse([file]);
        // What the driver writes never needs the JSON.parse fallback.
        assert.equal(count(), 0);
        return r;
      });
      assert.deepEqual(whole.malformed, []);
      // The same output as the Engine API path, stream by stream (across streams, a pending piece
      // is emitted when its continuation arrives, which both do identically too).
      assert.deepEqual(whole.lines.map(plain), framerLines(apiBodyOf(messages)));
      for (const sizes of chunkings) {
        const r = parse(chunksBy(file, sizes));
        assert.deepEqual(r.lines, whole.lines);
        assert.deepEqual(r.malformed, []);
      }
      // Offsets are line starts/ends in the file, never decreasing for resumeOffset.
      let lastResume = 0;
      for (const l of whole.lines) {
        assert.equal(file[l.endOffset - 1], 0x0a);
        assert.ok(l.resumeOffset === 0 || file[l.resumeOffset - 1] === 0x0a);
        assert.ok(l.resumeOffset >= lastResume);
        lastResume = l.resumeOffset;
      }
    }),
    { numRuns: 200 },
  );
});

test('property: resuming at any line\'s resumeOffset loses nothing after it', () => {
  fc.assert(
    fc.property(writtenArb, fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }), fc.nat(), (written, schedule, pick) => {
      const messages = interleave(messagesOf(written), schedule);
      const file = fileOf(messages);
      const whole = parse([file]).lines;
      if (whole.length === 0) return;
      const k = pick % whole.length;
      const from = whole[k].resumeOffset;
      const again = parse([file.subarray(from)], { startOffset: from }).lines;
      // Everything emitted after line k comes again, in order; lines taken before may come again
      // only when the other stream's pending line forced an earlier resume point.
      const rest = whole.slice(k + 1);
      const tail = again.slice(again.length - rest.length);
      assert.deepEqual(tail, rest);
      const pendingBefore = whole.slice(0, k + 1).some((l) => l.resumeOffset < l.endOffset);
      if (!pendingBefore) assert.deepEqual(again, rest);
    }),
    { numRuns: 200 },
  );
});

test('property: 1-byte chunks give the same lines as the whole file', () => {
  fc.assert(
    fc.property(writtenArb, fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }), encoderArb, (written, schedule, encoder) => {
      const file = fileOf(interleave(messagesOf(written), schedule), encoder, '"attrs":{"a":"b"},');
      const bytewise = parse(chunksOf(file, 1));
      assert.deepEqual({ ...bytewise, maxPending: 0 }, { ...parse([file]), maxPending: 0 });
    }),
    { numRuns: 30 },
  );
});

test('property: the fast path agrees with JSON.parse on every string the encoders produce', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: 'grapheme', maxLength: 60 }), fc.string({ maxLength: 60 })), (s) => {
      // JSON.stringify keeps lone surrogates as \udXXX escapes: the decoder must map them to U+FFFD
      // as a JSON.parse + UTF-8 encode would.
      const text = s.replace(/\n/g, ' ');
      const file = Buffer.from(`{"log":${stringifyLikeGo(text + '\n')},"stream":"stdout","time":"${goTime(ts(1))}"}\n`);
      const want = Buffer.from(text).toString('utf8');
      assert.deepEqual(parse([file]).lines.map(plain), [line('stdout', ts(1), want)]);
    }),
    { numRuns: 500 },
  );
});

test('property: truncation keeps a character-aligned prefix within maxLogSize, like LogFramer', () => {
  fc.assert(
    fc.property(writtenArb, fc.integer({ min: 1024, max: 40_000 }), chunkSizesArb, (written, maxLogSize, sizes) => {
      const messages = messagesOf(written).flat();
      const r = parse(chunksBy(fileOf(messages), sizes), { maxLogSize });
      assert.deepEqual(r.lines.map(plain), framerLines(apiBodyOf(messages), maxLogSize));
      for (const l of r.lines) {
        assert.ok(Buffer.byteLength(l.text) <= maxLogSize);
        assert.equal(l.truncated, l.size > maxLogSize);
      }
      assert.ok(r.maxPending <= 2 * maxLogSize + MAX_JSON_LINE);
    }),
    { numRuns: 100 },
  );
});

test('property: corrupted files never throw, and chunking never changes the outcome', () => {
  const corrupted = fc.record({ written: writtenArb, flips: fc.array(fc.record({ at: fc.nat(), value: fc.nat({ max: 255 }) }), { maxLength: 8 }) }).map(({ written, flips }) => {
    const file = Buffer.from(fileOf(messagesOf(written).flat()));
    for (const f of flips) if (file.length > 0) file[f.at % file.length] = f.value;
    return file;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)), corrupted), chunkSizesArb, (file, sizes) => {
      const r = parse(chunksBy(file, sizes), { maxLogSize: 1024 });
      assert.deepEqual(r, { ...parse([file], { maxLogSize: 1024 }), maxPending: r.maxPending });
      for (const l of r.lines) {
        assert.match(l.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/);
        assert.equal(l.truncated, l.size > 1024);
      }
    }),
    { numRuns: 200 },
  );
});

/** TTY output with runs of \r around the 16 KiB boundary and past max_log_size. */
const ttyCrArb: fc.Arbitrary<Buffer> = fc
  .record({ length: fc.oneof(fc.constantFrom(PIECE - 2, PIECE - 1, PIECE, PIECE + 1), fc.integer({ min: 1, max: 40_000 })), crs: fc.integer({ min: 1, max: 5 }) })
  .map(({ length, crs }) => Buffer.concat([Buffer.alloc(length, 0x61), Buffer.alloc(crs, 0x0d)]));

test('property (TTY): the same lines as LogFramer reading the same output of a TTY container', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(contentArb, ttyCrArb), { maxLength: 20 }), chunkSizesArb, fc.integer({ min: 1024, max: 40_000 }), (contents, sizes, maxLogSize) => {
      // The terminal turns each \n into \r\n; Docker splits what it gets into 16 KiB messages.
      const messages: Message[] = contents.flatMap((content, i) => {
        const written = Buffer.concat([content, Buffer.from('\r\n')]);
        const out: Message[] = [];
        for (let k = 0; k < written.length; k += PIECE) out.push({ stream: 'stdout', ts: ts(i), raw: written.subarray(k, k + PIECE) });
        return out;
      });
      for (const max of [BIG, maxLogSize]) {
        const r = parse(chunksBy(fileOf(messages), sizes), { tty: true, maxLogSize: max });
        assert.deepEqual(r.malformed, []);
        assert.deepEqual(r.lines.map(plain), framerLines(apiTtyBodyOf(messages), max, true));
        for (const l of r.lines) assert.ok(Buffer.byteLength(l.text) <= max);
      }
    }),
    { numRuns: 150 },
  );
});
