/**
 * Reading the engine's json-file logs directly (read_from: files), against a
 * real engine: the same records as through the API, Docker's own log rotation,
 * and moving a container between the two sources without loss or repeats.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { OtlpSink } from '../helpers/otlp-sink.js';
import type { SinkLogRecord } from '../helpers/otlp-sink.js';
import { removeByPrefix, requireEngine, runContainer, seqWriterCmd, uniqueName, waitForExit } from '../helpers/docker.js';
import { startService } from '../helpers/receiver.js';

let docker: Docker;
const prefix = uniqueName('file');

before(async () => {
  docker = await requireEngine();
});

after(async () => {
  await removeByPrefix(docker, prefix);
});

function of(sink: OtlpSink, id: string): SinkLogRecord[] {
  return sink.logs.filter((l) => l.resource['container.id'] === id && l.eventName === '');
}

function numbers(records: SinkLogRecord[]): number[] {
  return records.map((l) => Number(/-(\d+)$/.exec(typeof l.body === 'string' ? l.body : '')?.[1] ?? NaN));
}

function assertExactlyOnce(got: number[], count: number, what: string): void {
  const seen = new Set(got);
  const missing: number[] = [];
  for (let i = 1; i <= count && missing.length < 10; i++) if (!seen.has(i)) missing.push(i);
  assert.deepEqual(missing, [], `${what}: no line lost`);
  assert.equal(got.length, count, `${what}: no duplicate (${got.length - seen.size} duplicates)`);
}

/** What must be equal between the two sources, record by record. */
function comparable(l: SinkLogRecord): unknown {
  return { body: l.body, time: l.timeUnixNano, attributes: l.attributes, resource: l.resource, severity: l.severityNumber };
}

describe('read_from: files', () => {
  test('the same records as through the API: body, timestamp to the nanosecond, stream, resource', async () => {
    const apiSink = await OtlpSink.start();
    const fileSink = await OtlpSink.start();
    const include = `['${prefix}-same-*']`;
    const api = await startService({ sink: apiSink, receiver: { read_from: 'api', 'include.names': include } });
    const files = await startService({ sink: fileSink, receiver: { read_from: 'files', 'include.names': include } });
    try {
      const script = [
        'echo plain',
        'echo "to stderr" >&2',
        'head -c 40000 /dev/zero | tr "\\0" x; echo',
        'printf "bad \\377 utf8\\n"',
        'printf "  spaces and\\ttab  \\n"',
        'printf "no newline at the end"',
      ].join('; ');
      const labels = { 'com.docker.compose.service': 'svc', team: 'a' };
      const plain = await runContainer(docker, { name: `${prefix}-same-plain`, labels, cmd: ['sh', '-c', script] });
      const tty = await runContainer(docker, { name: `${prefix}-same-tty`, tty: true, cmd: ['sh', '-c', script] });
      for (const c of [plain, tty]) await waitForExit(docker, c.id, 20_000);
      const expected = { [plain.id]: 6, [tty.id]: 6 };
      for (const sink of [apiSink, fileSink]) {
        const which = sink === apiSink ? 'api' : 'files';
        const seen = (): string => JSON.stringify(Object.keys(expected).map((id) => of(sink, id).map((l) => (typeof l.body === 'string' ? l.body.slice(0, 12) : ''))));
        await sink.waitForLogs(() => Object.entries(expected).every(([id, n]) => of(sink, id).length >= n), 20_000, `every line of both containers (${which})`).catch((err: unknown) => {
          throw new Error(`${String(err)}\n${which} got: ${seen()}`);
        });
      }
      for (const c of [plain, tty]) {
        const fromApi = of(apiSink, c.id).map(comparable);
        const fromFiles = of(fileSink, c.id).map(comparable);
        assert.deepEqual(fromFiles, fromApi, `${c.name}: files and API give the same records`);
      }
      const health = files.status()[0];
      assert.ok(health !== undefined);
    } finally {
      await api.shutdown(5000);
      await files.shutdown(5000);
      await apiSink.stop();
      await fileSink.stop();
    }
  });

  test("Docker's own rotation (max-size, max-file): every line exactly once", async () => {
    const sink = await OtlpSink.start();
    const service = await startService({ sink, receiver: { read_from: 'files', 'include.names': `['${prefix}-rot-*']` } });
    try {
      const count = 3000;
      const c = await runContainer(docker, {
        name: `${prefix}-rot-1`,
        logOpts: { 'max-size': '20k', 'max-file': '5' },
        cmd: seqWriterCmd({ count, ratePerSec: 1000, stderrEvery: 4, prefix: 'r' }),
      });
      await waitForExit(docker, c.id, 60_000);
      await sink.waitForLogs(() => of(sink, c.id).length >= count, 30_000, `${count} lines`);
      await new Promise((r) => setTimeout(r, 1000));
      assertExactlyOnce(numbers(of(sink, c.id)), count, 'through Docker rotations');
    } finally {
      await service.shutdown(5000);
      await sink.stop();
    }
  });

  test('moving a container from the API to its files and back resumes where it stopped', async () => {
    const storage = await mkdtemp(join(tmpdir(), 'dlr-switch-'));
    const sink = await OtlpSink.start();
    const count = 3000;
    const c = await runContainer(docker, { name: `${prefix}-switch`, cmd: seqWriterCmd({ count, ratePerSec: 300, stderrEvery: 5, prefix: 's' }) });
    const run = async (readFrom: 'api' | 'files', until: number): Promise<void> => {
      const service = await startService({ sink, receiver: { read_from: readFrom, 'include.names': `['${prefix}-switch']`, 'storage.directory': `'${storage}'` } });
      try {
        await sink.waitForLogs(() => of(sink, c.id).length >= until, 40_000, `${until} lines (${readFrom})`);
      } finally {
        await service.shutdown(5000);
      }
    };
    try {
      await run('api', 800);
      await run('files', 1800);
      await run('api', count);
      await new Promise((r) => setTimeout(r, 1000));
      assertExactlyOnce(numbers(of(sink, c.id)), count, 'api → files → api');
    } finally {
      await sink.stop();
    }
  });
});
