/**
 * Durations and sizes as written in config files.
 *
 * Durations follow Go's time.ParseDuration (what collector users already write):
 * a sequence of decimal numbers, each with a unit (ns, us, µs, ms, s, m, h), e.g.
 * `500ms`, `1.5s`, `1m30s`. A bare `0` is the one unitless value allowed. Negative
 * durations are rejected: nothing in this receiver has a use for them. Results are
 * milliseconds (possibly fractional below 1ms).
 *
 * Sizes are a whole number of bytes, optionally with a unit: B, KB/MB/GB/TB (powers
 * of 1000) or KiB/MiB/GiB/TiB (powers of 1024); the unit is case-insensitive.
 */

const NS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 MICRO SIGN
  'μs': 1e3, // U+03BC GREEK SMALL LETTER MU (Go accepts both)
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

// Sticky so consecutive parts of a compound duration must touch (no gaps, no junk).
// Longer units come first in the alternation so `ms` is not read as `m` + `s`.
const DURATION_PART = /(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/y;

const MS_PER_HOUR = 3_600_000;
const MS_PER_MINUTE = 60_000;
const MS_PER_SECOND = 1_000;

/** Parses a Go-style duration into milliseconds; throws RangeError when malformed. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  if (text === '') throw invalidDuration(text);
  let totalNs = 0;
  let pos = 0;
  while (pos < text.length) {
    DURATION_PART.lastIndex = pos;
    const match = DURATION_PART.exec(text);
    if (match === null) throw invalidDuration(text);
    const [, whole = '', fraction = '', unit = ''] = match;
    if (whole === '' && fraction === '') throw invalidDuration(text);
    totalNs += partNanoseconds(whole, fraction, NS_PER_UNIT[unit] ?? 0);
    pos = DURATION_PART.lastIndex;
  }
  return totalNs / 1e6;
}

/**
 * Integer and fraction digits are scaled separately (as Go does) so `1.1s` is exactly
 * 1100ms instead of 1100.0000000000002.
 */
function partNanoseconds(whole: string, fraction: string, nsPerUnit: number): number {
  const wholeNs = whole === '' ? 0 : Number(whole) * nsPerUnit;
  const fractionNs = fraction === '' ? 0 : (Number(fraction) * nsPerUnit) / 10 ** fraction.length;
  return wholeNs + fractionNs;
}

function invalidDuration(text: string): RangeError {
  return new RangeError(
    `invalid duration ${JSON.stringify(text)}: expected numbers with units (ns, us, ms, s, m, h), e.g. 500ms, 30s or 1m30s`,
  );
}

/**
 * Formats milliseconds in the shortest form parseDuration reads back to the same value:
 * 0 -> `0s`, 200 -> `200ms`, 1500 -> `1.5s`, 90000 -> `1m30s`, 3600000 -> `1h`.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`cannot format duration ${ms}`);
  if (ms === 0) return '0s';
  if (ms < MS_PER_SECOND) return formatSubSecond(ms);
  const hours = Math.floor(ms / MS_PER_HOUR);
  const minutes = Math.floor((ms % MS_PER_HOUR) / MS_PER_MINUTE);
  const seconds = (ms % MS_PER_MINUTE) / MS_PER_SECOND;
  let out = '';
  if (hours > 0) out += `${hours}h`;
  if (minutes > 0) out += `${minutes}m`;
  if (seconds > 0) out += `${seconds}s`;
  return out;
}

function formatSubSecond(ms: number): string {
  if (Number.isInteger(ms)) return `${ms}ms`;
  const us = ms * 1e3;
  if (Number.isInteger(us)) return `${us}us`;
  return `${Math.round(ms * 1e6)}ns`;
}

const BYTES_PER_UNIT: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

const SIZE_PATTERN = /^(\d+(?:\.\d+)?) ?([a-z]*)$/i;

/**
 * Parses a size into bytes; throws RangeError when malformed. A fractional value
 * (`1.5MiB`) is allowed and rounded down to whole bytes.
 */
export function parseSize(text: string): number {
  const match = SIZE_PATTERN.exec(text);
  const factor = match === null ? undefined : BYTES_PER_UNIT[(match[2] ?? '').toLowerCase()];
  if (match === null || factor === undefined) {
    throw new RangeError(
      `invalid size ${JSON.stringify(text)}: expected a number of bytes with an optional unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. 512KiB or 1MiB`,
    );
  }
  const bytes = Math.floor(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes)) throw new RangeError(`size ${JSON.stringify(text)} is too large`);
  return bytes;
}

const BINARY_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['TiB', 1024 ** 4],
  ['GiB', 1024 ** 3],
  ['MiB', 1024 ** 2],
  ['KiB', 1024],
];
const DECIMAL_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['TB', 1e12],
  ['GB', 1e9],
  ['MB', 1e6],
  ['KB', 1e3],
];

/**
 * Formats bytes with the largest unit that divides them exactly, preferring binary
 * units (what limits are usually set in): 1048576 -> `1MiB`, 1000 -> `1KB`, 1500 -> `1500B`.
 */
export function formatSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`cannot format size ${bytes}`);
  for (const [unit, factor] of [...BINARY_UNITS, ...DECIMAL_UNITS]) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}
