/**
 * Follows one container's json-file log (`LogPath`) and its rotated files, delivering each line
 * exactly once, in file order, with a position that can be saved and resumed from.
 *
 * How Docker rotates (moby daemon/logger/loggerutils/logfile.go, with max-size and max-file=N):
 * the writer closes the active file, deletes `<path>.<N-1>`, renames `<path>.k` to
 * `<path>.<k+1>` (newest has the smallest k), renames `<path>` to `<path>.1` and creates a new
 * `<path>`. With compress=true, `<path>.1` is then gzipped to `<path>.1.gz` in the background
 * (`.1` is deleted once the `.gz` is complete) and older files are `.k.gz`. With max-file=1 there
 * is no rename: the file is truncated in place.
 *
 * How this follows it:
 * - One read loop per container; large fs.read calls on a held file descriptor into one reused
 *   buffer, parsed by JsonFileParser. At the end of the data it waits for an fs.watch event on
 *   the directory (one inotify watch; events that arrive while reading just mark "changed") or
 *   for the slow fallback poll.
 * - Files are identified by dev+ino plus a fingerprint of their first line (which holds a
 *   nanosecond timestamp), so inode reuse and gzipped copies are recognised (see fingerprint).
 * - At the end of the current file, if the active path now names another file, the current one
 *   was rotated: since Docker closes a file before renaming it, the data read through the held
 *   descriptor up to its end is all it will ever hold. Only then does the tailer move to the
 *   next newer file, so no line is read twice or skipped. At most 2 descriptors are open at once:
 *   the file being read and, briefly, one opened to fingerprint a candidate.
 * - The files newer than the current one are tracked as a chain, refreshed on every rename event
 *   (before the next read) and at every rotation. A file of the chain that disappears before it
 *   was reached is reported as lost with its last known size. If every known file disappears
 *   between two looks (more than max-file-1 rotations during one read), files may have come and
 *   gone unseen: that is reported as a possible loss of unknown size.
 * - Resuming from a saved position: the saved file is looked for among `<path>`, `<path>.k` and
 *   `<path>.k.gz` by identity and read from the saved offset, then every newer file in turn. If
 *   it is gone, that is reported (file_gone) and reading starts at the oldest retained file.
 * - Rotated `.gz` files are read (stream-decompressed by zlib in readChunkBytes pieces: memory
 *   stays bounded); one that cannot be decompressed is reported as lost (compressed_unreadable)
 *   with the size its gzip trailer announces.
 * - Truncation in place (max-file=1): detected by the size shrinking below the offset read, or by
 *   the first line's fingerprint changing (checked at every poll). Lines written between the last
 *   read and the truncation cannot be known: a possible loss is reported and reading restarts at 0.
 *
 * Positions: each line comes with the position to save once it has been delivered. Its offset is
 * the parser's resumeOffset: after the line, or earlier while the other stream has a pending
 * partial line (a >16 KiB line being merged), so that resuming never loses that line's first
 * pieces; lines of this stream in between may then be delivered again after a restart (the
 * reader's per-stream timestamp cursors drop them). A pending line that began in an earlier file
 * (a rotation between two pieces) makes the position point into that earlier file.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import fsp from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';

import { ReceiverError, errorMessage } from '../errors.js';
import type { LogLine } from '../framing/log-framer.js';
import type { FileLine } from './json-file-parser.js';
import { JsonFileParser } from './json-file-parser.js';

/**
 * A log file's identity. `fingerprint` is the hex SHA-256 (first 32 digits) of the file's first
 * line including its `\n` (or of its first FINGERPRINT_MAX_BYTES bytes if that line is longer).
 *
 * Why the first line and not the first 64 bytes: a json-file line starts with `{"log":"` and its
 * timestamp comes last, so the first 64 bytes are mostly the first message's text, and two files
 * that start with the same message (a service that logs the same banner after each restart) would
 * look alike. The first line ends with a nanosecond timestamp: no two files share it.
 *
 * '' means provisional: the file has no complete line yet. A provisional identity matches any
 * file with the same dev+ino (nothing was read from it, so nothing can be repeated), and the
 * fingerprint is computed as soon as the file has a complete line. Every position delivered with
 * a line has a complete fingerprint (the file holds at least that line).
 *
 * dev and ino are plain numbers: exact for inode numbers below 2^53, which covers ext4, xfs,
 * btrfs and overlayfs.
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
  /** Bytes per read (default 256 KiB). */
  readChunkBytes?: number;
  /** Slow fallback poll while waiting for data, in ms (default 1000). */
  pollIntervalMs?: number;
}

export type LostReason = 'rotated_before_read' | 'compressed_unreadable' | 'file_gone';

export interface LostInfo {
  /** Bytes lost: exact or a lower bound when `certain`; 0 when unknown. */
  bytes: number;
  reason: LostReason;
  /** False when data may have been lost but cannot be proven to (see detail). */
  certain: boolean;
  /** The file concerned (its last known name). */
  file: string;
  /** A human-readable account, for the log. */
  detail: string;
}

export interface TailerSink {
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
/** Attempts to open a file by name and find the expected inode (renames can race with us). */
const OPEN_ATTEMPTS = 5;

/** One file as a directory scan saw it. */
interface ScanEntry {
  name: string;
  /** 0 for the active file, k for `.k` / `.k.gz`. */
  index: number;
  gz: boolean;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

/** A file known to come after the current one, not read yet. */
interface KnownFile {
  identity: FileIdentity;
  gz: boolean;
  name: string;
  size: number;
  /** Files may have come and gone unseen between the previous known file and this one. */
  gapBefore: boolean;
}

/** The file being read. */
interface CurrentFile {
  identity: FileIdentity;
  name: string;
  gz: boolean;
  /** Plain file: the held descriptor. */
  handle: FileHandle | null;
  /** Gzipped file: the decompressed stream. */
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

/** The fingerprint of a file whose first `length` bytes are in `head` ('' when no line is complete yet). */
function fingerprintOfHead(head: Buffer, length: number): string {
  const n = length < FINGERPRINT_MAX_BYTES ? length : FINGERPRINT_MAX_BYTES;
  const nl = head.subarray(0, n).indexOf(10);
  if (nl < 0 && n < FINGERPRINT_MAX_BYTES) return '';
  const end = nl < 0 ? n : nl + 1;
  return createHash('sha256').update(head.subarray(0, end)).digest('hex').slice(0, 32);
}

/**
 * Bounded streaming decompression of a rotated `.gz` file: one fd (the read stream's), output
 * pulled chunk by chunk (nothing is decompressed while nobody asks).
 */
class GzipReader {
  private readonly source: fs.ReadStream;
  private readonly gunzip: zlib.Gunzip;
  private readonly chunks: AsyncIterator<Buffer>;
  private closed = false;
  /** Decompressed bytes handed back by skip(). */
  private leftover: Buffer | null = null;
  /** Resolves when the read stream's fd is closed. */
  readonly released: Promise<void>;

  constructor(file: string, chunkBytes: number, onOpen: () => void, onClose: () => void) {
    this.source = fs.createReadStream(file, { highWaterMark: 64 * 1024 });
    this.gunzip = zlib.createGunzip({ chunkSize: chunkBytes });
    let opened = false;
    this.released = new Promise((resolve) => {
      this.source.once('open', () => {
        opened = true;
        onOpen();
      });
      this.source.once('close', () => {
        if (opened) onClose();
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
    if (this.closed) return this.released;
    this.closed = true;
    this.source.destroy();
    this.gunzip.destroy();
    await this.released;
  }
}

export class JsonFileTailer {
  private readonly sink: TailerSink;
  private readonly logPath: string;
  private readonly dir: string;
  private readonly base: string;
  private readonly maxLogSize: number;
  private readonly chunkBytes: number;
  private readonly pollMs: number;
  private readonly buffer: Buffer;

  /** Where to (re)start: the saved position, then the position of the last line delivered. */
  private restartFrom: FilePosition | null;
  private startAtEnd: boolean;
  private parser: JsonFileParser;
  private current: CurrentFile | null = null;
  /** Files newer than current, oldest first. */
  private newer: KnownFile[] = [];
  /** Where a pending partial line that began in an earlier file began (see parser.nextFile). */
  private carryPosition: FilePosition | null = null;
  /** Fingerprints of scanned files by `dev:ino:gz`, with the size they were computed at. */
  private fingerprints = new Map<string, { size: number; fingerprint: string }>();

  private started = false;
  private closed = false;
  private paused = false;
  private done: Promise<void> = Promise.resolve();
  /** A change (watch event, resume, close) arrived since the last read started. */
  private changed = false;
  /** A rename/create/delete in the directory since the last scan. */
  private namesChanged = false;
  private wake: (() => void) | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
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
   * tailer has read to the end of the active file (lines written before the stop come first).
   */
  containerStopped(): void {
    this.stopRequested = true;
    this.signal();
  }

  /** Stops reading and releases every descriptor, watcher and timer. */
  async close(): Promise<void> {
    if (this.closed) return this.done;
    this.closed = true;
    this.signal();
    if (this.watcher !== null) {
      this.watcher.close();
      this.watcher = null;
    }
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
        if (this.paused) {
          await this.waitForChange();
          continue;
        }
        if (this.namesChanged) {
          this.namesChanged = false;
          await this.refreshChain();
        }
        this.changed = false;
        const n = await this.readChunk(this.current);
        if (this.closed) break;
        if (n > 0) continue;
        await this.atEnd(this.current);
      } catch (err) {
        if (this.closed) break;
        this.reportError(`reading ${this.current?.name ?? this.logPath} failed; restarting from the last delivered line`, err);
        try {
          await this.restart();
        } catch {
          // restart() only closes files; nothing more can be done about a failing close.
        }
        await this.sleep(this.pollMs);
      }
    }
    if (this.pollTimer !== null) clearTimeout(this.pollTimer);
    this.pollTimer = null;
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
        const announced = await this.gzipAnnouncedSize(cur.name);
        this.sink.lost({
          bytes: announced > cur.offset ? announced - cur.offset : 0,
          reason: 'compressed_unreadable',
          certain: true,
          file: cur.name,
          detail: `${cur.name} cannot be decompressed past byte ${cur.offset} (${errorMessage(err)}); the rest of it is lost`,
        });
        return 0;
      }
      if (next === null) return 0;
      chunk = next;
    } else {
      const { bytesRead } = await (cur.handle as FileHandle).read(this.buffer, 0, this.chunkBytes, cur.offset);
      if (bytesRead === 0) return 0;
      chunk = this.buffer.subarray(0, bytesRead);
    }
    if (this.closed || cur !== this.current) return chunk.length;
    if (cur.identity.fingerprint === '') await this.completeFingerprint(cur, chunk);
    if (this.closed || cur !== this.current) return chunk.length;
    cur.offset += chunk.length;
    this.parser.push(chunk);
    this.sink.batchEnd();
    return chunk.length;
  }

  /** At the end of the current file: more data, a rotation, a truncation, or nothing yet. */
  private async atEnd(cur: CurrentFile): Promise<void> {
    if (cur.rotated || cur.gz) {
      if (!(await this.advance())) await this.waitForChange();
      return;
    }
    const st = await statOrNull(this.logPath);
    if (st !== null && sameInode(st, cur.identity)) {
      if (st.size < cur.offset || (await this.fingerprintChanged(cur, st.size))) {
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
    if (st === null) {
      // Between Docker's rename and create, or the container is gone: wait and look again.
      await this.waitForChange();
      return;
    }
    // The path names another file: Docker closed this one before renaming it, so one more read
    // to its end gets everything it will ever hold.
    cur.rotated = true;
    await this.refreshChain();
  }

  /** Moves to the next newer file; false when there is none yet (wait and retry). */
  private async advance(): Promise<boolean> {
    await this.refreshChain();
    for (;;) {
      const next = this.newer[0];
      if (next === undefined) return false;
      if (next.gapBefore) {
        next.gapBefore = false;
        this.sink.lost({
          bytes: 0,
          reason: 'rotated_before_read',
          certain: false,
          file: next.name,
          detail: `every known file was rotated away while ${this.current?.name ?? 'the log'} was read: files between it and ${next.name} may have come and gone unseen`,
        });
      }
      const opened = await this.openKnown(next);
      if (opened === null) {
        this.newer.shift();
        this.sink.lost({
          bytes: next.size,
          reason: 'rotated_before_read',
          certain: true,
          file: next.name,
          detail: `${next.name} was rotated away (deleted) before it could be read: at least ${next.size} bytes of log lost`,
        });
        continue;
      }
      this.newer.shift();
      await this.switchTo(opened);
      return true;
    }
  }

  /** Hands the parser over to the next file and releases the previous one. */
  private async switchTo(next: CurrentFile): Promise<void> {
    const previous = this.current;
    if (previous !== null && this.parser.hasPendingLine) {
      const r = this.parser.resumeOffset;
      if (r >= 0) this.carryPosition = { file: previous.identity, offset: r };
    }
    this.parser.nextFile();
    this.current = next;
    if (previous !== null) await this.closeFile(previous);
  }

  /** Truncated in place (max-file=1): restart the same inode at 0. */
  private truncated(cur: CurrentFile): void {
    this.sink.lost({
      bytes: 0,
      reason: 'rotated_before_read',
      certain: false,
      file: cur.name,
      detail: `${cur.name} was truncated in place (max-file=1 rotation) after ${cur.offset} bytes were read; lines written between the last read and the truncation, if any, are lost`,
    });
    if (this.parser.hasPendingLine) {
      const r = this.parser.resumeOffset;
      if (r >= 0) this.carryPosition = { file: cur.identity, offset: r };
    }
    this.parser.nextFile();
    cur.identity = { dev: cur.identity.dev, ino: cur.identity.ino, fingerprint: '' };
    cur.offset = 0;
    this.fingerprints.clear();
  }

  // -------------------------------------------------------------------------------------------
  // Starting and restarting
  // -------------------------------------------------------------------------------------------

  /** Finds where to start reading; false when there is no file yet. */
  private async begin(): Promise<boolean> {
    const entries = await this.scan();
    const position = this.restartFrom;
    const atEnd = this.startAtEnd;
    this.startAtEnd = false;
    if (position !== null) {
      for (let k = entries.length - 1; k >= 0; k--) {
        const e = entries[k];
        if (!(await this.matches(position.file, e))) continue;
        const opened = await this.openEntry(e, position.file, position.offset);
        if (opened === null) continue;
        this.parser = this.newParser(position.offset);
        this.current = opened;
        this.newer = await this.knownFiles(entries.slice(k + 1), false);
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
            detail: `no log file at ${this.logPath} (container removed?); lines after the saved position, if any, are lost; waiting for the file to appear`,
          });
        }
        return false;
      }
      this.sink.lost({
        bytes: 0,
        reason: 'file_gone',
        certain: false,
        file: this.logPath,
        detail: `the file of the saved position (offset ${position.offset}) is no longer among ${this.base}, ${this.base}.N, ${this.base}.N.gz: it was rotated away; lines after the saved offset, if any, are lost; reading from the oldest retained file`,
      });
      this.restartFrom = null;
    }
    // startAtEnd: after the newest file's last line (the active file, or `.1` if caught between
    // Docker's rename and create). Otherwise everything retained, oldest first.
    for (let k = atEnd ? entries.length - 1 : 0; k < entries.length; k++) {
      const e = entries[k];
      const startOffset = atEnd && !e.gz ? await this.afterLastNewline(e) : 0;
      const opened = await this.openEntry(e, null, startOffset);
      if (opened === null) continue;
      this.parser = this.newParser(startOffset);
      this.current = opened;
      this.newer = await this.knownFiles(entries.slice(k + 1), false);
      // An error before the first line restarts here, not at the (moved) end or the beginning.
      this.restartFrom = { file: opened.identity, offset: startOffset };
      return true;
    }
    return false;
  }

  /** After an unexpected error: drop everything and start again from the last delivered line. */
  private async restart(): Promise<void> {
    await this.releaseCurrent();
    this.newer = [];
    this.carryPosition = null;
    this.fingerprints.clear();
    this.parser = this.newParser(0);
    this.startAtEnd = false;
  }

  private newParser(startOffset: number): JsonFileParser {
    return new JsonFileParser(
      { maxLogSize: this.maxLogSize, startOffset },
      {
        line: (l) => this.deliver(l),
        malformed: (offset, reason) => this.malformed(offset, reason),
      },
    );
  }

  private deliver(l: FileLine): void {
    const cur = this.current as CurrentFile;
    const position: FilePosition = l.resumeOffset >= 0 || this.carryPosition === null ? { file: cur.identity, offset: l.resumeOffset < 0 ? 0 : l.resumeOffset } : this.carryPosition;
    this.restartFrom = position;
    this.inMalformedRun = false;
    this.sink.line(l, position);
  }

  private malformed(offset: number, reason: string): void {
    if (this.inMalformedRun) return;
    this.inMalformedRun = true;
    const name = this.current?.name ?? this.logPath;
    this.sink.error(new ReceiverError('STREAM_FAILED', `${name}: line at byte ${offset} is not a json-file log entry (${reason}); following bad lines are skipped silently until a good one`));
  }

  // -------------------------------------------------------------------------------------------
  // Files
  // -------------------------------------------------------------------------------------------

  /** The log's files, oldest first: `.N(.gz)` … `.1(.gz)`, then the active one. */
  private async scan(): Promise<ScanEntry[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.dir);
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR')) return [];
      throw err;
    }
    const byIndex = new Map<number, { name: string; gz: boolean }>();
    const prefix = this.base + '.';
    for (const name of names) {
      let index: number;
      let gz = false;
      if (name === this.base) index = 0;
      else if (name.startsWith(prefix)) {
        let rest = name.slice(prefix.length);
        if (rest.endsWith('.gz')) {
          gz = true;
          rest = rest.slice(0, -3);
        }
        if (!/^[1-9][0-9]{0,5}$/.test(rest)) continue;
        index = Number(rest);
      } else continue;
      const seen = byIndex.get(index);
      // While `.1` is being compressed both `.1` and a partial `.1.gz` exist: take the plain one.
      if (seen === undefined || (seen.gz && !gz)) byIndex.set(index, { name, gz });
    }
    const entries: ScanEntry[] = [];
    for (const [index, { name, gz }] of byIndex) {
      const st = await statOrNull(path.join(this.dir, name));
      if (st === null || !st.isFile()) continue;
      entries.push({ name, index, gz, dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });
    }
    entries.sort((a, b) => b.index - a.index);
    const live = new Set(entries.map((e) => `${e.dev}:${e.ino}:${e.gz}`));
    for (const key of this.fingerprints.keys()) if (!live.has(key)) this.fingerprints.delete(key);
    return entries;
  }

  /** Whether a scanned file is the file with identity `id` (possibly gzipped since). */
  private async matches(id: FileIdentity, e: ScanEntry): Promise<boolean> {
    if (!e.gz) {
      if (!sameInode(id, e)) return false;
      if (id.fingerprint === '') return true;
      return (await this.fingerprintOf(e)) === id.fingerprint;
    }
    if (id.fingerprint === '') return false;
    return (await this.fingerprintOf(e)) === id.fingerprint;
  }

  /** Fingerprint of a scanned file ('' if it has no complete line yet); cached. */
  private async fingerprintOf(e: ScanEntry): Promise<string> {
    const key = `${e.dev}:${e.ino}:${e.gz}`;
    const cached = this.fingerprints.get(key);
    if (cached !== undefined && cached.fingerprint !== '' && cached.size <= e.size) return cached.fingerprint;
    let fingerprint = '';
    try {
      fingerprint = e.gz ? await this.gzipFingerprint(path.join(this.dir, e.name)) : await this.plainFingerprint(path.join(this.dir, e.name), e);
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err;
    }
    this.fingerprints.set(key, { size: e.size, fingerprint });
    return fingerprint;
  }

  private async plainFingerprint(file: string, expect: { dev: number; ino: number }): Promise<string> {
    const handle = await this.open(file);
    try {
      const st = await handle.stat();
      if (!sameInode(st, expect)) return '';
      return await headFingerprint(handle, st.size);
    } finally {
      await this.closeHandle(handle);
    }
  }

  private async gzipFingerprint(file: string): Promise<string> {
    const reader = new GzipReader(file, 16 * 1024, () => this.countFd(1), () => this.countFd(-1));
    try {
      const parts: Buffer[] = [];
      let length = 0;
      while (length < FINGERPRINT_MAX_BYTES) {
        const chunk = await reader.next();
        if (chunk === null) break;
        parts.push(chunk);
        length += chunk.length;
        if (chunk.indexOf(10) >= 0) break;
      }
      const head = Buffer.concat(parts);
      return fingerprintOfHead(head, head.length);
    } catch {
      return '';
    } finally {
      await reader.close();
    }
  }

  /** The current file's fingerprint once it has a complete line (before its lines are delivered). */
  private async completeFingerprint(cur: CurrentFile, chunk: Buffer): Promise<void> {
    if (cur.offset === 0) {
      cur.identity = { dev: cur.identity.dev, ino: cur.identity.ino, fingerprint: fingerprintOfHead(chunk, chunk.length) };
      return;
    }
    if (cur.handle !== null) {
      const st = await cur.handle.stat();
      cur.identity = { dev: cur.identity.dev, ino: cur.identity.ino, fingerprint: await headFingerprint(cur.handle, st.size) };
    }
  }

  /** At most once per poll interval: has the current (active) file been rewritten from the start? */
  private async fingerprintChanged(cur: CurrentFile, size: number): Promise<boolean> {
    const now = Date.now();
    if (now - this.lastFingerprintCheck < this.pollMs || cur.handle === null || cur.identity.fingerprint === '') return false;
    this.lastFingerprintCheck = now;
    const fingerprint = await headFingerprint(cur.handle, size);
    return fingerprint !== cur.identity.fingerprint;
  }

  /** Re-scans and updates the chain of newer files (see the header). */
  private async refreshChain(): Promise<void> {
    const cur = this.current;
    if (cur === null) return;
    const entries = await this.scan();
    const chain: FileIdentity[] = [cur.identity, ...this.newer.map((k) => k.identity)];
    for (let i = chain.length - 1; i >= 0; i--) {
      for (let j = entries.length - 1; j >= 0; j--) {
        if (!(await this.matches(chain[i], entries[j]))) continue;
        if (i > 0) {
          const k = this.newer[i - 1];
          const e = entries[j];
          k.name = path.join(this.dir, e.name);
          k.gz = e.gz;
          if (!e.gz) {
            k.size = Math.max(k.size, e.size);
            // A file first seen without a complete line gets its fingerprint now, so that it is
            // still recognised once gzipped.
            if (k.identity.fingerprint === '') k.identity = { dev: k.identity.dev, ino: k.identity.ino, fingerprint: await this.fingerprintOf(e) };
          }
        }
        this.newer = this.newer.slice(0, i).concat(await this.knownFiles(entries.slice(j + 1), false));
        return;
      }
    }
    // None of the known files is there any more: everything now on disk is newer.
    this.newer = this.newer.concat(await this.knownFiles(entries, true));
  }

  /** Scanned files as chain members (`gap`: files may be missing before the first one). */
  private async knownFiles(entries: readonly ScanEntry[], gap: boolean): Promise<KnownFile[]> {
    const out: KnownFile[] = [];
    for (const e of entries) {
      out.push({ identity: { dev: e.dev, ino: e.ino, fingerprint: await this.fingerprintOf(e) }, gz: e.gz, name: path.join(this.dir, e.name), size: e.size, gapBefore: gap && out.length === 0 });
    }
    return out;
  }

  /** Opens a known newer file wherever it is now; null when it is gone. */
  private async openKnown(k: KnownFile): Promise<CurrentFile | null> {
    for (let attempt = 0; attempt < OPEN_ATTEMPTS; attempt++) {
      const entries = await this.scan();
      let found: ScanEntry | null = null;
      for (const e of entries) {
        if (await this.matches(k.identity, e)) {
          found = e;
          break;
        }
      }
      if (found === null) {
        // A provisional identity (no complete line when seen) cannot follow its file into a .gz.
        return null;
      }
      const opened = await this.openEntry(found, k.identity.fingerprint === '' ? null : k.identity, 0);
      if (opened !== null) return opened;
    }
    return null;
  }

  /**
   * Opens a scanned file for reading from `offset`; null if it was renamed or removed meanwhile
   * (the caller scans again). `identity` is kept for positions when given.
   */
  private async openEntry(e: ScanEntry, identity: FileIdentity | null, offset: number): Promise<CurrentFile | null> {
    const name = path.join(this.dir, e.name);
    if (e.gz) {
      const gzip = new GzipReader(name, this.chunkBytes, () => this.countFd(1), () => this.countFd(-1));
      const cur: CurrentFile = {
        identity: identity ?? { dev: e.dev, ino: e.ino, fingerprint: await this.fingerprintOf(e) },
        name,
        gz: true,
        handle: null,
        gzip,
        offset,
        rotated: true,
      };
      try {
        await gzip.skip(offset);
      } catch (err) {
        await gzip.close();
        const announced = await this.gzipAnnouncedSize(name);
        this.sink.lost({
          bytes: announced > offset ? announced - offset : 0,
          reason: 'compressed_unreadable',
          certain: true,
          file: name,
          detail: `${name} cannot be decompressed (${errorMessage(err)}); its lines are lost`,
        });
        return null;
      }
      return cur;
    }
    let handle: FileHandle;
    try {
      handle = await this.open(name);
    } catch (err) {
      if (isCode(err, 'ENOENT')) return null;
      throw err;
    }
    const st = await handle.stat();
    if (!sameInode(st, e) || st.size < offset) {
      await this.closeHandle(handle);
      return null;
    }
    let fingerprint = identity?.fingerprint ?? '';
    if (fingerprint === '' && offset > 0) fingerprint = await headFingerprint(handle, st.size);
    return {
      identity: identity ?? { dev: st.dev, ino: st.ino, fingerprint },
      name,
      gz: false,
      handle,
      gzip: null,
      offset,
      rotated: false,
    };
  }

  /** startAtEnd: the offset after the file's last complete line. */
  private async afterLastNewline(e: ScanEntry): Promise<number> {
    let handle: FileHandle;
    try {
      handle = await this.open(path.join(this.dir, e.name));
    } catch (err) {
      if (isCode(err, 'ENOENT')) return 0;
      throw err;
    }
    try {
      const { size } = await handle.stat();
      const buf = Buffer.allocUnsafe(64 * 1024);
      let end = size;
      while (end > 0 && size - end < START_AT_END_SCAN_BYTES) {
        const start = Math.max(0, end - buf.length);
        const { bytesRead } = await handle.read(buf, 0, end - start, start);
        const nl = buf.subarray(0, bytesRead).lastIndexOf(10);
        if (nl >= 0) return start + nl + 1;
        end = start;
      }
      return end === 0 ? 0 : size;
    } finally {
      await this.closeHandle(handle);
    }
  }

  /** The uncompressed size a gzip trailer announces (mod 2^32), 0 if unreadable. */
  private async gzipAnnouncedSize(file: string): Promise<number> {
    try {
      const handle = await this.open(file);
      try {
        const { size } = await handle.stat();
        if (size < 18) return 0;
        const b = Buffer.alloc(4);
        await handle.read(b, 0, 4, size - 4);
        return b.readUInt32LE(0);
      } finally {
        await this.closeHandle(handle);
      }
    } catch {
      return 0;
    }
  }

  private async open(file: string): Promise<FileHandle> {
    const handle = await fsp.open(file, 'r');
    this.countFd(1);
    return handle;
  }

  private async closeHandle(handle: FileHandle): Promise<void> {
    try {
      await handle.close();
    } finally {
      this.countFd(-1);
    }
  }

  private countFd(delta: number): void {
    this.fds += delta;
    if (this.fds > this.peakFds) this.peakFds = this.fds;
  }

  private async closeFile(f: CurrentFile): Promise<void> {
    if (f.handle !== null) {
      const h = f.handle;
      f.handle = null;
      await this.closeHandle(h).catch(() => undefined);
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
        // The directory went away (container removed) or the watch broke: the poll carries on.
        if (this.watcher === watcher) this.watcher = null;
        watcher.close();
      });
      this.watcher = watcher;
    } catch (err) {
      if (isCode(err, 'ENOENT')) return; // not there yet: retried at each poll
      if (!this.watchFailedReported) {
        this.watchFailedReported = true;
        this.reportError(`cannot watch ${this.dir} (inotify limits? see fs.inotify.max_user_watches); polling every ${this.pollMs} ms instead`, err);
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

  /** Until something changes: a watch event, the fallback poll, resume() or close(). */
  private waitForChange(): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.changed && !this.paused) {
      this.changed = false;
      return Promise.resolve();
    }
    if (this.watcher === null) this.startWatching();
    return new Promise((resolve) => {
      const done = (): void => {
        if (this.pollTimer !== null) clearTimeout(this.pollTimer);
        this.pollTimer = null;
        this.wake = null;
        this.changed = false;
        resolve();
      };
      this.wake = done;
      // While paused only resume() or close() wake the loop (no reads are wanted before that).
      if (!this.paused) {
        this.pollTimer = setTimeout(() => {
          // Without a watch, renames are only seen by looking.
          if (this.watcher === null) this.namesChanged = true;
          done();
        }, this.pollMs);
      }
    });
  }

  private sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        if (this.pollTimer !== null) clearTimeout(this.pollTimer);
        this.pollTimer = null;
        this.wake = null;
        resolve();
      };
      this.wake = done;
      this.pollTimer = setTimeout(done, ms);
    });
  }

  private reportError(message: string, cause: unknown): void {
    this.sink.error(new ReceiverError('STREAM_FAILED', `${message}: ${errorMessage(cause)}`, { cause, transient: true }));
  }
}

async function statOrNull(file: string): Promise<fs.Stats | null> {
  try {
    return await fsp.stat(file);
  } catch (err) {
    if (isCode(err, 'ENOENT', 'ENOTDIR')) return null;
    throw err;
  }
}

/** Fingerprint of an open plain file from its head. */
async function headFingerprint(handle: FileHandle, size: number): Promise<string> {
  const want = Math.min(size, FINGERPRINT_MAX_BYTES);
  if (want === 0) return '';
  const head = Buffer.allocUnsafe(want);
  let got = 0;
  // Most first lines are short: read 4 KiB first, the rest only when no newline is there.
  while (got < want) {
    const n = Math.min(want - got, got === 0 ? 4096 : want - got);
    const { bytesRead } = await handle.read(head, got, n, got);
    if (bytesRead === 0) break;
    got += bytesRead;
    if (head.subarray(0, got).indexOf(10) >= 0) break;
  }
  return fingerprintOfHead(head, got);
}

