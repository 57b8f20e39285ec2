/**
 * The bounded reader: one per container, holding at most one log stream at a
 * time, for stream_timeout (longer only while a reopened stream still replays
 * the lines before its anchor and reads on: see rotate). Each stream is closed by
 * destroying its socket (Node really cancels the read) and the next one resumes
 * from the position, so however many times streams come and go nothing piles up
 * and nothing is lost or repeated.
 *
 * A generation number is bumped for every stream; events of an older stream
 * (a late 'end', a late open) find a different generation and are ignored. An
 * epoch number is bumped when an export was given up on and the position was
 * rewound to the last committed one; acknowledgements from before that are void.
 */
import { access, constants } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { HrTime } from '@opentelemetry/api';
import { ReceiverError, errorMessage } from '../errors.js';
import type { IoStream, LogLine } from '../framing/log-framer.js';
import { LogFramer } from '../framing/log-framer.js';
import type { DockerTimestamp } from '../framing/timestamp.js';
import { containerResource } from '../mapping/resource.js';
import { hrTimeNow, toLogRecord } from '../mapping/log-record.js';
import type { LogRecordOptions } from '../mapping/log-record.js';
import type { CompiledMultiline } from '../framing/multiline.js';
import { MultilineAggregator } from '../framing/multiline.js';
import type { FilePosition, LostInfo } from '../files/json-file-tailer.js';
import { JsonFileTailer } from '../files/json-file-tailer.js';
import type { DeliveryOutcome, LogsConsumer } from '../pipeline/consumer.js';
import type { CounterCell, MissedReason, ReceiverMetrics, StreamCloseReason, StreamOpenReason } from '../telemetry/metrics.js';
import { Backoff } from '../util/backoff.js';
import type { Logger } from '../util/logger.js';
import type { Semaphore } from '../util/semaphore.js';
import type { ContainerDetails, DockerEngine } from './engine.js';
import type { ContainerPosition, OpenPlan } from './position.js';
import { EMPTY_POSITION, PositionTracker, planOpen } from './position.js';
import type { StreamRegistry } from './stream-registry.js';

/**
 * Tail windows tried in turn when a reopened stream does not reach back to the
 * anchor. dockerd decodes every line of the window, so the first one is sized
 * from the container's recent rate (firstWindow); a window too small costs one
 * widened reopen.
 */
const TAIL_WINDOWS: ReadonlyArray<number | 'all'> = [0, 1000, 20_000, 500_000, 'all'];
export const FIRST_WINDOW_MIN = 16;
const FIRST_WINDOW_MAX = 1000;

/** A file stream of a stopped container ends when nothing new came for this long after its last read. */
const FILE_DRAINED_AFTER_MS = 1500;
/** How long an API follow stream may outlive its container's exit before it is replaced. */
const API_EXIT_GRACE_MS = 2000;

/** Read size for log files: large enough for fast catch-up, small enough to hold one per container. */
const FILE_READ_CHUNK = 128 * 1024;

/** A stream that lived this long counts as healthy: the next failure starts backing off from the beginning. */
const HEALTHY_STREAM_MS = 5000;

export interface ReaderSettings {
  /** auto: the engine's json-file log when it is readable here, else the API. */
  readFrom: 'auto' | 'api' | 'files';
  streamTimeoutMs: number;
  streamTimeoutJitter: number;
  maxLogSize: number;
  reconnect: { initialMs: number; maxMs: number };
}

/** What a reader needs from the receiver that owns it. */
export interface ReaderContext {
  readonly engine: DockerEngine;
  readonly consumer: LogsConsumer;
  readonly opens: Semaphore;
  readonly streams: StreamRegistry;
  readonly metrics: ReceiverMetrics;
  readonly logger: Logger;
  readonly settings: ReaderSettings;
  readonly receiverId: string;
  readonly hostName: string;
  /** The engine's data directory, where json-file logs live ('' when unknown). */
  readonly engineRootDir: string;
  /** The engine's clock now, as a Docker timestamp. */
  engineNow(): DockerTimestamp;
  /** A position the backend has acknowledged. */
  committed(containerId: string, position: ContainerPosition): void;
  /** The reader has finished for good (container removed, or its logs cannot be read). */
  finished(containerId: string): void;
}

/** How this container's lines become records: JSON bodies, multiline joining (from config or labels). */
export interface RecordShaping {
  readonly record: LogRecordOptions;
  readonly multiline: CompiledMultiline | null;
}

export const PLAIN_SHAPING: RecordShaping = { record: {}, multiline: null };

export type ReaderState = 'idle' | 'opening' | 'streaming' | 'ending' | 'backoff' | 'stopped' | 'unsupported' | 'closed';

export type LogSource = 'api' | 'files';

/**
 * One reading of a container's log, from the API (a follow stream: `response`
 * and `framer`) or from its json-file (a `tailer`). Everything after the lines
 * are framed (positions, records, handovers) is the same for both.
 */
interface ActiveStream {
  readonly generation: number;
  readonly source: LogSource;
  readonly response: Readable | null;
  readonly framer: LogFramer | null;
  tailer: JsonFileTailer | null;
  /** Files: where the last line taken ends, committed with the timestamps. */
  filePosition: FilePosition | null;
  /** Files: the container stopped; the stream ends once the file is read to its end. */
  stopping: NodeJS.Timeout | null;
  /** API: opened after the container was seen stopped, so its end is the log's end. */
  readonly afterExit: boolean;
  readonly tracker: PositionTracker;
  /** Joins lines into records when multiline is on; emits into `records`. */
  readonly multiline: MultilineAggregator<ContainerPosition> | null;
  /** The position the stream was opened from: what is settled while multiline holds everything. */
  readonly openedFrom: ContainerPosition;
  flushTimer: NodeJS.Timeout | null;
  nowMs: number;
  /** A handOver is scheduled for the end of this I/O turn. */
  handOverPending: boolean;
  readonly openedAt: number;
  /** API: the rotation deadline (stream_timeout). Files hold no socket and need none. */
  timer: NodeJS.Timeout | null;
  records: ReadableLogRecord[];
  bytes: number;
  /** Lines seen (taken or skipped) by this stream, for the rate that sizes tail windows. */
  seen: number;
  /** Lines this stream took (the rest of `seen` it skipped as taken already). */
  taken: number;
  /** `seen` when the rotation deadline last passed while the stream was still replaying (see rotate). */
  seenAtDeadline: number;
  stdoutLines: number;
  stderrLines: number;
  skipped: number;
  merged: number;
  truncated: number;
  observed: HrTime;
  widen: boolean;
  paused: boolean;
}

export interface ReaderStatus {
  id: string;
  name: string;
  state: ReaderState;
  position: ContainerPosition;
  committed: ContainerPosition;
  streamAgeSeconds: number | null;
  /** Where the open stream reads from; null when none is open. */
  source: LogSource | null;
}

export class ContainerReader {
  private readonly ctx: ReaderContext;
  private container: ContainerDetails;
  private resource: Resource;
  private delivered: ContainerPosition;
  private committedPosition: ContainerPosition;
  /** No saved position: the first stream starts at the end or at the beginning of the log. */
  private fresh: boolean;
  private readonly startAtEnd: boolean;
  private generation = 0;
  private epoch = 0;
  private state: ReaderState = 'idle';
  private active: ActiveStream | null = null;
  private windowIndex = 0;
  private readonly backoff: Backoff;
  private backoffTimer: NodeJS.Timeout | null = null;
  private readonly lifetime = new AbortController();
  private readonly log: Logger;
  private readonly shaping: RecordShaping;
  /** Lines per second the last closed stream took: sizes the next tail window. */
  private recentRate = 0;
  /** As far as events told us: a file stream has no end of its own. */
  private containerRuns: boolean;
  /** Created but not started yet (seen at its create event): nothing to read through the API. */
  private neverStarted: boolean;
  /** The container was removed; the reader finishes once its last lines are read. */
  private removed = false;
  /** The API said the container stopped: the next stream reads a complete log and is the last. */
  private exitSeen = false;
  /** docker_logs.containers.missed was counted for this container already. */
  private missedCounted = false;
  private readonly counts: ReaderCounts;

  constructor(ctx: ReaderContext, container: ContainerDetails, saved: ContainerPosition | undefined, startAtEnd: boolean, shaping: RecordShaping = PLAIN_SHAPING) {
    this.ctx = ctx;
    this.shaping = shaping;
    this.container = container;
    this.resource = containerResource(container, ctx.hostName);
    this.delivered = saved ?? EMPTY_POSITION;
    this.committedPosition = this.delivered;
    this.fresh = saved === undefined;
    this.startAtEnd = startAtEnd;
    this.backoff = new Backoff({ initialMs: ctx.settings.reconnect.initialMs, maxMs: ctx.settings.reconnect.maxMs });
    this.log = ctx.logger.child(`container/${container.name}`);
    this.counts = readerCounts(ctx.metrics, ctx.receiverId);
    this.containerRuns = container.running;
    this.neverStarted = !container.running && container.startedAt.startsWith('0001-');
    // Stopped when inspected: its log is complete, the first stream is the last.
    this.exitSeen = !container.running;
  }

  get id(): string {
    return this.container.id;
  }

  /** The container's Resource as of now (it changes on rename). */
  get containerResource(): Resource {
    return this.resource;
  }

  get status(): ReaderStatus {
    return {
      id: this.container.id,
      name: this.container.name,
      state: this.state,
      position: this.delivered,
      committed: this.committedPosition,
      streamAgeSeconds: this.active === null ? null : (Date.now() - this.active.openedAt) / 1000,
      source: this.active?.source ?? null,
    };
  }

  /**
   * There may be lines to read (the container was found, started, or ran while
   * we were not looking): make sure a stream is open. On a stopped container the
   * stream gives what is left from our position and ends.
   */
  wake(): void {
    if (this.state === 'stopped') this.exitSeen = false;
    if (this.state === 'idle' || this.state === 'stopped') void this.open('start');
    else if (this.state === 'backoff') this.retryNow();
  }

  /** The container was removed. A stream still draining finishes first (and then finds it gone). */
  containerRemoved(): void {
    this.removed = true;
    // A removed container runs no more, whether or not its die event reached us: a file
    // stream has no end of its own to wait for.
    if (this.containerRuns && this.active?.source === 'files') this.containerExited();
    if (this.state === 'stopped' || this.state === 'idle' || this.state === 'backoff' || this.state === 'unsupported') {
      if (this.state === 'idle' || this.state === 'backoff') {
        // Not read to the end (never opened, or waiting to reopen): the rest is gone with it.
        this.countMissed('removed', 'the container was removed before its logs could be read to the end');
      }
      this.close();
      this.ctx.finished(this.container.id);
    }
  }

  get finishedReading(): boolean {
    return this.state === 'stopped' || this.state === 'unsupported';
  }

  /** The engine connection came back: streams waiting out a backoff may try at once. */
  retryNow(): void {
    if (this.state !== 'backoff') return;
    if (this.backoffTimer !== null) clearTimeout(this.backoffTimer);
    this.backoffTimer = null;
    void this.open('reconnect');
  }

  /** Inspect told us something new (a rename): later records carry it; records already made keep theirs. */
  updateDetails(container: ContainerDetails): void {
    const renamed = container.name !== this.container.name;
    this.container = { ...container, tty: this.container.tty };
    if (renamed) this.resource = containerResource(this.container, this.ctx.hostName);
  }

  /** Stops reading for good; resolves when the socket is released (or after the registry's timeout). */
  close(): void {
    if (this.state === 'closed') return;
    if (this.active !== null) {
      // Lines already framed in this I/O turn are complete: send them with the rest.
      if (!this.active.widen) this.handOver(this.active);
      this.closeStream(this.active, 'shutdown', false);
    }
    this.state = 'closed';
    this.lifetime.abort();
    if (this.backoffTimer !== null) clearTimeout(this.backoffTimer);
    this.backoffTimer = null;
  }

  private async open(reason: StreamOpenReason): Promise<void> {
    if (this.state === 'closed' || this.state === 'unsupported') return;
    const generation = ++this.generation;
    this.state = 'opening';
    const fresh = this.fresh;
    if (fresh && this.startAtEnd && this.delivered.floor === '') {
      // Lines older than this are history we were told not to ship.
      this.delivered = { ...this.delivered, floor: this.ctx.engineNow() };
      this.committedPosition = this.delivered;
    }
    // Remember from the first look that we know this container, before anything is acknowledged:
    // after a restart, a container we saw but could not deliver yet is read again from here,
    // not skipped as "seen before" (exited meanwhile) or started at its end (start_at: end).
    if (fresh) this.ctx.committed(this.container.id, this.committedPosition);
    if (await this.readsFile()) {
      if (generation === this.generation && this.state === 'opening') this.openFile(reason, generation, fresh);
      return;
    }
    if (this.neverStarted) {
      // The API has nothing to give before the start event; the file source waits for the file instead.
      if (generation === this.generation && this.state === 'opening') this.state = 'idle';
      return;
    }
    const window = this.windowIndex === 0 ? this.firstWindow() : (TAIL_WINDOWS[this.windowIndex] ?? 'all');
    const plan = planOpen(this.delivered, window, fresh ? { startAtEnd: this.startAtEnd } : null);
    const permitted = await this.ctx.opens.acquire(this.lifetime.signal);
    if (!permitted) return;
    let response: Readable;
    try {
      // A stopped container's log is complete: read it without following (dockerd can leave a
      // follow opened during the container's exit waiting for ever).
      response = await this.ctx.engine.openLogStream(this.container.id, { follow: !this.exitSeen, since: plan.since, tail: plan.tail, signal: this.lifetime.signal });
    } catch (err) {
      if (generation === this.generation && this.state === 'opening') this.openFailed(err);
      return;
    } finally {
      this.ctx.opens.release();
    }
    this.ctx.streams.opened();
    if (generation !== this.generation || this.state !== 'opening') {
      response.on('error', ignore);
      response.destroy();
      this.ctx.streams.closed(response);
      return;
    }
    this.attach(response, plan, reason, generation, fresh);
  }

  /** Lines that can follow the anchor by the time we reopen: two seconds' worth at the recent rate, with a floor. */
  private firstWindow(): number {
    return Math.min(FIRST_WINDOW_MAX, FIRST_WINDOW_MIN + Math.ceil(2 * this.recentRate));
  }

  private attach(response: Readable, plan: OpenPlan, reason: StreamOpenReason, generation: number, fresh: boolean): void {
    const { settings, metrics } = this.ctx;
    const jitter = 1 - Math.random() * settings.streamTimeoutJitter;
    const stream: ActiveStream = this.newStream(generation, 'api', new PositionTracker(this.delivered, plan, fresh), {
      response,
      framer: new LogFramer({ tty: this.container.tty, maxLogSize: settings.maxLogSize }, {
        line: (line) => this.onLine(stream, line),
        daemonError: (message) => {
          metrics.add('docker_logs.stream.errors', 1, { 'error.type': 'daemon_error' });
          this.log.warnOnce(`daemon-error:${this.container.id}`, 'the engine reported an error inside the log stream', { error: message });
        },
      }),
      tailer: null,
      timer: null,
    });
    this.armRotation(stream, settings.streamTimeoutMs * jitter);
    this.started(stream, reason);
    response.on('data', (chunk: Buffer) => this.onData(stream, chunk));
    response.once('end', () => void this.onEnd(stream));
    response.once('error', (err) => this.onStreamError(stream, err));
    this.log.debug('log stream opened', { reason, since: plan.since, tail: String(plan.tail), verify: plan.verifyAnchor });
  }

  private newStream(
    generation: number,
    source: LogSource,
    tracker: PositionTracker,
    io: Pick<ActiveStream, 'response' | 'framer' | 'tailer' | 'timer'>,
  ): ActiveStream {
    const compiled = this.shaping.multiline;
    const stream: ActiveStream = {
      generation,
      source,
      ...io,
      filePosition: this.delivered.file ?? null,
      stopping: null,
      afterExit: this.exitSeen,
      tracker,
      multiline: compiled === null ? null : new MultilineAggregator<ContainerPosition>(compiled, (line) => this.emitRecord(stream, line), { now: () => stream.nowMs }),
      openedFrom: this.delivered,
      flushTimer: null,
      nowMs: Date.now(),
      handOverPending: false,
      openedAt: Date.now(),
      records: [],
      bytes: 0,
      seen: 0,
      taken: 0,
      seenAtDeadline: 0,
      stdoutLines: 0,
      stderrLines: 0,
      skipped: 0,
      merged: 0,
      truncated: 0,
      observed: hrTimeNow(),
      widen: false,
      paused: false,
    };
    return stream;
  }

  private started(stream: ActiveStream, reason: StreamOpenReason): void {
    this.active = stream;
    this.state = 'streaming';
    this.fresh = false;
    this.ctx.metrics.add('docker_logs.stream.opened', 1, { reason, source: stream.source });
    this.ctx.metrics.add('docker_logs.stream.active', 1);
  }

  /**
   * The container's json-file: inspect's LogPath, or for a container not started
   * yet (LogPath is set at start) where the engine will put it.
   */
  private logFile(): string {
    const { id, logPath } = this.container;
    if (logPath !== '') return logPath;
    return this.ctx.engineRootDir === '' ? '' : join(this.ctx.engineRootDir, 'containers', id, `${id}-json.log`);
  }

  /**
   * Whether this container is read from its json-file: read_from, the driver, and
   * whether its log directory can be read here (the file itself may not exist yet:
   * the tailer waits for it, which is how a container that exits at once is caught).
   */
  private async readsFile(): Promise<boolean> {
    const mode = this.ctx.settings.readFrom;
    if (mode === 'api') return false;
    const file = this.logFile();
    let readable = this.container.logDriver === 'json-file' && file !== '';
    if (readable) {
      try {
        await access(dirname(file), constants.R_OK | constants.X_OK);
      } catch {
        readable = false;
      }
    }
    if (!readable && mode === 'files') {
      this.log.warnOnce(`no-file:${this.container.id}`, "read_from is files but this container's log file cannot be read here; reading it through the API", {
        driver: this.container.logDriver,
        path: file,
      });
    }
    return readable;
  }

  /**
   * Reads the engine's json-file directly. A saved file position resumes there;
   * without one (first look, or coming from the API) every line the files still
   * hold is read and the timestamp cursors drop what was already taken.
   */
  private openFile(reason: StreamOpenReason, generation: number, fresh: boolean): void {
    const position = this.delivered.file ?? null;
    const plan: OpenPlan = { since: undefined, tail: 'all', verifyAnchor: false };
    const tracker = new PositionTracker(this.delivered, plan, fresh || position !== null);
    const stream = this.newStream(generation, 'files', tracker, { response: null, framer: null, tailer: null, timer: null });
    const tailer = new JsonFileTailer(
      {
        logPath: this.logFile(),
        position,
        startAtEnd: fresh && this.startAtEnd,
        maxLogSize: this.ctx.settings.maxLogSize,
        tty: this.container.tty,
        readChunkBytes: FILE_READ_CHUNK,
      },
      {
        line: (line, at) => {
          if (stream !== this.active) return;
          stream.filePosition = at;
          this.onLine(stream, line);
        },
        batchEnd: () => {
          if (stream !== this.active) return;
          stream.observed = hrTimeNow();
          stream.nowMs = Date.now();
          this.handOver(stream);
          if (stream.multiline !== null) this.armFlush(stream);
          if (stream.stopping !== null) this.armStopping(stream);
        },
        lost: (info) => this.fileLost(info),
        error: (err) => {
          this.ctx.metrics.add('docker_logs.stream.errors', 1, { 'error.type': err.code });
          this.log.warnOnce(`file-error:${this.container.id}`, err.message, { path: this.container.logPath });
        },
      },
    );
    stream.tailer = tailer;
    this.started(stream, reason);
    tailer.start();
    if (!this.containerRuns && !this.neverStarted) this.containerExited();
    this.log.debug('reading the log file', { reason, path: this.container.logPath, resume: position === null ? 'none' : String(position.offset) });
  }

  /** Counts this container once in docker_logs.containers.missed, and says so. */
  private countMissed(reason: MissedReason, message: string): void {
    if (this.missedCounted) return;
    this.missedCounted = true;
    this.ctx.metrics.add('docker_logs.containers.missed', 1, { reason });
    this.log.warn(message, { id: this.container.id, reason });
  }

  private fileLost(info: LostInfo): void {
    this.ctx.metrics.add('docker_logs.file.lost', info.bytes, { reason: info.reason, certain: String(info.certain) });
    // The container-level count too, as the API path reports a container gone before it was read.
    this.countMissed(info.reason === 'file_gone' ? 'removed' : 'rotated', 'log data was lost before it could be read');
    this.log.warn('log data was rotated or removed before it could be read', { reason: info.reason, bytes: info.bytes, certain: info.certain, detail: info.detail });
  }

  /**
   * The container stopped. An API stream ends by itself after the last line;
   * a file has no end to signal, so the file stream ends once it was read to
   * its end and nothing more came for a moment.
   */
  containerExited(): void {
    this.containerRuns = false;
    // Any stream opened from now on reads a complete log: it need not follow.
    this.exitSeen = true;
    const stream = this.active;
    if (stream === null) return;
    if (stream.source === 'api') {
      this.armApiExitGrace(stream);
      return;
    }
    if (stream.tailer === null) return;
    stream.tailer.containerStopped();
    this.armStopping(stream);
  }

  /**
   * dockerd ends a follow stream when the container stops, except one opened while
   * the container was exiting: that one can wait for ever. If the stream has not
   * ended shortly after the exit, read the rest once more without following.
   */
  private armApiExitGrace(stream: ActiveStream): void {
    this.armAfterExit(stream, API_EXIT_GRACE_MS, () => Date.now() - stream.nowMs < API_EXIT_GRACE_MS, () => {
      this.log.debug('the log stream did not end after the container stopped: reading the rest without following');
      this.closeStream(stream, 'container_stopped', false);
      void this.open('reconnect');
    });
  }

  /** The container runs again (a start event). */
  containerStarted(): void {
    this.containerRuns = true;
    this.neverStarted = false;
    this.exitSeen = false;
    const stream = this.active;
    if (stream?.stopping != null) {
      clearTimeout(stream.stopping);
      stream.stopping = null;
    }
  }

  /** A file stream of a stopped container ends once the file was read to its end and nothing more came for a moment. */
  private armStopping(stream: ActiveStream): void {
    this.armAfterExit(stream, FILE_DRAINED_AFTER_MS, () => false, () => {
      // A file that was never opened was removed before we got to it (an open one is read to its end).
      if (this.removed && stream.tailer !== null && stream.tailer.peakOpenFiles === 0) {
        this.countMissed('removed', 'the container and its log file were removed before they could be read');
      }
      this.closeStream(stream, 'container_stopped', true);
      this.state = this.removed ? 'closed' : 'stopped';
      if (this.removed) this.ctx.finished(this.container.id);
    });
  }

  /**
   * After the container stopped: `expire` once `ms` passed with the stream still
   * the active one, the container still stopped, and the stream neither paused for
   * backpressure (not drained: wait for it) nor `busy`; otherwise look again later.
   * A start event (containerStarted) or closing the stream cancels it.
   */
  private armAfterExit(stream: ActiveStream, ms: number, busy: () => boolean, expire: () => void): void {
    if (stream.stopping !== null) clearTimeout(stream.stopping);
    stream.stopping = setTimeout(() => {
      stream.stopping = null;
      if (stream !== this.active || this.containerRuns) return;
      if (stream.paused || busy()) {
        this.armAfterExit(stream, ms, busy, expire);
        return;
      }
      expire();
    }, ms);
    stream.stopping.unref();
  }

  /**
   * dockerd writes every log message as its own HTTP chunk: the lines of one I/O
   * turn are handed over together at its end, so per-handover work is not per line.
   * Lines framed but not yet handed over when a stream closes go with it: the
   * position never moved past them, so the next stream reads them again.
   */
  private onData(stream: ActiveStream, chunk: Buffer): void {
    if (stream !== this.active) return;
    if (!stream.handOverPending) {
      stream.handOverPending = true;
      stream.observed = hrTimeNow();
      stream.nowMs = Date.now();
      setImmediate(() => this.afterData(stream));
    }
    stream.framer?.push(chunk);
    if (stream.widen) {
      this.handOver(stream);
      this.widenAndReopen(stream);
    }
  }

  private afterData(stream: ActiveStream): void {
    stream.handOverPending = false;
    if (stream !== this.active || stream.widen) return;
    this.handOver(stream);
    if (stream.multiline !== null) this.armFlush(stream);
  }

  /** Multiline holds the last record open until the next line or flush_timeout: a timer sends it. */
  private armFlush(stream: ActiveStream): void {
    const deadline = stream.multiline?.nextDeadline() ?? null;
    if (stream.flushTimer !== null) clearTimeout(stream.flushTimer);
    stream.flushTimer = null;
    if (deadline === null) return;
    stream.flushTimer = setTimeout(() => {
      stream.flushTimer = null;
      if (stream !== this.active) return;
      stream.nowMs = Date.now();
      stream.multiline?.flushDue(stream.nowMs);
      this.handOver(stream);
      this.armFlush(stream);
    }, Math.max(1, deadline - Date.now()));
    stream.flushTimer.unref();
  }

  private onLine(stream: ActiveStream, line: LogLine): void {
    if (stream.widen) return;
    stream.seen++;
    const verdict = stream.tracker.judge(line);
    if (verdict === 'take') {
      stream.taken++;
      if (line.pieces > 1) stream.merged++;
      if (stream.multiline !== null) stream.multiline.push(line, streamPosition(stream));
      else this.emitRecord(stream, line);
    } else if (verdict === 'skip') {
      stream.skipped++;
    } else {
      stream.widen = true;
    }
  }

  private emitRecord(stream: ActiveStream, line: LogLine): void {
    stream.records.push(toLogRecord(line, this.resource, stream.observed, this.shaping.record));
    stream.bytes += line.text.length + 64;
    if (line.stream === 'stdout') stream.stdoutLines++;
    else stream.stderrLines++;
    if (line.truncated) stream.truncated++;
  }

  /** Passes what one chunk gave to the consumer, with the position to commit once it is acknowledged. */
  private handOver(stream: ActiveStream): void {
    const { consumer } = this.ctx;
    this.delivered = streamPosition(stream);
    // With multiline, lines still held in an open record are not delivered yet: commit only up to them.
    const position = stream.multiline === null ? this.delivered : (stream.multiline.settledPosition() ?? stream.openedFrom);
    if (this.windowIndex > 0 && !stream.tracker.verifying && !stream.widen) this.windowIndex = 0;
    if (stream.skipped > 0) {
      this.counts.duplicates.value += stream.skipped;
      stream.skipped = 0;
    }
    if (stream.records.length === 0) return;
    const records = stream.records;
    const bytes = stream.bytes;
    stream.records = [];
    stream.bytes = 0;
    addCounts(this.counts, stream, records.length);
    const epoch = this.epoch;
    // The reader as the source: a later handover's position stands for the earlier ones (see LogsConsumer).
    const more = consumer.consume(records, bytes, (outcome) => this.onSettled(epoch, position, outcome), this);
    if (!more && !stream.paused) {
      // Backpressure: stop reading the socket or the file; Docker keeps the lines in its log.
      stream.paused = true;
      stream.response?.pause();
      stream.tailer?.pause();
      consumer.onceWritable(() => {
        if (this.active === stream && stream.paused) {
          stream.paused = false;
          stream.response?.resume();
          stream.tailer?.resume();
        }
      });
    }
  }

  private onSettled(epoch: number, position: ContainerPosition, outcome: DeliveryOutcome): void {
    if (epoch !== this.epoch) return;
    if (outcome.delivered) {
      // Also after close: what is flushed at shutdown must be committed, or a restart repeats it.
      this.committedPosition = position;
      this.ctx.committed(this.container.id, position);
      return;
    }
    if (this.state === 'closed') {
      // Nothing is read again after close, but no later handover may commit past these lines either:
      // the next run reads them again from the last committed position.
      this.epoch++;
      return;
    }
    // Given up on: read those lines again from the last acknowledged position.
    this.epoch++;
    this.delivered = this.committedPosition;
    this.log.warn('records were not delivered; re-reading from the last committed position', { error: outcome.error.message });
    if (this.active !== null) {
      this.closeStream(this.active, 'export_failed', false);
      void this.open('reconnect');
    }
  }

  /** The stream's rotation deadline, `ms` from now; it does not keep the process alive. */
  private armRotation(stream: ActiveStream, ms: number): void {
    stream.timer = setTimeout(() => this.rotate(stream), Math.max(1, Math.round(ms)));
    stream.timer.unref();
  }

  private rotate(stream: ActiveStream): void {
    if (stream !== this.active) return;
    // A stream that has taken nothing yet is still replaying lines taken already (a tail window
    // before its anchor: verifying never takes; or a whole log from a second before it). Closed
    // now, the next stream would replay the same lines, and again, for ever where replaying them
    // takes longer than a stream lives (a dense backlog: a second of it can be 150 000 lines; a
    // short stream_timeout). It lives another stream_timeout as long as it read lines in the last
    // one; the replay is bounded (by the window, or by the anchor's time: past it a bounded window
    // widens, a whole log takes).
    if (stream.taken === 0 && stream.seen > stream.seenAtDeadline) {
      stream.seenAtDeadline = stream.seen;
      this.armRotation(stream, this.ctx.settings.streamTimeoutMs);
      return;
    }
    this.backoff.reset();
    this.closeStream(stream, 'timeout', false);
    void this.open('rotation');
  }

  private widenAndReopen(stream: ActiveStream): void {
    this.windowIndex = Math.min(this.windowIndex + 1, TAIL_WINDOWS.length - 1);
    this.closeStream(stream, 'widen', false);
    void this.open('widen');
  }

  /**
   * The engine ended the stream. If the container stopped, its last partial line
   * is complete; if it still runs (engine restart, log rotation) the rest of that
   * line is still to come and the next stream reads it again.
   */
  private async onEnd(stream: ActiveStream): Promise<void> {
    if (stream !== this.active) return;
    if (stream.timer !== null) clearTimeout(stream.timer);
    this.state = 'ending';
    let running: boolean | null = null;
    let removed = false;
    // Docker stops following a log that is being removed at once: the stream may have
    // ended before we read it to the end, and it cannot be read again.
    let cutShort = false;
    try {
      const details = await this.ctx.engine.inspect(this.container.id, this.lifetime.signal);
      running = details.running;
      cutShort = details.removing;
      this.updateDetails(details);
    } catch (err) {
      if (err instanceof ReceiverError && err.code === 'CONTAINER_NOT_FOUND') {
        running = false;
        removed = true;
        cutShort = true;
      }
    }
    if (stream !== this.active) return;
    if (running !== null) this.exitSeen = !running;
    if (stream.widen || stream.tracker.verifying) {
      // The window never reached the anchor: the log has more than we asked for since then.
      this.widenAndReopen(stream);
      return;
    }
    if (running === false && !cutShort && !stream.afterExit) {
      // dockerd can end a follow stream at the container's exit before the last lines
      // reached it: read once more from our position, now that the log is complete.
      this.closeStream(stream, 'container_stopped', false);
      void this.open('reconnect');
      return;
    }
    if (running === false) {
      stream.framer?.end();
      this.handOver(stream);
    }
    this.windowIndex = 0;
    this.closeStream(stream, running === false ? 'container_stopped' : 'end', running === false);
    if (running === false) {
      if (cutShort) this.countMissed('removed_while_reading', 'the container was removed while its log was being read; its last lines may be missing');
      // A destroy event that came while we were asking will not come again.
      const gone = removed || cutShort || this.removed;
      this.state = gone ? 'closed' : 'stopped';
      if (gone) this.ctx.finished(this.container.id);
      return;
    }
    this.scheduleReopen();
  }

  private onStreamError(stream: ActiveStream, err: Error): void {
    if (stream !== this.active) return;
    this.ctx.metrics.add('docker_logs.stream.errors', 1, { 'error.type': 'STREAM_FAILED' });
    this.log.warnOnce(`stream-error:${this.container.id}`, 'log stream failed; reopening', { error: errorMessage(err) });
    this.closeStream(stream, 'error', false);
    this.scheduleReopen();
  }

  private openFailed(err: unknown): void {
    const error = err instanceof ReceiverError ? err : new ReceiverError('STREAM_FAILED', errorMessage(err), { cause: err, transient: true });
    const { metrics } = this.ctx;
    metrics.add('docker_logs.stream.errors', 1, { 'error.type': error.code });
    // 409: the container is dead or being removed; its log goes with it.
    if (error.code === 'CONTAINER_NOT_FOUND' || error.code === 'CONTAINER_CONFLICT') {
      this.state = 'closed';
      this.countMissed('removed', 'the container was removed before its logs could be read to the end');
      this.ctx.finished(this.container.id);
      return;
    }
    if (error.code === 'LOG_DRIVER_UNSUPPORTED') {
      this.state = 'unsupported';
      this.countMissed('driver_unsupported', error.message);
      return;
    }
    this.log.warnOnce(`open-failed:${this.container.id}`, 'cannot open log stream; will retry', { error: error.message });
    this.scheduleReopen();
  }

  private scheduleReopen(): void {
    if (this.state === 'closed' || this.state === 'unsupported') return;
    this.state = 'backoff';
    const wait = this.backoff.next();
    this.backoffTimer = setTimeout(() => {
      this.backoffTimer = null;
      if (this.state === 'backoff') void this.open('reconnect');
    }, wait);
    this.backoffTimer.unref();
  }

  /** Lets go of a stream: timer, listeners, socket; counts it and watches that it is released. */
  private closeStream(stream: ActiveStream, reason: StreamCloseReason, flushed: boolean): void {
    if (stream.multiline !== null) {
      if (stream.flushTimer !== null) clearTimeout(stream.flushTimer);
      stream.flushTimer = null;
      if (reason === 'export_failed') {
        stream.multiline.reset();
      } else {
        // Records held open are sent as they are: re-reading them would repeat what the
        // other output stream delivered meanwhile.
        stream.multiline.flushAll();
        this.handOver(stream);
      }
    }
    if (this.active === stream) this.active = null;
    if (this.state === 'streaming' || this.state === 'ending') this.state = 'idle';
    if (stream.timer !== null) clearTimeout(stream.timer);
    if (stream.stopping !== null) clearTimeout(stream.stopping);
    stream.stopping = null;
    if (!flushed) stream.framer?.reset();
    const { response, tailer } = stream;
    if (response !== null) {
      response.removeAllListeners('data');
      response.removeAllListeners('end');
      response.removeAllListeners('error');
      response.on('error', ignore);
      response.destroy();
      this.ctx.streams.closed(response);
    }
    if (tailer !== null) {
      tailer.close().catch((err: unknown) => this.log.warn('closing the log file failed', { error: errorMessage(err) }));
    }
    const lived = (Date.now() - stream.openedAt) / 1000;
    if (lived >= 1) this.recentRate = stream.seen / lived;
    if (lived * 1000 >= HEALTHY_STREAM_MS) this.backoff.reset();
    this.ctx.metrics.add('docker_logs.stream.closed', 1, { reason });
    this.ctx.metrics.add('docker_logs.stream.active', -1);
    this.ctx.metrics.record('docker_logs.stream.duration', lived, { reason });
  }
}

/** Where a stream has got to: the timestamps, and for a file also the place in it. */
function streamPosition(stream: ActiveStream): ContainerPosition {
  const current = stream.tracker.current;
  if (stream.source !== 'files') return current;
  // Spelled out rather than spread: this runs for every read of a file, and a literal of one shape is cheaper.
  return { floor: current.floor, stdout: current.stdout, stderr: current.stderr, last: current.last, file: stream.filePosition };
}

/** The counters a reader bumps for every handover, looked up once. */
interface ReaderCounts {
  stdout: CounterCell;
  stderr: CounterCell;
  merged: CounterCell;
  truncated: CounterCell;
  duplicates: CounterCell;
  accepted: CounterCell;
}

function readerCounts(metrics: ReceiverMetrics, receiverId: string): ReaderCounts {
  return {
    stdout: metrics.cell('docker_logs.log_records.received', { 'log.iostream': 'stdout' satisfies IoStream }),
    stderr: metrics.cell('docker_logs.log_records.received', { 'log.iostream': 'stderr' satisfies IoStream }),
    merged: metrics.cell('docker_logs.lines.merged'),
    truncated: metrics.cell('docker_logs.lines.truncated'),
    duplicates: metrics.cell('docker_logs.duplicates.skipped'),
    accepted: metrics.cell('otelcol_receiver_accepted_log_records', { receiver: receiverId }),
  };
}

function addCounts(counts: ReaderCounts, stream: ActiveStream, records: number): void {
  counts.stdout.value += stream.stdoutLines;
  counts.stderr.value += stream.stderrLines;
  counts.merged.value += stream.merged;
  counts.truncated.value += stream.truncated;
  counts.accepted.value += records;
  stream.stdoutLines = 0;
  stream.stderrLines = 0;
  stream.merged = 0;
  stream.truncated = 0;
}

function ignore(): void {
  // Errors after we destroyed a stream on purpose carry no news.
}
