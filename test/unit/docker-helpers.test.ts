// Sanity test of the Docker test helpers against the real engine: run a
// container, wait for it, read its logs, remove it. Needs an engine (run
// `sh scripts/ensure-engine.sh`); without one it fails, it does not skip.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import type Docker from 'dockerode';

import {
  TEST_IMAGE,
  dockerLogsWithTimestamps,
  removeByPrefix,
  removeContainer,
  requireEngine,
  runContainer,
  seqWriterCmd,
  uniqueName,
  waitForExit,
} from '../helpers/docker.js';

const PREFIX = 'dlrt-helpers-';

describe('docker test helpers', () => {
  let docker: Docker;
  before(async () => {
    docker = await requireEngine();
    await removeByPrefix(docker, PREFIX);
  });
  after(async () => {
    if (docker) await removeByPrefix(docker, PREFIX);
  });

  it('uniqueName makes distinct, prefixed names', () => {
    const a = uniqueName('helpers');
    const b = uniqueName('helpers');
    assert.match(a, /^dlrt-helpers-[0-9a-f]{8}$/);
    assert.notEqual(a, b);
  });

  it('seqWriterCmd builds a busybox sh loop', () => {
    const cmd = seqWriterCmd({ count: 3, prefix: 'p' });
    assert.equal(cmd[0], 'sh');
    assert.equal(cmd[1], '-c');
    assert.throws(() => seqWriterCmd({ count: 1, prefix: 'bad prefix; rm' }), /prefix/);
  });

  it('runs a container without network, waits for exit, reads stdout+stderr with timestamps, removes it', async () => {
    const { id, name } = await runContainer(docker, {
      name: uniqueName('helpers'),
      cmd: seqWriterCmd({ count: 20, stderrEvery: 5, prefix: 'seq' }),
      labels: { 'dlr.test': 'helpers' },
      env: ['FOO=bar'],
      logOpts: { 'max-size': '1m', 'max-file': '2' },
    });
    try {
      assert.ok(name.startsWith(PREFIX));
      assert.equal(await waitForExit(docker, id, 30_000), 0);

      const info = await docker.getContainer(id).inspect();
      assert.equal(info.HostConfig.NetworkMode, 'none');
      assert.equal(info.Config.Image, TEST_IMAGE);
      assert.equal(info.Config.Labels['dlr.test'], 'helpers');
      assert.ok(info.Config.Env.includes('FOO=bar'));
      assert.deepEqual(info.HostConfig.LogConfig, { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '2' } });

      const lines = await dockerLogsWithTimestamps(id);
      assert.equal(lines.length, 20, lines.join('\n'));
      for (const line of lines) {
        assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z seq-\d+$/);
      }
      const texts = lines.map((l) => l.slice(l.indexOf(' ') + 1));
      assert.deepEqual(
        [...texts].sort((x, y) => Number(x.slice(4)) - Number(y.slice(4))),
        Array.from({ length: 20 }, (_, i) => `seq-${i + 1}`),
      );

      // Every 5th line went to stderr: check through the Engine API.
      const stderrOnly = await docker.getContainer(id).logs({ follow: false, stdout: false, stderr: true });
      const stderrText = demux(stderrOnly);
      assert.deepEqual(stderrText.trim().split('\n'), ['seq-5', 'seq-10', 'seq-15', 'seq-20']);
    } finally {
      await removeContainer(docker, id);
    }
    await assert.rejects(docker.getContainer(id).inspect(), (err: { statusCode?: number }) => err.statusCode === 404);
    await removeContainer(docker, id); // already gone: fine
  });

  it('reports non-zero exit codes, also for autoRemove containers', async () => {
    const kept = await runContainer(docker, { name: uniqueName('helpers'), cmd: ['sh', '-c', 'exit 3'] });
    try {
      assert.equal(await waitForExit(docker, kept.id, 30_000), 3);
    } finally {
      await removeContainer(docker, kept.id);
    }
    const auto = await runContainer(docker, { name: uniqueName('helpers'), cmd: ['sh', '-c', 'exit 4'], autoRemove: true });
    assert.equal(await waitForExit(docker, auto.id, 30_000), 4);
  });

  it('seqWriterCmd with a rate takes roughly the expected time', async () => {
    const { id } = await runContainer(docker, {
      name: uniqueName('helpers'),
      cmd: seqWriterCmd({ count: 40, ratePerSec: 100, prefix: 'r' }),
      tty: true,
    });
    try {
      const started = Date.now();
      assert.equal(await waitForExit(docker, id, 30_000), 0);
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 10_000, `40 lines at 100/s took ${took} ms`);
      const lines = await dockerLogsWithTimestamps(id);
      assert.equal(lines.length, 40);
      assert.match(lines[39], / r-40\r?$/);
    } finally {
      await removeContainer(docker, id);
    }
  });

  it('waitForExit times out with a clear error', async () => {
    const { id } = await runContainer(docker, { name: uniqueName('helpers'), cmd: ['sleep', '30'] });
    try {
      await assert.rejects(waitForExit(docker, id, 200), /to exit: no answer within 200 ms/);
    } finally {
      await removeContainer(docker, id);
    }
  });

  it('removeByPrefix removes leftovers', async () => {
    const a = await runContainer(docker, { name: uniqueName('helpers'), cmd: ['sleep', '30'] });
    const b = await runContainer(docker, { name: uniqueName('helpers'), cmd: ['true'] });
    await removeByPrefix(docker, PREFIX);
    const left = await docker.listContainers({ all: true, filters: { name: [PREFIX] } });
    assert.deepEqual(
      left.map((c) => c.Id).filter((x) => x === a.id || x === b.id),
      [],
    );
  });
});

/** Payloads of a non-TTY Docker log stream (8-byte frame headers). */
function demux(buf: Buffer): string {
  let out = '';
  let pos = 0;
  while (pos + 8 <= buf.length) {
    const size = buf.readUInt32BE(pos + 4);
    out += buf.subarray(pos + 8, pos + 8 + size).toString('utf8');
    pos += 8 + size;
  }
  return out;
}
