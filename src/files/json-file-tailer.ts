/**
 * Follows one container's json-file log (`LogPath`) and its rotated files, delivering each line
 * exactly once, in file order, with a position that can be saved and resumed from.
 *
 * How Docker rotates (moby daemon/logger/loggerutils/logfile.go, with max-size and max-file=N):
 * the writer closes the active file, deletes `<path>.<N-1>`, renames `<path>.k` to
 * `<path>.<k+1>` (the newest rotated file has the smallest k), renames `<path>` to `<path>.1` and
 * creates a new `<path>`. With compress=true, `<path>.1` is then gzipped to `<path>.1.gz` in the
 * background (`.1` is deleted once the `.gz` is complete) and older files are `.k.gz`. With
 * max-file=1 there is no rename: the file is truncated in place.
 *
 * How this follows it:
 * - One read loop per container: large fs.read calls on a held descriptor into one reused buffer,
 *   parsed by JsonFileParser. At the end of the data it waits for an fs.watch event on the
 *   directory (one inotify watch; events that arrive while reading only set a flag) or for the
 *   slow fallback poll.
 * - Files are identified by dev+ino plus a fingerprint of their first line (see FileIdentity):
 *   Docker deletes the oldest file right before creating the new one, so the new active file
 *   often gets the inode number just freed; the fingerprint tells them apart, and also finds a
 *   file again after it was gzipped.
 * - At the end of the current file, if the active path names another file, the current one was
 *   rotated. Docker closes a file before renaming it, so one more read through the held
 *   descriptor to its end gets everything it will ever hold; only then does the tailer move to
 *   the next newer file: no line is read twice or skipped. At most 2 descriptors are open at
 *   once: the file being read and, for a few µs, one opened to fingerprint a candidate.
 * - The files newer than the current one are tracked as a chain, refreshed on every rename event
 *   (also while paused) and at every rotation. A file of the chain that disappears before it is
 *   reached is reported lost, with its last known size. If every known file disappears between
 *   two looks (more than max-file-1 rotations between two events), files may have come and gone
 *   unseen: that is reported as a possible loss of unknown size.
 * - Directory snapshots and fingerprints are taken with synchronous calls (a few µs per file, at
 *   rotation time only), so that no other code of this process runs while names are read and
 *   checked; a snapshot is repeated until two agree, which a concurrent rotation prevents.
 * - Resuming from a saved position: the saved file is looked for among `<path>`, `<path>.k` and
 *   `<path>.k.gz` and read from the saved offset, then every newer file in turn. If it is gone,
 *   that is reported (file_gone) and reading starts at the oldest retained file.
 * - Rotated `.gz` files are read, stream-decompressed by zlib in readChunkBytes pieces (memory
 *   stays bounded; nothing is decompressed while paused); one that cannot be decompressed is
 *   reported lost (compressed_unreadable) with the size its gzip trailer announces.
 * - Truncation in place (max-file=1): seen as the size shrinking below the offset read, or as
 *   the first line's fingerprint changing (checked at most once per poll interval while idle).
 *   What was written between the last read and the truncation cannot be known: a possible loss
 *   is reported and reading restarts at 0.
 *
 * Positions: each line comes with the position to save once it is delivered. Its offset is the
 * parser's resumeOffset: after the line, or earlier while the other stream has a pending partial
 * line (a >16 KiB line being merged) so that a restart never loses that line's first pieces; a
 * few lines of this stream may then come again after a restart (the reader's per-stream
 * timestamp cursors drop them). A pending line that began in an earlier file (a rotation between
 * two pieces) makes the position point into that earlier file.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

import { ReceiverError, errorMessage } from '../errors.js';
import type { LogLine } from '../framing/log-framer.js';
import type { FileLine } from './json-file-parser.js';
import { JsonFileParser } from './json-file-parser.js';

/**
 * A log file's identity. `fingerprint` is the hex SHA-256 (first 32 digits) of the file's first
 * line including its `\n` (of its first FINGERPRINT_MAX_BYTES bytes if that line is longer).
 *
 * Why the first line rather than the first 64 bytes: a json-file line starts with `{"log":"` and
 * ends with its timestamp, so the first 64 bytes are mostly the first message's text, and files
 * that start with the same message (a banner logged after each restart) would look alike. The
 * first line ends with a nanosecond timestamp: no two files share it.
 *
 * '' is provisional: the file had no complete line when it was looked at. A provisional identity
 * matches the file with the same dev+ino (nothing was read from it, so nothing can be repeated)
 * and is completed as soon as the file has a line. Every position delivered with a line has a
 * complete fingerprint (its file holds at least that line).
 *
 * dev and ino are plain numbers: exact below 2^53, which covers ext4, xfs, btrfs and overlayfs.
 */
export interface FileIdentity {
  dev: number;
  ino: number;
  fingerprint: string;
}

export interface FilePosition {
  file: FileIdentity;
  /** Byte offset in the (uncompressed) file to resume reading at. */
  offset: number;
}

export interface TailerOptions {
  /** The container's LogPath (`/var/lib/docker/containers/<id>/<id>-json.log`). */
  logPath: string;
  /** Where to resume (a position delivered earlier), or null for a first look. */
  position: FilePosition | null;
  /** First look only: start after the last complete line instead of at the oldest retained file. */
  startAtEnd: boolean;
  /** Longest line text kept, in bytes (>= 1024). */
  maxLogSize: number;
  /** The container has a TTY (Config.Tty): `\r\n` line ends are dropped as LogFramer does (default false). */
  tty?: boolean;
  /** Bytes per read (default 256 KiB). */
  readChunkBytes?: number;
  /** Slow fallback poll while waiting for data, in ms (default 1000). */
  pollIntervalMs?: number;
}

export type LostReason = 'rotated_before_read' | 'compressed_unreadable' | 'file_gone';

export interface LostInfo {
  /** Bytes lost: exact, or a lower bound; 0 when unknown. */
  bytes: number;
  reason: LostReason;
  /** False when data may have been lost but it cannot be known (see detail). */
  certain: boolean;
  /** The file concerned (its last known path). */
  file: string;
  /** What happened, for the log. */
  detail: string;
}

export interface TailerSink {
  /** A line and the position to save once it is delivered. */
  line(l: LogLine, position: FilePosition): void;
  /** Called after each read chunk's lines: the caller hands over records here. */
  batchEnd(): void;
  lost(info: LostInfo): void;
  error(err: ReceiverError): void;
}

export const DEFAULT_READ_CHUNK_BYTES = 256 * 1024;
export const DEFAULT_POLL_INTERVAL_MS = 1000;

/** The fingerprint covers the first line, or this many bytes of it. */
export const FINGERPRINT_MAX_BYTES = 64 * 1024;
/** How far back from the end startAtEnd looks for the last `\n`. */
const START_AT_END_SCAN_BYTES = 1024 * 1024;
/** How much of a .gz is decompressed, at most, to fingerprint it. */
const GZIP_FINGERPRINT_INPUT_BYTES = 256 * 1024;
/** Attempts at finding a file by inode when names move under us (a rotation in between). */
const LOOKUP_ATTEMPTS = 5;
/** Attempts at a directory snapshot that two looks agree on. */
const SNAPSHOT_ATTEMPTS = 5;

/** One file as a directory snapshot saw it. */
interface ScanEntry {
  /** Full path. */
  file: string;
  /** 0 for the active file, k for `.k` / `.k.gz`. */
  index: number;
  gz: boolean;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  /** Taken in the same snapshot (see scan). */
  fingerprint: string;
}

/** A file known to come after the current one, not read yet. */
interface KnownFile {
  identity: FileIdentity;
  gz: boolean;
  /** Last known path. */
  file: string;
  /** Last known size (of the .gz itself when gz). */
  size: number;
  /** Files may have come and gone unseen between the previous known file and this one. */
  gapBefore: boolean;
}

/** The file being read. */
interface CurrentFile {
  identity: FileIdentity;
  file: string;
  gz: boolean;
  /** Plain file: the held descriptor. */
  fd: number | null;
  /** Gzipped file: its decompressed stream. */
  gzip: GzipReader | null;
  /** Next (uncompressed) offset to read. */
  offset: number;
  /** The active path was seen naming another file: this one is complete. */
  rotated: boolean;
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && codes.includes(String(err.code));
}

function sameInode(a: { dev: number; ino: number }, b: { dev: number; ino: number }): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** `1`…`999999` without leading zeros (Docker's rotation suffixes). */
function isRotationIndex(s: string): boolean {
  if (s.length === 0 || s.length > 6 || s.charCodeAt(0) === 48) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function sameSnapshot(a: readonly ScanEntry[], b: readonly ScanEntry[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].file !== b[i].file || a[i].ino !== b[i].ino || a[i].dev !== b[i].dev) return false;
  }
  return true;
}

/** The fingerprint of a file whose first `length` bytes are in `head` ('' when no line is complete). */
function fingerprintOfHead(head: Buffer, length: number): string {
  const n = length < FINGERPRINT_MAX_BYTES ? length : FINGERPRINT_MAX_BYTES;
  const nl = head.subarray(0, n).indexOf(10);
  if (nl < 0 && n < FINGERPRINT_MAX_BYTES) return '';
  return createHash('sha256')
    .update(head.subarray(0, nl < 0 ? n : nl + 1))
    .digest('hex')
    .slice(0, 32);
}

/** Fingerprint of an open plain file (synchronous: a 4 KiB read for ordinary first lines). */
function headFingerprintSync(fd: number, size: number): string {
  const want = size < FINGERPRINT_MAX_BYTES ? size : FINGERPRINT_MAX_BYTES;
  if (want === 0) return '';
  const head = Buffer.allocUnsafe(want);
  let got = 0;
  while (got < want) {
    const n = fs.readSync(fd, head, got, Math.min(want - got, got === 0 ? 4096 : want - got), got);
    if (n === 0) break;
    got += n;
    if (head.subarray(0, got).indexOf(10) >= 0) break;
  }
  return fingerprintOfHead(head, got);
}

/** Fingerprint of an open .gz file from its decompressed head; '' when it cannot be decompressed. */
function gzipFingerprintSync(fd: number): string {
  const input = Buffer.allocUnsafe(GZIP_FINGERPRINT_INPUT_BYTES);
  let have = 0;
  let step = 16 * 1024;
  while (have < input.length) {
    const n = fs.readSync(fd, input, have, Math.min(step, input.length - have), have);
    if (n === 0) break;
    have += n;
    step *= 2;
    let out: Buffer;
    try {
      // A sync flush decompresses what a truncated input holds instead of failing on it.
      out = zlib.gunzipSync(input.subarray(0, have), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    } catch {
      return '';
    }
    if (out.indexOf(10) >= 0 || out.length >= FINGERPRINT_MAX_BYTES) return fingerprintOfHead(out, out.length);
  }
  return '';
}

/** The uncompressed size a gzip trailer announces (mod 2^32), 0 if unreadable. */
function gzipAnnouncedSize(fd: number): number {
  const { size } = fs.fstatSync(fd);
  if (size < 18) return 0;
  const b = Buffer.alloc(4);
  fs.readSync(fd, b, 0, 4, size - 4);
  return b.readUInt32LE(0);
}

/**
 * Reads synchronously: these are local files just written by dockerd, read from
 * the page cache in a few microseconds, where an async read costs a thread-pool
 * round trip (about 35 µs of CPU) per wake. A yield after each read keeps the
 * loop fair to the other containers.
 */
async function readAt(fd: number, buffer: Buffer, length: number, position: number): Promise<number> {
  const n = fs.readSync(fd, buffer, 0, length, position);
  await new Promise<void>((resolve) => setImmediate(resolve));
  return n;
}

/**
 * With a working watch, changes are signalled: the fallback look (and the check
 * that the file was not rewritten from its start) is only a safety net.
 */
const WATCHED_POLL_MS = 10_000;

/**
 * Bounded streaming decompression of a rotated `.gz` file from an open descriptor (which it
 * owns); output is pulled chunk by chunk (nothing is decompressed while nobody asks).
 */
class GzipReader {
  private readonly source: fs.ReadStream;
  private readonly gunzip: zlib.Gunzip;
  private readonly chunks: AsyncIterator<Buffer>;
  private closed = false;
  /** Decompressed bytes handed back by skip(). */
  private leftover: Buffer | null = null;
  /** Resolves once the descriptor is closed. */
  readonly released: Promise<void>;

  constructor(file: string, fd: number, chunkBytes: number, onClose: () => void) {
    this.source = fs.createReadStream(file, { fd, start: 0, autoClose: true, highWaterMark: 64 * 1024 });
    this.gunzip = zlib.createGunzip({ chunkSize: chunkBytes });
    this.released = new Promise((resolve) => {
      this.source.once('close', () => {
        onClose();
        resolve();
      });
    });
    this.source.on('error', (err) => this.gunzip.destroy(err));
    this.source.pipe(this.gunzip);
    this.chunks = this.gunzip[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** The next decompressed chunk, or null at the end. Throws on a read or format error. */
  async next(): Promise<Buffer | null> {
    if (this.closed) return null;
    const leftover = this.leftover;
    if (leftover !== null) {
      this.leftover = null;
      return leftover;
    }
    const r = await this.chunks.next();
    return r.done === true ? null : r.value;
  }

  /** Drops the first `n` decompressed bytes (resuming inside the file). */
  async skip(n: number): Promise<void> {
    while (n > 0) {
      const chunk = await this.next();
      if (chunk === null) throw new Error(`it holds fewer than ${n} more bytes`);
      if (chunk.length > n) {
        this.leftover = chunk.subarray(n);
        return;
      }
      n -= chunk.length;
    }
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.gunzip.destroy();
      this.source.destroy();
    }
    await this.released;
  }
}

export class JsonFileTailer {
  private readonly sink: TailerSink;
  private readonly logPath: string;
  private readonly dir: string;
  private readonly base: string;
  private readonly maxLogSize: number;
  private readonly tty: boolean;
  private readonly chunkBytes: number;
  private readonly pollMs: number;
  private readonly buffer: Buffer;

  /** Where to (re)start: the saved position, then where reading began, then the last line's position. */
  private restartFrom: FilePosition | null;
  private startAtEnd: boolean;
  private parser: JsonFileParser;
  private current: CurrentFile | null = null;
  /** Files newer than the current one, oldest first. */
  private newer: KnownFile[] = [];
  /** Where a pending partial line that began in an earlier file began (see parser.nextFile). */
  private carryPosition: FilePosition | null = null;
  /** The directory's mtime at the last snapshot: polling only looks again when it changed. */
  private snapshotDirMtime = -1;
  /**
   * Fingerprints of the last snapshot's files by `dev:ino:gz`, with the size and mtime they were
   * taken at. Rotated files never change, so only new files and the active one are read again;
   * an inode number reused by a new file comes with another size or mtime.
   */
  private fingerprints = new Map<string, { size: number; mtimeMs: number; fingerprint: string }>();

  private started = false;
  private closed = false;
  private paused = false;
  private done: Promise<void> = Promise.resolve();
  /** Something happened (watch event, resume, close) since the last read started. */
  private changed = false;
  /** A name in the directory changed since the chain was last refreshed. */
  private namesChanged = false;
  private wake: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private watcher: fs.FSWatcher | null = null;
  private watchFailedReported = false;
  private lastFingerprintCheck = 0;
  private inMalformedRun = false;
  private reportedMissing = false;
  /** containerStopped() was called: emit pending partial lines at the end of the active file. */
  private stopRequested = false;
  private fds = 0;
  private peakFds = 0;

  constructor(options: TailerOptions, sink: TailerSink) {
    const { logPath, position, startAtEnd, maxLogSize } = options;
    if (!path.isAbsolute(logPath)) throw new RangeError(`logPath must be absolute (got ${JSON.stringify(logPath)})`);
    this.chunkBytes = options.readChunkBytes ?? DEFAULT_READ_CHUNK_BYTES;
    this.pollMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
    if (!Number.isInteger(this.chunkBytes) || this.chunkBytes < 4096) throw new RangeError(`readChunkBytes must be an integer >= 4096 (got ${this.chunkBytes})`);
    if (!(this.pollMs > 0)) throw new RangeError(`pollIntervalMs must be > 0 (got ${this.pollMs})`);
    this.sink = sink;
    this.logPath = logPath;
    this.dir = path.dirname(logPath);
    this.base = path.basename(logPath);
    this.maxLogSize = maxLogSize;
    this.tty = options.tty ?? false;
    this.buffer = Buffer.allocUnsafe(this.chunkBytes);
    this.restartFrom = position;
    this.startAtEnd = startAtEnd;
    this.parser = this.newParser(0);
  }

  /** File descriptors held right now (0 after close). */
  get openFiles(): number {
    return this.fds;
  }

  /** The most descriptors ever held at once (never more than 2). */
  get peakOpenFiles(): number {
    return this.peakFds;
  }

  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.startWatching();
    this.done = this.run();
  }

  /** Stops issuing reads (a read in flight still delivers its lines). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.signal();
  }

  /**
   * The container stopped: its pending partial lines are complete. They are emitted once the
   * tailer has read to the end of the active file (what was written before the stop comes first).
   */
  containerStopped(): void {
    this.stopRequested = true;
    this.signal();
  }

  /** Stops reading and releases every descriptor, watcher and timer. */
  async close(): Promise<void> {
    if (this.closed) return this.done;
    this.closed = true;
    if (this.watcher !== null) {
      this.watcher.close();
      this.watcher = null;
    }
    this.signal();
    await this.done;
    await this.releaseCurrent();
  }

  // -------------------------------------------------------------------------------------------
  // The read loop
  // -------------------------------------------------------------------------------------------

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        if (this.current === null) {
          if (!(await this.begin())) await this.waitForChange();
          continue;
        }
        // Renames are followed even while paused: knowing every file that came after the current
        // one is what makes a later loss exact (named, with its size) rather than possible.
        if (this.namesChanged) {
          this.namesChanged = false;
          this.refreshChain();
        }
        if (this.paused) {
          await this.waitForChange();
          continue;
        }
        this.changed = false;
        const cur = this.current;
        const n = await this.readChunk(cur);
        if (this.closed) break;
        if (n === 0) await this.atEnd(cur);
        else if (n < this.chunkBytes && cur === this.current) await this.afterShortRead(cur);
      } catch (err) {
        if (this.closed) break;
        this.reportError(`reading ${this.current?.file ?? this.logPath} failed; restarting from the last delivered line`, err);
        await this.restart();
        await this.sleep(this.pollMs);
      }
    }
    this.clearTimer();
  }

  /** Reads and delivers one chunk of the current file; returns the bytes read (0: at its end). */
  private async readChunk(cur: CurrentFile): Promise<number> {
    let chunk: Buffer;
    if (cur.gz) {
      if (cur.gzip === null) return 0; // given up on (damaged)
      let next: Buffer | null;
      try {
        next = await cur.gzip.next();
      } catch (err) {
        // A damaged archive: what it still holds is lost; go on with the next file.
        await this.closeFile(cur);
        const announced = this.gzipAnnouncedSize(cur.file);
        this.sink.lost({
          bytes: announced > cur.offset ? announced - cur.offset : 0,
          reason: 'compressed_unreadable',
          certain: true,
          file: cur.file,
          detail: `${cur.file} cannot be decompressed past byte ${cur.offset} (${errorMessage(err)}); the rest of it is lost`,
        });
        return 0;
      }
      if (next === null) return 0;
      chunk = next;
    } else {
      if (cur.fd === null) return 0;
      const n = await readAt(cur.fd, this.buffer, this.chunkBytes, cur.offset);
      if (n === 0) return 0;
      chunk = this.buffer.subarray(0, n);
    }
    if (this.closed || cur !== this.current) return chunk.length;
    if (cur.identity.fingerprint === '') this.completeFingerprint(cur, chunk);
    cur.offset += chunk.length;
    this.parser.push(chunk);
    this.sink.batchEnd();
    return chunk.length;
  }

  /**
   * A short read of a plain file has most likely reached its end. While the watch is up, every
   * write, rename or truncation after the read will signal, so the tailer waits without looking
   * (no syscall), and a read that then finds nothing goes through atEnd. This is the common case
   * of live following: one read per wake instead of a read, an fstat and a stat.
   * It looks now instead when a signal may already have been spent: a newer file is known (its
   * rename and writes were signalled before this read, during an earlier read or a pause), the
   * file is rotated (it will not signal again), or a stop is requested; and without a watch.
   */
  private async afterShortRead(cur: CurrentFile): Promise<void> {
    if (cur.gz || cur.fd === null) return; // zlib hands out pieces of any size: read on until it says 0
    if (this.watcher !== null && !cur.rotated && !this.stopRequested && this.newer.length === 0) {
      await this.waitForChange();
      return;
    }
    if (fs.fstatSync(cur.fd).size <= cur.offset) await this.atEnd(cur);
  }

  /** At the end of the current file: more data, a rotation, a truncation, or nothing yet. */
  private async atEnd(cur: CurrentFile): Promise<void> {
    if (cur.rotated || cur.gz) {
      if (!(await this.advance())) await this.waitForChange();
      return;
    }
    const st = fs.statSync(this.logPath, { throwIfNoEntry: false });
    if (st === undefined) {
      // Between Docker's rename and create, or the container is gone: wait and look again.
      await this.waitForChange();
      return;
    }
    if (sameInode(st, cur.identity)) {
      if (st.size < cur.offset || this.fingerprintChanged(cur, st.size)) {
        this.truncated(cur);
        return;
      }
      if (st.size > cur.offset) return; // written after our read: read on
      if (this.stopRequested) {
        this.stopRequested = false;
        this.parser.end();
        this.sink.batchEnd();
      }
      await this.waitForChange();
      return;
    }
    // The path names another file: Docker closed this one before renaming it, so one more read
    // to its end gets everything it will ever hold.
    cur.rotated = true;
    this.refreshChain();
  }

  /** Moves to the next newer file; false when there is none yet (wait and retry). */
  private async advance(): Promise<boolean> {
    let snapshot: ScanEntry[] | null = this.refreshChain();
    for (;;) {
      const next = this.newer[0];
      if (next === undefined) return false;
      if (next.gapBefore) {
        next.gapBefore = false;
        this.sink.lost({
          bytes: 0,
          reason: 'rotated_before_read',
          certain: false,
          file: next.file,
          detail:
            `every file known to follow ${this.current?.file ?? 'the current file'} was rotated away while it was read ` +
            `(more than max-file-1 rotations between two looks): files between it and ${next.file} may have come and gone unseen`,
        });
      }
      const opened = await this.openKnown(next, snapshot);
      snapshot = null;
      this.newer.shift();
      if (opened === 'unreadable') continue;
      if (opened === null) {
        this.sink.lost({
          bytes: next.size,
          reason: 'rotated_before_read',
          certain: true,
          file: next.file,
          detail: `${next.file} was rotated away (deleted) before it could be read: at least ${next.size} ${next.gz ? 'compressed ' : ''}bytes of log lost`,
        });
        continue;
      }
      await this.switchTo(opened);
      return true;
    }
  }

  /** Hands the parser over to the next file and releases the previous one. */
  private async switchTo(next: CurrentFile): Promise<void> {
    const previous = this.current;
    if (previous !== null) this.notePendingStart(previous);
    this.parser.nextFile();
    this.current = next;
    if (previous !== null) await this.closeFile(previous);
  }

  /** Before the parser moves on to another file: where its pending partial line (if any) began. */
  private notePendingStart(from: CurrentFile): void {
    if (!this.parser.hasPendingLine) return;
    const r = this.parser.resumeOffset;
    if (r >= 0) this.carryPosition = { file: from.identity, offset: r };
  }

  /** Truncated in place (max-file=1): the same inode is read again from 0. */
  private truncated(cur: CurrentFile): void {
    this.sink.lost({
      bytes: 0,
      reason: 'rotated_before_read',
      certain: false,
      file: cur.file,
      detail:
        `${cur.file} was truncated in place (max-file=1 rotation) after ${cur.offset} bytes were read; ` +
        'lines written between the last read and the truncation, if any, are lost (use max-file >= 2 to avoid this)',
    });
    this.notePendingStart(cur);
    this.parser.nextFile();
    cur.identity = { dev: cur.identity.dev, ino: cur.identity.ino, fingerprint: '' };
    cur.offset = 0;
  }

  // -------------------------------------------------------------------------------------------
  // Starting and restarting
  // -------------------------------------------------------------------------------------------

  /** Finds where to start reading; false when there is no file yet. */
  private async begin(): Promise<boolean> {
    for (let attempt = 0; attempt < LOOKUP_ATTEMPTS; attempt++) {
      const started = await this.beginWith(this.scan());
      if (started !== null) return started;
    }
    return false;
  }

  /** begin() on one snapshot; null when a file moved before it could be opened (look again). */
  private async beginWith(entries: ScanEntry[]): Promise<boolean | null> {
    const position = this.restartFrom;
    const atEnd = this.startAtEnd;
    // A file that only appears later holds nothing but new lines: read it from its start.
    this.startAtEnd = false;
    if (position !== null) {
      for (let k = entries.length - 1; k >= 0; k--) {
        if (!this.matches(position.file, entries[k])) continue;
        const opened = await this.openEntry(entries[k], position.file, position.offset);
        if (opened === 'moved') return null;
        if (opened === null) break; // shorter than the saved offset: not that file after all
        this.startReading(opened, position.offset, entries.slice(k + 1));
        return true;
      }
      if (entries.length === 0) {
        if (!this.reportedMissing) {
          this.reportedMissing = true;
          this.sink.lost({
            bytes: 0,
            reason: 'file_gone',
            certain: false,
            file: this.logPath,
            detail: `there is no log file at ${this.logPath} (container removed?); lines after the saved position, if any, are lost; waiting for the file to appear`,
          });
        }
        return false;
      }
      this.sink.lost({
        bytes: 0,
        reason: 'file_gone',
        certain: false,
        file: this.logPath,
        detail:
          `the file of the saved position (offset ${position.offset}) is no longer among ${this.base}, ${this.base}.N and ${this.base}.N.gz: ` +
          'it was rotated away; lines after the saved offset, if any, are lost; reading from the oldest retained file',
      });
      this.restartFrom = null;
    }
    // startAtEnd: after the last line of the newest file (the active one, or `.1` when caught
    // between Docker's rename and create). Otherwise everything retained, oldest first.
    for (let k = atEnd ? entries.length - 1 : 0; k < entries.length; k++) {
      const opened = await this.openEntry(entries[k], null, 0);
      if (opened === 'moved') {
        this.startAtEnd = atEnd;
        return null;
      }
      if (opened === null) continue; // an unreadable .gz (reported)
      if (atEnd && opened.fd !== null) opened.offset = await this.afterLastNewline(opened.fd);
      this.startReading(opened, opened.offset, entries.slice(k + 1));
      // An error before the first line restarts here, not at the (moved) end or the beginning.
      this.restartFrom = { file: opened.identity, offset: opened.offset };
      return true;
    }
    return false;
  }

  private startReading(opened: CurrentFile, offset: number, newer: readonly ScanEntry[]): void {
    this.parser = this.newParser(offset);
    this.current = opened;
    this.newer = this.knownFiles(newer, false);
    this.carryPosition = null;
  }

  /** After an unexpected error: drop everything and start again from the last delivered line. */
  private async restart(): Promise<void> {
    await this.releaseCurrent();
    this.newer = [];
    this.carryPosition = null;
    this.startAtEnd = false;
    this.parser = this.newParser(0);
  }

  private newParser(startOffset: number): JsonFileParser {
    return new JsonFileParser(
      { maxLogSize: this.maxLogSize, startOffset, tty: this.tty },
      {
        line: (l) => this.deliver(l),
        malformed: (offset, reason) => this.malformed(offset, reason),
      },
    );
  }

  private deliver(l: FileLine): void {
    const cur = this.current as CurrentFile;
    const position: FilePosition =
      l.resumeOffset >= 0 ? { file: cur.identity, offset: l.resumeOffset } : (this.carryPosition ?? { file: cur.identity, offset: 0 });
    this.restartFrom = position;
    this.inMalformedRun = false;
    this.sink.line(l, position);
  }

  private malformed(offset: number, reason: string): void {
    if (this.inMalformedRun) return;
    this.inMalformedRun = true;
    const file = this.current?.file ?? this.logPath;
    this.sink.error(
      new ReceiverError('STREAM_FAILED', `${file}: the line at byte ${offset} is not a json-file log entry (${reason}); further bad lines are skipped without a report until a good one`),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Files
  // -------------------------------------------------------------------------------------------

  /**
   * A consistent snapshot of the log's files, oldest first (`.N(.gz)` … `.1(.gz)`, the active
   * one), each with its fingerprint.
   *
   * Everything is taken synchronously, so no other code of this process runs in between, and it
   * is repeated until a second listing agrees with the first: a fingerprint must belong to the
   * file the snapshot names. (Docker deletes the oldest file right before creating the new one,
   * which often gets the inode number just freed: fingerprinting by inode a moment later could
   * credit the new file's first line to the old one.)
   */
  private scan(): ScanEntry[] {
    let entries: ScanEntry[] = [];
    for (let attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
      entries = this.scanOnce();
      if (!this.fingerprintAll(entries)) continue;
      if (sameSnapshot(entries, this.scanOnce())) break;
    }
    this.snapshotDirMtime = this.dirMtime();
    return entries;
  }

  /** Fingerprints every entry; false when a name no longer leads to the inode the listing saw. */
  private fingerprintAll(entries: ScanEntry[]): boolean {
    const known = this.fingerprints;
    const next = new Map<string, { size: number; mtimeMs: number; fingerprint: string }>();
    for (const e of entries) {
      const key = `${e.dev}:${e.ino}:${e.gz}`;
      const cached = known.get(key);
      if (cached !== undefined && cached.size === e.size && cached.mtimeMs === e.mtimeMs && cached.fingerprint !== '') {
        e.fingerprint = cached.fingerprint;
      } else {
        const fd = this.openByInode(e);
        if (fd === null) return false;
        try {
          e.fingerprint = e.gz ? gzipFingerprintSync(fd) : headFingerprintSync(fd, fs.fstatSync(fd).size);
        } finally {
          this.closeFd(fd);
        }
      }
      next.set(key, { size: e.size, mtimeMs: e.mtimeMs, fingerprint: e.fingerprint });
    }
    this.fingerprints = next;
    return true;
  }

  private dirMtime(): number {
    return fs.statSync(this.dir, { throwIfNoEntry: false })?.mtimeMs ?? -1;
  }

  private scanOnce(): ScanEntry[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR')) return [];
      throw err;
    }
    const byIndex = new Map<number, { name: string; gz: boolean }>();
    const prefix = this.base + '.';
    for (const name of names) {
      let index: number;
      let gz = false;
      if (name === this.base) {
        index = 0;
      } else if (name.startsWith(prefix)) {
        let rest = name.slice(prefix.length);
        if (rest.endsWith('.gz')) {
          gz = true;
          rest = rest.slice(0, -3);
        }
        if (!isRotationIndex(rest)) continue;
        index = Number(rest);
      } else {
        continue;
      }
      const seen = byIndex.get(index);
      // While `.1` is being compressed both `.1` and a partial `.1.gz` exist: take the plain one.
      if (seen === undefined || (seen.gz && !gz)) byIndex.set(index, { name, gz });
    }
    const entries: ScanEntry[] = [];
    for (const [index, { name, gz }] of byIndex) {
      const file = path.join(this.dir, name);
      const st = fs.statSync(file, { throwIfNoEntry: false });
      if (st === undefined || !st.isFile()) continue;
      entries.push({ file, index, gz, dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, fingerprint: '' });
    }
    entries.sort((a, b) => b.index - a.index);
    return entries;
  }

  /** Whether a snapshot entry is the file with identity `id` (possibly gzipped since). */
  private matches(id: FileIdentity, e: ScanEntry): boolean {
    if (!e.gz) return sameInode(id, e) && (id.fingerprint === '' || e.fingerprint === id.fingerprint);
    // A .gz whose head could not be decompressed is only known by its own inode.
    if (id.fingerprint === '') return sameInode(id, e);
    return e.fingerprint === id.fingerprint;
  }

  /** Opens a snapshot entry's file if its name still leads to the inode the snapshot saw. */
  private openByInode(e: ScanEntry): number | null {
    const fd = this.openSyncIfExists(e.file);
    if (fd === null) return null;
    if (sameInode(fs.fstatSync(fd), e)) return fd;
    this.closeFd(fd);
    return null;
  }

  /** The current file's fingerprint once it has a complete line (before its lines are delivered). */
  private completeFingerprint(cur: CurrentFile, chunk: Buffer): void {
    let fingerprint = '';
    if (cur.offset === 0) fingerprint = fingerprintOfHead(chunk, chunk.length);
    else if (cur.fd !== null) fingerprint = headFingerprintSync(cur.fd, fs.fstatSync(cur.fd).size);
    if (fingerprint !== '') cur.identity = { dev: cur.identity.dev, ino: cur.identity.ino, fingerprint };
  }

  /** At most once per poll interval while idle: was the active file rewritten from its start? */
  private fingerprintChanged(cur: CurrentFile, size: number): boolean {
    const now = Date.now();
    if (now - this.lastFingerprintCheck < this.pollInterval() || cur.fd === null || cur.identity.fingerprint === '') return false;
    this.lastFingerprintCheck = now;
    const fingerprint = headFingerprintSync(cur.fd, size);
    return fingerprint !== '' && fingerprint !== cur.identity.fingerprint;
  }

  /** Refreshes the chain of files newer than the current one (see the header); returns the snapshot. */
  private refreshChain(): ScanEntry[] {
    const entries = this.scan();
    const cur = this.current;
    if (cur === null) return entries;
    const chain: FileIdentity[] = [cur.identity];
    for (const k of this.newer) chain.push(k.identity);
    for (let i = chain.length - 1; i >= 0; i--) {
      for (let j = entries.length - 1; j >= 0; j--) {
        const e = entries[j];
        if (!this.matches(chain[i], e)) continue;
        if (i > 0) {
          const k = this.newer[i - 1];
          k.file = e.file;
          k.gz = e.gz;
          k.size = e.gz ? e.size : Math.max(k.size, e.size);
          // A file first seen without a complete line is fingerprinted now, so that it is still
          // recognised once gzipped.
          if (k.identity.fingerprint === '' && !e.gz) k.identity = { dev: e.dev, ino: e.ino, fingerprint: e.fingerprint };
        }
        this.newer = this.newer.slice(0, i).concat(this.knownFiles(entries.slice(j + 1), false));
        return entries;
      }
    }
    // None of the known files is there any more: all that is on disk now came after them.
    this.newer = this.newer.concat(this.knownFiles(entries, true));
    return entries;
  }

  /** Snapshot entries as chain members (`gap`: files may be missing before the first one). */
  private knownFiles(entries: readonly ScanEntry[], gap: boolean): KnownFile[] {
    return entries.map((e, i) => ({
      identity: { dev: e.dev, ino: e.ino, fingerprint: e.fingerprint },
      gz: e.gz,
      file: e.file,
      size: e.size,
      gapBefore: gap && i === 0,
    }));
  }

  /** Opens a known newer file wherever it is now; null when it is gone (or unreadable: reported). */
  private async openKnown(k: KnownFile, snapshot: ScanEntry[] | null): Promise<CurrentFile | 'unreadable' | null> {
    for (let attempt = 0; attempt < LOOKUP_ATTEMPTS; attempt++) {
      const entries = attempt === 0 && snapshot !== null ? snapshot : this.scan();
      const found = entries.find((e) => this.matches(k.identity, e));
      if (found === undefined) return null;
      const opened = await this.openEntry(found, k.identity.fingerprint === '' ? null : k.identity, 0);
      if (opened === null) return 'unreadable';
      if (opened !== 'moved') return opened;
    }
    return null;
  }

  /**
   * Opens a snapshot entry for reading from `offset`. 'moved' when its name no longer leads to
   * it (the caller takes a new snapshot); null when it cannot be read from there (a .gz that
   * cannot be decompressed, reported; a file shorter than `offset`). `identity`, when given, is
   * what positions will name.
   */
  private async openEntry(e: ScanEntry, identity: FileIdentity | null, offset: number): Promise<CurrentFile | 'moved' | null> {
    const fd = this.openByInode(e);
    if (fd === null) return 'moved';
    if (e.gz) {
      const fingerprint = identity?.fingerprint ?? e.fingerprint;
      const gzip = new GzipReader(e.file, fd, this.chunkBytes, () => this.countFd(-1));
      try {
        await gzip.skip(offset);
      } catch (err) {
        await gzip.close();
        const announced = this.gzipAnnouncedSize(e.file);
        this.sink.lost({
          bytes: announced > offset ? announced - offset : 0,
          reason: 'compressed_unreadable',
          certain: true,
          file: e.file,
          detail: `${e.file} cannot be decompressed (${errorMessage(err)}); the lines it holds after byte ${offset} are lost`,
        });
        return null;
      }
      return { identity: identity ?? { dev: e.dev, ino: e.ino, fingerprint }, file: e.file, gz: true, fd: null, gzip, offset, rotated: true };
    }
    const size = fs.fstatSync(fd).size;
    if (size < offset) {
      this.closeFd(fd);
      return null;
    }
    const fingerprint = identity?.fingerprint ?? e.fingerprint;
    // A rotated file (`.k`) is complete: Docker closed it before renaming it.
    return { identity: identity ?? { dev: e.dev, ino: e.ino, fingerprint }, file: e.file, gz: false, fd, gzip: null, offset, rotated: e.index > 0 };
  }

  /** startAtEnd: the offset after the file's last complete line. */
  private async afterLastNewline(fd: number): Promise<number> {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(Math.min(64 * 1024, Math.max(size, 1)));
    let end = size;
    while (end > 0 && size - end < START_AT_END_SCAN_BYTES) {
      const start = Math.max(0, end - buf.length);
      const n = await readAt(fd, buf, end - start, start);
      const nl = buf.subarray(0, n).lastIndexOf(10);
      if (nl >= 0) return start + nl + 1;
      end = start;
    }
    // No line end: the file holds one unfinished line (start before it) or a monster (skip it).
    return end === 0 ? 0 : size;
  }

  /** Best effort, for loss reports. */
  private gzipAnnouncedSize(file: string): number {
    try {
      const fd = this.openSyncIfExists(file);
      if (fd === null) return 0;
      try {
        return gzipAnnouncedSize(fd);
      } finally {
        this.closeFd(fd);
      }
    } catch {
      return 0;
    }
  }

  private openSyncIfExists(file: string): number | null {
    try {
      const fd = fs.openSync(file, 'r');
      this.countFd(1);
      return fd;
    } catch (err) {
      if (isCode(err, 'ENOENT')) return null;
      throw err;
    }
  }

  private closeFd(fd: number): void {
    this.countFd(-1);
    fs.closeSync(fd);
  }

  private countFd(delta: number): void {
    this.fds += delta;
    if (this.fds > this.peakFds) this.peakFds = this.fds;
  }

  private async closeFile(f: CurrentFile): Promise<void> {
    if (f.fd !== null) {
      const fd = f.fd;
      f.fd = null;
      try {
        this.closeFd(fd);
      } catch {
        // Nothing more can be done about a descriptor that will not close.
      }
    }
    if (f.gzip !== null) {
      const g = f.gzip;
      f.gzip = null;
      await g.close();
    }
  }

  private async releaseCurrent(): Promise<void> {
    const cur = this.current;
    this.current = null;
    if (cur !== null) await this.closeFile(cur);
  }

  // -------------------------------------------------------------------------------------------
  // Waiting
  // -------------------------------------------------------------------------------------------

  private startWatching(): void {
    if (this.watcher !== null || this.closed) return;
    try {
      const watcher = fs.watch(this.dir, { persistent: true }, (eventType, filename) => {
        // Only this log's names matter (config.v2.json and friends change too).
        if (filename !== null && !filename.startsWith(this.base)) return;
        if (eventType === 'rename') this.namesChanged = true;
        this.signal();
      });
      watcher.on('error', () => {
        // The directory went away (container removed) or the watch broke: the poll carries on,
        // at its own pace from now (the wait in progress was set for the watched pace).
        if (this.watcher === watcher) this.watcher = null;
        watcher.close();
        this.signal();
      });
      this.watcher = watcher;
    } catch (err) {
      if (isCode(err, 'ENOENT')) return; // not there yet: tried again at each wait
      if (!this.watchFailedReported) {
        this.watchFailedReported = true;
        this.reportError(
          `cannot watch ${this.dir} (inotify limits? see fs.inotify.max_user_instances and max_user_watches); ` +
            `polling every ${this.pollMs} ms until a watch can be set`,
          err,
        );
      }
    }
  }

  private signal(): void {
    this.changed = true;
    const wake = this.wake;
    if (wake !== null) {
      this.wake = null;
      wake();
    }
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Until something changes: a watch event, the fallback poll, resume() or close(). */
  private waitForChange(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.changed && !this.paused) {
      this.changed = false;
      return Promise.resolve();
    }
    if (this.watcher === null) this.startWatching();
    return new Promise((resolve) => {
      this.wake = () => {
        this.clearTimer();
        this.changed = false;
        resolve();
      };
      // While paused only resume() or close() end the wait (no reads are wanted before that),
      // but renames are still looked at now and then.
      this.timer = setTimeout(() => {
        this.timer = null;
        // Without a watch, renames are only seen by looking (when the directory changed).
        if (this.watcher === null && this.dirMtime() !== this.snapshotDirMtime) this.namesChanged = true;
        const wake = this.wake;
        this.wake = null;
        if (wake !== null) wake();
      }, this.pollInterval());
    });
  }

  /** The fallback poll: slow while a watch signals changes, pollIntervalMs without one. */
  private pollInterval(): number {
    return this.watcher === null ? this.pollMs : Math.max(this.pollMs, WATCHED_POLL_MS);
  }

  private sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.wake = () => {
        this.clearTimer();
        resolve();
      };
      this.timer = setTimeout(() => {
        this.timer = null;
        this.wake = null;
        resolve();
      }, ms);
    });
  }

  private reportError(message: string, cause: unknown): void {
    this.sink.error(new ReceiverError('STREAM_FAILED', `${message}: ${errorMessage(cause)}`, { cause, transient: true }));
  }
}
