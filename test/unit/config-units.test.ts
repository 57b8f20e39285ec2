import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../src/config/units.js';

test('parseDuration reads single-unit durations as milliseconds', () => {
  const cases: Array<[string, number]> = [
    ['0', 0],
    ['0s', 0],
    ['500ms', 500],
    ['30s', 30_000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['250μs', 0.25],
    ['1000000ns', 1],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('parseDuration reads fractions and compound durations as Go does', () => {
  const cases: Array<[string, number]> = [
    ['1.5s', 1500],
    ['1.1s', 1100],
    ['.5s', 500],
    ['1m30s', 90_000],
    ['2h45m', 9_900_000],
    ['1h2m3s4ms', 3_723_004],
    ['1.5m10s', 100_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('parseDuration rejects malformed durations', () => {
  for (const text of ['', 'abc', '5', '1.5', '-5s', '+5s', '5 s', '1m 30s', '1d', '30S', 's', '.s', '5s ', 'ms5']) {
    assert.throws(() => parseDuration(text), RangeError, JSON.stringify(text));
  }
});

test('formatDuration writes the shortest readable form', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [200, '200ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [90_000, '1m30s'],
    [3_600_000, '1h'],
    [3_723_500, '1h2m3.5s'],
    [0.5, '500us'],
    [0.000_001, '1ns'],
  ];
  for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
  assert.throws(() => formatDuration(-1), RangeError);
});

test('formatDuration output parses back to the same milliseconds', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10 * 24 * 3_600_000 }), (ms) => parseDuration(formatDuration(ms)) === ms),
  );
});

test('parseSize reads bytes, binary and decimal units, case-insensitively', () => {
  const cases: Array<[string, number]> = [
    ['0', 0],
    ['512', 512],
    ['512B', 512],
    ['64KiB', 65_536],
    ['1MiB', 1_048_576],
    ['2GiB', 2_147_483_648],
    ['1TiB', 1024 ** 4],
    ['1KB', 1000],
    ['1MB', 1_000_000],
    ['1GB', 1e9],
    ['1kib', 1024],
    ['1mib', 1_048_576],
    ['1kb', 1000],
    ['1b', 1],
    ['1 MiB', 1_048_576],
    ['1.5KiB', 1536],
    ['1.1KiB', 1126],
  ];
  for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
});

test('parseSize rejects malformed sizes', () => {
  for (const text of ['', 'lots', '-1', '-1KiB', '1XB', '1K', '1.5.5MB', 'MiB', '1e3', '1  MiB', '99999999999TiB']) {
    assert.throws(() => parseSize(text), RangeError, JSON.stringify(text));
  }
});

test('formatSize prefers exact binary units, then decimal, then bytes', () => {
  const cases: Array<[number, string]> = [
    [0, '0B'],
    [512, '512B'],
    [1024, '1KiB'],
    [1_048_576, '1MiB'],
    [67_108_864, '64MiB'],
    [1000, '1KB'],
    [2_000_000, '2MB'],
    [1536, '1536B'],
  ];
  for (const [bytes, text] of cases) assert.equal(formatSize(bytes), text, String(bytes));
  assert.throws(() => formatSize(1.5), RangeError);
});

test('formatSize output parses back to the same bytes', () => {
  fc.assert(fc.property(fc.nat({ max: 2 ** 40 }), (bytes) => parseSize(formatSize(bytes)) === bytes));
});
