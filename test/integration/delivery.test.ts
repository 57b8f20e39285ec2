/**
 * Delivery guarantees, end to end: real containers writing numbered lines
 * (seqWriterCmd), the real receiver, a real OTLP/HTTP sink that misbehaves on
 * purpose. Every test checks that EVERY number arrives and reports, per test:
 * lines written, delivered, lost, duplicated, and the receiver's peak RSS
 * (in-process: this process's RSS sampled every 100 ms, which includes the
 * sink and every record it kept from every container of the engine; CLI
 * children: VmHWM).
 *
 * Docker's log files are the buffer: while the backend is slow or down, the
 * receiver must pause reading (backpressure), retry for ever
 * (retry_on_failure.max_elapsed_time 0), and commit positions only after the
 * backend acknowledged.
 *
 * The receiver reads every container of the shared engine; each test filters
 * the sink by its own container ids, and waits for its lines for as long as
 * they keep coming (others' containers compete for the receiver). Tests 4
 * and 8 run on a private dockerd of this file, so that the held-records bound
 * and the RSS figure are about their own container only; they run once per
 * read_from mode (files, api) when the receiver has that setting. Durations are the constants below (raise them for a longer run; the
 * file takes about 2.5 minutes as set on a quiet machine).
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
import { TEST_IMAGE, removeByPrefix, removeContainer, requireEngine, runContainer, seqWriterCmd, uniqueName, waitForExit } from '../helpers/docker.js';
import {
  CliReceiver,
  PrivateDockerd,
  RssSampler,
  bodyText,
  deliveryConfigYaml,
  describeTally,
  dockerTsToNanos,
  freePort,
  latestCounter,
  latestCounterBy,
  makeTempDir,
  mib,
  readModes,
  readPositions,
  recordsOf,
  reportLine,
  sleep,
  startDeliveryService,
  tally,
  waitForSequence,
  waitUntil,
} from '../helpers/delivery.js';
import type { Tally } from '../helpers/delivery.js';
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
/** Test 6b: writer of the container running across the restart; how long the first receiver runs after X exited. */
const UNACKED_RATE = 20;
const UNACKED_WRITER_SECONDS = 15;
const UNACKED_BEFORE_STOP_MS = 8_000;
/** Test 7: short-lived --rm containers. */
const RM_CONTAINERS = 50;
const RM_LINES = 100;
const RM_PARALLEL = 5;
/** Test 8: one huge line. */
const HUGE_LINE_BYTES = 10_000_000;
const MAX_LOG_SIZE_BYTES = 1024 * 1024;
/** How much the receiver's RSS may grow while it reads that line (it keeps 1 MiB of it, and the sink decodes that). */
const HUGE_LINE_RSS_GROWTH_LIMIT = 64 * 1024 * 1024;
/** Waiting for lines fails when none of ours arrived for this long (other tests share the engine and the CPU). */
const STALL_MS = 30_000;
/** How long to wait after everything arrived, so that a duplicate would have time to show up. */
const SETTLE_MS = 1500;

let docker: Docker;
const prefix = uniqueName('dlv');
const reports: string[] = [];
/** A private dockerd for the tests whose figures must not depend on what else runs on the shared engine. */
let privateEngine: PrivateDockerd | null = null;

async function ownEngine(): Promise<PrivateDockerd> {
  if (privateEngine === null) {
    privateEngine = await PrivateDockerd.create();
    await privateEngine.start();
    await privateEngine.loadImageFromSharedEngine(TEST_IMAGE);
  }
  return privateEngine;
}

before(async () => {
  docker = await requireEngine();
});

after(async () => {
  await privateEngine?.destroy();
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

/** Every line of a writer at the sink; fails when none arrives for STALL_MS (the engine is shared: no fixed deadline). */
async function waitAll(sink: OtlpSink, id: string, seqPrefix: string, count: number): Promise<void> {
  await waitForSequence([sink], id, seqPrefix, count, { stallMs: STALL_MS });
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
    const dir = await makeTempDir('dlrt-503');
    const sink = await OtlpSink.start();
    sink.setBehaviour({ kind: 'status', status: 503 });
    const service = await startDeliveryService({ sinkUrl: sink.url, storageDirectory: dir });
    const seq = 'o503';
    const count = Math.round(300 * (OUTAGE_503_MS / 1000 + 3));
    try {
      const c = await seqWriter('503', { count, ratePerSec: 300, prefix: seq });
      await sleep(OUTAGE_503_MS);
      const rejected = sink.rejectedRequests;
      assert.equal(recordsOf(sink, c.id).length, 0, 'nothing is accepted while the backend answers 503');
      assert.ok(rejected > 0, 'the receiver kept trying during the outage');
      // Positions are committed only after the backend acknowledged: none for ours yet.
      const during = await readPositions(dir);
      assert.equal(during?.containers[c.id]?.stdout ?? null, null, `no position committed during the outage: ${JSON.stringify(during?.containers[c.id])}`);
      sink.setBehaviour({ kind: 'ok' });
      await waitForExit(docker, c.id, 60_000);
      await waitAll(sink, c.id, seq, count);
      await sleep(SETTLE_MS);
      const result = assertExact('503', recordsOf(sink, c.id), seq, count);
      // ...and once everything was acknowledged, the position is the last line.
      const last = recordsOf(sink, c.id).find((r) => r.body === `${seq}-${count}`);
      const cursor = (await readPositions(dir))?.containers[c.id]?.stdout ?? null;
      assert.ok(last !== undefined && cursor !== null && dockerTsToNanos(cursor.ts) === last.timeUnixNano, `the committed position is the last line: ${JSON.stringify(cursor)}`);
      report(t, reportLine('1a 503 outage', result, rss.stop(), { outage_ms: OUTAGE_503_MS, rejected_requests: rejected }));
    } finally {
      rss.stop();
      await service.shutdown(5000);
      await sink.stop();
      await rm(dir, { recursive: true, force: true });
      await removeByPrefix(docker, prefix);
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
      await waitAll(sink, c.id, seq, count);
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
      await removeByPrefix(docker, prefix);
    }
  });

  test('2. the backend hangs without answering (exporter timeout 2s), then recovers: nothing lost', async (t) => {
    const rss = new RssSampler();
    const dir = await makeTempDir('dlrt-hang');
    const sink = await OtlpSink.start();
    sink.setBehaviour({ kind: 'hang' });
    const service = await startDeliveryService({ sinkUrl: sink.url, exporterTimeout: EXPORTER_TIMEOUT, storageDirectory: dir });
    const seq = 'hang';
    const count = Math.round(300 * (HANG_MS / 1000 + 3));
    try {
      const c = await seqWriter('hang', { count, ratePerSec: 300, prefix: seq });
      await sleep(HANG_MS);
      const unanswered = sink.rejectedRequests;
      assert.equal(recordsOf(sink, c.id).length, 0, 'nothing is recorded while the backend hangs');
      assert.ok(unanswered >= 2, `the exporter timed out and tried again (${unanswered} unanswered requests)`);
      const during = await readPositions(dir);
      assert.equal(during?.containers[c.id]?.stdout ?? null, null, `no position committed while the backend hangs: ${JSON.stringify(during?.containers[c.id])}`);
      sink.setBehaviour({ kind: 'ok' });
      await waitForExit(docker, c.id, 60_000);
      await waitAll(sink, c.id, seq, count);
      await sleep(SETTLE_MS);
      // An export that timed out may still have been received by a real backend; this
      // sink does not record requests it never answered, so none may be repeated here.
      const result = assertExact('hang', recordsOf(sink, c.id), seq, count);
      report(t, reportLine('2 hang', result, rss.stop(), { hang_ms: HANG_MS, exporter_timeout: EXPORTER_TIMEOUT, unanswered_requests: unanswered }));
    } finally {
      rss.stop();
      await service.shutdown(5000);
      await sink.stop();
      await rm(dir, { recursive: true, force: true });
      await removeByPrefix(docker, prefix);
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
      await waitForSequence(() => sinks, c.id, seq, count, { stallMs: STALL_MS });
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
      await removeByPrefix(docker, prefix);
    }
  });

  for (const mode of readModes()) {
    const how = mode === undefined ? '' : ` (read_from: ${mode})`;
    test(`4. backpressure${how}: queue_size 200 and a hung backend while 20 000 lines are written fast: bounded, then everything`, async (t) => {
      // On the private engine: the bound is about one reader, not about every busy container of the shared engine.
      const engine = await ownEngine();
      const rss = new RssSampler();
      const sink = await OtlpSink.start();
      sink.setBehaviour({ kind: 'hang' });
      // send_batch_size no larger than the queue: with the default 8192 a batch of a full
      // 200-record queue would only leave after the batch timeout, every time.
      const service = await startDeliveryService({
        sinkUrl: sink.url,
        dockerEndpoint: engine.endpoint,
        readFrom: mode,
        queueSize: QUEUE_SIZE,
        batchSize: QUEUE_SIZE,
        exporterTimeout: EXPORTER_TIMEOUT,
      });
      const pipeline = service.logsPipeline;
      assert.ok(pipeline);
      // The largest number of records held, read right after every handover (the only
      // moment it grows) and every 5 ms; the wrapper only observes, then delegates.
      let maxHeld = 0;
      const consume = pipeline.consume.bind(pipeline);
      pipeline.consume = (records, bytes, settled, source) => {
        const more = consume(records, bytes, settled, source);
        maxHeld = Math.max(maxHeld, pipeline.held.records);
        return more;
      };
      const sampler = setInterval(() => (maxHeld = Math.max(maxHeld, pipeline.held.records)), 5);
      const seq = 'burst';
      try {
        const started = Date.now();
        const c = await runContainer(engine.docker, { name: `${prefix}-burst-${mode ?? 'default'}`, cmd: seqWriterCmd({ count: BURST_LINES, prefix: seq }) });
        await waitForExit(engine.docker, c.id, 60_000);
        const writtenInMs = Date.now() - started;
        await sleep(Math.max(0, BACKPRESSURE_HANG_MS - (Date.now() - started)));
        const heldDuringHang = maxHeld;
        assert.equal(recordsOf(sink, c.id).length, 0, 'nothing recorded while the backend hangs');
        assert.ok(
          heldDuringHang <= QUEUE_SIZE + ONE_CHUNK_RECORDS,
          `records held while the backend hangs: ${heldDuringHang}, bound ${QUEUE_SIZE} + ${ONE_CHUNK_RECORDS}`,
        );
        sink.setBehaviour({ kind: 'ok' });
        await waitAll(sink, c.id, seq, BURST_LINES);
        await sleep(SETTLE_MS);
        const result = assertExact('burst', recordsOf(sink, c.id), seq, BURST_LINES);
        assert.ok(maxHeld <= QUEUE_SIZE + ONE_CHUNK_RECORDS, `records held at any time: ${maxHeld}, bound ${QUEUE_SIZE} + ${ONE_CHUNK_RECORDS}`);
        report(
          t,
          reportLine(`4 backpressure${how}`, result, rss.stop(), {
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
        await engine.removeContainers();
      }
    });
  }

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
      // A request already on the wire is still recorded: wait until the sink is quiet.
      let requests = -1;
      await waitUntil(
        () => {
          const quiet = sink.requests === requests;
          requests = sink.requests;
          return quiet;
        },
        10_000,
        'the sink to be quiet after the kill',
        () => sink.summary(),
        500,
      );
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
      await waitAll(sink, c.id, seq, count);
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
      await removeByPrefix(docker, prefix);
    }
  });

  test('5b. a batch rejected during the shutdown flush: later batches do not commit past its lines, and the restart sends them', async (t) => {
    // The reader is closed when the flush settles the rejected batch: it reads nothing again
    // then, but the acknowledgements of the batches after it must not commit past those lines.
    const dir = await makeTempDir('dlrt-reject-at-stop');
    const sink = await OtlpSink.start();
    sink.setBehaviour({ kind: 'hang' });
    const options = { sinkUrl: sink.url, storageDirectory: dir, exporterTimeout: '10s', batchSize: 20, batchTimeout: '50ms' };
    let service: Service | null = await startDeliveryService(options);
    const count = 200;
    try {
      // Lines in several reads (so several handovers), then the container keeps running.
      const cmd = seqWriterCmd({ count, ratePerSec: 400, prefix: 'j' });
      const w = await runContainer(docker, { name: `${prefix}-reject-at-stop`, cmd: [cmd[0], cmd[1], `${cmd[2]}; exec sleep 3600`] });
      const first = service;
      await waitUntil(() => (first.logsPipeline?.held.records ?? 0) >= count, 30_000, 'every line read and held (the first batch hangs)');
      const stopping = first.shutdown(20_000);
      await sleep(300); // the readers are closed; the flush goes on
      sink.setBehaviour({ kind: 'status', status: 400, times: 1 }); // the hung first batch is rejected, the others accepted
      await stopping;
      service = null;
      const atStop = tally(recordsOf(sink, w.id), 'j', count);
      assert.ok(atStop.lost > 0 && atStop.lost < count, `one batch rejected, the others delivered: ${describeTally(atStop)}`);
      service = await startDeliveryService(options);
      await waitAll(sink, w.id, 'j', count);
      await sleep(SETTLE_MS);
      const after = assertExact('rejected at shutdown, sent after the restart', recordsOf(sink, w.id), 'j', count, true);
      report(t, `5b rejected during the shutdown flush: ${atStop.lost} of ${count} lines rejected; after the restart lost ${after.lost}, duplicated ${after.duplicated}`);
    } finally {
      await service?.shutdown(5000);
      await sink.stop();
      await rm(dir, { recursive: true, force: true });
      await removeByPrefix(docker, prefix);
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
      await waitAll(sink, a.id, 'a', countA);
      await waitAll(sink, b.id, 'b', countB);
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
      await removeByPrefix(docker, prefix);
    }
  });

  test('6b. the backend is down across a clean restart (start_at: end): what was read but never acknowledged arrives after it', async (t) => {
    // Positions are committed only after an acknowledgement, so a container the receiver
    // saw but could not deliver yet has none; the restart must still read it from its start.
    const rss = new RssSampler();
    const dir = await makeTempDir('dlrt-unacked');
    const sink = await OtlpSink.start();
    sink.setBehaviour({ kind: 'status', status: 503 });
    const options = { sinkUrl: sink.url, storageDirectory: dir, startAt: 'end' as const, exporterTimeout: '1s' };
    let service: Service | null = await startDeliveryService(options);
    const countX = 100;
    const countY = UNACKED_RATE * UNACKED_WRITER_SECONDS;
    try {
      const first = service;
      await waitUntil(() => first.status()[0]?.engine.connected === true, 30_000, 'the receiver to connect to the engine');
      await sleep(500); // past the first listing: containers started now are new to it, read from their start
      const x = await seqWriter('unacked-x', { count: countX, prefix: 'x' });
      const y = await seqWriter('unacked-y', { count: countY, ratePerSec: UNACKED_RATE, prefix: 'y' });
      assert.equal(await waitForExit(docker, x.id, 30_000), 0);
      // Long enough for the receiver to note that it has watched past X's creation.
      await sleep(UNACKED_BEFORE_STOP_MS);
      assert.equal(recordsOf(sink, x.id).length + recordsOf(sink, y.id).length, 0, 'nothing acknowledged during the outage');
      await service.shutdown(2000);
      service = null;
      await sleep(2000); // an export the SDK was still retrying is refused too (exporter timeout 1s)
      sink.setBehaviour({ kind: 'ok' });
      service = await startDeliveryService(options);
      await waitForExit(docker, y.id, 60_000);
      // Both, side by side, so that the report says what happened to each even when one is lost.
      await Promise.allSettled([waitAll(sink, x.id, 'x', countX), waitAll(sink, y.id, 'y', countY)]);
      await sleep(SETTLE_MS);
      const peak = rss.stop();
      report(t, reportLine('6b unacked across restart: X (exited while stopped)', tally(recordsOf(sink, x.id), 'x', countX), peak));
      report(t, reportLine('6b unacked across restart: Y (running across it)', tally(recordsOf(sink, y.id), 'y', countY), peak));
      assertExact('X (read, never acknowledged, exited while the receiver was stopped)', recordsOf(sink, x.id), 'x', countX);
      assertExact('Y (read, never acknowledged, running across the restart)', recordsOf(sink, y.id), 'y', countY);
    } finally {
      rss.stop();
      await service?.shutdown(5000);
      await sink.stop();
      await rm(dir, { recursive: true, force: true });
      await removeByPrefix(docker, prefix);
    }
  });

  for (const mode of readModes()) {
    const how = mode === undefined ? '' : ` (read_from: ${mode})`;
    test(`7. 50 --rm containers printing 100 lines each${how}: every line arrives, or the loss is counted in docker_logs.containers.missed`, async (t) => {
      const rss = new RssSampler();
      const sink = await OtlpSink.start();
      const service = await startDeliveryService({ sinkUrl: sink.url, readFrom: mode, metrics: true, collectionInterval: '500ms' });
      const containers: Array<{ id: string; name: string; seq: string }> = [];
      try {
        // "While the receiver runs": once its events stream is open it hears of every container.
        await waitUntil(() => service.status()[0]?.engine.connected === true, 30_000, 'the receiver to connect to the engine');
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < RM_CONTAINERS) {
            const i = next++;
            const seq = `rm${i}`;
            const c = await runContainer(docker, { name: `${prefix}-rm-${mode ?? 'default'}-${i}`, autoRemove: true, cmd: seqWriterCmd({ count: RM_LINES, prefix: seq }) });
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
            // A reader still at work on one of ours (not yet read to the end, nor let go of).
            const busy = (service.status()[0]?.containers ?? []).some((r) => ids.has(r.id) && r.state !== 'stopped');
            return !busy && Date.now() - stableSince > 3000;
          },
          120_000,
          'every container read in full, or let go of',
          () => {
            const readers = (service.status()[0]?.containers ?? []).filter((r) => ids.has(r.id));
            return `full=${full()} still followed: ${readers.map((r) => `${r.name}:${r.state}`).join(' ')}`;
          },
          100,
        );
        await sleep(SETTLE_MS);
        // Readers kept for containers that are gone (reported, not asserted here).
        const stale = (service.status()[0]?.containers ?? []).filter((r) => ids.has(r.id)).length;
        await service.shutdown(5000); // the last metrics are exported at shutdown
        // Any reason counts as a loss that was said out loud.
        const missed = latestCounter(sink, 'docker_logs.containers.missed');
        const missedBy = latestCounterBy(sink, 'docker_logs.containers.missed', 'reason');
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
          reportLine(`7 --rm containers${how}`, { written, delivered, distinct: written - lost, lost, duplicated, foreign: 0, missingSample: [], duplicateSample: [] }, rss.stop(), {
            containers: RM_CONTAINERS,
            read_in_full: inFull,
            partly_read: partial,
            not_read: none,
            missed_metric: missed,
            missed_by_reason: JSON.stringify(missedBy),
            readers_left_for_removed_containers: stale,
            started_in_ms: startedInMs,
          }),
        );
        assert.equal(duplicated, 0, 'no line twice');
        assert.ok(notInFull <= missed, `${notInFull} container(s) not read in full (${partial} partly, ${none} not at all) but docker_logs.containers.missed = ${missed} ${JSON.stringify(missedBy)}: silent loss`);
      } finally {
        rss.stop();
        await service.shutdown(5000);
        await sink.stop();
        await Promise.all(containers.map((c) => removeContainer(docker, c.id)));
      }
    });
  }

  for (const mode of readModes()) {
    const how = mode === undefined ? '' : ` (read_from: ${mode})`;
    test(`8. a 10 MB line without newline${how}, max_log_size 1MiB: one record cut to 1 MiB and flagged, the next line intact, memory bounded`, async (t) => {
      // On the private engine, so that the RSS figure is this receiver reading this line,
      // not whatever else runs on the shared engine at the time.
      const engine = await ownEngine();
      const sink = await OtlpSink.start();
      const service = await startDeliveryService({ sinkUrl: sink.url, dockerEndpoint: engine.endpoint, readFrom: mode, maxLogSize: '1MiB' });
      let rss: RssSampler | null = null;
      try {
        await waitUntil(() => service.status()[0]?.engine.connected === true, 30_000, 'the receiver to connect to the private engine');
        await sleep(500);
        rss = new RssSampler();
        const script = `echo before-huge; head -c ${HUGE_LINE_BYTES} /dev/zero | tr '\\0' x; echo; echo after-huge`;
        const c = await runContainer(engine.docker, { name: `${prefix}-huge-${mode ?? 'default'}`, cmd: ['sh', '-c', script] });
        await waitForExit(engine.docker, c.id, 60_000);
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
        const result: Tally = { written: 3, delivered: got.length, distinct: 3, lost: 0, duplicated: 0, foreign: 0, missingSample: [], duplicateSample: [] };
        report(t, reportLine(`8 10 MB line${how} (private engine)`, result, peak, { baseline_rss_MiB: mib(rss.baseline), rss_growth_MiB: mib(growth) }));
        assert.ok(growth < HUGE_LINE_RSS_GROWTH_LIMIT, `RSS grew by ${mib(growth)} MiB while reading a ${HUGE_LINE_BYTES}-byte line cut to 1 MiB (limit ${mib(HUGE_LINE_RSS_GROWTH_LIMIT)} MiB)`);
      } finally {
        rss?.stop();
        await service.shutdown(5000);
        await sink.stop();
        await engine.removeContainers();
      }
    });
  }
});
