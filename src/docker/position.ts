/**
 * Where a container's log has been read to, and the rule that makes reopened
 * streams exact: no line lost, none delivered twice.
 *
 * A position is one cursor per output stream: the Docker timestamp of the last
 * line taken from that stream and how many lines carried exactly that timestamp
 * (Docker timestamps are nanoseconds, but two lines can still share one). The
 * stream that gave the most recent line is the anchor: a reopened stream must
 * show that line again before anything after it is trusted.
 */
import type { DockerTimestamp } from '../framing/timestamp.js';
import { addSeconds, toSinceParam } from '../framing/timestamp.js';
import type { IoStream, LogLine } from '../framing/log-framer.js';
import type { FilePosition } from '../files/json-file-tailer.js';

export interface StreamCursor {
  readonly ts: DockerTimestamp;
  readonly count: number;
}

export interface ContainerPosition {
  /** Lines older than this are never delivered ('' = no floor). */
  readonly floor: DockerTimestamp;
  readonly stdout: StreamCursor | null;
  readonly stderr: StreamCursor | null;
  /** The stream of the most recent line taken; null when nothing was taken yet. */
  readonly last: IoStream | null;
  /**
   * Read from the engine's log file: where to resume in it. The timestamp cursors
   * are kept too, so the container can move between the API and its files.
   */
  readonly file?: FilePosition | null;
}

export const EMPTY_POSITION: ContainerPosition = { floor: '', stdout: null, stderr: null, last: null };

/**
 * stdout and stderr are timestamped by separate goroutines in dockerd before they
 * are serialised into one log, so across the two streams file order and time
 * order can disagree by a little. Reopening this much earlier than the anchor
 * covers that; the cursors drop what was already taken.
 */
export const REORDER_MARGIN_SECONDS = 1;

/** How a stream is (re)opened: the Engine API's since and tail, and whether the anchor must be found. */
export interface OpenPlan {
  since: string | undefined;
  tail: number | 'all';
  /** True when the replay must show the anchor line before new lines are taken. */
  verifyAnchor: boolean;
}

export function anchorOf(position: ContainerPosition): StreamCursor | null {
  if (position.last === null) return null;
  return position[position.last];
}

/**
 * Plans the next open. `window` is the tail window to try when there is an anchor;
 * dockerd applies `tail` before `since`, so a bounded tail spares it from decoding
 * the whole retained log on every reopen, which a plain `since` would make it do.
 */
export function planOpen(position: ContainerPosition, window: number | 'all', fresh: { startAtEnd: boolean } | null): OpenPlan {
  if (fresh !== null) {
    // First look at a container with no saved position. For start_at: end one
    // existing line is read (not delivered) so that later reopens have an anchor.
    return fresh.startAtEnd ? { since: undefined, tail: 1, verifyAnchor: false } : { since: undefined, tail: 'all', verifyAnchor: false };
  }
  const anchor = anchorOf(position);
  if (anchor === null) {
    return { since: position.floor === '' ? undefined : toSinceParam(position.floor), tail: 'all', verifyAnchor: false };
  }
  return {
    since: toSinceParam(addSeconds(anchor.ts, -REORDER_MARGIN_SECONDS)),
    tail: window,
    verifyAnchor: window !== 'all',
  };
}

export type Verdict = 'take' | 'skip' | 'widen';

/**
 * Decides, line by line, what a (re)opened stream gives us. One instance per
 * opened stream; it advances the position it was given as lines are taken.
 *
 * - verify: a bounded tail window must show the anchor line first. Everything
 *   before it in the log was taken already; everything after it is new.
 * - dedupe: an unbounded replay (no anchor, or the anchor is gone from the log):
 *   each stream drops what its cursor already covers.
 * - take: a first look, or past the anchor: every line is new (lines older than
 *   the floor are only noted, so that they can anchor later reopens).
 */
export class PositionTracker {
  private readonly floor: DockerTimestamp;
  // The cursors are kept as plain fields and turned into a ContainerPosition only
  // when asked (once per chunk): this runs for every line.
  private stdoutTs: DockerTimestamp | null;
  private stdoutCount: number;
  private stderrTs: DockerTimestamp | null;
  private stderrCount: number;
  private last: IoStream | null;
  private snapshot: ContainerPosition | null;
  private mode: 'verify' | 'dedupe' | 'take';
  private readonly anchor: (StreamCursor & { stream: IoStream }) | null;
  /** A line of the other stream later than this shows the window began after the anchor. */
  private readonly anchorHorizon: DockerTimestamp;
  private seenAtAnchor = 0;
  /** Lines seen at each stream's cursor timestamp, for the count rule of dedupe mode. */
  private seenStdout = 0;
  private seenStderr = 0;

  constructor(position: ContainerPosition, plan: OpenPlan, fresh: boolean) {
    this.floor = position.floor;
    this.stdoutTs = position.stdout?.ts ?? null;
    this.stdoutCount = position.stdout?.count ?? 0;
    this.stderrTs = position.stderr?.ts ?? null;
    this.stderrCount = position.stderr?.count ?? 0;
    this.last = position.last;
    this.snapshot = position;
    const anchor = anchorOf(position);
    this.anchor = anchor !== null && position.last !== null ? { ...anchor, stream: position.last } : null;
    this.anchorHorizon = this.anchor === null ? '' : addSeconds(this.anchor.ts, REORDER_MARGIN_SECONDS);
    if (fresh) this.mode = 'take';
    else if (plan.verifyAnchor && this.anchor !== null) this.mode = 'verify';
    else this.mode = 'dedupe';
  }

  get current(): ContainerPosition {
    if (this.snapshot === null) {
      this.snapshot = {
        floor: this.floor,
        stdout: this.stdoutTs === null ? null : { ts: this.stdoutTs, count: this.stdoutCount },
        stderr: this.stderrTs === null ? null : { ts: this.stderrTs, count: this.stderrCount },
        last: this.last,
      };
    }
    return this.snapshot;
  }

  /** True while the replay has not yet shown the anchor line. */
  get verifying(): boolean {
    return this.mode === 'verify';
  }

  judge(line: LogLine): Verdict {
    if (this.mode === 'verify') return this.judgeBeforeAnchor(line);
    const ts = line.timestamp;
    if (this.mode === 'dedupe') {
      const stdout = line.stream === 'stdout';
      const cursorTs = stdout ? this.stdoutTs : this.stderrTs;
      if (cursorTs !== null) {
        if (ts < cursorTs) return 'skip';
        if (ts === cursorTs) {
          if (stdout ? this.seenStdout < this.stdoutCount : this.seenStderr < this.stderrCount) {
            if (stdout) this.seenStdout++;
            else this.seenStderr++;
            return 'skip';
          }
        }
      }
    }
    this.advance(line.stream, ts);
    return this.floor !== '' && ts < this.floor ? 'skip' : 'take';
  }

  private judgeBeforeAnchor(line: LogLine): Verdict {
    const anchor = this.anchor as StreamCursor & { stream: IoStream };
    if (line.stream === anchor.stream) {
      if (line.timestamp < anchor.ts) return 'skip';
      if (line.timestamp === anchor.ts) {
        this.seenAtAnchor++;
        if (this.seenAtAnchor === anchor.count) this.mode = 'take';
        return 'skip';
      }
      return 'widen';
    }
    // In log order the anchor comes before this line, so the window began after it.
    if (line.timestamp > this.anchorHorizon) return 'widen';
    return 'skip';
  }

  private advance(stream: IoStream, ts: DockerTimestamp): void {
    this.snapshot = null;
    this.last = stream;
    if (stream === 'stdout') {
      if (this.stdoutTs === ts) {
        this.stdoutCount++;
        this.seenStdout++;
      } else {
        this.stdoutTs = ts;
        this.stdoutCount = 1;
        this.seenStdout = 1;
      }
    } else if (this.stderrTs === ts) {
      this.stderrCount++;
      this.seenStderr++;
    } else {
      this.stderrTs = ts;
      this.stderrCount = 1;
      this.seenStderr = 1;
    }
  }
}
