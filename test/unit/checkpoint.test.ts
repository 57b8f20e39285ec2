import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ContainerPosition } from '../../src/docker/position.js';
import { ReceiverError } from '../../src/errors.js';
import { FileCheckpointStore } from '../../src/pipeline/checkpoint.js';
import { silentLogger } from '../../src/util/logger.js';

const position: ContainerPosition = {
  floor: '',
  stdout: { ts: '2026-11-28T17:43:56.196193520Z', count: 1 },
  stderr: { ts: '2026-11-28T17:43:55.000000001Z', count: 2 },
  last: 'stdout',
};

test('positions survive a reopen; writes are atomic (no temp file left) and coalesced', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dlr-ckpt-'));
  const store = await FileCheckpointStore.open(dir, 'docker_logs/edge', 'unix:///var/run/docker.sock', silentLogger, 10);
  for (let i = 0; i < 100; i++) store.set(`c${i % 3}`, position);
  await store.flush();
  assert.deepEqual(await readdir(dir), ['docker_logs_edge.positions.json']);
  const again = await FileCheckpointStore.open(dir, 'docker_logs/edge', 'unix:///var/run/docker.sock', silentLogger);
  assert.deepEqual(again.get('c1'), position);
  again.delete('c1');
  await again.flush();
  const text = await readFile(join(dir, 'docker_logs_edge.positions.json'), 'utf8');
  assert.ok(!text.includes('"c1"'));
  assert.ok(text.includes('"c2"'));
});

test('a damaged positions file is refused with a message saying what to do', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dlr-ckpt-'));
  await writeFile(join(dir, 'docker_logs.positions.json'), '{"version":1,"containers":{"x":{"floor":"","stdout":{"ts":"nope","count":1},"stderr":null,"last":"stdout"}}}');
  await assert.rejects(
    FileCheckpointStore.open(dir, 'docker_logs', 'unix:///x', silentLogger),
    (err: unknown) => err instanceof ReceiverError && err.code === 'CHECKPOINT_IO_FAILED' && /move it away/.test(err.message),
  );
});
