import assert from 'node:assert/strict';
import { test } from 'node:test';
import { goals } from '../../bench/lib/bench-report.js';
import type { BacklogReceiverSummary } from '../../bench/lib/bench-report.js';

const backlog = (encoding: 'proto' | 'json', ratio: number): BacklogReceiverSummary => ({
  source: 'api',
  encoding,
  runs: 2,
  linesPerSecond: 100_000,
  bestLinesPerSecond: 100_000,
  ratio,
  cpuMicrosPerLine: 9,
  cpuSeconds: 9,
  peakRssMB: 90,
  dockerdCpuSeconds: 6,
  dockerdMicrosPerLine: 6,
  dockerdMicrosPerLineBeyondIdle: 6,
});

test('bench goals: protobuf backlogs are judged, JSON ones only reported', () => {
  const g = goals({ backlog: { baseline: null, receiver: [backlog('proto', 0.95), backlog('json', 0.6)] }, live: [], idle: null });
  const of = (encoding: string): Array<[boolean, boolean | null]> => g.filter((x) => x.goal.includes(`, ${encoding})`)).map((x) => [x.judged, x.pass]);
  // The ratio passes, the 9 µs/line fails: both judged.
  assert.deepEqual(of('proto'), [
    [true, true],
    [true, false],
  ]);
  assert.deepEqual(of('json'), [
    [false, null],
    [false, null],
  ]);
});
