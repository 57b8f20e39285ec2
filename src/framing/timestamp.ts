/**
 * Docker log timestamps.
 *
 * The Engine prefixes every log message with `2006-01-02T15:04:05.000000000Z ` (Go's
 * RFC3339NanoFixed, always UTC). We carry that exact 30-character string through the whole
 * program instead of converting it to a Date or a number:
 *  - a Date only keeps milliseconds, and a float of nanoseconds since the epoch loses the last
 *    digits (2^53 ns is only ~104 days);
 *  - fixed-width UTC strings order lexicographically exactly like the instants they denote, so
 *    `<` / `===` are correct comparisons (and the cheapest ones);
 *  - the framer gets the string for free (one latin1 slice of the bytes it already has).
 */

/** `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`: always 30 characters, always UTC, always 9 fraction digits. */
export type DockerTimestamp = string;

/** Length of the fixed form (without the separating space Docker puts after it). */
export const FIXED_TIMESTAMP_LENGTH = 30;

const CH_0 = 48;
const CH_9 = 57;
const CH_DASH = 45;
const CH_COLON = 58;
const CH_DOT = 46;
const CH_T = 84;
const CH_Z = 90;
const CH_SPACE = 32;

const MS_PER_DAY = 86_400_000;
/** The Gregorian calendar repeats every 400 years; used to dodge Date.UTC's 0..99 → 1900..1999 rule. */
const MS_PER_400_YEARS = 146_097 * MS_PER_DAY;
/** Earliest/latest instants with a four-digit year (0000-01-01 / 9999-12-31T23:59:59). */
const MIN_EPOCH_SECONDS = -62_167_219_200;
const MAX_EPOCH_SECONDS = 253_402_300_799;

/**
 * Any RFC 3339 timestamp Docker (old or new) may produce: the fraction may be trimmed (Go's
 * RFC3339Nano drops trailing zeros, and the whole fraction when it is zero), and the zone may be
 * an offset. Only used off the hot path (the framer checks the fixed form byte-wise first).
 */
const RFC3339_RE = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

function isDigitCode(c: number): boolean {
  return c >= CH_0 && c <= CH_9;
}

/** Character-level check of the fixed form (shape only, not ranges). */
function hasFixedShape(s: string): boolean {
  if (s.length !== FIXED_TIMESTAMP_LENGTH) return false;
  for (let i = 0; i < FIXED_TIMESTAMP_LENGTH; i++) {
    const c = s.charCodeAt(i);
    switch (i) {
      case 4:
      case 7:
        if (c !== CH_DASH) return false;
        break;
      case 10:
        if (c !== CH_T) return false;
        break;
      case 13:
      case 16:
        if (c !== CH_COLON) return false;
        break;
      case 19:
        if (c !== CH_DOT) return false;
        break;
      case 29:
        if (c !== CH_Z) return false;
        break;
      default:
        if (!isDigitCode(c)) return false;
    }
  }
  return true;
}

/** Parses `count` decimal digits of `s` at `at`; the caller has checked they are digits. */
function digits(s: string, at: number, count: number): number {
  let v = 0;
  for (let i = at; i < at + count; i++) v = v * 10 + (s.charCodeAt(i) - CH_0);
  return v;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function validFields(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  return mo >= 1 && mo <= 12 && d >= 1 && d <= daysInMonth(y, mo) && h <= 23 && mi <= 59 && s <= 59;
}

/** Seconds since the epoch of a UTC civil time (year 0..9999). */
function epochSeconds(y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  // Date.UTC maps years 0..99 to 1900..1999; shift by a whole calendar cycle instead.
  const ms = y < 100 ? Date.UTC(y + 400, mo - 1, d, h, mi, s) - MS_PER_400_YEARS : Date.UTC(y, mo - 1, d, h, mi, s);
  return ms / 1000;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Returns the fixed 30-character UTC form of an RFC 3339 timestamp, or null when `text` is not
 * one (or names an impossible date). Accepts trimmed fractions (`…:56.1961935Z`, `…:56Z`) and
 * numeric offsets (`…+01:00`, converted to UTC).
 */
export function normalizeTimestamp(text: string): DockerTimestamp | null {
  if (hasFixedShape(text)) {
    const ok = validFields(
      digits(text, 0, 4),
      digits(text, 5, 2),
      digits(text, 8, 2),
      digits(text, 11, 2),
      digits(text, 14, 2),
      digits(text, 17, 2),
    );
    return ok ? text : null;
  }
  const m = RFC3339_RE.exec(text);
  if (m === null) return null;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const d = Number(m[3]);
  const h = Number(m[4]);
  const mi = Number(m[5]);
  const s = Number(m[6]);
  if (!validFields(y, mo, d, h, mi, s)) return null;
  const nanos = m[7] === undefined ? 0 : Number(m[7].padEnd(9, '0'));
  if (m[8] !== undefined) {
    // Already UTC: rebuild textually (no arithmetic needed, works for every year 0000..9999).
    return `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${pad(nanos, 9)}Z`;
  }
  const offH = Number(m[10]);
  const offM = Number(m[11]);
  if (offH > 23 || offM > 59) return null;
  const offset = (m[9] === '-' ? -1 : 1) * (offH * 3600 + offM * 60);
  // Local time = UTC + offset, so UTC = local - offset.
  const utc = epochSeconds(y, mo, d, h, mi, s) - offset;
  if (utc < MIN_EPOCH_SECONDS || utc > MAX_EPOCH_SECONDS) return null;
  return fromHrTime([utc, nanos]);
}

/** The decimal number of `count` digit bytes at buf[at] (the caller checked they are digits). */
function byteDigits(buf: Uint8Array, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) n = n * 10 + (buf[i] - CH_0);
  return n;
}

/**
 * True when `buf` holds a fixed-form timestamp followed by a space at `offset` (31 bytes).
 * Runs once per log line, so it works on bytes; it still checks the field ranges, so that `true`
 * means exactly what normalizeTimestamp accepts (the framer's fast and slow paths must agree,
 * whatever the chunking) and toHrTime will not throw later.
 */
export function isFixedTimestampAt(buf: Uint8Array, offset: number): boolean {
  if (offset < 0 || offset + FIXED_TIMESTAMP_LENGTH + 1 > buf.length) return false;
  const o = offset;
  // Separators first: they reject non-timestamps fastest.
  if (
    buf[o + 4] !== CH_DASH ||
    buf[o + 7] !== CH_DASH ||
    buf[o + 10] !== CH_T ||
    buf[o + 13] !== CH_COLON ||
    buf[o + 16] !== CH_COLON ||
    buf[o + 19] !== CH_DOT ||
    buf[o + 29] !== CH_Z ||
    buf[o + 30] !== CH_SPACE
  ) {
    return false;
  }
  for (let i = 0; i < 29; i++) {
    if (i === 4 || i === 7 || i === 10 || i === 13 || i === 16 || i === 19) continue;
    const c = buf[o + i];
    if (c < CH_0 || c > CH_9) return false;
  }
  const month = byteDigits(buf, o + 5, 2);
  const day = byteDigits(buf, o + 8, 2);
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    buf[o + 11] > 0x32 || // hour <= 2x
    (buf[o + 11] === 0x32 && buf[o + 12] > 0x33) || // hour <= 23
    buf[o + 14] > 0x35 || // minute <= 59
    buf[o + 17] > 0x35 // second <= 59
  ) {
    return false;
  }
  if (day > 28) {
    if (day > daysInMonth(byteDigits(buf, o, 4), month)) return false;
  }
  return true;
}

/** Bytes of a fixed timestamp up to its whole second (`YYYY-MM-DDTHH:MM:SS`). */
const SECONDS_PREFIX_LENGTH = 19;

/**
 * Reads fixed-form timestamps (and the space after them) out of bytes, once per line: it accepts
 * exactly what isFixedTimestampAt accepts, and gives the time as well, so that the line's record
 * needs no toHrTime of the text. Consecutive lines almost always share their whole seconds, so
 * the date and time fields are only checked and converted when those bytes change.
 */
export class FixedTimestampReader {
  /** Of the last timestamp read (read returned true): seconds since the epoch and nanoseconds. */
  seconds = 0;
  nanos = 0;
  /** The first 19 bytes of the last timestamp whose fields were checked, and their seconds. */
  private readonly prefix = new Uint8Array(SECONDS_PREFIX_LENGTH);
  private prefixSeconds = 0;
  private hasPrefix = false;

  /** True when buf holds a fixed timestamp followed by a space at `offset`; its time is then in seconds and nanos. */
  read(buf: Uint8Array, offset: number): boolean {
    const o = offset;
    if (o < 0 || o + FIXED_TIMESTAMP_LENGTH + 1 > buf.length) return false;
    if (buf[o + 19] !== CH_DOT || buf[o + 29] !== CH_Z || buf[o + 30] !== CH_SPACE) return false;
    let nanos = 0;
    for (let i = o + 20; i < o + 29; i++) {
      const d = buf[i] - CH_0;
      if (d < 0 || d > 9) return false;
      nanos = nanos * 10 + d;
    }
    if (!this.samePrefix(buf, o)) {
      if (!isFixedTimestampAt(buf, o)) return false;
      this.prefix.set(buf.subarray(o, o + SECONDS_PREFIX_LENGTH));
      this.prefixSeconds = epochSeconds(
        byteDigits(buf, o, 4),
        byteDigits(buf, o + 5, 2),
        byteDigits(buf, o + 8, 2),
        byteDigits(buf, o + 11, 2),
        byteDigits(buf, o + 14, 2),
        byteDigits(buf, o + 17, 2),
      );
      this.hasPrefix = true;
    }
    this.seconds = this.prefixSeconds;
    this.nanos = nanos;
    return true;
  }

  private samePrefix(buf: Uint8Array, o: number): boolean {
    if (!this.hasPrefix) return false;
    const prefix = this.prefix;
    // From the seconds backwards: a new second differs in its last bytes.
    for (let i = SECONDS_PREFIX_LENGTH - 1; i >= 0; i--) if (buf[o + i] !== prefix[i]) return false;
    return true;
  }
}

// Cache for toHrTime: consecutive log lines almost always share their whole seconds.
let cachedSecondsPrefix = '';
let cachedSeconds = 0;

/**
 * `[seconds since the epoch, nanoseconds]` (the OpenTelemetry HrTime shape). Hot path: called
 * once per exported record, so the calendar arithmetic is only done when the seconds change.
 * Throws a RangeError for a string that is not a timestamp.
 */
export function toHrTime(ts: DockerTimestamp): [number, number] {
  if (ts.length !== FIXED_TIMESTAMP_LENGTH || ts.charCodeAt(29) !== CH_Z || ts.charCodeAt(19) !== CH_DOT) {
    const normalized = normalizeTimestamp(ts);
    if (normalized === null) throw new RangeError(`not a Docker timestamp: ${JSON.stringify(ts)}`);
    ts = normalized;
  }
  let nanos = 0;
  for (let i = 20; i < 29; i++) {
    const c = ts.charCodeAt(i);
    if (c < CH_0 || c > CH_9) throw new RangeError(`not a Docker timestamp: ${JSON.stringify(ts)}`);
    nanos = nanos * 10 + (c - CH_0);
  }
  if (cachedSecondsPrefix.length !== 0 && ts.startsWith(cachedSecondsPrefix)) return [cachedSeconds, nanos];

  if (!hasFixedShape(ts)) throw new RangeError(`not a Docker timestamp: ${JSON.stringify(ts)}`);
  const y = digits(ts, 0, 4);
  const mo = digits(ts, 5, 2);
  const d = digits(ts, 8, 2);
  const h = digits(ts, 11, 2);
  const mi = digits(ts, 14, 2);
  const s = digits(ts, 17, 2);
  if (!validFields(y, mo, d, h, mi, s)) throw new RangeError(`not a Docker timestamp: ${JSON.stringify(ts)}`);
  cachedSeconds = epochSeconds(y, mo, d, h, mi, s);
  cachedSecondsPrefix = ts.slice(0, 19);
  return [cachedSeconds, nanos];
}

/**
 * Formats `[seconds, nanoseconds]` (nanoseconds may be out of 0..999999999; they are carried
 * into the seconds). Throws a RangeError outside years 0000..9999.
 */
export function fromHrTime(time: readonly [number, number]): DockerTimestamp {
  let [seconds, nanos] = time;
  if (!Number.isInteger(seconds) || !Number.isInteger(nanos)) {
    throw new RangeError(`HrTime parts must be integers: [${seconds}, ${nanos}]`);
  }
  if (nanos < 0 || nanos >= 1e9) {
    const carry = Math.floor(nanos / 1e9);
    seconds += carry;
    nanos -= carry * 1e9;
  }
  if (seconds < MIN_EPOCH_SECONDS || seconds > MAX_EPOCH_SECONDS) {
    throw new RangeError(`time out of the range of a Docker timestamp: ${seconds}s`);
  }
  // toISOString is exact at whole seconds and gives the calendar fields for free; year 0..9999
  // always prints as four digits.
  const iso = new Date(seconds * 1000).toISOString();
  return `${iso.slice(0, 19)}.${pad(nanos, 9)}Z`;
}

/** The current time (millisecond precision, the best Date.now() offers). */
export function nowTimestamp(): DockerTimestamp {
  const ms = Date.now();
  const seconds = Math.floor(ms / 1000);
  return fromHrTime([seconds, (ms - seconds * 1000) * 1_000_000]);
}

/**
 * The Engine API's `since` / `until` query form: `<seconds>.<9-digit nanoseconds>`. The engine
 * scales the fraction by its digit count, so nine digits are taken as exact nanoseconds.
 */
export function toSinceParam(ts: DockerTimestamp): string {
  const [seconds, nanos] = toHrTime(ts);
  return `${seconds}.${pad(nanos, 9)}`;
}

/** `ts` moved by `deltaSeconds` (negative moves back; fractions allowed); nanoseconds are kept. */
export function addSeconds(ts: DockerTimestamp, deltaSeconds: number): DockerTimestamp {
  if (!Number.isFinite(deltaSeconds)) throw new RangeError(`not a finite number of seconds: ${deltaSeconds}`);
  const [seconds, nanos] = toHrTime(ts);
  const whole = Math.trunc(deltaSeconds);
  const fractionNanos = Math.round((deltaSeconds - whole) * 1e9);
  return fromHrTime([seconds + whole, nanos + fractionNanos]);
}

/** Ordering of two fixed-form timestamps (plain string order is chronological order). */
export function compareTimestamps(a: DockerTimestamp, b: DockerTimestamp): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}
