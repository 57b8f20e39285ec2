import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ReceiverError } from '../../src/errors.js';
import type { DeliveryOutcome } from '../../src/pipeline/consumer.js';
import type { ExportAttempt, LogExporter } from '../../src/pipeline/exporters.js';
import { LogPipeline } from '../../src/pipeline/log-pipeline.js';
import type { EncodedSlice } from '../../src/pipeline/otlp-proto-encoder.js';
import { OtlpProtoLogsEncoder } from '../../src/pipeline/otlp-proto-encoder.js';
import { decodeLogsRequestProto } from '../helpers/otlp-proto.js';
import { ReceiverMetrics } from '../../src/telemetry/metrics.js';
import { silentLogger } from '../../src/util/logger.js';

// The pipeline's retry timers are unref'd (a library must not hold a process open);
// in a bare test process something else has to.
let keepAlive: NodeJS.Timeout;
before(() => {
  keepAlive = setInterval(() => undefined, 1000);
});
after(() => clearInterval(keepAlive));

const resource = resourceFromAttributes({ 'container.id': 'c1' });

function records(n: number, from = 0): ReadableLogRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    hrTime: [1_700_000_000 + from + i, 0] as [number, number],
    hrTimeObserved: [1_700_000_000, 0] as [number, number],
    body: `r${from + i}`,
    attributes: {},
    resource,
    instrumentationScope: { name: 't' },
    droppedAttributesCount: 0,
  }));
}

/**
 * An exporter double: answers from a script of outcomes, records what it got. With `encoded`
 * it takes records the pipeline encoded on arrival, as the OTLP/protobuf exporter does, and
 * decodes the request it would send.
 */
class ScriptedExporter implements LogExporter {
  readonly id = 'scripted';
  readonly batches: string[][] = [];
  readonly exportEncoded?: (slices: readonly EncodedSlice[], records: number) => Promise<ExportAttempt>;
  gate: Promise<void> = Promise.resolve();
  constructor(
    private readonly outcomes: ExportAttempt[] = [],
    encoded = false,
  ) {
    if (encoded) {
      const encoder = new OtlpProtoLogsEncoder();
      this.exportEncoded = async (slices, count) => {
        await this.gate;
        const bodies = decodeLogsRequestProto(encoder.assemble(slices)).map((r) => (typeof r.body === 'string' ? r.body : JSON.stringify(r.body)));
        assert.equal(bodies.length, count, 'the count given is the records sent');
        this.batches.push(bodies);
        return this.outcomes.shift() ?? { ok: true };
      };
    }
  }
  async exportOnce(batch: ReadableLogRecord[]): Promise<ExportAttempt> {
    assert.equal(this.exportEncoded, undefined, 'an exporter that takes encoded records is given them encoded');
    await this.gate;
    this.batches.push(batch.map((r) => (typeof r.body === 'string' ? r.body : JSON.stringify(r.body))));
    return this.outcomes.shift() ?? { ok: true };
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const retry = { enabled: true, initial_interval: 5, max_interval: 10, max_elapsed_time: 0, multiplier: 1.5, randomization_factor: 0 };

function pipeline(exporter: LogExporter, overrides: Partial<{ queueSize: number; batchSize: number; timeout: number; retry: typeof retry }> = {}): LogPipeline {
  return new LogPipeline({
    exporters: [{ exporter, retry: overrides.retry ?? retry }],
    batch: { timeout: overrides.timeout ?? 5, send_batch_size: overrides.batchSize ?? 3, send_batch_max_size: 0 },
    queueSize: overrides.queueSize ?? 100,
    queueBytes: 1 << 20,
    metrics: new ReceiverMetrics(),
    logger: silentLogger,
  });
}

for (const [mode, encoded] of [['records', false], ['encoded on arrival', true]] as const) {
  test(`${mode}: handovers are split across batches and settled in order, once, after their last record is exported`, async () => {
    const exporter = new ScriptedExporter([], encoded);
    const p = pipeline(exporter, { batchSize: 3 });
    const settled: string[] = [];
    p.consume(records(2, 0), 10, () => settled.push('a'));
    p.consume(records(4, 2), 10, () => settled.push('b'));
    p.consume(records(1, 6), 10, () => settled.push('c'));
    await p.flush();
    assert.deepEqual(exporter.batches, [['r0', 'r1', 'r2'], ['r3', 'r4', 'r5'], ['r6']]);
    assert.deepEqual(settled, ['a', 'b', 'c']);
    assert.deepEqual(p.held, { records: 0, bytes: 0 });
  });

  test(`${mode}: backpressure: consume says false at the bound, onceWritable fires after exports make room`, async () => {
    const exporter = new ScriptedExporter([], encoded);
    let open!: () => void;
    exporter.gate = new Promise((r) => (open = r));
    const p = pipeline(exporter, { queueSize: 5, batchSize: 2 });
    assert.equal(p.consume(records(3), 1, () => undefined), true);
    assert.equal(p.consume(records(3, 3), 1, () => undefined), false);
    let writable = false;
    p.onceWritable(() => (writable = true));
    assert.equal(writable, false);
    open();
    await p.flush();
    assert.equal(writable, true);
  });

  test(`${mode}: transient failures are retried until they succeed; nothing is lost or repeated`, async () => {
    const transient: ExportAttempt = { ok: false, retryable: true, error: new ReceiverError('EXPORT_FAILED', '503', { transient: true }) };
    const exporter = new ScriptedExporter([transient, transient, { ok: true }], encoded);
    const p = pipeline(exporter, { batchSize: 10 });
    const outcomes: DeliveryOutcome[] = [];
    p.consume(records(2), 1, (o) => outcomes.push(o));
    await p.flush();
    assert.deepEqual(outcomes, [{ delivered: true }]);
    assert.equal(exporter.batches.length, 3);
  });

  test(`${mode}: a permanent rejection settles the handover as not delivered`, async () => {
    const exporter = new ScriptedExporter([{ ok: false, retryable: false, error: new ReceiverError('EXPORT_REJECTED', '400') }], encoded);
    const p = pipeline(exporter, { batchSize: 10 });
    const outcomes: DeliveryOutcome[] = [];
    p.consume(records(2), 1, (o) => outcomes.push(o));
    p.consume(records(1, 2), 1, (o) => outcomes.push(o));
    await p.flush();
    assert.equal(outcomes.length, 2);
    assert.equal(outcomes[0]?.delivered, false);
    assert.equal(outcomes[1]?.delivered, false, 'the second handover was in the same failed batch');
  });
}

test('encoded on arrival: queued handovers of one source are merged (only the last is settled, for all); other sources, and handovers already in a batch, are not', async () => {
  const exporter = new ScriptedExporter([], true);
  const sliceCounts: number[] = [];
  const send = exporter.exportEncoded!;
  (exporter as { exportEncoded: typeof send }).exportEncoded = (slices, count) => {
    sliceCounts.push(slices.length);
    return send(slices, count);
  };
  let open!: () => void;
  exporter.gate = new Promise((r) => (open = r));
  const p = pipeline(exporter, { batchSize: 4, timeout: 1000 });
  const [a, b] = [{}, {}];
  const settled: string[] = [];
  // One scope object for all, as the receiver has: a source's records then join into one run.
  const scope = { name: 't' };
  const recs = (n: number, from: number): ReadableLogRecord[] => records(n, from).map((r) => ({ ...r, instrumentationScope: scope }));
  p.consume(recs(2, 0), 2, () => settled.push('a1'), a);
  p.consume(recs(2, 2), 2, () => settled.push('a2'), a); // merged into a1; 4 records: the batch goes (and waits at the gate)
  p.consume(recs(1, 4), 1, () => settled.push('a3'), a); // the one before is in a batch: a new handover
  p.consume(recs(2, 5), 2, () => settled.push('a4'), a); // merged into a3
  p.consume(recs(1, 7), 1, () => settled.push('b1'), b);
  p.consume(recs(1, 8), 1, () => settled.push('a5'), a); // the tail is b's: not merged
  p.consume(recs(2, 9), 2, () => settled.push('x1')); // no source: never merged
  p.consume(recs(1, 11), 1, () => settled.push('x2'));
  assert.deepEqual(p.held, { records: 12, bytes: 12 });
  open();
  await p.flush();
  assert.deepEqual(exporter.batches, [
    ['r0', 'r1', 'r2', 'r3'],
    ['r4', 'r5', 'r6', 'r7'],
    ['r8', 'r9', 'r10', 'r11'],
  ]);
  assert.deepEqual(settled, ['a2', 'a4', 'b1', 'a5', 'x1', 'x2']);
  // a's merged handovers are one run each: a batch of them is one slice.
  assert.deepEqual(sliceCounts, [1, 2, 3]);
  assert.deepEqual(p.held, { records: 0, bytes: 0 });
});

test('encoded on arrival: a merged handover that fails settles as failed (its last settled only); one part of which is in a batch, or that is full, is not merged into', async () => {
  const rejected: ExportAttempt = { ok: false, retryable: false, error: new ReceiverError('EXPORT_REJECTED', '400') };
  const source = {};
  {
    const exporter = new ScriptedExporter([rejected], true);
    const p = pipeline(exporter, { batchSize: 10, timeout: 1000 });
    const outcomes: Array<[string, boolean]> = [];
    p.consume(records(2, 0), 1, (o) => outcomes.push(['first', o.delivered]), source);
    p.consume(records(1, 2), 1, (o) => outcomes.push(['second', o.delivered]), source); // merged: nothing is in a batch yet
    await p.flush();
    assert.deepEqual(exporter.batches, [['r0', 'r1', 'r2']]);
    assert.deepEqual(outcomes, [['second', false]]);
  }
  {
    const exporter = new ScriptedExporter([{ ok: true }, rejected], true);
    let open!: () => void;
    exporter.gate = new Promise((r) => (open = r));
    const p = pipeline(exporter, { batchSize: 3, timeout: 1000 });
    const outcomes: Array<[string, boolean]> = [];
    p.consume(records(4, 0), 1, (o) => outcomes.push(['first', o.delivered]), source); // 3 of 4 go at once
    p.consume(records(1, 4), 1, (o) => outcomes.push(['second', o.delivered]), source);
    open();
    await p.flush();
    assert.deepEqual(exporter.batches, [['r0', 'r1', 'r2'], ['r3', 'r4']]);
    assert.deepEqual(outcomes, [
      ['first', false],
      ['second', false],
    ]);
  }
  {
    // A merged handover is committed only when all of it is acknowledged: it stops growing at 512 records.
    const exporter = new ScriptedExporter([], true);
    const p = pipeline(exporter, { batchSize: 10_000, timeout: 1000, queueSize: 10_000 });
    const settled: string[] = [];
    p.consume(records(300, 0), 1, () => settled.push('a'), source);
    p.consume(records(212, 300), 1, () => settled.push('b'), source); // 512: merged
    p.consume(records(1, 512), 1, () => settled.push('c'), source); // 513: a new one
    await p.flush();
    assert.deepEqual(settled, ['b', 'c']);
  }
});

test('records mode: handovers with a source are not merged (each settled once)', async () => {
  const exporter = new ScriptedExporter([], false);
  const p = pipeline(exporter, { batchSize: 10 });
  const source = {};
  const settled: string[] = [];
  p.consume(records(1, 0), 1, () => settled.push('a'), source);
  p.consume(records(1, 1), 1, () => settled.push('b'), source);
  await p.flush();
  assert.deepEqual(settled, ['a', 'b']);
});

test('encoded on arrival: records that cannot be encoded are settled as not delivered, in their turn, and not sent', async () => {
  const exporter = new ScriptedExporter([], true);
  const p = pipeline(exporter, { batchSize: 10 });
  const bad = records(2, 10);
  Object.defineProperty(bad[1], 'body', {
    get(): never {
      throw new Error('no body');
    },
  });
  const outcomes: Array<[string, boolean]> = [];
  p.consume(records(2, 0), 1, (o) => outcomes.push(['a', o.delivered]));
  p.consume(bad, 1, (o) => outcomes.push(['bad', o.delivered]));
  p.consume(records(1, 2), 1, (o) => outcomes.push(['c', o.delivered]));
  await p.flush();
  // The double checks that the count it is given is the number of records in the request.
  assert.deepEqual(exporter.batches, [['r0', 'r1', 'r2']]);
  assert.deepEqual(outcomes, [
    ['a', true],
    ['bad', false],
    ['c', true],
  ]);
  assert.deepEqual(p.held, { records: 0, bytes: 0 });
});

test('max_elapsed_time gives up; shutdown stops retrying at its deadline and settles as failed', async () => {
  const transient: ExportAttempt = { ok: false, retryable: true, error: new ReceiverError('EXPORT_FAILED', 'down', { transient: true }) };
  const always = new ScriptedExporter(Array.from({ length: 10_000 }, () => transient));
  const limited = pipeline(always, { retry: { ...retry, max_elapsed_time: 30 } });
  const outcomes: DeliveryOutcome[] = [];
  limited.consume(records(1), 1, (o) => outcomes.push(o));
  await limited.flush();
  assert.equal(outcomes[0]?.delivered, false);

  const forever = pipeline(new ScriptedExporter(Array.from({ length: 100_000 }, () => transient)));
  const late: DeliveryOutcome[] = [];
  forever.consume(records(1), 1, (o) => late.push(o));
  const started = Date.now();
  await forever.shutdown(100);
  assert.ok(Date.now() - started < 2000, 'shutdown kept its deadline');
  assert.equal(late[0]?.delivered, false);
});

test('the batch timeout sends a partial batch', async () => {
  const exporter = new ScriptedExporter();
  const p = pipeline(exporter, { batchSize: 100, timeout: 20 });
  const done = new Promise<void>((resolve) => p.consume(records(1), 1, () => resolve()));
  await done;
  assert.deepEqual(exporter.batches, [['r0']]);
  await p.shutdown(100);
});
