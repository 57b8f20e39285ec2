/**
 * Choosing and shaping what is collected, against a real engine: the filter
 * table, label opt-out, multiline stack traces, JSON bodies, lifecycle events.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { OtlpSink } from '../helpers/otlp-sink.js';
import type { SinkLogRecord } from '../helpers/otlp-sink.js';
import { removeByPrefix, requireEngine, runContainer, uniqueName, waitForExit } from '../helpers/docker.js';
import { startService } from '../helpers/receiver.js';
import { freePort } from '../helpers/cli.js';

let docker: Docker;
const prefix = uniqueName('shape');

before(async () => {
  docker = await requireEngine();
});

after(async () => {
  await removeByPrefix(docker, prefix);
});

function of(sink: OtlpSink, id: string): SinkLogRecord[] {
  return sink.logs.filter((l) => l.resource['container.id'] === id);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('include / exclude / labels', () => {
  test('globs, regexes, exclude wins, label opt-out and opt-in', async () => {
    const sink = await OtlpSink.start();
    const service = await startService({
      sink,
      receiver: {
        'include.names': `['${prefix}-web-*', '/${prefix}-api-\\d+$/']`,
        'exclude.names': `['*-sidecar']`,
        'exclude.labels': `['tier=/^(cache|tmp)$/']`,
      },
    });
    try {
      const cases: Array<{ suffix: string; labels?: Record<string, string>; expect: boolean }> = [
        { suffix: 'web-1', expect: true },
        { suffix: 'web-sidecar', expect: false }, // exclude wins over include
        { suffix: 'api-7', expect: true }, // regex
        { suffix: 'api-x', expect: false },
        { suffix: 'db', expect: false }, // no include rule
        { suffix: 'web-2', labels: { 'io.opentelemetry.logs.enabled': 'false' }, expect: false }, // opt-out
        { suffix: 'db-2', labels: { 'io.opentelemetry.logs.enabled': 'true' }, expect: true }, // opt-in past include
        { suffix: 'web-3', labels: { tier: 'cache' }, expect: false }, // exclude by label regex
      ];
      const started = await Promise.all(
        cases.map(async (c) => ({ ...c, ...(await runContainer(docker, { name: `${prefix}-${c.suffix}`, labels: c.labels, cmd: ['sh', '-c', `echo hello from ${c.suffix}`] })) })),
      );
      const wanted = started.filter((c) => c.expect);
      await sink.waitForLogs(() => wanted.every((c) => of(sink, c.id).length === 1), 20_000, 'lines of the included containers');
      await sleep(1500); // time for an excluded container's line to show up if it were read
      for (const c of started) assert.equal(of(sink, c.id).length, c.expect ? 1 : 0, `${c.suffix} collected: ${String(c.expect)}`);
    } finally {
      await service.shutdown(5000);
      await sink.stop();
    }
  });
});

describe('receiver-wide multiline', () => {
  test('a Java stack trace is one record (receiver-wide line_start_pattern)', async () => {
    const sink = await OtlpSink.start();
    const service = await startService({
      sink,
      receiver: { 'include.names': `['${prefix}-java']`, 'multiline.line_start_pattern': `'^\\d{4}-\\d{2}-\\d{2} '`, 'multiline.flush_timeout': '300ms' },
    });
    try {
      await javaTrace(sink);
    } finally {
      await service.shutdown(5000);
      await sink.stop();
    }
  });
});

async function javaTrace(sink: OtlpSink): Promise<void> {
    const script = [
      'echo "2026-11-28 10:00:00 INFO starting"',
      'echo "2026-11-28 10:00:01 ERROR request failed"',
      'printf "java.lang.IllegalStateException: boom\\n\\tat com.example.Service.run(Service.java:10)\\n\\tat com.example.Main.main(Main.java:5)\\nCaused by: java.io.IOException: disk\\n\\t... 2 more\\n"',
      'echo "2026-11-28 10:00:02 INFO done"',
      'sleep 2',
    ].join('; ');
    const c = await runContainer(docker, { name: `${prefix}-java`, cmd: ['sh', '-c', script] });
    await sink.waitForLogs(() => of(sink, c.id).filter((l) => !l.eventName).length >= 3, 20_000, 'three java records');
    const bodies = of(sink, c.id).filter((l) => !l.eventName).map((l) => l.body);
    assert.deepEqual(bodies, [
      '2026-11-28 10:00:00 INFO starting',
      '2026-11-28 10:00:01 ERROR request failed\njava.lang.IllegalStateException: boom\n\tat com.example.Service.run(Service.java:10)\n\tat com.example.Main.main(Main.java:5)\nCaused by: java.io.IOException: disk\n\t... 2 more',
      '2026-11-28 10:00:02 INFO done',
    ]);
}

describe('per-container shaping and events', () => {
  let sink: OtlpSink;
  let service: Awaited<ReturnType<typeof startService>>;

  before(async () => {
    sink = await OtlpSink.start();
    // Only this file's containers: the engine may be busy with others' (events queue behind their lines).
    service = await startService({ sink, receiver: { events: 'true', 'multiline.flush_timeout': '300ms', 'include.names': `['${prefix}-*']` } });
  });

  after(async () => {
    await service?.shutdown(5000);
    await sink?.stop();
  });

  test('a Python traceback is one record (per-container label pattern)', async () => {
    const script = [
      'echo "handling request"',
      'printf "Traceback (most recent call last):\\n  File \\"app.py\\", line 3, in <module>\\n    main()\\nValueError: bad value\\n"',
      'echo "next request"',
      'sleep 2',
    ].join('; ');
    const c = await runContainer(docker, {
      name: `${prefix}-py`,
      labels: { 'io.opentelemetry.logs.multiline.line_start_pattern': '^(?!\\s|Traceback|\\w+Error:)|^Traceback' },
      cmd: ['sh', '-c', script],
    });
    await sink.waitForLogs(() => of(sink, c.id).filter((l) => !l.eventName).length >= 3, 20_000, 'three python records');
    assert.deepEqual(
      of(sink, c.id).filter((l) => !l.eventName).map((l) => l.body),
      ['handling request', 'Traceback (most recent call last):\n  File "app.py", line 3, in <module>\n    main()\nValueError: bad value', 'next request'],
    );
  });

  test('parse=json (label): structured body, severity, trace context; invalid JSON stays a string', async () => {
    const lines = [
      '{"level":"warn","msg":"disk almost full","pct":91,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}',
      '{"level":50,"msg":"pino error"}',
      '{"broken": ',
      'plain text',
    ];
    const script = lines.map((l) => `echo '${l}'`).join('; ') + '; sleep 2';
    const c = await runContainer(docker, { name: `${prefix}-json`, labels: { 'io.opentelemetry.logs.parse': 'json' }, cmd: ['sh', '-c', script] });
    await sink.waitForLogs(() => of(sink, c.id).filter((l) => !l.eventName).length >= 4, 20_000, 'four json lines');
    const [warn, pino, broken, plain] = of(sink, c.id).filter((l) => !l.eventName);
    assert.deepEqual(warn?.body, { level: 'warn', msg: 'disk almost full', pct: 91n, trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' });
    assert.equal(warn?.severityNumber, 13);
    assert.equal(warn?.severityText, 'warn');
    assert.equal(warn?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(warn?.spanId, '00f067aa0ba902b7');
    assert.equal(pino?.severityNumber, 17);
    assert.equal(broken?.body, '{"broken": ');
    assert.equal(plain?.body, 'plain text');
  });

  test('lifecycle events: start and die with the exit code, on the container resource', async () => {
    const c = await runContainer(docker, { name: `${prefix}-ev`, cmd: ['sh', '-c', 'echo bye; exit 3'] });
    await waitForExit(docker, c.id, 10_000);
    await sink.waitForLogs(() => of(sink, c.id).some((l) => l.eventName === 'container.die'), 20_000, 'die event');
    const events = of(sink, c.id).filter((l) => l.eventName !== '');
    const start = events.find((e) => e.eventName === 'container.start');
    const die = events.find((e) => e.eventName === 'container.die');
    assert.ok(start, 'start event');
    assert.equal(start.attributes['event.name'], 'container.start');
    assert.equal(die?.attributes['container.exit_code'], 3n);
    assert.equal(die?.body, 'container exited with code 3');
    assert.equal(die?.resource['container.name'], c.name);
    assert.ok(of(sink, c.id).some((l) => l.body === 'bye'));
  });

  test('a rename: an event record under the new name, later lines carry it', async () => {
    const c = await runContainer(docker, { name: `${prefix}-rn1`, cmd: ['sh', '-c', 'echo one; sleep 2; echo two; sleep 1'] });
    await sink.waitForLogs(() => of(sink, c.id).some((l) => l.body === 'one'), 20_000, 'first line');
    await docker.getContainer(c.id).rename({ name: `${prefix}-rn2` });
    await sink.waitForLogs(() => of(sink, c.id).some((l) => l.body === 'two'), 20_000, 'second line');
    const rename = of(sink, c.id).find((l) => l.eventName === 'container.rename');
    assert.ok(rename, 'rename event');
    assert.equal(rename.resource['container.name'], `${prefix}-rn2`);
    assert.equal(rename.attributes['container.previous_name'], `${prefix}-rn1`);
    assert.equal(of(sink, c.id).find((l) => l.body === 'two')?.resource['container.name'], `${prefix}-rn2`);
  });
});

describe('several engines and the explain endpoint', () => {
  test('endpoints: each engine is read with its own positions; explain says who is collected and why', async () => {
    // A second "engine": a unix socket relaying to the real one (the same containers, seen twice).
    const dir = await mkdtemp(join(tmpdir(), 'dlr-engines-'));
    const relayPath = join(dir, 'docker.sock');
    const relay = createServer((client) => {
      const upstream = connect('/var/run/docker.sock');
      client.pipe(upstream).pipe(client);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
    });
    await new Promise<void>((resolve) => relay.listen(relayPath, resolve));
    const port = await freePort();
    const sink = await OtlpSink.start();
    const service = await startService({
      sink,
      receiver: {
        endpoints: `['unix:///var/run/docker.sock', 'unix://${relayPath}']`,
        'include.names': `['${prefix}-two-*']`,
        'storage.directory': `'${join(dir, 'positions')}'`,
      },
      extraYaml: `extensions:\n  health_check:\n    endpoint: 127.0.0.1:${port}\n`,
      serviceYaml: '  extensions: [health_check]\n',
    });
    try {
      const wanted = await runContainer(docker, { name: `${prefix}-two-a`, cmd: ['sh', '-c', 'echo one; echo two; sleep 5'] });
      const other = await runContainer(docker, { name: `${prefix}-other`, cmd: ['sh', '-c', 'echo no; sleep 5'] });
      await sink.waitForLogs(() => of(sink, wanted.id).length >= 4, 20_000, 'each line from both engines');
      assert.deepEqual(of(sink, wanted.id).map((l) => l.body).sort(), ['one', 'one', 'two', 'two']);
      assert.ok(of(sink, wanted.id).every((l) => typeof l.resource['host.name'] === 'string' && l.resource['host.name'] !== ''));
      assert.equal(of(sink, other.id).length, 0);

      type Explained = { receivers: Array<{ receiver: string; containers: Array<{ id: string; collected: boolean; rule: string; state: string | null }> }> };
      let explained: Explained = { receivers: [] };
      // Both containers are known to both engines once their inspects are done.
      for (let i = 0; i < 100; i++) {
        explained = (await (await fetch(`http://127.0.0.1:${port}/explain`)).json()) as Explained;
        if (explained.receivers.length === 2 && explained.receivers.every((r) => [wanted.id, other.id].every((id) => r.containers.some((c) => c.id === id)))) break;
        await sleep(100);
      }
      assert.deepEqual(explained.receivers.map((r) => r.receiver).sort(), [`docker_logs@unix:///var/run/docker.sock`, `docker_logs@unix://${relayPath}`].sort());
      for (const r of explained.receivers) {
        const a = r.containers.find((c) => c.id === wanted.id);
        const o = r.containers.find((c) => c.id === other.id);
        assert.equal(a?.collected, true);
        assert.match(a?.rule ?? '', /include\.names\[0\]/);
        assert.equal(o?.collected, false);
        assert.match(o?.rule ?? '', /no include rule/);
      }
      await service.shutdown(5000);
      const files = (await readdir(join(dir, 'positions'))).sort();
      assert.equal(files.length, 2, `one positions file per engine: ${files.join(', ')}`);
    } finally {
      await service.shutdown(5000);
      await sink.stop();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });
});

describe('a logging driver that cannot be read', () => {
  test('log-driver none: reported once, counted in docker_logs.containers.missed, the others still read', async () => {
    const sink = await OtlpSink.start();
    const service = await startService({
      sink,
      receiver: { 'include.names': `['${prefix}-drv-*']`, collection_interval: '200ms' },
      metricsPipeline: true,
    });
    try {
      const none = await docker.createContainer({ name: `${prefix}-drv-none`, Image: 'dlr-busybox:latest', Cmd: ['sh', '-c', 'echo invisible; sleep 5'], HostConfig: { NetworkMode: 'none', LogConfig: { Type: 'none', Config: {} } } });
      await none.start();
      const ok = await runContainer(docker, { name: `${prefix}-drv-ok`, cmd: ['sh', '-c', 'echo visible; sleep 5'] });
      await sink.waitForLogs(() => of(sink, ok.id).length >= 1, 20_000, 'the readable container');
      await sink.waitForLogs(() => sink.metrics.some((m) => m.name === 'docker_logs.containers.missed' && m.points.some((p) => p.attributes['reason'] === 'driver_unsupported' && (p.value ?? 0) >= 1)), 20_000, 'missed{driver_unsupported}');
      assert.equal(of(sink, none.id).length, 0);
      const missed = sink.metrics.filter((m) => m.name === 'docker_logs.containers.missed').at(-1);
      assert.equal(missed?.points.find((p) => p.attributes['reason'] === 'driver_unsupported')?.value, 1, 'counted once, not per retry');
    } finally {
      await service.shutdown(5000);
      await sink.stop();
    }
  });
});
