import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ContainerPosition, Verdict } from '../../src/docker/position.js';
import { EMPTY_POSITION, PositionTracker, planOpen } from '../../src/docker/position.js';
import type { IoStream, LogLine } from '../../src/framing/log-framer.js';

function ts(second: number, nanos = 0): string {
  return `2026-11-28T17:${String(Math.floor(second / 60)).padStart(2, '0')}:${String(second % 60).padStart(2, '0')}.${String(nanos).padStart(9, '0')}Z`;
}

function line(stream: IoStream, timestamp: string, text = 'x'): LogLine {
  return { stream, timestamp, text, truncated: false, size: text.length, pieces: 1 };
}

test('planOpen: a first look reads everything, or one line at start_at end', () => {
  assert.deepEqual(planOpen(EMPTY_POSITION, 1000, { startAtEnd: false }), { since: undefined, tail: 'all', verifyAnchor: false });
  assert.deepEqual(planOpen(EMPTY_POSITION, 1000, { startAtEnd: true }), { since: undefined, tail: 1, verifyAnchor: false });
});

test('planOpen: with an anchor, a bounded tail window from one second before it, verified', () => {
  const position: ContainerPosition = { floor: '', stdout: { ts: ts(10, 5), count: 1 }, stderr: { ts: ts(9), count: 2 }, last: 'stdout' };
  const plan = planOpen(position, 1000, null);
  assert.equal(plan.tail, 1000);
  assert.equal(plan.verifyAnchor, true);
  assert.equal(plan.since, `${Date.parse(ts(9).slice(0, 19) + 'Z') / 1000}.000000005`);
  assert.equal(planOpen(position, 'all', null).verifyAnchor, false);
});

test('planOpen: no anchor but a floor reads from the floor', () => {
  const plan = planOpen({ ...EMPTY_POSITION, floor: ts(3) }, 1000, null);
  assert.equal(plan.tail, 'all');
  assert.ok(plan.since !== undefined);
});

test('verify mode: skips up to the anchor, takes what follows, widens when the window began after it', () => {
  const position: ContainerPosition = { floor: '', stdout: { ts: ts(10), count: 2 }, stderr: { ts: ts(9), count: 1 }, last: 'stdout' };
  const plan = planOpen(position, 1000, null);
  const t = new PositionTracker(position, plan, false);
  assert.equal(t.judge(line('stderr', ts(9))), 'skip');
  assert.equal(t.judge(line('stdout', ts(10))), 'skip');
  assert.equal(t.verifying, true);
  assert.equal(t.judge(line('stdout', ts(10))), 'skip'); // the anchor itself (second at that timestamp)
  assert.equal(t.verifying, false);
  assert.equal(t.judge(line('stdout', ts(10))), 'take'); // a third line at the same nanosecond is new
  assert.equal(t.judge(line('stderr', ts(11))), 'take');
  assert.deepEqual(t.current.stdout, { ts: ts(10), count: 3 });
  assert.deepEqual(t.current.stderr, { ts: ts(11), count: 1 });
  assert.equal(t.current.last, 'stderr');

  const late = new PositionTracker(position, plan, false);
  assert.equal(late.judge(line('stdout', ts(12))), 'widen');
  const lateOther = new PositionTracker(position, plan, false);
  assert.equal(lateOther.judge(line('stderr', ts(10, 5))), 'skip', 'within the reorder margin it could precede the anchor');
  assert.equal(lateOther.judge(line('stderr', ts(12))), 'widen');
});

test('dedupe mode (unbounded replay): per-stream cursors with the same-timestamp count', () => {
  const position: ContainerPosition = { floor: '', stdout: { ts: ts(10), count: 1 }, stderr: { ts: ts(11), count: 2 }, last: 'stderr' };
  const t = new PositionTracker(position, planOpen(position, 'all', null), false);
  const verdicts: Verdict[] = [
    t.judge(line('stdout', ts(9))),
    t.judge(line('stdout', ts(10))),
    t.judge(line('stderr', ts(11))),
    t.judge(line('stdout', ts(10, 1))),
    t.judge(line('stderr', ts(11))),
    t.judge(line('stderr', ts(11))),
    t.judge(line('stderr', ts(11))),
  ];
  assert.deepEqual(verdicts, ['skip', 'skip', 'skip', 'take', 'skip', 'take', 'take']);
  assert.deepEqual(t.current.stderr, { ts: ts(11), count: 4 });
});

test('take mode with a floor: older lines become the anchor but are not delivered', () => {
  const position: ContainerPosition = { ...EMPTY_POSITION, floor: ts(20) };
  const t = new PositionTracker(position, planOpen(position, 1000, { startAtEnd: true }), true);
  assert.equal(t.judge(line('stdout', ts(5))), 'skip');
  assert.deepEqual(t.current.stdout, { ts: ts(5), count: 1 });
  assert.equal(t.judge(line('stdout', ts(21))), 'take');
});

/**
 * The property behind exact resume: read a log, stop anywhere, reopen with the
 * planned tail window (simulating dockerd: tail first, then since), widen when
 * told to, and the union of what was taken is the log, once, in order.
 */
test('property: any number of reopens at any points take every line exactly once', () => {
  const entry = fc.record({ stream: fc.constantFrom<IoStream>('stdout', 'stderr'), dt: fc.integer({ min: 0, max: 3 }) });
  fc.assert(
    fc.property(fc.array(entry, { minLength: 1, maxLength: 120 }), fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 10 }), fc.integer({ min: 1, max: 8 }), (entries, cuts, windowSize) => {
      // Timestamps increase by 0..3 ns across the log (stdout and stderr may share a
      // nanosecond) and strictly within each stream, as Docker stamps every line it reads.
      let nanos = 0;
      const last: Record<IoStream, number> = { stdout: -1, stderr: -1 };
      const log = entries.map((e, i) => {
        nanos = Math.max(nanos + e.dt, last[e.stream] + 1);
        last[e.stream] = nanos;
        return line(e.stream, ts(100, nanos), `l${i}`);
      });
      const windows: Array<number | 'all'> = [windowSize, windowSize * 4, 'all'];
      const taken: string[] = [];
      let position: ContainerPosition = EMPTY_POSITION;
      let fresh = true;
      let windowIndex = 0;
      let cutIndex = 0;
      let guard = 0;
      while (guard++ < 200) {
        const plan = planOpen(position, windows[windowIndex] ?? 'all', fresh ? { startAtEnd: false } : null);
        const tracker = new PositionTracker(position, plan, fresh);
        fresh = false;
        const tailStart = plan.tail === 'all' ? 0 : Math.max(0, log.length - plan.tail);
        const since = plan.since;
        const replay = log.slice(tailStart).filter((l) => since === undefined || sinceOf(l.timestamp) >= since);
        const budget = cuts[cutIndex++] ?? Number.POSITIVE_INFINITY;
        let widened = false;
        let consumed = 0;
        for (const l of replay) {
          if (consumed++ >= budget) break;
          const v = tracker.judge(l);
          if (v === 'take') taken.push(l.text);
          if (v === 'widen') {
            widened = true;
            break;
          }
        }
        position = tracker.current;
        if (widened || (tracker.verifying && consumed >= replay.length)) {
          windowIndex = Math.min(windowIndex + 1, windows.length - 1);
          continue;
        }
        windowIndex = 0;
        if (consumed >= replay.length && budget === Number.POSITIVE_INFINITY) break;
      }
      assert.deepEqual(taken, log.map((l) => l.text));
    }),
    { numRuns: 400 },
  );
});

function sinceOf(timestamp: string): string {
  const seconds = Date.parse(timestamp.slice(0, 19) + 'Z') / 1000;
  return `${seconds}.${timestamp.slice(20, 29)}`;
}
