/**
 * The Docker engine restarts in the middle of a stream. This test never
 * touches the shared engine (it only reads the test image from it): it starts
 * a second, private dockerd with its own data root, exec root (so its own
 * managed containerd), pid file, API socket and containerd namespaces, no
 * networking, and --live-restore, so that the writer container keeps running
 * while that daemon is stopped and started again. The receiver follows the
 * private engine only; every numbered line must arrive exactly once, once per
 * read_from mode (the engine's json-file logs, or the Engine API) when the
 * receiver has that setting.
 *
 *   node --import tsx --test test/integration/engine-restart.test.ts
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { OtlpSink } from '../helpers/otlp-sink.js';
import { TEST_IMAGE, requireEngine, runContainer, seqWriterCmd, uniqueName, waitForExit } from '../helpers/docker.js';
import { PrivateDockerd, RssSampler, describeTally, readModes, recordsOf, reportLine, sleep, startDeliveryService, tally, waitUntil } from '../helpers/delivery.js';

/** Writer rate and duration; when the engine restarts; how long it stays down. */
const RATE = 300;
const WRITER_SECONDS = 14;
const RESTART_AFTER_MS = 3000;
const ENGINE_DOWN_MS = 2000;
const SETTLE_MS = 2000;

let daemon: PrivateDockerd | null = null;

before(async () => {
  await requireEngine(); // the shared engine has the test image we copy
  daemon = await PrivateDockerd.create();
  await daemon.start();
  await daemon.loadImageFromSharedEngine(TEST_IMAGE);
});

after(async () => {
  await daemon?.destroy();
});

describe('engine restart (private dockerd with --live-restore)', { concurrency: 1 }, () => {
  for (const mode of readModes()) {
    const how = mode === undefined ? '' : ` (read_from: ${mode})`;
    test(`the engine restarts while a container writes${how}: no line lost, none duplicated`, async (t) => {
      assert.ok(daemon);
      const engine = daemon;
      const rss = new RssSampler();
      const sink = await OtlpSink.start();
      const service = await startDeliveryService({ sinkUrl: sink.url, dockerEndpoint: engine.endpoint, readFrom: mode, reconnectInitial: '200ms', reconnectMax: '1s' });
      const count = RATE * WRITER_SECONDS;
      const seq = 'er';
      try {
        await waitUntil(() => service.status()[0]?.engine.connected === true, 30_000, 'the receiver to connect to the private engine');
        const c = await runContainer(engine.docker, { name: uniqueName('engine-restart'), cmd: seqWriterCmd({ count, ratePerSec: RATE, prefix: seq }) });
        await sleep(RESTART_AFTER_MS);
        const beforeRestart = recordsOf(sink, c.id).length;
        assert.ok(beforeRestart > 0, 'lines arrive before the restart');

        const restartStarted = Date.now();
        await engine.stop();
        const stoppedInMs = Date.now() - restartStarted;
        await waitUntil(() => service.status()[0]?.engine.connected === false, 10_000, 'the receiver to notice the engine is gone');
        await sleep(ENGINE_DOWN_MS);
        await engine.start();
        const restartMs = Date.now() - restartStarted;
        const running = (await engine.docker.getContainer(c.id).inspect()).State.Running;
        assert.equal(running, true, `the writer kept running across the restart (live-restore); dockerd log:\n${engine.logTail()}`);
        await waitUntil(() => service.status()[0]?.engine.connected === true, 30_000, 'the receiver to reconnect');

        await waitForExit(engine.docker, c.id, 120_000);
        await sink
          .waitForLogs(() => tally(recordsOf(sink, c.id), seq, count).distinct >= count, 60_000, `all ${count} lines`)
          .catch((err: unknown) => {
            throw new Error(`${err instanceof Error ? err.message : String(err)}\n  tally: ${describeTally(tally(recordsOf(sink, c.id), seq, count))}`);
          });
        await sleep(SETTLE_MS);
        const result = tally(recordsOf(sink, c.id), seq, count);
        assert.equal(result.foreign, 0, describeTally(result));
        assert.equal(result.lost, 0, `lines lost: ${describeTally(result)}`);
        assert.equal(result.duplicated, 0, `lines duplicated: ${describeTally(result)}`);
        const line = reportLine(`engine restart${how}`, result, rss.stop(), {
          delivered_before_restart: beforeRestart,
          dockerd_stop_ms: stoppedInMs,
          engine_unavailable_ms: restartMs,
          dockerd_start_ms: engine.starts[engine.starts.length - 1] ?? -1,
        });
        t.diagnostic(line);
        console.log(`\n# ${line}\n`);
      } finally {
        rss.stop();
        await service.shutdown(5000);
        await sink.stop();
        await engine.removeContainers().catch(() => undefined);
      }
    });
  }
});
