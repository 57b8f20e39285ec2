import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  addSeconds,
  compareTimestamps,
  fromHrTime,
  isFixedTimestampAt,
  normalizeTimestamp,
  nowTimestamp,
  toHrTime,
  toSinceParam,
} from '../../src/framing/timestamp.js';

const FIXED_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/;

/** Any instant with a four-digit year, as [seconds, nanoseconds]. */
const hrTimeArb = fc.tuple(fc.integer({ min: -62_167_219_200, max: 253_402_300_799 }), fc.integer({ min: 0, max: 999_999_999 }));

test('normalizeTimestamp keeps the fixed form as is', () => {
  assert.equal(normalizeTimestamp('2026-11-28T17:43:56.196193520Z'), '2026-11-28T17:43:56.196193520Z');
  assert.equal(normalizeTimestamp('0001-01-01T00:00:00.000000000Z'), '0001-01-01T00:00:00.000000000Z');
});

test('normalizeTimestamp pads trimmed fractions (RFC3339Nano from older engines)', () => {
  assert.equal(normalizeTimestamp('2026-11-28T17:43:56.1961935Z'), '2026-11-28T17:43:56.196193500Z');
  assert.equal(normalizeTimestamp('2026-11-28T17:43:56.1Z'), '2026-11-28T17:43:56.100000000Z');
  assert.equal(normalizeTimestamp('2026-11-28T17:43:56Z'), '2026-11-28T17:43:56.000000000Z');
  assert.equal(normalizeTimestamp('2026-11-28t17:43:56.5z'), '2026-11-28T17:43:56.500000000Z');
});

test('normalizeTimestamp converts numeric offsets to UTC', () => {
  assert.equal(normalizeTimestamp('2026-11-28T17:43:56.196193520+01:00'), '2026-11-28T16:43:56.196193520Z');
  assert.equal(normalizeTimestamp('2026-11-28T17:43:56-05:30'), '2026-11-28T23:13:56.000000000Z');
  // Crossing a day, a month and a year.
  assert.equal(normalizeTimestamp('2027-01-01T00:30:00.5+02:00'), '2026-12-31T22:30:00.500000000Z');
  assert.equal(normalizeTimestamp('2024-02-28T23:00:00-02:00'), '2024-02-29T01:00:00.000000000Z');
  assert.equal(normalizeTimestamp('2026-11-28T17:43:56.000000001+00:00'), '2026-11-28T17:43:56.000000001Z');
});

test('normalizeTimestamp rejects what is not a timestamp', () => {
  for (const bad of [
    '',
    'hello',
    '2026-11-28T17:43:56.196193520', // no zone
    '2026-11-28 17:43:56Z',
    '2026-11-28T17:43:56.1234567890Z', // ten fraction digits
    '2026-11-28T17:43:56.Z',
    '2026-13-01T00:00:00Z',
    '2026-00-01T00:00:00Z',
    '2026-02-29T00:00:00Z', // not a leap year
    '2100-02-29T00:00:00Z',
    '2026-04-31T00:00:00.000000000Z',
    '2026-11-28T24:00:00Z',
    '2026-11-28T23:60:00Z',
    '2026-11-28T23:59:60Z',
    '2026-11-28T17:43:56+24:00',
    ' 2026-11-28T17:43:56Z',
    '2026-11-28T17:43:56.196193520Z ',
    '9999-12-31T23:59:59-01:00', // year 10000 in UTC
  ]) {
    assert.equal(normalizeTimestamp(bad), null, bad);
  }
  assert.equal(normalizeTimestamp('2024-02-29T00:00:00Z'), '2024-02-29T00:00:00.000000000Z');
  assert.equal(normalizeTimestamp('2000-02-29T00:00:00Z'), '2000-02-29T00:00:00.000000000Z');
});

test('isFixedTimestampAt checks the 30 characters and the space', () => {
  const b = Buffer.from('xx2026-11-28T17:43:56.196193520Z hello');
  assert.equal(isFixedTimestampAt(b, 2), true);
  assert.equal(isFixedTimestampAt(b, 0), false);
  assert.equal(isFixedTimestampAt(b, 3), false);
  assert.equal(isFixedTimestampAt(Buffer.from('2026-11-28T17:43:56.196193520Z'), 0), false, 'no space');
  assert.equal(isFixedTimestampAt(Buffer.from('2026-11-28T17:43:56.196193520Zx'), 0), false);
  assert.equal(isFixedTimestampAt(Buffer.from('2026-11-28T17:43:56.1961935Z hello'), 0), false, 'trimmed form');
  assert.equal(isFixedTimestampAt(Buffer.from('2026-11-28T17:43:56.19619352aZ '), 0), false);
  assert.equal(isFixedTimestampAt(Buffer.from('2026-11-28T17:43:56.196193520Z '), 1), false);
  assert.equal(isFixedTimestampAt(Buffer.from('2026-11-28T17:43:56.196193520Z '), -1), false);
});

test('property: isFixedTimestampAt accepts exactly what normalizeTimestamp keeps as is', () => {
  // Digit-shaped strings with random field values, valid or not (month 21, Feb 30, hour 24...).
  const d2 = fc.integer({ min: 0, max: 99 }).map((n) => String(n).padStart(2, '0'));
  const candidate = fc
    .tuple(fc.integer({ min: 0, max: 9999 }), d2, d2, d2, d2, d2, fc.integer({ min: 0, max: 999_999_999 }))
    .map(([y, mo, d, h, mi, s, ns]) => `${String(y).padStart(4, '0')}-${mo}-${d}T${h}:${mi}:${s}.${String(ns).padStart(9, '0')}Z`);
  fc.assert(
    fc.property(candidate, (text) => {
      assert.equal(isFixedTimestampAt(Buffer.from(text + ' '), 0), normalizeTimestamp(text) === text, text);
    }),
    { numRuns: 5000 },
  );
  assert.equal(isFixedTimestampAt(Buffer.from('2024-02-29T23:59:59.000000000Z '), 0), true);
  assert.equal(isFixedTimestampAt(Buffer.from('2026-02-29T23:59:59.000000000Z '), 0), false);
  assert.equal(isFixedTimestampAt(Buffer.from('2026-21-28T17:43:56.196193520Z '), 0), false);
  assert.equal(isFixedTimestampAt(Buffer.from('2026-11-28T24:00:00.000000000Z '), 0), false);
});

test('toHrTime gives seconds and nanoseconds, also when the seconds cache switches', () => {
  assert.deepEqual(toHrTime('1970-01-01T00:00:00.000000000Z'), [0, 0]);
  assert.deepEqual(toHrTime('2026-11-28T17:43:56.196193520Z'), [Date.UTC(2026, 10, 28, 17, 43, 56) / 1000, 196193520]);
  assert.deepEqual(toHrTime('2026-11-28T17:43:56.999999999Z'), [Date.UTC(2026, 10, 28, 17, 43, 56) / 1000, 999999999]);
  assert.deepEqual(toHrTime('2026-11-28T17:43:57.000000001Z'), [Date.UTC(2026, 10, 28, 17, 43, 57) / 1000, 1]);
  assert.deepEqual(toHrTime('2026-11-28T17:43:56.000000000Z'), [Date.UTC(2026, 10, 28, 17, 43, 56) / 1000, 0]);
  assert.deepEqual(toHrTime('1969-12-31T23:59:59.500000000Z'), [-1, 500000000]);
  // Years below 100 (Date.UTC would read them as 19xx); value checked with Python datetime.
  assert.deepEqual(toHrTime('0050-03-01T00:00:00.000000000Z'), [-60_584_198_400, 0]);
  // A non-fixed form is normalised first.
  assert.deepEqual(toHrTime('2026-11-28T18:43:56.5+01:00'), [Date.UTC(2026, 10, 28, 17, 43, 56) / 1000, 500000000]);
});

test('toHrTime rejects garbage', () => {
  assert.throws(() => toHrTime('not a timestamp'), RangeError);
  assert.throws(() => toHrTime('2026-11-28T17:43:56.19619352xZ'), RangeError);
  // Cached seconds must not let a bad fraction through.
  toHrTime('2026-11-28T17:43:56.196193520Z');
  assert.throws(() => toHrTime('2026-11-28T17:43:56.1961935a0Z'), RangeError);
  assert.throws(() => toHrTime('2026-13-28T17:43:56.196193520Z'), RangeError);
});

test('toSinceParam is seconds.nanoseconds with nine digits', () => {
  const s = Date.UTC(2026, 10, 28, 17, 43, 56) / 1000;
  assert.equal(toSinceParam('2026-11-28T17:43:56.196193520Z'), `${s}.196193520`);
  assert.equal(toSinceParam('2026-11-28T17:43:56.000000007Z'), `${s}.000000007`);
  assert.equal(toSinceParam('1970-01-01T00:00:00.000000000Z'), '0.000000000');
});

test('addSeconds moves by whole and fractional seconds and keeps nanoseconds', () => {
  const ts = '2026-11-28T17:43:56.196193520Z';
  assert.equal(addSeconds(ts, 0), ts);
  assert.equal(addSeconds(ts, -2), '2026-11-28T17:43:54.196193520Z');
  assert.equal(addSeconds(ts, 3600 * 24 * 4), '2026-12-02T17:43:56.196193520Z');
  assert.equal(addSeconds('2026-12-31T23:59:59.999999999Z', 0.5), '2027-01-01T00:00:00.499999999Z');
  assert.equal(addSeconds('2027-01-01T00:00:00.100000000Z', -0.5), '2026-12-31T23:59:59.600000000Z');
  assert.throws(() => addSeconds(ts, Number.NaN), RangeError);
});

test('fromHrTime formats and carries nanoseconds', () => {
  assert.equal(fromHrTime([0, 0]), '1970-01-01T00:00:00.000000000Z');
  assert.equal(fromHrTime([0, 1_500_000_000]), '1970-01-01T00:00:01.500000000Z');
  assert.equal(fromHrTime([0, -1]), '1969-12-31T23:59:59.999999999Z');
  assert.throws(() => fromHrTime([253_402_300_800, 0]), RangeError);
  assert.throws(() => fromHrTime([1.5, 0]), RangeError);
});

test('nowTimestamp is the current time in fixed form', () => {
  const before = Date.now();
  const ts = nowTimestamp();
  const after = Date.now();
  assert.match(ts, FIXED_RE);
  const [s, ns] = toHrTime(ts);
  const ms = s * 1000 + ns / 1e6;
  assert.ok(ms >= before && ms <= after, `${ts} not within [${before}, ${after}]`);
  assert.equal(ns % 1_000_000, 0);
});

test('compareTimestamps', () => {
  assert.equal(compareTimestamps('2026-11-28T17:43:56.196193520Z', '2026-11-28T17:43:56.196193521Z'), -1);
  assert.equal(compareTimestamps('2026-11-28T17:43:56.196193520Z', '2026-11-28T17:43:56.196193520Z'), 0);
  assert.equal(compareTimestamps('2026-11-28T17:43:57.000000000Z', '2026-11-28T17:43:56.999999999Z'), 1);
});

test('property: fromHrTime and toHrTime are inverse; string order is time order', () => {
  fc.assert(
    fc.property(hrTimeArb, hrTimeArb, (a, b) => {
      const ta = fromHrTime(a);
      const tb = fromHrTime(b);
      assert.match(ta, FIXED_RE);
      assert.deepEqual(toHrTime(ta), a);
      assert.equal(normalizeTimestamp(ta), ta);
      const byTime = a[0] !== b[0] ? Math.sign(a[0] - b[0]) : Math.sign(a[1] - b[1]);
      assert.equal(compareTimestamps(ta, tb), byTime);
    }),
    { numRuns: 2000 },
  );
});

test('property: toHrTime agrees with Date.parse at millisecond precision', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 253_402_300_799 }), fc.integer({ min: 0, max: 999_999_999 }), (s, ns) => {
      const ts = fromHrTime([s, ns]);
      const ms = Date.parse(ts.slice(0, 23) + 'Z');
      const [gs, gns] = toHrTime(ts);
      assert.equal(gs * 1000 + Math.floor(gns / 1e6), ms);
    }),
    { numRuns: 2000 },
  );
});

test('property: trimmed and offset forms normalise to the same instant', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 86_400, max: 253_402_300_799 - 86_400 }),
      fc.integer({ min: 0, max: 999_999_999 }),
      fc.integer({ min: -23 * 60 - 59, max: 23 * 60 + 59 }),
      (s, ns, offsetMinutes) => {
        const utc = fromHrTime([s, ns]);
        // Trimmed fraction.
        const fraction = String(ns).padStart(9, '0').replace(/0+$/, '');
        const trimmed = utc.slice(0, 19) + (fraction === '' ? '' : '.' + fraction) + 'Z';
        assert.equal(normalizeTimestamp(trimmed), utc);
        // The same instant written in another zone.
        const local = fromHrTime([s + offsetMinutes * 60, ns]);
        const sign = offsetMinutes < 0 ? '-' : '+';
        const abs = Math.abs(offsetMinutes);
        const zone = `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
        assert.equal(normalizeTimestamp(local.slice(0, 29) + zone), utc);
      },
    ),
    { numRuns: 1000 },
  );
});

test('property: addSeconds there and back is the identity', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1_000_000, max: 200_000_000_000 }), fc.integer({ min: 0, max: 999_999_999 }), fc.integer({ min: -1_000_000, max: 1_000_000 }), (s, ns, d) => {
      const ts = fromHrTime([s, ns]);
      const moved = addSeconds(ts, d);
      assert.deepEqual(toHrTime(moved), [s + d, ns]);
      assert.equal(addSeconds(moved, -d), ts);
    }),
    { numRuns: 1000 },
  );
});
