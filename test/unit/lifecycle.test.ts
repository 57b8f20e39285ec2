/**
 * The lifecycle every component passes: shutdown without start, shutdown twice,
 * and nothing left running afterwards. Uses an engine address where nothing
 * listens, so it needs no Docker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDefaultConfig, resolveReceiverConfig } from '../../src/config/schema.js';
import { parseConfig } from '../../src/config/load.js';
import { DockerLogsReceiver } from '../../src/receiver.js';
import { Service } from '../../src/service.js';
import { consumerFromFunction } from '../../src/pipeline/consumer.js';

const nowhere = 'unix:///tmp/dlr-nowhere/docker.sock';

test('receiver: shutdown before start, twice, and after start leaves no handles', async () => {
  const before = process.getActiveResourcesInfo().length;
  const consumer = consumerFromFunction(() => Promise.resolve());
  const unstarted = new DockerLogsReceiver(createDefaultConfig(), {}, consumer);
  await unstarted.shutdown();
  await unstarted.shutdown();

  const receiver = new DockerLogsReceiver(resolveReceiverConfig({ endpoint: nowhere, reconnect: { initial_interval: '10ms', max_interval: '20ms' } }), {}, consumer);
  await receiver.start();
  await new Promise((r) => setTimeout(r, 100)); // a few failed connection attempts
  assert.equal(receiver.status().engine.connected, false);
  await Promise.all([receiver.shutdown(), receiver.shutdown()]);
  // A connection attempt aborted by shutdown finishes failing within a tick or two.
  for (let i = 0; i < 50 && process.getActiveResourcesInfo().length > before; i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(process.getActiveResourcesInfo().length <= before, `handles left: ${process.getActiveResourcesInfo().join(', ')}`);
});

test('service: shutdown before start and twice; start after shutdown is refused', async () => {
  const config = parseConfig(
    `receivers:\n  docker_logs:\n    endpoint: ${nowhere}\nexporters:\n  debug:\nservice:\n  pipelines:\n    logs:\n      receivers: [docker_logs]\n      exporters: [debug]\n`,
    '<test>',
  );
  const service = new Service(config);
  await service.shutdown();
  await service.shutdown();
  await assert.rejects(service.start());
});
