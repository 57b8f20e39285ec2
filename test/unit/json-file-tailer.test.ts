import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

import { JsonFileTailer } from '../../src/files/json-file-tailer.js';
import type { FilePosition, LostInfo, TailerOptions } from '../../src/files/json-file-tailer.js';
import type { ReceiverError } from '../../src/errors.js';
import type { IoStream, LogLine } from '../../src/framing/log-framer.js';
import { DOCKER_PARTIAL_SIZE } from '../../src/framing/log-framer.js';
import { fromHrTime } from '../../src/framing/timestamp.js';
import { requireEngine } from '../helpers/docker.js';
import { until } from '../helpers/until.js';

// ---------------------------------------------------------------------------------------------
// A json-file writer that rotates exactly like Docker's (moby loggerutils/logfile.go)
// ---------------------------------------------------------------------------------------------

const roots: string[] = [];
after(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

function tempLogPath(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dlr-tail-'));
  roots.push(dir);
  const id = 'c0ffee'.repeat(10) + 'abcd';
  return path.join(dir, `${id}-json.log`);
}

let clock = 0;
/** Distinct increasing timestamps, as Go writes them (trailing zeros trimmed). */
function nextTime(): { fixed: string; go: string } {
  clock++;
  const fixed = fromHrTime([1_795_887_836 + Math.floor(clock / 1000), (clock % 1000) * 1_000_000 + 7]);
  return { fixed, go: fixed.replace(/\.?0+Z$/, 'Z') };
}

function jsonEntry(stream: IoStream, goTime: string, piece: string): string {
  const log = JSON.stringify(piece).replace(/[<>&]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
  return `{"log":${log},"stream":"${stream}","time":"${goTime}"}\n`;
}

interface WriterOptions {
  maxSize: number;
  maxFiles: number;
  compress: boolean;
}

class DockerLikeWriter {
  private fd: number;
  private size: number;
  rotations = 0;

  constructor(
    readonly logPath: string,
    readonly opts: WriterOptions,
  ) {
    this.fd = fs.openSync(logPath, fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT, 0o640);
    this.size = fs.fstatSync(this.fd).size;
  }

  /** One line as a program writes it: split into 16 KiB messages sharing a timestamp. */
  line(stream: IoStream, text: string): string {
    const t = nextTime();
    const written = text + '\n';
    const bytes = Buffer.from(written);
    for (let k = 0; k < bytes.length; k += DOCKER_PARTIAL_SIZE) {
      this.message(jsonEntry(stream, t.go, bytes.subarray(k, k + DOCKER_PARTIAL_SIZE).toString()));
    }
    return t.fixed;
  }

  /** One message (a piece, with or without its newline) at a given time. */
  piece(stream: IoStream, goTime: string, text: string): void {
    this.message(jsonEntry(stream, goTime, text));
  }

  private message(entry: string): void {
    this.checkCapacityAndRotate();
    const b = Buffer.from(entry);
    fs.writeSync(this.fd, b);
    this.size += b.length;
  }

  private checkCapacityAndRotate(): void {
    if (this.opts.maxSize <= 0 || this.size < this.opts.maxSize) return;
    fs.closeSync(this.fd);
    this.rotate();
    this.fd = fs.openSync(this.logPath, fs.constants.O_WRONLY | fs.constants.O_TRUNC | fs.constants.O_CREAT, 0o640);
    this.size = 0;
    this.rotations++;
  }

  private rotate(): void {
    const { maxFiles, compress } = this.opts;
    if (maxFiles < 2) return;
    const ext = compress ? '.gz' : '';
    fs.rmSync(`${this.logPath}.${maxFiles - 1}${ext}`, { force: true });
    for (let i = maxFiles - 1; i > 1; i--) {
      try {
        fs.renameSync(`${this.logPath}.${i - 1}${ext}`, `${this.logPath}.${i}${ext}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    fs.renameSync(this.logPath, `${this.logPath}.1`);
    if (compress) {
      fs.writeFileSync(`${this.logPath}.1.gz`, zlib.gzipSync(fs.readFileSync(`${this.logPath}.1`)));
      fs.rmSync(`${this.logPath}.1`);
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

// ---------------------------------------------------------------------------------------------
// Recording sink and helpers
// ---------------------------------------------------------------------------------------------

class Recorder {
  lines: Array<{ line: LogLine; position: FilePosition }> = [];
  lost: LostInfo[] = [];
  errors: ReceiverError[] = [];
  batches = 0;
  onLine: ((l: LogLine) => void) | null = null;

  readonly sink = {
    line: (l: LogLine, position: FilePosition) => {
      this.lines.push({ line: l, position });
      this.onLine?.(l);
    },
    batchEnd: () => {
      this.batches++;
    },
    lost: (info: LostInfo) => {
      this.lost.push(info);
    },
    error: (err: ReceiverError) => {
      this.errors.push(err);
    },
  };

  texts(stream?: IoStream): string[] {
    return this.lines.filter((l) => stream === undefined || l.line.stream === stream).map((l) => l.line.text);
  }
}

function tailer(logPath: string, rec: Recorder, extra: Partial<TailerOptions> = {}): JsonFileTailer {
  return new JsonFileTailer({ logPath, position: null, startAtEnd: false, maxLogSize: 1024 * 1024, readChunkBytes: 4096, pollIntervalMs: 50, ...extra }, rec.sink);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A small seeded PRNG so that a failing schedule can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** libuv keeps one inotify descriptor per loop once any watch was set: open it before counting. */
function fdBaseline(): number {
  try {
    fs.watch(os.tmpdir()).close();
  } catch {
    // No inotify instance left on this machine: the tailer polls, and no descriptor stays.
  }
  return openFdCount();
}

/** Nothing of the tailer's may remain: no watcher, timer or fd. */
async function assertReleased(t: JsonFileTailer, fdsBefore: number): Promise<void> {
  assert.equal(t.openFiles, 0);
  assert.ok(t.peakOpenFiles <= 2, `peak open files ${t.peakOpenFiles}`);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  const resources = process.getActiveResourcesInfo().filter((r) => r === 'FSEventWrap' || r === 'Timeout' || r === 'FSReqPromise' || r === 'FSReqCallback');
  assert.deepEqual(resources, []);
  assert.equal(openFdCount(), fdsBefore);
}

/** Each stream's lines are `<stream>-<n>`: every n once, in order. */
function assertExactlyOnce(rec: Recorder, expected: Record<IoStream, number>): void {
  for (const stream of ['stdout', 'stderr'] as const) {
    const got = rec.texts(stream).map((t) => Number(t.split(' ')[0].slice(stream.length + 1)));
    const want = Array.from({ length: expected[stream] }, (_, i) => i);
    assert.deepEqual(got, want, `${stream}: every line once, in order`);
  }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

test('reads a file from the start and follows what is appended; close releases everything', async () => {
  const fdsBefore = fdBaseline();
  const logPath = tempLogPath();
  const w = new DockerLikeWriter(logPath, { maxSize: 0, maxFiles: 1, compress: false });
  for (let i = 0; i < 300; i++) w.line('stdout', `stdout-${i} <&> "quoted" é`);
  const rec = new Recorder();
  const t = tailer(logPath, rec);
  t.start();
  await until('300 lines', () => rec.lines.length === 300);
  for (let i = 300; i < 400; i++) w.line(i % 3 === 0 ? 'stderr' : 'stdout', `${i % 3 === 0 ? 'stderr' : 'stdout'}-${i}`);
  await until('400 lines', () => rec.lines.length === 400);
  assert.equal(rec.lines[0].line.text, 'stdout-0 <&> "quoted" é');
  // Positions: offsets are line ends in the file; the identity is the file's.
  const data = fs.readFileSync(logPath);
  const st = fs.statSync(logPath);
  for (const { position } of rec.lines) {
    assert.equal(data[position.offset - 1], 0x0a);
    assert.equal(position.file.ino, st.ino);
    assert.equal(position.file.dev, st.dev);
    assert.match(position.file.fingerprint, /^[0-9a-f]{32}$/);
  }
  assert.equal(rec.lines.at(-1)?.position.offset, data.length);
  assert.ok(rec.batches > 0);
  assert.deepEqual(rec.lost, []);
  assert.deepEqual(rec.errors.filter((e) => !e.message.includes('cannot watch')), []);
  w.close();
  await t.close();
  await assertReleased(t, fdsBefore);
});

test('rotations at random points while the tailer is mid-file and while paused: every line once, in order', async () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const fdsBefore = fdBaseline();
    const random = prng(seed);
    const logPath = tempLogPath();
    // max-file large enough that the writer (~100 rotations) cannot outrun the reader.
    const w = new DockerLikeWriter(logPath, { maxSize: 2000 + Math.floor(random() * 6000), maxFiles: 100, compress: seed % 2 === 0 });
    const rec = new Recorder();
    const t = tailer(logPath, rec, { readChunkBytes: 4096 + Math.floor(random() * 8192) });
    const counts: Record<IoStream, number> = { stdout: 0, stderr: 0 };
    const write = (n: number): void => {
      for (let k = 0; k < n; k++) {
        const stream: IoStream = random() < 0.3 ? 'stderr' : 'stdout';
        const long = random() < 0.01;
        w.line(stream, `${stream}-${counts[stream]++}` + (long ? ' ' + 'L'.repeat(DOCKER_PARTIAL_SIZE + Math.floor(random() * 20_000)) : ' x'.repeat(Math.floor(random() * 40))));
      }
    };
    write(50);
    t.start();
    let pausedRounds = 0;
    for (let round = 0; round < 80; round++) {
      const r = random();
      // Pauses last a few rounds: long enough for several rotations while paused.
      if (r < 0.15 || pausedRounds > 0) pausedRounds = pausedRounds > 0 ? pausedRounds - 1 : 1 + Math.floor(random() * 4);
      if (pausedRounds > 0) t.pause();
      else t.resume();
      write(Math.floor(random() * 25));
      // Let the tailer read part of what is there (its chunks are small), sometimes nothing.
      await (random() < 0.3 ? new Promise((res) => setImmediate(res)) : sleep(1 + Math.floor(random() * 5)));
    }
    t.resume();
    const total = counts.stdout + counts.stderr;
    await until(`seed ${seed}: ${total} lines`, () => rec.lines.length >= total).catch((err: unknown) => {
      console.log(seed, rec.lines.length, total, JSON.stringify(rec.lost), rec.errors.map((e) => e.message), fs.readdirSync(path.dirname(logPath)), rec.texts().slice(-3).map((x) => x.slice(0, 30)));
      throw err;
    });
    await sleep(50);
    assertExactlyOnce(rec, counts);
    assert.ok(w.rotations > 3, `seed ${seed}: only ${w.rotations} rotations`);
    assert.deepEqual(rec.lost, [], `seed ${seed}`);
    assert.deepEqual(rec.errors.filter((e) => !e.message.includes('cannot watch')), [], `seed ${seed}`);
    for (const { line } of rec.lines) if (line.text.includes('L')) assert.ok(line.pieces >= 2);
    w.close();
    await t.close();
    await assertReleased(t, fdsBefore);
  }
});

test('rotation outrunning a paused reader is reported as lost (with the lost files\' sizes when it saw them); the rest is read once', async () => {
  for (const burst of [false, true]) {
    const logPath = tempLogPath();
    const w = new DockerLikeWriter(logPath, { maxSize: 1000, maxFiles: 3, compress: false });
    const rec = new Recorder();
    const t = tailer(logPath, rec);
    let n = 0;
    for (let i = 0; i < 10; i++) w.line('stdout', `stdout-${n++}`);
    t.start();
    await until('first lines', () => rec.lines.length === 10);
    t.pause();
    await sleep(20);
    // ~20 rotations with 3 files: most files are deleted unread. Spread out, the paused tailer
    // sees each file come (and can name what it lost); in one burst it cannot.
    for (let batch = 0; batch < 25; batch++) {
      for (let i = 0; i < 10; i++) w.line('stdout', `stdout-${n++} ${'y'.repeat(10)}`);
      if (!burst) await sleep(70);
    }
    t.resume();
    await until('the newest line', () => rec.texts().includes(`stdout-${n - 1} yyyyyyyyyy`));
    if (burst) assert.ok(rec.lost.length >= 1, 'a loss is reported');
    else assert.ok(rec.lost.some((l) => l.reason === 'rotated_before_read' && l.certain && l.bytes > 0), JSON.stringify(rec.lost));
    // What was read is in order, without repeats, and ends with the newest lines.
    const numbers = rec.texts().map((s) => Number(s.split(' ')[0].slice(7)));
    for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i] > numbers[i - 1]);
    assert.equal(numbers.at(-1), n - 1);
    assert.deepEqual(rec.errors.filter((e) => !e.message.includes('cannot watch')), []);
    w.close();
    await t.close();
  }
});

test('resuming from a saved position that has been rotated to .2 reads exactly the rest', async () => {
  const logPath = tempLogPath();
  const w = new DockerLikeWriter(logPath, { maxSize: 3000, maxFiles: 10, compress: false });
  const rec = new Recorder();
  const counts: Record<IoStream, number> = { stdout: 0, stderr: 0 };
  const write = (n: number): void => {
    for (let k = 0; k < n; k++) {
      const stream: IoStream = k % 4 === 0 ? 'stderr' : 'stdout';
      w.line(stream, `${stream}-${counts[stream]++}`);
    }
  };
  write(40);
  const t1 = tailer(logPath, rec);
  t1.start();
  await until('40 lines', () => rec.lines.length === 40);
  await t1.close();
  const saved = rec.lines[29].position;
  write(200); // several rotations: the saved file is now far down the list
  assert.ok(w.rotations >= 3);
  const rec2 = new Recorder();
  const t2 = tailer(logPath, rec2, { position: saved });
  t2.start();
  await until('the rest', () => rec2.lines.length === 240 - 30);
  await sleep(30);
  const merged = new Recorder();
  merged.lines = [...rec.lines.slice(0, 30), ...rec2.lines];
  assertExactlyOnce(merged, counts);
  assert.deepEqual(rec2.lost, []);
  w.close();
  await t2.close();
});

test('resuming into a gzipped rotated file (compress=true) at the saved offset', async () => {
  const logPath = tempLogPath();
  const w = new DockerLikeWriter(logPath, { maxSize: 3000, maxFiles: 10, compress: true });
  const counts: Record<IoStream, number> = { stdout: 0, stderr: 0 };
  const write = (n: number): void => {
    for (let k = 0; k < n; k++) w.line('stdout', `stdout-${counts.stdout++}`);
  };
  write(30);
  const rec = new Recorder();
  const t1 = tailer(logPath, rec);
  t1.start();
  await until('30 lines', () => rec.lines.length === 30);
  await t1.close();
  const saved = rec.lines[19].position;
  write(300);
  assert.ok(fs.existsSync(`${logPath}.2.gz`));
  const rec2 = new Recorder();
  const t2 = tailer(logPath, rec2, { position: saved });
  t2.start();
  await until('the rest', () => rec2.lines.length === 330 - 20);
  const merged = new Recorder();
  merged.lines = [...rec.lines.slice(0, 20), ...rec2.lines];
  assertExactlyOnce(merged, { stdout: counts.stdout, stderr: 0 });
  assert.deepEqual(rec2.lost, []);
  assert.deepEqual(rec2.errors.filter((e) => !e.message.includes('cannot watch')), []);
  w.close();
  await t2.close();
});

test('a saved file that is gone is reported (file_gone) and reading starts at the oldest retained file', async () => {
  const logPath = tempLogPath();
  const w = new DockerLikeWriter(logPath, { maxSize: 1000, maxFiles: 2, compress: false });
  for (let i = 0; i < 5; i++) w.line('stdout', `stdout-${i}`);
  const rec = new Recorder();
  const t1 = tailer(logPath, rec);
  t1.start();
  await until('5 lines', () => rec.lines.length === 5);
  await t1.close();
  const saved = rec.lines[2].position;
  for (let i = 5; i < 100; i++) w.line('stdout', `stdout-${i}`);
  const oldest = fs.readFileSync(`${logPath}.1`, 'utf8').split('\n')[0];
  const rec2 = new Recorder();
  const t2 = tailer(logPath, rec2, { position: saved });
  t2.start();
  await until('the newest', () => rec2.texts().includes('stdout-99'));
  assert.equal(rec2.lost.length, 1);
  assert.equal(rec2.lost[0].reason, 'file_gone');
  assert.equal(rec2.texts()[0], (JSON.parse(oldest) as { log: string }).log.trimEnd());
  w.close();
  await t2.close();
});

test('an identity whose inode is reused by another file (different first line) is not taken for it', async () => {
  const logPath = tempLogPath();
  const w = new DockerLikeWriter(logPath, { maxSize: 0, maxFiles: 1, compress: false });
  for (let i = 0; i < 5; i++) w.line('stdout', `stdout-${i}`);
  const st = fs.statSync(logPath);
  const rec = new Recorder();
  const t = tailer(logPath, rec, { position: { file: { dev: st.dev, ino: st.ino, fingerprint: 'f'.repeat(32) }, offset: 100 } });
  t.start();
  await until('all lines', () => rec.lines.length === 5);
  assert.equal(rec.lost[0]?.reason, 'file_gone');
  assert.equal(rec.texts()[0], 'stdout-0');
  w.close();
  await t.close();
});

test('startAtEnd reads only what is written after the start', async () => {
  const logPath = tempLogPath();
  const w = new DockerLikeWriter(logPath, { maxSize: 0, maxFiles: 1, compress: false });
  for (let i = 0; i < 50; i++) w.line('stdout', `old-${i}`);
  const rec = new Recorder();
  const t = tailer(logPath, rec, { startAtEnd: true });
  t.start();
  await sleep(100);
  for (let i = 0; i < 5; i++) w.line('stdout', `new-${i}`);
  await until('5 new lines', () => rec.lines.length === 5);
  assert.deepEqual(rec.texts(), ['new-0', 'new-1', 'new-2', 'new-3', 'new-4']);
  w.close();
  await t.close();
});

// The watch's signals for a rename and for the new file's writes can be spent before the read
// that reaches the old file's end (during an earlier read, or while paused). The tailer must then
// look at the path itself: waiting for another signal would leave the new file's lines until the
// container writes again or the 10 s fallback poll, which these tests would time out before.
const WELL_BEFORE_THE_FALLBACK_POLL_MS = 5_000;

function rotateByHand(logPath: string, lines: string[]): void {
  fs.renameSync(logPath, `${logPath}.1`);
  const w = new DockerLikeWriter(logPath, { maxSize: 0, maxFiles: 2, compress: false });
  for (const text of lines) w.line('stdout', text);
  w.close();
}

test('a rotation while a backlog is read: the new file is read at once after the old one ends', async () => {
  const logPath = tempLogPath();
  const w = new DockerLikeWriter(logPath, { maxSize: 0, maxFiles: 2, compress: false });
  for (let i = 0; i < 3000; i++) w.line('stdout', `stdout-${i} ${'x'.repeat(60)}`);
  w.close();
  const rec = new Recorder();
  rec.onLine = () => {
    rec.onLine = null;
    rotateByHand(logPath, ['stdout-3000', 'stdout-3001']);
  };
  const t = tailer(logPath, rec);
  try {
    t.start();
    await until('the new file\'s lines', () => rec.lines.length === 3002, WELL_BEFORE_THE_FALLBACK_POLL_MS);
    assertExactlyOnce(rec, { stdout: 3002, stderr: 0 });
  } finally {
    await t.close();
  }
});

test('a rotation while paused: after resume the new file is read at once', async () => {
  const logPath = tempLogPath();
  const w = new DockerLikeWriter(logPath, { maxSize: 0, maxFiles: 2, compress: false });
  for (let i = 0; i < 3; i++) w.line('stdout', `stdout-${i}`);
  const rec = new Recorder();
  const t = tailer(logPath, rec);
  try {
    t.start();
    await until('3 lines', () => rec.lines.length === 3);
    t.pause();
    w.line('stdout', 'stdout-3');
    w.close();
    rotateByHand(logPath, ['stdout-4']);
    await sleep(200); // the watch's signals arrive while paused
    t.resume();
    await until('the new file\'s line', () => rec.lines.length === 5, WELL_BEFORE_THE_FALLBACK_POLL_MS);
    assertExactlyOnce(rec, { stdout: 5, stderr: 0 });
  } finally {
    await t.close();
  }
});

test('max-file=1 (truncation in place): a possible loss is reported and the new content is read from its start', async () => {
  const logPath = tempLogPath();
  const w = new DockerLikeWriter(logPath, { maxSize: 2000, maxFiles: 1, compress: false });
  const rec = new Recorder();
  const t = tailer(logPath, rec);
  for (let i = 0; i < 20; i++) w.line('stdout', `stdout-${i}`);
  t.start();
  await until('20 lines', () => rec.lines.length === 20);
  const inode = fs.statSync(logPath).ino;
  for (let i = 20; i < 60; i++) w.line('stdout', `stdout-${i}`);
  assert.ok(w.rotations >= 1);
  assert.equal(fs.statSync(logPath).ino, inode);
  await until('the newest line', () => rec.texts().includes('stdout-59'));
  assert.ok(rec.lost.some((l) => !l.certain && l.reason === 'rotated_before_read'));
  const numbers = rec.texts().map((s) => Number(s.slice(7)));
  for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i] > numbers[i - 1], 'no repeats');
  w.close();
  await t.close();
});

test('a long line whose pieces straddle rotations is merged; lines of the other stream meanwhile point into the older file', async () => {
  const logPath = tempLogPath();
  const w = new DockerLikeWriter(logPath, { maxSize: 10_000, maxFiles: 5, compress: false });
  w.line('stdout', 'stdout-0');
  // stderr's long line: a full piece (file A), then stdout-1 (file B: A reached max-size), then
  // the rest of the line (file C).
  const t = nextTime();
  const long = 'stderr-0 ' + 'z'.repeat(2 * DOCKER_PARTIAL_SIZE);
  w.piece('stderr', t.go, long.slice(0, DOCKER_PARTIAL_SIZE));
  w.line('stdout', 'stdout-1');
  w.piece('stderr', t.go, long.slice(DOCKER_PARTIAL_SIZE, 2 * DOCKER_PARTIAL_SIZE));
  w.piece('stderr', t.go, long.slice(2 * DOCKER_PARTIAL_SIZE) + '\n');
  w.line('stdout', 'stdout-2');
  assert.equal(w.rotations, 2);
  const rec = new Recorder();
  const t1 = tailer(logPath, rec);
  t1.start();
  await until('4 lines', () => rec.lines.length === 4);
  await t1.close();
  assert.deepEqual(rec.texts(), ['stdout-0', 'stdout-1', long, 'stdout-2']);
  const merged = rec.lines[2];
  assert.equal(merged.line.pieces, 3);
  assert.equal(merged.line.size, long.length);
  // stdout-1 came while stderr's line was pending since file A: its position is in file A, where
  // that line began, so that a restart from it loses nothing.
  const first = rec.lines[0].position;
  const second = rec.lines[1].position;
  assert.deepEqual(second.file, first.file);
  assert.equal(second.offset, first.offset);
  assert.notDeepEqual(merged.position.file, first.file);
  // Restarting there: stdout-1 comes again (dropped downstream by the timestamp cursor), and the
  // long line comes whole.
  const rec2 = new Recorder();
  const t2 = tailer(logPath, rec2, { position: second });
  t2.start();
  await until('the rest', () => rec2.lines.length === 3);
  await t2.close();
  assert.deepEqual(rec2.texts(), ['stdout-1', long, 'stdout-2']);
  assert.deepEqual(rec2.lost, []);
  // Restarting after the merged line gives only what follows it.
  const rec3 = new Recorder();
  const t3 = tailer(logPath, rec3, { position: merged.position });
  t3.start();
  await until('the last line', () => rec3.lines.length === 1);
  await sleep(100);
  await t3.close();
  assert.deepEqual(rec3.texts(), ['stdout-2']);
  w.close();
});

test('a damaged .gz is reported as compressed_unreadable and skipped', async () => {
  const logPath = tempLogPath();
  const w = new DockerLikeWriter(logPath, { maxSize: 1500, maxFiles: 5, compress: true });
  for (let i = 0; i < 60; i++) w.line('stdout', `stdout-${i}`);
  const gz = `${logPath}.2.gz`;
  const data = fs.readFileSync(gz);
  fs.writeFileSync(gz, Buffer.concat([data.subarray(0, 20), Buffer.alloc(40, 0x55), data.subarray(60)]));
  const rec = new Recorder();
  const t = tailer(logPath, rec);
  t.start();
  await until('the newest line', () => rec.texts().includes('stdout-59'));
  assert.equal(rec.lost.length, 1);
  assert.equal(rec.lost[0].reason, 'compressed_unreadable');
  assert.ok(rec.lost[0].bytes > 0);
  const numbers = rec.texts().map((s) => Number(s.slice(7)));
  for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i] > numbers[i - 1]);
  w.close();
  await t.close();
});

test('containerStopped emits a final full-size piece that waits for a continuation', async () => {
  const logPath = tempLogPath();
  fs.writeFileSync(logPath, jsonEntry('stdout', nextTime().go, 'q'.repeat(DOCKER_PARTIAL_SIZE)));
  const rec = new Recorder();
  const t = tailer(logPath, rec);
  t.start();
  await sleep(100);
  assert.equal(rec.lines.length, 0, 'a full-size piece waits for its continuation');
  t.containerStopped();
  await until('the line', () => rec.lines.length === 1);
  assert.equal(rec.lines[0].line.size, DOCKER_PARTIAL_SIZE);
  await t.close();
});

test('waits for a log file that does not exist yet, then reads it from the start', async () => {
  const logPath = tempLogPath();
  const rec = new Recorder();
  const t = tailer(logPath, rec, { startAtEnd: true });
  t.start();
  await sleep(80);
  const w = new DockerLikeWriter(logPath, { maxSize: 0, maxFiles: 1, compress: false });
  w.line('stdout', 'first');
  await until('the line', () => rec.lines.length === 1);
  assert.equal(rec.texts()[0], 'first');
  w.close();
  await t.close();
});

// ---------------------------------------------------------------------------------------------
// A real container
// ---------------------------------------------------------------------------------------------

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

/** For commands that take a while: the tailer must keep running meanwhile (no execFileSync). */
async function dockerAsync(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('docker', args, { encoding: 'utf8' });
  return stdout.trim();
}

/**
 * The container writes 3000 numbered stdout lines (and every 7th number to stderr) after a
 * second's sleep, so that the tail starts first (LogPath is only known once it runs). Paced
 * (a 10 ms pause every 20 lines: ~26 rotations over ~1.5 s) the reader must get every line; at
 * full speed Docker rotates a 10 KiB file several times per millisecond, faster than any reader
 * can follow on a busy machine: then it must say so, and what it read stays in order.
 */
for (const paced of [true, false]) {
  test(`a real container with max-size=10k max-file=5 writing 3000 numbered lines ${paced ? 'paced' : 'at full speed'}, tailed while it rotates`, async () => {
    await requireEngine(); // a clear message when there is no engine or test image
    const pause = paced ? 'if [ $((i % 20)) -eq 0 ]; then usleep 10000; fi; ' : '';
    const id = docker(
      'run',
      '-d',
      '--network',
      'none',
      '--log-driver',
      'json-file',
      '--log-opt',
      'max-size=10k',
      '--log-opt',
      'max-file=5',
      'dlr-busybox:latest',
      'sh',
      '-c',
      `sleep 1; i=1; while [ $i -le 3000 ]; do echo "line $i"; if [ $((i % 7)) -eq 0 ]; then echo "err $i" >&2; fi; ${pause}i=$((i+1)); done`,
    );
    try {
      const logPath = docker('inspect', '-f', '{{.LogPath}}', id);
      assert.ok(path.isAbsolute(logPath), `LogPath ${JSON.stringify(logPath)}`);
      const rec = new Recorder();
      const t = tailer(logPath, rec, { readChunkBytes: 256 * 1024, pollIntervalMs: 100 });
      t.start();
      await dockerAsync('wait', id);
      await until('the last lines or a loss report', () => (rec.texts('stdout').includes('line 3000') && rec.texts('stderr').includes('err 2996')) || rec.lost.length > 0, 30_000);
      await sleep(300);
      const files = fs.readdirSync(path.dirname(logPath)).filter((f) => f.startsWith(path.basename(logPath)));
      await t.close();
      const out = rec.texts('stdout').map((s) => Number(s.slice(5)));
      const err = rec.texts('stderr').map((s) => Number(s.slice(4)));
      console.log(`${paced ? 'paced' : 'full speed'}: ${rec.lines.length} lines, lost reports: ${rec.lost.length}, files now: ${files.length}`);
      assert.equal(files.length, 5, `rotated files: ${files.join(', ')}`);
      if (paced) assert.deepEqual(rec.lost, []);
      if (rec.lost.length === 0) {
        assert.deepEqual(out, Array.from({ length: 3000 }, (_, i) => i + 1));
        assert.deepEqual(err, Array.from({ length: 428 }, (_, i) => (i + 1) * 7));
      } else {
        for (const l of rec.lost) assert.equal(l.reason, 'rotated_before_read');
        for (let i = 1; i < out.length; i++) assert.ok(out[i] > out[i - 1]);
        for (let i = 1; i < err.length; i++) assert.ok(err[i] > err[i - 1]);
        assert.equal(out.at(-1), 3000);
      }
      assert.deepEqual(rec.errors.filter((e) => !e.message.includes('cannot watch')), []);
      assert.ok(t.peakOpenFiles <= 2);
    } finally {
      docker('rm', '-f', id);
    }
  });
}
