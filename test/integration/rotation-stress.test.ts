/**
 * The bounded reader under a compressed soak: 20 containers writing stdout and
 * stderr interleaved at 100 lines/s each, stream_timeout 1s, for about a minute:
 * well over 1 000 stream rotations. Every line must arrive exactly once, no
 * stream may stay unreleased, and once the service is shut down the process
 * must hold no more file descriptors or active handles than before it started.
 * Runs in about 65-80 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OtlpSink } from '../helpers/otlp-sink.js';
import { requireEngine, uniqueName } from '../helpers/docker.js';
import { createInMemoryMetrics } from '../../bench/lib/metrics.js';
import { activeResources, describeFds, extraResources, openFds, socketFdsOnPort } from '../../bench/lib/resources.js';
import { SequenceChecker } from '../../bench/lib/seq-check.js';
import { countOpensOf, startBenchService } from '../../bench/lib/service.js';
import { killWriters, removeWriters, startWriters, writtenInLogs } from '../../bench/lib/writers.js';
import type { Writer } from '../../bench/lib/writers.js';

const CONTAINERS = 20;
/** Lines per second per container: every other line on stderr, so 100/s on each stream. */
const RATE = 200;
const WRITE_MS = 55_000;
const MIN_ROTATIONS = 1000;
const FD_NOISE = 2;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

test(`${CONTAINERS} containers, stream_timeout 1s, ~1 min: >= ${MIN_ROTATIONS} rotations, no line lost or repeated, nothing left open`, { timeout: 150_000 }, async () => {
  const docker = await requireEngine();
  const prefix = uniqueName('rot');
  const sink = await OtlpSink.start();
  let writers: Writer[] = [];
  let drain: NodeJS.Timeout | undefined;
  try {
    // Baseline: with the sink listening and the Docker client used once, before the service exists.
    await sleep(200);
    const fdsBefore = openFds();
    const resourcesBefore = activeResources();

    const metrics = createInMemoryMetrics();
    const checker = new SequenceChecker(prefix);
    const ours = countOpensOf(`${prefix}-w`);
    const service = await startBenchService(docker, `${prefix}-marker`, { sink, metrics, logger: ours.logger, streamTimeout: '1s', jitter: 0.2, batchTimeout: '100ms' });
    let maxUnreleased = 0;
    let maxActive = 0;
    drain = setInterval(() => {
      checker.ingest(sink.logs.splice(0));
      const status = service.status()[0];
      if (status !== undefined) {
        maxUnreleased = Math.max(maxUnreleased, status.streams.unreleased);
        maxActive = Math.max(maxActive, status.streams.active);
      }
    }, 200);

    let written: Map<string, number>;
    let opened: number;
    let openedByReason: Record<string, number>;
    let closedByReason: Record<string, number>;
    let unreleasedAtEnd: number;
    try {
      writers = await startWriters(docker, { prefix, count: CONTAINERS, rate: RATE, stderrEvery: 2, usesStderr: () => true, maxLines: RATE * 600 });
      for (const w of writers) checker.register(w);
      await sleep(WRITE_MS);
      await killWriters(docker, writers);
      // What each container wrote, from its whole log as the engine kept it.
      const logs = await writtenInLogs(docker, writers);
      assert.deepEqual(logs.incomplete, [], 'the engine\'s own logs hold every number once');
      written = logs.written;
      // Drain: every line each container wrote, then a little longer for a duplicate to show up.
      const drained = await until(() => {
        checker.ingest(sink.logs.splice(0));
        return checker.complete(written);
      }, 20_000);
      await sleep(drained ? 2000 : 0);
      checker.ingest(sink.logs.splice(0));
      unreleasedAtEnd = service.status()[0]?.streams.unreleased ?? -1;
      opened = await metrics.sum('docker_logs.stream.opened');
      openedByReason = await metrics.sumBy('docker_logs.stream.opened', 'reason');
      closedByReason = await metrics.sumBy('docker_logs.stream.closed', 'reason');
      const others = (service.status()[0]?.containers ?? []).filter((c) => !c.name.startsWith(prefix)).length;
      console.log(
        `# opened=${opened} ${JSON.stringify(openedByReason)} closed=${JSON.stringify(closedByReason)} ours=${JSON.stringify(ours.byReason())} ` +
          `lines=${[...written.values()].reduce((a, b) => a + b, 0)} maxActive=${maxActive} maxUnreleased=${maxUnreleased} otherContainersFollowed=${others}`,
      );
    } finally {
      clearInterval(drain);
      drain = undefined;
      await service.shutdown(10_000);
      await metrics.shutdown();
    }

    const report = checker.report(written);
    const total = [...written.values()].reduce((a, b) => a + b, 0);
    assert.ok(total >= CONTAINERS * RATE * 30, `the writers wrote ${total} lines (expected about ${CONTAINERS * RATE * (WRITE_MS / 1000)}): the machine is too slow for this test`);
    assert.equal(report.lost, 0, `lines lost: ${report.lost} of ${total}; examples: ${JSON.stringify(report.examples.slice(0, 3))}`);
    assert.equal(report.duplicated, 0, `lines duplicated: ${report.duplicated}; examples: ${JSON.stringify(report.examples.slice(0, 3))}`);
    assert.equal(report.wrongStream, 0, 'lines on the wrong stream');
    assert.equal(report.malformed, 0, 'malformed lines');
    assert.equal(report.beyondWritten, 0, 'lines numbered beyond what the containers wrote');
    assert.equal(unreleasedAtEnd, 0, 'streams unreleased at the end');
    assert.equal(maxUnreleased, 0, 'streams unreleased at any time during the run');
    assert.ok(opened >= MIN_ROTATIONS, `docker_logs.stream.opened = ${opened} (${JSON.stringify(openedByReason)}), expected >= ${MIN_ROTATIONS}`);
    // The metric counts every container on the (shared) engine: our own writers alone must reach it too.
    assert.ok(ours.total() >= MIN_ROTATIONS, `streams opened for our writers: ${ours.total()} (${JSON.stringify(ours.byReason())}), expected >= ${MIN_ROTATIONS}`);

    // After shutdown: back to the baseline. Idle keep-alive sockets of Node's global
    // agent (used for the Docker API) close after 5 s; allow that long to settle.
    await removeWriters(docker, prefix);
    writers = [];
    const sinkPort = Number(new URL(sink.url).port);
    // Known src bug (see the report): the OTLP exporter's keep-alive connection to the
    // sink outlives Service.shutdown() (its http.Agent is never destroyed). It is
    // counted apart, at both ends, so that it cannot hide a leaked Docker socket; once
    // fixed it reads 0 and this check is plain "back to the baseline".
    const settled = await until(() => openFds() - socketFdsOnPort(sinkPort) <= fdsBefore + FD_NOISE, 8000);
    const exporterFds = socketFdsOnPort(sinkPort);
    const fdsAfter = openFds();
    const extra = extraResources(resourcesBefore, activeResources());
    console.log(`# fds before=${fdsBefore} after=${fdsAfter} (exporter keep-alive fds to the sink: ${exporterFds}) settled=${settled} extra handles=${JSON.stringify(extra)}`);
    const fdList = (): string => describeFds().join('\n');
    assert.ok(exporterFds <= 4, `${exporterFds} sockets to the sink are still open after shutdown (the exporter sends one request at a time):\n${fdList()}`);
    assert.ok(Math.abs(fdsAfter - exporterFds - fdsBefore) <= FD_NOISE, `open fds: ${fdsBefore} before the service, ${fdsAfter} after shutdown (${exporterFds} of them the exporter's connection):\n${fdList()}`);
    // Server-side ends of that connection are the sink's active sockets; nothing else may remain.
    const sinkSideSockets = exporterFds / 2;
    const { TCPSocketWrap: extraSockets = 0, ...otherExtra } = extra;
    assert.deepEqual(otherExtra, {}, `active resources left after shutdown (before: ${JSON.stringify(resourcesBefore)})`);
    assert.ok(extraSockets <= sinkSideSockets, `${extraSockets} extra active TCP sockets after shutdown, ${sinkSideSockets} of them the sink's end of the exporter's connection`);
  } finally {
    if (drain !== undefined) clearInterval(drain);
    await removeWriters(docker, prefix);
    await sink.stop();
  }
});
