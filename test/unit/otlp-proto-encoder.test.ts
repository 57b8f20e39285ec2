/**
 * Our OTLP/protobuf encoder against the SDK's serializer: for the same records,
 * the bytes must decode (with the independent decoder of the test sink) to the
 * same request — resources, scopes, timestamps to the nanosecond, bodies of
 * every shape, attributes, severity, trace context, event names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { AnyValue } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import type { EncodedRun, EncodedSlice } from '../../src/pipeline/otlp-proto-encoder.js';
import { OtlpProtoLogsEncoder, decodeLogsResponse } from '../../src/pipeline/otlp-proto-encoder.js';
import { decodeLogsRequestProto } from '../helpers/otlp-proto.js';

const resourceA = resourceFromAttributes({ 'container.id': 'a'.repeat(64), 'container.name': 'web', 'container.image.tags': ['1.2'], 'docker.container.tty': true, n: 3 });
const resourceB = resourceFromAttributes({ 'container.id': 'b'.repeat(64), 'container.name': 'ünïcødé ✓' });
const scope = Object.freeze({ name: 'docker_logs', version: '0.1.0' });
const stdout = Object.freeze({ 'log.iostream': 'stdout' });

function record(overrides: Partial<ReadableLogRecord>): ReadableLogRecord {
  return {
    hrTime: [1_795_888_789, 705_791_006],
    hrTimeObserved: [1_795_888_790, 1],
    body: 'hello',
    attributes: stdout,
    resource: resourceA,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    ...overrides,
  };
}

function same(records: ReadableLogRecord[]): void {
  const ours = decodeLogsRequestProto(new OtlpProtoLogsEncoder().encode(records));
  const sdk = decodeLogsRequestProto(ProtobufLogsSerializer.serializeRequest(records) as Uint8Array);
  assert.deepEqual(ours, sdk);
}

test('plain lines of two containers, shared and own attributes', () => {
  same([
    record({}),
    record({ resource: resourceB, body: 'ünïcødé ✓ line', attributes: { 'log.iostream': 'stderr', 'docker.log.truncated': true, 'docker.log.original_size': 10_000_000 } }),
    record({ body: '', hrTime: [0, 0], hrTimeObserved: [4_102_444_800, 999_999_999] }),
    record({ body: 'x'.repeat(70_000) }),
  ]);
});

test('timestamps: records sharing a second (the cached path), carries into the upper half, unusual HrTimes', () => {
  // 1_795_888_789 × 1e9 mod 2^32 is 3_840_345_600 + …: nanos near 1e9 carry into the upper 32 bits.
  const times: Array<[number, number]> = [];
  for (const seconds of [1_795_888_789, 1_795_888_789, 1_795_888_790, 4_294_967_296, 0, 1]) {
    for (const nanos of [0, 999_999_999, 454_705_000, 454_705_001, 1]) times.push([seconds, nanos]);
  }
  same(times.map((t, i) => record({ hrTime: t, hrTimeObserved: times[times.length - 1 - i] })));
  const decoded = decodeLogsRequestProto(
    new OtlpProtoLogsEncoder().encode([record({ hrTime: [10, 1_500_000_000] }), record({ hrTime: [10, -1] }), record({ hrTime: [-5, 0] })]),
  );
  const got = decoded.map((r) => r.timeUnixNano);
  assert.deepEqual(got, [11_500_000_000n, 9_999_999_999n, 0n]);
});

test('structured bodies, severity, trace context and event names', () => {
  same([
    record({ body: { level: 'warn', n: 91, big: 2 ** 60, neg: -5, f: 1.5, ok: false, nested: { a: [1, 'two', null, { b: true }] }, bytes: new Uint8Array([1, 2, 3]) } }),
    record({ severityNumber: SeverityNumber.ERROR, severityText: 'error', spanContext: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 } }),
    record({ eventName: 'container.die', body: 'container exited with code 3', attributes: { 'event.name': 'container.die', 'container.exit_code': 3 } }),
  ]);
});

test('property: any mix of records encodes like the SDK', () => {
  const text = fc.string({ unit: 'grapheme', maxLength: 40 });
  const value: fc.Arbitrary<AnyValue> = fc.letrec<{ v: AnyValue }>((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      text,
      fc.boolean(),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Number.isInteger(d)),
      fc.array(tie('v'), { maxLength: 3 }),
      fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), tie('v'), { maxKeys: 3 }),
    ),
  })).v;
  const rec = fc.record({
    seconds: fc.integer({ min: 0, max: 4_102_444_800 }),
    nanos: fc.integer({ min: 0, max: 999_999_999 }),
    body: fc.oneof(text, value),
    which: fc.boolean(),
    attributes: fc.oneof(fc.constant(stdout), fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.oneof(text, fc.integer(), fc.boolean()), { maxKeys: 3 })),
  });
  fc.assert(
    fc.property(fc.array(rec, { minLength: 1, maxLength: 12 }), (list) => {
      same(list.map((r) => record({ hrTime: [r.seconds, r.nanos], body: r.body, resource: r.which ? resourceA : resourceB, attributes: r.attributes })));
    }),
    { numRuns: 300 },
  );
});

test('property: records encoded on arrival, in runs, and sent in any slices, make the same request as encoding the batch', () => {
  // The logs pipeline encodes each handover on arrival and sends slices of handovers (a batch
  // may end inside one): the bytes must be those of encoding the batch's records at once.
  const rec = fc.record({ which: fc.integer({ min: 0, max: 2 }), body: fc.string({ unit: 'grapheme', maxLength: 20 }), nanos: fc.integer({ min: 0, max: 999_999_999 }) });
  const otherScope = Object.freeze({ name: 'docker_logs', version: '0.1.0' });
  fc.assert(
    fc.property(fc.array(rec, { minLength: 1, maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 30 }), { maxLength: 6 }), (list, cuts) => {
      const records = list.map((r) => record({ body: r.body, hrTime: [1_795_888_789, r.nanos], resource: r.which === 1 ? resourceB : resourceA, instrumentationScope: r.which === 2 ? otherScope : scope }));
      const encoder = new OtlpProtoLogsEncoder();
      const runs = encoder.encodeRuns(records);
      assert.equal(runs.reduce((n, run) => n + run.ends.length, 0), records.length);
      // Cut the runs into slices at the given record counts.
      const slices: EncodedSlice[] = [];
      let cut = 0;
      for (const run of runs) {
        let from = 0;
        while (from < run.ends.length) {
          const to = Math.min(run.ends.length, from + (cuts[cut++ % Math.max(1, cuts.length)] ?? run.ends.length));
          slices.push({ run, from, to });
          from = to;
        }
      }
      assert.deepEqual(Buffer.from(encoder.assemble(slices)), Buffer.from(new OtlpProtoLogsEncoder().encode(records)));
    }),
    { numRuns: 300 },
  );
});

test('property: handovers appended to one another (as the pipeline merges a reader\'s queued handovers) make the same request, and joined runs hold their chunk once', () => {
  const rec = fc.record({ which: fc.integer({ min: 0, max: 3 }), body: fc.string({ unit: 'grapheme', maxLength: 40 }) });
  fc.assert(
    fc.property(fc.array(fc.array(rec, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 12 }), (handovers) => {
      const encoder = new OtlpProtoLogsEncoder();
      const all: ReadableLogRecord[] = [];
      const merged: EncodedRun[] = [];
      for (const list of handovers) {
        const records = list.map((r) => record({ body: r.body, resource: r.which === 1 ? resourceB : resourceA, ...(r.which === 3 ? { body: 'x'.repeat(90_000) } : {}) }));
        all.push(...records);
        encoder.appendRuns(merged, encoder.encodeRuns(records));
      }
      // Consecutive runs of one resource are joined unless a chunk boundary (here: 90 KB bodies) separates them.
      for (let i = 1; i < merged.length; i++) {
        const [a, b] = [merged[i - 1], merged[i]];
        assert.ok(a.resource !== b.resource || a.chunk !== b.chunk || a.bytes.byteOffset + a.bytes.length !== b.bytes.byteOffset, 'two runs that could be one');
      }
      assert.equal(merged.reduce((n, run) => n + run.ends.length, 0), all.length);
      const slices = merged.map((run) => ({ run, from: 0, to: run.ends.length }));
      assert.deepEqual(Buffer.from(encoder.assemble(slices)), Buffer.from(new OtlpProtoLogsEncoder().encode(all)));
      // Each run holds its chunk once: releasing them all leaves no chunk held.
      const chunks = new Set(merged.map((run) => run.chunk));
      encoder.release(merged);
      for (const chunk of chunks) assert.equal(chunk.holders, 0);
    }),
    { numRuns: 200 },
  );
});

test('encoded runs are never written over while held; released chunks are reused', () => {
  const encoder = new OtlpProtoLogsEncoder();
  const held: Array<{ runs: ReturnType<OtlpProtoLogsEncoder['encodeRuns']>; copy: Buffer }> = [];
  const chunks = new Set<ArrayBufferLike>();
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 48_271) % 2_147_483_647; // Park–Miller: exact in doubles
    return seed % n;
  };
  for (let i = 0; i < 6000; i++) {
    const runs = encoder.encodeRuns([record({ body: `line ${i} ${'x'.repeat(random(700))}` }), record({ resource: resourceB, body: `other ${i}` })]);
    for (const run of runs) chunks.add(run.bytes.buffer);
    held.push({ runs, copy: Buffer.concat(runs.map((r) => r.bytes)) });
    // Release most of them, in any order, as acknowledgements would.
    if (held.length > 400 || random(2) === 0) {
      const [done] = held.splice(random(held.length), 1);
      assert.deepEqual(Buffer.concat(done.runs.map((r) => r.bytes)), done.copy, 'a held run was written over');
      encoder.release(done.runs);
    }
  }
  for (const h of held) assert.deepEqual(Buffer.concat(h.runs.map((r) => r.bytes)), h.copy, 'a held run was written over');
  // About 3 MB were encoded; the chunks were reused rather than allocated anew.
  assert.ok(chunks.size < 8, `${chunks.size} chunks for 3 MB`);
});

test('the response decoder reads a partial success', () => {
  assert.deepEqual(decodeLogsResponse(new Uint8Array()), {});
  const msg = Buffer.from('bad');
  const inner = Buffer.concat([Buffer.from([0x08, 0x05, 0x12, msg.length]), msg]);
  assert.deepEqual(decodeLogsResponse(Buffer.concat([Buffer.from([0x0a, inner.length]), inner])), { partialSuccess: { rejectedLogRecords: 5, errorMessage: 'bad' } });
});
