/**
 * Positions on disk. One JSON file per receiver, replaced atomically (write a
 * temporary file, fsync it, rename it over the old one, fsync the directory), so
 * a crash leaves either the old positions or the new ones, never half of each.
 * Positions arrive here only after the backend acknowledged the records up to
 * them; writes are coalesced so a busy receiver does not fsync per batch.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerPosition, StreamCursor } from '../docker/position.js';
import type { FilePosition } from '../files/json-file-tailer.js';
import { ReceiverError, errorMessage } from '../errors.js';
import { normalizeTimestamp } from '../framing/timestamp.js';
import type { Logger } from '../util/logger.js';

const FILE_VERSION = 1;

interface PositionsFile {
  version: number;
  endpoint: string;
  /** Local clock (ms) up to which the receiver knew of every container of the engine. */
  watched_until: number | null;
  containers: Record<string, ContainerPosition>;
}

export interface CheckpointStore {
  get(containerId: string): ContainerPosition | undefined;
  ids(): string[];
  set(containerId: string, position: ContainerPosition): void;
  delete(containerId: string): void;
  /** Writes what is pending now; resolves when it is on disk. */
  flush(): Promise<void>;
  readonly path: string | null;
  /**
   * Until when (local ms) the receiver knew of every container; after a restart,
   * containers created since then are read from their beginning.
   */
  watchedUntil: number | null;
}

/** Keeps positions in memory only (no storage.directory): exact while running, from start_at after a restart. */
export class MemoryCheckpointStore implements CheckpointStore {
  readonly path = null;
  watchedUntil: number | null = null;
  private readonly positions = new Map<string, ContainerPosition>();
  get(id: string): ContainerPosition | undefined {
    return this.positions.get(id);
  }
  ids(): string[] {
    return [...this.positions.keys()];
  }
  set(id: string, position: ContainerPosition): void {
    this.positions.set(id, position);
  }
  delete(id: string): void {
    this.positions.delete(id);
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
}

export class FileCheckpointStore implements CheckpointStore {
  readonly path: string;
  private readonly directory: string;
  private readonly endpoint: string;
  private readonly positions: Map<string, ContainerPosition>;
  private readonly logger: Logger;
  private dirty = false;
  private writing: Promise<void> | null = null;
  private readonly minIntervalMs: number;
  private lastWrite = 0;
  private timer: NodeJS.Timeout | null = null;
  private watched: number | null;

  private constructor(directory: string, fileName: string, endpoint: string, positions: Map<string, ContainerPosition>, watched: number | null, logger: Logger, minIntervalMs: number) {
    this.watched = watched;
    this.directory = directory;
    this.path = join(directory, fileName);
    this.endpoint = endpoint;
    this.positions = positions;
    this.logger = logger;
    this.minIntervalMs = minIntervalMs;
  }

  static async open(directory: string, receiverId: string, endpoint: string, logger: Logger, minIntervalMs = 200): Promise<FileCheckpointStore> {
    const fileName = `${receiverId.replace(/[^A-Za-z0-9_.-]/g, '_')}.positions.json`;
    try {
      await mkdir(directory, { recursive: true });
    } catch (err) {
      throw new ReceiverError('CHECKPOINT_IO_FAILED', `cannot create storage directory ${directory}: ${errorMessage(err)}`, { cause: err });
    }
    const path = join(directory, fileName);
    const positions = new Map<string, ContainerPosition>();
    let watched: number | null = null;
    let text: string | null = null;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ReceiverError('CHECKPOINT_IO_FAILED', `cannot read positions file ${path}: ${errorMessage(err)}`, { cause: err });
      }
    }
    if (text !== null) {
      const parsed = parsePositionsFile(text);
      if (parsed === null) {
        // Refuse to guess: starting over could re-send or skip a lot. The user decides.
        throw new ReceiverError('CHECKPOINT_IO_FAILED', `positions file ${path} is not valid; move it away to start from start_at, or restore it`);
      }
      if (parsed.endpoint !== endpoint) {
        logger.warn('positions file was written for another engine endpoint; using it anyway (container ids are unique)', { file: path, was: parsed.endpoint, now: endpoint });
      }
      for (const [id, p] of Object.entries(parsed.containers)) positions.set(id, p);
      watched = parsed.watched_until;
    }
    return new FileCheckpointStore(directory, fileName, endpoint, positions, watched, logger, minIntervalMs);
  }

  get(id: string): ContainerPosition | undefined {
    return this.positions.get(id);
  }

  ids(): string[] {
    return [...this.positions.keys()];
  }

  get watchedUntil(): number | null {
    return this.watched;
  }

  set watchedUntil(ms: number | null) {
    this.watched = ms;
    this.markDirty();
  }

  set(id: string, position: ContainerPosition): void {
    this.positions.set(id, position);
    this.markDirty();
  }

  delete(id: string): void {
    if (this.positions.delete(id)) this.markDirty();
  }

  async flush(): Promise<void> {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.writing !== null) await this.writing;
    if (this.dirty) await this.writeNow();
  }

  private markDirty(): void {
    this.dirty = true;
    if (this.writing !== null || this.timer !== null) return;
    const wait = Math.max(0, this.lastWrite + this.minIntervalMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.writeNow();
    }, wait);
    this.timer.unref();
  }

  private writeNow(): Promise<void> {
    if (this.writing !== null) return this.writing;
    this.dirty = false;
    const body: PositionsFile = { version: FILE_VERSION, endpoint: this.endpoint, watched_until: this.watched, containers: Object.fromEntries(this.positions) };
    this.writing = writeAtomically(this.directory, this.path, JSON.stringify(body, null, 1))
      .catch((err: unknown) => {
        this.dirty = true;
        this.logger.warnOnce('checkpoint-write', 'cannot write positions; will retry', { file: this.path, error: errorMessage(err) });
      })
      .finally(() => {
        this.writing = null;
        this.lastWrite = Date.now();
        if (this.dirty) this.markDirty();
      });
    return this.writing;
  }
}

async function writeAtomically(directory: string, path: string, text: string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  const file = await open(temp, 'w', 0o600);
  try {
    await file.writeFile(text, 'utf8');
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temp, path);
  const dir = await open(directory, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

function parsePositionsFile(text: string): PositionsFile | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const r = raw as Record<string, unknown>;
  if (r['version'] !== FILE_VERSION || typeof r['containers'] !== 'object' || r['containers'] === null) return null;
  const containers: Record<string, ContainerPosition> = {};
  for (const [id, value] of Object.entries(r['containers'] as Record<string, unknown>)) {
    const position = parsePosition(value);
    if (position === null) return null;
    containers[id] = position;
  }
  const watched = typeof r['watched_until'] === 'number' && Number.isFinite(r['watched_until']) ? r['watched_until'] : null;
  return { version: FILE_VERSION, endpoint: typeof r['endpoint'] === 'string' ? r['endpoint'] : '', watched_until: watched, containers };
}

function parsePosition(value: unknown): ContainerPosition | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const floor = v['floor'] === '' ? '' : typeof v['floor'] === 'string' ? normalizeTimestamp(v['floor']) : null;
  const stdout = parseCursor(v['stdout']);
  const stderr = parseCursor(v['stderr']);
  const last = v['last'] === 'stdout' || v['last'] === 'stderr' ? v['last'] : v['last'] === null ? null : undefined;
  if (floor === null || stdout === undefined || stderr === undefined || last === undefined) return null;
  if (last !== null && (last === 'stdout' ? stdout : stderr) === null) return null;
  const file = parseFilePosition(v['file']);
  if (file === undefined) return null;
  return file === null ? { floor, stdout, stderr, last } : { floor, stdout, stderr, last, file };
}

function parseFilePosition(value: unknown): FilePosition | null | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const file = (typeof v['file'] === 'object' && v['file'] !== null ? v['file'] : {}) as Record<string, unknown>;
  const { dev, ino, fingerprint } = file;
  const offset = v['offset'];
  const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0;
  if (!isCount(dev) || !isCount(ino) || typeof fingerprint !== 'string' || !isCount(offset)) return undefined;
  return { file: { dev, ino, fingerprint }, offset };
}

function parseCursor(value: unknown): StreamCursor | null | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const ts = typeof v['ts'] === 'string' ? normalizeTimestamp(v['ts']) : null;
  const count = v['count'];
  if (ts === null || typeof count !== 'number' || !Number.isInteger(count) || count < 1) return undefined;
  return { ts, count };
}
