import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { OtlpSink } from '../helpers/otlp-sink.js';
import { removeByPrefix, requireEngine, runContainer, uniqueName, waitForExit } from '../helpers/docker.js';
import { startService } from '../helpers/receiver.js';
import type { Service } from '../../src/service.js';

let docker: Docker;
let sink: OtlpSink;
let service: Service;
const prefix = uniqueName('smoke');

before(async () => {
  docker = await requireEngine();
  sink = await OtlpSink.start();
  service = await startService({ sink, logLevel: 'debug' });
});

after(async () => {
  await service?.shutdown(5000);
  await sink?.stop();
  await removeByPrefix(docker, prefix);
});

test('lines arrive', async () => {
  const c = await runContainer(docker, { name: `${prefix}-a`, cmd: ['sh', '-c', 'echo hello; echo oops >&2; sleep 1; echo bye'] });
  await waitForExit(docker, c.id, 10000);
  await sink.waitForLogs((logs) => logs.filter((l) => l.resource['container.name'] === c.name).length >= 3, 15000, 'three lines');
  const mine = sink.logs.filter((l) => l.resource['container.name'] === c.name);
  console.log(mine.map((l) => [l.body, l.attributes['log.iostream'], l.timeUnixNano]));
  assert.deepEqual(mine.map((l) => l.body), ['hello', 'oops', 'bye']);
});
