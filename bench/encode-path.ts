/**
 * The receiver's per-line CPU path without Docker, the network or the sink:
 * multiplexed frames as the Engine API sends them → LogFramer → LogRecord →
 * OTLP/protobuf encoding, in batches of 8192. What a change to framing, mapping
 * or encoding saves shows here without the noise of a shared engine. With
 * --handover N, records are encoded as the logs pipeline does, N at a time as
 * they are handed over (encodeRuns, then released), instead of per batch: a live
 * stream hands over a few records at a time.
 *
 *   node --import tsx bench/encode-path.ts [--lines 1000000] [--runs 8] [--chunk 65536] [--handover N]
 *
 * Prints the best CPU µs/line over the runs (user + system of this process).
 */
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { LogFramer } from '../src/framing/log-framer.js';
import { hrTimeNow, toLogRecord } from '../src/mapping/log-record.js';
import { OtlpProtoLogsEncoder } from '../src/pipeline/otlp-proto-encoder.js';
import { Flags } from './lib/args.js';

const flags = new Flags();
const LINES = flags.int('lines', 1_000_000, 1);
const RUNS = flags.int('runs', 8, 1);
const CHUNK = flags.int('chunk', 65_536, 64);
const HANDOVER = flags.int('handover', 0, 0);
const BATCH = HANDOVER > 0 ? HANDOVER : 8192;

/** Frames of ~100-byte lines with consecutive nanosecond timestamps (4 µs apart, so batches share seconds). */
function frames(): Buffer {
  const parts: Buffer[] = [];
  let t = Date.UTC(2026, 10, 28, 12, 0, 0) * 1e6;
  for (let i = 1; i <= LINES; i++) {
    t += 4000 + (i % 7);
    const seconds = Math.floor(t / 1e9);
    const nanos = String(Math.round(t - seconds * 1e9)).padStart(9, '0');
    const ts = `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${nanos}Z`;
    const payload = Buffer.from(`${ts} ${String(i).padStart(7, '0')} level=info msg="request handled" path=/api/v1/items/42 status=200 duration_ms=12\n`);
    const header = Buffer.alloc(8);
    header[0] = 1;
    header.writeUInt32BE(payload.length, 4);
    parts.push(header, payload);
  }
  return Buffer.concat(parts);
}

const input = frames();
const resource = resourceFromAttributes({ 'container.id': 'x'.repeat(64), 'container.name': 'bench', 'container.image.name': 'busybox' });
const encoder = new OtlpProtoLogsEncoder();

/** Encodes records as a whole request, or (--handover) as the pipeline's runs; returns the bytes encoded. */
function encodeBatch(records: ReadableLogRecord[]): number {
  if (HANDOVER === 0) return encoder.encode(records).length;
  const runs = encoder.encodeRuns(records);
  let bytes = 0;
  for (const run of runs) bytes += run.ends[run.ends.length - 1];
  encoder.release(runs);
  return bytes;
}

function once(): number {
  let records: ReadableLogRecord[] = [];
  let bytes = 0;
  const observed = hrTimeNow();
  const framer = new LogFramer(
    { tty: false, maxLogSize: 1 << 20 },
    {
      line: (line) => {
        records.push(toLogRecord(line, resource, observed));
        if (records.length === BATCH) {
          bytes += encodeBatch(records);
          records = [];
        }
      },
      daemonError: () => undefined,
    },
  );
  for (let p = 0; p < input.length; p += CHUNK) framer.push(input.subarray(p, Math.min(input.length, p + CHUNK)));
  if (records.length > 0) bytes += encodeBatch(records);
  return bytes;
}

let best = Infinity;
for (let k = 0; k < RUNS; k++) {
  const before = process.cpuUsage();
  const bytes = once();
  const used = process.cpuUsage(before);
  const perLine = (used.user + used.system) / LINES;
  best = Math.min(best, perLine);
  console.log(`run ${k + 1}: ${perLine.toFixed(3)} µs/line CPU, ${bytes} bytes encoded`);
}
console.log(`best: ${best.toFixed(3)} µs/line CPU (framing → record → OTLP/protobuf, ${LINES} lines, ${HANDOVER > 0 ? `handed over ${HANDOVER} at a time` : 'requests of 8192'})`);
