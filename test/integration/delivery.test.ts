/**
 * Delivery guarantees, end to end: real containers writing numbered lines
 * (seqWriterCmd), the real receiver, a real OTLP/HTTP sink that misbehaves on
 * purpose. Every test checks that EVERY number arrives and reports, per test:
 * lines written, delivered, lost, duplicated, and the receiver's peak RSS
 * (in-process: this process's RSS sampled every 100 ms; CLI children: VmHWM).
 *
 * Docker's log files are the buffer: while the backend is slow or down, the
 * receiver must pause reading (backpressure), retry for ever
 * (retry_on_failure.max_elapsed_time 0), and commit positions only after the
 * backend acknowledged.
 *
 * The receiver reads every container of the shared engine; each test filters
 * the sink by its own container ids. Durations are the constants below (raise
 * them for a longer run; the file stays under ~4 minutes as set).
 *
 *   node --import tsx --test test/integration/delivery.test.ts
 */
import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';

import { OtlpSink } from '../helpers/otlp-sink.js';
import type { SinkLogRecord } from '../helpers/otlp-sink.js';
import { removeByPrefix, removeContainer, requireEngine, runContainer, seqWriterCmd, uniqueName, waitForExit } from '../helpers/docker.js';
import {
  CliReceiver,
  RssSampler,
  bodyText,
  deliveryConfigYaml,
  describeTally,
  dockerTsToNanos,
  freePort,
  latestCounter,
  makeTempDir,
  mib,
  readPositions,
  recordsOf,
  reportLine,
  sleep,
  startDeliveryService,
  tally,
  waitUntil,
} from '../helpers/delivery.js';
import type { Service } from '../../src/service.js';

// --- durations and sizes (raise these for a longer, harsher run) -------------
/** Test 1: how long the backend answers 503. */
const OUTAGE_503_MS = 10_000;
/** Test 1: how long the backend answers 429 with Retry-After. */
const OUTAGE_429_MS = 6_000;
const RETRY_AFTER_SECONDS = 2;
/** Test 2: how long the backend hangs, and the exporter's timeout. */
const HANG_MS = 10_000;
const EXPORTER_TIMEOUT = '2s';
/** Test 3: how long the backend is down after the receiver started, then down again mid-stream. */
const DOWN_AT_START_MS = 8_000;
const DOWN_AGAIN_MS = 3_000;
/** Test 4: queue bound, burst size, how long the backend hangs while the burst is written. */
const QUEUE_SIZE = 200;
const ONE_CHUNK_RECORDS = 2000;
const BURST_LINES = 20_000;
const BACKPRESSURE_HANG_MS = 8_000;
/** Test 5: writer rate and duration; when the CLI is killed. */
const KILL_RATE = 500;
const KILL_WRITER_SECONDS = 8;
const KILL_AFTER_MS = 4_000;
/** Test 6: writer rate and duration of the first container; how long the receiver stays stopped. */
const STOPPED_RATE = 50;
const STOPPED_WRITER_SECONDS = 12;
const STOPPED_MS = 4_000;
/** Test 7: short-lived --rm containers. */
const RM_CONTAINERS = 50;
const RM_LINES = 100;
const RM_PARALLEL = 5;
/** Test 8: one huge line. */
const HUGE_LINE_BYTES = 10_000_000;
const MAX_LOG_SIZE_BYTES = 1024 * 1024;
/** How long to wait after everything arrived, so that a duplicate would have time to show up. */
const SETTLE_MS = 1500;

let docker: Docker;
const prefix = uniqueName('dlv');
const reports: string[] = [];

before(async () => {
  docker = await requireEngine();
});

after(async () => {
  await removeByPrefix(docker, prefix);
  if (reports.length > 0) console.log(`\n# delivery report\n${reports.map((r) => `#   ${r}`).join('\n')}\n`);
});

function report(t: TestContext, line: string): void {
  reports.push(line);
  t.diagnostic(line);
}

/** Runs a seq writer named <prefix>-<label>. */
async function seqWriter(label: string, opts: { count: number; ratePerSec?: number; prefix: string }): Promise<{ id: string; name: string }> {
  return runContainer(docker, { name: `${prefix}-${label}`, cmd: seqWriterCmd(opts) });
}

async function waitAll(sink: OtlpSink, id: string, seqPrefix: string, count: number, timeoutMs: number): Promise<void> {
  await sink.waitForLogs(() => tally(recordsOf(sink, id), seqPrefix, count).distinct >= count, timeoutMs, `all ${count} ${seqPrefix}-* lines`).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n  tally: ${describeTally(tally(recordsOf(sink, id), seqPrefix, count))}`);
  });
}

function assertExact(label: string, records: SinkLogRecord[], seqPrefix: string, count: number, allowDuplicates = false): ReturnType<typeof tally> {
  const t = tally(records, seqPrefix, count);
  assert.equal(t.foreign, 0, `${label}: unexpected records: ${describeTally(t)}`);
  assert.equal(t.lost, 0, `${label}: lines lost: ${describeTally(t)}`);
  if (!allowDuplicates) assert.equal(t.duplicated, 0, `${label}: lines duplicated: ${describeTally(t)}`);
  return t;
}

/** Samples how many requests the sink rejected, with the time of each increase. */
function watchRejections(sink: OtlpSink): { stop: () => number[] } {
  const times: number[] = [];
  let last = sink.rejectedRequests;
  const timer = setInterval(() => {
    const now = sink.rejectedRequests;
    for (let i = last; i < now; i++) times.push(Date.now());
    last = now;
  }, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return times;
    },
  };
}

describe('delivery guarantees', { concurrency: 1 }, () => {
  test('1a. the backend answers 503 for a while, then recovers: nothing lost, nothing duplicated', async (t) => {
    const rss = new RssSampler();
    const sink = await OtlpSink.start();
    sink.setBehaviour({ kind: 'status', status: 503 });
    const service = await startDeliveryService({ sinkUrl: sink.url });
    const seq = 'o503';
    const count = Math.round(300 * (OUTAGE_503_MS / 1000 + 3));
    try {
      const c = await seqWriter('503', { count, ratePerSec: 300, prefix: seq });
      await sleep(OUTAGE_503_MS);
      const rejected = sink.rejectedRequests;
      assert.equal(recordsOf(sink, c.id).length, 0, 'nothing is accepted while the backend answers 503');
      assert.ok(rejected > 0, 'the receiver kept trying during the outage');
      sink.setBehaviour({ kind: 'ok' });
      await waitForExit(docker, c.id, 60_000);
      await waitAll(sink, c.id, seq, count, 60_000);
      await sleep(SETTLE_MS);
      const result = assertExact('503', recordsOf(sink, c.id), seq, count);
      report(t, reportLine('1a 503 outage', result, rss.stop(), { outage_ms: OUTAGE_503_MS, rejected_requests: rejected }));
    } finally {
      rss.stop();
      await service.shutdown(5000);
      await sink.stop();
    }
  });

  test('1b. the backend answers 429 with Retry-After for a while, then recovers: nothing lost, nothing duplicated', async (t) => {
    const rss = new RssSampler();
    const sink = await OtlpSink.start();
    sink.setBehaviour({ kind: 'status', status: 429, retryAfterSeconds: RETRY_AFTER_SECONDS });
    const service = await startDeliveryService({ sinkUrl: sink.url });
    const seq = 'o429';
    const count = Math.round(300 * (OUTAGE_429_MS / 1000 + 3));
    try {
      const watch = watchRejections(sink);
      const c = await seqWriter('429', { count, ratePerSec: 300, prefix: seq });
      await sleep(OUTAGE_429_MS);
      const times = watch.stop();
      assert.equal(recordsOf(sink, c.id).length, 0, 'nothing is accepted while the backend answers 429');
      assert.ok(times.length > 0, 'the receiver kept trying during the outage');
      sink.setBehaviour({ kind: 'ok' });
      await waitForExit(docker, c.id, 60_000);
      await waitAll(sink, c.id, seq, count, 60_000);
      await sleep(SETTLE_MS);
      const result = assertExact('429', recordsOf(sink, c.id), seq, count);
      const gaps = times.slice(1).map((x, i) => x - times[i]);
      const honoured = gaps.filter((g) => g >= RETRY_AFTER_SECONDS * 1000 - 100).length;
      report(
        t,
        reportLine('1b 429+Retry-After', result, rss.stop(), {
          outage_ms: OUTAGE_429_MS,
          rejected_requests: times.length,
          gaps_ms: gaps.map((g) => Math.round(g / 10) * 10).join('/'),
          gaps_at_least_retry_after: honoured,
        }),
      );
    } finally {
      rss.stop();
      await service.shutdown(5000);
      await sink.stop();
    }
  });

  test('2. the backend hangs without answering (exporter timeout 2s), then recovers: nothing lost', async (t) => {
    const rss = new RssSampler();
    const sink = await OtlpSink.start();
    sink.setBehaviour({ kind: 'hang' });
    const service = await startDeliveryService({ sinkUrl: sink.url, exporterTimeout: EXPORTER_TIMEOUT });
    const seq = 'hang';
    const count = Math.round(300 * (HANG_MS / 1000 + 3));
    try {
      const c = await seqWriter('hang', { count, ratePerSec: 300, prefix: seq });
      await sleep(HANG_MS);
      const unanswered = sink.rejectedRequests;
      assert.equal(recordsOf(sink, c.id).length, 0, 'nothing is recorded while the backend hangs');
      assert.ok(unanswered >= 2, `the exporter timed out and tried again (${unanswered} unanswered requests)`);
      sink.setBehaviour({ kind: 'ok' });
      await waitForExit(docker, c.id, 60_000);
      await waitAll(sink, c.id, seq, count, 60_000);
      await sleep(SETTLE_MS);
      // An export that timed out may still have been received by a real backend; this
      // sink does not record requests it never answered, so none may be repeated here.
      const result = assertExact('hang', recordsOf(sink, c.id), seq, count);
      report(t, reportLine('2 hang', result, rss.stop(), { hang_ms: HANG_MS, exporter_timeout: EXPORTER_TIMEOUT, unanswered_requests: unanswered }));
    } finally {
      rss.stop();
      await service.shutdown(5000);
      await sink.stop();
    }
  });

  test('3. the backend is down when the receiver starts, comes up, goes down again and comes back on the same port: nothing lost', async (t) => {
    const rss = new RssSampler();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const service = await startDeliveryService({ sinkUrl: url });
    const sinks: OtlpSink[] = [];
    const seq = 'down';
    const count = Math.round(300 * ((DOWN_AT_START_MS + DOWN_AGAIN_MS) / 1000 + 6));
    const ours = (id: string): SinkLogRecord[] => sinks.flatMap((s) => recordsOf(s, id));
    try {
      const c = await seqWriter('down', { count, ratePerSec: 300, prefix: seq });
      await sleep(DOWN_AT_START_MS);
      const first = await OtlpSink.start({ port });
      sinks.push(first);
      await first.waitForLogs(() => recordsOf(first, c.id).length > 0, 30_000, 'the first lines after the backend came up');
      await sleep(1000);
      await first.stop();
      const beforeSecondOutage = ours(c.id).length;
      await sleep(DOWN_AGAIN_MS);
      const second = await OtlpSink.start({ port });
      sinks.push(second);
      await waitForExit(docker, c.id, 60_000);
      await waitUntil(() => tally(ours(c.id), seq, count).distinct >= count, 60_000, `all ${count} lines`, () => describeTally(tally(ours(c.id), seq, count)));
      await sleep(SETTLE_MS);
      // Stopping a sink can cut off the answer to a request it recorded: that batch is
      // sent again, so duplicates are possible here; they are reported, not forbidden.
      const result = assertExact('backend down', ours(c.id), seq, count, true);
      report(
        t,
        reportLine('3 backend down at start + restart', result, rss.stop(), {
          down_at_start_ms: DOWN_AT_START_MS,
          down_again_ms: DOWN_AGAIN_MS,
          received_by_first_sink: beforeSecondOutage,
        }),
      );
    } finally {
      rss.stop();
      await service.shutdown(5000);
      for (const s of sinks) await s.stop();
    }
  });

  test('4. backpressure: queue_size 200 and a hung backend while 20 000 lines are written fast: bounded, then everything', async (t) => {
    const rss = new RssSampler();
    const sink = await OtlpSink.start();
    sink.setBehaviour({ kind: 'hang' });
    // send_batch_size no larger than the queue: with the default 8192 a batch of a full
    // 200-record queue would only leave after the batch timeout, every time.
    const service = await startDeliveryService({ sinkUrl: sink.url, queueSize: QUEUE_SIZE, batchSize: QUEUE_SIZE, exporterTimeout: EXPORTER_TIMEOUT });
    const pipeline = service.logsPipeline;
    assert.ok(pipeline);
    // The largest number of records held, read right after every handover (the only
    // moment it grows) and every 5 ms; the wrapper only observes, then delegates.
    let maxHeld = 0;
    const consume = pipeline.consume.bind(pipeline);
    pipeline.consume = (records, bytes, settled) => {
      const more = consume(records, bytes, settled);
      maxHeld = Math.max(maxHeld, pipeline.held.records);
      return more;
    };
    const sampler = setInterval(() => (maxHeld = Math.max(maxHeld, pipeline.held.records)), 5);
    const seq = 'burst';
    try {
      const started = Date.now();
      const c = await seqWriter('burst', { count: BURST_LINES, prefix: seq });
      await waitForExit(docker, c.id, 60_000);
      const writtenInMs = Date.now() - started;
      await sleep(Math.max(0, BACKPRESSURE_HANG_MS - (Date.now() - started)));
      const heldDuringHang = maxHeld;
      assert.equal(recordsOf(sink, c.id).length, 0, 'nothing recorded while the backend hangs');
      assert.ok(
        heldDuringHang <= QUEUE_SIZE + ONE_CHUNK_RECORDS,
        `records held while the backend hangs: ${heldDuringHang}, bound ${QUEUE_SIZE} + ${ONE_CHUNK_RECORDS}`,
      );
      sink.setBehaviour({ kind: 'ok' });
      await waitAll(sink, c.id, seq, BURST_LINES, 90_000);
      await sleep(SETTLE_MS);
      const result = assertExact('burst', recordsOf(sink, c.id), seq, BURST_LINES);
      assert.ok(maxHeld <= QUEUE_SIZE + ONE_CHUNK_RECORDS, `records held at any time: ${maxHeld}, bound ${QUEUE_SIZE} + ${ONE_CHUNK_RECORDS}`);
      report(
        t,
        reportLine('4 backpressure', result, rss.stop(), {
          queue_size: QUEUE_SIZE,
          max_held_during_hang: heldDuringHang,
          max_held_overall: maxHeld,
          burst_written_in_ms: writtenInMs,
          hang_ms: BACKPRESSURE_HANG_MS,
        }),
      );
    } finally {
      clearInterval(sampler);
      rss.stop();
      await service.shutdown(5000);
      await sink.stop();
    }
  });

  test('5. kill -9 of the CLI mid-stream, restart with the same storage: every line at least once, duplicates only what was in flight', async (t) => {
    const dir = await makeTempDir('dlrt-kill');
    const sink = await OtlpSink.start();
    const configPath = join(dir, 'config.yaml');
    const storage = join(dir, 'storage');
    await writeFile(configPath, deliveryConfigYaml({ sinkUrl: sink.url, storageDirectory: storage, startAt: 'beginning', logLevel: 'info' }));
    const seq = 'kill';
    const count = KILL_RATE * KILL_WRITER_SECONDS;
    let first: CliReceiver | null = null;
    let second: CliReceiver | null = null;
    try {
      first = CliReceiver.start(configPath);
      await first.waitForOutput(/connected to the Docker engine/, 60_000);
      const c = await seqWriter('kill', { count, ratePerSec: KILL_RATE, prefix: seq });
      await sleep(KILL_AFTER_MS);
      assert.ok(recordsOf(sink, c.id).length > 0, `some lines arrived before the kill; CLI output:\n${first.log}`);
      const firstPeak = first.peakRss;
      const killed = await first.stop('SIGKILL');
      assert.equal(killed.signal, 'SIGKILL');
      await sleep(300); // a request already on the wire is still recorded
      const atKill = tally(recordsOf(sink, c.id), seq, count);
      assert.equal(atKill.duplicated, 0, `no duplicate before the kill: ${describeTally(atKill)}`);
      // What the positions file says was acknowledged: lines at or before its stdout cursor.
      const positions = await readPositions(storage);
      const cursor = positions?.containers[c.id]?.stdout ?? null;
      const committedNanos = cursor === null ? null : dockerTsToNanos(cursor.ts);
      const committed = committedNanos === null ? 0 : recordsOf(sink, c.id).filter((r) => r.timeUnixNano <= committedNanos).length;
      const inFlight = atKill.delivered - committed;

      second = CliReceiver.start(configPath);
      await second.waitForOutput(/connected to the Docker engine/, 60_000);
      await waitForExit(docker, c.id, 60_000);
      await waitAll(sink, c.id, seq, count, 60_000);
      await sleep(SETTLE_MS);
      const secondPeak = second.peakRss;
      const stopped = await second.stop('SIGTERM');
      assert.equal(stopped.code, 0, `the restarted CLI stops cleanly on SIGTERM; output:\n${second.log}`);
      const result = assertExact('kill -9', recordsOf(sink, c.id), seq, count, true);
      assert.ok(result.duplicated <= inFlight, `duplicates (${result.duplicated}) are at most what was delivered but not committed at the kill (${inFlight})`);
      assert.ok(result.duplicated <= 3000, `duplicates: ${result.duplicated}`);
      report(
        t,
        reportLine('5 kill -9 + restart', result, Math.max(firstPeak, secondPeak), {
          delivered_at_kill: atKill.delivered,
          committed_at_kill: committed,
          in_flight_at_kill: inFlight,
          peak_rss_first_MiB: mib(firstPeak),
          peak_rss_second_MiB: mib(secondPeak),
        }),
      );
    } finally {
      await first?.stop('SIGKILL');
      await second?.stop('SIGKILL');
      await sink.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('6. containers that run and exit while the receiver is stopped: all their lines after the restart, none repeated', async (t) => {
    const rss = new RssSampler();
    const dir = await makeTempDir('dlrt-stop');
    const sink = await OtlpSink.start();
    const options = { sinkUrl: sink.url, storageDirectory: dir };
    let service: Service | null = await startDeliveryService(options);
    const countA = STOPPED_RATE * STOPPED_WRITER_SECONDS;
    const countB = 100;
    try {
      const a = await seqWriter('stop-a', { count: countA, ratePerSec: STOPPED_RATE, prefix: 'a' });
      await sink.waitForLogs(() => recordsOf(sink, a.id).length >= 2 * STOPPED_RATE, 30_000, 'the first lines of A');
      await service.shutdown(5000);
      service = null;
      const aAtStop = tally(recordsOf(sink, a.id), 'a', countA);
      assert.equal(aAtStop.duplicated, 0);
      // While stopped: a new container runs and exits; A keeps writing.
      const b = await seqWriter('stop-b', { count: countB, prefix: 'b' });
      assert.equal(await waitForExit(docker, b.id, 30_000), 0);
      await sleep(STOPPED_MS);
      const aRunning = (await docker.getContainer(a.id).inspect()).State.Running;
      service = await startDeliveryService(options);
      await waitForExit(docker, a.id, 60_000);
      await waitAll(sink, a.id, 'a', countA, 30_000);
      await waitAll(sink, b.id, 'b', countB, 30_000);
      await sleep(SETTLE_MS);
      const resultA = assertExact('A (ran across the stop)', recordsOf(sink, a.id), 'a', countA);
      const resultB = assertExact('B (ran and exited while stopped)', recordsOf(sink, b.id), 'b', countB);
      const peak = rss.stop();
      report(t, reportLine('6 stopped: A', resultA, peak, { delivered_before_stop: aAtStop.delivered, a_still_running_at_restart: aRunning }));
      report(t, reportLine('6 stopped: B', resultB, peak));
    } finally {
      rss.stop();
      await service?.shutdown(5000);
      await sink.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('7. 50 --rm containers printing 100 lines each: every line arrives, or the loss is counted in docker_logs.containers.missed', async (t) => {
    const rss = new RssSampler();
    const sink = await OtlpSink.start();
    const service = await startDeliveryService({ sinkUrl: sink.url, metrics: true, collectionInterval: '500ms' });
    const containers: Array<{ id: string; name: string; seq: string }> = [];
    try {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < RM_CONTAINERS) {
          const i = next++;
          const seq = `rm${i}`;
          const c = await runContainer(docker, { name: `${prefix}-rm-${i}`, autoRemove: true, cmd: seqWriterCmd({ count: RM_LINES, prefix: seq }) });
          containers.push({ ...c, seq });
        }
      };
      const started = Date.now();
      await Promise.all(Array.from({ length: RM_PARALLEL }, () => worker()));
      const startedInMs = Date.now() - started;
      for (const c of containers) await waitForExit(docker, c.id, 60_000);
      const ids = new Set(containers.map((c) => c.id));
      const full = (): number => containers.filter((c) => tally(recordsOf(sink, c.id), c.seq, RM_LINES).distinct === RM_LINES).length;
      // Done when every container is in full, or the receiver let go of all of ours and nothing moves any more.
      let lastCount = -1;
      let stableSince = Date.now();
      await waitUntil(
        () => {
          if (full() === RM_CONTAINERS) return true;
          const count = containers.reduce((n, c) => n + recordsOf(sink, c.id).length, 0);
          if (count !== lastCount) {
            lastCount = count;
            stableSince = Date.now();
          }
          const following = (service.status()[0]?.containers ?? []).some((r) => ids.has(r.id));
          return !following && Date.now() - stableSince > 3000;
        },
        60_000,
        'every container read in full, or let go of',
        () => `full=${full()}`,
        100,
      );
      await sleep(SETTLE_MS);
      await service.shutdown(5000); // the last metrics are exported at shutdown
      const missed = latestCounter(sink, 'docker_logs.containers.missed', { reason: 'removed' });
      let inFull = 0;
      let partial = 0;
      let none = 0;
      let duplicated = 0;
      let delivered = 0;
      let lost = 0;
      for (const c of containers) {
        const r = tally(recordsOf(sink, c.id), c.seq, RM_LINES);
        assert.equal(r.foreign, 0);
        duplicated += r.duplicated;
        delivered += r.delivered;
        lost += r.lost;
        if (r.lost === 0) inFull++;
        else if (r.distinct > 0) partial++;
        else none++;
      }
      const notInFull = RM_CONTAINERS - inFull;
      const written = RM_CONTAINERS * RM_LINES;
      report(
        t,
        reportLine('7 --rm containers', { written, delivered, distinct: written - lost, lost, duplicated, foreign: 0, missingSample: [], duplicateSample: [] }, rss.stop(), {
          containers: RM_CONTAINERS,
          read_in_full: inFull,
          partly_read: partial,
          not_read: none,
          missed_metric_removed: missed,
          started_in_ms: startedInMs,
        }),
      );
      assert.equal(duplicated, 0, 'no line twice');
      assert.ok(notInFull <= missed, `${notInFull} container(s) not read in full (${partial} partly, ${none} not at all) but docker_logs.containers.missed{reason=removed} = ${missed}: silent loss`);
    } finally {
      rss.stop();
      await service.shutdown(5000);
      await sink.stop();
      await Promise.all(containers.map((c) => removeContainer(docker, c.id)));
    }
  });

  test('8. a 10 MB line without newline, max_log_size 1MiB: one record cut to 1 MiB and flagged, the next line intact, memory bounded', async (t) => {
    const sink = await OtlpSink.start();
    const service = await startDeliveryService({ sinkUrl: sink.url, maxLogSize: '1MiB' });
    await sleep(500);
    const rss = new RssSampler();
    try {
      const script = `echo before-huge; head -c ${HUGE_LINE_BYTES} /dev/zero | tr '\\0' x; echo; echo after-huge`;
      const c = await runContainer(docker, { name: `${prefix}-huge`, cmd: ['sh', '-c', script] });
      await waitForExit(docker, c.id, 60_000);
      await sink.waitForLogs(() => recordsOf(sink, c.id).length >= 3, 60_000, 'the three records');
      await sleep(SETTLE_MS);
      const got = recordsOf(sink, c.id);
      assert.equal(got.length, 3, `records: ${got.map((r) => `${bodyText(r).slice(0, 20)}(${bodyText(r).length})`).join(', ')}`);
      const [before, huge, afterHuge] = got;
      assert.equal(before.body, 'before-huge');
      assert.equal(typeof huge.body, 'string');
      const text = huge.body as string;
      assert.equal(Buffer.byteLength(text), MAX_LOG_SIZE_BYTES, 'cut to max_log_size');
      assert.ok(/^x+$/.test(text), 'the kept part is the start of the line');
      assert.equal(huge.attributes['docker.log.truncated'], true);
      assert.equal(huge.attributes['docker.log.original_size'], BigInt(HUGE_LINE_BYTES));
      assert.equal(afterHuge.body, 'after-huge', 'the next line is intact');
      assert.equal(afterHuge.attributes['docker.log.truncated'], undefined);
      const peak = rss.stop();
      const growth = peak - rss.baseline;
      const result = tally(
        got.map((r, i) => ({ ...r, body: `huge-${i + 1}` })),
        'huge',
        3,
      );
      report(t, reportLine('8 10 MB line', result, peak, { baseline_rss_MiB: mib(rss.baseline), rss_growth_MiB: mib(growth) }));
      assert.ok(growth < 128 * 1024 * 1024, `RSS grew by ${mib(growth)} MiB while reading a 10 MB line cut to 1 MiB`);
    } finally {
      rss.stop();
      await service.shutdown(5000);
      await sink.stop();
    }
  });
});
